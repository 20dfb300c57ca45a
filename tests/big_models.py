"""Valid XGBoost models of a chosen size, written straight to UBJSON (xgboost's default format).

For the tests about big models (memory, cancel, the stored-artifact limit): `full_trees_ubj(4, 16, 71)`
is four complete depth-16 trees (524,284 nodes) over 71 features, as xgboost 2.x/3.x writes a
binary:logistic gbtree model, without training one (that would take minutes). numpy builds the
node arrays, so a 1.8-million-node model is written in about a second.
"""

from __future__ import annotations

import struct

import numpy as np


def _key(name: str) -> bytes:
    encoded = name.encode()
    return b"L" + struct.pack(">q", len(encoded)) + encoded


def _string(value: str) -> bytes:
    return b"S" + _key(value)


def _int(value: int) -> bytes:
    return b"l" + struct.pack(">i", value)


def _typed(item_type: str, values: np.ndarray) -> bytes:
    dtype = {"d": ">f4", "l": ">i4", "U": "u1", "L": ">i8"}[item_type]
    data = np.ascontiguousarray(values, dtype=dtype).tobytes()
    return b"[$" + item_type.encode() + b"#L" + struct.pack(">q", len(values)) + data


def _object(items: list[tuple[str, bytes]]) -> bytes:
    return b"{" + b"".join(_key(k) + v for k, v in items) + b"}"


def _array(values: list[bytes]) -> bytes:
    return b"[#L" + struct.pack(">q", len(values)) + b"".join(values)


def full_tree(index: int, depth: int, n_features: int, rng: np.random.Generator) -> bytes:
    """Tree `index`: every node down to `depth` splits (2**(depth+1) - 1 nodes, breadth first)."""
    n = 2 ** (depth + 1) - 1
    inner = 2**depth - 1
    nodes = np.arange(n)
    left = np.where(nodes < inner, 2 * nodes + 1, -1)
    right = np.where(nodes < inner, 2 * nodes + 2, -1)
    parents = np.where(nodes > 0, (nodes - 1) // 2, 2147483647)
    split_index = np.where(nodes < inner, (nodes * 7 + index) % n_features, 0)
    conditions = np.where(nodes < inner, rng.normal(size=n) * 50, rng.normal(size=n) * 0.01).astype(np.float32)
    hessian = (2.0 ** (depth - np.floor(np.log2(nodes + 1)))).astype(np.float32)
    loss = np.where(nodes < inner, rng.random(n) + 0.5, 0.0).astype(np.float32)
    empty_l = _typed("l", np.zeros(0))
    empty_big = _typed("L", np.zeros(0))
    return _object([
        ("base_weights", _typed("d", conditions)),
        ("categories", empty_l), ("categories_nodes", empty_l),
        ("categories_segments", empty_big), ("categories_sizes", empty_big),
        ("default_left", _typed("U", nodes % 2)),
        ("id", _int(index)),
        ("left_children", _typed("l", left)),
        ("loss_changes", _typed("d", loss)),
        ("parents", _typed("l", parents)),
        ("right_children", _typed("l", right)),
        ("split_conditions", _typed("d", conditions)),
        ("split_indices", _typed("l", split_index)),
        ("split_type", _typed("U", np.zeros(n))),
        ("sum_hessian", _typed("d", hessian)),
        ("tree_param", _object([("num_deleted", _string("0")), ("num_feature", _string(str(n_features))),
                                ("num_nodes", _string(str(n))), ("size_leaf_vector", _string("1"))])),
    ])


def full_trees_ubj(n_trees: int, depth: int, n_features: int, *, feature_names: list[str] | None = None,
                   base_score: str = "[5E-1]", seed: int = 0) -> bytes:
    """A binary:logistic gbtree model of `n_trees` complete trees of `depth`, as UBJSON bytes."""
    rng = np.random.default_rng(seed)
    trees = [full_tree(i, depth, n_features, rng) for i in range(n_trees)]
    names = _array([_string(n) for n in feature_names]) if feature_names else _array([])
    types = _array([_string("float")] * n_features) if feature_names else _array([])
    model = _object([
        ("gbtree_model_param", _object([("num_parallel_tree", _string("1")), ("num_trees", _string(str(n_trees)))])),
        ("iteration_indptr", _array([_int(i) for i in range(n_trees + 1)])),
        ("tree_info", _array([_int(0)] * n_trees)),
        ("trees", _array(trees)),
    ])
    learner = _object([
        ("attributes", _object([])),
        ("feature_names", names),
        ("feature_types", types),
        ("gradient_booster", _object([("model", model), ("name", _string("gbtree"))])),
        ("learner_model_param", _object([("base_score", _string(base_score)), ("boost_from_average", _string("1")),
                                         ("num_class", _string("0")), ("num_feature", _string(str(n_features))),
                                         ("num_target", _string("1"))])),
        ("objective", _object([("name", _string("binary:logistic")),
                               ("reg_loss_param", _object([("scale_pos_weight", _string("1"))]))])),
    ])
    return _object([("learner", learner), ("version", _array([_int(v) for v in (3, 2, 0)]))])
