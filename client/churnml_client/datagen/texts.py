"""The generated customer_message and call_transcript rows, from the templates in templates.toml.

Who writes, in which tone (following whether they churn), when, and with which words
in the template's {fields}: some come from the customer's own record (bill, months,
service calls), the others are drawn.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from churnml_client.datagen.customers import RATES, STREAM_MESSAGES, STREAM_TRANSCRIPTS, random_stream
from churnml_client.datagen.schema import Customers, TextRow
from churnml_client.datagen.templates import (
    MAX_VARIANTS,
    MESSAGE_TONES,
    SLOTS,
    TRANSCRIPT_TONES,
    TRANSCRIPT_TURNS,
    compile_template,
    templates,
)
from churnml_client.datagen.walkthrough import WALKTHROUGH_CUSTOMERS, WALKTHROUGH_MESSAGES

# P(tone | churned) and P(tone | stayed), in MESSAGE_TONES order: churners mostly complain, some without angry words.
_MESSAGE_TONE_P = {
    True: (0.40, 0.30, 0.12, 0.12, 0.06),
    False: (0.05, 0.10, 0.12, 0.38, 0.35),
}
# Likewise in TRANSCRIPT_TONES order.
_TRANSCRIPT_TONE_P = {
    True: (0.70, 0.15, 0.12, 0.03),
    False: (0.10, 0.10, 0.45, 0.35),
}
MESSAGE_SHARE = 0.30  # customers who wrote at least one message
SECOND_MESSAGE_SHARE = 0.20  # of those, who wrote two
TRANSCRIPT_SHARE = 0.50
_GREETING_SHARE, _CLOSING_SHARE = 0.3, 0.35  # notes with an opening / a closing sentence
_PLAN_MINUTES = (100, 200, 250, 300, 400, 500)


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


def _pick_tones(rng: np.random.Generator, churned: np.ndarray, probs: Mapping[bool, Sequence[float]]) -> np.ndarray:
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
    """Per text one tuple of field values, in SLOTS order; some come from the customer's own record."""
    words = templates().words
    m = len(rows)
    bill_cents = sum(np.rint(customers[f"{p}_charge"][rows] * 100).astype(np.int64) for p in RATES)
    plan = np.array(_PLAN_MINUTES)[rng.integers(0, len(_PLAN_MINUTES), m)]
    csc = customers["cust_service_calls"][rows]
    columns = {
        "amount": _money(rng.integers(300, 6000, m)),
        "bill": _money(np.asarray(bill_cents)),
        "minutes": plan.tolist(),
        "got": (plan - rng.integers(5, 40, m) * plan // 100).tolist(),
        "feature": _choose(rng, words["feature"], m),
        "days": rng.integers(2, 15, m).tolist(),
        "country": _choose(rng, words["country"], m),
        "place": _choose(rng, words["place"], m),
        "months": customers["acc_length"][rows].tolist(),
        "calls": np.maximum(csc, 2).tolist(),
        "wait": (rng.integers(4, 19, m) * 5).tolist(),
        "weekday": _choose(rng, words["weekday"], m),
        "month": _choose(rng, words["month"], m),
        "agent": _choose(rng, words["agent"], m),
        # This call is the customer's (service calls + 1)-th.
        "nth": np.array(words["ordinal"], dtype=object)[np.minimum(csc, len(words["ordinal"]) - 1)].tolist(),
    }
    return list(zip(*(columns[name] for name in SLOTS), strict=True))


def _fill(
    customers: Customers, rows: np.ndarray, compiled: list[str], slots: list[tuple[object, ...]], times: list[str]
) -> list[TextRow]:
    texts = [t.format(*s) for t, s in zip(compiled, slots, strict=True)]
    area = customers["area_code"][rows].tolist()
    phone = customers["phone"][rows].tolist()
    return list(zip(area, phone, texts, times, strict=True))


def _decorations(rng: np.random.Generator, options: Sequence[str], share: float, m: int) -> np.ndarray:
    """'' for most rows, else one of `options`, as an object array ready for elementwise `+`."""
    chosen = np.array(options, dtype=object)[rng.integers(0, len(options), m)]
    return np.where(rng.random(m) < share, chosen, "")


def _message_templates(rng: np.random.Generator, tone: np.ndarray) -> list[str]:
    text = templates()
    compiled = [compile_template(t) for name in MESSAGE_TONES for t in text.messages[name]]
    counts = np.array([len(text.messages[name]) for name in MESSAGE_TONES])
    offsets = np.cumsum(counts) - counts
    m = len(tone)
    which = offsets[tone] + (rng.random(m) * counts[tone]).astype(np.int64)
    greeting = _decorations(rng, [g + " " for g in text.greetings], _GREETING_SHARE, m)
    closing = np.full(m, "", dtype=object)
    for t, name in enumerate(MESSAGE_TONES):
        rows = np.flatnonzero(tone == t)
        closing[rows] = _decorations(rng, [" " + c for c in text.closings[name]], _CLOSING_SHARE, len(rows))
    return (greeting + np.array(compiled, dtype=object)[which] + closing).tolist()


def generate_messages(customers: Customers, seed: int) -> list[TextRow]:
    """The walkthrough's ten messages, then one (sometimes two) for ~30% of the other customers."""
    rng = random_stream(seed, STREAM_MESSAGES)
    writers = _pick_writers(rng, customers, MESSAGE_SHARE)
    twice = writers[rng.random(len(writers)) < SECOND_MESSAGE_SHARE]
    rows = np.sort(np.concatenate([writers, twice]), kind="stable")
    tone = _pick_tones(rng, customers["churn"][rows], _MESSAGE_TONE_P)
    filled = _message_templates(rng, tone)
    times = _calltimes(rng, len(rows))
    slots = _slot_values(rng, customers, rows)
    return [*WALKTHROUGH_MESSAGES, *_fill(customers, rows, filled, slots, times)]


_STAGES = 1 + TRANSCRIPT_TURNS  # the agent's opening, then the tone's turns
_VARIANT_RADIX = MAX_VARIANTS + 1  # a stage's variant as one digit; 0 = not spoken


def _transcript_templates(rng: np.random.Generator, tone: np.ndarray) -> list[str]:
    """A dialogue template per transcript: per stage one variant, the first 3-6 stages spoken.

    Each distinct combination is joined once (there are far fewer than transcripts) and
    looked up, which measured ~2.5x faster than joining turns per row.
    """
    text = templates()
    stages = [
        [[compile_template(t) for t in stage] for stage in (text.agent_opening, *text.turns[name])]
        for name in TRANSCRIPT_TONES
    ]
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
    rng = random_stream(seed, STREAM_TRANSCRIPTS)
    rows = _pick_writers(rng, customers, TRANSCRIPT_SHARE)
    tone = _pick_tones(rng, customers["churn"][rows], _TRANSCRIPT_TONE_P)
    filled = _transcript_templates(rng, tone)
    times = _calltimes(rng, len(rows))
    slots = _slot_values(rng, customers, rows)
    return _fill(customers, rows, filled, slots, times)
