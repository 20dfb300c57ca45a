-- The walkthrough's data movement, from SQL (run by `make demo` after
-- `churnml s3 start` and `churnml export ... s3://churnml/incoming/customers --header`,
-- which put the customer file into the local S3 server the way a DBA's upload would).
\set ON_ERROR_STOP 1
SET client_min_messages = warning;
\echo
\echo '== Where SQL may read and write object storage: a storage location, granted to the loaders (the DBA, once)'
-- The server's credentials are not the caller's: without a location and a grant, every export and load
-- is refused (42501). churnml_loader's members (churnml_admin's too) may read and write the demo bucket.
SELECT churnml.create_storage_location('demo', 's3://churnml/', if_not_exists => true) AS uri_prefix;
SELECT churnml.grant_storage('demo', 'read, write', 'churnml_loader');
SELECT location, uri_prefix, credential, grantee, privilege FROM churnml.storage_privileges
WHERE location = 'demo' ORDER BY privilege;

\echo '== Load the customer file from S3 into a table (header skipped; all or nothing)'
DROP TABLE IF EXISTS customers_from_s3, customers_roundtrip;
CREATE TABLE customers_from_s3 (LIKE customers INCLUDING ALL);
SELECT churnml.load_from_s3('customers_from_s3', 's3://churnml/incoming/customers.part_00000', header => true)
       AS rows_loaded;

\echo '== Unload it to S3 for the data scientist: CSV with header, and a manifest written last'
SELECT * FROM churnml.export_query('SELECT * FROM customers_from_s3', 's3://churnml/exports/customers',
                                   overwrite => true);

\echo '== Load the export back by its manifest (sizes and SHA-256 checked), and compare'
CREATE TABLE customers_roundtrip (LIKE customers INCLUDING ALL);
SELECT churnml.load_from_s3('customers_roundtrip', 's3://churnml/exports/customers', mode => 'manifest',
                            header => true) AS rows_loaded;
SELECT t.name, t.rows, t.checksum, t.checksum = first_value(t.checksum) OVER (ORDER BY t.ord) AS same_content
FROM (SELECT 1 AS ord, 'customers' AS name, count(*) AS rows,
             md5(string_agg(c::text, ',' ORDER BY c.area_code, c.phone)) AS checksum FROM customers c
      UNION ALL
      SELECT 2, 'customers_from_s3', count(*), md5(string_agg(c::text, ',' ORDER BY c.area_code, c.phone))
      FROM customers_from_s3 c
      UNION ALL
      SELECT 3, 'customers_roundtrip', count(*), md5(string_agg(c::text, ',' ORDER BY c.area_code, c.phone))
      FROM customers_roundtrip c) AS t
ORDER BY t.ord;
-- every load is recorded, with who ran it
SELECT target, mode, rows, loaded_by = current_user AS loaded_by_me
FROM churnml.load_history ORDER BY id DESC LIMIT 2;
