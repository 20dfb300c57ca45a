"""metrics: equal to scikit-learn, confusion counts the right way round, cost-optimal thresholds."""

from __future__ import annotations

import json
from decimal import Decimal

import numpy as np
import pytest
from sklearn import metrics as skm

from churnml.errors import DataException, InvalidParameter, NullValueNotAllowed
from churnml.training import metrics

Y_HAND = [1, 1, 1, 0, 0]
P_HAND = [0.9, 0.8, 0.2, 0.7, 0.1]


def random_case(seed: int, n: int = 500, decimals: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.3).astype(np.int8)
    p = np.clip(rng.beta(2, 5, n) + 0.25 * y, 0, 1)
    if decimals is not None:
        p = np.round(p, decimals)  # creates many ties
    return y, p


# --------------------------------------------------------------------- confusion orientation


def test_confusion_by_hand() -> None:
    # predicted churn (p > 0.5): rows 0, 1, 3
    # row 0, 1: churned & predicted churn -> tp = 2
    # row 3: stayed but predicted churn -> fp = 1
    # row 2: churned but predicted stay -> fn = 1
    # row 4: stayed & predicted stay -> tn = 1
    assert metrics.confusion(Y_HAND, P_HAND, 0.5) == {"tp": 2, "fp": 1, "tn": 1, "fn": 1}


def test_confusion_asymmetric_example_catches_swapped_fp_fn() -> None:
    y = [1, 0, 0, 0, 0, 0]
    p = [0.9, 0.8, 0.7, 0.1, 0.1, 0.1]
    # one churner caught, two loyal customers flagged, nobody missed
    assert metrics.confusion(y, p, 0.5) == {"tp": 1, "fp": 2, "tn": 3, "fn": 0}
    # and a churner missed, nobody wrongly flagged
    assert metrics.confusion([1, 1, 0], [0.9, 0.2, 0.1], 0.5) == {"tp": 1, "fp": 0, "tn": 1, "fn": 1}


def test_confusion_matches_sklearn() -> None:
    y, p = random_case(1)
    for threshold in (0.1, 0.35, 0.5, 0.9):
        tn, fp, fn, tp = skm.confusion_matrix(y, (p > threshold).astype(int), labels=[0, 1]).ravel()
        assert metrics.confusion(y, p, threshold) == {"tp": tp, "fp": fp, "tn": tn, "fn": fn}


def test_probability_equal_to_threshold_is_not_flagged() -> None:
    assert metrics.confusion([1, 0], [0.5, 0.5], 0.5) == {"tp": 0, "fp": 0, "tn": 1, "fn": 1}


# --------------------------------------------------------------------- against scikit-learn


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("decimals", [None, 1, 2])
def test_auc_equals_sklearn(seed: int, decimals: int | None) -> None:
    y, p = random_case(seed, decimals=decimals)
    assert metrics.roc_auc(y, p) == pytest.approx(skm.roc_auc_score(y, p), abs=1e-12)


def test_auc_edge_cases() -> None:
    assert metrics.roc_auc([0, 1], [0.1, 0.9]) == 1.0
    assert metrics.roc_auc([1, 0], [0.1, 0.9]) == 0.0
    assert metrics.roc_auc([0, 1, 0, 1], [0.5, 0.5, 0.5, 0.5]) == 0.5
    with pytest.raises(DataException, match="only one class"):
        metrics.roc_auc([1, 1], [0.2, 0.3])


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_scores_equal_sklearn(seed: int) -> None:
    y, p = random_case(seed)
    assert metrics.log_loss(y, p) == pytest.approx(skm.log_loss(y, p), rel=1e-12)
    assert metrics.brier(y, p) == pytest.approx(skm.brier_score_loss(y, p), rel=1e-12)
    predicted = (p > 0.5).astype(int)
    rates = metrics.rates(metrics.confusion(y, p, 0.5))
    assert rates["accuracy"] == pytest.approx(skm.accuracy_score(y, predicted))
    assert rates["precision"] == pytest.approx(skm.precision_score(y, predicted))
    assert rates["recall"] == pytest.approx(skm.recall_score(y, predicted))
    assert rates["f1"] == pytest.approx(skm.f1_score(y, predicted))


def test_log_loss_is_clipped_at_certain_mistakes() -> None:
    y, p = [1, 0, 1], [0.0, 1.0, 1.0]
    value = metrics.log_loss(y, p)
    assert np.isfinite(value)
    assert value == pytest.approx(skm.log_loss(y, p), rel=1e-9)


def test_rates_without_predicted_positives_are_zero_like_sklearn() -> None:
    rates = metrics.rates(metrics.confusion([1, 0, 0], [0.1, 0.2, 0.3], 0.5))
    assert rates == {"accuracy": pytest.approx(2 / 3), "precision": 0.0, "recall": 0.0, "f1": 0.0}


def test_roc_curve_equals_sklearn() -> None:
    y, p = random_case(4, n=300, decimals=2)
    curve = metrics.roc_curve(y, p, max_points=None)
    fpr, tpr, thresholds = skm.roc_curve(y, p, drop_intermediate=False)
    np.testing.assert_allclose(curve["fpr"], fpr)
    np.testing.assert_allclose(curve["tpr"], tpr)
    assert curve["thresholds"][0] is None
    np.testing.assert_allclose(curve["thresholds"][1:], thresholds[1:])


def test_roc_curve_thinning_keeps_both_ends() -> None:
    y, p = random_case(5, n=2000)
    curve = metrics.roc_curve(y, p, max_points=50)
    assert len(curve["fpr"]) == 50
    assert (curve["fpr"][0], curve["tpr"][0]) == (0.0, 0.0)
    assert (curve["fpr"][-1], curve["tpr"][-1]) == (1.0, 1.0)
    assert curve["fpr"] == sorted(curve["fpr"])


# --------------------------------------------------------------------- evaluate


def test_evaluate_has_every_metric_and_is_json() -> None:
    y, p = random_case(6)
    result = metrics.evaluate(y, p, 0.4)
    assert set(result) == {
        "rows", "positives", "negatives", "threshold", "auc", "accuracy", "precision", "recall",
        "f1", "log_loss", "brier", "confusion", "roc",
    }  # fmt: skip
    assert result["rows"] == 500 and result["positives"] == int(y.sum())
    assert result["threshold"] == 0.4
    assert result["confusion"] == metrics.confusion(y, p, 0.4)
    assert result["auc"] == pytest.approx(skm.roc_auc_score(y, p))
    assert json.loads(json.dumps(result, allow_nan=False)) == result
    for key in ("auc", "accuracy", "precision", "recall", "f1", "log_loss", "brier"):
        assert type(result[key]) is float
    assert all(type(v) is int for v in result["confusion"].values())


def test_evaluate_with_one_class_leaves_auc_empty() -> None:
    result = metrics.evaluate([0, 0, 0], [0.1, 0.7, 0.2])
    assert result["auc"] is None and result["roc"] is None
    assert result["confusion"] == {"tp": 0, "fp": 1, "tn": 2, "fn": 0}


@pytest.mark.parametrize(
    ("y", "p", "error"),
    [
        ([0, 1], [0.5], InvalidParameter),
        ([0, 2], [0.5, 0.5], InvalidParameter),
        ([0, 1], [0.5, 1.5], InvalidParameter),
        ([0, 1], [0.5, float("nan")], InvalidParameter),
        ([], [], DataException),
    ],
)
def test_bad_inputs(y: list, p: list, error: type[Exception]) -> None:
    with pytest.raises(error):
        metrics.evaluate(y, p)


def test_bad_threshold() -> None:
    with pytest.raises(InvalidParameter, match="invalid threshold"):
        metrics.confusion([0, 1], [0.1, 0.9], float("nan"))


# --------------------------------------------------------------------- costs

# The walkthrough's costs: a $50 incentive for every flagged customer, $500 per missed churner.
COSTS = {"fp_cost": 50, "fn_cost": 500, "tp_cost": 50, "tn_cost": 0}
# churners at 0.9, 0.7, 0.35; loyal customers at 0.6, 0.3, 0.2, 0.1, 0.05
Y_COST = [1, 1, 1, 0, 0, 0, 0, 0]
P_COST = [0.9, 0.7, 0.35, 0.6, 0.3, 0.2, 0.1, 0.05]


def test_cost_table_on_the_default_grid() -> None:
    rows = metrics.threshold_costs(Y_COST, P_COST, **COSTS)
    assert [row["threshold"] for row in rows] == [i / 100 for i in range(101)]
    assert rows[0] == {"threshold": 0.0, "tp": 3, "fp": 5, "tn": 0, "fn": 0, "cost": 400.0}  # flag all
    assert rows[-1] == {"threshold": 1.0, "tp": 0, "fp": 0, "tn": 5, "fn": 3, "cost": 1500.0}  # flag none
    by_threshold = {row["threshold"]: row for row in rows}
    # hand-computed: flag p > t; cost = 50 per flagged + 500 per missed churner
    assert by_threshold[0.05]["cost"] == 350.0  # 7 flagged
    assert by_threshold[0.29]["cost"] == 250.0  # 5 flagged (0.3 still above 0.29)
    assert by_threshold[0.35]["cost"] == 650.0  # 3 flagged, churner at 0.35 missed
    assert by_threshold[0.6]["cost"] == 600.0  # 2 flagged, one churner missed
    assert by_threshold[0.9]["cost"] == 1500.0
    for row in rows:
        assert row["tp"] + row["fp"] + row["tn"] + row["fn"] == 8


def test_optimal_threshold_by_hand_ties_go_to_the_lowest() -> None:
    # cost 200 (4 flagged, no churner missed) holds for every t in [0.30, 0.35); the lowest wins
    best = metrics.optimal_threshold(Y_COST, P_COST, **COSTS)
    assert best == {"threshold": 0.3, "tp": 3, "fp": 1, "tn": 4, "fn": 0, "cost": 200.0}


def test_optimal_threshold_with_own_grid_in_any_order() -> None:
    best = metrics.optimal_threshold(Y_COST, P_COST, **COSTS, thresholds=[0.8, 0.32, 0.31, 0.5])
    assert best["threshold"] == 0.31 and best["cost"] == 200.0


def test_cost_table_matches_confusion_at_each_threshold() -> None:
    y, p = random_case(8)
    for row in metrics.threshold_costs(y, p, fp_cost=1, fn_cost=3):
        counts = metrics.confusion(y, p, row["threshold"])
        assert {k: row[k] for k in ("tp", "fp", "tn", "fn")} == counts
        assert row["cost"] == counts["fp"] * 1 + counts["fn"] * 3


def test_costs_and_thresholds_may_be_sql_numeric() -> None:
    # PL/Python hands SQL numeric arguments over as Decimal
    decimal_costs = {key: Decimal(value) for key, value in COSTS.items()}
    best = metrics.optimal_threshold(Y_COST, P_COST, **decimal_costs, thresholds=[Decimal("0.3"), Decimal("0.5")])
    assert best == {"threshold": 0.3, "tp": 3, "fp": 1, "tn": 4, "fn": 0, "cost": 200.0}
    assert type(best["cost"]) is float


def test_bad_costs_and_grids() -> None:
    with pytest.raises(InvalidParameter, match="invalid fn_cost"):
        metrics.threshold_costs(Y_COST, P_COST, fp_cost=50, fn_cost=float("inf"))
    with pytest.raises(InvalidParameter, match="invalid tp_cost"):
        metrics.threshold_costs(Y_COST, P_COST, fp_cost=50, fn_cost=500, tp_cost="50")  # type: ignore[arg-type]
    with pytest.raises(InvalidParameter, match=r"invalid fp_cost: NaN$"):  # as SQL spells it, not Python's nan
        metrics.threshold_costs(Y_COST, P_COST, fp_cost=float("nan"), fn_cost=500)
    with pytest.raises(NullValueNotAllowed, match="fn_cost must not be NULL") as null:
        metrics.optimal_threshold(Y_COST, P_COST, fp_cost=50, fn_cost=None)  # type: ignore[arg-type]
    assert null.value.sqlstate == "22004"
    with pytest.raises(InvalidParameter, match="no thresholds"):
        metrics.optimal_threshold(Y_COST, P_COST, fp_cost=50, fn_cost=500, thresholds=[])
