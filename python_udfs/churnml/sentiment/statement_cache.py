"""The running statement's sentiment results: `(detect_sentiment(x)).*` scores x once.

PostgreSQL expands `(f(x)).*` in a SELECT list into one call of f per column, and
Aurora's own page writes `SET sentiment = (f(x)).sentiment, confidence = (f(x)).confidence`:
the same text is scored two or more times per row (pg_stat_user_functions counted 209
calls for 99 rows), a few milliseconds each with the encoder. Aurora moves the call into
FROM; churnml cannot rewrite the plan, so the repeats are answered from here instead.

A result depends only on the engine object and the analysed text: built-in engines are
fixed per process, and a deployed model's engine is its own object per (model id,
checksum), so a deploy gives a new object and a new key. The key holds the engine by
identity (its id, with the engine kept in the entry, so the id cannot be reused while
the entry lives). The results live for one statement (the server's statement start,
`churnml.server.statement_start`), so they never outlast it; memory is bounded by
MAX_ENTRIES texts of at most `text.MAX_CHARS` characters each. Outside a backend (no
statement start) nothing is kept.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

from churnml import server
from churnml.sentiment.analysis import Engine, run_one
from churnml.sentiment.result import SentimentResult
from churnml.sentiment.text import MAX_CHARS

# The repeats of `(f(x)).*` are the calls right after the first, so a few entries would do; more
# also answer a text that comes back in the same statement. 256 texts of at most MAX_CHARS
# (4,000) characters: at most ~4 MB of text, usually a few hundred kB.
MAX_ENTRIES = 256

_statement: list[int | None] = [None]
_results: OrderedDict[tuple[int, str], tuple[Engine, SentimentResult | None]] = OrderedDict()
# what the tests read (through a superuser's PL/Python): answers served from here, and computed
counts = {"hits": 0, "misses": 0}


def result(text: str | None, scorer: Engine) -> SentimentResult | None:
    """`analysis.run_one(text, scorer)`, computed once per statement for each (engine, text)."""
    if not isinstance(text, str):  # None is None; anything else gets run_one's own error
        return run_one(text, scorer)
    statement = server.statement_start()
    if statement is None:
        return run_one(text, scorer)
    if statement != _statement[0]:
        _results.clear()
        _statement[0] = statement
    key = (id(scorer), text[:MAX_CHARS] if len(text) > MAX_CHARS else text)
    found = _results.get(key)
    if found is not None and found[0] is scorer:
        _results.move_to_end(key)
        counts["hits"] += 1
        return found[1]
    answer = run_one(text, scorer)
    counts["misses"] += 1
    _results[key] = (scorer, answer)
    if len(_results) > MAX_ENTRIES:
        _results.popitem(last=False)
    return answer


def clear() -> None:
    _results.clear()
    _statement[0] = None


def snapshot() -> dict[str, Any]:
    """Counts and size, for tests and benchmarks."""
    return {**counts, "entries": len(_results)}
