"""Write rows to S3 as parts plus a manifest, all or nothing.

    writer = ExportWriter(client, parse_s3_uri("s3://bucket/exports/customers"), fmt="csv", header=True)
    writer.prepare()                     # bucket reachable? target free (or overwrite)?
    result = writer.write(rows, framing=framing)

`rows` is any iterable of already-encoded bytes: a bare `bytes` is one complete row,
a `(bytes, n)` tuple is n complete rows. Rows are never split across parts; a part
is closed before the row that would take it past `part_size` (counted before
compression), so a part exceeds it only when one row alone is larger.

Memory stays constant: at most one multipart chunk (`chunk_size`, 8 MiB by
default) per part is held, whatever the export's size. A part larger than one
chunk goes up as a multipart upload; a smaller one as a single PUT.

On any failure (S3, the row source, Ctrl-C) the writer aborts the multipart upload
in progress, deletes every part it wrote, writes no manifest, and re-raises.
Standard library only: this module also runs inside the PostgreSQL backend.
"""

from __future__ import annotations

import hashlib
import logging
import zlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from churnml_loaders.copy_formats import COPY_FORMATS, Framing
from churnml_loaders.errors import DuplicateObject, InvalidParameter, LoaderError
from churnml_loaders.manifest import MYSQL_PARTS, Column, Manifest, ManifestPart, PartNaming, manifest_key
from churnml_loaders.s3_client import S3Client
from churnml_loaders.uris import S3Uri

log = logging.getLogger("churnml_loaders.export")

MIB = 1024 * 1024
DEFAULT_PART_SIZE = 64 * MIB
DEFAULT_CHUNK_SIZE = 8 * MIB
MIN_CHUNK_SIZE = 5 * MIB  # S3's smallest multipart part (all but the last)
_FLUSH_BYTES = 1 * MIB     # rows are gathered this far before hashing/compressing/uploading

def batch_bytes(part_size: int) -> int:
    """How many bytes of whole rows to hand the writer at a time: an eighth of a part (a part
    is closed before the batch that would overflow it, so parts stay within 7/8 of part_size
    and part_size), at most 1 MiB."""
    return max(1, min(_FLUSH_BYTES, part_size // 8))


RowChunk = bytes | bytearray | memoryview | tuple[bytes | memoryview, int]


@dataclass
class ExportResult:
    target: S3Uri
    parts: list[ManifestPart]
    manifest: Manifest | None
    manifest_key: str | None
    replaced: int = 0  # objects of an earlier export that were overwritten or removed

    @property
    def rows(self) -> int:
        return sum(p.rows for p in self.parts)

    @property
    def bytes(self) -> int:
        return sum(p.bytes for p in self.parts)


class _ObjectUpload:
    """One object, fed in pieces: a single PUT if it stays under one chunk, else a multipart upload.

    Pieces are copied into one staging buffer of `chunk_size`, allocated once and sent
    from in place: no per-chunk allocation, no copy beyond that one."""

    def __init__(self, client: S3Client, bucket: str, key: str, chunk_size: int, content_type: str) -> None:
        self.client, self.bucket, self.key = client, bucket, key
        self.chunk_size = chunk_size
        self.content_type = content_type
        self.buffer = bytearray()
        self.filled = 0
        self.upload_id: str | None = None
        self.parts: list[tuple[int, str]] = []
        self.finished = False

    def write(self, data: bytes | bytearray | memoryview) -> None:
        view = memoryview(data).cast("B")
        while view:
            if not self.buffer:
                self.buffer = bytearray(self.chunk_size)
            n = min(len(view), self.chunk_size - self.filled)
            self.buffer[self.filled:self.filled + n] = view[:n]
            self.filled += n
            view = view[n:]
            if self.filled == self.chunk_size:
                self._send_chunk()

    def _staged(self) -> memoryview:
        return memoryview(self.buffer)[:self.filled]

    def _send_chunk(self) -> None:
        if self.upload_id is None:
            self.upload_id = self.client.create_multipart_upload(self.bucket, self.key, content_type=self.content_type)
        number = len(self.parts) + 1
        with self._staged() as piece:
            self.parts.append((number, self.client.upload_part(self.bucket, self.key, self.upload_id, number, piece)))
        self.filled = 0

    def close(self) -> None:
        if self.upload_id is None:
            with self._staged() as body:
                self.client.put_object(self.bucket, self.key, body, content_type=self.content_type)
        else:
            if self.filled or not self.parts:
                self._send_chunk()
            self.client.complete_multipart_upload(self.bucket, self.key, self.upload_id, self.parts)
        self.buffer = bytearray()
        self.filled = 0
        self.finished = True

    def abort(self) -> None:
        if self.upload_id is not None and not self.finished:
            self.client.abort_multipart_upload(self.bucket, self.key, self.upload_id)
            self.upload_id = None


@dataclass
class _Part:
    """The part being written: compresses, hashes and counts what goes to its upload."""

    key: str
    upload: _ObjectUpload
    compressor: zlib._Compress | None
    rows: int = 0
    raw_bytes: int = 0
    stored_bytes: int = 0
    digest: hashlib._Hash = field(default_factory=hashlib.sha256)
    pending: bytearray = field(default_factory=bytearray)

    def add(self, data: bytes | bytearray | memoryview, rows: int) -> None:
        self.rows += rows
        self.raw_bytes += len(data)
        if not self.pending and self.compressor is None and len(data) >= _FLUSH_BYTES:
            self._store(data)  # already large: straight to the upload, without gathering it first
            return
        self.pending += data
        if len(self.pending) >= _FLUSH_BYTES:
            self.flush()

    def flush(self) -> None:
        if not self.pending:
            return
        data, self.pending = self.pending, bytearray()
        self._store(self.compressor.compress(data) if self.compressor else data)

    def _store(self, data: bytes | bytearray | memoryview) -> None:
        if data:
            self.digest.update(data)
            self.stored_bytes += len(data)
            self.upload.write(data)

    def finish(self, trailer: bytes) -> ManifestPart:
        if trailer:
            self.pending += trailer
            self.raw_bytes += len(trailer)
        self.flush()
        if self.compressor:
            self._store(self.compressor.flush())
        self.upload.close()
        return ManifestPart(key=self.key, bytes=self.stored_bytes, rows=self.rows, sha256=self.digest.hexdigest(),
                            uncompressed_bytes=self.raw_bytes if self.compressor else None)


@dataclass
class _Run:
    """One export in progress: every part key it started, and the part being written (if any)."""

    touched: list[str] = field(default_factory=list)
    part: _Part | None = None


class ExportWriter:
    formats: tuple[str, ...] = COPY_FORMATS
    formats_hint = "Use csv, text or binary."

    def __init__(self, client: S3Client, target: S3Uri, *, fmt: str, header: bool = False,
                 columns: Sequence[Column] = (), gzip: bool = False, part_size: int = DEFAULT_PART_SIZE,
                 chunk_size: int = DEFAULT_CHUNK_SIZE, write_manifest: bool = True, overwrite: bool = False,
                 compresslevel: int = 6, naming: PartNaming = MYSQL_PARTS) -> None:
        if fmt not in self.formats:
            raise InvalidParameter(f"unknown export format \"{fmt}\"", detail=f"It is {fmt!r}.",
                                   hint=self.formats_hint)
        if not target.key or target.key.endswith("/"):
            raise InvalidParameter(
                f"export target \"{target}\" must name a prefix for the part objects, not a folder",
                detail="Parts are written as <prefix>.part_00000, <prefix>.part_00001, ... and <prefix>.manifest.",
                hint=f"Add a name, e.g. {target}{'' if target.key.endswith('/') or not target.key else '/'}customers.")
        if part_size < 1:
            raise InvalidParameter("part size must be at least 1 byte", detail=f"It is {part_size}.",
                                   hint="Leave it out, or give e.g. 64MB.")
        if chunk_size < MIN_CHUNK_SIZE:
            raise InvalidParameter(f"multipart chunk size must be at least {MIN_CHUNK_SIZE} bytes (S3's minimum)",
                                   detail=f"It is {chunk_size}.")
        if fmt == "binary" and header:
            raise InvalidParameter("a header line is not possible with the binary format",
                                   detail="A binary COPY file has no lines.",
                                   hint="Drop the header option, or use csv or text.")
        self.client = client
        self.target = target
        self.fmt = fmt
        self.header = header
        self.columns = tuple(columns)
        self.gzip = gzip
        self.part_size = part_size
        self.chunk_size = chunk_size
        self.write_manifest = write_manifest
        self.overwrite = overwrite
        self.compresslevel = compresslevel
        self.naming = naming
        self._existing: list[str] | None = None

    @property
    def manifest_key(self) -> str:
        return manifest_key(self.target.key)

    def _existing_objects(self) -> list[str]:
        prefix = self.target.key
        return [o.key for o in self.client.list_objects(self.target.bucket, prefix)
                if o.key == manifest_key(prefix) or self.naming.owns(prefix, o.key)]

    def prepare(self) -> list[str]:
        """Check the bucket and the target before any row is read (cheap, and fails early);
        the keys of an earlier export there (which overwrite replaces)."""
        self.client.head_bucket(self.target.bucket)
        existing = self._existing_objects()
        if existing and not self.overwrite:
            shown = ", ".join(existing[:3]) + (", …" if len(existing) > 3 else "")
            raise DuplicateObject(
                f"export target \"{self.target}\" already exists",
                detail=f"{len(existing)} object(s) of an earlier export are there: {shown}.",
                hint="Pass --overwrite (overwrite => true) to replace them, or choose another prefix.")
        self._existing = existing
        return list(existing)

    def assume_prepared(self, existing: Sequence[str]) -> None:
        """Take `existing` as prepare()'s finding: export_query checks the target in the backend,
        before its query runs, and hands the finding to the process that uploads."""
        self._existing = list(existing)

    def write(self, rows: Iterable[RowChunk], *, framing: Framing | None = None,
              before_commit: Callable[[list[ManifestPart]], None] | None = None) -> ExportResult:
        """Write every row, then the manifest; on any failure leave nothing behind and re-raise.

        `before_commit` is called with the parts once they are all uploaded, before the old
        export's leftovers are removed and the manifest is written: if it raises, the export
        is undone as for any other failure (export_query's last chance to honour a cancel)."""
        framing = framing or Framing()
        return self._export(lambda run: self._write_rows(rows, framing, run), before_commit)

    def _write_rows(self, rows: Iterable[RowChunk], framing: Framing, run: _Run) -> list[ManifestPart]:
        done: list[ManifestPart] = []
        for item in rows:
            if isinstance(item, tuple):
                data, count = item
            else:
                data, count = item, 1
            if run.part is None:
                run.part = self._start_part(len(done), framing, run.touched)
            elif run.part.rows and run.part.raw_bytes + len(data) + len(framing.trailer) > self.part_size:
                done.append(run.part.finish(framing.trailer))
                run.part = self._start_part(len(done), framing, run.touched)
            run.part.add(data, count)
        if run.part is None:  # no rows: still one (empty or header-only) part, so loads find something
            run.part = self._start_part(0, framing, run.touched)
        done.append(run.part.finish(framing.trailer))
        run.part = None
        return done

    def _export(self, produce: Callable[[_Run], list[ManifestPart]],
                before_commit: Callable[[list[ManifestPart]], None] | None = None) -> ExportResult:
        """Run `produce` (which writes the parts, keeping `run` current), then the manifest; on any
        failure abort the open upload, delete every part written, write no manifest, and re-raise."""
        if self._existing is None:
            self.prepare()
        existing = self._existing or []
        bucket = self.target.bucket
        run = _Run()
        try:
            if self.manifest_key in existing:
                # First take away the old "complete" signal, so nobody loads a half-replaced export.
                self.client.delete_object(bucket, self.manifest_key)
            done = produce(run)
            if before_commit is not None:
                before_commit(done)
            new_keys = {p.key for p in done}
            stale = [k for k in existing if k not in new_keys and k != self.manifest_key]
            if stale:
                self.client.delete_objects(bucket, stale)
            manifest = None
            if self.write_manifest:
                manifest = Manifest(format=self.fmt, compression="gzip" if self.gzip else "none", header=self.header,
                                    columns=self.columns, parts=tuple(done))
                # The manifest goes last: its presence says the export is complete.
                self.client.put_object(bucket, self.manifest_key, manifest.to_json(), content_type="application/json")
            return ExportResult(target=self.target, parts=done, manifest=manifest,
                                manifest_key=self.manifest_key if manifest else None, replaced=len(existing))
        except BaseException as exc:
            self._clean_up(exc, run.part, run.touched, existing)
            raise

    def _content_type(self) -> str:
        return "application/gzip" if self.gzip else ("text/csv" if self.fmt == "csv" else "application/octet-stream")

    def _start_part(self, index: int, framing: Framing, touched: list[str]) -> _Part:
        key = self.naming.key(self.target.key, index)
        touched.append(key)
        upload = _ObjectUpload(self.client, self.target.bucket, key, self.chunk_size, self._content_type())
        compressor = zlib.compressobj(self.compresslevel, zlib.DEFLATED, 31) if self.gzip else None
        part = _Part(key=key, upload=upload, compressor=compressor)
        if framing.preamble:
            part.pending += framing.preamble
            part.raw_bytes += len(framing.preamble)
        return part

    def _clean_up(self, exc: BaseException, part: _Part | None, touched: list[str], existing: list[str]) -> None:
        """Leave nothing behind: abort the open upload, delete written parts (and, when
        overwriting, the old export's leftovers, since its manifest is already gone)."""
        problems: list[str] = []
        if part is not None:
            try:
                part.upload.abort()
            except Exception as cleanup_exc:  # noqa: BLE001 - report, but keep the original error
                problems.append(f"aborting the upload of {part.key}: {_short(cleanup_exc)}")
        doomed = list(dict.fromkeys([*touched, *existing]))
        if doomed:
            try:
                self.client.delete_objects(self.target.bucket, doomed)
            except Exception as cleanup_exc:  # noqa: BLE001
                problems.append(f"deleting {len(doomed)} part(s): {_short(cleanup_exc)}")
        if problems:
            note = ("churnml could not clean up after the failed export (" + "; ".join(problems) +
                    f"); parts of s3://{self.target.bucket}/{self.target.key} may remain, "
                    "but no manifest was written")
            log.warning("%s", note)
            if isinstance(exc, LoaderError):
                exc.detail = f"{exc.detail} {note}." if exc.detail else note[0].upper() + note[1:] + "."
            else:
                exc.add_note(note)


def _short(exc: BaseException) -> str:
    return str(exc) if isinstance(exc, LoaderError) else type(exc).__name__
