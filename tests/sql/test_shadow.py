"""The shadow challenger on a real server (issue 23, item 5): scored beside the serving model on logged
calls, answers unchanged, promoted only on better realized AUC with enough outcomes.

Two models of the name 'churn' are built here: make_telco's (every feature, the strong one) and a weak
one trained on two features; the customers' own churn column is the outcome that arrives later.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest
from psycopg import sql
from sklearn.metrics import roc_auc_score

from tests.conftest import dump_and_restore

SERIAL = "SET max_parallel_workers_per_gather = 0"
PASSWORD = f"pw-{secrets.token_hex(8)}"


@pytest.fixture(scope="module")
def models(make_telco: Callable[..., str]) -> tuple[str, int, int]:
    """(database URL, strong model id, weak model id)."""
    url = make_telco("shadow", 1500, 29)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE TABLE public.cust AS SELECT row_number() OVER (ORDER BY area_code, phone) AS customer_id, "
                     "* FROM public.customers")
        strong = conn.execute("SELECT model_id FROM churnml.current_deployments WHERE name = 'churn'").fetchone()[0]
        weak = conn.execute("SELECT churnml.train('churn', 'customers', 'churn', features => ARRAY['acc_length', "
                            "'state'], deploy => false)").fetchone()[0]
    return url, int(strong), int(weak)


@pytest.fixture
def conn(models: tuple[str, int, int]) -> Iterator[psycopg.Connection]:
    url, strong, _ = models
    with psycopg.connect(url, autocommit=True) as connection:
        connection.execute(SERIAL)
        connection.execute("DELETE FROM churnml.prediction_log")
        connection.execute("DELETE FROM churnml.shadow_models")
        if connection.execute("SELECT model_id FROM churnml.current_deployments WHERE name = 'churn'"
                              ).fetchone()[0] != strong:
            connection.execute("SELECT churnml.deploy('churn', %s)", (strong,))
        connection.execute("SELECT churnml.log_predictions('churn', 1, 'customer_id')")
        yield connection
        connection.execute("DELETE FROM churnml.shadow_models")


def serving(conn: psycopg.Connection) -> tuple[int, str]:
    row = conn.execute("SELECT d.model_id, d.strategy FROM churnml.deployments d WHERE d.name = 'churn' "
                       "ORDER BY d.id DESC LIMIT 1").fetchone()
    return int(row[0]), str(row[1])


def test_shadow_answers_unchanged_and_logged_beside_the_serving_model(conn: psycopg.Connection,
                                                                      models: tuple[str, int, int]) -> None:
    _, strong, weak = models
    query = "SELECT customer_id::text, churnml.will_churn(c) FROM public.cust AS c WHERE customer_id <= 300"
    before = dict(conn.execute(query).fetchall())
    conn.execute("DELETE FROM churnml.prediction_log")
    started = conn.execute("SELECT * FROM churnml.start_shadow('churn', %s)", (weak,)).fetchone()
    assert started == ("churn", strong, weak, 1.0)
    assert dict(conn.execute(query).fetchall()) == before
    pairs = conn.execute("""
        SELECT v.entity_key, v.model_id, v.probability, s.model_id, s.probability, s.threshold = v.threshold,
               s.entity_key = v.entity_key
        FROM churnml.prediction_log s JOIN churnml.prediction_log v ON v.id = s.serving_id
        WHERE s.role = 'shadow' AND v.role = 'serving'""").fetchall()
    assert len(pairs) == 300 == conn.execute("SELECT count(*) FROM churnml.prediction_log WHERE role = 'serving'"
                                             ).fetchone()[0]
    assert {(p[1], p[3], p[5], p[6]) for p in pairs} == {(strong, weak, True, True)}
    assert {p[0]: p[2] for p in pairs} == before
    # the shadow's probabilities are the weak model's own (churnml.predict scores exactly one model)
    expected = dict(conn.execute("SELECT customer_id::text, churnml.predict(%s, ARRAY[acc_length::float8], "
                                 "ARRAY[state]) FROM public.cust WHERE customer_id <= 300", (weak,)).fetchall())
    assert {p[0]: p[4] for p in pairs} == pytest.approx(expected, abs=1e-9)
    # stopped: no more shadow rows
    assert conn.execute("SELECT churnml.stop_shadow('churn')").fetchone()[0] == weak
    assert conn.execute("SELECT churnml.stop_shadow('churn')").fetchone()[0] is None
    conn.execute(query)
    assert conn.execute("SELECT count(*) FILTER (WHERE role = 'shadow'), count(*) FROM churnml.prediction_log"
                        ).fetchone() == (300, 900)


def test_a_shadow_that_cannot_score_a_call_changes_nothing_but_warns(conn: psycopg.Connection,
                                                                     models: tuple[str, int, int]) -> None:
    conn.execute("CREATE TEMP TABLE extra AS SELECT *, (customer_id % 7)::float8 AS bonus FROM public.cust")
    odd = conn.execute("SELECT churnml.train('churn', 'extra', 'churn', features => ARRAY['bonus', 'acc_length'], "
                       "deploy => false)").fetchone()[0]
    try:
        conn.execute("SELECT churnml.start_shadow('churn', %s)", (odd,))
        warnings: list[str] = []
        conn.add_notice_handler(lambda d: warnings.append(f"{d.severity_nonlocalized}: {d.message_primary}"))
        got = conn.execute("SELECT count(churnml.will_churn(c)) FROM public.cust AS c WHERE customer_id <= 50"
                           ).fetchone()[0]
        assert got == 50
        assert [w for w in warnings if w.startswith("WARNING")] == [
            f'WARNING: churnml: shadow model {odd} of "churn" could not score a call: the call has no value for its '
            'feature "bonus"']
        assert conn.execute("SELECT count(*) FILTER (WHERE role = 'shadow'), count(*) FROM churnml.prediction_log"
                            ).fetchone() == (0, 50)
    finally:
        conn.execute("DELETE FROM churnml.shadow_models")
        conn.execute("DELETE FROM churnml.model_artifacts WHERE model_id = %s", (odd,))
        conn.execute("DELETE FROM churnml.models WHERE id = %s", (odd,))


def _score_everyone_and_record(conn: psycopg.Connection, limit: int = 1500) -> None:
    conn.execute("SELECT count(churnml.will_churn(c)) FROM public.cust AS c")
    conn.execute("SELECT * FROM churnml.record_outcomes('churn', %s, 'customer_id', 'churn')",
                 (f"SELECT customer_id, churn FROM cust WHERE customer_id <= {int(limit)}",))


def test_promotion_refused_with_too_few_outcomes(conn: psycopg.Connection, models: tuple[str, int, int]) -> None:
    _, strong, weak = models
    conn.execute("SELECT churnml.deploy('churn', %s)", (weak,))
    conn.execute("SELECT churnml.start_shadow('churn', %s)", (strong,))
    _score_everyone_and_record(conn, limit=150)
    decision = conn.execute("SELECT decision, reason, outcomes, deployment_id FROM churnml.promote_shadow('churn')"
                            ).fetchone()
    assert decision[0] == "kept" and decision[2] == 150 and decision[3] is None
    assert "too few outcomes: 150" in decision[1] and "min_outcomes is 200" in decision[1]
    assert serving(conn)[0] == weak
    assert conn.execute("SELECT model_id FROM churnml.shadow_models WHERE name = 'churn'").fetchone()[0] == strong


def test_promotion_refused_when_the_shadow_is_worse(conn: psycopg.Connection, models: tuple[str, int, int]) -> None:
    _, strong, weak = models
    conn.execute("SELECT churnml.start_shadow('churn', %s)", (weak,))
    _score_everyone_and_record(conn)
    row = conn.execute("SELECT decision, reason, serving_model_id, shadow_model_id, serving_auc, shadow_auc, "
                       "outcomes, positives FROM churnml.promote_shadow('churn', 0.0, 200)").fetchone()
    pairs = conn.execute("SELECT v.probability, s.probability, v.outcome FROM churnml.prediction_log s "
                         "JOIN churnml.prediction_log v ON v.id = s.serving_id").fetchall()
    y = [p[2] for p in pairs]
    assert row[0] == "kept" and row[2:4] == (strong, weak) and row[6] == 1500 and row[7] == sum(y)
    assert row[4] == pytest.approx(roc_auc_score(y, [p[0] for p in pairs]), abs=1e-12)
    assert row[5] == pytest.approx(roc_auc_score(y, [p[1] for p in pairs]), abs=1e-12)
    assert row[5] < row[4] and "is not better" in row[1]
    assert serving(conn)[0] == strong


def test_promotion_when_the_shadow_is_better_is_a_deployment_that_rollback_undoes(
        conn: psycopg.Connection, models: tuple[str, int, int]) -> None:
    _, strong, weak = models
    conn.execute("SELECT churnml.deploy('churn', %s)", (weak,))
    conn.execute("SELECT churnml.start_shadow('churn', %s)", (strong,))
    _score_everyone_and_record(conn)
    # a gain it cannot reach: kept
    kept = conn.execute("SELECT decision, shadow_auc - serving_auc FROM churnml.promote_shadow('churn', 0.9)"
                        ).fetchone()
    assert kept[0] == "kept" and 0.05 < kept[1] < 0.9
    promoted = conn.execute("SELECT decision, reason, deployment_id FROM churnml.promote_shadow('churn', 0.05, 1000)"
                            ).fetchone()
    assert promoted[0] == "promoted" and "beats serving" in promoted[1]
    assert serving(conn) == (strong, "shadow")
    assert conn.execute("SELECT max(id) FROM churnml.deployments").fetchone()[0] == promoted[2]
    assert conn.execute("SELECT count(*) FROM churnml.shadow_models").fetchone()[0] == 0
    # the next statement's calls are the new model's, logged as serving
    conn.execute("SELECT churnml.will_churn(c) FROM public.cust AS c LIMIT 3")
    assert conn.execute("SELECT model_id, role FROM churnml.prediction_log ORDER BY id DESC LIMIT 1").fetchone() == (
        strong, "serving")
    conn.execute("SELECT churnml.rollback('churn')")
    assert serving(conn)[0] == weak


@pytest.mark.parametrize(("call", "sqlstate", "words"), [
    ("churnml.start_shadow('churn', NULL)", "22004", "model_id must not be null"),
    ("churnml.start_shadow(NULL, 1)", "22004", "name"),
    ("churnml.start_shadow('churn', 987654)", "42704", "model 987654 does not exist"),
    ("churnml.start_shadow('churn', {strong})", "22023", "already serves"),
    ("churnml.start_shadow('nowhere', {weak})", "55000", "is not deployed"),
    ("churnml.promote_shadow('churn')", "55000", "has no shadow model"),
    ("churnml.promote_shadow('churn', 'NaN')", "22003", "min_gain"),
    ("churnml.promote_shadow('churn', -0.1)", "22003", "min_gain"),
    ("churnml.promote_shadow('churn', NULL)", "22004", "min_gain must not be null"),
    ("churnml.promote_shadow('churn', 0.01, 0)", "22003", "min_outcomes must be at least 1"),
    ("churnml.promote_shadow('churn', 0.01, NULL)", "22004", "min_outcomes must not be null"),
    ("churnml.stop_shadow('')", "22023", "invalid model name"),
])
def test_bad_input_is_a_clear_error(conn: psycopg.Connection, models: tuple[str, int, int], call: str,
                                    sqlstate: str, words: str) -> None:
    _, strong, weak = models
    with pytest.raises(psycopg.Error) as caught:
        conn.execute(f"SELECT * FROM {call.format(strong=strong, weak=weak)}")
    assert caught.value.sqlstate == sqlstate, caught.value
    message = caught.value.diag.message_primary or ""
    assert words.lower() in message.lower(), message


def test_a_model_of_another_name_cannot_shadow(conn: psycopg.Connection) -> None:
    other = conn.execute("SELECT churnml.train('other_name', 'customers', 'churn', features => ARRAY['acc_length'], "
                         "deploy => false)").fetchone()[0]
    with pytest.raises(psycopg.Error) as caught:
        conn.execute("SELECT churnml.start_shadow('churn', %s)", (other,))
    assert caught.value.sqlstate == "22023"
    assert f'model {other} belongs to "other_name", not "churn"' in str(caught.value)


def test_only_admins_start_stop_and_promote(conn: psycopg.Connection, models: tuple[str, int, int]) -> None:
    url, _, weak = models
    role = f"cm_shadow_user_{secrets.token_hex(3)}"
    conn.execute(sql.SQL("CREATE ROLE {} LOGIN PASSWORD {} IN ROLE churnml_user").format(
        sql.Identifier(role), sql.Literal(PASSWORD)))
    try:
        parts = urlsplit(url)
        login = urlunsplit(parts._replace(netloc=f"{role}:{PASSWORD}@{parts.hostname}:{parts.port}"))
        with psycopg.connect(login, autocommit=True) as user:
            for statement in (f"SELECT churnml.start_shadow('churn', {weak})", "SELECT churnml.stop_shadow('churn')",
                              "SELECT * FROM churnml.promote_shadow('churn')",
                              f"INSERT INTO churnml.shadow_models (name, model_id) VALUES ('churn', {weak})"):
                with pytest.raises(psycopg.Error) as caught:
                    user.execute(statement)
                assert caught.value.sqlstate == "42501", statement
            assert user.execute("SELECT count(*) FROM churnml.shadow_models").fetchone()[0] == 0
    finally:
        conn.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(role)))


def test_logs_settings_and_shadow_survive_pg_dump_and_restore(conn: psycopg.Connection, models: tuple[str, int, int],
                                                              make_database: Callable[..., str]) -> None:
    url, _, weak = models
    conn.execute("SELECT churnml.start_shadow('churn', %s)", (weak,))
    conn.execute("SELECT count(churnml.will_churn(c)) FROM public.cust AS c WHERE customer_id <= 20")
    conn.execute("SELECT * FROM churnml.record_outcomes('churn', 'cust', 'customer_id', 'churn')")
    target = make_database("restored_log", extension=False)
    restored = dump_and_restore(url, target)
    assert restored.returncode == 0, restored.stderr.decode()
    queries = ["SELECT * FROM churnml.prediction_log ORDER BY id", "SELECT * FROM churnml.prediction_logging",
               "SELECT name, model_id FROM churnml.shadow_models"]
    with psycopg.connect(target) as dst:
        for query in queries:
            assert conn.execute(query).fetchall() == dst.execute(query).fetchall(), query
        assert len(dst.execute(queries[0]).fetchall()) == 40
        # the identity goes on after the restored rows
        dst.execute("SET max_parallel_workers_per_gather = 0")
        dst.execute("SELECT churnml.will_churn(c) FROM public.cust AS c LIMIT 1")
        assert dst.execute("SELECT count(*) FROM churnml.prediction_log").fetchone()[0] == 42


def test_deploying_the_shadow_stops_it(conn: psycopg.Connection, models: tuple[str, int, int]) -> None:
    """A shadow that serves is no challenger: left running, each logged call would log the model twice."""
    _, strong, weak = models
    conn.execute("SELECT * FROM churnml.start_shadow('churn', %s)", (weak,))
    conn.execute("SELECT churnml.deploy('churn', %s)", (weak,))
    assert conn.execute("SELECT count(*) FROM churnml.shadow_models WHERE name = 'churn'").fetchone()[0] == 0
    conn.execute("SELECT churnml.log_predictions('churn', 1, 'phone')")
    before = conn.execute("SELECT count(*) FROM churnml.prediction_log WHERE role = 'shadow'").fetchone()[0]
    conn.execute("SELECT count(churnml.will_churn(c)) FROM (SELECT * FROM customers LIMIT 20) AS c")
    assert conn.execute("SELECT count(*) FROM churnml.prediction_log WHERE role = 'shadow'").fetchone()[0] == before
    conn.execute("SELECT churnml.deploy('churn', %s)", (strong,))


def test_nobody_can_forge_shadow_rows_from_sql(conn: psycopg.Connection, models: tuple[str, int, int]) -> None:
    """The definer function writes only the call churnml's scoring code is logging: typed into SQL (here by
    a superuser, who could write the table anyway; churnml_user the same) it writes nothing."""
    _, strong, weak = models
    conn.execute("SELECT * FROM churnml.start_shadow('churn', %s)", (weak,))
    conn.execute("SELECT churnml.log_predictions('churn', 1, 'phone')")
    cutoff = conn.execute("SELECT threshold FROM churnml.current_deployments WHERE name = 'churn'").fetchone()[0]
    before = conn.execute("SELECT count(*) FROM churnml.prediction_log").fetchone()[0]
    forged = conn.execute("SELECT churnml._log_prediction('churn', %s, %s, 'k', 0.5, %s, 0.99)",
                          (strong, cutoff, weak)).fetchone()[0]
    assert forged is False
    assert conn.execute("SELECT count(*) FROM churnml.prediction_log").fetchone()[0] == before
