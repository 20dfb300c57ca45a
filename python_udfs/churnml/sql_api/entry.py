"""The decorators every SQL-callable entry point wears."""

from __future__ import annotations

import functools
import types
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

from churnml.errors import raise_as_sql, raise_plpy_error_as_sql, raise_spi_error_as_sql
from churnml.runtime import require_version
from churnml.spi import Plpy

F = TypeVar("F", bound=Callable[..., Any])


def _wrap(func: F, *, check_version: bool) -> F:
    @functools.wraps(func)
    def wrapper(plpy: Plpy, version: str, *args: Any, **kwargs: Any) -> Any:
        try:
            if check_version:
                require_version(version)
            result = func(plpy, *args, **kwargs)
        except Exception as exc:  # every exception becomes a SQL error here
            _reraise(plpy, exc)
            raise  # unreachable: _reraise raises
        if isinstance(result, types.GeneratorType):  # a set returned row by row: map its errors too
            return _mapped_rows(plpy, result)
        return result

    return wrapper  # type: ignore[return-value]  # functools.wraps keeps func's signature


def _reraise(plpy: Plpy, exc: Exception) -> None:
    """Raise `exc` as the SQL error a client should see (never returns).

    An error from a statement churnml ran (plpy.SPIError: a cancel, a missing table, a
    constraint) keeps its SQLSTATE, message, detail and hint; only the Python class name
    PL/Python would put in front of the message ("spiexceptions.QueryCanceled: ...") goes.
    """
    if isinstance(exc, plpy.SPIError):
        raise_spi_error_as_sql(plpy, exc)
    if isinstance(exc, plpy.Fatal):
        raise exc
    if isinstance(exc, plpy.Error):
        raise_plpy_error_as_sql(plpy, exc)
    raise_as_sql(plpy, exc)


def _mapped_rows(plpy: Plpy, rows: Iterator[Any]) -> Iterator[Any]:
    try:
        yield from rows
    except Exception as exc:  # noqa: BLE001 - mapped exactly as for a direct return
        _reraise(plpy, exc)


def entry(func: F) -> F:
    """Check the version, then run `func(plpy, *args)` mapping errors to SQL errors.

    Called as `func(plpy, expected_version, *args)` from SQL bodies.
    """
    return _wrap(func, check_version=True)


def generated_entry(func: F) -> F:
    """For functions churnml generates at run time (create_model_function): called as
    `func(plpy, version_at_creation, *args)`, errors mapped like `entry`, but the
    version is not checked. Those functions live outside the extension, so
    ALTER EXTENSION UPDATE does not re-create them and pg_dump keeps them as they
    are: their calling convention is frozen and every release must accept it.
    """
    return _wrap(func, check_version=False)
