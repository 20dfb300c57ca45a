"""churnml's one tree evaluator (C, churnml.scoring.tree_evaluator) against xgboost, the oracle.

Models are trained here with fixed seeds (nothing binary is stored): gbtree and dart,
depths 1 to 16, missing values, one-leaf trees, parallel trees, base scores. On rows
full of the values a float32 walk could get wrong (every threshold, its float32 and
float64 neighbours, ±0, subnormals, values past float32's range, NaN):

- probabilities equal xgboost's `inplace_predict` to 1e-6, per row and per matrix
  (AVX2 and node walks, one and two threads), and per row and per matrix bit for bit;
- every row lands on xgboost's leaves (`pred_leaf`), checked with the short reference
  walker below, and the margin is exactly that walker's sum (tree order, float64, the
  base margin last: the order documented in _native_trees.c);
- TreeSHAP equals xgboost's `pred_contribs` (xgboost sums in float32: to 1e-5) and adds
  up to the margin.
"""

from __future__ import annotations

import json
import math
import struct
import subprocess
import sys
import textwrap
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from churnml.errors import DataCorrupted, InvalidParameter, RuntimeMissing
from churnml.scoring import TreeEvaluator, float32_cutoff, tree_evaluator
from churnml.scoring.forest import Forest, parse_forest
from churnml.scoring.tree_evaluator import native_module

xgb = pytest.importorskip("xgboost")

REPO = Path(__file__).resolve().parents[2]
N_FEATURES = 11
PROB_TOL = 1e-6
CONTRIB_TOL = 1e-5
F32_MIN_SUBNORMAL = 2.0**-149


# --------------------------------------------------------------------------- models and rows


def _data(rows: int = 3000, features: int = N_FEATURES, seed: int = 7) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(rows, features))
    x[:, -1] = np.round(x[:, -1] * 3)  # a few distinct values, so thresholds repeat
    x[:, 0] *= 1e-39  # float32 subnormals: thresholds among them
    x[rng.random(x.shape) < 0.1] = np.nan  # missing values teach both default directions
    cols = min(3, features - 1)
    signal = np.nan_to_num(x[:, 1 : 1 + cols]) @ np.array([1.0, 0.5, -0.3])[:cols]
    y = (signal + np.nan_to_num(x[:, 0]) * 1e39 + rng.normal(size=rows) * 0.8 > 0).astype(int)
    return x, y


def _train(rounds: int, seed: int = 7, features: int = N_FEATURES, **params: Any) -> Any:
    x, y = _data(features=features, seed=seed)
    params = {"objective": "binary:logistic", "seed": seed, "nthread": 1, **params}
    return xgb.train(params, xgb.DMatrix(x, y), rounds)


def _raw(booster: Any) -> bytes:
    return bytes(booster.save_raw("json"))


def _booster_of(raw: bytes) -> Any:
    return xgb.Booster(model_file=bytearray(raw))


def _edge_rows(forest: Forest, rows: int, seed: int, infinite: bool = False) -> np.ndarray:
    """Rows full of the values a float32 walk could get wrong. xgboost refuses infinities and values
    beyond float32's range, so only the comparisons with the reference walker take them (`infinite`)."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(rows, forest.n_features)) * 1.5
    specials = [np.nan, 0.0, -0.0, F32_MIN_SUBNORMAL, -F32_MIN_SUBNORMAL, 1e-45, 5e-324, 1e-310, -1e-310,
                3.4e38, -3.4e38, 3.4028234e38]
    if infinite:
        specials += [math.inf, -math.inf, 3.5e38, -3.5e38, 3.40282357e38, 1e300, -1e300]
    for tree in forest.trees:
        for node, left in enumerate(tree.left):
            if left == -1:
                continue
            cutoff = tree.cutoff[node]
            t = float(np.float32(cutoff))  # the cutoff rounds to the threshold itself
            with np.errstate(over="ignore"):
                below = float(np.nextafter(np.float32(t), np.float32(-np.inf)))
                above = float(np.nextafter(np.float32(t), np.float32(np.inf)))
            specials += [t, cutoff, math.nextafter(cutoff, -math.inf), below, above, (t + below) / 2]
    if not infinite:  # a threshold of ±FLT_MAX has ±inf beside it
        specials = [v for v in specials if not math.isinf(v)]
    picks = rng.random(x.shape) < 0.6
    x[picks] = rng.choice(np.array(specials), size=int(picks.sum()))
    return x


def _reference_leaf(tree: Any, row: list[float]) -> int:
    """The short reference walker: xgboost's rule on the float32-exact cutoffs."""
    node = 0
    while tree.left[node] != -1:
        x = row[tree.feature[node]]
        go_left = tree.default_left[node] if math.isnan(x) else x < tree.cutoff[node]
        node = tree.left[node] if go_left else tree.right[node]
    return node


def _reference_margin(forest: Forest, row: list[float]) -> float:
    total = 0.0
    for tree in forest.trees:
        total += tree.value[_reference_leaf(tree, row)]
    return forest.base_margin + total


def _as_row(values: np.ndarray) -> list[float | None]:
    return [None if math.isnan(v) else v for v in values.tolist()]


def _check_against_xgboost(raw: bytes, x: np.ndarray, pred_leaf: bool = True) -> TreeEvaluator:
    """Probabilities to 1e-6 of xgboost's, xgboost's leaves, the reference margin exactly, all walks equal."""
    booster = _booster_of(raw)
    forest = parse_forest(json.loads(raw))
    model = TreeEvaluator(forest)
    expected = booster.inplace_predict(x)
    native = model._c
    by_row = np.array([model.predict_row(_as_row(row)) for row in x])
    margins = np.array([model.margin_row(row.tolist()) for row in x])
    assert np.abs(by_row - expected).max() <= PROB_TOL
    for threads in (1, 2):
        np.testing.assert_array_equal(model.predict_matrix(x, threads), by_row)
        node_walk = np.empty(len(x))
        native.predict_matrix(np.ascontiguousarray(x), node_walk, threads, 1)
        np.testing.assert_array_equal(node_walk, by_row)
    rows = x.tolist()
    if pred_leaf:
        leaves = booster.predict(xgb.DMatrix(x), pred_leaf=True).astype(int).reshape(len(x), -1)
        ours = np.array([[_reference_leaf(tree, row) for tree in forest.trees] for row in rows])
        np.testing.assert_array_equal(ours, leaves)
    np.testing.assert_array_equal(margins, [_reference_margin(forest, row) for row in rows])
    return model


# --------------------------------------------------------------------------- float32 cutoffs


def _interesting_float32() -> np.ndarray:
    rng = np.random.default_rng(0)
    bits = rng.integers(0, 2**32, size=20000, dtype=np.uint64).astype(np.uint32)
    values = bits.view(np.float32)
    specials = np.array(
        [0.0, -0.0, 1.0, -1.0, 0.5, 2.0**-126, -(2.0**-126), 2.0**-149, -(2.0**-149),
         3.4028234663852886e38, -3.4028234663852886e38, np.inf, -np.inf, 1.5, 3.0, 0.1],
        dtype=np.float32,
    )
    values = np.concatenate([values, specials])
    return values[~np.isnan(values)]


def test_float32_cutoff_is_exact_at_and_around_every_boundary() -> None:
    for t in _interesting_float32().tolist():
        c = float32_cutoff(t)
        probes = [c, math.nextafter(c, -math.inf), math.nextafter(c, math.inf), t]
        for p in (t, c):
            if math.isfinite(p):
                probes += [math.nextafter(p, math.inf), math.nextafter(p, -math.inf)]
        with np.errstate(over="ignore"):
            if math.isfinite(t):
                probes += [float(np.nextafter(np.float32(t), np.float32(d))) for d in (-np.inf, np.inf)]
            x = np.array([p for p in probes if not math.isnan(p)])
            xgboost_left = x.astype(np.float32) < np.float32(t)
        assert (xgboost_left == (x < c)).all(), (t, c)


def test_float32_cutoff_ties_round_half_to_even() -> None:
    # 1 + 2**-23 has an odd significand: x halfway below it rounds down to 1.0 -> left.
    odd = 1.0 + 2.0**-23
    assert float32_cutoff(odd) == math.nextafter(1.0 + 2.0**-24, math.inf)
    # 1 + 2**-22 is even: the halfway point rounds up to it -> not left.
    even = 1.0 + 2.0**-22
    assert float32_cutoff(even) == 1.0 + 3 * 2.0**-24


# --------------------------------------------------------------------------- predictions


MODELS = [
    pytest.param(1, {"max_depth": 1}, id="stumps"),
    pytest.param(1, {"max_depth": 3}, id="one-tree"),
    pytest.param(20, {"max_depth": 2, "base_score": 0.3}, id="depth2-base0.3"),
    pytest.param(150, {"max_depth": 4}, id="depth4-150"),
    pytest.param(40, {"max_depth": 6, "base_score": 0.8, "eta": 0.5}, id="depth6-base0.8"),
    pytest.param(30, {"max_depth": 8, "eta": 0.3}, id="depth8"),
    pytest.param(20, {"max_depth": 10, "eta": 0.3, "min_child_weight": 0}, id="depth10"),
    pytest.param(15, {"max_depth": 12, "eta": 0.3, "min_child_weight": 0}, id="depth12"),
    pytest.param(15, {"max_depth": 16, "eta": 0.3, "min_child_weight": 0}, id="depth16"),
    pytest.param(30, {"max_depth": 0, "grow_policy": "lossguide", "max_leaves": 40}, id="lossguide"),
    pytest.param(25, {"max_depth": 6, "gamma": 2.0}, id="one-leaf-trees"),
    pytest.param(10, {"max_depth": 3, "num_parallel_tree": 3, "subsample": 0.7, "colsample_bynode": 0.7},
                 id="parallel-trees"),
    pytest.param(30, {"max_depth": 4, "booster": "dart", "rate_drop": 0.5, "skip_drop": 0.0}, id="dart"),
    pytest.param(20, {"max_depth": 9, "booster": "dart", "rate_drop": 0.3, "skip_drop": 0.0}, id="dart-deep"),
]


@pytest.mark.parametrize(("rounds", "params"), MODELS)
def test_predictions_equal_xgboost_on_edge_values(rounds: int, params: dict[str, Any]) -> None:
    booster = _train(rounds, **params)
    raw = _raw(booster)
    forest = parse_forest(json.loads(raw))
    model = _check_against_xgboost(raw, _edge_rows(forest, 1500, seed=rounds))
    assert model.n_trees == len(booster.get_dump())
    assert model.n_nodes == forest.n_nodes


def test_deep_trees_are_really_deep() -> None:
    """The depth-16 model reaches past the AVX2 walk's limit (12), so the node walk serves it."""
    forest = parse_forest(json.loads(_raw(_train(15, max_depth=16, eta=0.3, min_child_weight=0))))
    assert max(tree.depth for tree in forest.trees) > 12
    assert TreeEvaluator(forest)._c.max_depth > 12


def test_dart_weights_are_applied() -> None:
    booster = _train(30, max_depth=4, booster="dart", rate_drop=0.5, skip_drop=0.0)
    weights = json.loads(_raw(booster))["learner"]["gradient_booster"]["weight_drop"]
    assert min(weights) < 0.9  # dropout did rescale trees, so the weights matter
    x = _edge_rows(parse_forest(json.loads(_raw(booster))), 500, seed=1)
    expected = booster.predict(xgb.DMatrix(x))
    assert np.abs(TreeEvaluator.from_json(_raw(booster)).predict_matrix(x) - expected).max() <= PROB_TOL


def _with_thresholds(raw: bytes, values: list[float]) -> bytes:
    """The model with its split thresholds replaced, in turn, by `values` (as float32)."""
    doc = json.loads(raw)
    k = 0
    for tree in doc["learner"]["gradient_booster"]["model"]["trees"]:
        conditions = tree["split_conditions"]
        for node, left in enumerate(tree["left_children"]):
            if left != -1:
                conditions[node] = float(np.float32(values[k % len(values)]))
                k += 1
    return json.dumps(doc).encode()


def test_zero_and_subnormal_thresholds_equal_xgboost() -> None:
    """Thresholds of ±0, the smallest float32 subnormals and the largest float32s; inputs on and around them."""
    thresholds = [0.0, -0.0, F32_MIN_SUBNORMAL, -F32_MIN_SUBNORMAL, 2 * F32_MIN_SUBNORMAL, 1e-40, -1e-40,
                  1.1754942e-38, 1.17549435e-38, 3.4028235e38, -3.4028235e38]
    raw = _with_thresholds(_raw(_train(20, max_depth=4)), thresholds)
    forest = parse_forest(json.loads(raw))
    rng = np.random.default_rng(3)
    probes = [0.0, -0.0, 5e-324, -5e-324, 1e-310, 7e-46, 7.006e-46, 1e-45, 1.4e-45, 2.1e-45, 2.8e-45, -1.4e-45,
              1e-40, -1e-40, 1.1754942e-38, 1.17549435e-38, 3.4028234e38, 3.4028235e38, -3.4028235e38, np.nan]
    x = rng.choice(np.array(probes), size=(3000, N_FEATURES))
    _check_against_xgboost(raw, x)
    assert {float(np.float32(t)) for t in thresholds} <= {
        float(np.float32(tree.cutoff[n])) for tree in forest.trees for n in range(len(tree.left))
        if tree.left[n] != -1}


def test_infinite_inputs_follow_the_reference_walker() -> None:
    """xgboost refuses ±Infinity (churnml refuses them before scoring, 22003); the evaluator still walks
    them as the comparison rule says, on every path."""
    raw = _raw(_train(40, max_depth=6))
    forest = parse_forest(json.loads(raw))
    model = TreeEvaluator(forest)
    x = _edge_rows(forest, 800, seed=9, infinite=True)
    margins = [model.margin_row(row) for row in x.tolist()]
    np.testing.assert_array_equal(margins, [_reference_margin(forest, row) for row in x.tolist()])
    np.testing.assert_array_equal(model.predict_matrix(x), [model.predict_row(row) for row in x.tolist()])


def test_children_numbered_before_their_parents() -> None:
    """A valid model may number a child before its parent (the validator allows it, xgboost scores it;
    its pred_leaf aborts the process on such a tree, so the reference walker alone checks the leaves)."""
    raw = _raw(_train(10, max_depth=3))
    doc = json.loads(raw)
    for tree in doc["learner"]["gradient_booster"]["model"]["trees"]:
        n = len(tree["left_children"])
        if n < 3:
            continue
        new_id = [0, *range(n - 1, 0, -1)]  # the root stays 0, every other node's number is reversed
        old_at = {new: old for old, new in enumerate(new_id)}
        for key in ("left_children", "right_children"):
            tree[key] = [-1 if tree[key][old_at[i]] == -1 else new_id[tree[key][old_at[i]]] for i in range(n)]
        parents = tree["parents"]
        tree["parents"] = [parents[0] if i == 0 else new_id[parents[old_at[i]]] for i in range(n)]
        for key in ("split_indices", "split_conditions", "default_left", "loss_changes", "sum_hessian",
                    "base_weights", "split_type"):
            if key in tree:
                tree[key] = [tree[key][old_at[i]] for i in range(n)]
    reordered = json.dumps(doc).encode()
    x = _edge_rows(parse_forest(doc), 500, seed=2)
    _check_against_xgboost(reordered, x, pred_leaf=False)
    model = TreeEvaluator.from_json(reordered)
    original = TreeEvaluator.from_json(raw)
    np.testing.assert_array_equal(model.predict_matrix(x), original.predict_matrix(x))
    np.testing.assert_array_equal(model.contributions_matrix(x[:30]), original.contributions_matrix(x[:30]))


def test_accepts_text_dict_and_bytes_and_reads_feature_names() -> None:
    x, y = _data()
    names = [f"f_{i}" for i in range(N_FEATURES)]
    booster = xgb.train({"objective": "binary:logistic", "max_depth": 2}, xgb.DMatrix(x, y, feature_names=names), 5)
    raw = _raw(booster)
    for form in (raw, raw.decode(), json.loads(raw), bytearray(raw), bytes(booster.save_raw("ubj"))):
        model = TreeEvaluator.from_json(form)
        assert model.feature_names == tuple(names)
        assert model.n_features == N_FEATURES
    assert TreeEvaluator.from_json(_raw(_train(2))).feature_names is None


@pytest.mark.parametrize("features", [1, 100])
def test_one_feature_and_many_features(features: int) -> None:
    """One input; and more than the 64 the row path keeps on the C stack."""
    raw = _raw(_train(10, features=features, max_depth=3))
    _check_against_xgboost(raw, _edge_rows(parse_forest(json.loads(raw)), 400, seed=features))


def test_missing_values_none_and_nan_agree() -> None:
    model = TreeEvaluator.from_json(_raw(_train(20, max_depth=4)))
    row = [0.5, None, -1.0, None, 2.0, 0.0, None, 1.0, -0.5, None, 0.25]
    with_nan = [math.nan if v is None else v for v in row]
    assert model.predict_row(row) == model.predict_row(with_nan) == model.predict_row(tuple(row))
    assert model.margin_row(row) == model.margin_row(with_nan)
    assert model.predict_row(np.array(with_nan)) == model.predict_row(row)
    assert model.contributions_row(row) == model.contributions_row(with_nan)


def test_integer_decimal_and_numpy_inputs() -> None:
    booster = _train(20, max_depth=3)
    model = TreeEvaluator.from_json(_raw(booster))
    x = np.round(_data(rows=200, seed=3)[0] * 2)
    x[np.isnan(x)] = 0.0
    as_ints = [[int(v) for v in row] for row in x.tolist()]
    expected = booster.inplace_predict(x)
    assert np.abs(np.array([model.predict_row(row) for row in as_ints]) - expected).max() <= PROB_TOL
    # PL/Python hands numeric columns over as Decimal: converted with float(), like xgboost's input.
    mixed = [[Decimal(repr(v)) if i % 2 else v for i, v in enumerate(row)] for row in x.tolist()]
    np.testing.assert_array_equal([model.predict_row(row) for row in mixed], [model.predict_row(r) for r in x.tolist()])
    as_numpy = [[np.float32(v) if i % 2 else np.int64(v) for i, v in enumerate(row)] for row in x.tolist()]
    np.testing.assert_array_equal([model.predict_row(row) for row in as_numpy], model.predict_matrix(x))
    assert [model.predict_row([True] * N_FEATURES)] == [model.predict_row([1.0] * N_FEATURES)]
    assert np.abs(model.predict_matrix(x.astype(np.float32)) - expected).max() <= PROB_TOL
    assert np.abs(model.predict_matrix(as_ints) - expected).max() <= PROB_TOL


def test_matrix_edge_shapes_and_background_prediction() -> None:
    raw = _raw(_train(100, max_depth=4))
    model = TreeEvaluator.from_json(raw)
    x = np.vstack([_data(rows=1000, seed=5)[0]] * 10)
    whole = model.predict_matrix(x)
    assert model.predict_matrix(np.empty((0, N_FEATURES))).shape == (0,)
    assert model.predict_matrix(x[:1]).shape == (1,)
    assert model.contributions_matrix(np.empty((0, N_FEATURES))).shape == (0, N_FEATURES + 1)
    results = [model.predict_matrix_start(x) for _ in range(3)]  # three at once
    for result in results:
        np.testing.assert_array_equal(result(), whole)
        np.testing.assert_array_equal(result(), whole)  # a second wait is a no-op
    native = model._c
    dropped = np.empty(len(x))
    native.predict_matrix_start(np.ascontiguousarray(x), dropped)  # dropped unwaited: waited for on the way out
    np.testing.assert_array_equal(dropped, whole)
    for args in ((np.zeros(13), np.zeros(1)), (np.ascontiguousarray(x), np.zeros(3))):
        with pytest.raises(ValueError):
            native.predict_matrix_start(*args)
    with pytest.raises(TypeError):
        native.predict_matrix_start(np.ascontiguousarray(x), b"read-only output")


def test_extreme_margins_do_not_overflow() -> None:
    doc = json.loads(_raw(_train(5, max_depth=2)))
    doc["learner"]["learner_model_param"]["base_score"] = "[1E-6]"  # margin about -13.8, the lowest churnml scores
    for tree in doc["learner"]["gradient_booster"]["model"]["trees"]:
        tree["split_conditions"] = [
            -1e37 if left == -1 else value
            for left, value in zip(tree["left_children"], tree["split_conditions"], strict=True)
        ]
    model = TreeEvaluator.from_json(doc)
    row = [0.0] * N_FEATURES
    assert model.margin_row(row) < -1e37
    assert model.predict_row(row) == 0.0
    assert model.predict_matrix(np.zeros((2, N_FEATURES))).tolist() == [0.0, 0.0]


# --------------------------------------------------------------------------- contributions


@pytest.mark.parametrize(
    ("rounds", "params"),
    [
        (1, {"max_depth": 1}),
        (1, {"max_depth": 2}),
        (30, {"max_depth": 4}),
        (15, {"max_depth": 6, "base_score": 0.25}),
        (10, {"max_depth": 10, "min_child_weight": 0}),
        (15, {"max_depth": 4, "booster": "dart", "rate_drop": 0.4, "skip_drop": 0.0}),
        (20, {"max_depth": 6, "gamma": 2.0}),
    ],
)
def test_contributions_equal_xgboost_treeshap(rounds: int, params: dict[str, Any]) -> None:
    booster = _train(rounds, **params)
    model = TreeEvaluator.from_json(_raw(booster))
    x = _edge_rows(parse_forest(json.loads(_raw(booster))), 60, seed=rounds)
    expected = booster.predict(xgb.DMatrix(x), pred_contribs=True)
    by_row = np.array([model.contributions_row(_as_row(row)) for row in x])
    assert by_row.shape == expected.shape == (60, N_FEATURES + 1)
    assert np.abs(by_row - expected).max() <= CONTRIB_TOL * max(1.0, np.abs(expected).max())
    assert by_row[0, -1] == model.expected_value
    for threads in (1, 2):
        np.testing.assert_array_equal(model.contributions_matrix(x, threads), by_row)
    margins = [model.margin_row(row) for row in x.tolist()]
    np.testing.assert_allclose(by_row.sum(axis=1), margins, rtol=0, atol=1e-9)


def test_zero_cover_refuses_explanations_not_scores() -> None:
    doc = json.loads(_raw(_train(3, max_depth=3)))
    doc["learner"]["gradient_booster"]["model"]["trees"][1]["sum_hessian"][0] = 0.0
    model = TreeEvaluator.from_json(doc)
    assert 0.0 < model.predict_row([0.5] * N_FEATURES) < 1.0
    for explain in (lambda: model.contributions_row([0.5] * N_FEATURES),
                    lambda: model.contributions_matrix(np.zeros((2, N_FEATURES))), lambda: model.expected_value):
        with pytest.raises(DataCorrupted) as info:
            explain()
        assert info.value.message == "malformed XGBoost model: tree 1 node 0 has zero cover"
    with pytest.raises(ArithmeticError, match="tree 1 node 0 has zero cover"):
        model._c.contributions_row([0.5] * N_FEATURES)


# --------------------------------------------------------------------------- refusals


@pytest.fixture(scope="module")
def doc() -> dict[str, Any]:
    return json.loads(_raw(_train(3, max_depth=3)))


def _broken(doc: dict[str, Any], change: Any) -> dict[str, Any]:
    copy = json.loads(json.dumps(doc))
    change(copy)
    return copy


def _tree0(doc: dict[str, Any]) -> dict[str, Any]:
    return doc["learner"]["gradient_booster"]["model"]["trees"][0]


def _set(path: list[str], value: Any) -> Any:
    def change(doc: dict[str, Any]) -> None:
        target = doc
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value

    return change


def _set_tree(key: str, index: int, value: Any) -> Any:
    def change(doc: dict[str, Any]) -> None:
        _tree0(doc)[key][index] = value

    return change


@pytest.mark.parametrize(
    "change",
    [
        _set(["learner"], []),
        _set(["learner", "learner_model_param", "base_score"], "[abc]"),
        _set(["learner", "learner_model_param", "base_score"], "[1E0]"),
        _set(["learner", "learner_model_param", "num_feature"], "-3"),
        _set(["learner", "gradient_booster", "model", "trees"], {"0": 1}),
        _set_tree("split_indices", 0, "__import__('os').system('true')"),
        _set_tree("split_indices", 0, 9999),
        _set_tree("split_indices", 0, 1.0),
        _set_tree("split_conditions", 0, "0.5); import os; (0"),
        _set_tree("split_conditions", 0, 1e300),
        _set_tree("left_children", 1, 0),  # a cycle back to the root
        _set_tree("right_children", 0, 1),  # both children the same node
        _set_tree("left_children", 0, 10**6),
        _set_tree("default_left", 0, 2),
        _set_tree("sum_hessian", 0, -1.0),
        lambda doc: _tree0(doc).pop("sum_hessian"),
        lambda doc: _tree0(doc)["split_conditions"].pop(),
        lambda doc: _tree0(doc).update(left_children=[]),
        _set(["learner", "feature_names"], ["only_one"]),
    ],
)
def test_malformed_models_raise_data_corrupted(doc: dict[str, Any], change: Any) -> None:
    with pytest.raises(DataCorrupted) as info:
        TreeEvaluator.from_json(_broken(doc, change))
    assert info.value.sqlstate == "XX001"
    assert info.value.message.startswith("malformed XGBoost model")


@pytest.mark.parametrize(
    "raw", [b"", b"not json", b'{"learner": ', b"[1, 2]", b'{"learner": {"x": NaN}}', b"{}"]
)
def test_unparseable_artifacts_raise_data_corrupted(raw: bytes) -> None:
    with pytest.raises(DataCorrupted):
        TreeEvaluator.from_json(raw)


@pytest.mark.parametrize(
    "params",
    [
        {"objective": "reg:squarederror"},
        {"objective": "binary:logitraw"},
        {"objective": "multi:softprob", "num_class": 3},
        {"booster": "gblinear"},
    ],
)
def test_other_models_raise_invalid_parameter(params: dict[str, Any]) -> None:
    x, y = _data()
    if params.get("num_class"):
        y = np.arange(len(y)) % 3
    booster = xgb.train({"objective": "binary:logistic", **params}, xgb.DMatrix(x, y), 2)
    with pytest.raises(InvalidParameter) as info:
        TreeEvaluator.from_json(_raw(booster))
    assert info.value.message.startswith("unsupported XGBoost model")


def test_categorical_splits_are_refused() -> None:
    x = np.random.default_rng(0).integers(0, 4, size=(300, 3)).astype(float)
    y = (x[:, 0] > 1).astype(int)
    matrix = xgb.DMatrix(x, y, feature_types=["c", "q", "q"], enable_categorical=True)
    booster = xgb.train({"objective": "binary:logistic", "max_cat_to_onehot": 1}, matrix, 2)
    with pytest.raises(InvalidParameter, match="categorical"):
        TreeEvaluator.from_json(_raw(booster))


def test_model_argument_of_the_wrong_type() -> None:
    with pytest.raises(InvalidParameter):
        TreeEvaluator.from_json(42)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "row",
    [
        [1.0] * (N_FEATURES - 1),
        [1.0] * (N_FEATURES + 1),
        ["1.0"] + [1.0] * (N_FEATURES - 1),
        [b"1"] + [1.0] * (N_FEATURES - 1),
        [object()] + [1.0] * (N_FEATURES - 1),
        [10**400] + [1.0] * (N_FEATURES - 1),
        None,
        42,
        "abcdefghijk",
    ],
)
def test_bad_rows_raise_invalid_parameter(row: Any) -> None:
    model = TreeEvaluator.from_json(_raw(_train(3, max_depth=3)))
    for method in (model.predict_row, model.margin_row, model.contributions_row):
        with pytest.raises(InvalidParameter):
            method(row)


@pytest.mark.parametrize("x", [np.zeros((3, N_FEATURES - 1)), np.zeros(N_FEATURES), [["a"] * N_FEATURES]])
def test_bad_matrices_raise_invalid_parameter(x: Any) -> None:
    model = TreeEvaluator.from_json(_raw(_train(3, max_depth=3)))
    for method in (model.predict_matrix, model.contributions_matrix, model.predict_matrix_start):
        with pytest.raises(InvalidParameter):
            method(x)


def _arrays(left: list[int], right: list[int], roots: list[int]) -> list[bytes]:
    n = len(left)
    return [np.zeros(n, np.int32).tobytes(), np.array(left, np.int32).tobytes(), np.array(right, np.int32).tobytes(),
            bytes(n), np.zeros(n).tobytes(), np.zeros(n).tobytes(), np.ones(n).tobytes(),
            np.array(roots, np.int32).tobytes()]


@pytest.mark.parametrize(("left", "right", "roots"), [
    ([1, -1, -1], [1, -1, -1], [0]),  # both children the same node
    ([1, 0, -1], [2, -1, -1], [0]),  # a cycle back to the root
    ([1, -1, -1], [5, -1, -1], [0]),  # a child outside the tree
    ([1, -1, -1, -1], [2, -1, -1, -1], [0, 1]),  # tree 1 starts inside tree 0
    ([1, -1, -1], [2, -1, -1], [1]),  # the first tree does not start at node 0
    ([2, -1, -1], [-1, -1, -1], [0]),  # half a leaf
])
def test_the_c_forest_refuses_what_is_not_a_forest(left: list[int], right: list[int], roots: list[int]) -> None:
    """Its own checks, whatever Python hands it: every walk must end inside the arrays."""
    with pytest.raises(ValueError):
        native_module().Forest(*_arrays(left, right, roots), 1, 0.0)


def test_a_missing_build_is_runtime_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tree_evaluator, "_native_trees", None)
    monkeypatch.setattr(tree_evaluator, "_IMPORT_ERROR", "No module named 'churnml.scoring._native_trees'",
                        raising=False)
    with pytest.raises(RuntimeMissing) as info:
        TreeEvaluator.from_json(_raw(_train(2, max_depth=2)))
    assert info.value.message == "churnml's tree evaluator is not built"
    assert "make install" in info.value.hint


# --------------------------------------------------------------------------- imports


def test_scoring_imports_neither_xgboost_nor_sklearn(tmp_path: Path) -> None:
    model_file = tmp_path / "model.json"
    model_file.write_bytes(_raw(_train(20, max_depth=4)))
    script = textwrap.dedent(
        f"""
        import sys
        from churnml.scoring import TreeEvaluator
        model = TreeEvaluator.from_json(open({str(model_file)!r}, "rb").read())
        model.predict_row([0.5] * {N_FEATURES})
        model.contributions_row([0.5] * {N_FEATURES})
        row_path = sorted(m for m in ("xgboost", "sklearn", "numpy") if m in sys.modules)
        import numpy
        model.predict_matrix(numpy.zeros((3, {N_FEATURES})))
        matrix_path = sorted(m for m in ("xgboost", "sklearn", "scipy") if m in sys.modules)
        print(row_path, matrix_path)
        """
    )
    env = {"PYTHONPATH": str(REPO / "python_udfs"), "PATH": "/usr/bin:/bin"}
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, check=True, timeout=60
    )
    assert done.stdout.strip() == "[] []"


def test_float32_subnormal_inputs_compare_as_xgboost_does() -> None:
    """One input on each side of a subnormal threshold, by hand: float32(x) < t decides."""
    t = struct.unpack("<f", struct.pack("<I", 3))[0]  # the third-smallest positive float32
    assert float32_cutoff(t) == math.nextafter(2.5 * F32_MIN_SUBNORMAL, math.inf)  # odd: the tie rounds down, left
    for x in (2 * F32_MIN_SUBNORMAL, 2.5 * F32_MIN_SUBNORMAL, 2.51 * F32_MIN_SUBNORMAL, t):
        assert (np.float32(x) < np.float32(t)) == (x < float32_cutoff(t)), x
