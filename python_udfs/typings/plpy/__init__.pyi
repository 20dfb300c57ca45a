"""Type stub for `plpy`, the module PL/Python injects into the server's interpreter.

It exists only inside a PostgreSQL backend, so no package provides it; this stub is for
mypy alone (mypy_path in pyproject.toml) and never installed. Modelled on PostgreSQL 15's
PL/Python documentation (chapter 46: "Database Access", "Utility Functions",
"Trapping Errors", "Explicit Subtransactions") and on src/pl/plpython/plpy_*.c.

churnml passes the module into its functions as an argument; those parameters are typed
with the protocol `churnml.spi.Plpy`, which this module satisfies.
"""

from collections.abc import Iterator, Sequence
from types import TracebackType
from typing import Any, NoReturn, overload

from plpy import spiexceptions as spiexceptions

# A row of a result or a cursor: column name -> value, converted to Python by the column's
# type (int, float, Decimal, str, bool, None, list, dict for composites, ...).
_Row = dict[str, Any]

class Error(Exception):
    """Raised by plpy.error; raising one (or a subclass) reports these attributes."""

    sqlstate: str | None
    detail: str | None
    hint: str | None
    schema_name: str | None
    table_name: str | None
    column_name: str | None
    datatype_name: str | None
    constraint_name: str | None

class Fatal(Exception):
    """Raised by plpy.fatal: ends the session."""

class SPIError(Exception):
    """An error of a statement run through SPI (execute, prepare, cursor); the classes of
    plpy.spiexceptions are its subclasses, one per SQLSTATE."""

    sqlstate: str | None
    # (packed SQLSTATE, detail, hint, query, position, schema, table, column, datatype, constraint)
    spidata: tuple[Any, ...] | None
    detail: str | None
    hint: str | None
    schema_name: str | None
    table_name: str | None
    column_name: str | None
    datatype_name: str | None
    constraint_name: str | None

class PLyResult(Sequence[_Row]):
    """What plpy.execute returns: the rows (a list-like of dicts) and the statement's status."""

    def nrows(self) -> int: ...
    def status(self) -> int: ...
    # these three raise plpy.Error for a statement without a result set (an INSERT without RETURNING)
    def colnames(self) -> list[str]: ...
    def coltypes(self) -> list[int]: ...
    def coltypmods(self) -> list[int]: ...
    @overload
    def __getitem__(self, index: int) -> _Row: ...
    @overload
    def __getitem__(self, index: slice) -> list[_Row]: ...
    def __setitem__(self, index: int, value: _Row) -> None: ...
    def __len__(self) -> int: ...

class PLyCursor(Iterator[_Row]):
    """What plpy.cursor returns: rows fetched in batches as it is iterated."""

    def fetch(self, n: int) -> PLyResult: ...
    def close(self) -> None: ...
    def __iter__(self) -> PLyCursor: ...
    def __next__(self) -> _Row: ...

class PLyPlan:
    """What plpy.prepare returns: a statement parsed and planned once, run with parameters."""

    def execute(self, args: Sequence[Any] | None = ..., max_rows: int = ...) -> PLyResult: ...
    def cursor(self, args: Sequence[Any] | None = ...) -> PLyCursor: ...
    def status(self) -> bool: ...

class PLySubtransaction:
    """plpy.subtransaction(): a context manager around an explicit subtransaction."""

    def __enter__(self) -> PLySubtransaction: ...
    def __exit__(
        self, type: type[BaseException] | None, value: BaseException | None, traceback: TracebackType | None
    ) -> None: ...

@overload
def execute(query: str, max_rows: int = ...) -> PLyResult: ...
@overload
def execute(plan: PLyPlan, arguments: Sequence[Any] | None = ..., max_rows: int = ...) -> PLyResult: ...
def prepare(query: str, argtypes: Sequence[str] | None = ...) -> PLyPlan: ...
@overload
def cursor(query: str) -> PLyCursor: ...
@overload
def cursor(plan: PLyPlan, arguments: Sequence[Any] | None = ...) -> PLyCursor: ...
def subtransaction() -> PLySubtransaction: ...
def commit() -> None: ...
def rollback() -> None: ...

# The message functions: the message (several positional arguments are reported as their
# tuple) and, by keyword, the other fields of the report (each converted with str()).
def debug(
    *message: object, detail: object = ..., hint: object = ..., sqlstate: str = ..., schema_name: str = ...,
    table_name: str = ..., column_name: str = ..., datatype_name: str = ..., constraint_name: str = ...,
) -> None: ...
def log(
    *message: object, detail: object = ..., hint: object = ..., sqlstate: str = ..., schema_name: str = ...,
    table_name: str = ..., column_name: str = ..., datatype_name: str = ..., constraint_name: str = ...,
) -> None: ...
def info(
    *message: object, detail: object = ..., hint: object = ..., sqlstate: str = ..., schema_name: str = ...,
    table_name: str = ..., column_name: str = ..., datatype_name: str = ..., constraint_name: str = ...,
) -> None: ...
def notice(
    *message: object, detail: object = ..., hint: object = ..., sqlstate: str = ..., schema_name: str = ...,
    table_name: str = ..., column_name: str = ..., datatype_name: str = ..., constraint_name: str = ...,
) -> None: ...
def warning(
    *message: object, detail: object = ..., hint: object = ..., sqlstate: str = ..., schema_name: str = ...,
    table_name: str = ..., column_name: str = ..., datatype_name: str = ..., constraint_name: str = ...,
) -> None: ...
def error(
    *message: object, detail: object = ..., hint: object = ..., sqlstate: str = ..., schema_name: str = ...,
    table_name: str = ..., column_name: str = ..., datatype_name: str = ..., constraint_name: str = ...,
) -> NoReturn: ...
def fatal(
    *message: object, detail: object = ..., hint: object = ..., sqlstate: str = ..., schema_name: str = ...,
    table_name: str = ..., column_name: str = ..., datatype_name: str = ..., constraint_name: str = ...,
) -> NoReturn: ...
def quote_literal(string: str) -> str: ...
def quote_nullable(string: str | None) -> str: ...
def quote_ident(string: str) -> str: ...
