"""The `lexicon` engine: VADER scores, calibrated into 3-class probabilities.

VADER (Hutto & Gilbert, ICWSM 2014) gives (neg, neu, pos, compound) for a text in tens
of microseconds. Its usual ±0.05 cut-offs on `compound` are not probabilities, so a
multinomial logistic regression on those four numbers, fitted by `train_head` and
temperature-scaled on held-out data, turns them into calibrated P(POSITIVE, NEGATIVE,
NEUTRAL). Evaluation is 12 multiply-adds and three exps in plain Python: this path never
imports numpy, torch or sentence-transformers.

The engine scores texts with `churnml.sentiment.vader.Polarity`, which gives exactly
VADER's four numbers ~3.5x faster (detect_sentiment calls it for a message and for each of
its clauses); `features` and `raw_vader_label` keep calling VADER itself, as the
reference that training and the evaluation baseline are defined by.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from churnml.errors import DataCorrupted
from churnml.sentiment import weights as weight_files
from churnml.sentiment.result import CLASSES, Probs
from churnml.sentiment.vader import Polarity

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
        # Bit-identical to vader().polarity_scores, ~3.5x faster (see churnml.sentiment.vader).
        self._polarity = Polarity(vader())

    @classmethod
    def shipped(cls) -> LexiconEngine:
        return cls(weight_files.load(WEIGHTS_FILE))

    def probs_one(self, text: str) -> Probs:
        neg, neu, pos, compound = self._polarity(text)
        # Unrolled: this runs once per text and clause, and loops cost more than the arithmetic.
        (b0, w00, w01, w02, w03), (b1, w10, w11, w12, w13), (b2, w20, w21, w22, w23) = self._rows
        z0 = b0 + w00 * neg + w01 * neu + w02 * pos + w03 * compound
        z1 = b1 + w10 * neg + w11 * neu + w12 * pos + w13 * compound
        z2 = b2 + w20 * neg + w21 * neu + w22 * pos + w23 * compound
        top = max(z0, z1, z2)
        e0, e1, e2 = math.exp(z0 - top), math.exp(z1 - top), math.exp(z2 - top)
        total = e0 + e1 + e2
        return e0 / total, e1 / total, e2 / total

    def probs(self, texts: Sequence[str]) -> list[Probs]:
        return [self.probs_one(text) for text in texts]
