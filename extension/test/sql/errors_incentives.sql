-- Errors of recommendations, the offer log and the call-center function.
\set SHOW_CONTEXT never
\pset format unaligned
\pset tuples_only on
SET ROLE churnml_user;
-- recommend_incentive: will_churn out of range, NaN, NULL; unknown sentiment; confidence; rule set; key
SELECT regress.try($$SELECT churnml.recommend_incentive(1.5, 'NEGATIVE', 0.9)$$);
SELECT regress.try($$SELECT churnml.recommend_incentive('NaN', 'NEGATIVE', 0.9)$$);
SELECT regress.try($$SELECT churnml.recommend_incentive(NULL, 'NEGATIVE', 0.9)$$);
SELECT regress.try($$SELECT churnml.recommend_incentive(0.5, 'ANGRY', 0.9)$$);
SELECT regress.try($$SELECT churnml.recommend_incentive(0.5, '', 0.9)$$);
SELECT regress.try($$SELECT churnml.recommend_incentive(0.5, 'NEGATIVE', -0.1)$$);
SELECT regress.try($$SELECT churnml.recommend_incentive(0.5, 'NEGATIVE', 0.9, rule_set => 'nope')$$);
SELECT regress.try($$SELECT churnml.recommend_incentive(0.5, 'NEGATIVE', 0.9, customer => '[1, 2]')$$);
SELECT regress.try($$SELECT churnml.recommend_incentive(0.5, 'NEGATIVE', 0.9, customer_key => '   ')$$);
SELECT regress.try($$SELECT churnml.recommend_incentive(0.5, 'NEGATIVE', 0.9, customer_key => E'a\x01b')$$);
SELECT (churnml.recommend_incentive(0.9, 'NEGATIVE', 0.9, customer_key => 'k1')).offer;
-- assess_customer: an unknown customer, NULL keys, an unknown engine
SELECT regress.try($$SELECT * FROM churnml.assess_customer(999, 'nobody', 'hi', engine => 'lexicon')$$);
-- NULL keys find no customer: no row, no error
SELECT count(*) FROM churnml.assess_customer(NULL, NULL, 'hi', engine => 'lexicon');
SELECT regress.try($$SELECT * FROM churnml.assess_customer(401, '1007919', 'hi', engine => 'oracle')$$);
SELECT will_churn IS NOT NULL AS scored, sentiment, rule_name IS NOT NULL AS ruled
FROM churnml.assess_customer(401, '1007919', 'You charged me twice!', log_offer => false, engine => 'lexicon');
-- log_offer and record_outcome (an admin's): an unknown offer, an unknown outcome
SELECT regress.try($$SELECT churnml.log_offer('', NULL::churnml.incentive)$$);
RESET ROLE;
SET ROLE churnml_admin;
SELECT regress.try($$SELECT churnml.record_outcome(999999, 'retained')$$);
SELECT regress.try($$SELECT churnml.record_outcome(999999::bigint, 'maybe')$$);
SELECT regress.try($$SELECT churnml.record_outcome('nobody', 'retained', '2026-01-01 00:00+00')$$);
-- rules: a condition that is not an expression over known inputs, an oversize offer
SELECT regress.try($$SELECT churnml.check_condition('will_churn > ')$$);
SELECT regress.try($$SELECT churnml.check_condition('pg_sleep(1) IS NULL')$$);
SELECT regress.try($$SELECT churnml.check_condition('no_such_input > 1')$$);
SELECT regress.try($$INSERT INTO churnml.incentive_rules (priority, name, condition, offer) VALUES (5, 'r', 'will_churn >', 'x')$$);
SELECT regress.try($$INSERT INTO churnml.incentive_rules (priority, name, condition, offer) VALUES (5, 'r', 'TRUE', repeat('x', 101))$$);
SELECT regress.try($$DELETE FROM churnml.incentive_rules WHERE builtin$$);
RESET ROLE;
