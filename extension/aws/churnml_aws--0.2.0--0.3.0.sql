-- churnml_aws upgrade 0.2.0 -> 0.3.0, built from sql/aws/ by extension/tools/build-sql.sh: edit those, not this.
-- The deltas (run once), then every re-runnable file of the 0.3.0 install script.
-- build id: c7c58ab4ae5a8b71
\echo Use "ALTER EXTENSION churnml_aws UPDATE" to load this file. \quit

-- ---- sql/aws/upgrades/0.2.0--0.3.0.sql ----
-- churnml_aws 0.2.0 -> 0.3.0: what an update cannot get by re-running the 0.3.0 install
-- script's re-runnable files (functions, views, triggers, comments, grants; see sql/README.md).

-- Aurora's signatures without churnml's hidden arguments (the engine is read from the
-- churnml.sentiment_engine setting, the statement start from the server): the old forms
-- go, the replayed install script creates the new ones.
-- (IF EXISTS: an update from 0.1.0 never ran 0.2.0's re-runnable files, which made some of these.)
DROP FUNCTION IF EXISTS aws_comprehend.detect_sentiment(varchar, varchar, int, text);
DROP FUNCTION IF EXISTS aws_sagemaker._invoke_endpoint(text, int, text[], float8);
-- The aws_s3 functions without _search_path: exactly Aurora's signatures. The forms taking
-- bucket, file_path and region call the s3_info forms: dropped first.
DROP FUNCTION IF EXISTS aws_s3.query_export_to_s3(text, text, text, text, text, text);
DROP FUNCTION IF EXISTS aws_s3.query_export_to_s3(text, aws_commons._s3_uri_1, text, text);
DROP FUNCTION IF EXISTS aws_s3.table_import_from_s3(text, text, text, text, text, text, text);
DROP FUNCTION IF EXISTS aws_s3.table_import_from_s3(text, text, text, aws_commons._s3_uri_1, text);

-- ---- sql/aws/000_schemas.sql ----
-- churnml_aws: Aurora ML's SQL surface on churnml, so Aurora queries run unchanged.
-- The schemas carry Aurora's names; every function delegates to churnml, runs inside
-- this server and calls no AWS service. Roles come from churnml: churnml_user may
-- score and detect sentiment, churnml_loader may export and import.

COMMENT ON SCHEMA aws_commons IS 'churnml_aws: Aurora''s aws_commons types and constructors (S3 locations).';
COMMENT ON SCHEMA aws_comprehend IS 'churnml_aws: Aurora''s aws_comprehend.detect_sentiment, answered by churnml.detect_sentiment.';
COMMENT ON SCHEMA aws_sagemaker IS 'churnml_aws: Aurora''s aws_sagemaker.invoke_endpoint, answered by models deployed in churnml.';
COMMENT ON SCHEMA aws_s3 IS 'churnml_aws: Aurora''s aws_s3 export and import, done by churnml.export_query and churnml.load_from_s3.';

-- ---- sql/aws/100_commons.sql ----
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
return api.refuse_credentials(plpy, '0.3.0')
$$;
COMMENT ON FUNCTION aws_commons.create_aws_credentials(text, text, text) IS
'Always an error (SQLSTATE 0A000): churnml never takes S3 credentials as SQL arguments, where they would reach logs and pg_stat_activity. A DBA configures them once on the server (docs/loaders.md).';

-- ---- sql/aws/200_comprehend.sql ----
-- Sentiment, Aurora PostgreSQL's aws_comprehend.detect_sentiment, answered by
-- churnml.detect_sentiment with the engine set in churnml.sentiment_engine.
-- STABLE and PARALLEL SAFE for the reasons given in churnml's sentiment functions.

CREATE OR REPLACE FUNCTION aws_comprehend.detect_sentiment(
    input_text varchar,
    language_code varchar,
    max_rows_per_batch int DEFAULT NULL,
    OUT sentiment varchar,
    OUT confidence real
) RETURNS record
LANGUAGE plpython3u STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
import churnml.sql_api.aws as api
return api.detect_sentiment(plpy, '0.3.0', input_text, language_code, max_rows_per_batch)
$$;
COMMENT ON FUNCTION aws_comprehend.detect_sentiment(varchar, varchar, int) IS
'Aurora-compatible: (sentiment, confidence) of a text, sentiment POSITIVE, NEGATIVE, NEUTRAL or MIXED and confidence the probability of that label, from churnml.detect_sentiment (engine: the churnml.sentiment_engine setting, else the encoder). NULL text gives NULLs; only language ''en''. max_rows_per_batch must be NULL or positive; churnml scores in-process, so it does not change results.';

-- ---- sql/aws/300_sagemaker.sql ----
-- Models, Aurora PostgreSQL's aws_sagemaker.invoke_endpoint: the endpoint name names a
-- model deployed in churnml, the inputs are its features in training order. The
-- VARIADIC "any" signature needs a C function (no procedural language accepts
-- "any"); it turns each input into text and calls _invoke_endpoint. Both are PARALLEL
-- SAFE, as churnml.will_churn is (sql/120_scoring.sql): Aurora's page has users wrap
-- invoke_endpoint in LANGUAGE sql PARALLEL SAFE functions, and a parallel plan over them
-- works. COST 100, PL/Python's, not C's default of 1: each call runs _invoke_endpoint, and
-- the planner inlines such a wrapper into the query, so its own COST is not what it sees.

CREATE OR REPLACE FUNCTION aws_sagemaker._invoke_endpoint(
    endpoint_name text, max_rows_per_batch int, model_input text[]
) RETURNS text
LANGUAGE plpython3u STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
import churnml.sql_api.aws as api
return api.invoke_endpoint(plpy, '0.3.0', endpoint_name, max_rows_per_batch, model_input)
$$;
COMMENT ON FUNCTION aws_sagemaker._invoke_endpoint(text, int, text[]) IS
'Internal: the model inputs of aws_sagemaker.invoke_endpoint as text, in feature order; returns the deployment''s endpoint output as text (churnml.set_endpoint_output).';

CREATE OR REPLACE FUNCTION aws_sagemaker.invoke_endpoint(
    endpoint_name varchar,
    max_rows_per_batch int,
    VARIADIC model_input "any",
    OUT model_output varchar
)
LANGUAGE C STABLE PARALLEL SAFE COST 100
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'churnml_aws_invoke_endpoint';
COMMENT ON FUNCTION aws_sagemaker.invoke_endpoint(varchar, int, "any") IS
'Aurora-compatible: the output of the model deployed in churnml as endpoint_name for one row whose features are model_input, in the model''s training order (a wrong count is an error that lists them); an array argument''s elements are separate inputs, as Aurora sends them. The output is what churnml.set_endpoint_output set for the name: by default the churn probability as text, e.g. SELECT aws_sagemaker.invoke_endpoint(''churn'', NULL, 120, 0, ...)::float8; else the label (::INT), the cutoff, or several as a record literal for a composite cast. A NULL input is a missing value, a NULL array gives NULL; an input that does not fit its feature''s type is an error naming the feature. max_rows_per_batch must be NULL or positive and does not change results.';

-- ---- sql/aws/400_s3.sql ----
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
return api.query_export_to_s3(plpy, '0.3.0', query, s3_info, options, search_path)
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
return api.table_import_from_s3(plpy, '0.3.0', table_name, column_list, options, s3_info, search_path)
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
return api.refuse_credentials(plpy, '0.3.0')
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
return api.refuse_credentials(plpy, '0.3.0')
$$;
COMMENT ON FUNCTION aws_s3.table_import_from_s3(text, text, text, text, text, text, text, text, text) IS
'Always an error (0A000): churnml takes no credentials as arguments; call table_import_from_s3(table_name, column_list, options, bucket, file_path, region) after the DBA has configured S3.';

-- ---- sql/aws/500_mysql_compat.sql ----
-- Aurora MySQL's scalar sentiment functions, as the walkthrough calls them:
-- aws_comprehend_detect_sentiment(message, 'en'). They live in the schema the
-- extension is created in (CREATE EXTENSION churnml_aws [SCHEMA s]; by default the
-- first schema of the search_path, usually public), so unqualified calls resolve.

CREATE OR REPLACE FUNCTION @extschema@.aws_comprehend_detect_sentiment(
    input_text text, language_code text, max_batch_size int DEFAULT NULL
) RETURNS varchar
LANGUAGE sql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$ SELECT d.sentiment FROM aws_comprehend.detect_sentiment(input_text, language_code, max_batch_size) AS d $$;
COMMENT ON FUNCTION @extschema@.aws_comprehend_detect_sentiment(text, text, int) IS
'Aurora MySQL-compatible: the sentiment label (POSITIVE, NEGATIVE, NEUTRAL or MIXED) of a text; NULL for NULL text.';

CREATE OR REPLACE FUNCTION @extschema@.aws_comprehend_detect_sentiment_confidence(
    input_text text, language_code text, max_batch_size int DEFAULT NULL
) RETURNS double precision
LANGUAGE sql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$ SELECT d.confidence::double precision FROM aws_comprehend.detect_sentiment(input_text, language_code, max_batch_size) AS d $$;
COMMENT ON FUNCTION @extschema@.aws_comprehend_detect_sentiment_confidence(text, text, int) IS
'Aurora MySQL-compatible: the confidence (0..1) of the label aws_comprehend_detect_sentiment gives for the same text; NULL for NULL text.';

-- ---- sql/aws/999_privileges.sql ----
-- Nothing here is executable by PUBLIC. Scoring and sentiment go to churnml_user,
-- export and import to churnml_loader, as their churnml counterparts.
REVOKE ALL ON ALL FUNCTIONS IN SCHEMA aws_commons, aws_comprehend, aws_sagemaker, aws_s3 FROM PUBLIC;
REVOKE ALL ON FUNCTION
    @extschema@.aws_comprehend_detect_sentiment(text, text, int),
    @extschema@.aws_comprehend_detect_sentiment_confidence(text, text, int)
FROM PUBLIC;

GRANT USAGE ON SCHEMA aws_commons, aws_comprehend, aws_sagemaker TO churnml_user;
GRANT USAGE ON SCHEMA aws_commons, aws_s3 TO churnml_loader;
GRANT EXECUTE ON FUNCTION
    aws_comprehend.detect_sentiment(varchar, varchar, int),
    aws_sagemaker._invoke_endpoint(text, int, text[]),
    aws_sagemaker.invoke_endpoint(varchar, int, "any"),
    @extschema@.aws_comprehend_detect_sentiment(text, text, int),
    @extschema@.aws_comprehend_detect_sentiment_confidence(text, text, int)
TO churnml_user;
GRANT EXECUTE ON FUNCTION
    aws_commons.create_s3_uri(text, text, text),
    aws_commons.create_aws_credentials(text, text, text),
    aws_s3._query_export_to_s3(text, aws_commons._s3_uri_1, text, text),
    aws_s3.query_export_to_s3(text, aws_commons._s3_uri_1, text),
    aws_s3.query_export_to_s3(text, text, text, text, text),
    aws_s3._table_import_from_s3(text, text, text, aws_commons._s3_uri_1, text),
    aws_s3.table_import_from_s3(text, text, text, aws_commons._s3_uri_1),
    aws_s3.table_import_from_s3(text, text, text, text, text, text),
    aws_s3.table_import_from_s3(text, text, text, aws_commons._s3_uri_1, aws_commons._aws_credentials_1),
    aws_s3.table_import_from_s3(text, text, text, text, text, text, text, text, text)
TO churnml_loader;
