-- S3 locations, as Aurora spells them.

COMMENT ON TYPE aws_commons._s3_uri_1 IS
'An S3 location (bucket, file_path, region), made by aws_commons.create_s3_uri. churnml signs requests for the endpoint and region the DBA configured; region here is kept for compatibility.';

CREATE OR REPLACE FUNCTION aws_commons.create_s3_uri(bucket text, file_path text, region text)
RETURNS aws_commons._s3_uri_1
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$ SELECT ROW(bucket, file_path, region)::aws_commons._s3_uri_1 $$;
COMMENT ON FUNCTION aws_commons.create_s3_uri(text, text, text) IS
'Aurora-compatible: the S3 location (bucket, file_path, region) that aws_s3.query_export_to_s3 and table_import_from_s3 take.';
COMMENT ON TYPE aws_commons._aws_credentials_1 IS
'Aurora''s credentials type, kept so that old code parses; churnml refuses credentials as SQL arguments (see aws_commons.create_aws_credentials).';

CREATE OR REPLACE FUNCTION aws_commons.create_aws_credentials(access_key text, secret_key text, session_token text)
RETURNS aws_commons._aws_credentials_1
LANGUAGE plpython3u VOLATILE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS $$
import churnml.sql_api.aws as api
return api.refuse_credentials(plpy, '@EXTVERSION@')
$$;
COMMENT ON FUNCTION aws_commons.create_aws_credentials(text, text, text) IS
'Always an error (SQLSTATE 0A000): churnml never takes S3 credentials as SQL arguments, where they would reach logs and pg_stat_activity. A DBA configures them once on the server (docs/loaders.md).';
