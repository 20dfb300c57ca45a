"""The held-out evaluation set, from examples/evaluation_examples.toml: messages no weights were trained on.

- `MESSAGES`: 3-class (POSITIVE / NEGATIVE / NEUTRAL) messages, hand-written to read like
  real chat and e-mail to a phone company, with their gold labels.
- `AURORA_MESSAGES`: the example customer messages of the Aurora ML walkthrough (MIT-0),
  hand-labelled, each distinct text once.
- `MIXED_MESSAGES`: messages with one clearly positive and one clearly negative part, used
  to check MIXED detection; they are not in the 3-class scores.

`train_head` reports metrics on these in the weights' provenance; nothing here is ever fitted.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

POSITIVE = "POSITIVE"
NEGATIVE = "NEGATIVE"
NEUTRAL = "NEUTRAL"
MIXED = "MIXED"

DATA_FILE = Path(__file__).resolve().parent / "examples" / "evaluation_examples.toml"

with DATA_FILE.open("rb") as _file:
    _DATA = tomllib.load(_file)

AURORA_MESSAGES: tuple[tuple[str, str], ...] = tuple((text, label) for text, label in _DATA["aurora"])
MESSAGES: tuple[tuple[str, str], ...] = tuple(
    (text, label) for label in (NEGATIVE, NEUTRAL, POSITIVE) for text in _DATA["messages"][label.lower()]
)
MIXED_MESSAGES: tuple[str, ...] = tuple(_DATA["mixed"])


def three_class_set() -> list[tuple[str, str]]:
    """Every 3-class evaluation message with its gold label: `MESSAGES` then `AURORA_MESSAGES`."""
    return list(MESSAGES) + list(AURORA_MESSAGES)
