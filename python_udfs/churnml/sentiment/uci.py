"""The UCI "Sentiment Labelled Sentences" data, for training and evaluation only.

Kotzias, Denil, de Freitas & Smyth, "From Group to Individual Labels using Deep Features",
KDD 2015; UCI Machine Learning Repository, licence CC BY 4.0. Two of its files are used:
amazon_cells_labelled.txt and yelp_labelled.txt (1,000 sentences each,
`sentence<TAB>label`, 1 positive, 0 negative). The sentences never ship with churnml: the
training script reads them from a directory given on its command line, and only the
fitted weights (with this citation in their provenance) are distributed.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path

from churnml.errors import DataException

FILES: tuple[str, ...] = ("amazon_cells_labelled.txt", "yelp_labelled.txt")
CITATION = (
    'Kotzias, Denil, de Freitas & Smyth, "From Group to Individual Labels using Deep Features", KDD 2015. '
    'UCI Machine Learning Repository, "Sentiment Labelled Sentences".'
)
LICENCE = "CC BY 4.0"
# Fractions of each (file, label) stratum; the rest is the training split.
TEST_FRACTION = 0.20
CALIBRATION_FRACTION = 0.15


@dataclass(frozen=True, slots=True)
class Sentence:
    text: str
    label: str  # POSITIVE or NEGATIVE
    source: str  # file name
    split: str  # train, calibration or test


def read(directory: Path) -> list[tuple[str, str, str]]:
    """(text, label, file) rows of both files, in file order, without duplicate texts.

    A sentence that appears twice keeps its first row; one that appears with both labels
    is dropped (neither label can be trusted).
    """
    rows: list[tuple[str, str, str]] = []
    for name in FILES:
        path = directory / name
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except OSError as exc:
            raise DataException(
                f"cannot read UCI sentiment file {name}",
                detail=f"Reading {path} failed: {exc}.",
                hint="Pass --uci-dir, the directory holding amazon_cells_labelled.txt and yelp_labelled.txt.",
            ) from exc
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            text, sep, label = line.rstrip().rpartition("\t")
            if not sep or label not in ("0", "1"):
                raise DataException(
                    f"malformed line in UCI sentiment file {name}",
                    detail=f"Line {number} is not sentence<TAB>0|1.",
                    hint="Use the unmodified files of the UCI Sentiment Labelled Sentences data set.",
                )
            rows.append((text.strip(), "POSITIVE" if label == "1" else "NEGATIVE", name))
    labels: dict[str, set[str]] = {}
    for text, label, _ in rows:
        labels.setdefault(text, set()).add(label)
    seen: set[str] = set()
    unique: list[tuple[str, str, str]] = []
    for row in rows:
        if len(labels[row[0]]) == 1 and row[0] not in seen:
            seen.add(row[0])
            unique.append(row)
    return unique


def split(rows: list[tuple[str, str, str]], seed: int) -> list[Sentence]:
    """Stratified (file, label) train/calibration/test split, the same for the same seed."""
    out: list[Sentence] = []
    strata: dict[tuple[str, str], list[tuple[str, str, str]]] = {}
    for row in rows:
        strata.setdefault((row[2], row[1]), []).append(row)
    for key in sorted(strata):
        members = list(strata[key])
        random.Random(f"{seed}/{key[0]}/{key[1]}").shuffle(members)
        n_test = round(len(members) * TEST_FRACTION)
        n_cal = round(len(members) * CALIBRATION_FRACTION)
        for index, (text, label, source) in enumerate(members):
            part = "test" if index < n_test else "calibration" if index < n_test + n_cal else "train"
            out.append(Sentence(text, label, source, part))
    return out
