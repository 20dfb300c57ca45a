"""The retrain gate's decision and pg_cron's setup checks, without a server (the SQL tests run them for real:
tests/sql/test_retraining.py)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from churnml.errors import InsufficientPrivilege, InvalidParameter, ObjectNotInPrerequisiteState
from churnml.monitoring import retrain_gate, retrain_schedule
from churnml.monitoring.retrain_gate import judge


def rows(n: int = 1000, rate: float = 0.2, seed: int = 0) -> tuple[list[bool], np.ndarray]:
    rng = np.random.default_rng(seed)
    labels = rng.random(n) < rate
    return [bool(v) for v in labels], labels.astype(float)


def scores_with_auc(y: np.ndarray, signal: float, seed: int) -> list[float]:
    """Probabilities whose mean is near the churn rate and whose AUC grows with `signal`."""
    rng = np.random.default_rng(seed)
    raw = signal * y + rng.normal(size=len(y))
    ranks = raw.argsort().argsort() / len(y)
    return [float(v) for v in np.clip(ranks * 2 * y.mean(), 0.001, 0.999)]


def test_a_better_challenger_is_promoted() -> None:
    labels, y = rows()
    verdict = judge(labels, scores_with_auc(y, 0.1, 1), scores_with_auc(y, 3.0, 2), min_gain=0.01, min_auc=0.6)
    assert verdict.status == "promoted", verdict.reason
    assert verdict.challenger_auc is not None and verdict.champion_auc is not None
    assert verdict.challenger_auc > 0.9 > 0.6 > verdict.champion_auc
    assert verdict.details["guards"] == dict.fromkeys(
        ("constant_scores", "mean_score", "min_auc", "min_gain", "significant_gain"), True)


@pytest.mark.parametrize(("champion", "challenger", "min_gain", "min_auc", "guard"), [
    (3.0, 3.0, 0.01, 0.6, "min_gain"),  # as good, not better by the margin
    (0.0, 0.3, 0.0, 0.6, "min_auc"),  # better than a useless champion, still useless
    (3.0, 3.0, 1.0, 0.0, "min_gain"),  # an impossible margin
])
def test_challengers_that_fail_a_margin_are_kept(champion: float, challenger: float, min_gain: float,
                                                 min_auc: float, guard: str) -> None:
    labels, y = rows()
    verdict = judge(labels, scores_with_auc(y, champion, 1), scores_with_auc(y, challenger, 1), min_gain=min_gain,
                    min_auc=min_auc)
    assert verdict.status == "kept" and verdict.details["failed_guard"] == guard, verdict.reason


def test_degenerate_and_implausible_scores_are_kept_whatever_the_margins() -> None:
    labels, y = rows()
    champion = scores_with_auc(y, 0.0, 1)
    constant = judge(labels, champion, [0.2] * len(y), min_gain=0.0, min_auc=0.0)
    assert constant.status == "kept" and constant.details["failed_guard"] == "constant_scores"
    # ranks perfectly, but says 90 % churn where 20 % churn
    shifted = [0.8 + 0.19 * v for v in y]
    verdict = judge(labels, champion, shifted, min_gain=0.0, min_auc=0.0)
    assert verdict.status == "kept" and verdict.details["failed_guard"] == "mean_score", verdict.reason
    assert "implausible" in verdict.reason


def test_too_few_rows_or_one_class_decide_nothing() -> None:
    labels, y = rows(n=40)
    assert judge(labels, list(y), list(y), min_gain=0.0, min_auc=0.0).details["failed_guard"] == "evaluation_rows"
    only_stayed = [False] * 500
    verdict = judge(only_stayed, [0.1] * 500, [0.1] * 500, min_gain=0.0, min_auc=0.0)
    assert verdict.status == "kept" and verdict.champion_auc is None


@pytest.mark.parametrize("value", [float("nan"), float("inf"), -0.01, 1.01])
def test_margins_are_numbers_between_0_and_1(value: float) -> None:
    with pytest.raises(InvalidParameter):
        retrain_gate.checked_margin(value, "min_gain", 0.01)
    assert retrain_gate.checked_margin(None, "min_gain", 0.01) == 0.01


class StatePlpy:
    """Answers retrain_schedule's one query about pg_cron with `state`."""

    class SPIError(Exception):
        pass

    def __init__(self, **state: Any) -> None:
        self.state = {"db": "shop", "preload": "pg_cron", "cron_db": "shop", "launcher_db": None,
                      "installed": True, "usage": True, **state}

    def prepare(self, query: str, types: list[str] | None = None) -> str:
        return query

    def execute(self, plan: str, args: list[Any] | None = None) -> list[dict[str, Any]]:
        return [self.state]


@pytest.mark.parametrize(("state", "error", "words"), [
    ({"preload": "pg_stat_statements"}, ObjectNotInPrerequisiteState, "pg_cron is not loaded"),
    ({"installed": False, "cron_db": "postgres"}, ObjectNotInPrerequisiteState, 'from database "postgres"'),
    ({"installed": False, "preload": None, "cron_db": None, "launcher_db": "postgres"}, ObjectNotInPrerequisiteState,
     'from database "postgres"'),
    ({"installed": False}, ObjectNotInPrerequisiteState, "not created in this database"),
    ({"usage": False}, InsufficientPrivilege, "schema cron"),
])
def test_pg_cron_setup_errors_say_what_to_do(state: dict[str, Any], error: type[Exception], words: str) -> None:
    from churnml import spi

    spi._PLANS.clear()
    with pytest.raises(error) as exc:
        retrain_schedule.require_cron(StatePlpy(**state))  # type: ignore[arg-type]  # a stand-in for plpy
    assert words in str(exc.value)
    hint = getattr(exc.value, "hint", "") or ""
    assert "GRANT USAGE ON SCHEMA cron TO churnml_admin" in hint
    if error is ObjectNotInPrerequisiteState:
        assert "shared_preload_libraries = 'pg_cron'" in hint and "cron.database_name = 'shop'" in hint
        assert "CREATE EXTENSION pg_cron" in hint


def test_the_job_command_is_built_from_an_integer_only() -> None:
    assert retrain_schedule.job_command(7) == "SELECT churnml.run_scheduled_retrain(7)"
    with pytest.raises((TypeError, ValueError)):
        retrain_schedule.job_command("7); DROP TABLE x; --")  # type: ignore[arg-type]  # what a caller cannot pass


def test_a_gain_within_chance_is_kept() -> None:
    """Two models of the same quality on 300 rows: one is ahead by chance; min_gain 0 would promote it."""
    labels, y = rows(n=300)
    verdict = judge(labels, scores_with_auc(y, 1.0, 1), scores_with_auc(y, 1.0, 2), min_gain=0.0, min_auc=0.0)
    if verdict.details["gain"] > 0:
        assert verdict.status == "kept" and verdict.details["failed_guard"] == "significant_gain", verdict.reason
        assert "within chance" in verdict.reason
    assert verdict.details["gain_se"] > 0.01


def test_delong_agrees_with_a_paired_bootstrap() -> None:
    from churnml.training.metrics import roc_auc

    _, y = rows(n=600, seed=3)
    old, new = np.asarray(scores_with_auc(y, 1.0, 4)), np.asarray(scores_with_auc(y, 1.6, 5))
    gain, se = retrain_gate.delong_gain(y, old, new)
    assert gain == pytest.approx(roc_auc(y, new) - roc_auc(y, old), abs=1e-9)
    rng = np.random.default_rng(0)
    draws = []
    for _ in range(400):
        i = rng.integers(0, len(y), len(y))
        draws.append(roc_auc(y[i], new[i]) - roc_auc(y[i], old[i]))
    assert se == pytest.approx(float(np.std(draws)), rel=0.2)
