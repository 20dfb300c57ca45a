"""Fixtures for the loader tests: a real S3 server (SeaweedFS) on 127.0.0.1, started through `churnml s3`'s code."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from churnml_client.s3_server import LocalS3Server
from churnml_loaders.s3_client import S3Client
from churnml_loaders.s3_config import S3Config


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalS3Server]:
    """One SeaweedFS for the session, with credentials checked (see s3_server.py)."""
    server = LocalS3Server.from_environment(tmp_path_factory.mktemp("churnml-home"))
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def s3_config(s3_server: LocalS3Server) -> S3Config:
    return s3_server.config()


@pytest.fixture(scope="session")
def s3_config_file(s3_server: LocalS3Server) -> Path:
    return s3_server.config_file


@pytest.fixture
def s3(s3_config: S3Config) -> Iterator[S3Client]:
    with S3Client(s3_config) as client:
        yield client


@pytest.fixture
def bucket(s3: S3Client) -> str:
    """A fresh, empty bucket for one test."""
    name = f"t-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(name)
    return name


def keys(client: S3Client, bucket: str, prefix: str = "") -> list[str]:
    return [o.key for o in client.list_objects(bucket, prefix)]


def crash(server: LocalS3Server) -> None:
    """The S3 server goes away at once (SIGKILL): connections refused, as in a crash or a network outage.
    (A stop lets SeaweedFS answer InternalError for a while: a server in trouble, not one that is gone.)"""
    import os
    import signal
    import time

    pid = server.running_pid()
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    while server.running_pid() is not None:
        time.sleep(0.01)
