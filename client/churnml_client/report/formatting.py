"""How the report writes numbers, on the page and in the plots."""

from __future__ import annotations

from typing import Any


def money(value: float) -> str:
    """'$1,234' or '-$1,234': whole dollars."""
    return f"-${-value:,.0f}" if value < 0 else f"${value:,.0f}"


def fmt(value: Any, digits: int = 3) -> str:
    """A metric: '–' when absent, integers with thousands separators, others with `digits` decimals."""
    if value is None:
        return "–"
    if isinstance(value, int):
        return f"{value:,}"
    return f"{float(value):.{digits}f}"


def cutoff(value: float) -> str:
    """A threshold as the user wrote it: 0.12, 0.5."""
    return f"{value:g}"


def thousands(value: int) -> str:
    return f"{value:,}"


def percent(value: float, digits: int = 0) -> str:
    """0.4567 -> '46%'."""
    return f"{value:.{digits}%}"
