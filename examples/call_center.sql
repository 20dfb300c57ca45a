-- The call-center question in one call per customer (run by `make demo` after
-- examples/train_churn.sql): who is this customer, how likely are they to leave, how
-- do they feel, what do Marketing's rules offer, and why.
\set ON_ERROR_STOP 1
\echo
\echo '== Sentiment of the walkthrough messages, both engines'
SELECT m.message,
       e.sentiment AS encoder, round(e.confidence::numeric, 2) AS enc_conf,
       l.sentiment AS lexicon, round(l.confidence::numeric, 2) AS lex_conf
FROM (VALUES ('Thank you very much for resolving the issues with my bill!'),
             ('I don''t understand how I paid for 100 minutes and got only 90, you are ripping me off!'),
             ('Please fix this issue! I am sick of sitting on a phone every single day with you people!'),
             ('Why am I paying so much for my international minutes?'),
             ('I love the coverage but the bill is way too high')) AS m(message),
     churnml.detect_sentiment(m.message, 'en', 'encoder') AS e,
     churnml.detect_sentiment(m.message, 'en', 'lexicon') AS l;

\echo '== The three calls of the walkthrough: churn risk, sentiment, incentive and reasons (log_offer => true: the agent makes these offers, so each is logged)'
SELECT a.customer_key AS customer, a.customer ->> 'state' AS state,
       round(a.will_churn::numeric, 3) AS will_churn, a.sentiment, round(a.confidence::numeric, 2) AS confidence,
       a.offer, a.reason, a.top_reasons
FROM (VALUES (408, '375-9999', 'You morons! You charged me extra again!'),
             (415, '358-1921', 'How do I dial Morocco?'),
             (415, '329-6603', 'Thank you very much for resolving the issues with my account'))
     AS c(area_code, phone, message),
     churnml.assess_customer(c.area_code, c.phone, c.message, log_offer => true) AS a;
