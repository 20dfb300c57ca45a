"""Monthly snapshots of the customers (`customer_months`), with churn outcomes a month later.

Month 1 is the `customers` table itself (the same rows and churn labels, so generating
months never changes it). From month to month:

1. the customers who churned (churn = true in the previous month's snapshot) leave, and as
   many new customers join, so the base keeps its size: a joiner has a new phone number,
   state, area code and account length, and the usage, plans and service calls of the
   customer whose place it takes. New customers resembling those who leave (the market's
   switchers) keep the population's mix of behaviours what it was: without that, each
   month would remove the risky profiles and the features would drift by themselves,
   which is drift no scenario names (and the churn rate would fall month after month);
2. every customer's numbers evolve a little around the same distributions (customers.py's):
   minutes and calls by a mean-reverting step (month-to-month correlation 0.9 and 0.8),
   international and service calls by binomial thinning plus Poisson arrivals (which
   keeps a Poisson distribution Poisson), plans by rare switches (a few percent a month)
   whose balance keeps the plan shares; account length, state and area code stay;
3. charges are the month's minutes times the month's rates (drift.py: a price rise);
4. churn = the customer leaves in the month after the snapshot: a logistic draw on the
   churn score (drift.py: the scenarios active that month), with the intercept that gives
   the customers table's 14.5% on month 1.

Every month's draws come from their own random streams (seed, month, step), so the same
seed gives the same months whatever --months is, and months before the first scenario are
the same whatever the scenarios are.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from churnml_client.datagen.customers import (
    AREA_CODE_P,
    AREA_CODES,
    CALLS_MEAN_SD,
    INT_CALLS_MEAN,
    INT_PLAN_SHARE,
    MINUTES_MEAN_SD,
    PHONES_PER_AREA,
    SERVICE_CALLS_MEAN,
    STATE_WEIGHT_OVERRIDES,
    STATES,
    STREAM_MONTHS,
    TARGET_CHURN_RATE,
    VMAIL_MSG_MEAN_SD,
    VMAIL_MSG_RANGE,
    VMAIL_PLAN_SHARE,
    charge,
    format_phones,
    generate_customers,
    minutes,
    normal_int,
    yes_no,
)
from churnml_client.datagen.drift import DriftPlan
from churnml_client.datagen.schema import COLUMN_NAMES, Customers

MAX_MONTHS = 60
# customers x months: ~4.6 GB with the key (230 bytes a row) and ~1.5 minutes at the ~250k rows/s
# measured for 100,000 customers x 6 months on 2 cores
MAX_MONTH_ROWS = 20_000_000

# Month-to-month correlation of minutes and of calls per period (mean-reverting normal steps).
MINUTES_CORRELATION = 0.9
CALLS_CORRELATION = 0.8
# Share of last month's international / service calls that recur (binomial thinning).
INT_CALLS_KEPT = 0.5
SERVICE_CALLS_KEPT = 0.3
# Monthly chance of dropping a plan; taking it up is set so the plan's share stays (drop x share = take x rest).
INT_PLAN_DROP = 0.10
VMAIL_PLAN_DROP = 0.05
VMAIL_MSG_CORRELATION = 0.8

# The random streams of a month, each its own so that one step's draws never shift another's.
_JOIN, _EVOLVE, _CHURN = 1, 2, 3


def _stream(seed: int, month: int, step: int) -> np.random.Generator:
    return np.random.default_rng([STREAM_MONTHS, seed, month, step])


def check_size(n: int, months: int) -> None:
    if not 1 <= months <= MAX_MONTHS:
        raise ValueError(f"--months must be between 1 and {MAX_MONTHS}, not {months}")
    if n * months > MAX_MONTH_ROWS:
        raise ValueError(f"{n:,} customers x {months} months is {n * months:,} rows of customer_months; at most "
                         f"{MAX_MONTH_ROWS:,} (fewer --customers or --months)")


def generate_months(n: int, seed: int, months: int, plan: DriftPlan) -> Iterator[Customers]:
    """The snapshots of months 1..`months`, one at a time (memory: one month), columns as the
    customers table's (churn = churns in the next month) plus `month` first."""
    check_size(n, months)
    cols = dict(generate_customers(n, seed))
    intercept = _intercept(plan.churn_score(cols, 1))
    # per area code, which of its PHONES_PER_AREA numbers a customer has had (8 MB each): never reused
    taken = {code: np.zeros(PHONES_PER_AREA, bool) for code in AREA_CODES}
    for code in AREA_CODES:
        taken[code][_numbers(cols["phone"][cols["area_code"] == code]) - _FIRST_NUMBER] = True
    yield _snapshot(cols, 1)
    for month in range(2, months + 1):
        leavers = np.flatnonzero(cols["churn"])
        _join(_stream(seed, month, _JOIN), cols, leavers, taken)
        _evolve(_stream(seed, month, _EVOLVE), cols)
        rates = plan.rates(month)
        for period, rate in rates.items():
            cols[f"{period}_charge"] = charge(cols[f"{period}_mins"], rate)
        u = _stream(seed, month, _CHURN).random(n)
        # churn when intercept + score + standard logistic noise > 0 (logit(u) is standard logistic)
        cols["churn"] = intercept + plan.churn_score(cols, month) + np.log(u) - np.log1p(-u) > 0
        yield _snapshot(cols, month)


def _snapshot(cols: Customers, month: int) -> Customers:
    return {"month": np.full(len(cols["phone"]), month, np.int64), **{name: cols[name] for name in COLUMN_NAMES}}


def _intercept(score: np.ndarray) -> float:
    """b0 with mean(sigmoid(b0 + score)) = the customers' churn rate (bisection; the mean rises with b0)."""
    low, high = -30.0, 30.0
    for _ in range(64):  # 60 / 2^64: far below a float's precision at these magnitudes
        mid = (low + high) / 2
        if np.mean(1.0 / (1.0 + np.exp(-(mid + score)))) < TARGET_CHURN_RATE:
            low = mid
        else:
            high = mid
    return (low + high) / 2


def _join(rng: np.random.Generator, cols: Customers, rows: np.ndarray, taken: dict[int, np.ndarray]) -> None:
    """New customers in the leavers' rows: new identity, the leavers' behaviour (evolved next)."""
    k = len(rows)
    weights = np.array([STATE_WEIGHT_OVERRIDES.get(s, 1.0) for s in STATES])
    cols["state"] = cols["state"].copy()
    cols["state"][rows] = np.array(STATES)[rng.choice(len(STATES), k, p=weights / weights.sum())]
    cols["acc_length"] = cols["acc_length"].copy()
    cols["acc_length"][rows] = normal_int(rng, 101, 40, k, low=1, high=243)
    area_idx = rng.choice(len(AREA_CODES), k, p=AREA_CODE_P)
    numbers = np.empty(k, np.int64)
    for i, code in enumerate(AREA_CODES):
        mine = np.flatnonzero(area_idx == i)
        numbers[mine] = _new_numbers(rng, taken[code], len(mine)) + _FIRST_NUMBER
    cols["area_code"] = cols["area_code"].copy()
    cols["area_code"][rows] = np.array(AREA_CODES, np.int64)[area_idx]
    cols["phone"] = cols["phone"].copy()
    cols["phone"][rows] = format_phones(numbers)


_FIRST_NUMBER = 2_000_000  # 'NNN-NNNN' with an exchange of 200-999, as customers.py draws them


def _numbers(phones: np.ndarray) -> np.ndarray:
    """'NNN-NNNN' (numpy 'U8') -> NNNNNNN, vectorised: the digits are the code points minus '0'."""
    digits = phones.astype("U8").view(np.uint32).reshape(len(phones), 8).astype(np.int64) - ord("0")
    weights = np.array([10**6, 10**5, 10**4, 0, 10**3, 10**2, 10, 1], np.int64)  # the '-' counts nothing
    return digits @ weights


def _new_numbers(rng: np.random.Generator, taken: np.ndarray, k: int) -> np.ndarray:
    """`k` distinct numbers (offsets into one area code's range) that no customer has had; marks them taken."""
    if np.count_nonzero(taken) + k > len(taken) // 2:
        # far beyond what MAX_MONTH_ROWS allows; drawing would slow down, never fail
        raise ValueError("too many customers over the months for one area code's phone numbers")
    found = np.empty(0, np.int64)
    while len(found) < k:
        drawn = rng.integers(0, len(taken), k - len(found) + 16)
        drawn = drawn[~taken[drawn]]
        drawn = drawn[np.sort(np.unique(drawn, return_index=True)[1])][: k - len(found)]  # first draws, in order
        taken[drawn] = True
        found = np.concatenate([found, drawn])
    return found


def _evolve(rng: np.random.Generator, cols: Customers) -> None:
    """One month of every customer's usage, calls and plans, keeping their distributions (see the module doc)."""
    n = len(cols["phone"])
    for period in ("day", "eve", "night", "int"):
        mean, sd = MINUTES_MEAN_SD[period]
        cols[f"{period}_mins"] = minutes(_revert(rng, cols[f"{period}_mins"], mean, sd, MINUTES_CORRELATION))
    for period in ("day", "eve", "night"):
        mean, sd = CALLS_MEAN_SD
        step = _revert(rng, cols[f"{period}_calls"], mean, sd, CALLS_CORRELATION)
        cols[f"{period}_calls"] = np.clip(np.rint(step), 0, None).astype(np.int64)
    cols["int_calls"] = _thin(rng, cols["int_calls"], INT_CALLS_KEPT, INT_CALLS_MEAN)
    cols["cust_service_calls"] = _thin(rng, cols["cust_service_calls"], SERVICE_CALLS_KEPT, SERVICE_CALLS_MEAN)
    cols["int_plan"] = yes_no(_switch(rng, cols["int_plan"] == "yes", INT_PLAN_DROP, INT_PLAN_SHARE))
    had_vmail = cols["vmail_plan"] == "yes"
    vmail = _switch(rng, had_vmail, VMAIL_PLAN_DROP, VMAIL_PLAN_SHARE)
    low, high = VMAIL_MSG_RANGE
    kept = np.clip(np.rint(_revert(rng, cols["vmail_msg"], *VMAIL_MSG_MEAN_SD, VMAIL_MSG_CORRELATION)), low, high)
    fresh = normal_int(rng, *VMAIL_MSG_MEAN_SD, n, low=low, high=high)
    cols["vmail_plan"] = yes_no(vmail)
    cols["vmail_msg"] = np.where(vmail, np.where(had_vmail, kept, fresh), 0).astype(np.int64)


def _revert(rng: np.random.Generator, x: np.ndarray, mean: float, sd: float, rho: float) -> np.ndarray:
    """x' = mean + rho (x - mean) + sqrt(1 - rho^2) sd e: N(mean, sd^2) stays N(mean, sd^2)."""
    return mean + rho * (x - mean) + np.sqrt(1.0 - rho * rho) * sd * rng.standard_normal(len(x))


def _thin(rng: np.random.Generator, x: np.ndarray, kept: float, mean: float) -> np.ndarray:
    """Binomial(x, kept) + Poisson(mean (1 - kept)): Poisson(mean) stays Poisson(mean)."""
    return (rng.binomial(x, kept) + rng.poisson(mean * (1.0 - kept), len(x))).astype(np.int64)


def _switch(rng: np.random.Generator, has: np.ndarray, drop: float, share: float) -> np.ndarray:
    """Plans dropped with chance `drop` and taken up with chance drop x share / (1 - share): the share stays."""
    take = drop * share / (1.0 - share)
    u = rng.random(len(has))
    return np.where(has, u >= drop, u < take)
