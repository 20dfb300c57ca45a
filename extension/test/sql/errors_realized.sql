-- Errors of prediction logging, outcomes, realized performance and the shadow challenger.
\set SHOW_CONTEXT never
\pset format unaligned
\pset tuples_only on
SET ROLE churnml_admin;

-- log_predictions: the name, the rate and the key column are checked before anything is stored.
SELECT regress.try($$SELECT churnml.log_predictions(NULL, 1)$$);
SELECT regress.try($$SELECT churnml.log_predictions('bad name', 1)$$);
SELECT regress.try($$SELECT churnml.log_predictions('churn', NULL)$$);
SELECT regress.try($$SELECT churnml.log_predictions('churn', 'NaN')$$);
SELECT regress.try($$SELECT churnml.log_predictions('churn', 1.5)$$);
SELECT regress.try($$SELECT churnml.log_predictions('churn', 1, '')$$);

-- realized_performance and record_outcomes: a name that logs nothing, a bad period, bad columns and labels.
SELECT regress.try($$SELECT * FROM churnml.realized_performance('churn')$$);
SELECT regress.try($$SELECT * FROM churnml.record_outcomes('churn', 'public.customers', 'phone', 'churn')$$);
SELECT (churnml.log_predictions('churn', 0)).sample_rate;
SELECT regress.try($$SELECT * FROM churnml.realized_performance('churn', 'fortnight')$$);
SELECT regress.try($$SELECT * FROM churnml.realized_performance('churn', NULL)$$);
SELECT regress.try($$SELECT * FROM churnml.record_outcomes('churn', 'public.customers', 'nope', 'churn')$$);
SELECT regress.try($$SELECT * FROM churnml.record_outcomes('churn', 'public.customers', 'phone', NULL)$$);
SELECT regress.try($$SELECT * FROM churnml.record_outcomes('churn', 'SELECT 1 AS k, 2 AS y', 'k', 'y')$$);
SELECT regress.try($$SELECT * FROM churnml.record_outcomes('churn', 'SELECT 1 AS k, ''maybe'' AS y', 'k', 'y')$$);
SELECT regress.try($$SELECT * FROM churnml.record_outcomes('churn', 'SELECT 1 AS k, now() AS y', 'k', 'y')$$);
SELECT regress.try($$SELECT * FROM churnml.record_outcomes('churn', 'public.customers', 'phone', 'churn', '-1 day')$$);

-- the shadow: a model that is not there, the one serving, no shadow to promote, bad gates.
SELECT regress.try($$SELECT * FROM churnml.start_shadow('churn', NULL)$$);
SELECT regress.try($$SELECT * FROM churnml.start_shadow('churn', 987654)$$);
SELECT regress.try($$SELECT * FROM churnml.start_shadow('churn', (SELECT model_id FROM churnml.current_deployments WHERE name = 'churn'))$$);
SELECT regress.try($$SELECT * FROM churnml.start_shadow('nowhere', 1)$$);
SELECT regress.try($$SELECT * FROM churnml.promote_shadow('churn')$$);
SELECT regress.try($$SELECT * FROM churnml.promote_shadow('churn', 'NaN')$$);
SELECT regress.try($$SELECT * FROM churnml.promote_shadow('churn', 0.01, 0)$$);
SELECT churnml.stop_shadow('churn') IS NULL;
DELETE FROM churnml.prediction_logging;
RESET ROLE;

-- churnml_user reads, and may not change the settings; a role with nothing may do nothing.
SET ROLE churnml_user;
SELECT regress.try($$SELECT churnml.log_predictions('churn', 1)$$);
SELECT regress.try($$SELECT * FROM churnml.promote_shadow('churn')$$);
RESET ROLE;
SET ROLE regress_churnml_nobody;
SELECT regress.try($$SELECT * FROM churnml.realized_performance('churn')$$);
RESET ROLE;
