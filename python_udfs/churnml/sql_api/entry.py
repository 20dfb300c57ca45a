"""The decorators every SQL-callable entry point wears."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

from churnml.errors import raise_as_sql
from churnml.runtime import require_version

F = TypeVar("F", bound=Callable[..., Any])


def _wrap(func: F, *, check_version: bool) -> F:
    @functools.wraps(func)
    def wrapper(plpy: Any, version: str, *args: Any, **kwargs: Any) -> Any:
        try:
            if check_version:
                require_version(version)
            return func(plpy, *args, **kwargs)
        except (plpy.SPIError, plpy.Error, plpy.Fatal):
            raise
        except Exception as exc:  # every other exception becomes a SQL error here
            raise_as_sql(plpy, exc)
            raise  # unreachable: plpy.error raises

    return wrapper  # type: ignore[return-value]


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
