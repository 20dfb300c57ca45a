-- The Aurora ML walkthrough ("Gain customer insights"), its SQL run on churnml through
-- the churnml_aws extension: the same function names and arguments as on Aurora, with
-- nothing leaving the database. Run after `make demo` (which starts the local S3 server
-- and puts the customer file in it). Every translation from Aurora MySQL is listed in
-- docs/from-aurora.md; the comments below name each one.
\set ON_ERROR_STOP 1
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS churnml_aws CASCADE;

\echo
\echo '== 1. The DBA loads the customer file from S3 (MySQL: LOAD DATA FROM S3 ... IGNORE 1 LINES)'
DROP TABLE IF EXISTS aurora_customers;
CREATE TABLE aurora_customers (LIKE customers INCLUDING ALL);
SELECT aws_s3.table_import_from_s3('aurora_customers', '', '(format csv, header true)',
       aws_commons.create_s3_uri('churnml', 'incoming/customers.part_00000', 'us-east-1')) AS imported;

\echo '== ... and unloads the table for the data scientist (MySQL: SELECT * INTO OUTFILE S3 ... FORMAT CSV HEADER)'
SELECT * FROM aws_s3.query_export_to_s3('SELECT * FROM aurora_customers ORDER BY area_code, phone',
       aws_commons.create_s3_uri('churnml', 'aurora/churn_data.csv', 'us-east-1'), 'format csv, header true');

\echo '== 2. Sentiment of the customer messages (Aurora MySQL names, unchanged)'
SELECT message,
       aws_comprehend_detect_sentiment(message, 'en') AS sentiment,
       round(aws_comprehend_detect_sentiment_confidence(message, 'en')::numeric, 2) AS confidence
FROM customer_message
WHERE calltime < '2021-01-01'  -- the walkthrough's own messages
ORDER BY calltime, area_code, phone, message;

\echo '== ... and with Aurora PostgreSQL''s aws_comprehend.detect_sentiment'
SELECT s.sentiment, count(*) AS messages
FROM customer_message AS m, aws_comprehend.detect_sentiment(m.message, 'en') AS s
WHERE m.calltime < '2021-01-01'
GROUP BY s.sentiment ORDER BY s.sentiment;

\echo '== 3. The ML engineer trains the 11-input model and deploys it as the endpoint "churn_endpoint"'
-- MySQL's one-hot helper (a stored function with IF) becomes a SQL function with CASE.
CREATE OR REPLACE FUNCTION IntPlanOneHot(int_plan text) RETURNS int
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$ SELECT CASE WHEN int_plan = 'no' THEN 1 ELSE 0 END $$;

SELECT churnml.train('churn_endpoint',
       $$SELECT acc_length, vmail_msg, day_mins, day_calls, eve_mins, night_mins, night_calls,
                int_calls, int_charge, cust_service_calls, IntPlanOneHot(int_plan) AS int_plan_no, churn
         FROM customers$$,
       'churn', deploy => true) IS NOT NULL AS trained_and_deployed;

-- MySQL: CREATE FUNCTION will_churn(...) RETURNS float ALIAS AWS_SAGEMAKER_INVOKE_ENDPOINT ENDPOINT NAME '...'
-- becomes a SQL function over aws_sagemaker.invoke_endpoint, as Aurora PostgreSQL writes it.
-- (A will_churn made by churnml.create_model_function takes one more, defaulted, argument;
-- with both present an 11-argument call would be ambiguous, so that one goes.)
DROP FUNCTION IF EXISTS will_churn(bigint, bigint, float8, bigint, float8, float8, bigint, bigint, float8, bigint,
                                   int, float8);
CREATE OR REPLACE FUNCTION will_churn(
    acc_length bigint, vmail_msg bigint, day_mins float8, day_calls bigint, eve_mins float8,
    night_mins float8, night_calls bigint, int_calls bigint, int_charge float8,
    cust_service_calls bigint, int_plan_no int) RETURNS float8
LANGUAGE sql STABLE
AS $$
SELECT aws_sagemaker.invoke_endpoint('churn_endpoint', NULL, acc_length, vmail_msg, day_mins, day_calls,
       eve_mins, night_mins, night_calls, int_calls, int_charge, cust_service_calls, int_plan_no)::float8
$$;

\echo '== The walkthrough''s customer: churn probability from the endpoint'
SELECT area_code, phone,
       round(will_churn(acc_length, vmail_msg, day_mins, day_calls, eve_mins, night_mins, night_calls,
                        int_calls, int_charge, cust_service_calls, IntPlanOneHot(int_plan))::numeric, 3) AS will_churn
FROM customers
WHERE (area_code, phone) IN ((415, '358-1921'), (408, '375-9999'), (415, '329-6603'))
ORDER BY area_code, phone;

\echo '== 4. Customer service: details, churn probability, sentiment and Marketing''s incentive in one query'
-- The walkthrough coded Marketing's rules as IF statements in the query; churnml keeps
-- them as data (churnml.incentive_rules) and recommend_incentive applies them.
SELECT r.area_code, r.phone, r.state, r.cust_service_calls AS calls,
       round(r.churn::numeric, 3) AS will_churn, r.sentiment, round(r.confidence::numeric, 2) AS confidence,
       i.offer, i.reason
FROM (SELECT c.area_code, c.phone, c.state, c.int_plan, c.cust_service_calls, m.message, m.calltime,
             will_churn(c.acc_length, c.vmail_msg, c.day_mins, c.day_calls, c.eve_mins, c.night_mins,
                        c.night_calls, c.int_calls, c.int_charge, c.cust_service_calls,
                        IntPlanOneHot(c.int_plan)) AS churn,
             aws_comprehend_detect_sentiment(m.message, 'en') AS sentiment,
             aws_comprehend_detect_sentiment_confidence(m.message, 'en') AS confidence
      FROM customers AS c JOIN customer_message AS m USING (area_code, phone)
      WHERE m.calltime < '2021-01-01') AS r,
     churnml.recommend_incentive(r.churn, r.sentiment, r.confidence,
                                 jsonb_build_object('cust_service_calls', r.cust_service_calls,
                                                    'int_plan', r.int_plan),
                                 r.area_code || '/' || r.phone) AS i
ORDER BY r.calltime, r.area_code, r.phone, r.message;
