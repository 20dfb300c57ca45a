"""Prediction logging, outcomes and realized performance on a real server (issue 23, item 3).

The test data is built here: generated customers with a numbered key (`cust.customer_id`), the
model make_telco trains and deploys as 'churn', and the customers' own churn column as the outcomes
that "arrive later". Realized AUC, Brier score and precision/recall are checked against
scikit-learn on the same rows.
"""

from __future__ import annotations

import math
import os
import secrets
import threading
from collections.abc import Callable, Iterator
from urllib.parse import urlsplit, urlunsplit

import numpy as np
import psycopg
import pytest
from psycopg import sql
from sklearn.metrics import brier_score_loss, roc_auc_score

from tests.sql.stop_requests import report, run_until_asked, stop_request

SERIAL = "SET max_parallel_workers_per_gather = 0"  # logging happens outside parallel mode only
PASSWORD = f"pw-{secrets.token_hex(8)}"


@pytest.fixture(scope="module")
def telco(make_telco: Callable[..., str]) -> str:
    url = make_telco("realized", 1500, 23)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE TABLE public.cust AS SELECT row_number() OVER (ORDER BY area_code, phone) AS customer_id, "
                     "* FROM public.customers")
        conn.execute("ALTER TABLE public.cust ADD PRIMARY KEY (customer_id)")
    return url


@pytest.fixture
def conn(telco: str) -> Iterator[psycopg.Connection]:
    with psycopg.connect(telco, autocommit=True) as connection:
        connection.execute(SERIAL)
        connection.execute("DELETE FROM churnml.prediction_log")
        connection.execute("DELETE FROM churnml.prediction_logging")
        yield connection
        connection.execute("DELETE FROM churnml.prediction_logging")


def deployed(conn: psycopg.Connection) -> tuple[int, float]:
    row = conn.execute("SELECT model_id, threshold FROM churnml.current_deployments WHERE name = 'churn'").fetchone()
    return int(row[0]), float(row[1])


def test_rate_one_logs_every_call_with_its_key_model_and_cutoff(conn: psycopg.Connection) -> None:
    conn.execute("SELECT churnml.log_predictions('churn', 1, 'customer_id')")
    answers = dict(conn.execute("SELECT customer_id::text, churnml.will_churn(c) FROM public.cust AS c "
                                "WHERE customer_id <= 300").fetchall())
    model_id, cutoff = deployed(conn)
    rows = conn.execute("SELECT entity_key, probability, model_id, threshold, role, name, outcome, "
                        "logged_at <= now() + interval '1 minute' FROM churnml.prediction_log").fetchall()
    assert len(rows) == 300
    assert {r[0]: r[1] for r in rows} == answers
    assert {(r[2], r[3], r[4], r[5], r[6], r[7]) for r in rows} == {(model_id, cutoff, "serving", "churn", None, True)}


def test_rate_zero_and_no_setting_log_nothing(conn: psycopg.Connection) -> None:
    conn.execute("SELECT count(churnml.will_churn(c)) FROM public.cust AS c")
    conn.execute("SELECT churnml.log_predictions('churn', 0)")
    conn.execute("SELECT count(churnml.will_churn(c)) FROM public.cust AS c")
    assert conn.execute("SELECT count(*) FROM churnml.prediction_log").fetchone()[0] == 0
    # the setting is read once per statement: on, then off again, takes effect at the next statement
    conn.execute("SELECT churnml.log_predictions('churn', 1)")
    conn.execute("SELECT churnml.will_churn(c) FROM public.cust AS c LIMIT 5")
    conn.execute("SELECT churnml.log_predictions('churn', 0)")
    conn.execute("SELECT churnml.will_churn(c) FROM public.cust AS c LIMIT 5")
    assert conn.execute("SELECT count(*), count(entity_key) FROM churnml.prediction_log").fetchone() == (5, 0)


def test_sample_rate_is_honoured_within_a_binomial_bound(conn: psycopg.Connection) -> None:
    rate, calls = 0.2, 6000
    conn.execute("SELECT churnml.log_predictions('churn', %s, 'customer_id')", (rate,))
    conn.execute("SELECT count(churnml.will_churn(c)) FROM public.cust AS c, generate_series(1, 4) AS g")
    logged = conn.execute("SELECT count(*) FROM churnml.prediction_log").fetchone()[0]
    sd = math.sqrt(calls * rate * (1 - rate))
    assert abs(logged - calls * rate) < 5 * sd, logged  # fails by chance about once in 1.7 million runs


def test_typed_function_logs_too(conn: psycopg.Connection) -> None:
    signature = conn.execute("SELECT churnml.create_model_function('churn_typed', 'churn')").fetchone()[0]
    arguments = conn.execute("SELECT string_agg(quote_ident(n), ', ' ORDER BY o) FROM unnest("
                             "(SELECT proargnames FROM pg_proc WHERE oid = %s::regprocedure)) "
                             "WITH ORDINALITY AS u(n, o)",
                             (signature,)).fetchone()[0]
    conn.execute("SELECT churnml.log_predictions('churn', 1, 'customer_id')")
    typed = [r[0] for r in conn.execute(f"SELECT public.churn_typed({arguments}) FROM public.cust AS c "
                                        "ORDER BY customer_id LIMIT 20").fetchall()]
    logged = [r[0] for r in conn.execute("SELECT probability FROM churnml.prediction_log ORDER BY id").fetchall()]
    assert logged == typed
    # the key column is no feature of the typed function: no key
    assert conn.execute("SELECT count(entity_key) FROM churnml.prediction_log").fetchone()[0] == 0
    # Aurora's invoke_endpoint takes the same features in the same order
    conn.execute("CREATE EXTENSION IF NOT EXISTS churnml_aws")
    conn.execute("DELETE FROM churnml.prediction_log")
    answered = [float(r[0]) for r in conn.execute(f"SELECT aws_sagemaker.invoke_endpoint('churn', NULL, {arguments}) "
                                                  "FROM public.cust AS c ORDER BY customer_id LIMIT 20").fetchall()]
    logged = [r[0] for r in conn.execute("SELECT probability FROM churnml.prediction_log ORDER BY id").fetchall()]
    assert logged == pytest.approx(answered) and len(logged) == 20


def test_the_call_center_logs_under_the_offer_logs_key(conn: psycopg.Connection) -> None:
    conn.execute("SELECT churnml.log_predictions('churn', 1, 'customer_id')")
    rows = conn.execute("SELECT c.area_code || '/' || c.phone, a.will_churn FROM public.customers AS c, "
                        "churnml.assess_customer(c.area_code, c.phone, 'You charged me twice!', engine => 'lexicon') "
                        "AS a ORDER BY c.area_code, c.phone LIMIT 5").fetchall()
    logged = conn.execute("SELECT entity_key, probability FROM churnml.prediction_log ORDER BY id").fetchall()
    assert sorted(logged) == sorted(rows) and len(logged) == 5


def test_parallel_and_read_only_calls_answer_but_are_not_logged(conn: psycopg.Connection) -> None:
    conn.execute("SELECT churnml.log_predictions('churn', 1, 'customer_id')")
    expected = conn.execute("SELECT sum(churnml.will_churn(c)) FROM public.cust AS c").fetchone()[0]
    conn.execute("DELETE FROM churnml.prediction_log")
    conn.execute("SET max_parallel_workers_per_gather = 2")
    conn.execute("SET force_parallel_mode = on")  # PostgreSQL 15's name (16 calls it debug_parallel_query)
    conn.execute("SET parallel_setup_cost = 0; SET parallel_tuple_cost = 0; SET min_parallel_table_scan_size = 0")
    plan = "\n".join(r[0] for r in conn.execute("EXPLAIN SELECT sum(churnml.will_churn(c)) FROM public.cust AS c"))
    assert "Gather" in plan
    parallel = conn.execute("SELECT sum(churnml.will_churn(c)) FROM public.cust AS c").fetchone()[0]
    assert parallel == pytest.approx(expected)
    conn.execute("RESET ALL")
    conn.execute(SERIAL)
    with conn.transaction():
        conn.execute("SET TRANSACTION READ ONLY")
        assert conn.execute("SELECT sum(churnml.will_churn(c)) FROM public.cust AS c").fetchone()[0] == pytest.approx(
            expected)
    assert conn.execute("SELECT count(*) FROM churnml.prediction_log").fetchone()[0] == 0


def _log_two_months(conn: psycopg.Connection) -> None:
    """Every customer scored once: the odd ids logged last month (as if), the even ids this month."""
    conn.execute("SELECT churnml.log_predictions('churn', 1, 'customer_id')")
    conn.execute("SELECT count(churnml.will_churn(c)) FROM public.cust AS c")
    conn.execute("UPDATE churnml.prediction_log SET logged_at = date_trunc('month', now()) - interval '10 days' "
                 "WHERE entity_key::bigint % 2 = 1")


def test_outcomes_attach_and_realized_performance_matches_sklearn(conn: psycopg.Connection) -> None:
    _log_two_months(conn)
    counts = conn.execute("SELECT * FROM churnml.record_outcomes('churn', 'SELECT customer_id, churn FROM cust "
                          "WHERE customer_id <= 1200', 'customer_id', 'churn')").fetchone()
    assert counts[:4] == (1200, 1200, 1200, 1200)
    churned = conn.execute("SELECT count(*) FILTER (WHERE churn) FROM cust WHERE customer_id <= 1200").fetchone()[0]
    assert counts[4] == churned
    # recorded again: nothing new (outcomes are attached once)
    assert conn.execute("SELECT predictions_updated FROM churnml.record_outcomes('churn', 'cust', 'customer_id', "
                        "'churn')").fetchone()[0] == 300
    _, cutoff = deployed(conn)
    rows = conn.execute("SELECT date_trunc('month', logged_at), probability, outcome, threshold "
                        "FROM churnml.prediction_log").fetchall()
    report = conn.execute("SELECT * FROM churnml.realized_performance('churn', 'month')").fetchall()
    assert len(report) == 2
    for (period_start, model_id, role, predictions, outcomes, positives, auc, brier, mean_predicted, observed,
         precision, recall, threshold) in report:
        mine = [r for r in rows if r[0] == period_start]
        labelled = [r for r in mine if r[2] is not None]
        y = np.array([r[2] for r in labelled], dtype=float)
        p = np.array([r[1] for r in labelled])
        assert (role, threshold, predictions, outcomes) == ("serving", cutoff, len(mine), len(labelled))
        assert positives == int(y.sum())
        assert auc == pytest.approx(roc_auc_score(y, p), abs=1e-12)
        assert brier == pytest.approx(brier_score_loss(y, p), abs=1e-12)
        assert mean_predicted == pytest.approx(p.mean()) and observed == pytest.approx(y.mean())
        flagged = p > cutoff
        assert precision == pytest.approx((flagged & (y == 1)).sum() / flagged.sum())
        assert recall == pytest.approx((flagged & (y == 1)).sum() / y.sum())
        assert model_id == deployed(conn)[0]
    everything = conn.execute("SELECT predictions, outcomes FROM churnml.realized_performance('churn', 'all')"
                              ).fetchall()
    assert everything == [(1500, 1500)]
    since = conn.execute("SELECT count(*) FROM churnml.realized_performance('churn', 'day', "
                         "date_trunc('month', now()))").fetchone()[0]
    assert since >= 1


def test_ties_count_half_in_auc(conn: psycopg.Connection) -> None:
    """AUC with tied probabilities (a stump model gives few distinct values): average ranks, as sklearn."""
    model_id, cutoff = deployed(conn)
    conn.execute("INSERT INTO churnml.prediction_log (name, model_id, role, entity_key, probability, threshold, "
                 "outcome, outcome_at) SELECT 'churn', %s, 'serving', g::text, (g %% 5) / 10.0, %s, "
                 "(g * 7919) %% 3 = 0 OR g %% 5 = 4, now() FROM generate_series(1, 400) AS g", (model_id, cutoff))
    conn.execute("INSERT INTO churnml.prediction_logging (name, sample_rate) VALUES ('churn', 0)")
    rows = conn.execute("SELECT probability, outcome FROM churnml.prediction_log").fetchall()
    auc = conn.execute("SELECT auc FROM churnml.realized_performance('churn', 'all')").fetchone()[0]
    assert auc == pytest.approx(roc_auc_score([r[1] for r in rows], [r[0] for r in rows]), abs=1e-12)


def test_text_labels_and_the_offer_log_outcomes(conn: psycopg.Connection) -> None:
    conn.execute("SELECT churnml.log_predictions('churn', 1, 'customer_id')")
    conn.execute("SELECT count(churnml.will_churn(c)) FROM public.cust AS c WHERE customer_id <= 40")
    # outcomes of offers made to ten of them, as the call center records them
    conn.execute("""
        WITH offers AS (
            INSERT INTO churnml.offer_log (customer_key, offer, will_churn)
            SELECT customer_id::text, 'discount', 0.5 FROM cust WHERE customer_id <= 10 RETURNING id, customer_key)
        INSERT INTO churnml.offer_outcomes (offer_id, outcome)
        SELECT id, CASE WHEN customer_key::int % 3 = 0 THEN 'churned' ELSE 'retained' END FROM offers""")
    counts = conn.execute("""SELECT * FROM churnml.record_outcomes('churn',
        'SELECT o.customer_key, x.outcome FROM churnml.offer_log AS o JOIN churnml.offer_outcomes AS x '
        'ON x.offer_id = o.id', 'customer_key', 'outcome')""").fetchone()
    assert counts == (10, 10, 10, 10, 3)
    # text labels in another spelling, and integer 1/0
    conn.execute("CREATE TEMP TABLE labels AS SELECT customer_id, CASE WHEN churn THEN ' Yes' ELSE 'NO' END AS said, "
                 "churn::int AS flag FROM cust WHERE customer_id BETWEEN 11 AND 40")
    assert conn.execute("SELECT predictions_updated FROM churnml.record_outcomes('churn', 'labels', 'customer_id', "
                        "'said')").fetchone()[0] == 30
    wrong = conn.execute("SELECT count(*) FROM churnml.prediction_log AS l JOIN cust AS c ON c.customer_id::text = "
                         "l.entity_key WHERE l.entity_key::int > 10 AND l.outcome IS DISTINCT FROM c.churn"
                         ).fetchone()[0]
    assert wrong == 0
    conn.execute("UPDATE churnml.prediction_log SET outcome = NULL, outcome_at = NULL")
    assert conn.execute("SELECT predictions_updated FROM churnml.record_outcomes('churn', 'labels', 'customer_id', "
                        "'flag', horizon => '1 hour')").fetchone()[0] == 30


@pytest.mark.parametrize(("call", "sqlstate", "words"), [
    ("churnml.log_predictions(NULL, 1)", "22004", "name"),
    ("churnml.log_predictions('', 1)", "22023", "invalid model name"),
    ("churnml.log_predictions('churn', NULL)", "22004", "sample_rate must not be null"),
    ("churnml.log_predictions('churn', 'NaN')", "22003", "not nan"),
    ("churnml.log_predictions('churn', 1.5)", "22003", "between 0 and 1"),
    ("churnml.log_predictions('churn', -0.1)", "22003", "between 0 and 1"),
    ("churnml.log_predictions('churn', 1, '')", "22023", "key_column must not be empty"),
    ("churnml.log_predictions('churn', 1, repeat('k', 64))", "22023", "not a column name"),
    ("churnml.record_outcomes(NULL, 'cust', 'customer_id', 'churn')", "22004", "name"),
    ("churnml.record_outcomes('churn', NULL, 'customer_id', 'churn')", "22023", "source must name"),
    ("churnml.record_outcomes('churn', '', 'customer_id', 'churn')", "22023", "source must name"),
    ("churnml.record_outcomes('churn', 'cust', NULL, 'churn')", "22004", "key_column must not be null"),
    ("churnml.record_outcomes('churn', 'cust', 'customer_id', '')", "22023", "label_column must not be empty"),
    ("churnml.record_outcomes('churn', 'cust', 'nope', 'churn')", "42703", 'no key column "nope"'),
    ("churnml.record_outcomes('churn', 'cust', 'customer_id', 'state')", "22023", "is not an outcome"),
    ("churnml.record_outcomes('churn', 'SELECT 1 AS k, now() AS y', 'k', 'y')", "42804", "not an outcome"),
    ("churnml.record_outcomes('churn', 'SELECT 1 AS k, 2 AS y', 'k', 'y')", "22023", "label '2'"),
    ("churnml.record_outcomes('churn', 'no_such_table', 'k', 'y')", "42P01", "does not exist"),
    ("churnml.record_outcomes('churn', 'cust', 'customer_id', 'churn', '-1 day')", "22023", "positive interval"),
    ("churnml.record_outcomes('nobody', 'cust', 'customer_id', 'churn')", "42704", "no predictions"),
    ("churnml.realized_performance(NULL)", "22004", "name"),
    ("churnml.realized_performance('churn', 'fortnight')", "22023", 'unknown period "fortnight"'),
    ("churnml.realized_performance('churn', NULL)", "22023", "period must not be null"),
    ("churnml.realized_performance('nobody')", "42704", 'no predictions of "nobody"'),
])
def test_bad_input_is_a_clear_error(conn: psycopg.Connection, call: str, sqlstate: str, words: str) -> None:
    conn.execute("SELECT churnml.log_predictions('churn', 1, 'customer_id')")
    conn.execute("SELECT churnml.will_churn(c) FROM public.cust AS c LIMIT 3")
    with pytest.raises(psycopg.Error) as caught:
        conn.execute(f"SELECT * FROM {call}")
    assert caught.value.sqlstate == sqlstate, caught.value
    message = caught.value.diag.message_primary or ""
    assert words.lower() in message.lower(), message
    assert "Error" not in message and "Traceback" not in message
    assert conn.execute("SELECT count(outcome) FROM churnml.prediction_log").fetchone()[0] == 0


# --------------------------------------------------------------------------- privileges

@pytest.fixture(scope="module")
def logins(telco: str) -> Iterator[dict[str, str]]:
    """A login in churnml_user, one in churnml_admin, and one in no churnml role."""
    suffix = secrets.token_hex(3)
    made = {group: f"cm_real_{group}_{suffix}" for group in ("user", "admin", "none")}
    with psycopg.connect(telco, autocommit=True) as conn:
        for group, role in made.items():
            conn.execute(sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(sql.Identifier(role),
                                                                            sql.Literal(PASSWORD)))
            conn.execute(sql.SQL("GRANT SELECT ON public.cust TO {}").format(sql.Identifier(role)))
            if group != "none":
                conn.execute(sql.SQL("GRANT {} TO {}").format(sql.Identifier(f"churnml_{group}"), sql.Identifier(role)))
    parts = urlsplit(telco)
    host = parts.hostname or ""
    host = f"[{host}]" if ":" in host else host
    urls = {group: urlunsplit(parts._replace(netloc=f"{role}:{PASSWORD}@{host}" + (f":{parts.port}" if parts.port
                                                                                 else "")))
            for group, role in made.items()}
    yield urls
    with psycopg.connect(telco, autocommit=True) as conn:
        for role in made.values():
            conn.execute(sql.SQL("DROP OWNED BY {}").format(sql.Identifier(role)))
            conn.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(role)))


def _sqlstate(url: str, statement: str) -> str | None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(SERIAL)
        try:
            conn.execute(statement)
        except psycopg.Error as exc:
            return exc.sqlstate
    return None


def test_privileges(conn: psycopg.Connection, logins: dict[str, str]) -> None:
    conn.execute("SELECT churnml.log_predictions('churn', 1, 'customer_id')")
    # churnml_user's calls are logged, through the SECURITY DEFINER function
    assert _sqlstate(logins["user"], "SELECT churnml.will_churn(c) FROM public.cust AS c LIMIT 7") is None
    assert conn.execute("SELECT count(*) FROM churnml.prediction_log").fetchone()[0] == 7
    model_id, cutoff = deployed(conn)
    reads = ["SELECT * FROM churnml.realized_performance('churn')", "SELECT count(*) FROM churnml.prediction_log",
             "SELECT * FROM churnml.prediction_logging"]
    writes = ["SELECT churnml.log_predictions('churn', 0.5)",
              "SELECT * FROM churnml.record_outcomes('churn', 'cust', 'customer_id', 'churn')",
              "UPDATE churnml.prediction_log SET outcome = true, outcome_at = now()",
              "INSERT INTO churnml.prediction_log (name, model_id, role, probability, threshold) "
              "VALUES ('churn', 1, 'serving', 0.5, 0.5)",
              "DELETE FROM churnml.prediction_logging",
              "INSERT INTO churnml.prediction_logging (name, sample_rate) VALUES ('x', 1)"]
    for statement in reads:
        assert _sqlstate(logins["user"], statement) is None, statement
        assert _sqlstate(logins["none"], statement) == "42501", statement
    for statement in writes:
        assert _sqlstate(logins["user"], statement) == "42501", statement
        assert _sqlstate(logins["none"], statement) == "42501", statement
    assert _sqlstate(logins["none"], "SELECT churnml.will_churn(c) FROM public.cust AS c LIMIT 1") == "42501"
    # what churnml_user can reach directly writes nothing: only churnml's own scoring code logs (even a
    # call that names a model and cutoff the name serves cannot forge a row)
    with psycopg.connect(logins["user"], autocommit=True) as user:
        before = user.execute("SELECT count(*) FROM churnml.prediction_log").fetchone()[0]
        assert user.execute("SELECT churnml._log_prediction('churn', %s, %s, 'x', 0.5)", (model_id, cutoff)
                            ).fetchone()[0] is False
        assert user.execute("SELECT count(*) FROM churnml.prediction_log").fetchone()[0] == before
        assert user.execute("SELECT churnml._log_prediction('churn', %s, %s, 'x', 0.5)", (model_id + 1000, cutoff)
                            ).fetchone()[0] is False
        assert user.execute("SELECT churnml._log_prediction('other', %s, %s, 'x', 0.5)", (model_id, cutoff)
                            ).fetchone()[0] is False
    # the admin's own calls
    assert _sqlstate(logins["admin"], "SELECT * FROM churnml.record_outcomes('churn', 'cust', 'customer_id', "
                                      "'churn')") is None
    assert _sqlstate(logins["admin"], "SELECT churnml.log_predictions('churn', 0.5)") is None
    setter = conn.execute("SELECT set_by::text FROM churnml.prediction_logging WHERE name = 'churn'").fetchone()[0]
    assert setter.startswith("cm_real_admin_")


# --------------------------------------------------------------------------- cancel

def test_record_outcomes_and_realized_performance_stop_when_asked(conn: psycopg.Connection, telco: str) -> None:
    model_id, cutoff = deployed(conn)
    conn.execute("INSERT INTO churnml.prediction_logging (name, sample_rate) VALUES ('churn', 0)")
    conn.execute("INSERT INTO churnml.prediction_log (name, model_id, role, entity_key, probability, threshold, "
                 "logged_at, outcome, outcome_at) SELECT 'churn', %s, 'serving', g::text, (g %% 1000) / 1000.0, %s, "
                 "now() - (g %% 5000) * interval '1 minute', g %% 3 = 0, now() FROM generate_series(1, 1500000) AS g",
                 (model_id, cutoff))
    conn.execute("ANALYZE churnml.prediction_log")
    for how in ("statement_timeout", "pg_cancel_backend"):
        for name, statement in [
            ("realized_performance", "SELECT count(*) FROM churnml.realized_performance('churn', 'hour')"),
            ("record_outcomes", "SELECT * FROM churnml.record_outcomes('churn', 'SELECT g AS k, g % 2 = 0 AS y "
                                "FROM generate_series(1, 30000000) AS g', 'k', 'y')"),
        ]:
            with psycopg.connect(telco, autocommit=True) as victim:
                error, delay = run_until_asked(victim, statement, stop_request(victim, telco, how))
                assert error.sqlstate == "57014", error
                assert delay < 2.0
                report(name, how, delay)
    conn.execute("DELETE FROM churnml.prediction_log")


def _private_mb(pid: int) -> float:
    """The backend's private memory (RssAnon: not the shared buffers it touched, which VmHWM counts)."""
    with open(f"/proc/{pid}/status", encoding="utf-8") as status:
        return int(next(line for line in status if line.startswith("RssAnon:")).split()[1]) / 1024


def test_record_outcomes_memory_is_bounded_by_work_mem(conn: psycopg.Connection, telco: str) -> None:
    """A million labelled keys with work_mem at 64 kB: the grouping spills to disk, the backend does not grow."""
    conn.execute("SELECT churnml.log_predictions('churn', 1, 'customer_id')")
    conn.execute("SELECT count(churnml.will_churn(c)) FROM public.cust AS c WHERE customer_id <= 1000")
    with psycopg.connect(telco, autocommit=True) as worker:
        pid = worker.info.backend_pid
        if not os.path.exists(f"/proc/{pid}/status"):
            pytest.skip("the server runs on another machine")
        worker.execute("SET work_mem = '64kB'")
        worker.execute("SELECT * FROM churnml.record_outcomes('churn', 'SELECT 0 AS k, true AS y', 'k', 'y')")
        before = _private_mb(pid)
        peak = [before]
        done = threading.Event()

        def watch() -> None:
            while not done.wait(0.02):
                peak.append(_private_mb(pid))

        watcher = threading.Thread(target=watch)
        watcher.start()
        try:
            counts = worker.execute("SELECT * FROM churnml.record_outcomes('churn', 'SELECT g AS k, g % 2 = 0 AS y "
                                    "FROM generate_series(1, 1000000) AS g', 'k', 'y')").fetchone()
        finally:
            done.set()
            watcher.join()
    grown = max(peak) - before
    assert counts[:4] == (1_000_000, 1_000_000, 1000, 1000)
    assert grown < 40, f"the backend grew {grown:.0f} MB"


def test_a_key_column_the_rows_lack_is_warned_about(conn: psycopg.Connection) -> None:
    conn.execute("SELECT churnml.log_predictions('churn', 1, 'no_such_column')")
    warnings: list[str] = []
    conn.add_notice_handler(lambda d: warnings.append(d.message_primary or "") if d.severity == "WARNING" else None)
    conn.execute("SET max_parallel_workers_per_gather = 0")
    conn.execute("SELECT count(churnml.will_churn(c)) FROM (SELECT * FROM public.cust LIMIT 5) AS c")
    assert sum("no_such_column" in w for w in warnings) == 1  # once per statement, not per row
    conn.execute("SELECT churnml.log_predictions('churn', 0)")
