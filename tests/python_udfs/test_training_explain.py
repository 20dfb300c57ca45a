"""explain: importance, tree depths, the first tree, contributions folded onto input columns."""

from __future__ import annotations

import json
import re
from collections import Counter
from typing import Any

import numpy as np
import pytest
import xgboost as xgb

from churnml.errors import DataCorrupted, InvalidParameter, UndefinedColumn
from churnml.training.explain import (
    feature_importance,
    feature_names,
    group_contributions,
    model_dict,
    tree_depths,
    tree_to_dict,
    tree_to_text,
)
from churnml.training.feature_spec import FeatureSpec, infer_spec
from churnml.training.labels import normalize_labels
from churnml.training.split import stratified_split
from churnml.training.train import TrainResult, train_model

TYPES = {"cust_service_calls": "integer", "day_mins": "double precision", "int_plan": "text",
         "state": "text", "noise": "real", "churn": "boolean"}  # fmt: skip


def churn_rows(n: int, seed: int) -> dict[str, list[Any]]:
    rng = np.random.default_rng(seed)
    calls = rng.poisson(1.6, n)
    day = rng.normal(180, 50, n)
    plan = rng.choice(["no", "yes"], n, p=[0.9, 0.1])
    logit = -3.0 + 3.0 * (calls >= 4) + 0.03 * (day - 180) + 2.0 * (plan == "yes")
    churn = rng.random(n) < 1 / (1 + np.exp(-logit))
    return {
        "cust_service_calls": calls.tolist(),
        "day_mins": day.tolist(),
        "int_plan": plan.tolist(),
        "state": rng.choice(["KS", "OH", "NJ", "TX"], n).tolist(),
        "noise": rng.normal(size=n).tolist(),
        "churn": churn.tolist(),
    }


@pytest.fixture(scope="module")
def model() -> tuple[TrainResult, FeatureSpec, np.ndarray]:
    rows = churn_rows(1500, 5)
    y = normalize_labels(rows["churn"])
    split = stratified_split(y, seed=1)
    spec = infer_spec(TYPES, rows, label="churn").fit(rows, split.train)
    X, names = spec.transform(rows)
    params = {"num_boost_round": 40, "early_stopping_rounds": 0, "max_depth": 3}
    return train_model(X, y, split, params, feature_names=names), spec, X


def count_splits(parsed: dict[str, Any]) -> Counter[int]:
    """Independent count of split nodes per feature index, straight from the JSON."""
    counts: Counter[int] = Counter()
    for tree in parsed["learner"]["gradient_booster"]["model"]["trees"]:
        for node, left in enumerate(tree["left_children"]):
            if left != -1:
                counts[tree["split_indices"][node]] += 1
    return counts


def test_weight_is_the_number_of_splits_in_the_json(model: tuple) -> None:
    result, spec, _ = model
    parsed = json.loads(result.model_json)
    counts = count_splits(parsed)
    rows = {row["feature"]: row for row in feature_importance(result.model_json, spec=spec)["outputs"]}
    for index, name in enumerate(spec.output_names):
        assert rows[name]["weight"] == counts[index]
    assert sum(row["weight"] for row in rows.values()) == sum(counts.values())


def test_importance_matches_xgboost(model: tuple) -> None:
    result, spec, _ = model
    booster = result.booster()
    rows = {row["feature"]: row for row in feature_importance(booster)["outputs"]}
    for kind in ("weight", "gain", "total_gain", "cover", "total_cover"):
        for name, value in booster.get_score(importance_type=kind).items():
            assert rows[name][kind] == pytest.approx(value, rel=1e-5), (kind, name)
    unused = set(spec.output_names) - set(booster.get_score(importance_type="weight"))
    for name in unused:
        assert rows[name] == {"feature": name, "weight": 0, "gain": 0.0, "total_gain": 0.0, "cover": 0.0,
                              "total_cover": 0.0}  # fmt: skip


def test_importance_sorted_and_grouped_onto_input_columns(model: tuple) -> None:
    result, spec, _ = model
    importance = feature_importance(result.model_json, spec=spec)
    gains = [row["total_gain"] for row in importance["outputs"]]
    assert gains == sorted(gains, reverse=True)
    by_output = {row["feature"]: row for row in importance["outputs"]}
    inputs = {row["feature"]: row for row in importance["inputs"]}
    assert list(inputs) == [row["feature"] for row in importance["inputs"]]
    assert set(inputs) == set(spec.input_names)
    plan = inputs["int_plan"]
    assert plan["group"] == "categorical"
    assert plan["outputs"] == ["int_plan_no", "int_plan_yes"]
    assert plan["weight"] == by_output["int_plan_no"]["weight"] + by_output["int_plan_yes"]["weight"]
    assert plan["total_gain"] == pytest.approx(
        by_output["int_plan_no"]["total_gain"] + by_output["int_plan_yes"]["total_gain"]
    )
    assert plan["gain"] == pytest.approx(plan["total_gain"] / plan["weight"])
    top_two = {row["feature"] for row in importance["inputs"][:2]}
    assert top_two <= {"cust_service_calls", "day_mins", "int_plan"}
    assert json.loads(json.dumps(importance, allow_nan=False)) == importance


def test_tree_depths(model: tuple) -> None:
    result, _, _ = model
    depths = tree_depths(result.model_json)
    dumps = result.booster().get_dump()
    assert len(depths) == len(dumps) == 40
    # in XGBoost's text dump a node's indentation is its depth; leaves sit one below their split
    expected = [max(line.count("\t") for line in dump.splitlines() if "leaf" in line) for dump in dumps]
    assert depths == expected
    assert max(depths) <= 3


def test_first_tree_as_dict_and_text(model: tuple) -> None:
    result, _, _ = model
    tree = tree_to_dict(result.model_json)
    first_line = result.booster().get_dump()[0].splitlines()[0]  # e.g. 0:[cust_service_calls<4] yes=1,...
    name, threshold = re.match(r"0:\[(.+)<([^\]]+)\]", first_line).groups()  # type: ignore[union-attr]
    assert tree["feature"] == name
    assert tree["threshold"] == pytest.approx(float(threshold), rel=1e-6)
    assert tree["split"] == f"{tree['feature']} < {tree['split'].split(' < ')[1]}"
    assert tree["missing"] in ("yes", "no")

    def leaves(node: dict) -> list[dict]:
        return [node] if "leaf" in node else leaves(node["yes"]) + leaves(node["no"])

    assert all(isinstance(leaf["leaf"], float) for leaf in leaves(tree))
    text = tree_to_text(result.model_json)
    assert text.splitlines()[0].startswith(tree["split"] + "  (gain ")
    assert "\n  yes: " in text and "\n  no: " in text
    assert json.loads(json.dumps(tree, allow_nan=False)) == tree


def test_walkthrough_style_first_split_reads_naturally() -> None:
    # the exact method splits halfway between neighbouring values: calls < 3.5
    rng = np.random.default_rng(0)
    calls = rng.integers(0, 9, 600).astype(np.float64)
    y = (calls >= 4).astype(np.float64)
    booster = xgb.train(
        {"objective": "binary:logistic", "tree_method": "exact", "max_depth": 1},
        xgb.DMatrix(calls[:, None], label=y, feature_names=["cust_service_calls"]),
        num_boost_round=1,
    )
    assert tree_to_dict(booster)["split"] == "cust_service_calls < 3.5"
    assert tree_to_text(booster).startswith("cust_service_calls < 3.5")
    assert tree_depths(booster) == [1]


def test_names_from_the_caller_or_xgboost_defaults() -> None:
    X = np.random.default_rng(1).normal(size=(200, 3))
    y = (X[:, 1] > 0).astype(float)
    booster = xgb.train({"objective": "binary:logistic"}, xgb.DMatrix(X, label=y), num_boost_round=2)
    assert feature_names(booster) == ["f0", "f1", "f2"]
    assert tree_to_dict(booster)["feature"] == "f1"
    assert tree_to_dict(booster, 0, ["a", "b", "c"])["feature"] == "b"
    with pytest.raises(InvalidParameter, match="do not match the model"):
        feature_names(booster, ["a", "b"])
    with pytest.raises(InvalidParameter, match="tree 5 does not exist"):
        tree_to_dict(booster, 5)


def test_model_inputs_in_every_form(model: tuple) -> None:
    result, _, _ = model
    parsed = model_dict(result.model_json)
    assert model_dict(result.model_json.decode()) == parsed
    assert model_dict(bytearray(result.model_json)) == parsed
    assert model_dict(parsed) == parsed
    assert model_dict(result.booster())["learner"]["feature_names"] == parsed["learner"]["feature_names"]
    for damaged in (b"not json", b'{"learner": {}}', b"[1, 2]"):
        with pytest.raises(DataCorrupted, match="malformed XGBoost model"):
            model_dict(damaged)


# --------------------------------------------------------------------- contributions


def test_group_contributions_fold_one_hot_columns(model: tuple) -> None:
    result, spec, X = model
    booster = result.booster()
    contribs = booster.predict(xgb.DMatrix(X[:5], feature_names=spec.output_names), pred_contribs=True)
    margin = booster.predict(xgb.DMatrix(X[:5], feature_names=spec.output_names), output_margin=True)
    sources = spec.output_sources()
    for row, total in zip(contribs, margin, strict=True):
        grouped = group_contributions(spec.output_names, row, spec)
        assert [name for name, _ in grouped] != []
        assert {name for name, _ in grouped} == set(spec.input_names)
        magnitudes = [abs(value) for _, value in grouped]
        assert magnitudes == sorted(magnitudes, reverse=True)
        as_dict = dict(grouped)
        expected_state = sum(v for name, v in zip(spec.output_names, row, strict=False) if sources[name] == "state")
        assert as_dict["state"] == pytest.approx(expected_state, abs=1e-6)
        # everything but the bias (last value) is accounted for
        assert sum(as_dict.values()) + row[-1] == pytest.approx(total, abs=1e-4)
        assert all(type(value) is float for value in as_dict.values())


def test_group_contributions_by_hand() -> None:
    data = {"plan": ["no", "yes", "no"], "calls": [1, 5, 2]}
    spec = infer_spec({"plan": "text", "calls": "integer"}, data).fit(data)
    assert spec.output_names == ["plan_no", "plan_yes", "calls"]
    grouped = group_contributions(["plan_no", "plan_yes", "calls"], [0.25, -0.75, 0.4], spec)
    assert grouped == [("plan", -0.5), ("calls", 0.4)]
    assert group_contributions(["calls", "plan_yes", "plan_no"], [0.1, 0.2, 0.3, -9.0], spec) == [
        ("plan", pytest.approx(0.5)),
        ("calls", 0.1),
    ]
    with pytest.raises(InvalidParameter, match="do not match"):
        group_contributions(spec.output_names, [0.1], spec)
    with pytest.raises(UndefinedColumn, match='"plan_maybe"'):
        group_contributions(["plan_no", "plan_maybe", "calls"], [0.1, 0.2, 0.3], spec)
