"""Shared fixtures: a real PostgreSQL server with the real churnml extension.

The server is the embedded one (`churnml db`), started once per test session in
its own CHURNML_HOME so it never touches the demo's, or any server named by
CHURNML_TEST_DSN (a superuser URL; databases are created on it).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest
from psycopg import sql

if TYPE_CHECKING:
    from churnml_client.embedded_pg import EmbeddedServer

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"
VENV_BIN = REPO / ".venv" / "bin"
# Short, and readable by the `postgres` OS user (the repo may live under /root).
TEST_HOME = Path(os.environ.get("CHURNML_TEST_HOME", f"/tmp/churnml-test-{os.getuid()}"))


def private_path(purpose: str) -> Path:
    """A directory name for a test's private servers or files, beside TEST_HOME (so two test
    runs with different CHURNML_TEST_HOMEs never share one)."""
    return TEST_HOME.with_name(f"{TEST_HOME.name}-{purpose}")


def with_database(url: str, database: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path="/" + database))


@pytest.fixture(scope="session")
def server_url() -> Iterator[str]:
    """URL of a superuser connection to the test server's `postgres` database."""
    dsn = os.environ.get("CHURNML_TEST_DSN")
    if dsn:
        yield with_database(dsn, "postgres")
        return
    from churnml_client.embedded_pg import EmbeddedServer

    server = EmbeddedServer.from_environment(TEST_HOME)
    was_running = server.running_pid() is not None
    server.start(database="")
    try:
        yield server.url("postgres")
    finally:
        if not was_running:
            server.stop()


@pytest.fixture(scope="session")
def embedded_server(server_url: str) -> EmbeddedServer:
    """The embedded server object, for tests about the server itself."""
    if os.environ.get("CHURNML_TEST_DSN"):
        pytest.skip("CHURNML_TEST_DSN names an external server")
    from churnml_client.embedded_pg import EmbeddedServer

    return EmbeddedServer.from_environment(TEST_HOME)


@pytest.fixture(scope="session")
def make_database(server_url: str) -> Iterator[Callable[..., str]]:
    """Create a fresh database (optionally with churnml); dropped at session end."""
    created: list[str] = []

    def make(prefix: str = "t", *, extension: bool = True) -> str:
        name = f"{prefix}_{uuid.uuid4().hex[:8]}"
        with psycopg.connect(server_url, autocommit=True) as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        created.append(name)
        url = with_database(server_url, name)
        if extension:
            with psycopg.connect(url, autocommit=True) as conn:
                conn.execute("CREATE EXTENSION churnml CASCADE")
        return url

    yield make
    with psycopg.connect(server_url, autocommit=True) as conn:
        for name in created:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@pytest.fixture(scope="session")
def db_url(make_database: Callable[..., str]) -> str:
    """One database with churnml installed, shared by the session's tests."""
    return make_database("churnml")


@pytest.fixture(scope="session")
def cron_db_url(server_url: str) -> str:
    """A superuser URL of pg_cron's database (cron.database_name) with churnml freshly created in it, and no
    pg_cron job left from earlier runs: scheduled jobs run only there. Skips when the server does not load
    pg_cron (an external CHURNML_TEST_DSN server may not)."""
    with psycopg.connect(server_url, autocommit=True) as conn:
        preload = conn.execute("SELECT current_setting('shared_preload_libraries')").fetchone()[0]
        database = conn.execute("SELECT current_setting('cron.database_name', true)").fetchone()[0]
    if "pg_cron" not in preload or not database:
        pytest.skip("the test server does not load pg_cron (shared_preload_libraries)")
    url = with_database(server_url, database)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS pg_cron")
        conn.execute("SELECT cron.unschedule(jobid) FROM cron.job")
        conn.execute("DELETE FROM cron.job_run_details")
        conn.execute("DROP EXTENSION IF EXISTS churnml CASCADE")
        conn.execute("CREATE EXTENSION churnml CASCADE")
        conn.execute("GRANT USAGE ON SCHEMA cron TO churnml_admin")
    return url


@pytest.fixture
def conn(db_url: str) -> Iterator[psycopg.Connection]:
    with psycopg.connect(db_url, autocommit=True) as connection:
        yield connection


def psql_binary() -> str:
    for candidate in ("/usr/lib/postgresql/15/bin/psql", shutil.which("psql")):
        if candidate and Path(candidate).exists():
            return candidate
    pytest.skip("psql not found")
    raise AssertionError


def run_psql(url: str, *args: str, input_text: str | None = None, cwd: Path | None = None,
             ) -> subprocess.CompletedProcess[str]:
    """psql with the URL's password in the environment; stderr merged into stdout like pg_regress."""
    parts = urlsplit(url)
    env = {**os.environ, "PGPASSWORD": parts.password or "", "PGTZ": "UTC", "PGDATESTYLE": "ISO, MDY"}
    no_password = urlunsplit(parts._replace(netloc=f"{parts.username}@{parts.hostname}:{parts.port}"))
    return subprocess.run(
        [psql_binary(), "-X", "-d", no_password, *args],
        input=input_text, env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, check=False,
    )


def dump_and_restore(source: str, target: str) -> subprocess.CompletedProcess[bytes]:
    """pg_dump -Fc of `source` restored into `target` with --exit-on-error; the restore's result."""
    env = {**os.environ, "PGPASSWORD": urlsplit(source).password or ""}
    bindir = json.loads(subprocess.run([str(VENV_BIN / "python"), "-m", "churnml_client.install_info", "show"],
                                       capture_output=True, text=True, check=True).stdout)["pg_bindir"]

    def no_password(url: str) -> str:
        p = urlsplit(url)
        return p._replace(netloc=f"{p.username}@{p.hostname}:{p.port}").geturl()

    dump = subprocess.run([f"{bindir}/pg_dump", "-Fc", "-d", no_password(source)], env=env, capture_output=True,
                          check=True).stdout
    return subprocess.run([f"{bindir}/pg_restore", "--exit-on-error", "-d", no_password(target)], input=dump,
                          env=env, capture_output=True, check=False)


@pytest.fixture(scope="session")
def docker_engine() -> None:
    """testcontainers needs a Docker engine; without one, container tests skip with the reason."""
    try:
        import docker

        docker.from_env(timeout=5).ping()
    except Exception as exc:  # noqa: BLE001 - any failure to reach the engine means "skip"
        pytest.skip(f"no Docker engine answers ({type(exc).__name__}); testcontainers tests need one")


@pytest.fixture(scope="session")
def postgres_container(docker_engine: None) -> Iterator[str]:
    """A throwaway PostgreSQL container (no churnml in it): for client-side tools."""
    from testcontainers.postgres import PostgresContainer

    with PostgresContainer("postgres:15", driver=None) as container:
        yield container.get_connection_url()


@pytest.fixture(scope="session")
def minio_container(docker_engine: None) -> Iterator[dict[str, str]]:
    """A MinIO container: endpoint and credentials for S3 tests."""
    from testcontainers.minio import MinioContainer

    with MinioContainer() as container:
        config = container.get_config()
        yield {"endpoint_url": f"http://{config['endpoint']}", "access_key": config["access_key"],
               "secret_key": config["secret_key"]}


@pytest.fixture(scope="session")
def make_telco(make_database: Callable[..., str]) -> Callable[..., str]:
    """A fresh database with generated demo customers and a deployed model 'churn'."""

    def make(prefix: str, customers: int, seed: int) -> str:
        from churnml_client import datagen

        url = make_database(prefix)
        with psycopg.connect(url) as conn:
            datagen.load(conn, customers, seed, progress=False)
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("SELECT churnml.train('churn', 'customers', 'churn', exclude => ARRAY['phone'], "
                         "deploy => true)")
        return url

    return make
