"""`SentimentResult` and the MIXED rule, the same for both engines.

Each engine gives 3-class probabilities (POSITIVE, NEGATIVE, NEUTRAL) for the whole text
and for each of its clauses (`text.mixed_clauses`). Then:

    m = max over clauses i != j of min(P_i(POSITIVE), P_j(NEGATIVE))

is the "mixed strength": the largest probability with which one clause is positive while
ANOTHER clause is negative (the fuzzy AND of the two). The text is MIXED when
m >= MIXED_THRESHOLD, that is, when one clause is POSITIVE with probability >= 0.6 and a
different clause NEGATIVE with probability >= 0.6. The four scores are then

    MIXED = m, and POSITIVE/NEGATIVE/NEUTRAL = (1 - m) * whole-text probabilities,

so they sum to 1 and MIXED (>= 0.6 > 1 - m) is the largest. Below the threshold the label
is the whole text's most probable class and MIXED gets m / 4, which keeps the MIXED
score informative (it grows with the evidence) yet always below the chosen class:
m / 4 < 0.15 while the chosen class keeps at least (1 - 0.15) / 3 > 0.28.

The threshold was chosen on `training_examples.DEV_MIXED` and the training texts, never on
the evaluation set. MIXED is not a trained class, so its probability is a derived score,
not a calibrated one; the three others are calibrated (temperature-scaled) per engine.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

POSITIVE = "POSITIVE"
NEGATIVE = "NEGATIVE"
NEUTRAL = "NEUTRAL"
MIXED = "MIXED"
# The engines' class order (the rows of their weight matrices).
CLASSES: tuple[str, str, str] = (POSITIVE, NEGATIVE, NEUTRAL)
LABELS: tuple[str, str, str, str] = (POSITIVE, NEGATIVE, NEUTRAL, MIXED)

MIXED_THRESHOLD = 0.6
_BELOW_THRESHOLD_SCALE = 0.25
_ALL_PAIRS_UP_TO = 4  # clauses; beyond that mixed_strength sorts instead of trying every pair

Probs = tuple[float, float, float]  # (POSITIVE, NEGATIVE, NEUTRAL), summing to 1


@dataclass(frozen=True, slots=True)
class SentimentResult:
    """The sentiment of one text.

    `label` is one of LABELS; `scores` maps all four labels to probabilities that sum
    to 1; `confidence` is `scores[label]`, the largest of them.
    """

    label: str
    confidence: float
    scores: dict[str, float]

    def as_dict(self) -> dict[str, object]:
        return {"label": self.label, "confidence": self.confidence, "scores": dict(self.scores)}


EMPTY_RESULT = SentimentResult(NEUTRAL, 1.0, {POSITIVE: 0.0, NEGATIVE: 0.0, NEUTRAL: 1.0, MIXED: 0.0})


def mixed_strength(clause_probs: Sequence[Probs]) -> float:
    """max over i != j of min(P_i(POSITIVE), P_j(NEGATIVE)); 0 with fewer than two clauses."""
    count = len(clause_probs)
    if count < 2:
        return 0.0
    if count <= _ALL_PAIRS_UP_TO:
        # Few clauses (nearly every message): every pair, cheaper than sorting.
        best = 0.0
        for i, p in enumerate(clause_probs):
            for j, q in enumerate(clause_probs):
                if i != j:
                    pair = p[0] if p[0] < q[1] else q[1]
                    if pair > best:
                        best = pair
        return best
    # The best pair uses the clause with the largest P(POSITIVE) or the one with the
    # largest P(NEGATIVE); only when both are the same clause is a runner-up needed.
    pos = sorted(range(count), key=lambda i: clause_probs[i][0], reverse=True)[:2]
    neg = sorted(range(count), key=lambda i: clause_probs[i][1], reverse=True)[:2]
    best = 0.0
    for i in pos:
        for j in neg:
            if i != j:
                best = max(best, min(clause_probs[i][0], clause_probs[j][1]))
    return best


def combine(whole: Probs, clause_probs: Sequence[Probs]) -> SentimentResult:
    """The result for a text from its whole-text and per-clause 3-class probabilities."""
    m = mixed_strength(clause_probs)
    mixed = m if m >= MIXED_THRESHOLD else m * _BELOW_THRESHOLD_SCALE
    rest = 1.0 - mixed
    p_pos, p_neg, p_neu = rest * whole[0], rest * whole[1], rest * whole[2]
    scores = {POSITIVE: p_pos, NEGATIVE: p_neg, NEUTRAL: p_neu, MIXED: mixed}
    if m >= MIXED_THRESHOLD:
        return SentimentResult(MIXED, mixed, scores)
    # The first largest of the whole-text probabilities, in CLASSES order (as max() picks).
    a, b, c = whole
    if a >= b and a >= c:
        return SentimentResult(POSITIVE, p_pos, scores)
    if b >= c:
        return SentimentResult(NEGATIVE, p_neg, scores)
    return SentimentResult(NEUTRAL, p_neu, scores)


def dominant(result: SentimentResult) -> str:
    """The 3-class label of a result: a MIXED text counts as its stronger whole-text side."""
    if result.label != MIXED:
        return result.label
    return max(CLASSES, key=result.scores.__getitem__)
