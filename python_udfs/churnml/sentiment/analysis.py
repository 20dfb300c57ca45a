"""`analyze`: texts in, `SentimentResult`s out, with either engine.

Per text: NULL (None) gives None; the text is capped to `text.MAX_CHARS` characters; a
capped text that is empty or only whitespace is NEUTRAL with confidence 1.0 (there is no
opinion in it, and neither engine should be asked); otherwise the engine scores the whole
text and, when it has two or more clauses (`text.mixed_clauses`), each clause, in one batch,
and `result.combine` applies the MIXED rule.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, Protocol

from churnml import interrupts, progress
from churnml.errors import DatatypeMismatch, InvalidParameter
from churnml.sentiment.result import EMPTY_RESULT, Probs, SentimentResult, combine
from churnml.sentiment.text import MAX_CHARS, mixed_clauses, normalize_language

ENGINES: tuple[str, str] = ("encoder", "lexicon")
DEFAULT_ENGINE = "encoder"


class Engine(Protocol):
    name: str

    def probs(self, texts: Sequence[str]) -> list[Probs]: ...


_ENGINES: dict[str, Engine] = {}
_RESOLVED: dict[tuple[str, str], Engine] = {}
_RESOLVED_MAX = 64  # distinct spellings ('en', 'en-US', ' Lexicon ', ...) a process remembers


def get_engine(name: str) -> Engine:
    """The process's engine `name`, with its shipped weights (verified on first use)."""
    found = _ENGINES.get(name)
    if found is not None:
        return found
    if name == "lexicon":
        from churnml.sentiment.lexicon import LexiconEngine

        found = LexiconEngine.shipped()
    elif name == "encoder":
        from churnml.sentiment.encoder import EncoderEngine

        found = EncoderEngine.shipped()
    else:
        raise InvalidParameter(
            f"unknown sentiment engine: {name!r}",
            detail="Supported engines: " + ", ".join(ENGINES) + ".",
            hint="Use 'encoder' (accurate, a few ms a message) or 'lexicon' (VADER, microseconds a message).",
        )
    _ENGINES[name] = found
    return found


def analyze(
    texts: Sequence[str | None], engine: str = DEFAULT_ENGINE, language: str = "en"
) -> list[SentimentResult | None]:
    """The sentiment of each text: a SentimentResult, or None for a None text."""
    if isinstance(texts, (str, bytes)):  # a tuple: cheaper per call than a union
        raise InvalidParameter(
            "texts must be a list of strings, not a single string",
            detail="A single string would be analysed character by character.",
            hint="Wrap one text in a list: analyze([text]).",
        )
    return run(texts, resolve(engine, language))


def resolve(engine: Any, language: Any) -> Engine:
    """The engine for (engine name, language), after checking both; remembered per process.

    Both checks depend only on the two strings and the shipped weights, so a repeated
    pair (every row of a statement) costs one dictionary look-up.
    """
    key = (engine, language)
    found = _RESOLVED.get(key)
    if found is None:
        if language != "en":
            normalize_language(language)
        found = _ENGINES.get(engine) or _engine_named(engine)
        if len(_RESOLVED) < _RESOLVED_MAX and isinstance(engine, str) and isinstance(language, str):
            _RESOLVED[key] = found
    return found


def _engine_named(name: Any) -> Engine:
    if not isinstance(name, str):
        raise InvalidParameter(
            "sentiment engine must be a string",
            detail="Supported engines: " + ", ".join(ENGINES) + ".",
            hint="Pass engine => 'encoder' or engine => 'lexicon'.",
        )
    return get_engine(name.strip().lower())


# Texts scored per step of `run_chunks`: between steps a cancel or statement_timeout is
# honoured and finished results can be handed on, so neither the wait nor the memory
# grows with the batch (256 texts: ~0.6 s with the encoder on one core, ~15 ms with the lexicon).
CHUNK_TEXTS = 256


def run(texts: Sequence[str | None], scorer: Engine) -> list[SentimentResult | None]:
    """`analyze` with a given engine object (the training script evaluates unsaved weights)."""
    return [result for chunk in run_chunks(texts, scorer) for result in chunk]


def run_chunks(texts: Sequence[str | None], scorer: Engine,
               chunk: int = CHUNK_TEXTS) -> Iterator[list[SentimentResult | None]]:
    """The results of `run`, CHUNK_TEXTS texts at a time, checking for interrupts in between."""
    for first in range(0, len(texts), chunk):
        interrupts.check()
        done = _run_chunk(texts[first : first + chunk], scorer, first)
        progress.advance(len(done))
        yield done


def _run_chunk(texts: Sequence[str | None], scorer: Engine, offset: int) -> list[SentimentResult | None]:
    results: list[SentimentResult | None] = [None] * len(texts)
    todo: list[int] = []
    batch: list[str] = []  # whole texts first, then every clause
    clause_lists: list[list[str]] = []
    for i, text in enumerate(texts):
        if text is None:
            continue
        capped = _capped(text, offset + i)
        if capped is None:
            results[i] = EMPTY_RESULT
            continue
        todo.append(i)
        batch.append(capped)
        clause_lists.append(mixed_clauses(capped))
    if not todo:
        return results
    for parts in clause_lists:
        batch.extend(parts)
    probs = scorer.probs(batch)
    position = len(todo)
    for k, i in enumerate(todo):
        count = len(clause_lists[k])
        results[i] = combine(probs[k], probs[position : position + count])
        position += count
    return results


def run_one(text: str | None, scorer: Engine) -> SentimentResult | None:
    """`run([text], scorer)[0]` without the batch bookkeeping (one SQL call per row)."""
    if text is None:
        return None
    capped = _capped(text, 0)
    if capped is None:
        return EMPTY_RESULT
    clauses = mixed_clauses(capped)
    if not clauses:
        return combine(scorer.probs([capped])[0], ())
    probs = scorer.probs([capped, *clauses])
    return combine(probs[0], probs[1:])


def _capped(text: Any, i: int) -> str | None:
    """The analysed part of item i (`text.MAX_CHARS`), or None when it is empty or blank."""
    if isinstance(text, list):  # what PL/Python makes of a 2-D text[]
        raise DatatypeMismatch(
            "sentiment texts must be a one-dimensional array",
            detail=f"Item {i + 1} is itself an array.",
            hint="Pass a text[] of one dimension, e.g. ARRAY['first message', 'second message'].",
        )
    if not isinstance(text, str):
        raise DatatypeMismatch(
            "sentiment texts must be strings",
            detail=f"Item {i + 1} is a {type(text).__name__}.",
            hint="Pass text values, or NULL for no text.",
        )
    capped = text[:MAX_CHARS] if len(text) > MAX_CHARS else text
    if not capped or capped.isspace():
        return None
    return capped
