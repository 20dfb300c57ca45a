"""Prepared SPI statements, kept for the life of the backend.

plpy.prepare plans are reusable across calls; preparing each statement once saves
the parse and plan on every later call. Keys name the statement; values are only
ever passed as parameters.
"""

from __future__ import annotations

from typing import Any

_PLANS: dict[str, Any] = {}


def prepared(plpy: Any, key: str, query: str, types: list[str]) -> Any:
    plan = _PLANS.get(key)
    if plan is None:
        plan = plpy.prepare(query, types)
        _PLANS[key] = plan
    return plan
