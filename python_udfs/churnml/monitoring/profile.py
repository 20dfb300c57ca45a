"""A model's reference profile: what its population looked like when it was trained.

Per input feature: numbers as the shares of the training rows in ten quantile bins (edges at the
deciles, duplicates dropped, so a column of few values keeps one bin per value), categories and
booleans as shares per value (the most frequent MAX_CATEGORIES, the rest as one "other" share),
text as numbers over its length in characters; each with its missing share. The score as the
held-out rows' probabilities in ten quantile bins. churnml.monitor compares a current population
with it (churnml.monitoring.drift).

The profile is a JSON document stored beside the model (churnml.model_profiles) and so dumped and
restored with the registry; `read_profile` checks a stored one completely before drift uses it,
since an admin can edit the table.
"""

from __future__ import annotations

import itertools
import math
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from churnml.errors import DataCorrupted

PROFILE_VERSION = 1
BINS = 10
# Categories kept by name; the rest are one share. 64 keeps every US state as its own bin, as
# the feature spec keeps them as their own columns.
MAX_CATEGORIES = 64
OTHER = "\x00other"  # a key no text value read from the database has (it cannot hold NUL)
KINDS = ("numeric", "categorical", "length")


@dataclass(frozen=True)
class FeatureReference:
    """One feature's reference: bins (numbers: upper edges; categories: names) and their shares."""

    name: str
    kind: str  # numeric | categorical | length (a text feature, binned by length)
    edges: tuple[float, ...]  # numeric and length: the upper edge of every bin but the last
    categories: tuple[str, ...]  # categorical: the categories kept by name (OTHER is the last share)
    shares: tuple[float, ...]  # one per bin (numeric: len(edges) + 1; categorical: len(categories) + 1)
    missing: float  # share of NULL (or NaN) values

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "kind": self.kind, "shares": list(self.shares),
                               "missing": self.missing}
        if self.kind == "categorical":
            out["categories"] = list(self.categories)
        else:
            out["edges"] = list(self.edges)
        return out


@dataclass(frozen=True)
class Profile:
    features: tuple[FeatureReference, ...]
    score: FeatureReference | None  # the held-out probabilities; None when the model has no held-out rows
    rows: int  # rows the feature references were computed on
    score_rows: int = 0  # held-out rows the score reference was computed on

    def to_dict(self) -> dict[str, Any]:
        return {"profile_version": PROFILE_VERSION, "rows": self.rows, "score_rows": self.score_rows,
                "features": [f.to_dict() for f in self.features],
                "score": self.score.to_dict() if self.score is not None else None}

    def feature(self, name: str) -> FeatureReference | None:
        return next((f for f in self.features if f.name == name), None)


def kind_of(group: str) -> str:
    """The profile kind of a feature-spec group."""
    return {"numeric": "numeric", "categorical": "categorical", "boolean": "categorical", "text": "length"}[group]


def category_key(value: Any) -> str | None:
    """A value as a category name, the same way for reference and current rows: integral floats
    (a numeric column read as float8) without '.0', booleans as true/false."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if math.isnan(value):
            return None
        return str(int(value)) if value.is_integer() and abs(value) < 2**53 else repr(value)
    return str(value)


def numbers(values: Sequence[Any], kind: str) -> np.ndarray:
    """float64 values with NaN for missing: numbers as they are, text by its length."""
    if kind == "length":
        return np.fromiter((math.nan if v is None else float(len(v)) for v in values), dtype=np.float64,
                           count=len(values))
    try:  # numpy converts a list of floats and Nones (NaN) in C: ~8x a Python loop (measured on 200k rows)
        return np.array(values, dtype=np.float64)
    except (TypeError, ValueError):  # a value that is no number (a feature overridden as numeric over text)
        return np.fromiter((_number(v) for v in values), dtype=np.float64, count=len(values))


def _number(value: Any) -> float:
    try:
        return math.nan if value is None else float(value)
    except (TypeError, ValueError):
        return math.nan


def category_counts(values: Sequence[Any]) -> Counter[str | None]:
    """How often each category key occurs: the raw values counted first (in C), then their keys, once per
    distinct value."""
    counts: Counter[str | None] = Counter()
    for value, count in Counter(values).items():
        counts[category_key(value)] += count
    return counts


def numeric_reference(name: str, values: np.ndarray, kind: str = "numeric") -> FeatureReference:
    present = values[~np.isnan(values)]
    missing = 1.0 - present.size / values.size if values.size else 0.0
    if present.size == 0:
        return FeatureReference(name, kind, (), (), (1.0,), missing)
    # observed values as edges ("lower"), not interpolations between them: a column of a few values
    # (calls per month) gets one bin per value, none that no value can fall in
    qs = np.quantile(present, np.linspace(0, 1, BINS + 1)[1:-1], method="lower")
    edges = np.unique(qs)
    # bins are (-inf, e0], (e0, e1], ..., (e_last, inf): side="left" puts a value equal to an edge below it
    counts = np.bincount(np.searchsorted(edges, present, side="left"), minlength=edges.size + 1)
    shares = counts / values.size
    return FeatureReference(name, kind, tuple(float(e) for e in edges), (),
                            tuple(float(s) for s in shares), missing)


def categorical_reference(name: str, values: Sequence[Any]) -> FeatureReference:
    keys = category_counts(values)
    missing_count = keys.pop(None, 0)
    total = len(values)
    kept = [k for k, _ in sorted(keys.items(), key=lambda kv: (-kv[1], kv[0]))[:MAX_CATEGORIES]]
    kept_set = set(kept)
    other = sum(c for k, c in keys.items() if k not in kept_set)
    shares = [keys[k] / total for k in kept] + [other / total] if total else [0.0] * (len(kept) + 1)
    return FeatureReference(name, "categorical", (), tuple(str(k) for k in kept),
                            tuple(float(s) for s in shares), missing_count / total if total else 0.0)


def feature_reference(name: str, group: str, values: Sequence[Any]) -> FeatureReference:
    kind = kind_of(group)
    if kind == "categorical":
        return categorical_reference(name, values)
    return numeric_reference(name, numbers(values, kind), kind)


def score_reference(scores: Sequence[float]) -> FeatureReference | None:
    if not len(scores):
        return None
    return numeric_reference("score", np.asarray(scores, dtype=np.float64))


def build_profile(columns: Mapping[str, Sequence[Any]], groups: Sequence[tuple[str, str]],
                  holdout_scores: Sequence[float]) -> Profile:
    """The profile of the rows in `columns` for the features (name, group) and of the held-out scores."""
    from churnml import interrupts

    features = []
    rows = 0
    for name, group in groups:
        interrupts.check()
        values = columns[name]
        rows = len(values)
        features.append(feature_reference(name, group, values))
    return Profile(tuple(features), score_reference(holdout_scores), rows, len(holdout_scores))


def read_profile(document: Any, model_id: int) -> Profile:
    """A stored profile, checked completely (XX001 when it is not one churnml wrote)."""
    def bad(why: str) -> DataCorrupted:
        return DataCorrupted(f"the reference profile of model {model_id} is damaged", detail=why,
                             hint="Capture it again: SELECT churnml.capture_profile(model_id, source).")

    if not isinstance(document, dict) or document.get("profile_version") != PROFILE_VERSION:
        raise bad(f"It is not a version-{PROFILE_VERSION} profile.")
    rows = document.get("rows")
    if not isinstance(rows, int) or isinstance(rows, bool) or rows < 0:
        raise bad("Its row count is not a non-negative integer.")
    items = document.get("features")
    if not isinstance(items, list):
        raise bad("Its features are not a list.")
    features = tuple(_reference(item, bad) for item in items)
    if len({f.name for f in features}) != len(features):
        raise bad("It names a feature twice.")
    score = document.get("score")
    score_rows = document.get("score_rows", 0)
    if not isinstance(score_rows, int) or isinstance(score_rows, bool) or score_rows < 0:
        raise bad("Its score row count is not a non-negative integer.")
    return Profile(features, None if score is None else _reference(score, bad), rows, score_rows)


def _reference(item: Any, bad: Any) -> FeatureReference:
    if not isinstance(item, dict):
        raise bad("A feature entry is not an object.")
    name, kind, shares, missing = item.get("name"), item.get("kind"), item.get("shares"), item.get("missing")
    if not isinstance(name, str) or kind not in KINDS:
        raise bad("A feature entry lacks its name or kind.")
    if not isinstance(shares, list) or not shares or not all(_share(s) for s in shares) or not _share(missing):
        raise bad(f'The shares of "{name}" are not numbers between 0 and 1.')
    missing_share = float(missing)  # type: ignore[arg-type]  # _share checked it is a number
    if kind == "categorical":
        categories = item.get("categories")
        if not isinstance(categories, list) or not all(isinstance(c, str) for c in categories) \
                or len(categories) + 1 != len(shares) or len(set(categories)) != len(categories):
            raise bad(f'The categories of "{name}" do not match its shares.')
        return FeatureReference(name, kind, (), tuple(categories), tuple(float(s) for s in shares), missing_share)
    edges = item.get("edges")
    if not isinstance(edges, list) or len(edges) + 1 != len(shares) or not all(
            isinstance(e, int | float) and not isinstance(e, bool) and math.isfinite(e) for e in edges) \
            or any(a >= b for a, b in itertools.pairwise(edges)):
        raise bad(f'The bin edges of "{name}" are not increasing finite numbers, one fewer than its shares.')
    return FeatureReference(name, kind, tuple(float(e) for e in edges), (), tuple(float(s) for s in shares),
                            missing_share)


def _share(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and 0.0 <= value <= 1.0
