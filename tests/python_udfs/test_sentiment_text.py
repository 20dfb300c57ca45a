"""sentiment.text and sentiment.result: clause splitting, the cap, languages, the MIXED formula."""

from __future__ import annotations

import math
import random

import pytest

from churnml.errors import InvalidParameter
from churnml.sentiment import evaluation_examples as ev
from churnml.sentiment import text as text_module
from churnml.sentiment.result import (
    EMPTY_RESULT,
    LABELS,
    MIXED,
    MIXED_THRESHOLD,
    NEGATIVE,
    NEUTRAL,
    POSITIVE,
    combine,
    dominant,
    mixed_strength,
)
from churnml.sentiment.text import MAX_CHARS, cap, mixed_clauses, normalize_language


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("I love the coverage but the bill is way too high", ["I love the coverage", "the bill is way too high"]),
        ("The plan is cheap. However, the data is slow.", ["The plan is cheap.", "the data is slow."]),
        (
            "Although the agent was friendly, my problem is not fixed.",
            ["the agent was friendly", "my problem is not fixed."],
        ),
        (
            "Call quality is fantastic. The data speeds are awful though.",
            ["Call quality is fantastic.", "The data speeds are awful"],
        ),
        ("Line one is here\nline two is there", ["Line one is here", "line two is there"]),
        # one clause: no split at all, or the other parts are too short / courtesy only
        ("How do I dial Morocco?", []),
        ("Hi, my bill is wrong. Thanks in advance.", []),
        ("Not only cheap but also fast.", []),
        ("It is anything but cheap.", []),
        ("Thanks, but no.", []),
        ("", []),
    ],
)
def test_mixed_clauses(text: str, expected: list[str]) -> None:
    assert mixed_clauses(text) == expected


def test_cap() -> None:
    short = "x" * MAX_CHARS
    assert cap(short) is short
    assert cap("y" * (MAX_CHARS + 10)) == "y" * MAX_CHARS


@pytest.mark.parametrize("code", ["en", "EN", "en-US", "en_GB", " en-au ", "En-gb"])
def test_english_variants_accepted(code: str) -> None:
    assert normalize_language(code) == "en"


@pytest.mark.parametrize("code", ["de", "fr-FR", "", "english", None, 5])
def test_unsupported_language(code: object) -> None:
    with pytest.raises(InvalidParameter) as info:
        normalize_language(code)  # type: ignore[arg-type]
    assert info.value.message.startswith("unsupported sentiment language")
    assert "en" in (info.value.detail or "")
    assert info.value.hint


def _check(result: object) -> None:
    scores = result.scores  # type: ignore[attr-defined]
    assert set(scores) == set(LABELS)
    assert math.isclose(sum(scores.values()), 1.0, abs_tol=1e-9)
    assert result.confidence == scores[result.label]  # type: ignore[attr-defined]
    assert result.confidence == max(scores.values())  # type: ignore[attr-defined]


def test_combine_single_clause() -> None:
    result = combine((0.7, 0.2, 0.1), [])
    assert result.label == POSITIVE
    assert result.scores[MIXED] == 0.0
    _check(result)


def test_combine_mixed() -> None:
    whole = (0.3, 0.6, 0.1)
    result = combine(whole, [(0.9, 0.05, 0.05), (0.05, 0.8, 0.15)])
    assert result.label == MIXED
    assert result.scores[MIXED] == pytest.approx(0.8)  # min(0.9, 0.8)
    assert result.scores[NEGATIVE] == pytest.approx(0.2 * 0.6)
    assert dominant(result) == NEGATIVE
    _check(result)


def test_combine_below_threshold_keeps_whole_label() -> None:
    result = combine((0.1, 0.6, 0.3), [(0.55, 0.4, 0.05), (0.05, 0.9, 0.05)])
    assert result.label == NEGATIVE
    assert result.scores[MIXED] == pytest.approx(0.55 / 4)
    _check(result)


def test_mixed_needs_two_different_clauses() -> None:
    # one clause both positive-ish and negative-ish is not MIXED by itself
    assert mixed_strength([(0.5, 0.5, 0.0)]) == 0.0
    assert mixed_strength([(0.9, 0.1, 0.0), (0.8, 0.15, 0.05)]) == pytest.approx(0.15)
    assert mixed_strength([(0.9, 0.95, 0.0), (0.7, 0.2, 0.1), (0.1, 0.6, 0.3)]) == pytest.approx(0.7)


def test_threshold_edge_and_worst_case_argmax() -> None:
    at = combine((1 / 3, 1 / 3, 1 / 3), [(MIXED_THRESHOLD, 0.2, 0.2), (0.2, MIXED_THRESHOLD, 0.2)])
    assert at.label == MIXED
    _check(at)
    below = combine((1 / 3, 1 / 3, 1 / 3), [(0.599, 0.2, 0.201), (0.2, 0.599, 0.201)])
    assert below.label != MIXED
    _check(below)


def test_empty_result() -> None:
    assert EMPTY_RESULT.label == NEUTRAL and EMPTY_RESULT.confidence == 1.0
    _check(EMPTY_RESULT)


def _reference_clauses(text: str) -> list[str]:
    """mixed_clauses without its shortcuts: every regular expression runs on every text."""
    out: list[str] = []
    for sentence in text_module.SENTENCE_END.split(text):
        opening = text_module._CONCESSIVE_START.match(sentence)
        pieces = sentence[opening.end() :].split(",", 1) if opening else [sentence]
        for piece in pieces:
            out.extend(text_module._counted(part) for part in text_module._CONTRAST.split(piece))
    kept = [part for part in out if part]
    return kept if len(kept) >= 2 else []


def test_shortcuts_never_change_the_clauses() -> None:
    """The substring pre-checks only skip work: the clauses are what the full split gives."""
    rng = random.Random(7)
    vocab = [
        "but", "BUT", "But,", "however", "However,", "although", "Although", "though", "even though", "while",
        "While", "whereas", "despite", "Despite", "nevertheless", "on the other hand", "except that",
        "nothing but", "all but", "but also", "good", "bad", "the", "bill", "Hi.", "Thanks.", "ok.", "I", "love",
        "hate", "it", ".", "!", "?", ";", ",", "\n", "-", "—", "button", "Thank you!", "great,", "awful",
        # non-ASCII letters that re.IGNORECASE matches but str.lower does not map to ASCII
        "whıle", "whİle", "whereaſ", "deſpite",
    ]  # fmt: skip
    texts = [t for t, _ in ev.MESSAGES] + list(ev.MIXED_MESSAGES)
    for _ in range(5000):
        words = [rng.choice(vocab) for _ in range(rng.randint(0, 14))]
        glue = rng.choice([" ", ". ", ", ", "", "\n"])
        texts.append(glue.join(words))
    for text in texts:
        assert mixed_clauses(text) == _reference_clauses(text), text


def test_may_split_at_matches_exactly_where_sentence_end_splits() -> None:
    for text in ["a. b", "a.b", "a\nb", "a!\tb", "a?", "a; b", "a\u2003b.", "a.\u00a0b", "a\rb", "a b"]:
        found = text_module._MAY_SPLIT_AT.search(text) is not None
        assert found == (len(text_module.SENTENCE_END.split(text)) > 1), repr(text)


def test_mixed_strength_pairs_equal_the_sorted_search() -> None:
    rng = random.Random(3)
    for _ in range(2000):
        probs = [(rng.random(), rng.random(), 0.0) for _ in range(rng.randint(2, 8))]
        brute = max(min(p[0], q[1]) for i, p in enumerate(probs) for j, q in enumerate(probs) if i != j)
        assert mixed_strength(probs) == brute


@pytest.mark.parametrize("whole", [(0.4, 0.4, 0.2), (0.2, 0.4, 0.4), (0.4, 0.2, 0.4), (1 / 3, 1 / 3, 1 / 3)])
def test_ties_go_to_the_first_class(whole: tuple[float, float, float]) -> None:
    expected = ("POSITIVE", "NEGATIVE", "NEUTRAL")[max(range(3), key=whole.__getitem__)]
    assert combine(whole, []).label == expected
