"""The trees of a validated XGBoost model as churnml's evaluator reads them, with float32-exact cutoffs.

The artifact (JSON or UBJSON) is validated completely by `churnml.scoring.artifact`;
`forest_of` turns its trees into `Tree`s, which `churnml.scoring.tree_evaluator` hands
to the C evaluator. Standard library only: loading a model imports neither xgboost
nor numpy.

Exactness: XGBoost sends a row left when float32(x) < t for a float32 threshold t.
`float32_cutoff` turns every t into the float64 c with float32(x) < t ⇔ x < c, so
comparisons on float64 inputs give xgboost's paths exactly, without rounding each
input. Leaf values are xgboost's float32 values (times the dart weight).
"""

from __future__ import annotations

import math
import struct
from array import array
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from churnml import interrupts
from churnml.errors import InvalidParameter
from churnml.scoring.artifact import ModelArtifact, validate_document
from churnml.scoring.artifact_trees import ValidTree

Row = Sequence[float | None]  # one row of feature values; None (or NaN) is a missing value

_F32_MAX = struct.unpack("<f", b"\xff\xff\x7f\x7f")[0]
_F32_MIN_SUBNORMAL = 2.0**-149
_TWO_128 = 2.0**128  # the value float32 rounding treats as the next step after FLT_MAX


@dataclass(frozen=True, slots=True)
class Tree:
    """One validated regression tree. Node i is a leaf when `left[i] == -1`; node 0 is the root.

    Only reachable nodes are kept (the validator drops xgboost's deleted ones), in the
    artifact's order, which may number a child before its parent. The arrays are compact
    (`array` of int32 / float64, `bytes` of 0/1) and nothing changes them.
    """

    left: Sequence[int]  # int32 array
    right: Sequence[int]
    feature: Sequence[int]
    cutoff: Sequence[float]  # go left iff x < cutoff[i]; 0.0 on leaves (float64 array)
    default_left: Sequence[int]  # where a missing value (NaN/None) goes: 1 left, 0 right (bytes)
    value: Sequence[float]  # leaf value (a float32) times the dart weight; 0.0 on internal nodes
    cover: Sequence[float]  # sum of hessians reaching the node, for TreeSHAP
    depth: int  # number of splits on the longest root-to-leaf path

    __hash__ = None  # type: ignore[assignment]  # arrays are not hashable


@dataclass(frozen=True, slots=True)
class Forest:
    """What scoring needs from the model: the trees, the margin offset, the inputs."""

    trees: tuple[Tree, ...]
    base_margin: float  # logit(base_score): xgboost stores base_score as a probability
    n_features: int
    feature_names: tuple[str, ...] | None

    @property
    def n_nodes(self) -> int:
        return sum(len(tree.left) for tree in self.trees)


# --------------------------------------------------------------------------- float32


def _float32_bits(value: float) -> int:
    bits: int = struct.unpack("<I", struct.pack("<f", value))[0]
    return bits


def _float32_predecessor(threshold: float, bits: int) -> float:
    """The largest float32 below `threshold`, with -2**128 standing in for -inf."""
    if threshold > 0:
        return float(struct.unpack("<f", struct.pack("<I", bits - 1))[0])
    if threshold == 0:
        return -_F32_MIN_SUBNORMAL
    if threshold == -_F32_MAX:
        return -_TWO_128
    return float(struct.unpack("<f", struct.pack("<I", bits + 1))[0])


def float32_cutoff(threshold: float) -> float:
    """The float64 c such that float32(x) < threshold ⇔ x < c, for every float64 x.

    `threshold` must be a float32 value (not NaN). float32(x) < t means float32(x) is
    at most p, the float32 just below t, which holds for every x below the midpoint
    m = (p + t) / 2 and, at m itself, when rounding half to even picks p, i.e.
    when t's last significand bit is 1 (then c is the next double after m). m is
    exact in float64: p and t have 24-bit significands and adjacent exponents.
    """
    if threshold == -math.inf:
        return -math.inf
    bits = _float32_bits(threshold)
    below = _float32_predecessor(threshold, bits)
    upper = _TWO_128 if threshold == math.inf else threshold
    midpoint = (below + upper) / 2
    return midpoint if bits & 1 == 0 else math.nextafter(midpoint, math.inf)


# --------------------------------------------------------------------------- from the validated artifact


def parse_forest(doc: dict[str, Any] | ModelArtifact) -> Forest:
    """The scoring view of a model: a parsed document is validated first (churnml.scoring.artifact)."""
    return forest_of(doc if isinstance(doc, ModelArtifact) else validate_document(doc))


def forest_of(model: ModelArtifact) -> Forest:
    trees = []
    for tree, weight in zip(model.trees, model.tree_weights, strict=True):
        interrupts.check()  # ~50 ms a tree of 131,072 nodes: a cancel is honoured between trees
        trees.append(_scoring_tree(tree, weight))
    base_margin = -math.log(1.0 / model.base_score - 1.0)  # xgboost stores base_score as a probability
    return Forest(trees=tuple(trees), base_margin=base_margin, n_features=model.n_features,
                  feature_names=model.feature_names or None)


def _scoring_tree(tree: ValidTree, weight: float) -> Tree:
    """Cutoffs for float64 comparisons on splits; leaf values (times the dart weight) on leaves."""
    n = len(tree.left)
    feature = array("i", bytes(4 * n))
    cutoff = array("d", bytes(8 * n))
    default_left = bytearray(n)
    value = array("d", bytes(8 * n))
    condition, split_index, flags = tree.split_condition, tree.split_index, tree.default_left
    for node, left in enumerate(tree.left):
        if left == -1:
            value[node] = condition[node] * weight
        else:
            feature[node] = split_index[node]
            cutoff[node] = float32_cutoff(condition[node])
            default_left[node] = flags[node]
    # left, right and cover are the validated tree's own arrays: shared, not copied
    return Tree(left=tree.left, right=tree.right, feature=feature, cutoff=cutoff, default_left=bytes(default_left),
                value=value, cover=tree.sum_hessian, depth=tree.depth)


# --------------------------------------------------------------------------- rows


def clean_row(values: Any, n_features: int) -> list[float]:
    """Check a row and turn None (and other numbers) into floats, with errors users can act on.

    The evaluator reads rows of floats itself; this runs only when it refused one, to say why.
    """
    if isinstance(values, str | bytes):
        raise InvalidParameter("feature values must be a sequence of numbers, not text")
    try:
        items = list(values)
    except TypeError:
        raise InvalidParameter(
            "feature values must be a sequence of numbers", detail=f"Got {type(values).__name__}."
        ) from None
    if len(items) != n_features:
        raise InvalidParameter(
            f"the model takes {n_features} feature values, got {len(items)}",
            hint="Pass the features in the order the model was trained with; use NULL for a missing one.",
        )
    return [_clean_value(item, index) for index, item in enumerate(items)]


def _clean_value(item: Any, index: int) -> float:
    """A feature value as xgboost would see it before its float32 conversion."""
    if item is None:
        return math.nan
    if isinstance(item, str | bytes):
        raise InvalidParameter(f"feature value {index + 1} is text, not a number")
    try:
        return float(item)
    except (TypeError, ValueError, OverflowError, ArithmeticError):
        raise InvalidParameter(
            f"feature value {index + 1} is not a number", detail=f"Got {type(item).__name__}."
        ) from None
