"""Read objects from S3 as one COPY FROM input stream, remembering where each line came from.

    plan = plan_load(client, parse_s3_uri("s3://bucket/exports/customers"), mode="manifest")
    reader = LoadReader(client, plan, fmt=plan.format or "csv", header_lines=1)
    for chunk in reader.chunks():
        copy.write(chunk)
    ...
    where = reader.locate(copy_line)     # after an error on COPY line N: which object, which line

Modes (as Aurora MySQL's LOAD DATA FROM S3):

* `file`      the URI names one object;
* `prefix`    every object whose key starts with the URI's key, in key order
              (folder markers and `*.manifest` objects are skipped);
* `manifest`  the URI names an export manifest (`prefix.manifest`, or the prefix
              itself); its parts are read in order and each one's size and sha256
              are checked as it streams.

Objects are gunzipped transparently when they start with gzip's magic bytes. With
`header_lines`, that many lines are dropped from the top of every object (each
exported part carries its own header). For binary COPY, the signature header of
every object but the first and the end marker of every object but the last are
dropped, so the parts form one valid binary COPY stream.
Memory stays constant: one chunk per stage. Standard library only: this module
also runs inside the PostgreSQL backend.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from churnml_loaders.copy_formats import BINARY_TRAILER, COPY_FORMATS, binary_header_length
from churnml_loaders.errors import DataCorrupted, DataException, InvalidParameter, LoaderError, S3ObjectNotFound
from churnml_loaders.manifest import MANIFEST_SUFFIX, MAX_MANIFEST_BYTES, Manifest, ManifestPart, verify_part
from churnml_loaders.s3_client import DEFAULT_CHUNK_SIZE, S3Client
from churnml_loaders.uris import S3Uri

LOAD_MODES = ("file", "prefix", "manifest")
GZIP_MAGIC = b"\x1f\x8b"


@dataclass(frozen=True)
class SourceObject:
    bucket: str
    key: str
    size: int
    etag: str = ""
    part: ManifestPart | None = None  # set in manifest mode: the size and checksum to verify

    @property
    def uri(self) -> str:
        return f"s3://{self.bucket}/{self.key}"


@dataclass(frozen=True)
class LoadPlan:
    mode: str
    sources: tuple[SourceObject, ...]
    manifest: Manifest | None = None
    manifest_key: str | None = None

    @property
    def total_bytes(self) -> int:
        return sum(s.size for s in self.sources)

    @property
    def format(self) -> str | None:
        return self.manifest.format if self.manifest else None

    @property
    def header(self) -> bool | None:
        return self.manifest.header if self.manifest else None


def plan_load(client: S3Client, uri: S3Uri, mode: str = "file", *, allow_foreign_parts: bool = False) -> LoadPlan:
    """Resolve a URI and mode into the ordered list of objects to read.

    In manifest mode the parts must lie under the manifest's own prefix unless
    `allow_foreign_parts`: a manifest is data, and must not become a way to read
    keys the URI did not name.
    """
    if mode not in LOAD_MODES:
        raise InvalidParameter(f"unknown load mode \"{mode}\"",
                               detail="A load reads one object, a prefix or a manifest's parts.",
                               hint="Use file, prefix or manifest.")
    if mode == "file":
        if not uri.key or uri.key.endswith("/"):
            raise InvalidParameter(f"\"{uri}\" names a folder, not an object",
                                   detail="Mode file reads one object by its full key.",
                                   hint="Give the object's full key, or use --mode prefix.")
        info = client.head_object(uri.bucket, uri.key)
        return LoadPlan(mode, (SourceObject(uri.bucket, uri.key, info.size, info.etag),))
    if mode == "prefix":
        objects = [o for o in client.list_objects(uri.bucket, uri.key)
                   if not o.key.endswith("/") and not o.key.endswith(MANIFEST_SUFFIX)]
        if not objects:
            client.head_bucket(uri.bucket)  # a missing bucket says so
            raise S3ObjectNotFound(f"no objects under \"{uri}\"", bucket=uri.bucket, key=uri.key,
                                   endpoint=client.endpoint,
                                   hint="Check the prefix (keys are case-sensitive); "
                                        "`--mode file` reads one object by its full key.")
        objects.sort(key=lambda o: o.key.encode("utf-8"))  # S3's order, whatever the server returned
        return LoadPlan(mode, tuple(SourceObject(uri.bucket, o.key, o.size, o.etag) for o in objects))
    key = uri.key if uri.key.endswith(MANIFEST_SUFFIX) else uri.key + MANIFEST_SUFFIX
    where = f"s3://{uri.bucket}/{key}"
    try:
        data = client.read_object(uri.bucket, key, max_bytes=MAX_MANIFEST_BYTES)
    except S3ObjectNotFound as exc:
        exc.message = f"export manifest \"{where}\" does not exist"
        exc.hint = ("The manifest is written last: the export may be unfinished or may have failed, or it was "
                    "written without a manifest (then load it with --mode prefix).")
        raise
    manifest = Manifest.parse(data, where=where)
    prefix = key[:-len(MANIFEST_SUFFIX)]
    if not allow_foreign_parts:
        foreign = [p.key for p in manifest.parts if not p.key.startswith(prefix)]
        if foreign:
            raise DataCorrupted(f"export manifest {where} names objects outside its prefix",
                                detail=f"For example \"{foreign[0][:200]}\" does not start with \"{prefix}\".",
                                hint="Only manifests written by churnml export are loaded.")
    sources = tuple(SourceObject(uri.bucket, p.key, p.bytes, part=p) for p in manifest.parts)
    return LoadPlan(mode, sources, manifest=manifest, manifest_key=key)


@dataclass
class ObjectSpan:
    """Which COPY input lines one object produced."""

    source: SourceObject
    first_line: int   # the COPY line number of the object's first data line
    lines: int = 0    # data lines sent so far (newlines counted)
    skipped: int = 0  # header lines dropped from its top
    kept: int = 0     # a header line left for COPY to check (header match), counted by COPY as a line
    finished: bool = False

    @property
    def records(self) -> int:
        # PostgreSQL counts CSV records, not physical lines; the manifest knows the records.
        if self.source.part is not None:
            return self.source.part.rows + self.kept
        return self.lines


@dataclass(frozen=True)
class Location:
    source: SourceObject
    line: int  # line in the object (as stored, after gunzip), header lines included, 1-based


class HeaderMismatch(LoaderError):
    """An object's header line differs from the first object's, under COPY's HEADER MATCH (22P04,
    COPY's SQLSTATE for a header that does not match)."""

    sqlstate = "22P04"  # bad_copy_file_format


@dataclass
class HeaderMatch:
    """COPY's HEADER MATCH over several objects: the first object's header line goes to COPY,
    which checks it against the columns; every other object's must be the same bytes (and so
    matches too), and is dropped."""

    line: bytes | None = None  # the first object's header line, newline included
    source: str = ""


class LoadReader:
    def __init__(self, client: S3Client, plan: LoadPlan, *, fmt: str = "csv", header_lines: int = 0,
                 verify: bool = True, chunk_size: int = DEFAULT_CHUNK_SIZE,
                 on_read: Callable[[int], None] | None = None, match_header: bool = False) -> None:
        if fmt not in COPY_FORMATS:
            raise InvalidParameter(f"unknown load format \"{fmt}\"", detail="COPY's formats: csv, text and binary.",
                                   hint="Use csv, text or binary.")
        if plan.manifest is not None and plan.manifest.format not in COPY_FORMATS:
            raise InvalidParameter(
                f"the export s3://{plan.sources[0].bucket}/{plan.manifest_key} is in {plan.manifest.format} format",
                detail="Loads read COPY data (csv, text or binary); Parquet parts are for readers such as Dask, "
                       "Spark or pyarrow (churnml train --engine dask reads them).",
                hint="Export again with --format csv (or text, binary) to load it into a table.")
        if fmt == "binary" and header_lines:
            raise InvalidParameter("header lines are not possible with the binary format",
                                   detail="A binary COPY file has no lines.", hint="Skip no lines with binary.")
        if header_lines < 0:
            raise InvalidParameter("the number of header lines cannot be negative",
                                   detail=f"It is {header_lines}.", hint="Pass 0 or more.")
        self.client = client
        self.plan = plan
        self.fmt = fmt
        self.header_lines = header_lines
        self.match = HeaderMatch() if match_header else None
        self.verify = verify
        self.chunk_size = chunk_size
        self.on_read = on_read
        self.spans: list[ObjectSpan] = []
        self.bytes_read = 0  # as stored (compressed)
        self.bytes_out = 0   # as given to COPY

    @property
    def current(self) -> SourceObject | None:
        """The object being read (or the last one read)."""
        return self.spans[-1].source if self.spans else None

    def chunks(self) -> Iterator[bytes]:
        """The COPY input: every object, in order, as one stream of chunks."""
        count = len(self.plan.sources)
        for index, source in enumerate(self.plan.sources):
            first_line = self.spans[-1].first_line + self.spans[-1].records if self.spans else 1
            span = ObjectSpan(source, first_line)
            self.spans.append(span)
            try:
                for chunk in self._object_chunks(span, first=index == 0, last=index == count - 1):
                    self.bytes_out += len(chunk)
                    yield chunk
            except LoaderError as exc:
                if source.uri not in (exc.message + (exc.detail or "")):
                    exc.detail = f"{exc.detail} (object {source.uri})" if exc.detail else f"Object {source.uri}."
                raise
            span.finished = True

    def locate(self, copy_line: int) -> Location | None:
        """Map PostgreSQL's "COPY t, line N" back to the object and its own line number."""
        if self.fmt == "binary":
            return None
        for span in self.spans:
            if span.first_line <= copy_line < span.first_line + span.records or \
                    (span is self.spans[-1] and copy_line >= span.first_line):
                return Location(span.source, copy_line - span.first_line + 1 + span.skipped)
        return None

    # ---- one object -------------------------------------------------------------------
    def _object_chunks(self, span: ObjectSpan, *, first: bool, last: bool) -> Iterator[bytes]:
        source = span.source
        raw: Iterable[bytes] = self.client.get_object(source.bucket, source.key, chunk_size=self.chunk_size)
        raw = self._counted(raw)
        if self.verify and source.part is not None:
            raw = verify_part(raw, source.part, where=source.uri)
        expect_gzip = None
        if self.plan.manifest is not None:
            expect_gzip = self.plan.manifest.compression == "gzip"
        data = maybe_gunzip(raw, where=source.uri, expect_gzip=expect_gzip, out_size=self.chunk_size)
        if self.fmt == "binary":
            yield from binary_object(data, keep_header=first, keep_trailer=last, where=source.uri)
        else:
            yield from text_object(data, span, self.header_lines, self.match)

    def _counted(self, chunks: Iterable[bytes]) -> Iterator[bytes]:
        for chunk in chunks:
            self.bytes_read += len(chunk)
            if self.on_read is not None:
                self.on_read(len(chunk))
            yield chunk


def maybe_gunzip(chunks: Iterable[bytes], *, where: str, expect_gzip: bool | None = None,
                 out_size: int = DEFAULT_CHUNK_SIZE) -> Iterator[bytes]:
    """The bytes as they are, or gunzipped when they start with gzip's magic bytes."""
    it = iter(chunks)
    head = b""
    for chunk in it:
        head += chunk
        if len(head) >= len(GZIP_MAGIC):
            break
    is_gzip = head.startswith(GZIP_MAGIC)
    if expect_gzip is not None and head and expect_gzip != is_gzip:
        raise DataCorrupted(f"export part {where} is {'not ' if expect_gzip else ''}gzip-compressed "
                            f"but its manifest says it is{'' if expect_gzip else ' not'}",
                            detail="The part was replaced after the manifest was written, or the manifest is not "
                                   "churnml's.", hint="Export again.")
    if not is_gzip:
        if head:
            yield head
        yield from it
        return
    yield from _gunzip(_chain(head, it), where=where, out_size=out_size)


def _chain(first: bytes, rest: Iterator[bytes]) -> Iterator[bytes]:
    yield first
    yield from rest


def _gunzip(chunks: Iterable[bytes], *, where: str, out_size: int) -> Iterator[bytes]:
    """Decompress gzip (several concatenated members too) with bounded output per step."""
    inflater = zlib.decompressobj(31)
    member_started = False
    try:
        for chunk in chunks:
            data = chunk
            while data:
                member_started = True
                out = inflater.decompress(data, out_size)
                if out:
                    yield out
                if inflater.eof:
                    data = inflater.unused_data
                    inflater = zlib.decompressobj(31)
                    member_started = False
                else:
                    data = inflater.unconsumed_tail
        # A broken object is bad input (22000), like a bad row; XX001 stays for churnml's own exports whose
        # manifest, sizes or checksums disagree (docs/loaders.md), and for stored artifacts.
        if member_started and not inflater.eof:
            raise DataException(f"gzip object {where} is truncated",
                                detail="The gzip stream ends before its last member is complete.",
                                hint="The object is incomplete; write it again.")
    except zlib.error as exc:
        raise DataException(f"gzip object {where} cannot be decompressed", detail=f"zlib: {exc}.") from None


def _header_checked(chunks: Iterable[bytes], span: ObjectSpan, match: HeaderMatch) -> Iterator[bytes]:
    """The object with its header line kept (the first object) or checked and dropped (the others)."""
    it = iter(chunks)
    head = b""
    for chunk in it:
        head += chunk
        if b"\n" in head or len(head) > 1 << 20:
            break
    newline = head.find(b"\n")
    line, rest = (head[:newline + 1], head[newline + 1:]) if newline >= 0 else (head, b"")
    where = getattr(span.source, "uri", span.source)
    if match.line is None:
        match.line, match.source = line, str(where)
        span.kept += 1
        yield line
    elif line.rstrip(b"\r\n") != match.line.rstrip(b"\r\n"):
        raise HeaderMismatch(f"the header line of {where} differs from that of {match.source}",
                             detail="With header match, COPY checks the first object's header line against the "
                                    "columns, and every other object must have the same one.",
                             hint="Load the objects separately, or with header true.")
    else:
        span.skipped += 1
    if rest:
        yield rest
    yield from it


def text_object(chunks: Iterable[bytes], span: ObjectSpan, header_lines: int,
                match: HeaderMatch | None = None) -> Iterator[bytes]:
    skip = header_lines
    last = b""
    if match is not None:
        chunks = _header_checked(chunks, span, match)
    for chunk in chunks:
        while skip and chunk:
            newline = chunk.find(b"\n")
            if newline < 0:
                chunk = b""
                break
            chunk = chunk[newline + 1:]
            skip -= 1
            span.skipped += 1
        if not chunk:
            continue
        span.lines += chunk.count(b"\n")
        last = chunk[-1:]
        yield chunk
    if last and last != b"\n":
        # Without it, the next object's first line would be glued to this one's last.
        span.lines += 1
        yield b"\n"


def binary_object(chunks: Iterable[bytes], *, keep_header: bool, keep_trailer: bool,
                   where: str) -> Iterator[bytes]:
    head = b""
    header_done = False
    held = b""
    for chunk in chunks:
        if not header_done:
            head += chunk
            try:
                length = binary_header_length(head)
            except DataException as exc:
                raise DataException(f"object {where} is not a binary COPY file", detail=exc.detail,
                                    hint="Load it with --format csv or text, as it was exported.") from None
            if length is None:
                continue
            header_done = True
            chunk = head if keep_header else head[length:]
            head = b""
        data = held + chunk
        held, out = data[-len(BINARY_TRAILER):], data[:-len(BINARY_TRAILER)]
        if out:
            yield out
    if not header_done:
        raise DataException(f"object {where} is not a complete binary COPY file",
                            detail="It ends inside the PGCOPY header.")
    if held != BINARY_TRAILER:
        raise DataException(f"binary COPY object {where} has no end marker",
                            detail="A binary COPY file ends with the two bytes ff ff.",
                            hint="The object is incomplete; export it again.")
    if keep_trailer:
        yield held
