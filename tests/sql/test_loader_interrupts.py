"""The loaders stop when asked, within about a second, and leave nothing behind.

For export_query, load_from_s3, aws_s3.query_export_to_s3 and aws_s3.table_import_from_s3,
and each way of asking (statement_timeout, pg_cancel_backend from another session,
pg_terminate_backend), work that runs for many seconds when left alone is asked to stop
after ASK_AFTER seconds (tests/sql/test_interrupts.py's pattern) and the delay is measured
(printed with -s) and must stay under LATE_S. Then: no parts, no manifest, no multipart
upload, no upload helper, no rows, no load_history row, no spool file; the session (when
it survives) answers its next statement.

What is interrupted where:
- the exports are in COPY (C, which checks for interrupts itself) while the upload helper
  uploads; stopping includes the helper undoing the parts it wrote;
- load_from_s3 with mode 'prefix' is downloading objects one after the other, in Python:
  churnml.interrupts.check() between chunks is what stops it;
- table_import_from_s3 reads one object, then COPY FROM runs a slow trigger per row.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psycopg
import pytest

from churnml_loaders.s3_client import S3Client
from churnml_loaders.s3_config import S3Config
from tests.sql.conftest import declare_storage
from tests.sql.stop_requests import ASK_AFTER, report, run_until_asked, stop_request

BUCKET = "churnml"
LATE_S = 1.5
OBJECTS = 1500  # one-row objects: load_from_s3 in prefix mode downloads them for several seconds
SLOW_QUERY = ("SELECT i, repeat('x', 200) AS pad, CASE WHEN i % 250 = 0 THEN pg_sleep(0.03) END AS s "
              "FROM generate_series(1, 80000) AS i")  # ~10 s of COPY, parts going up meanwhile

CALLS = {
    "export_query": ("SELECT * FROM churnml.export_query(%s, 's3://churnml/intr/export', part_size => 1000000, "
                     "overwrite => true)", (SLOW_QUERY,), "intr/export"),
    "query_export_to_s3": ("SELECT * FROM aws_s3.query_export_to_s3(%s, 'churnml', 'intr/aws-export.csv')",
                           (SLOW_QUERY,), "intr/aws-export"),
    "load_from_s3": ("SELECT churnml.load_from_s3('intr_target', 's3://churnml/intr-in/many/', mode => 'prefix')",
                     (), None),
    "table_import_from_s3": ("SELECT aws_s3.table_import_from_s3('intr_slow_target', '', '(format csv)', "
                             "'churnml', 'intr-in/rows.csv', 'us-east-1')", (), None),
}


@pytest.fixture(scope="module")
def slow_db(make_telco: Callable[..., str], configured: S3Config) -> str:
    url = declare_storage(make_telco("loaderintr", 100, 3))
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE EXTENSION churnml_aws")
        conn.execute("CREATE TABLE intr_target (n int, t text)")
        conn.execute("CREATE TABLE intr_slow_target (n int, t text)")
        conn.execute("CREATE FUNCTION slow_row() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
                     "IF NEW.n % 100 = 0 THEN PERFORM pg_sleep(0.01); END IF; RETURN NEW; END $$")
        conn.execute("CREATE TRIGGER slow BEFORE INSERT ON intr_slow_target FOR EACH ROW EXECUTE FUNCTION slow_row()")
    with S3Client(configured) as client:
        client.put_object(BUCKET, "intr-in/rows.csv", b"".join(b"%d,row\n" % n for n in range(200_000)))

    def put(index: int) -> None:
        with S3Client(configured) as own:
            own.put_object(BUCKET, f"intr-in/many/{index:05d}.csv", b"%d,one row\n" % index)

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(put, range(OBJECTS)))
    return url


@pytest.fixture
def session(slow_db: str) -> Iterator[psycopg.Connection]:
    with psycopg.connect(slow_db, autocommit=True) as conn:
        conn.execute("SET client_min_messages = warning")
        yield conn


def _nothing_left(slow_db: str, configured: S3Config, name: str, pid: int) -> None:
    prefix = CALLS[name][2]
    with psycopg.connect(slow_db, autocommit=True) as conn:
        assert conn.execute("SELECT count(*) FROM intr_target").fetchone()[0] == 0
        assert conn.execute("SELECT count(*) FROM intr_slow_target").fetchone()[0] == 0
        assert conn.execute("SELECT count(*) FROM churnml.load_history").fetchone()[0] == 0
        tmp_dir = Path(conn.execute("SHOW data_directory").fetchone()[0]) / "base" / "pgsql_tmp"
    deadline = time.monotonic() + 10
    while tmp_dir.exists() and list(tmp_dir.glob(f"pgsql_tmp{pid}.*")):
        assert time.monotonic() < deadline, "a spool file was left behind"
        time.sleep(0.05)
    if prefix is not None:
        with S3Client(configured) as client:
            deadline = time.monotonic() + 30  # after a terminate, the helper cleans up on its own
            while [o.key for o in client.list_objects(BUCKET, prefix)]:
                assert time.monotonic() < deadline, "parts were left behind"
                time.sleep(0.1)
            assert client.list_multipart_uploads(BUCKET, "intr/") == []


@pytest.mark.slow
@pytest.mark.parametrize("name", list(CALLS))
def test_statement_timeout(session: psycopg.Connection, slow_db: str, configured: S3Config, name: str) -> None:
    statement, params, _ = CALLS[name]
    session.execute(f"SET statement_timeout = '{int(ASK_AFTER * 1000)}ms'")
    error, delay = run_until_asked(session, statement, lambda: None, params)
    report(name, "statement_timeout", delay)
    assert error.sqlstate == "57014", error
    assert "statement timeout" in str(error)
    assert delay < LATE_S
    session.execute("SET statement_timeout = 0")
    _nothing_left(slow_db, configured, name, session.info.backend_pid)
    assert session.execute("SELECT pg_sleep(0.2), 1").fetchone()[1] == 1  # no stray cancel either


@pytest.mark.slow
@pytest.mark.parametrize("name", list(CALLS))
def test_pg_cancel_backend(session: psycopg.Connection, slow_db: str, configured: S3Config, name: str) -> None:
    statement, params, _ = CALLS[name]
    error, delay = run_until_asked(session, statement, stop_request(session, slow_db, "pg_cancel_backend"), params)
    report(name, "pg_cancel_backend", delay)
    assert error.sqlstate == "57014", error
    assert "user request" in str(error)
    assert delay < LATE_S
    _nothing_left(slow_db, configured, name, session.info.backend_pid)
    assert session.execute("SELECT pg_sleep(0.2), 1").fetchone()[1] == 1


@pytest.mark.slow
@pytest.mark.parametrize("name", list(CALLS))
def test_pg_terminate_backend(slow_db: str, configured: S3Config, name: str) -> None:
    statement, params, _ = CALLS[name]
    conn = psycopg.connect(slow_db, autocommit=True)
    pid = conn.info.backend_pid

    def terminate() -> None:
        with psycopg.connect(slow_db, autocommit=True) as other:
            other.execute("SELECT pg_terminate_backend(%s)", [pid])

    try:
        error, delay = run_until_asked(conn, statement, terminate, params)
    finally:
        conn.close()
    report(name, "pg_terminate_backend", delay)
    assert isinstance(error, psycopg.OperationalError), error
    assert delay < LATE_S
    with psycopg.connect(slow_db, autocommit=True) as other:
        deadline = time.monotonic() + 5
        while other.execute("SELECT count(*) FROM pg_stat_activity WHERE pid = %s", [pid]).fetchone()[0]:
            assert time.monotonic() < deadline, "the terminated backend is still there"
            time.sleep(0.05)
    _nothing_left(slow_db, configured, name, pid)
