"""The dashboard view, churnml.customer_risk: what a BI tile pays.

`python -m bench.run --only dashboards`. On the demo data (10,000 customers with --quick,
50,000 otherwise) with a model trained and deployed, timed in the same run:

- the tile `SELECT risk_band, count(*) FROM churnml.customer_risk GROUP BY 1`, which reads
  no explanation column: since 0.3.0 the explanations (TreeSHAP) are not computed for it;
- the baseline: the same tile that also reads top_reason, which computes every customer's
  explanation, the work every read of the view did before 0.3.0 (the same C TreeSHAP, batch
  by batch);
- a listing of the 20 riskiest customers with their top reason, which needs them all.

Each run is a fresh connection after one warm-up read, so the model is loaded and nothing
else is cached between runs.
"""

from __future__ import annotations

import time

import psycopg

from bench.run import Context, Result, ensure_customers

TILE = "SELECT risk_band, count(*) FROM churnml.customer_risk GROUP BY 1"
TILE_WITH_REASONS = "SELECT risk_band, count(*), count(top_reason) FROM churnml.customer_risk GROUP BY 1"
LISTING = ("SELECT customer_key, will_churn, top_reason FROM churnml.customer_risk "
           "ORDER BY will_churn DESC LIMIT 20")


def _prepare(url: str, customers: int) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        ensure_customers(conn, customers)
        conn.execute("CREATE EXTENSION IF NOT EXISTS churnml CASCADE")
        if not conn.execute("SELECT count(*) FROM churnml.current_deployments WHERE name = 'churn'").fetchone()[0]:
            conn.execute("SELECT churnml.train('churn', 'customers', 'churn', exclude => ARRAY['phone'], "
                         "deploy => true)")


def _seconds(url: str, query: str) -> float:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("SELECT count(*) FROM churnml.customer_risk WHERE false")  # the model loaded
        started = time.perf_counter()
        conn.execute(query).fetchall()
        return time.perf_counter() - started


def run(ctx: Context) -> list[Result]:
    customers = 10_000 if ctx.quick else 50_000
    url = ctx.server_url("bench_dashboards")
    _prepare(url, customers)
    results: list[Result] = []
    # alternated, so that a change in the machine's load hits both alike
    tile_runs: list[float] = []
    before_runs: list[float] = []
    for _ in range(ctx.runs):
        before_runs.append(_seconds(url, TILE_WITH_REASONS))
        tile_runs.append(_seconds(url, TILE))
    before = sorted(before_runs)[len(before_runs) // 2]
    tile = sorted(tile_runs)[len(tile_runs) // 2]
    results.append(Result(name=f"customer_risk tile GROUP BY risk_band, {customers:,} customers", unit="s",
                          median=tile, runs=tile_runs,
                          baseline="the same tile reading top_reason (what every read cost before 0.3.0)",
                          baseline_median=before, higher_is_better=False,
                          target="explanations not computed: well under the baseline"))
    listing, runs = ctx.median_of(lambda: _seconds(url, LISTING))
    results.append(Result(name=f"customer_risk top 20 with top_reason, {customers:,} customers", unit="s",
                          median=listing, runs=runs, baseline="the tile reading top_reason", baseline_median=before,
                          higher_is_better=False, target="(needs every explanation: about the baseline)"))
    return results
