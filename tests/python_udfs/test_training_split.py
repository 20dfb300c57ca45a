"""stratified_split: deterministic, proportional, both classes everywhere."""

from __future__ import annotations

import json

import numpy as np
import pytest

from churnml.errors import DataException, InvalidParameter
from churnml.training.jsonable import to_jsonable
from churnml.training.split import stratified_split


def labels(n: int, churn_rate: float, seed: int = 0) -> np.ndarray:
    return (np.random.default_rng(seed).random(n) < churn_rate).astype(np.int8)


def test_parts_cover_every_row_exactly_once() -> None:
    y = labels(1000, 0.15)
    split = stratified_split(y, seed=1)
    joined = np.concatenate([split.train, split.validation, split.test])
    assert sorted(joined.tolist()) == list(range(1000))
    for part in (split.train, split.validation, split.test):
        assert part.dtype == np.int64
        assert np.all(np.diff(part) > 0)  # sorted, no duplicates


def test_default_proportions_and_stratification() -> None:
    y = labels(3333, 0.145)
    split = stratified_split(y)
    assert (len(split.train), len(split.validation), len(split.test)) == pytest.approx((2333, 667, 333), abs=2)
    rate = y.mean()
    for part in split.parts().values():
        assert y[part].mean() == pytest.approx(rate, abs=0.005)
    assert split.fractions == (0.7, 0.2, 0.1)


def test_same_seed_same_split_other_seed_other_split() -> None:
    y = labels(500, 0.2)
    a, b = stratified_split(y, seed=7), stratified_split(y.copy(), seed=7)
    for name in ("train", "validation", "test"):
        assert a.parts()[name].tolist() == b.parts()[name].tolist()
    c = stratified_split(y, seed=8)
    assert a.train.tolist() != c.train.tolist()


def test_small_data_still_gets_both_classes_in_every_part() -> None:
    y = np.array([1, 1, 1] + [0] * 7)
    split = stratified_split(y, seed=3)
    for part in split.parts().values():
        assert set(y[part].tolist()) == {0, 1}


def test_too_few_rows_of_a_class() -> None:
    y = np.array([1, 1] + [0] * 20)
    with pytest.raises(DataException) as caught:
        stratified_split(y)
    err = caught.value
    assert err.message == "too few rows to split into training, validation and test sets"
    assert err.detail == "Only 2 rows are churned (class 1); each of the 3 parts needs at least one."
    assert err.hint and "test fraction to 0" in err.hint
    # without a test part, two of each class are enough
    split = stratified_split(y, fractions=(0.8, 0.2, 0.0))
    assert len(split.test) == 0
    assert set(y[split.validation].tolist()) == {0, 1}


@pytest.mark.parametrize(
    "fractions",
    [(0.7, 0.2), (0.5, 0.2, 0.1), (0.8, 0.0, 0.2), (0.0, 0.5, 0.5), (1.2, -0.1, -0.1), (0.7, 0.2, float("nan"))],
)
def test_bad_fractions(fractions: tuple[float, ...]) -> None:
    with pytest.raises(InvalidParameter, match="invalid split fractions"):
        stratified_split(labels(100, 0.5), fractions=fractions)


@pytest.mark.parametrize("seed", [-1, 1.5, True, "42"])
def test_bad_seed(seed: object) -> None:
    with pytest.raises(InvalidParameter, match="invalid seed"):
        stratified_split(labels(100, 0.5), seed=seed)  # type: ignore[arg-type]


def test_labels_must_be_zero_one() -> None:
    with pytest.raises(InvalidParameter, match="0/1"):
        stratified_split(np.array([0, 1, 2, 1, 0]))


def test_summary_is_json() -> None:
    y = labels(200, 0.3)
    split = stratified_split(y, seed=np.int64(5))  # type: ignore[arg-type]
    summary = split.summary(y)
    assert json.loads(json.dumps(to_jsonable(summary), allow_nan=False)) == summary
    assert summary["seed"] == 5
    assert summary["train"]["rows"] + summary["validation"]["rows"] + summary["test"]["rows"] == 200
    assert summary["test"]["positives"] == int(y[split.test].sum())


def _digest(split: object) -> str:
    import hashlib

    parts = [p.tolist() for p in (split.train, split.validation, split.test)]  # type: ignore[attr-defined]
    return hashlib.sha256(json.dumps(parts).encode()).hexdigest()


def test_the_same_rows_release_after_release() -> None:
    """Same data + same seed = the same split, also across releases (a retrained model must not change):
    digests taken on 0.3.0's split, which scikit-learn's stratified splits do not reproduce (see split.py)."""
    y = labels(10_000, 0.145)
    assert _digest(stratified_split(y, seed=42)) == "f04affca971a5f22a82b07469d8248681c58e54755c2cb98738b617af3a38a79"
    assert _digest(stratified_split(y, fractions=(0.8, 0.2, 0.0), seed=7)) == (
        "20183ccbeceb93b2acf2d1a0ae9beec73b6663682ed7e219a0eb95cebcf0ed5c"
    )
    tiny = stratified_split(np.array([1, 1, 1] + [0] * 17, dtype=np.int8), seed=1)
    assert [p.tolist() for p in (tiny.train, tiny.validation, tiny.test)] == [
        [0, 3, 4, 6, 7, 8, 10, 11, 12, 13, 15, 17, 18], [1, 5, 16, 19], [2, 9, 14],
    ]  # fmt: skip
