"""SQL area: export_query and load_from_s3, object storage in and out from inside the server.

Both run with the caller's privileges (nothing here is SECURITY DEFINER): the
exported query reads only what the caller may read, the load inserts only where the
caller may insert. Endpoint and credentials come from the server's configuration
(churnml.transfer.server_config), never from arguments.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from churnml.errors import DataException, DuplicateObject, InsufficientPrivilege, InvalidParameter
from churnml.source_data import caller_search_path, query_columns
from churnml.sql_api.entry import entry
from churnml.transfer import server_config
from churnml.transfer.records import csv_records, lines, text_records
from churnml.transfer.table_loader import BATCH_ROWS, TableLoader, target_columns
from churnml_loaders.manifest import MYSQL_PARTS, PartNaming
from churnml_loaders.uris import FileUri, parse_uri

LOAD_FORMATS = ("csv", "text")


def _require_admin_for_files(plpy: Any) -> None:
    plan = plpy.prepare("SELECT pg_catalog.pg_has_role(CURRENT_USER, 'churnml_admin', 'MEMBER') AS admin", [])
    if not plpy.execute(plan)[0]["admin"]:
        raise InsufficientPrivilege("only members of churnml_admin may use file:// URIs",
                                    hint="Use an s3:// URI, or ask an administrator.")


def _file_lines(path: Path, where: str, skip: int) -> Iterator[str]:
    """The lines of a server-side file, gunzipped when it is gzip, after the first `skip`."""
    from churnml_loaders.load_reader import maybe_gunzip

    try:
        with open(path, "rb") as handle:
            chunks = maybe_gunzip(iter(lambda: handle.read(1 << 20), b""), where=where)
            for number, line in enumerate(lines(chunks), start=1):
                if number > skip:
                    yield line
    except OSError as exc:
        raise DataException(f"cannot read {where}", detail=str(exc.strerror or exc)) from None


def _batches(records: Iterable[tuple[int, str]], size: int) -> Iterator[list[tuple[int, str]]]:
    batch: list[tuple[int, str]] = []
    for record in records:
        batch.append(record)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def _records(text: Iterable[str], fmt: str, where: str) -> Iterator[tuple[int, str]]:
    return csv_records(text, 0, where) if fmt == "csv" else text_records(text, 0)


def _load_objects(loader: TableLoader, uri: Any, mode: str, fmt: str, skip: int,
                  config: server_config.ServerConfig, objects: list[dict[str, Any]]) -> None:
    from churnml_loaders.load_reader import LoadReader, plan_load
    from churnml_loaders.s3_client import S3Client

    with S3Client(config.s3) as client:
        plan = plan_load(client, uri, mode)
        reader = LoadReader(client, plan, fmt=fmt, header_lines=skip)

        def where(line: int) -> str:
            found = reader.locate(line)
            return f"{found.source.uri} line {found.line}" if found else f"{uri} (input line {line})"

        for batch in _batches(_records(lines(reader.chunks()), fmt, str(uri)), BATCH_ROWS):
            loader.load(batch, where)
        for span in reader.spans:
            objects.append({"object": span.source.uri, "etag": span.source.etag, "bytes": span.source.size,
                            "sha256": span.source.part.sha256 if span.source.part else None})


@entry
def load_from_s3(plpy: Any, target: str, uri: str, mode: str | None, fmt: str | None, header: bool | None,
                 ignore_lines: int | None, columns: list[str] | None, on_conflict: str | None,
                 search_path: str | None) -> int | None:
    if target is None or uri is None:
        return None
    mode, fmt = mode or "file", fmt or "csv"
    if fmt not in LOAD_FORMATS:
        raise InvalidParameter(f"format must be csv or text, not {fmt!r}",
                               hint="Binary COPY files load from the shell: churnml load TABLE URI --format binary.")
    skip = (ignore_lines or 0) + (1 if header else 0)
    if skip < 0:
        raise InvalidParameter(f"ignore_lines must not be negative, not {ignore_lines}")
    started = plpy.execute(plpy.prepare("SELECT pg_catalog.clock_timestamp()::pg_catalog.text AS t", []))[0]["t"]
    config = server_config.load()
    # `target` is a regclass printed under the pinned search_path, so it names the table exactly;
    # the columns' types are printed and parsed (the row type, the bad-row checks) under that path too.
    loader = TableLoader(plpy, target, target_columns(plpy, target, columns), on_conflict or "error")
    objects: list[dict[str, Any]] = []
    try:
        parsed = parse_uri(uri, require_key=mode != "prefix")
        if isinstance(parsed, FileUri):
            if mode != "file":
                raise InvalidParameter("a file:// URI names one file: use mode => 'file'")
            _require_admin_for_files(plpy)
            path = server_config.file_path(config, parsed.path)
            for batch in _batches(_records(_file_lines(path, str(parsed), skip), fmt, str(parsed)), BATCH_ROWS):
                loader.load(batch, lambda line, where=str(parsed): f"{where} line {line + skip}")
            objects.append({"object": str(parsed), "etag": None, "bytes": path.stat().st_size, "sha256": None})
        else:
            _load_objects(loader, parsed, mode, fmt, skip, config, objects)
    finally:
        loader.close()
    record = plpy.prepare("""
        INSERT INTO churnml.load_history (target, uri, mode, format, objects, rows, started_at)
        VALUES ($1, $2, $3, $4, $5::pg_catalog.jsonb, $6, $7::pg_catalog.timestamptz)""",
                          ["pg_catalog.text", "pg_catalog.text", "pg_catalog.text", "pg_catalog.text",
                           "pg_catalog.text", "pg_catalog.int8", "pg_catalog.text"])
    plpy.execute(record, [target, uri, mode, fmt, json.dumps(objects), loader.rows, started])
    return loader.rows


EXPORT_BATCH_ROWS = 10_000


def _line_batches(plpy: Any, query: str, chunk_bytes: int) -> Iterator[tuple[bytes, int]]:
    """The export's rows as (bytes of whole lines, row count) of about chunk_bytes each.

    Parts end between chunks, so chunks stay well under part_size.
    """
    cursor = plpy.cursor(query)
    while True:
        rows = cursor.fetch(EXPORT_BATCH_ROWS)
        if not rows:
            return
        pending: list[str] = []
        size = 0
        for row in rows:
            line = row["line"]
            pending.append(line)
            size += len(line) + 1
            if size >= chunk_bytes:
                yield ("\n".join(pending) + "\n").encode("utf-8"), len(pending)
                pending, size = [], 0
        if pending:
            yield ("\n".join(pending) + "\n").encode("utf-8"), len(pending)


def _export_file(plpy: Any, config: server_config.ServerConfig, uri: Any, batches: Iterable[tuple[bytes, int]],
                 preamble: bytes, gzip_it: bool, overwrite: bool) -> tuple[int, int, int]:
    """One server-side file, written under a temporary name and renamed when complete."""
    import os

    _require_admin_for_files(plpy)
    path = server_config.file_path(config, uri.path)
    if path.exists() and not overwrite:
        raise DuplicateObject(f"{uri} already exists", hint="Pass overwrite => true to replace it.")
    partial = path.with_name(f".{path.name}.churnml-partial-{os.getpid()}")
    rows = 0
    try:
        with (gzip.open(partial, "wb") if gzip_it else open(partial, "wb")) as handle:
            handle.write(preamble)
            for data, count in batches:
                handle.write(data)
                rows += count
        os.replace(partial, path)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    return rows, 1, path.stat().st_size


@entry
def export_query(plpy: Any, query: str | None, uri: str | None, fmt: str | None, header: bool | None,
                 manifest: bool | None, overwrite: bool | None, compression: str | None, part_size: int | None,
                 search_path: str | None) -> list[tuple[int, int, int]]:
    return [run_export(plpy, query, uri, fmt, header, manifest, overwrite, compression, part_size, search_path)]


def run_export(plpy: Any, query: str | None, uri: str | None, fmt: str | None, header: bool | None,
               manifest: bool | None, overwrite: bool | None, compression: str | None, part_size: int | None,
               search_path: str | None, naming: PartNaming = MYSQL_PARTS) -> tuple[int, int, int]:
    """(rows, files, bytes) of an export; `naming` names the parts (churnml's, or Aurora PostgreSQL's)."""
    from churnml.transfer.export_lines import FORMATS, header_line, lines_query
    if query is None or uri is None:
        raise InvalidParameter("query and uri must not be NULL")
    fmt = fmt or "csv"
    if fmt not in FORMATS:
        raise InvalidParameter(f"format must be csv or text, not {fmt!r}",
                               hint="Binary COPY exports run from the shell: churnml export QUERY URI --format binary.")
    if compression not in (None, "gzip"):
        raise InvalidParameter(f"compression must be 'gzip' or NULL, not {compression!r}")
    if part_size is None or part_size < 1:
        raise InvalidParameter(f"part_size must be a positive number of bytes, not {part_size}")
    config = server_config.load()
    target = parse_uri(uri)
    body = query.strip().rstrip(";").strip()
    with caller_search_path(plpy, search_path):
        columns = query_columns(plpy, f"({body}) AS q", "the exported query")
        names = [n for n, _ in columns]
        preamble = (header_line(names, fmt) + "\n").encode("utf-8") if header else b""
        batches = _line_batches(plpy, lines_query(body, names, fmt, plpy.quote_ident),
                                 max(1, min(1 << 20, part_size // 8)))
        if isinstance(target, FileUri):
            return _export_file(plpy, config, target, batches, preamble, compression == "gzip", bool(overwrite))
        from churnml_loaders.copy_formats import Framing
        from churnml_loaders.export_writer import ExportWriter
        from churnml_loaders.manifest import Column
        from churnml_loaders.s3_client import S3Client

        with S3Client(config.s3) as client:
            writer = ExportWriter(client, target, fmt=fmt, header=bool(header),
                                  columns=[Column(n, t) for n, t in columns], gzip=compression == "gzip",
                                  part_size=part_size, write_manifest=manifest is not False,
                                  overwrite=bool(overwrite), naming=naming)
            writer.prepare()
            result = writer.write(batches, framing=Framing(preamble=preamble))
    return result.rows, len(result.parts), result.bytes
