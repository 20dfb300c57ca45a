"""Demo-data generation rate: `churnml data generate` end to end (generate, COPY, keys, ANALYZE).

Baseline: the same number of customer rows made by the server itself with one
INSERT ... SELECT over generate_series (random values of the same columns, same
primary key) — the fastest way PostgreSQL alone fills such a table. The target is
1,000,000 customers in under 60 s.
"""

from __future__ import annotations

import psycopg

from bench.run import Context, Result, timed
from churnml_client import datagen

BASELINE_SQL = """
DROP TABLE IF EXISTS customers_baseline;
CREATE TABLE customers_baseline AS
SELECT (ARRAY['CA','NY','TX','OH','KS'])[1 + (g % 5)] AS state,
       (1 + random() * 242)::bigint AS acc_length,
       (ARRAY[408, 415, 510])[1 + (g % 3)]::bigint AS area_code,
       lpad((g / 10000)::text, 3, '0') || '-' || lpad((g % 10000)::text, 4, '0') AS phone,
       CASE WHEN random() < 0.097 THEN 'yes' ELSE 'no' END AS int_plan,
       CASE WHEN random() < 0.277 THEN 'yes' ELSE 'no' END AS vmail_plan,
       (random() * 50)::bigint AS vmail_msg,
       round((random() * 350)::numeric, 1)::float8 AS day_mins, (random() * 160)::bigint AS day_calls,
       round((random() * 60)::numeric, 2)::float8 AS day_charge,
       round((random() * 360)::numeric, 1)::float8 AS eve_mins, (random() * 170)::bigint AS eve_calls,
       round((random() * 30)::numeric, 2)::float8 AS eve_charge,
       round((random() * 390)::numeric, 1)::float8 AS night_mins, (random() * 175)::bigint AS night_calls,
       round((random() * 17)::numeric, 2)::float8 AS night_charge,
       round((random() * 20)::numeric, 1)::float8 AS int_mins, (random() * 20)::bigint AS int_calls,
       round((random() * 5.4)::numeric, 2)::float8 AS int_charge,
       (random() * 9)::bigint AS cust_service_calls, random() < 0.145 AS churn
FROM generate_series(0, %(n)s - 1) AS g;
ALTER TABLE customers_baseline ADD PRIMARY KEY (area_code, phone);
ANALYZE customers_baseline;
"""


def run(ctx: Context) -> list[Result]:
    n = 100_000 if ctx.quick else 1_000_000
    url = ctx.server_url("bench_datagen")

    def generate() -> float:
        with psycopg.connect(url) as conn:
            return n / timed(lambda: datagen.load(conn, n, 42, progress=False))

    def baseline() -> float:
        with psycopg.connect(url) as conn:
            return n / timed(lambda: conn.execute(BASELINE_SQL.replace("%(n)s", str(n))))

    base_median, _ = ctx.median_of(baseline)
    median, runs = ctx.median_of(generate)
    return [Result(
        name=f"data generate, {n:,} customers",
        unit="customers/s",
        median=median,
        runs=runs,
        baseline="server-side INSERT…SELECT generate_series",
        baseline_median=base_median,
        target="≥ 16,667/s (1M in < 60 s)",
        notes="includes customer_message and call_transcript rows, keys, indexes and ANALYZE",
    )]
