"""Drift: how far a current population has moved from a model's reference profile.

The population stability index of each feature and of the score, over the reference's bins plus
one bin for missing values: PSI = sum over bins of (current - reference) * ln(current / reference).
A share of 0 on either side is taken as EPSILON, so a bin that empties or appears counts heavily
but finitely. The usual reading (and the default thresholds, configurable per name in
churnml.monitor_settings): below 0.1 no real change, 0.1 to 0.25 a change worth a look (warn),
0.25 or more a shift that needs action (alert).

PSI grows with sampling noise on small samples: two samples of one population of n and N rows
over k bins give about (k - 1) / (1/(1/n + 1/N)) by chance (n * PSI is close to a chi-square of
k - 1 degrees of freedom). So a feature is flagged only when its PSI is also above `noise`, the
99.9th percentile of that chance value: on 100,000 rows it is far below 0.1 and changes nothing,
on 200 rows it keeps a few hundred customers from paging anyone (30 rows of a stable population
otherwise gave PSI above 1 for 16 features).
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from churnml.monitoring.profile import FeatureReference, category_counts, numbers

EPSILON = 1e-4
NOISE_QUANTILE = 0.999
MIN_ROWS = 100  # fewer rows say nothing about shares in ten bins
DEFAULT_WARN = 0.1
DEFAULT_ALERT = 0.25
STATUSES = ("ok", "warn", "alert")


@dataclass(frozen=True)
class Drift:
    feature: str
    psi: float
    reference: tuple[float, ...]  # shares per bin, missing last
    current: tuple[float, ...]
    bins: tuple[str, ...]  # a label per bin, missing last
    noise: float = 0.0  # the PSI sampling alone reaches (see the module's docstring)

    def status(self, warn: float, alert: float) -> str:
        return status(self.psi, max(warn, self.noise), max(alert, self.noise))

    def flagged(self, warn: float) -> bool:
        return self.psi >= max(warn, self.noise)

    def to_dict(self, warn: float, alert: float) -> dict[str, Any]:
        return {"feature": self.feature, "psi": round(self.psi, 6), "status": self.status(warn, alert),
                "noise_psi": round(self.noise, 6), "bins": list(self.bins),
                "reference": [round(s, 6) for s in self.reference], "current": [round(s, 6) for s in self.current]}


def status(psi: float, warn: float, alert: float) -> str:
    return "alert" if psi >= alert else "warn" if psi >= warn else "ok"


def psi(reference: Sequence[float], current: Sequence[float]) -> float:
    ref = np.maximum(np.asarray(reference, dtype=np.float64), EPSILON)
    cur = np.maximum(np.asarray(current, dtype=np.float64), EPSILON)
    return float(np.sum((cur - ref) * np.log(cur / ref)))


def current_shares(reference: FeatureReference, values: Sequence[Any] | np.ndarray) -> tuple[float, ...]:
    """The current rows' shares in the reference's bins, missing last."""
    total = len(values)
    if total == 0:
        return tuple(0.0 for _ in range(len(reference.shares) + 1))
    if reference.kind == "categorical":
        counts = category_counts(list(values))
        missing = counts.pop(None, 0)
        kept = [counts.pop(c, 0) for c in reference.categories]
        other = sum(counts.values())
        return tuple(c / total for c in [*kept, other, missing])
    array = values if isinstance(values, np.ndarray) else numbers(values, reference.kind)
    present = array[~np.isnan(array)]
    binned = np.bincount(np.searchsorted(np.asarray(reference.edges, dtype=np.float64), present, side="left"),
                         minlength=len(reference.edges) + 1)
    return (*(float(c) / total for c in binned), (total - present.size) / total)


def bin_labels(reference: FeatureReference) -> tuple[str, ...]:
    if reference.kind == "categorical":
        return (*reference.categories, "other", "missing")
    edges = reference.edges
    if not edges:
        return ("all", "missing")
    labels = [f"<= {edges[0]:g}"]
    labels += [f"({a:g}, {b:g}]" for a, b in itertools.pairwise(edges)]
    labels.append(f"> {edges[-1]:g}")
    return (*labels, "missing")


def noise_psi(bins: int, rows: int, reference_rows: int) -> float:
    """The PSI two samples of one population (of `rows` and `reference_rows`) exceed by chance only once
    in a thousand, over `bins` bins."""
    from scipy.stats import chi2

    if rows <= 0 or bins < 2:
        return 0.0
    effective = 1.0 / (1.0 / rows + (1.0 / reference_rows if reference_rows > 0 else 0.0))
    return float(chi2.ppf(NOISE_QUANTILE, bins - 1)) / effective


def drift_of(reference: FeatureReference, values: Sequence[Any] | np.ndarray, reference_rows: int = 0) -> Drift:
    ref = (*reference.shares, reference.missing)
    cur = current_shares(reference, values)
    used = sum(1 for a, b in zip(ref, cur, strict=True) if a > 0 or b > 0)
    return Drift(reference.name, psi(ref, cur), ref, cur, bin_labels(reference),
                 noise_psi(used, len(values), reference_rows))
