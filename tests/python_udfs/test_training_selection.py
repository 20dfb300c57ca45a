"""selection: the top-k features of a trained model, by total gain."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from churnml.errors import InvalidParameter
from churnml.training.explain import feature_importance
from churnml.training.feature_spec import FeatureSpec, infer_spec
from churnml.training.labels import normalize_labels
from churnml.training.selection import rank_features, top_features
from churnml.training.split import stratified_split
from churnml.training.train import train_model

N_NOISE = 6


def rows(n: int = 1200, seed: int = 2) -> tuple[dict[str, Any], dict[str, str]]:
    rng = np.random.default_rng(seed)
    data: dict[str, Any] = {
        "strong": rng.normal(size=n).tolist(),
        "medium": rng.normal(size=n).tolist(),
        "plan": rng.choice(["basic", "plus", "pro"], n).tolist(),
        "constant": [1.0] * n,  # never split on
    }
    for i in range(N_NOISE):
        data[f"noise{i}"] = rng.normal(size=n).tolist()
    logit = 2.5 * np.array(data["strong"]) + 1.0 * np.array(data["medium"]) + 1.5 * (np.array(data["plan"]) == "pro")
    data["churn"] = (rng.random(n) < 1 / (1 + np.exp(-logit))).tolist()
    types = {name: "double precision" for name in data}
    types.update(plan="text", churn="boolean")
    return data, types


@pytest.fixture(scope="module")
def model() -> tuple[bytes, FeatureSpec]:
    data, types = rows()
    y = normalize_labels(data["churn"])
    split = stratified_split(y, seed=0)
    spec = infer_spec(types, data, label="churn").fit(data, split.train)
    X, names = spec.transform(data)
    result = train_model(X, y, split, {"num_boost_round": 60, "max_depth": 3}, feature_names=names)
    return result.model_json, spec


def test_top_features_by_total_gain(model: tuple) -> None:
    model_json, spec = model
    assert top_features(model_json, spec, 2) == ["strong", "medium"]
    top3 = top_features(model_json, spec, 3)
    assert top3[:2] == ["strong", "medium"]
    assert "plan" in top_features(model_json, spec, 4)
    ranked = [row["feature"] for row in feature_importance(model_json, spec=spec)["inputs"]]
    assert top_features(model_json, spec, 5) == ranked[:5]


def test_unused_features_are_never_selected(model: tuple) -> None:
    model_json, spec = model
    everything = top_features(model_json, spec, 100)
    assert "constant" not in everything
    assert len(everything) < len(spec.input_names)


def test_output_level_names_model_columns(model: tuple) -> None:
    model_json, spec = model
    outputs = top_features(model_json, spec, 10, level="output")
    assert "plan_pro" in outputs
    assert set(outputs) <= set(spec.output_names)


def test_rank_features_shares(model: tuple) -> None:
    model_json, spec = model
    ranked = rank_features(model_json, spec)
    assert sum(row["share"] for row in ranked) == pytest.approx(1.0)
    assert ranked[0]["feature"] == "strong" and ranked[0]["share"] > 0.3
    assert set(ranked[0]) == {"feature", "total_gain", "share", "weight"}


def test_retrain_on_the_top_features(model: tuple) -> None:
    """The walkthrough's step: many columns -> the top k -> a smaller model on the same source."""
    model_json, spec = model
    data, types = rows()
    chosen = top_features(model_json, spec, 3)
    small = infer_spec(types, data, label="churn", features=chosen)
    y = normalize_labels(data["churn"])
    split = stratified_split(y, seed=0)
    small.fit(data, split.train)
    X, names = small.transform(data)
    result = train_model(X, y, split, {"num_boost_round": 60, "max_depth": 3}, feature_names=names)
    assert small.input_names == chosen
    assert result.metrics["test"]["auc"] > 0.8


@pytest.mark.parametrize("k", [0, -1, 2.0, True])
def test_bad_k(model: tuple, k: object) -> None:
    model_json, spec = model
    with pytest.raises(InvalidParameter, match="invalid number of features"):
        top_features(model_json, spec, k)  # type: ignore[arg-type]


def test_bad_level(model: tuple) -> None:
    model_json, spec = model
    with pytest.raises(InvalidParameter, match="invalid feature level"):
        top_features(model_json, spec, 3, level="column")  # type: ignore[arg-type]
