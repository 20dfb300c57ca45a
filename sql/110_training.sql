-- Training, deployment, thresholds and explanations (churnml_admin trains and deploys;
-- churnml_user may read explanations and costs).

-- The caller's search_path is what a source name or query resolves with, and a function
-- with SET search_path no longer sees it: so train is a SQL function without that
-- clause (every name in it schema-qualified) that hands the caller's path to _train.
CREATE OR REPLACE FUNCTION churnml._train(
    name text, source text, label text, features text[], exclude text[], feature_types jsonb, hyperparams jsonb,
    search jsonb, missing text, test_fraction float8, validation_fraction float8, seed int, deploy boolean,
    parent_id bigint, search_path text
) RETURNS bigint
LANGUAGE plpython3u VOLATILE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS $$
import churnml.sql_api.models as api
return api.train(plpy, '@EXTVERSION@', name, source, label, features, exclude, feature_types, hyperparams,
                 search, missing, test_fraction, validation_fraction, seed, deploy, parent_id,
                 search_path)
$$;
COMMENT ON FUNCTION churnml._train(text, text, text, text[], text[], jsonb, jsonb, jsonb, text, float8, float8, int, boolean, bigint, text) IS
'Internal: what churnml.train calls, with the caller''s search_path as the last argument.';

CREATE OR REPLACE FUNCTION churnml.train(
    name text,
    source text,
    label text,
    features text[] DEFAULT NULL,
    exclude text[] DEFAULT NULL,
    feature_types jsonb DEFAULT NULL,
    hyperparams jsonb DEFAULT NULL,
    search jsonb DEFAULT NULL,
    missing text DEFAULT 'native',
    test_fraction float8 DEFAULT 0.1,
    validation_fraction float8 DEFAULT 0.2,
    seed int DEFAULT 42,
    deploy boolean DEFAULT false,
    parent_id bigint DEFAULT NULL
) RETURNS bigint
LANGUAGE sql VOLATILE PARALLEL UNSAFE
AS $$
SELECT churnml._train(name, source, label, features, exclude, feature_types, hyperparams, search, missing,
                      test_fraction, validation_fraction, seed, deploy, parent_id,
                      pg_catalog.current_setting('search_path'))
$$;
COMMENT ON FUNCTION churnml.train(text, text, text, text[], text[], jsonb, jsonb, jsonb, text, float8, float8, int, boolean, bigint) IS
'Train an XGBoost churn model on a table, view or query and register it; returns the model id. Features: all columns but the label (or `features`, or all but `exclude`); `feature_types` overrides groups ({"col": "categorical"}); `missing` is native|mean|median|zero; `search` = {"trials": n} runs a random search on validation AUC. Progress is reported as NOTICEs. A source name or query resolves with the caller''s search_path.';

CREATE OR REPLACE FUNCTION churnml.register_model(
    name text,
    artifact text,
    feature_spec jsonb,
    metrics jsonb,
    training jsonb,
    params jsonb DEFAULT NULL,
    holdout jsonb DEFAULT NULL,
    deploy boolean DEFAULT false,
    parent_id bigint DEFAULT NULL
) RETURNS bigint
LANGUAGE plpython3u VOLATILE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS $$
import churnml.sql_api.models as api
return api.register_model(plpy, '@EXTVERSION@', name, artifact, feature_spec, metrics, training, params, holdout,
                          deploy, parent_id)
$$;
COMMENT ON FUNCTION churnml.register_model(text, text, jsonb, jsonb, jsonb, jsonb, jsonb, boolean, bigint) IS
'Register a churn model trained outside the database (churnml train --engine dask): `artifact` is XGBoost''s native JSON model text (for its UBJSON, pass bytea), `feature_spec` the fitted spec it was trained on, `metrics` and `training` as churnml.train stores them, `holdout` = {"labels": [...], "scores": [...]} of the test rows. churnml validates every field of the artifact before any library reads it, and it must be a binary:logistic gbtree or dart model whose input count and names match the spec''s encoded columns (else 22023). The canonical JSON written from the validated values is stored, with its SHA-256 (at most 64 MiB of it: a larger model is 22023). The feature spec is checked completely: names of 1 to 63 bytes, unique; every sql_type parsed by the database as a type its group can have. Returns the model id; `deploy` deploys it at once.';

CREATE OR REPLACE FUNCTION churnml.register_model(
    name text,
    artifact bytea,
    feature_spec jsonb,
    metrics jsonb,
    training jsonb,
    params jsonb DEFAULT NULL,
    holdout jsonb DEFAULT NULL,
    deploy boolean DEFAULT false,
    parent_id bigint DEFAULT NULL
) RETURNS bigint
LANGUAGE plpython3u VOLATILE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS $$
import churnml.sql_api.models as api
return api.register_model(plpy, '@EXTVERSION@', name, artifact, feature_spec, metrics, training, params, holdout,
                          deploy, parent_id)
$$;
COMMENT ON FUNCTION churnml.register_model(text, bytea, jsonb, jsonb, jsonb, jsonb, jsonb, boolean, bigint) IS
'Register a churn model trained outside the database from the bytes of its artifact: XGBoost''s UBJSON (booster.save_raw(), a .ubj file; its default save format) or its JSON. Otherwise as the text form: the artifact is validated completely before any library reads it (else 22023), and what is stored is its canonical JSON with its SHA-256. Returns the model id.';
COMMENT ON TYPE churnml.deployment IS 'What churnml.deploy, rollback and set_threshold return.';

CREATE OR REPLACE FUNCTION churnml.deploy(
    name text,
    model_id bigint DEFAULT NULL,
    strategy text DEFAULT NULL,
    threshold float8 DEFAULT NULL
) RETURNS churnml.deployment
LANGUAGE plpython3u VOLATILE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS $$
import churnml.sql_api.models as api
return api.deploy(plpy, '@EXTVERSION@', name, model_id, strategy, threshold)
$$;
COMMENT ON FUNCTION churnml.deploy(text, bigint, text, float8) IS
'Make `name` serve a model: a given model_id, or strategy ''best'' (highest validation AUC, the default) or ''latest''. The artifact''s checksum is verified first. The cutoff comes from the model itself unless `threshold` is given: the cheapest on its held-out rows at the business costs set for `name` (churnml.set_business_costs), else the model''s default (0.5); the NOTICE says which. Every session uses it from its next statement.';

CREATE OR REPLACE FUNCTION churnml.rollback(name text) RETURNS churnml.deployment
LANGUAGE plpython3u VOLATILE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS $$
import churnml.sql_api.models as api
return api.rollback(plpy, '@EXTVERSION@', name)
$$;
COMMENT ON FUNCTION churnml.rollback(text) IS
'Undo the latest deployment event of `name` (a deploy, a set_threshold, or what an earlier rollback restored): the model and the cutoff served before it, together. Rolling back again goes one event further back.';

CREATE OR REPLACE FUNCTION churnml.set_threshold(name text, threshold float8) RETURNS churnml.deployment
LANGUAGE plpython3u VOLATILE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS $$
import churnml.sql_api.models as api
return api.set_threshold(plpy, '@EXTVERSION@', name, threshold)
$$;
COMMENT ON FUNCTION churnml.set_threshold(text, float8) IS
'Keep the deployed model of `name` and change the probability above which churn_flag() flags a customer: a deployment event of its own, which churnml.rollback undoes.';

CREATE OR REPLACE FUNCTION churnml.set_endpoint_output(name text, output text) RETURNS churnml.deployment
LANGUAGE plpython3u VOLATILE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS $$
import churnml.sql_api.models as api
return api.set_endpoint_output(plpy, '@EXTVERSION@', name, output)
$$;
COMMENT ON FUNCTION churnml.set_endpoint_output(text, text) IS
'What aws_sagemaker.invoke_endpoint answers for the churn model deployed as `name`, as a SageMaker endpoint would: ''probability'' (the default, e.g. 0.93), ''label'' (1 when the probability is above the cutoff, else 0, as a classifier endpoint answers: ::INT and ::boolean work) or ''threshold'' (the cutoff); or several, comma-separated in the order wanted, e.g. ''probability,label'', answered as (0.93,1) for a cast to a composite type of those fields. A deployment event of its own, which churnml.rollback undoes; deploy and set_threshold keep it.';

CREATE OR REPLACE FUNCTION churnml.threshold_costs(
    name text,
    fp_cost float8,
    fn_cost float8,
    tp_cost float8 DEFAULT 0,
    tn_cost float8 DEFAULT 0
) RETURNS TABLE (threshold float8, tp bigint, fp bigint, tn bigint, fn bigint, cost float8)
LANGUAGE plpython3u STABLE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS $$
import churnml.sql_api.models as api
return api.threshold_costs(plpy, '@EXTVERSION@', name, tp_cost, fp_cost, tn_cost, fn_cost)
$$;
COMMENT ON FUNCTION churnml.threshold_costs(text, float8, float8, float8, float8) IS
'Total cost of each cutoff 0.00..1.00 on the model''s held-out test rows. tp = flagged and churned, fp = flagged and stayed, fn = not flagged and churned, tn = not flagged and stayed; a customer is flagged when probability > cutoff. `name` is a deployed name (its model), the name of models not deployed (the latest, said in a NOTICE) or a model id.';

CREATE OR REPLACE FUNCTION churnml.optimal_threshold(
    name text,
    fp_cost float8,
    fn_cost float8,
    tp_cost float8 DEFAULT 0,
    tn_cost float8 DEFAULT 0,
    OUT threshold float8, OUT tp bigint, OUT fp bigint, OUT tn bigint, OUT fn bigint, OUT cost float8,
    OUT cost_no_action float8
) RETURNS record
LANGUAGE plpython3u STABLE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS $$
import churnml.sql_api.models as api
return api.optimal_threshold(plpy, '@EXTVERSION@', name, tp_cost, fp_cost, tn_cost, fn_cost)
$$;
COMMENT ON FUNCTION churnml.optimal_threshold(text, float8, float8, float8, float8) IS
'The cheapest cutoff of threshold_costs (ties: the lowest cutoff), with the cost of flagging nobody for comparison. To have deploy use it for every new model of a name: churnml.set_business_costs.';

CREATE OR REPLACE FUNCTION churnml.feature_importance(name text, level text DEFAULT 'input')
RETURNS TABLE (feature text, gain float8, total_gain float8, cover float8, total_cover float8, weight bigint)
LANGUAGE plpython3u STABLE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS $$
import churnml.sql_api.models as api
return api.feature_importance(plpy, '@EXTVERSION@', name, level)
$$;
COMMENT ON FUNCTION churnml.feature_importance(text, text) IS
'Feature importance of a model (a deployed name, a trained-but-undeployed name: its latest model, said in a NOTICE; or a model id): gain, cover and weight (the number of splits using the feature), per input column (level ''input'', one-hot columns folded) or per encoded column (''output''), by total gain.';

CREATE OR REPLACE FUNCTION churnml.model_trees(name text) RETURNS jsonb
LANGUAGE plpython3u STABLE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS $$
import json
import churnml.sql_api.models as api
return json.dumps(api.model_trees(plpy, '@EXTVERSION@', name))
$$;
COMMENT ON FUNCTION churnml.model_trees(text) IS
'The trees of a model (a deployed name, a trained-but-undeployed name: its latest model; or a model id): count, depth of each, and the first tree as JSON and text (e.g. its first split "cust_service_calls < 3.5"), at most its first 1023 nodes breadth first (first_tree_nodes and first_tree_nodes_shown say how many it has and shows).';

CREATE OR REPLACE FUNCTION churnml.set_business_costs(
    name text,
    fp_cost float8,
    fn_cost float8,
    tp_cost float8 DEFAULT 0,
    tn_cost float8 DEFAULT 0
) RETURNS churnml.business_costs
LANGUAGE plpython3u VOLATILE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS $$
import churnml.sql_api.models as api
return api.set_business_costs(plpy, '@EXTVERSION@', name, fp_cost, fn_cost, tp_cost, tn_cost)
$$;
COMMENT ON FUNCTION churnml.set_business_costs(text, float8, float8, float8, float8) IS
'What each outcome costs for the deployment name `name` (fp = flagged and stayed, fn = not flagged and churned, tp = flagged and churned, tn = not flagged and stayed), kept in churnml.business_costs: from then on churnml.deploy gives each new model of `name` the cheapest cutoff on its own held-out rows at these costs. The NOTICE says the cheapest cutoff of the model deployed now; the current deployment is not changed (set_threshold applies it).';

GRANT EXECUTE ON FUNCTION
    churnml._train(text, text, text, text[], text[], jsonb, jsonb, jsonb, text, float8, float8, int, boolean, bigint, text),
    churnml.train(text, text, text, text[], text[], jsonb, jsonb, jsonb, text, float8, float8, int, boolean, bigint),
    churnml.register_model(text, text, jsonb, jsonb, jsonb, jsonb, jsonb, boolean, bigint),
    churnml.register_model(text, bytea, jsonb, jsonb, jsonb, jsonb, jsonb, boolean, bigint),
    churnml.deploy(text, bigint, text, float8),
    churnml.rollback(text),
    churnml.set_threshold(text, float8),
    churnml.set_endpoint_output(text, text),
    churnml.set_business_costs(text, float8, float8, float8, float8)
TO churnml_admin;
GRANT EXECUTE ON FUNCTION
    churnml.threshold_costs(text, float8, float8, float8, float8),
    churnml.optimal_threshold(text, float8, float8, float8, float8),
    churnml.feature_importance(text, text),
    churnml.model_trees(text)
TO churnml_user;

CREATE OR REPLACE FUNCTION churnml.top_features(name text, k int, level text DEFAULT 'input') RETURNS text[]
LANGUAGE plpython3u STABLE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS $$
import churnml.sql_api.models as api
return api.top_features(plpy, '@EXTVERSION@', name, k, level)
$$;
COMMENT ON FUNCTION churnml.top_features(text, int, text) IS
'The k features of a model (a deployed name, a trained-but-undeployed name: its latest model; or a model id) that carry the most total gain, best first (fewer when the model uses fewer): train a smaller model on them with churnml.train(..., features => churnml.top_features(''churn'', 11), parent_id => ...).';

CREATE OR REPLACE FUNCTION churnml.compare_models(VARIADIC names text[])
RETURNS TABLE (split text, metric text, model_ids bigint[], "values" float8[])
LANGUAGE plpython3u STABLE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS $$
import churnml.sql_api.models as api
return api.compare_models(plpy, '@EXTVERSION@', names)
$$;
COMMENT ON FUNCTION churnml.compare_models(text[]) IS
'Metrics of several models side by side (at most 64 deployed names, names of models not deployed (their latest model, said in a NOTICE) or model ids; more is 54000): one row per split and metric, values in the order given.';

GRANT EXECUTE ON FUNCTION churnml.top_features(text, int, text), churnml.compare_models(text[]) TO churnml_user;
