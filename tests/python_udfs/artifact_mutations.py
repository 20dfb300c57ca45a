"""Structure-aware mutations of XGBoost model artifacts, for test_scoring_artifact_fuzz.

Every mutant is made from a real model (JSON or UBJSON, trained in the test) by one
mutation of a known kind, chosen by a seeded generator: mutant i of a run is the same
on every machine, so a saved mutant can always be made again.
"""

from __future__ import annotations

import json
import random
import struct
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from churnml.scoring import ubjson
from churnml.scoring.ubjson import TypedArray

INT32_MAX, INT32_MIN = 2**31 - 1, -(2**31)
F32_MAX = 3.4028234663852886e38
TREE_FLOAT_ARRAYS = ("loss_changes", "sum_hessian", "base_weights", "split_conditions")
TREE_INT_ARRAYS = ("left_children", "right_children", "parents", "split_indices")
TREE_FLAG_ARRAYS = ("default_left", "split_type")
TREE_CATEGORY_ARRAYS = ("categories", "categories_nodes", "categories_segments", "categories_sizes")
TREE_ARRAYS = TREE_FLOAT_ARRAYS + TREE_INT_ARRAYS + TREE_FLAG_ARRAYS + TREE_CATEGORY_ARRAYS


@dataclass(frozen=True)
class Base:
    """A trained model in both of xgboost's formats."""

    name: str
    raw: dict[str, bytes]  # "json" / "ubj" -> the bytes xgboost wrote
    doc: dict[str, Any]  # "json" / "ubj" -> the decoded document (typed arrays kept for UBJ)


@dataclass(frozen=True)
class Mutant:
    index: int
    kind: str
    what: str  # the mutation, for a reader of a saved mutant
    fmt: str
    data: bytes


def make_base(name: str, booster: Any) -> Base:
    raw = {"json": bytes(booster.save_raw("json")), "ubj": bytes(booster.save_raw("ubj"))}
    return Base(name, raw, {"json": json.loads(raw["json"]), "ubj": ubjson.decode(raw["ubj"])})


# --------------------------------------------------------------------------- encoding


def clone(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: clone(v) for k, v in value.items()}
    if isinstance(value, TypedArray):
        return TypedArray([clone(v) for v in value], value.item_type)
    if isinstance(value, list):
        return [clone(v) for v in value]
    return value


def _int64(n: int) -> bytes:
    return struct.pack(">q", n)


def _fits(value: Any, item_type: str) -> bool:
    if item_type == "d":
        if type(value) is not float:
            return False
        try:
            struct.pack(">f", value)
        except OverflowError:
            return False
        return True
    bounds = {"U": (0, 255), "l": (INT32_MIN, INT32_MAX), "L": (-(2**63), 2**63 - 1)}[item_type]
    return type(value) is int and bounds[0] <= value <= bounds[1]


def encode_ubj(value: Any) -> bytes:
    """UBJSON as xgboost's writer makes it; a typed array whose items no longer fit its type is
    written untyped, and a float beyond float32 as float64 (D), which xgboost never writes."""
    if isinstance(value, dict):
        parts = [b"{"]
        for key, item in value.items():
            encoded = key.encode("utf-8", "surrogatepass")
            parts += [b"L", _int64(len(encoded)), encoded, encode_ubj(item)]
        return b"".join([*parts, b"}"])
    if isinstance(value, TypedArray) and all(_fits(v, value.item_type) for v in value):
        fmt = {"d": "f", "U": "B", "l": "i", "L": "q"}[value.item_type]
        body = struct.pack(f">{len(value)}{fmt}", *value)
        return b"[$" + value.item_type.encode() + b"#L" + _int64(len(value)) + body
    if isinstance(value, list):
        return b"[#L" + _int64(len(value)) + b"".join(encode_ubj(v) for v in value)
    if value is True or value is False:
        return b"T" if value else b"F"
    if isinstance(value, int):
        for marker, fmt, low, high in ((b"i", ">b", -128, 127), (b"I", ">h", -(2**15), 2**15 - 1),
                                       (b"l", ">i", INT32_MIN, INT32_MAX)):
            if low < value < high:  # xgboost's writer compares strictly
                return marker + struct.pack(fmt, value)
        return b"L" + struct.pack(">q", max(-(2**63), min(2**63 - 1, value)))
    if isinstance(value, float):
        try:
            return b"d" + struct.pack(">f", value)
        except OverflowError:
            return b"D" + struct.pack(">d", value)
    if isinstance(value, str):
        encoded = value.encode("utf-8", "surrogatepass")
        return b"S" + b"L" + _int64(len(encoded)) + encoded
    if value is None:
        return b"Z"
    raise TypeError(type(value))


def encode(doc: Any, fmt: str) -> bytes:
    if fmt == "ubj":
        return encode_ubj(doc)
    return json.dumps(doc, separators=(",", ":")).encode("utf-8", "surrogatepass")


# --------------------------------------------------------------------------- document access


def booster_model(doc: dict[str, Any]) -> dict[str, Any]:
    booster = doc["learner"]["gradient_booster"]
    return booster["gbtree"]["model"] if booster["name"] == "dart" else booster["model"]


def trees(doc: dict[str, Any]) -> list[dict[str, Any]]:
    return booster_model(doc)["trees"]


def f32(value: float) -> float:
    return struct.unpack(">f", struct.pack(">f", value))[0]


def _int_values(rng: random.Random, value: Any, n: int) -> list[Any]:
    v = value if type(value) is int else 0
    return [v + 1, v - 1, -v, -1, -2, -5, 0, n, n - 1, n + 1, INT32_MAX, INT32_MIN, 2**31, 2**32 + v,
            2**63 - 1, 10**30, float(v), str(v), True, None, [v], {}, 0.5, rng.randrange(-n, 2 * n)]


def _float_values(rng: random.Random, value: Any) -> list[Any]:
    v = value if type(value) is float else 0.0
    return [f32(v + 1), f32(v - 1), -v, 0.0, -0.0, f32(v * 2), F32_MAX, -F32_MAX, 1e39, -1e39, 2.0**-149,
            float("nan"), float("inf"), float("-inf"), int(v), str(v), True, None, [v], 1e300,
            f32(rng.uniform(-10, 10))]


def _flag_values(rng: random.Random, value: Any) -> list[Any]:
    return [0, 1, 2, -1, 255, 256, True, False, 0.0, 1.0, "1", None, rng.randrange(-3, 4)]


def _new_value(rng: random.Random, key: str, value: Any, n: int) -> Any:
    if key in TREE_FLOAT_ARRAYS:
        return rng.choice(_float_values(rng, value))
    if key in TREE_FLAG_ARRAYS:
        return rng.choice(_flag_values(rng, value))
    return rng.choice(_int_values(rng, value, n))


def _tree(rng: random.Random, doc: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    all_trees = trees(doc)
    index = rng.randrange(len(all_trees))
    return index, all_trees[index]


def _node(rng: random.Random, n: int) -> int:
    return rng.choice([0, n - 1, rng.randrange(n)])


# --------------------------------------------------------------------------- mutators
# Each changes `doc` in place and returns a description, or returns bytes-level mutants.


def tree_value(rng: random.Random, doc: dict[str, Any]) -> str:
    t, tree = _tree(rng, doc)
    key = rng.choice([k for k in TREE_ARRAYS if k in tree and len(tree[k])])
    node = _node(rng, len(tree[key]))
    tree[key][node] = new = _new_value(rng, key, tree[key][node], len(tree["left_children"]))
    return f"tree {t} {key}[{node}] = {new!r}"[:200]


def tree_array_shape(rng: random.Random, doc: dict[str, Any]) -> str:
    t, tree = _tree(rng, doc)
    key = rng.choice([k for k in TREE_ARRAYS if k in tree])
    values = tree[key]
    change = rng.choice(["shorten", "lengthen", "empty", "scalar", "object", "text", "untype", "retype", "swap"])
    if change == "shorten" and values:
        values.pop(rng.randrange(len(values)))
    elif change == "lengthen":
        values.append(values[-1] if values else 0)
    elif change == "empty":
        values.clear()
    elif change == "scalar":
        tree[key] = rng.choice([0, 1.0, True, None])
    elif change == "object":
        tree[key] = {"0": values[:1]}
    elif change == "text":
        tree[key] = json.dumps(values)[:50]
    elif change == "untype":
        tree[key] = list(values)
    elif change == "retype":
        tree[key] = TypedArray(values, rng.choice("dUlL"))
    else:
        other = rng.choice([k for k in TREE_ARRAYS if k in tree])
        tree[key], tree[other] = tree[other], tree[key]
        change = f"swap with {other}"
    return f"tree {t} {key}: {change}"


def _children(tree: dict[str, Any], node: int) -> list[int]:
    left, right = tree["left_children"][node], tree["right_children"][node]
    return [] if left == -1 else [left, right]


def _internal(tree: dict[str, Any]) -> list[int]:
    return [i for i, left in enumerate(tree["left_children"]) if left != -1]


def tree_structure(rng: random.Random, doc: dict[str, Any]) -> str:
    t, tree = _tree(rng, doc)
    inner = _internal(tree)
    if not inner:
        return "no change (a single leaf)"
    node = rng.choice(inner)
    n = len(tree["left_children"])
    change = rng.choice(["cycle", "dag", "swap", "leafify", "one-child", "self", "parent-swap"])
    side = rng.choice(["left_children", "right_children"])
    if change == "cycle":
        tree[side][node] = rng.choice([0, node])
    elif change == "dag":
        tree[side][node] = rng.randrange(1, n)
    elif change == "swap":
        tree["left_children"][node], tree["right_children"][node] = \
            tree["right_children"][node], tree["left_children"][node]
    elif change == "leafify":  # a leaf now, its subtree left in place but not marked deleted
        tree["left_children"][node] = tree["right_children"][node] = -1
    elif change == "one-child":
        tree[side][node] = -1
    elif change == "self":
        tree["parents"][node] = node
    else:
        a, b = rng.randrange(n), rng.randrange(n)
        tree["parents"][a], tree["parents"][b] = tree["parents"][b], tree["parents"][a]
    return f"tree {t} node {node}: {change} ({side})"


def delete_subtree(rng: random.Random, doc: dict[str, Any]) -> str:
    """What xgboost's pruner does: a split becomes a leaf, its descendants deleted nodes. Valid."""
    t, tree = _tree(rng, doc)
    inner = _internal(tree)
    if not inner:
        return "no change (a single leaf)"
    node = rng.choice(inner)
    stack, gone = _children(tree, node), 0
    tree["left_children"][node] = tree["right_children"][node] = -1
    while stack:
        child = stack.pop()
        stack += _children(tree, child)
        tree["left_children"][child] = tree["right_children"][child] = -1
        tree["split_indices"][child] = 2147483647
        tree["default_left"][child] = 1
        gone += 1
    param = tree["tree_param"]
    param["num_deleted"] = str(int(param.get("num_deleted", "0")) + gone)
    if rng.random() < 0.3:  # and sometimes forget to count them
        param["num_deleted"] = str(int(param["num_deleted"]) + rng.choice([-1, 1]))
    return f"tree {t}: node {node} pruned, {gone} nodes deleted"


def tree_param(rng: random.Random, doc: dict[str, Any]) -> str:
    t, tree = _tree(rng, doc)
    n = len(tree["left_children"])
    key = rng.choice(["num_nodes", "num_feature", "num_deleted", "size_leaf_vector", "id"])
    values = [str(n + 1), str(n - 1), "0", "-1", "abc", "", " 5", "+5", "05", "2147483648", "99999999999", 5, 5.0,
              None, "1", "2", "3"]
    if key == "id":
        tree["id"] = new = rng.choice([t + 1, t - 1, -1, str(t), float(t), None, 2**31, True])
    else:
        tree["tree_param"][key] = new = rng.choice(values)
    return f"tree {t} {key} = {new!r}"


def learner_param(rng: random.Random, doc: dict[str, Any]) -> str:
    learner = doc["learner"]
    choice = rng.randrange(7)
    if choice == 0:
        key = rng.choice(["num_feature", "num_class", "num_target", "boost_from_average"])
        new = rng.choice(["0", "1", "2", "3", "-1", "", "abc", "12", "13", "11", "100001", "4294967296", 1, None])
        learner["learner_model_param"][key] = new
    elif choice == 1:
        key = "base_score"
        new = rng.choice(["[5E-1]", "5E-1", "[0.25]", "0.75", "[1E0]", "[0E0]", "[-0.5]", "[1.5]", "[NaN]", "[inf]",
                          "", "[", "]", "[]", "[0.5,0.5]", "(0.5)", "[1e-50]", "[0.99999999]", 0.5, None, "[1]",
                          "[ 0.5]", "[0.5] "])
        learner["learner_model_param"][key] = new
    elif choice == 2:
        key = "objective"
        new = rng.choice(["binary:logitraw", "reg:squarederror", "multi:softprob", "", 5, None, "binary:logistic"])
        learner["objective"]["name"] = new
        if rng.random() < 0.5:
            learner["objective"]["reg_loss_param"] = rng.choice([{"scale_pos_weight": "-1"}, {"scale_pos_weight": 1},
                                                                 {"scale_pos_weight": "2"}, {}, [], "1"])
    elif choice == 3:
        key = rng.choice(["feature_names", "feature_types"])
        n = int(learner["learner_model_param"]["num_feature"])
        new = rng.choice([[], ["a"] * (n - 1), ["a"] * (n + 1), ["q"] * n, ["c"] + ["q"] * (n - 1), ["int"] * n,
                          ["x"] * n, [1] * n, ["a\nb"] * n, "q", None, [f"f{i}" for i in range(n)]])
        learner[key] = new
    elif choice == 4:
        key = "attributes"
        new = rng.choice([{}, {"best_iteration": "3"}, {"a": 1}, [], None, {"a": "x" * 20000}, {"\x01": "y"}])
        learner[key] = new
    elif choice == 5:
        key = "version"
        new = rng.choice([[3, 2, 0], [2, 1, 4], [1, 0, 0], [], [3], [3, 2], ["3", 2, 0], [-1, 0, 0], [3.0, 2, 0],
                          [3, 2, 0, 1], None, TypedArray([3, 2, 0], "l")])
        doc[key] = new
    else:
        key = "learner"
        new = rng.choice([[], None, "x", {}])
        doc["learner"] = new
    return f"{key} = {new!r}"[:200]


def booster(rng: random.Random, doc: dict[str, Any]) -> str:
    gradient_booster = doc["learner"]["gradient_booster"]
    model = booster_model(doc)
    n = len(model["trees"])
    choice = rng.randrange(8)
    if choice == 0:
        gradient_booster["name"] = new = rng.choice(["gblinear", "dart", "gbtree", "", None])
        return f"gradient_booster.name = {new!r}"
    if choice == 1:
        key = rng.choice(["num_trees", "num_parallel_tree"])
        model["gbtree_model_param"][key] = new = rng.choice([str(n + 1), str(n - 1), "0", "2", "3", "-1", "x", n])
        return f"gbtree_model_param.{key} = {new!r}"
    if choice == 2:
        index = rng.randrange(n)
        model["tree_info"][index] = new = rng.choice([1, -1, 2**31, 0.0, "0", None])
        return f"tree_info[{index}] = {new!r}"
    if choice == 3:
        indptr = model.get("iteration_indptr", [0])
        index = rng.randrange(len(indptr))
        indptr[index] = new = rng.choice([indptr[index] + 1, indptr[index] - 1, -1, 10**6, n * 2, 0])
        if rng.random() < 0.3:
            model["iteration_indptr"] = new = rng.choice([[], [0], TypedArray(list(range(n + 1)), "l")])
        return f"iteration_indptr: {new!r}"[:200]
    if choice == 4 and gradient_booster["name"] == "dart":
        weights = gradient_booster["weight_drop"]
        change = rng.choice(["value", "shorten", "lengthen", "type"])
        if change == "value":
            weights[rng.randrange(len(weights))] = rng.choice([f32(rng.uniform(-2, 2)), 0.0, float("nan"), 1e39, 1,
                                                                "1", None])
        elif change == "shorten":
            weights.pop()
        elif change == "lengthen":
            weights.append(1.0)
        else:
            gradient_booster["weight_drop"] = TypedArray([float(w) for w in weights], "d")
        return f"weight_drop: {change}"
    if choice == 5:
        model["cats"] = new = rng.choice([{"enc": [], "feature_segments": [], "sorted_idx": []}, {},
                                          {"enc": [{"type": 1, "values": [0]}], "feature_segments": [1],
                                           "sorted_idx": [0]}, [], {"enc": [], "feature_segments": [0],
                                                                   "sorted_idx": []}])
        return f"cats = {new!r}"
    trees_list = model["trees"]
    change = rng.choice(["drop", "duplicate", "swap", "not-object", "empty"])
    if change == "drop":
        trees_list.pop(rng.randrange(n))
    elif change == "duplicate":
        trees_list.append(clone(trees_list[rng.randrange(n)]))
    elif change == "swap" and n > 1:
        trees_list[0], trees_list[-1] = trees_list[-1], trees_list[0]
    elif change == "not-object":
        trees_list[rng.randrange(n)] = rng.choice([[], None, 1, "tree"])
    else:
        trees_list.clear()
    return f"trees: {change}"


def _paths(value: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    if isinstance(value, dict):
        for key, item in value.items():
            yield (*path, key)
            if isinstance(item, dict | list) and not isinstance(item, TypedArray):
                yield from _paths(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            if isinstance(item, dict):
                yield from _paths(item, (*path, index))


def deleted_key(rng: random.Random, doc: dict[str, Any]) -> str:
    # trees are many and alike: half the time pick a path inside one tree
    root: Any = doc
    prefix: tuple[Any, ...] = ()
    if rng.random() < 0.5:
        t, root = _tree(rng, doc)
        prefix = ("tree", t)
    path = rng.choice(list(_paths(root)))
    target = root
    for key in path[:-1]:
        target = target[key]
    del target[path[-1]]
    return "del " + ".".join(map(str, prefix + path))


def valid_change(rng: random.Random, doc: dict[str, Any]) -> str:
    """Changes churnml must accept and score exactly as xgboost does."""
    t, tree = _tree(rng, doc)
    n = len(tree["left_children"])
    node = rng.randrange(n)
    n_features = int(doc["learner"]["learner_model_param"]["num_feature"])
    choice = rng.randrange(8)
    if choice == 0:
        tree["split_conditions"][node] = new = f32(rng.choice([rng.uniform(-3, 3), tree["split_conditions"][node]
                                                               + rng.choice([-1e-7, 1e-7, 0.5])]))
        return f"tree {t} split_conditions[{node}] = {new!r}"
    if choice == 1 and tree["left_children"][node] != -1:
        tree["split_indices"][node] = new = rng.randrange(n_features)
        return f"tree {t} split_indices[{node}] = {new}"
    if choice == 2:
        tree["default_left"][node] = 1 - int(tree["default_left"][node])
        return f"tree {t} default_left[{node}] flipped"
    if choice == 3:
        key = rng.choice(["loss_changes", "sum_hessian", "base_weights"])
        tree[key][node] = new = f32(rng.uniform(0, 100))
        return f"tree {t} {key}[{node}] = {new!r}"
    if choice == 4:
        new = f32(rng.uniform(0.01, 0.99))
        doc["learner"]["learner_model_param"]["base_score"] = rng.choice([f"[{new!r}]", repr(new)])
        return f"base_score = {new!r}"
    if choice == 5:
        doc["learner"]["feature_names"] = [f"col_{i}" for i in range(n_features)]
        doc["learner"]["feature_types"] = [rng.choice(["q", "float", "int", "i"]) for _ in range(n_features)]
        return "feature names and types"
    if choice == 6 and doc["learner"]["gradient_booster"]["name"] == "dart":
        weights = doc["learner"]["gradient_booster"]["weight_drop"]
        index = rng.randrange(len(weights))
        weights[index] = new = f32(rng.uniform(0, 2))
        return f"weight_drop[{index}] = {new!r}"
    tree["split_conditions"][node] = new = f32(rng.uniform(-5, 5))  # a leaf value, or a threshold
    return f"tree {t} split_conditions[{node}] = {new!r}"


DOC_MUTATORS: dict[str, Callable[[random.Random, dict[str, Any]], str]] = {
    "tree-value": tree_value,
    "tree-array-shape": tree_array_shape,
    "tree-structure": tree_structure,
    "tree-pruned": delete_subtree,
    "tree-param": tree_param,
    "learner": learner_param,
    "booster": booster,
    "deleted-key": deleted_key,
    "valid-change": valid_change,
}
UBJ_MARKERS = b"{}[]#$LlIiUdDSTFZCHN"
JSON_BYTES = b'{}[],:"\\0123456789eE.-+ tfn\x00\xff'


def truncation(rng: random.Random, data: bytes) -> tuple[str, bytes]:
    cut = rng.choice([rng.randrange(len(data)), len(data) - rng.randrange(1, 64), rng.randrange(64)])
    return f"cut at {cut} of {len(data)}", data[:cut]


def ubj_marker(rng: random.Random, data: bytes) -> tuple[str, bytes]:
    at = rng.randrange(len(data))
    new = rng.choice([rng.choice(UBJ_MARKERS), rng.randrange(256)])
    return f"byte {at} = {new:#04x}", data[:at] + bytes([new]) + data[at + 1 :]


def ubj_count(rng: random.Random, data: bytes) -> tuple[str, bytes]:
    """A count or length (the int64 after an L marker) set to an edge value."""
    spots = [i + 1 for i in range(len(data) - 9) if data[i] == ord("L")]
    at = rng.choice(spots)
    old = struct.unpack_from(">q", data, at)[0]
    new = rng.choice([0, -1, old - 1, old + 1, old * 2, 2**31, 2**32, 2**62, 2**63 - 1, -(2**63), len(data)])
    return f"count at {at}: {old} -> {new}", data[:at] + struct.pack(">q", new) + data[at + 8 :]


def json_bytes(rng: random.Random, data: bytes) -> tuple[str, bytes]:
    change = rng.choice(["byte", "escape", "duplicate", "space"])
    if change == "byte":
        at = rng.randrange(len(data))
        new = rng.choice([rng.choice(JSON_BYTES), rng.randrange(256)])
        return f"byte {at} = {new:#04x}", data[:at] + bytes([new]) + data[at + 1 :]
    if change == "escape":
        at = data.index(b'"', rng.randrange(len(data) // 2)) + 1
        escape = rng.choice([b"\\u0041", b"\\/", b"\\b", b"\\f", b"\\n", b"\\t", b"\\\\", b"\\x"])
        return f"escape {escape!r} at {at}", data[:at] + escape + data[at:]
    if change == "duplicate":
        key = rng.choice([b'"parents":', b'"num_feature":', b'"left_children":', b'"base_score":'])
        at = data.index(key)
        end = data.index(b"]" if key.endswith(b'children":') or key == b'"parents":' else b'",', at) + 1
        return f"duplicate {key!r}", data[:at] + data[at:end] + b"," + data[at:]
    return "leading space", b" " + data


BYTE_MUTATORS: dict[str, tuple[str, Callable[[random.Random, bytes], tuple[str, bytes]]]] = {
    "truncation": ("any", truncation),
    "ubj-marker": ("ubj", ubj_marker),
    "ubj-count": ("ubj", ubj_count),
    "json-bytes": ("json", json_bytes),
}
KINDS = list(DOC_MUTATORS) + list(BYTE_MUTATORS)


def mutant(bases: list[Base], seed: int, index: int) -> Mutant:
    """Mutant `index` of the run `seed`: kinds in turn, everything else drawn from (seed, index)."""
    rng = random.Random(f"{seed}/{index}")
    kind = KINDS[index % len(KINDS)]
    base = rng.choice(bases)
    if kind in DOC_MUTATORS:
        fmt = rng.choice(["json", "ubj"])
        doc = clone(base.doc[fmt])
        what = DOC_MUTATORS[kind](rng, doc)
        data = encode(doc, fmt)
    else:
        formats, mutate = BYTE_MUTATORS[kind]
        fmt = rng.choice(["json", "ubj"]) if formats == "any" else formats
        what, data = mutate(rng, base.raw[fmt])
    return Mutant(index, kind, f"{base.name}: {what}", fmt, data)
