"""FeatureSpec.statistics / fit_from_statistics: fitting from pieces (Dask partitions) equals fitting at once."""

from __future__ import annotations

from itertools import pairwise

import numpy as np
import pytest

from churnml.errors import DataException, InvalidParameter
from churnml.training.feature_spec import FeatureSpec, infer_spec

TYPES = [("minutes", "double precision"), ("calls", "integer"), ("plan", "text"), ("state", "text"),
         ("vmail", "boolean"), ("churn", "boolean")]


def make_columns(n: int, seed: int) -> dict[str, list]:
    rng = np.random.default_rng(seed)
    minutes = rng.normal(180, 50, n)
    minutes[rng.random(n) < 0.1] = np.nan
    calls = [None if rng.random() < 0.05 else int(v) for v in rng.poisson(3, n)]
    plans = ["yes" if v else "no" for v in rng.random(n) < 0.2]
    plans[3] = None
    states = [f"S{int(v)}" for v in rng.zipf(1.6, n) % 90]  # skewed, with ties and rare values
    vmail = [None if rng.random() < 0.05 else bool(v) for v in rng.random(n) < 0.3]
    return {"minutes": minutes.tolist(), "calls": calls, "plan": plans, "state": states, "vmail": vmail,
            "churn": [bool(v) for v in rng.random(n) < 0.15]}


def pieces(columns: dict[str, list], bounds: list[int]) -> list[dict[str, list]]:
    return [{k: v[lo:hi] for k, v in columns.items()} for lo, hi in pairwise(bounds)]


@pytest.mark.parametrize("missing", ["native", "mean", "median", "zero"])
def test_fit_from_statistics_of_pieces_equals_fit(missing: str) -> None:
    n = 2_000
    columns = make_columns(n, 3)
    train = np.sort(np.random.default_rng(1).choice(n, 1_400, replace=False))
    whole = infer_spec(TYPES, columns, label="churn", missing=missing,
                       overrides={"state": "categorical"}, max_categories=20)
    pieced = FeatureSpec.from_dict(whole.to_dict())
    whole.fit(columns, train)

    bounds = [0, 300, 301, 1_250, n]  # uneven, one piece of a single row
    stats = []
    for lo, part in zip(bounds, pieces(columns, bounds), strict=False):
        local = train[(train >= lo) & (train < lo + len(part["churn"]))] - lo
        stats.append(pieced.statistics(part, local))
    pieced.fit_from_statistics(stats)

    got, want = pieced.to_dict(), whole.to_dict()
    if missing == "mean":  # the sum's order differs: equal up to rounding
        for g, w in zip(got["features"], want["features"], strict=True):
            if g["state"].get("fill") is not None:
                assert g["state"]["fill"] == pytest.approx(w["state"]["fill"], rel=1e-12)
                g["state"]["fill"] = w["state"]["fill"]
    assert got == want
    state = next(f for f in want["features"] if f["name"] == "state")["state"]
    assert state["dropped"] > 0  # the cut at max_categories happened, on merged counts
    matrix, names = pieced.transform(columns)
    expected, expected_names = whole.transform(columns)
    assert names == expected_names
    np.testing.assert_array_equal(matrix, expected)


def test_one_piece_is_exactly_fit() -> None:
    columns = make_columns(500, 4)
    spec = infer_spec(TYPES, columns, label="churn", missing="mean")
    other = FeatureSpec.from_dict(spec.to_dict())
    spec.fit(columns, np.arange(400))
    other.fit_from_statistics([other.statistics(columns, np.arange(400))])
    assert other.to_dict() == spec.to_dict()  # bit for bit, the mean too


def test_a_feature_null_in_every_piece_is_refused() -> None:
    columns = make_columns(100, 5)
    columns["minutes"] = [None] * 100
    spec = infer_spec(TYPES, columns, label="churn")
    stats = [spec.statistics(part) for part in pieces(columns, [0, 50, 100])]
    with pytest.raises(DataException, match='"minutes" is NULL in every training row'):
        spec.fit_from_statistics(stats)


def test_no_training_rows_at_all_is_refused() -> None:
    columns = make_columns(10, 6)
    spec = infer_spec(TYPES, columns, label="churn")
    with pytest.raises(DataException, match="zero rows"):
        spec.fit_from_statistics([spec.statistics(columns, np.array([], dtype=np.int64))])


def test_text_features_cannot_be_fitted_from_statistics() -> None:
    words = " ".join(("the bill went up again and nobody told me why thanks for fixing my dropped calls so quickly",
                      "i want to cancel because coverage at home is terrible every evening after work please help",
                      "us soon")).split(" ")
    notes = [" ".join(words[(i * 7 + k) % len(words)] for k in range(3 + i % 9)) + f" ({i})" for i in range(200)]
    columns = {"note": notes, "churn": [i % 2 == 0 for i in range(200)]}
    spec = infer_spec([("note", "text"), ("churn", "boolean")], columns, label="churn")
    assert spec.features[0].group == "text"
    with pytest.raises(InvalidParameter, match="free text") as info:
        spec.statistics(columns)
    assert "engine database" in (info.value.hint or "")
