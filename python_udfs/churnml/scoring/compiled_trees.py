"""Score an XGBoost binary:logistic model from its JSON, without importing xgboost.

Why: inside a PostgreSQL backend `will_churn(...)` runs once per row. xgboost's
`inplace_predict` costs ~220 µs per call and importing xgboost costs ~1 s and tens
of MB, while this module needs only the standard library for row scoring (numpy
is imported lazily by the matrix methods).

How: the artifact (JSON or UBJSON) is validated completely by
`churnml.scoring.artifact` and turned into `Tree`s, then Python source for the
forest is generated and compiled once: each tree is one nested conditional
expression, 32 trees are summed per statement, ~2k nodes per function (compiled
one at a time to bound the compiler's memory), and `margin(values)` unpacks the
row into locals and adds the blocks up. That measured faster than nested
if-statements, tuple-indexed leaves or a per-row loop over node arrays. The
source is built only from validated ints (feature and block indices) and the
`repr` of validated floats, never from a string of the artifact, so a crafted
model cannot inject code.

Exactness: XGBoost sends a row left when float32(x) < t for a float32 threshold
t. `float32_cutoff` turns every t into the float64 c with float32(x) < t ⇔ x < c,
so comparisons on float64 inputs give xgboost's paths exactly. Leaf values are
xgboost's float32 values; the sum is done in float64 (xgboost sums in float32),
so margins differ from xgboost's by its float32 rounding only (~1e-6).
"""

from __future__ import annotations

import math
import struct
from array import array
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from churnml import interrupts
from churnml.errors import DataCorrupted, InvalidParameter
from churnml.scoring.artifact import ModelArtifact, read_artifact, validate_document
from churnml.scoring.artifact import load_document as load_document  # re-exported: callers decode with it
from churnml.scoring.artifact_trees import MAX_TREE_DEPTH as MAX_TREE_DEPTH  # re-exported
from churnml.scoring.artifact_trees import ValidTree, malformed

if TYPE_CHECKING:
    import numpy as np

    from churnml.scoring.vector_trees import VectorForest

Row = Sequence[float | None]

# Deeper trees are not turned into nested expressions (CPython refuses more than
# 200 nested parentheses); they are scored by a small interpreter loop instead.
CODEGEN_MAX_DEPTH = 64
# Trees summed per generated statement: long enough to save stores and loads,
# short enough that the compiler's recursion over the `+` chain stays shallow.
TREES_PER_STATEMENT = 32
# Nodes per separately compiled block function (see forest_sources).
NODES_PER_BLOCK = 2048
# Below this margin math.exp(-margin) overflows; the probability is < 1e-304.
_MIN_MARGIN = -700.0

_F32_MAX = struct.unpack("<f", b"\xff\xff\x7f\x7f")[0]
_F32_MIN_SUBNORMAL = 2.0**-149
_TWO_128 = 2.0**128  # the value float32 rounding treats as the next step after FLT_MAX


@dataclass(frozen=True, slots=True)
class Tree:
    """One validated regression tree. Node i is a leaf when `left[i] == -1`.

    Only nodes reachable from the root (node 0) carry meaningful values; xgboost
    keeps pruned ("deleted") nodes in its arrays and they are ignored.

    The node arrays are compact (`array` of int32 / float64, `bytes` of 0/1): a backend
    keeps them for as long as it caches the model (TreeSHAP, the pure-Python scorer), at
    ~37 bytes a node instead of ~200 for tuples of Python objects. Nothing changes them.
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

    @property
    def n_leaves(self) -> int:
        return sum(1 for node in _reachable(self) if self.left[node] == -1)


@dataclass(frozen=True, slots=True)
class Forest:
    """What scoring needs from the model: the trees, the margin offset, the inputs."""

    trees: tuple[Tree, ...]
    base_margin: float  # logit(base_score): xgboost stores base_score as a probability
    n_features: int
    feature_names: tuple[str, ...] | None


# --------------------------------------------------------------------------- float32


def to_float32(value: float) -> float:
    """Round a float64 to the nearest float32 (ties to even), as a Python float."""
    return struct.unpack("<f", struct.pack("<f", value))[0]


def _float32_bits(value: float) -> int:
    return struct.unpack("<I", struct.pack("<f", value))[0]


def _float32_predecessor(threshold: float, bits: int) -> float:
    """The largest float32 below `threshold`, with -2**128 standing in for -inf."""
    if threshold > 0:
        return struct.unpack("<f", struct.pack("<I", bits - 1))[0]
    if threshold == 0:
        return -_F32_MIN_SUBNORMAL
    if threshold == -_F32_MAX:
        return -_TWO_128
    return struct.unpack("<f", struct.pack("<I", bits + 1))[0]


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


def _corrupted(what: str, detail: str | None = None) -> DataCorrupted:
    return malformed(what, detail)


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


def _reachable(tree: Tree) -> Iterable[int]:
    stack = [0]
    while stack:
        node = stack.pop()
        yield node
        if tree.left[node] != -1:
            stack.extend((tree.right[node], tree.left[node]))


# --------------------------------------------------------------------------- code generation


def _float_literal(value: float) -> str:
    """Source text for a float: repr round-trips exactly; 1e999 is how source spells inf."""
    if math.isnan(value):
        raise ValueError("NaN has no place in generated code")
    if math.isinf(value):
        return "1e999" if value > 0 else "(-1e999)"
    return repr(float(value))


def _tree_expression(tree: Tree, node: int, parts: list[str]) -> None:
    """Append one nested conditional expression for the subtree at `node`.

    `x < c` is False for NaN, so a missing value goes right unless the node's
    default is left, where the test is flipped to `x >= c` (also False for NaN).
    """
    left = tree.left[node]
    if left == -1:
        parts.append(_float_literal(tree.value[node]))
        return
    variable = f"x{int(tree.feature[node])}"
    cutoff = _float_literal(tree.cutoff[node])
    first, second, test = (
        (tree.right[node], left, f"{variable} >= {cutoff}")
        if tree.default_left[node]
        else (left, tree.right[node], f"{variable} < {cutoff}")
    )
    parts.append("(")
    _tree_expression(tree, first, parts)
    parts.append(f" if {test} else ")
    _tree_expression(tree, second, parts)
    parts.append(")")


def _used_features(trees: Iterable[Tree]) -> list[int]:
    return sorted(
        {tree.feature[node] for tree in trees for node in _reachable(tree) if tree.left[node] != -1}
    )


def _blocks(trees: Sequence[Tree]) -> list[list[Tree]]:
    """Consecutive trees grouped so that each block has about NODES_PER_BLOCK nodes."""
    blocks: list[list[Tree]] = []
    size = NODES_PER_BLOCK
    for tree in trees:
        if size >= NODES_PER_BLOCK:
            blocks.append([])
            size = 0
        blocks[-1].append(tree)
        size += len(tree.left)
    return blocks


def block_source(index: int, trees: Sequence[Tree]) -> str:
    """Source of `_b<index>(x..)`: the sum of these trees, a function of the features they use."""
    arguments = ", ".join(f"x{feature}" for feature in _used_features(trees))
    lines = [f"def _b{index}({arguments}):"]
    for start in range(0, len(trees), TREES_PER_STATEMENT):
        parts: list[str] = ["    m += " if start else "    m = "]
        for position, tree in enumerate(trees[start : start + TREES_PER_STATEMENT]):
            if position:
                parts.append(" + ")
            _tree_expression(tree, 0, parts)
        lines.append("".join(parts))
    lines.append("    return m")
    return "\n".join(lines) + "\n"


def forest_sources(forest: Forest) -> tuple[list[str], str]:
    """Sources of the block functions and of `margin(values)`, which adds them up.

    Blocks are compiled one at a time: the compiler's syntax tree of a 500 kB
    function peaks at ~40 MB, which a backend would keep as RSS. Each call to a
    block costs ~0.1 µs, ~1% of a row. Every used feature that is not a float
    (None for SQL NULL, Decimal for numeric, int) goes through `_number`, as
    xgboost converts its input to float first; the class test costs ~5% of a row,
    while comparing Decimals to floats directly is 30 times slower. Trees deeper
    than CODEGEN_MAX_DEPTH are left to `_deep(row)`, which the caller provides.
    """
    shallow = [tree for tree in forest.trees if tree.depth <= CODEGEN_MAX_DEPTH]
    blocks = _blocks(shallow)
    variables = [f"x{i}" for i in range(forest.n_features)]
    lines = ["def margin(values):", f"    {', '.join(variables)}, = values"]
    for feature in _used_features(forest.trees):
        lines.append(f"    if x{feature}.__class__ is not _float: x{feature} = _number(x{feature}, {feature})")
    terms = [_float_literal(forest.base_margin)]
    for index, trees in enumerate(blocks):
        terms.append(f"_b{index}({', '.join(f'x{feature}' for feature in _used_features(trees))})")
    if len(shallow) < len(forest.trees):
        terms.append(f"_deep(({', '.join(variables)},))")
    lines.append(f"    return {' + '.join(terms)}")
    return [block_source(index, trees) for index, trees in enumerate(blocks)], "\n".join(lines) + "\n"


def _walk(tree: Tree, values: Sequence[float]) -> float:
    """Score one tree by walking it (used for trees too deep to generate code for)."""
    left, right, feature, cutoff, default_left = (
        tree.left, tree.right, tree.feature, tree.cutoff, tree.default_left
    )
    node = 0
    while (child := left[node]) != -1:
        x = values[feature[node]]
        if default_left[node]:
            node = right[node] if x >= cutoff[node] else child
        else:
            node = child if x < cutoff[node] else right[node]
    return tree.value[node]


def compile_margin(forest: Forest) -> Callable[[Row], float]:
    """Compile the forest into one function of a row returning the margin."""
    deep = tuple(tree for tree in forest.trees if tree.depth > CODEGEN_MAX_DEPTH)

    def score_deep(values: Sequence[float]) -> float:
        return math.fsum(_walk(tree, values) for tree in deep)

    namespace: dict[str, Any] = {
        "__builtins__": {}, "_deep": score_deep, "_float": float, "_number": _clean_value,
    }
    blocks, margin = forest_sources(forest)
    for source in [*blocks, margin]:
        code = compile(source, "<churnml forest>", "exec")
        exec(code, namespace)  # noqa: S102 - the source holds only numbers we generated, see module doc
    return namespace["margin"]


# --------------------------------------------------------------------------- TreeSHAP


class _Path:
    """The unique path of TreeSHAP (Lundberg et al. 2018, algorithm 2), as parallel lists."""

    __slots__ = ("feature", "one", "weight", "zero")

    def __init__(self) -> None:
        self.feature: list[int] = []
        self.zero: list[float] = []
        self.one: list[float] = []
        self.weight: list[float] = []

    def copy(self) -> _Path:
        other = _Path()
        other.feature, other.zero = self.feature[:], self.zero[:]
        other.one, other.weight = self.one[:], self.weight[:]
        return other

    def extend(self, zero: float, one: float, feature: int) -> None:
        depth = len(self.feature)
        self.feature.append(feature)
        self.zero.append(zero)
        self.one.append(one)
        weight = self.weight
        weight.append(1.0 if depth == 0 else 0.0)
        for i in range(depth - 1, -1, -1):
            weight[i + 1] += one * weight[i] * (i + 1) / (depth + 1)
            weight[i] = zero * weight[i] * (depth - i) / (depth + 1)

    def unwind(self, index: int) -> None:
        depth = len(self.feature) - 1
        one, zero, weight = self.one[index], self.zero[index], self.weight
        next_one = weight[depth]
        for i in range(depth - 1, -1, -1):
            if one != 0:
                previous = weight[i]
                weight[i] = next_one * (depth + 1) / ((i + 1) * one)
                next_one = previous - weight[i] * zero * (depth - i) / (depth + 1)
            else:
                weight[i] = weight[i] * (depth + 1) / (zero * (depth - i))
        for items in (self.feature, self.zero, self.one):
            del items[index]
        weight.pop()

    def unwound_sum(self, index: int) -> float:
        depth = len(self.feature) - 1
        one, zero, weight = self.one[index], self.zero[index], self.weight
        next_one = weight[depth]
        total = 0.0
        for i in range(depth - 1, -1, -1):
            if one != 0:
                share = next_one * (depth + 1) / ((i + 1) * one)
                total += share
                next_one = weight[i] - share * zero * (depth - i) / (depth + 1)
            elif zero != 0:
                total += weight[i] / zero / ((depth - i) / (depth + 1))
        return total


def _node_means(tree: Tree) -> list[float]:
    """Cover-weighted mean leaf value under each node (xgboost's FillNodeMeanValues)."""
    means = [0.0] * len(tree.left)
    for node in reversed(list(_reachable(tree))):  # children before parents
        left = tree.left[node]
        if left == -1:
            means[node] = tree.value[node]
            continue
        right = tree.right[node]
        cover = _nonzero_cover(tree, node)
        means[node] = (means[left] * tree.cover[left] + means[right] * tree.cover[right]) / cover
    return means


def _nonzero_cover(tree: Tree, node: int) -> float:
    cover = tree.cover[node]
    if cover <= 0:
        raise _corrupted(f"node {node} has zero cover", detail="TreeSHAP divides by the node cover.")
    return cover


def _hot_child(tree: Tree, node: int, x: float) -> int:
    """The child the row follows; NaN (xgboost's missing value) takes the default."""
    if x != x:
        return tree.left[node] if tree.default_left[node] else tree.right[node]
    return tree.left[node] if x < tree.cutoff[node] else tree.right[node]


def _tree_shap(tree: Tree, row: Sequence[float], phi: list[float]) -> None:
    """Add one tree's exact SHAP values for `row` to phi (the bias is added by the caller)."""

    def recurse(node: int, parent: _Path, zero: float, one: float, feature: int) -> None:
        path = parent.copy()
        path.extend(zero, one, feature)
        left = tree.left[node]
        if left == -1:
            leaf = tree.value[node]
            for i in range(1, len(path.feature)):
                share = path.unwound_sum(i) * (path.one[i] - path.zero[i])
                phi[path.feature[i]] += share * leaf
            return
        split = tree.feature[node]
        right = tree.right[node]
        hot = _hot_child(tree, node, row[split])
        cold = right if hot == left else left
        cover = _nonzero_cover(tree, node)
        incoming_zero, incoming_one = 1.0, 1.0
        if split in path.feature:
            index = path.feature.index(split)
            incoming_zero, incoming_one = path.zero[index], path.one[index]
            path.unwind(index)
        recurse(hot, path, tree.cover[hot] / cover * incoming_zero, incoming_one, split)
        recurse(cold, path, tree.cover[cold] / cover * incoming_zero, 0.0, split)

    recurse(0, _Path(), 1.0, 1.0, -1)


# --------------------------------------------------------------------------- the model


def clean_row(values: Any, n_features: int) -> list[float]:
    """The slow path: check a row and turn None (and other numbers) into floats."""
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


class CompiledModel:
    """An XGBoost binary:logistic model compiled to Python; see the module docstring."""

    __slots__ = ("_expected", "_forest", "_margin", "_vector")

    def __init__(self, forest: Forest) -> None:
        self._forest = forest
        # Compiled on first use: where the C evaluator serves rows, the generated
        # Python (~60 ms to compile for 150 trees) is never needed.
        self._margin: Callable[[Row], float] | None = None
        self._vector: VectorForest | None = None
        self._expected: float | None = None  # TreeSHAP's bias, computed on first use

    @classmethod
    def from_json(cls, raw: bytes | bytearray | str | dict[str, Any]) -> CompiledModel:
        """Build from `booster.save_raw("json")` bytes, its text, or the parsed dict.

        UBJSON bytes (`booster.save_raw()`) are read too. Raises DataCorrupted for a
        malformed model and InvalidParameter for a model this module does not score
        (other objectives, gblinear, categorical splits): see churnml.scoring.artifact.
        """
        return cls(forest_of(read_artifact(raw)))

    @property
    def n_features(self) -> int:
        return self._forest.n_features

    @property
    def feature_names(self) -> tuple[str, ...] | None:
        return self._forest.feature_names

    @property
    def n_trees(self) -> int:
        return len(self._forest.trees)

    @property
    def base_margin(self) -> float:
        return self._forest.base_margin

    @property
    def forest(self) -> Forest:
        return self._forest

    def _margin_function(self) -> Callable[[Row], float]:
        if self._margin is None:
            self._margin = compile_margin(self._forest)
        return self._margin

    def predict_margin_row(self, values: Row) -> float:
        """The raw score (log-odds) of one row; None or NaN marks a missing value.

        `values` is best a list or tuple of floats; ints, Decimals and numpy scalars
        are converted with float() first, as xgboost does (at ~0.3 µs each).
        """
        margin = self._margin or self._margin_function()
        try:
            return margin(values)
        except (TypeError, ValueError, ArithmeticError):
            # A wrong length or something that is not a sequence lands here: the
            # fast path pays nothing for checks that well-formed rows never need.
            return margin(clean_row(values, self._forest.n_features))

    def predict_row(self, values: Row) -> float:
        """The churn probability of one row (what xgboost's predict returns)."""
        function = self._margin or self._margin_function()
        try:
            margin = function(values)
        except (TypeError, ValueError, ArithmeticError):
            margin = function(clean_row(values, self._forest.n_features))
        if margin < _MIN_MARGIN:
            return 0.0
        return 1.0 / (1.0 + math.exp(-margin))

    def contributions_row(self, values: Row) -> list[float]:
        """Exact TreeSHAP values per feature, then the bias (xgboost's pred_contribs=True).

        They add up to `predict_margin_row(values)`.
        """
        row = clean_row(values, self._forest.n_features)
        phi = [0.0] * (self._forest.n_features + 1)
        for tree in self._forest.trees:
            _tree_shap(tree, row, phi)
        phi[-1] = self.expected_value()
        return phi

    def expected_value(self) -> float:
        """TreeSHAP's bias: the margin of the average row (xgboost's last contribution)."""
        if self._expected is None:
            means = [_node_means(tree)[0] for tree in self._forest.trees]
            self._expected = math.fsum([self._forest.base_margin, *means])
        return self._expected

    def _vector_forest(self) -> VectorForest:
        if self._vector is None:
            # Imported here so that numpy loads only when a matrix is scored.
            from churnml.scoring.vector_trees import VectorForest

            self._vector = VectorForest(self._forest.trees, self._forest.n_features, self._forest.base_margin)
        return self._vector

    def predict_margin_matrix(self, x: np.ndarray) -> np.ndarray:
        """Margins of many rows at once (rows × n_features, NaN for missing)."""
        return self._vector_forest().margin(x)

    def predict_matrix(self, x: np.ndarray) -> np.ndarray:
        """Probabilities of many rows at once (rows × n_features, NaN for missing)."""
        return self._vector_forest().probability(x)
