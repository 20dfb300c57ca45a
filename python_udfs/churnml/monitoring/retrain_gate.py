"""The gate of churnml.retrain: is the challenger better than the champion, and sane enough to serve?

Both models are judged on the same rows: the challenger's held-out test rows of the fresh data,
which the champion scores too. The challenger is promoted only when every guard passes, in this
order (the first that fails is the reason kept in churnml.retrain_history):

1. enough evaluation rows, with both classes (an AUC of 12 rows decides nothing);
2. the challenger's scores are not degenerate (not one value for everybody);
3. its mean score is plausible against the observed churn rate of those rows (within a factor
   of 2, or 0.02 absolute for rare churn): a model whose average is far off is miscalibrated
   or trained on something else;
4. its AUC is at least min_auc;
5. its AUC beats the champion's by at least min_gain;
6. and the gain is more than chance on these rows: DeLong's test for two correlated ROC curves
   (the same rows scored by both models) puts the one-sided 95% lower bound of the gain above 0.
   On 300 rows an AUC moves by 0.02 to 0.03 from sampling alone, so min_gain by itself would
   promote noise when two models are close.

Pure Python over arrays: no database, so it is tested on its own.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from churnml.errors import InvalidParameter, shown_number

DEFAULT_MIN_GAIN = 0.01
DEFAULT_MIN_AUC = 0.6
MIN_EVALUATED_ROWS = 50
MIN_ROWS_PER_CLASS = 5
# below this standard deviation the scores are one value (xgboost's float32 leaves differ by more)
MIN_SCORE_STD = 1e-4
MEAN_RATIO = 2.0
MEAN_SLACK = 0.02
Z_ONE_SIDED_95 = 1.6449  # the normal quantile of 0.95


@dataclass
class Verdict:
    status: str  # 'promoted' or 'kept'
    reason: str
    champion_auc: float | None
    challenger_auc: float | None
    details: dict[str, Any] = field(default_factory=dict)


def checked_margin(value: float | None, what: str, default: float) -> float:
    """min_gain or min_auc: a number in [0, 1] (NULL means `default`); 22023 for NaN, infinite or out of range."""
    if value is None:
        return default
    if not math.isfinite(value) or not 0.0 <= value <= 1.0:
        raise InvalidParameter(f"{what} must be a number between 0 and 1, not {shown_number(value)}",
                               detail=f"{what} is a difference or a value of AUC, which lies between 0 and 1.",
                               hint=f"e.g. {what} => {default:g}, or NULL for the default.")
    return float(value)


def _auc(labels: np.ndarray, scores: np.ndarray) -> float:
    from churnml.training.metrics import roc_auc

    return float(roc_auc(labels, scores))


def delong_gain(labels: np.ndarray, champion: np.ndarray, challenger: np.ndarray) -> tuple[float, float]:
    """(challenger AUC - champion AUC, its standard error) by DeLong's method for two correlated ROC
    curves, in the O(n log n) form of Sun and Xu (2014): midranks, then each model's structural
    components over the churned and the stayed rows, and their covariance."""
    from scipy.stats import rankdata

    positive = labels > 0.5
    m, n = int(positive.sum()), int((~positive).sum())
    scores = np.vstack([champion, challenger])
    pos, neg = scores[:, positive], scores[:, ~positive]
    tx = np.vstack([rankdata(row) for row in pos])
    ty = np.vstack([rankdata(row) for row in neg])
    tz = np.vstack([rankdata(row) for row in np.hstack([pos, neg])])
    aucs = tz[:, :m].sum(axis=1) / m / n - (m + 1.0) / (2.0 * n)
    v01 = (tz[:, :m] - tx) / n
    v10 = 1.0 - (tz[:, m:] - ty) / m
    cov = np.cov(v01) / m + np.cov(v10) / n
    variance = float(cov[0, 0] + cov[1, 1] - 2.0 * cov[0, 1])
    return float(aucs[1] - aucs[0]), math.sqrt(max(variance, 0.0))


def judge(labels: list[bool], champion_scores: list[float], challenger_scores: list[float], *,
          min_gain: float, min_auc: float) -> Verdict:
    """The gate's decision on the same evaluation rows (see the module's docstring)."""
    y = np.asarray(labels, dtype=np.float64)
    old = np.asarray(champion_scores, dtype=np.float64)
    new = np.asarray(challenger_scores, dtype=np.float64)
    if not (len(y) == len(old) == len(new)):
        raise InvalidParameter("the champion and the challenger must be scored on the same rows",
                               detail=f"{len(y)} labels, {len(old)} and {len(new)} scores.")
    rows, positives = len(y), int(y.sum())
    negatives = rows - positives
    details: dict[str, Any] = {"evaluated_rows": rows, "positives": positives, "min_gain": min_gain,
                               "min_auc": min_auc}
    if rows < MIN_EVALUATED_ROWS or positives < MIN_ROWS_PER_CLASS or negatives < MIN_ROWS_PER_CLASS:
        return Verdict("kept", f"too few held-out rows to compare the models: {rows} rows, {positives} churned "
                       f"(at least {MIN_EVALUATED_ROWS} rows and {MIN_ROWS_PER_CLASS} of each class are needed)",
                       None, None, {**details, "failed_guard": "evaluation_rows"})
    observed = positives / rows
    champion_auc, challenger_auc = _auc(y, old), _auc(y, new)
    gain = challenger_auc - champion_auc
    _, gain_se = delong_gain(y, old, new)
    lower = gain - Z_ONE_SIDED_95 * gain_se
    details.update({
        "observed_rate": observed,
        "champion": {"auc": champion_auc, "mean_score": float(old.mean()), "score_std": float(old.std())},
        "challenger": {"auc": challenger_auc, "mean_score": float(new.mean()), "score_std": float(new.std())},
        "gain": gain,
        "gain_se": gain_se,
        "gain_lower_95": lower,
    })
    mean = float(new.mean())
    low, high = observed / MEAN_RATIO - MEAN_SLACK, observed * MEAN_RATIO + MEAN_SLACK
    guards = [
        ("constant_scores", float(new.std()) >= MIN_SCORE_STD,
         f"the challenger's scores are degenerate (standard deviation {new.std():.2g} on {rows} rows)"),
        ("mean_score", low <= mean <= high,
         f"the challenger's mean score {mean:.3f} is implausible against the observed churn rate {observed:.3f} "
         f"(allowed {max(low, 0.0):.3f} to {min(high, 1.0):.3f})"),
        ("min_auc", challenger_auc >= min_auc,
         f"the challenger's AUC {challenger_auc:.4f} is below min_auc {min_auc:g}"),
        ("min_gain", gain >= min_gain,
         f"the challenger's AUC {challenger_auc:.4f} does not beat the champion's {champion_auc:.4f} by "
         f"min_gain {min_gain:g} (gain {gain:+.4f})"),
        ("significant_gain", lower > 0.0 or (gain_se == 0.0 and gain > 0.0),
         f"the challenger's gain {gain:+.4f} over the champion is within chance on {rows} rows (DeLong standard "
         f"error {gain_se:.4f}: the 95% lower bound {lower:+.4f} is not above 0)"),
    ]
    details["guards"] = {guard: passed for guard, passed, _ in guards}
    for guard, passed, reason in guards:
        if not passed:
            return Verdict("kept", reason, champion_auc, challenger_auc, {**details, "failed_guard": guard})
    return Verdict("promoted", f"the challenger's AUC {challenger_auc:.4f} beats the champion's {champion_auc:.4f} "
                   f"by {gain:+.4f} (min_gain {min_gain:g}; 95% lower bound {lower:+.4f}) and it passes every guard",
                   champion_auc, challenger_auc, details)
