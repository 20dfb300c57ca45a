"""churnml_loaders.parquet_parts against a real S3 server (SeaweedFS): Parquet parts of bounded size with
row groups, the manifest last, overwrite rules, nothing left behind after a failure, and reading parts back checked."""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Iterator

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from churnml_loaders.errors import DataCorrupted, DuplicateObject, InvalidParameter
from churnml_loaders.load_reader import LoadReader, plan_load
from churnml_loaders.manifest import Manifest
from churnml_loaders.parquet_parts import ParquetExportWriter, parquet_column, read_part, record_batch
from churnml_loaders.s3_client import S3Client
from churnml_loaders.uris import S3Uri
from tests.loaders.conftest import keys

UTC = dt.UTC
COLUMNS = [parquet_column("id", 20, "bigint"), parquet_column("minutes", 701, "double precision"),
           parquet_column("cost", 1700, "numeric(10,2)"), parquet_column("plan", 25, "text"),
           parquet_column("vmail", 16, "boolean"), parquet_column("at", 1184, "timestamp with time zone"),
           parquet_column("tag", 2950, "uuid")]


def row(i: int) -> tuple:
    return (i, None if i % 7 == 0 else i * 1.5, i / 4, None if i % 11 == 0 else f"plan-{i % 3}-{'x' * (i % 20)}",
            None if i % 13 == 0 else i % 2 == 0, dt.datetime(2024, 1, 1, tzinfo=UTC) + dt.timedelta(minutes=i),
            f"00000000-0000-0000-0000-{i:012d}")


def batches(n: int, size: int = 250) -> Iterator[list[tuple]]:
    for start in range(0, n, size):
        yield [row(i) for i in range(start, min(n, start + size))]


def read(s3: S3Client, bucket: str, key: str) -> bytes:
    return b"".join(s3.get_object(bucket, key))


def test_parts_are_bounded_parquet_files_with_row_groups(s3: S3Client, bucket: str) -> None:
    writer = ParquetExportWriter(s3, S3Uri(bucket, "pq/c"), columns=COLUMNS, part_size=64 * 1024,
                                 row_group_bytes=16 * 1024)
    result = writer.write_batches(batches(5_000))
    parts = result.parts
    assert keys(s3, bucket) == ["pq/c.manifest"] + [f"pq/c.part_{i:05d}" for i in range(len(parts))]
    assert len(parts) > 3 and result.rows == 5_000
    tables = []
    for part in parts:
        data = read(s3, bucket, part.key)
        assert part.bytes == len(data) < part.uncompressed_bytes  # zstd inside: smaller than the Arrow data
        assert part.uncompressed_bytes <= 64 * 1024  # the bound, counted before encoding
        file = pq.ParquetFile(io.BytesIO(data))  # every part is a complete Parquet file on its own
        assert file.metadata.num_rows == part.rows and file.metadata.num_row_groups >= 2
        tables.append(file.read())
    table = pa.concat_tables(tables)
    assert table.num_rows == 5_000
    assert table.column("id").to_pylist() == list(range(5_000))  # order kept across parts
    assert table.schema.field("cost").type == pa.float64() and table.schema.field("tag").type == pa.string()
    assert table.schema.field("at").type == pa.timestamp("us", tz="UTC")
    assert table.slice(7, 1).to_pylist()[0] == dict(zip([c.name for c in COLUMNS], row(7), strict=True)) | {
        "at": dt.datetime(2024, 1, 1, 0, 7, tzinfo=UTC)}
    manifest = Manifest.parse(read(s3, bucket, "pq/c.manifest"), where="m")
    assert manifest.format == "parquet" and manifest.compression == "none" and not manifest.header
    assert [(c.name, c.type) for c in manifest.columns][:3] == [("id", "bigint"), ("minutes", "double precision"),
                                                               ("cost", "numeric(10,2)")]
    assert manifest.parts == tuple(parts) and manifest.total_rows == 5_000


def test_read_part_checks_the_manifest(s3: S3Client, bucket: str) -> None:
    result = ParquetExportWriter(s3, S3Uri(bucket, "pq/r"), columns=COLUMNS).write_batches(batches(300))
    part = result.parts[0]
    table = read_part(s3, bucket, part, columns=["id", "plan"])
    assert table.column_names == ["id", "plan"] and table.num_rows == 300
    data = bytearray(read(s3, bucket, part.key))
    data[len(data) // 2] ^= 0xFF
    s3.put_object(bucket, part.key, bytes(data))
    with pytest.raises(DataCorrupted, match="does not match its checksum"):
        read_part(s3, bucket, part)


def test_a_failure_leaves_no_parts_and_no_manifest(s3: S3Client, bucket: str) -> None:
    def failing() -> Iterator[list[tuple]]:
        yield from batches(2_000)
        raise RuntimeError("the query failed at row 2,001")

    writer = ParquetExportWriter(s3, S3Uri(bucket, "pq/f"), columns=COLUMNS, part_size=16 * 1024)
    with pytest.raises(RuntimeError, match="row 2,001"):
        writer.write_batches(failing())
    assert keys(s3, bucket) == []


def test_a_value_arrow_cannot_take_fails_cleanly(s3: S3Client, bucket: str) -> None:
    bad = [row(1), (2, "not a number", *row(2)[2:])]
    writer = ParquetExportWriter(s3, S3Uri(bucket, "pq/v"), columns=COLUMNS, part_size=1024)
    with pytest.raises(InvalidParameter, match='column "minutes" cannot be written as Parquet double'):
        writer.write_batches(iter([[row(i) for i in range(50)], bad]))
    assert keys(s3, bucket) == []


def test_overwrite_rules_and_stale_parts(s3: S3Client, bucket: str) -> None:
    target = S3Uri(bucket, "pq/o")
    first = ParquetExportWriter(s3, target, columns=COLUMNS, part_size=16 * 1024).write_batches(batches(2_000))
    assert len(first.parts) > 2
    with pytest.raises(DuplicateObject, match="already exists"):
        ParquetExportWriter(s3, target, columns=COLUMNS).prepare()
    second = ParquetExportWriter(s3, target, columns=COLUMNS, overwrite=True).write_batches(batches(10))
    assert len(second.parts) == 1 and second.replaced == len(first.parts) + 1
    assert keys(s3, bucket) == ["pq/o.manifest", "pq/o.part_00000"]


def test_no_rows_still_gives_one_part_with_the_columns(s3: S3Client, bucket: str) -> None:
    result = ParquetExportWriter(s3, S3Uri(bucket, "pq/e"), columns=COLUMNS).write_batches(iter([]))
    assert [p.rows for p in result.parts] == [0]
    table = read_part(s3, bucket, result.parts[0])
    assert table.num_rows == 0 and table.column_names == [c.name for c in COLUMNS]


def test_duplicate_column_names_and_copy_data_are_refused(s3: S3Client, bucket: str) -> None:
    with pytest.raises(InvalidParameter, match='more than one column named "id"'):
        ParquetExportWriter(s3, S3Uri(bucket, "pq/d"), columns=[COLUMNS[0], COLUMNS[0]])
    writer = ParquetExportWriter(s3, S3Uri(bucket, "pq/d"), columns=COLUMNS)
    with pytest.raises(InvalidParameter, match="batches of rows"):
        writer.write([b"1,2\n"])


def test_copy_loads_refuse_a_parquet_export(s3: S3Client, bucket: str) -> None:
    ParquetExportWriter(s3, S3Uri(bucket, "pq/l"), columns=COLUMNS).write_batches(batches(20))
    plan = plan_load(s3, S3Uri(bucket, "pq/l"), "manifest")
    with pytest.raises(InvalidParameter, match="is in parquet format") as info:
        LoadReader(s3, plan, fmt="csv")
    assert "--format csv" in (info.value.hint or "")


def test_record_batch_types() -> None:
    schema = pa.schema([pa.field(c.name, c.arrow_type) for c in COLUMNS])
    batch = record_batch([row(0), row(1)], schema)
    assert batch.num_rows == 2 and batch.column(1).to_pylist() == [None, 1.5]
    assert [c.as_text for c in COLUMNS] == [False] * 6 + [True]  # uuid has no Arrow type: its text output
