-- Scoring with deployed models. Every scoring function reads the deployment
-- registry, so it is STABLE: a deploy changes its answer. They are
-- PARALLEL UNSAFE, honestly: they look the deployment up through PL/Python's SPI,
-- which opens a subtransaction, and PostgreSQL forbids subtransactions during any
-- parallel operation, in the leader as well as in workers. A query calling them is
-- therefore planned serially (see docs/models.md). The trailing `_statement`
-- argument keys the per-statement model cache: leave it to its default.

CREATE FUNCTION churnml._score_json(
    name text, row_json text,
    _statement float8 DEFAULT pg_catalog.date_part('epoch', pg_catalog.statement_timestamp())
) RETURNS float8
LANGUAGE plpython3u STABLE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS $$
import churnml.sql_api.scoring as api
return api.score_json(plpy, '@EXTVERSION@', name, row_json, _statement)
$$;
COMMENT ON FUNCTION churnml._score_json(text, text, float8) IS
'Internal: the churn probability of one row given as JSON (what will_churn(row) calls).';

CREATE FUNCTION churnml.will_churn(c anyelement, model text DEFAULT 'churn') RETURNS float8
LANGUAGE sql STABLE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS $$ SELECT churnml._score_json(model, pg_catalog.row_to_json(c)::pg_catalog.text) $$;
COMMENT ON FUNCTION churnml.will_churn(anyelement, text) IS
'Churn probability (0..1) of a whole row, e.g. SELECT churnml.will_churn(c) FROM customers c, from the model deployed as `model`; features are taken from the row''s columns by name. For the fastest per-row calls make a typed function with churnml.create_model_function.';

CREATE FUNCTION churnml.churn_flag(
    probability float8, model text DEFAULT 'churn',
    _statement float8 DEFAULT pg_catalog.date_part('epoch', pg_catalog.statement_timestamp())
) RETURNS boolean
LANGUAGE plpython3u STABLE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS $$
import churnml.sql_api.scoring as api
return api.churn_flag(plpy, '@EXTVERSION@', model, probability, _statement)
$$;
COMMENT ON FUNCTION churnml.churn_flag(float8, text, float8) IS
'True when a churn probability is above the threshold stored with the deployment of `model` (see optimal_threshold and set_threshold).';

CREATE FUNCTION churnml._explain_json(
    name text, row_json text, top_k int,
    _statement float8 DEFAULT pg_catalog.date_part('epoch', pg_catalog.statement_timestamp())
) RETURNS TABLE (feature text, value text, contribution float8)
LANGUAGE plpython3u STABLE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS $$
import churnml.sql_api.scoring as api
return api.explain_json(plpy, '@EXTVERSION@', name, row_json, top_k, _statement)
$$;
COMMENT ON FUNCTION churnml._explain_json(text, text, int, float8) IS
'Internal: per-feature contributions for one row given as JSON (what explain_churn calls).';

CREATE FUNCTION churnml.explain_churn(c anyelement, top_k int DEFAULT 5, model text DEFAULT 'churn')
RETURNS TABLE (feature text, value text, contribution float8)
LANGUAGE sql STABLE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS $$ SELECT * FROM churnml._explain_json(model, pg_catalog.row_to_json(c)::pg_catalog.text, top_k) $$;
COMMENT ON FUNCTION churnml.explain_churn(anyelement, int, text) IS
'Why the model predicts what it does for one customer: the top_k input features by absolute TreeSHAP contribution to the log-odds (one-hot columns folded back onto their column), largest first. Positive contributions push towards churn.';

CREATE FUNCTION churnml._score_batches(
    name text, source text, key_column text, batch_size int, _search_path text,
    _statement float8 DEFAULT pg_catalog.date_part('epoch', pg_catalog.statement_timestamp())
) RETURNS TABLE (keys text, probabilities text)
LANGUAGE plpython3u STABLE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS $$
import churnml.sql_api.scoring as api
return api.score_batches(plpy, '@EXTVERSION@', name, source, key_column, batch_size, _search_path, _statement)
$$;
COMMENT ON FUNCTION churnml._score_batches(text, text, text, int, text, float8) IS
'Internal: bulk scoring, one row per batch: the keys as a JSON array and the probabilities as comma-separated text (what score calls).';

CREATE FUNCTION churnml.score(
    source text, key_column text DEFAULT NULL, model text DEFAULT 'churn', batch_size int DEFAULT 10000,
    _search_path text DEFAULT pg_catalog.current_setting('search_path')
) RETURNS TABLE (key text, probability float8)
LANGUAGE sql STABLE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS $$
SELECT k, p
FROM churnml._score_batches(model, source, key_column, batch_size, _search_path) AS b,
     LATERAL ROWS FROM (pg_catalog.json_array_elements_text(b.keys::pg_catalog.json),
                        pg_catalog.unnest(pg_catalog.string_to_array(b.probabilities, ',')::pg_catalog.float8[]))
             AS u(k, p)
$$;
COMMENT ON FUNCTION churnml.score(text, text, text, int, text) IS
'Bulk scoring: the churn probability of every row of a table, view or query (`source`), in batches with one vectorised prediction each; `key_column` (cast to text) identifies the rows. An order of magnitude faster than calling will_churn per row.';

CREATE FUNCTION churnml.create_model_function(
    function_name text, model text DEFAULT 'churn', schema text DEFAULT 'public'
) RETURNS text
LANGUAGE plpython3u VOLATILE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS $$
import churnml.sql_api.scoring as api
return api.create_model_function(plpy, '@EXTVERSION@', function_name, model, schema)
$$;
COMMENT ON FUNCTION churnml.create_model_function(text, text, text) IS
'Aurora-style: create schema.function_name(<feature> <type>, ...) RETURNS float8 with the deployed model''s features as named, typed arguments in training order, e.g. will_churn(acc_length bigint, ..., int_plan_no int). Executable by churnml_user. Returns the new function''s signature.';

GRANT EXECUTE ON FUNCTION
    churnml._score_json(text, text, float8),
    churnml.will_churn(anyelement, text),
    churnml.churn_flag(float8, text, float8),
    churnml._explain_json(text, text, int, float8),
    churnml.explain_churn(anyelement, int, text),
    churnml._score_batches(text, text, text, int, text, float8),
    churnml.score(text, text, text, int, text)
TO churnml_user;
GRANT EXECUTE ON FUNCTION churnml.create_model_function(text, text, text) TO churnml_admin;
