"""Exports as Apache Parquet: parts of bounded size plus the usual manifest (client side only).

    writer = ParquetExportWriter(client, parse_s3_uri("s3://bucket/exports/customers"),
                                 columns=[ParquetColumn("phone", "text", pa.string()), ...])
    writer.prepare()
    result = writer.write(batches)           # batches: lists of row tuples, in the columns' order

Every part (`prefix.part_00000`, ...) is a complete Parquet file with row groups inside,
readable on its own (by pyarrow, Dask, Spark, DuckDB); the manifest is written last, and
on any failure the parts written so far are deleted and no manifest is written: the
guarantees are ExportWriter's, whose machinery this reuses.

Part size: a new part starts before the rows that would take the current part past
`part_size` bytes of column data **before** Parquet's encoding and compression (Arrow's
in-memory size), as CSV parts are counted before gzip; a stored part is usually much
smaller. Rows are gathered into row groups of about `row_group_bytes`.
Memory: one row group of Arrow data plus one multipart chunk.

Unlike the rest of churnml_loaders this module needs pyarrow, so it is for the client
environment (.venv) only: nothing in the database server imports it.
"""

from __future__ import annotations

import dataclasses
import io
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from churnml_loaders.copy_formats import Framing
from churnml_loaders.errors import DataCorrupted, InvalidParameter
from churnml_loaders.export_writer import (
    DEFAULT_CHUNK_SIZE,
    DEFAULT_PART_SIZE,
    MIB,
    ExportResult,
    ExportWriter,
    _Part,
    _Run,
)
from churnml_loaders.manifest import Column, ManifestPart, verify_part
from churnml_loaders.s3_client import S3Client
from churnml_loaders.uris import S3Uri

PARQUET_FORMAT = "parquet"
DEFAULT_ROW_GROUP_BYTES = 16 * MIB
DEFAULT_COMPRESSION = "zstd"
MAX_PART_BYTES_READ = 2 * 1024 * MIB  # a reader holds one part in memory

# PostgreSQL type oid -> Arrow type. Other types are exported as their PostgreSQL text output.
# numeric becomes float64 (as churnml.train reads it); timestamps keep microseconds.
ARROW_TYPES: dict[int, pa.DataType] = {
    16: pa.bool_(),                      # boolean
    21: pa.int16(),                      # smallint
    23: pa.int32(),                      # integer
    20: pa.int64(),                      # bigint
    700: pa.float32(),                   # real
    701: pa.float64(),                   # double precision
    1700: pa.float64(),                  # numeric
    25: pa.string(),                     # text
    1043: pa.string(),                   # character varying
    1042: pa.string(),                   # character
    19: pa.string(),                     # name
    1082: pa.date32(),                   # date
    1114: pa.timestamp("us"),            # timestamp without time zone
    1184: pa.timestamp("us", tz="UTC"),  # timestamp with time zone
}
NUMERIC_OID = 1700


@dataclass(frozen=True)
class ParquetColumn:
    name: str
    sql_type: str  # as format_type prints it (what the manifest records)
    arrow_type: pa.DataType
    as_text: bool = False  # exported as PostgreSQL's text output (a type Arrow has no match for)


def parquet_column(name: str, type_oid: int, sql_type: str) -> ParquetColumn:
    arrow = ARROW_TYPES.get(type_oid)
    return ParquetColumn(name, sql_type, arrow if arrow is not None else pa.string(), as_text=arrow is None)


def arrow_schema(columns: Sequence[ParquetColumn]) -> pa.Schema:
    names = [c.name for c in columns]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise InvalidParameter(f"the query has more than one column named \"{repeated[0]}\"",
                               detail="Parquet readers find columns by name.",
                               hint="Give every column a distinct name (AS).")
    if not columns:
        raise InvalidParameter("a Parquet export needs a query that returns columns",
                               hint="Export a SELECT, TABLE or VALUES query.")
    return pa.schema([pa.field(c.name, c.arrow_type) for c in columns])


def record_batch(rows: Sequence[Sequence[Any]], schema: pa.Schema) -> pa.RecordBatch:
    """Row tuples (values as psycopg returns them) as one Arrow record batch of `schema`."""
    arrays = []
    for i, field in enumerate(schema):
        values = [row[i] for row in rows]
        try:
            arrays.append(pa.array(values, type=field.type))
        except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError) as exc:
            raise InvalidParameter(f"column \"{field.name}\" cannot be written as Parquet {field.type}",
                                   detail=str(exc).splitlines()[0][:300],
                                   hint=f"Cast \"{field.name}\" to text or another type in the query.") from None
    return pa.RecordBatch.from_arrays(arrays, schema=schema)


def _slices(batch: pa.RecordBatch, limit: int) -> Iterator[pa.RecordBatch]:
    """`batch` cut so that no piece holds more than `limit` bytes (a single row may)."""
    if batch.num_rows <= 1 or batch.nbytes <= limit:
        yield batch
        return
    rows = max(1, int(batch.num_rows * limit // max(batch.nbytes, 1)))
    for start in range(0, batch.num_rows, rows):
        piece = batch.slice(start, rows)
        if piece.nbytes > limit and piece.num_rows > 1:  # rows of uneven width: halve until it fits
            half = piece.num_rows // 2
            yield from _slices(piece.slice(0, half), limit)
            yield from _slices(piece.slice(half), limit)
        else:
            yield piece


class _PartSink(io.RawIOBase):
    """A write-only file for pyarrow's ParquetWriter that feeds one part (hash, count, upload)."""

    def __init__(self, part: _Part) -> None:
        super().__init__()
        self.part = part
        self.position = 0

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        view = memoryview(data).cast("B")
        self.part.add(view, 0)
        self.position += len(view)
        return len(view)

    def tell(self) -> int:
        return self.position


class _ParquetPart:
    def __init__(self, part: _Part, schema: pa.Schema, compression: str) -> None:
        self.part = part
        self.sink = _PartSink(part)
        self.writer = pq.ParquetWriter(pa.PythonFile(self.sink, mode="w"), schema, compression=compression)
        self.pending: list[pa.RecordBatch] = []
        self.pending_bytes = 0
        self.data_bytes = 0  # Arrow bytes of every row taken, before encoding and compression
        self.row_groups = 0

    def add(self, batch: pa.RecordBatch) -> None:
        self.pending.append(batch)
        self.pending_bytes += batch.nbytes
        self.data_bytes += batch.nbytes
        self.part.rows += batch.num_rows

    def flush(self) -> None:
        if self.pending:
            table = pa.Table.from_batches(self.pending)
            self.writer.write_table(table, row_group_size=max(table.num_rows, 1))
            self.row_groups += 1
            self.pending, self.pending_bytes = [], 0

    def finish(self) -> ManifestPart:
        self.flush()
        self.writer.close()
        done = self.part.finish(b"")
        return dataclasses.replace(done, uncompressed_bytes=self.data_bytes)


class ParquetExportWriter(ExportWriter):
    """ExportWriter's parts-and-manifest protocol, with Parquet files as parts."""

    formats = (PARQUET_FORMAT,)
    formats_hint = "A ParquetExportWriter writes parquet."

    def __init__(self, client: S3Client, target: S3Uri, *, columns: Sequence[ParquetColumn],
                 part_size: int = DEFAULT_PART_SIZE, row_group_bytes: int = DEFAULT_ROW_GROUP_BYTES,
                 compression: str = DEFAULT_COMPRESSION, write_manifest: bool = True, overwrite: bool = False,
                 chunk_size: int = DEFAULT_CHUNK_SIZE) -> None:
        super().__init__(client, target, fmt=PARQUET_FORMAT, columns=[Column(c.name, c.sql_type) for c in columns],
                         part_size=part_size, chunk_size=chunk_size, write_manifest=write_manifest,
                         overwrite=overwrite)
        if row_group_bytes < 1:
            raise InvalidParameter("the row group size must be at least 1 byte")
        self.schema = arrow_schema(columns)
        self.row_group_bytes = min(row_group_bytes, part_size)
        self.compression = compression

    def _content_type(self) -> str:
        return "application/vnd.apache.parquet"

    def write(self, rows: Any, *, framing: Any = None, before_commit: Any = None) -> ExportResult:
        raise InvalidParameter("a Parquet export takes batches of rows, not COPY data",
                               hint="Call write_batches().")

    def write_batches(self, batches: Iterable[Sequence[Sequence[Any]] | pa.RecordBatch]) -> ExportResult:
        """Write every batch of rows (row tuples, or Arrow record batches of the schema), then the manifest."""
        return self._export(lambda run: self._write_parts(batches, run))

    def _write_parts(self, batches: Iterable[Sequence[Sequence[Any]] | pa.RecordBatch], run: _Run
                     ) -> list[ManifestPart]:
        done: list[ManifestPart] = []
        current: _ParquetPart | None = None

        def start() -> _ParquetPart:
            run.part = self._start_part(len(done), Framing(), run.touched)
            return _ParquetPart(run.part, self.schema, self.compression)

        for rows in batches:
            batch = rows if isinstance(rows, pa.RecordBatch) else record_batch(rows, self.schema)
            if batch.num_rows == 0:
                continue
            for piece in _slices(batch, self.part_size):
                if current is None:
                    current = start()
                elif current.part.rows and current.data_bytes + piece.nbytes > self.part_size:
                    done.append(current.finish())
                    current = start()
                current.add(piece)
                if current.pending_bytes >= self.row_group_bytes:
                    current.flush()
        if current is None:  # no rows: one part with the schema only, so readers find the columns
            current = start()
        done.append(current.finish())
        run.part = None
        return done


# ---- reading -------------------------------------------------------------------------

def read_part(client: S3Client, bucket: str, part: ManifestPart, *, columns: Sequence[str] | None = None,
              verify: bool = True) -> pa.Table:
    """One Parquet part of an export, checked against the manifest's size and SHA-256 first."""
    where = f"s3://{bucket}/{part.key}"
    if part.bytes > MAX_PART_BYTES_READ:
        raise InvalidParameter(f"export part {where} is too large to read at once ({part.bytes} bytes)",
                               hint="Export with a smaller --part-size.")
    chunks = client.get_object(bucket, part.key)
    data = b"".join(verify_part(chunks, part, where=where) if verify else chunks)
    try:
        table = pq.read_table(pa.BufferReader(data), columns=list(columns) if columns is not None else None)
    except (pa.ArrowInvalid, OSError) as exc:
        raise DataCorrupted(f"export part {where} is not a readable Parquet file",
                            detail=str(exc).splitlines()[0][:300],
                            hint="Export again with --format parquet.") from None
    if table.num_rows != part.rows:
        raise DataCorrupted(f"export part {where} has {table.num_rows} rows, its manifest says {part.rows}",
                            hint="The object was changed after the export; export again.")
    return table
