"""Held-out evaluation of the sentiment engines, and the figures stored in the weights' provenance.

Sets: the hand-written customer-service messages of `evaluation_examples` (3-class, plus
the Aurora walkthrough messages) and the UCI test split (POSITIVE/NEGATIVE only, the same
seeded split that `train_head` held out). Systems: raw VADER with its usual ±0.05
compound cut-offs, the calibrated `lexicon` engine and the `encoder` engine.

Scoring is 3-class: a MIXED result counts as its dominant side (`result.dominant`, the
larger of its whole-text POSITIVE/NEGATIVE/NEUTRAL scores). Macro-F1 averages F1 over the
gold classes present in the set (for UCI: POSITIVE and NEGATIVE; a NEUTRAL prediction is
simply wrong there). `mean_confidence` is the mean probability the system gave its own
3-class answer, to compare with accuracy (calibration); raw VADER has none.

    python -m churnml.sentiment.evaluate [--uci-dir DIR]   # the shipped weights' figures
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from churnml.sentiment import evaluation_examples, uci
from churnml.sentiment.analysis import Engine, run
from churnml.sentiment.lexicon import raw_vader_label
from churnml.sentiment.result import CLASSES, MIXED, NEGATIVE, SentimentResult, dominant

Predictor = Callable[[list[str]], list[tuple[str, float | None]]]


def scores(gold: Sequence[str], predicted: Sequence[str], confidence: Sequence[float | None]) -> dict[str, Any]:
    """accuracy, macro-F1 over the gold classes present, per-class recall, counts, mean confidence."""
    n = len(gold)
    present = [label for label in CLASSES if label in gold]
    recall: dict[str, float] = {}
    f1s: list[float] = []
    for label in present:
        tp = sum(1 for g, p in zip(gold, predicted, strict=True) if g == label and p == label)
        n_gold = sum(1 for g in gold if g == label)
        n_pred = sum(1 for p in predicted if p == label)
        recall[label] = tp / n_gold
        precision = tp / n_pred if n_pred else 0.0
        f1s.append(2 * precision * recall[label] / (precision + recall[label]) if tp else 0.0)
    known = [c for c in confidence if c is not None]
    return {
        "n": n,
        "n_per_class": {label: sum(1 for g in gold if g == label) for label in present},
        "accuracy": sum(1 for g, p in zip(gold, predicted, strict=True) if g == p) / n,
        "macro_f1": sum(f1s) / len(f1s),
        "recall": recall,
        "negative_recall": recall.get(NEGATIVE),
        "mean_confidence": sum(known) / len(known) if len(known) == n else None,
    }


def engine_predictor(engine: Engine) -> Predictor:
    def predict(texts: list[str]) -> list[tuple[str, float | None]]:
        out: list[tuple[str, float | None]] = []
        for result in run(texts, engine):
            assert isinstance(result, SentimentResult)
            side = dominant(result)
            # The confidence of the 3-class answer: its share of the three non-MIXED scores.
            rest = 1.0 - result.scores[MIXED]
            out.append((side, result.scores[side] / rest if rest > 0 else 1.0))
        return out

    return predict


def raw_vader_predictor(texts: list[str]) -> list[tuple[str, float | None]]:
    return [(raw_vader_label(text), None) for text in texts]


def evaluate_sets(
    predictors: dict[str, Predictor], mixed_engines: dict[str, Engine], uci_test: Sequence[tuple[str, str]] | None
) -> dict[str, Any]:
    """Scores of every predictor on every set, and MIXED detection rates of the engines."""
    sets: dict[str, Sequence[tuple[str, str]]] = {
        "customer_service": evaluation_examples.three_class_set(),
        "aurora_walkthrough": evaluation_examples.AURORA_MESSAGES,
    }
    if uci_test is not None:
        sets["uci_test"] = uci_test
    report: dict[str, Any] = {}
    for set_name, rows in sets.items():
        texts = [text for text, _ in rows]
        gold = [label for _, label in rows]
        report[set_name] = {}
        for name, predict in predictors.items():
            answers = predict(texts)
            report[set_name][name] = scores(gold, [a for a, _ in answers], [c for _, c in answers])
    mixed_texts = list(evaluation_examples.MIXED_MESSAGES)
    non_mixed = [text for text, _ in evaluation_examples.three_class_set()]
    report["mixed_detection"] = {}
    for name, engine in mixed_engines.items():
        found = [r is not None and r.label == MIXED for r in run(mixed_texts, engine)]
        false = [r is not None and r.label == MIXED for r in run(non_mixed, engine)]
        report["mixed_detection"][name] = {
            "n_mixed_messages": len(mixed_texts),
            "detected": sum(found) / len(found),
            "false_mixed_rate_on_3class_set": sum(false) / len(false),
        }
    return report


def uci_test_rows(uci_dir: Path, seed: int) -> list[tuple[str, str]]:
    return [(s.text, s.label) for s in uci.split(uci.read(uci_dir), seed) if s.split == "test"]


def format_table(report: dict[str, Any]) -> str:
    lines = [f"{'set':<20} {'system':<10} {'n':>5} {'acc':>6} {'macroF1':>8} {'NEG rec':>8} {'mean conf':>9}"]
    for set_name, systems in report.items():
        if set_name == "mixed_detection":
            continue
        for name, s in systems.items():
            conf = "" if s["mean_confidence"] is None else f"{s['mean_confidence']:.3f}"
            lines.append(
                f"{set_name:<20} {name:<10} {s['n']:>5} {s['accuracy']:>6.3f} {s['macro_f1']:>8.3f} "
                f"{s['negative_recall']:>8.3f} {conf:>9}"
            )
    for name, m in report.get("mixed_detection", {}).items():
        lines.append(
            f"MIXED {name}: detected {m['detected']:.3f} of {m['n_mixed_messages']}, "
            f"false MIXED on 3-class set {m['false_mixed_rate_on_3class_set']:.3f}"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    from churnml.sentiment import weights
    from churnml.sentiment.analysis import get_engine

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--uci-dir", type=Path, help="directory with the UCI files (adds the UCI test split)")
    args = parser.parse_args(argv)
    lexicon, encoder = get_engine("lexicon"), get_engine("encoder")
    seed = weights.provenance("encoder_head.json")["seed"]
    report = evaluate_sets(
        {"vader": raw_vader_predictor, "lexicon": engine_predictor(lexicon), "encoder": engine_predictor(encoder)},
        {"lexicon": lexicon, "encoder": encoder},
        uci_test_rows(args.uci_dir, seed) if args.uci_dir else None,
    )
    print(format_table(report))
    json.dump(report, sys.stderr, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
