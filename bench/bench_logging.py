"""What prediction logging costs will_churn(row), per row.

Model: 11 features, 100 trees of depth 4, deployed as 'bench_log'. Measured in one run, the
configurations interleaved run by run (so a machine's drift hits them alike), medians reported
against the same run's baseline, logging off:
- off (no churnml.prediction_logging row: the scoring path tests one attribute per call);
- sample_rate 0.01 and 1.0 (a sampled call is one INSERT through churnml._log_prediction);
- 1.0 with a shadow model (a second model scored on each logged call, and a second row).
Parallel plans are off in the session: a parallel query logs nothing, so it would measure nothing.
"""

from __future__ import annotations

import statistics

import psycopg

from bench.run import Context, Result, ensure_customers, timed

FEATURES = ("acc_length, vmail_msg, day_mins, day_calls, eve_mins, night_mins, night_calls, int_calls, "
            "int_charge, cust_service_calls, (int_plan = 'no')::int AS int_plan_no")
HYPERPARAMS = '{"num_boost_round": 100, "early_stopping_rounds": 0, "max_depth": 4}'
SHADOW_HYPERPARAMS = '{"num_boost_round": 60, "early_stopping_rounds": 0, "max_depth": 3}'


def _prepare(url: str, customers: int) -> int:
    """Train and deploy the model and a shadow candidate; returns the candidate's id."""
    with psycopg.connect(url) as conn:
        ensure_customers(conn, customers)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("DROP TABLE IF EXISTS bench_log_rows")
        conn.execute(f"CREATE TABLE bench_log_rows AS SELECT row_number() OVER () AS id, churn, {FEATURES} "
                     "FROM customers")
        conn.execute("DELETE FROM churnml.shadow_models WHERE name = 'bench_log'")
        conn.execute("DELETE FROM churnml.prediction_logging WHERE name = 'bench_log'")
        conn.execute("DELETE FROM churnml.prediction_log WHERE name = 'bench_log'")
        conn.execute("SELECT churnml.train('bench_log', 'SELECT churn, acc_length, vmail_msg, day_mins, day_calls, "
                     "eve_mins, night_mins, night_calls, int_calls, int_charge, cust_service_calls, int_plan_no "
                     "FROM bench_log_rows', 'churn', hyperparams => %s, deploy => true)", (HYPERPARAMS,))
        shadow = conn.execute("SELECT churnml.train('bench_log', 'SELECT churn, acc_length, day_mins, eve_mins, "
                              "int_charge, cust_service_calls, int_plan_no FROM bench_log_rows', 'churn', "
                              "hyperparams => %s)", (SHADOW_HYPERPARAMS,)).fetchone()[0]
    return int(shadow)


def _configure(conn: psycopg.Connection, rate: float | None, shadow: int | None) -> None:
    conn.execute("DELETE FROM churnml.shadow_models WHERE name = 'bench_log'")
    conn.execute("DELETE FROM churnml.prediction_logging WHERE name = 'bench_log'")
    conn.execute("DELETE FROM churnml.prediction_log WHERE name = 'bench_log'")
    conn.execute("VACUUM churnml.prediction_log")
    if rate is not None:
        conn.execute("SELECT churnml.log_predictions('bench_log', %s, 'id')", (rate,))
    if shadow is not None:
        conn.execute("SELECT churnml.start_shadow('bench_log', %s)", (shadow,))


def _rate(url: str, rows: int, rate: float | None, shadow: int | None) -> tuple[float, int]:
    """(rows/s of will_churn(row) over `rows` rows, rows logged)."""
    query = (f"SELECT sum(churnml.will_churn(c, 'bench_log')) FROM (SELECT * FROM bench_log_rows "
             f"LIMIT {rows}) AS c")
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("SET client_min_messages = warning")
        _configure(conn, rate, shadow)
        conn.execute("SET max_parallel_workers_per_gather = 0")
        conn.execute("SELECT sum(churnml.will_churn(c, 'bench_log')) FROM (SELECT * FROM bench_log_rows "
                     "LIMIT 200) AS c")  # warm: models loaded, plans prepared
        conn.execute("DELETE FROM churnml.prediction_log WHERE name = 'bench_log'")
        seconds = timed(lambda: conn.execute(query).fetchone())
        logged = conn.execute("SELECT count(*) FROM churnml.prediction_log WHERE name = 'bench_log' "
                              "AND role = 'serving'").fetchone()[0]
        _configure(conn, None, None)
    return rows / seconds, int(logged)


def run(ctx: Context) -> list[Result]:
    customers = 20_000 if ctx.quick else 50_000
    rows = 20_000 if ctx.quick else 50_000
    url = ctx.server_url("bench_logging")
    shadow = _prepare(url, customers)
    configurations: dict[str, tuple[float | None, int | None]] = {
        "off": (None, None), "0.01": (0.01, None), "1.0": (1.0, None), "1.0 + shadow": (1.0, shadow)}
    measured: dict[str, list[float]] = {name: [] for name in configurations}
    logged: dict[str, list[int]] = {name: [] for name in configurations}
    for _ in range(ctx.runs):
        for name, (rate, with_shadow) in configurations.items():
            per_second, count = _rate(url, rows, rate, with_shadow)
            measured[name].append(per_second)
            logged[name].append(count)
    off = statistics.median(measured["off"])
    results = [Result(name="will_churn(row), prediction logging off", unit="rows/s", median=off,
                      runs=measured["off"], baseline="logging off (same run)", baseline_median=off,
                      target="the baseline", notes=f"{rows:,} rows a run")]
    targets = {"0.01": "≥ 0.90x of off", "1.0": "(every call written: what full logging costs)",
               "1.0 + shadow": "(a second model and row per call)"}
    for name in ("0.01", "1.0", "1.0 + shadow"):
        results.append(Result(
            name=f"will_churn(row), prediction logging at {name}", unit="rows/s",
            median=statistics.median(measured[name]), runs=measured[name], baseline="logging off (same run)",
            baseline_median=off, target=targets[name],
            notes=f"rows logged per run: {logged[name]}",
            extra={"rows_logged": float(statistics.median(logged[name]))}))
    return results
