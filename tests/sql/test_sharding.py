"""Sharded scoring: customers hash-partitioned over two more servers through postgres_fdw.

Three private servers of their own (like test_standby.py's standby): a coordinator and two
shards, all with churnml. On the coordinator `customers` is PARTITION BY HASH (area_code,
phone) with one postgres_fdw foreign-table partition per shard, the foreign servers declaring
churnml in their `extensions` option. The model is trained and deployed on the coordinator;
logical replication (publication churnml.models + churnml.deployments, one subscription per
shard) gives the shards the same registry with the same ids. The function made by
churnml.create_shard_function is IMMUTABLE and inlined, so churnml.predict reaches the
shards' Remote SQL; the answers equal one server's churnml.will_churn over the same rows in
one plain table (`customers_one`, on the coordinator).

docs/models.md ("Sharded scoring with postgres_fdw") describes the setup this test builds;
tests/sharding_setup.py builds it (bench/bench_sharding.py times the same cluster).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import psycopg
import pytest

from tests.conftest import private_path
from tests.sharding_setup import (
    AGGREGATE_PER_SHARD,
    FUNCTION,
    WHERE,
    Cluster,
    make_functions,
    sharded_cluster,
    wait_for_registry,
)

PREFIX = private_path("shard-").name  # the servers' homes: /tmp/<PREFIX>coordinator, ...
CUSTOMERS = 3000
SEED = 11


@pytest.fixture(scope="module")
def cluster(embedded_server: Any) -> Iterator[Cluster]:
    with sharded_cluster(embedded_server.info, PREFIX, CUSTOMERS, SEED) as built:
        yield built


# ---------------------------------------------------------------------------------------------- helpers


AGGREGATE = f"SELECT count(*) FILTER (WHERE {FUNCTION}(c) > 0.5), avg({FUNCTION}(c)) FROM customers AS c"
# One group per customer (the partition key is unique): with enable_partitionwise_aggregate,
# each shard's part is a full aggregate that postgres_fdw ships, scores included.
PER_KEY = (f"SELECT area_code, phone, max({FUNCTION}(c)) AS p FROM customers AS c "
           "GROUP BY area_code, phone")
AGGREGATE_PER_KEY = f"SELECT count(*) FILTER (WHERE p > 0.5), avg(p) FROM ({PER_KEY}) AS s"
SINGLE = ("SELECT count(*) FILTER (WHERE churnml.will_churn(c) > 0.5), avg(churnml.will_churn(c)) "
          "FROM customers_one AS c")
SINGLE_ROWS = "SELECT area_code, phone, churnml.will_churn(c) FROM customers_one AS c"


def explain(conn: psycopg.Connection[Any], query: str) -> str:
    return "\n".join(r[0] for r in conn.execute(f"EXPLAIN (VERBOSE, COSTS OFF) {query}"))


def remote_sql(plan: str) -> list[str]:
    return [line.split("Remote SQL:", 1)[1].strip() for line in plan.splitlines() if "Remote SQL:" in line]


def rows(conn: psycopg.Connection[Any], query: str) -> dict[tuple[int, str], float]:
    return {(a, p): v for a, p, v in conn.execute(query).fetchall()}


def close(a: dict[tuple[int, str], float], b: dict[tuple[int, str], float]) -> bool:
    return a.keys() == b.keys() and all(abs(a[k] - b[k]) < 1e-9 for k in a)


def deployed_model(conn: psycopg.Connection[Any]) -> int:
    return conn.execute("SELECT model_id FROM churnml.current_deployments WHERE name = 'churn'").fetchone()[0]


# ---------------------------------------------------------------------------------------------- tests


@pytest.mark.slow
def test_the_rows_live_on_the_shards(cluster: Cluster) -> None:
    counts = []
    for url in cluster.shards.values():
        with psycopg.connect(url) as conn:
            counts.append(conn.execute("SELECT count(*) FROM customers").fetchone()[0])
    assert sum(counts) == CUSTOMERS and all(n > CUSTOMERS / 4 for n in counts)


@pytest.mark.slow
def test_predict_is_in_both_shards_remote_sql(cluster: Cluster) -> None:
    with psycopg.connect(cluster.coordinator, autocommit=True) as conn:
        model_id = deployed_model(conn)
        shipped = f"churnml.predict({model_id}::bigint, ARRAY["
        plan = explain(conn, WHERE)
        assert [shipped in r and "WHERE" in r for r in remote_sql(plan)] == [True, True], plan
        assert plan.count("Async Foreign Scan") == 2, plan  # the shards work at the same time
        # The aggregate over the partitioned table: PostgreSQL 15's postgres_fdw cannot push a
        # partial aggregate, so the per-row scores of this form are computed on the coordinator...
        plan = explain(conn, AGGREGATE)
        assert not any("churnml.predict" in r for r in remote_sql(plan)), plan
        conn.execute("SET enable_partitionwise_aggregate = on")
        plan = explain(conn, AGGREGATE)
        assert not any("churnml.predict" in r for r in remote_sql(plan)), plan
        # ...while each shard's whole aggregate, through its own foreign partition, is shipped entire.
        plan = explain(conn, AGGREGATE_PER_SHARD)
        whole = f"SELECT count(*) FILTER (WHERE ({shipped}"
        shipped_aggregates = [r for r in remote_sql(plan) if r.startswith(whole) and "sum(churnml.predict" in r]
        assert len(shipped_aggregates) == 2 and plan.count("Async Foreign Scan") == 2, plan
        # a plain per-row projection is evaluated on the coordinator (postgres_fdw ships no base-table projections)
        plan = explain(conn, f"SELECT phone, {FUNCTION}(c) FROM customers AS c")
        assert not any("churnml.predict" in r for r in remote_sql(plan)), plan


@pytest.mark.slow
def test_the_walkthroughs_will_churn_c_runs_on_the_shards(cluster: Cluster) -> None:
    """Named will_churn, the shard function takes the walkthrough's own call: an unqualified
    will_churn(c) over customers resolves to public.will_churn(customers) and is shipped."""
    with psycopg.connect(cluster.coordinator, autocommit=True) as conn:
        conn.execute("SELECT churnml.create_shard_function('will_churn', 'customers')")
        try:
            query = "SELECT count(*) FROM customers c WHERE will_churn(c) > 0.5"
            plan = explain(conn, query)
            shipped = f"churnml.predict({deployed_model(conn)}::bigint, ARRAY["
            assert [shipped in r for r in remote_sql(plan)] == [True, True], plan
            assert conn.execute(query).fetchone()[0] == conn.execute(SINGLE).fetchone()[0]
        finally:
            conn.execute("DROP FUNCTION public.will_churn(customers)")


@pytest.mark.slow
def test_sharded_results_equal_one_servers(cluster: Cluster) -> None:
    with psycopg.connect(cluster.coordinator, autocommit=True) as conn:
        count, average = conn.execute(SINGLE).fetchone()
        assert conn.execute(WHERE).fetchone()[0] == count
        sharded_count, sharded_average = conn.execute(AGGREGATE).fetchone()
        assert sharded_count == count and abs(sharded_average - average) < 1e-9
        sharded_count, sharded_average = conn.execute(AGGREGATE_PER_SHARD).fetchone()
        assert sharded_count == count and abs(sharded_average - average) < 1e-9
        # grouped by the partition key (one group per customer), with partitionwise aggregation on,
        # the planner may ship each shard's part or score on the coordinator, as costs say: same answers
        conn.execute("SET enable_partitionwise_aggregate = on")
        sharded_count, sharded_average = conn.execute(AGGREGATE_PER_KEY).fetchone()
        assert sharded_count == count and abs(sharded_average - average) < 1e-9
        assert close(rows(conn, PER_KEY), rows(conn, SINGLE_ROWS))


@pytest.mark.slow
def test_will_churn_over_the_partitioned_table_runs_on_the_coordinator(cluster: Cluster) -> None:
    """The STABLE will_churn(c) is never shipped (and a whole-row reference goes out as an anonymous
    ROW(...)): postgres_fdw fetches the columns and the coordinator scores, with the same answers."""
    query = "SELECT area_code, phone, churnml.will_churn(c) FROM customers AS c"
    with psycopg.connect(cluster.coordinator, autocommit=True) as conn:
        plan = explain(conn, "SELECT count(*) FROM customers AS c WHERE churnml.will_churn(c) > 0.5")
        assert not any("will_churn" in r for r in remote_sql(plan)) and "will_churn" in plan, plan
        assert close(rows(conn, query), rows(conn, SINGLE_ROWS))


@pytest.mark.slow
def test_a_new_deploy_reaches_the_shards(cluster: Cluster) -> None:
    with psycopg.connect(cluster.coordinator, autocommit=True) as conn:
        conn.execute("SET client_min_messages = warning")
        conn.execute("SET enable_partitionwise_aggregate = on")
        before = rows(conn, PER_KEY)
        old = deployed_model(conn)
        new = conn.execute("SELECT churnml.train('churn', 'customers', 'churn', exclude => ARRAY['phone'], "
                           "hyperparams => '{\"max_depth\": 2}', seed => 5)").fetchone()[0]
        conn.execute("SELECT churnml.deploy('churn', %s)", (new,))
        # until it is re-pointed, the function keeps scoring with the model it names: same answers
        assert rows(conn, PER_KEY) == before
        wait_for_registry(cluster.coordinator, cluster.shards)
        make_functions(conn)
        for query in (WHERE, AGGREGATE_PER_SHARD):
            plan = explain(conn, query)
            assert [f"churnml.predict({new}::bigint" in r for r in remote_sql(plan)] == [True, True], plan
        assert new != old
        after = rows(conn, PER_KEY)
        assert not close(after, before)
        assert close(after, rows(conn, SINGLE_ROWS))
        count, average = conn.execute(SINGLE).fetchone()
        assert conn.execute(WHERE).fetchone()[0] == count
        sharded_count, sharded_average = conn.execute(AGGREGATE_PER_SHARD).fetchone()
        assert sharded_count == count and abs(sharded_average - average) < 1e-9
        coordinator_scores = rows(conn, SINGLE_ROWS)
    # each shard's own will_churn(c) serves the replicated deployment too
    for url in cluster.shards.values():
        with psycopg.connect(url, autocommit=True) as shard:
            assert deployed_model(shard) == new
            local = rows(shard, "SELECT area_code, phone, churnml.will_churn(c) FROM customers AS c")
            assert local and all(abs(v - coordinator_scores[k]) < 1e-9 for k, v in local.items())


# ---------------------------------------------------------------------------------------------- the contract
# churnml.predict, create_shard_function and the registry's promise, on the session's server.


@pytest.fixture(scope="module")
def telco(make_telco: Callable[..., str]) -> str:
    url = make_telco("sharding", 600, 7)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE TABLE customers_gaps AS SELECT * FROM customers ORDER BY area_code, phone LIMIT 60")
        conn.execute("UPDATE customers_gaps SET day_mins = NULL WHERE acc_length % 3 = 0")
        conn.execute("UPDATE customers_gaps SET state = NULL, int_plan = NULL WHERE acc_length % 3 = 1")
    return url


def sqlstate_of(conn: psycopg.Connection[Any], statement: str, params: tuple[Any, ...] = ()) -> psycopg.Error:
    with pytest.raises(psycopg.Error) as info, conn.transaction(force_rollback=True):
        conn.execute(statement, params)
    return info.value


def test_shard_function_scores_like_will_churn_nulls_included(telco: str) -> None:
    with psycopg.connect(telco, autocommit=True) as conn:
        assert conn.execute("SELECT churnml.create_shard_function('wc_one', 'customers')").fetchone()[0] == \
            "public.wc_one(public.customers)"
        conn.execute("SELECT churnml.create_shard_function('wc_gaps', 'customers_gaps')")
        for table, function in (("customers", "wc_one"), ("customers_gaps", "wc_gaps")):
            pairs = conn.execute(f"SELECT {function}(c), churnml.will_churn(c) FROM {table} AS c").fetchall()
            assert pairs and all(abs(a - b) < 1e-12 for a, b in pairs), table
        # the function is what postgres_fdw needs: IMMUTABLE, SQL-standard body, no SET clause; not for PUBLIC
        row = conn.execute("""
            SELECT p.provolatile::text, p.proconfig, p.prosqlbody IS NOT NULL,
                   has_function_privilege('public', p.oid, 'EXECUTE'),
                   has_function_privilege('churnml_user', p.oid, 'EXECUTE'), obj_description(p.oid, 'pg_proc')
            FROM pg_proc AS p WHERE p.oid = 'public.wc_one(public.customers)'::regprocedure""").fetchone()
        assert row[:5] == ("i", None, True, False, True)
        assert "create_shard_function" in row[5] and "search_path" in row[5]
        # inlined into plain column references (what a foreign scan can ship)
        plan = explain(conn, "SELECT count(*) FROM customers AS c WHERE wc_one(c) > 0.5")
        assert "churnml.predict(" in plan and "wc_one" not in plan, plan
        # no name in it is looked up when it runs: a hostile search_path changes nothing
        conn.execute("CREATE SCHEMA IF NOT EXISTS shard_evil")
        conn.execute("CREATE OR REPLACE FUNCTION shard_evil.predict(bigint, float8[], text[]) RETURNS float8 "
                     "LANGUAGE sql IMMUTABLE AS 'SELECT 0.0::float8'")
        conn.execute("CREATE OR REPLACE FUNCTION shard_evil.float8(bigint) RETURNS float8 "
                     "LANGUAGE sql IMMUTABLE AS 'SELECT 0.0::float8'")
        expected = conn.execute("SELECT sum(wc_one(c)) FROM customers AS c").fetchone()[0]
        conn.execute("SET search_path = shard_evil, public, pg_catalog")
        assert conn.execute("SELECT sum(wc_one(c)) FROM customers AS c").fetchone()[0] == expected
        conn.execute("RESET search_path")


def test_predict_errors_name_the_features(telco: str) -> None:
    with psycopg.connect(telco, autocommit=True) as conn:
        model_id = deployed_model(conn)
        error = sqlstate_of(conn, "SELECT churnml.predict(%s, ARRAY[1.0], ARRAY['x'])", (model_id,))
        assert error.sqlstate == "22023" and "16 numbers and 3 texts" in error.diag.message_primary
        assert "acc_length" in (error.diag.message_hint or "") and "vmail_plan" in (error.diag.message_hint or "")
        error = sqlstate_of(conn, "SELECT churnml.predict(%s, %s::float8[], ARRAY['a','b','c'])",
                            (model_id, "{" + ",".join(["{1,2}"] * 16) + "}"))
        assert error.sqlstate == "22023", error.diag.message_primary
        error = sqlstate_of(conn, "SELECT churnml.predict(987654, ARRAY[1.0], ARRAY['x'])")
        assert error.sqlstate == "42704" and "replicated" in (error.diag.message_hint or "")
        assert conn.execute("SELECT churnml.predict(NULL, ARRAY[1.0], ARRAY['x'])").fetchone()[0] is None
        # all missing is a valid row
        value = conn.execute("SELECT churnml.predict(%s, array_fill(NULL::float8, ARRAY[16]), "
                             "array_fill(NULL::text, ARRAY[3]))", (model_id,)).fetchone()[0]
        assert 0.0 <= value <= 1.0


def test_create_shard_function_refuses_what_it_cannot_score(telco: str) -> None:
    with psycopg.connect(telco, autocommit=True) as conn:
        conn.execute("CREATE OR REPLACE VIEW customers_narrow AS SELECT area_code, phone, state FROM customers")
        conn.execute("CREATE OR REPLACE VIEW customers_texty AS SELECT state, acc_length::text AS acc_length, "
                     "area_code, phone, int_plan, vmail_plan, vmail_msg, day_mins, day_calls, day_charge, eve_mins, "
                     "eve_calls, eve_charge, night_mins, night_calls, night_charge, int_mins, int_calls, "
                     "int_charge, cust_service_calls FROM customers")
        cases = [
            ("SELECT churnml.create_shard_function('f', 'customers_narrow')", "42703"),
            ("SELECT churnml.create_shard_function('f', 'customers_texty')", "42804"),
            ("SELECT churnml.create_shard_function('f', 'churnml.current_deployments')", "42703"),
            ("SELECT churnml.create_shard_function('f', 'customers', 'no_such_model')", "55000"),
            ("SELECT churnml.create_shard_function('f; DROP TABLE customers', 'customers')", "22023"),
            ("SELECT churnml.create_shard_function(NULL, 'customers')", "22004"),
            ("SELECT churnml.create_shard_function('f', 'customers', schema => 'no_such_schema')", "3F000"),
        ]
        for statement, sqlstate in cases:
            assert sqlstate_of(conn, statement).sqlstate == sqlstate, statement


def test_a_registered_model_keeps_what_it_predicts(telco: str) -> None:
    with psycopg.connect(telco, autocommit=True) as conn:
        model_id = deployed_model(conn)
        for change in ("feature_spec = '{}'", "artifact_sha256 = repeat('0', 64)", "kind = 'sentiment'",
                       "id = id + 1000", "artifact_format = 'xgboost-ubj'"):
            error = sqlstate_of(conn, f"UPDATE churnml.models SET {change} WHERE id = %s", (model_id,))
            assert error.sqlstate == "55000" and "Train a new model" in (error.diag.message_hint or ""), change
        with conn.transaction(force_rollback=True):  # what does not change a prediction may change
            conn.execute("UPDATE churnml.models SET params = params, metrics = metrics WHERE id = %s", (model_id,))


def test_the_function_is_pinned_until_made_again(telco: str) -> None:
    with psycopg.connect(telco, autocommit=True) as conn:
        conn.execute("SET client_min_messages = warning")
        conn.execute("SELECT churnml.create_shard_function('wc_pinned', 'customers')")
        query = "SELECT sum(wc_pinned(c)) FROM customers AS c WHERE c.area_code = %s"
        before = conn.execute(query, (415,), prepare=True).fetchone()[0]
        new = conn.execute("SELECT churnml.train('churn', 'customers', 'churn', exclude => ARRAY['phone'], "
                           "hyperparams => '{\"max_depth\": 2}', seed => 3)").fetchone()[0]
        conn.execute("SELECT churnml.deploy('churn', %s)", (new,))
        assert conn.execute(query, (415,), prepare=True).fetchone()[0] == before  # still the model it names
        conn.execute("SELECT churnml.create_shard_function('wc_pinned', 'customers')")
        after = conn.execute(query, (415,), prepare=True).fetchone()[0]  # the prepared plan was invalidated
        expected = conn.execute("SELECT sum(churnml.will_churn(c)) FROM customers AS c WHERE c.area_code = 415"
                                ).fetchone()[0]
        assert after != before and abs(after - expected) < 1e-9
