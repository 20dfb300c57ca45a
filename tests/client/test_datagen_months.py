"""`churnml data generate --months N --drift ...`: customer_months without a database.

Deterministic per seed, the customers table untouched, undrifted months undrifted (PSI),
the price rise's covariate drift, the competitor's concept drift (a stale model's AUC falls,
a retrained one's does not), a plausible churn rate, and clear errors for bad arguments.
"""

from __future__ import annotations

import hashlib
import itertools
import subprocess
from functools import cache
from typing import Any

import numpy as np
import pytest

from churnml_client.datagen import load, load_months
from churnml_client.datagen.customers import RATES, generate_customers
from churnml_client.datagen.drift import (
    COMPETITOR_INT_CALLS,
    DEFAULT_DRIFT,
    PRICE_RISE,
    PRICE_RISE_HEAVY_USAGE_MINUTES,
    SCENARIOS,
    DriftError,
    DriftPlan,
    parse_drift,
)
from churnml_client.datagen.months import MAX_MONTH_ROWS, MAX_MONTHS, generate_months
from churnml_client.datagen.schema import (
    COLUMN_NAMES,
    CUSTOMER_COLUMNS,
    MONTH_COLUMN_NAMES,
    Customers,
    create_months_sql,
    months_copy_sql,
    months_finish_sql,
)
from churnml_client.main import build_parser
from tests.client.test_datagen_checksum import EXPECTED as CUSTOMERS_EXPECTED
from tests.client.test_datagen_unit import FakeConnection, decode_copy
from tests.conftest import VENV_BIN

NUMERIC = [name for name, _, kind in CUSTOMER_COLUMNS if kind in ("int", "dec1", "dec2")]
CHARGES = ["day_charge", "eve_charge", "night_charge", "int_charge"]
MINUTES = ["day_mins", "eve_mins", "night_mins", "int_mins"]


@cache
def months(n: int, seed: int, count: int, drift: str | None = None) -> tuple[Customers, ...]:
    """Generated once per arguments for the whole module; tests must not mutate the arrays."""
    plan, _ = parse_drift(drift, count)
    return tuple(generate_months(n, seed, count, plan))


# --- A fake connection for load_months: no table exists yet -------------------------------------


class _NoRow:
    def fetchone(self) -> None:
        return None

    def fetchall(self) -> list[Any]:
        return []


class MonthsConnection(FakeConnection):
    def execute(self, statement: str, params: object = None) -> _NoRow:  # type: ignore[override]
        assert statement.startswith("SELECT"), statement
        return _NoRow()


def months_copy_text(n: int, seed: int, count: int, drift: str | None) -> str:
    conn = MonthsConnection()
    plan, _ = parse_drift(drift, count)
    loaded = load_months(conn, n, seed, count, plan, progress=False)  # type: ignore[arg-type]
    assert not loaded.kept and loaded.counts == {"customer_months": n * count}
    assert conn.log == ["BEGIN", *create_months_sql(), months_copy_sql(),
                        *months_finish_sql(n, seed, count, plan.spec), "close cursor", "COMMIT"]
    return conn.copies[months_copy_sql()].text()


# --- Deterministic per seed ---------------------------------------------------------------------

# (customers, seed, months, --drift) -> SHA-256 of customer_months' COPY text, as load_months writes it.
# Change only on purpose, with a CHANGELOG line (a changed simulation changes every test built on it).
EXPECTED: dict[tuple[int, int, int, str | None], str] = {
    (1500, 4, 4, None): "9ebf191a5d02e497a555245942ae88af348fe000f6e0ec5164fdb425f95731cf",
    (300, 7, 6, "competitor:2"): "3426074cd22fa21dc4f7f6e9b16db4d430c68b7c8cf995bb404a9ad6315456b2",
    (1000, 5, 3, "none"): "5e0c1031cba2ce81c93db1a07bfa953d3c5fe7d7ecaf4ff35636160b8fadba62",
}


@pytest.mark.parametrize(("n", "seed", "count", "drift"), sorted(EXPECTED, key=str))
def test_customer_months_copy_text_is_unchanged(n: int, seed: int, count: int, drift: str | None) -> None:
    text = months_copy_text(n, seed, count, drift)
    assert hashlib.sha256(text.encode("ascii")).hexdigest() == EXPECTED[(n, seed, count, drift)]
    assert text == months_copy_text(n, seed, count, drift)  # and again, in the same process


def test_copy_text_reads_back_with_month_first_and_the_customers_columns() -> None:
    rows = decode_copy(months_copy_text(1500, 4, 4, None))
    assert len(rows) == 6000 and {len(row) for row in rows} == {len(CUSTOMER_COLUMNS) + 1}
    assert ("month", *COLUMN_NAMES) == MONTH_COLUMN_NAMES
    assert [row[0] for row in rows] == [str(m) for m in range(1, 5) for _ in range(1500)]


def test_other_seeds_differ_and_months_do_not_depend_on_later_months_or_drift() -> None:
    a, b = months(2000, 1, 5), months(2000, 2, 5)
    assert not np.array_equal(a[1]["day_mins"], b[1]["day_mins"])
    # the first months are the same whatever --months is, and whatever starts later
    for other in (months(2000, 1, 3, "price_rise:3"), months(2000, 1, 4, "none"), months(2000, 1, 5, "competitor:3")):
        for m in range(2):
            for name in COLUMN_NAMES:
                assert np.array_equal(a[m][name], other[m][name]), (m, name)


# --- The customers table is untouched -----------------------------------------------------------


def test_month_1_is_the_customers_table_and_generating_months_leaves_it_alone() -> None:
    customers = generate_customers(1500, 4)
    first = months(1500, 4, 4)[0]
    assert set(first["month"].tolist()) == {1}
    for name in COLUMN_NAMES:
        assert np.array_equal(first[name], customers[name]), name
    # the three tables' COPY text is what it was before monthly snapshots existed
    conn = FakeConnection()
    load(conn, 1500, 4, progress=False)  # type: ignore[arg-type]
    months_copy_text(1500, 4, 4, None)
    for statement, copy in conn.copies.items():
        table = statement.split()[1].removeprefix("public.")
        assert hashlib.sha256(copy.text().encode()).hexdigest() == CUSTOMERS_EXPECTED[(1500, 4)][table]
    assert not any("customer_months" in line for line in conn.log)


# --- Leaving, joining, evolving ---------------------------------------------------------------


def test_churners_leave_as_many_join_and_keys_stay_keys() -> None:
    snapshots = months(3000, 9, 6)
    ever: set[tuple[int, str]] = set()
    for before, after in itertools.pairwise(snapshots):
        keys_before = list(zip(before["area_code"].tolist(), before["phone"].tolist(), strict=True))
        keys_after = list(zip(after["area_code"].tolist(), after["phone"].tolist(), strict=True))
        assert len(set(keys_after)) == len(keys_after) == 3000  # unique per month, the base keeps its size
        stayers = {k for k, churned in zip(keys_before, before["churn"].tolist(), strict=True) if not churned}
        leavers = set(keys_before) - stayers
        assert stayers <= set(keys_after) and not leavers & set(keys_after)
        joiners = set(keys_after) - stayers
        assert len(joiners) == len(leavers)
        ever |= set(keys_before)
        assert not joiners & ever  # a phone number is never given to a new customer again
        # a stayer keeps state and account length; their usage moves a little
        pos_before = {k: i for i, k in enumerate(keys_before)}
        rows_after = np.array([i for i, k in enumerate(keys_after) if k in stayers])
        rows_before = np.array([pos_before[keys_after[i]] for i in rows_after])
        for name in ("state", "acc_length"):
            assert np.array_equal(after[name][rows_after], before[name][rows_before]), name
        day = np.corrcoef(after["day_mins"][rows_after], before["day_mins"][rows_before])[0, 1]
        assert 0.8 < day < 0.97  # evolves, but "a little": month-to-month correlation ~0.9
        switched = np.mean(after["int_plan"][rows_after] != before["int_plan"][rows_before])
        assert 0.003 < switched < 0.05  # plans change rarely


def test_charges_are_minutes_times_the_months_rate() -> None:
    for snapshot in months(2000, 3, 4):
        factor = 1.0 + PRICE_RISE if snapshot["month"][0] >= 3 else 1.0
        for period, rate in RATES.items():
            expected = np.round(snapshot[f"{period}_mins"] * (rate * factor), 2)
            assert np.array_equal(snapshot[f"{period}_charge"], expected), (snapshot["month"][0], period)


@pytest.mark.parametrize("seed", [42, 5])
def test_churn_rate_stays_plausible(seed: int) -> None:
    for snapshot in months(10_000, seed, 6):
        assert 0.10 <= snapshot["churn"].mean() <= 0.20, snapshot["month"][0]
    for snapshot in months(10_000, seed, 12, "none"):
        assert 0.13 <= snapshot["churn"].mean() <= 0.16, snapshot["month"][0]


# --- Drift, measured by PSI as the monitor measures it ----------------------------------------


def psi(reference: np.ndarray, current: np.ndarray) -> float:
    """Population stability index over the reference's deciles (fewer bins where values repeat)."""
    edges = np.unique(np.quantile(reference, np.linspace(0, 1, 11)[1:-1]))
    bins = len(edges) + 1
    p = np.bincount(np.searchsorted(edges, reference, side="right"), minlength=bins) / len(reference)
    q = np.bincount(np.searchsorted(edges, current, side="right"), minlength=bins) / len(current)
    p, q = np.maximum(p, 1e-4), np.maximum(q, 1e-4)
    return float(np.sum((q - p) * np.log(q / p)))


def category_psi(reference: np.ndarray, current: np.ndarray) -> float:
    values = np.unique(reference)
    p = np.maximum(np.array([np.mean(reference == v) for v in values]), 1e-4)
    q = np.maximum(np.array([np.mean(current == v) for v in values]), 1e-4)
    return float(np.sum((q - p) * np.log(q / p)))


def psis(reference: Customers, current: Customers) -> dict[str, float]:
    numeric = {name: psi(reference[name].astype(float), current[name].astype(float)) for name in NUMERIC}
    categories = ("state", "int_plan", "vmail_plan")
    return numeric | {name: category_psi(reference[name], current[name]) for name in categories}


def test_undrifted_months_stay_within_a_small_psi_of_month_1() -> None:
    snapshots = months(10_000, 42, 6)  # price_rise:3, competitor:4
    month2 = psis(snapshots[0], snapshots[1])
    assert max(month2.values()) < 0.02, month2
    # with no drift at all, a year later too
    year = months(10_000, 42, 12, "none")
    month12 = psis(year[0], year[-1])
    assert max(month12.values()) < 0.03, month12


def test_price_rise_moves_the_charges_and_nothing_else() -> None:
    snapshots = months(10_000, 42, 6)
    month3 = psis(snapshots[0], snapshots[2])
    assert min(month3[name] for name in CHARGES) > 0.3, month3  # well above the usual alert level, 0.25
    assert max(v for name, v in month3.items() if name not in CHARGES) < 0.02, month3
    # and stays: prices are not lowered again
    assert min(psis(snapshots[0], snapshots[5])[name] for name in CHARGES) > 0.3


def test_price_rise_makes_heavy_users_churn_more() -> None:
    snapshots = months(10_000, 42, 3)  # month 3: the price rise

    def heavy_churn(c: Customers) -> float:
        usage = c["day_mins"] + 0.5 * c["eve_mins"]
        heavy = (usage > PRICE_RISE_HEAVY_USAGE_MINUTES) & (usage < 370) & (c["vmail_plan"] == "no")
        return float(c["churn"][heavy].mean())

    assert heavy_churn(snapshots[2]) > heavy_churn(snapshots[1]) + 0.15
    assert snapshots[2]["churn"].mean() > snapshots[1]["churn"].mean() + 0.01


def test_competitor_changes_who_churns_not_who_the_customers_are() -> None:
    snapshots = months(10_000, 7, 3, "competitor:3")
    before, after = snapshots[1], snapshots[2]
    assert max(psis(snapshots[0], after).values()) < 0.02  # concept drift: no feature moves

    def rate(c: Customers, who: str) -> float:
        rows = {
            # the international plan without the undrifted risk (few calls or many minutes)
            "intl_quiet": (c["int_plan"] == "yes") & (c["int_calls"] >= 3) & (c["int_mins"] <= 13),
            "intl_callers": (c["int_plan"] == "no") & (c["int_calls"] >= COMPETITOR_INT_CALLS),
            "complainers": c["cust_service_calls"] >= 4,
        }[who]
        return float(c["churn"][rows].mean())

    assert rate(after, "intl_quiet") > rate(before, "intl_quiet") + 0.3  # measured 0.14 -> 0.52
    assert rate(after, "intl_callers") > rate(before, "intl_callers") + 0.2  # 0.13 -> 0.40
    assert rate(after, "complainers") < rate(before, "complainers") - 0.25
    assert 0.10 <= after["churn"].mean() <= 0.20


def _features(c: Customers) -> np.ndarray:
    plans = [(c[name] == "yes").astype(float) for name in ("int_plan", "vmail_plan")]
    return np.column_stack([*(c[name].astype(float) for name in NUMERIC), *plans])


def stale_and_retrained_auc(first: Customers, drifted: Customers) -> tuple[float, float]:
    """AUC on the drifted month's held-out 30% of a model trained on month 1 and of one trained on
    the drifted month's other 70% (xgboost as churnml trains it: depth 4, 200 rounds)."""
    xgb = pytest.importorskip("xgboost")
    metrics = pytest.importorskip("sklearn.metrics")

    def fit(x: np.ndarray, y: np.ndarray) -> Any:
        model = xgb.XGBClassifier(n_estimators=200, max_depth=4, learning_rate=0.1, n_jobs=2, random_state=0)
        return model.fit(x, y)

    x, y = _features(drifted), drifted["churn"].astype(int)
    order = np.random.default_rng(0).permutation(len(y))
    train, test = order[: int(0.7 * len(y))], order[int(0.7 * len(y)) :]
    stale = fit(_features(first), first["churn"].astype(int))
    retrained = fit(x[train], y[train])
    return (float(metrics.roc_auc_score(y[test], stale.predict_proba(x[test])[:, 1])),
            float(metrics.roc_auc_score(y[test], retrained.predict_proba(x[test])[:, 1])))


@pytest.mark.parametrize(("seed", "drift", "drifted"), [(42, None, 4), (7, "competitor:2", 2)],
                         ids=["default_month_4", "competitor_only"])
def test_competitor_concept_drift_costs_a_stale_model_auc_that_retraining_wins_back(
        seed: int, drift: str | None, drifted: int) -> None:
    snapshots = months(10_000, seed, drifted, drift)
    stale, retrained = stale_and_retrained_auc(snapshots[0], snapshots[drifted - 1])
    assert stale < 0.87 and retrained > 0.90 and retrained - stale > 0.07, (stale, retrained)
    # an undrifted month is no such thing: month 1's model is as good as a retrained one
    if drifted > 2:
        stale, retrained = stale_and_retrained_auc(snapshots[0], snapshots[1])
        assert stale > 0.92 and abs(retrained - stale) < 0.02, (stale, retrained)


# --- --drift and bad arguments ------------------------------------------------------------------


def test_drift_text() -> None:
    assert parse_drift(None, 6) == (DriftPlan((("price_rise", 3), ("competitor", 4))), ())
    assert parse_drift(None, 3) == (DriftPlan((("price_rise", 3),)), ("competitor:4",))
    assert parse_drift(None, 1) == (DriftPlan(()), ("price_rise:3", "competitor:4"))
    assert parse_drift("none", 5)[0].spec == "none"
    plan, _ = parse_drift(" competitor:02 , price_rise:5", 5)
    assert plan.spec == "competitor:2,price_rise:5" and plan.active(4) == {"competitor"}
    assert plan.active(1) == frozenset() and plan.active(5) == {"competitor", "price_rise"}
    assert parse_drift(DEFAULT_DRIFT, 4)[0].spec == DEFAULT_DRIFT


@pytest.mark.parametrize(("text", "count", "message"), [
    ("price_rise:5", 4, "--drift: price_rise starts in month 5, outside 2..4 (--months is 4)"),
    ("competitor:1", 4, "--drift: competitor starts in month 1, outside 2..4 (month 1 is the customers table "
                        "itself, undrifted)"),
    ("rebate:2", 4, "--drift: unknown scenario 'rebate'; the scenarios are price_rise, competitor"),
    ("price_rise:2,price_rise:3", 4, "--drift: price_rise is named twice; each scenario starts once and stays"),
    ("price_rise", 4, "--drift: 'price_rise' is not SCENARIO:MONTH (for example price_rise:3,competitor:4, or none)"),
    ("", 4, "--drift: '' is not SCENARIO:MONTH (for example price_rise:3,competitor:4, or none)"),
    ("price_rise:99999999999", 4, "--drift: 'price_rise:99999999999' is not SCENARIO:MONTH"),
])
def test_bad_drift_text_is_a_clear_error(text: str, count: int, message: str) -> None:
    with pytest.raises(DriftError) as caught:
        parse_drift(text, count)
    assert str(caught.value).startswith(message)


def churnml(*args: str) -> subprocess.CompletedProcess[str]:
    # a port nothing listens on: every one of these must fail before connecting
    return subprocess.run([str(VENV_BIN / "churnml"), "data", "generate", "--dsn", "postgresql://127.0.0.1:9/x",
                           "--quiet", *args], capture_output=True, text=True, check=False, timeout=60)


@pytest.mark.parametrize(("args", "message"), [
    (["--months", "0"], "argument --months: must be between 1 and 60, not 0"),
    (["--months", "-2"], "argument --months: must be between 1 and 60, not -2"),
    (["--months", "100000000000000000000"], "argument --months: must be between 1 and 60, not 100000000000000000000"),
    (["--months", "three"], "argument --months: must be a whole number of months, not 'three'"),
    (["--months", "4", "--drift", "inflation:2"], "churnml: --drift: unknown scenario 'inflation'"),
    (["--months", "3", "--drift", "competitor:4"], "churnml: --drift: competitor starts in month 4, outside 2..3"),
    (["--drift", "competitor:2"], "churnml: --drift needs --months"),
    (["--customers", "1000000", "--months", "21"],
     f"churnml: 1,000,000 customers x 21 months is 21,000,000 rows of customer_months; at most {MAX_MONTH_ROWS:,}"),
])
def test_bad_arguments_are_clear_cli_errors(args: list[str], message: str) -> None:
    result = churnml(*args)
    assert result.returncode in (1, 2) and result.stdout == ""
    assert message in result.stderr and "Traceback" not in result.stderr, result.stderr


def test_cli_help_agrees_with_the_simulation() -> None:
    parser = build_parser()
    generate = parser._subparsers._group_actions[0].choices["data"]  # type: ignore[union-attr]
    generate = generate._subparsers._group_actions[0].choices["generate"]
    helps = {action.dest: action.help or "" for action in generate._actions}
    assert f"1..{MAX_MONTHS}" in helps["months"] and "docs/drift-simulation.md" in helps["months"]
    assert f"Default {DEFAULT_DRIFT}" in helps["drift"]
    for name in SCENARIOS:
        assert name in helps["drift"]
    assert f"+{PRICE_RISE:.0%}%" in helps["drift"]  # written %% for argparse
