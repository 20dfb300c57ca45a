-- Errors of object storage: storage locations, export_query, load_from_s3. No S3 server is
-- needed: every statement here is refused before one would be reached.
\set SHOW_CONTEXT never
\pset format unaligned
\pset tuples_only on
SET ROLE churnml_admin;
-- create_storage_location: bad names, prefixes, credentials, SSE
SELECT regress.try($$SELECT churnml.create_storage_location('', 's3://bucket/')$$);
SELECT regress.try($$SELECT churnml.create_storage_location(NULL, 's3://bucket/')$$);
SELECT regress.try($$SELECT churnml.create_storage_location('Bad Name', 's3://bucket/')$$);
SELECT regress.try($$SELECT churnml.create_storage_location('main', 'http://bucket/')$$);
SELECT regress.try($$SELECT churnml.create_storage_location('main', 's3://bucket/../other/')$$);
SELECT regress.try($$SELECT churnml.create_storage_location('main', 's3://' || repeat('b', 64) || '/')$$);
SELECT regress.try($$SELECT churnml.create_storage_location('main', 's3://bucket/', credential => 'no such')$$);
SELECT regress.try($$SELECT churnml.create_storage_location('main', 's3://bucket/', sse => 'rot13')$$);
-- a prefix without its last "/" is a whole bucket or directory: it gets one
SELECT churnml.create_storage_location('main', 's3://bucket');
SELECT churnml.create_storage_location('exports', 's3://bucket/exports/');
SELECT name, uri_prefix, credential FROM churnml.storage_locations ORDER BY name;
SELECT regress.try($$SELECT churnml.create_storage_location('main', 's3://bucket/other/')$$);
SELECT regress.try($$SELECT churnml.create_storage_location('again', 's3://bucket/exports/')$$);
-- grants: an unknown location, privilege or role
SELECT regress.try($$SELECT churnml.grant_storage('nope', 'read', 'churnml_loader')$$);
SELECT regress.try($$SELECT churnml.grant_storage('main', 'delete', 'churnml_loader')$$);
SELECT regress.try($$SELECT churnml.grant_storage('main', 'read', 'no_such_role')$$);
SELECT regress.try($$SELECT churnml.drop_storage_location('nope')$$);
RESET ROLE;
SET ROLE churnml_loader;
-- export_query: no grant on the location, no location covers the URI
SELECT regress.try($$SELECT * FROM churnml.export_query('SELECT 1', 's3://bucket/exports/x.csv')$$);
SELECT regress.try($$SELECT * FROM churnml.export_query('SELECT 1', 's3://elsewhere/x.csv')$$);
RESET ROLE;
SET ROLE churnml_admin;
SELECT churnml.grant_storage('exports', 'read, write', 'churnml_loader');
RESET ROLE;
SET ROLE churnml_loader;
-- with the grant: a query that is not one SELECT, bad formats and URIs (all refused before S3 is reached)
SELECT regress.try($$SELECT * FROM churnml.export_query('DELETE FROM public.customers', 's3://bucket/exports/x.csv')$$);
SELECT regress.try($$SELECT * FROM churnml.export_query('SELECT 1; SELECT 2', 's3://bucket/exports/x.csv')$$);
SELECT regress.try($$SELECT * FROM churnml.export_query('SELECT 1', 's3://bucket/exports/x.csv', format => 'xml')$$);
SELECT regress.try($$SELECT * FROM churnml.export_query('SELECT 1', 'ftp://bucket/x.csv')$$);
SELECT regress.try($$SELECT * FROM churnml.export_query('SELECT 1', '')$$);
SELECT regress.try($$SELECT * FROM churnml.export_query(NULL, 's3://bucket/exports/x.csv')$$);
SELECT regress.try($$SELECT * FROM churnml.export_query('SELECT 1', 's3://bucket/exports/x.csv', part_size => 0)$$);
-- load_from_s3: no grant, bad modes and formats, an unknown table
SELECT regress.try($$SELECT churnml.load_from_s3('public.customer_message', 's3://bucket/exports/x.csv')$$);
SELECT regress.try($$SELECT churnml.load_from_s3('public.customer_message', 's3://bucket/exports/x.csv', mode => 'folder')$$);
SELECT regress.try($$SELECT churnml.load_from_s3('public.customer_message', 's3://bucket/exports/x.csv', format => 'parquet')$$);
SELECT regress.try($$SELECT churnml.load_from_s3('public.no_such_table', 's3://bucket/exports/x.csv')$$);
SELECT regress.try($$SELECT churnml.load_from_s3('public.customer_message', 's3://bucket/exports/x.csv', on_conflict => 'merge')$$);
RESET ROLE;
-- COPY options: read and checked before storage is asked anything, naming the option and where it stands
SELECT regress.try($$SELECT * FROM churnml.export_query('SELECT 1', 's3://bucket/exports/x.csv', options => 'delimiter ''||''')$$);
SELECT regress.try($$SELECT * FROM churnml.export_query('SELECT 1', 's3://bucket/exports/x.csv', options => 'null ''x'') TO PROGRAM ''id'' --')$$);
SELECT regress.try($$SELECT * FROM churnml.export_query('SELECT 1', 's3://bucket/exports/x.csv', options => 'encoding ''KLINGON''')$$);
SELECT regress.try($$SELECT * FROM churnml.export_query('SELECT 1', 's3://bucket/exports/x.csv', options => 'format text')$$);
SELECT regress.try($$SELECT churnml.load_from_s3('public.customer_message', 's3://bucket/exports/x.csv', options => 'force_quote *')$$);
SELECT regress.try($$SELECT churnml.load_from_s3('public.customer_message', 's3://bucket/exports/x.csv', options => 'freeze')$$);
SELECT regress.try($$SELECT churnml.load_from_s3('public.customer_message', 's3://bucket/exports/x.csv', options => 'bogus 1')$$);
