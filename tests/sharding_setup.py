"""Three private servers for sharded scoring: a coordinator and two postgres_fdw shards.

Shared by tests/sql/test_sharding.py (which checks it) and bench/bench_sharding.py (which
times it); docs/models.md ("Sharded scoring with postgres_fdw") describes the same setup.

Every server is an embedded one with churnml. On the coordinator `customers` is PARTITION
BY HASH (area_code, phone) with one postgres_fdw foreign-table partition per shard, the
foreign servers declaring churnml in their `extensions` option; the generated rows are
first loaded into a plain table, `customers_one`, and reach the shards through the
partitions. The model is trained and deployed on the coordinator; logical replication
(publication churnml.models + churnml.deployments, one subscription per shard) gives the
shards the same registry with the same ids. churnml.create_shard_function makes the
IMMUTABLE, inlined functions whose churnml.predict calls reach the shards' Remote SQL.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import psycopg
from psycopg import sql

from churnml_client import datagen

HOMES = Path("/tmp")
SHARDS = ("shard1", "shard2")
FUNCTION = "churn_on_shards"
DATABASE = "telco"
# Private servers, three at once on a small machine: modest memory each.
EXTRA_CONF = "shared_buffers = 64MB\nmax_connections = 40\n"
# Trained and deployed on the coordinator, over the partitioned table (the rows come from the shards).
TRAIN = "SELECT churnml.train('churn', 'customers', 'churn', exclude => ARRAY['phone'], deploy => true)"

# Scored on the shards: the inlined churnml.predict goes out in each shard's remote WHERE.
WHERE = f"SELECT count(*) FROM customers AS c WHERE {FUNCTION}(c) > 0.5"
# Each shard's whole aggregate, queried through its own foreign partition: one row back per shard.
AGGREGATE_PER_SHARD = "SELECT sum(n), sum(s) / sum(k) FROM (" + " UNION ALL ".join(
    f"SELECT count(*) FILTER (WHERE churn_on_{name}(c) > 0.5) AS n, sum(churn_on_{name}(c)) AS s, count(*) AS k "
    f"FROM customers_{name} AS c" for name in SHARDS) + ") AS per_shard"


@dataclass
class Cluster:
    coordinator: str  # superuser URL of the coordinator's database
    shards: dict[str, str]  # shard name -> superuser URL of its database


def start_server(info: Any, home: Path, extra: str = "") -> Any:
    """A fresh embedded server in `home` (a leftover one there is stopped and removed first)."""
    from churnml_client.embedded_pg import EmbeddedServer

    server = EmbeddedServer(home=home, info=info)
    if server.initialized():
        server.stop()  # an earlier run's, killed before it could stop it
    shutil.rmtree(home, ignore_errors=True)
    server.init()
    with open(server.conf_file, "a", encoding="utf-8") as conf:
        conf.write(EXTRA_CONF + extra)
    server.start(database=DATABASE)  # creates the database with churnml installed
    return server


def _libpq_options(url: str) -> dict[str, str]:
    parts = urlsplit(url)
    return {"host": parts.hostname or "", "port": str(parts.port), "dbname": parts.path.lstrip("/"),
            "user": parts.username or "", "password": parts.password or ""}


def _conninfo(url: str) -> str:
    return " ".join(f"{k}={v}" for k, v in _libpq_options(url).items())


def _customer_columns() -> str:
    return ", ".join(f"{name} {sql_type}" for name, sql_type, _ in datagen.CUSTOMER_COLUMNS)


def setup_shard(url: str) -> None:
    """A shard: churnml (already there) and an empty customers table of the coordinator's shape."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f"CREATE TABLE public.customers ({_customer_columns()}, PRIMARY KEY (area_code, phone))")


def subscription(name: str) -> str:
    """The name of a shard's subscription to the coordinator's registry."""
    return f"churnml_registry_{name}"


def subscribe(url: str, coordinator: str, name: str) -> None:
    """The coordinator's registry (same ids) by logical replication."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE SUBSCRIPTION {} CONNECTION {} PUBLICATION churnml_registry").format(
            sql.Identifier(subscription(name)), sql.Literal(_conninfo(coordinator))))


def setup_coordinator(url: str, shards: dict[str, str], customers: int, seed: int) -> None:
    """The single-server table, the publication, the partitioned table over the shards."""
    with psycopg.connect(url) as conn:
        datagen.load(conn, customers, seed, progress=False)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("ALTER TABLE public.customers RENAME TO customers_one")
        conn.execute("CREATE PUBLICATION churnml_registry FOR TABLE churnml.models, churnml.model_artifacts, "
                     "churnml.deployments")
        conn.execute("CREATE EXTENSION postgres_fdw")
        conn.execute(f"CREATE TABLE public.customers ({_customer_columns()}) PARTITION BY HASH (area_code, phone)")
        for remainder, (name, shard_url) in enumerate(shards.items()):
            options = _libpq_options(shard_url)
            conn.execute(sql.SQL(
                "CREATE SERVER {} FOREIGN DATA WRAPPER postgres_fdw OPTIONS (host {}, port {}, dbname {}, "
                "extensions 'churnml', async_capable 'true', batch_size '1000', fetch_size '1000')").format(
                sql.Identifier(name), sql.Literal(options["host"]), sql.Literal(options["port"]),
                sql.Literal(options["dbname"])))
            conn.execute(sql.SQL("CREATE USER MAPPING FOR CURRENT_USER SERVER {} OPTIONS (user {}, password {})")
                         .format(sql.Identifier(name), sql.Literal(options["user"]),
                                 sql.Literal(options["password"])))
            conn.execute(sql.SQL(
                "CREATE FOREIGN TABLE {} PARTITION OF public.customers "
                "FOR VALUES WITH (MODULUS {}, REMAINDER {}) SERVER {} OPTIONS (table_name 'customers')").format(
                sql.Identifier(f"customers_{name}"), sql.Literal(len(shards)), sql.Literal(remainder),
                sql.Identifier(name)))
        # the rows reach the shards through the partitions
        conn.execute("INSERT INTO public.customers SELECT * FROM public.customers_one")
        conn.execute("ANALYZE public.customers")


def wait_for_registry(coordinator: str, shards: dict[str, str], timeout: float = 120) -> None:
    """Until every shard's churnml.models and churnml.deployments equal the coordinator's."""
    state = ("SELECT (SELECT pg_catalog.array_agg(ROW(id, artifact_sha256) ORDER BY id) FROM churnml.models)::text, "
             "(SELECT pg_catalog.array_agg(ROW(id, model_id, threshold) ORDER BY id) FROM churnml.deployments)::text")
    with psycopg.connect(coordinator, autocommit=True) as conn:
        wanted = conn.execute(state).fetchone()
    deadline = time.time() + timeout
    for url in shards.values():
        with psycopg.connect(url, autocommit=True) as conn:
            while conn.execute(state).fetchone() != wanted:
                if time.time() > deadline:
                    raise AssertionError(f"the registry did not replicate to {url.rsplit('@', 1)[-1]}")
                time.sleep(0.2)


def make_functions(conn: psycopg.Connection[Any]) -> None:
    """The function for the partitioned table, and one per foreign partition (for per-shard aggregates)."""
    conn.execute("SELECT churnml.create_shard_function(%s, 'customers')", (FUNCTION,))
    for name in SHARDS:
        conn.execute("SELECT churnml.create_shard_function(%s, %s)", (f"churn_on_{name}", f"customers_{name}"))


@contextmanager
def sharded_cluster(info: Any, prefix: str, customers: int, seed: int) -> Iterator[Cluster]:
    """A coordinator and the SHARDS, each an embedded server in /tmp/<prefix><name>, with `customers`
    generated customers (datagen, `seed`) spread over the shards, the model trained (TRAIN) and
    deployed on the coordinator, the functions made and the registry replicated to every shard.
    The servers are stopped and their homes removed on the way out, whatever happens.

    info: the churnml installation (EmbeddedServer.info) the servers run.
    """
    servers = []
    try:
        coordinator = start_server(info, HOMES / f"{prefix}coordinator", "wal_level = logical\n")
        servers.append(coordinator)
        for name in SHARDS:
            servers.append(start_server(info, HOMES / f"{prefix}{name}"))
        coordinator_url = coordinator.url(DATABASE)
        shards = {name: server.url(DATABASE) for name, server in zip(SHARDS, servers[1:], strict=True)}
        for url in shards.values():
            setup_shard(url)
        setup_coordinator(coordinator_url, shards, customers, seed)
        for name, url in shards.items():
            subscribe(url, coordinator_url, name)
        with psycopg.connect(coordinator_url, autocommit=True) as conn:
            conn.execute("SET client_min_messages = warning")
            conn.execute(TRAIN)
            make_functions(conn)
        wait_for_registry(coordinator_url, shards)
        yield Cluster(coordinator=coordinator_url, shards=shards)
    finally:
        for server in reversed(servers):  # the subscribers first
            server.stop()
            shutil.rmtree(server.home, ignore_errors=True)
