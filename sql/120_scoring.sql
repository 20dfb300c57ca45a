-- Scoring with deployed models. Every scoring function reads the deployment
-- registry, so it is STABLE: a deploy changes its answer. The exception is
-- churnml.predict, which reads one registered model by id (and a registered model
-- never changes), so it is IMMUTABLE: what postgres_fdw needs to ship it to shards.
-- The deployment is looked up once per statement (keyed by the statement's start, which
-- the Python reads from the server; a parallel worker has its leader's).
--
-- Parallel labels. PL/Python's SPI opens a subtransaction for every statement, which
-- PostgreSQL forbids during a parallel operation (in workers and in the leader), so in
-- parallel mode the per-row functions read the deployment and the artifact without it
-- (python_udfs/churnml/parallel_read.py, C in extension/core/parallel_read.c), in the
-- statement's snapshot, which workers share with their leader: will_churn, _score_json
-- (and the typed functions create_model_function makes), churn_flag, predict and _predict
-- are PARALLEL SAFE. explain_churn stays UNSAFE (it may say which model it explains in a
-- NOTICE through a lookup that runs plpy statements), and so does bulk score (a PL/Python
-- cursor over the source, and progress reporting through SPI); create_model_function and
-- create_shard_function write.

CREATE OR REPLACE FUNCTION churnml._score_json(
    name text, row_json text,
    _statement float8 DEFAULT pg_catalog.date_part('epoch', pg_catalog.statement_timestamp())
) RETURNS float8
LANGUAGE plpython3u STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
import churnml.sql_api.scoring as api
return api.score_json(plpy, '@EXTVERSION@', name, row_json, _statement)
$$;
COMMENT ON FUNCTION churnml._score_json(text, text, float8) IS
'Internal: the churn probability of one row given as JSON (what will_churn(row) calls, and the typed functions create_model_function makes for non-superusers: keep its signature). The third argument is no longer used; the typed functions 0.2.0 made still pass it.';

CREATE OR REPLACE FUNCTION churnml.will_churn(c anyelement, model text DEFAULT 'churn') RETURNS float8
LANGUAGE sql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$ SELECT churnml._score_json(model, pg_catalog.to_json(c)::pg_catalog.text) $$;
COMMENT ON FUNCTION churnml.will_churn(anyelement, text) IS
'Churn probability (0..1) of a whole row, e.g. SELECT churnml.will_churn(c) FROM customers c, from the model deployed as `model`; features are taken from the row''s columns by name. For the fastest per-row calls make a typed function with churnml.create_model_function.';

CREATE OR REPLACE FUNCTION churnml.churn_flag(probability float8, model text DEFAULT 'churn') RETURNS boolean
LANGUAGE plpython3u STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
import churnml.sql_api.scoring as api
return api.churn_flag(plpy, '@EXTVERSION@', model, probability)
$$;
COMMENT ON FUNCTION churnml.churn_flag(float8, text) IS
'True when a churn probability is above the threshold stored with the deployment of `model` (see optimal_threshold and set_threshold); a probability outside 0..1 is 22003.';

CREATE OR REPLACE FUNCTION churnml._explain_json(name text, row_json text, top_k int)
RETURNS TABLE (feature text, value text, contribution float8)
LANGUAGE plpython3u STABLE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS $$
import churnml.sql_api.scoring as api
return api.explain_json(plpy, '@EXTVERSION@', name, row_json, top_k)
$$;
COMMENT ON FUNCTION churnml._explain_json(text, text, int) IS
'Internal: per-feature contributions for one row given as JSON (what explain_churn calls).';

CREATE OR REPLACE FUNCTION churnml.explain_churn(c anyelement, top_k int DEFAULT 5, model text DEFAULT 'churn')
RETURNS TABLE (feature text, value text, contribution float8)
LANGUAGE sql STABLE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS $$ SELECT * FROM churnml._explain_json(model, pg_catalog.to_json(c)::pg_catalog.text, top_k) $$;
COMMENT ON FUNCTION churnml.explain_churn(anyelement, int, text) IS
'Why the model predicts what it does for one customer: the top_k input features by absolute TreeSHAP contribution to the log-odds (one-hot columns folded back onto their column), largest first. Positive contributions push towards churn. `model` is a deployed name (the model it serves), the name of models not deployed (the latest, said in a NOTICE once per statement) or a model id.';

CREATE OR REPLACE FUNCTION churnml._score_batches(
    name text, source text, key_column text, batch_size int, search_path text
) RETURNS TABLE (keys bytea, probabilities bytea)
LANGUAGE plpython3u STABLE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS $$
import churnml.sql_api.scoring as api
return api.score_batches(plpy, '@EXTVERSION@', name, source, key_column, batch_size, search_path)
$$;
COMMENT ON FUNCTION churnml._score_batches(text, text, text, int, text) IS
'Internal: bulk scoring, one row per batch: the keys and the probabilities packed as churnml._unpack_scores reads them (what score calls, with the caller''s search_path as the last argument).';

-- Without SET search_path, unlike every other churnml function: C that looks up no
-- names, called once per row, where a SET clause costs a GUC save and restore per call
-- (a third more time for the whole fetch). tests/sql/test_privileges.py lists it.
CREATE OR REPLACE FUNCTION churnml._pack_float8(VARIADIC "any") RETURNS bytea
LANGUAGE c IMMUTABLE PARALLEL SAFE
AS 'MODULE_PATHNAME', 'churnml_pack_float8';
COMMENT ON FUNCTION churnml._pack_float8("any") IS
'Internal (what score and customer_risk read rows through, in C): its double precision arguments, passed separately, as one bytea of native float8s, NULL as NaN. Any other argument type is 42804.';

-- The one way batch results come back to SQL: bytea columns unpacked in C
-- (extension/core/bulk_scoring.c); churnml._unpack_risk (410_dashboards.sql) is the same C function.
CREATE OR REPLACE FUNCTION churnml._unpack_scores(keys bytea, probabilities bytea)
RETURNS TABLE (key text, probability float8)
LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'churnml_unpack_batch';
COMMENT ON FUNCTION churnml._unpack_scores(bytea, bytea) IS
'Internal (what score calls, in C): one row per probability of a batch from _score_batches. probabilities = float8 values in native byte order (NaN reads as NULL); keys = one UTF-8 key per probability, each followed by a zero byte, the single byte 0xFF for NULL. Sizes and UTF-8 are checked (22023, 22021).';

-- Without SET search_path: the source resolves with the caller's path, which this body
-- hands on (every name in it is schema-qualified, and it uses no operator).
CREATE OR REPLACE FUNCTION churnml.score(
    source text, key_column text DEFAULT NULL, model text DEFAULT 'churn', batch_size int DEFAULT 10000
) RETURNS TABLE (key text, probability float8)
LANGUAGE sql STABLE PARALLEL UNSAFE
AS $$
SELECT u.key, u.probability
FROM churnml._score_batches(model, source, key_column, batch_size, pg_catalog.current_setting('search_path')) AS b,
     LATERAL churnml._unpack_scores(b.keys, b.probabilities) AS u
$$;
COMMENT ON FUNCTION churnml.score(text, text, text, int) IS
'Bulk scoring: the churn probability of every row of a table, view or query (`source`), in batches with one vectorised prediction each; `key_column` (cast to text) identifies the rows. An order of magnitude faster than calling will_churn per row.';

CREATE OR REPLACE FUNCTION churnml.create_model_function(
    function_name text, model text DEFAULT 'churn', schema text DEFAULT 'public'
) RETURNS text
LANGUAGE plpython3u VOLATILE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS $$
import churnml.sql_api.scoring as api
return api.create_model_function(plpy, '@EXTVERSION@', function_name, model, schema)
$$;
COMMENT ON FUNCTION churnml.create_model_function(text, text, text) IS
'Aurora-style: create schema.function_name(<feature> <type>, ...) RETURNS float8 with the deployed model''s features as named, typed arguments in training order, e.g. will_churn(acc_length bigint, ..., int_plan_no int). Executable by churnml_user (not PUBLIC), search_path pinned, owned by the caller, who needs CREATE on the schema. Made by a superuser it is PL/Python (the fastest per-row path); PL/Python is untrusted, so for any other churnml_admin it is a SQL function over churnml._score_json (will_churn(row)''s speed). Returns the new function''s signature.';

CREATE OR REPLACE FUNCTION churnml._predict(model_id bigint, numbers float8[], texts text[]) RETURNS float8
LANGUAGE plpython3u IMMUTABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
import churnml.sql_api.scoring as api
return api.predict(plpy, '@EXTVERSION@', model_id, numbers, texts)
$$;
COMMENT ON FUNCTION churnml._predict(bigint, float8[], text[]) IS
'Internal: what churnml.predict calls with its checked arrays.';

-- In C (extension/core/predict.c): checks the two arrays (at most 100,000 elements and
-- 16 MB each) before PL/Python converts them, then calls churnml._predict. Without SET
-- search_path: C that looks up one schema-qualified function, once per call site.
CREATE OR REPLACE FUNCTION churnml.predict(model_id bigint, numbers float8[], texts text[]) RETURNS float8
LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE
AS 'MODULE_PATHNAME', 'churnml_predict';
COMMENT ON FUNCTION churnml.predict(bigint, float8[], text[]) IS
'Churn probability (0..1) from exactly the registered model model_id, never a deployment: the model''s features in training order, those of number or boolean SQL types in `numbers` (booleans as 1/0), the others in `texts`; NULL elements are missing values. IMMUTABLE because a registered model''s artifact checksum and feature spec can never change (a trigger on churnml.models refuses it), so postgres_fdw ships it to shards. (churnml never reuses a model id; do not delete a model and insert another under its id.) Wrong array lengths fail with 22023 and a hint listing both arrays'' features. Written for you by churnml.create_shard_function.';

CREATE OR REPLACE FUNCTION churnml.create_shard_function(
    function_name text, relation regclass, model text DEFAULT 'churn', schema text DEFAULT 'public'
) RETURNS text
LANGUAGE plpython3u VOLATILE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS $$
import churnml.sql_api.scoring as api
return api.create_shard_function(plpy, '@EXTVERSION@', function_name, relation, model, schema)
$$;
COMMENT ON FUNCTION churnml.create_shard_function(text, regclass, text, text) IS
'Create (or re-point) schema.function_name(c <relation''s row type>) RETURNS float8: an IMMUTABLE LANGUAGE sql function whose body is churnml.predict(<the model deployed as `model` now>, ARRAY[<its number columns>], ARRAY[<its text columns>]). The planner inlines it into plain column references, so postgres_fdw ships the call to shards with churnml in the foreign server''s `extensions` option (docs/models.md, "Sharded scoring with postgres_fdw"). It is pinned to one model id: run this again after every deploy. Deliberately without SET search_path, because PostgreSQL never inlines a function that has one; its body is SQL-standard (RETURN ...), parsed once here with every name schema-qualified, so nothing is looked up by name when it runs. Executable by churnml_user, owned by the caller, who needs CREATE on the schema. Returns the function''s signature.';

GRANT EXECUTE ON FUNCTION
    churnml._predict(bigint, float8[], text[]),
    churnml.predict(bigint, float8[], text[]),
    churnml._score_json(text, text, float8),
    churnml.will_churn(anyelement, text),
    churnml.churn_flag(float8, text),
    churnml._explain_json(text, text, int),
    churnml.explain_churn(anyelement, int, text),
    churnml._score_batches(text, text, text, int, text),
    churnml._pack_float8("any"),
    churnml._unpack_scores(bytea, bytea),
    churnml.score(text, text, text, int)
TO churnml_user;
GRANT EXECUTE ON FUNCTION churnml.create_model_function(text, text, text) TO churnml_admin;
GRANT EXECUTE ON FUNCTION churnml.create_shard_function(text, regclass, text, text) TO churnml_admin;
