"""What the PostgreSQL server can tell churnml's Python without an SPI round trip.

A PL/Python function runs inside the postgres process, whose executable exports its
globals and functions (it links with -Wl,-E so that extension libraries can call them).
Five of them are read here through ctypes, each a getter that cannot raise an error:

- `InterruptPending`: whether a cancel, timeout or terminate waits (`churnml.interrupts`);
- `GetCurrentStatementStartTimestamp()`: when the current statement started, the key of
  the per-statement deployment cache (`churnml.scoring.model_cache`), so a deploy takes
  effect at the next statement and all rows of one statement use one model. Public
  functions used to take it as a hidden argument (`_statement`), evaluated per row;
- `MyStartTimestamp`: when this backend started (pg_stat_activity.backend_start), which
  tells churnml.progress a live backend from a dead one that had the same pid;
- `GetConfigOption(name, missing_ok, restrict_privileged)`: a setting such as
  `churnml.sentiment_engine`, for functions whose signature is fixed (Aurora's);
- `IsInParallelMode()`: whether a parallel query runs (in a worker, or in its leader), when
  plpy's SPI would fail and churnml reads through `churnml.parallel_read` instead. A worker
  also reads its leader's statement start above (PostgreSQL hands it over).

A call costs well under a microsecond; an SPI statement costs tens. Outside a backend
(unit tests, the CLI) the symbols are missing and every reader says so (None / False).
Only getters belong here: a function that can ereport(ERROR) would longjmp through
ctypes' frames.
"""

from __future__ import annotations

import ctypes
from typing import Any

_symbols: dict[str, Any] = {}


def _program() -> Any:
    program = _symbols.get("program")
    if program is None:
        program = _symbols["program"] = ctypes.CDLL(None)
    return program


def _lookup(name: str, make: Any) -> Any:
    """The symbol `name` made into a ctypes object once, or False when this is no backend."""
    found = _symbols.get(name)
    if found is None:
        try:
            found = make(_program())
        except (AttributeError, OSError, ValueError):  # not in a postgres process
            found = False
        _symbols[name] = found
    return found


def interrupt_flag() -> Any:
    """The server's InterruptPending as a ctypes int (read `.value`), or False outside a backend."""
    return _lookup("InterruptPending", lambda p: ctypes.c_int.in_dll(p, "InterruptPending"))


def in_backend() -> bool:
    return interrupt_flag() is not False


def _statement_start_function(program: Any) -> Any:
    function = program.GetCurrentStatementStartTimestamp
    function.restype = ctypes.c_int64
    function.argtypes = []
    return function


def statement_start() -> int | None:
    """The current statement's start (microseconds since 2000-01-01, the server's TimestampTz), or None."""
    function = _lookup("GetCurrentStatementStartTimestamp", _statement_start_function)
    return function() if function else None


def backend_start() -> int | None:
    """This backend's start (microseconds since 2000-01-01, the server's TimestampTz), or None."""
    found = _lookup("MyStartTimestamp", lambda p: ctypes.c_int64.in_dll(p, "MyStartTimestamp"))
    return int(found.value) if found else None


def _config_function(program: Any) -> Any:
    function = program.GetConfigOption
    function.restype = ctypes.c_char_p
    function.argtypes = [ctypes.c_char_p, ctypes.c_bool, ctypes.c_bool]
    return function


def setting(name: str) -> str | None:
    """The current value of a setting, None when unset (or outside a backend). Never raises:
    missing_ok is true and restrict_privileged false, the two ways GetConfigOption can fail."""
    function = _lookup("GetConfigOption", _config_function)
    if not function:
        return None
    value = function(name.encode("ascii"), True, False)
    return None if value is None else value.decode("utf-8", "replace")


def _parallel_mode_function(program: Any) -> Any:
    function = program.IsInParallelMode
    function.restype = ctypes.c_bool
    function.argtypes = []
    return function


def in_parallel_mode() -> bool:
    """Whether this process is in parallel mode (a parallel worker, or the leader of a running parallel
    query): no subtransaction, so no plpy.execute, may start. False outside a backend."""
    function = _lookup("IsInParallelMode", _parallel_mode_function)
    return bool(function()) if function else False
