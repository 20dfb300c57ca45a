-- Errors of training, the registry and deployments.
\set SHOW_CONTEXT never
\pset format unaligned
\pset tuples_only on
SET ROLE churnml_admin;

-- train: bad names, unknown source, unknown label, a label that is not binary, no features.
SELECT regress.try($$SELECT churnml.train('', 'public.customers', 'churn')$$);
SELECT regress.try($$SELECT churnml.train(NULL, 'public.customers', 'churn')$$);
SELECT regress.try($$SELECT churnml.train('bad name', 'public.customers', 'churn')$$);
SELECT regress.try($$SELECT churnml.train(repeat('m', 64), 'public.customers', 'churn')$$);
SELECT regress.try($$SELECT churnml.train('m', 'no_such_table', 'churn')$$);
SELECT regress.try($$SELECT churnml.train('m', 'public.customers', 'no_such_column')$$);
SELECT regress.try($$SELECT churnml.train('m', 'public.customers', 'day_mins')$$);
SELECT regress.try($$SELECT churnml.train('m', 'public.customers', 'churn', features => ARRAY[]::text[])$$);
SELECT regress.try($$SELECT churnml.train('m', 'public.customers', 'churn', features => ARRAY['nope'])$$);
SELECT regress.try($$SELECT churnml.train('m', 'public.customers', 'churn', test_fraction => 'NaN')$$);
SELECT regress.try($$SELECT churnml.train('m', 'public.customers', 'churn', test_fraction => 1.5)$$);
SELECT regress.try($$SELECT churnml.train('m', 'public.customers', 'churn', hyperparams => '{"max_depth": "deep"}')$$);
SELECT regress.try($$SELECT churnml.train('m', 'public.customers', 'churn', hyperparams => '[1]')$$);
SELECT regress.try($$SELECT churnml.train('m', 'public.customers', 'churn', missing => 'guess')$$);
SELECT regress.try($$SELECT churnml.train('m', 'SELECT 1 AS churn WHERE false', 'churn')$$);
SELECT regress.try($$SELECT churnml.train('m', 'DELETE FROM public.customers RETURNING *', 'churn')$$);

-- register_model: an artifact that is not a model, a bad feature spec, NULL.
SELECT regress.try($$SELECT churnml.register_model('m', '{}'::text, '{}', '{}', '{}')$$);
SELECT regress.try($$SELECT churnml.register_model('m', 'not json', '{"features": []}', '{}', '{}')$$);
SELECT regress.try($$SELECT churnml.register_model('m', '\x00'::bytea, '{}', '{}', '{}')$$);
SELECT regress.try($$SELECT churnml.register_model('m', NULL::text, '{}', '{}', '{}')$$);

-- deploy, rollback, set_threshold: unknown names and ids, thresholds out of range, NaN.
SELECT regress.try($$SELECT churnml.deploy('nope')$$);
SELECT regress.try($$SELECT churnml.deploy('churn', 999)$$);
SELECT regress.try($$SELECT churnml.deploy('churn', strategy => 'newest')$$);
SELECT regress.try($$SELECT churnml.deploy('churn', threshold => 1.5)$$);
SELECT regress.try($$SELECT churnml.deploy('churn', threshold => 'NaN')$$);
SELECT regress.try($$SELECT churnml.deploy('')$$);
SELECT regress.try($$SELECT churnml.rollback('churn')$$);
SELECT regress.try($$SELECT churnml.rollback('nope')$$);
SELECT regress.try($$SELECT churnml.rollback(NULL)$$);
SELECT regress.try($$SELECT churnml.set_threshold('churn', -0.1)$$);
SELECT regress.try($$SELECT churnml.set_threshold('churn', 'NaN')$$);
SELECT regress.try($$SELECT churnml.set_threshold('churn', NULL)$$);
SELECT regress.try($$SELECT churnml.set_threshold('nope', 0.4)$$);
-- set_endpoint_output: NULL, unknown, repeated or empty outputs, a name not deployed.
SELECT regress.try($$SELECT churnml.set_endpoint_output('churn', NULL)$$);
SELECT regress.try($$SELECT churnml.set_endpoint_output('churn', 'labels')$$);
SELECT regress.try($$SELECT churnml.set_endpoint_output('churn', 'label,label')$$);
SELECT regress.try($$SELECT churnml.set_endpoint_output('churn', '')$$);
SELECT regress.try($$SELECT churnml.set_endpoint_output('nope', 'label')$$);

-- compare_models, feature_importance, optimal_threshold: unknown names, nothing to compare, costs.
SELECT regress.try($$SELECT * FROM churnml.compare_models()$$);
SELECT regress.try($$SELECT * FROM churnml.compare_models('churn', 'nope')$$);
SELECT regress.try($$SELECT * FROM churnml.compare_models(VARIADIC ARRAY[NULL]::text[])$$);
SELECT regress.try($$SELECT * FROM churnml.feature_importance('nope')$$);
SELECT regress.try($$SELECT * FROM churnml.feature_importance('churn', 'leaves')$$);
SELECT regress.try($$SELECT * FROM churnml.optimal_threshold('churn', fp_cost => -1, fn_cost => 5)$$);
SELECT regress.try($$SELECT * FROM churnml.optimal_threshold('churn', fp_cost => 'NaN', fn_cost => 5)$$);
SELECT regress.try($$SELECT churnml.top_features('churn', 0)$$);

-- create_model_function: a name that is not an identifier, an unknown model.
SELECT regress.try($$SELECT churnml.create_model_function('bad name')$$);
SELECT regress.try($$SELECT churnml.create_model_function('f', 'nope')$$);
-- monitor, capture_profile, set_monitor_thresholds: names, sources, bounds.
SELECT regress.try($$SELECT churnml.monitor(NULL, 'public.customers')$$);
SELECT regress.try($$SELECT churnml.monitor('nope', 'public.customers')$$);
SELECT regress.try($$SELECT churnml.monitor('churn', '')$$);
SELECT regress.try($$SELECT churnml.monitor('churn', 'no_such_table')$$);
SELECT regress.try($$SELECT churnml.monitor('churn', 'SELECT 1 AS one')$$);
SELECT regress.try($$SELECT churnml.monitor('churn', 'SELECT * FROM public.customers WHERE false')$$);
SELECT regress.try($$SELECT churnml.monitor('churn', 'public.customers', 0)$$);
SELECT regress.try($$SELECT churnml.capture_profile('nope', 'public.customers')$$);
SELECT regress.try($$SELECT churnml.set_monitor_thresholds('churn', 0.5, 0.1)$$);
SELECT regress.try($$SELECT churnml.set_monitor_thresholds('churn', 'Infinity', 'Infinity')$$);
RESET ROLE;
