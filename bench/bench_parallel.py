"""Parallel per-row scoring: a large table scored with 0, 1 and 2 parallel workers.

The per-row functions are PARALLEL SAFE (issue 22), so a parallel plan spreads the rows over
the leader and its workers. Measured for will_churn(row) and the typed function
create_model_function makes, on the demo customers repeated to 300,000 rows (quick: 100,000):
`SELECT sum(f(c)) FROM par_customers c` with max_parallel_workers_per_gather = 0 (the
baseline, same run), 1 and 2; the table's parallel_workers is 2 and parallel_setup_cost 0, so the
plan uses exactly that many workers. Each run is one statement on a connection whose leader
has the model loaded; every worker is a new process, so each run includes the workers' start:
importing churnml and loading the model (~0.2 s on the 2-core machine, in extra as worker_start_ms).
"""

from __future__ import annotations

import psycopg

from bench.run import Context, Result, ensure_customers, timed

MODEL = "par_bench"
SETTINGS = ("SET parallel_setup_cost = 0", "SET parallel_tuple_cost = 0", "SET min_parallel_table_scan_size = 0")


def _prepare(url: str, copies: int) -> int:
    with psycopg.connect(url) as conn:
        ensure_customers(conn, 10_000)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("SET client_min_messages = warning")
        if not conn.execute("SELECT count(*) FROM churnml.current_deployments WHERE name = %s", (MODEL,)).fetchone()[0]:
            conn.execute("SELECT churnml.train(%s, 'customers', 'churn', deploy => true)", (MODEL,))
        conn.execute("SELECT churnml.create_model_function('par_bench_typed', %s)", (MODEL,))
        conn.execute("DROP TABLE IF EXISTS par_customers")
        conn.execute("CREATE TABLE par_customers AS SELECT c.* FROM customers c, generate_series(1, %s) g",
                     (copies,))
        conn.execute("ALTER TABLE par_customers SET (parallel_workers = 2)")
        conn.execute("VACUUM ANALYZE par_customers")
        return int(conn.execute("SELECT count(*) FROM par_customers").fetchone()[0])


def _typed_call(url: str) -> str:
    with psycopg.connect(url) as conn:
        names = conn.execute("SELECT proargnames FROM pg_proc WHERE proname = 'par_bench_typed'").fetchone()[0]
    return f"public.par_bench_typed({', '.join('c.' + n for n in names)})"


def _rate(ctx: Context, url: str, call: str, workers: int, rows: int) -> tuple[float, list[float]]:
    query = f"SELECT sum({call}) FROM par_customers c"
    with psycopg.connect(url, autocommit=True) as conn:
        for setting in SETTINGS:
            conn.execute(setting)
        conn.execute(f"SET max_parallel_workers_per_gather = {workers}")
        plan = "\n".join(r[0] for r in conn.execute(f"EXPLAIN (ANALYZE, COSTS OFF) {query}"))  # warms the leader
        if workers and f"Workers Launched: {workers}" not in plan:
            raise RuntimeError(f"expected {workers} workers:\n{plan}")
        return ctx.median_of(lambda: rows / timed(lambda: conn.execute(query).fetchone()))


def _worker_start_ms(url: str) -> float:
    """One worker scoring one row: the time a worker needs before its first row (start, import, model load)."""
    with psycopg.connect(url, autocommit=True) as conn:
        for setting in (*SETTINGS, "SET force_parallel_mode = regress", "SET parallel_leader_participation = off",
                        "SET max_parallel_workers_per_gather = 1"):
            conn.execute(setting)
        conn.execute("SELECT 1")
        return 1000 * timed(lambda: conn.execute(
            f"SELECT churnml.will_churn(c, '{MODEL}') FROM customers c LIMIT 1").fetchone())


def run(ctx: Context) -> list[Result]:
    url = ctx.server_url("bench_parallel")
    rows = _prepare(url, 10 if ctx.quick else 30)
    start_ms = sorted(_worker_start_ms(url) for _ in range(3))[1]
    results = []
    for form, call in (("will_churn(row)", f"churnml.will_churn(c, '{MODEL}')"), ("typed function", _typed_call(url))):
        base, _ = _rate(ctx, url, call, 0, rows)
        for workers in (1, 2):
            median, runs = _rate(ctx, url, call, workers, rows)
            results.append(Result(
                name=f"parallel {form}, {workers} worker{'s' if workers > 1 else ''} ({rows:,} rows)",
                unit="rows/s", median=median, runs=runs, baseline="0 workers", baseline_median=base,
                target="> 1x (2 cores, shared)",
                notes="leader + workers each score their share; each run starts its workers",
                extra={"worker_start_ms": start_ms}))
    return results
