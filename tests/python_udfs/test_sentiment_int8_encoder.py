"""The int8 encoder the sentiment engine runs (`int8_encoder`, C) for every head, whatever it was fitted to."""

from __future__ import annotations

import copy
import json
import math
import struct
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from churnml.errors import DataCorrupted
from churnml.sentiment import _int8_encoder, analyze, embed
from churnml.sentiment import weights as weight_files
from churnml.sentiment.encoder import (
    COMPACT_EMBEDDING,
    FULL_EMBEDDING,
    WEIGHTS_FILE,
    EncoderEngine,
    head_embed,
)
from churnml.sentiment.int8_encoder import (
    TOKENS_PER_PASS,
    int8_encoder,
    quantize_rows,
    read_safetensors,
)
from churnml.sentiment.text import mixed_clauses

REPO = Path(__file__).resolve().parents[2]
MESSAGES = [
    "You morons! You charged me extra again!",
    "How do I dial Morocco?",
    "Thank you very much for resolving the issues with my account",
    "I love the coverage but the bill is way too high",
    "x",
]


def test_embeddings_are_unit_vectors_close_to_the_float32_model() -> None:
    compact = int8_encoder().embed(MESSAGES)
    full = embed(MESSAGES)
    assert compact.shape == (len(MESSAGES), 384) and compact.dtype == np.float32
    assert np.allclose(np.linalg.norm(compact, axis=1), 1.0, atol=1e-5)
    cosine = (compact * full).sum(axis=1)
    # int8 rounding, not a different model: measured 0.9925-0.9991 on these messages
    assert cosine.min() > 0.99, cosine
    # and not a copy of the float32 path either
    assert not np.allclose(compact, full, atol=1e-4)


def test_a_text_embeds_bit_for_bit_the_same_alone_and_packed_with_others() -> None:
    """Per-token quantization and per-text attention: neighbours in a pass cannot change a text."""
    others = ["I want to cancel my contract today.", "ok", "The bill is wrong " * 40]
    texts = MESSAGES + others + [clause for m in MESSAGES for clause in mixed_clauses(m)]
    together = int8_encoder().embed(texts)
    for i, text in enumerate(texts):
        assert np.array_equal(int8_encoder().embed([text])[0], together[i]), text
    reversed_order = int8_encoder().embed(texts[::-1])
    assert np.array_equal(reversed_order[::-1], together)
    one = analyze([MESSAGES[0]])[0]
    many = analyze([MESSAGES[0], *MESSAGES[1:], MESSAGES[0]])
    assert one == many[0] == many[-1]


def test_texts_beyond_one_pass_are_split_into_passes() -> None:
    text = "My phone bill is wrong again and I want it fixed today. " * 20  # ~250 word pieces
    n = TOKENS_PER_PASS // 200 + 3
    out = int8_encoder().embed([text] * n)
    assert out.shape == (n, 384)
    assert all(np.array_equal(row, out[0]) for row in out)


@pytest.mark.skipif(not _int8_encoder.vnni(), reason="this CPU has no AVX-512 VNNI")
def test_plain_c_products_give_the_same_embeddings_as_vnni() -> None:
    fast = int8_encoder().embed(MESSAGES)
    _int8_encoder.set_vnni(False)
    try:
        assert not _int8_encoder.vnni()
        plain = int8_encoder().embed(MESSAGES)
    finally:
        _int8_encoder.set_vnni(True)
    assert _int8_encoder.vnni()
    assert np.array_equal(fast, plain)  # the products are integers: exactly equal


def test_erf_and_exp_of_the_pass_are_accurate() -> None:
    x = np.linspace(-6, 6, 20001, dtype=np.float32)
    erf = np.frombuffer(_int8_encoder.erf_values(x.tobytes()), dtype=np.float32)
    assert np.abs(erf - np.array([math.erf(float(v)) for v in x])).max() < 5e-7
    x = np.linspace(-80, 0, 20001, dtype=np.float32)
    exp = np.frombuffer(_int8_encoder.exp_values(x.tobytes()), dtype=np.float32)
    reference = np.exp(x.astype(np.float64))
    assert (np.abs(exp - reference) / reference).max() < 2e-7


def test_weights_quantize_per_output_channel_within_half_a_step() -> None:
    rng = np.random.default_rng(7)
    weight = rng.normal(size=(32, 16)).astype(np.float32) * rng.uniform(0.01, 3.0, size=(32, 1)).astype(np.float32)
    weight[3] = 0.0
    q, scale = quantize_rows(weight)
    assert q.dtype == np.int8 and scale.dtype == np.float32 and np.abs(q).max() <= 127
    assert np.all(np.abs(q.astype(np.float32) * scale[:, None] - weight) <= scale[:, None] / 2 + 1e-6)
    assert scale[3] == 1.0 and not q[3].any()


@pytest.mark.parametrize(
    ("ids", "lengths", "message"),
    [
        ([101, 30522, 102], [3], "not in the vocabulary"),
        ([101, -1, 102], [3], "not in the vocabulary"),
        ([101, 102], [3], "ids for segments"),
        ([101, 102], [0, 2], "tokens, not 1 to"),
        ([101] * 513, [513], "tokens, not 1 to"),
        ([101, 102, 7], [3], "int32 buffers"),
    ],
)
def test_bad_ids_and_lengths_are_refused(ids: list[int], lengths: list[int], message: str) -> None:
    network = int8_encoder()._network
    raw_ids = np.asarray(ids, dtype=np.int32).tobytes()
    if message == "int32 buffers":
        raw_ids = raw_ids[:-1]
    with pytest.raises(ValueError, match=message):
        network.embed(raw_ids, np.asarray(lengths, dtype=np.int32).tobytes())


def test_no_segments_give_no_embeddings() -> None:
    assert int8_encoder()._network.embed(b"", b"") == b""
    assert int8_encoder().embed([]).shape == (0, 384)


def _safetensors(path: Path, tensors: dict[str, np.ndarray], header_extra: dict | None = None) -> None:
    header, body, offset = {"__metadata__": {"format": "pt"}}, b"", 0
    for name, value in tensors.items():
        raw = value.astype("<f4").tobytes()
        header[name] = {"dtype": "F32", "shape": list(value.shape), "data_offsets": [offset, offset + len(raw)]}
        body, offset = body + raw, offset + len(raw)
    header.update(header_extra or {})
    encoded = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(encoded)) + encoded + body)


def test_safetensors_are_read_and_checked(tmp_path: Path) -> None:
    path = tmp_path / "model.safetensors"
    _safetensors(path, {"a": np.arange(6, dtype=np.float32).reshape(2, 3)})
    assert read_safetensors(path, None)["a"].tolist() == [[0, 1, 2], [3, 4, 5]]
    with pytest.raises(DataCorrupted, match="checksum"):
        read_safetensors(path, "0" * 64)
    overrun = {"b": {"dtype": "F32", "shape": [4], "data_offsets": [0, 64]}}
    _safetensors(path, {"a": np.zeros(2, dtype=np.float32)}, overrun)
    with pytest.raises(DataCorrupted, match="unreadable"):
        read_safetensors(path, None)
    path.write_bytes(b"\x05")
    with pytest.raises(DataCorrupted, match="unreadable"):
        read_safetensors(path, None)


def test_the_sentiment_engine_never_imports_torch() -> None:
    """torch and sentence-transformers cost a backend ~7 s and ~450 MB: the engine needs neither."""
    code = textwrap.dedent(
        """
        import sys
        import churnml.sentiment as s
        r = s.analyze(["I love the coverage but the bill is way too high", "How do I dial Morocco?"])
        assert [x.label for x in r] == ["MIXED", "NEUTRAL"], r
        long = s.analyze(["The bill is wrong again and nobody answers the phone. " * 60])
        assert long[0].label == "NEGATIVE", long
        from churnml.sentiment import weights
        from churnml.sentiment.analysis import run
        from churnml.sentiment.encoder import WEIGHTS_FILE, EncoderEngine
        legacy = weights.load(WEIGHTS_FILE)
        del legacy["embedding"]  # a head of 0.1.0, fitted to the float32 model
        assert run(["How do I dial Morocco?"], EncoderEngine(legacy))[0].label == "NEUTRAL"
        print(sorted(m for m in ("torch", "sentence_transformers", "transformers") if m in sys.modules))
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120,
        env={"PYTHONPATH": str(REPO / "python_udfs"), "PATH": "/usr/bin:/bin"},
    ).stdout
    assert out.strip() == "[]"


def test_the_shipped_head_is_applied_to_the_embedding_it_was_trained_on() -> None:
    shipped = weight_files.load(WEIGHTS_FILE)
    assert shipped["embedding"] == COMPACT_EMBEDDING
    engine = EncoderEngine(shipped)
    assert engine.fitted_to == COMPACT_EMBEDDING
    texts = [MESSAGES[0], *mixed_clauses(MESSAGES[0])]
    expected = engine.probs_from_embeddings(head_embed(texts))
    assert np.allclose(engine.probs(texts), expected, atol=1e-12)


def test_a_head_trained_on_the_float32_model_runs_on_the_int8_encoder() -> None:
    """Custom sentiment heads trained by 0.1.0 record the float32 embedding (or nothing); since 0.3.0 the
    sentiment engine has one encoder, the int8 one, for them too (docs/sentiment.md: how much they move)."""
    legacy = copy.deepcopy(weight_files.load(WEIGHTS_FILE))
    legacy["embedding"] = FULL_EMBEDDING
    engine = EncoderEngine(legacy)
    assert engine.fitted_to == FULL_EMBEDDING
    texts = [MESSAGES[1], *mixed_clauses(MESSAGES[3])]
    assert np.allclose(engine.probs(texts), engine.probs_from_embeddings(head_embed(texts)), atol=1e-12)
    del legacy["embedding"]  # 0.1.0 heads before the field existed
    assert EncoderEngine(legacy).fitted_to == FULL_EMBEDDING


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
