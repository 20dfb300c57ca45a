"""SQL area: export_query and load_from_s3, object storage in and out from inside the server.

Both run with the caller's privileges (nothing here is SECURITY DEFINER): the
exported query reads only what the caller may read, the load inserts only where the
caller may insert. And they reach only the object storage the caller was granted: every
URI, listed object, manifest part and overwritten object must lie in a storage location
on which the caller has the privilege (read to load, write to export), checked before
any request to storage (churnml.loader_sql.storage_access). Endpoint and credentials are
the location's named credential in the server's configuration
(churnml_loaders.server_config), never arguments.
"""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import gzip
import json
import os
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from churnml import interrupts, progress
from churnml.errors import (
    DataException,
    DuplicateObject,
    InsufficientPrivilege,
    InvalidParameter,
    NullValueNotAllowed,
    sql_literal,
)
from churnml.loader_sql import copy_options
from churnml.loader_sql.storage_access import StorageAccess
from churnml.loader_sql.table_loader import TableLoader, target_columns
from churnml.source_data import caller_search_path, query_columns
from churnml.spi import Plpy, prepared
from churnml.sql_api.entry import entry
from churnml_loaders import server_config
from churnml_loaders.copy_options import CopyOptions
from churnml_loaders.load_reader import LOAD_MODES
from churnml_loaders.locations import Location, uri_text
from churnml_loaders.manifest import AURORA_PG_PARTS, MANIFEST_SUFFIX, MYSQL_PARTS, PartNaming
from churnml_loaders.uris import FileUri, S3Uri, parse_uri

LOAD_FORMATS = ("csv", "text", "binary")


def _require_admin_for_files(plpy: Plpy) -> None:
    plan = plpy.prepare("SELECT pg_catalog.pg_has_role(CURRENT_USER, 'churnml_admin', 'MEMBER') AS admin", [])
    if not plpy.execute(plan)[0]["admin"]:
        raise InsufficientPrivilege("only members of churnml_admin may use file:// URIs",
                                    detail="file:// URIs read and write files of the database server.",
                                    hint="Use an s3:// URI, or ask an administrator.")


@dataclass
class _Span:
    """What one object put into the spool file: its name, records and header lines skipped."""

    source: str
    lines: int = 0
    skipped: int = 0
    kept: int = 0


def _file_chunks(path: Path, span: _Span, fmt: str, skip: int, match: Any) -> Iterator[bytes]:
    """A server-side file as COPY input: gunzipped when it is gzip, header lines dropped (kept for
    COPY's HEADER MATCH when `match` is a HeaderMatch)."""
    from churnml_loaders.load_reader import binary_object, maybe_gunzip, text_object

    try:
        with open(path, "rb") as handle:
            data = maybe_gunzip(iter(lambda: handle.read(1 << 20), b""), where=span.source)
            if fmt == "binary":
                yield from binary_object(data, keep_header=True, keep_trailer=True, where=span.source)
            else:
                yield from text_object(data, span, skip, match)  # type: ignore[arg-type]  # needs .lines, .skipped
    except OSError as exc:
        raise DataException(f"cannot read {span.source}", detail=f"{exc.strerror or 'The file cannot be read'}.",
                            hint="Check that the file exists and the server's OS user may read it.") from None


def _spool_objects(uri: S3Uri, mode: str, fmt: str, skip: int, config: server_config.ServerConfig,
                   access: StorageAccess, location: Location, out: Any, objects: list[dict[str, Any]],
                   match_header: bool) -> list[_Span]:
    """Write every object's records to the spool file `out`; what each object put there.

    The objects a listing or a manifest names are checked against the caller's grants
    before the first one is read: a manifest is data, and must not lead a load anywhere
    its reader may not read."""
    from churnml_loaders.load_reader import LoadReader, plan_load
    from churnml_loaders.s3_client import S3Client

    if mode == "prefix":
        access.require_listing(uri_text(uri), location)
    with S3Client(config.credential(location.credential, location=location.name)) as client:
        plan = plan_load(client, uri, mode)
        what = {"prefix": "an object the prefix lists", "manifest": "a part the manifest lists"}.get(mode, "")
        access.require_each((s.uri for s in plan.sources), "read", location, what=what)
        reader = LoadReader(client, plan, fmt=fmt, header_lines=skip, match_header=match_header)
        progress.phase("downloading", unit="bytes")
        for chunk in reader.chunks():
            out.write(chunk)
            interrupts.check()  # a cancel or timeout stops the download between chunks
            progress.set_done(reader.bytes_out)
        for span in reader.spans:
            objects.append({"object": span.source.uri, "etag": span.source.etag, "bytes": span.source.size,
                            "sha256": span.source.part.sha256 if span.source.part else None})
        return [_Span(span.source.uri, span.records, span.skipped) for span in reader.spans]


@entry
@progress.tracked("load_from_s3", "checking the target and the grants")
def load_from_s3(plpy: Plpy, target: str, uri: str, mode: str | None, fmt: str | None, header: bool | None,
                 ignore_lines: int | None, columns: list[str] | None, on_conflict: str | None, options: str | None,
                 search_path: str | None) -> int | None:
    """The objects are written to a spool file (a temporary file of this backend) and
    loaded by PostgreSQL's COPY (churnml._copy_from_spool, in C), with COPY's `options`."""
    if target is None or uri is None:
        return None
    mode, fmt = mode or "file", fmt or "csv"
    if fmt not in LOAD_FORMATS:
        raise InvalidParameter(f"format must be csv, text or binary, not {sql_literal(str(fmt))}",
                               detail="COPY's formats: csv, text and binary.",
                               hint="Pass format => 'csv', 'text' or 'binary'.")
    copy = copy_options.for_arguments(plpy, options, "import", fmt, bool(header))
    if copy.header_match and ignore_lines:
        raise InvalidParameter("header match is not possible with ignore_lines",
                               detail="COPY's HEADER MATCH checks the first line of the data it reads.",
                               hint="Pass ignore_lines => 0, or header true instead of header match.")
    skip = (ignore_lines or 0) + (1 if header and not copy.header_match else 0)
    if skip < 0:
        raise InvalidParameter(f"ignore_lines must not be negative, not {ignore_lines}",
                               detail="It counts the lines skipped at the top of every object, after the header.",
                               hint="Pass 0 or more.")
    if fmt == "binary" and skip:
        raise InvalidParameter("header and ignore_lines are not possible with the binary format",
                               detail="A binary COPY file has no lines.",
                               hint="Pass header => false and ignore_lines => 0 with format => 'binary'.")
    started = plpy.execute(plpy.prepare("SELECT pg_catalog.clock_timestamp()::pg_catalog.text AS t", []))[0]["t"]
    parsed = parse_uri(uri, require_key=mode != "prefix")
    if isinstance(parsed, FileUri) and mode != "file":
        raise InvalidParameter("a file:// URI names one file: use mode => 'file'",
                               detail=f"mode is {sql_literal(str(mode))}.",
                               hint="Pass mode => 'file', or use an s3:// URI.")
    if mode not in LOAD_MODES:
        raise InvalidParameter(f"unknown load mode \"{mode}\"", detail="A load reads one object, a prefix or a "
                               "manifest's parts.", hint="Use file, prefix or manifest.")
    # `target` is a regclass printed under the pinned search_path, so it names the table exactly;
    # the columns' types are printed and parsed (the staging table) under that path too.
    loader = TableLoader(plpy, target, target_columns(plpy, target, columns), on_conflict or "error")
    copy.check_columns([c.name for c in loader.columns], f"the load into {target}")
    config = server_config.load()
    access = StorageAccess.fetch(plpy)  # the caller's grants, once for every object of the load
    path: Path | None = None
    if isinstance(parsed, FileUri):
        _require_admin_for_files(plpy)
        path = server_config.file_path(config, parsed.path)
        access.require(f"file://{path}", "read")
    else:
        location = access.require(_read_target(parsed, mode), "read")
    objects: list[dict[str, Any]] = []
    spool = Path(plpy.execute(prepared(plpy, "loaders:spool_file", "SELECT churnml._spool_file() AS p", []))[0]["p"])
    try:
        with open(spool, "wb") as out:
            if path is not None:
                spans = [_Span(str(parsed))]
                progress.phase("reading the file", total=path.stat().st_size, unit="bytes")
                for chunk in _file_chunks(path, spans[0], fmt, skip, _header_match(copy)):
                    out.write(chunk)
                    interrupts.check()
                    progress.advance(len(chunk))
                objects.append({"object": str(parsed), "etag": None, "bytes": path.stat().st_size, "sha256": None})
            else:
                assert isinstance(parsed, S3Uri)  # path is None only for an s3:// URI
                spans = _spool_objects(parsed, mode, fmt, skip, config, access, location, out,
                                       objects, copy.header_match)
        progress.phase("copying into the table (see pg_stat_progress_copy)")
        loader.copy(str(spool), fmt, [s.source for s in spans], [s.lines for s in spans],
                    [s.skipped for s in spans], copy)
    finally:
        _release(spool)
    record = plpy.prepare("""
        INSERT INTO churnml.load_history (target, uri, mode, format, objects, rows, started_at)
        VALUES ($1, $2, $3, $4, $5::pg_catalog.jsonb, $6, $7::pg_catalog.timestamptz)""",
                          ["pg_catalog.text", "pg_catalog.text", "pg_catalog.text", "pg_catalog.text",
                           "pg_catalog.text", "pg_catalog.int8", "pg_catalog.text"])
    plpy.execute(record, [target, uri, mode, fmt, json.dumps(objects), loader.rows, started])
    return loader.rows


def _header_match(copy: CopyOptions) -> Any:
    from churnml_loaders.load_reader import HeaderMatch

    return HeaderMatch() if copy.header_match else None


def _read_target(uri: S3Uri, mode: str) -> str:
    """What a load reads first: the object, the listed prefix, or the manifest."""
    if mode == "manifest" and not uri.key.endswith(MANIFEST_SUFFIX):
        return f"{uri_text(uri)}{MANIFEST_SUFFIX}"
    return uri_text(uri)


def _new_spool(plpy: Plpy) -> Path:
    """A new, empty temporary file of this backend (churnml._spool_file, in C)."""
    return Path(plpy.execute(prepared(plpy, "loaders:spool_file", "SELECT churnml._spool_file() AS p", []))[0]["p"])


def _copy_to_spool(plpy: Plpy, query: str, fmt: str, spool: Path, copy: CopyOptions,
                   header: bool = False) -> int:
    """COPY (query) TO the spool file (churnml._copy_to_spool, in C); the row count. COPY's own
    defaults unless `copy` says otherwise (its values, never its text), so csv is byte for byte
    COPY's CSV. Run it under the caller's search_path."""
    plan = prepared(plpy, "loaders:copy_to_spool", "SELECT s.rows FROM churnml._copy_to_spool($1, $2, $3, $4) AS s",
                    ["pg_catalog.text", "pg_catalog.text", "pg_catalog.text", "pg_catalog.text[]"])
    items = copy.flat_items() + (["header", "true"] if header else [])
    return int(plpy.execute(plan, [query, fmt, str(spool), items])[0]["rows"])


def _header(plpy: Plpy, names: list[str], fmt: str, copy: CopyOptions) -> bytes:
    """The header line, written by COPY itself with the export's options (delimiter, quote, escape,
    null, encoding: a name is quoted where COPY quotes it, in the file's encoding): COPY of a query
    with the export's column names and no rows."""
    q = plpy.quote_ident
    query = "SELECT " + ", ".join(f"NULL AS {q(n)}" for n in names) + " LIMIT 0"
    spool = _new_spool(plpy)
    try:
        _copy_to_spool(plpy, query, fmt, spool, copy, header=True)  # nothing to look up: no search_path
        return spool.read_bytes()
    finally:
        _release(spool)


def _absorb_interrupt(plpy: Plpy) -> None:
    """Take in a SIGINT the upload helper sent (it may still be on its way: no InterruptPending test)."""
    with contextlib.suppress(plpy.SPIError):
        plpy.execute(prepared(plpy, "loaders:absorb_interrupt", "SELECT 1", []))


def _release(path: Path) -> None:
    """Give a spool file's disk space back now; PostgreSQL removes the file at transaction end."""
    with contextlib.suppress(OSError):
        os.truncate(path, 0)


def _export_file(plpy: Plpy, config: server_config.ServerConfig, uri: Any,
                 batches: Iterable[tuple[bytes | memoryview, int]], framing: Any, gzip_it: bool,
                 overwrite: bool) -> tuple[int, int, int]:
    """One server-side file, written under a temporary name and renamed when complete."""
    path = server_config.file_path(config, uri.path)
    if path.exists() and not overwrite:
        raise DuplicateObject(f"{uri} already exists", detail="An export never replaces a file unless asked to.",
                              hint="Pass overwrite => true to replace it.")
    partial = path.with_name(f".{path.name}.churnml-partial-{os.getpid()}")
    rows = 0
    try:
        with (gzip.open(partial, "wb") if gzip_it else open(partial, "wb")) as handle:
            handle.write(framing.preamble)
            progress.phase("writing rows", unit="rows")
            for data, count in batches:
                handle.write(data)
                rows += count
                interrupts.check()
                progress.advance(count)
            handle.write(framing.trailer)
        os.replace(partial, path)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    return rows, 1, path.stat().st_size


@entry
@progress.tracked("export_query", "checking the target and the grants")
def export_query(plpy: Plpy, query: str | None, uri: str | None, fmt: str | None, header: bool | None,
                 manifest: bool | None, overwrite: bool | None, compression: str | None, part_size: int | None,
                 options: str | None, search_path: str | None) -> list[tuple[int, int, int]]:
    copy = copy_options.for_arguments(plpy, options, "export", fmt or "csv", bool(header))
    return [run_export(plpy, query, uri, fmt, header, manifest, overwrite, compression, part_size, search_path,
                       copy=copy)]


def run_export(plpy: Plpy, query: str | None, uri: str | None, fmt: str | None, header: bool | None,
               manifest: bool | None, overwrite: bool | None, compression: str | None, part_size: int | None,
               search_path: str | None, naming: PartNaming = MYSQL_PARTS, copy: CopyOptions | None = None
               ) -> tuple[int, int, int]:
    """(rows, files, bytes) of an export; `naming` names the parts (churnml's, or Aurora PostgreSQL's).

    PostgreSQL's COPY writes the rows to a spool file (in C: PL/Python cannot run COPY
    TO STDOUT), with COPY's defaults (the CSV is exactly COPY (query) TO ... (FORMAT csv)'s)
    or the options in `copy` (delimiter, null, quote, escape, force_quote, encoding: checked
    by churnml_loaders.copy_options, given to COPY as values). To S3, a helper process uploads the file in
    parts of whole rows while COPY is still writing; to a server file, it is copied once
    COPY is done."""
    from churnml_loaders.copy_formats import BINARY_TRAILER, COPY_FORMATS, Framing
    from churnml_loaders.copy_rows import CsvDialect, spool_chunks
    from churnml_loaders.export_writer import batch_bytes

    if query is None or uri is None:
        raise NullValueNotAllowed("query and uri must not be NULL", detail="An export needs both.",
                                  hint="Pass the SELECT to export and an s3:// URI.")
    fmt = fmt or "csv"
    copy = copy or CopyOptions(format=fmt)
    if fmt not in COPY_FORMATS:
        raise InvalidParameter(f"format must be csv, text or binary, not {sql_literal(str(fmt))}",
                               detail="COPY's formats: csv, text and binary.",
                               hint="Pass format => 'csv', 'text' or 'binary'.")
    if fmt == "binary" and header:
        raise InvalidParameter("a header line is not possible with the binary format",
                               detail="A binary COPY file has no lines.",
                               hint="Pass header => false with format => 'binary'.")
    if compression not in (None, "gzip"):
        raise InvalidParameter(f"compression must be 'gzip' or NULL, not {sql_literal(str(compression))}",
                               detail="Parts are written as they are, or each as one gzip file.",
                               hint="Pass compression => 'gzip', or leave it out.")
    if part_size is None or part_size < 1:
        raise InvalidParameter(f"part_size must be a positive number of bytes, not {part_size}",
                               detail="A new part starts before the row that would pass part_size.",
                               hint="Leave it out (256 MB), or pass e.g. part_size => 64 * 1024 * 1024.")
    target = parse_uri(uri)
    config = server_config.load()
    access = StorageAccess.fetch(plpy)  # the caller's grants, checked before the query runs or S3 is asked
    if isinstance(target, FileUri):
        _require_admin_for_files(plpy)
        location = access.require(f"file://{server_config.file_path(config, target.path)}", "write")
    else:
        location = access.require(uri_text(target), "write")
    body = query.strip().rstrip(";").strip()
    # exactly one SELECT (on the server's parse tree), before it is pasted into the statement
    # that reads its columns: else a DELETE would fail there as a syntax error of churnml's SQL
    plpy.execute(prepared(plpy, "check_select", "SELECT churnml._check_select($1, $2)",
                          ["pg_catalog.text", "pg_catalog.text"]), [body, "the exported query"])
    with caller_search_path(plpy, search_path):
        # the newline ends a trailing -- comment before the closing parenthesis
        # two columns of one name (SELECT 1, 2; a join's shared names) export as COPY writes them
        columns = query_columns(plpy, f"({body}\n) AS q", "the exported query", unique=False)
    copy.check_columns([n for n, _ in columns], "the exported query")
    preamble = _header(plpy, [n for n, _ in columns], fmt, copy) if header and fmt != "binary" else b""
    dialect = CsvDialect.of(copy.quote_char, copy.escape_char, copy.encoding)
    spool = _new_spool(plpy)
    try:
        if isinstance(target, FileUri):
            with caller_search_path(plpy, search_path):
                _copy_to_spool(plpy, body, fmt, spool, copy)
            binary_header, batches = spool_chunks(spool, fmt, batch_bytes(part_size), dialect)
            framing = (Framing(preamble=binary_header, trailer=BINARY_TRAILER) if fmt == "binary"
                       else Framing(preamble=preamble))
            return _export_file(plpy, config, target, batches, framing, compression == "gzip", bool(overwrite))
        export = _S3Export(target=target, fmt=fmt, header=bool(header), columns=columns, preamble=preamble,
                           gzip=compression == "gzip", part_size=part_size, manifest=manifest is not False,
                           overwrite=bool(overwrite), naming=naming, copy=copy, dialect=dialect)
        return _export_s3(plpy, config, access, location, export, body, search_path, spool)
    finally:
        _release(spool)


@dataclass
class _S3Export:
    """An export_query to S3, as its upload helper needs it."""

    target: Any  # S3Uri
    fmt: str
    header: bool
    columns: list[tuple[str, str]]
    preamble: bytes
    gzip: bool
    part_size: int
    manifest: bool
    overwrite: bool
    naming: PartNaming
    copy: CopyOptions
    dialect: Any  # churnml_loaders.copy_rows.CsvDialect: where the spooled rows end


def _export_s3(plpy: Plpy, config: server_config.ServerConfig, access: StorageAccess, location: Location,
               export: _S3Export, query: str, search_path: str | None, spool: Path) -> tuple[int, int, int]:
    """COPY writes the spool file while the upload helper (a process: churnml_loaders.upload_helper)
    uploads its parts; the manifest goes last, once the backend has checked for a cancel. An earlier
    export's objects, which overwrite deletes, must each be writable by the caller too."""
    from churnml_loaders.export_writer import ExportWriter, batch_bytes
    from churnml_loaders.manifest import Column
    from churnml_loaders.s3_client import Encryption, S3Client, resolved_credentials
    from churnml_loaders.upload_process import UploadHelper

    credential = config.credential(location.credential, location=location.name)
    encryption = Encryption.of(location.sse, location.kms_key_id)
    with S3Client(credential, encryption=encryption) as client:  # bucket and target checked before the query runs
        existing = ExportWriter(client, export.target, fmt=export.fmt, header=export.header,
                                columns=[Column(n, t) for n, t in export.columns], gzip=export.gzip,
                                part_size=export.part_size, write_manifest=export.manifest,
                                overwrite=export.overwrite, naming=export.naming).prepare()
    access.require_each((f"s3://{export.target.bucket}/{key}" for key in existing), "write", location,
                        what="an earlier export's object, which overwrite replaces")
    # The helper does not search for credentials (its environment is empty on purpose): the chain's
    # finding, when the credential has no keys, is handed to it with the rest of its job.
    helper = UploadHelper.start({
        "s3": json.loads(resolved_credentials(credential).to_json()),
        "s3_source": f"{config.source} (credential {location.credential})",
        "sse": location.sse, "kms_key_id": location.kms_key_id,
        "spool": str(spool),
        "bucket": export.target.bucket, "key": export.target.key, "format": export.fmt, "header": export.header,
        "columns": export.columns, "preamble": base64.b64encode(export.preamble).decode(), "gzip": export.gzip,
        "part_size": export.part_size, "manifest": export.manifest, "overwrite": export.overwrite,
        "naming": "aurora_pg" if export.naming is AURORA_PG_PARTS else "mysql", "existing": existing,
        "csv_dialect": dataclasses.asdict(export.dialect),
        "read_bytes": batch_bytes(export.part_size), "backend_pid": os.getpid()})
    started = time.monotonic()
    try:
        progress.phase("running the query and uploading (see pg_stat_progress_copy)")
        with caller_search_path(plpy, search_path):
            rows = _copy_to_spool(plpy, query, export.fmt, spool, export.copy)
        copied = time.monotonic()
        progress.phase("uploading the last parts and committing")
        helper.copy_finished(spool.stat().st_size, rows)
        result = helper.result(interrupts.check)
    except BaseException as exc:
        if not helper.stop():
            plpy.warning(f"churnml: export_query's upload helper did not stop within a reasonable time and was "
                         f"killed; parts of s3://{export.target.bucket}/{export.target.key} may remain")
        reported = helper.reported_error()
        if reported is not None and helper.interrupted_backend:
            # The helper failed and cancelled the statement to stop COPY: its error is the one to
            # report, and its SIGINT must not cancel whatever the caller runs next.
            _absorb_interrupt(plpy)
            if getattr(exc, "sqlstate", None) == "57014":
                raise reported from None
        raise
    outcome = helper.outcome or {}
    plpy.debug(f"churnml export_query: COPY {copied - started:.3f} s, then uploads {time.monotonic() - copied:.3f} s "
               f"({outcome.get('behind_at_end')} bytes behind COPY at its end, parts done "
               f"{outcome.get('end_to_uploaded')} s after it, commit {outcome.get('commit')} s); "
               f"upload helper CPU {outcome.get('cpu_seconds')} s, peak RSS {helper.peak_rss_kb} kB")
    return result
