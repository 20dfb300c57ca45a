"""The simulated customers and their churn label (the `customers` table), vectorised numpy.

Marginal distributions are modelled on the public 3,333-row telco churn data set, and
the churn label mirrors its structure (customer-service calls from the 4th on, the
international plan, heavy day-time usage, the voicemail plan). The walkthrough's seven
customers are placed at random rows with their fixed profiles.
"""

from __future__ import annotations

import numpy as np

from churnml_client.datagen.schema import COLUMN_NAMES, Customers
from churnml_client.datagen.walkthrough import WALKTHROUGH_CUSTOMERS

# Per-minute rates of the real data set (charge = minutes x rate, to the cent).
RATES: dict[str, float] = {"day": 0.17, "eve": 0.085, "night": 0.045, "int": 0.27}

TARGET_CHURN_RATE = 0.145
# Phone numbers are 'NNN-NNNN' with an exchange of 200-999: 8M per area code,
# and area code 415 takes half the customers.
PHONES_PER_AREA = 8_000_000
MAX_CUSTOMERS = 10_000_000

STATES: tuple[str, ...] = (
    "AK", "AL", "AR", "AZ", "CA", "CO", "CT", "DC", "DE", "FL", "GA", "HI", "IA", "ID", "IL", "IN", "KS",
    "KY", "LA", "MA", "MD", "ME", "MI", "MN", "MO", "MS", "MT", "NC", "ND", "NE", "NH", "NJ", "NM", "NV",
    "NY", "OH", "OK", "OR", "PA", "RI", "SC", "SD", "TN", "TX", "UT", "VA", "VT", "WA", "WI", "WV", "WY",
)  # fmt: skip
# The real data set is roughly uniform over states with a few outliers (WV most, CA fewest).
STATE_WEIGHT_OVERRIDES = {"WV": 1.6, "MN": 1.3, "NY": 1.3, "AL": 1.2, "CA": 0.5, "IA": 0.65, "LA": 0.75, "AK": 0.8}
AREA_CODES: tuple[int, ...] = (408, 415, 510)
AREA_CODE_P = (0.25, 0.50, 0.25)

# Marginal distributions (of the real data set): normal minutes per period, normal calls per
# period, Poisson international and customer-service calls, plan shares. months.py evolves the
# customers month to month around the same distributions.
MINUTES_MEAN_SD: dict[str, tuple[float, float]] = {
    "day": (180.0, 54.0), "eve": (201.0, 50.0), "night": (201.0, 50.0), "int": (10.2, 2.8),
}  # fmt: skip
CALLS_MEAN_SD = (100.0, 20.0)
INT_CALLS_MEAN = 4.5
SERVICE_CALLS_MEAN = 1.56
INT_PLAN_SHARE = 0.097
VMAIL_PLAN_SHARE = 0.277
VMAIL_MSG_MEAN_SD = (29.0, 7.5)
VMAIL_MSG_RANGE = (1, 60)
# The heavy-usage churn driver: day minutes + half the evening minutes above this (the top ~10%).
HEAVY_USAGE_MINUTES = 355.0

# Independent random streams, so adding a message template never changes the customers
# (and generating monthly snapshots, STREAM_MONTHS, never changes any of the three tables).
STREAM_CUSTOMERS, STREAM_MESSAGES, STREAM_TRANSCRIPTS, STREAM_MONTHS = 1, 2, 3, 4


def random_stream(seed: int, stream: int) -> np.random.Generator:
    """The random generator of one stream (STREAM_CUSTOMERS, ...) for `seed`."""
    return np.random.default_rng([stream, seed])


def generate_customers(n: int, seed: int) -> Customers:
    """`n` customers as columns named and ordered like the `customers` table."""
    if not len(WALKTHROUGH_CUSTOMERS) <= n <= MAX_CUSTOMERS:
        raise ValueError(f"the number of customers must be between {len(WALKTHROUGH_CUSTOMERS)} and {MAX_CUSTOMERS}")
    rng = random_stream(seed, STREAM_CUSTOMERS)
    cols: Customers = {}
    weights = np.array([STATE_WEIGHT_OVERRIDES.get(s, 1.0) for s in STATES])
    cols["state"] = np.array(STATES)[rng.choice(len(STATES), n, p=weights / weights.sum())]
    cols["acc_length"] = normal_int(rng, 101, 40, n, low=1, high=243)
    cols["area_code"], cols["phone"] = _phones(rng, n)
    cols["int_plan"] = yes_no(rng.random(n) < INT_PLAN_SHARE)
    cols["vmail_plan"] = yes_no(rng.random(n) < VMAIL_PLAN_SHARE)
    msgs = normal_int(rng, *VMAIL_MSG_MEAN_SD, n, low=VMAIL_MSG_RANGE[0], high=VMAIL_MSG_RANGE[1])
    cols["vmail_msg"] = np.where(cols["vmail_plan"] == "yes", msgs, 0)
    for period in ("day", "eve", "night"):
        cols[f"{period}_mins"] = minutes(rng.normal(*MINUTES_MEAN_SD[period], n))
        cols[f"{period}_calls"] = normal_int(rng, *CALLS_MEAN_SD, n, low=0)
        cols[f"{period}_charge"] = charge(cols[f"{period}_mins"], RATES[period])
    cols["int_mins"] = minutes(rng.normal(*MINUTES_MEAN_SD["int"], n))
    cols["int_calls"] = rng.poisson(INT_CALLS_MEAN, n).astype(np.int64)
    cols["int_charge"] = charge(cols["int_mins"], RATES["int"])
    cols["cust_service_calls"] = rng.poisson(SERVICE_CALLS_MEAN, n).astype(np.int64)
    fixed = rng.choice(n, len(WALKTHROUGH_CUSTOMERS), replace=False)
    _place_walkthrough(cols, fixed)
    cols["churn"] = _draw_churn(rng, cols, fixed)
    return {name: cols[name] for name in COLUMN_NAMES}


def normal_int(
    rng: np.random.Generator, mean: float, sd: float, n: int, low: int, high: int | None = None
) -> np.ndarray:
    return np.clip(np.rint(rng.normal(mean, sd, n)), low, high).astype(np.int64)


def minutes(raw: np.ndarray) -> np.ndarray:
    return np.round(np.clip(raw, 0.0, None), 1)


def charge(minutes: np.ndarray, rate: float) -> np.ndarray:
    return np.round(minutes * rate, 2)


def yes_no(mask: np.ndarray) -> np.ndarray:
    return np.where(mask, "yes", "no")


def _phones(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Area codes, and phone numbers drawn without replacement within each area code."""
    area_idx = rng.choice(len(AREA_CODES), n, p=AREA_CODE_P)
    numbers = np.empty(n, np.int64)
    for i, code in enumerate(AREA_CODES):
        rows = np.flatnonzero(area_idx == i)
        # The walkthrough keys are placed later; keep them out of the random draw so keys stay unique.
        reserved = np.array([phone_number(p.phone) for p in WALKTHROUGH_CUSTOMERS if p.area_code == code])
        drawn = rng.choice(PHONES_PER_AREA, len(rows) + len(reserved), replace=False) + 2_000_000
        numbers[rows] = drawn[~np.isin(drawn, reserved)][: len(rows)]
    return np.array(AREA_CODES, np.int64)[area_idx], format_phones(numbers)


def phone_number(phone: str) -> int:
    return int(phone.replace("-", ""))


def format_phones(numbers: np.ndarray) -> np.ndarray:
    exchange = (numbers // 10_000).astype(np.dtypes.StringDType())
    line = np.strings.zfill((numbers % 10_000).astype(np.dtypes.StringDType()), 4)
    return np.strings.add(np.strings.add(exchange, "-"), line).astype("U8")


def _place_walkthrough(cols: Customers, rows: np.ndarray) -> None:
    for row, p in zip(rows.tolist(), WALKTHROUGH_CUSTOMERS, strict=True):
        values: dict[str, object] = {
            "state": p.state, "acc_length": p.acc_length, "area_code": p.area_code, "phone": p.phone,
            "int_plan": p.int_plan, "vmail_plan": p.vmail_plan, "vmail_msg": p.vmail_msg,
            "cust_service_calls": p.cust_service_calls,
        }  # fmt: skip
        for period, (mins, calls) in (("day", p.day), ("eve", p.eve), ("night", p.night), ("int", p.intl)):
            values[f"{period}_mins"] = mins
            values[f"{period}_calls"] = calls
            values[f"{period}_charge"] = round(mins * RATES[period], 2)
        for name, value in values.items():
            cols[name][row] = value


# --------------------------------------------------------------------------------------------
# The churn label
# --------------------------------------------------------------------------------------------


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def service_calls_term(cols: Customers) -> np.ndarray:
    """Customer-service calls from the 4th on, worst with low day-time usage."""
    csc = cols["cust_service_calls"]
    many_calls = csc >= 4
    return many_calls * (3.1 + 3.3 * _sigmoid((165.0 - cols["day_mins"]) / 12.0) + 0.45 * np.minimum(csc - 4, 4))


def intl_plan_term(cols: Customers, base: float = 1.3, risky: float = 4.6) -> np.ndarray:
    """The international plan, worst with few international calls or many minutes."""
    risky_intl = (cols["int_calls"] < 3) | (cols["int_mins"] > 13.0)
    return (cols["int_plan"] == "yes") * (base + risky * risky_intl)


def heavy_usage_term(cols: Customers, threshold: float = HEAVY_USAGE_MINUTES) -> np.ndarray:
    """Heavy day+evening usage (a sharp threshold), softened by a voicemail plan.

    Day minutes plus evening minutes at the day rate: the bill's day+evening part in day minutes.
    """
    usage = cols["day_mins"] + 0.5 * cols["eve_mins"]
    return 5.9 * _sigmoid((usage - threshold) / 7.0) * np.where(cols["vmail_plan"] == "yes", 0.35, 1.0)


def churn_score(cols: Customers) -> np.ndarray:
    """Log-odds of churning, up to an intercept; the structure of the real data set.

    Step-like terms (thresholds a tree finds) on the drivers the real data has:
    customer-service calls from the 4th on (worst with low day-time usage), the
    international plan (worst with few international calls or many minutes), heavy
    day+evening usage (a sharp threshold, softened by a voicemail plan) and the
    voicemail plan itself. drift.py changes some terms in its scenarios' months.
    """
    csc = cols["cust_service_calls"]
    vmail = cols["vmail_plan"] == "yes"
    score = np.zeros(len(csc))
    score += service_calls_term(cols)
    score += intl_plan_term(cols)
    score += heavy_usage_term(cols)
    score -= 1.3 * vmail
    # Small smooth effects that no single split captures, as in real data.
    score += 0.005 * (cols["acc_length"] - 101) + 0.19 * np.minimum(csc, 3)
    return score


def _draw_churn(rng: np.random.Generator, cols: Customers, fixed: np.ndarray) -> np.ndarray:
    """Churn = score + logistic noise above a threshold, set so the rate is exactly the target.

    That is a logistic model P = sigmoid(b0 + score) whose intercept b0 is calibrated on
    the realised draws rather than on the expectation, so every n and seed lands at
    14.5% instead of within sampling error of it. The noise is the label noise that
    keeps the problem realistic.
    """
    n = len(cols["phone"])
    u = rng.random(n)
    latent = churn_score(cols) + np.log(u) - np.log1p(-u)  # logit(u) is standard logistic
    churn = np.zeros(n, bool)
    free = np.ones(n, bool)
    free[fixed] = False
    churn[fixed] = [p.churn for p in WALKTHROUGH_CUSTOMERS]
    k = round(TARGET_CHURN_RATE * n) - int(churn[fixed].sum())
    free_idx = np.flatnonzero(free)
    if k > 0:
        # Stable sort of -latent: ties (practically impossible) resolve by row, deterministically.
        top = np.argsort(-latent[free_idx], kind="stable")[:k]
        churn[free_idx[top]] = True
    return churn
