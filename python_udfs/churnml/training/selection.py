"""Pick the most useful features of a trained model for training a smaller one.

The walkthrough trains on ~70 columns, then retrains on the 11 that carry most of
the model's total gain. Total gain (not weight) ranks features: a feature split
on often for tiny gains matters less than one split on rarely for large gains.
"""

from __future__ import annotations

from typing import Any

from churnml.errors import InvalidParameter
from churnml.training.explain import ModelLike, feature_importance
from churnml.training.feature_spec import FeatureSpec


def rank_features(
    model: ModelLike, spec: FeatureSpec, *, level: str = "input"  # checked below: SQL passes any text
) -> list[dict[str, Any]]:
    """Features by total gain, highest first: rows {"feature", "total_gain", "share", "weight"}.

    level "input" ranks source columns (one-hot columns folded onto `int_plan`),
    "output" ranks model columns (`int_plan_no`), for sources that compute those
    columns themselves. `share` is the fraction of the model's total gain.
    """
    if level not in ("input", "output"):
        raise InvalidParameter(
            f"invalid feature level: {level!r}",
            detail="level is 'input' (source columns) or 'output' (one-hot / model columns).",
            hint="Use level 'input' unless the new source already has the one-hot columns.",
        )
    rows = feature_importance(model, spec=spec)["inputs" if level == "input" else "outputs"]
    grand_total = sum(row["total_gain"] for row in rows)
    return [
        {
            "feature": row["feature"],
            "total_gain": row["total_gain"],
            "share": row["total_gain"] / grand_total if grand_total else 0.0,
            "weight": row["weight"],
        }
        for row in rows
    ]


def top_features(
    model: ModelLike, spec: FeatureSpec, k: int, *, level: str = "input"
) -> list[str]:
    """The k features with the highest total gain, highest first (ties in spec order).

    Features the model never splits on are not returned, so the list is shorter
    than k when the model uses fewer features; padding it with unused features
    would be an arbitrary choice.
    """
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise InvalidParameter(
            f"invalid number of features: {k!r}",
            detail="k is how many of the model's most important features to keep.",
            hint="Pass a whole number of at least 1, e.g. 11.",
        )
    ranked = rank_features(model, spec, level=level)
    return [row["feature"] for row in ranked if row["weight"] > 0][:k]
