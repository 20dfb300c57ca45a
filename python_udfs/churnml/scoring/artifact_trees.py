"""Validation of one tree of an XGBoost model document (see `churnml.scoring.artifact`).

Every field xgboost's `RegTree::LoadModel` reads is checked here, with the types its
reader demands, because xgboost itself trusts them: a `parents` entry outside the
node array is read as an index (the crash of issue 19), a child index past the end
sends prediction out of bounds, a split index past num_feature reads past the row.

What a tree must be:

- `tree_param`: decimal strings; num_nodes = the length of every node array,
  num_feature = the model's, size_leaf_vector 0 or 1 (more is a vector-leaf tree),
  num_deleted = the number of deleted nodes;
- node arrays of num_nodes entries. In a JSON document (and an untyped UBJ one) floats
  must be JSON floats and indices JSON integers, as xgboost's reader requires; in a
  UBJ document whose `parents` is a typed int32 array, every array must be the typed
  array xgboost writes (float32 `d`, int32 `l`, uint8 `U`, split indices `l` or `L`);
- from the root (node 0) the children form a tree: both children -1 (a leaf) or two
  distinct nodes in 1..num_nodes-1 that no other node claims, at most MAX_TREE_DEPTH
  levels; parents[i] names the node whose child i is (the root's is 2147483647 or -1);
- every node reachable from the root splits on a feature in 0..num_feature-1 (leaves
  keep the index of the split they once were, so theirs is checked too);
- a node the root cannot reach must be one xgboost's pruner deleted: a leaf with
  split index 2147483647, default_left 1 and a parent inside the tree;
- every float finite and within float32 range, sum_hessian >= 0, default_left 0 or 1;
- `split_type` all 0 and the category arrays empty (categorical splits are not scored).

The result, `ValidTree`, holds only the reachable nodes, renumbered in their original
order, so the canonical document never carries a deleted node.
"""

from __future__ import annotations

import math
import struct
from array import array
from dataclasses import dataclass
from typing import Any

from churnml.errors import DataCorrupted, InvalidParameter
from churnml.scoring.ubjson import TypedArray

# Deeper trees are refused: TreeSHAP recurses once per level, and xgboost does not
# grow such trees from real data.
MAX_TREE_DEPTH = 256
MAX_NODES_PER_TREE = 1 << 17  # 131,072: a complete tree of depth 16
ROOT_PARENT = 2147483647  # what xgboost writes as the root's parent (its -1 without the left-child bit)
DELETED_SPLIT = 2147483647  # a deleted node's split index, as xgboost writes it
INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1

FLOAT_ARRAYS = ("loss_changes", "sum_hessian", "base_weights", "split_conditions")
CATEGORY_ARRAYS = {"categories": "l", "categories_nodes": "l", "categories_segments": "L", "categories_sizes": "L"}
MALFORMED_HINT = ('Save the model with booster.save_raw("json") or booster.save_raw("ubj") from xgboost '
                  "and register it again.")
UNSUPPORTED_HINT = ("churnml scores gbtree or dart boosters trained with objective binary:logistic "
                    "on numerical features.")


def malformed(what: str, detail: str | None = None) -> DataCorrupted:
    return DataCorrupted(f"malformed XGBoost model: {what}", detail=detail, hint=MALFORMED_HINT)


def unsupported(what: str, detail: str | None = None) -> InvalidParameter:
    return InvalidParameter(f"unsupported XGBoost model: {what}", detail=detail, hint=UNSUPPORTED_HINT)


@dataclass(frozen=True, slots=True, eq=True)
class ValidTree:
    """A validated tree: reachable nodes only, children after renumbering; a leaf has left == -1.

    The node arrays are compact `array`s (int32, float64) and `bytes` (0/1), 4-8 bytes a node
    instead of a Python object each: a model of a million nodes is read into tens of MB, not hundreds.
    Nothing changes them once built."""

    left: array[int]  # int32
    right: array[int]  # int32
    split_index: array[int]  # int32
    split_condition: array[float]  # float64 holding float32 values: the threshold, or the leaf value on a leaf
    default_left: bytes  # 0 or 1
    loss_change: array[float]  # float64
    sum_hessian: array[float]  # float64
    base_weight: array[float]  # float64
    depth: int  # splits on the longest root-to-leaf path

    __hash__ = None  # type: ignore[assignment]  # arrays are not hashable

    @property
    def parents(self) -> list[int]:
        parents = [ROOT_PARENT] * len(self.left)
        for node, (left, right) in enumerate(zip(self.left, self.right, strict=True)):
            if left != -1:
                parents[left] = parents[right] = node
        return parents


def decimal_text(value: Any, where: str, *, limit: int = INT32_MAX) -> int:
    """A parameter xgboost stores as a decimal string ("20"): digits only, at most `limit`."""
    if not isinstance(value, str):
        raise malformed(f"{where} is not a string", detail=f"Found {_type_name(value)}; xgboost writes it as text.")
    if not (value.isascii() and value.isdigit() and len(value) <= 10) or (len(value) > 1 and value[0] == "0"):
        raise malformed(f"{where} is not a non-negative decimal integer", detail=f"Found {value[:20]!r}.")
    number = int(value)
    if number > limit:
        raise malformed(f"{where} is {number}, more than the limit of {limit}")
    return number


def _type_name(value: Any) -> str:
    if isinstance(value, TypedArray):
        return f"a typed UBJ array of {value.item_type}"
    return {bool: "a boolean", int: "an integer", float: "a float", str: "a string", list: "an array",
            dict: "an object", type(None): "null"}.get(type(value), type(value).__name__)


def _array(tree: dict[str, Any], key: str, n: int, typed: bool, types: str, where: str) -> list[Any]:
    """tree[key]: an array of n items, typed (of one of `types`) iff the tree's arrays are."""
    if key not in tree:
        raise malformed(f"{where} has no {key}")
    values = tree[key]
    if not isinstance(values, list):
        raise malformed(f"{where} {key} is not an array", detail=f"Found {_type_name(values)}.")
    if typed != isinstance(values, TypedArray) or (isinstance(values, TypedArray) and values.item_type not in types):
        expected = f"a typed UBJ array of {' or '.join(types)}" if typed else "an untyped array"
        raise malformed(f"{where} {key} is {_type_name(values)}, not {expected}",
                        detail="xgboost reads a tree's arrays all typed (as it writes UBJ) or all untyped (JSON).")
    if len(values) != n:
        raise malformed(f"{where} {key} has {len(values)} entries, not num_nodes ({n})")
    return values


def _floats(tree: dict[str, Any], key: str, n: int, typed: bool, where: str) -> tuple[float, ...]:
    values = _array(tree, key, n, typed, "d", where)
    if not typed:
        if not set(map(type, values)) <= {float}:  # map/set run in C: no per-node Python work on good input
            index = next(i for i, v in enumerate(values) if type(v) is not float)
            raise malformed(f"{where} {key}[{index}] is {_type_name(values[index])}, not a float",
                            detail="xgboost reads only JSON numbers with a fraction or exponent here.")
        try:  # float32 rounding of all of them at once, in C; beyond float32 range is refused
            values = struct.unpack(f"<{n}f", struct.pack(f"<{n}f", *values))
        except OverflowError:
            index = next(i for i, v in enumerate(values) if _beyond_float32(v))
            raise malformed(f"{where} {key}[{index}] is beyond float32 range") from None
    if not all(map(math.isfinite, values)):
        index = next(i for i, v in enumerate(values) if not math.isfinite(v))
        raise malformed(f"{where} {key}[{index}] is {values[index]}, not a finite number")
    return tuple(values)


def _beyond_float32(value: float) -> bool:
    try:
        struct.pack("<f", value)
    except OverflowError:
        return True
    return False


def _ints(tree: dict[str, Any], key: str, n: int, typed: bool, where: str, types: str = "l") -> list[int]:
    values = _array(tree, key, n, typed, types, where)
    if not typed and not set(map(type, values)) <= {int}:
        index = next(i for i, v in enumerate(values) if type(v) is not int)
        raise malformed(f"{where} {key}[{index}] is {_type_name(values[index])}, not an integer")
    return values


def _flags(tree: dict[str, Any], n: int, typed: bool, where: str) -> list[int]:
    values = _array(tree, "default_left", n, typed, "U", where)
    if not (set(map(type, values)) <= {int, bool} and set(values) <= {0, 1}):
        index = next(i for i, v in enumerate(values) if type(v) not in (int, bool) or v not in (0, 1))
        raise malformed(f"{where} default_left[{index}] is {_short(values[index])}, not 0 or 1")
    return [int(v) for v in values]


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 24 else _type_name(value)


def _check_categories(tree: dict[str, Any], n: int, typed: bool, where: str) -> None:
    """split_type all 0 and no category sets: the only form churnml scores (xgboost reads
    the category arrays only when split_type is there)."""
    if "split_type" not in tree:
        return
    kinds = _ints(tree, "split_type", n, typed, where, "U")
    for key, item_type in CATEGORY_ARRAYS.items():
        if key not in tree:
            raise malformed(f"{where} has split_type but no {key}")
        values = tree[key]
        if not isinstance(values, list) or typed != isinstance(values, TypedArray) or (
                isinstance(values, TypedArray) and values.item_type != item_type):
            raise malformed(f"{where} {key} is {_type_name(values)}, not an {'typed ' if typed else ''}array")
        if values:
            raise unsupported("categorical splits", detail=f"{where.capitalize()} has a category set ({key}).")
    if any(kind != 0 for kind in kinds):
        if any(kind != 1 for kind in kinds if kind != 0):
            raise malformed(f"{where} split_type holds a value other than 0 or 1")
        raise unsupported("categorical splits", detail=f"{where.capitalize()} splits on a category set.")


def _tree_param(tree: dict[str, Any], n_features: int, where: str) -> tuple[int, int]:
    param = tree.get("tree_param")
    if not isinstance(param, dict):
        raise malformed(f"{where} tree_param is missing or not an object")
    for key in ("num_nodes", "num_feature", "size_leaf_vector"):
        if key not in param:
            raise malformed(f"{where} tree_param has no {key}")
    n_nodes = decimal_text(param["num_nodes"], f"{where} tree_param.num_nodes", limit=MAX_NODES_PER_TREE)
    if n_nodes == 0:
        raise malformed(f"{where} has no nodes")
    if decimal_text(param["size_leaf_vector"], f"{where} tree_param.size_leaf_vector") > 1:
        raise unsupported("vector-leaf (multi-target) trees")
    tree_features = decimal_text(param["num_feature"], f"{where} tree_param.num_feature")
    if tree_features != n_features:
        raise malformed(f"{where} tree_param.num_feature is {tree_features}, not the model's num_feature "
                        f"({n_features})")
    deleted = decimal_text(param.get("num_deleted", "0"), f"{where} tree_param.num_deleted")
    return n_nodes, deleted


def validate_tree(tree: Any, index: int, n_features: int) -> ValidTree:
    """Check tree `index` of a model with `n_features` inputs; see the module docstring."""
    where = f"tree {index}"
    if not isinstance(tree, dict):
        raise malformed(f"{where} is not an object", detail=f"Found {_type_name(tree)}.")
    tree_id = tree.get("id")
    if type(tree_id) is not int or tree_id != index:
        raise malformed(f"{where} has id {_short(tree_id)}, not {index}",
                        detail="xgboost places each tree by its id, so ids must be 0, 1, 2, ... in order.")
    n, num_deleted = _tree_param(tree, n_features, where)
    parents_doc = tree.get("parents")
    typed = isinstance(parents_doc, TypedArray) and parents_doc.item_type == "l"
    parents = _ints(tree, "parents", n, typed, where)
    left = _ints(tree, "left_children", n, typed, where)
    right = _ints(tree, "right_children", n, typed, where)
    split_index = _ints(tree, "split_indices", n, typed, where, "lL")
    default_left = _flags(tree, n, typed, where)
    floats = {key: _floats(tree, key, n, typed, where) for key in FLOAT_ARRAYS}
    _check_categories(tree, n, typed, where)
    order, depth = _walk(left, right, parents, where)
    hessian = floats["sum_hessian"]
    for node in order:
        if not 0 <= split_index[node] < n_features:
            raise malformed(f"{where} split_indices[{node}] is {split_index[node]}, outside 0..{n_features - 1}",
                            detail=f"Node {node} must split on one of the model's {n_features} features.")
        if hessian[node] < 0:
            raise malformed(f"{where} sum_hessian[{node}] is negative")
    _check_deleted(n, order, left, right, parents, split_index, default_left, num_deleted, where)
    return _renumbered(order, left, right, split_index, default_left, floats, depth)


def _walk(left: list[int], right: list[int], parents: list[int], where: str) -> tuple[list[int], int]:
    """The nodes reachable from the root, in id order, and the tree's depth; checks the
    children and parents of each along the way."""
    n = len(left)
    if parents[0] not in (ROOT_PARENT, -1):
        raise malformed(f"{where} parents[0] is {parents[0]}, not {ROOT_PARENT} (the root has no parent)")
    seen = bytearray(n)
    seen[0] = 1
    stack = [(0, 0)]
    depth = 0
    while stack:
        node, level = stack.pop()
        depth = max(depth, level)
        children = left[node], right[node]
        if children == (-1, -1):
            continue
        if level >= MAX_TREE_DEPTH:
            raise unsupported(f"a tree deeper than {MAX_TREE_DEPTH} levels", detail=f"{where.capitalize()} is.")
        for side, child in zip(("left", "right"), children, strict=True):
            if not 0 < child < n:
                raise malformed(f"{where} node {node} has {side} child {child}, outside 1..{n - 1}",
                                detail="A node has two children inside the tree, or -1 for both when it is a leaf.")
            if seen[child]:
                raise malformed(f"{where} is not a tree: node {child} is reached twice",
                                detail=f"Node {node} names it as its {side} child, and so does another node.")
            seen[child] = 1
            if parents[child] != node:
                raise malformed(f"{where} parents[{child}] is {parents[child]}, not the parent of node {child}",
                                detail=f"Node {child} is the {side} child of node {node}.")
            stack.append((child, level + 1))
    return [node for node in range(n) if seen[node]], depth


def _check_deleted(n: int, order: list[int], left: list[int], right: list[int], parents: list[int],
                   split_index: list[int], default_left: list[int], num_deleted: int, where: str) -> None:
    """Nodes the root cannot reach must be xgboost's deleted nodes, as many as num_deleted says."""
    deleted = n - len(order)
    if deleted:
        reached = set(order)
        for node in range(n):
            if node in reached:
                continue
            if (left[node], right[node]) != (-1, -1) or split_index[node] != DELETED_SPLIT \
                    or default_left[node] != 1:
                raise malformed(f"{where} node {node} cannot be reached from the root",
                                detail="Only nodes xgboost's pruner deleted may be outside the tree.")
            if not 0 <= parents[node] < n:
                raise malformed(f"{where} parents[{node}] is {parents[node]}, outside 0..{n - 1}",
                                detail=f"Deleted node {node} still names the node it was pruned from.")
    if deleted != num_deleted:
        raise malformed(f"{where} tree_param.num_deleted is {num_deleted}, but {deleted} nodes are deleted")


def _renumbered(order: list[int], left: list[int], right: list[int], split_index: list[int],
                default_left: list[int], floats: dict[str, tuple[float, ...]], depth: int) -> ValidTree:
    if len(order) == len(left):
        new_left, new_right = array("i", left), array("i", right)
        pick = None
    else:
        position = {node: i for i, node in enumerate(order)}
        new_left = array("i", [position[left[node]] if left[node] != -1 else -1 for node in order])
        new_right = array("i", [position[right[node]] if right[node] != -1 else -1 for node in order])
        pick = order

    def kept(values: Any) -> Any:
        return values if pick is None else [values[node] for node in pick]

    return ValidTree(
        left=new_left, right=new_right, split_index=array("i", kept(split_index)),
        split_condition=array("d", kept(floats["split_conditions"])), default_left=bytes(kept(default_left)),
        loss_change=array("d", kept(floats["loss_changes"])), sum_hessian=array("d", kept(floats["sum_hessian"])),
        base_weight=array("d", kept(floats["base_weights"])), depth=depth,
    )
