"""`churnml export --format parquet` end to end: a real PostgreSQL, a real S3 server (SeaweedFS), the real command line;
the parts read back with pyarrow equal the query's rows."""

from __future__ import annotations

import datetime as dt
import io
import math
from collections.abc import Callable
from pathlib import Path

import psycopg
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from churnml_client.main import main
from churnml_loaders.manifest import Manifest
from churnml_loaders.parquet_parts import read_part
from churnml_loaders.s3_client import S3Client
from tests.loaders.conftest import keys

pytestmark = pytest.mark.slow

TABLE = """
CREATE TABLE typed AS
SELECT i::int2 AS small, i AS n, (i * 1000000000000)::bigint AS big, (i / 3.0)::real AS r, (i * 1.5)::float8 AS f,
       (CASE WHEN i % 9 = 0 THEN NULL ELSE i * 0.01 END)::numeric(12, 2) AS money,
       CASE WHEN i % 7 = 0 THEN NULL ELSE i % 2 = 0 END AS flag,
       CASE WHEN i % 5 = 0 THEN NULL ELSE 'plan ' || (i % 4) || ' é' END AS plan,
       ('AB' || i)::varchar(10) AS code,
       timestamptz '2024-01-01 00:00:00+00' + i * interval '1 minute' AS at,
       date '2024-01-01' + i AS day,
       timestamp '2024-01-01 12:00' + i * interval '1 second' AS local_at,
       ('00000000-0000-0000-0000-' || lpad(i::text, 12, '0'))::uuid AS tag,
       jsonb_build_object('i', i) AS doc
FROM generate_series(1, 3000) AS i
"""


@pytest.fixture(scope="module")
def typed_db(make_database: Callable[..., str]) -> str:
    url = make_database("parquet", extension=False)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(TABLE)
    return url


def churnml(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_export_parquet_round_trip(capsys, typed_db: str, s3: S3Client, bucket: str, s3_config_file: Path) -> None:
    uri = f"s3://{bucket}/pq/typed"
    code, out, err = churnml(capsys, "export", "SELECT * FROM typed ORDER BY n", uri, "--format", "parquet",
                             "--part-size", "100KB", "--dsn", typed_db, "--s3-config", str(s3_config_file),
                             "--quiet")
    assert code == 0, err
    assert "exported 3,000 rows" in out
    manifest = Manifest.parse(b"".join(s3.get_object(bucket, "pq/typed.manifest")), where="m")
    assert manifest.format == "parquet" and len(manifest.parts) > 1
    assert {c.name: c.type for c in manifest.columns}["money"] == "numeric(12,2)"
    assert {c.name: c.type for c in manifest.columns}["code"] == "character varying(10)"
    table = pa.concat_tables([read_part(s3, bucket, p) for p in manifest.parts])
    for part in manifest.parts:
        data = b"".join(s3.get_object(bucket, part.key))
        assert pq.ParquetFile(io.BytesIO(data)).metadata.num_rows == part.rows
        assert part.uncompressed_bytes <= 100 * 1024
    types = {f.name: f.type for f in table.schema}
    assert types == {"small": pa.int16(), "n": pa.int32(), "big": pa.int64(), "r": pa.float32(),
                     "f": pa.float64(), "money": pa.float64(), "flag": pa.bool_(), "plan": pa.string(),
                     "code": pa.string(), "at": pa.timestamp("us", tz="UTC"), "day": pa.date32(),
                     "local_at": pa.timestamp("us"), "tag": pa.string(), "doc": pa.string()}
    rows = table.to_pylist()
    assert [r["n"] for r in rows] == list(range(1, 3001))  # the query's order, across parts
    with psycopg.connect(typed_db) as conn:
        expected = conn.execute("SELECT n, money::float8, flag, plan, at, day, local_at, tag::text, doc::text, r "
                                "FROM typed ORDER BY n").fetchall()
    for got, want in zip(rows, expected, strict=True):
        n, money, flag, plan, at, day, local_at, tag, doc, r = want
        assert (got["n"], got["flag"], got["plan"], got["day"], got["local_at"], got["tag"], got["doc"]) == \
            (n, flag, plan, day, local_at, tag, doc)
        assert got["at"] == at.astimezone(dt.UTC)
        assert (got["money"] is None and money is None) or math.isclose(got["money"], money)
        assert math.isclose(got["r"], r, rel_tol=1e-6)


def test_parquet_export_options_and_loads(capsys, typed_db: str, s3: S3Client, bucket: str,
                                          s3_config_file: Path) -> None:
    common = ["--dsn", typed_db, "--s3-config", str(s3_config_file), "--quiet"]
    code, _, err = churnml(capsys, "export", "SELECT 1", f"s3://{bucket}/h", "--format", "parquet", "--header",
                           *common)
    assert code == 1 and "--header does not apply to --format parquet" in err
    code, _, err = churnml(capsys, "export", "SELECT 1 AS a, 2 AS a", f"s3://{bucket}/d", "--format", "parquet",
                           *common)
    assert code == 1 and "22023" in err and 'more than one column named "a"' in err
    assert keys(s3, bucket) == []
    code, _, err = churnml(capsys, "export", "SELECT n, 1 / (3000 - n) AS boom FROM typed", f"s3://{bucket}/z",
                           "--format", "parquet", "--part-size", "8KB", *common)
    assert code == 1 and "division by zero" in err
    assert keys(s3, bucket) == []  # parts written before the error are gone, and no manifest
    code, _, err = churnml(capsys, "export", "SELECT n, plan FROM typed", f"s3://{bucket}/ok", "--format",
                           "parquet", *common)
    assert code == 0, err
    with psycopg.connect(typed_db, autocommit=True) as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS back (n int, plan text)")
    code, _, err = churnml(capsys, "load", "back", f"s3://{bucket}/ok", "--mode", "manifest", *common)
    assert code == 1 and "is in parquet format" in err and "--format csv" in err
