"""churnml_loaders.copy_formats: what COPY writes once per stream, so each part can carry it."""

from __future__ import annotations

import struct

import pytest

from churnml_loaders.copy_formats import BINARY_SIGNATURE, BINARY_TRAILER, binary_header_length, split_copy_stream
from churnml_loaders.errors import DataException

HEADER = BINARY_SIGNATURE + struct.pack(">ii", 0, 0)


def _row(value: int) -> bytes:
    return struct.pack(">hii", 1, 4, value)


def test_csv_header_becomes_the_preamble() -> None:
    framing, rows = split_copy_stream("csv", True, [b"a,b\n", b"1,2\n", b"3,4\n"])
    assert framing.preamble == b"a,b\n" and framing.trailer == b""
    assert list(rows) == [b"1,2\n", b"3,4\n"]


def test_without_header_rows_pass_through() -> None:
    framing, rows = split_copy_stream("text", False, [b"1\t2\n"])
    assert framing.preamble == b"" and list(rows) == [b"1\t2\n"]


def test_binary_as_postgres_sends_it() -> None:
    # header glued to the first row, end marker alone at the end
    messages = [HEADER + _row(1), _row(2), _row(3), BINARY_TRAILER]
    framing, rows = split_copy_stream("binary", False, messages)
    assert framing.preamble == HEADER and framing.trailer == BINARY_TRAILER
    assert list(rows) == [_row(1), _row(2), _row(3)]


def test_binary_without_rows() -> None:
    framing, rows = split_copy_stream("binary", False, [HEADER + BINARY_TRAILER])
    assert framing.preamble == HEADER and list(rows) == []


def test_binary_header_with_extension() -> None:
    header = BINARY_SIGNATURE + struct.pack(">ii", 0, 3) + b"ext"
    assert binary_header_length(header + b"rest") == len(header)
    assert binary_header_length(header[:-1]) is None
    assert binary_header_length(b"PGC") is None


def test_not_binary() -> None:
    with pytest.raises(DataException, match="not a binary COPY file"):
        binary_header_length(b"a,b,c\n1,2,3\n")
    with pytest.raises(DataException, match="no end marker"):
        list(split_copy_stream("binary", False, [HEADER + _row(1), _row(2)])[1])
