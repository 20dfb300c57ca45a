-- The call-center question: who is this customer, how likely are they to leave, and why?
-- (Run by `make demo` after examples/train_churn.sql; sentiment and the recommended
-- incentive join this query as those features land.)
\set ON_ERROR_STOP 1
\echo
\echo '== Call center: the walkthrough customers, their churn probability and latest message'
SELECT c.area_code, c.phone, c.state, c.int_plan, c.cust_service_calls AS service_calls,
       round(churnml.will_churn(c)::numeric, 3) AS will_churn,
       churnml.churn_flag(churnml.will_churn(c)) AS flagged,
       m.message
FROM customers AS c
LEFT JOIN LATERAL (
    SELECT cm.message FROM customer_message AS cm
    WHERE cm.area_code = c.area_code AND cm.phone = c.phone
    ORDER BY cm.calltime DESC NULLS LAST LIMIT 1
) AS m ON true
WHERE (c.area_code, c.phone) IN ((415, '358-1921'), (408, '375-9999'), (415, '329-6603'))
ORDER BY will_churn DESC;

\echo '== Why is (415, 358-1921) at risk? (TreeSHAP contributions to the log-odds)'
SELECT e.feature, e.value, round(e.contribution::numeric, 3) AS contribution
FROM customers AS c, churnml.explain_churn(c, 4) AS e
WHERE (c.area_code, c.phone) = (415, '358-1921');
