"""End to end on walkthrough-shaped data: rows as SPI would hand them over -> model -> scores.

Synthetic stand-in for the walkthrough's churn table (~5k customers, 51 states,
'True.'/'False.' labels, numeric values arriving as Decimal, a few NULLs), so the
~70 one-hot features of the walkthrough appear when training on the raw table.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import numpy as np
import pytest

from churnml.training.explain import feature_importance, tree_to_dict
from churnml.training.feature_roles import profile_column
from churnml.training.feature_spec import FeatureSpec, infer_spec, leave_out_identifiers
from churnml.training.jsonable import to_jsonable
from churnml.training.labels import normalize_labels
from churnml.training.metrics import evaluate, optimal_threshold, roc_auc
from churnml.training.selection import top_features
from churnml.training.split import stratified_split
from churnml.training.train import predict_proba, train_model

STATES = [f"S{i:02d}" for i in range(51)]
TYPES = {
    "state": "text", "account_length": "integer", "area_code": "integer", "phone": "text",
    "int_plan": "text", "vmail_plan": "text", "vmail_message": "integer",
    "day_mins": "double precision", "day_calls": "integer", "day_charge": "numeric(6,2)",
    "eve_mins": "double precision", "eve_calls": "integer", "night_mins": "double precision",
    "intl_mins": "double precision", "intl_calls": "integer", "cust_service_calls": "integer",
    "churn": "text",
}  # fmt: skip


def walkthrough_rows(n: int = 5000, seed: int = 2024) -> dict[str, list[Any]]:
    rng = np.random.default_rng(seed)
    day = rng.normal(180, 54, n).clip(0)
    eve = rng.normal(200, 50, n).clip(0)
    intl = rng.normal(10, 2.8, n).clip(0)
    calls = rng.poisson(1.56, n)
    int_plan = rng.random(n) < 0.1
    vmail = rng.random(n) < 0.27
    logit = (
        -3.3
        + 3.0 * (calls >= 4)
        + 0.045 * np.maximum(day - 200, 0)
        + 2.2 * int_plan
        + 0.25 * int_plan * np.maximum(intl - 12, 0)
        - 1.1 * vmail
        + 0.006 * (eve - 200)
    )
    churn = rng.random(n) < 1 / (1 + np.exp(-logit))

    def with_nulls(values: list[Any], rate: float = 0.02) -> list[Any]:
        return [None if rng.random() < rate else v for v in values]

    return {
        "state": rng.choice(STATES, n).tolist(),
        "account_length": rng.integers(1, 243, n).tolist(),
        "area_code": rng.choice([408, 415, 510], n).tolist(),
        "phone": [f"{rng.integers(300, 499)}-{i:04d}" for i in range(n)],
        "int_plan": np.where(int_plan, "yes", "no").tolist(),
        "vmail_plan": np.where(vmail, "yes", "no").tolist(),
        "vmail_message": (vmail * rng.integers(10, 50, n)).tolist(),
        "day_mins": with_nulls(day.round(1).tolist()),
        "day_calls": rng.poisson(100, n).tolist(),
        "day_charge": with_nulls([Decimal(f"{v * 0.17:.2f}") for v in day]),
        "eve_mins": eve.round(1).tolist(),
        "eve_calls": rng.poisson(100, n).tolist(),
        "night_mins": rng.normal(200, 50, n).round(1).tolist(),
        "intl_mins": intl.round(1).tolist(),
        "intl_calls": rng.poisson(4.5, n).tolist(),
        "cust_service_calls": calls.tolist(),
        "churn": np.where(churn, "True.", "False.").tolist(),
    }


def test_walkthrough_end_to_end() -> None:
    rows = walkthrough_rows()
    y = normalize_labels(rows["churn"], column="churn")
    split = stratified_split(y, seed=42)
    spec = infer_spec(
        TYPES, rows, label="churn", exclude=["phone"], overrides={"area_code": "categorical"}, missing="native"
    )
    spec.fit(rows, split.train)
    X, names = spec.transform(rows)
    assert 68 <= X.shape[1] <= 72  # the walkthrough's ~70 columns
    assert {"int_plan_no", "int_plan_yes", "area_code_415", "state_S07"} <= set(names)

    notices: list[str] = []
    result = train_model(X, y, split, None, None, notices.append, feature_names=names)
    assert result.metrics["test"]["auc"] > 0.8
    assert notices and notices[-1].startswith("done in ")
    first_split = tree_to_dict(result.model_json)["feature"]
    assert first_split in {"cust_service_calls", "day_mins", "day_charge", "int_plan_no", "int_plan_yes"}

    # cost-optimal cutoff on validation, applied to test (walkthrough costs)
    costs = {"fp_cost": 50, "fn_cost": 500, "tp_cost": 50, "tn_cost": 0}
    best = optimal_threshold(y[split.validation], result.predictions["validation"], **costs)
    assert 0.0 <= best["threshold"] < 0.5  # missing a churner costs 10x an incentive
    test_metrics = evaluate(y[split.test], result.predictions["test"], best["threshold"])
    assert test_metrics["recall"] >= result.metrics["test"]["recall"]

    # what gets stored round-trips through JSON and scores the same, row by row
    stored = json.dumps(
        to_jsonable({"spec": spec.to_dict(), "training": result.to_dict(), "threshold": best}), allow_nan=False
    )
    loaded = FeatureSpec.from_dict(json.loads(stored)["spec"])
    test_rows = split.test[:50].tolist()
    for i in test_rows:
        encoded = loaded.transform_row([rows[name][i] for name in loaded.input_names])
        np.testing.assert_array_equal(encoded, X[i])
    scores = predict_proba(result.model_json, np.array([X[i] for i in test_rows]))
    np.testing.assert_allclose(scores, result.predictions["test"][:50], rtol=1e-6)

    # the walkthrough's second step: retrain on the most important input columns only
    chosen = top_features(result.model_json, spec, 6)
    assert chosen[0] in {"cust_service_calls", "day_mins", "day_charge", "int_plan"}
    small = infer_spec(TYPES, rows, label="churn", features=chosen).fit(rows, split.train)
    X_small, small_names = small.transform(rows)
    small_result = train_model(X_small, y, split, feature_names=small_names)
    assert small_result.metrics["test"]["auc"] > 0.8
    importance = feature_importance(small_result.model_json, spec=small)
    assert [row["feature"] for row in importance["inputs"] if row["weight"] > 0]


def test_phone_number_is_an_identifier_left_out_by_default() -> None:
    rows = walkthrough_rows(300)
    types = dict(TYPES)
    chosen = [name for name in types if name != "churn"]
    profiles = {name: profile_column(rows[name], types[name]) for name in chosen}
    kept, left_out = leave_out_identifiers(chosen, types, profiles)
    assert [name for name, _ in left_out] == ["phone"] and "phone" not in kept
    # named, it is a category (never embedded): it is not prose
    spec = infer_spec(TYPES, rows, label="churn", features=["phone", "day_mins"])
    assert spec.feature("phone").group == "categorical"


def test_end_to_end_search_is_reproducible() -> None:
    rows = walkthrough_rows(1500, seed=9)
    y = normalize_labels(rows["churn"])
    split = stratified_split(y, seed=1)
    spec = infer_spec(TYPES, rows, label="churn", exclude=["phone", "state"]).fit(rows, split.train)
    X, names = spec.transform(rows)
    search = {"trials": 3, "seed": 5}
    params = {"num_boost_round": 80}
    first = train_model(X, y, split, params, search, feature_names=names)
    second = train_model(X, y, split, params, search, feature_names=names)
    assert first.model_json == second.model_json
    assert first.trials[1]["params"] == second.trials[1]["params"]
    validation_auc = roc_auc(y[split.validation], first.predictions["validation"])
    assert validation_auc == pytest.approx(first.validation_auc, abs=1e-5)
