"""churnml.scoring: the compiled forest against xgboost itself.

Models are trained here with fixed seeds (nothing binary is stored). Probabilities
must agree with xgboost within 1e-6 and SHAP values within 1e-5; the margins
differ only by xgboost's float32 accumulation, while the paths through the
trees (checked directly with pred_leaf) must be identical, also for inputs on
and next to every threshold.
"""

from __future__ import annotations

import io
import json
import math
import re
import subprocess
import sys
import textwrap
import tokenize
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from churnml.errors import DataCorrupted, InvalidParameter
from churnml.scoring import CompiledModel, compiled_trees, float32_cutoff, vector_trees

xgb = pytest.importorskip("xgboost")

REPO = Path(__file__).resolve().parents[2]
N_FEATURES = 11
PROB_TOL = 1e-6
ALLOWED_TOKENS = {
    tokenize.NUMBER, tokenize.OP, tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT,
    tokenize.ENDMARKER, tokenize.NL,
}
CONTRIB_TOL = 1e-5


def _data(rows: int = 2000, features: int = N_FEATURES, seed: int = 7) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(rows, features))
    x[:, -1] = np.round(x[:, -1] * 3)  # a few distinct values, so thresholds repeat
    x[rng.random(x.shape) < 0.1] = np.nan  # missing values teach both default directions
    signal = np.nan_to_num(x[:, :3]) @ np.array([1.0, 0.5, -0.3])[: min(3, features)]
    y = (signal + rng.normal(size=rows) > 0).astype(int)
    return x, y


def _train(rounds: int, seed: int = 7, features: int = N_FEATURES, **params: Any) -> Any:
    x, y = _data(features=features, seed=seed)
    params = {"objective": "binary:logistic", "seed": seed, "nthread": 1, **params}
    return xgb.train(params, xgb.DMatrix(x, y), rounds)


def _raw(booster: Any) -> bytes:
    return bytes(booster.save_raw("json"))


def _rows_to_score(features: int = N_FEATURES, rows: int = 3000, seed: int = 99) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(rows, features)) * 1.5
    x[:, -1] = np.round(x[:, -1] * 2)
    x[rng.random(x.shape) < 0.15] = np.nan
    return x


def _boundary_rows(model: CompiledModel, rng: np.random.Generator, rows: int = 4000) -> np.ndarray:
    """Rows whose values sit on thresholds, their float32 neighbours and the float64 cutoffs."""
    candidates: dict[int, list[float]] = {f: [] for f in range(model.n_features)}
    for tree in model.forest.trees:
        for node, left in enumerate(tree.left):
            if left == -1:
                continue
            cutoff = tree.cutoff[node]
            threshold = float(np.float32(cutoff))  # the cutoff rounds to the threshold itself
            up = float(np.nextafter(np.float32(threshold), np.float32(np.inf)))
            down = float(np.nextafter(np.float32(threshold), np.float32(-np.inf)))
            candidates[tree.feature[node]] += [
                threshold, up, down, cutoff, math.nextafter(cutoff, -math.inf), (threshold + down) / 2,
            ]
    x = _rows_to_score(model.n_features, rows, seed=5)
    for f, values in candidates.items():
        if values:
            pick = rng.random(rows) < 0.7
            x[pick, f] = rng.choice(values, size=int(pick.sum()))
    return x


def _leaf_of(tree: compiled_trees.Tree, row: list[float]) -> int:
    node = 0
    while tree.left[node] != -1:
        x = row[tree.feature[node]]
        go_left = tree.default_left[node] if math.isnan(x) else x < tree.cutoff[node]
        node = tree.left[node] if go_left else tree.right[node]
    return node


def _assert_scores_match(booster: Any, model: CompiledModel, x: np.ndarray) -> None:
    expected = booster.inplace_predict(x)
    expected_margin = booster.inplace_predict(x, predict_type="margin")
    rows = [[None if math.isnan(v) else v for v in row] for row in x.tolist()]
    by_row = np.array([model.predict_row(row) for row in rows])
    margin_by_row = np.array([model.predict_margin_row(row) for row in x.tolist()])
    by_matrix = model.predict_matrix(x)
    assert np.abs(by_row - expected).max() <= PROB_TOL
    assert np.abs(by_matrix - expected).max() <= PROB_TOL
    # Same paths, float32 vs float64 sums: a different leaf would be off by >1e-3.
    assert np.abs(margin_by_row - expected_margin).max() <= 1e-6 * model.n_trees**0.5 * 4
    np.testing.assert_allclose(model.predict_margin_matrix(x), margin_by_row, rtol=0, atol=1e-12)


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


@pytest.mark.parametrize(
    ("rounds", "params"),
    [
        (1, {"max_depth": 3}),
        (1, {"max_depth": 1}),
        (20, {"max_depth": 2, "base_score": 0.3}),
        (60, {"max_depth": 4}),
        (40, {"max_depth": 6, "base_score": 0.8, "eta": 0.5}),
        (300, {"max_depth": 4, "eta": 0.1}),
        (30, {"max_depth": 0, "grow_policy": "lossguide", "max_leaves": 40}),
        (25, {"max_depth": 6, "gamma": 2.0}),  # some trees are a single leaf
        (10, {"max_depth": 3, "num_parallel_tree": 3, "subsample": 0.7, "colsample_bynode": 0.7}),
    ],
)
def test_predictions_match_xgboost(rounds: int, params: dict[str, Any]) -> None:
    booster = _train(rounds, **params)
    model = CompiledModel.from_json(_raw(booster))
    assert model.n_trees == len(booster.get_dump())
    _assert_scores_match(booster, model, _rows_to_score())


def test_paths_match_xgboost_on_threshold_boundaries() -> None:
    booster = _train(80, max_depth=5)
    model = CompiledModel.from_json(_raw(booster))
    x = _boundary_rows(model, np.random.default_rng(3))
    leaves = booster.predict(xgb.DMatrix(x), pred_leaf=True).astype(int)
    ours = np.array([[_leaf_of(tree, row) for tree in model.forest.trees] for row in x.tolist()])
    assert (ours == leaves).all()
    # The generated code and the matrix path must land on xgboost's leaves too:
    # summing our leaf values at xgboost's leaves gives their margins to the last bit.
    via_xgboost_leaves = [
        math.fsum([model.base_margin, *(tree.value[leaf] for tree, leaf in zip(model.forest.trees, row, strict=True))])
        for row in leaves.tolist()
    ]
    by_row = [model.predict_margin_row(row) for row in x.tolist()]
    np.testing.assert_allclose(by_row, via_xgboost_leaves, rtol=0, atol=1e-12)
    np.testing.assert_allclose(model.predict_margin_matrix(x), via_xgboost_leaves, rtol=0, atol=1e-12)
    _assert_scores_match(booster, model, x)


def test_dart_weights_are_applied() -> None:
    booster = _train(30, max_depth=4, booster="dart", rate_drop=0.5, skip_drop=0.0)
    weights = json.loads(_raw(booster))["learner"]["gradient_booster"]["weight_drop"]
    assert min(weights) < 0.9  # dropout did rescale trees, so the weights matter
    model = CompiledModel.from_json(_raw(booster))
    expected = booster.predict(xgb.DMatrix(_rows_to_score()))
    assert np.abs(model.predict_matrix(_rows_to_score()) - expected).max() <= PROB_TOL
    _assert_scores_match(booster, model, _rows_to_score())


def test_accepts_text_dict_and_bytes_and_reads_feature_names() -> None:
    x, y = _data()
    names = [f"f_{i}" for i in range(N_FEATURES)]
    booster = xgb.train({"objective": "binary:logistic", "max_depth": 2}, xgb.DMatrix(x, y, feature_names=names), 5)
    raw = _raw(booster)
    for form in (raw, raw.decode(), json.loads(raw), bytearray(raw)):
        model = CompiledModel.from_json(form)
        assert model.feature_names == tuple(names)
        assert model.n_features == N_FEATURES
    assert CompiledModel.from_json(_raw(_train(2))).feature_names is None


def test_single_feature_model() -> None:
    booster = _train(10, features=1, max_depth=3)
    model = CompiledModel.from_json(_raw(booster))
    _assert_scores_match(booster, model, _rows_to_score(features=1))


def test_missing_values_none_and_nan_agree() -> None:
    model = CompiledModel.from_json(_raw(_train(20, max_depth=4)))
    row = [0.5, None, -1.0, None, 2.0, 0.0, None, 1.0, -0.5, None, 0.25]
    with_nan = [math.nan if v is None else v for v in row]
    assert model.predict_row(row) == model.predict_row(with_nan) == model.predict_row(tuple(row))
    assert model.predict_margin_row(row) == model.predict_margin_row(with_nan)
    assert model.predict_row(np.array(with_nan)) == pytest.approx(model.predict_row(row), abs=0)


def test_integer_and_numpy_inputs() -> None:
    booster = _train(20, max_depth=3)
    model = CompiledModel.from_json(_raw(booster))
    x = np.round(_rows_to_score(rows=200) * 2)
    x[np.isnan(x)] = 0.0
    as_ints = [[int(v) for v in row] for row in x.tolist()]
    expected = booster.inplace_predict(x)
    assert np.abs(np.array([model.predict_row(row) for row in as_ints]) - expected).max() <= PROB_TOL
    # PL/Python hands numeric columns over as Decimal: converted with float(), like xgboost's input.
    mixed = [[Decimal(repr(v)) if i % 2 else v for i, v in enumerate(row)] for row in x.tolist()]
    by_row = np.array([model.predict_row(row) for row in mixed])
    np.testing.assert_array_equal(by_row, [model.predict_row(row) for row in x.tolist()])
    assert np.abs(model.predict_matrix(x.astype(np.float32)) - expected).max() <= PROB_TOL
    assert np.abs(model.predict_matrix(as_ints) - expected).max() <= PROB_TOL


def test_deep_trees_fall_back_to_walking(monkeypatch: pytest.MonkeyPatch) -> None:
    # gamma prunes some trees to a single leaf and leaves others at full depth.
    booster = _train(25, max_depth=6, gamma=2.0)
    forest = compiled_trees.parse_forest(json.loads(_raw(booster)))
    assert {tree.depth for tree in forest.trees} == {0, 6}
    monkeypatch.setattr(compiled_trees, "CODEGEN_MAX_DEPTH", 3)  # the depth-6 trees are walked
    monkeypatch.setattr(vector_trees, "MAX_MASK_LEAVES", 30)  # trees above 30 leaves: path walk
    model = CompiledModel(forest)
    vector = model._vector_forest()
    assert vector.masks is not None
    assert vector.paths is not None
    _assert_scores_match(booster, model, _rows_to_score())


def test_matrix_path_walk_only(monkeypatch: pytest.MonkeyPatch) -> None:
    booster = _train(40, max_depth=6)
    monkeypatch.setattr(vector_trees, "MAX_TABLE_BYTES", 0)  # tables "too big": all trees walk
    model = CompiledModel.from_json(_raw(booster))
    assert model._vector_forest().masks is None
    _assert_scores_match(booster, model, _rows_to_score())


def test_matrix_chunks_and_edge_shapes(monkeypatch: pytest.MonkeyPatch) -> None:
    booster = _train(30, max_depth=4)
    model = CompiledModel.from_json(_raw(booster))
    x = _rows_to_score(rows=1000)
    whole = model.predict_matrix(x)
    monkeypatch.setattr(vector_trees, "WORK_BYTES", 1)  # smallest chunks: 256 rows, last one partial
    fresh = CompiledModel.from_json(_raw(booster))
    np.testing.assert_array_equal(fresh.predict_matrix(x), whole)
    assert model.predict_matrix(np.empty((0, N_FEATURES))).shape == (0,)
    assert model.predict_matrix(x[:1]).shape == (1,)


def test_extreme_margins_do_not_overflow() -> None:
    booster = _train(5, max_depth=2)
    doc = json.loads(_raw(booster))
    doc["learner"]["learner_model_param"]["base_score"] = "[1E-6]"  # margin about -13.8, the lowest churnml scores
    for tree in doc["learner"]["gradient_booster"]["model"]["trees"]:
        tree["split_conditions"] = [
            -1e37 if left == -1 else value
            for left, value in zip(tree["left_children"], tree["split_conditions"], strict=True)
        ]
    model = CompiledModel.from_json(doc)
    row = [0.0] * N_FEATURES
    assert model.predict_margin_row(row) < -1e37
    assert model.predict_row(row) == 0.0
    assert model.predict_matrix(np.zeros((2, N_FEATURES))).tolist() == [0.0, 0.0]


# --------------------------------------------------------------------------- contributions


@pytest.mark.parametrize(
    ("rounds", "params"),
    [
        (1, {"max_depth": 2}),
        (30, {"max_depth": 4}),
        (15, {"max_depth": 6, "base_score": 0.25}),
        (15, {"max_depth": 4, "booster": "dart", "rate_drop": 0.4, "skip_drop": 0.0}),
    ],
)
def test_contributions_match_xgboost_treeshap(rounds: int, params: dict[str, Any]) -> None:
    booster = _train(rounds, **params)
    model = CompiledModel.from_json(_raw(booster))
    x = _rows_to_score(rows=40)
    expected = booster.predict(xgb.DMatrix(x), pred_contribs=True)
    ours = np.array([model.contributions_row([None if math.isnan(v) else v for v in row]) for row in x.tolist()])
    assert ours.shape == expected.shape == (40, N_FEATURES + 1)
    assert np.abs(ours - expected).max() <= CONTRIB_TOL
    margins = [model.predict_margin_row(row) for row in x.tolist()]
    np.testing.assert_allclose(ours.sum(axis=1), margins, rtol=0, atol=1e-9)


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
        CompiledModel.from_json(_broken(doc, change))
    assert info.value.sqlstate == "XX001"
    assert info.value.message.startswith("malformed XGBoost model")


@pytest.mark.parametrize(
    "raw", [b"", b"not json", b'{"learner": ', b"[1, 2]", b'{"learner": {"x": NaN}}', b"{}"]
)
def test_unparseable_artifacts_raise_data_corrupted(raw: bytes) -> None:
    with pytest.raises(DataCorrupted):
        CompiledModel.from_json(raw)


def test_ubjson_scores_like_json() -> None:
    booster = _train(20, max_depth=4)
    from_ubj = CompiledModel.from_json(bytes(booster.save_raw("ubj")))
    assert from_ubj.forest == CompiledModel.from_json(_raw(booster)).forest
    _assert_scores_match(booster, from_ubj, _rows_to_score())


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
        CompiledModel.from_json(_raw(booster))
    assert info.value.message.startswith("unsupported XGBoost model")


def test_categorical_splits_are_refused() -> None:
    x = np.random.default_rng(0).integers(0, 4, size=(300, 3)).astype(float)
    y = (x[:, 0] > 1).astype(int)
    matrix = xgb.DMatrix(x, y, feature_types=["c", "q", "q"], enable_categorical=True)
    booster = xgb.train({"objective": "binary:logistic", "max_cat_to_onehot": 1}, matrix, 2)
    with pytest.raises(InvalidParameter, match="categorical"):
        CompiledModel.from_json(_raw(booster))


def test_model_argument_of_the_wrong_type() -> None:
    with pytest.raises(InvalidParameter):
        CompiledModel.from_json(42)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "row",
    [
        [1.0] * (N_FEATURES - 1),
        [1.0] * (N_FEATURES + 1),
        ["1.0"] + [1.0] * (N_FEATURES - 1),
        [object()] + [1.0] * (N_FEATURES - 1),
        None,
        "abcdefghijk",
    ],
)
def test_bad_rows_raise_invalid_parameter(row: Any) -> None:
    model = CompiledModel.from_json(_raw(_train(3, max_depth=3)))
    for method in (model.predict_row, model.predict_margin_row, model.contributions_row):
        with pytest.raises(InvalidParameter):
            method(row)


@pytest.mark.parametrize("x", [np.zeros((3, N_FEATURES - 1)), np.zeros(N_FEATURES), [["a"] * N_FEATURES]])
def test_bad_matrices_raise_invalid_parameter(x: Any) -> None:
    model = CompiledModel.from_json(_raw(_train(3, max_depth=3)))
    with pytest.raises(InvalidParameter):
        model.predict_matrix(x)


def test_generated_source_holds_only_numbers(doc: dict[str, Any]) -> None:
    crafted = _broken(doc, _set(["learner", "feature_names"], ["__import__('os')"] * N_FEATURES))
    blocks, margin = compiled_trees.forest_sources(compiled_trees.parse_forest(crafted))
    source = "".join([*blocks, margin])
    keywords = {"def", "margin", "values", "m", "if", "else", "return", "is", "not", "__class__", "_float",
                "_number", "_deep"}
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type == tokenize.NAME:
            assert token.string in keywords or re.fullmatch(r"[x]\d+|_b\d+", token.string), token
        else:
            assert token.type in ALLOWED_TOKENS, token


# --------------------------------------------------------------------------- imports


def test_scoring_imports_neither_xgboost_nor_sklearn(tmp_path: Path) -> None:
    model_file = tmp_path / "model.json"
    model_file.write_bytes(_raw(_train(20, max_depth=4)))
    script = textwrap.dedent(
        f"""
        import sys
        from churnml.scoring import CompiledModel
        model = CompiledModel.from_json(open({str(model_file)!r}, "rb").read())
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
