"""Faults against a real server: what breaks, what the client sees, and what keeps working.

* a corrupt model artifact is refused (deploy, and a fresh backend loading a deployed
  one) with SQLSTATE XX001, while the previous deployment keeps serving;
* a deploy during a running scoring statement: the statement finishes on one model,
  the next statement uses the new one;
* a backend terminated or cancelled mid-query: the normal error, other sessions and
  new connections unaffected;
* a server restart and a backend crash (SIGKILL, on a private server): models come
  back from the registry, same values, same deployments and thresholds;
* a runtime directory the server's OS user cannot read: clear errors at CREATE
  EXTENSION and at call time, and everything works again once it is readable.

Every fault ends with the registry rows as they were (or changed only by the
deploys the test made) and no crash lines in the server log except those a test
caused on purpose. The shared test server is never crashed: SIGKILL runs on a
private server in /tmp/churnml-faults-<uid>.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import signal
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from tests.conftest import TEST_HOME, private_path

CRASH_MARKS = ("terminated by signal", "PANIC", "TRAP:")
PRIVATE_ROOT = private_path("faults")

# Model B differs from A (the default model make_telco deploys) on almost every row.
TRAIN_B = ("SELECT churnml.train('churn', 'customers', 'churn', exclude => ARRAY['phone'], "
           "hyperparams => '{\"max_depth\": 2, \"eta\": 0.3}', seed => 3)")
# A source that takes ~2.5 s: every 200th row sleeps 0.25 s, spread over the whole scan.
SLOW_SOURCE = (
    """CREATE FUNCTION slow_gate(n bigint) RETURNS boolean LANGUAGE plpgsql VOLATILE AS
       $$BEGIN IF n % 200 = 0 THEN PERFORM pg_sleep(0.25); END IF; RETURN true; END$$""",
    """CREATE VIEW slow_customers AS
       SELECT s.* FROM (SELECT c.*, c.area_code || '/' || c.phone AS id, row_number() OVER () AS rn
                        FROM customers c) AS s
       WHERE slow_gate(s.rn)""",
)
PER_ROW = "SELECT c.area_code || '/' || c.phone, churnml.will_churn(c) FROM customers c"
BULK = ("SELECT key, probability FROM churnml.score("
        "'SELECT *, area_code || ''/'' || phone AS id FROM customers', 'id')")
SLOW_PER_ROW = "SELECT c.id, churnml.will_churn(c) FROM slow_customers c"
SLOW_BULK = "SELECT key, probability FROM churnml.score('slow_customers', 'id', batch_size => 50)"
# Everything a fault must leave alone: every column of every registry row.
REGISTRY_STATE = """
    SELECT (SELECT pg_catalog.md5(pg_catalog.string_agg(m::text, '|' ORDER BY m.id)) FROM churnml.models m),
           (SELECT pg_catalog.md5(pg_catalog.string_agg(a::text, '|' ORDER BY a.model_id))
            FROM churnml.model_artifacts a),
           (SELECT pg_catalog.md5(pg_catalog.string_agg(d::text, '|' ORDER BY d.id)) FROM churnml.deployments d),
           (SELECT pg_catalog.count(*) FROM churnml.deployments)"""
CURRENT = "SELECT model_id, threshold FROM churnml.current_deployments WHERE name = 'churn'"


# ---- helpers ------------------------------------------------------------------------
def connect(url: str) -> psycopg.Connection[Any]:
    return psycopg.connect(url, autocommit=True)


def values(conn: psycopg.Connection[Any], query: str = PER_ROW) -> dict[str, float]:
    return dict(conn.execute(query).fetchall())


def registry_state(conn: psycopg.Connection[Any]) -> tuple[Any, ...]:
    return tuple(conn.execute(REGISTRY_STATE).fetchone())


def flip_artifact_byte(conn: psycopg.Connection[Any], model_id: int) -> None:
    """As a superuser might by mistake: change one byte of the stored artifact (twice restores it)."""
    conn.execute("UPDATE churnml.model_artifacts SET artifact = set_byte(artifact, 100, get_byte(artifact, 100) # 1) "
                 "WHERE model_id = %s", (model_id,))


def assert_checksum_error(error: psycopg.Error, model_id: int) -> None:
    diag = error.diag
    assert diag.sqlstate == "XX001"
    assert diag.message_primary == f"churnml: the artifact of model {model_id} failed its checksum"
    assert "Stored SHA-256" in (diag.message_detail or "") and "computed" in (diag.message_detail or "")
    assert "redeploy another model" in (diag.message_hint or "")


def mostly_different(a: dict[str, float], b: dict[str, float]) -> bool:
    return a.keys() == b.keys() and sum(abs(a[k] - b[k]) > 1e-6 for k in a) > 0.9 * len(a)


class LogWatch:
    """The lines a server log gained since the watch started (None: the log is not ours to read)."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self.offset = path.stat().st_size if path is not None and path.exists() else 0

    def lines(self) -> list[str]:
        if self.path is None:
            return []
        with self.path.open("rb") as log:
            log.seek(self.offset)
            return log.read().decode("utf-8", "replace").splitlines()

    def crash_lines(self) -> list[str]:
        return [line for line in self.lines() if any(mark in line for mark in CRASH_MARKS)]


@pytest.fixture
def shared_log() -> LogWatch:
    if os.environ.get("CHURNML_TEST_DSN"):
        return LogWatch(None)
    from churnml_client.embedded_pg import EmbeddedServer

    return LogWatch(EmbeddedServer.from_environment(TEST_HOME).logfile)


class Background:
    """One statement running on its own connection in a thread."""

    def __init__(self, url: str, query: str) -> None:
        self.conn = connect(url)
        self.pid = self.conn.info.backend_pid
        self.rows: list[tuple[Any, ...]] | None = None
        self.error: psycopg.Error | None = None
        self.thread = threading.Thread(target=self._run, args=(query,), daemon=True)
        self.thread.start()

    def _run(self, query: str) -> None:
        try:
            self.rows = self.conn.execute(query).fetchall()
        except psycopg.Error as exc:
            self.error = exc

    def wait_until_sleeping(self, admin: psycopg.Connection[Any], timeout: float = 30) -> None:
        """Until the statement is inside the slow source (so it has started scoring)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            row = admin.execute("SELECT wait_event FROM pg_stat_activity WHERE pid = %s", (self.pid,)).fetchone()
            if row is not None and row[0] == "PgSleep":
                return
            assert self.thread.is_alive(), f"the statement ended early: {self.error}"
            time.sleep(0.02)
        raise AssertionError("the statement never reached the slow source")

    def join(self, timeout: float = 60) -> None:
        self.thread.join(timeout)
        assert not self.thread.is_alive(), "the statement did not finish"

    def close(self) -> None:
        self.conn.close()


@dataclasses.dataclass(frozen=True)
class Telco:
    url: str
    a: int  # deployed
    b: int  # trained, not deployed


@pytest.fixture(scope="module")
def telco_database(make_telco: Callable[..., str]) -> Telco:
    """2,000 customers, model A deployed as 'churn', model B trained, a slow view."""
    url = make_telco("faults", 2000, 11)
    with connect(url) as conn:
        a = conn.execute(CURRENT).fetchone()[0]
        b = conn.execute(TRAIN_B).fetchone()[0]
        for statement in SLOW_SOURCE:
            conn.execute(statement)
    return Telco(url=url, a=a, b=b)


@pytest.fixture
def telco(telco_database: Telco) -> Telco:
    """The module's database with model A serving at threshold 0.5 (tests deploy B)."""
    with connect(telco_database.url) as conn:
        if conn.execute(CURRENT).fetchone() != (telco_database.a, 0.5):
            conn.execute(f"SELECT churnml.deploy('churn', {telco_database.a}, threshold => 0.5)")
    return telco_database


# ---- 1. corrupt artifacts ---------------------------------------------------------
def test_deploying_a_corrupt_artifact_is_refused_and_the_old_model_keeps_serving(
        telco: Telco, shared_log: LogWatch) -> None:
    with connect(telco.url) as admin, connect(telco.url) as session, connect(telco.url) as other:
        reference = values(session)
        bulk_reference = values(session, BULK)
        assert values(other) == reference
        before = registry_state(admin)
        flip_artifact_byte(admin, telco.b)
        corrupted = registry_state(admin)
        try:
            for deploy in (f"SELECT * FROM churnml.deploy('churn', {telco.b})",
                           "SELECT * FROM churnml.deploy('churn', strategy => 'latest')",
                           f"SELECT * FROM churnml.deploy('churn', {telco.b}, threshold => 0.2)"):
                with pytest.raises(psycopg.errors.DataCorrupted) as info:
                    session.execute(deploy)
                assert_checksum_error(info.value, telco.b)
            # nothing was recorded, and model A serves: this session, another, a new one, bulk and per row
            assert registry_state(admin) == corrupted
            assert admin.execute(CURRENT).fetchone() == (telco.a, 0.5)
            assert values(session) == reference
            assert values(other) == reference
            assert values(session, BULK) == bulk_reference
            with connect(telco.url) as fresh:
                assert values(fresh) == reference
        finally:
            flip_artifact_byte(admin, telco.b)
        assert registry_state(admin) == before
        # the repaired artifact deploys
        session.execute(f"SELECT * FROM churnml.deploy('churn', {telco.b})")
        assert mostly_different(values(other), reference)
    assert shared_log.crash_lines() == []


def test_a_deployed_artifact_corrupted_in_place_fails_in_new_backends_only(
        telco: Telco, shared_log: LogWatch) -> None:
    with connect(telco.url) as admin, connect(telco.url) as warm:
        reference = values(warm)  # this backend verified and compiled model A
        before = registry_state(admin)
        flip_artifact_byte(admin, telco.a)
        try:
            with connect(telco.url) as fresh:
                for query in (PER_ROW, BULK, "SELECT * FROM churnml.explain_churn("
                              "(SELECT c FROM customers c LIMIT 1))",
                              "SELECT * FROM churnml.set_threshold('churn', 0.3)"):
                    with pytest.raises(psycopg.errors.DataCorrupted) as info:
                        fresh.execute(query)
                    assert_checksum_error(info.value, telco.a)
                assert fresh.execute("SELECT 1").fetchone() == (1,)  # the session is fine
                # the warm backend keeps serving the copy it verified before the damage
                assert values(warm) == reference
                # the hint's remedy: deploy another model, and every session serves it
                fresh.execute(f"SELECT * FROM churnml.deploy('churn', {telco.b})")
                with_b = values(fresh)
                assert mostly_different(with_b, reference)
                assert values(warm) == with_b
                # rolling back to the damaged model is refused just the same
                with pytest.raises(psycopg.errors.DataCorrupted) as info:
                    fresh.execute("SELECT * FROM churnml.rollback('churn')")
                assert_checksum_error(info.value, telco.a)
                assert values(fresh) == with_b
        finally:
            flip_artifact_byte(admin, telco.a)
        # once repaired, rollback brings A back everywhere
        admin.execute("SELECT * FROM churnml.rollback('churn')")
        assert values(warm) == reference
        with connect(telco.url) as fresh:
            assert values(fresh) == reference
        after = registry_state(admin)
        assert after[:2] == before[:2]  # no model row changed, every artifact repaired
        assert after[3] == before[3] + 2  # the two deployments made here, nothing else
        assert admin.execute(CURRENT).fetchone() == (telco.a, 0.5)
    assert shared_log.crash_lines() == []


# ---- 2. deploy during a running statement --------------------------------------------
@pytest.mark.parametrize("how", ["bulk", "per_row"])
def test_a_running_statement_finishes_on_one_model_and_the_next_uses_the_new_one(
        telco: Telco, shared_log: LogWatch, how: str) -> None:
    with_flag = {  # the probability and churn_flag, which reads the deployment's threshold
        "bulk": f"SELECT s.key, s.probability, churnml.churn_flag(s.probability) FROM ({SLOW_BULK}) AS s",
        "per_row": "SELECT c.id, churnml.will_churn(c), churnml.churn_flag(churnml.will_churn(c)) "
                   "FROM slow_customers c",
    }[how]
    with connect(telco.url) as admin:
        reference_a = values(admin, BULK if how == "bulk" else PER_ROW)  # same keys, same method
        before = registry_state(admin)
        running = Background(telco.url, with_flag)
        try:
            running.wait_until_sleeping(admin)
            admin.execute(f"SELECT * FROM churnml.deploy('churn', {telco.b}, threshold => 0.2)")
            assert running.thread.is_alive(), "the deploy must commit while the statement runs"
            running.join()
            assert running.error is None
            assert running.rows is not None
            during = {key: (p, flag) for key, p, flag in running.rows}
            # the whole result is model A's, with A's threshold
            assert during == {key: (p, p > 0.5) for key, p in reference_a.items()}
            # the next statement, same session, is model B's with B's threshold
            after = {key: (p, flag) for key, p, flag in running.conn.execute(with_flag).fetchall()}
        finally:
            running.close()
        with connect(telco.url) as fresh:
            reference_b = values(fresh, BULK if how == "bulk" else PER_ROW)
        assert mostly_different(reference_a, reference_b)
        assert after == {key: (p, p > 0.2) for key, p in reference_b.items()}
        state = registry_state(admin)
        assert state[:2] == before[:2] and state[3] == before[3] + 1
        assert admin.execute(CURRENT).fetchone() == (telco.b, 0.2)
    assert shared_log.crash_lines() == []


def test_a_deploy_takes_effect_at_the_next_statement_of_the_same_query_message(
        telco: Telco, shared_log: LogWatch) -> None:
    """Statements in one Query message share statement_timestamp(), the serving cache's key."""
    total = "SELECT sum(churnml.will_churn(c)) FROM customers c"
    with connect(telco.url) as conn:
        sum_a = conn.execute(total).fetchone()[0]
        cur = conn.execute(f"{total}; SELECT churnml.deploy('churn', {telco.b}); {total}; "
                           f"SELECT churnml.rollback('churn'); {total}; "
                           f"SELECT churnml.set_threshold('churn', 0.01); "
                           f"SELECT count(*) FILTER (WHERE churnml.churn_flag(churnml.will_churn(c))) "
                           f"FROM customers c")
        results = [cur.fetchall()]
        while cur.nextset():
            results.append(cur.fetchall())
        with connect(telco.url) as fresh:
            fresh.execute(f"SELECT churnml.deploy('churn', {telco.b})")
            sum_b = fresh.execute(total).fetchone()[0]
            fresh.execute("SELECT churnml.rollback('churn')")
            flagged = fresh.execute("SELECT count(*) FILTER (WHERE churnml.will_churn(c) > 0.01) "
                                    "FROM customers c").fetchone()[0]
    assert abs(sum_a - sum_b) > 1e-3
    assert results[0][0][0] == sum_a
    assert results[2][0][0] == sum_b  # after the deploy: model B
    assert results[4][0][0] == sum_a  # after the rollback: model A again
    assert results[6][0][0] == flagged  # after set_threshold: the new cutoff
    assert shared_log.crash_lines() == []


# ---- 3. a backend terminated or cancelled mid-query ----------------------------------
def test_terminated_and_cancelled_backends_leave_other_sessions_scoring(telco: Telco, shared_log: LogWatch) -> None:
    with connect(telco.url) as admin:
        reference = values(admin)  # the slow view's keys and rows are the table's
        bulk_reference = values(admin, BULK)
        before = registry_state(admin)

        # pg_terminate_backend during a bulk score; a bystander is scoring at the same time
        bystander = Background(telco.url, SLOW_PER_ROW)
        victim = Background(telco.url, SLOW_BULK)
        try:
            bystander.wait_until_sleeping(admin)
            victim.wait_until_sleeping(admin)
            assert admin.execute("SELECT pg_terminate_backend(%s)", (victim.pid,)).fetchone()[0]
            assert bystander.thread.is_alive()
            victim.join()
            assert isinstance(victim.error, psycopg.errors.AdminShutdown)
            assert victim.error.diag.sqlstate == "57P01"
            assert victim.error.diag.message_primary == "terminating connection due to administrator command"
            assert victim.conn.broken
            bystander.join()
            assert bystander.error is None
            assert dict(bystander.rows or []) == reference
            assert values(bystander.conn, BULK) == bulk_reference
        finally:
            victim.close()
            bystander.close()

        # pg_cancel_backend, per row (in the executor) and bulk (inside the scorer's SPI cursor):
        # the statement fails with 57014 and the same session goes on scoring correctly
        for slow, fast, expected in ((SLOW_PER_ROW, PER_ROW, reference), (SLOW_BULK, BULK, bulk_reference)):
            victim = Background(telco.url, slow)
            try:
                victim.wait_until_sleeping(admin)
                assert admin.execute("SELECT pg_cancel_backend(%s)", (victim.pid,)).fetchone()[0]
                victim.join()
                assert isinstance(victim.error, psycopg.errors.QueryCanceled)
                assert victim.error.diag.sqlstate == "57014"
                assert "canceling statement due to user request" in (victim.error.diag.message_primary or "")
                assert values(victim.conn, fast) == expected
            finally:
                victim.close()

        with connect(telco.url) as fresh:
            assert values(fresh) == reference
        assert registry_state(admin) == before
    assert shared_log.crash_lines() == []


# ---- 4 and 5. a private server: restart, backend crash, unreadable runtime ------------
@dataclasses.dataclass
class Private:
    server: Any  # EmbeddedServer
    site: Path
    url: str


def build_runtime_tree(real: Path, site: Path) -> None:
    """The installed runtime as symlinks, except churnml's own package, copied so it can be locked."""
    site.mkdir(parents=True)
    for entry in real.iterdir():
        if entry.name == "churnml":
            shutil.copytree(entry, site / entry.name, symlinks=True)
        else:
            (site / entry.name).symlink_to(entry)
    for path in (site.parent.parent, site.parent, site, site / "churnml"):
        path.chmod(0o755)


@pytest.fixture(scope="module")
def private(embedded_server: Any) -> Iterator[Private]:
    """A private embedded server whose PYTHONPATH is a runtime tree of our own, with model B
    deployed at threshold 0.3 over model A, and a slow view."""
    from churnml_client import datagen
    from churnml_client.embedded_pg import EmbeddedServer

    shutil.rmtree(PRIVATE_ROOT, ignore_errors=True)
    site = PRIVATE_ROOT / "runtime" / "site"
    build_runtime_tree(Path(embedded_server.info.runtime_site), site)
    info = dataclasses.replace(embedded_server.info, runtime_site=str(site))
    server = EmbeddedServer(home=PRIVATE_ROOT / "home", info=info)
    server.start(database="")
    try:
        server.ensure_database("faults")
        url = server.url("faults")
        with psycopg.connect(url) as conn:
            datagen.load(conn, 1500, 5, progress=False)
        with connect(url) as conn:
            conn.execute("SELECT churnml.train('churn', 'customers', 'churn', exclude => ARRAY['phone'], "
                         "deploy => true)")
            b = conn.execute(TRAIN_B).fetchone()[0]
            conn.execute(f"SELECT churnml.deploy('churn', {b}, threshold => 0.3)")
            for statement in SLOW_SOURCE:
                conn.execute(statement)
        yield Private(server=server, site=site, url=url)
    finally:
        for path in (site, site / "churnml"):
            if path.exists():
                path.chmod(0o755)
        server.stop()
        shutil.rmtree(PRIVATE_ROOT, ignore_errors=True)


def snapshot(url: str) -> dict[str, Any]:
    with connect(url) as conn:
        return {
            "per_row": values(conn),
            "bulk": values(conn, BULK),
            "flagged": conn.execute("SELECT count(*) FILTER (WHERE churnml.churn_flag(churnml.will_churn(c))) "
                                    "FROM customers c").fetchone()[0],
            "current": conn.execute(CURRENT).fetchone(),
            "registry": registry_state(conn),
        }


def wait_for_connections(url: str, timeout: float = 60) -> psycopg.Connection[Any]:
    deadline = time.monotonic() + timeout
    while True:
        try:
            return connect(url)
        except psycopg.OperationalError:  # "the database system is in recovery mode", ...
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def test_models_reload_from_the_registry_after_a_restart(private: Private) -> None:
    before = snapshot(private.url)
    assert before["current"][1] == 0.3
    log = LogWatch(private.server.logfile)
    private.server.stop()
    assert private.server.running_pid() is None
    private.server.start(database="")
    assert snapshot(private.url) == before
    assert log.crash_lines() == []


def test_a_crashed_backend_restarts_the_server_and_models_reload(private: Private) -> None:
    """SIGKILL on a backend: PostgreSQL ends every session and recovers; new sessions score as before."""
    before = snapshot(private.url)
    log = LogWatch(private.server.logfile)
    with connect(private.url) as admin, connect(private.url) as other:
        assert values(other) == before["per_row"]
        victim = Background(private.url, SLOW_PER_ROW)
        try:
            victim.wait_until_sleeping(admin)
            os.kill(victim.pid, signal.SIGKILL)
            victim.join()
            assert isinstance(victim.error, psycopg.OperationalError)
        finally:
            victim.close()
        # the postmaster ends every other backend too: this is PostgreSQL's crash recovery
        deadline = time.monotonic() + 30
        with pytest.raises(psycopg.OperationalError):  # until the postmaster gets to it
            while time.monotonic() < deadline:
                other.execute("SELECT 1")
                time.sleep(0.05)
    with wait_for_connections(private.url) as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)
    assert snapshot(private.url) == before
    crashes = log.crash_lines()
    assert crashes, "the kill should be in the log"
    assert all(f"PID {victim.pid}) was terminated by signal 9" in line for line in crashes), crashes
    assert any("all server processes terminated; reinitializing" in line for line in log.lines())


@pytest.mark.parametrize("locked", ["churnml package", "site directory"])
def test_an_unreadable_runtime_gives_clear_errors_until_it_is_readable_again(private: Private, locked: str) -> None:
    before = snapshot(private.url)
    log = LogWatch(private.server.logfile)
    target = private.site / "churnml" if locked == "churnml package" else private.site
    database = f"faults_new_{locked.split()[0]}"
    private.server.ensure_database(database, ensure_extension=False)
    with connect(private.url) as warm:
        assert values(warm) == before["per_row"]  # this backend imported the runtime already
        target.chmod(0)
        try:
            # CREATE EXTENSION: the install check names the directory, the OS user and the fix
            with connect(private.server.url(database)) as conn:
                with pytest.raises(psycopg.errors.UndefinedFile) as info:
                    conn.execute("CREATE EXTENSION churnml CASCADE")
                diag = info.value.diag
                assert diag.sqlstate == "58P01"
                assert "churnml's Python code is not importable in this server" in (diag.message_primary or "")
                assert str(target) in (diag.message_detail or "")
                assert f"The server's OS user {private.server.os_user} cannot read" in (diag.message_detail or "")
                assert "readable" in (diag.message_hint or "") and "reconnect" in (diag.message_hint or "")
                assert conn.execute("SELECT count(*) FROM pg_extension WHERE extname = 'churnml'").fetchone() == (0,)
            # a call in a new session of a database that has churnml: an error with a SQLSTATE, no crash
            with connect(private.url) as conn:
                with pytest.raises(psycopg.Error) as info:
                    conn.execute(PER_ROW)
                diag = info.value.diag
                assert diag.sqlstate in ("38000", "58P01"), diag.sqlstate  # external_routine_exception
                assert "No module named 'churnml" in (diag.message_primary or "")
                assert conn.execute("SELECT 1").fetchone() == (1,)
                assert conn.execute("SELECT churnml.version()").fetchone()[0]  # SQL functions still work
            # the backend that had imported the runtime keeps scoring
            assert values(warm) == before["per_row"]
        finally:
            target.chmod(0o755)
    # readable again: new sessions score as before, and CREATE EXTENSION succeeds
    assert snapshot(private.url) == before
    with connect(private.server.url(database)) as conn:
        conn.execute("CREATE EXTENSION churnml CASCADE")
        assert conn.execute("SELECT churnml.version()").fetchone()[0] == private.server.info.version
    assert log.crash_lines() == []
