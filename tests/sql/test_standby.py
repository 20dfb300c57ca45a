"""Scoring on a read-only hot standby, with the primary's deployments (streaming replication)."""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable, Iterator
from urllib.parse import urlsplit

import psycopg
import pytest

from tests.conftest import private_path

HOME = private_path("standby")


@pytest.fixture(scope="module")
def primary(make_telco: Callable[..., str]) -> str:
    return make_telco("standby", 2000, 3)


@pytest.fixture(scope="module")
def standby(embedded_server, primary: str) -> Iterator[str]:
    from churnml_client.embedded_pg import EmbeddedServer, free_port

    shutil.rmtree(HOME, ignore_errors=True)
    server = EmbeddedServer(home=HOME, info=embedded_server.info)
    server._prepare_home()
    parts = urlsplit(primary)
    env_password = f"PGPASSWORD={parts.password}"
    server._as_server_user(["env", env_password, server._bin("pg_basebackup"), "-D", str(server.datadir), "-R",
                            "-X", "stream", "-c", "fast", "-h", "127.0.0.1", "-p", str(parts.port), "-U", "postgres"],
                           timeout=300)
    shutil.copy(embedded_server.password_file, server.password_file)
    server._write_conf(free_port())
    server.start(database="")
    try:
        yield server.url(parts.path.lstrip("/"))
    finally:
        server.stop()
        shutil.rmtree(HOME, ignore_errors=True)


def wait_for_replay(primary: str, standby: str) -> None:
    with psycopg.connect(primary) as conn:
        lsn = conn.execute("SELECT pg_current_wal_lsn()").fetchone()[0]
    deadline = time.time() + 60
    with psycopg.connect(standby, autocommit=True) as conn:
        while time.time() < deadline:
            if conn.execute("SELECT pg_last_wal_replay_lsn() >= %s::pg_lsn", (lsn,)).fetchone()[0]:
                return
            time.sleep(0.1)
    raise AssertionError("the standby did not catch up")


QUERY = "SELECT sum(churnml.will_churn(c)) FROM customers c"


@pytest.mark.slow
def test_standby_scores_with_the_primarys_deployment(primary: str, standby: str) -> None:
    wait_for_replay(primary, standby)
    with psycopg.connect(primary) as p, psycopg.connect(standby, autocommit=True) as s:
        assert s.execute("SELECT pg_is_in_recovery()").fetchone()[0]
        assert abs(s.execute(QUERY).fetchone()[0] - p.execute(QUERY).fetchone()[0]) < 1e-9
        reasons = s.execute("SELECT count(*) FROM customers c, churnml.explain_churn(c, 3) e "
                            "WHERE (c.area_code, c.phone) = (415, '358-1921')").fetchone()[0]
        assert reasons == 3
        before = s.execute(QUERY).fetchone()[0]
        # a deploy on the primary is used by the standby's next statement, same session
        with psycopg.connect(primary, autocommit=True) as admin:
            new = admin.execute("SELECT churnml.train('churn', 'customers', 'churn', exclude => ARRAY['phone'], "
                                "hyperparams => '{\"max_depth\": 2}', seed => 3)").fetchone()[0]
            admin.execute("SELECT churnml.deploy('churn', %s)", (new,))
        wait_for_replay(primary, standby)
        after = s.execute(QUERY).fetchone()[0]
        assert after != before
        assert abs(after - p.execute(QUERY).fetchone()[0]) < 1e-9
        # what writes cannot run on a standby, and says so
        with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
            s.execute("SELECT churnml.deploy('churn', strategy => 'latest')")


ASSESS = ("SELECT a.will_churn, a.sentiment, a.confidence, a.offer, a.reason, a.top_reasons::text "
          "FROM churnml.assess_customer(415, '358-1921', 'You charged me twice, I am leaving!', "
          "log_offer => false, engine => 'lexicon') a")


@pytest.mark.slow
def test_standby_serves_sentiment_incentives_and_the_call_center_answer(primary: str, standby: str) -> None:
    wait_for_replay(primary, standby)
    queries = [
        ASSESS,
        "SELECT * FROM churnml.detect_sentiment('Thank you, that fixed it', 'en', 'lexicon')",
        "SELECT * FROM churnml.detect_sentiment('You morons! You charged me extra again!', 'en', 'encoder')",
        "SELECT (r).offer, (r).reason, (r).rule_name FROM (SELECT churnml.recommend_incentive(0.9, 'NEGATIVE', 0.95, "
        "'{\"cust_service_calls\": 5}', '415/358-1921') AS r) s",
    ]
    with psycopg.connect(primary) as p, psycopg.connect(standby, autocommit=True) as s:
        for query in queries:
            assert s.execute(query).fetchall() == p.execute(query).fetchall(), query
        # writing the offer log cannot happen on a standby: a clear error, and the session goes on
        offers = p.execute("SELECT count(*) FROM churnml.offer_log").fetchone()[0]
        with pytest.raises(psycopg.errors.ReadOnlySqlTransaction) as error:
            s.execute("SELECT * FROM churnml.assess_customer(415, '358-1921', 'Hello', log_offer => true, "
                      "engine => 'lexicon')")
        assert "Leave log_offer out" in (error.value.diag.message_hint or "")
        assert s.execute(ASSESS).fetchone() == p.execute(ASSESS).fetchone()
        assert p.execute("SELECT count(*) FROM churnml.offer_log").fetchone()[0] == offers


@pytest.mark.slow
def test_a_standby_answers_with_logging_on_and_logs_nothing(primary: str, standby: str) -> None:
    """Prediction logging on (every call) on the primary: the standby's calls, in read-only transactions, are
    answered as usual and not logged (docs/realized-performance.md)."""
    with psycopg.connect(primary, autocommit=True) as admin:
        admin.execute("SELECT churnml.log_predictions('churn', 1, 'phone')")
        logged = admin.execute("SELECT count(*) FROM churnml.prediction_log").fetchone()[0]
    try:
        wait_for_replay(primary, standby)
        with psycopg.connect(primary) as p, psycopg.connect(standby, autocommit=True) as s:
            s.execute("SET max_parallel_workers_per_gather = 0")
            assert abs(s.execute(QUERY).fetchone()[0] - p.execute(QUERY).fetchone()[0]) < 1e-9
            p.rollback()  # the primary's own calls were logged in its transaction, rolled back
        with psycopg.connect(primary) as p:
            assert p.execute("SELECT count(*) FROM churnml.prediction_log").fetchone()[0] == logged
    finally:
        with psycopg.connect(primary, autocommit=True) as admin:
            admin.execute("SELECT churnml.log_predictions('churn', 0)")
