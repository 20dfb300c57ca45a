-- The call-center question: who is this customer, and what did they write?
-- (Run by `make demo`; churn probability, sentiment and the incentive join this
-- query as those features land.)
\echo
\echo '== churnml' `date -u +%Y-%m-%dT%H:%M:%SZ`
SELECT extname AS extension, extversion AS version FROM pg_extension WHERE extname = 'churnml';

\echo '== The walkthrough customers and their latest message'
SELECT c.area_code, c.phone, c.state, c.acc_length, c.int_plan, c.cust_service_calls,
       round(c.day_mins::numeric, 1) AS day_mins, m.message
FROM customers AS c
LEFT JOIN LATERAL (
    SELECT cm.message
    FROM customer_message AS cm
    WHERE cm.area_code = c.area_code AND cm.phone = c.phone
    ORDER BY cm.calltime DESC NULLS LAST
    LIMIT 1
) AS m ON true
WHERE (c.area_code, c.phone) IN ((415, '358-1921'), (408, '375-9999'), (415, '329-6603'))
ORDER BY c.area_code, c.phone;
