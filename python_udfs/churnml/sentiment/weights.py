"""The shipped weight files: JSON (never pickle), checksummed, verified on load.

A file is {"format": ..., "sha256": ..., "weights": {...}, "provenance": {...}}. The sha256
is over the canonical JSON of the "weights" object alone (sorted keys, no spaces, floats as
Python's shortest repr after rounding to 7 significant digits), so it identifies the
numbers that drive predictions; provenance (dates, versions, metrics) may differ between
two runs of the training script that produce the same weights.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from churnml.errors import DataCorrupted

WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"
FORMAT = "churnml-sentiment-weights/1"
SIGNIFICANT_DIGITS = 7


def round_floats(value: Any) -> Any:
    """`value` with every float rounded to SIGNIFICANT_DIGITS (lists/dicts recursively)."""
    if isinstance(value, float):
        return float(f"{value:.{SIGNIFICANT_DIGITS}g}")
    if isinstance(value, dict):
        return {key: round_floats(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [round_floats(item) for item in value]
    return value


def canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False)


def sha256_of(value: Any) -> str:
    return hashlib.sha256(canonical_json(value).encode("ascii")).hexdigest()


def write(path: Path, weights: dict[str, Any], provenance: dict[str, Any]) -> str:
    """Write a weights file; return the sha256 of its (rounded) weights."""
    rounded = round_floats(weights)
    digest = sha256_of(rounded)
    document = {"format": FORMAT, "sha256": digest, "weights": rounded, "provenance": round_floats(provenance)}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=1, sort_keys=True, allow_nan=False) + "\n", encoding="utf-8")
    return digest


def load(name: str, directory: Path = WEIGHTS_DIR) -> dict[str, Any]:
    """The verified "weights" object of `directory/name`; DataCorrupted if it fails its checksum."""
    path = directory / name
    hint = (
        "Reinstall churnml (make install) to restore the shipped weights, or regenerate them with "
        "python -m churnml.sentiment.train_head."
    )
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
        weights: dict[str, Any] = document["weights"]
        expected = document["sha256"]
        actual = sha256_of(weights)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise DataCorrupted(
            f"cannot read sentiment weights file {path.name}",
            detail=f"Reading {path} failed: {type(exc).__name__}: {exc}.",
            hint=hint,
        ) from exc
    if document.get("format") != FORMAT or actual != expected:
        raise DataCorrupted(
            f"sentiment weights file {path.name} failed its checksum",
            detail=f"{path} has format {document.get('format')!r} and weights sha256 {actual}, expected {expected}.",
            hint=hint,
        )
    return weights


def provenance(name: str, directory: Path = WEIGHTS_DIR) -> dict[str, Any]:
    """The provenance block of a weights file (unverified: it does not affect predictions)."""
    provenance: dict[str, Any] = json.loads((directory / name).read_text(encoding="utf-8"))["provenance"]
    return provenance
