"""VADER's `polarity_scores`, re-implemented for speed with bit-identical results.

vaderSentiment 3.3.2's `SentimentIntensityAnalyzer.polarity_scores` (Hutto & Gilbert,
ICWSM 2014; MIT licence) spends most of its time on work that does not change the answer:
it rebuilds the text one character at a time looking for emojis, and lower-cases the whole
word list again up to four times for every sentiment word, which makes a message's cost
grow with the square of its length. `Polarity` applies the same rules in the same order,
with the same floating-point operations, to one lower-cased word list, and uses the
analyzer's own lexicon, emoji table and constants (never a copy), so its four numbers
equal VADER's exactly (tests/python_udfs/test_sentiment_vader.py compares them on every
bundled text and on random ones). On customer messages it is ~3.5x faster.

Quirks kept on purpose, because changing them would change the numbers: a word's valence
is looked up in lower case while ALL-CAPS emphasis reads the original word; `but` scales
the valences found by value (`list.index`), not by position; the punctuation amplifier
counts every "!" and "?" in the text.
"""

from __future__ import annotations

import math
import string
from typing import Any

from vaderSentiment import vaderSentiment as _vader

Scores = tuple[float, float, float, float]  # (neg, neu, pos, compound), rounded like VADER

_PUNCTUATION = string.punctuation
_BOOSTERS: dict[str, float] = _vader.BOOSTER_DICT
_SPECIAL_CASES: dict[str, float] = _vader.SPECIAL_CASES
_NEGATE = frozenset(_vader.NEGATE)
_N_SCALAR: float = _vader.N_SCALAR
_C_INCR: float = _vader.C_INCR
_SO_THIS = ("so", "this")
_OR_NOR = ("or", "nor")
_AT_VERY = ("at", "very")
# The words of the multi-word idioms and boosters that `_special_idioms_check` looks for.
_IDIOM_WORDS = frozenset(word for key in (*_SPECIAL_CASES, *_BOOSTERS) if " " in key for word in key.split(" "))


def _negated(word: str) -> bool:
    """vaderSentiment.negated([word]) for one lower-case word."""
    return word in _NEGATE or "n't" in word


def _tokens(text: str) -> list[str]:
    """SentiText.words_and_emoticons: words with outer punctuation stripped, unless that
    leaves two characters or fewer (then it was probably an emoticon such as ':)')."""
    return [word if len(stripped := word.strip(_PUNCTUATION)) <= 2 else stripped for word in text.split()]


class Polarity:
    """`polarity(text)` -> (neg, neu, pos, compound), equal to VADER's `polarity_scores`."""

    def __init__(self, analyzer: Any) -> None:
        self._lexicon: dict[str, float] = analyzer.lexicon
        self._emojis: dict[str, str] = analyzer.emojis
        if any(key.isascii() for key in self._emojis):
            # `__call__` skips the emoji pass for ASCII text; that is only exact while no
            # emoji key is ASCII (true of vaderSentiment's table).
            raise ValueError("VADER's emoji table has an ASCII key")

    def _without_emojis(self, text: str) -> str:
        """polarity_scores' emoji replacement, verbatim in effect (only non-ASCII text needs it)."""
        emojis = self._emojis
        parts: list[str] = []
        prev_space = True
        for char in text:
            if char in emojis:
                if not prev_space:
                    parts.append(" ")
                parts.append(emojis[char])
                prev_space = False
            else:
                parts.append(char)
                prev_space = char == " "
        return "".join(parts)

    def __call__(self, text: str) -> Scores:
        if text.isascii():
            text = text.strip()
            # In ASCII, lower-casing keeps every character's class and the text's length, so
            # the lower-case tokens are the tokens of the lower-case text; and the ALL-CAPS
            # test reads the same on a word with or without its outer punctuation, so the
            # words need no stripping of their own.
            return self.from_tokens(text.split(), _tokens(text.lower()), text)
        text = self._without_emojis(text).strip()
        words = _tokens(text)
        return self.from_tokens(words, [w.lower() for w in words], text)

    def from_tokens(self, words: list[str], lowers: list[str], text: str) -> Scores:
        """The scores of a text from its words, their lower-case tokens and the (stripped) text.

        Only the number of `words` and their ALL-CAPS test (`str.isupper`) are used.
        """
        lexicon = self._lexicon
        n = len(words)
        # Only lexicon words get a valence; every other word (and a lexicon word used as a
        # booster, or the "kind" of "kind of") is a 0, as in polarity_scores.
        sentiments: list[float] = [0] * n
        hits = [i for i, low in enumerate(lowers) if low in lexicon]
        if hits:
            upper = sum(map(str.isupper, words))
            cap_diff = 0 < n - upper < n
            for i in hits:
                low = lowers[i]
                if low in _BOOSTERS or (low == "kind" and i < n - 1 and lowers[i + 1] == "of"):
                    continue
                sentiments[i] = self._valence(words, lowers, i, cap_diff)
            if "but" in lowers:
                _but_check(lowers.index("but"), sentiments)
        return _score_valence(sentiments, hits, text)

    def _valence(self, words: list[str], lowers: list[str], i: int, cap_diff: bool) -> float:
        """SentimentIntensityAnalyzer.sentiment_valence for a lexicon word at position i."""
        lexicon = self._lexicon
        n = len(words)
        low = lowers[i]
        valence = lexicon[low]
        if low == "no" and i != n - 1 and lowers[i + 1] in lexicon:
            valence = 0.0
        if (
            (i > 0 and lowers[i - 1] == "no")
            or (i > 1 and lowers[i - 2] == "no")
            or (i > 2 and lowers[i - 3] == "no" and lowers[i - 1] in _OR_NOR)
        ):
            valence = lexicon[low] * _N_SCALAR
        if cap_diff and words[i].isupper():
            valence = valence + _C_INCR if valence > 0 else valence - _C_INCR
        for start in range(3):
            k = i - (start + 1)
            if k < 0:
                break
            before = lowers[k]
            if before in lexicon:
                continue
            scalar = 0.0
            if before in _BOOSTERS:  # scalar_inc_dec
                scalar = _BOOSTERS[before]
                if valence < 0:
                    scalar *= -1
                if cap_diff and words[k].isupper():
                    scalar = scalar + _C_INCR if valence > 0 else scalar - _C_INCR
                if start == 1:
                    scalar = scalar * 0.95
                elif start == 2:
                    scalar = scalar * 0.9
            valence = valence + scalar
            valence = _negation_check(valence, lowers, start, i)
            if start == 2:
                valence = _special_idioms_check(valence, lowers, i)
        if (  # _least_check
            i > 0
            and lowers[i - 1] == "least"
            and lowers[i - 1] not in lexicon
            and (i == 1 or lowers[i - 2] not in _AT_VERY)
        ):
            valence = valence * _N_SCALAR
        return valence


def _negation_check(valence: float, lowers: list[str], start: int, i: int) -> float:
    if start == 0:
        if _negated(lowers[i - 1]):
            valence = valence * _N_SCALAR
    elif start == 1:
        if lowers[i - 2] == "never" and lowers[i - 1] in _SO_THIS:
            valence = valence * 1.25
        elif lowers[i - 2] == "without" and lowers[i - 1] == "doubt":
            pass
        elif _negated(lowers[i - 2]):
            valence = valence * _N_SCALAR
    else:
        if (lowers[i - 3] == "never" and lowers[i - 2] in _SO_THIS) or lowers[i - 1] in _SO_THIS:
            valence = valence * 1.25
        elif lowers[i - 3] == "without" and (lowers[i - 2] == "doubt" or lowers[i - 1] == "doubt"):
            pass
        elif _negated(lowers[i - 3]):
            valence = valence * _N_SCALAR
    return valence


def _special_idioms_check(valence: float, lowers: list[str], i: int) -> float:
    three, two, one, zero = lowers[i - 3], lowers[i - 2], lowers[i - 1], lowers[i]
    n = len(lowers)
    # Every n-gram below but "zero one (two)" contains `one` or `two`, and a token has no
    # space, so an n-gram equals a key only if all its words are key words.
    if (
        one not in _IDIOM_WORDS
        and two not in _IDIOM_WORDS
        and (zero not in _IDIOM_WORDS or n - 1 <= i or lowers[i + 1] not in _IDIOM_WORDS)
    ):
        return valence
    onezero = f"{one} {zero}"
    twoonezero = f"{two} {one} {zero}"
    twoone = f"{two} {one}"
    threetwoone = f"{three} {two} {one}"
    threetwo = f"{three} {two}"
    for seq in (onezero, twoonezero, twoone, threetwoone, threetwo):
        if seq in _SPECIAL_CASES:
            valence = _SPECIAL_CASES[seq]
            break
    if n - 1 > i:
        zeroone = f"{zero} {lowers[i + 1]}"
        if zeroone in _SPECIAL_CASES:
            valence = _SPECIAL_CASES[zeroone]
    if n - 1 > i + 1:
        zeroonetwo = f"{zero} {lowers[i + 1]} {lowers[i + 2]}"
        if zeroonetwo in _SPECIAL_CASES:
            valence = _SPECIAL_CASES[zeroonetwo]
    for n_gram in (threetwoone, threetwo, twoone):
        if n_gram in _BOOSTERS:
            valence = valence + _BOOSTERS[n_gram]
    return valence


def _but_check(but_index: int, sentiments: list[float]) -> None:
    """VADER's `_but_check`, verbatim: it finds each value's position with `index` (the
    first equal value), so equal valences on both sides of 'but' are scaled as VADER does."""
    for sentiment in sentiments:
        si = sentiments.index(sentiment)
        if si < but_index:
            sentiments.pop(si)
            sentiments.insert(si, sentiment * 0.5)
        elif si > but_index:
            sentiments.pop(si)
            sentiments.insert(si, sentiment * 1.5)


def _score_valence(sentiments: list[float], hits: list[int], text: str) -> Scores:
    """score_valence; `hits` are the only positions that can hold a non-zero valence
    (`_but_check` rescales values in place and never moves one onto a zero)."""
    if not hits:
        # No valence at all: what the general formula gives (every word neutral, or no words).
        return (0.0, 1.0, 0.0, 0.0) if sentiments else (0.0, 0.0, 0.0, 0.0)
    sum_s = float(sum(sentiments))
    ep_count = min(text.count("!"), 4)
    qm_count = text.count("?")
    qm_amplifier: float = 0
    if qm_count > 1:
        qm_amplifier = qm_count * 0.18 if qm_count <= 3 else 0.96
    amplifier = ep_count * 0.292 + qm_amplifier
    if sum_s > 0:
        sum_s += amplifier
    elif sum_s < 0:
        sum_s -= amplifier
    compound = sum_s / math.sqrt((sum_s * sum_s) + 15)
    if compound < -1.0:
        compound = -1.0
    elif compound > 1.0:
        compound = 1.0
    pos_sum = 0.0
    neg_sum = 0.0
    neu_count = sentiments.count(0)
    for i in hits:  # in order, so the sums are VADER's to the last bit
        score = sentiments[i]
        if score > 0:
            pos_sum += float(score) + 1
        elif score < 0:
            neg_sum += float(score) - 1
    if pos_sum > math.fabs(neg_sum):
        pos_sum += amplifier
    elif pos_sum < math.fabs(neg_sum):
        neg_sum -= amplifier
    total = pos_sum + math.fabs(neg_sum) + neu_count
    return (
        round(math.fabs(neg_sum / total), 3),
        round(math.fabs(neu_count / total), 3),
        round(math.fabs(pos_sum / total), 3),
        round(compound, 4),
    )
