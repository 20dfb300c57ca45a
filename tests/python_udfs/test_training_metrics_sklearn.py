"""churnml.training.metrics against scikit-learn, on varied inputs: ties, one class, tiny sets, 0 and 1.

Written against the hand-written metrics of 0.3.0 before any of them was replaced, to show
where scikit-learn gives the same result: the confusion counts, rates, ROC points and
threshold costs were identical; AUC, log loss and Brier score differed in the last bits
only (floating-point summation order: up to 3.6e-15 relative for AUC, one ulp for log loss
and Brier, on about a third and a hundredth of these inputs). AUC, log loss, Brier score
and the ROC curve are now scikit-learn's; the others stay numpy-only (see metrics.py) and
must keep giving scikit-learn's results exactly.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pytest
from sklearn import metrics as skm

from churnml.errors import DataException
from churnml.training import metrics

Case = tuple[str, np.ndarray, np.ndarray]
THRESHOLDS = (0.0, 0.12, 0.5, 0.99, 1.0)


def _cases() -> list[Case]:
    hand: list[tuple[str, Sequence[int], Sequence[float]]] = [
        ("one churner", [1], [0.3]),
        ("one stayer", [0], [0.3]),
        ("two tied", [0, 1], [0.4, 0.4]),
        ("two right", [0, 1], [0.1, 0.9]),
        ("two wrong", [1, 0], [0.1, 0.9]),
        ("three tied", [1, 0, 1], [0.5, 0.5, 0.5]),
        ("certain and wrong", [1, 0, 1, 0], [0.0, 1.0, 1.0, 0.0]),
        ("only churners", [1, 1, 1, 1], [0.2, 0.9, 0.9, 0.0]),
        ("only stayers", [0, 0, 0], [0.1, 0.7, 0.2]),
        ("all at a threshold", [0, 1, 1, 0, 1], [0.5, 0.5, 0.12, 0.12, 0.99]),
    ]
    cases = [(name, np.asarray(y, dtype=np.int8), np.asarray(p, dtype=np.float64)) for name, y, p in hand]
    rng = np.random.default_rng(20261207)
    kinds = ("continuous", "two decimals", "three values", "float32", "separable", "zeros and ones")
    for i in range(240):
        n = int(rng.integers(1, 8)) if i % 4 == 0 else int(rng.integers(8, 700))
        y = (rng.random(n) < rng.uniform(0.02, 0.6)).astype(np.int8)
        kind = kinds[i % len(kinds)]
        if kind == "continuous":
            p = rng.random(n)
        elif kind == "two decimals":
            p = np.round(rng.random(n), 2)  # many ties, some exactly on the cost grid
        elif kind == "three values":
            p = rng.choice([0.0, 0.5, 1.0], n)
        elif kind == "float32":  # xgboost's predictions are float32 values
            p = rng.random(n).astype(np.float32).astype(np.float64)
        elif kind == "separable":
            p = np.clip(0.6 * rng.random(n) + 0.4 * y, 0, 1)
        else:
            p = rng.choice([0.0, 1.0], n)
        cases.append((f"{kind} {i} (n={n})", y, p))
    return cases


CASES = _cases()
BOTH_CLASSES = [case for case in CASES if 0 < case[1].sum() < len(case[1])]
ONE_CLASS = [case for case in CASES if not 0 < case[1].sum() < len(case[1])]


def ids(cases: list[Case]) -> list[str]:
    return [name for name, _, _ in cases]


@pytest.mark.parametrize(("name", "y", "p"), CASES, ids=ids(CASES))
def test_confusion_and_rates_equal_sklearn(name: str, y: np.ndarray, p: np.ndarray) -> None:
    for threshold in THRESHOLDS:
        flagged = (p > threshold).astype(np.int8)
        tn, fp, fn, tp = skm.confusion_matrix(y, flagged, labels=[0, 1]).ravel().tolist()
        counts = metrics.confusion(y, p, threshold)
        assert counts == {"tp": tp, "fp": fp, "tn": tn, "fn": fn}
        precision, recall, f1, _ = skm.precision_recall_fscore_support(y, flagged, average="binary",
                                                                       zero_division=0.0, labels=[0, 1])
        expected = {"accuracy": skm.accuracy_score(y, flagged), "precision": precision, "recall": recall, "f1": f1}
        assert metrics.rates(counts) == expected  # exactly


@pytest.mark.parametrize(("name", "y", "p"), CASES, ids=ids(CASES))
def test_log_loss_and_brier_equal_sklearn(name: str, y: np.ndarray, p: np.ndarray) -> None:
    assert metrics.log_loss(y, p) == skm.log_loss(y, p, labels=[0, 1])
    assert metrics.brier(y, p) == skm.brier_score_loss(y, p, labels=[0, 1])


@pytest.mark.parametrize(("name", "y", "p"), BOTH_CLASSES, ids=ids(BOTH_CLASSES))
def test_auc_and_roc_curve_equal_sklearn(name: str, y: np.ndarray, p: np.ndarray) -> None:
    assert metrics.roc_auc(y, p) == skm.roc_auc_score(y, p)
    curve = metrics.roc_curve(y, p, max_points=None)
    fpr, tpr, thresholds = skm.roc_curve(y, p, drop_intermediate=False)
    assert curve["fpr"] == fpr.tolist() and curve["tpr"] == tpr.tolist()  # exactly
    assert curve["thresholds"] == [None, *thresholds[1:].tolist()]  # scikit-learn's first threshold is inf


@pytest.mark.parametrize(("name", "y", "p"), ONE_CLASS, ids=ids(ONE_CLASS))
def test_one_class_has_no_auc_or_roc_curve(name: str, y: np.ndarray, p: np.ndarray) -> None:
    with pytest.raises(DataException, match="only one class"):
        metrics.roc_auc(y, p)
    with pytest.raises(DataException, match="only one class"):
        metrics.roc_curve(y, p)
    result = metrics.evaluate(y, p)
    assert result["auc"] is None and result["roc"] is None


def sklearn_threshold_costs(y: np.ndarray, p: np.ndarray, fp_cost: float, fn_cost: float, tp_cost: float,
                            tn_cost: float) -> list[dict[str, float]]:
    """threshold_costs from scikit-learn's counts at every distinct score (p >= score) on the 0.00..1.00 grid."""
    positives, negatives = int(y.sum()), len(y) - int(y.sum())
    if positives and negatives:
        _, fps, _, tps, scores = skm.confusion_matrix_at_thresholds(y, p)
    else:  # scikit-learn needs both classes; count by hand what it would
        scores = np.unique(p)[::-1]
        tps = np.array([int(((p >= s) & (y == 1)).sum()) for s in scores])
        fps = np.array([int(((p >= s) & (y == 0)).sum()) for s in scores])
    rows = []
    for t in metrics.default_thresholds():
        above = np.flatnonzero(scores > t)  # flagged at t: p > t, i.e. p >= the lowest score above t
        tp = int(tps[above[-1]]) if len(above) else 0
        fp = int(fps[above[-1]]) if len(above) else 0
        tn, fn = negatives - fp, positives - tp
        rows.append({"threshold": t, "tp": tp, "fp": fp, "tn": tn, "fn": fn,
                     "cost": float(tp * tp_cost + fp * fp_cost + tn * tn_cost + fn * fn_cost)})
    return rows


@pytest.mark.parametrize(("name", "y", "p"), CASES, ids=ids(CASES))
def test_threshold_costs_equal_sklearns_counts(name: str, y: np.ndarray, p: np.ndarray) -> None:
    costs = {"fp_cost": 50.0, "fn_cost": 500.0, "tp_cost": 50.0, "tn_cost": 0.0}
    rows = metrics.threshold_costs(y, p, **costs)
    assert rows == sklearn_threshold_costs(y, p, **costs)
    assert metrics.optimal_threshold(y, p, **costs) == min(rows, key=lambda row: (row["cost"], row["threshold"]))


def test_the_threshold_and_deploy_paths_never_import_sklearn() -> None:
    """churnml_user's threshold_costs/optimal_threshold and deploy's confusion/rates must not pay ~1 s for it."""
    import subprocess
    import sys
    from pathlib import Path

    probe = (
        "import sys\n"
        "from churnml.training import metrics\n"
        "y, p = [1, 0, 1, 0], [0.9, 0.2, 0.4, 0.6]\n"
        "metrics.optimal_threshold(y, p, 50, 500, 50)\n"
        "metrics.rates(metrics.confusion(y, p, 0.5))\n"
        "assert 'sklearn' not in sys.modules, 'sklearn was imported'\n"
        "metrics.evaluate(y, p)\n"
        "assert 'sklearn' in sys.modules\n"
    )
    source = Path(__file__).resolve().parents[2] / "python_udfs"
    subprocess.run([sys.executable, "-c", probe], check=True, env={"PYTHONPATH": str(source)}, timeout=120)
