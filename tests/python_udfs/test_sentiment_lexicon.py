"""The lexicon engine: calibrated VADER, labels, API contract, and no torch on its path."""

from __future__ import annotations

import math
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from churnml.errors import DatatypeMismatch, InvalidParameter
from churnml.sentiment import LABELS, MAX_CHARS, analyze, evaluation_examples
from churnml.sentiment.analysis import resolve, run, run_one
from churnml.sentiment.lexicon import LexiconEngine, raw_vader_label

REPO = Path(__file__).resolve().parents[2]


def lexicon(texts: list[str | None]) -> list:
    return analyze(texts, engine="lexicon")


@pytest.mark.parametrize(
    ("text", "label"),
    [
        ("Thank you very much for resolving the issues with my bill!", "POSITIVE"),
        ("You morons! You charged me extra again!", "NEGATIVE"),
        ("How do I dial Morocco?", "NEUTRAL"),
        ("I love the coverage but the customer service is terrible.", "MIXED"),
        ("Your customer service is awful and I hate waiting.", "NEGATIVE"),
    ],
)
def test_labels(text: str, label: str) -> None:
    assert lexicon([text])[0].label == label


def test_null_empty_whitespace() -> None:
    results = lexicon([None, "", "   \n\t ", "Great!"])
    assert results[0] is None
    for result in results[1:3]:
        assert result.label == "NEUTRAL" and result.confidence == 1.0
        assert result.scores == {"POSITIVE": 0.0, "NEGATIVE": 0.0, "NEUTRAL": 1.0, "MIXED": 0.0}
    assert results[3].label == "POSITIVE"


def test_probabilities_and_confidence() -> None:
    texts = ["Great phone!", "The bill is wrong", "What time is it?", "Good staff but terrible coverage.", "ok"]
    for result in lexicon(texts):
        assert set(result.scores) == set(LABELS)
        assert math.isclose(sum(result.scores.values()), 1.0, abs_tol=1e-9)
        assert all(0.0 <= p <= 1.0 for p in result.scores.values())
        assert result.confidence == result.scores[result.label] == max(result.scores.values())


def test_long_text_is_its_capped_prefix() -> None:
    big = "The agent was great but the coverage is awful. " * 25_000
    assert len(big) > 1_000_000
    assert lexicon([big]) == lexicon([big[:MAX_CHARS]])


def test_bad_arguments() -> None:
    with pytest.raises(InvalidParameter, match="unsupported sentiment language") as info:
        analyze(["hello"], engine="lexicon", language="fr")
    assert "en" in info.value.detail
    with pytest.raises(InvalidParameter, match="unknown sentiment engine"):
        analyze(["hello"], engine="bert")
    with pytest.raises(InvalidParameter, match="single string"):
        analyze("hello", engine="lexicon")  # type: ignore[arg-type]
    with pytest.raises(DatatypeMismatch):
        analyze([42], engine="lexicon")  # type: ignore[list-item]
    assert analyze([], engine="lexicon") == []
    assert analyze(["Great!"], engine=" Lexicon ", language="en-US")[0].label == "POSITIVE"


def test_raw_vader_baseline_cutoffs() -> None:
    assert raw_vader_label("I love it") == "POSITIVE"
    assert raw_vader_label("I hate it") == "NEGATIVE"
    assert raw_vader_label("The phone is black") == "NEUTRAL"


def test_zero_feature_text_is_not_clearly_polar() -> None:
    # A clause without any VADER word gets the calibration's base rates; if those were
    # >= the MIXED threshold, neutral clauses could make a text MIXED.
    engine = LexiconEngine.shipped()
    probs = engine.probs_one("The phone is black")
    assert max(probs[0], probs[1]) < 0.6


def test_lexicon_path_never_imports_torch() -> None:
    code = textwrap.dedent(
        """
        import sys
        import churnml.sentiment as s
        heavy = ("numpy", "torch", "sentence_transformers", "transformers")
        after_import = sorted(m for m in heavy if m in sys.modules)
        r = s.analyze(["I love the coverage but the customer service is terrible.", None, "ok"], engine="lexicon")
        assert r[0].label == "MIXED", r
        assert not s.encoder_loaded()
        after_use = sorted(m for m in heavy if m in sys.modules)
        print(after_import, after_use)
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env={"PYTHONPATH": str(REPO / "python_udfs"), "PATH": "/usr/bin:/bin"},
        timeout=60,
    ).stdout
    # neither torch nor numpy: the lexicon engine is plain Python
    assert out.strip() == "[] []"


def test_one_text_path_equals_the_batch_path() -> None:
    engine = LexiconEngine.shipped()
    texts = [t for t, _ in evaluation_examples.MESSAGES] + list(evaluation_examples.MIXED_MESSAGES)
    texts += [None, "", "  \n", "ok", "x" * (MAX_CHARS + 5)]
    assert [run_one(t, engine) for t in texts] == run(texts, engine)


def test_engine_and_language_checks_are_remembered_not_skipped() -> None:
    first = resolve("lexicon", "en-US")
    assert resolve("lexicon", "en-US") is first is resolve("lexicon", "en")
    # a failed check is never remembered: it fails again
    for _ in range(2):
        with pytest.raises(InvalidParameter, match="unsupported sentiment language"):
            resolve("lexicon", "fr")
        with pytest.raises(InvalidParameter, match="unknown sentiment engine"):
            resolve("bert", "en")
