-- Train, evaluate, explain and deploy a churn model, all in SQL (run by `make demo`).
\set ON_ERROR_STOP 1
\echo
\echo '== Train an XGBoost churn model on the customers table (70/20/10 split, early stopping on validation AUC)'
SELECT churnml.train('churn', 'customers', 'churn', exclude => ARRAY['phone', 'area_code', 'state']) AS model_id
\gset
SELECT id, name, round(train_auc::numeric, 3) AS train_auc, round(validation_auc::numeric, 3) AS validation_auc,
       round(test_auc::numeric, 3) AS test_auc, n_features, training_rows
FROM churnml.model_summary WHERE id = :model_id;

\echo '== What drives churn (gain; weight = number of splits using the feature)'
SELECT feature, round(total_gain::numeric, 1) AS total_gain, round(gain::numeric, 2) AS gain,
       round(cover::numeric, 1) AS cover, weight
FROM churnml.feature_importance(:'model_id') LIMIT 6;

\echo '== The cheapest cutoff when an incentive costs $50 and a missed churner $500'
SELECT threshold, tp, fp, tn, fn, cost, cost_no_action
FROM churnml.optimal_threshold(:'model_id', fp_cost => 50, fn_cost => 500, tp_cost => 50) \gset opt_
\echo 'cutoff' :opt_threshold 'costs $' :opt_cost 'on the held-out customers, against $' :opt_cost_no_action 'for doing nothing'

\echo '== Those are the business costs of "churn": every deploy gives its model the cheapest cutoff at them'
SELECT name, fp_cost, fn_cost, tp_cost, tn_cost
FROM churnml.set_business_costs('churn', fp_cost => 50, fn_cost => 500, tp_cost => 50);

\echo '== Deploy it (the NOTICE says which cutoff it got, and why)'
SELECT * FROM churnml.deploy('churn', :model_id);
