-- Getting started: the four statements of README.md's "Getting started", as a reader types them
-- in psql after `make demo` (tests/examples checks that README and this file say the same).
\echo
\echo '== Install churnml (`churnml db start` already did: the NOTICE says so)'
CREATE EXTENSION IF NOT EXISTS churnml CASCADE;
\echo '== Train an XGBoost churn model on the columns of customers that describe customers (phone only identifies them); returns its id'
SELECT churnml.train('churn', 'customers', 'churn');
\echo '== Deploy the best model named churn (highest validation AUC); will_churn() uses it from now on'
SELECT * FROM churnml.deploy('churn');
\echo '== The five customers most likely to leave'
SELECT phone, churnml.will_churn(c) FROM customers AS c ORDER BY 2 DESC LIMIT 5;
