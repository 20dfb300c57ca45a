"""sentiment.text and sentiment.result: clause splitting, the cap, languages, the MIXED formula."""

from __future__ import annotations

import math

import pytest

from churnml.errors import InvalidParameter
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
