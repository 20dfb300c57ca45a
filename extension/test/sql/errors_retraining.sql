-- Errors of gated retraining and its pg_cron schedule (pg_cron's own setup errors name the database:
-- tests/sql/test_retraining.py checks them).
\set SHOW_CONTEXT never
\pset format unaligned
\pset tuples_only on
SET ROLE churnml_admin;

-- retrain: names, sources and margins checked before any data is read.
SELECT regress.try($$SELECT churnml.retrain(NULL, 'public.customers')$$);
SELECT regress.try($$SELECT churnml.retrain('', 'public.customers')$$);
SELECT regress.try($$SELECT churnml.retrain('churn', '')$$);
SELECT regress.try($$SELECT churnml.retrain('churn', 'public.customers', min_gain => 'NaN')$$);
SELECT regress.try($$SELECT churnml.retrain('churn', 'public.customers', min_auc => 2)$$);
SELECT regress.try($$SELECT churnml.retrain('never_deployed', 'public.customers')$$);
SELECT regress.try($$SELECT churnml.retrain('churn')$$);

-- A data failure is a history row, not an error: nothing was trained or deployed.
SELECT status, challenger_id IS NULL AS no_challenger, reason, details -> 'error' ->> 'sqlstate' AS sqlstate
FROM churnml.retrain('churn', 'no_such_table');

-- schedule_retrain / unschedule_retrain / run_scheduled_retrain.
SELECT regress.try($$SELECT churnml.schedule_retrain('churn', NULL, 'public.customers')$$);
SELECT regress.try($$SELECT churnml.schedule_retrain('churn', '', 'public.customers')$$);
SELECT regress.try($$SELECT churnml.schedule_retrain('churn', '0 3 * * 1', NULL)$$);
SELECT regress.try($$SELECT churnml.schedule_retrain('churn', '0 3 * * 1', 'public.customers', min_gain => -1)$$);
SELECT regress.try($$SELECT churnml.unschedule_retrain('churn')$$);
SELECT regress.try($$SELECT churnml.run_scheduled_retrain(NULL)$$);
SELECT regress.try($$SELECT churnml.run_scheduled_retrain(42)$$);
RESET ROLE;
