-- Install only (see sql/README.md): the rows CREATE EXTENSION starts with, inserted after the
-- check triggers exist (they validate the rules). New built-in rows after a release go in sql/upgrades/.
-- The walkthrough's rules (reference: the AWS Aurora ML walkthrough), its defects fixed:
-- every reason says what the condition tests (rule 6 tests > 2 calls), and rule 4's 50/50
-- split is a recorded experiment with a documented seed.
INSERT INTO churnml.experiments (name, seed, description, control_arm, builtin) VALUES
    ('negative_medium_risk_credit', 'churnml-walkthrough-rule-4',
     'Walkthrough rule 4: $15 (arm A) or $5 (arm B) credit, 50/50, for NEGATIVE customers with 0.4 < will_churn <= 0.8',
     'B', true);

INSERT INTO churnml.incentive_rules
    (rule_set, priority, name, condition, offer, offer_value, arms, experiment, reason, builtin)
VALUES
    ('default', 10, 'positive_low_risk',
     'sentiment = ''POSITIVE'' AND confidence > 0.5 AND will_churn < 0.5',
     'no incentive', 0, NULL, NULL,
     'Sentiment {sentiment} and will_churn<0.5: no incentive', true),
    ('default', 20, 'positive_at_risk',
     'sentiment = ''POSITIVE'' AND confidence > 0.5 AND will_churn >= 0.5',
     '$5 credit', 5, NULL, NULL,
     'Sentiment {sentiment} and will_churn>=0.5: $5 credit', true),
    ('default', 30, 'negative_high_risk',
     'sentiment = ''NEGATIVE'' AND confidence > 0.7 AND will_churn > 0.8',
     '$25 credit', 25, NULL, NULL,
     'Sentiment {sentiment} and will_churn>0.8: $25 credit', true),
    ('default', 40, 'negative_medium_risk',
     'sentiment = ''NEGATIVE'' AND confidence > 0.7 AND will_churn > 0.4',
     '$15 credit', 15,
     '[{"arm": "A", "offer": "$15 credit", "offer_value": 15, "weight": 0.5},
       {"arm": "B", "offer": "$5 credit", "offer_value": 5, "weight": 0.5}]',
     'negative_medium_risk_credit',
     'Sentiment {sentiment} and will_churn>0.4: {offer} (experiment {experiment}, arm {arm})', true),
    ('default', 50, 'negative_low_risk',
     'sentiment = ''NEGATIVE'' AND confidence > 0.7',
     'no incentive', 0, NULL, NULL,
     'Sentiment {sentiment} and will_churn<=0.4: no incentive', true),
    ('default', 60, 'service_calls_international',
     'cust_service_calls > 2 AND int_plan = ''yes''',
     '1000 free international minutes', NULL, NULL, NULL,
     'Customer service calls>2 and an international plan: 1000 free international minutes', true),
    ('default', 70, 'no_incentive',
     'TRUE',
     'no incentive', 0, NULL, NULL,
     'No rule applies: no incentive', true);
