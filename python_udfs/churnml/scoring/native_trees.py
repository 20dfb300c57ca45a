"""The C forest evaluator (`_native_trees`, built by `make`), fed from a validated Forest.

`native_forest(forest)` returns a C-backed forest with the same answers as the
pure-Python scorer (same cutoffs, same float64 sums per tree) or None when the C
module is not built here; callers fall back to the pure-Python scorer then.
"""

from __future__ import annotations

from array import array
from typing import Any

from churnml import interrupts
from churnml.scoring.compiled_trees import Forest

try:
    from churnml.scoring import _native_trees
except ImportError:  # not built (e.g. no compiler): the pure-Python scorer serves
    _native_trees = None

AVAILABLE = _native_trees is not None


def native_forest(forest: Forest) -> Any | None:
    if _native_trees is None:
        return None
    feature, left, right = array("i"), array("i"), array("i")
    cutoff, value, cover = array("d"), array("d"), array("d")
    default_left = bytearray()
    roots = array("i")
    offset = 0
    for tree in forest.trees:
        interrupts.check()
        roots.append(offset)
        n = len(tree.left)
        feature.extend(tree.feature)
        left.extend(c + offset if c != -1 else -1 for c in tree.left)
        right.extend(c + offset if c != -1 else -1 for c in tree.right)
        default_left.extend(tree.default_left)
        cutoff.extend(tree.cutoff)
        value.extend(tree.value)
        cover.extend(tree.cover)
        offset += n
    try:
        return _native_trees.Forest(feature.tobytes(), left.tobytes(), right.tobytes(), bytes(default_left),
                                    cutoff.tobytes(), value.tobytes(), roots.tobytes(), forest.n_features,
                                    forest.base_margin, cover.tobytes())
    except ValueError:
        # A layout the C walker does not accept (it insists on children after their
        # parent, which xgboost's trees satisfy): the pure-Python scorer handles it.
        return None


def format_floats(values: Any) -> str:
    """Comma-separated exact ("%.17g") text of a float64 array, for SQL to split and cast."""
    if _native_trees is not None:
        return _native_trees.format_floats(values)
    return ",".join(map(repr, values.tolist()))
