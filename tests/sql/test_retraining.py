"""Gated retraining against the real server and the real pg_cron: churnml.retrain, schedule_retrain,
unschedule_retrain, churnml.retrain_history.

The data is built here in SQL with a known concept change: in `concept_a` churn follows x1; in
`concept_b` the same columns hold, but churn follows x2 and x1 means nothing. A champion trained on
concept_a is stale on concept_b (AUC near 0.5 there), and a challenger trained on concept_b beats it.
`noise` has churn independent of every column: a challenger trained on it is worse than min_auc.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import urlsplit

import psycopg
import pytest
from psycopg import sql
from psycopg.rows import dict_row

from tests.conftest import dump_and_restore
from tests.sql.stop_requests import report, run_until_asked, stop_request

PASSWORD = f"pw-{secrets.token_hex(8)}"
# Uniform [0, 1) numbers from a hash of (column, row): the same data in every run, no random().
U = "(abs(hashtext('{tag}' || g)) % 100000) / 100000.0"
FEATURES = (f"{U.format(tag='x1')}::float8 AS x1, {U.format(tag='x2')}::float8 AS x2, "
            f"{U.format(tag='x3')}::float8 AS x3, "
            "(ARRAY['basic','plus','pro'])[1 + abs(hashtext('p' || g)) % 3] AS plan")
NOISE = U.format(tag="n")


def concept_table(name: str, rows: int, churn: str, offset: int = 0) -> str:
    """CREATE TABLE `name` with `rows` customers whose churn is the expression `churn` over x1, x2, x3, n."""
    return (f"CREATE TABLE {name} AS SELECT g AS customer_id, x1, x2, x3, plan, ({churn}) AS churn FROM "
            f"(SELECT g, {FEATURES}, {NOISE} AS n FROM generate_series({offset + 1}, {offset + rows}) AS g) AS s")


SETUP = [
    concept_table("concept_a", 3000, "x1 * 0.8 + n * 0.4 > 0.85"),
    concept_table("concept_b", 3000, "x2 * 0.8 + n * 0.4 > 0.85", offset=100000),
    concept_table("noise", 3000, "n > 0.8", offset=200000),
    # a bigger month for the cancel tests: its retrain reads and trains for seconds
    concept_table("concept_b_big", 60000, "x2 * 0.8 + n * 0.4 > 0.85", offset=300000),
]
TRAIN = ("SELECT churnml.train(%s, 'concept_a', 'churn', exclude => ARRAY['customer_id'], "
         "feature_types => '{\"x3\": \"numeric\"}', missing => 'median', deploy => true)")


def role_url(url: str, role: str, password: str) -> str:
    parts = urlsplit(url)
    return parts._replace(netloc=f"{role}:{password}@{parts.hostname}:{parts.port}").geturl()


def prepare(url: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        for statement in SETUP:
            conn.execute(statement)


@pytest.fixture(scope="module")
def db(make_database: Callable[..., str]) -> str:
    url = make_database("retrain")
    prepare(url)
    return url


def champion(conn: psycopg.Connection, name: str) -> int:
    conn.execute("SET client_min_messages = warning")
    conn.execute(TRAIN, (name,))
    return current_model(conn, name)


def current_model(conn: psycopg.Connection, name: str) -> int:
    return int(conn.execute("SELECT model_id FROM churnml.current_deployments WHERE name = %s", (name,)).fetchone()[0])


def retrain(conn: psycopg.Connection, *args: Any, **kwargs: Any) -> dict[str, Any]:
    names = ", ".join(["%s"] * len(args) + [f"{k} => %s" for k in kwargs])
    cur = conn.cursor(row_factory=dict_row)
    row = cur.execute(f"SELECT * FROM churnml.retrain({names})", (*args, *kwargs.values())).fetchone()
    assert row is not None
    return row


def counts(conn: psycopg.Connection, name: str) -> tuple[int, int, int]:
    return conn.execute(
        "SELECT (SELECT count(*) FROM churnml.models WHERE name = %(n)s), "
        "(SELECT count(*) FROM churnml.deployments WHERE name = %(n)s), "
        "(SELECT count(*) FROM churnml.retrain_history WHERE name = %(n)s)", {"n": name}).fetchone()


# --------------------------------------------------------------------------- the gate


def test_challenger_on_changed_concept_beats_stale_champion_and_is_promoted(db: str) -> None:
    with psycopg.connect(db, autocommit=True) as conn:
        old = champion(conn, "drift")
        row = retrain(conn, "drift", "concept_b")
        assert row["status"] == "promoted", row["reason"]
        assert row["trigger"] == "manual" and row["champion_id"] == old
        new = row["challenger_id"]
        assert current_model(conn, "drift") == new
        # the champion is stale on the new concept; the challenger learned it
        assert row["champion_auc"] < 0.62 and row["challenger_auc"] > 0.9, row
        assert row["evaluated_rows"] == 300  # the champion's test fraction 0.1 of 3,000 fresh rows
        assert row["run_by"] and row["finished_at"] >= row["started_at"]
        spec_old, spec_new = conn.execute(
            "SELECT a.feature_spec, b.feature_spec FROM churnml.models a, churnml.models b "
            "WHERE a.id = %s AND b.id = %s", (old, new)).fetchone()
        # the champion's spec: same features, groups, missing strategy; parent is the champion
        assert [(f["name"], f["group"]) for f in spec_old["features"]] == \
            [(f["name"], f["group"]) for f in spec_new["features"]]
        assert {f["state"].get("missing") for f in spec_new["features"] if f["group"] == "numeric"} == {"median"}
        parent, params_old, params_new = conn.execute(
            "SELECT b.parent_id, a.params, b.params FROM churnml.models a, churnml.models b "
            "WHERE a.id = %s AND b.id = %s", (old, new)).fetchone()
        assert parent == old
        assert {k: params_old[k] for k in ("max_depth", "eta", "seed")} == \
            {k: params_new[k] for k in ("max_depth", "eta", "seed")}
        assert conn.execute("SELECT strategy FROM churnml.deployments WHERE name = 'drift' ORDER BY id DESC "
                            "LIMIT 1").fetchone()[0] == "retrain"
        details = row["details"]
        assert details["guards"] == {"constant_scores": True, "mean_score": True, "min_auc": True, "min_gain": True,
                                     "significant_gain": True}
        assert 0.1 < details["observed_rate"] < 0.3
        # the new model serves every session's next statement
        assert conn.execute("SELECT churnml.will_churn(c, 'drift') FROM concept_b AS c LIMIT 1").fetchone()[0] >= 0


def test_champion_scored_on_exactly_the_challengers_held_out_rows(db: str) -> None:
    """champion_auc is the champion's AUC on the challenger's test rows: recomputed here from the
    challenger's stored held-out labels and the champion's scores of the same rows."""
    with psycopg.connect(db, autocommit=True) as conn:
        champion(conn, "same_rows")
        row = retrain(conn, "same_rows", "concept_b", min_gain=0.0)
        labels, scores = conn.execute("SELECT holdout_labels, holdout_scores FROM churnml.model_artifacts "
                                      "WHERE model_id = %s", (row["challenger_id"],)).fetchone()
    from sklearn.metrics import roc_auc_score

    assert len(labels) == row["evaluated_rows"]
    assert abs(roc_auc_score(labels, scores) - row["challenger_auc"]) < 1e-9


def test_worse_challengers_are_refused_and_the_champion_still_serves(db: str) -> None:
    with psycopg.connect(db, autocommit=True) as conn:
        old = champion(conn, "steady")
        before = counts(conn, "steady")
        # trained on noise: below min_auc
        noisy = retrain(conn, "steady", "noise")
        assert noisy["status"] == "kept" and "below min_auc" in noisy["reason"], noisy
        assert noisy["details"]["failed_guard"] == "min_auc"
        # as good as the champion on its own concept, but min_gain cannot be reached
        even = retrain(conn, "steady", "concept_a", min_gain=0.5)
        assert even["status"] == "kept" and "does not beat" in even["reason"], even
        assert even["details"]["failed_guard"] == "min_gain"
        assert current_model(conn, "steady") == old
        # both challengers stay registered, children of the champion, never deployed
        children = conn.execute("SELECT id FROM churnml.models WHERE parent_id = %s ORDER BY id", (old,)).fetchall()
        assert [c[0] for c in children] == [noisy["challenger_id"], even["challenger_id"]]
        assert counts(conn, "steady") == (before[0] + 2, before[1], before[2] + 2)
        assert conn.execute("SELECT churnml.will_churn(c, 'steady') FROM concept_a AS c LIMIT 1").fetchone()[0] >= 0


def test_a_constant_challenger_is_refused(db: str) -> None:
    """A month where nobody's features say anything and churn is rare: the challenger scores everyone
    alike, which the score-distribution guard refuses whatever the margins."""
    with psycopg.connect(db, autocommit=True) as conn:
        champion(conn, "flat")
        conn.execute("CREATE TABLE IF NOT EXISTS flat_month AS SELECT 1.0::float8 AS x1, 1.0::float8 AS x2, "
                     "1.0::float8 AS x3, 'basic'::text AS plan, g % 10 = 0 AS churn, g AS customer_id "
                     "FROM generate_series(1, 2000) AS g")
        row = retrain(conn, "flat", "flat_month", min_gain=0.0, min_auc=0.0)
    assert row["status"] == "kept" and row["details"]["failed_guard"] == "constant_scores", row


def test_failures_are_recorded_and_change_nothing(db: str) -> None:
    with psycopg.connect(db, autocommit=True) as conn:
        old = champion(conn, "fragile")
        conn.execute("CREATE TABLE IF NOT EXISTS month_without_x3 AS SELECT customer_id, x1, x2, plan, churn "
                     "FROM concept_b")
        cases = [
            ("no_such_table", "42P01", "does not exist"),
            ("SELECT * FROM concept_b WHERE NOT churn", "22000", ""),  # one class only
            ("month_without_x3", "42703", "x3"),  # the champion needs a column the month lacks
            ("SELECT 1/0 AS x", "22012", "division by zero"),
        ]
        for source, sqlstate, words in cases:
            before = counts(conn, "fragile")
            row = retrain(conn, "fragile", source)
            assert row["status"] == "failed", (source, row)
            assert row["details"]["error"]["sqlstate"] == sqlstate, (source, row["details"])
            assert words in row["reason"], (source, row["reason"])
            assert row["challenger_id"] is None and row["champion_id"] == old
            assert "Traceback" not in row["reason"] and "Error:" not in row["reason"]
            assert counts(conn, "fragile") == (before[0], before[1], before[2] + 1), source
            assert current_model(conn, "fragile") == old


def test_a_failure_after_training_leaves_no_challenger(db: str) -> None:
    """The champion's artifact damaged (the checksum no longer matches): the challenger was trained
    and inserted before the champion is scored, and the subtransaction takes it back."""
    with psycopg.connect(db, autocommit=True) as conn:
        old = champion(conn, "damaged")
        before = counts(conn, "damaged")
        conn.execute("UPDATE churnml.model_artifacts SET artifact = artifact || ' '::bytea WHERE model_id = %s",
                     (old,))
        try:
            row = retrain(conn, "damaged", "concept_b")
        finally:
            conn.execute("UPDATE churnml.model_artifacts SET artifact = substring(artifact FROM 1 FOR "
                         "length(artifact) - 1) WHERE model_id = %s", (old,))
        assert row["status"] == "failed" and row["details"]["error"]["sqlstate"] == "XX001", row
        assert counts(conn, "damaged") == (before[0], before[1], before[2] + 1)
        assert current_model(conn, "damaged") == old


def test_retrain_uses_the_policy_source_and_margins(db: str) -> None:
    """Without a source and without a policy: a clear 22004; the policy itself is tested with pg_cron."""
    with psycopg.connect(db, autocommit=True) as conn:
        champion(conn, "nopolicy")
        with pytest.raises(psycopg.errors.NullValueNotAllowed) as exc:
            conn.execute("SELECT churnml.retrain('nopolicy')")
    assert "needs a source" in str(exc.value) and "schedule_retrain" in (exc.value.diag.message_hint or "")


def test_retrains_of_one_name_take_turns(db: str) -> None:
    """Two sessions retrain one name at once: the second waits for the first's transaction, then
    challenges the champion the first left (never the same champion twice, never interleaved)."""
    with psycopg.connect(db, autocommit=True) as conn:
        old = champion(conn, "turns")
    rows: list[dict[str, Any]] = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            with psycopg.connect(db, autocommit=True) as conn:
                conn.execute("SET client_min_messages = warning")
                rows.append(retrain(conn, "turns", "concept_b"))
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert not errors, errors
    first, second = sorted(rows, key=lambda r: r["finished_at"])
    assert first["finished_at"] <= second["started_at"]
    assert first["status"] == "promoted" and first["champion_id"] == old
    assert second["champion_id"] == first["challenger_id"] and second["status"] == "kept"


def test_history_and_policies_survive_pg_dump_and_restore(db: str, make_database: Callable[..., str]) -> None:
    with psycopg.connect(db, autocommit=True) as conn:
        champion(conn, "dumped")
        retrain(conn, "dumped", "concept_b")
        # a policy as schedule_retrain stores it (pg_cron is not in this database: its job is not restored anyway)
        conn.execute("INSERT INTO churnml.retrain_policies (name, schedule, source, search_path, min_gain, min_auc) "
                     "VALUES ('dumped', '0 3 * * 1', 'concept_b', '\"$user\", public', 0.01, 0.6)")
    target = make_database("retrain_restored", extension=False)
    try:
        restored = dump_and_restore(db, target)
        assert restored.returncode == 0, restored.stderr.decode()
        with psycopg.connect(db) as src, psycopg.connect(target) as dst:
            for query in ("SELECT id, name, status, champion_id, challenger_id, reason, details FROM "
                          "churnml.retrain_history ORDER BY id",
                          "SELECT id, name, schedule, source, search_path FROM churnml.retrain_policies ORDER BY id"):
                assert src.execute(query).fetchall() == dst.execute(query).fetchall()
    finally:
        with psycopg.connect(db, autocommit=True) as conn:
            conn.execute("DELETE FROM churnml.retrain_policies WHERE name = 'dumped'")


# --------------------------------------------------------------------------- input


@pytest.mark.parametrize(("statement", "sqlstate", "words"), [
    ("SELECT churnml.retrain(NULL, 'concept_b')", "22004", "not NULL"),
    ("SELECT churnml.retrain('', 'concept_b')", "22023", "invalid model name"),
    ("SELECT churnml.retrain('bad name; drop', 'concept_b')", "22023", "invalid model name"),
    ("SELECT churnml.retrain('inputs', '')", "22023", "not ''"),
    ("SELECT churnml.retrain('inputs', '   ')", "22023", "not ''"),
    ("SELECT churnml.retrain('inputs', 'concept_b', min_gain => 'NaN')", "22023", "min_gain"),
    ("SELECT churnml.retrain('inputs', 'concept_b', min_gain => -0.1)", "22023", "min_gain"),
    ("SELECT churnml.retrain('inputs', 'concept_b', min_gain => 'Infinity')", "22023", "min_gain"),
    ("SELECT churnml.retrain('inputs', 'concept_b', min_auc => 1.5)", "22023", "min_auc"),
    ("SELECT churnml.retrain('never_deployed', 'concept_b')", "55000", "is not deployed"),
    ("SELECT churnml.unschedule_retrain('inputs')", "42704", "no retraining is scheduled"),
    ("SELECT churnml.unschedule_retrain(NULL)", "22004", "not NULL"),
    ("SELECT churnml.run_scheduled_retrain(NULL)", "22004", "policy_id"),
    ("SELECT churnml.run_scheduled_retrain(987654)", "42704", "987654"),
    ("SELECT churnml.schedule_retrain('inputs', NULL, 'concept_b')", "22004", "schedule"),
    ("SELECT churnml.schedule_retrain('inputs', '', 'concept_b')", "22023", "empty"),
    ("SELECT churnml.schedule_retrain('inputs', E'* * * * *\\n; DROP', 'concept_b')", "22023", "invalid schedule"),
    ("SELECT churnml.schedule_retrain('inputs', '0 3 * * 1 2 3 garbage', 'concept_b')", "22023", "invalid schedule"),
    ("SELECT churnml.schedule_retrain('inputs', '0 3 * * 1''); DROP TABLE x; --', 'concept_b')", "22023",
     "invalid schedule"),
    ("SELECT churnml.schedule_retrain('inputs', '* * * * *', NULL)", "22004", "source"),
    ("SELECT churnml.schedule_retrain('inputs', '* * * * *', 'concept_b', min_gain => 'NaN')", "22023", "min_gain"),
    ("SELECT churnml.schedule_retrain('inputs', '* * * * *', 'no_such_table')", "42P01", "does not exist"),
])
def test_bad_input_is_a_clear_error(db: str, statement: str, sqlstate: str, words: str) -> None:
    with psycopg.connect(db, autocommit=True) as conn:
        if conn.execute("SELECT 1 FROM churnml.current_deployments WHERE name = 'inputs'").fetchone() is None:
            champion(conn, "inputs")
        before = counts(conn, "inputs")
        with pytest.raises(psycopg.Error) as exc:
            conn.execute(statement)
        assert counts(conn, "inputs") == before
    assert exc.value.sqlstate == sqlstate, (statement, exc.value.sqlstate, str(exc.value))
    message = exc.value.diag.message_primary or ""
    assert words in message, message
    assert not message.startswith(("churnml: plpy", "churnml: spiexceptions")) and "Traceback" not in message


def test_scheduling_outside_pg_crons_database_says_what_to_configure(db: str) -> None:
    with psycopg.connect(db, autocommit=True) as conn:
        if conn.execute("SELECT 1 FROM churnml.current_deployments WHERE name = 'inputs'").fetchone() is None:
            champion(conn, "inputs")
        with pytest.raises(psycopg.errors.ObjectNotInPrerequisiteState) as exc:
            conn.execute("SELECT churnml.schedule_retrain('inputs', '0 3 * * 1', 'concept_b')")
        assert conn.execute("SELECT count(*) FROM churnml.retrain_policies").fetchone()[0] == 0
    hint = exc.value.diag.message_hint or ""
    assert "pg_cron schedules jobs from database" in str(exc.value)
    assert "cron.database_name" in hint and "shared_preload_libraries = 'pg_cron'" in hint
    assert "CREATE EXTENSION pg_cron" in hint and "GRANT USAGE ON SCHEMA cron TO churnml_admin" in hint


# --------------------------------------------------------------------------- cancel


@pytest.mark.parametrize("how", ["statement_timeout", "pg_cancel_backend"])
def test_cancel_mid_retrain_leaves_nothing_half_done(db: str, how: str) -> None:
    with psycopg.connect(db, autocommit=True) as conn:
        name = f"cancel_{how[:4]}"
        # a champion of many deep rounds, quick on 600 rows: its recipe makes the retrain on 60,000 rows
        # boost for far longer than the stop request takes to come
        conn.execute("SET client_min_messages = warning")
        conn.execute("SELECT churnml.train(%s, 'SELECT * FROM concept_a LIMIT 600', 'churn', "
                     "exclude => ARRAY['customer_id'], hyperparams => '{\"num_boost_round\": 800, "
                     "\"early_stopping_rounds\": 0, \"max_depth\": 8, \"eta\": 0.01}', deploy => true)", (name,))
        old = current_model(conn, name)
        before = counts(conn, name)
        ask = stop_request(conn, db, how)
        error, delay = run_until_asked(conn, "SELECT churnml.retrain(%s, 'concept_b_big', min_gain => 0)", ask,
                                       (name,))
        conn.execute("SET statement_timeout = 0")
        report("retrain", how, delay)
        assert error.sqlstate == "57014", error
        assert delay < 5.0
        assert counts(conn, name) == before  # no challenger, no deployment, no history row
        assert current_model(conn, name) == old
        # the lock went with the cancelled transaction: the next retrain runs
        assert retrain(conn, name, "SELECT * FROM concept_b LIMIT 600")["status"] in ("promoted", "kept")


# --------------------------------------------------------------------------- privileges


@pytest.fixture(scope="module")
def roles(db: str) -> Iterator[dict[str, str]]:
    suffix = secrets.token_hex(4)
    names = {"user": f"cm_rt_user_{suffix}", "admin": f"cm_rt_admin_{suffix}", "none": f"cm_rt_none_{suffix}"}
    with psycopg.connect(db, autocommit=True) as conn:
        for role in names.values():
            conn.execute(sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(sql.Identifier(role),
                                                                            sql.Literal(PASSWORD)))
            conn.execute(sql.SQL("GRANT SELECT ON public.concept_b TO {}").format(sql.Identifier(role)))
        conn.execute(sql.SQL("GRANT churnml_user TO {}").format(sql.Identifier(names["user"])))
        conn.execute(sql.SQL("GRANT churnml_admin TO {}").format(sql.Identifier(names["admin"])))
    try:
        yield names
    finally:
        with psycopg.connect(db, autocommit=True) as conn:
            for role in names.values():
                conn.execute(sql.SQL("DROP OWNED BY {}").format(sql.Identifier(role)))
                conn.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(role)))


PRIVILEGED = [
    "SELECT churnml.retrain('privs', 'public.concept_b')",
    "SELECT churnml._retrain('privs', 'public.concept_b', NULL, NULL, 'public')",
    "SELECT churnml.schedule_retrain('privs', '0 3 * * 1', 'public.concept_b')",
    "SELECT churnml.unschedule_retrain('privs')",
    "SELECT churnml.run_scheduled_retrain(1)",
    "INSERT INTO churnml.retrain_history (name, trigger, started_at, finished_at, status, reason) "
    "VALUES ('privs', 'manual', now(), now(), 'promoted', 'forged')",
    "SELECT count(*) FROM churnml.retrain_policies",
]


def test_privileges(db: str, roles: dict[str, str]) -> None:
    with psycopg.connect(db, autocommit=True) as conn:
        champion(conn, "privs")
    with psycopg.connect(role_url(db, roles["user"], PASSWORD), autocommit=True) as user:
        assert user.execute("SELECT count(*) FROM churnml.retrain_history").fetchone()[0] >= 0
        for statement in PRIVILEGED:
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                user.execute(statement)
    with psycopg.connect(role_url(db, roles["none"], PASSWORD), autocommit=True) as nobody:
        for statement in ["SELECT count(*) FROM churnml.retrain_history", *PRIVILEGED]:
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                nobody.execute(statement)
    with psycopg.connect(role_url(db, roles["admin"], PASSWORD), autocommit=True) as admin:
        admin.execute("SET client_min_messages = warning")
        row = retrain(admin, "privs", "public.concept_b")
        assert row["status"] == "promoted" and row["run_by"] == roles["admin"]
        # an admin may record, but not say someone else ran it
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            admin.execute("INSERT INTO churnml.retrain_history (name, trigger, started_at, finished_at, status, "
                          "reason, run_by) VALUES ('privs', 'manual', now(), now(), 'kept', 'x', 'postgres')")


# --------------------------------------------------------------------------- pg_cron


@pytest.fixture(scope="module")
def cron_admin(cron_db_url: str) -> Iterator[str]:
    """pg_cron's database with the concept tables and an admin login role (pg_cron runs a job as the
    role that scheduled it, in a background worker: no password needed)."""
    prepare_if_needed(cron_db_url)
    role = f"cm_rt_cron_{secrets.token_hex(4)}"
    with psycopg.connect(cron_db_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE ROLE {} LOGIN PASSWORD {} IN ROLE churnml_admin").format(
            sql.Identifier(role), sql.Literal(PASSWORD)))
        conn.execute(sql.SQL("GRANT SELECT ON concept_a, concept_b TO {}").format(sql.Identifier(role)))
    try:
        yield role_url(cron_db_url, role, PASSWORD)
    finally:
        with psycopg.connect(cron_db_url, autocommit=True) as conn:
            conn.execute("SELECT cron.unschedule(jobid) FROM cron.job WHERE username = %s", (role,))
            conn.execute(sql.SQL("DROP OWNED BY {}").format(sql.Identifier(role)))
            conn.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(role)))


def prepare_if_needed(url: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        if conn.execute("SELECT to_regclass('public.concept_a') IS NULL").fetchone()[0]:
            for statement in SETUP[:2]:
                conn.execute(statement)


CRON_WAIT_SECONDS = 150  # pg_cron 1.4.2 schedules by the minute (seconds came in 1.5)


def test_pg_cron_runs_the_scheduled_retrain(cron_admin: str, cron_db_url: str) -> None:
    with psycopg.connect(cron_admin, autocommit=True) as conn:
        old = champion(conn, "scheduled")
        cur = conn.cursor(row_factory=dict_row)
        policy = cur.execute("SELECT * FROM churnml.schedule_retrain('scheduled', '* * * * *', 'concept_b', "
                             "min_gain => 0.02)").fetchone()
        assert policy is not None and policy["min_gain"] == 0.02 and policy["min_auc"] == 0.6
        assert '"$user", public' in policy["search_path"]
        job = cur.execute("SELECT jobid, jobname, schedule, command, database, username FROM cron.job "
                          "WHERE jobid = %s", (policy["cron_job_id"],)).fetchone()
        assert job is not None
        assert job["command"] == f"SELECT churnml.run_scheduled_retrain({policy['id']})"
        assert job["jobname"] == "churnml-retrain-scheduled" and job["schedule"] == "* * * * *"
        # scheduling again replaces the policy and the job, never adds one
        again = cur.execute("SELECT * FROM churnml.schedule_retrain('scheduled', '* * * * *', 'concept_b', "
                            "min_gain => 0.01)").fetchone()
        assert again is not None and again["id"] == policy["id"] and again["cron_job_id"] == policy["cron_job_id"]
        assert conn.execute("SELECT count(*) FROM cron.job").fetchone()[0] == 1
        deadline = time.monotonic() + CRON_WAIT_SECONDS
        row = None
        while time.monotonic() < deadline:
            row = cur.execute("SELECT * FROM churnml.retrain_history WHERE name = 'scheduled' "
                              "AND trigger = 'schedule' ORDER BY id LIMIT 1").fetchone()
            if row is not None:
                break
            time.sleep(2)
        assert row is not None, "pg_cron did not run the job within the wait: " + repr(conn.execute(
            "SELECT status, return_message FROM cron.job_run_details ORDER BY runid DESC LIMIT 3").fetchall())
        assert row["status"] == "promoted", row
        assert row["champion_id"] == old and row["details"]["min_gain"] == 0.01
        assert row["run_by"] == urlsplit(cron_admin).username
        removed = cur.execute("SELECT * FROM churnml.unschedule_retrain('scheduled')").fetchone()
        assert removed is not None and removed["id"] == policy["id"]
        assert conn.execute("SELECT count(*) FROM cron.job").fetchone()[0] == 0
        assert conn.execute("SELECT count(*) FROM churnml.retrain_policies").fetchone()[0] == 0
        assert current_model(conn, "scheduled") == row["challenger_id"]
    with psycopg.connect(cron_db_url, autocommit=True) as conn:
        runs = conn.execute("SELECT status FROM cron.job_run_details WHERE jobid = %s",
                            (policy["cron_job_id"],)).fetchall()
    assert ("succeeded",) in runs, runs


def test_retrain_by_hand_uses_the_policy(cron_admin: str) -> None:
    with psycopg.connect(cron_admin, autocommit=True) as conn:
        champion(conn, "policy_hand")
        conn.execute("SELECT churnml.schedule_retrain('policy_hand', '0 3 * * 1', 'concept_b', min_gain => 0.9)")
        try:
            row = retrain(conn, "policy_hand")
        finally:
            conn.execute("SELECT churnml.unschedule_retrain('policy_hand')")
    assert row["status"] == "kept" and row["details"]["source"] == "concept_b"
    assert row["details"]["min_gain"] == 0.9 and row["trigger"] == "manual"


def test_bad_schedules_are_refused_by_pg_crons_parser(cron_admin: str) -> None:
    with psycopg.connect(cron_admin, autocommit=True) as conn:
        champion(conn, "badcron")
        for schedule in ("every day", "61 * * * *", "* * * *", "*/0 * * * *"):
            with pytest.raises(psycopg.errors.InvalidParameterValue) as exc:
                conn.execute("SELECT churnml.schedule_retrain('badcron', %s, 'concept_b')", (schedule,))
            assert "invalid schedule" in str(exc.value) and "cron" in (exc.value.diag.message_hint or "")
        assert conn.execute("SELECT count(*) FROM churnml.retrain_policies WHERE name = 'badcron'").fetchone()[0] == 0
        assert conn.execute("SELECT count(*) FROM cron.job").fetchone()[0] == 0
