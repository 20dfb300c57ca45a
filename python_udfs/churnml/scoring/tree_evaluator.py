"""Score and explain an XGBoost binary:logistic model with churnml's one evaluator, in C.

Why C, and only C: inside a PostgreSQL backend `will_churn(...)` runs once per row,
and xgboost's `inplace_predict` costs ~220 µs per call (importing xgboost ~1 s and
tens of MB). The C forest (`_native_trees.c`, built by setup.py, `make native`) walks a row in well
under a microsecond, a matrix with AVX2 in a thread of its own, and computes exact
TreeSHAP. xgboost is its oracle in the tests. A runtime without the C module is
incomplete: loading a model then fails with RuntimeMissing instead of scoring slowly.

`TreeEvaluator` takes a validated `Forest` (churnml.scoring.forest: float32-exact
cutoffs) and keeps only the C copy of the trees. Rows are lists or tuples of numbers
(None or NaN for a missing value); a row the C code refuses is checked again in
Python (`forest.clean_row`) so the error says what is wrong with it. Row scoring
imports nothing beyond the standard library; numpy is imported by the matrix methods.
"""

from __future__ import annotations

from array import array
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from churnml import interrupts
from churnml.errors import InvalidParameter, RuntimeMissing
from churnml.scoring.artifact import ModelArtifact, read_artifact
from churnml.scoring.artifact_trees import malformed
from churnml.scoring.forest import Forest, Row, clean_row, forest_of

if TYPE_CHECKING:
    import numpy as np

try:
    from churnml.scoring import _native_trees
except ImportError as exc:  # reported when a model is loaded, with what to do
    _native_trees = None  # type: ignore[assignment]  # not built: native_module() says what to do
    _IMPORT_ERROR = str(exc)

_ROW_ERRORS = (TypeError, ValueError, OverflowError)
T = TypeVar("T")


def native_module() -> Any:
    """The C module, or RuntimeMissing: churnml has no other evaluator to fall back to."""
    if _native_trees is None:
        raise RuntimeMissing(
            "churnml's tree evaluator is not built",
            detail=f"Importing churnml.scoring._native_trees failed: {_IMPORT_ERROR}.",
            hint="Run `make install`: it compiles the evaluator (a C compiler and the Python headers come "
                 "with `make deps`) and copies it into the runtime.")
    return _native_trees


def _flat_arrays(forest: Forest) -> list[bytes]:
    """The C constructor's node arrays: every tree's nodes one after the other, each tree's
    child indices its own (the C code offsets them), and each tree's first node."""
    feature, left, right, roots = array("i"), array("i"), array("i"), array("i")
    cutoff, value, cover = array("d"), array("d"), array("d")
    default_left = bytearray()
    for tree in forest.trees:
        interrupts.check()
        roots.append(len(feature))
        feature.extend(tree.feature)
        left.extend(tree.left)
        right.extend(tree.right)
        default_left.extend(tree.default_left)
        cutoff.extend(tree.cutoff)
        value.extend(tree.value)
        cover.extend(tree.cover)
    return [feature.tobytes(), left.tobytes(), right.tobytes(), bytes(default_left), cutoff.tobytes(),
            value.tobytes(), cover.tobytes(), roots.tobytes()]


class TreeEvaluator:
    """An XGBoost binary:logistic model, loaded into the C evaluator; see the module docstring."""

    __slots__ = ("_c", "_zero_cover", "feature_names")

    def __init__(self, forest: Forest) -> None:
        module = native_module()
        self._c: _native_trees.Forest = module.Forest(*_flat_arrays(forest), forest.n_features, forest.base_margin)
        self._zero_cover: tuple[int, int] | None = self._c.zero_cover
        self.feature_names = forest.feature_names

    @classmethod
    def from_artifact(cls, model: ModelArtifact) -> TreeEvaluator:
        return cls(forest_of(model))

    @classmethod
    def from_json(cls, raw: bytes | bytearray | str | dict[str, Any]) -> TreeEvaluator:
        """Build from `booster.save_raw("json")` bytes, its text, the parsed dict, or UBJSON bytes.

        Raises DataCorrupted for a malformed model and InvalidParameter for a model churnml
        does not score (other objectives, gblinear, categorical splits): see churnml.scoring.artifact.
        """
        return cls.from_artifact(read_artifact(raw))

    @property
    def n_features(self) -> int:
        return int(self._c.n_features)

    @property
    def n_trees(self) -> int:
        return int(self._c.n_trees)

    @property
    def n_nodes(self) -> int:
        return int(self._c.n_nodes)

    @property
    def base_margin(self) -> float:
        return float(self._c.base_margin)

    @property
    def row_predictor(self) -> Callable[[Row], float]:
        """The C method itself, for rows known to be lists of floats and None (the per-row hot path)."""
        return self._c.predict_row

    # ------------------------------------------------------------------ one row

    def _row_call(self, method: Callable[[Any], T], values: Row) -> T:
        try:
            return method(values)
        except _ROW_ERRORS:
            # a wrong length, text, or something that is not a sequence: say which
            return method(clean_row(values, self.n_features))

    def predict_row(self, values: Row) -> float:
        """The churn probability of one row (what xgboost's predict returns).

        `values` is best a list or tuple of floats; ints, Decimals and numpy scalars are
        converted with float() first, as xgboost does.
        """
        return self._row_call(self._c.predict_row, values)

    def margin_row(self, values: Row) -> float:
        """The raw score (log-odds) of one row; None or NaN marks a missing value."""
        return self._row_call(self._c.margin_row, values)

    def _check_explainable(self) -> None:
        if self._zero_cover is not None:
            tree, node = self._zero_cover
            raise malformed(f"tree {tree} node {node} has zero cover", detail="TreeSHAP divides by the node cover.")

    def contributions_row(self, values: Row) -> list[float]:
        """Exact TreeSHAP values per feature, then the bias (xgboost's pred_contribs=True).

        They add up to `margin_row(values)`.
        """
        self._check_explainable()
        return self._row_call(self._c.contributions_row, values)

    @property
    def expected_value(self) -> float:
        """TreeSHAP's bias: the margin of the average row (xgboost's last contribution)."""
        self._check_explainable()
        return float(self._c.expected_value)

    # ------------------------------------------------------------------ many rows

    def _matrix(self, x: object) -> np.ndarray:
        import numpy as np

        try:
            matrix = np.ascontiguousarray(x, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise InvalidParameter("feature matrix must hold numbers", detail=str(exc)) from None
        if matrix.ndim != 2 or matrix.shape[1] != self.n_features:
            raise InvalidParameter(f"feature matrix must have shape (rows, {self.n_features})",
                                   detail=f"Got shape {matrix.shape}.")
        return matrix

    def predict_matrix(self, x: object, threads: int = 1) -> np.ndarray:
        """Probabilities of many rows at once (rows × n_features, NaN for missing), on up to `threads` threads."""
        import numpy as np

        matrix = self._matrix(x)
        out = np.empty(matrix.shape[0], dtype=np.float64)
        self._c.predict_matrix(matrix, out, threads)
        return out

    def predict_matrix_start(self, x: object) -> Callable[[], np.ndarray]:
        """Start predicting in a thread of the C module's own; call the result for the probabilities.

        Bulk scoring fetches the next batch meanwhile."""
        import numpy as np

        matrix = self._matrix(x)
        out = np.empty(matrix.shape[0], dtype=np.float64)
        pending = self._c.predict_matrix_start(matrix, out)

        def result() -> np.ndarray:
            pending.wait()
            return out

        return result

    def contributions_matrix(self, x: object, threads: int = 1) -> np.ndarray:
        """contributions_row of every row: rows × (n_features + 1), the bias last."""
        import numpy as np

        self._check_explainable()
        matrix = self._matrix(x)
        out = np.empty((matrix.shape[0], self.n_features + 1), dtype=np.float64)
        self._c.contributions_matrix(matrix, out, threads)
        return out

