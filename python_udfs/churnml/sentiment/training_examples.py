"""Customer-service training examples for the sentiment head, from examples/training_examples.toml.

The file holds the base sentences (NEUTRAL questions and statements, NEGATIVE complaints,
POSITIVE praise), the values their {fields} are filled with, and the openers and closers
of their variants; it says why they are there. This module expands each base sentence
into a few variants, deterministically (`random.Random(seed)`), and gives every example
its base sentence's id as a group, so train/calibration splits never put variants of one
sentence on both sides. `DEV_MIXED` holds a few MIXED messages used only to choose the
MIXED threshold. None of this overlaps `evaluation_examples`.
"""

from __future__ import annotations

import random
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

POSITIVE = "POSITIVE"
NEGATIVE = "NEGATIVE"
NEUTRAL = "NEUTRAL"

DATA_FILE = Path(__file__).resolve().parent / "examples" / "training_examples.toml"
DEFAULT_SEED = 20240611
VARIANTS_PER_BASE = 4  # expanded texts per base sentence before deduplication


def _read(path: Path) -> dict[str, Any]:
    with path.open("rb") as file:
        return tomllib.load(file)


_DATA = _read(DATA_FILE)
DEV_MIXED: tuple[str, ...] = tuple(_DATA["dev"]["mixed"])


@dataclass(frozen=True, slots=True)
class Example:
    text: str
    label: str
    group: str  # the base sentence's id: variants of one base stay on one side of a split


def _fill(template: str, rng: random.Random) -> str:
    paid, got = rng.choice(_DATA["paid_got"])
    values = {name: rng.choice(choices) for name, choices in _DATA["slots"].items()}  # drawn in the file's order
    values.update(paid=paid, got=got)
    return template.format(**values)


def _lowercase_ok(base: str) -> bool:
    first = base.split()[0]
    return not (base.startswith("{") or first == "I" or first.startswith("I'"))


def _expand(
    bases: list[str],
    label: str,
    rng: random.Random,
    *,
    prefix: str,
    openers: list[str],
    closers: list[str],
) -> list[Example]:
    out: list[Example] = []
    for index, base in enumerate(bases):
        group = f"{prefix}-{index:03d}"
        seen: set[str] = set()
        for variant in range(VARIANTS_PER_BASE):
            sentence = _fill(base, rng)
            if variant == 0:
                text = sentence  # the plain sentence is always present
            else:
                opener = rng.choice(openers)
                body = sentence
                if opener.endswith(", ") and _lowercase_ok(base):
                    body = sentence[0].lower() + sentence[1:]  # "Hi, how do I ..." reads naturally
                text = opener + body + rng.choice(closers)
            text = re.sub(r"\s+", " ", text).strip()
            if text not in seen:
                seen.add(text)
                out.append(Example(text, label, group))
    return out


def examples(seed: int = DEFAULT_SEED) -> list[Example]:
    """All training examples, in a fixed order for a given seed."""
    rng = random.Random(seed)
    bases, openers, closers = _DATA["bases"], _DATA["openers"], _DATA["closers"]
    return (
        _expand(bases["neutral"], NEUTRAL, rng, prefix="neutral", openers=openers, closers=closers["neutral"])
        + _expand(bases["neutral_review"], NEUTRAL, rng, prefix="neutral-review", openers=[""], closers=[""])
        + _expand(bases["negative"], NEGATIVE, rng, prefix="negative", openers=openers, closers=closers["negative"])
        + _expand(bases["positive"], POSITIVE, rng, prefix="positive", openers=openers, closers=closers["positive"])
    )
