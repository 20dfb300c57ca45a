"""Risk bands and top reasons for many customers at once (what churnml.customer_risk shows).

Pure functions over a loaded model and an encoded matrix: no SPI, no plpy, so
they can be tested and timed outside the server. The probability is the bulk
scorer's predict_matrix; the explanation (computed only when a query reads it) is the one
churnml.explain_churn gives (the C evaluator's TreeSHAP, for the whole matrix in one
call: LoadedModel.contributions_matrix), one-hot columns folded back onto their
feature in the same order of additions as group_contributions, but vectorised over
rows (per row in Python that folding cost more than TreeSHAP itself).

Risk bands follow the deployment's stored threshold (the cutoff that
churn_flag and the business-cost tools use), so a dashboard's "high" is exactly
the set of customers churn_flag flags:

    high    probability >  threshold
    medium  threshold * MEDIUM_FRACTION < probability <= threshold
    low     probability <= threshold * MEDIUM_FRACTION

"medium" is a watch list of customers within a factor of two of the cutoff; it is
a convention, not something the model learned.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from churnml.scoring.model_cache import LoadedModel
    from churnml.training.feature_spec import FeatureSpec

MEDIUM_FRACTION = 0.5
BANDS = ("low", "medium", "high")


def risk_band(probability: float | None, threshold: float) -> str | None:
    """'high' above the deployed threshold, 'medium' above half of it, else 'low'; NULL stays NULL."""
    if probability is None or math.isnan(probability):
        return None
    if probability > threshold:
        return "high"
    if probability > threshold * MEDIUM_FRACTION:
        return "medium"
    return "low"


def top_positive(grouped: Sequence[tuple[str, float]]) -> tuple[str | None, float | None]:
    """The feature with the largest positive contribution, from group_contributions' output.

    That list is sorted by |contribution|, largest first, ties in spec order, so
    the first positive entry is the largest positive one. (None, None) when no
    feature pushes towards churn.
    """
    for feature, value in grouped:
        if value > 0:
            return feature, float(value)
    return None, None


def fold_columns(spec: FeatureSpec) -> list[list[int]]:
    """Per input feature (spec order), the indices of its output columns in output order."""
    sources = spec.output_sources()
    members: dict[str, list[int]] = {name: [] for name in spec.input_names}
    for index, name in enumerate(spec.output_names):
        members[sources[name]].append(index)
    return [members[name] for name in spec.input_names]


def fold_contributions(contributions: Any, folds: list[list[int]]) -> Any:
    """Rows × output columns → rows × input features, adding each feature's columns left to right from 0.0.

    The same additions in the same order as group_contributions, so the sums are bit-identical to
    what explain_churn reports; vectorised over rows instead of a dict per row.
    """
    import numpy as np

    grouped = np.zeros((contributions.shape[0], len(folds)), dtype=np.float64)
    for j, columns in enumerate(folds):
        for k in columns:
            grouped[:, j] += contributions[:, k]
    return grouped


def top_positive_columns(grouped: Any) -> tuple[Any, Any]:
    """Per row, the 1-based position of the feature with the largest positive value (the first in spec
    order on ties) and that value, both float64; NaN where no value is positive."""
    import numpy as np

    rows = grouped.shape[0]
    if not grouped.shape[1]:
        return np.full(rows, np.nan), np.full(rows, np.nan)
    masked = np.where(grouped > 0, grouped, -np.inf)
    best = np.argmax(masked, axis=1)
    values = masked[np.arange(rows), best]
    positive = values != -np.inf
    return np.where(positive, best + 1.0, np.nan), np.where(positive, values, np.nan)


def top_reasons(loaded: LoadedModel, matrix: Any) -> tuple[Any, Any]:
    """Per row of an encoded matrix, the top positive reason (TreeSHAP, in C a matrix at a time) as its
    1-based position in loaded.spec.input_names, and its contribution; NaN where none is positive."""
    width = len(loaded.spec.output_names)
    contributions = loaded.contributions_matrix(matrix)[:, :width]  # the bias is no feature's
    return top_positive_columns(fold_contributions(contributions, fold_columns(loaded.spec)))
