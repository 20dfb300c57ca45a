"""churnml.sentiment.vader: the same four numbers as vaderSentiment's polarity_scores, always.

The lexicon engine's calibration was fitted on VADER's own scores, so the fast scorer must
not differ even in the last bit: every comparison here is exact.
"""

from __future__ import annotations

import random
from types import SimpleNamespace

import pytest
from vaderSentiment.vaderSentiment import BOOSTER_DICT, NEGATE, SPECIAL_CASES, SentimentIntensityAnalyzer

from churnml.sentiment import evaluation_examples, training_examples
from churnml.sentiment.vader import Polarity

ANALYZER = SentimentIntensityAnalyzer()
POLARITY = Polarity(ANALYZER)

# One or more texts for every rule of polarity_scores.
RULES = [
    "",
    "   ",
    "The book was good.",
    "VADER is VERY SMART, handsome, and FUNNY!!!",  # ALL-CAPS emphasis, boosters, "!"
    "VADER is not smart, handsome, nor funny.",  # negation
    "At least it isn't a horrible book.",  # "least", n't
    "Roger Dodger is one of the least compelling variations on this theme.",
    "The book was only kind of good.",  # "kind of" dampener
    "It was sort of bad and just enough ok",
    "The plot was good, but the characters are uncompelling and the dialog is not great.",  # but
    "good but good but bad bad good",  # "but" with equal valences (index() quirk)
    "Today only kinda sux! But I'll get by, lol",
    "Make sure you :) or :D today!",  # emoticons
    "Catch utf-8 emoji such as 💘 and 💋 and 😁",  # emojis
    "💘💋😁",
    "Not bad at all",
    "Sentiment analysis has never been this good!",  # never so/this
    "Without a doubt, excellent idea.",  # without doubt
    "Most automated sentiment analysis tools are shit. With VADER, sentiment analysis is the shit!",
    "On the other hand, VADER is quite bad ass",  # special cases
    "That place is the bomb, to die for, yeah right, kiss of death at the bus stop",
    "no good no no bad, no problem or worries",  # "no" rules
    "Is it good??? Really?? Why?",  # question marks
    "GREAT GREAT GREAT",  # all caps: no differential
    "(GOOD) 'bad' \"Great\" -excellent- ..ok..",  # punctuation around words
    "İyi GÜZEL café naïve résumé good",  # non-ASCII text
    "I paid for 100 minutes and got only 90",
    "The voicemail lost all my messages again. Useless!",
]


def _vader(text: str) -> tuple[float, float, float, float]:
    s = ANALYZER.polarity_scores(text)
    return s["neg"], s["neu"], s["pos"], s["compound"]


def _assert_same(texts: list[str]) -> None:
    for text in texts:
        assert POLARITY(text) == _vader(text), text


@pytest.mark.parametrize("text", RULES)
def test_rules(text: str) -> None:
    assert POLARITY(text) == _vader(text)


def test_bundled_texts() -> None:
    texts = [t for t, _ in evaluation_examples.MESSAGES] + list(evaluation_examples.MIXED_MESSAGES)
    texts += [e.text for e in training_examples.examples()] + list(training_examples.DEV_MIXED)
    _assert_same(texts)


def test_random_texts() -> None:
    """Word salad drawn to hit every rule: boosters, negations, idioms, caps, punctuation, emojis."""
    rng = random.Random(20240611)
    vocab = (
        sorted(ANALYZER.lexicon)[::40] + sorted(BOOSTER_DICT) + NEGATE
        + [word for key in SPECIAL_CASES for word in key.split()]
        + ["but", "BUT", "kind", "of", "no", "least", "at", "very", "or", "nor", "never", "so", "this",
           "without", "doubt", "the", "bill", "!!", "?", "??", ":)", ":-(", "(good)", "'hate'", "Bad!", "don't",
           "GREAT", "💘", "😁", "x"]
    )  # fmt: skip
    texts = []
    for _ in range(3000):
        words = [rng.choice(vocab) for _ in range(rng.randint(0, 20))]
        words = [w.upper() if rng.random() < 0.1 else w for w in words]
        texts.append(" ".join(words) + rng.choice(["", ".", "!", "!!!", "?", "???", " "]))
    _assert_same(texts)


def test_types_match() -> None:
    for text in RULES:
        assert all(type(v) is float for v in POLARITY(text)), text


def test_refuses_an_ascii_emoji_table() -> None:
    with pytest.raises(ValueError, match="ASCII"):
        Polarity(SimpleNamespace(lexicon=ANALYZER.lexicon, emojis={":)": "smile"}))
