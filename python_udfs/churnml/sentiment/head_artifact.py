"""Complete validation of a sentiment-head artifact (kind 'sentiment', format churnml-json).

A custom sentiment model is a logistic head on sentence embeddings (see
`custom_models`): {"classes": [...], "embedding": ..., "temperature": t, "W": 3 x 384,
"b": 3}. Its JSON is checked here before numpy or the C encoder sees any of it: the
size of the document, every shape, every number finite and bounded, so a damaged or
hand-inserted artifact is refused with a clear error instead of giving NaN
probabilities or a huge allocation. `read_head` returns only the validated keys.
"""

from __future__ import annotations

import json
import math
from typing import Any

from churnml.errors import DataCorrupted

MAX_HEAD_BYTES = 1 << 20  # a head is ~25 kB of JSON
MAX_MAGNITUDE = 1e6  # weights, biases and the temperature of a fitted head are far below this
MIN_TEMPERATURE = 1e-6
N_CLASSES = 3
EMBEDDING_DIM = 384  # all-MiniLM-L6-v2's, in both the float32 and the int8 encoder


def _malformed(what: str, detail: str | None = None) -> DataCorrupted:
    return DataCorrupted(
        f"malformed sentiment model: {what}",
        detail=detail or "The stored head is not one churnml.train_sentiment wrote.",
        hint="Deploy another sentiment model, or train this one again with churnml.train_sentiment.",
    )


def _reject_constant(name: str) -> float:
    raise ValueError(f"non-standard JSON constant {name}")


def _number(value: Any, where: str) -> float:
    if type(value) not in (int, float):
        raise _malformed(f"{where} is not a number")
    number = float(value)
    if not math.isfinite(number) or abs(number) > MAX_MAGNITUDE:
        raise _malformed(f"{where} is not a finite number of magnitude at most {MAX_MAGNITUDE:g}")
    return number


def _vector(value: Any, size: int, where: str) -> list[float]:
    if not isinstance(value, list) or len(value) != size:
        raise _malformed(f"{where} is not a list of {size} numbers")
    return [_number(item, f"{where}[{index}]") for index, item in enumerate(value)]


def read_head(raw: bytes | bytearray | memoryview | str | dict[str, Any]) -> dict[str, Any]:
    """The validated weights of a sentiment head, from its stored JSON (or a dict)."""
    from churnml.sentiment.encoder import FULL_EMBEDDING
    from churnml.sentiment.int8_encoder import NAME as COMPACT_EMBEDDING
    from churnml.sentiment.result import CLASSES

    if isinstance(raw, dict):
        weights = raw
    else:
        if len(raw) > MAX_HEAD_BYTES:
            raise _malformed(f"the artifact has {len(raw)} bytes, more than the limit of {MAX_HEAD_BYTES}")
        try:
            weights = json.loads(bytes(raw) if not isinstance(raw, str) else raw, parse_constant=_reject_constant)
        except (ValueError, RecursionError) as exc:  # UnicodeDecodeError is a ValueError
            raise _malformed("the JSON does not parse", detail=f"{str(exc)[:200]}.") from None
    if not isinstance(weights, dict):
        raise _malformed("the document is not an object")
    if weights.get("classes") != list(CLASSES):
        raise _malformed(f"classes is not {list(CLASSES)}")
    embedding = weights.get("embedding", FULL_EMBEDDING)
    if embedding not in (FULL_EMBEDDING, COMPACT_EMBEDDING):
        raise _malformed("embedding names no encoder churnml has",
                         detail=f"Found {str(embedding)[:60]!r}; heads are fitted to {COMPACT_EMBEDDING!r} "
                                f"or {FULL_EMBEDDING!r}.")
    temperature = _number(weights.get("temperature"), "temperature")
    if temperature < MIN_TEMPERATURE:
        raise _malformed(f"temperature is {temperature:g}, not a positive number of at least {MIN_TEMPERATURE:g}")
    matrix = weights.get("W")
    if not isinstance(matrix, list) or len(matrix) != N_CLASSES:
        raise _malformed(f"W is not {N_CLASSES} rows of {EMBEDDING_DIM} weights")
    rows = [_vector(row, EMBEDDING_DIM, f"W[{index}]") for index, row in enumerate(matrix)]
    bias = _vector(weights.get("b"), N_CLASSES, "b")
    return {"classes": list(CLASSES), "embedding": embedding, "temperature": temperature, "W": rows, "b": bias}
