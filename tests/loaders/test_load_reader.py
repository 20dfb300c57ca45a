"""churnml_loaders.load_reader against a real S3 server (SeaweedFS): the three modes, gunzip, headers, binary parts,
manifest checks, and the object/line bookkeeping that names where a bad row came from."""

from __future__ import annotations

import gzip
import json
import struct

import pytest

from churnml_loaders.copy_formats import BINARY_SIGNATURE, BINARY_TRAILER, Framing
from churnml_loaders.errors import DataCorrupted, DataException, InvalidParameter, S3BucketNotFound, S3ObjectNotFound
from churnml_loaders.export_writer import ExportWriter
from churnml_loaders.load_reader import LoadReader, plan_load
from churnml_loaders.s3_client import S3Client
from churnml_loaders.uris import S3Uri

BIN_HEADER = BINARY_SIGNATURE + struct.pack(">ii", 0, 0)


def read_all(reader: LoadReader) -> bytes:
    return b"".join(reader.chunks())


def test_file_mode(s3: S3Client, bucket: str) -> None:
    s3.put_object(bucket, "one.csv", b"a,b\n1,2\n")
    plan = plan_load(s3, S3Uri(bucket, "one.csv"), "file")
    assert [(s.key, s.size) for s in plan.sources] == [("one.csv", 8)]
    assert read_all(LoadReader(s3, plan, header_lines=1)) == b"1,2\n"


def test_prefix_mode_orders_and_skips_manifests_and_folders(s3: S3Client, bucket: str) -> None:
    for key, body in [("in/b.csv", b"3\n"), ("in/a.csv", b"1\n2"), ("in/", b""), ("in/x.manifest", b"{}"),
                      ("other/c.csv", b"9\n")]:
        s3.put_object(bucket, key, body)
    plan = plan_load(s3, S3Uri(bucket, "in/"), "prefix")
    assert [s.key for s in plan.sources] == ["in/a.csv", "in/b.csv"]
    # a missing final newline is added, or "2" and "3" would become one line
    assert read_all(LoadReader(s3, plan)) == b"1\n2\n3\n"


def test_empty_prefix_and_missing_bucket(s3: S3Client, bucket: str) -> None:
    with pytest.raises(S3ObjectNotFound, match="no objects under") as info:
        plan_load(s3, S3Uri(bucket, "nothing/"), "prefix")
    assert info.value.sqlstate == "58P01"
    with pytest.raises(S3BucketNotFound):
        plan_load(s3, S3Uri("no-such-bucket-y", "x/"), "prefix")
    with pytest.raises(S3BucketNotFound):
        plan_load(s3, S3Uri("no-such-bucket-y", "x.csv"), "file")


def test_file_mode_needs_an_object(s3: S3Client, bucket: str) -> None:
    with pytest.raises(InvalidParameter, match="names a folder"):
        plan_load(s3, S3Uri(bucket, "dir/"), "file")


def test_gzip_is_detected_by_magic_bytes(s3: S3Client, bucket: str) -> None:
    # two gzip members back to back are one valid gzip file
    s3.put_object(bucket, "z.csv.gz", gzip.compress(b"h\n1\n2\n") + gzip.compress(b"3\n"))
    s3.put_object(bucket, "z2.csv", b"4\n")
    plan = plan_load(s3, S3Uri(bucket, "z"), "prefix")
    assert read_all(LoadReader(s3, plan, header_lines=1)) == b"1\n2\n3\n"  # headers: "h" and "4" dropped
    assert read_all(LoadReader(s3, plan)) == b"h\n1\n2\n3\n4\n"


def test_truncated_gzip(s3: S3Client, bucket: str) -> None:
    s3.put_object(bucket, "bad.gz", gzip.compress(b"1\n" * 1000)[:-20])
    with pytest.raises(DataException, match=r"truncated|cannot be decompressed") as info:
        read_all(LoadReader(s3, plan_load(s3, S3Uri(bucket, "bad.gz"))))
    assert f"s3://{bucket}/bad.gz" in info.value.message


def test_manifest_mode_reads_an_export(s3: S3Client, bucket: str) -> None:
    lines = [f"{i},v{i}\n".encode() for i in range(100)]
    ExportWriter(s3, S3Uri(bucket, "exp/t"), fmt="csv", header=True, gzip=True, part_size=200).write(
        lines, framing=Framing(preamble=b"i,v\n"))
    for uri in ("exp/t", "exp/t.manifest"):
        plan = plan_load(s3, S3Uri(bucket, uri), "manifest")
        assert plan.format == "csv" and plan.header is True and len(plan.sources) > 3
        assert read_all(LoadReader(s3, plan, header_lines=1)) == b"".join(lines)


def test_manifest_mode_without_manifest(s3: S3Client, bucket: str) -> None:
    ExportWriter(s3, S3Uri(bucket, "nm"), fmt="csv", write_manifest=False).write([b"1\n"])
    with pytest.raises(S3ObjectNotFound, match="export manifest") as info:
        plan_load(s3, S3Uri(bucket, "nm"), "manifest")
    assert "--mode prefix" in (info.value.hint or "")


def test_changed_part_fails_its_checksum(s3: S3Client, bucket: str) -> None:
    ExportWriter(s3, S3Uri(bucket, "t"), fmt="csv", part_size=20).write([b"1,a\n"] * 20)
    s3.put_object(bucket, "t.part_00002", b"1,b\n" * 5)  # same size, other content
    reader = LoadReader(s3, plan_load(s3, S3Uri(bucket, "t"), "manifest"))
    with pytest.raises(DataCorrupted, match="does not match its checksum") as info:
        read_all(reader)
    assert f"s3://{bucket}/t.part_00002" in info.value.message


def test_manifest_cannot_point_outside_its_prefix(s3: S3Client, bucket: str) -> None:
    ExportWriter(s3, S3Uri(bucket, "t"), fmt="csv").write([b"1\n"])
    doc = json.loads(b"".join(s3.get_object(bucket, "t.manifest")))
    doc["parts"][0]["key"] = "secret/payroll.csv"
    s3.put_object(bucket, "t.manifest", json.dumps(doc).encode())
    with pytest.raises(DataCorrupted, match="outside its prefix"):
        plan_load(s3, S3Uri(bucket, "t"), "manifest")


def test_binary_parts_become_one_stream(s3: S3Client, bucket: str) -> None:
    rows = [struct.pack(">hii", 1, 4, i) for i in range(10)]
    ExportWriter(s3, S3Uri(bucket, "b"), fmt="binary", part_size=60).write(
        rows, framing=Framing(preamble=BIN_HEADER, trailer=BINARY_TRAILER))
    plan = plan_load(s3, S3Uri(bucket, "b"), "manifest")
    assert len(plan.sources) > 2
    data = read_all(LoadReader(s3, plan, fmt="binary", chunk_size=7))  # tiny chunks: boundaries everywhere
    assert data == BIN_HEADER + b"".join(rows) + BINARY_TRAILER


def test_binary_needs_binary_objects(s3: S3Client, bucket: str) -> None:
    s3.put_object(bucket, "t.csv", b"1,2\n")
    with pytest.raises(DataException, match="not a binary COPY file"):
        read_all(LoadReader(s3, plan_load(s3, S3Uri(bucket, "t.csv")), fmt="binary"))


def test_locate_maps_copy_lines_to_objects(s3: S3Client, bucket: str) -> None:
    s3.put_object(bucket, "p/a.csv", b"h\n1\n2\n3\n")
    s3.put_object(bucket, "p/b.csv", gzip.compress(b"h\n4\n5\n"))
    s3.put_object(bucket, "p/c.csv", b"h\n6\n")
    reader = LoadReader(s3, plan_load(s3, S3Uri(bucket, "p/"), "prefix"), header_lines=1)
    assert read_all(reader) == b"1\n2\n3\n4\n5\n6\n"
    found = {n: (reader.locate(n).source.key, reader.locate(n).line) for n in range(1, 7)}  # type: ignore[union-attr]
    assert found == {1: ("p/a.csv", 2), 2: ("p/a.csv", 3), 3: ("p/a.csv", 4),
                     4: ("p/b.csv", 2), 5: ("p/b.csv", 3), 6: ("p/c.csv", 2)}


def test_locate_uses_manifest_rows_for_csv_records(s3: S3Client, bucket: str) -> None:
    # a quoted newline: PostgreSQL counts one record where there are two lines
    rows = [b'1,"two\nlines"\n', b"2,x\n", b"3,y\n"]
    ExportWriter(s3, S3Uri(bucket, "q"), fmt="csv", part_size=16).write(rows)
    reader = LoadReader(s3, plan_load(s3, S3Uri(bucket, "q"), "manifest"))
    read_all(reader)
    found = [(reader.locate(n).source.key, reader.locate(n).line) for n in (1, 2, 3)]  # type: ignore[union-attr]
    assert found == [("q.part_00000", 1), ("q.part_00001", 1), ("q.part_00001", 2)]


def test_progress_callback_counts_stored_bytes(s3: S3Client, bucket: str) -> None:
    s3.put_object(bucket, "g.gz", gzip.compress(b"1\n" * 10_000))
    seen: list[int] = []
    reader = LoadReader(s3, plan_load(s3, S3Uri(bucket, "g.gz")), on_read=seen.append)
    assert len(read_all(reader)) == 20_000
    assert sum(seen) == reader.bytes_read == s3.head_object(bucket, "g.gz").size
