"""Experiment results: retention per arm and the uplift of each arm over a control arm.

The uplift of arm a over control c is the difference of their retention rates,
p_a - p_c, where p = retained / outcomes known (offers whose outcome has not been
recorded are left out of the rates, not counted as churned). Its 95% confidence
interval is the normal approximation for a difference of two independent
proportions (Wald):

    (p_a - p_c) ± 1.959964 · sqrt(p_a (1 - p_a) / n_a + p_c (1 - p_c) / n_c)

It is reliable when each arm has at least ~10 retained and ~10 churned outcomes;
with fewer, or with a rate of exactly 0 or 1 (where the interval collapses), read
it as a rough indication only.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

Z_95 = 1.959963984540054


def retention(retained: int, known: int) -> float | None:
    return retained / known if known else None


def uplift(retained_a: int, known_a: int, retained_c: int, known_c: int,
           z: float = Z_95) -> tuple[float, float, float] | None:
    """(difference, low, high) of retention rates a - c, or None if either arm has no outcomes."""
    if not known_a or not known_c:
        return None
    p_a, p_c = retained_a / known_a, retained_c / known_c
    diff = p_a - p_c
    se = math.sqrt(p_a * (1 - p_a) / known_a + p_c * (1 - p_c) / known_c)
    return diff, diff - z * se, diff + z * se


def arm_results(rows: Sequence[Mapping[str, Any]], control: str | None) -> list[dict[str, Any]]:
    """rows: per arm {arm, offer, offers, outcomes_known, retained, total_cost}; control: the arm to compare with.

    Without a control, the first arm in name order is the control.
    """
    ordered = sorted(rows, key=lambda r: r["arm"])
    if control is None and ordered:
        control = ordered[0]["arm"]
    base = next((r for r in ordered if r["arm"] == control), None)
    out = []
    for r in ordered:
        known, retained = int(r["outcomes_known"]), int(r["retained"])
        row = {"arm": r["arm"], "offer": r["offer"], "offers": int(r["offers"]), "outcomes_known": known,
               "retained": retained, "retention_rate": retention(retained, known), "total_cost": r["total_cost"],
               "is_control": r["arm"] == control, "uplift": None, "uplift_ci_low": None, "uplift_ci_high": None}
        if base is not None and r["arm"] != control:
            result = uplift(retained, known, int(base["retained"]), int(base["outcomes_known"]))
            if result is not None:
                row["uplift"], row["uplift_ci_low"], row["uplift_ci_high"] = result
        out.append(row)
    return out
