"""The `lexicon` engine: VADER scores, calibrated into 3-class probabilities.

VADER (Hutto & Gilbert, ICWSM 2014) gives (neg, neu, pos, compound) for a text in tens
of microseconds. Its usual ±0.05 cut-offs on `compound` are not probabilities, so a
multinomial logistic regression on those four numbers, fitted by `train_head` and
temperature-scaled on held-out data, turns them into calibrated P(POSITIVE, NEGATIVE,
NEUTRAL). Evaluation is 12 multiply-adds and three exps in plain Python: this path never
imports numpy, torch or sentence-transformers.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from churnml.errors import DataCorrupted
from churnml.sentiment import weights as weight_files
from churnml.sentiment.result import CLASSES, Probs

WEIGHTS_FILE = "lexicon_calibration.json"
FEATURES: tuple[str, str, str, str] = ("neg", "neu", "pos", "compound")

_ANALYZER: Any = None


def vader() -> Any:
    """The process's VADER analyzer (building one reads its lexicon, ~10 ms)."""
    global _ANALYZER
    if _ANALYZER is None:
        from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

        _ANALYZER = SentimentIntensityAnalyzer()
    return _ANALYZER


def features(text: str) -> tuple[float, float, float, float]:
    scores = vader().polarity_scores(text)
    return scores["neg"], scores["neu"], scores["pos"], scores["compound"]


def raw_vader_label(text: str, cutoff: float = 0.05) -> str:
    """VADER's own rule: compound >= 0.05 POSITIVE, <= -0.05 NEGATIVE, else NEUTRAL (the baseline)."""
    compound = vader().polarity_scores(text)["compound"]
    if compound >= cutoff:
        return CLASSES[0]
    if compound <= -cutoff:
        return CLASSES[1]
    return CLASSES[2]


class LexiconEngine:
    """Calibrated VADER from a verified `lexicon_calibration.json` weights object."""

    name = "lexicon"

    def __init__(self, weights: dict[str, Any]) -> None:
        try:
            if tuple(weights["classes"]) != CLASSES or tuple(weights["features"]) != FEATURES:
                raise ValueError("unexpected classes or features")
            temperature = float(weights["temperature"])
            matrix = [[float(v) / temperature for v in row] for row in weights["W"]]
            bias = [float(v) / temperature for v in weights["b"]]
            if len(matrix) != 3 or any(len(row) != 4 for row in matrix) or len(bias) != 3 or temperature <= 0:
                raise ValueError("wrong shapes")
        except (KeyError, TypeError, ValueError) as exc:
            raise DataCorrupted(
                "sentiment lexicon calibration weights are malformed",
                detail=f"{type(exc).__name__}: {exc}.",
                hint="Regenerate them with python -m churnml.sentiment.train_head.",
            ) from exc
        # The temperature is folded into the weights once, here.
        self._rows = tuple((bias[k], *matrix[k]) for k in range(3))
        self._polarity = vader().polarity_scores

    @classmethod
    def shipped(cls) -> LexiconEngine:
        return cls(weight_files.load(WEIGHTS_FILE))

    def probs_one(self, text: str) -> Probs:
        scores = self._polarity(text)
        neg, neu, pos, compound = scores["neg"], scores["neu"], scores["pos"], scores["compound"]
        z = [b + w0 * neg + w1 * neu + w2 * pos + w3 * compound for b, w0, w1, w2, w3 in self._rows]
        top = max(z)
        e0, e1, e2 = math.exp(z[0] - top), math.exp(z[1] - top), math.exp(z[2] - top)
        total = e0 + e1 + e2
        return e0 / total, e1 / total, e2 / total

    def probs(self, texts: Sequence[str]) -> list[Probs]:
        return [self.probs_one(text) for text in texts]
