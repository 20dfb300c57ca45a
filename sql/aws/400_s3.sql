-- Object storage, Aurora PostgreSQL's aws_s3 functions, done by churnml.export_query and
-- churnml.load_from_s3: same arguments and results, COPY-style options text, no
-- credentials as arguments (the DBA declares storage locations, docs/loaders.md). The
-- signatures are exactly Aurora's: each public function is a SQL function without SET
-- search_path (every name in it schema-qualified, no operator) that hands the caller's
-- search_path, which resolves the query and the table name, to an internal one.

CREATE OR REPLACE FUNCTION aws_s3._query_export_to_s3(
    query text, s3_info aws_commons._s3_uri_1, options text, search_path text,
    OUT rows_uploaded bigint, OUT files_uploaded bigint, OUT bytes_uploaded bigint
) RETURNS record
LANGUAGE plpython3u VOLATILE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS $$
import churnml.sql_api.aws as api
return api.query_export_to_s3(plpy, '@EXTVERSION@', query, s3_info, options, search_path)
$$;
COMMENT ON FUNCTION aws_s3._query_export_to_s3(text, aws_commons._s3_uri_1, text, text) IS
'Internal: what aws_s3.query_export_to_s3 calls, with the caller''s search_path.';

CREATE OR REPLACE FUNCTION aws_s3.query_export_to_s3(
    query text,
    s3_info aws_commons._s3_uri_1,
    options text DEFAULT NULL,
    OUT rows_uploaded bigint,
    OUT files_uploaded bigint,
    OUT bytes_uploaded bigint
) RETURNS record
LANGUAGE sql VOLATILE PARALLEL UNSAFE
AS $$
SELECT * FROM aws_s3._query_export_to_s3(query, s3_info, options, pg_catalog.current_setting('search_path'))
$$;
COMMENT ON FUNCTION aws_s3.query_export_to_s3(text, aws_commons._s3_uri_1, text) IS
'Aurora-compatible: write the rows of a query to s3_info''s object, like Aurora: options are COPY options (''format csv, header true''; format text, csv or binary... see docs/from-aurora.md for those churnml supports); results over 6 GB continue in file_path_part2, _part3, ... An existing object is replaced. Runs as the caller; on failure nothing is left behind. Returns rows, files and bytes uploaded.';

CREATE OR REPLACE FUNCTION aws_s3.query_export_to_s3(
    query text,
    bucket text,
    file_path text,
    region text DEFAULT NULL,
    options text DEFAULT NULL,
    OUT rows_uploaded bigint,
    OUT files_uploaded bigint,
    OUT bytes_uploaded bigint
) RETURNS record
LANGUAGE sql VOLATILE PARALLEL UNSAFE
AS $$
SELECT e.rows_uploaded, e.files_uploaded, e.bytes_uploaded
FROM aws_s3._query_export_to_s3(query, aws_commons.create_s3_uri(bucket, file_path, region), options,
                                pg_catalog.current_setting('search_path')) AS e
$$;
COMMENT ON FUNCTION aws_s3.query_export_to_s3(text, text, text, text, text) IS
'Aurora-compatible: query_export_to_s3 with the bucket, file path and region as separate arguments.';

CREATE OR REPLACE FUNCTION aws_s3._table_import_from_s3(
    table_name text, column_list text, options text, s3_info aws_commons._s3_uri_1, search_path text
) RETURNS text
LANGUAGE plpython3u VOLATILE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS $$
import churnml.sql_api.aws as api
return api.table_import_from_s3(plpy, '@EXTVERSION@', table_name, column_list, options, s3_info, search_path)
$$;
COMMENT ON FUNCTION aws_s3._table_import_from_s3(text, text, text, aws_commons._s3_uri_1, text) IS
'Internal: what aws_s3.table_import_from_s3 calls, with the caller''s search_path.';

CREATE OR REPLACE FUNCTION aws_s3.table_import_from_s3(
    table_name text,
    column_list text,
    options text,
    s3_info aws_commons._s3_uri_1
) RETURNS text
LANGUAGE sql VOLATILE PARALLEL UNSAFE
AS $$
SELECT aws_s3._table_import_from_s3(table_name, column_list, options, s3_info,
                                    pg_catalog.current_setting('search_path'))
$$;
COMMENT ON FUNCTION aws_s3.table_import_from_s3(text, text, text, aws_commons._s3_uri_1) IS
'Aurora-compatible: load s3_info''s object into table_name (resolved with the caller''s search_path), column_list '''' for all columns or ''a,b,c''; options are COPY options (''(format csv, header true)''); gzip objects are read transparently. All or nothing, as the caller; recorded in churnml.load_history. Returns e.g. ''1000 rows imported into relation "customers" from file churn.csv of 91234 bytes''.';

CREATE OR REPLACE FUNCTION aws_s3.table_import_from_s3(
    table_name text,
    column_list text,
    options text,
    bucket text,
    file_path text,
    region text
) RETURNS text
LANGUAGE sql VOLATILE PARALLEL UNSAFE
AS $$
SELECT aws_s3._table_import_from_s3(table_name, column_list, options,
                                    aws_commons.create_s3_uri(bucket, file_path, region),
                                    pg_catalog.current_setting('search_path'))
$$;
COMMENT ON FUNCTION aws_s3.table_import_from_s3(text, text, text, text, text, text) IS
'Aurora-compatible: table_import_from_s3 with the bucket, file path and region as separate arguments.';

-- Aurora's forms with credentials: kept so that such calls get a clear error (0A000)
-- that says why and what to do, not "function does not exist".
CREATE OR REPLACE FUNCTION aws_s3.table_import_from_s3(
    table_name text, column_list text, options text, s3_info aws_commons._s3_uri_1,
    credentials aws_commons._aws_credentials_1
) RETURNS text
LANGUAGE plpython3u VOLATILE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS $$
import churnml.sql_api.aws as api
return api.refuse_credentials(plpy, '@EXTVERSION@')
$$;
COMMENT ON FUNCTION aws_s3.table_import_from_s3(text, text, text, aws_commons._s3_uri_1, aws_commons._aws_credentials_1) IS
'Always an error (0A000): churnml takes no credentials as arguments; call table_import_from_s3(table_name, column_list, options, s3_info) after the DBA has configured S3.';

CREATE OR REPLACE FUNCTION aws_s3.table_import_from_s3(
    table_name text, column_list text, options text, bucket text, file_path text, region text,
    access_key text, secret_key text, session_token text
) RETURNS text
LANGUAGE plpython3u VOLATILE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS $$
import churnml.sql_api.aws as api
return api.refuse_credentials(plpy, '@EXTVERSION@')
$$;
COMMENT ON FUNCTION aws_s3.table_import_from_s3(text, text, text, text, text, text, text, text, text) IS
'Always an error (0A000): churnml takes no credentials as arguments; call table_import_from_s3(table_name, column_list, options, bucket, file_path, region) after the DBA has configured S3.';
