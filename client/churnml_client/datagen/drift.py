"""The drift scenarios of the monthly snapshots (`churnml data generate --months N --drift ...`).

A scenario starts in a month and stays from then on (prices are not lowered again, the
competitor does not go away), so every month from its start is drifted the same way and a
model retrained on one such month fits the next. What moves, and by how much:

* `price_rise`, covariate drift: every per-minute rate (day, evening, night, international)
  goes up by PRICE_RISE (20%) with minutes unchanged, so the four charge columns move up
  20%; and heavy users, whose bills rise most, churn somewhat more: the heavy-usage churn
  driver (day minutes + half the evening minutes) starts at PRICE_RISE_HEAVY_USAGE_MINUTES
  (345) instead of 355, which takes it from the top ~10% of customers to the top ~12%: the
  churn rate goes from ~14% to ~17%.
* `competitor`, concept drift: a competitor's international offer changes who churns, not
  who the customers are. International-plan customers churn much more whatever their
  calls (the plan's log-odds go from 1.3, or 5.9 with few calls or many minutes, to
  COMPETITOR_INTL_PLAN, 4.0, or 4.5); customers without the plan who make many international
  calls (COMPETITOR_INT_CALLS, 8, or more: ~9% of them) now churn too (+COMPETITOR_INT_CALLERS,
  3.5 log-odds); the old customer-service-calls signal weakens to COMPETITOR_SERVICE_CALLS
  (10%) of its weight, as the competitor takes the customers who would have complained.
  The feature distributions do not move; the churn rate stays about the same (~15-17%).

docs/drift-simulation.md describes them with the measured effects (PSI, churn rate, AUC).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from churnml_client.datagen.customers import (
    RATES,
    churn_score,
    heavy_usage_term,
    intl_plan_term,
    service_calls_term,
)
from churnml_client.datagen.schema import Customers

PRICE_RISE = 0.20
PRICE_RISE_HEAVY_USAGE_MINUTES = 345.0

COMPETITOR_INTL_PLAN = (4.0, 0.5)  # (base, extra with few calls or many minutes); undrifted (1.3, 4.6)
COMPETITOR_INT_CALLS = 8
COMPETITOR_INT_CALLERS = 3.5
COMPETITOR_SERVICE_CALLS = 0.1

SCENARIOS: Mapping[str, str] = {
    "price_rise": "covariate drift: rates +20% (charges up 20%, minutes unchanged); heavy users churn more",
    "competitor": "concept drift: international-plan customers and heavy international callers churn much "
                  "more; customer-service calls matter less",
}  # fmt: skip
DEFAULT_DRIFT = "price_rise:3,competitor:4"
NO_DRIFT = "none"

_ITEM = re.compile(r"([a-z_]+):([0-9]{1,9})")


class DriftError(ValueError):
    """A --drift text that names no scenario, a month outside 2..N, or a scenario twice."""


@dataclass(frozen=True)
class DriftPlan:
    """Which scenario starts in which month (ordered by month, then name)."""

    starts: tuple[tuple[str, int], ...]

    @property
    def spec(self) -> str:
        """The plan as --drift text ('none' for none): the same plan always reads the same."""
        return ",".join(f"{name}:{month}" for name, month in self.starts) or NO_DRIFT

    def active(self, month: int) -> frozenset[str]:
        return frozenset(name for name, start in self.starts if start <= month)

    def rates(self, month: int) -> dict[str, float]:
        """The per-minute rates of `month` (charges are minutes times these, to the cent)."""
        factor = 1.0 + PRICE_RISE if "price_rise" in self.active(month) else 1.0
        return {period: rate * factor for period, rate in RATES.items()}

    def churn_score(self, cols: Customers, month: int) -> np.ndarray:
        """Log-odds of churning in the month after `month`, up to the intercept (customers.churn_score)."""
        active = self.active(month)
        score = churn_score(cols)
        if "price_rise" in active:
            score += heavy_usage_term(cols, PRICE_RISE_HEAVY_USAGE_MINUTES) - heavy_usage_term(cols)
        if "competitor" in active:
            score -= (1.0 - COMPETITOR_SERVICE_CALLS) * service_calls_term(cols)
            score += intl_plan_term(cols, *COMPETITOR_INTL_PLAN) - intl_plan_term(cols)
            heavy_callers = (cols["int_plan"] == "no") & (cols["int_calls"] >= COMPETITOR_INT_CALLS)
            score += COMPETITOR_INT_CALLERS * heavy_callers
        return score


def parse_drift(text: str | None, months: int) -> tuple[DriftPlan, tuple[str, ...]]:
    """The plan of a --drift text for `months` months, and the default's scenarios left out.

    None means the default (DEFAULT_DRIFT), whose scenarios that start after the last
    month are left out (and returned, so the caller can say so); given explicitly, such a
    scenario is an error, as is month 1 (the `customers` table itself, undrifted by
    definition), an unknown name or a scenario named twice. 'none' means no drift.
    """
    if text is None:
        plan, _ = parse_drift(DEFAULT_DRIFT, max(months, 4))
        kept = tuple((name, month) for name, month in plan.starts if month <= months)
        left_out = tuple(f"{name}:{month}" for name, month in plan.starts if month > months)
        return DriftPlan(kept), left_out
    text = text.strip()
    if text == NO_DRIFT:
        return DriftPlan(()), ()
    starts: dict[str, int] = {}
    for item in text.split(","):
        item = item.strip()
        match = _ITEM.fullmatch(item)
        if match is None:
            raise DriftError(f"--drift: {item!r} is not SCENARIO:MONTH (for example {DEFAULT_DRIFT}, or none)")
        name, month = match.group(1), int(match.group(2))
        if name not in SCENARIOS:
            raise DriftError(f"--drift: unknown scenario {name!r}; the scenarios are {', '.join(SCENARIOS)}")
        if name in starts:
            raise DriftError(f"--drift: {name} is named twice; each scenario starts once and stays")
        if not 2 <= month <= months:
            raise DriftError(
                f"--drift: {name} starts in month {month}, outside 2..{months}"
                + (" (month 1 is the customers table itself, undrifted)" if month < 2
                   else f" (--months is {months})"))
        starts[name] = month
    return DriftPlan(tuple(sorted(starts.items(), key=lambda item: (item[1], item[0])))), ()
