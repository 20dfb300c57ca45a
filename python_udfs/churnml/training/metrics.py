"""Classification metrics for churn probabilities.

Conventions used throughout:

- the positive class (1) is "churned";
- a customer is predicted to churn when p > threshold (strictly), as in the
  walkthrough's `np.where(predictions > cutoff, 1, 0)` and XGBoost's own predict;
  so threshold 0.00 flags everyone with p > 0 and 1.00 flags no one;
- confusion counts: tp = predicted churn and churned, fp = predicted churn and
  stayed, tn = predicted stay and stayed, fn = predicted stay and churned. (The
  published AWS notebook labelled fp/fn the other way round.)

AUC, log loss, Brier score and the ROC curve are scikit-learn's. It is imported on
first use (~1 s): training pays that anyway (xgboost imports it), but the functions a
deploy or a churnml_user call runs, `confusion`, `rates`, `threshold_costs` and
`optimal_threshold`, stay numpy only. They give scikit-learn's results exactly
(tests/python_udfs/test_training_metrics_sklearn.py); through scikit-learn a backend's
first call would take ~0.9 s longer (importing sklearn.metrics, measured in a fresh
process) and every call longer too (1,000 held-out rows: confusion 27 µs against
557 µs with `confusion_matrix`, the 101-cutoff cost table 86 µs against 466 µs built
on `confusion_matrix_at_thresholds`).
Training's `evaluate` is a little slower through scikit-learn (700,000 rows: 0.37 s
against 0.25 s, next to seconds of boosting), and its AUC can differ from the rank
formula used before in the last bit or two (1.2e-16 relative there).

Every function returns plain Python numbers, ready for json.dumps.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

import numpy as np

from churnml.errors import DataException, InvalidParameter, NullValueNotAllowed, shown_number

DEFAULT_THRESHOLD = 0.5
DEFAULT_ROC_POINTS = 201

ArrayLike = np.ndarray | Sequence[float]


def _sklearn_metrics() -> Any:
    """sklearn.metrics, imported on first use (see the module docstring)."""
    from sklearn import metrics

    return metrics


def _check_inputs(y: ArrayLike, p: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    labels = np.asarray(y)
    probs = np.asarray(p, dtype=np.float64)
    if labels.ndim != 1 or probs.ndim != 1 or len(labels) != len(probs):
        raise InvalidParameter(
            "labels and probabilities must be two lists of the same length",
            detail=f"Got shapes {labels.shape} and {probs.shape}.",
            hint="Pass one probability per labelled row.",
        )
    if len(labels) == 0:
        raise DataException(
            "cannot compute metrics on zero rows",
            detail="Metrics need at least one labelled row.",
            hint="Evaluate on a non-empty set of rows.",
        )
    if not np.isin(labels, (0, 1)).all():
        raise InvalidParameter(
            "labels must be 0 or 1",
            detail="Metrics compare predictions with 0 (stayed) / 1 (churned) labels.",
            hint="Normalise the label column with normalize_labels() first.",
        )
    if not (np.isfinite(probs).all() and (probs >= 0).all() and (probs <= 1).all()):
        raise InvalidParameter(
            "probabilities must be numbers between 0 and 1",
            detail="At least one value is NULL, NaN or outside [0, 1].",
            hint="Pass the model's predicted churn probabilities.",
        )
    return labels.astype(np.int8), probs


def _is_number(value: Any) -> bool:
    """A finite real number; Decimal included, since PL/Python passes SQL numeric as Decimal."""
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal | np.integer | np.floating):
        return False
    return math.isfinite(value)


def _check_threshold(threshold: Any) -> float:
    if not _is_number(threshold):
        raise InvalidParameter(
            f"invalid threshold: {threshold!r}",
            detail="A threshold is a finite number; rows with a probability above it are predicted to churn.",
            hint="Use a value between 0 and 1, e.g. 0.5.",
        )
    return float(threshold)


def _both_classes(y: ArrayLike, p: ArrayLike, what: str) -> tuple[np.ndarray, np.ndarray, int, int]:
    """Checked labels and probabilities with their class counts; an error when one class is absent."""
    labels, probs = _check_inputs(y, p)
    positives = int(labels.sum())
    negatives = len(labels) - positives
    if positives == 0 or negatives == 0:
        raise DataException(
            f"{what} is undefined when only one class is present",
            detail=f"The rows contain {positives} churned and {negatives} stayed customers.",
            hint="Evaluate on rows that include both classes.",
        )
    return labels, probs, positives, negatives


def roc_auc(y: ArrayLike, p: ArrayLike) -> float:
    """Area under the ROC curve: scikit-learn's roc_auc_score."""
    labels, probs, _, _ = _both_classes(y, p, "AUC")
    return float(_sklearn_metrics().roc_auc_score(labels, probs))


def confusion(y: ArrayLike, p: ArrayLike, threshold: float = DEFAULT_THRESHOLD) -> dict[str, int]:
    """{"tp", "fp", "tn", "fn"} when rows with p > threshold are predicted to churn."""
    labels, probs = _check_inputs(y, p)
    return _confusion(labels, probs, _check_threshold(threshold))


def _confusion(labels: np.ndarray, probs: np.ndarray, threshold: float) -> dict[str, int]:
    flagged = probs > threshold
    churned = labels == 1
    tp = int(np.count_nonzero(flagged & churned))
    fp = int(np.count_nonzero(flagged & ~churned))
    fn = int(np.count_nonzero(~flagged & churned))
    tn = len(labels) - tp - fp - fn
    return {"tp": tp, "fp": fp, "tn": tn, "fn": fn}


def _ratio(numerator: int, denominator: int) -> float:
    """numerator / denominator, 0.0 when the denominator is 0 (sklearn's zero_division=0)."""
    return numerator / denominator if denominator else 0.0


def rates(counts: dict[str, int]) -> dict[str, float]:
    """accuracy, precision, recall and F1 from confusion counts."""
    tp, fp, tn, fn = counts["tp"], counts["fp"], counts["tn"], counts["fn"]
    precision = _ratio(tp, tp + fp)
    recall = _ratio(tp, tp + fn)
    return {
        "accuracy": _ratio(tp + tn, tp + fp + tn + fn),
        "precision": precision,
        "recall": recall,
        "f1": _ratio(2 * tp, 2 * tp + fp + fn),
    }


def log_loss(y: ArrayLike, p: ArrayLike) -> float:
    """Mean negative log-likelihood: scikit-learn's log_loss (probabilities clipped to [eps, 1 - eps])."""
    labels, probs = _check_inputs(y, p)
    return float(_sklearn_metrics().log_loss(labels, probs, labels=[0, 1]))


def brier(y: ArrayLike, p: ArrayLike) -> float:
    """Mean squared difference between probability and outcome: scikit-learn's brier_score_loss."""
    labels, probs = _check_inputs(y, p)
    return float(_sklearn_metrics().brier_score_loss(labels, probs, labels=[0, 1]))


def roc_curve(y: ArrayLike, p: ArrayLike, *,
              max_points: int | None = DEFAULT_ROC_POINTS) -> dict[str, list[float | None]]:
    """ROC points {"fpr", "tpr", "thresholds"}, one per distinct probability (highest first).

    scikit-learn's roc_curve with drop_intermediate=False: point i is the rates when rows
    with p >= thresholds[i] are flagged; the first point, nobody flagged, has threshold
    None (scikit-learn's inf). With more than `max_points` points, evenly spaced ones are
    kept, ends included.
    """
    labels, probs, _, _ = _both_classes(y, p, "the ROC curve")
    fpr, tpr, cutoffs = _sklearn_metrics().roc_curve(labels, probs, drop_intermediate=False)
    thresholds: list[float | None] = [None, *cutoffs[1:].tolist()]
    keep = np.arange(len(fpr))
    if max_points is not None and len(keep) > max_points:
        keep = np.unique(np.linspace(0, len(fpr) - 1, max(max_points, 2)).round().astype(np.int64))
    return {
        "fpr": fpr[keep].tolist(),
        "tpr": tpr[keep].tolist(),
        "thresholds": [thresholds[i] for i in keep.tolist()],
    }


def evaluate(
    y: ArrayLike, p: ArrayLike, threshold: float = DEFAULT_THRESHOLD, *, roc_points: int | None = DEFAULT_ROC_POINTS
) -> dict[str, Any]:
    """All metrics for one split.

    Keys: rows, positives, negatives, threshold, auc, accuracy, precision, recall,
    f1, log_loss, brier, confusion {tp, fp, tn, fn}, roc {fpr, tpr, thresholds}.
    auc and roc are None when the rows hold only one class.
    """
    labels, probs = _check_inputs(y, p)
    cutoff = _check_threshold(threshold)
    positives = int(labels.sum())
    both_classes = 0 < positives < len(labels)
    counts = _confusion(labels, probs, cutoff)
    return {
        "rows": len(labels),
        "positives": positives,
        "negatives": len(labels) - positives,
        "threshold": cutoff,
        "auc": roc_auc(labels, probs) if both_classes else None,
        **rates(counts),
        "log_loss": log_loss(labels, probs),
        "brier": brier(labels, probs),
        "confusion": counts,
        "roc": roc_curve(labels, probs, max_points=roc_points) if both_classes else None,
    }


def default_thresholds() -> list[float]:
    """0.00, 0.01, ..., 1.00 (exact two-decimal values, not accumulated float steps)."""
    return [i / 100 for i in range(101)]


def threshold_costs(
    y: ArrayLike,
    p: ArrayLike,
    fp_cost: float,
    fn_cost: float,
    tp_cost: float = 0.0,
    tn_cost: float = 0.0,
    thresholds: Sequence[float] | None = None,
) -> list[dict[str, Any]]:
    """Total cost at each threshold: rows {"threshold", "tp", "fp", "tn", "fn", "cost"}.

    cost = tp·tp_cost + fp·fp_cost + tn·tn_cost + fn·fn_cost. In the walkthrough a
    flagged customer gets a $50 incentive (tp_cost = fp_cost = 50) and a missed
    churner costs $500 (fn_cost = 500).
    """
    labels, probs = _check_inputs(y, p)
    costs = {"fp_cost": fp_cost, "fn_cost": fn_cost, "tp_cost": tp_cost, "tn_cost": tn_cost}
    for name, value in costs.items():
        if value is None:
            raise NullValueNotAllowed(f"{name} must not be NULL",
                                      hint=f"Pass a number for {name}, e.g. 50 (0 when it costs nothing).")
        if not _is_number(value):
            raise InvalidParameter(
                f"invalid {name}: {shown_number(value) if isinstance(value, float) else repr(value)}",
                detail="Costs are finite amounts of money per customer.",
                hint=f"Pass a number for {name}, e.g. 50.",
            )
    grid = default_thresholds() if thresholds is None else [_check_threshold(t) for t in thresholds]
    if not grid:
        raise InvalidParameter(
            "no thresholds to evaluate",
            detail="The list of thresholds is empty.",
            hint="Omit thresholds to use 0.00, 0.01, ..., 1.00.",
        )
    fp_cost, fn_cost, tp_cost, tn_cost = (float(costs[k]) for k in ("fp_cost", "fn_cost", "tp_cost", "tn_cost"))
    churned = np.sort(probs[labels == 1])
    stayed = np.sort(probs[labels == 0])
    # rows above t = rows minus those <= t
    tps = len(churned) - np.searchsorted(churned, grid, side="right")
    fps = len(stayed) - np.searchsorted(stayed, grid, side="right")
    rows = []
    for t, tp, fp in zip(grid, tps.tolist(), fps.tolist(), strict=True):
        fn = len(churned) - tp
        tn = len(stayed) - fp
        cost = tp * tp_cost + fp * fp_cost + tn * tn_cost + fn * fn_cost
        rows.append({"threshold": float(t), "tp": tp, "fp": fp, "tn": tn, "fn": fn, "cost": float(cost)})
    return rows


def optimal_threshold(
    y: ArrayLike,
    p: ArrayLike,
    fp_cost: float,
    fn_cost: float,
    tp_cost: float = 0.0,
    tn_cost: float = 0.0,
    thresholds: Sequence[float] | None = None,
) -> dict[str, Any]:
    """The cheapest row of `threshold_costs`; among equally cheap thresholds, the lowest.

    Equal cost means equal counts on this data; the lowest such threshold flags the
    most customers on new data, which errs towards catching churners, the expensive
    mistake in churn (a missed churner usually costs far more than an incentive).
    """
    rows = threshold_costs(y, p, fp_cost, fn_cost, tp_cost, tn_cost, thresholds)
    return min(rows, key=lambda row: (row["cost"], row["threshold"]))
