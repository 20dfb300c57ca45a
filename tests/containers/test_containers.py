"""Where a Docker engine exists, the client-side tools run against testcontainers'
PostgreSQL and MinIO too (here they skip with the reason when no engine answers)."""

from __future__ import annotations

import os
import subprocess

import psycopg
import pytest

from tests.conftest import VENV_BIN

pytestmark = pytest.mark.containers


def test_data_generate_into_a_plain_postgres_container(postgres_container: str) -> None:
    subprocess.run([str(VENV_BIN / "churnml"), "data", "generate", "--customers", "2000", "--seed", "3",
                    "--dsn", postgres_container, "--quiet"], check=True, env=dict(os.environ))
    with psycopg.connect(postgres_container) as conn:
        assert conn.execute("SELECT count(*) FROM customers").fetchone()[0] == 2000


def test_minio_container_answers(minio_container: dict[str, str]) -> None:
    from minio import Minio

    endpoint = minio_container["endpoint_url"].removeprefix("http://")
    client = Minio(endpoint, minio_container["access_key"], minio_container["secret_key"], secure=False)
    client.make_bucket("churnml-test")
    assert client.bucket_exists("churnml-test")
