"""What PostgreSQL's COPY formats put around the rows, so exports can split them into parts.

Every part of an export must be loadable on its own, so what COPY writes once per
stream has to be written once per part instead:

* csv/text with HEADER: the header line, at the top of every part;
* binary: the 19-byte signature header at the top and the 2-byte end marker
  (field count -1) at the bottom of every part.

`split_copy_stream` takes what `COPY ... TO STDOUT` sends (one CopyData message per
row; with binary, the header comes glued to the first row and the end marker alone
last) and returns that framing plus the bare rows. On the load side,
`binary_header_length` finds the header again so concatenated binary parts can be
turned back into one stream. Standard library only: this module also runs inside
the PostgreSQL backend.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from churnml_loaders.errors import DataException

BINARY_SIGNATURE = b"PGCOPY\n\xff\r\n\x00"
BINARY_FIXED_HEADER = len(BINARY_SIGNATURE) + 8  # signature, flags int32, extension length int32
BINARY_TRAILER = b"\xff\xff"
COPY_FORMATS = ("csv", "text", "binary")


@dataclass(frozen=True)
class Framing:
    """Bytes written at the top (`preamble`) and bottom (`trailer`) of every part."""

    preamble: bytes = b""
    trailer: bytes = b""


def binary_header_length(data: bytes) -> int | None:
    """Length of the binary COPY header at the start of `data`; None if more bytes are needed.

    Raises DataException if `data` does not start with the binary COPY signature.
    """
    if len(data) < len(BINARY_SIGNATURE):
        if not BINARY_SIGNATURE.startswith(data[:len(BINARY_SIGNATURE)]):
            raise DataException("not a binary COPY file", detail="The PGCOPY signature is missing.")
        return None
    if not data.startswith(BINARY_SIGNATURE):
        raise DataException("not a binary COPY file", detail="The PGCOPY signature is missing.",
                            hint="Objects written with --format binary start with \"PGCOPY\".")
    if len(data) < BINARY_FIXED_HEADER:
        return None
    (extension,) = struct.unpack(">i", data[len(BINARY_SIGNATURE) + 4:BINARY_FIXED_HEADER])
    if extension < 0:
        raise DataException("invalid binary COPY header", detail="Negative header extension length.")
    total = BINARY_FIXED_HEADER + extension
    return total if len(data) >= total else None


def split_copy_stream(fmt: str, header: bool, messages: Iterable[bytes]) -> tuple[Framing, Iterator[bytes]]:
    """(framing, rows) from COPY TO output given as one message per row.

    Reads ahead only as far as the framing needs (the first message, and for
    binary one message to recognise the last).
    """
    if fmt not in COPY_FORMATS:
        raise DataException(f"unknown COPY format \"{fmt}\"", detail="COPY's formats: csv, text and binary.")
    it = iter(messages)
    if fmt == "binary":
        return _split_binary(it)
    if not header:
        return Framing(), it
    first = next(it, None)
    if first is None:  # no header line at all: COPY sends one even for zero rows, but be lenient
        return Framing(), iter(())
    return Framing(preamble=bytes(first)), it


def _split_binary(it: Iterator[bytes]) -> tuple[Framing, Iterator[bytes]]:
    head = b""
    length = None
    for message in it:
        head += bytes(message)
        length = binary_header_length(head)
        if length is not None:
            break
    if length is None:
        raise DataException("binary COPY output ended inside its header",
                            detail="COPY's binary output starts with a 19-byte signature and header.")
    preamble, rest = head[:length], head[length:]

    def rows() -> Iterator[bytes]:
        pending = rest
        for message in it:
            if pending:
                yield pending
            pending = bytes(message)
        # The last message ends with the end marker (for zero rows it is glued to the header).
        if not pending.endswith(BINARY_TRAILER):
            raise DataException("binary COPY output has no end marker",
                                detail="A binary COPY stream ends with the two bytes ff ff.")
        if len(pending) > len(BINARY_TRAILER):
            yield pending[:-len(BINARY_TRAILER)]

    return Framing(preamble=preamble, trailer=BINARY_TRAILER), rows()
