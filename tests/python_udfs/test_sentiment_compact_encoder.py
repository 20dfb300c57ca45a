"""The int8 encoder the sentiment engine runs (`compact_encoder`) and which head gets which embedding.

Loads all-MiniLM-L6-v2 (~7 s) once for the module.
"""

from __future__ import annotations

import copy

import numpy as np
import pytest

from churnml.errors import DataCorrupted
from churnml.sentiment import analyze, embed
from churnml.sentiment import weights as weight_files
from churnml.sentiment.compact_encoder import compact_encoder
from churnml.sentiment.encoder import (
    COMPACT_EMBEDDING,
    FULL_EMBEDDING,
    WEIGHTS_FILE,
    EncoderEngine,
    head_embed,
)
from churnml.sentiment.text import mixed_clauses

MESSAGES = [
    "You morons! You charged me extra again!",
    "How do I dial Morocco?",
    "Thank you very much for resolving the issues with my account",
    "I love the coverage but the bill is way too high",
    "x",
]


def test_embeddings_are_unit_vectors_close_to_the_float32_model() -> None:
    compact = compact_encoder().embed(MESSAGES)
    full = embed(MESSAGES)
    assert compact.shape == (len(MESSAGES), 384) and compact.dtype == np.float32
    assert np.allclose(np.linalg.norm(compact, axis=1), 1.0, atol=1e-5)
    cosine = (compact * full).sum(axis=1)
    # int8 noise, not a different model: measured 0.92-0.99 on the evaluation messages
    assert cosine.min() > 0.85, cosine
    # and not a copy of the float32 path either
    assert not np.allclose(compact, full, atol=1e-4)


def test_a_text_scores_the_same_alone_and_among_others() -> None:
    """Each text is its own forward pass: neighbours in a statement cannot change it."""
    together = compact_encoder().embed(MESSAGES + ["I want to cancel my contract today."] * 3)
    for i, text in enumerate(MESSAGES):
        assert np.array_equal(compact_encoder().embed([text])[0], together[i])
    one = analyze([MESSAGES[0]])[0]
    many = analyze([MESSAGES[0], *MESSAGES[1:], MESSAGES[0]])
    assert one == many[0] == many[-1]


def test_the_shipped_head_is_applied_to_the_embedding_it_was_trained_on() -> None:
    shipped = weight_files.load(WEIGHTS_FILE)
    assert shipped["embedding"] == COMPACT_EMBEDDING
    engine = EncoderEngine(shipped)
    assert engine.compact
    texts = [MESSAGES[0], *mixed_clauses(MESSAGES[0])]
    expected = engine.probs_from_embeddings(head_embed(texts))
    assert np.allclose(engine.probs(texts), expected, atol=1e-12)


def test_a_head_trained_on_the_float32_model_keeps_it() -> None:
    """Custom sentiment heads trained by 0.1.0 record the float32 embedding: they must keep scoring on it."""
    legacy = copy.deepcopy(weight_files.load(WEIGHTS_FILE))
    legacy["embedding"] = FULL_EMBEDDING
    engine = EncoderEngine(legacy)
    assert not engine.compact
    assert np.allclose(engine.probs([MESSAGES[1]]), engine.probs_from_embeddings(embed([MESSAGES[1]])), atol=1e-6)
    del legacy["embedding"]  # 0.1.0 heads before the field existed: the float32 model too
    assert not EncoderEngine(legacy).compact


def test_unknown_embedding_is_refused() -> None:
    weights = copy.deepcopy(weight_files.load(WEIGHTS_FILE))
    weights["embedding"] = "word2vec"
    with pytest.raises(DataCorrupted) as info:
        EncoderEngine(weights)
    assert "word2vec" in info.value.detail


def test_long_text_is_windowed_on_the_compact_path_too() -> None:
    long_text = " ".join(["The bill is wrong again and nobody answers the phone."] * 60)
    vector = head_embed([long_text])
    assert vector.shape == (1, 384)
    assert np.isclose(np.linalg.norm(vector), 1.0, atol=1e-5)
    assert analyze([long_text])[0].label == "NEGATIVE"
