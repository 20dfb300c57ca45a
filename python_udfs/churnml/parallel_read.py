"""churnml's catalog reads that also work while a parallel query runs.

plpy.execute and plpy.prepare open a subtransaction for every statement, which PostgreSQL
forbids while IsInParallelMode(): in parallel workers and in the leader during a parallel
query. So the scoring and sentiment functions, which read a deployment and an artifact,
were PARALLEL UNSAFE. `rows()` runs churnml's fixed, schema-qualified reads through plpy
outside parallel mode (prepared once, as before) and, in parallel mode, through
`churnml_parallel_read` in churnml.so (extension/core/parallel_read.c): SPI without a
subtransaction, read-only, in the statement's snapshot, which a worker shares with its
leader. That C catches the server's error and hands it back; it is raised here at once as
the function's error (`ServerError`: its SQLSTATE, message, detail and hint), since without a
subtransaction nothing may run on after it. `check_interrupts()` is interrupts.check's
SPI-free form, CHECK_FOR_INTERRUPTS() in the same C.

Why ctypes into churnml.so rather than a CPython extension: the C needs the server's
headers and symbols (SPI, PG_TRY, the error stack), which churnml.so is built against
already (PGXS); the Python package's own extensions are built without them. The library is
found as `$libdir/churnml.so` (the server's pkglib_path), the name every churnml C function's
SQL definition uses, so it is the same file, loaded once per process. It is called with the
GIL held (PyDLL): the server is single-threaded, and nothing may enter Python meanwhile.
"""

from __future__ import annotations

import ctypes
import os
from collections.abc import Sequence
from typing import Any

from churnml import server
from churnml.errors import ChurnmlError
from churnml.spi import Plpy, prepared

# Type OIDs of the values converted from their text form (others stay text; bytea is bytes).
_INTEGERS = {20, 21, 23, 26}  # int8, int2, int4, oid
_FLOATS = {700, 701}  # float4, float8
_BOOL = 16
_BYTEA = 17


class ServerError(ChurnmlError):
    """An error the server raised during a parallel-mode read, with its own SQLSTATE."""

    def __init__(self, sqlstate: str, message: str, detail: str | None, hint: str | None) -> None:
        super().__init__(message.removeprefix("churnml: "), detail=detail, hint=hint)
        self.sqlstate = sqlstate


class _Result(ctypes.Structure):
    """ChurnmlReadResult in parallel_read.c: keep the two in step."""

    _fields_ = [
        ("ok", ctypes.c_int32),
        ("nrows", ctypes.c_int32),
        ("ncols", ctypes.c_int32),
        ("names", ctypes.POINTER(ctypes.c_char_p)),
        ("types", ctypes.POINTER(ctypes.c_uint32)),
        ("values", ctypes.POINTER(ctypes.c_void_p)),
        ("lengths", ctypes.POINTER(ctypes.c_int64)),
        ("sqlstate", ctypes.c_char * 6),
        ("message", ctypes.c_char_p),
        ("detail", ctypes.c_char_p),
        ("hint", ctypes.c_char_p),
        ("context", ctypes.c_void_p),
    ]


_LIBRARY: list[Any] = []


def _library() -> Any:
    if not _LIBRARY:
        program = ctypes.CDLL(None)
        libdir = (ctypes.c_char * 1024).in_dll(program, "pkglib_path").value.decode()
        library = ctypes.PyDLL(os.path.join(libdir, "churnml.so"))
        library.churnml_parallel_read.restype = ctypes.POINTER(_Result)
        library.churnml_parallel_read.argtypes = [ctypes.c_char_p, ctypes.c_int, ctypes.POINTER(ctypes.c_char_p),
                                                  ctypes.POINTER(ctypes.c_char_p)]
        library.churnml_parallel_check_interrupts.restype = ctypes.POINTER(_Result)
        library.churnml_parallel_check_interrupts.argtypes = []
        library.churnml_parallel_free.restype = None
        library.churnml_parallel_free.argtypes = [ctypes.POINTER(_Result)]
        _LIBRARY.append(library)
    return _LIBRARY[0]


def _text(value: bytes | None) -> str | None:
    return None if value is None else value.decode("utf-8", "replace")


def _raise_if_failed(result: Any) -> None:
    if not result.ok:
        raise ServerError(result.sqlstate.decode("ascii", "replace") or "XX000",
                          _text(result.message) or "churnml: a catalog read failed",
                          _text(result.detail), _text(result.hint))


def _value(address: int | None, length: int, type_oid: int) -> Any:
    if length < 0:
        return None
    raw = ctypes.string_at(address or 0, length) if length else b""
    if type_oid == _BYTEA:
        return raw
    text = raw.decode("utf-8")
    if type_oid in _INTEGERS:
        return int(text)
    if type_oid in _FLOATS:
        return float(text)
    if type_oid == _BOOL:
        return text == "t"
    return text


def _native_rows(query: str, types: Sequence[str], args: Sequence[Any]) -> list[dict[str, Any]]:
    library = _library()
    n = len(args)
    argtypes = (ctypes.c_char_p * max(n, 1))(*[t.encode() for t in types])
    texts = (ctypes.c_char_p * max(n, 1))(*[None if a is None else str(a).encode() for a in args])
    found = library.churnml_parallel_read(query.encode(), n, argtypes, texts)
    try:
        result = found.contents
        _raise_if_failed(result)
        names = [result.names[c].decode() for c in range(result.ncols)]
        types_of = [int(result.types[c]) for c in range(result.ncols)]
        rows = []
        for r in range(result.nrows):
            at = r * result.ncols
            rows.append({names[c]: _value(result.values[at + c], int(result.lengths[at + c]), types_of[c])
                         for c in range(result.ncols)})
        return rows
    finally:
        library.churnml_parallel_free(found)


def rows(plpy: Plpy, key: str, query: str, types: list[str], args: Sequence[Any]) -> list[dict[str, Any]]:
    """The rows of churnml's read-only statement `query` (parameters `args` of SQL types `types`).

    Outside parallel mode: plpy, the plan prepared once under `key`. In parallel mode: the
    C reader, whose values are converted back as plpy would give them for the types churnml
    reads (integers, floats, booleans, text, bytea as bytes)."""
    if server.in_parallel_mode():
        return _native_rows(query, types, args)
    return [dict(row) for row in plpy.execute(prepared(plpy, key, query, types), list(args))]


def check_interrupts() -> None:
    """CHECK_FOR_INTERRUPTS() without SPI: raises the cancel's (or timeout's) error; a terminate exits."""
    library = _library()
    found = library.churnml_parallel_check_interrupts()
    try:
        _raise_if_failed(found.contents)
    finally:
        library.churnml_parallel_free(found)
