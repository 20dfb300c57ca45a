"""Unit tests of the demo-data generator (no database; `load` runs against a recording fake)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache

import numpy as np
import pytest

from churnml_client.datagen import load
from churnml_client.datagen.copy_text import copy_escape, customer_copy_chunks, text_copy_chunks
from churnml_client.datagen.customers import RATES, STATES, generate_customers
from churnml_client.datagen.schema import (
    CUSTOMER_COLUMNS,
    Customers,
    TextRow,
    comment_sql,
    create_tables_sql,
    index_sql,
)
from churnml_client.datagen.templates import MESSAGE_TONES, message_templates
from churnml_client.datagen.texts import generate_messages, generate_transcripts

EXPECTED_COLUMNS = (
    ("state", "text"),
    ("acc_length", "bigint"),
    ("area_code", "bigint"),
    ("phone", "text"),
    ("int_plan", "text"),
    ("vmail_plan", "text"),
    ("vmail_msg", "bigint"),
    ("day_mins", "double precision"),
    ("day_calls", "bigint"),
    ("day_charge", "double precision"),
    ("eve_mins", "double precision"),
    ("eve_calls", "bigint"),
    ("eve_charge", "double precision"),
    ("night_mins", "double precision"),
    ("night_calls", "bigint"),
    ("night_charge", "double precision"),
    ("int_mins", "double precision"),
    ("int_calls", "bigint"),
    ("int_charge", "double precision"),
    ("cust_service_calls", "bigint"),
    ("churn", "boolean"),
)
WALKTHROUGH_KEYS = {
    (415, "358-1921"),
    (408, "375-9999"),
    (415, "329-6603"),
    (415, "351-7269"),
    (408, "360-1596"),
    (415, "382-4657"),
    (415, "371-7191"),
}
WALKTHROUGH_MESSAGES = [
    (415, "329-6603", "Thank you very much for resolving the issues with my bill!"),
    (415, "351-7269", "I don't understand how I paid for 100 minutes and got only 90, you are ripping me off!"),
    (408, "360-1596", "Please fix this issue! I am sick of sitting on a phone every single day with you people!"),
    (415, "382-4657", "This is a really great feature, thank for helping me store all my phone numbers."),
    (415, "371-7191", "Why am I paying so much for my international minutes?"),
    (
        415,
        "358-1921",
        "Why do I have to wait for the response from the customer service for so long? I don't have time for this.",
    ),
    (415, "358-1921", "You morons! You charged me extra again!"),
    (408, "375-9999", "You morons! You charged me extra again!"),
    (415, "358-1921", "How do I dial Morocco?"),
    (415, "329-6603", "Thank you very much for resolving the issues with my account"),
]
# The walkthrough's model features (int_plan_no = 1 when int_plan = 'no').
WALKTHROUGH_FEATURES = (
    "acc_length", "vmail_msg", "day_mins", "day_calls", "eve_mins", "night_mins", "night_calls", "int_calls",
    "int_charge", "cust_service_calls",
)  # fmt: skip


@cache
def customers(n: int, seed: int) -> Customers:
    """Generated once per (n, seed) for the whole module; tests must not mutate the arrays."""
    return generate_customers(n, seed)


@cache
def messages(n: int, seed: int) -> list[TextRow]:
    return generate_messages(customers(n, seed), seed)


@cache
def transcripts(n: int, seed: int) -> list[TextRow]:
    return generate_transcripts(customers(n, seed), seed)


def copy_bytes(n: int, seed: int) -> bytes:
    return b"".join(chunk for chunk, _ in customer_copy_chunks(customers(n, seed), chunk_rows=700))


# --- A reference reader of PostgreSQL's COPY text format (as CopyReadAttributesText parses it) ---

_BACKSLASH_ESCAPES = {"b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v"}


def decode_copy_line(line: str) -> list[str | None]:
    """One COPY text row (without its newline) -> field values; None for NULL (\\N)."""
    fields: list[str | None] = []
    buf: list[str] = []
    raw_field = ""  # the field as written, to recognise the NULL marker
    i = 0
    while i <= len(line):
        ch = line[i] if i < len(line) else "\t"  # end of line closes the last field
        if ch == "\t":
            fields.append(None if raw_field == "\\N" else "".join(buf))
            buf, raw_field = [], ""
            i += 1
            continue
        if ch == "\\":
            nxt = line[i + 1]
            buf.append(_BACKSLASH_ESCAPES.get(nxt, nxt))  # any other character stands for itself
            raw_field += ch + nxt
            i += 2
            continue
        buf.append(ch)
        raw_field += ch
        i += 1
    return fields


def decode_copy(text: str) -> list[list[str | None]]:
    assert text.endswith("\n")
    # Data newlines are escaped, so every raw newline ends a row.
    return [decode_copy_line(line) for line in text[:-1].split("\n")]


# --- The schema --------------------------------------------------------------------------------


def test_columns_are_exactly_the_walkthrough_schema_in_order() -> None:
    assert tuple((name, sql_type) for name, sql_type, _ in CUSTOMER_COLUMNS) == EXPECTED_COLUMNS
    assert tuple(customers(1000, 1)) == tuple(name for name, _ in EXPECTED_COLUMNS)
    create = next(s for s in create_tables_sql() if s.startswith("CREATE TABLE public.customers"))
    positions = [create.index(f"{name} {sql_type}") for name, sql_type in EXPECTED_COLUMNS]
    assert positions == sorted(positions)


def test_ddl_drops_only_when_replacing_never_cascading_and_keys_come_after_loading() -> None:
    statements = create_tables_sql()
    assert not any(s.startswith("DROP") for s in statements)
    assert create_tables_sql(replace=True)[:3] == [
        "DROP TABLE IF EXISTS public.customers",
        "DROP TABLE IF EXISTS public.customer_message",
        "DROP TABLE IF EXISTS public.call_transcript",
    ]
    assert create_tables_sql(replace=True)[3:] == statements
    assert not any("CASCADE" in s for s in create_tables_sql(replace=True))
    assert not any("PRIMARY KEY" in s or "INDEX" in s for s in statements)
    assert (
        "CREATE TABLE public.customer_message (area_code bigint, phone text, message text, calltime timestamptz)"
        in statements
    )
    assert (
        "CREATE TABLE public.call_transcript (area_code bigint, phone text, transcript text, calltime timestamptz)"
        in statements
    )
    assert index_sql() == [
        "ALTER TABLE public.customers ADD PRIMARY KEY (area_code, phone)",
        "CREATE INDEX ON public.customer_message (area_code, phone)",
        "CREATE INDEX ON public.call_transcript (area_code, phone)",
    ]


# --- Determinism -------------------------------------------------------------------------------


def test_same_seed_gives_byte_identical_data() -> None:
    again = generate_customers(3000, 11)
    first = customers(3000, 11)
    for name in first:
        assert first[name].dtype == again[name].dtype
        assert np.array_equal(first[name], again[name]), name
    assert copy_bytes(3000, 11) == b"".join(chunk for chunk, _ in customer_copy_chunks(again, chunk_rows=700))
    assert generate_messages(again, 11) == messages(3000, 11)
    assert generate_transcripts(again, 11) == transcripts(3000, 11)


def test_different_seeds_differ() -> None:
    a, b = customers(3000, 11), customers(3000, 12)
    for name in ("state", "acc_length", "phone", "day_mins", "cust_service_calls", "churn"):
        assert not np.array_equal(a[name], b[name]), name
    assert copy_bytes(3000, 11) != copy_bytes(3000, 12)
    assert messages(3000, 11)[10:] != messages(3000, 12)[10:]
    assert transcripts(3000, 11) != transcripts(3000, 12)


# --- Distributions -----------------------------------------------------------------------------


def test_marginal_distributions() -> None:
    c = customers(20_000, 1)
    assert set(c["state"].tolist()) == set(STATES) and len(STATES) == 51
    assert c["acc_length"].min() >= 1 and c["acc_length"].max() <= 243
    assert 95 < c["acc_length"].mean() < 107
    shares = {code: float(np.mean(c["area_code"] == code)) for code in (408, 415, 510)}
    assert set(np.unique(c["area_code"]).tolist()) == {408, 415, 510}
    assert abs(shares[415] - 0.5) < 0.02 and abs(shares[408] - 0.25) < 0.02
    assert abs(np.mean(c["int_plan"] == "yes") - 0.097) < 0.01
    assert abs(np.mean(c["vmail_plan"] == "yes") - 0.277) < 0.015
    assert set(c["int_plan"].tolist()) == set(c["vmail_plan"].tolist()) == {"yes", "no"}
    with_plan = c["vmail_plan"] == "yes"
    assert (c["vmail_msg"][~with_plan] == 0).all() and (c["vmail_msg"][with_plan] >= 1).all()
    assert 27 < c["vmail_msg"][with_plan].mean() < 31
    assert 175 < c["day_mins"].mean() < 185 and 50 < c["day_mins"].std() < 58
    assert 1.4 < c["cust_service_calls"].mean() < 1.7
    assert 4.3 < c["int_calls"].mean() < 4.7
    for name, values in c.items():
        if values.dtype.kind in "fi":
            assert values.min() >= 0, name
    for period in ("day", "eve", "night", "int"):
        tenths = c[f"{period}_mins"] * 10
        assert np.allclose(tenths, np.rint(tenths), atol=1e-6), period
    assert all(re.fullmatch(r"[2-9]\d\d-\d{4}", p) for p in c["phone"].tolist())


def test_charges_are_minutes_times_rate_to_the_cent() -> None:
    c = customers(20_000, 1)
    for period, rate in (("day", 0.17), ("eve", 0.085), ("night", 0.045), ("int", 0.27)):
        assert RATES[period] == rate
        charge, expected = c[f"{period}_charge"], c[f"{period}_mins"] * rate
        assert np.abs(charge - expected).max() <= 0.005 + 1e-9, period
        assert np.allclose(charge * 100, np.rint(charge * 100), atol=1e-6), period


def test_area_code_and_phone_are_unique() -> None:
    for n, seed in ((20_000, 1), (3000, 11)):
        c = customers(n, seed)
        keys = set(zip(c["area_code"].tolist(), c["phone"].tolist(), strict=True))
        assert len(keys) == n


@pytest.mark.parametrize("seed", [1, 2])
def test_churn_rate_is_between_14_and_15_percent(seed: int) -> None:
    rate = customers(20_000, seed)["churn"].mean()
    assert 0.14 <= rate <= 0.15


def test_churn_rate_holds_for_other_sizes() -> None:
    for n in (10_000, 12_345):
        assert 0.14 <= generate_customers(n, 99)["churn"].mean() <= 0.15


def test_churn_jumps_from_the_fourth_customer_service_call() -> None:
    c = customers(20_000, 1)
    many = c["cust_service_calls"] >= 4
    assert c["churn"][many].mean() > 0.40
    assert c["churn"][~many].mean() < 0.15


def test_international_plan_and_heavy_day_use_raise_churn_and_voicemail_lowers_it() -> None:
    c = customers(20_000, 1)
    churn = c["churn"]
    intl = c["int_plan"] == "yes"
    assert churn[intl].mean() > 2 * churn[~intl].mean()
    assert churn[c["day_mins"] > 280].mean() > 2 * churn.mean()
    assert churn[c["vmail_plan"] == "yes"].mean() < churn[c["vmail_plan"] == "no"].mean()


def _features(c: Customers, walkthrough_only: bool) -> np.ndarray:
    if walkthrough_only:
        columns = [c[name].astype(float) for name in WALKTHROUGH_FEATURES]
        return np.column_stack([*columns, (c["int_plan"] == "no").astype(float)])
    numeric = [name for name, _, kind in CUSTOMER_COLUMNS if kind in ("int", "dec1", "dec2")]
    one_hot = [(c[col] == value).astype(float) for col in ("int_plan", "vmail_plan") for value in ("yes", "no")]
    return np.column_stack([*(c[name].astype(float) for name in numeric), *one_hot])


@pytest.mark.parametrize("walkthrough_only", [False, True], ids=["all_columns", "walkthrough_11"])
def test_xgboost_learns_churn_to_a_realistic_auc(walkthrough_only: bool) -> None:
    xgb = pytest.importorskip("xgboost")
    metrics = pytest.importorskip("sklearn.metrics")
    c = customers(10_000, 3)
    x, y = _features(c, walkthrough_only), c["churn"].astype(int)
    order = np.random.default_rng(0).permutation(len(y))
    train, test = order[:7000], order[8000:]  # 70% train, 10% unused (validation), 20% held out
    model = xgb.XGBClassifier(n_estimators=200, max_depth=4, learning_rate=0.1, n_jobs=2, random_state=0)
    model.fit(x[train], y[train])
    auc = metrics.roc_auc_score(y[test], model.predict_proba(x[test])[:, 1])
    assert 0.90 <= auc < 0.98  # learnable, but not unrealistically easy


# --- The walkthrough ---------------------------------------------------------------------------


def _row(c: Customers, area_code: int, phone: str) -> dict[str, object]:
    (i,) = np.flatnonzero((c["area_code"] == area_code) & (c["phone"] == phone))
    return {name: values[i].item() for name, values in c.items()}


@pytest.mark.parametrize(("n", "seed"), [(20_000, 1), (3000, 11), (7, 5)])
def test_walkthrough_customers_exist_with_their_profiles(n: int, seed: int) -> None:
    c = customers(n, seed)
    keys = set(zip(c["area_code"].tolist(), c["phone"].tolist(), strict=True))
    assert keys >= WALKTHROUGH_KEYS
    likely = _row(c, 415, "358-1921")
    assert likely["cust_service_calls"] == 4 and likely["int_plan"] == "yes" and likely["churn"] is True
    risky = _row(c, 408, "375-9999")
    assert risky["churn"] is True and risky["cust_service_calls"] >= 4 and risky["day_mins"] > 264
    happy = _row(c, 415, "329-6603")
    assert happy["churn"] is False and happy["cust_service_calls"] <= 1 and happy["vmail_plan"] == "yes"
    assert happy["int_plan"] == "no"
    # Their charges follow the same rule as everyone else's.
    for row in (likely, risky, happy):
        assert abs(row["day_charge"] - row["day_mins"] * 0.17) <= 0.005 + 1e-9


def test_too_few_customers_is_an_error() -> None:
    with pytest.raises(ValueError, match="number of customers"):
        generate_customers(6, 1)


def test_all_ten_walkthrough_messages_are_present() -> None:
    rows = messages(3000, 11)
    present = [(a, p, m) for a, p, m, _ in rows]
    for message in WALKTHROUGH_MESSAGES:
        assert present.count(message) == 1, message
    times = {t for a, p, m, t in rows if (a, p, m) in WALKTHROUGH_MESSAGES}
    assert times <= {"2020-01-01 10:10:10+00", "2020-01-02 09:00:00+00"}
    # Nothing generated is attached to the walkthrough customers, so the demo is the same for every seed.
    assert sum((a, p) in WALKTHROUGH_KEYS for a, p, _, _ in rows) == len(WALKTHROUGH_MESSAGES)


# --- Messages and transcripts ------------------------------------------------------------------


def _template_pattern(templates: tuple[str, ...]) -> re.Pattern[str]:
    alternatives = [re.sub(r"\\\{\w+\\\}", ".+?", re.escape(t)) for t in templates]
    return re.compile("|".join(f"(?:{a})" for a in alternatives))


def test_message_templates_are_many_and_varied() -> None:
    for tone in MESSAGE_TONES:
        templates = message_templates(tone)
        assert len(templates) >= 40, tone
        assert len(set(templates)) == len(templates), tone
    generated = [m for _, _, m, _ in messages(20_000, 1)[10:]]
    assert len(set(generated)) > 0.5 * len(generated)  # slot fills make most texts distinct


def test_messages_cover_about_30_percent_and_their_tone_follows_churn() -> None:
    c = customers(20_000, 1)
    rows = messages(20_000, 1)[10:]
    writers = {(a, p) for a, p, _, _ in rows}
    assert 0.27 < len(writers) / 20_000 < 0.33
    assert len(writers) < len(rows) < 1.3 * len(writers)  # some wrote twice
    assert all(t.startswith("2024-") and t.endswith("+00") for _, _, _, t in rows)

    churned = {
        (a, p) for a, p, ch in zip(c["area_code"].tolist(), c["phone"].tolist(), c["churn"].tolist(), strict=True) if ch
    }
    negative = _template_pattern(message_templates("angry") + message_templates("complaint"))
    positive = _template_pattern(message_templates("positive") + message_templates("neutral"))

    def share(pattern: re.Pattern[str], of_churners: bool) -> float:
        texts = [m for a, p, m, _ in rows if ((a, p) in churned) == of_churners]
        # search: a message may open with a greeting and end with a closing sentence.
        return sum(bool(pattern.search(m)) for m in texts) / len(texts)

    assert share(negative, True) > 0.6 and share(negative, False) < 0.2
    assert share(positive, False) > 0.6 and share(positive, True) < 0.25
    # Calm complaints exist, e.g. about minutes, without angry words.
    assert any(re.search(r"I paid for \d+ minutes and got only \d+\.", m) for _, _, m, _ in rows)


def test_transcripts_are_short_dialogues_whose_tone_follows_churn() -> None:
    c = customers(20_000, 1)
    rows = transcripts(20_000, 1)
    assert 0.47 < len(rows) / 20_000 < 0.53
    assert len({(a, p) for a, p, _, _ in rows}) == len(rows)
    for _, _, text, _ in rows[:2000]:
        turns = text.split("\n")
        assert 3 <= len(turns) <= 6
        speakers = [t.split(":", 1)[0] for t in turns]
        assert speakers == ["Agent", "Customer", "Agent", "Customer", "Agent", "Customer"][: len(turns)]
        assert "{" not in text and "}" not in text
    churned = dict(
        zip(zip(c["area_code"].tolist(), c["phone"].tolist(), strict=True), c["churn"].tolist(), strict=True)
    )
    threat = re.compile(r"switching|cancel|other carriers|better deal|last time I call", re.IGNORECASE)

    def share(of_churners: bool) -> float:
        texts = [t for a, p, t, _ in rows if churned[(a, p)] == of_churners]
        return sum(bool(threat.search(t)) for t in texts) / len(texts)

    assert share(True) > 3 * share(False)
    assert any(re.search(r"for \d+ months", t) for _, _, t, _ in rows)


# --- COPY text ---------------------------------------------------------------------------------


def test_copy_escaping_round_trips_awkward_text() -> None:
    awkward = 'He said "no"\tthen left; it\'s a back\\slash\nnew line\r\nand a literal \\N \\t'
    rows = [(415, "358-1921", awkward, "2024-01-02 03:04:05+00"), (408, "375-9999", "\\N", "2024-05-06 07:08:09+00")]
    text = "".join(chunk for chunk, _ in text_copy_chunks(rows))
    assert text.count("\n") == 2  # one raw newline per row
    decoded = decode_copy(text)
    assert decoded == [
        ["415", "358-1921", awkward, "2024-01-02 03:04:05+00"],
        ["408", "375-9999", "\\N", "2024-05-06 07:08:09+00"],
    ]
    assert copy_escape("plain 'quoted' \"text\"") == "plain 'quoted' \"text\""


def test_text_copy_chunks_round_trip_generated_rows() -> None:
    rows = messages(3000, 11) + transcripts(3000, 11)
    chunks = list(text_copy_chunks(rows, chunk_rows=500))
    assert all(count <= 500 for _, count in chunks) and sum(count for _, count in chunks) == len(rows)
    decoded = decode_copy("".join(chunk for chunk, _ in chunks))
    assert decoded == [[str(a), p, t, ts] for a, p, t, ts in rows]


def test_customer_copy_text_reads_back_to_the_generated_values() -> None:
    c = customers(3000, 11)
    chunks = list(customer_copy_chunks(c, chunk_rows=700))
    assert [count for _, count in chunks] == [700, 700, 700, 700, 200]
    decoded = decode_copy(copy_bytes(3000, 11).decode("ascii"))
    assert len(decoded) == 3000 and {len(row) for row in decoded} == {21}
    for k, (name, _, kind) in enumerate(CUSTOMER_COLUMNS):
        column = [row[k] for row in decoded]
        if kind == "bool":
            assert column == ["t" if v else "f" for v in c[name].tolist()], name
        elif kind == "text":
            assert column == c[name].tolist(), name
        elif kind == "int":
            assert [int(v) for v in column] == c[name].tolist(), name
        else:
            # Parsed like PostgreSQL parses float8, the text gives back exactly the generated double.
            assert [float(v) for v in column] == c[name].tolist(), name
            decimals = 1 if kind == "dec1" else 2
            assert all(re.fullmatch(rf"\d+\.\d{{{decimals}}}", v) for v in column), name


# --- load() against a recording fake of the psycopg 3 connection --------------------------------


class FakeCopy:
    def __init__(self) -> None:
        self.data: list[str | bytes] = []

    def write(self, buffer: str | bytes) -> None:
        self.data.append(buffer)

    def text(self) -> str:
        return "".join(b.decode("ascii") if isinstance(b, bytes) else b for b in self.data)


class FakeCursor:
    def __init__(self, log: list[str], copies: dict[str, FakeCopy]) -> None:
        self.log, self.copies = log, copies

    def __enter__(self) -> FakeCursor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.log.append("close cursor")

    def execute(self, statement: str) -> None:
        self.log.append(statement)

    @contextmanager
    def copy(self, statement: str) -> Iterator[FakeCopy]:
        self.log.append(statement)
        self.copies[statement] = FakeCopy()
        yield self.copies[statement]


class FakeResult:
    def fetchall(self) -> list[tuple[str, str | None]]:
        return []  # no table of those names exists yet


class FakeConnection:
    def __init__(self) -> None:
        self.log: list[str] = []
        self.copies: dict[str, FakeCopy] = {}

    def execute(self, statement: str, params: object = None) -> FakeResult:
        assert statement.startswith("SELECT"), statement  # only the look for existing tables
        return FakeResult()

    def rollback(self) -> None:
        pass

    @contextmanager
    def transaction(self) -> Iterator[None]:
        self.log.append("BEGIN")
        yield
        self.log.append("COMMIT")

    def cursor(self) -> FakeCursor:
        return FakeCursor(self.log, self.copies)


def test_load_creates_copies_then_indexes_in_one_transaction() -> None:
    conn = FakeConnection()
    loaded = load(conn, 1500, 4, progress=False)  # type: ignore[arg-type]
    counts = loaded.counts
    assert not loaded.kept
    assert counts == {
        "customers": 1500,
        "customer_message": len(generate_messages(generate_customers(1500, 4), 4)),
        "call_transcript": len(generate_transcripts(generate_customers(1500, 4), 4)),
    }
    log = conn.log
    assert log[0] == "BEGIN" and log[-1] == "COMMIT"
    copy_customers = f"COPY public.customers ({', '.join(name for name, _ in EXPECTED_COLUMNS)}) FROM STDIN"
    copy_messages = "COPY public.customer_message (area_code, phone, message, calltime) FROM STDIN"
    copy_transcripts = "COPY public.call_transcript (area_code, phone, transcript, calltime) FROM STDIN"
    order = [
        *create_tables_sql(),
        copy_customers,
        copy_messages,
        copy_transcripts,
        *index_sql(),
        *comment_sql(1500, 4),
        "ANALYZE public.customers",
        "ANALYZE public.customer_message",
        "ANALYZE public.call_transcript",
    ]
    assert log[1:-2] == order and log[-2] == "close cursor"
    assert len(decode_copy(conn.copies[copy_customers].text())) == 1500
    assert len(decode_copy(conn.copies[copy_messages].text())) == counts["customer_message"]
    assert len(decode_copy(conn.copies[copy_transcripts].text())) == counts["call_transcript"]
