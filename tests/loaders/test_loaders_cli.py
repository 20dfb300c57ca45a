"""`churnml export` / `churnml load` / `churnml s3` end to end: the embedded PostgreSQL from
tests/conftest.py, a real S3 server (SeaweedFS), the real command line."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable
from pathlib import Path

import psycopg
import pytest

from churnml_client.main import main
from churnml_client.s3_server import LocalS3Server
from churnml_loaders.s3_client import S3Client
from churnml_loaders.s3_config import S3Config, write_config_file
from tests.conftest import VENV_BIN
from tests.loaders.conftest import keys

CHECKSUM = "SELECT count(*), md5(string_agg(c::text, '|' ORDER BY c::text)) FROM {} AS c"

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def telco(make_telco: Callable[..., str]) -> str:
    return make_telco("loaders", 2000, 11)


@pytest.fixture
def empty_copy(telco: str) -> str:
    with psycopg.connect(telco, autocommit=True) as conn:
        conn.execute("DROP TABLE IF EXISTS customers_copy")
        conn.execute("CREATE TABLE customers_copy (LIKE customers)")
    return "customers_copy"


def churnml(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out = capsys.readouterr()
    return code, out.out, out.err


def checksum(url: str, table: str) -> tuple[int, str]:
    with psycopg.connect(url) as conn:
        return conn.execute(CHECKSUM.format(table)).fetchone()  # type: ignore[return-value]


@pytest.mark.parametrize(("fmt", "extra", "mode"), [
    ("csv", ["--header", "--gzip", "--part-size", "40KB"], "manifest"),
    ("text", ["--part-size", "64k", "--no-manifest"], "prefix"),
    ("binary", ["--part-size", "50KB"], "manifest"),
])
def test_round_trip(capsys, telco: str, empty_copy: str, s3: S3Client, bucket: str, s3_config_file: Path,
                    fmt: str, extra: list[str], mode: str) -> None:
    uri = f"s3://{bucket}/exports/customers"
    code, out, err = churnml(capsys, "export", "SELECT * FROM customers", uri, "--format", fmt, *extra,
                             "--dsn", telco, "--s3-config", str(s3_config_file), "--quiet")
    assert code == 0, err
    assert "exported 2,000 rows" in out
    parts = [k for k in keys(s3, bucket) if ".part_" in k]
    assert len(parts) > 1  # a small part size: several parts
    code, out, err = churnml(capsys, "load", empty_copy, uri, "--mode", mode, "--format", fmt,
                             *(["--header"] if "--header" in extra else []),
                             "--dsn", telco, "--s3-config", str(s3_config_file), "--quiet")
    assert code == 0, err
    assert f"loaded 2,000 rows from {len(parts)} objects" in out
    assert checksum(telco, empty_copy) == checksum(telco, "customers")


def test_export_query_text_is_the_users(capsys, telco: str, s3: S3Client, bucket: str,
                                        s3_config_file: Path) -> None:
    code, _, err = churnml(capsys, "export", "SELECT phone FROM customers WHERE phone LIKE '3%' ORDER BY 1;  ",
                             f"s3://{bucket}/p", "--dsn", telco, "--s3-config", str(s3_config_file), "--quiet")
    assert code == 0, err
    data = b"".join(s3.get_object(bucket, "p.part_00000")).decode()
    assert data and all(line.startswith("3") for line in data.splitlines())
    manifest = b"".join(s3.get_object(bucket, "p.manifest")).decode()
    assert '"name": "phone"' in manifest and '"type": "text"' in manifest


def test_overwrite_is_refused_then_allowed(capsys, telco: str, bucket: str, s3_config_file: Path) -> None:
    args = ["export", "SELECT 1", f"s3://{bucket}/x", "--dsn", telco, "--s3-config", str(s3_config_file), "--quiet"]
    assert churnml(capsys, *args)[0] == 0
    code, _, err = churnml(capsys, *args)
    assert code == 1
    assert "ERROR:  42710: export target" in err and "HINT:  Pass --overwrite" in err
    assert churnml(capsys, *args, "--overwrite")[0] == 0


def test_failure_mid_export_leaves_nothing(capsys, telco: str, s3: S3Client, bucket: str,
                                           s3_config_file: Path) -> None:
    query = "SELECT i, repeat('x', 100), CASE WHEN i = 1500 THEN 1 / 0 END FROM generate_series(1, 3000) AS i"
    code, _, err = churnml(capsys, "export", query, f"s3://{bucket}/f/out", "--part-size", "16KB", "--dsn", telco,
                           "--s3-config", str(s3_config_file), "--quiet")
    assert code == 1 and "division by zero" in err
    assert keys(s3, bucket) == []  # parts written before the error are gone, and no manifest


def test_failure_mid_load_loads_nothing_and_names_object_and_line(capsys, telco: str, s3: S3Client, bucket: str,
                                                                  s3_config_file: Path) -> None:
    with psycopg.connect(telco, autocommit=True) as conn:
        conn.execute("DROP TABLE IF EXISTS pairs")
        conn.execute("CREATE TABLE pairs (n integer, s text)")
    s3.put_object(bucket, "in/a.csv", b"n,s\n1,a\n2,b\n")
    s3.put_object(bucket, "in/b.csv", b"n,s\n3,c\n4,d\nfive,e\n6,f\n")
    code, _, err = churnml(capsys, "load", "pairs", f"s3://{bucket}/in/", "--mode", "prefix", "--header",
                           "--dsn", telco, "--s3-config", str(s3_config_file), "--quiet")
    assert code == 1
    assert "22P02" in err and "invalid input syntax for type integer" in err
    assert f"line 4 of s3://{bucket}/in/b.csv" in err  # its own line, header counted, as an editor shows it
    assert "Nothing was loaded" in err
    with psycopg.connect(telco) as conn:
        assert conn.execute("SELECT count(*) FROM pairs").fetchone() == (0,)


def test_load_chosen_columns(capsys, telco: str, s3: S3Client, bucket: str, s3_config_file: Path) -> None:
    with psycopg.connect(telco, autocommit=True) as conn:
        conn.execute("DROP TABLE IF EXISTS pairs2")
        conn.execute('CREATE TABLE pairs2 (n integer DEFAULT 7, "S" text)')
    s3.put_object(bucket, "one.csv", b"x\ny\n")
    code, _, err = churnml(capsys, "load", "public.pairs2", f"s3://{bucket}/one.csv", "--columns", "S",
                             "--dsn", telco, "--s3-config", str(s3_config_file), "--quiet")
    assert code == 0, err
    with psycopg.connect(telco) as conn:
        assert conn.execute('SELECT n, "S" FROM pairs2 ORDER BY 2').fetchall() == [(7, "x"), (7, "y")]


def test_missing_bucket(capsys, telco: str, s3_config_file: Path) -> None:
    code, _, err = churnml(capsys, "export", "SELECT 1", "s3://no-such-bucket-z/x", "--dsn", telco,
                           "--s3-config", str(s3_config_file), "--quiet")
    assert code == 1
    assert "ERROR:  42704: S3 bucket \"no-such-bucket-z\" does not exist" in err
    assert "HINT:  Create the bucket" in err


def test_missing_table(capsys, telco: str, bucket: str, s3: S3Client, s3_config_file: Path) -> None:
    s3.put_object(bucket, "one.csv", b"1\n")
    code, _, err = churnml(capsys, "load", "no_such_table", f"s3://{bucket}/one.csv", "--dsn", telco,
                           "--s3-config", str(s3_config_file), "--quiet")
    assert code == 1 and "42P01" in err and "no_such_table" in err


def test_wrong_credentials(capsys, telco: str, bucket: str, s3_config: S3Config, tmp_path: Path) -> None:
    wrong = S3Config(endpoint_url=s3_config.endpoint_url, access_key_id=s3_config.access_key_id,
                     secret_access_key="not-the-right-secret-42")
    path = tmp_path / "wrong.json"
    write_config_file(wrong, path)
    code, out, err = churnml(capsys, "export", "SELECT 1", f"s3://{bucket}/x", "--dsn", telco,
                             "--s3-config", str(path), "--quiet")
    assert code == 1
    assert "ERROR:  28000: S3 rejected the credentials (SignatureDoesNotMatch)" in err
    assert "credentials configured by the administrator" in err
    assert "not-the-right-secret-42" not in out + err
    assert (s3_config.secret_access_key or "") not in out + err


def test_unreachable_endpoint(capsys, telco: str, tmp_path: Path) -> None:
    from churnml_client.embedded_pg import free_port

    path = tmp_path / "down.json"
    write_config_file(S3Config(endpoint_url=f"http://127.0.0.1:{free_port()}", access_key_id="AKID",
                               secret_access_key="down-secret-99", connect_timeout=2), path)
    code, out, err = churnml(capsys, "export", "SELECT 1", "s3://churnml/x", "--dsn", telco,
                             "--s3-config", str(path), "--quiet")
    assert code == 1 and "ERROR:  08001: could not connect to the S3 endpoint http://127.0.0.1:" in err
    assert "is not reachable" in err and "down-secret-99" not in out + err


def test_the_installed_command_and_its_default_config(telco: str, s3_server: LocalS3Server, bucket: str) -> None:
    """The real `churnml` binary, credentials from $CHURNML_HOME/s3/config.json written by `churnml s3 start`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env["CHURNML_HOME"] = str(s3_server.home.parent)
    result = subprocess.run([str(VENV_BIN / "churnml"), "export", "SELECT 1 AS one", f"s3://{bucket}/cmd",
                             "--dsn", telco], env=env, capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    assert "exported 1 rows" in result.stdout


def test_s3_server_commands(tmp_path: Path) -> None:
    env = {**os.environ, "CHURNML_HOME": str(tmp_path)}

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(VENV_BIN / "churnml"), "s3", *args], env=env, capture_output=True, text=True,
                              timeout=120, check=False)

    assert run("status").returncode == 3
    assert run("url").returncode == 1
    try:
        started = run("start")
        assert started.returncode == 0, started.stderr
        url = run("url").stdout.strip()
        assert url.startswith("http://127.0.0.1:")
        pid = (tmp_path / "s3" / "weed.pid").read_text().strip()
        config = tmp_path / "s3" / "config.json"
        assert config.stat().st_mode & 0o077 == 0
        assert run("status").returncode == 0
        assert run("start").returncode == 0  # a no-op: same server
        assert (tmp_path / "s3" / "weed.pid").read_text().strip() == pid
        assert run("url").stdout.strip() == url
        with S3Client(S3Config.from_file(config)) as client:
            client.head_bucket("churnml")  # the default bucket exists
        assert run("stop").returncode == 0
        assert run("status").returncode == 3
        assert config.exists()  # the objects and the credentials stay for the next start
        # a stale pid file (a pid that is not this home's weed) does not fool start or status
        (tmp_path / "s3" / "weed.pid").write_text(f"{os.getpid()}\n")
        assert run("status").returncode == 3
        assert run("start").returncode == 0
        assert run("status").returncode == 0
        with S3Client(S3Config.from_file(config)) as client:
            client.head_bucket("churnml")  # kept, as its objects are
    finally:
        run("stop")


def test_s3_failure_during_copy_out_cancels_the_query(telco: str, s3: S3Client, s3_config: S3Config,
                                                      bucket: str) -> None:
    """The upload fails while PostgreSQL is still sending rows: the COPY is stopped, the
    connection stays usable, and S3 holds nothing."""
    from churnml_client.loaders_cli import export_query
    from churnml_loaders.errors import S3Unreachable
    from churnml_loaders.uris import S3Uri
    from tests.loaders.test_export_writer import FailingClient

    client = FailingClient(s3_config, fail_at=3, method="put")
    with psycopg.connect(telco, autocommit=True) as conn:
        with pytest.raises(S3Unreachable):
            export_query(conn, "SELECT i, repeat('y', 200) FROM generate_series(1, 200000) AS i",
                         S3Uri(bucket, "c/out"), client, part_size=16 * 1024)
        assert conn.execute("SELECT 42").fetchone() == (42,)
    assert keys(s3, bucket) == []
