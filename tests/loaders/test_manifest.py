"""churnml_loaders.manifest: the export's completion record and the checks a reader makes with it."""

from __future__ import annotations

import hashlib
import json

import pytest

from churnml_loaders.errors import DataCorrupted
from churnml_loaders.manifest import (
    Column,
    Manifest,
    ManifestPart,
    is_part_of,
    manifest_key,
    part_key,
    verify_part,
)


def _part(key: str, data: bytes, rows: int) -> ManifestPart:
    return ManifestPart(key=key, bytes=len(data), rows=rows, sha256=hashlib.sha256(data).hexdigest())


def _manifest() -> Manifest:
    return Manifest(format="csv", compression="none", header=True,
                    columns=(Column("phone", "text"), Column("churn", "boolean")),
                    parts=(_part("x/c.part_00000", b"a\n1\n", 1), _part("x/c.part_00001", b"a\n2\n3\n", 2)))


def test_names() -> None:
    assert part_key("exports/c", 0) == "exports/c.part_00000"
    assert part_key("exports/c", 123456) == "exports/c.part_123456"
    assert manifest_key("exports/c") == "exports/c.manifest"
    assert is_part_of("exports/c", "exports/c.part_00007")
    assert not is_part_of("exports/c", "exports/c.part_7")
    assert not is_part_of("exports/c", "exports/cc.part_00007")
    assert not is_part_of("exports/c", "exports/c.part_00007.bak")


def test_round_trip() -> None:
    manifest = _manifest()
    doc = json.loads(manifest.to_json())
    assert doc["version"] == 1 and doc["total_rows"] == 3 and doc["total_bytes"] == 10
    assert doc["columns"][0] == {"name": "phone", "type": "text"}
    assert set(doc["parts"][0]) == {"key", "bytes", "rows", "sha256"}
    assert Manifest.parse(manifest.to_json(), where="m").parts == manifest.parts


@pytest.mark.parametrize(("change", "detail"), [
    (lambda d: d.update(version=2), None),
    (lambda d: d.update(format="orc"), "Unknown format"),  # parquet is a format since `export --format parquet`
    (lambda d: d.update(compression="zstd"), "Unknown compression"),
    (lambda d: d.update(header="yes"), "\"header\""),
    (lambda d: d.update(parts=[]), "no parts"),
    (lambda d: d.update(total_rows=4), "total_rows"),
    (lambda d: d["parts"][0].update(sha256="00"), "sha256"),
    (lambda d: d["parts"][0].update(rows=True), "\"rows\""),
    (lambda d: d["parts"][0].update(bytes=-1), "negative"),
    (lambda d: d["parts"][0].update(key="x/../etc"), "not a valid S3 key"),
    (lambda d: d["parts"].append(dict(d["parts"][0])), "same part twice"),
    (lambda d: d.update(columns=[{"name": 1}]), "column"),
])
def test_invalid_manifests(change, detail: str | None) -> None:
    doc = json.loads(_manifest().to_json())
    change(doc)
    doc["total_bytes"] = sum(p["bytes"] for p in doc.get("parts", []) if isinstance(p.get("bytes"), int))
    if detail != "total_rows":
        doc["total_rows"] = sum(p["rows"] for p in doc.get("parts", []) if isinstance(p.get("rows"), int))
    with pytest.raises(DataCorrupted) as info:
        Manifest.parse(json.dumps(doc).encode(), where="s3://b/x/c.manifest")
    assert info.value.sqlstate == "XX001"
    assert "s3://b/x/c.manifest" in info.value.message
    if detail:
        assert detail in (info.value.detail or "")


def test_not_json() -> None:
    with pytest.raises(DataCorrupted, match="invalid export manifest"):
        Manifest.parse(b"\xff\xfe", where="m")
    with pytest.raises(DataCorrupted, match="invalid export manifest"):
        Manifest.parse(b"{", where="m")


def test_verify_part_passes_good_data_through() -> None:
    part = _part("k", b"hello world", 1)
    assert b"".join(verify_part([b"hello ", b"world"], part, where="s3://b/k")) == b"hello world"


@pytest.mark.parametrize(("chunks", "message"), [
    ([b"hello", b" world!"], "larger than its manifest"),
    ([b"hello"], "shorter than its manifest"),
    ([b"hellO world"], "does not match its checksum"),
])
def test_verify_part_catches_changes(chunks: list[bytes], message: str) -> None:
    part = _part("k", b"hello world", 1)
    with pytest.raises(DataCorrupted, match=message):
        b"".join(verify_part(chunks, part, where="s3://b/k"))
