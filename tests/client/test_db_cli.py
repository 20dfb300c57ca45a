"""`churnml db ...` end to end: its own CHURNML_HOME, a real server, the real CLI."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from tests.conftest import VENV_BIN, private_path

HOME = private_path("cli")


def churnml(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "CHURNML_HOME": str(HOME)}
    result = subprocess.run([str(VENV_BIN / "churnml"), *args], env=env, capture_output=True, text=True,
                            timeout=180, check=False)
    if check and result.returncode != 0:
        raise AssertionError(f"churnml {' '.join(args)} failed: {result.stdout}{result.stderr}")
    return result


@pytest.fixture(scope="module")
def home(embedded_server) -> Iterator[Path]:
    shutil.rmtree(HOME, ignore_errors=True)
    yield HOME
    churnml("db", "stop", check=False)
    shutil.rmtree(HOME, ignore_errors=True)


def postmaster_pid() -> int:
    return int((HOME / "pgdata" / "postmaster.pid").read_text().splitlines()[0])


@pytest.mark.slow
def test_start_status_url_psql_stop(home: Path) -> None:
    started = churnml("db", "start")
    assert "CREATE EXTENSION churnml in telco" in started.stdout
    assert churnml("db", "status").returncode == 0
    url = churnml("db", "url").stdout.strip()
    assert url.startswith("postgresql://postgres:") and url.endswith("/telco")
    with psycopg.connect(url) as conn:
        assert conn.execute("SELECT extversion FROM pg_extension WHERE extname = 'churnml'").fetchone()[0]
        assert conn.execute("SHOW listen_addresses").fetchone()[0] == "127.0.0.1"
        assert conn.execute("SHOW unix_socket_directories").fetchone()[0] == str(home / "run")
    out = churnml("db", "psql", "-X", "-A", "-t", "-c", "SELECT current_database()")
    assert out.stdout.strip() == "telco"
    # the password travels in the environment, never in psql's argv
    assert "PGPASSWORD" not in out.stdout
    assert (home / "password").stat().st_mode & 0o077 == 0
    assert (home / "run").stat().st_mode & 0o077 == 0
    # pg_cron runs scheduled retraining: preloaded, reading jobs from telco in background workers,
    # its extension there, and usable by churnml_admin (docs/retraining.md)
    assert "CREATE EXTENSION pg_cron in telco" in started.stdout
    with psycopg.connect(url) as conn:
        assert conn.execute("SELECT current_setting('shared_preload_libraries'), "
                            "current_setting('cron.database_name'), current_setting('cron.use_background_workers')"
                            ).fetchone() == ("pg_cron", "telco", "on")
        assert conn.execute("SELECT has_schema_privilege('churnml_admin', 'cron', 'USAGE')").fetchone()[0]
        assert conn.execute("SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'pg_cron launcher' "
                            "AND datname = 'telco'").fetchone()[0] == 1
    # starting again is a no-op that still answers
    assert "starting PostgreSQL" not in churnml("db", "start").stdout
    assert churnml("db", "stop").stdout.strip() == "churnml: server stopped"
    assert churnml("db", "status", check=False).returncode == 3
    assert churnml("db", "stop").stdout.strip() == "churnml: server was not running"


@pytest.mark.slow
def test_restart_keeps_data(home: Path) -> None:
    churnml("db", "start")
    url = churnml("db", "url").stdout.strip()
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("DROP TABLE IF EXISTS kept; CREATE TABLE kept AS SELECT 42 AS answer")
    churnml("db", "stop")
    churnml("db", "start")
    with psycopg.connect(churnml("db", "url").stdout.strip()) as conn:
        assert conn.execute("SELECT answer FROM kept").fetchone()[0] == 42


@pytest.mark.slow
def test_start_after_crash_with_stale_pidfile(home: Path) -> None:
    churnml("db", "start")
    pid = postmaster_pid()
    os.kill(pid, signal.SIGKILL)  # we started it; simulate a crash
    deadline = time.time() + 30
    while Path(f"/proc/{pid}").exists() and time.time() < deadline:
        time.sleep(0.1)
    assert (home / "pgdata" / "postmaster.pid").exists()  # stale
    churnml("db", "start")
    assert postmaster_pid() != pid
    with psycopg.connect(churnml("db", "url").stdout.strip()) as conn:
        assert conn.execute("SELECT 1").fetchone()[0] == 1


@pytest.mark.slow
def test_port_taken_while_stopped_moves_to_a_free_port(home: Path) -> None:
    churnml("db", "start")
    old_port = int(churnml("db", "url").stdout.strip().rsplit(":", 1)[1].split("/")[0])
    churnml("db", "stop")
    with socket.socket() as squatter:
        squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # the old port may be in TIME_WAIT
        squatter.bind(("127.0.0.1", old_port))
        squatter.listen()
        out = churnml("db", "start")
        assert f"port {old_port} is taken" in out.stdout
    new_url = churnml("db", "url").stdout.strip()
    assert f":{old_port}/" not in new_url
    with psycopg.connect(new_url) as conn:
        assert conn.execute("SELECT 1").fetchone()[0] == 1


def test_a_database_from_an_earlier_build_is_re_created(embedded_server, make_database) -> None:
    """Same version, other SQL (a development build): `churnml db start` must not leave stale definitions."""
    import psycopg

    url = make_database("stale")
    database = url.rsplit("/", 1)[1]
    with psycopg.connect(url, autocommit=True) as conn:
        current = conn.execute("SELECT churnml._build_id()").fetchone()[0]
        conn.execute("CREATE OR REPLACE FUNCTION churnml._build_id() RETURNS text LANGUAGE sql "
                      "AS $$ SELECT 'an-earlier-build'::text $$")
        conn.execute("CREATE TABLE kept (i int)")  # user data outside the extension stays
    embedded_server.ensure_database(database)
    with psycopg.connect(url, autocommit=True) as conn:
        assert conn.execute("SELECT churnml._build_id()").fetchone()[0] == current
        assert conn.execute("SELECT to_regclass('public.kept') IS NOT NULL").fetchone()[0]
    embedded_server.ensure_database(database)  # now current: nothing to do


def test_an_earlier_build_holding_models_or_settings_is_not_dropped_without_asking(embedded_server,
                                                                                    make_database) -> None:
    import psycopg

    from churnml_client.embedded_pg import ServerError

    url = make_database("stale")
    database = url.rsplit("/", 1)[1]
    with psycopg.connect(url, autocommit=True) as conn:
        current = conn.execute("SELECT churnml._build_id()").fetchone()[0]
        conn.execute("CREATE OR REPLACE FUNCTION churnml._build_id() RETURNS text LANGUAGE sql "
                     "AS $$ SELECT 'an-earlier-build'::text $$")
        conn.execute("SELECT churnml.set_business_costs('churn', 50, 500)")
    with pytest.raises(ServerError) as refused:
        embedded_server.ensure_database(database)
    assert "would drop 1 business costs" in str(refused.value) and "--recreate-extension" in str(refused.value)
    with psycopg.connect(url, autocommit=True) as conn:
        assert conn.execute("SELECT count(*) FROM churnml.business_costs").fetchone()[0] == 1
    embedded_server.ensure_database(database, recreate_extension=True)
    with psycopg.connect(url, autocommit=True) as conn:
        assert conn.execute("SELECT churnml._build_id()").fetchone()[0] == current
        assert conn.execute("SELECT count(*) FROM churnml.business_costs").fetchone()[0] == 0
