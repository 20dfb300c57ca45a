"""Parallel plans over churnml's per-row functions (issue 22, item 1).

PL/Python's SPI opens a subtransaction per statement, which PostgreSQL forbids in parallel
mode; churnml reads its deployments and artifacts without it there (churnml.parallel_read).
Each per-row function declared PARALLEL SAFE is run here in forced parallel plans and must
give exactly what it gives serially, its errors must come back from a worker as they do
serially, a cancel must stop it, Aurora's own wrapper must run in a real parallel plan at
default settings, and a deploy in another session must reach the next parallel statement.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import psycopg
import pytest

from tests.sql.stop_requests import report, run_until_asked, stop_request

FORCED = ("SET force_parallel_mode = regress", "SET parallel_setup_cost = 0", "SET parallel_tuple_cost = 0",
          "SET min_parallel_table_scan_size = 0", "SET max_parallel_workers_per_gather = 2")
SERIAL = ("RESET force_parallel_mode", "SET max_parallel_workers_per_gather = 0")
ENDPOINT_FEATURES = ("acc_length, vmail_msg, day_mins, day_calls, eve_mins, night_mins, night_calls, int_calls, "
                     "int_charge, cust_service_calls")
ENDPOINT_SOURCE = (f"SELECT {ENDPOINT_FEATURES}, CASE WHEN int_plan = 'no' THEN 1 ELSE 0 END AS int_plan_no, churn "
                   "FROM customers")
# Aurora's page: "CREATE FUNCTION ... LANGUAGE SQL PARALLEL SAFE COST 5000", over invoke_endpoint
AURORA_WRAPPER = f"""
CREATE FUNCTION public.will_churn_aurora(acc_length bigint, vmail_msg bigint, day_mins float8, day_calls bigint,
    eve_mins float8, night_mins float8, night_calls bigint, int_calls bigint, int_charge float8,
    cust_service_calls bigint, int_plan_no int) RETURNS float8
LANGUAGE SQL PARALLEL SAFE COST 5000
AS $$ SELECT aws_sagemaker.invoke_endpoint('churn_endpoint', NULL, {ENDPOINT_FEATURES}, int_plan_no)::float8 $$"""
AURORA_CALL = f"public.will_churn_aurora({ENDPOINT_FEATURES}, CASE WHEN int_plan = 'no' THEN 1 ELSE 0 END)"
TONE_TEXTS = {
    "POSITIVE": ["thank you so much, great service", "I love the new plan", "the agent was wonderful and kind",
                 "excellent coverage, very happy", "you fixed it quickly, thanks a lot", "best support ever"],
    "NEGATIVE": ["you charged me twice again", "terrible service, I am leaving", "nobody answers the phone",
                 "the bill is wrong and nobody cares", "worst network, calls drop all day", "I am furious"],
    "NEUTRAL": ["how do I change my address", "what is the price of the plan", "I moved to a new city",
                "please send the invoice by mail", "which plans do you have", "when does my contract end"],
}


@pytest.fixture(scope="module")
def par_db(make_telco: Callable[..., str]) -> str:
    url = make_telco("parallel", 2000, 11)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("SET client_min_messages = warning")
        conn.execute("CREATE EXTENSION churnml_aws")
        conn.execute("SELECT churnml.train('churn_endpoint', %s, 'churn', deploy => true)", (ENDPOINT_SOURCE,))
        conn.execute("ALTER TABLE customers ADD COLUMN id serial")
        # Aurora's case: a table over min_parallel_table_scan_size (8 MB), for a parallel plan at default costs
        conn.execute("CREATE TABLE big AS SELECT c.*, g AS copy FROM customers c, generate_series(1, 30) g")
        conn.execute("ALTER TABLE big ADD COLUMN big_id bigserial")
        conn.execute("ANALYZE customers")
        conn.execute("ANALYZE big")
        conn.execute(AURORA_WRAPPER)
        conn.execute("REVOKE ALL ON FUNCTION public.will_churn_aurora FROM PUBLIC")
        conn.execute("GRANT EXECUTE ON FUNCTION public.will_churn_aurora TO churnml_user")
        conn.execute("CREATE TABLE tone (message text, label text)")
        conn.cursor().executemany("INSERT INTO tone VALUES (%s, %s)",
                                  [(f"{t} ({i})", label) for label, texts in TONE_TEXTS.items() for t in texts
                                   for i in range(2)])
        conn.execute("SELECT churnml.train_sentiment('tone', 'tone', 'message', 'label', deploy => true)")
        conn.execute("SELECT churnml.create_model_function('typed_churn', 'churn')")
        conn.execute("SELECT churnml.create_shard_function('shard_churn', 'customers')")
        # one customer's day_mins is Infinity, which churnml refuses to score (22003)
        conn.execute("CREATE TABLE bad_row AS SELECT * FROM customers")
        conn.execute("UPDATE bad_row SET day_mins = 'Infinity' WHERE id = 1777")
        conn.execute("GRANT SELECT ON customers, big, bad_row, customer_message TO churnml_user")
    return url


@pytest.fixture
def conn(par_db: str) -> Iterator[psycopg.Connection]:
    with psycopg.connect(par_db, autocommit=True) as connection:
        yield connection


def _set(conn: psycopg.Connection, settings: tuple[str, ...]) -> None:
    for setting in settings:
        conn.execute(setting)


def _typed_call(conn: psycopg.Connection) -> str:
    names = conn.execute("SELECT proargnames FROM pg_proc WHERE proname = 'typed_churn'").fetchone()[0]
    return f"public.typed_churn({', '.join('c.' + n for n in names)})"


def _plan(conn: psycopg.Connection, query: str) -> str:
    return "\n".join(r[0] for r in conn.execute(f"EXPLAIN (ANALYZE, VERBOSE, COSTS OFF) {query}"))


def _both(conn: psycopg.Connection, query: str) -> tuple[list[Any], list[Any], str]:
    """(serial rows, forced-parallel rows, the parallel plan)."""
    _set(conn, SERIAL)
    serial = conn.execute(query).fetchall()
    _set(conn, FORCED)
    parallel = conn.execute(query).fetchall()
    plan = _plan(conn, query)
    _set(conn, SERIAL)
    return serial, parallel, plan


SCORING = {
    "will_churn(row)": "churnml.will_churn(c)",
    "will_churn(row, model)": "churnml.will_churn(c, 'churn')",
    "churn_flag": "churnml.churn_flag(churnml.will_churn(c))",
    "typed function (PL/Python, made by a superuser)": None,  # _typed_call
    "predict (create_shard_function)": "public.shard_churn(c)",
    "invoke_endpoint": f"aws_sagemaker.invoke_endpoint('churn_endpoint', NULL, {ENDPOINT_FEATURES}, "
                       "CASE WHEN int_plan = 'no' THEN 1 ELSE 0 END)",
    "Aurora's wrapper": AURORA_CALL,
}
SENTIMENT = {
    "detect_sentiment (encoder)": "churnml.detect_sentiment(m.message)",
    "detect_sentiment (lexicon)": "churnml.detect_sentiment(m.message, 'en', 'lexicon')",
    "detect_sentiment (deployed custom model)": "churnml.detect_sentiment(m.message, 'en', 'tone')",
    "detect_sentiment_label": "churnml.detect_sentiment_label(m.message)",
    "detect_sentiment_confidence": "churnml.detect_sentiment_confidence(m.message, 'en', 'lexicon')",
    "sentiment_scores": "churnml.sentiment_scores(m.message, 'en', 'lexicon')",
    "aws_comprehend.detect_sentiment": "aws_comprehend.detect_sentiment(m.message, 'en')",
    "aws_comprehend_detect_sentiment (MySQL)": "aws_comprehend_detect_sentiment(m.message, 'en')",
    "aws_comprehend_detect_sentiment_confidence": "aws_comprehend_detect_sentiment_confidence(m.message, 'en')",
}


@pytest.mark.parametrize("role", ["churnml_user", None])
@pytest.mark.parametrize("name", list(SCORING))
def test_scoring_in_workers_gives_the_serial_answers(conn: psycopg.Connection, name: str, role: str | None) -> None:
    call = SCORING[name] or _typed_call(conn)
    if role:
        conn.execute(f"SET ROLE {role}")
    # no leader participation: the workers score every row
    conn.execute("SET parallel_leader_participation = off")
    serial, parallel, plan = _both(conn, f"SELECT c.id, {call} FROM customers c ORDER BY c.id")
    assert len(serial) == 2000 and all(r[1] is not None for r in serial)
    assert parallel == serial
    assert "Workers Launched: 2" in plan and "Parallel Seq Scan" in plan, plan


@pytest.mark.parametrize("name", list(SENTIMENT))
def test_sentiment_in_workers_gives_the_serial_answers(conn: psycopg.Connection, name: str) -> None:
    conn.execute("SET ROLE churnml_user")
    conn.execute("SET parallel_leader_participation = off")
    query = (f"SELECT m.area_code, m.phone, m.calltime, m.message, {SENTIMENT[name]} FROM customer_message m "
             "WHERE m.area_code = 415 ORDER BY 1, 2, 3, 4")
    serial, parallel, plan = _both(conn, query)
    assert len(serial) > 50
    assert parallel == serial
    assert "Workers Launched: 2" in plan, plan


def test_the_engine_setting_reaches_the_workers(conn: psycopg.Connection) -> None:
    conn.execute("SET churnml.sentiment_engine = 'lexicon'")
    query = ("SELECT m.phone, m.calltime, m.message, churnml.detect_sentiment(m.message) FROM customer_message m "
             "ORDER BY 1, 2, 3")
    serial, parallel, _ = _both(conn, query)
    conn.execute("RESET churnml.sentiment_engine")
    assert parallel == serial
    assert serial == conn.execute(query.replace("(m.message)", "(m.message, 'en', 'lexicon')")).fetchall()


def test_labels(conn: psycopg.Connection) -> None:
    labels = dict(conn.execute("""
        SELECT p.oid::regprocedure::text, p.proparallel FROM pg_proc p
        WHERE p.pronamespace IN ('churnml'::regnamespace, 'aws_sagemaker'::regnamespace,
                                 'aws_comprehend'::regnamespace)
           OR p.proname IN ('typed_churn', 'shard_churn', 'aws_comprehend_detect_sentiment',
                            'aws_comprehend_detect_sentiment_confidence')""").fetchall())
    safe = ["churnml.will_churn(anyelement,text)", "churnml._score_json(text,text,double precision)",
            "churnml.churn_flag(double precision,text)", "churnml.predict(bigint,double precision[],text[])",
            "churnml._predict(bigint,double precision[],text[])", "churnml.detect_sentiment(text,text,text)",
            "churnml.detect_sentiment_label(text,text,text)", "churnml.detect_sentiment_confidence(text,text,text)",
            "churnml.sentiment_scores(text,text,text)", "aws_comprehend.detect_sentiment(character varying,"
            "character varying,integer)", "aws_sagemaker.invoke_endpoint(character varying,integer,\"any\")",
            "aws_sagemaker._invoke_endpoint(text,integer,text[])",
            "aws_comprehend_detect_sentiment(text,text,integer)",
            "aws_comprehend_detect_sentiment_confidence(text,text,integer)"]
    assert {s: labels[s] for s in safe} == {s: "s" for s in safe}
    assert [v for k, v in labels.items() if k.startswith(("typed_churn(", "shard_churn("))] == ["s", "s"]
    # what writes, or reads through plpy statements, or reports progress through SPI, stays serial
    unsafe = ["churnml.score(text,text,text,integer)", "churnml.explain_churn(anyelement,integer,text)",
              "churnml._score_batches(text,text,text,integer,text)", "churnml.detect_sentiment_batch(text[],text,text)",
              "churnml.sentiment_summary(text[],timestamp with time zone[],text,text)",
              "churnml.deploy(text,bigint,text,double precision)", "churnml.embed(text)"]
    assert {s: labels.get(s) for s in unsafe} == {s: "u" for s in unsafe}


def test_a_non_superusers_typed_function_is_parallel_safe(conn: psycopg.Connection) -> None:
    """create_model_function by a churnml_admin makes a SQL function over _score_json."""
    conn.execute("DROP ROLE IF EXISTS cm_par_admin")
    conn.execute("CREATE ROLE cm_par_admin IN ROLE churnml_admin")
    conn.execute("GRANT CREATE ON SCHEMA public TO cm_par_admin")
    conn.execute("SET ROLE cm_par_admin")
    conn.execute("SELECT churnml.create_model_function('typed_sql', 'churn')")
    conn.execute("RESET ROLE")
    language, parallel = conn.execute("SELECT l.lanname, p.proparallel FROM pg_proc p JOIN pg_language l "
                                      "ON l.oid = p.prolang WHERE p.proname = 'typed_sql'").fetchone()
    assert (language, parallel) == ("sql", "s")
    conn.execute("SET ROLE churnml_user")
    conn.execute("SET parallel_leader_participation = off")
    call = _typed_call(conn).replace("typed_churn", "typed_sql")
    serial, parallel_rows, plan = _both(conn, f"SELECT c.id, {call} FROM customers c ORDER BY c.id")
    assert parallel_rows == serial and "Workers Launched: 2" in plan


def test_aurora_wrapper_runs_in_a_real_parallel_plan_at_default_settings(conn: psycopg.Connection) -> None:
    """The issue's case: default settings, a table past 8 MB, the page's wrapper: a parallel plan, which failed
    with 25000 "cannot start subtransactions during a parallel operation"."""
    assert conn.execute("SELECT pg_relation_size('big') > 8 * 1024 * 1024").fetchone()[0]
    conn.execute("SET ROLE churnml_user")
    query = (f"SELECT count(*) FILTER (WHERE {AURORA_CALL} > 0.5), sum({AURORA_CALL}) FROM big "
             "WHERE copy <= 15")
    plan = _plan(conn, query)
    assert "Gather" in plan and "Workers Launched: 0" not in plan and "Workers Launched" in plan, plan
    parallel = conn.execute(query).fetchone()
    conn.execute("SET max_parallel_workers_per_gather = 0")
    serial = conn.execute(query).fetchone()
    assert parallel[0] == serial[0] > 0
    assert parallel[1] == pytest.approx(serial[1], rel=1e-12)  # summed in another order


def _error(conn: psycopg.Connection, query: str) -> tuple[Any, ...]:
    with pytest.raises(psycopg.Error) as raised:
        conn.execute(query)
    diag = raised.value.diag
    return diag.sqlstate, diag.message_primary, diag.message_detail, diag.message_hint


ERRORS = {
    "a model name that is not deployed": ("SELECT count(*) FROM customers c WHERE churnml.will_churn(c, 'nope') > 0",
                                          "55000"),
    "an invalid model name": ("SELECT count(*) FROM customers c WHERE churnml.churn_flag(c.id / 10000.0, '')",
                              "22023"),
    "a bad input row (invoke_endpoint)": (
        "SELECT count(*) FROM customers c WHERE aws_sagemaker.invoke_endpoint('churn_endpoint', NULL, "
        f"CASE WHEN c.id = 1777 THEN 'x' ELSE c.acc_length::text END, {ENDPOINT_FEATURES.split(', ', 1)[1]}, "
        "1)::float8 > 0", "22000"),
    "a bad input row (will_churn)": ("SELECT count(*) FROM bad_row c WHERE churnml.will_churn(c) > 0", "22003"),
    "a probability out of range": ("SELECT count(*) FROM customers c WHERE churnml.churn_flag(CASE WHEN c.id = 1777 "
                                   "THEN 1.5 ELSE 0.5 END)", "22003"),
    "a sentiment engine that does not exist": (
        "SELECT count(*) FROM customer_message m WHERE (churnml.detect_sentiment(m.message, 'en', 'nope')).sentiment "
        "IS NOT NULL", "22023"),
    "a language it does not know": (
        "SELECT count(*) FROM customer_message m WHERE (aws_comprehend.detect_sentiment(m.message, 'fr')).sentiment "
        "IS NOT NULL", None),
    "a model that does not exist (predict)": (
        "SELECT count(*) FROM customers c WHERE churnml.predict(424242, ARRAY[c.acc_length]::float8[], "
        "ARRAY[]::text[]) > 0", "42704"),
}


@pytest.mark.parametrize("name", list(ERRORS))
def test_errors_in_workers_are_the_serial_errors(conn: psycopg.Connection, name: str) -> None:
    query, sqlstate = ERRORS[name]
    conn.execute("SET ROLE churnml_user")
    _set(conn, SERIAL)
    serial = _error(conn, query)
    _set(conn, FORCED)
    conn.execute("SET parallel_leader_participation = off")  # raised in a worker
    plan = "\n".join(r[0] for r in conn.execute(f"EXPLAIN (COSTS OFF) {query}"))
    assert "Parallel Seq Scan" in plan, plan
    parallel = _error(conn, query)
    assert parallel == serial
    if sqlstate:
        assert serial[0] == sqlstate, serial
    assert not serial[1].startswith(("plpy", "spiexceptions")) and "subtransaction" not in serial[1]
    conn.execute("RESET ROLE")
    assert conn.execute("SELECT churnml.will_churn(c) IS NOT NULL FROM customers c LIMIT 1").fetchone()[0]


def test_a_role_without_churnml_is_refused_in_parallel_too(conn: psycopg.Connection) -> None:
    conn.execute("DROP ROLE IF EXISTS cm_par_nobody")
    conn.execute("CREATE ROLE cm_par_nobody")
    conn.execute("GRANT SELECT ON customers TO cm_par_nobody")
    _set(conn, FORCED)
    conn.execute("SET ROLE cm_par_nobody")
    for call in ("churnml.will_churn(c)", AURORA_CALL, "churnml.churn_flag(0.5)"):
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute(f"SELECT count(*) FROM customers c WHERE {call} IS NOT NULL")
    conn.execute("RESET ROLE")


def test_a_loader_may_not_score(conn: psycopg.Connection) -> None:
    conn.execute("SET ROLE churnml_loader")
    _set(conn, FORCED)
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        conn.execute("SELECT churnml.will_churn(c) FROM customers c LIMIT 1")


SLOW = ("SELECT count(*) FROM big c, generate_series(1, 20) g "
        "WHERE churnml.will_churn(c) > g / 100.0")


@pytest.mark.parametrize("how", ["statement_timeout", "pg_cancel_backend"])
def test_a_parallel_scoring_query_stops_when_asked(par_db: str, how: str) -> None:
    with psycopg.connect(par_db, autocommit=True) as conn:
        conn.execute("SET ROLE churnml_user")
        _set(conn, FORCED)
        plan = "\n".join(r[0] for r in conn.execute(f"EXPLAIN (COSTS OFF) {SLOW}"))
        assert "Parallel Seq Scan on public.big" in plan or "Parallel Seq Scan on big" in plan, plan
        error, delay = run_until_asked(conn, SLOW, stop_request(conn, par_db, how))
        report("parallel will_churn", how, delay)
        assert error.sqlstate == "57014", error
        assert delay < 1.5
        conn.execute("SET statement_timeout = 0")
        assert conn.execute("SELECT count(*) FROM customers c WHERE churnml.will_churn(c) > 0.5").fetchone()[0] > 0
        # no worker is left behind
        time.sleep(0.2)
        assert conn.execute("SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'parallel worker' "
                            "AND leader_pid = pg_backend_pid()").fetchone()[0] == 0


def test_a_worker_loading_a_big_model_stops_when_asked(par_db: str) -> None:
    """A worker compiling a 524,284-node model checks for interrupts between trees without SPI: the leader's
    timeout terminates it there, at once, instead of the leader waiting for the load to end."""
    import json

    from tests.big_models import full_trees_ubj

    with psycopg.connect(par_db, autocommit=True) as conn:
        spec = conn.execute("SELECT m.feature_spec::text FROM churnml.models m JOIN churnml.current_deployments d "
                            "ON d.model_id = m.id WHERE d.name = 'churn'").fetchone()[0]
        if not conn.execute("SELECT count(*) FROM churnml.models WHERE name = 'fz'").fetchone()[0]:
            conn.execute("SELECT churnml.register_model('fz', %s::bytea, %s::jsonb, '{}', '{}', deploy => true)",
                         (full_trees_ubj(4, 16, len(json.loads(spec)["output_names"])), spec))
        conn.execute("SET ROLE churnml_user")
        _set(conn, FORCED)
        conn.execute("SET parallel_leader_participation = off")
        conn.execute("SET statement_timeout = '300ms'")
        started = time.monotonic()
        with pytest.raises(psycopg.errors.QueryCanceled):
            conn.execute("SELECT count(*) FROM customers c WHERE churnml.will_churn(c, 'fz') > 0.5")
        stopped = time.monotonic() - started
        report("parallel big-model load", "statement_timeout", stopped - 0.3)
        # as test_interrupts' LATE_S; the whole load takes 3-4 s here (a serial first load stops as late)
        assert stopped < 0.3 + 1.5


def _values(conn: psycopg.Connection, call: str) -> list[Any]:
    return [r[1] for r in conn.execute(f"SELECT c.id, {call} FROM customers c ORDER BY c.id")]


def test_a_deploy_reaches_the_next_parallel_statement(par_db: str) -> None:
    with psycopg.connect(par_db, autocommit=True) as admin:
        admin.execute("SET client_min_messages = warning")
        first = admin.execute("SELECT churnml.train('flip', 'customers', 'churn', exclude => ARRAY['phone', 'id'], "
                              "hyperparams => '{\"max_depth\": 2, \"num_boost_round\": 5}')").fetchone()[0]
        second = admin.execute("SELECT churnml.train('flip', 'customers', 'churn', exclude => ARRAY['phone', 'id'], "
                               "hyperparams => '{\"max_depth\": 4}')").fetchone()[0]
        admin.execute("SELECT churnml.deploy('flip', %s, threshold => 0.5)", (first,))
        with psycopg.connect(par_db, autocommit=True) as user:
            user.execute("SET ROLE churnml_user")
            _set(user, SERIAL)
            serial_first = _values(user, "churnml.will_churn(c, 'flip')")
            _set(user, FORCED)
            assert _values(user, "churnml.will_churn(c, 'flip')") == serial_first
            admin.execute("SELECT churnml.deploy('flip', %s, threshold => 0.3)", (second,))
            # the user's next statement, parallel again (its leader cached the first model for its statement)
            after = _values(user, "churnml.will_churn(c, 'flip')")
            _set(user, SERIAL)
            assert after == _values(user, "churnml.will_churn(c, 'flip')") != serial_first
            _set(user, FORCED)
            flagged = "SELECT count(*) FILTER (WHERE churnml.churn_flag(churnml.will_churn(c, 'flip'), 'flip')) " \
                      "FROM customers c"
            flags = user.execute(flagged).fetchone()[0]
            assert flags == sum(p > 0.3 for p in after) > 0
            admin.execute("SELECT churnml.set_threshold('flip', 0.999)")
            assert user.execute(flagged).fetchone()[0] == sum(p > 0.999 for p in after) < flags
            admin.execute("SELECT churnml.rollback('flip')")
            admin.execute("SELECT churnml.rollback('flip')")
            assert _values(user, "churnml.will_churn(c, 'flip')") == serial_first
