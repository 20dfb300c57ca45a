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
return api.invoke_endpoint(plpy, '@EXTVERSION@', endpoint_name, max_rows_per_batch, model_input)
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
