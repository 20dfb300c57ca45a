"""Synthetic demo data for `churnml data generate`: the Aurora ML churn walkthrough schema.

Three tables in schema `public`:

* `customers`: the 21 columns of the public 3,333-row telco churn data set, with
  marginal distributions modelled on it and a churn label whose structure mirrors
  the real one (customer-service calls from the 4th on, the international plan,
  heavy day-time usage, the voicemail plan), so a tree model learns it to an AUC of
  about 0.93 rather than a suspicious 0.99;
* `customer_message`: the walkthrough's ten messages plus short generated notes
  whose tone correlates with churn;
* `call_transcript`: short agent/customer dialogues, likewise.

Everything is a pure function of (n, seed): the same seed gives byte-identical
COPY text. Generation is vectorised numpy; the customers' COPY text is built by
scattering bytes from per-column lookup tables: ~0.9 s for a million customers
against ~4 s for per-row `%`-formatting on a 2-core machine (formatting is the hot
part of loading them).
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import psycopg
    from tqdm import tqdm

Customers = dict[str, np.ndarray]
# (area_code, phone, text, calltime as 'YYYY-MM-DD HH:MM:SS+00')
TextRow = tuple[int, str, str, str]

# (name, SQL type, how the value is written in COPY text)
CUSTOMER_COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("state", "text", "text"),
    ("acc_length", "bigint", "int"),
    ("area_code", "bigint", "int"),
    ("phone", "text", "text"),
    ("int_plan", "text", "text"),
    ("vmail_plan", "text", "text"),
    ("vmail_msg", "bigint", "int"),
    ("day_mins", "double precision", "dec1"),
    ("day_calls", "bigint", "int"),
    ("day_charge", "double precision", "dec2"),
    ("eve_mins", "double precision", "dec1"),
    ("eve_calls", "bigint", "int"),
    ("eve_charge", "double precision", "dec2"),
    ("night_mins", "double precision", "dec1"),
    ("night_calls", "bigint", "int"),
    ("night_charge", "double precision", "dec2"),
    ("int_mins", "double precision", "dec1"),
    ("int_calls", "bigint", "int"),
    ("int_charge", "double precision", "dec2"),
    ("cust_service_calls", "bigint", "int"),
    ("churn", "boolean", "bool"),
)
COLUMN_NAMES: tuple[str, ...] = tuple(name for name, _, _ in CUSTOMER_COLUMNS)

# Per-minute rates of the real data set (charge = minutes x rate, to the cent).
RATES: dict[str, float] = {"day": 0.17, "eve": 0.085, "night": 0.045, "int": 0.27}

TARGET_CHURN_RATE = 0.145
CHUNK_ROWS = 50_000
# Phone numbers are 'NNN-NNNN' with an exchange of 200-999: 8M per area code,
# and area code 415 takes half the customers.
_PHONES_PER_AREA = 8_000_000
MAX_CUSTOMERS = 10_000_000

STATES: tuple[str, ...] = (
    "AK", "AL", "AR", "AZ", "CA", "CO", "CT", "DC", "DE", "FL", "GA", "HI", "IA", "ID", "IL", "IN", "KS",
    "KY", "LA", "MA", "MD", "ME", "MI", "MN", "MO", "MS", "MT", "NC", "ND", "NE", "NH", "NJ", "NM", "NV",
    "NY", "OH", "OK", "OR", "PA", "RI", "SC", "SD", "TN", "TX", "UT", "VA", "VT", "WA", "WI", "WV", "WY",
)  # fmt: skip
# The real data set is roughly uniform over states with a few outliers (WV most, CA fewest).
_STATE_WEIGHT_OVERRIDES = {"WV": 1.6, "MN": 1.3, "NY": 1.3, "AL": 1.2, "CA": 0.5, "IA": 0.65, "LA": 0.75, "AK": 0.8}
AREA_CODES: tuple[int, ...] = (408, 415, 510)
_AREA_CODE_P = (0.25, 0.50, 0.25)

# Independent random streams, so adding a message template never changes the customers.
_STREAM_CUSTOMERS, _STREAM_MESSAGES, _STREAM_TRANSCRIPTS = 1, 2, 3


def _rng(seed: int, stream: int) -> np.random.Generator:
    return np.random.default_rng([stream, seed])


# --------------------------------------------------------------------------------------------
# The walkthrough's customers and messages (the Aurora ML churn walkthrough, MIT-0)
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Profile:
    """A fixed walkthrough customer, so the demo's queries give the same answer for every seed."""

    area_code: int
    phone: str
    state: str
    acc_length: int
    int_plan: str
    vmail_plan: str
    vmail_msg: int
    day: tuple[float, int]
    eve: tuple[float, int]
    night: tuple[float, int]
    intl: tuple[float, int]
    cust_service_calls: int
    churn: bool


WALKTHROUGH_CUSTOMERS: tuple[_Profile, ...] = (
    # The likely churner: 4 service calls, international plan with few international calls.
    _Profile(415, "358-1921", "NJ", 137, "yes", "no", 0, (243.4, 114), (121.2, 110), (162.6, 104),
             (13.7, 2), 4, True),
    # High risk: heavy day-time usage, no voicemail plan, many service calls.
    _Profile(408, "375-9999", "OH", 84, "no", "no", 0, (299.4, 71), (231.1, 88), (212.3, 91),
             (6.6, 7), 5, True),
    # Happy and low risk.
    _Profile(415, "329-6603", "KS", 128, "no", "yes", 25, (165.1, 110), (197.4, 99), (244.7, 91),
             (10.0, 3), 1, False),
    _Profile(415, "351-7269", "OK", 75, "no", "no", 0, (226.6, 117), (174.5, 97), (154.7, 125),
             (10.1, 3), 3, False),
    _Profile(408, "360-1596", "AL", 118, "no", "no", 0, (129.1, 137), (228.5, 83), (208.8, 111),
             (12.7, 6), 6, True),
    _Profile(415, "382-4657", "MA", 121, "no", "yes", 24, (218.2, 88), (348.5, 108), (212.6, 118),
             (7.5, 7), 3, False),
    _Profile(415, "371-7191", "VT", 141, "yes", "yes", 37, (258.6, 84), (222.0, 111), (326.4, 97),
             (11.2, 5), 0, False),
)  # fmt: skip

# The ten walkthrough messages. Eight carry the walkthrough's call time; the last two are
# taken to be the ones it inserts without a time and get a fixed later one, so "latest
# message" queries give the same answer every run.
_WALKTHROUGH_TIME = "2020-01-01 10:10:10+00"
_WALKTHROUGH_LATER = "2020-01-02 09:00:00+00"
WALKTHROUGH_MESSAGES: tuple[TextRow, ...] = (
    (415, "329-6603", "Thank you very much for resolving the issues with my bill!", _WALKTHROUGH_TIME),
    (415, "351-7269", "I don't understand how I paid for 100 minutes and got only 90, you are ripping me off!",
     _WALKTHROUGH_TIME),
    (408, "360-1596", "Please fix this issue! I am sick of sitting on a phone every single day with you people!",
     _WALKTHROUGH_TIME),
    (415, "382-4657", "This is a really great feature, thank for helping me store all my phone numbers.",
     _WALKTHROUGH_TIME),
    (415, "371-7191", "Why am I paying so much for my international minutes?", _WALKTHROUGH_TIME),
    (415, "358-1921", "Why do I have to wait for the response from the customer service for so long? "
     "I don't have time for this.", _WALKTHROUGH_TIME),
    (415, "358-1921", "You morons! You charged me extra again!", _WALKTHROUGH_TIME),
    (408, "375-9999", "You morons! You charged me extra again!", _WALKTHROUGH_TIME),
    (415, "358-1921", "How do I dial Morocco?", _WALKTHROUGH_LATER),
    (415, "329-6603", "Thank you very much for resolving the issues with my account", _WALKTHROUGH_LATER),
)  # fmt: skip


# --------------------------------------------------------------------------------------------
# Customers
# --------------------------------------------------------------------------------------------


def generate_customers(n: int, seed: int) -> Customers:
    """`n` customers as columns named and ordered like the `customers` table."""
    if not len(WALKTHROUGH_CUSTOMERS) <= n <= MAX_CUSTOMERS:
        raise ValueError(f"the number of customers must be between {len(WALKTHROUGH_CUSTOMERS)} and {MAX_CUSTOMERS}")
    rng = _rng(seed, _STREAM_CUSTOMERS)
    cols: Customers = {}
    weights = np.array([_STATE_WEIGHT_OVERRIDES.get(s, 1.0) for s in STATES])
    cols["state"] = np.array(STATES)[rng.choice(len(STATES), n, p=weights / weights.sum())]
    cols["acc_length"] = _normal_int(rng, 101, 40, n, low=1, high=243)
    cols["area_code"], cols["phone"] = _phones(rng, n)
    cols["int_plan"] = _yes_no(rng.random(n) < 0.097)
    cols["vmail_plan"] = _yes_no(rng.random(n) < 0.277)
    msgs = _normal_int(rng, 29, 7.5, n, low=1, high=60)
    cols["vmail_msg"] = np.where(cols["vmail_plan"] == "yes", msgs, 0)
    for period, mean, sd in (("day", 180.0, 54.0), ("eve", 201.0, 50.0), ("night", 201.0, 50.0)):
        cols[f"{period}_mins"] = _minutes(rng.normal(mean, sd, n))
        cols[f"{period}_calls"] = _normal_int(rng, 100, 20, n, low=0)
        cols[f"{period}_charge"] = _charge(cols[f"{period}_mins"], RATES[period])
    cols["int_mins"] = _minutes(rng.normal(10.2, 2.8, n))
    cols["int_calls"] = rng.poisson(4.5, n).astype(np.int64)
    cols["int_charge"] = _charge(cols["int_mins"], RATES["int"])
    cols["cust_service_calls"] = rng.poisson(1.56, n).astype(np.int64)
    fixed = rng.choice(n, len(WALKTHROUGH_CUSTOMERS), replace=False)
    _place_walkthrough(cols, fixed)
    cols["churn"] = _draw_churn(rng, cols, fixed)
    return {name: cols[name] for name in COLUMN_NAMES}


def _normal_int(
    rng: np.random.Generator, mean: float, sd: float, n: int, low: int, high: int | None = None
) -> np.ndarray:
    return np.clip(np.rint(rng.normal(mean, sd, n)), low, high).astype(np.int64)


def _minutes(raw: np.ndarray) -> np.ndarray:
    return np.round(np.clip(raw, 0.0, None), 1)


def _charge(minutes: np.ndarray, rate: float) -> np.ndarray:
    return np.round(minutes * rate, 2)


def _yes_no(mask: np.ndarray) -> np.ndarray:
    return np.where(mask, "yes", "no")


def _phones(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Area codes, and phone numbers drawn without replacement within each area code."""
    area_idx = rng.choice(len(AREA_CODES), n, p=_AREA_CODE_P)
    numbers = np.empty(n, np.int64)
    for i, code in enumerate(AREA_CODES):
        rows = np.flatnonzero(area_idx == i)
        # The walkthrough keys are placed later; keep them out of the random draw so keys stay unique.
        reserved = np.array([_phone_number(p.phone) for p in WALKTHROUGH_CUSTOMERS if p.area_code == code])
        drawn = rng.choice(_PHONES_PER_AREA, len(rows) + len(reserved), replace=False) + 2_000_000
        numbers[rows] = drawn[~np.isin(drawn, reserved)][: len(rows)]
    return np.array(AREA_CODES, np.int64)[area_idx], _format_phones(numbers)


def _phone_number(phone: str) -> int:
    return int(phone.replace("-", ""))


def _format_phones(numbers: np.ndarray) -> np.ndarray:
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


def churn_score(cols: Customers) -> np.ndarray:
    """Log-odds of churning, up to an intercept; the structure of the real data set.

    Step-like terms (thresholds a tree finds) on the drivers the real data has:
    customer-service calls from the 4th on (worst with low day-time usage), the
    international plan (worst with few international calls or many minutes), heavy
    day+evening usage (a sharp threshold, softened by a voicemail plan) and the
    voicemail plan itself.
    """
    day = cols["day_mins"]
    csc = cols["cust_service_calls"]
    intl = cols["int_plan"] == "yes"
    vmail = cols["vmail_plan"] == "yes"
    score = np.zeros(len(day))
    many_calls = csc >= 4
    score += many_calls * (3.1 + 3.3 * _sigmoid((165.0 - day) / 12.0) + 0.45 * np.minimum(csc - 4, 4))
    risky_intl = (cols["int_calls"] < 3) | (cols["int_mins"] > 13.0)
    score += intl * (1.3 + 4.6 * risky_intl)
    # Day minutes plus evening minutes at the day rate: the bill's day+evening part in day minutes.
    usage = day + 0.5 * cols["eve_mins"]
    score += 5.9 * _sigmoid((usage - 355.0) / 7.0) * np.where(vmail, 0.35, 1.0)
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


# --------------------------------------------------------------------------------------------
# Message and transcript text
# --------------------------------------------------------------------------------------------

# Slots every template may use; templates are compiled to positional fields once.
_SLOTS = (
    "amount", "bill", "minutes", "got", "feature", "days", "country", "place", "months", "calls",
    "wait", "weekday", "month", "agent", "nth",
)  # fmt: skip

_ANGRY = (
    "You morons! You charged me {amount} extra again!",
    "This is a total rip-off. My bill is {bill} and I barely used the phone.",
    "I am furious. I have called {calls} times about the same problem and nobody fixes it.",
    "Your customer service is a joke. I waited {wait} minutes on hold just to get disconnected.",
    "Absolutely ridiculous! Another {amount} charge I never agreed to.",
    "Worst phone company ever. My calls drop {place} every single day.",
    "I'm sick and tired of your hidden fees. Cancel my account.",
    "Unbelievable. You raised my bill to {bill} without telling me. I'm done with you.",
    "Stop lying to me about {feature}. It has not worked for {days} days!",
    "I hate this service. The coverage {place} is garbage.",
    "How many times do I have to call? {calls} calls and you still haven't fixed my bill!",
    "You people are thieves. {amount} for {feature} that I never signed up for?",
    "I am switching to another carrier as soon as I can. Your service is pathetic.",
    "This is outrageous! {amount} for a few calls to {country}? You are robbing me.",
    "Your agents hung up on me twice today. Disgraceful.",
    "Terrible, terrible service. No signal {place} for {days} days and nobody cares.",
    "I've been a loyal customer for {months} months and this is how you treat me? Shameful.",
    "Fix my bill or I'm leaving. I'm not paying {amount} for nothing.",
    "What a scam. I paid for {minutes} minutes and you cut me off at {got}.",
    "I am beyond frustrated with your so-called support. Nobody knows anything.",
    "Your website is broken, your app is broken and your agents are useless.",
    "Horrible experience again. {feature} stopped working and I was charged {amount} anyway.",
    "Do you even test your network? Dropped calls all day {place}. Awful.",
    "I demand a refund of {amount} right now. This is the last straw.",
    "Incompetent! I asked you to remove {feature} {days} days ago and it is still on my bill.",
    "You charged me twice this month. Are you kidding me?",
    "Never again. Worst customer service I have ever dealt with.",
    "This company is a nightmare. {calls} calls, {calls} different answers.",
    "Thanks for nothing. My bill went up by {amount} and the service got worse.",
    "I'm fed up with the dropped calls and the lies. I want out of my contract.",
    "Why is it so hard to get a straight answer from you people? Ridiculous.",
    "Your international rates are a rip-off. {amount} for a ten minute call to {country}!",
    "Nobody called me back after {days} days. Pathetic.",
    "Do not ever put me on hold for {wait} minutes again. Unacceptable!",
    "Garbage service, garbage coverage, garbage support.",
    "I'm cancelling. {months} months of headaches is enough.",
    "You keep adding charges I didn't ask for. This is fraud.",
    "Every month it's something new on my bill. I'm sick of it!",
    "The voicemail lost all my messages again. Useless!",
    "Your store staff were rude and your phone support was even worse.",
    "I can't believe I'm paying {bill} a month for this junk service.",
    "Stop sending me upgrade offers and fix my {feature}, you clowns!",
    "Disgusted with how I was treated on the phone on {weekday}.",
    "Terrible! My calls to {country} were billed at double the rate again.",
)
# Complaints without angry words: a sentiment model has to read the situation, not the tone.
_COMPLAINT = (
    "I paid for {minutes} minutes and got only {got}.",
    "My last bill shows {amount} for {feature}, but I never used it.",
    "I have called {calls} times about the same billing issue and it is still not resolved.",
    "The signal {place} has been weak for the past {days} days.",
    "I was told my rate would stay the same, but my bill went up to {bill}.",
    "I am still waiting for the credit of {amount} that was promised in {month}.",
    "Calls to {country} cost much more than the plan description says.",
    "My calls keep dropping {place}, usually in the evening.",
    "I would like to understand why I was charged {amount} extra this month.",
    "{feature} has not worked since {weekday}.",
    "I asked to cancel {feature} last month, but it is still on my bill.",
    "I was on hold for {wait} minutes before anyone answered.",
    "Nobody has called me back about my ticket from {days} days ago.",
    "My international minutes were billed twice in {month}.",
    "I think I am paying too much for what I use. My bill is {bill} every month.",
    "Can you explain the {amount} fee on my account? It was not there before.",
    "Another carrier offered me a cheaper plan. I am thinking about switching.",
    "My minutes run out after {days} days even though I barely use the phone.",
    "I reported the coverage problem {place} twice and nothing has changed.",
    "My minutes don't add up. The bill says {minutes} but I counted {got}.",
    "I was promised a discount when I renewed, but it never appeared on my bill.",
    "It takes several tries to get a call through {place}.",
    "I was transferred {calls} times and still didn't get an answer.",
    "A late fee of {amount} was charged although I paid on time.",
    "My voicemail has been full for {days} days and I cannot delete messages.",
    "The international plan doesn't seem worth it anymore. Calls to {country} keep failing.",
    "After {months} months with you I expected better treatment.",
    "I don't understand why my bill changes every month.",
    "The new pricing costs me {amount} more per month for the same service.",
    "The agent promised to fix my account, but the problem is back.",
    "I have been paying for {feature} for months without being able to use it.",
    "Please remove the {amount} charge; I did not request that service.",
    "I keep getting a busy signal when I call support.",
    "The reception in my area has gotten worse since {month}.",
    "My bill of {bill} is much higher than what my friends pay for the same usage.",
    "I have to restart my phone every day to get any signal {place}.",
    "I was charged roaming fees even though I never left the state.",
    "The online account page still shows the wrong plan after {days} days.",
    "I have written to you {calls} times about this and I am still waiting.",
    "I was billed for {minutes} minutes of calls to {country} that I did not make.",
    "Why is my plan more expensive than the one advertised on your website?",
    "My evening calls get cut off after a few minutes.",
    "I am considering cancelling my contract if the billing issue is not fixed.",
)
_MIXED = (
    "I love the coverage, but the bill is too high.",
    "The service is fine, but {amount} a month for {feature} is too much.",
    "Your agent was very helpful, but I'm still waiting for the refund.",
    "Great network at home, but customer service took {wait} minutes to answer.",
    "I like my plan, but the international rates to {country} are steep.",
    "The new app is nice, but my bill still doesn't make sense.",
    "Calls are clear most of the time, although they drop {place}.",
    "Thanks for fixing {feature}; now please look at the {amount} charge.",
    "Good service overall, but the price went up to {bill} this month.",
    "I appreciate the quick reply, but the problem isn't solved yet.",
    "{feature} works well, but the voicemail keeps losing messages.",
    "I've been happy for {months} months, but this last bill surprised me.",
    "The store staff were friendly, but the phone support was slow.",
    "Coverage is excellent in town, but weak {place}.",
    "Nice to have {feature}, although I wish it were cheaper.",
    "The agent solved my problem, but it took {calls} calls to get there.",
    "Your prices are fair, but the billing errors are getting annoying.",
    "I enjoy the service, but the {amount} activation fee was unexpected.",
    "Customer service was polite, but nobody could explain the charges.",
    "Calls to {country} sound great, but they are expensive.",
    "Generally satisfied, though the evening reception could be better.",
    "Love the unlimited evenings, hate the surprise fees.",
    "The plan is good value, but the contract terms are confusing.",
    "Thanks for the discount; the coverage {place} still needs work.",
    "I like {feature}, but setting it up took {days} days.",
    "Support fixed my voicemail, but my bill is still wrong.",
    "The network is reliable, but I waited {wait} minutes to talk to someone.",
    "Decent service, but I could get the same for less elsewhere.",
    "The upgrade was easy, though the new bill of {bill} is higher than expected.",
    "Most months are fine, but {month} was a mess with dropped calls.",
    "You answered quickly this time, but I still got charged {amount} extra.",
    "Happy with the phone, not so happy with the price.",
    "The agent was kind, but {wait} minutes of hold music was not.",
    "Good coverage at home, but nothing {place}.",
    "I like the international plan, but the calls to {country} keep dropping.",
    "It mostly works, but I've had to call support {calls} times this year.",
    "Your service is okay, but your competitors are offering better deals.",
    "The bill is right now, but it took {days} days to get it corrected.",
    "I'm glad the outage is over, but {days} days without service is a lot.",
    "Great {feature}, mediocre support.",
    "Voicemail is handy, but the monthly fee adds up.",
    "The refund arrived, but it was {amount} short.",
)
_NEUTRAL = (
    "How do I dial {country}?",
    "How can I set up {feature} on my phone?",
    "What is the rate for calls to {country}?",
    "Can I move my billing date by {days} days?",
    "How many minutes do I have left this month?",
    "Is there a family plan that includes {feature}?",
    "Please send me a copy of my {month} bill.",
    "How do I check my voicemail from another phone?",
    "Can I add {feature} to my plan?",
    "What time does your store close on {weekday}?",
    "I moved. How do I update my address?",
    "Does my plan include calls to {country}?",
    "How do I turn on autopay?",
    "Is there a fee for changing my phone number?",
    "Can I keep my number if I get a new phone?",
    "What is the difference between the basic and the premium plan?",
    "How do I reset my voicemail password?",
    "When does my contract end?",
    "Can I pause my service for {days} days while I travel?",
    "Do you have coverage {place}?",
    "How do I block a number?",
    "Where can I see my call history for {month}?",
    "Can I get my bill by email instead of paper?",
    "How long does it take to port a number?",
    "Is {feature} available in my area?",
    "How do I add a second line to my account?",
    "What are the weekend rates for calls to {country}?",
    "Can I use my phone in {country}?",
    "How do I forward calls to my office number?",
    "Can you tell me my current balance?",
    "I'd like to change the name on my account.",
    "Is there a student discount?",
    "How do I record a new voicemail greeting?",
    "What does the {feature} line on my bill mean?",
    "Can someone call me back on {weekday} afternoon?",
    "Which plan is best for about {minutes} minutes a month?",
    "How do I set up a conference call?",
    "Do unused minutes roll over to next month?",
    "Can I get a paper copy of my contract?",
    "How do I activate roaming before my trip to {country}?",
    "Is there a limit on the number of voicemail messages?",
    "What is the customer service number for business accounts?",
)
_POSITIVE = (
    "Thank you very much for resolving the issue with my bill!",
    "This is a really great feature, thanks for {feature}.",
    "The agent I spoke with on {weekday} was extremely helpful.",
    "Great coverage {place}, I never drop a call.",
    "I have been with you for {months} months and I am very happy.",
    "Thanks for the quick fix on {feature}!",
    "Love the new plan, it saves me {amount} every month.",
    "Your customer service is excellent. Problem solved in one call.",
    "The call quality to {country} is fantastic.",
    "Thank you for the credit of {amount}, much appreciated!",
    "Wonderful service as always.",
    "I recommended you to my whole family.",
    "Setting up {feature} was easy, thank you!",
    "Thanks for the reminder about my bill, very helpful.",
    "The store team was amazing on {weekday}.",
    "Best carrier I've had. Keep it up!",
    "The voicemail is great, thank you for helping me keep all my messages.",
    "I appreciate how fast you answered my question.",
    "Excellent reception even {place}.",
    "Thanks for upgrading my phone so quickly!",
    "Very happy with my plan, it's exactly what I need.",
    "Your agent {agent} went above and beyond today. Thank you!",
    "The international plan is perfect for calling my family in {country}.",
    "Thanks, the billing issue is resolved and everything looks right.",
    "Great value for the money.",
    "I love the new app, paying my bill is so easy now.",
    "Thank you for the loyalty discount!",
    "No complaints at all, everything works perfectly.",
    "Clear calls, fair prices, friendly people. Thank you!",
    "Thanks for following up on my ticket, I really appreciate it.",
    "The outage was fixed quickly, great job.",
    "I'm impressed with how easy it was to add {feature}.",
    "Fantastic support, my problem was solved on the first call.",
    "I'm glad I switched to you {months} months ago.",
    "Thank you for explaining my bill so clearly.",
    "The coverage {place} has improved a lot, thanks!",
    "Happy customer here, thanks for the great service.",
    "Thank you for waiving the {amount} fee, that was very kind.",
    "Everything works great since the update, thanks!",
    "Really appreciate the free {feature} trial.",
    "Your technician fixed the signal issue in no time. Thanks!",
    "Great job on the new family plan, we love it.",
)

# Transcript turns: (opening, customer, agent reply, customer follow-up, agent close, customer close).
_AGENT_OPEN = (
    "Agent: Thank you for calling, my name is {agent}. How can I help you today?",
    "Agent: Good morning, this is {agent} from customer care. What can I do for you?",
    "Agent: Hi, you've reached customer service, {agent} speaking. How may I help?",
    "Agent: Thanks for holding. This is {agent}. What can I help you with today?",
    "Agent: Hello, {agent} here. I see you're calling from your mobile line. How can I help?",
    "Agent: Good afternoon and thanks for calling. My name is {agent}. What brings you in today?",
    "Agent: Customer care, this is {agent}. Can I have your name and what you're calling about?",
    "Agent: Hello and thank you for being a customer. I'm {agent}. How can I help?",
)
_TURNS: dict[str, tuple[tuple[str, ...], ...]] = {
    "negative": (
        (
            "Customer: I've been a customer for {months} months and my bill this month is {bill}. That can't be right.",
            "Customer: This is my {nth} call to customer service about the same problem.",
            "Customer: My calls keep dropping {place} and nobody has fixed it.",
            "Customer: I'm being charged {amount} for {feature} that I never asked for.",
            "Customer: Last time I was on hold for {wait} minutes and then got disconnected.",
            "Customer: The calls to {country} are costing me a fortune. Why is it so expensive?",
            "Customer: I paid for {minutes} minutes and only got {got}. I want to know why.",
            "Customer: I have no signal {place} for {days} days now. I'm paying for nothing.",
        ),
        (
            "Agent: I'm sorry to hear that. I can see several calls about this on your account. Let me look into it.",
            "Agent: I apologize for the trouble. I can offer you a credit of {amount}.",
            "Agent: I understand your frustration. Let me check your bill line by line.",
            "Agent: I'm sorry. I see a ticket from {days} days ago that is still open.",
            "Agent: I apologize. Our network team knows about the coverage problem in your area.",
        ),
        (
            "Customer: I don't want another credit, I want it fixed. Otherwise I'm switching carriers.",
            "Customer: That's what the last agent told me too.",
            "Customer: Honestly, another company offered me a better deal last week.",
            "Customer: I've heard that before. Nothing ever changes.",
            "Customer: After {months} months I expected better than this.",
            "Customer: Just tell me how much it costs to cancel my contract.",
        ),
        (
            "Agent: I understand. I've escalated your case to a supervisor, who will call you within {days} days.",
            "Agent: I've added a note to your account and applied the credit to your next bill.",
            "Agent: I'm sorry we let you down. Is there anything I can do to keep you with us?",
            "Agent: I've opened a priority ticket. You should hear from us by {weekday}.",
        ),
        (
            "Customer: We'll see. If this isn't fixed I'm cancelling.",
            "Customer: Fine. But this is the last time I call.",
            "Customer: Whatever. I'm looking at other carriers anyway.",
            "Customer: Just cancel the service at the end of the month.",
            "Customer: I'll believe it when I see it.",
        ),
    ),
    "mixed": (
        (
            "Customer: I like the coverage, but my bill of {bill} seems high.",
            "Customer: The service has been fine for {months} months, but this month I was charged {amount} extra.",
            "Customer: {feature} works great, but calls to {country} are expensive.",
            "Customer: I'm mostly happy, but the calls drop {place}.",
            "Customer: Your agent fixed my voicemail last week, but now my bill is wrong.",
        ),
        (
            "Agent: Thanks for letting us know. Let me take a look at your account.",
            "Agent: I see. I can review your plan and see if there's a better fit.",
            "Agent: I'm sorry about that. I can credit {amount} back to your account.",
        ),
        (
            "Customer: That would help. I just want the bill to make sense.",
            "Customer: Okay, but I hope it doesn't happen again.",
            "Customer: Thanks. I'd rather stay, but the price matters to me.",
        ),
        (
            "Agent: Done. I've also moved you to a plan that fits your usage better.",
            "Agent: I've applied the credit. You'll see it on your {month} bill.",
        ),
        (
            "Customer: Alright, thanks for your help.",
            "Customer: Okay. Let's see how the next bill looks.",
        ),
    ),
    "neutral": (
        (
            "Customer: I have a question about my bill of {bill}.",
            "Customer: How do I set up {feature}?",
            "Customer: I'm traveling to {country} next month. Will my phone work there?",
            "Customer: I'd like to change my billing address.",
            "Customer: Can you tell me how many minutes I used in {month}?",
            "Customer: I want to add a second line to my account.",
        ),
        (
            "Agent: Of course. I can see you've been with us for {months} months. Let me pull that up.",
            "Agent: Sure, I can help with that. One moment please.",
            "Agent: Certainly. Can you confirm the last four digits of your account number?",
            "Agent: Yes, let me check the options on your plan.",
        ),
        (
            "Customer: Okay. How long will that take?",
            "Customer: Sure, go ahead.",
            "Customer: Thanks. Is there a fee for that?",
        ),
        (
            "Agent: It's all set. The change takes effect on your next bill.",
            "Agent: No fee. I've sent the details to your email.",
            "Agent: Done. Is there anything else I can help you with?",
        ),
        (
            "Customer: No, that's all. Thank you.",
            "Customer: Great, have a nice day.",
        ),
    ),
    "positive": (
        (
            "Customer: Hi, I just wanted to say thanks, the issue with my bill is fixed.",
            "Customer: I'd like to add {feature} to my plan. I've been really happy with the service.",
            "Customer: I've been with you for {months} months and I'd like to upgrade my phone.",
            "Customer: The new coverage {place} is great. I'd like to add a line for my daughter.",
            "Customer: Your colleague helped me last week and everything works perfectly now.",
        ),
        (
            "Agent: That's great to hear! Let me set that up for you.",
            "Agent: Thank you for being with us for {months} months. I can offer a loyalty discount too.",
            "Agent: Wonderful. I can see your account is in good standing.",
        ),
        (
            "Customer: That sounds great, thank you.",
            "Customer: Perfect, I appreciate it.",
            "Customer: Even better. Thanks!",
        ),
        (
            "Agent: It's done. Is there anything else I can help you with?",
            "Agent: All set. Thanks for calling and have a great day.",
        ),
        (
            "Customer: No, that's all. Thanks for your help!",
            "Customer: That's everything. You've been very helpful.",
        ),
    ),
}

_FEATURES = (
    "voicemail", "call waiting", "caller ID", "call forwarding", "three-way calling", "the mobile app",
    "autopay", "international calling", "the family plan", "visual voicemail", "the hotspot",
    "paperless billing",
)  # fmt: skip
_COUNTRIES = (
    "Morocco", "Mexico", "India", "the Philippines", "Germany", "Brazil", "Vietnam", "Nigeria", "Poland",
    "Canada", "Japan", "Ireland", "Egypt", "Colombia", "South Korea", "Italy",
)  # fmt: skip
_PLACES = (
    "at my house", "in my office", "on the highway", "in my basement", "at my parents' house",
    "near the stadium", "on my commute", "in the suburbs", "at the airport", "in the mountains",
)  # fmt: skip
_WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_MONTHS = (
    "January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
    "November", "December",
)  # fmt: skip
_AGENTS = (
    "Maria", "James", "Priya", "Daniel", "Aisha", "Tom", "Mei", "Carlos", "Olivia", "Samuel", "Fatima",
    "Kevin", "Lucy", "Ahmed", "Grace", "Diego",
)  # fmt: skip
_ORDINALS = (
    "first", "second", "third", "fourth", "fifth", "sixth", "seventh", "eighth", "ninth", "tenth",
    "eleventh", "twelfth",
)  # fmt: skip
_PLAN_MINUTES = (100, 200, 250, 300, 400, 500)

_SLOT_RE = re.compile(r"\{(\w+)\}")


def _compile(template: str) -> str:
    """'{amount}' -> '{0}': positional fields measured ~1.7x faster than keywords."""
    return _SLOT_RE.sub(lambda m: f"{{{_SLOTS.index(m.group(1))}}}", template)


MESSAGE_TONES: tuple[str, ...] = ("angry", "complaint", "mixed", "neutral", "positive")
_MESSAGE_TEMPLATES: dict[str, tuple[str, ...]] = {
    "angry": _ANGRY, "complaint": _COMPLAINT, "mixed": _MIXED, "neutral": _NEUTRAL, "positive": _POSITIVE,
}  # fmt: skip
# P(tone | churned) and P(tone | stayed): churners mostly complain, some without angry words.
_MESSAGE_TONE_P = {
    True: (0.40, 0.30, 0.12, 0.12, 0.06),
    False: (0.05, 0.10, 0.12, 0.38, 0.35),
}
TRANSCRIPT_TONES: tuple[str, ...] = ("negative", "mixed", "neutral", "positive")
_TRANSCRIPT_TONE_P = {
    True: (0.70, 0.15, 0.12, 0.03),
    False: (0.10, 0.10, 0.45, 0.35),
}
MESSAGE_SHARE = 0.30  # customers who wrote at least one message
SECOND_MESSAGE_SHARE = 0.20  # of those, who wrote two
TRANSCRIPT_SHARE = 0.50


def message_templates(tone: str) -> tuple[str, ...]:
    """The raw templates of one message tone (for tests and documentation)."""
    return _MESSAGE_TEMPLATES[tone]


def _walkthrough_rows(customers: Customers) -> np.ndarray:
    keys = {(p.area_code, p.phone) for p in WALKTHROUGH_CUSTOMERS}
    phones = customers["phone"]
    candidates = np.flatnonzero(np.isin(phones, [p.phone for p in WALKTHROUGH_CUSTOMERS]))
    area = customers["area_code"]
    return np.array([i for i in candidates.tolist() if (int(area[i]), str(phones[i])) in keys], np.int64)


def _pick_writers(rng: np.random.Generator, customers: Customers, share: float) -> np.ndarray:
    """Rows of the customers who get generated text (never the walkthrough customers)."""
    n = len(customers["phone"])
    chosen = rng.random(n) < share
    chosen[_walkthrough_rows(customers)] = False
    return np.flatnonzero(chosen)


def _pick_tones(rng: np.random.Generator, churned: np.ndarray, probs: dict[bool, Sequence[float]]) -> np.ndarray:
    u = rng.random(len(churned))
    tone = np.empty(len(churned), np.int64)
    for label, p in probs.items():
        rows = churned == label
        tone[rows] = np.searchsorted(np.cumsum(p)[:-1], u[rows], side="right")
    return tone


def _calltimes(rng: np.random.Generator, m: int) -> list[str]:
    """Uniform call times in 2024 (UTC), as timestamptz text."""
    seconds = rng.integers(0, 366 * 86_400, m)
    stamps = (np.datetime64("2024-01-01T00:00:00", "s") + seconds).astype("U19")
    return [s.replace("T", " ") + "+00" for s in stamps.tolist()]


def _choose(rng: np.random.Generator, options: Sequence[object], m: int) -> list[object]:
    return np.array(options, dtype=object)[rng.integers(0, len(options), m)].tolist()


def _money(cents: np.ndarray) -> list[str]:
    """'$12.34' spellings; each distinct amount is formatted once and looked up."""
    distinct, inverse = np.unique(cents, return_inverse=True)
    table = np.array([f"${c // 100}.{c % 100:02d}" for c in distinct.tolist()], dtype=object)
    return table[inverse].tolist()


def _slot_values(rng: np.random.Generator, customers: Customers, rows: np.ndarray) -> list[tuple[object, ...]]:
    """Per text one tuple of slot fills, in `_SLOTS` order; some come from the customer's own record."""
    m = len(rows)
    bill_cents = sum(np.rint(customers[f"{p}_charge"][rows] * 100).astype(np.int64) for p in RATES)
    plan = np.array(_PLAN_MINUTES)[rng.integers(0, len(_PLAN_MINUTES), m)]
    csc = customers["cust_service_calls"][rows]
    columns = {
        "amount": _money(rng.integers(300, 6000, m)),
        "bill": _money(np.asarray(bill_cents)),
        "minutes": plan.tolist(),
        "got": (plan - rng.integers(5, 40, m) * plan // 100).tolist(),
        "feature": _choose(rng, _FEATURES, m),
        "days": rng.integers(2, 15, m).tolist(),
        "country": _choose(rng, _COUNTRIES, m),
        "place": _choose(rng, _PLACES, m),
        "months": customers["acc_length"][rows].tolist(),
        "calls": np.maximum(csc, 2).tolist(),
        "wait": (rng.integers(4, 19, m) * 5).tolist(),
        "weekday": _choose(rng, _WEEKDAYS, m),
        "month": _choose(rng, _MONTHS, m),
        "agent": _choose(rng, _AGENTS, m),
        # This call is the customer's (service calls + 1)-th.
        "nth": np.array(_ORDINALS, dtype=object)[np.minimum(csc, len(_ORDINALS) - 1)].tolist(),
    }
    return list(zip(*(columns[name] for name in _SLOTS), strict=True))


def _fill(
    customers: Customers, rows: np.ndarray, templates: list[str], slots: list[tuple[object, ...]], times: list[str]
) -> list[TextRow]:
    texts = [t.format(*s) for t, s in zip(templates, slots, strict=True)]
    area = customers["area_code"][rows].tolist()
    phone = customers["phone"][rows].tolist()
    return list(zip(area, phone, texts, times, strict=True))


# Optional openings and tone-appropriate closings: real notes repeat, but not that much.
_GREETINGS = ("Hi.", "Hello.", "Hi there.", "Good morning.", "Hello, customer service.", "Hey.")
_CLOSINGS: dict[str, tuple[str, ...]] = {
    "angry": ("Fix it now.", "Unacceptable.", "I want a call back today.", "Enough is enough.", "Do better."),
    "complaint": (
        "Please look into it.", "Can someone call me back?", "Thank you.", "Please let me know what happened.",
        "I would appreciate an answer this week.",
    ),
    "mixed": ("Thanks.", "Please let me know.", "Otherwise all good.", "Just wanted you to know."),
    "neutral": ("Thanks.", "Thank you in advance.", "Thanks for your help.", "Regards.", "Thank you!"),
    "positive": ("Have a great day!", "Thanks again.", "Keep up the good work!", "Cheers!", "Thank you!"),
}  # fmt: skip
_GREETING_SHARE, _CLOSING_SHARE = 0.3, 0.35


def _decorations(rng: np.random.Generator, options: Sequence[str], share: float, m: int) -> np.ndarray:
    """'' for most rows, else one of `options`, as an object array ready for elementwise `+`."""
    chosen = np.array(options, dtype=object)[rng.integers(0, len(options), m)]
    return np.where(rng.random(m) < share, chosen, "")


def _message_templates(rng: np.random.Generator, tone: np.ndarray) -> list[str]:
    compiled = [_compile(t) for name in MESSAGE_TONES for t in _MESSAGE_TEMPLATES[name]]
    counts = np.array([len(_MESSAGE_TEMPLATES[name]) for name in MESSAGE_TONES])
    offsets = np.cumsum(counts) - counts
    m = len(tone)
    which = offsets[tone] + (rng.random(m) * counts[tone]).astype(np.int64)
    greeting = _decorations(rng, [g + " " for g in _GREETINGS], _GREETING_SHARE, m)
    closing = np.full(m, "", dtype=object)
    for t, name in enumerate(MESSAGE_TONES):
        rows = np.flatnonzero(tone == t)
        closing[rows] = _decorations(rng, [" " + c for c in _CLOSINGS[name]], _CLOSING_SHARE, len(rows))
    return (greeting + np.array(compiled, dtype=object)[which] + closing).tolist()


def generate_messages(customers: Customers, seed: int) -> list[TextRow]:
    """The walkthrough's ten messages, then one (sometimes two) for ~30% of the other customers."""
    rng = _rng(seed, _STREAM_MESSAGES)
    writers = _pick_writers(rng, customers, MESSAGE_SHARE)
    twice = writers[rng.random(len(writers)) < SECOND_MESSAGE_SHARE]
    rows = np.sort(np.concatenate([writers, twice]), kind="stable")
    tone = _pick_tones(rng, customers["churn"][rows], _MESSAGE_TONE_P)
    templates = _message_templates(rng, tone)
    times = _calltimes(rng, len(rows))
    slots = _slot_values(rng, customers, rows)
    return [*WALKTHROUGH_MESSAGES, *_fill(customers, rows, templates, slots, times)]


_STAGES = 6  # agent opening, then the tone's five turns
_VARIANT_RADIX = 16  # more than any stage's number of variants (+1 for "turn not spoken")


def _transcript_templates(rng: np.random.Generator, tone: np.ndarray) -> list[str]:
    """A dialogue template per transcript: per stage one variant, the first 3-6 stages spoken.

    Each distinct combination is joined once (there are far fewer than transcripts) and
    looked up, which measured ~2.5x faster than joining turns per row.
    """
    stages = [[[_compile(t) for t in stage] for stage in (_AGENT_OPEN, *_TURNS[name])] for name in TRANSCRIPT_TONES]
    sizes = np.array([[len(stage) for stage in tone_stages] for tone_stages in stages])
    m = len(tone)
    variant = (rng.random((m, _STAGES)) * sizes[tone]).astype(np.int64)
    spoken = np.arange(_STAGES) < rng.integers(3, _STAGES + 1, m)[:, None]
    digits = np.where(spoken, variant + 1, 0)  # 0 = not spoken
    key = tone * _VARIANT_RADIX**_STAGES + digits @ (_VARIANT_RADIX ** np.arange(_STAGES))
    distinct, inverse = np.unique(key, return_inverse=True)
    table = np.array([_decode_dialogue(int(k), stages) for k in distinct.tolist()], dtype=object)
    return table[inverse].tolist()


def _decode_dialogue(key: int, stages: list[list[list[str]]]) -> str:
    tone, rest = divmod(key, _VARIANT_RADIX**_STAGES)
    turns = []
    for s in range(_STAGES):
        rest, digit = divmod(rest, _VARIANT_RADIX)
        if digit:
            turns.append(stages[tone][s][digit - 1])
    return "\n".join(turns)


def generate_transcripts(customers: Customers, seed: int) -> list[TextRow]:
    """One agent/customer dialogue of 3-6 turns (one per line) for ~50% of the customers."""
    rng = _rng(seed, _STREAM_TRANSCRIPTS)
    rows = _pick_writers(rng, customers, TRANSCRIPT_SHARE)
    tone = _pick_tones(rng, customers["churn"][rows], _TRANSCRIPT_TONE_P)
    templates = _transcript_templates(rng, tone)
    times = _calltimes(rng, len(rows))
    slots = _slot_values(rng, customers, rows)
    return _fill(customers, rows, templates, slots, times)


# --------------------------------------------------------------------------------------------
# COPY text
# --------------------------------------------------------------------------------------------


def copy_escape(value: str) -> str:
    """A value in PostgreSQL's COPY text format: backslash, tab, newline and CR escaped.

    Quotes need no escaping in text format; `\\N` would mean NULL, which the escaped
    backslash rules out. Chained `replace` measured ~10x faster than `str.translate`.
    """
    if "\\" in value:
        value = value.replace("\\", "\\\\")  # first, so the escapes added below stay single
    return value.replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")


def text_copy_chunks(rows: Iterable[TextRow], chunk_rows: int = CHUNK_ROWS) -> Iterator[tuple[str, int]]:
    """COPY text of (area_code, phone, text, calltime) rows, as (chunk, number of rows)."""
    batch: list[str] = []
    for area, phone, text, calltime in rows:
        batch.append(f"{area}\t{copy_escape(phone)}\t{copy_escape(text)}\t{calltime}\n")
        if len(batch) == chunk_rows:
            yield "".join(batch), len(batch)
            batch = []
    if batch:
        yield "".join(batch), len(batch)


@dataclass(frozen=True)
class _EncodedColumn:
    """A column as indexes into a table of its distinct COPY spellings."""

    codes: np.ndarray  # int64 index per row
    table: np.ndarray  # 'S<w>' spellings
    lengths: np.ndarray  # byte length of each spelling


def _lookup(codes: np.ndarray, spellings: Sequence[str]) -> _EncodedColumn:
    table = np.array([s.encode("ascii") for s in spellings], dtype=bytes)
    lengths = np.array([len(s) for s in spellings], np.int64)
    return _EncodedColumn(codes.astype(np.int64), table, lengths)


def _encode_ascii(values: np.ndarray) -> _EncodedColumn:
    """Short ASCII text (state, phone, yes/no) as its own table of bytes.

    numpy stores 'U' strings as UCS-4 code points, so narrowing them to uint8 is the
    whole conversion; that measured ~100x faster than `astype(bytes)` plus `str_len`.
    """
    if values.dtype.kind != "U":
        raise TypeError(f"expected a numpy unicode array, got {values.dtype}")
    width = values.dtype.itemsize // 4
    points = values.view(np.uint32).reshape(len(values), width)
    if len(values) and points.max() > 127:
        raise ValueError("customers text columns must be ASCII")
    table = np.ascontiguousarray(points.astype(np.uint8)).view(f"S{width}").reshape(len(values))
    return _EncodedColumn(np.arange(len(values)), table, np.count_nonzero(points, axis=1).astype(np.int64))


def _encode_column(values: np.ndarray, kind: str) -> _EncodedColumn:
    """Numbers and booleans have few distinct spellings, so each is written once and looked up."""
    if kind == "text":
        return _encode_ascii(values)
    if kind == "bool":
        return _lookup(values.astype(np.int64), ["f", "t"])
    scale = {"int": 1, "dec1": 10, "dec2": 100}[kind]
    # Minutes and charges were rounded to 1 and 2 decimals, so scaled they are exact integers.
    codes = np.rint(values * scale).astype(np.int64)
    if len(codes) and codes.min() < 0:
        raise ValueError(f"negative value in a {kind} column")
    top = int(codes.max()) if len(codes) else 0
    if kind == "int":
        return _lookup(codes, [str(i) for i in range(top + 1)])
    digits = 1 if kind == "dec1" else 2
    return _lookup(codes, [f"{i // scale}.{i % scale:0{digits}d}" for i in range(top + 1)])


def _join_fields(fields: Sequence[tuple[np.ndarray, np.ndarray]]) -> bytes:
    """Rows of tab-separated fields, newline-terminated, from per-column bytes (n, w) and lengths.

    Fields are written left to right, each at its full width w in one vectorised
    scatter; the padding past a shorter field is overwritten by the separator and the
    fields written after it. That is only sound while the padding cannot reach past
    the row's end (the next row's start is already written), so a column whose
    padding could (per the shortest spellings of the columns after it) is written
    byte by byte with a mask instead.
    """
    if not fields or not len(fields[0][1]):
        return b""
    row_len = sum(lengths for _, lengths in fields) + len(fields)
    ends = np.cumsum(row_len)
    out = np.empty(int(ends[-1]), np.uint8)
    shortest = [int(lengths.min()) for _, lengths in fields]
    # Bytes that certainly follow field k in every row: its separator, then later fields and separators.
    after = [1 + sum(s + 1 for s in shortest[k + 1 :]) for k in range(len(fields))]
    pos = ends - row_len
    for k, (data, lengths) in enumerate(fields):
        width = data.shape[1]
        if width - shortest[k] < after[k]:
            out[pos[:, None] + np.arange(width)] = data
        else:
            for j in range(width):
                mask = lengths > j
                out[pos[mask] + j] = data[mask, j]
        pos = pos + lengths
        out[pos] = ord("\t") if k < len(fields) - 1 else ord("\n")
        pos = pos + 1
    return out.tobytes()


def customer_copy_chunks(customers: Customers, chunk_rows: int = CHUNK_ROWS) -> Iterator[tuple[bytes, int]]:
    """COPY text (ASCII bytes) of the customers, columns in `COLUMN_NAMES` order, as (chunk, rows)."""
    encoded = [_encode_column(customers[name], kind) for name, _, kind in CUSTOMER_COLUMNS]
    n = len(customers["phone"])
    for start in range(0, n, chunk_rows):
        stop = min(start + chunk_rows, n)
        fields = []
        for col in encoded:
            codes = col.codes[start:stop]
            data = col.table[codes].view(np.uint8).reshape(len(codes), col.table.dtype.itemsize)
            fields.append((data, col.lengths[codes]))
        yield _join_fields(fields), stop - start


# --------------------------------------------------------------------------------------------
# Loading
# --------------------------------------------------------------------------------------------

_TEXT_TABLES = ("customer_message", "call_transcript")
_TEXT_COLUMN = {"customer_message": "message", "call_transcript": "transcript"}


def create_tables_sql() -> list[str]:
    """DDL: drop and recreate the three tables (keys and indexes come after COPY)."""
    columns = ",\n    ".join(f"{name} {sql_type}" for name, sql_type, _ in CUSTOMER_COLUMNS)
    statements = [f"DROP TABLE IF EXISTS public.{t} CASCADE" for t in ("customers", *_TEXT_TABLES)]
    statements.append(f"CREATE TABLE public.customers (\n    {columns}\n)")
    statements += [
        f"CREATE TABLE public.{t} (area_code bigint, phone text, {_TEXT_COLUMN[t]} text, calltime timestamptz)"
        for t in _TEXT_TABLES
    ]
    return statements


def index_sql() -> list[str]:
    """Keys and indexes, built once after loading (much faster than maintaining them per row)."""
    return [
        "ALTER TABLE public.customers ADD PRIMARY KEY (area_code, phone)",
        "CREATE INDEX ON public.customer_message (area_code, phone)",
        "CREATE INDEX ON public.call_transcript (area_code, phone)",
    ]


def load(conn: psycopg.Connection[Any], n: int, seed: int, progress: bool = True) -> dict[str, int]:
    """Create and fill customers, customer_message and call_transcript in one transaction.

    Drops existing tables of those names first. Keys, indexes and ANALYZE run after
    the COPYs, in the same transaction, so a failure leaves the database as it was.
    Returns the number of rows per table.
    """
    from tqdm import tqdm  # client-only dependency; the unit tests never need it

    with tqdm(total=3, unit=" tables", file=sys.stderr, disable=not progress, desc="generating") as bar:
        customers = generate_customers(n, seed)
        bar.update()
        messages = generate_messages(customers, seed)
        bar.update()
        transcripts = generate_transcripts(customers, seed)
        bar.update()
    counts = {"customers": n, "customer_message": len(messages), "call_transcript": len(transcripts)}
    names = ", ".join(COLUMN_NAMES)
    with (
        tqdm(total=sum(counts.values()), unit=" rows", unit_scale=True, file=sys.stderr, disable=not progress,
             desc="loading") as bar,
        conn.transaction(),
        conn.cursor() as cur,
    ):  # fmt: skip
        for statement in create_tables_sql():
            cur.execute(statement)
        _copy(cur, f"COPY public.customers ({names}) FROM STDIN", customer_copy_chunks(customers), bar)
        for table, rows in (("customer_message", messages), ("call_transcript", transcripts)):
            copy_sql = f"COPY public.{table} (area_code, phone, {_TEXT_COLUMN[table]}, calltime) FROM STDIN"
            _copy(cur, copy_sql, text_copy_chunks(rows), bar)
        bar.set_description("indexing")
        for statement in index_sql():
            cur.execute(statement)
        for table in counts:
            cur.execute(f"ANALYZE public.{table}")
        bar.set_description("loaded")
    return counts


def _copy(cur: psycopg.Cursor[Any], statement: str, chunks: Iterable[tuple[bytes | str, int]], bar: tqdm[Any]) -> None:
    """COPY ... FROM STDIN in text format; psycopg encodes str chunks in the client encoding."""
    with cur.copy(statement) as copy:
        for chunk, rows in chunks:
            copy.write(chunk)
            bar.update(rows)
