"""The encoder engine (default): walkthrough labels, MIXED, long texts, calibration, embed().

The first test here loads all-MiniLM-L6-v2 (~7 s); the rest reuse it.
"""

from __future__ import annotations

import math
import time

import numpy as np
import pytest

from churnml.errors import InvalidParameter, NullValueNotAllowed
from churnml.sentiment import LABELS, MAX_CHARS, analyze, embed, encoder_loaded
from churnml.sentiment import encoder as encoder_module
from churnml.sentiment import evaluation_examples as ev
from churnml.sentiment.batching import by_characters, by_tokens
from churnml.sentiment.encoder import WINDOW_TOKENS, _split_windows, model, windows
from churnml.sentiment.result import dominant

# The one walkthrough message the encoder gets wrong (NEUTRAL, confidence ~0.69), as the
# float32 model of 0.1.0 did; strict, so that a fix shows up as a failure to update this.
_KNOWN_MISS = "This is a really great feature, thank for helping me store all my phone numbers."


@pytest.mark.parametrize(
    ("text", "label"),
    [
        pytest.param(text, label, marks=pytest.mark.xfail(strict=True, reason="read as NEUTRAL (docs/sentiment.md)"))
        if text == _KNOWN_MISS else (text, label)
        for text, label in ev.AURORA_MESSAGES
    ],
)
def test_aurora_walkthrough_messages(text: str, label: str) -> None:
    assert analyze([text])[0].label == label


@pytest.mark.parametrize(
    ("text", "label"),
    [
        ("I love the coverage but the bill is way too high", "MIXED"),
        ("Thank you very much for resolving the issues with my bill!", "POSITIVE"),
        ("I don't understand how I paid for 100 minutes and got only 90, you are ripping me off!", "NEGATIVE"),
        ("How do I dial Morocco?", "NEUTRAL"),
        # complaints without emotional words: VADER calls these neutral
        ("My bill shows a charge I did not make.", "NEGATIVE"),
        ("The call dropped three times today.", "NEGATIVE"),
    ],
)
def test_brief_examples(text: str, label: str) -> None:
    assert analyze([text], engine="encoder")[0].label == label


def test_mixed_messages_mostly_detected() -> None:
    results = analyze(list(ev.MIXED_MESSAGES))
    detected = sum(r.label == "MIXED" for r in results)
    assert detected >= 0.7 * len(results)
    for r in results:
        if r.label == "MIXED":
            assert r.scores["MIXED"] >= 0.6


def test_null_empty_whitespace_and_contract() -> None:
    assert encoder_loaded() or True  # may or may not be loaded by an earlier test
    results = analyze([None, "", " \n ", "Great service!", "My line is dead again."])
    assert results[0] is None
    assert results[1].label == results[2].label == "NEUTRAL"
    assert results[1].confidence == results[2].confidence == 1.0
    for result in results[1:]:
        assert set(result.scores) == set(LABELS)
        assert math.isclose(sum(result.scores.values()), 1.0, abs_tol=1e-9)
        assert result.confidence == result.scores[result.label] == max(result.scores.values())
    assert encoder_loaded()


def test_unsupported_language() -> None:
    with pytest.raises(InvalidParameter) as info:
        analyze(["Bonjour"], language="fr")
    assert "Supported language codes: en" in info.value.detail


def test_one_megabyte_text_is_bounded_and_equals_its_prefix() -> None:
    sentences = [text for text, _ in ev.three_class_set()]
    big = " ".join(sentences * 300)[:1_000_000]
    assert len(big) == 1_000_000
    analyze(["warm up"])
    started = time.perf_counter()
    result = analyze([big])[0]
    elapsed = time.perf_counter() - started
    assert elapsed < 2.0, f"{elapsed:.2f} s for a 1 MB text"
    assert result == analyze([big[:MAX_CHARS]])[0]


def test_windows_are_sentence_aligned_and_bounded() -> None:
    text = " ".join(f"Sentence number {i} talks about my phone bill and the coverage at home." for i in range(60))
    chunks = windows([text[:MAX_CHARS]])[0]
    assert len(chunks) > 1
    assert "".join(chunk for chunk, _ in chunks) == text[: len("".join(chunk for chunk, _ in chunks))]
    tokenizer = model().tokenizer
    for chunk, count in chunks:
        assert count <= WINDOW_TOKENS
        assert len(tokenizer(chunk, add_special_tokens=False)["input_ids"]) <= WINDOW_TOKENS + 2
    for chunk, _ in chunks[:-1]:
        assert chunk.rstrip().endswith(".")  # cut at sentence ends


def test_overlong_sentence_is_cut_mid_sentence() -> None:
    starts = list(range(0, 3 * 600, 3))  # 600 tokens, one sentence
    chunks = _split_windows("ab " * 600, starts)
    assert [n for _, n in chunks] == [WINDOW_TOKENS, WINDOW_TOKENS, 600 - 2 * WINDOW_TOKENS]


def test_calibration_on_evaluation_set() -> None:
    rows = ev.three_class_set()
    results = analyze([text for text, _ in rows])
    correct, confidence = [], []
    for (_, gold), result in zip(rows, results, strict=True):
        side = dominant(result)
        correct.append(side == gold)
        confidence.append(result.scores[side] / (1.0 - result.scores["MIXED"]))
    accuracy, mean_confidence = float(np.mean(correct)), float(np.mean(confidence))
    assert accuracy >= 0.85
    assert abs(mean_confidence - accuracy) <= 0.1


def test_embed_shape_norm_determinism() -> None:
    texts = ["How do I dial Morocco?", "", "My bill is wrong. " * 400]
    first = embed(texts)
    assert first.shape == (3, 384) and first.dtype == np.float32
    assert np.allclose(np.linalg.norm(first, axis=1), 1.0, atol=1e-5)
    assert np.array_equal(first, embed(texts))
    # batch composition changes float rounding only
    assert np.allclose(embed([texts[0]])[0], first[0], atol=1e-5)
    assert embed([]).shape == (0, 384)
    with pytest.raises(NullValueNotAllowed):
        embed(["ok", None])  # type: ignore[list-item]


def test_batch_equals_single() -> None:
    texts = ["Great phone, but the battery dies by lunchtime.", "What is my PIN?", "Thanks a lot!"]
    batch = analyze(texts)
    for text, result in zip(texts, batch, strict=True):
        single = analyze([text])[0]
        assert single.label == result.label
        assert single.confidence == pytest.approx(result.confidence, abs=1e-4)


def test_token_batches_pad_little_and_keep_every_text() -> None:
    lengths = [5, 40, 7, 7, 254, 12, 6, 39, 254, 3]
    batches = by_tokens(lengths, batch_size=4, max_padded=300)
    assert sorted(i for b in batches for i in b) == list(range(len(lengths)))
    flat = [lengths[i] for b in batches for i in b]
    assert flat == sorted(lengths)  # shortest first, so each batch pads to its last member
    for b in batches:
        assert len(b) <= 4 and (len(b) == 1 or len(b) * lengths[b[-1]] <= 300)
    assert by_tokens([], 64, 4096) == []


def test_character_batches_are_the_historical_grouping() -> None:
    texts = ["a" * n for n in (10, 12, 30, 100, 101, 400, 11)]
    batches = by_characters(texts, batch_size=3, max_padded_chars=64 * 200)
    assert sorted(i for b in batches for i in b) == list(range(len(texts)))
    # a batch ends at batch_size, or where a text is more than twice (+64) its first
    assert batches == [[0, 6, 1], [2, 3, 4], [5]]


def test_token_batching_embeds_like_sentence_transformers() -> None:
    texts = ["How do I dial Morocco?", "Great phone, but the battery dies by lunchtime.", "ok", "Thanks a lot!",
             "My bill is wrong. " * 30]
    fast = embed(texts)
    historical = encoder_module.embed(texts, batching="characters")
    plain = model().encode(texts, batch_size=64, normalize_embeddings=True)
    assert np.allclose(fast, historical, atol=1e-5)
    assert np.allclose(fast[:4], plain[:4], atol=1e-5)
    with pytest.raises(ValueError, match="batching"):
        encoder_module.embed(texts, batching="words")
