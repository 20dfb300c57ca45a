"""Deterministic stratified train / validation / test split.

The split depends only on the labels, their order and the seed: the same rows in
the same order with the same seed always give the same split, so a model can be
retrained and re-evaluated reproducibly. (SPI returns rows in an unspecified order
unless the source query has ORDER BY; the SQL layer orders by a key for that reason.)

Each class is shuffled on its own and cut in the requested proportions, so every
part keeps the overall churn rate and every part with a non-zero fraction gets at
least one row of each class, which validation AUC and test AUC need.

Hand-written rather than scikit-learn's stratified splits (train_test_split with
stratify=, StratifiedShuffleSplit), which do not give the same result: they draw from
a legacy RandomState and round each class's share their own way, so the same data and
seed would select other rows and every retrained model would change (measured on the
demo data, 10,000 customers, seed 42, two train_test_split calls: 89 of the 1,000 test
rows in common, and 2,001 validation rows instead of 2,000); and with 3 churners in 20
rows they leave the test part without a churner, so no test AUC, where `_allocate`
puts one in each part. churnml_client.dask_train reproduces this split exactly, and
tests/python_udfs/test_training_split.py pins its rows.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from churnml.errors import DataException, InvalidParameter
from churnml.training.labels import class_counts

DEFAULT_FRACTIONS = (0.7, 0.2, 0.1)
DEFAULT_SEED = 42
PART_NAMES = ("train", "validation", "test")


@dataclass(frozen=True)
class Split:
    """Row indices (sorted, into the arrays the split was made from) of each part."""

    train: np.ndarray
    validation: np.ndarray
    test: np.ndarray
    seed: int
    fractions: tuple[float, float, float]

    def parts(self) -> dict[str, np.ndarray]:
        return {"train": self.train, "validation": self.validation, "test": self.test}

    def summary(self, labels: np.ndarray) -> dict[str, Any]:
        """JSON-ready description: seed, fractions, and rows/positives/negatives per part."""
        out: dict[str, Any] = {"seed": self.seed, "fractions": list(self.fractions)}
        for name, index in self.parts().items():
            out[name] = class_counts(labels[index])
        return out


def stratified_split(
    labels: np.ndarray | Sequence[int],
    *,
    fractions: Sequence[float] = DEFAULT_FRACTIONS,
    seed: int = DEFAULT_SEED,
) -> Split:
    """Split 0/1 labels into train/validation/test with each class in every part.

    `fractions` are (train, validation, test), summing to 1; train and validation
    must be positive, test may be 0 (no test part). Raises InvalidParameter for bad
    fractions or seed, DataException when a class has fewer rows than there are parts.
    """
    parts = check_fractions(fractions)
    check_seed(seed)
    y = np.asarray(labels)
    if y.ndim != 1 or not np.isin(y, (0, 1)).all():
        raise InvalidParameter(
            "labels for splitting must be a list of 0/1 values",
            detail="Stratified splitting needs each row's class.",
            hint="Normalise the label column with normalize_labels() first.",
        )

    rng = np.random.default_rng(seed)
    chosen: list[list[np.ndarray]] = [[], [], []]
    for cls in (0, 1):
        members = np.flatnonzero(y == cls)
        counts = _allocate(len(members), parts, cls)
        shuffled = rng.permutation(members)
        start = 0
        for part, count in enumerate(counts):
            chosen[part].append(shuffled[start : start + count])
            start += count
    train, validation, test = (np.sort(np.concatenate(pieces)).astype(np.int64) for pieces in chosen)
    return Split(train=train, validation=validation, test=test, seed=int(seed), fractions=parts)


def _allocate(n: int, fractions: tuple[float, float, float], cls: int) -> list[int]:
    """Rows of one class per part: largest-remainder rounding, then at least one per non-empty part."""
    needed = sum(1 for f in fractions if f > 0)
    if n < needed:
        name = "churned" if cls else "stayed"
        raise DataException(
            "too few rows to split into training, validation and test sets",
            detail=f"Only {n} rows are {name} (class {cls}); each of the {needed} parts needs at least one.",
            hint="Train on more rows, or set the test fraction to 0 to need one row fewer per class.",
        )
    exact = [n * f for f in fractions]
    counts = [math.floor(x) for x in exact]
    # hand out what flooring lost, largest remainder first (ties: train, validation, test)
    order = sorted(range(3), key=lambda i: (-(exact[i] - counts[i]), i))
    for i in order[: n - sum(counts)]:
        counts[i] += 1
    for i, f in enumerate(fractions):
        if f > 0 and counts[i] == 0:
            donor = max(range(3), key=lambda j: counts[j])
            counts[donor] -= 1
            counts[i] += 1
    return counts


def check_fractions(fractions: Sequence[float]) -> tuple[float, float, float]:
    values = tuple(fractions)
    valid = (
        len(values) == 3
        and all(isinstance(f, int | float) and not isinstance(f, bool) and math.isfinite(f) for f in values)
        and all(f >= 0 for f in values)
        and values[0] > 0
        and values[1] > 0
        and math.isclose(sum(values), 1.0, abs_tol=1e-9)
    )
    if not valid:
        raise InvalidParameter(
            f"invalid split fractions: {list(values)!r}",
            detail="Fractions are (train, validation, test); train and validation must be positive, "
            "test may be 0, and together they must sum to 1.",
            hint="Use e.g. [0.7, 0.2, 0.1].",
        )
    return (float(values[0]), float(values[1]), float(values[2]))


def check_seed(seed: Any) -> None:
    """The seed of a split (churnml.train) or a sentiment model's shuffle (train_sentiment)."""
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise InvalidParameter(
            f"invalid seed: {seed!r}",
            detail="The seed must be a non-negative integer.",
            hint="Pass a whole number such as 42.",
        )
