from __future__ import annotations

import time

import pytest

from churnml.text.sentences import first_sentence, sentences


@pytest.mark.parametrize(("text", "first"), [
    ("Why am I paying so much? I don't have time for this.", "Why am I paying so much?"),
    ("You morons! You charged me extra again!", "You morons!"),
    ("Dr. Smith called about my bill. It is wrong.", "Dr. Smith called about my bill."),
    ("My plan costs 35.5 dollars now. Before it was 30.", "My plan costs 35.5 dollars now."),
    ("I was charged e.g. for roaming. Please check.", "I was charged e.g. for roaming."),
    ("Hello\nI need help with my bill", "Hello"),
    ("No punctuation at all", "No punctuation at all"),
    ("  leading space. Then more.", "leading space."),
    ("Wait... what? This is wrong.", "Wait... what?"),
    ('He said "stop." Then he left.', 'He said "stop."'),
    ("", ""),
    ("   ", ""),
])
def test_first_sentence(text: str, first: str) -> None:
    assert first_sentence(text) == first


def test_null_and_all_sentences() -> None:
    assert first_sentence(None) is None
    assert sentences("One. Two! Three?") == ["One.", "Two!", "Three?"]


def test_huge_text_is_bounded() -> None:
    text = "word " * 250_000  # 1.25 MB with no sentence end
    start = time.perf_counter()
    result = first_sentence(text)
    assert time.perf_counter() - start < 0.5
    assert result is not None and len(result) <= 5_000
