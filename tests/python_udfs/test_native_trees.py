"""The C tree evaluator gives the pure-Python scorer's answers (and so xgboost's)."""

from __future__ import annotations

import numpy as np
import pytest
import xgboost as xgb

from churnml.scoring.compiled_trees import CompiledModel, load_document, parse_forest
from churnml.scoring.native_trees import AVAILABLE, native_forest

pytestmark = pytest.mark.skipif(not AVAILABLE, reason="the C evaluator is not built (make native)")


def _model(seed: int, depth: int, rounds: int, base_score: float | None = None) -> tuple[bytes, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(3000, 12))
    x[rng.random(x.shape) < 0.1] = np.nan
    y = (np.nan_to_num(x[:, 0]) + np.nan_to_num(x[:, 1]) * np.nan_to_num(x[:, 2]) > 0.3).astype(int)
    params = {"objective": "binary:logistic", "max_depth": depth, "eta": 0.2, "seed": seed, "nthread": 1}
    if base_score is not None:
        params["base_score"] = base_score
    booster = xgb.train(params, xgb.DMatrix(x, label=y), num_boost_round=rounds)
    test = rng.normal(size=(2000, 12))
    test[rng.random(test.shape) < 0.1] = np.nan
    # values exactly on thresholds and next to them
    test[:50, 0] = 0.0
    return bytes(booster.save_raw("json")), test


@pytest.mark.parametrize(("depth", "rounds", "base"), [(1, 1, None), (4, 150, None), (8, 60, 0.3)])
def test_native_equals_python_and_xgboost(depth: int, rounds: int, base: float | None) -> None:
    raw, test = _model(7, depth, rounds, base)
    compiled = CompiledModel.from_json(raw)
    native = native_forest(parse_forest(load_document(raw)))
    assert native is not None
    rows = [[None if np.isnan(v) else float(v) for v in row] for row in test]
    python_p = np.array([compiled.predict_row(r) for r in rows])
    native_p = np.array([native.predict_row(r) for r in rows])
    assert np.max(np.abs(native_p - python_p)) < 1e-12
    out = np.empty(len(test))
    native.predict_matrix(np.ascontiguousarray(test, dtype=np.float64), out)
    assert np.max(np.abs(out - python_p)) < 1e-12
    booster = xgb.Booster()
    booster.load_model(bytearray(raw))
    assert np.max(np.abs(out - booster.inplace_predict(test))) < 1e-6


def test_bad_input_raises_python_errors_not_crashes() -> None:
    raw, _ = _model(1, 3, 5)
    native = native_forest(parse_forest(load_document(raw)))
    with pytest.raises(ValueError, match="takes 12 values"):
        native.predict_row([1.0, 2.0])
    with pytest.raises(TypeError):
        native.predict_row(["a"] * 12)
    with pytest.raises(TypeError):
        native.predict_row(42)
    with pytest.raises(ValueError):
        native.predict_matrix(np.zeros(13), np.zeros(1))
    from churnml.scoring import _native_trees

    with pytest.raises(ValueError):  # a child that points backwards would loop forever
        _native_trees.Forest(b"\0\0\0\0" * 3, np.array([1, -1, -1], np.int32).tobytes(),
                             np.array([0, -1, -1], np.int32).tobytes(), b"\0\0\0", np.zeros(3).tobytes(),
                             np.zeros(3).tobytes(), np.array([0], np.int32).tobytes(), 1, 0.0)


@pytest.mark.parametrize(("depth", "rounds", "base"), [(1, 1, None), (4, 150, None), (8, 60, 0.3)])
def test_native_treeshap_equals_python_and_xgboost(depth: int, rounds: int, base: float | None) -> None:
    raw, test = _model(11, depth, rounds, base)
    compiled = CompiledModel.from_json(raw)
    native = native_forest(parse_forest(load_document(raw)))
    rows = [[None if np.isnan(v) else float(v) for v in row] for row in test[:60]]
    python_phi = np.array([compiled.contributions_row(r) for r in rows])
    native_phi = np.array([[*native.contributions_row(r), compiled.expected_value()] for r in rows])
    assert np.max(np.abs(native_phi - python_phi)) < 1e-12
    booster = xgb.Booster()
    booster.load_model(bytearray(raw))
    expected = booster.predict(xgb.DMatrix(test[:60]), pred_contribs=True)
    assert np.max(np.abs(native_phi - expected)) < 1e-4  # xgboost sums in float32
    margins = [native.margin_row(r) for r in rows]
    np.testing.assert_allclose(native_phi.sum(axis=1), margins, rtol=0, atol=1e-9)


def test_treeshap_needs_cover_and_checks_rows() -> None:
    raw, _ = _model(2, 3, 5)
    forest = parse_forest(load_document(raw))
    native = native_forest(forest)
    with pytest.raises(ValueError, match="takes 12 values"):
        native.contributions_row([1.0])
    from churnml.scoring import _native_trees

    bare = _native_trees.Forest(np.array([0, 0, 0], np.int32).tobytes(), np.array([1, -1, -1], np.int32).tobytes(),
                                np.array([2, -1, -1], np.int32).tobytes(), b"\0\0\0", np.zeros(3).tobytes(),
                                np.array([0.0, -1.0, 1.0]).tobytes(), np.array([0], np.int32).tobytes(), 1, 0.0)
    assert bare.predict_row([0.5]) > 0.5
    with pytest.raises(ValueError, match="without cover"):
        bare.contributions_row([0.5])
    zero = _native_trees.Forest(np.array([0, 0, 0], np.int32).tobytes(), np.array([1, -1, -1], np.int32).tobytes(),
                                np.array([2, -1, -1], np.int32).tobytes(), b"\0\0\0", np.zeros(3).tobytes(),
                                np.array([0.0, -1.0, 1.0]).tobytes(), np.array([0], np.int32).tobytes(), 1, 0.0,
                                np.zeros(3).tobytes())
    with pytest.raises(ValueError, match="zero cover"):
        zero.contributions_row([0.5])


def _edge_rows(raw: bytes, rows: int, seed: int) -> np.ndarray:
    """Rows full of the values a float32 walk could get wrong: every split's threshold,
    its float32 and float64 neighbours, ±inf, values past float32's range, NaN."""
    forest = parse_forest(load_document(raw))
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(rows, forest.n_features))
    specials: list[float] = [np.inf, -np.inf, np.nan, 3.5e38, -3.5e38, 1e300, 0.0, -0.0]
    for tree in forest.trees:
        for cutoff in tree.cutoff:
            if np.isfinite(cutoff):
                c32 = np.float32(cutoff)
                below, above = np.nextafter(c32, np.float32(-np.inf)), np.nextafter(c32, np.float32(np.inf))
                specials += [cutoff, np.nextafter(cutoff, -np.inf), float(c32), float(below), float(above)]
    picks = rng.random(x.shape) < 0.5
    x[picks] = rng.choice(np.array(specials), size=int(picks.sum()))
    return x


@pytest.mark.parametrize(("depth", "rounds", "rows"), [(1, 3, 1), (4, 150, 1000), (6, 40, 129), (8, 60, 777),
                                                      (13, 20, 300)])
@pytest.mark.parametrize("threads", [1, 2])
def test_vector_walk_equals_node_walk_exactly(depth: int, rounds: int, rows: int, threads: int) -> None:
    """The AVX2 perfect-tree walk (float32 inputs and cutoffs) and the node walk give
    bit-identical probabilities, edge values included; depth 13 takes the node walk."""
    raw, _ = _model(5, depth, rounds)
    native = native_forest(parse_forest(load_document(raw)))
    x = np.ascontiguousarray(_edge_rows(raw, rows, depth), dtype=np.float64)
    vector, node = np.empty(rows), np.empty(rows)
    native.predict_matrix(x, vector, threads)
    native.predict_matrix(x, node, threads, 1)
    np.testing.assert_array_equal(vector, node)
    compiled = CompiledModel.from_json(raw)
    python_p = [compiled.predict_row([None if np.isnan(v) else float(v) for v in row]) for row in x[:200]]
    np.testing.assert_allclose(vector[:200], python_p, rtol=0, atol=1e-12)  # Python sums in another order


def test_prediction_in_a_background_thread_equals_predict_matrix() -> None:
    raw, test = _model(3, 4, 100)
    native = native_forest(parse_forest(load_document(raw)))
    x = np.ascontiguousarray(np.vstack([test] * 20), dtype=np.float64)
    expected = np.empty(len(x))
    native.predict_matrix(x, expected)
    outs = [np.empty(len(x)) for _ in range(3)]
    pendings = [native.predict_matrix_start(x, out) for out in outs]  # three at once
    for pending in pendings:
        pending.wait()
        pending.wait()  # a second wait is a no-op
    for out in outs:
        np.testing.assert_array_equal(out, expected)
    # dropped without wait(): waited for on the way out, never left writing freed memory
    dropped = np.empty(len(x))
    native.predict_matrix_start(x, dropped)
    np.testing.assert_array_equal(dropped, expected)
    with pytest.raises(ValueError):
        native.predict_matrix_start(np.zeros(13), np.zeros(1))
    with pytest.raises(ValueError):
        native.predict_matrix_start(x, np.zeros(3))
    with pytest.raises(TypeError):
        native.predict_matrix_start(x, b"read-only output")
