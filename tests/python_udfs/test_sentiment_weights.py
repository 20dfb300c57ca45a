"""Shipped sentiment weights: JSON with a verified checksum, provenance, and reproducible from the script."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from churnml.errors import DataCorrupted
from churnml.sentiment import evaluation_examples, training_examples, uci, weights
from churnml.sentiment.encoder import EncoderEngine
from churnml.sentiment.lexicon import LexiconEngine

REPO = Path(__file__).resolve().parents[2]
UCI_DIR = REPO.parent / "shared" / "data" / "sentiment"
FILES = ("encoder_head.json", "lexicon_calibration.json")


@pytest.mark.parametrize("name", FILES)
def test_shipped_files_verify_and_carry_provenance(name: str) -> None:
    loaded = weights.load(name)
    assert loaded["classes"] == ["POSITIVE", "NEGATIVE", "NEUTRAL"]
    document = json.loads((weights.WEIGHTS_DIR / name).read_text())
    assert document["sha256"] == weights.sha256_of(loaded)
    provenance = document["provenance"]
    assert "Kotzias" in provenance["data_sources"][0]["citation"]
    assert provenance["data_sources"][0]["licence"] == "CC BY 4.0"
    for key in ("seed", "versions", "training_texts_sha256", "date", "counts", "held_out_metrics"):
        assert key in provenance
    results = provenance["held_out_metrics"]["results"]
    assert results["customer_service"]["encoder"]["accuracy"] > results["customer_service"]["vader"]["accuracy"]
    assert (weights.WEIGHTS_DIR / name).stat().st_size < 40_000


def test_no_training_sentences_ship() -> None:
    text = "".join((weights.WEIGHTS_DIR / name).read_text() for name in FILES)
    for sentence in ("Great for the jawbone.", "Wow... Loved this place.", "The mic is great."):
        assert sentence not in text


def _tampered(tmp_path: Path, name: str, edit: object) -> Path:
    document = json.loads((weights.WEIGHTS_DIR / name).read_text())
    edit(document)  # type: ignore[operator]
    (tmp_path / name).write_text(json.dumps(document))
    return tmp_path


@pytest.mark.parametrize("name", FILES)
def test_tampered_weights_are_refused(tmp_path: Path, name: str) -> None:
    def nudge(document: dict) -> None:
        document["weights"]["b"][0] += 0.001

    with pytest.raises(DataCorrupted, match="failed its checksum") as info:
        weights.load(name, _tampered(tmp_path, name, nudge))
    assert info.value.hint and info.value.detail


def test_unreadable_or_malformed_weights_are_refused(tmp_path: Path) -> None:
    (tmp_path / "encoder_head.json").write_text('{"weights": [1, 2')
    with pytest.raises(DataCorrupted, match="cannot read"):
        weights.load("encoder_head.json", tmp_path)
    with pytest.raises(DataCorrupted, match="cannot read"):
        weights.load("missing.json", tmp_path)
    good = weights.load("lexicon_calibration.json")
    with pytest.raises(DataCorrupted, match="malformed"):
        LexiconEngine({**good, "W": good["W"][:2]})
    with pytest.raises(DataCorrupted, match="malformed"):
        EncoderEngine({**weights.load("encoder_head.json"), "temperature": 0})


def test_checksum_ignores_provenance_and_formatting(tmp_path: Path) -> None:
    def restyle(document: dict) -> None:
        document["provenance"]["date"] = "1999-01-01"

    path = _tampered(tmp_path, "lexicon_calibration.json", restyle)
    assert weights.load("lexicon_calibration.json", path) == weights.load("lexicon_calibration.json")


def test_evaluation_set_is_separate_from_training() -> None:
    def norm(text: str) -> str:
        return " ".join(text.lower().split())

    trained = {norm(e.text) for e in training_examples.examples()}
    evaluated = [norm(t) for t, _ in evaluation_examples.three_class_set()] + [
        norm(t) for t in evaluation_examples.MIXED_MESSAGES
    ]
    assert not trained & set(evaluated)
    assert len(evaluation_examples.MESSAGES) >= 150
    gold = [g for _, g in evaluation_examples.MESSAGES]
    counts = {label: gold.count(label) for label in ("POSITIVE", "NEGATIVE", "NEUTRAL")}
    assert min(counts.values()) >= 45


def test_training_examples_are_deterministic() -> None:
    assert training_examples.examples() == training_examples.examples()
    counts = {label: 0 for label in ("POSITIVE", "NEGATIVE", "NEUTRAL")}
    for example in training_examples.examples():
        counts[example.label] += 1
    assert counts["NEUTRAL"] >= 300 and counts["NEGATIVE"] >= 200 and counts["POSITIVE"] >= 150


@pytest.mark.skipif(not UCI_DIR.is_dir(), reason="needs shared/data/sentiment")
def test_uci_split_is_stratified_and_stable() -> None:
    rows = uci.read(UCI_DIR)
    assert 1900 < len(rows) <= 2000  # a few duplicate sentences are dropped
    first, second = uci.split(rows, 7), uci.split(rows, 7)
    assert first == second
    test = [s for s in first if s.split == "test"]
    assert abs(len(test) - 0.2 * len(rows)) < 5


@pytest.mark.slow
@pytest.mark.skipif(not UCI_DIR.is_dir(), reason="needs shared/data/sentiment")
def test_shipped_weights_reproduce_from_the_training_script(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO / "python_udfs")}
    subprocess.run(
        [sys.executable, "-m", "churnml.sentiment.train_head", "--uci-dir", str(UCI_DIR), "--out", str(tmp_path),
         "--skip-evaluation"],
        check=True,
        env=env,
        capture_output=True,
        timeout=600,
    )
    for name in FILES:
        shipped = json.loads((weights.WEIGHTS_DIR / name).read_text())
        rebuilt = json.loads((tmp_path / name).read_text())
        assert rebuilt["sha256"] == shipped["sha256"], name
        assert rebuilt["provenance"]["training_texts_sha256"] == shipped["provenance"]["training_texts_sha256"]
    shutil.rmtree(tmp_path)
