"""export_query's upload helper process, from SQL: cancel, terminate, S3 outage, secrets.

The helper (churnml_loaders.upload_helper) uploads parts while COPY writes the spool
file; these tests stop an export while parts are already uploaded and check that
nothing is left: no parts, no manifest, no multipart upload, no helper process, no
spool file.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from churnml_loaders.s3_client import S3Client
from churnml_loaders.s3_config import S3Config
from tests.loaders.conftest import crash
from tests.sql.conftest import declare_storage, write_server_config

BUCKET = "churnml"
# ~17 MB of CSV over `seconds`: COPY is still writing while the first parts (1 MB each) go up.
ROWS = 80000


def _slow(seconds: float) -> str:
    return (f"SELECT i, repeat(''x'', 200) AS pad, CASE WHEN i % 250 = 0 THEN pg_sleep({seconds / 320}) END AS s "
            f"FROM generate_series(1, {ROWS}) AS i")


@pytest.fixture(scope="module")
def telco(make_telco: Callable[..., str], configured: S3Config) -> str:
    return declare_storage(make_telco("exporthelper", 100, 5))


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _objects(client: S3Client, prefix: str) -> list[str]:
    return [o.key for o in client.list_objects(BUCKET, prefix)]


def _wait_for(condition: Callable[[], bool], seconds: float = 30) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.01)
    return False


class _Export:
    """export_query of SLOW in a thread; the backend's pid, and its helper once it runs."""

    def __init__(self, url: str, prefix: str, seconds: float) -> None:
        self.conn = psycopg.connect(url, autocommit=True)
        self.pid = self.conn.execute("SELECT pg_backend_pid()").fetchone()[0]
        self.tmp_dir = Path(self.conn.execute("SHOW data_directory").fetchone()[0]) / "base" / "pgsql_tmp"
        self.prefix = prefix
        self.query = _slow(seconds)
        self.error: BaseException | None = None
        self.result: tuple[int, int, int] | None = None
        self.thread = threading.Thread(target=self._run)

    def _run(self) -> None:
        try:
            self.result = self.conn.execute(f"SELECT * FROM churnml.export_query('{self.query}', "
                                            f"'s3://{BUCKET}/{self.prefix}', part_size => 1000000)").fetchone()
        except BaseException as exc:  # noqa: BLE001 - the test looks at it
            self.error = exc

    def start(self) -> _Export:
        self.thread.start()
        return self

    def helper(self) -> int:
        assert _wait_for(lambda: bool(_children(self.pid))), "no upload helper started"
        return _children(self.pid)[0]

    def finish(self) -> None:
        self.thread.join(60)
        assert not self.thread.is_alive()

    def spool_files(self) -> list[Path]:
        return list(self.tmp_dir.glob(f"pgsql_tmp{self.pid}.*")) if self.tmp_dir.exists() else []


@pytest.fixture
def export(telco: str) -> Iterator[Callable[..., _Export]]:
    made: list[_Export] = []

    def make(prefix: str, seconds: float = 4) -> _Export:
        made.append(_Export(telco, prefix, seconds))
        return made[-1]

    yield make
    for e in made:
        e.conn.close()


def test_an_export_uploads_parts_while_copy_runs_and_keeps_secrets_out_of_argv_and_environment(
        export: Callable[..., _Export], configured: S3Config) -> None:
    with S3Client(configured) as client:
        run = export("live/x").start()
        helper = run.helper()
        cmdline = Path(f"/proc/{helper}/cmdline").read_bytes()
        environ = Path(f"/proc/{helper}/environ").read_bytes()
        assert b"churnml_loaders.upload_helper" in cmdline
        for secret in configured.secrets():
            assert secret.encode() not in cmdline and secret.encode() not in environ
        assert b"AWS_" not in environ  # nothing of the server's environment beyond what imports need
        # parts are in S3 before the statement returns: the upload overlaps COPY
        assert _wait_for(lambda: len(_objects(client, "live/x")) >= 2 or not run.thread.is_alive())
        assert run.thread.is_alive() and "live/x.manifest" not in _objects(client, "live/x")
        run.finish()
        assert run.error is None, run.error
        assert run.result is not None and run.result[0] == ROWS
        keys = _objects(client, "live/x")
        assert len(keys) == run.result[1] + 1 and "live/x.manifest" in keys
        assert not _alive(helper) and not _children(run.pid)


def _stopped_mid_export(export: Callable[..., _Export], client: S3Client, prefix: str,
                        stop: Callable[[int], object]) -> tuple[_Export, Any]:
    """Start an export to `prefix`, call stop(backend pid) once two of its objects exist, wait for it to end."""
    run = export(prefix).start()
    helper = run.helper()
    assert _wait_for(lambda: len(_objects(client, prefix)) >= 2)
    stop(run.pid)
    run.finish()
    return run, helper


def test_cancelling_an_export_removes_its_parts_and_its_helper(export: Callable[..., _Export],
                                                               configured: S3Config, telco: str) -> None:
    with S3Client(configured) as client, psycopg.connect(telco, autocommit=True) as other:
        run, helper = _stopped_mid_export(export, client, "cancelled/x", lambda pid: other.execute(
            "SELECT pg_cancel_backend(%s)", (pid,)))
        assert isinstance(run.error, psycopg.errors.QueryCanceled), run.error
        assert _objects(client, "cancelled/x") == []
        assert client.list_multipart_uploads(BUCKET, "cancelled/") == []
        assert not _alive(helper) and not _children(run.pid)
        assert run.spool_files() == []
        # the session goes on, and its next statement is not cancelled by anything left over
        assert run.conn.execute("SELECT pg_sleep(0.2), 1").fetchone()[1] == 1


def test_terminating_the_backend_mid_export_leaves_nothing(export: Callable[..., _Export], configured: S3Config,
                                                           telco: str) -> None:
    with S3Client(configured) as client, psycopg.connect(telco, autocommit=True) as other:
        run, helper = _stopped_mid_export(export, client, "terminated/x", lambda pid: other.execute(
            "SELECT pg_terminate_backend(%s)", (pid,)))
        assert isinstance(run.error, psycopg.OperationalError), run.error
        # the helper learns it from the end of its input, undoes the export and exits
        assert _wait_for(lambda: not _alive(helper), 30)
        assert _objects(client, "terminated/x") == []
        assert client.list_multipart_uploads(BUCKET, "terminated/") == []


def test_s3_server_stopping_mid_export_fails_fast_and_writes_no_manifest(
        telco: str, configured: S3Config, server_url: str, files_dir: Path, tmp_path: Path,
        export: Callable[..., _Export]) -> None:
    """A real outage: the S3 server goes away while parts are uploading and COPY still runs."""
    from churnml_client.s3_server import LocalS3Server

    server = LocalS3Server.from_environment(tmp_path)
    private = server.start()
    try:
        write_server_config(server_url, private, files_dir)
        with S3Client(private) as client:
            run = export("outage/x", seconds=10)
            started = time.monotonic()
            run.start()
            helper = run.helper()
            assert _wait_for(lambda: len(_objects(client, "outage/x")) >= 1)
            crash(server)
            run.finish()
        elapsed = time.monotonic() - started
        assert isinstance(run.error, psycopg.Error), run.error
        diag = run.error.diag
        assert diag.sqlstate in ("08001", "08006"), (diag.sqlstate, diag.message_primary)
        assert private.endpoint in diag.message_primary and diag.message_hint
        assert "no manifest was written" in (diag.message_detail or "")
        for secret in private.secrets():
            assert secret not in f"{diag.message_primary} {diag.message_detail} {diag.message_hint}"
        # the helper stopped COPY (the query alone takes 10 s) instead of waiting for all its rows
        assert elapsed < 8, elapsed
        assert not _alive(helper) and not _children(run.pid) and run.spool_files() == []
        assert run.conn.execute("SELECT pg_sleep(0.2), 1").fetchone()[1] == 1  # no stray cancel
    finally:
        server.stop()
        write_server_config(server_url, configured, files_dir)
