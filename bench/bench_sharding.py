"""Sharded scoring: a coordinator and two postgres_fdw shards against one server.

The cluster is tests/sharding_setup.py's (the one tests/sql/test_sharding.py checks and
docs/models.md, "Sharded scoring with postgres_fdw", describes): three extra embedded
servers in /tmp/churnml-bench-shard-<uid>-*, started here and stopped in a finally. The
same customers (datagen, seed 1) are in the bench server's database `bench_sharding`, one
plain table, and hash-partitioned over the shards; both servers train the same model the
same way (the training rows are put in a deterministic order), and the answers are checked
equal before anything is timed. Figures, each the median of ctx.runs (one connection each,
warmed first):
- the count of customers with churn probability > 0.5: the coordinator's
  `churn_on_shards(c) > 0.5`, the inlined churnml.predict shipped in each shard's remote
  WHERE, against `churnml.will_churn(c) > 0.5` on the single server (baseline);
- the count FILTER (> 0.5) and the average probability: each shard's whole aggregate through
  its own foreign partition (shipped, UNION ALL, one row back per shard) against the same
  with will_churn(c) on the single server (baseline);
  for both, `extra` also has the single server's time with churnml.predict itself (its own
  create_shard_function over its table), to tell the cheaper call from the sharding;
- deploy-to-shards latency (median of max(5, ctx.runs)): from a deploy's commit on the coordinator until both shards'
  next statement scores with the new deployment (logical replication of the registry),
  against a one-row INSERT into a table of the same publication, until both shards have it.
All four servers run on this machine's cores, so the shards do not add any CPU.
Run alone: `python -m bench.run --only sharding`.
"""

from __future__ import annotations

import os
import statistics
import time

import psycopg

from bench.run import BENCH_HOME, Context, Result, ensure_customers, timed
from tests.sharding_setup import (
    AGGREGATE_PER_SHARD,
    TRAIN,
    WHERE,
    Cluster,
    sharded_cluster,
    subscription,
    wait_for_registry,
)

PREFIX = f"churnml-bench-shard-{os.getuid()}-"  # the servers' homes: /tmp/<PREFIX>coordinator, ...
SEED = 1  # ensure_customers' seed: the same rows on the single server and the shards
SINGLE_WHERE = "SELECT count(*) FROM customers AS c WHERE churnml.will_churn(c) > 0.5"
SINGLE_AGGREGATE = ("SELECT count(*) FILTER (WHERE churnml.will_churn(c) > 0.5), avg(churnml.will_churn(c)) "
                    "FROM customers AS c")
# The same churnml.predict the shards run, on the single server: how much of the difference is the call's
SINGLE_PREDICT = "churn_one"
SINGLE_PREDICT_WHERE = f"SELECT count(*) FROM customers AS c WHERE {SINGLE_PREDICT}(c) > 0.5"
SINGLE_PREDICT_AGGREGATE = (f"SELECT count(*) FILTER (WHERE {SINGLE_PREDICT}(c) > 0.5), avg({SINGLE_PREDICT}(c)) "
                            "FROM customers AS c")
SERVING = "SELECT model_id FROM churnml.current_deployments WHERE name = 'churn'"
SERVES = f"SELECT churnml.will_churn(c) IS NOT NULL AND ({SERVING}) = %s FROM customers AS c LIMIT 1"
PROBE = "shard_probe"


def _prepare_single(url: str, customers: int) -> None:
    with psycopg.connect(url) as conn:
        ensure_customers(conn, customers)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("SET client_min_messages = warning")
        conn.execute(TRAIN)
        conn.execute("SELECT churnml.create_shard_function(%s, 'customers')", (SINGLE_PREDICT,))


def _remote_sql(conn: psycopg.Connection, query: str) -> list[str]:
    plan = [r[0] for r in conn.execute(f"EXPLAIN (VERBOSE, COSTS OFF) {query}")]
    return [line.split("Remote SQL:", 1)[1] for line in plan if "Remote SQL:" in line]


def _check_answers(single: psycopg.Connection, coordinator: psycopg.Connection) -> None:
    """The sharded answers are the single server's, and the scoring is shipped to both shards."""
    for query in (WHERE, AGGREGATE_PER_SHARD):
        remote = _remote_sql(coordinator, query)
        assert len(remote) == 2 and all("churnml.predict(" in r for r in remote), (query, remote)
    count, average = single.execute(SINGLE_AGGREGATE).fetchone()
    assert single.execute(SINGLE_WHERE).fetchone()[0] == count
    assert single.execute(SINGLE_PREDICT_WHERE).fetchone()[0] == count
    assert coordinator.execute(WHERE).fetchone()[0] == count, "the shards count differently"
    sharded_count, sharded_average = coordinator.execute(AGGREGATE_PER_SHARD).fetchone()
    assert int(sharded_count) == count and abs(sharded_average - average) < 1e-9, \
        f"the shards aggregate differently: {sharded_count}, {sharded_average} against {count}, {average}"


def _query_ms(url: str, query: str) -> float:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(query).fetchall()  # warm: the model is loaded, the shards' connections are open
        return timed(lambda: conn.execute(query).fetchall()) * 1000


def _add_probe(cluster: Cluster) -> None:
    """A one-column table in the registry's publication, replicated to every shard."""
    create = f"CREATE TABLE public.{PROBE} (id bigint PRIMARY KEY)"
    for url in cluster.shards.values():
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(create)
    with psycopg.connect(cluster.coordinator, autocommit=True) as conn:
        conn.execute(create)
        conn.execute(f"ALTER PUBLICATION churnml_registry ADD TABLE public.{PROBE}")
    for name, url in cluster.shards.items():
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(f"ALTER SUBSCRIPTION {subscription(name)} REFRESH PUBLICATION")
            deadline = time.time() + 120
            while conn.execute("SELECT count(*) FILTER (WHERE srsubstate = 'r') FROM pg_subscription_rel"
                               ).fetchone()[0] < 3:
                assert time.time() < deadline, f"{PROBE} did not start replicating to {name}"
                time.sleep(0.1)


def _until_all(shards: list[psycopg.Connection], query: str, value: object) -> float:
    """Seconds until `query` (with `value`) is true on every shard, polled in turn."""
    start = time.perf_counter()
    waiting = shards
    while waiting:
        waiting = [s for s in waiting if s.execute(query, (value,)).fetchone()[0] is not True]
        if waiting:
            time.sleep(0.001)
    return time.perf_counter() - start


def _deploy_latency(coordinator: psycopg.Connection, shards: list[psycopg.Connection], models: list[int]) -> float:
    """Seconds from a deploy's commit on the coordinator until both shards' next statement uses it."""
    target = models[1] if coordinator.execute(SERVING).fetchone()[0] == models[0] else models[0]
    coordinator.execute("SELECT churnml.deploy('churn', %s)", (target,))
    return _until_all(shards, SERVES, target)


def _insert_latency(coordinator: psycopg.Connection, shards: list[psycopg.Connection], value: int) -> float:
    coordinator.execute(f"INSERT INTO public.{PROBE} VALUES (%s)", (value,))
    return _until_all(shards, f"SELECT EXISTS (SELECT FROM public.{PROBE} WHERE id = %s)", value)


def _latencies(cluster: Cluster, runs: int) -> tuple[list[float], list[float]]:
    """Deploy-to-both-shards and INSERT-to-both-shards latencies, ms."""
    with psycopg.connect(cluster.coordinator, autocommit=True) as conn:
        conn.execute("SET client_min_messages = warning")
        conn.execute("SELECT churnml.train('churn', 'customers', 'churn', exclude => ARRAY['phone'], "
                     "hyperparams => '{\"max_depth\": 3, \"num_boost_round\": 20}', seed => 5)")
        models = [r[0] for r in conn.execute("SELECT id FROM churnml.models WHERE name = 'churn' "
                                             "ORDER BY id DESC LIMIT 2").fetchall()]
    wait_for_registry(cluster.coordinator, cluster.shards)  # both models on both shards before any deploy
    _add_probe(cluster)
    shards = [psycopg.connect(url, autocommit=True) for url in cluster.shards.values()]
    try:
        with psycopg.connect(cluster.coordinator, autocommit=True) as coordinator:
            deploys = [_deploy_latency(coordinator, shards, models) * 1000 for _ in range(runs)]
            inserts = [_insert_latency(coordinator, shards, i) * 1000 for i in range(runs)]
    finally:
        for conn in shards:
            conn.close()
    return deploys, inserts


def run(ctx: Context) -> list[Result]:
    customers = 10_000 if ctx.quick else 20_000
    single_url = ctx.server_url("bench_sharding")
    _prepare_single(single_url, customers)
    from churnml_client.embedded_pg import EmbeddedServer

    info = EmbeddedServer.from_environment(BENCH_HOME).info
    with sharded_cluster(info, PREFIX, customers, SEED) as cluster:
        with psycopg.connect(single_url, autocommit=True) as single, \
                psycopg.connect(cluster.coordinator, autocommit=True) as coordinator:
            _check_answers(single, coordinator)
        where_1, _ = ctx.median_of(lambda: _query_ms(single_url, SINGLE_WHERE))
        where_2, where_2_runs = ctx.median_of(lambda: _query_ms(cluster.coordinator, WHERE))
        agg_1, _ = ctx.median_of(lambda: _query_ms(single_url, SINGLE_AGGREGATE))
        agg_2, agg_2_runs = ctx.median_of(lambda: _query_ms(cluster.coordinator, AGGREGATE_PER_SHARD))
        where_predict, _ = ctx.median_of(lambda: _query_ms(single_url, SINGLE_PREDICT_WHERE))
        agg_predict, _ = ctx.median_of(lambda: _query_ms(single_url, SINGLE_PREDICT_AGGREGATE))
        deploys, inserts = _latencies(cluster, max(5, ctx.runs))

    shared = (f"the coordinator, both shards and the single server share this machine's {os.cpu_count()} cores "
              "(the shards add no CPU)")
    predict = ("extra.single_server_predict_ms: the same query on the single server with churnml.predict "
               "(create_shard_function over its table), separating the cheaper call from the sharding")
    return [
        Result("sharding: count(p > 0.5) on 2 shards (WHERE shipped)", "ms", where_2, where_2_runs,
               "1 server, will_churn(c) > 0.5", where_1, higher_is_better=False,
               notes=f"{customers:,} customers; {shared}; churn_on_shards(c) from churnml.create_shard_function, "
                     f"async foreign scans; {predict}",
               extra={"customers": float(customers), "single_server_predict_ms": where_predict}),
        Result("sharding: count FILTER + avg on 2 shards (per-shard aggregates shipped)", "ms", agg_2, agg_2_runs,
               "1 server, will_churn(c)", agg_1, higher_is_better=False,
               notes=f"{customers:,} customers; {shared}; each shard's whole aggregate through its foreign "
                     f"partition, UNION ALL; {predict}",
               extra={"customers": float(customers), "single_server_predict_ms": agg_predict}),
        Result("sharding: deploy on the coordinator -> both shards serve it", "ms", statistics.median(deploys),
               deploys, "a replicated one-row INSERT (both shards)", statistics.median(inserts),
               higher_is_better=False,
               notes=f"logical replication of the registry, until both shards' next statement scores with the new "
                     f"deployment; two models deployed in turn, so the first deploy of each also loads it in the "
                     f"shards' backends (the slow first runs); {shared}"),
    ]
