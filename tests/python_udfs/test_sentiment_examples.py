"""The sentiment examples are data: the same texts, labels and groups as when they were Python code.

The digests were computed on the 0.3.0 modules (`training_examples.py`, `evaluation_examples.py`,
examples written as tuples of Python strings) before the examples moved into data files; the
shipped head is trained on exactly these rows (test_sentiment_weights reproduces its sha256).
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from churnml.sentiment import evaluation_examples, training_examples


def digest(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()).hexdigest()


def test_training_examples_are_unchanged() -> None:
    examples = training_examples.examples()
    assert len(examples) == 942
    assert digest([[e.text, e.label, e.group] for e in examples]) == (
        "83828d1ffef9bc75aa88a3751c952be77773150a8cdf6b124af0d5bc03d26a7c"
    )
    assert digest(list(training_examples.DEV_MIXED)) == (
        "6f3735352c4527374a714eb7efb44b03ed4d0800f6458aa22b51c3e09d995702"
    )


def test_evaluation_examples_are_unchanged() -> None:
    assert len(evaluation_examples.MESSAGES) == 175
    assert digest([list(m) for m in evaluation_examples.MESSAGES]) == (
        "6d89cfe80d199b8b872dfc3c1b09d6981bebe41976c914874456a044bc797db1"
    )
    assert digest([list(m) for m in evaluation_examples.AURORA_MESSAGES]) == (
        "b2d50d5c2c4a0082dbb47e23bcaca7862fddb69f606130270afe9189ad646c1e"
    )
    assert digest(list(evaluation_examples.MIXED_MESSAGES)) == (
        "df7a0d487499319535473fe876a83124f80a97fc2f5a965377e9702f0e787623"
    )
