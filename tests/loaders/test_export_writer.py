"""churnml_loaders.export_writer against a real S3 server (SeaweedFS): parts on row boundaries, gzip, multipart, the
manifest last, overwrite rules, and nothing left behind after a failure."""

from __future__ import annotations

import gzip
import hashlib
import json
from collections.abc import Iterator

import pytest

from churnml_loaders.copy_formats import Framing
from churnml_loaders.errors import DuplicateObject, InvalidParameter, S3Unreachable
from churnml_loaders.export_writer import MIN_CHUNK_SIZE, ExportWriter
from churnml_loaders.manifest import AURORA_PG_PARTS, Column, Manifest
from churnml_loaders.s3_client import S3Client
from churnml_loaders.s3_config import S3Config
from churnml_loaders.uris import S3Uri
from tests.loaders.conftest import crash, keys


def rows(n: int, width: int = 10) -> Iterator[bytes]:
    for i in range(n):
        yield f"{i},{'x' * width}\n".encode()


def read(s3: S3Client, bucket: str, key: str) -> bytes:
    return b"".join(s3.get_object(bucket, key))


def test_parts_split_on_row_boundaries(s3: S3Client, bucket: str) -> None:
    writer = ExportWriter(s3, S3Uri(bucket, "exp/c"), fmt="csv", header=True, part_size=100,
                          columns=(Column("i", "integer"), Column("s", "text")))
    result = writer.write(rows(30), framing=Framing(preamble=b"i,s\n"))
    assert keys(s3, bucket) == ["exp/c.manifest"] + [f"exp/c.part_{i:05d}" for i in range(len(result.parts))]
    assert result.rows == 30 and len(result.parts) > 3
    all_rows = []
    for part in result.parts:
        data = read(s3, bucket, part.key)
        assert len(data) <= 100 and data.startswith(b"i,s\n")  # every part loadable on its own
        assert part.bytes == len(data) and part.sha256 == hashlib.sha256(data).hexdigest()
        lines = data.splitlines(keepends=True)[1:]
        assert part.rows == len(lines)
        all_rows += lines
    assert all_rows == list(rows(30))
    manifest = Manifest.parse(read(s3, bucket, "exp/c.manifest"), where="m")
    assert manifest.parts == tuple(result.parts) and manifest.header and manifest.columns[0].type == "integer"


def test_aurora_postgresql_part_names(s3: S3Client, bucket: str) -> None:
    """aws_s3.query_export_to_s3's naming: the file itself, then file_part2, file_part3, ...; overwriting
    a larger earlier export removes its extra parts, and other keys sharing the prefix are left alone."""
    target = S3Uri(bucket, "aurora/out.csv")
    s3.put_object(bucket, "aurora/out.csv.bak", b"keep me")
    first = ExportWriter(s3, target, fmt="csv", part_size=100, write_manifest=False, naming=AURORA_PG_PARTS)
    result = first.write(rows(30))
    names = ["aurora/out.csv"] + [f"aurora/out.csv_part{i}" for i in range(2, len(result.parts) + 1)]
    assert [p.key for p in result.parts] == names and len(names) > 3
    assert keys(s3, bucket, "aurora/") == sorted([*names, "aurora/out.csv.bak"])
    again = ExportWriter(s3, target, fmt="csv", part_size=10_000, write_manifest=False, overwrite=True,
                         naming=AURORA_PG_PARTS).write(rows(30))
    assert [p.key for p in again.parts] == ["aurora/out.csv"]
    assert keys(s3, bucket, "aurora/") == ["aurora/out.csv", "aurora/out.csv.bak"]
    assert read(s3, bucket, "aurora/out.csv") == b"".join(rows(30))
    assert AURORA_PG_PARTS.owns("a/f", "a/f_part12") and not AURORA_PG_PARTS.owns("a/f", "a/f_part1")
    assert not AURORA_PG_PARTS.owns("a/f", "a/f_part2x") and not AURORA_PG_PARTS.owns("a/f", "a/f_part02")


def test_a_row_larger_than_a_part_gets_its_own_part(s3: S3Client, bucket: str) -> None:
    data = [b"short\n", b"y" * 500 + b"\n", b"short\n"]
    result = ExportWriter(s3, S3Uri(bucket, "big"), fmt="text", part_size=100).write(data)
    assert [p.rows for p in result.parts] == [1, 1, 1]


def test_row_counts_from_tuples(s3: S3Client, bucket: str) -> None:
    result = ExportWriter(s3, S3Uri(bucket, "t"), fmt="text").write([(b"1\n2\n3\n", 3), (b"4\n", 1)])
    assert result.rows == 4


def test_gzip_parts(s3: S3Client, bucket: str) -> None:
    result = ExportWriter(s3, S3Uri(bucket, "z/c"), fmt="csv", gzip=True, part_size=2000).write(rows(500))
    assert len(result.parts) > 1
    text = b""
    for part in result.parts:
        stored = read(s3, bucket, part.key)
        assert stored[:2] == b"\x1f\x8b" and part.sha256 == hashlib.sha256(stored).hexdigest()
        assert part.uncompressed_bytes == len(gzip.decompress(stored))
        text += gzip.decompress(stored)
    assert text == b"".join(rows(500))
    assert json.loads(read(s3, bucket, "z/c.manifest"))["compression"] == "gzip"


def test_big_parts_use_multipart_upload(s3: S3Client, bucket: str) -> None:
    # 12 MiB in one part, 5 MiB chunks: three multipart pieces, memory bounded by one chunk
    line = b"z" * 1023 + b"\n"
    result = ExportWriter(s3, S3Uri(bucket, "mp"), fmt="text", chunk_size=MIN_CHUNK_SIZE,
                          part_size=64 * 1024 * 1024).write(line for _ in range(12 * 1024))
    (part,) = result.parts
    info = s3.head_object(bucket, part.key)
    assert info.size == 12 * 1024 * 1024 and info.etag.endswith('-3"')
    assert part.sha256 == hashlib.sha256(line * 12 * 1024).hexdigest()


def test_zero_rows_still_write_one_part(s3: S3Client, bucket: str) -> None:
    result = ExportWriter(s3, S3Uri(bucket, "none"), fmt="csv", header=True).write(
        [], framing=Framing(preamble=b"a,b\n"))
    assert [p.rows for p in result.parts] == [0]
    assert read(s3, bucket, "none.part_00000") == b"a,b\n"


def test_no_manifest(s3: S3Client, bucket: str) -> None:
    result = ExportWriter(s3, S3Uri(bucket, "nm"), fmt="csv", write_manifest=False).write(rows(3))
    assert result.manifest is None and keys(s3, bucket) == ["nm.part_00000"]


def test_existing_target_is_refused(s3: S3Client, bucket: str) -> None:
    ExportWriter(s3, S3Uri(bucket, "dup"), fmt="csv").write(rows(3))
    with pytest.raises(DuplicateObject) as info:
        ExportWriter(s3, S3Uri(bucket, "dup"), fmt="csv").prepare()
    assert info.value.sqlstate == "42710" and "--overwrite" in (info.value.hint or "")
    # an unrelated object sharing the prefix's first letters is not "the target"
    s3.put_object(bucket, "duplicate.csv", b"x")
    ExportWriter(s3, S3Uri(bucket, "dupl"), fmt="csv").prepare()


def test_overwrite_replaces_and_removes_stale_parts(s3: S3Client, bucket: str) -> None:
    ExportWriter(s3, S3Uri(bucket, "ow"), fmt="csv", part_size=50).write(rows(40))
    assert len(keys(s3, bucket, "ow.part_")) > 5
    result = ExportWriter(s3, S3Uri(bucket, "ow"), fmt="csv", overwrite=True).write(rows(2))
    assert keys(s3, bucket) == ["ow.manifest", "ow.part_00000"]
    assert result.replaced > 5
    assert Manifest.parse(read(s3, bucket, "ow.manifest"), where="m").total_rows == 2


def test_folder_target_is_refused(s3: S3Client, bucket: str) -> None:
    with pytest.raises(InvalidParameter, match="not a folder"):
        ExportWriter(s3, S3Uri(bucket, "exports/"), fmt="csv")


def test_failing_row_source_leaves_nothing(s3: S3Client, bucket: str) -> None:
    def failing() -> Iterator[bytes]:
        yield from rows(200)
        raise RuntimeError("the query failed half-way")

    with pytest.raises(RuntimeError, match="half-way"):
        ExportWriter(s3, S3Uri(bucket, "f/c"), fmt="csv", part_size=300).write(failing())
    assert keys(s3, bucket) == []


class FailingClient(S3Client):
    """Fails the n-th object write, as a full disk or a dropped connection would."""

    def __init__(self, config: S3Config, fail_at: int, method: str) -> None:
        super().__init__(config)
        self.fail_at, self.method, self.calls = fail_at, method, 0

    def _count(self) -> None:
        self.calls += 1
        if self.calls == self.fail_at:
            raise S3Unreachable("could not connect to the S3 endpoint (simulated)")

    def put_object(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        if self.method == "put":
            self._count()
        return super().put_object(*args, **kwargs)

    def upload_part(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        if self.method == "part":
            self._count()
        return super().upload_part(*args, **kwargs)


def test_failing_upload_leaves_nothing(s3: S3Client, s3_config: S3Config, bucket: str) -> None:
    client = FailingClient(s3_config, fail_at=4, method="put")
    with pytest.raises(S3Unreachable):
        ExportWriter(client, S3Uri(bucket, "f/c"), fmt="csv", part_size=300).write(rows(200))
    assert keys(s3, bucket) == []


def test_failing_multipart_is_aborted(s3: S3Client, s3_config: S3Config, bucket: str) -> None:
    client = FailingClient(s3_config, fail_at=2, method="part")
    line = b"z" * 1023 + b"\n"
    with pytest.raises(S3Unreachable):
        ExportWriter(client, S3Uri(bucket, "mp"), fmt="text", chunk_size=MIN_CHUNK_SIZE).write(
            line for _ in range(12 * 1024))
    assert keys(s3, bucket) == []
    assert s3.list_multipart_uploads(bucket) == []


def test_failed_overwrite_leaves_no_half_export(s3: S3Client, s3_config: S3Config, bucket: str) -> None:
    ExportWriter(s3, S3Uri(bucket, "ow"), fmt="csv", part_size=50).write(rows(40))
    client = FailingClient(s3_config, fail_at=3, method="put")
    with pytest.raises(S3Unreachable):
        ExportWriter(client, S3Uri(bucket, "ow"), fmt="csv", part_size=50, overwrite=True).write(rows(40))
    assert keys(s3, bucket) == []  # no manifest, and no mix of old and new parts


def test_server_stopping_mid_export(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """A real outage: the S3 server goes away while rows are still coming."""
    from churnml_client.s3_server import LocalS3Server

    server = LocalS3Server.from_environment(tmp_path)
    config = server.start()
    try:
        def rows_then_outage() -> Iterator[bytes]:
            for i, row in enumerate(rows(400)):
                if i == 200:
                    crash(server)
                yield row

        with S3Client(config) as client, pytest.raises(S3Unreachable) as info:
            ExportWriter(client, S3Uri("churnml", "out/c"), fmt="csv", part_size=300).write(rows_then_outage())
        error = info.value
        assert error.sqlstate == "08001" and config.endpoint in error.message
        # the clean-up could not reach the server either, and says so
        assert "could not clean up" in (error.detail or "") and "no manifest was written" in (error.detail or "")
        assert config.secret_access_key not in f"{error.message} {error.detail} {error.hint}"
    finally:
        server.stop()


def test_a_refusal_before_the_commit_undoes_the_export(s3: S3Client, bucket: str) -> None:
    """export_query's last check for a cancel runs between the parts and the manifest."""
    ExportWriter(s3, S3Uri(bucket, "late/c"), fmt="csv", part_size=100).write(rows(40))
    seen: list[int] = []

    def refuse(parts: list) -> None:  # type: ignore[type-arg]
        seen.append(len(parts))
        assert keys(s3, bucket, "late/") and "late/c.manifest" not in keys(s3, bucket, "late/")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        ExportWriter(s3, S3Uri(bucket, "late/c"), fmt="csv", part_size=100, overwrite=True).write(
            rows(40), before_commit=refuse)
    assert seen and seen[0] > 1
    assert keys(s3, bucket, "late/") == []  # the new parts, and the old export it was replacing


def test_large_views_and_multipart_chunks_arrive_intact(s3: S3Client, bucket: str) -> None:
    """Rows given as views of large buffers (as export_query's helper gives them) cross multipart
    chunk boundaries anywhere; the stored part is exactly the bytes given, hashed right."""
    blob = b"".join(f"{i},{'y' * (i % 97)}\n".encode() for i in range(200_000))
    pieces = []
    at = 0
    while at < len(blob):
        end = blob.find(b"\n", min(len(blob) - 1, at + 1_500_000)) + 1
        pieces.append((memoryview(blob)[at:end], blob.count(b"\n", at, end)))
        at = end
    writer = ExportWriter(s3, S3Uri(bucket, "views/c"), fmt="csv", chunk_size=MIN_CHUNK_SIZE)
    result = writer.write(iter(pieces))
    assert len(result.parts) == 1 and result.rows == 200_000
    stored = read(s3, bucket, "views/c.part_00000")
    assert stored == blob and result.parts[0].sha256 == hashlib.sha256(blob).hexdigest()
