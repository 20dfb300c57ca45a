"""Read replicas: scoring on a hot standby against the primary, and how soon a deploy reaches it.

A streaming standby of the bench server is made with pg_basebackup (both on
127.0.0.1, this machine's cores shared). Figures, each the median of ctx.runs:
- bulk scoring (`churnml.score` over all customers) and per-row `will_churn(c)`, rows/s,
  on the standby against the same query on the primary (baseline);
- deploy-to-standby latency: from the deploy's commit on the primary until the
  standby's next statement scores with the new model, against the replay latency of
  a plain one-row INSERT measured the same way (baseline).
Run alone: `python -m bench.run --only replica`.
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path
from urllib.parse import urlsplit

import psycopg

from bench.run import BENCH_HOME, Context, Result, ensure_customers, timed

STANDBY_HOME = Path(f"/tmp/churnml-bench-standby-{os.getuid()}")
BULK = "SELECT count(*), avg(probability) FROM churnml.score('customers', NULL, 'replica')"
PER_ROW = "SELECT avg(churnml.will_churn(c, 'replica')) FROM customers c"
SERVING = "SELECT model_id FROM churnml.current_deployments WHERE name = 'replica'"


def _prepare(url: str, customers: int) -> None:
    with psycopg.connect(url) as conn:
        ensure_customers(conn, customers)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("SELECT churnml.train('replica', 'customers', 'churn', exclude => ARRAY['phone'], "
                     "hyperparams => '{\"num_boost_round\": 100, \"early_stopping_rounds\": 0}', deploy => true)")
        conn.execute("SELECT churnml.train('replica', 'customers', 'churn', exclude => ARRAY['phone'], "
                     "hyperparams => '{\"num_boost_round\": 100, \"early_stopping_rounds\": 0, \"max_depth\": 3}')")
        conn.execute("CREATE TABLE IF NOT EXISTS replica_probe (id bigint)")


def _start_standby(primary: str) -> tuple[object, str]:
    from churnml_client.embedded_pg import EmbeddedServer, free_port

    bench_server = EmbeddedServer.from_environment(BENCH_HOME)
    shutil.rmtree(STANDBY_HOME, ignore_errors=True)
    standby = EmbeddedServer(home=STANDBY_HOME, info=bench_server.info)
    standby._prepare_home()
    parts = urlsplit(primary)
    standby._as_server_user(["env", f"PGPASSWORD={parts.password}", standby._bin("pg_basebackup"),
                             "-D", str(standby.datadir), "-R", "-X", "stream", "-c", "fast",
                             "-h", "127.0.0.1", "-p", str(parts.port), "-U", "postgres"], timeout=600)
    shutil.copy(bench_server.password_file, standby.password_file)
    standby._write_conf(free_port())
    standby.start(database="")
    return standby, standby.url(parts.path.lstrip("/"))


def _wait_for_replay(primary: psycopg.Connection, standby: psycopg.Connection) -> None:
    lsn = primary.execute("SELECT pg_current_wal_lsn()").fetchone()[0]
    while not standby.execute("SELECT pg_last_wal_replay_lsn() >= %s::pg_lsn", (lsn,)).fetchone()[0]:
        time.sleep(0.001)


def _rate(url: str, query: str, rows: int) -> float:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(query).fetchone()  # warm: the model is loaded
        return rows / timed(lambda: conn.execute(query).fetchone())


def _deploy_latency(primary: psycopg.Connection, standby: psycopg.Connection, models: list[int]) -> float:
    """Seconds from a deploy's commit on the primary until the standby's next statement uses it."""
    current = standby.execute(SERVING).fetchone()[0]
    target = models[1] if current == models[0] else models[0]
    primary.execute("SELECT churnml.deploy('replica', %s)", (target,))
    start = time.perf_counter()
    while standby.execute("SELECT churnml.will_churn(c, 'replica') IS NOT NULL AND (" + SERVING + ") = %s "
                          "FROM customers c LIMIT 1", (target,)).fetchone()[0] is not True:
        time.sleep(0.001)
    return time.perf_counter() - start


def _insert_latency(primary: psycopg.Connection, standby: psycopg.Connection, value: int) -> float:
    primary.execute("INSERT INTO replica_probe VALUES (%s)", (value,))
    start = time.perf_counter()
    while not standby.execute("SELECT EXISTS (SELECT FROM replica_probe WHERE id = %s)", (value,)).fetchone()[0]:
        time.sleep(0.001)
    return time.perf_counter() - start


def run(ctx: Context) -> list[Result]:
    customers = 10_000 if ctx.quick else 50_000
    primary_url = ctx.server_url("bench_replica")
    _prepare(primary_url, customers)
    standby, standby_url = _start_standby(primary_url)
    try:
        with psycopg.connect(primary_url, autocommit=True) as p, psycopg.connect(standby_url, autocommit=True) as s:
            _wait_for_replay(p, s)
            models = [r[0] for r in p.execute("SELECT id FROM churnml.models WHERE name = 'replica' "
                                              "ORDER BY id DESC LIMIT 2").fetchall()]
            p.execute("SELECT churnml.deploy('replica', %s)", (models[1],))
            _wait_for_replay(p, s)
            assert s.execute(BULK).fetchone() == p.execute(BULK).fetchone(), "the standby scores differently"
        bulk_p, _ = ctx.median_of(lambda: _rate(primary_url, BULK, customers))
        bulk_s, bulk_s_runs = ctx.median_of(lambda: _rate(standby_url, BULK, customers))
        row_p, _ = ctx.median_of(lambda: _rate(primary_url, PER_ROW, customers))
        row_s, row_s_runs = ctx.median_of(lambda: _rate(standby_url, PER_ROW, customers))
        with psycopg.connect(primary_url, autocommit=True) as p, psycopg.connect(standby_url, autocommit=True) as s:
            runs = max(5, ctx.runs)
            deploys = [_deploy_latency(p, s, models) * 1000 for _ in range(runs)]
            inserts = [_insert_latency(p, s, i) * 1000 for i in range(runs)]
    finally:
        standby.stop()
        shutil.rmtree(STANDBY_HOME, ignore_errors=True)

    import statistics

    note = f"{customers:,} customers; primary and standby on one 2-core machine"
    return [
        Result("replica: bulk churnml.score on the standby", "rows/s", bulk_s, bulk_s_runs,
               "the same on the primary", bulk_p, notes=note),
        Result("replica: will_churn(c) per row on the standby", "rows/s", row_s, row_s_runs,
               "the same on the primary", row_p, notes=note),
        Result("replica: deploy on the primary -> standby scores with it", "ms", statistics.median(deploys),
               deploys, "a one-row INSERT replayed", statistics.median(inserts), higher_is_better=False,
               notes="until the standby's next statement uses the new model"),
    ]
