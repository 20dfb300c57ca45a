"""Sentiment models users train on their own labelled messages (churnml.train_sentiment).

A custom model is a new head on the embeddings the shipped head uses (the int8
encoder; a head trained by 0.1.0 on the float32 model is applied to them too), fitted and
temperature-calibrated exactly like the shipped head (`train_head._train_linear`),
stored in the registry as JSON (kind 'sentiment') with its checksum, deployed and
rolled back like churn models, and used with detect_sentiment(..., engine => name).
"""

from __future__ import annotations

import json
import time
from collections import OrderedDict
from typing import Any

from churnml import progress, registry
from churnml.errors import DataException, InvalidParameter, ObjectNotInPrerequisiteState
from churnml.spi import Plpy

CLASSES = ("POSITIVE", "NEGATIVE", "NEUTRAL")
_ALIASES = {"positive": "POSITIVE", "pos": "POSITIVE", "1": "POSITIVE", "negative": "NEGATIVE", "neg": "NEGATIVE",
            "0": "NEGATIVE", "neutral": "NEUTRAL", "neu": "NEUTRAL"}
MIN_PER_CLASS = 5
_HEADS: OrderedDict[tuple[int, str], Any] = OrderedDict()


def normalize_label(value: Any) -> str:
    key = str(value).strip()
    label = _ALIASES.get(key.lower(), key.upper())
    if label not in CLASSES:
        raise DataException(f"unknown sentiment label {value!r}",
                            detail="Labels are POSITIVE, NEGATIVE or NEUTRAL (any case), or 1 / 0 for "
                                   "positive / negative.",
                            hint="MIXED is not trained: it is derived from the parts of a message.")
    return label


def train(plpy: Plpy, name: str, texts: list[Any], labels: list[Any],
          seed: int) -> tuple[dict[str, Any], dict[str, Any]]:
    """Fit a head; return (weights, metrics). Splits 70/15/15 per class (train/calibration/test)."""
    import random

    from churnml.lazy_numpy import np
    from churnml.sentiment.encoder import head_embed
    from churnml.sentiment.evaluate import scores
    from churnml.sentiment.int8_encoder import NAME as COMPACT_EMBEDDING
    from churnml.sentiment.train_head import C_GRID, Row, _train_linear

    pairs = [(str(t), normalize_label(lab)) for t, lab in zip(texts, labels, strict=True)
             if t is not None and str(t).strip() and lab is not None]
    counts = {c: sum(1 for _, lab in pairs if lab == c) for c in CLASSES}
    if min(counts.values()) < MIN_PER_CLASS:
        raise DataException("too few labelled messages per class to train a sentiment model",
                            detail=f"Counts: {counts}; each class needs at least {MIN_PER_CLASS}.",
                            hint="Add labelled POSITIVE, NEGATIVE and NEUTRAL messages.")
    rows: list[Row] = []
    for label in CLASSES:
        members = [t for t, lab in pairs if lab == label]
        random.Random(f"{seed}/{label}").shuffle(members)
        n_test = max(1, round(0.15 * len(members)))
        n_cal = max(1, round(0.15 * len(members)))
        for i, text in enumerate(members):
            split = "test" if i < n_test else "calibration" if i < n_test + n_cal else "train"
            rows.append(Row(text=text, label=label, source="user", split=split))
    started = time.perf_counter()
    plpy.notice(f"churnml.train_sentiment: embedding {len(rows)} messages")
    progress.phase("embedding messages")  # the encoder counts them
    embeddings = np.asarray(head_embed([r.text for r in rows]), dtype=np.float64)
    progress.phase("fitting the classifier", total=len(C_GRID), unit="settings of C")
    fitted = _train_linear(embeddings, rows, C_GRID)
    weights = fitted["weights"]
    weights["embedding"] = COMPACT_EMBEDDING
    engine = engine_from(weights)
    test = [r for r in rows if r.split == "test"]
    from churnml.sentiment.analysis import run

    progress.phase("evaluating", total=len(test), unit="messages")
    predicted = run([r.text for r in test], engine)
    metrics = scores([r.label for r in test], [p.label if p else "NEUTRAL" for p in predicted],
                     [p.confidence if p else None for p in predicted])
    metrics.update({"rows": len(rows), "counts": counts, "C": fitted["C"], "seconds": time.perf_counter() - started})
    return weights, json.loads(json.dumps(metrics, default=float))


def engine_from(weights: dict[str, Any] | bytes) -> Any:
    """The engine of a head, from its weights or its stored JSON, validated completely first."""
    from churnml.sentiment.encoder import EncoderEngine
    from churnml.sentiment.head_artifact import read_head

    engine = EncoderEngine(read_head(weights))
    engine.name = "custom"
    return engine


def head_for(plpy: Plpy, name: str) -> Any:
    """The engine of the sentiment model deployed as `name` (cached by id and checksum)."""
    try:
        deployment = registry.current_deployment(plpy, name)
    except ObjectNotInPrerequisiteState:
        raise InvalidParameter(
            f'unknown sentiment engine "{name}"',
            detail="Engines are 'encoder', 'lexicon', or the name of a deployed sentiment model.",
            hint="Train one with churnml.train_sentiment and deploy it, or pass engine => 'encoder'.") from None
    key = (deployment.model_id, deployment.artifact_sha256)
    engine = _HEADS.get(key)
    if engine is None:
        stored = registry.load_model(plpy, deployment.model_id, expected_sha256=deployment.artifact_sha256)
        if stored.feature_spec.get("kind") != "sentiment":
            raise InvalidParameter(f'"{name}" is a churn model, not a sentiment model',
                                   hint="Pass engine => 'encoder', 'lexicon' or a sentiment model's name.")
        engine = engine_from(stored.artifact)
        _HEADS[key] = engine
        while len(_HEADS) > 4:
            _HEADS.popitem(last=False)
    return engine
