"""Reference profiles and PSI, outside the database."""

from __future__ import annotations

import math

import numpy as np
import pytest

from churnml.errors import DataCorrupted
from churnml.monitoring.drift import current_shares, drift_of, psi, status
from churnml.monitoring.profile import (
    MAX_CATEGORIES,
    build_profile,
    categorical_reference,
    category_key,
    numeric_reference,
    read_profile,
)


def test_psi_of_identical_shares_is_zero_and_grows_with_the_shift() -> None:
    assert psi([0.5, 0.5], [0.5, 0.5]) == 0.0
    small, large = psi([0.5, 0.5], [0.55, 0.45]), psi([0.5, 0.5], [0.8, 0.2])
    assert 0 < small < 0.1 < 0.25 < large
    # the textbook value: (0.8-0.5) ln(0.8/0.5) + (0.2-0.5) ln(0.2/0.5)
    assert math.isclose(large, 0.3 * math.log(1.6) + 0.3 * math.log(2.5))


def test_an_emptied_bin_counts_heavily_but_finitely() -> None:
    assert math.isfinite(psi([0.5, 0.5], [1.0, 0.0])) and psi([0.5, 0.5], [1.0, 0.0]) > 2


def test_status_thresholds_are_inclusive() -> None:
    assert [status(p, 0.1, 0.25) for p in (0.0, 0.0999, 0.1, 0.2499, 0.25, 9)] == \
        ["ok", "ok", "warn", "warn", "alert", "alert"]


def test_numeric_reference_bins_at_deciles_with_missing_apart() -> None:
    values = np.concatenate([np.arange(1000, dtype=np.float64), [np.nan] * 250])
    ref = numeric_reference("x", values)
    assert len(ref.edges) == 9 and ref.missing == pytest.approx(0.2)
    assert all(s == pytest.approx(0.08) for s in ref.shares)
    # the same values binned again give the same shares: PSI 0
    assert drift_of(ref, values).psi == pytest.approx(0.0, abs=1e-12)


def test_few_distinct_values_keep_one_bin_each() -> None:
    values = np.array([0, 0, 0, 1, 1, 2] * 100, dtype=np.float64)
    ref = numeric_reference("calls", values)
    assert ref.edges == (0.0, 1.0, 2.0)  # bins <= 0, (0, 1], (1, 2], > 2: each value its own
    assert ref.shares == pytest.approx((0.5, 1 / 3, 1 / 6, 0.0))


def test_a_constant_or_empty_column_is_one_bin() -> None:
    assert numeric_reference("c", np.full(10, 3.0)).edges == (3.0,)
    empty = numeric_reference("e", np.array([np.nan, np.nan]))
    assert empty.edges == () and empty.missing == 1.0
    assert current_shares(empty, [1.0, None]) == (0.5, 0.5)


def test_categories_count_the_rare_ones_together_and_new_ones_as_other() -> None:
    values = ["a"] * 50 + ["b"] * 30 + [f"rare{i}" for i in range(MAX_CATEGORIES + 5)] + [None] * 10
    ref = categorical_reference("plan", values)
    assert ref.categories[:2] == ("a", "b") and len(ref.categories) == MAX_CATEGORIES
    assert sum(ref.shares) + ref.missing == pytest.approx(1.0)
    shares = current_shares(ref, ["a", "never seen", None, None])
    assert shares[0] == 0.25 and shares[-2] == 0.25 and shares[-1] == 0.5


def test_category_keys_are_the_same_for_a_value_read_as_float_or_int() -> None:
    assert category_key(415.0) == category_key(415) == "415"
    assert category_key(True) == "true" and category_key(float("nan")) is None and category_key(2.5) == "2.5"


def test_text_features_are_profiled_by_length() -> None:
    profile = build_profile({"note": ["short", "a much longer message", None, ""]}, [("note", "text")], [])
    feature = profile.features[0]
    assert feature.kind == "length" and feature.missing == 0.25 and profile.score is None


def test_a_profile_round_trips_and_damage_is_refused() -> None:
    rng = np.random.default_rng(1)
    profile = build_profile({"x": list(rng.normal(size=500)), "plan": ["yes", "no"] * 250},
                            [("x", "numeric"), ("plan", "boolean")], list(rng.random(100)))
    document = profile.to_dict()
    assert read_profile(document, 1) == profile
    for damage in ({**document, "profile_version": 0}, {**document, "rows": -1}, {**document, "features": {}},
                   {**document, "features": [document["features"][0]] * 2},
                   {**document, "features": [{**document["features"][0], "edges": [float("inf")] * 9}]},
                   {**document, "features": [{**document["features"][0], "shares": [0.5]}]},
                   {**document, "features": [{**document["features"][1], "categories": ["yes"]}]},
                   {**document, "score": {"name": "score", "kind": "numeric", "shares": ["1"], "missing": 0,
                                          "edges": []}}):
        with pytest.raises(DataCorrupted):
            read_profile(damage, 1)


def test_sampling_noise_is_not_drift() -> None:
    """Small samples of the reference's own population: PSI by chance stays under the noise level."""
    from churnml.monitoring.drift import noise_psi

    rng = np.random.default_rng(7)
    population = rng.normal(size=200_000)
    ref = numeric_reference("x", population[:10_000])
    for n in (100, 200, 1000):
        values = rng.choice(population, n)
        drift = drift_of(ref, values, 10_000)
        assert drift.psi < drift.noise and drift.status(0.1, 0.25) == "ok", (n, drift.psi, drift.noise)
    assert noise_psi(11, 100_000, 10_000) < 0.02 < 0.1  # large samples: the usual thresholds decide
    shifted = drift_of(ref, rng.normal(0.8, 1, 1000), 10_000)
    assert shifted.psi > shifted.noise and shifted.status(0.1, 0.25) == "alert"
