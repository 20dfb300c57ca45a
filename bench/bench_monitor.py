"""Drift monitoring's cost against scoring the same rows (issue 23: "well under the cost of
scoring the same rows").

The demo customers repeated to 200,000 rows (quick: 50,000), a model trained on them. Measured:
`churnml.monitor(name, table, max_rows => all rows)` (count, read every row, bin 16+ features,
score every row with the C evaluator in batches, PSI, one row written) against the baseline of the
same run, `SELECT sum(churnml.will_churn(c, name)) FROM table c` (how a user scores those rows per
row). Both on a warm connection (the model loaded). Reported as rows per second.
"""

from __future__ import annotations

import psycopg

from bench.run import Context, Result, ensure_customers, timed

MODEL = "monitor_bench"


def _prepare(url: str, copies: int) -> int:
    with psycopg.connect(url) as conn:
        ensure_customers(conn, 10_000)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("SET client_min_messages = warning")
        if not conn.execute("SELECT count(*) FROM churnml.current_deployments WHERE name = %s", (MODEL,)).fetchone()[0]:
            conn.execute("SELECT churnml.train(%s, 'customers', 'churn', exclude => ARRAY['phone'], deploy => true)",
                         (MODEL,))
        conn.execute("DROP TABLE IF EXISTS mon_customers")
        conn.execute("CREATE TABLE mon_customers AS SELECT c.* FROM customers c, generate_series(1, %s) g", (copies,))
        conn.execute("VACUUM ANALYZE mon_customers")
        return int(conn.execute("SELECT count(*) FROM mon_customers").fetchone()[0])


def run(ctx: Context) -> list[Result]:
    url = ctx.server_url("bench_monitor")
    rows = _prepare(url, 5 if ctx.quick else 20)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("SET client_min_messages = warning")
        scoring = f"SELECT sum(churnml.will_churn(c, '{MODEL}')) FROM mon_customers c"
        monitoring = f"SELECT status FROM churnml.monitor('{MODEL}', 'mon_customers', {rows})"
        conn.execute(scoring).fetchone()  # warm: model loaded, plans made
        conn.execute(monitoring).fetchone()
        base, _ = ctx.median_of(lambda: rows / timed(lambda: conn.execute(scoring).fetchone()))
        median, runs = ctx.median_of(lambda: rows / timed(lambda: conn.execute(monitoring).fetchone()))
        conn.execute("DELETE FROM churnml.monitor_runs WHERE name = %s", (MODEL,))
    return [Result(name=f"monitor, every row of {rows:,}", unit="rows/s", median=median, runs=runs,
                   baseline="will_churn(row) over the same rows", baseline_median=base,
                   target="> 3x (well under scoring's cost)",
                   notes="count + read + bin every feature + score in batches + PSI + one row written")]
