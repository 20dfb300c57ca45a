"""Prepared SPI statements, kept for the life of the backend.

plpy.prepare plans are reusable across calls; preparing each statement once saves
the parse and plan on every later call. Keys name the statement; values are only
ever passed as parameters.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, NoReturn, Protocol, overload

if TYPE_CHECKING:
    import plpy
    from plpy import PLyCursor, PLyPlan, PLyResult, PLySubtransaction


class Plpy(Protocol):
    """The `plpy` module, as the SQL bodies pass it in (`churnml.sql_api.<area>.<f>(plpy, ...)`):
    what churnml calls of it, typed as in python_udfs/typings/plpy (PostgreSQL 15's PL/Python).
    A protocol rather than the module's own type, so that tests may pass a stand-in."""

    @property
    def Error(self) -> type[plpy.Error]: ...
    @property
    def Fatal(self) -> type[plpy.Fatal]: ...
    @property
    def SPIError(self) -> type[plpy.SPIError]: ...

    @overload
    def execute(self, query: str, max_rows: int = ..., /) -> PLyResult: ...
    @overload
    def execute(self, plan: PLyPlan, arguments: Sequence[Any] | None = ..., max_rows: int = ..., /) -> PLyResult: ...
    def prepare(self, query: str, argtypes: Sequence[str] | None = ..., /) -> PLyPlan: ...
    @overload
    def cursor(self, query: str, /) -> PLyCursor: ...
    @overload
    def cursor(self, plan: PLyPlan, arguments: Sequence[Any] | None = ..., /) -> PLyCursor: ...
    def subtransaction(self) -> PLySubtransaction: ...
    def debug(self, *message: object, detail: object = ..., hint: object = ..., sqlstate: str = ...) -> None: ...
    def notice(self, *message: object, detail: object = ..., hint: object = ..., sqlstate: str = ...) -> None: ...
    def warning(self, *message: object, detail: object = ..., hint: object = ..., sqlstate: str = ...) -> None: ...
    def error(self, *message: object, detail: object = ..., hint: object = ..., sqlstate: str = ...) -> NoReturn: ...
    def quote_literal(self, string: str, /) -> str: ...
    def quote_nullable(self, string: str | None, /) -> str: ...
    def quote_ident(self, string: str, /) -> str: ...


if TYPE_CHECKING:
    _module_is_a_plpy: Plpy = plpy  # the stub and the protocol agree


_PLANS: dict[str, PLyPlan] = {}


def prepared(plpy: Plpy, key: str, query: str, types: list[str]) -> PLyPlan:
    plan = _PLANS.get(key)
    if plan is None:
        plan = plpy.prepare(query, types)
        _PLANS[key] = plan
    return plan
