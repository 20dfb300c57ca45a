"""Whole COPY rows in chunks of COPY data: for the spool files of export_query and load_from_s3.

`scan` finds where the whole rows at the start of a chunk end (in C when
`_copy_rows` is built, else in Python, slower but the same); `copy_chunks` reads
COPY output (`spool_chunks`: a finished file) as chunks of whole rows with their
row counts, the form the export writer uploads in parts.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from churnml_loaders.copy_formats import BINARY_TRAILER, binary_header_length
from churnml_loaders.errors import DataException

try:
    from churnml_loaders import _copy_rows
except ImportError:  # not built here: the Python scanner serves
    _copy_rows = None  # type: ignore[assignment]  # not built: scan() falls back to Python


@dataclass(frozen=True)
class CsvDialect:
    """What decides where a CSV row ends: the quote and escape bytes, and whether the file's
    encoding has multibyte characters that may hold ASCII bytes ('S'JIS, 'B'IG5, GBK and UHC,
    'G'B18030, 'J'OHAB; '' for every other encoding), whose characters are stepped over whole."""

    quote: int = 0x22
    escape: int = 0x22
    multibyte: str = ""

    @classmethod
    def of(cls, quote: str, escape: str, encoding: str | None) -> CsvDialect:
        kinds = {"SJIS": "S", "BIG5": "B", "GBK": "B", "UHC": "B", "GB18030": "G", "JOHAB": "J"}
        return cls(ord(quote), ord(escape), kinds.get((encoding or "").upper(), ""))


DEFAULT_CSV = CsvDialect()


def _mb_length(kind: str, data: bytes, i: int) -> int:
    """pg_encoding_mblen of the character at data[i] (a byte >= 0x80); 0 when it is cut off."""
    lead = data[i]
    if kind == "S":
        length = 1 if 0xA1 <= lead <= 0xDF else 2
    elif kind == "G":
        length = 4 if i + 1 < len(data) and 0x30 <= data[i + 1] <= 0x39 else 2
    elif kind == "J":
        length = 3 if lead == 0x8F else 2
    else:
        length = 2
    return length if i + length <= len(data) else 0


def _scan_csv_python(data: bytes, dialect: CsvDialect) -> tuple[int, int]:
    quote, escape, kind = dialect.quote, dialect.escape, dialect.multibyte
    if quote == escape and quote < 0x30:
        kind = ""  # no multibyte character holds a byte below 0x30: the quotes' parity decides (as in C)
    end = rows = i = 0
    quoted = False
    while i < len(data):
        byte = data[i]
        if kind and byte >= 0x80:
            length = _mb_length(kind, data, i)
            if not length:
                break
            i += length
            continue
        if quoted and byte == escape and escape != quote:
            if i + 1 >= len(data):
                break
            i += 2 if data[i + 1] in (quote, escape) else 1
            continue
        if byte == quote:
            quoted = not quoted
        elif byte == 0x0A and not quoted:
            rows, end = rows + 1, i + 1
        i += 1
    return end, rows


def _scan_python(data: bytes, fmt: str, dialect: CsvDialect = DEFAULT_CSV) -> tuple[int, int, int]:
    if fmt == "text":
        end = data.rfind(b"\n") + 1
        return end, data.count(b"\n", 0, end), -1
    if fmt == "csv":
        return (*_scan_csv_python(bytes(data), dialect), -1)
    at = end = rows = 0
    while at + 2 <= len(data):
        (fields,) = struct.unpack_from(">h", data, at)
        if fields == -1:
            return end, rows, at
        if fields < 0:
            raise ValueError(f"invalid binary COPY data: field count {fields}")
        nxt = at + 2
        for _ in range(fields):
            if nxt + 4 > len(data):
                return end, rows, -1
            (length,) = struct.unpack_from(">i", data, nxt)
            if length < -1:
                raise ValueError(f"invalid binary COPY data: field length {length}")
            nxt += 4 + max(length, 0)
            if nxt > len(data):
                return end, rows, -1
        rows += 1
        at = end = nxt
    return end, rows, -1


def scan(data: bytes, fmt: str, dialect: CsvDialect = DEFAULT_CSV) -> tuple[int, int, int]:
    """(end, rows, trailer): the whole rows at the start of `data` end at `end`; `trailer`
    is the offset of binary COPY's end marker when `data` holds it, else -1. `dialect`
    says how CSV quotes (COPY's quote, escape and the file's encoding)."""
    if _copy_rows is not None:
        if dialect == DEFAULT_CSV:
            return _copy_rows.scan(data, fmt)
        return _copy_rows.scan(data, fmt, dialect.quote, dialect.escape, dialect.multibyte)
    return _scan_python(data, fmt, dialect)


def spool_chunks(path: Path, fmt: str, chunk_bytes: int, dialect: CsvDialect = DEFAULT_CSV
                 ) -> tuple[bytes, Iterator[tuple[memoryview, int]]]:
    """(binary header or b"", chunks of (whole rows, row count)) of a COPY TO output file."""
    handle = open(path, "rb")  # noqa: SIM115 - closed by the generator
    try:
        return copy_chunks(handle.read, fmt, chunk_bytes, close=handle.close, dialect=dialect)
    except BaseException:
        handle.close()
        raise


def copy_chunks(read: Callable[[int], bytes], fmt: str, chunk_bytes: int,
                close: Callable[[], None] = lambda: None, dialect: CsvDialect = DEFAULT_CSV
                ) -> tuple[bytes, Iterator[tuple[memoryview, int]]]:
    """(binary header or b"", chunks of (whole rows, row count)) of COPY TO output that
    `read(n)` returns (up to n bytes; b"" at the end). `close` runs when the chunks end."""
    header = b""
    if fmt == "binary":
        head = read(1 << 16)
        length = binary_header_length(head)
        if length is None:
            raise DataException("the spooled binary COPY output has no complete header",
                                detail="COPY's binary output must start with its 19-byte signature and header.")
        header, rest = head[:length], head[length:]
    else:
        rest = b""

    def chunks() -> Iterator[tuple[memoryview, int]]:
        pending = rest
        try:
            while True:
                chunk = read(chunk_bytes)
                data = pending + chunk if pending else chunk
                end, rows, trailer = scan(data, fmt, dialect)
                if rows:
                    yield memoryview(data)[:end], rows  # a view: the rows are not copied again
                pending = data[end:]
                if trailer >= 0:
                    if data[trailer:] != BINARY_TRAILER:
                        raise DataException("the spooled binary COPY output has data after its end marker",
                                            detail="Nothing may follow COPY's end marker.")
                    return
                if not chunk:
                    break
        finally:
            close()
        if pending or fmt == "binary":
            raise DataException("the spooled COPY output ends inside a row",
                                detail="COPY's output ended without a complete last row.")

    return header, chunks()
