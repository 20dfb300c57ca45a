"""`churnml export` and `churnml load`: query results to S3 and back, from the client side.

    churnml export "SELECT * FROM customers" s3://bucket/exports/customers --format csv --header --gzip
    churnml load customers_copy s3://bucket/exports/customers --mode manifest

Both stream through psycopg's COPY in constant memory and run with the role of the
connection (`--dsn`, default the embedded server's `telco`): the user's query is the
user's own, run with the user's rights. A load is one transaction: all rows or none.
The object-storage work is churnml_loaders' (the same code the server side uses);
this module adds only psycopg, progress bars and the command line.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from churnml.errors import ChurnmlError
from churnml_client.copy_out import copy_out_batches, pipelined
from churnml_loaders.copy_formats import COPY_FORMATS, Framing, split_copy_stream
from churnml_loaders.errors import InvalidParameter, LoaderError
from churnml_loaders.export_writer import DEFAULT_PART_SIZE, ExportResult, ExportWriter, batch_bytes
from churnml_loaders.load_reader import LOAD_MODES, LoadReader, plan_load
from churnml_loaders.manifest import Column
from churnml_loaders.s3_client import SSE_ALGORITHMS, Encryption, S3Client
from churnml_loaders.s3_config import S3Config, environment_has_credentials
from churnml_loaders.uris import S3Uri, parse_s3_uri

_UNITS = {"": 1, "b": 1, "k": 1024, "kb": 1024, "kib": 1024, "m": 1024**2, "mb": 1024**2, "mib": 1024**2,
          "g": 1024**3, "gb": 1024**3, "gib": 1024**3}
_COPY_LINE = re.compile(r"\bline (\d+)")
_PROGRESS_STEP = 1024 * 1024


class LoadFailed(LoaderError):
    """A COPY FROM that PostgreSQL refused, with the object and line it came from."""

    def __init__(self, message: str, *, sqlstate: str, detail: str | None, hint: str | None) -> None:
        super().__init__(message, detail=detail, hint=hint)
        self.sqlstate = sqlstate


def parse_size(text: str) -> int:
    """'64MB', '512k', '1GiB', '1000' -> bytes (K/M/G are powers of 1024)."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*", text)
    unit = match.group(2).lower() if match else None
    if not match or unit not in _UNITS:
        raise argparse.ArgumentTypeError(f"invalid size \"{text}\" (e.g. 64MB, 512KB, 1GB)")
    size = int(float(match.group(1)) * _UNITS[unit])
    if size < 1:
        raise argparse.ArgumentTypeError("the size must be at least 1 byte")
    return size


def format_error(exc: ChurnmlError | LoaderError) -> str:
    """psql's layout: ERROR, DETAIL and HINT lines."""
    lines = [f"ERROR:  {exc.sqlstate}: {exc.message}"]
    if exc.detail:
        lines.append(f"DETAIL:  {exc.detail}")
    if exc.hint:
        lines.append(f"HINT:  {exc.hint}")
    return "\n".join(lines)


# ---- configuration --------------------------------------------------------------------

def resolve_s3_config(path: Path | None, *, home: Path | None = None) -> S3Config:
    """--s3-config, else AWS_* environment variables, else the local server's config file, else the
    standard AWS credential chain (profiles, web identity, container and instance roles)."""
    if path is not None:
        return S3Config.from_file(path)
    if environment_has_credentials():
        return S3Config.from_environment()
    from churnml_client.s3_server import LocalS3Server

    default = LocalS3Server.from_environment(home).config_file
    if default.exists():
        return S3Config.from_file(default)
    # No keys: the client looks for them the AWS way (AWS_PROFILE, ~/.aws/..., roles) at its first request,
    # and says so if it finds none.
    return S3Config.from_environment()


# ---- export ---------------------------------------------------------------------------

def copy_to_statement(query: str, fmt: str, header: bool) -> sql.Composed:
    if fmt not in COPY_FORMATS:
        raise InvalidParameter(f"unknown format \"{fmt}\"", hint="Use csv, text or binary.")
    options: list[sql.Composable] = [sql.SQL("FORMAT {}").format(sql.SQL(fmt))]  # fmt is one of three fixed words
    if header:
        options.append(sql.SQL("HEADER true"))
    # The query is the caller's own, run with the caller's rights: it is the statement, not a value.
    return sql.SQL("COPY ({}) TO STDOUT ({})").format(sql.SQL(query), sql.SQL(", ").join(options))


def clean_query(query: str) -> str:
    cleaned = query.strip().rstrip(";").strip()
    if not cleaned:
        raise InvalidParameter("the query is empty")
    return cleaned


def describe_query(conn: psycopg.Connection, query: str) -> tuple[Column, ...]:
    """The query's column names and types, for the manifest (empty if it cannot be asked, e.g. DML)."""
    try:
        # a savepoint inside a transaction, so a query this cannot describe does not abort it
        with conn.transaction(), conn.cursor() as cur:
            cur.execute(sql.SQL("SELECT * FROM ({}) AS churnml_export LIMIT 0").format(sql.SQL(query)))
            if cur.description is None or cur.pgresult is None:
                return ()
            names = [c.name for c in cur.description]
            oids = [c.type_code for c in cur.description]
            mods = [cur.pgresult.fmod(i) for i in range(len(names))]
            cur.execute("SELECT format_type(t, m) FROM unnest(%s::oid[], %s::int[]) WITH ORDINALITY AS u(t, m, i) "
                        "ORDER BY i", (oids, mods))
            types = [row[0] for row in cur.fetchall()]
    except psycopg.Error:
        return ()
    return tuple(Column(name, type_) for name, type_ in zip(names, types, strict=True))


def export_query(conn: psycopg.Connection, query: str, target: S3Uri, client: S3Client, *, fmt: str = "csv",
                 header: bool = False, manifest: bool = True, overwrite: bool = False, gzip: bool = False,
                 part_size: int = DEFAULT_PART_SIZE, progress: bool = False) -> ExportResult:
    """Stream `COPY (query) TO STDOUT` into parts under `target`; see ExportWriter for the guarantees."""
    query = clean_query(query)
    statement = copy_to_statement(query, fmt, header)
    writer = ExportWriter(client, target, fmt=fmt, header=header, columns=describe_query(conn, query), gzip=gzip,
                          part_size=part_size, write_manifest=manifest, overwrite=overwrite)
    writer.prepare()  # bucket and target checked before the query runs
    if fmt == "binary":  # binary's framing comes glued to rows: the per-row path (rarely used)
        with _bar("export", None, progress) as bar, conn.cursor() as cur, cur.copy(statement) as copy:
            framing, rows = split_copy_stream(fmt, header, _tick(copy, bar))
            return writer.write(rows, framing=framing)
    with _bar("export", None, progress) as bar:
        batches = _tick_batches(copy_out_batches(conn, statement, batch_bytes=batch_bytes(part_size),
                                                 first_apart=header), bar)
        preamble = b""
        if header:  # COPY sends its header line even for zero rows
            preamble = next(batches, (b"", 0))[0]
        return pipelined(batches, lambda items, check: writer.write(items, framing=Framing(preamble=preamble),
                                                                    before_commit=lambda parts: check()))


EXPORT_FORMATS = (*COPY_FORMATS, "parquet")
PARQUET_FETCH_ROWS = 10_000


@dataclass(frozen=True)
class DescribedColumn:
    name: str
    type_oid: int
    sql_type: str  # format_type with the type modifier: numeric(10,2), character varying(20)
    base_type: str  # format_type without it: numeric, character varying (what churnml.train records)


def describe_columns(conn: psycopg.Connection, query: str) -> list[DescribedColumn]:
    """The query's columns (raises the query's own error if it cannot be described, e.g. it is not a SELECT)."""
    with conn.transaction(), conn.cursor() as cur:
        cur.execute(sql.SQL("SELECT * FROM ({}) AS churnml_export LIMIT 0").format(sql.SQL(query)))
        if cur.description is None or cur.pgresult is None:
            raise InvalidParameter("the query returns no columns", hint="Export a SELECT, TABLE or VALUES query.")
        names = [c.name for c in cur.description]
        oids = [c.type_code for c in cur.description]
        mods = [cur.pgresult.fmod(i) for i in range(len(names))]
        cur.execute("SELECT format_type(t, m), format_type(t, NULL) FROM unnest(%s::oid[], %s::int[]) "
                    "WITH ORDINALITY AS u(t, m, i) ORDER BY i", (oids, mods))
        types = cur.fetchall()
    return [DescribedColumn(n, o, t[0], t[1]) for n, o, t in zip(names, oids, types, strict=True)]


def export_parquet(conn: psycopg.Connection, query: str, target: S3Uri, client: S3Client, *,
                   manifest: bool = True, overwrite: bool = False, part_size: int = DEFAULT_PART_SIZE,
                   row_group_bytes: int | None = None, progress: bool = False) -> ExportResult:
    """The query's rows as Parquet parts under `target` (see churnml_loaders.parquet_parts); all or nothing.

    Rows stream through a server-side cursor in batches (constant memory); numeric values
    arrive as float8, types Arrow has no match for as PostgreSQL's text output.
    """
    from psycopg.types.numeric import FloatLoader
    from psycopg.types.string import TextLoader

    from churnml_loaders.parquet_parts import DEFAULT_ROW_GROUP_BYTES, ParquetExportWriter, parquet_column

    query = clean_query(query)
    described = describe_columns(conn, query)
    columns = [parquet_column(c.name, c.type_oid, c.sql_type) for c in described]
    writer = ParquetExportWriter(client, target, columns=columns, part_size=part_size,
                                 row_group_bytes=row_group_bytes or DEFAULT_ROW_GROUP_BYTES,
                                 write_manifest=manifest, overwrite=overwrite)
    writer.prepare()  # bucket and target checked before the query runs
    with _bar("export", None, progress, unit=" rows") as bar, conn.transaction(), \
            conn.cursor(name="churnml_parquet_export") as cur:
        cur.adapters.register_loader("numeric", FloatLoader)
        for column, parquet in zip(described, columns, strict=True):
            if parquet.as_text:
                cur.adapters.register_loader(column.type_oid, TextLoader)
        cur.execute(sql.SQL(query))  # the caller's own query, run with the caller's rights

        def batches() -> Iterator[list[tuple[Any, ...]]]:
            while rows := cur.fetchmany(PARQUET_FETCH_ROWS):
                bar.update(len(rows))
                yield rows

        return writer.write_batches(batches())


# ---- load -----------------------------------------------------------------------------

@dataclass
class LoadResult:
    table: str
    rows: int
    objects: int
    bytes: int


def resolve_table(conn: psycopg.Connection, table: str) -> tuple[str, str]:
    """(schema, name) of an existing table, written as in SQL (`name`, `schema.name`, quoted parts)."""
    row = conn.execute("SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                       "WHERE c.oid = to_regclass(%s)", (table,)).fetchone()
    if row is None:
        error = LoadFailed(f"relation \"{table}\" does not exist", sqlstate="42P01", detail=None,
                           hint="Create the table first (e.g. CREATE TABLE t (LIKE source)); load does not create it.")
        raise error
    return row[0], row[1]


def parse_columns(text: str | None) -> list[str]:
    if not text:
        return []
    columns = [c.strip() for c in text.split(",")]
    if any(not c for c in columns):
        raise InvalidParameter(f"invalid column list \"{text}\"", hint="Write it as a,b,c.")
    # Exact names, as in \d: a name in double quotes is taken without its quotes.
    return [c[1:-1].replace('""', '"') if len(c) > 1 and c[0] == c[-1] == '"' else c for c in columns]


def copy_from_statement(schema: str, table: str, columns: list[str], fmt: str) -> sql.Composed:
    if fmt not in COPY_FORMATS:
        raise InvalidParameter(f"unknown format \"{fmt}\"", hint="Use csv, text or binary.")
    target = sql.Identifier(schema, table)
    if columns:
        target = sql.SQL("{} ({})").format(target, sql.SQL(", ").join(sql.Identifier(c) for c in columns))
    return sql.SQL("COPY {} FROM STDIN (FORMAT {})").format(target, sql.SQL(fmt))


def load_table(conn: psycopg.Connection, table: str, source: S3Uri, client: S3Client, *, mode: str = "file",
               fmt: str | None = None, header: bool | None = None, columns: list[str] | None = None,
               progress: bool = False) -> LoadResult:
    """COPY every object named by (source, mode) into `table` in one transaction: all rows or none."""
    plan = plan_load(client, source, mode)
    if plan.manifest is not None:
        LoadReader(client, plan, fmt="csv")  # refuses an export in a format COPY cannot read (parquet)
        if fmt is not None and fmt != plan.manifest.format:
            raise InvalidParameter(f"the export is in {plan.manifest.format} format, not {fmt}",
                                   hint="Leave out --format in manifest mode: the manifest says it.")
        if header is not None and header != plan.manifest.header:
            raise InvalidParameter(f"the export was written {'with' if plan.manifest.header else 'without'} "
                                   "header lines", hint="Leave out --header in manifest mode: the manifest says it.")
        fmt = plan.manifest.format
        header = plan.manifest.header
    fmt = fmt or "csv"
    schema, name = resolve_table(conn, table)
    statement = copy_from_statement(schema, name, columns or [], fmt)
    with _bar("load", plan.total_bytes, progress) as bar:
        reader = LoadReader(client, plan, fmt=fmt, header_lines=1 if header else 0, on_read=bar.update)
        try:
            with conn.transaction(), conn.cursor() as cur:
                with cur.copy(statement) as copy:
                    for chunk in reader.chunks():
                        copy.write(chunk)
                rows = cur.rowcount
        except psycopg.Error as exc:
            raise _explain_copy_error(exc, reader, f"{schema}.{name}") from exc
    return LoadResult(table=f"{schema}.{name}", rows=rows, objects=len(plan.sources), bytes=reader.bytes_read)


def _explain_copy_error(exc: psycopg.Error, reader: LoadReader, table: str) -> LoadFailed:
    """PostgreSQL's "COPY t, line N" counts lines across all objects; say which object and line it was."""
    diag = exc.diag
    message = diag.message_primary or str(exc).strip()
    context = diag.context or ""
    match = _COPY_LINE.search(context)
    where = None
    if match:
        location = reader.locate(int(match.group(1)))
        if location is not None:
            where = f"line {location.line} of {location.source.uri}"
    if where is None and reader.current is not None:
        where = f"{reader.current.uri} (the object being read)"
    facts = [f"At {where}." if where else None, diag.message_detail, f"PostgreSQL: {context}." if context else None,
             "Nothing was loaded: the load is one transaction."]
    return LoadFailed(f"load into {table} failed: {message}", sqlstate=diag.sqlstate or "XX000",
                      detail=" ".join(f for f in facts if f), hint=diag.message_hint)


# ---- progress -------------------------------------------------------------------------

class _NoBar:
    def update(self, n: int) -> None:
        pass

    def __enter__(self) -> _NoBar:
        return self

    def __exit__(self, *exc: object) -> None:
        pass


def _bar(desc: str, total: int | None, enabled: bool, unit: str = "B") -> Any:  # a tqdm, or a stand-in
    if not enabled:
        return _NoBar()
    from tqdm import tqdm

    return tqdm(desc=desc, total=total, unit=unit, unit_scale=True, unit_divisor=1024 if unit == "B" else 1000,
                file=sys.stderr, dynamic_ncols=True, leave=False, disable=None)  # None: no bar unless a terminal


def _tick_batches(batches: Iterator[tuple[bytes, int]], bar: Any) -> Iterator[tuple[bytes, int]]:
    for batch in batches:
        bar.update(len(batch[0]))
        yield batch


def _tick(messages: Iterable[bytes | bytearray | memoryview], bar: Any) -> Iterator[bytes]:
    pending = 0
    update = bar.update
    for message in messages:
        data = bytes(message)
        pending += len(data)
        if pending >= _PROGRESS_STEP:
            update(pending)
            pending = 0
        yield data
    if pending:
        update(pending)


# ---- the commands -----------------------------------------------------------------------

def _dsn(args: argparse.Namespace) -> str:
    if args.dsn:
        return str(args.dsn)
    from churnml_client.embedded_pg import DEFAULT_DATABASE, EmbeddedServer

    return EmbeddedServer.from_environment().url(DEFAULT_DATABASE)


def run_export(args: argparse.Namespace) -> int:
    target = parse_s3_uri(args.uri)
    if args.format == "parquet" and (args.header or args.gzip):
        raise InvalidParameter(f"--{'header' if args.header else 'gzip'} does not apply to --format parquet",
                               detail="Parquet files carry their column names and compress their columns (zstd).",
                               hint="Leave the option out.")
    config = resolve_s3_config(args.s3_config)
    encryption = Encryption.of(args.sse, args.kms_key_id)
    with S3Client(config, encryption=encryption) as client, psycopg.connect(_dsn(args), autocommit=True) as conn:
        if args.format == "parquet":
            result = export_parquet(conn, args.query, target, client, manifest=not args.no_manifest,
                                    overwrite=args.overwrite, part_size=args.part_size, progress=not args.quiet)
        else:
            result = export_query(conn, args.query, target, client, fmt=args.format, header=args.header,
                                  manifest=not args.no_manifest, overwrite=args.overwrite, gzip=args.gzip,
                                  part_size=args.part_size, progress=not args.quiet)
    where = f"; manifest s3://{target.bucket}/{result.manifest_key}" if result.manifest_key else ""
    print(f"churnml: exported {result.rows:,} rows ({_human(result.bytes)} in {len(result.parts)} "
          f"part{'s' if len(result.parts) != 1 else ''}) to {target}{where}")
    return 0


def run_load(args: argparse.Namespace) -> int:
    source = parse_s3_uri(args.uri)
    config = resolve_s3_config(args.s3_config)
    with S3Client(config) as client, psycopg.connect(_dsn(args), autocommit=True) as conn:
        result = load_table(conn, args.table, source, client, mode=args.mode, fmt=args.format,
                            header=True if args.header else None, columns=parse_columns(args.columns),
                            progress=not args.quiet)
    print(f"churnml: loaded {result.rows:,} rows from {result.objects} object{'s' if result.objects != 1 else ''} "
          f"({_human(result.bytes)}) into {result.table}")
    return 0


def _human(size: int) -> str:
    value = float(size)
    for unit in ("bytes", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{size} bytes" if unit == "bytes" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError


def add_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    export = commands.add_parser("export", help="stream a query's result to S3 as parts and a manifest")
    export.add_argument("query", help="the query (SELECT, TABLE, VALUES, ...), run with your role")
    export.add_argument("uri", help="s3://bucket/prefix: parts are prefix.part_00000, ..., then prefix.manifest")
    export.add_argument("--format", choices=EXPORT_FORMATS, default="csv",
                        help="COPY format, or parquet (Apache Parquet files, e.g. for Dask) (default csv)")
    export.add_argument("--header", action="store_true", help="a header line at the top of every part")
    export.add_argument("--no-manifest", action="store_true", help="write the parts only")
    export.add_argument("--overwrite", action="store_true", help="replace an earlier export at the same prefix")
    export.add_argument("--gzip", action="store_true", help="gzip every part")
    export.add_argument("--part-size", type=parse_size, default=DEFAULT_PART_SIZE, metavar="SIZE",
                        help="start a new part past this many bytes, before compression (parquet: of Arrow "
                             "column data before encoding) (default 64MB)")
    export.add_argument("--sse", choices=SSE_ALGORITHMS, help="server-side encryption of every object written: "
                        "AES256 (SSE-S3) or aws:kms (SSE-KMS) (default: the bucket's)")
    export.add_argument("--kms-key-id", metavar="KEY", help="with --sse aws:kms: the KMS key id, alias or ARN "
                        "(default: the account's default KMS key)")
    _common(export)
    export.set_defaults(func=run_export)

    load = commands.add_parser("load", help="COPY objects from S3 into an existing table, in one transaction")
    load.add_argument("table", help="the target table (name or schema.name)")
    load.add_argument("uri", help="s3://bucket/key (file), a prefix (prefix) or an export (manifest)")
    load.add_argument("--mode", choices=LOAD_MODES, default="file",
                      help="file: one object; prefix: every object under the prefix; manifest: an export's "
                           "parts, checked against their checksums (default file)")
    load.add_argument("--format", choices=COPY_FORMATS, default=None,
                      help="COPY format (default: the manifest's, else csv)")
    load.add_argument("--header", action="store_true", help="skip the first line of every object")
    load.add_argument("--columns", metavar="A,B,...", help="the columns the data fills, in order")
    _common(load)
    load.set_defaults(func=run_load)


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--dsn", metavar="URL", help="libpq URL of the database (default: the embedded server's telco)")
    parser.add_argument("--s3-config", type=Path, metavar="FILE",
                        help="S3 endpoint and credentials as JSON (default: AWS_* environment variables, "
                             "else $CHURNML_HOME/s3/config.json from `churnml s3 start`, else the AWS "
                             "credential chain: profiles, web identity, container and instance roles)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
