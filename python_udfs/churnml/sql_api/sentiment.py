"""SQL area: sentiment of messages, embeddings, per-customer summaries."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from datetime import datetime
from typing import Any, cast

from churnml import interrupts, progress
from churnml.errors import InvalidParameter, NullValueNotAllowed
from churnml.sentiment import statement_cache
from churnml.spi import Plpy
from churnml.sql_api.entry import entry

DEFAULT_ENGINE = "encoder"
SCORE_KEYS = ("POSITIVE", "NEGATIVE", "NEUTRAL", "MIXED")


def _engine(engine: str | None) -> str:
    # An unset custom setting reads as NULL, a RESET one as ''.
    return engine.strip() if engine and engine.strip() else DEFAULT_ENGINE


def _language(language: str | None) -> str:
    if language is None:
        raise NullValueNotAllowed("language_code must not be NULL", hint="Pass 'en'.")
    return language


# (engine, language_code) as passed from SQL -> the checked built-in engine. detect_sentiment
# runs once per row, and these checks (name, language, weights) gave the same answer for
# every row; a deployed custom model is looked up per call instead, since it can change.
_BUILT_IN: dict[tuple[str | None, str | None], Any] = {}
_BUILT_IN_MAX = 64


def scorer_for(plpy: Plpy, language: str | None, engine: str | None) -> Any:
    """The engine named or set for this session (see `_engine`), after checking the language."""
    found = _BUILT_IN.get((engine, language))
    if found is not None:
        return found
    from churnml.sentiment.analysis import ENGINES, resolve

    name = _engine(engine)
    if name.lower() in ENGINES:
        found = resolve(name.lower(), _language(language))
        if len(_BUILT_IN) < _BUILT_IN_MAX:
            _BUILT_IN[(engine, language)] = found
        return found
    from churnml.sentiment.custom_models import head_for
    from churnml.sentiment.text import normalize_language

    normalize_language(_language(language))
    return head_for(plpy, name)


def analyze_texts(plpy: Plpy, texts: list[str | None], language: str | None, engine: str | None) -> list[Any]:
    """Sentiment results (or None for NULL texts) with the engine named or set for this session."""
    from churnml.sentiment.analysis import run

    return run(texts, scorer_for(plpy, language, engine))


def _row(result: Any) -> dict[str, Any]:
    return {"sentiment": result.label, "confidence": result.confidence,
            "positive": result.scores["POSITIVE"], "negative": result.scores["NEGATIVE"],
            "neutral": result.scores["NEUTRAL"], "mixed": result.scores["MIXED"]}


@entry
def detect(plpy: Plpy, text: str | None, language: str | None, engine: str | None) -> dict[str, Any] | None:
    result = statement_cache.result(text, scorer_for(plpy, language, engine))
    if result is None:
        return None
    return {"sentiment": result.label, "confidence": result.confidence}


@entry
def scores(plpy: Plpy, text: str | None, language: str | None, engine: str | None) -> dict[str, Any] | None:
    result = statement_cache.result(text, scorer_for(plpy, language, engine))
    if result is None:
        return None
    row = _row(result)
    return {k: row[k] for k in ("positive", "negative", "neutral", "mixed")}


# Batch calls do all their work before the first row (in chunks, honouring cancel between
# them) and keep only compact results, then hand rows on one at a time: an error raised
# while PL/Python is fetching rows would reach the client as "error fetching next item
# from iterator", with the real message demoted to its DETAIL.


@entry
def detect_batch(plpy: Plpy, texts: list[str | None] | None, language: str | None,
                 engine: str | None) -> Iterator[dict[str, Any]]:
    """One row per text."""
    if texts is None:
        return iter(())
    with progress.operation("detect_sentiment_batch", "scoring texts", total=len(texts), unit="texts"):
        results = analyze_texts(plpy, texts, language, engine)
    return _detect_rows(results)


def _detect_rows(results: list[Any]) -> Iterator[dict[str, Any]]:
    for i, result in enumerate(results, start=1):
        row = {"ordinality": i, "sentiment": None, "confidence": None, "positive": None, "negative": None,
               "neutral": None, "mixed": None}
        if result is not None:
            row.update(_row(result))
        yield row


def _score(result: Any) -> float:
    return float(result.scores["POSITIVE"] - result.scores["NEGATIVE"])


def _slope_per_day(times: list[datetime], values: list[float]) -> float | None:
    days = [t.timestamp() / 86_400.0 for t in times]
    if len(set(days)) < 2:
        return None
    mean_x, mean_y = sum(days) / len(days), sum(values) / len(values)
    sxx = sum((x - mean_x) ** 2 for x in days)
    sxy = sum((x - mean_x) * (y - mean_y) for x, y in zip(days, values, strict=True))
    return sxy / sxx if sxx > 0 else None


def _parse_times(plpy: Plpy, times: list[Any] | None, n: int) -> list[datetime] | None:
    if times is None:
        return None
    if len(times) != n:
        raise InvalidParameter(f"times has {len(times)} elements but input_texts has {n}",
                               hint="Pass one time per message, e.g. array_agg(calltime ORDER BY calltime).")
    if any(t is None for t in times):
        return None
    if any(str(t) in ("infinity", "-infinity") for t in times):
        raise InvalidParameter("times must be finite", hint="Pass the messages' real times, or NULL for none.")
    # PL/Python hands timestamptz over as text; PostgreSQL's ISO output parses directly.
    return [datetime.fromisoformat(str(t)) for t in times]


@entry
def summary(plpy: Plpy, texts: list[str | None] | None, times: list[Any] | None, language: str | None,
            engine: str | None) -> dict[str, Any] | None:
    if texts is None:
        return None
    parsed = _parse_times(plpy, times, len(texts))
    with progress.operation("sentiment_summary", "scoring texts", total=len(texts), unit="texts"):
        results = analyze_texts(plpy, list(texts), language, engine)
    kept = [(i, r) for i, r in enumerate(results) if r is not None]
    if not kept:
        return {"messages": 0, "latest": None, "latest_confidence": None, "mean_score": None, "worst_text": None,
                "worst_score": None, "trend_per_day": None}
    order = sorted(kept, key=lambda item: (parsed[item[0]], item[0])) if parsed else kept
    latest = order[-1][1]
    values = [_score(r) for _, r in kept]
    worst_index, worst = min(kept, key=lambda item: _score(item[1]))
    trend = None
    if parsed:
        trend = _slope_per_day([parsed[i] for i, _ in kept], values)
    return {"messages": len(kept), "latest": latest.label, "latest_confidence": latest.confidence,
            "mean_score": math.fsum(values) / len(values), "worst_text": texts[worst_index],
            "worst_score": _score(worst), "trend_per_day": trend}


@entry
def embed_one(plpy: Plpy, text: str | None) -> list[float] | None:
    if text is None:
        return None
    from churnml.sentiment import embed

    vector: list[float] = embed([text])[0].tolist()
    return vector


# Texts embedded per step of embed_batch: a cancel is honoured between steps.
EMBED_CHUNK = 512


@entry
def embed_batch(plpy: Plpy, texts: list[str | None] | None) -> Iterator[dict[str, Any]]:
    """One row per text; the embeddings are kept as one float32 array (1.5 kB a text) until
    each row is handed on, not as Python floats (~13 kB a text)."""
    if texts is None:
        return iter(())
    from churnml.lazy_numpy import np
    from churnml.sentiment import embed
    from churnml.sentiment.encoder import EMBEDDING_DIM

    present = [i for i, t in enumerate(texts) if t is not None]
    vectors = np.empty((len(present), EMBEDDING_DIM), dtype=np.float32)
    with progress.operation("embed_batch", "embedding texts", total=len(present), unit="texts"):
        for first in range(0, len(present), EMBED_CHUNK):
            interrupts.check()
            members = present[first : first + EMBED_CHUNK]
            vectors[first : first + len(members)] = embed(cast(list[str], [texts[i] for i in members]))  # present ones
            progress.advance(len(members))
    return _embedding_rows(len(texts), present, vectors)


def _embedding_rows(n: int, present: list[int], vectors: Any) -> Iterator[dict[str, Any]]:
    row_of = dict(zip(present, range(len(present)), strict=True))
    for i in range(n):
        k = row_of.get(i)
        yield {"ordinality": i + 1, "embedding": None if k is None else vectors[k].tolist()}


@entry
@progress.tracked("train_sentiment", "reading the source")
def train_sentiment(plpy: Plpy, name: str, source: str, text_column: str, label_column: str, seed: int,
                    deploy: bool, search_path: str | None) -> int:
    from churnml import registry
    from churnml.sentiment import custom_models
    from churnml.source_data import check_wanted, probe_source, read_source
    from churnml.training.split import check_seed

    registry.check_model_name(name)
    check_seed(seed)  # as churnml.train's: a non-negative integer
    for argument, column in (("text_column", text_column), ("label_column", label_column)):
        if column is None:
            raise NullValueNotAllowed(f"{argument} must name a column of the source, not NULL",
                                      hint="e.g. churnml.train_sentiment('tone', 'labelled_messages', 'message', "
                                           "'label')")
    registry.check_kind(plpy, name, "sentiment")
    # the columns from a LIMIT 0 probe, before a row is read
    probed = probe_source(plpy, source, search_path)
    check_wanted(probed, [text_column, label_column])
    data = read_source(plpy, probed, search_path, wanted=[text_column, label_column])
    weights, metrics = custom_models.train(plpy, name, data.columns[text_column], data.columns[label_column], seed)
    progress.phase("storing the model")
    artifact = json.dumps(weights, sort_keys=True, allow_nan=False).encode()
    model_id = registry.insert_model(
        plpy, name=name, kind="sentiment", artifact=artifact, artifact_format="churnml-json",
        feature_spec={"kind": "sentiment", "encoder": "all-MiniLM-L6-v2", "classes": list(custom_models.CLASSES),
                      "text_column": text_column},
        params={"C": metrics.get("C"), "seed": seed}, metrics={"test": metrics},
        training={"source": data.description, "label": label_column, "rows": data.rows,
                  "seconds": metrics.get("seconds")},
        holdout_labels=[], holdout_scores=[], parent_id=None)
    plpy.notice(f'churnml.train_sentiment: model {model_id} "{name}": test accuracy '
                f'{metrics.get("accuracy", float("nan")):.3f}, macro-F1 {metrics.get("macro_f1", float("nan")):.3f}')
    if deploy:
        from churnml.sql_api.models import deploy_model

        deploy_model(plpy, name, model_id, None, None)
    return model_id
