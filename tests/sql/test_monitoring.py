"""Drift monitoring against the real server: reference profiles captured by train, churnml.monitor's
PSI and status on undrifted and drifted populations, thresholds, sampling, bad input and cancel."""

from __future__ import annotations

import json
from collections.abc import Callable

import psycopg
import pytest

from tests.conftest import dump_and_restore
from tests.sql.stop_requests import run_until_asked, stop_request

# The customers with their day-time usage 30% up (a price rise billed as more minutes and charges).
DRIFTED_DAY = ("CREATE VIEW public.drifted_day AS SELECT state, acc_length, area_code, phone, int_plan, vmail_plan, "
               "vmail_msg, day_mins * 1.3 AS day_mins, day_calls, day_charge * 1.3 AS day_charge, eve_mins, eve_calls, "
               "eve_charge, night_mins, night_calls, night_charge, int_mins, int_calls, int_charge, cust_service_calls "
               "FROM public.customers")


@pytest.fixture(scope="module")
def telco(make_telco: Callable[..., str]) -> str:
    url = make_telco("monitoring", 3000, 11)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(DRIFTED_DAY)
    return url


def monitor(conn: psycopg.Connection, source: str, max_rows: int | None = None) -> dict[str, object]:
    cur = conn.execute("SELECT * FROM churnml.monitor('churn', %s, %s)", (source, max_rows))
    names = [d.name for d in cur.description or []]
    return dict(zip(names, cur.fetchone() or (), strict=True))


def test_train_stores_a_profile_of_every_input_feature(telco: str) -> None:
    with psycopg.connect(telco) as conn:
        spec, profile = conn.execute(
            "SELECT m.feature_spec, p.profile FROM churnml.models m JOIN churnml.model_profiles p ON p.model_id = m.id "
            "JOIN churnml.current_deployments d ON d.model_id = m.id WHERE d.name = 'churn'").fetchone()
        held_out = conn.execute("SELECT cardinality(holdout_scores) FROM churnml.model_artifacts a "
                                "JOIN churnml.current_deployments d ON d.model_id = a.model_id").fetchone()[0]
    assert [f["name"] for f in profile["features"]] == [f["name"] for f in spec["features"]]
    assert profile["rows"] == 3000
    kinds = {f["name"]: f["kind"] for f in profile["features"]}
    assert kinds["day_mins"] == "numeric" and kinds["int_plan"] == "categorical" and kinds["state"] == "categorical"
    for feature in profile["features"]:
        assert abs(sum(feature["shares"]) + feature["missing"] - 1.0) < 1e-9, feature["name"]
    day = next(f for f in profile["features"] if f["name"] == "day_mins")
    assert len(day["edges"]) == 9 and all(abs(s - 0.1) < 0.02 for s in day["shares"])
    assert held_out > 0 and abs(sum(profile["score"]["shares"]) - 1.0) < 1e-9


def test_the_training_population_is_ok(telco: str) -> None:
    with psycopg.connect(telco, autocommit=True) as conn:
        run = monitor(conn, "customers")
        stored = conn.execute("SELECT status, rows, population FROM churnml.monitor_runs WHERE id = %s",
                              (run["id"],)).fetchone()
    assert run["status"] == "ok" and run["drifted_features"] == []
    assert run["max_feature_psi"] < 1e-9  # the very rows the reference was made from
    assert run["score_psi"] is not None and run["score_psi"] < 0.05  # all rows against the held-out 10%
    assert stored == ("ok", 3000, 3000)
    assert {f["status"] for f in run["features"]} == {"ok"}  # type: ignore[attr-defined]


def test_an_undrifted_sample_of_new_customers_is_ok(telco: str) -> None:
    """Other draws from the same distributions (another seed): no alert."""
    with psycopg.connect(telco, autocommit=True) as conn:
        conn.execute("CREATE TEMP TABLE fresh (LIKE public.customers)")
        from churnml_client.datagen.customers import generate_customers

        columns = generate_customers(3000, 99)
        names = list(columns)
        with conn.cursor().copy(f"COPY fresh ({', '.join(names)}) FROM STDIN") as copy:
            for i in range(3000):
                copy.write_row([columns[n][i].item() if hasattr(columns[n][i], "item") else columns[n][i]
                                for n in names])
        run = monitor(conn, "fresh")
    assert run["status"] == "ok", run["features"]
    assert run["max_feature_psi"] < 0.05


def test_a_price_rise_alerts_and_names_the_features_that_moved(telco: str) -> None:
    with psycopg.connect(telco, autocommit=True) as conn:
        conn.execute("SET client_min_messages = notice")
        notices: list[str] = []
        conn.add_notice_handler(lambda d: notices.append(d.message_primary or ""))
        run = monitor(conn, "drifted_day")
    assert run["status"] == "alert"
    assert set(run["drifted_features"][:2]) == {"day_mins", "day_charge"}  # type: ignore[index]
    assert run["max_feature_psi"] > 0.25 and run["score_psi"] > 0.1  # type: ignore[operator]
    assert any("alert" in n and "day_" in n for n in notices)


def test_a_changed_mix_alerts_on_the_category(telco: str) -> None:
    with psycopg.connect(telco, autocommit=True) as conn:
        run = monitor(conn, "SELECT * FROM customers WHERE int_plan = 'yes' OR phone < '300'")
    assert run["status"] == "alert" and run["drifted_features"][0] == "int_plan"  # type: ignore[index]
    top = run["features"][0]  # type: ignore[index]
    assert top["feature"] == "int_plan" and top["bins"][-2:] == ["other", "missing"]
    assert abs(sum(top["current"]) - 1.0) < 1e-9


def test_thresholds_are_per_name(telco: str) -> None:
    with psycopg.connect(telco, autocommit=True) as conn:
        conn.execute("SELECT churnml.set_monitor_thresholds('churn', 5, 10)")
        try:
            run = monitor(conn, "drifted_day")
            assert run["status"] == "ok" and run["warn_psi"] == 5 and run["drifted_features"] == []
        finally:
            conn.execute("DELETE FROM churnml.monitor_settings WHERE name = 'churn'")
        assert monitor(conn, "drifted_day")["status"] == "alert"


def test_a_large_source_is_sampled(telco: str) -> None:
    with psycopg.connect(telco, autocommit=True) as conn:
        run = monitor(conn, "SELECT c.* FROM customers c, generate_series(1, 4)", 2000)
    assert run["population"] == 12000 and 1500 <= run["rows"] <= 2000  # type: ignore[operator]
    assert run["status"] == "ok"


def test_the_source_resolves_with_the_callers_search_path(telco: str) -> None:
    with psycopg.connect(telco) as conn:
        conn.execute("CREATE SCHEMA IF NOT EXISTS elsewhere")
        conn.execute("CREATE TABLE elsewhere.population AS SELECT * FROM public.customers LIMIT 500")
        conn.execute("SET search_path = elsewhere, public")
        assert monitor(conn, "population")["rows"] == 500
        assert conn.execute("SHOW search_path").fetchone()[0] == "elsewhere, public"
        conn.rollback()


@pytest.mark.parametrize(("statement", "sqlstate"), [
    ("SELECT churnml.monitor(NULL, 'customers')", "22004"),
    ("SELECT churnml.monitor('churn', NULL)", "22023"),
    ("SELECT churnml.monitor('churn', '')", "22023"),
    ("SELECT churnml.monitor('churn', 'no_such_table')", "42P01"),
    ("SELECT churnml.monitor('churn', 'SELECT state FROM customers')", "42703"),
    ("SELECT churnml.monitor('churn', 'SELECT * FROM customers WHERE false')", "55000"),
    ("SELECT churnml.monitor('never_deployed', 'customers')", "55000"),
    ("SELECT churnml.monitor('churn', 'customers', 0)", "22023"),
    ("SELECT churnml.monitor('churn', 'customers', 9223372036854775807)", "22023"),
    ("SELECT churnml.monitor('churn', 'DELETE FROM customers')", "42809"),
    ("SELECT churnml.set_monitor_thresholds('churn', 'NaN', 0.25)", "22023"),
    ("SELECT churnml.set_monitor_thresholds('churn', 0.3, 0.2)", "22023"),
    ("SELECT churnml.set_monitor_thresholds('churn', -1, 0.2)", "22023"),
    ("SELECT churnml.set_monitor_thresholds('churn', NULL, 0.2)", "22004"),
    ("SELECT churnml.set_monitor_thresholds('bad name!', 0.1, 0.2)", "22023"),
    ("SELECT churnml.capture_profile(NULL, 'customers')", "22004"),
    ("SELECT churnml.capture_profile('churn', '')", "22023"),
    ("SELECT churnml.capture_profile('999999', 'customers')", "42704"),
])
def test_bad_input_is_a_clear_error(telco: str, statement: str, sqlstate: str) -> None:
    with psycopg.connect(telco) as conn, pytest.raises(psycopg.Error) as caught:
        conn.execute(statement)
    assert caught.value.sqlstate == sqlstate, caught.value.diag.message_primary
    message = caught.value.diag.message_primary or ""
    assert "Error" not in message.split(":")[0] and "Traceback" not in message


def test_a_model_without_profile_says_how_to_capture_one(telco: str) -> None:
    with psycopg.connect(telco) as conn:
        model_id = conn.execute("SELECT model_id FROM churnml.current_deployments WHERE name = 'churn'").fetchone()[0]
        before = conn.execute("SELECT profile FROM churnml.model_profiles WHERE model_id = %s", (model_id,)).fetchone()
        conn.execute("DELETE FROM churnml.model_profiles WHERE model_id = %s", (model_id,))
        with pytest.raises(psycopg.errors.ObjectNotInPrerequisiteState) as caught:
            conn.execute("SELECT churnml.monitor('churn', 'customers')")
        assert "capture_profile" in (caught.value.diag.message_hint or "")
        conn.rollback()
        conn.execute("DELETE FROM churnml.model_profiles WHERE model_id = %s", (model_id,))
        captured = conn.execute("SELECT profile FROM churnml.capture_profile('churn', 'customers')").fetchone()[0]
        assert captured == before[0]  # the same rows and held-out scores: the same profile
        assert monitor(conn, "customers")["status"] == "ok"
        conn.rollback()


@pytest.mark.parametrize("damage", [
    '{"profile_version": 2}',
    '{"profile_version": 1, "rows": 1, "features": [{"name": "day_mins", "kind": "numeric", "shares": [0.5, 0.5], '
    '"missing": 0, "edges": [3, 2]}], "score": null}',
    '{"profile_version": 1, "rows": 1, "features": [{"name": "day_mins", "kind": "numeric", "shares": [2], '
    '"missing": 0, "edges": []}], "score": null}',
])
def test_a_damaged_profile_is_refused(telco: str, damage: str) -> None:
    with psycopg.connect(telco) as conn:
        conn.execute("UPDATE churnml.model_profiles SET profile = %s::jsonb WHERE model_id = "
                     "(SELECT model_id FROM churnml.current_deployments WHERE name = 'churn')", (damage,))
        with pytest.raises(psycopg.errors.DataCorrupted) as caught:
            conn.execute("SELECT churnml.monitor('churn', 'customers')")
        assert "capture_profile" in (caught.value.diag.message_hint or "")
        conn.rollback()


@pytest.mark.parametrize("how", ["statement_timeout", "pg_cancel_backend"])
def test_monitor_stops_when_asked(telco: str, how: str) -> None:
    with psycopg.connect(telco, autocommit=True) as conn:
        error, seconds = run_until_asked(
            conn, "SELECT churnml.monitor('churn', 'SELECT c.* FROM customers c, generate_series(1, 400)', 5000000)",
            stop_request(conn, telco, how))
        assert error.sqlstate == "57014" and seconds < 2.0, (error, seconds)
        assert conn.execute("SELECT 1").fetchone() == (1,)


def test_profiles_and_runs_survive_dump_and_restore(telco: str, make_database: Callable[..., str]) -> None:
    with psycopg.connect(telco, autocommit=True) as conn:
        monitor(conn, "customers")
    target = make_database("monitoring_restored", extension=False)
    restored = dump_and_restore(telco, target)
    assert restored.returncode == 0, restored.stderr.decode()
    query = ("SELECT p.model_id, p.profile::text FROM churnml.model_profiles p ORDER BY 1")
    runs = "SELECT id, status, score_psi, features::text FROM churnml.monitor_runs ORDER BY id"
    with psycopg.connect(telco) as src, psycopg.connect(target) as dst:
        assert src.execute(query).fetchall() == dst.execute(query).fetchall()
        assert src.execute(runs).fetchall() == dst.execute(runs).fetchall()
        assert json.loads(dst.execute("SELECT max(features::text) FROM churnml.monitor_runs").fetchone()[0])


def test_a_sentiment_deployment_is_not_watched(telco: str) -> None:
    labelled = ", ".join(f"('{text}', '{label}')" for text, label in (
        ("the bill is wrong again", "negative"), ("I was charged twice", "negative"),
        ("my calls keep dropping", "negative"), ("great service, thank you", "positive"),
        ("the new plan is excellent", "positive"), ("very happy with the coverage", "positive"),
        ("what are your opening hours", "neutral"), ("how do I change my address", "neutral"),
        ("when is my bill due", "neutral")))
    with psycopg.connect(telco) as conn:
        conn.execute(f"CREATE TEMP TABLE tones AS SELECT * FROM (VALUES {labelled}) AS t(message, label), "
                     "generate_series(1, 2)")
        conn.execute("SELECT churnml.train_sentiment('tone', 'tones', 'message', 'label', deploy => true)")
        with pytest.raises(psycopg.errors.WrongObjectType) as caught:
            conn.execute("SELECT churnml.monitor('tone', 'tones')")
        assert "churn models" in (caught.value.diag.message_primary or "")
        conn.rollback()


def test_small_samples_are_not_drift_and_tiny_ones_refused(telco: str) -> None:
    with psycopg.connect(telco, autocommit=True) as conn:
        run = monitor(conn, "SELECT * FROM customers ORDER BY md5(phone) LIMIT 200")
        assert run["status"] == "ok" and run["drifted_features"] == [], run["features"][:2]  # type: ignore[index]
        noise = {f["feature"]: f["noise_psi"] for f in run["features"]}  # type: ignore[attr-defined]
        assert noise["day_mins"] > 0.1 > noise["int_plan"]  # ten bins are noisier than two
        with pytest.raises(psycopg.errors.ObjectNotInPrerequisiteState) as caught:
            conn.execute("SELECT churnml.monitor('churn', 'SELECT * FROM customers LIMIT 30')")
        assert "too few rows" in (caught.value.diag.message_primary or "")


def test_a_query_source_runs_once(telco: str) -> None:
    """A source query that writes (through a function) writes once per row, not once per pass."""
    with psycopg.connect(telco, autocommit=True) as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS public.side_effects (n int)")
        conn.execute("TRUNCATE public.side_effects")
        conn.execute("CREATE OR REPLACE FUNCTION public.note() RETURNS int LANGUAGE sql VOLATILE AS "
                     "'INSERT INTO public.side_effects VALUES (1) RETURNING 1'")
        run = monitor(conn, "SELECT *, public.note() AS noted FROM customers")
        assert run["rows"] == 3000
        assert conn.execute("SELECT count(*) FROM public.side_effects").fetchone()[0] == 3000
