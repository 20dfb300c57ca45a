"""Sentiment of customer messages, inside the database backend (pure Python, testable outside it).

    analyze(texts, engine="encoder", language="en") -> list[SentimentResult | None]
    embed(texts, batch_size=64) -> np.ndarray (len(texts), 384), float32, L2-normalised
    encoder_loaded() -> bool

Engines: "encoder" (default: all-MiniLM-L6-v2 embeddings + a trained logistic head; loads
torch on first use) and "lexicon" (calibrated VADER; never imports torch). Labels are
POSITIVE, NEGATIVE, NEUTRAL and MIXED (see `churnml.sentiment.result` for the MIXED rule);
texts are capped at MAX_CHARS characters (see `churnml.sentiment.text`).

The shipped weights were trained by `churnml.sentiment.train_head` on the UCI "Sentiment
Labelled Sentences" data set (Kotzias, Denil, de Freitas & Smyth, "From Group to Individual
Labels using Deep Features", KDD 2015; CC BY 4.0) plus the examples of `training_examples`
(examples/training_examples.toml); only the weights ship, never the UCI sentences.

Importing this package is cheap (no numpy, no torch): the engines load on first use.
"""

from __future__ import annotations

from typing import Any

from churnml.sentiment.analysis import DEFAULT_ENGINE, ENGINES, analyze
from churnml.sentiment.result import LABELS, MIXED_THRESHOLD, SentimentResult
from churnml.sentiment.text import MAX_CHARS, SUPPORTED_LANGUAGES


def embed(texts: list[str], batch_size: int = 64) -> Any:
    """Normalised all-MiniLM-L6-v2 embeddings (float32, shape (len(texts), 384)) of the capped texts."""
    from churnml.sentiment import encoder

    return encoder.embed(texts, batch_size=batch_size)


def encoder_loaded() -> bool:
    """Whether this process has loaded an encoder (the sentiment engine's int8 one or the float32 model)."""
    from churnml.sentiment import encoder

    return encoder.encoder_loaded()


__all__ = [
    "DEFAULT_ENGINE",
    "ENGINES",
    "LABELS",
    "MAX_CHARS",
    "MIXED_THRESHOLD",
    "SUPPORTED_LANGUAGES",
    "SentimentResult",
    "analyze",
    "embed",
    "encoder_loaded",
]
