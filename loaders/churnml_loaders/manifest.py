"""The export manifest: which objects make up an export, and how to check them.

An export to `s3://bucket/exports/customers` writes

    exports/customers.part_00000, exports/customers.part_00001, ...
    exports/customers.manifest      <- written LAST: its presence means "complete"

The manifest is JSON:

    {"version": 1, "created_at": "2025-01-31T12:00:00Z", "format": "csv",
     "compression": "gzip", "header": true,
     "columns": [{"name": "phone", "type": "text"}, ...],
     "parts": [{"key": "exports/customers.part_00000", "bytes": 1234, "rows": 100,
                "sha256": "…", "uncompressed_bytes": 5678}, ...],
     "total_rows": 100, "total_bytes": 1234}

`bytes` and `sha256` describe the object as stored (after gzip), so a reader checks
what it downloads before decompressing it. `rows` counts data rows (headers not
included). Every part is loadable on its own (each has the header line, or for
binary COPY the signature and trailer).
Standard library only: this module also runs inside the PostgreSQL backend.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from churnml_loaders.errors import DataCorrupted, InvalidParameter
from churnml_loaders.uris import check_key

MANIFEST_VERSION = 1
MANIFEST_SUFFIX = ".manifest"
# csv/text/binary parts are COPY data; parquet parts are Apache Parquet files (`churnml export --format parquet`)
FORMATS = ("csv", "text", "binary", "parquet")
COMPRESSIONS = ("none", "gzip")
MAX_MANIFEST_BYTES = 16 * 1024 * 1024
_SHA256 = re.compile(r"[0-9a-f]{64}")
_PART_SUFFIX = re.compile(r"\.part_(\d{5,})")


def part_key(prefix: str, index: int) -> str:
    """`prefix.part_00000`, `prefix.part_00001`, ... (Aurora MySQL's naming)."""
    return f"{prefix}.part_{index:05d}"


def manifest_key(prefix: str) -> str:
    return prefix + MANIFEST_SUFFIX


def is_part_of(prefix: str, key: str) -> bool:
    """Whether `key` is one of the part objects an export to `prefix` writes."""
    return key.startswith(prefix) and _PART_SUFFIX.fullmatch(key[len(prefix):]) is not None


@dataclass(frozen=True)
class PartNaming:
    """How an export names its part objects: the key of part `index`, and which keys are parts."""

    key: Callable[[str, int], str]
    owns: Callable[[str, str], bool]


_AURORA_PG_SUFFIX = re.compile(r"_part([2-9]|[1-9][0-9]+)")


def _aurora_pg_key(path: str, index: int) -> str:
    return path if index == 0 else f"{path}_part{index + 1}"


def _aurora_pg_owns(path: str, key: str) -> bool:
    return key == path or (key.startswith(path) and _AURORA_PG_SUFFIX.fullmatch(key[len(path):]) is not None)


# Aurora MySQL (and churnml): prefix.part_00000, prefix.part_00001, ...
MYSQL_PARTS = PartNaming(key=part_key, owns=is_part_of)
# Aurora PostgreSQL's aws_s3.query_export_to_s3: the file itself, then file_part2, file_part3, ...
AURORA_PG_PARTS = PartNaming(key=_aurora_pg_key, owns=_aurora_pg_owns)


@dataclass(frozen=True)
class ManifestPart:
    key: str
    bytes: int
    rows: int
    sha256: str
    uncompressed_bytes: int | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"key": self.key, "bytes": self.bytes, "rows": self.rows, "sha256": self.sha256}
        if self.uncompressed_bytes is not None:
            out["uncompressed_bytes"] = self.uncompressed_bytes
        return out


@dataclass(frozen=True)
class Column:
    name: str
    type: str | None = None


@dataclass(frozen=True)
class Manifest:
    format: str
    compression: str
    header: bool
    columns: tuple[Column, ...]
    parts: tuple[ManifestPart, ...]
    created_at: str = field(default_factory=lambda: datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"))
    version: int = MANIFEST_VERSION

    @property
    def total_rows(self) -> int:
        return sum(p.rows for p in self.parts)

    @property
    def total_bytes(self) -> int:
        return sum(p.bytes for p in self.parts)

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "created_at": self.created_at,
            "format": self.format,
            "compression": self.compression,
            "header": self.header,
            "columns": [{"name": c.name, "type": c.type} for c in self.columns],
            "parts": [p.to_dict() for p in self.parts],
            "total_rows": self.total_rows,
            "total_bytes": self.total_bytes,
        }

    def to_json(self) -> bytes:
        return (json.dumps(self.to_dict(), indent=2, ensure_ascii=False) + "\n").encode("utf-8")

    @classmethod
    def parse(cls, data: bytes, *, where: str) -> Manifest:
        """Parse and validate a manifest; anything wrong is DataCorrupted naming `where`."""
        if len(data) > MAX_MANIFEST_BYTES:
            raise _corrupt(where, f"It is {len(data)} bytes; a manifest is at most {MAX_MANIFEST_BYTES}.")
        try:
            doc = json.loads(data.decode("utf-8"))
        except UnicodeDecodeError:
            raise _corrupt(where, "It is not UTF-8 text.") from None
        except json.JSONDecodeError as exc:
            raise _corrupt(where, f"It is not valid JSON: {exc.msg} at line {exc.lineno}.") from None
        return cls.from_dict(doc, where=where)

    @classmethod
    def from_dict(cls, doc: Any, *, where: str) -> Manifest:
        if not isinstance(doc, dict):
            raise _corrupt(where, "It is not a JSON object.")
        version = doc.get("version")
        if version != MANIFEST_VERSION:
            raise DataCorrupted(
                f"unsupported manifest version {version!r} in {where}",
                detail=f"This churnml reads manifest version {MANIFEST_VERSION}.",
                hint="Export again with this version of churnml, or upgrade churnml.")
        fmt = _get(doc, "format", str, where)
        if fmt not in FORMATS:
            raise _corrupt(where, f"Unknown format \"{fmt}\" (expected one of {', '.join(FORMATS)}).")
        compression = _get(doc, "compression", str, where)
        if compression not in COMPRESSIONS:
            raise _corrupt(where, f"Unknown compression \"{compression}\".")
        header = _get(doc, "header", bool, where)
        created_at = _get(doc, "created_at", str, where)
        columns = []
        for item in _get(doc, "columns", list, where):
            if not isinstance(item, dict) or not isinstance(item.get("name"), str) or \
                    not isinstance(item.get("type"), str | None):
                raise _corrupt(where, "Each column must be {\"name\": text, \"type\": text or null}.")
            columns.append(Column(item["name"], item.get("type")))
        parts = [_part(item, where) for item in _get(doc, "parts", list, where)]
        if not parts:
            raise _corrupt(where, "It lists no parts.")
        keys = [p.key for p in parts]
        if len(set(keys)) != len(keys):
            raise _corrupt(where, "It lists the same part twice.")
        manifest = cls(format=fmt, compression=compression, header=header, columns=tuple(columns),
                       parts=tuple(parts), created_at=created_at, version=version)
        for total, actual in (("total_rows", manifest.total_rows), ("total_bytes", manifest.total_bytes)):
            if _get(doc, total, int, where) != actual:
                raise _corrupt(where, f"Its {total} is {doc[total]} but its parts add up to {actual}.")
        return manifest


def _get(doc: Mapping[str, Any], name: str, kind: type, where: str) -> Any:
    value = doc.get(name)
    # bool is an int in Python; a count that is true/false is still wrong
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise _corrupt(where, f"\"{name}\" is missing or not a {kind.__name__}.")
    return value


def _part(item: Any, where: str) -> ManifestPart:
    if not isinstance(item, dict):
        raise _corrupt(where, "Each part must be a JSON object.")
    key = _get(item, "key", str, where)
    try:
        check_key(key)
    except InvalidParameter as exc:
        raise _corrupt(where, f"Part key \"{key[:200]}\" is not a valid S3 key: {exc.detail}") from None
    size = _get(item, "bytes", int, where)
    rows = _get(item, "rows", int, where)
    digest = _get(item, "sha256", str, where)
    if size < 0 or rows < 0:
        raise _corrupt(where, f"Part \"{key}\" has a negative size or row count.")
    if not _SHA256.fullmatch(digest):
        raise _corrupt(where, f"Part \"{key}\" has no valid sha256 (64 lowercase hex digits).")
    uncompressed = item.get("uncompressed_bytes")
    if uncompressed is not None and (not isinstance(uncompressed, int) or isinstance(uncompressed, bool)):
        raise _corrupt(where, f"Part \"{key}\" has an invalid uncompressed_bytes.")
    return ManifestPart(key=key, bytes=size, rows=rows, sha256=digest, uncompressed_bytes=uncompressed)


def _corrupt(where: str, detail: str) -> DataCorrupted:
    return DataCorrupted(f"invalid export manifest {where}", detail=detail,
                         hint="The export that wrote it may have been changed or damaged; export again.")


def verify_part(chunks: Iterable[bytes], part: ManifestPart, *, where: str) -> Iterator[bytes]:
    """Pass `chunks` through while checking them against the manifest's size and sha256.

    The checksum can only be judged at the end, after the bytes went on: callers
    that load must do so in one transaction (churnml load does), so a mismatch
    rolls everything back.
    """
    digest = hashlib.sha256()
    seen = 0
    for chunk in chunks:
        seen += len(chunk)
        if seen > part.bytes:
            raise DataCorrupted(f"export part {where} is larger than its manifest says",
                                detail=f"The manifest says {part.bytes} bytes; already read {seen}.",
                                hint="The object was changed after the export; export again.")
        digest.update(chunk)
        yield chunk
    if seen != part.bytes:
        raise DataCorrupted(f"export part {where} is shorter than its manifest says",
                            detail=f"The manifest says {part.bytes} bytes; the object has {seen}.",
                            hint="The object was changed after the export; export again.")
    if digest.hexdigest() != part.sha256:
        raise DataCorrupted(f"export part {where} does not match its checksum",
                            detail=f"sha256 {digest.hexdigest()}, the manifest says {part.sha256}.",
                            hint="The object was changed or damaged after the export; export again.")
