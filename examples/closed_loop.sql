-- Closing the loop (run by `make demo` after examples/loaders.sql): a model watched in production
-- and retrained behind a gate, on the simulated months of `churnml data generate --months 4`
-- (docs/drift-simulation.md: month 3 brings a price rise, month 4 a competitor who changes who
-- churns). Its own deployment name, churn_monthly, so the call-center model "churn" stays as it is.
\set ON_ERROR_STOP 1
\echo
\echo '== A model of month 1 (the customers table itself), deployed as churn_monthly'
SELECT churnml.train('churn_monthly', 'SELECT * FROM customer_months WHERE month = 1', 'churn',
                     exclude => ARRAY['phone', 'month'], deploy => true) AS monthly_id
\gset
SELECT round(test_auc::numeric, 3) AS test_auc, n_features FROM churnml.model_summary WHERE id = :monthly_id;

\echo '== Month 2: the same market, other draws: no drift'
SELECT status, round(score_psi::numeric, 3) AS score_psi, round(max_feature_psi::numeric, 3) AS max_feature_psi,
       drifted_features
FROM churnml.monitor('churn_monthly', 'SELECT * FROM customer_months WHERE month = 2');

\echo '== Month 3: a price rise bills every minute 20% higher: the charges drift, the monitor alerts'
SELECT status, round(score_psi::numeric, 3) AS score_psi, round(max_feature_psi::numeric, 3) AS max_feature_psi,
       drifted_features
FROM churnml.monitor('churn_monthly', 'SELECT * FROM customer_months WHERE month = 3');

\echo '== A challenger trained on month 3 ranks month 3 no better than the champion: the gate keeps the champion'
SELECT status, round(champion_auc::numeric, 3) AS champion_auc, round(challenger_auc::numeric, 3) AS challenger_auc,
       evaluated_rows, details ->> 'failed_guard' AS failed_guard
FROM churnml.retrain('churn_monthly', 'SELECT * FROM customer_months WHERE month = 3', min_gain => 0.02);

\echo '== Month 4 in production: every answer of churn_monthly is logged (in production, a sample) ...'
SELECT name, sample_rate, key_column FROM churnml.log_predictions('churn_monthly', 1, 'phone');
SET max_parallel_workers_per_gather = 0;  -- a parallel plan logs nothing (docs/realized-performance.md)
SELECT count(*) AS customers,
       count(*) FILTER (WHERE churnml.churn_flag(churnml.will_churn(c, 'churn_monthly'), 'churn_monthly')) AS flagged
FROM (SELECT * FROM customer_months WHERE month = 4) AS c;
RESET max_parallel_workers_per_gather;

\echo '== ... and a month later the outcomes arrive: the stale champion ranked month 4 far worse than its test AUC said'
SELECT predictions_updated, positives
FROM churnml.record_outcomes('churn_monthly', 'SELECT * FROM customer_months WHERE month = 4', 'phone', 'churn');
SELECT p.model_id = :monthly_id AS stale_champion, p.predictions, round(p.auc::numeric, 3) AS realized_auc,
       round(s.test_auc::numeric, 3) AS test_auc, round(p.precision::numeric, 3) AS precision,
       round(p.recall::numeric, 3) AS recall
FROM churnml.realized_performance('churn_monthly', 'all') AS p JOIN churnml.model_summary AS s ON s.id = p.model_id;

\echo '== Month 4: a competitor lures the international callers; trained on it, the challenger beats the stale champion on the same held-out customers of month 4 and is promoted'
SELECT status, round(champion_auc::numeric, 3) AS champion_auc, round(challenger_auc::numeric, 3) AS challenger_auc,
       evaluated_rows, details ->> 'failed_guard' AS failed_guard
FROM churnml.retrain('churn_monthly', 'SELECT * FROM customer_months WHERE month = 4', min_gain => 0.02);

\echo '== What churn_monthly serves now, and its history'
SELECT d.model_id <> :monthly_id AS retrained, d.strategy, m.parent_id = :monthly_id AS parent_is_month_1
FROM churnml.deployments AS d JOIN churnml.models AS m ON m.id = d.model_id
WHERE d.name = 'churn_monthly' ORDER BY d.id DESC LIMIT 1;
SELECT status, trigger, reason FROM churnml.retrain_history WHERE name = 'churn_monthly' ORDER BY id DESC LIMIT 2;
