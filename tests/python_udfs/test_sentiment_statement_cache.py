"""The per-statement sentiment cache: a repeated (engine, text) of one statement is scored once,
a new statement, another engine or another text is scored afresh, and memory stays bounded."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import pytest

from churnml import server
from churnml.sentiment import statement_cache
from churnml.sentiment.result import Probs
from churnml.sentiment.text import MAX_CHARS


class CountingEngine:
    """An engine that says POSITIVE for texts with 'good' and counts the texts it is asked."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.texts = 0

    def probs(self, texts: Sequence[str]) -> list[Probs]:
        self.texts += len(texts)
        return [(0.9, 0.05, 0.05) if "good" in t else (0.05, 0.9, 0.05) for t in texts]


@pytest.fixture
def statement(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[int]]:
    now = [1]
    monkeypatch.setattr(server, "statement_start", lambda: now[0])
    statement_cache.clear()
    yield now
    statement_cache.clear()


def test_repeats_of_one_statement_are_scored_once(statement: list[int]) -> None:
    engine = CountingEngine("a")
    first = statement_cache.result("good service", engine)
    assert statement_cache.result("good service", engine) is first
    assert engine.texts == 1
    assert statement_cache.result("bad service", engine) != first
    assert engine.texts == 2
    statement[0] = 2  # the next statement scores afresh
    assert statement_cache.result("good service", engine) == first
    assert engine.texts == 3 and statement_cache.snapshot()["entries"] == 1


def test_another_engine_is_another_key(statement: list[int]) -> None:
    a, b = CountingEngine("a"), CountingEngine("b")
    statement_cache.result("good", a)
    statement_cache.result("good", b)
    assert (a.texts, b.texts) == (1, 1)


def test_texts_alike_up_to_the_analysed_length_share_an_entry(statement: list[int]) -> None:
    engine = CountingEngine("a")
    base = "good " * (MAX_CHARS // 5)
    statement_cache.result(base + "tail one", engine)
    statement_cache.result(base + "tail two", engine)  # the engine never sees past MAX_CHARS
    assert engine.texts == 1


def test_bounded(statement: list[int]) -> None:
    engine = CountingEngine("a")
    for i in range(statement_cache.MAX_ENTRIES + 50):
        statement_cache.result(f"text {i}", engine)
    assert statement_cache.snapshot()["entries"] == statement_cache.MAX_ENTRIES
    statement_cache.result("text 0", engine)  # the oldest went first
    assert engine.texts == statement_cache.MAX_ENTRIES + 51


def test_none_and_outside_a_backend(monkeypatch: pytest.MonkeyPatch) -> None:
    engine = CountingEngine("a")
    assert statement_cache.result(None, engine) is None
    monkeypatch.setattr(server, "statement_start", lambda: None)
    statement_cache.result("good", engine)
    statement_cache.result("good", engine)
    assert engine.texts == 2 and statement_cache.snapshot()["entries"] == 0
