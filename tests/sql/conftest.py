"""Fixtures for the SQL-level tests that need object storage: a real S3-compatible
server (SeaweedFS, started once per session, its bucket `churnml` emptied for each
module) on 127.0.0.1, and the server-side configuration the DBA writes."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
import pytest

from churnml_client.s3_server import LocalS3Server
from churnml_loaders.s3_client import S3Client
from churnml_loaders.s3_config import S3Config
from tests.conftest import TEST_HOME, private_path


@pytest.fixture(scope="session")
def s3_server() -> Iterator[LocalS3Server]:
    """One SeaweedFS for the session (it takes a few seconds to start), on a fresh data directory."""
    server = LocalS3Server.from_environment(TEST_HOME / "sql-s3")
    server.stop()
    shutil.rmtree(server.home, ignore_errors=True)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def s3(s3_server: LocalS3Server) -> S3Config:
    """The server's configuration, with the bucket `churnml` as a fresh server has it: empty."""
    config = s3_server.config()
    client = S3Client(config)
    client.delete_objects("churnml", [o.key for o in client.list_objects("churnml")])
    for key, upload in client.list_multipart_uploads("churnml"):
        client.abort_multipart_upload("churnml", key, upload)
    return config


def write_server_config(server_url: str, config: S3Config, file_root: Path,
                        others: dict[str, S3Config] | None = None) -> Path:
    """The DBA's step: $PGDATA/churnml/s3.json (`config` as the credential "default", `others` by name)."""
    from churnml_loaders.server_config import write_file

    with psycopg.connect(server_url) as conn:
        datadir = Path(conn.execute("SHOW data_directory").fetchone()[0])
    if not os.access(datadir, os.W_OK):
        pytest.skip(f"cannot write the server's configuration into {datadir}")
    return write_file(datadir, config, str(file_root), others)


@contextmanager
def writable_directory(path: Path) -> Iterator[Path]:
    """A directory the server's OS user can write exports into; removed afterwards."""
    path.mkdir(mode=0o777, exist_ok=True)
    path.chmod(0o777)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="module")
def files_dir() -> Iterator[Path]:
    with writable_directory(private_path("files")) as path:
        yield path


def telco_with_aws(make_telco: Callable[..., str], prefix: str, customers: int, seed: int) -> str:
    """make_telco's database with churnml_aws installed too."""
    url = make_telco(prefix, customers, seed)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE EXTENSION churnml_aws")
    return url


@pytest.fixture(scope="module")
def configured(server_url: str, s3: S3Config, files_dir: Path) -> Iterator[S3Config]:
    path = write_server_config(server_url, s3, files_dir)
    yield s3
    path.unlink(missing_ok=True)


TEST_LOCATION = "test_bucket"


def declare_storage(url: str, files_root: Path | None = None, *, to: tuple[str, ...] = ("churnml_loader",)) -> str:
    """The DBA's SQL step after writing s3.json: the test bucket (and file_root, for file:// URIs)
    declared as storage locations and granted, read and write, to `to`. Returns `url`."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("SET client_min_messages = warning")
        conn.execute("SELECT churnml.create_storage_location(%s, 's3://churnml/', if_not_exists => true)",
                     (TEST_LOCATION,))
        if files_root is not None:
            conn.execute("SELECT churnml.create_storage_location('test_files', %s, if_not_exists => true)",
                         (f"file://{files_root}/",))
        for role in to:
            conn.execute("SELECT churnml.grant_storage(%s, 'read, write', %s)", (TEST_LOCATION, role))
            if files_root is not None:
                conn.execute("SELECT churnml.grant_storage('test_files', 'read, write', %s)", (role,))
    return url
