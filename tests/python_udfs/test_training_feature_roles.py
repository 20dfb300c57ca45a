"""Which columns identify rows (left out by default) and which describe them: feature_roles on many shapes."""

from __future__ import annotations

import random
import uuid
from typing import Any

import numpy as np
import pytest

from churnml.errors import DataException
from churnml.training.feature_roles import (
    MIN_VALUES,
    identifier_notice,
    infer_role,
    merge_profiles,
    profile_column,
    profile_piece,
    reads_as_prose,
)
from churnml.training.feature_spec import infer_spec, leave_out_identifiers

N = 2000
WORDS = tuple(" ".join((
    "you charged me extra again the service is terrible and slow i want to cancel my plan please help",
    "thanks for fixing it quickly great support team love your network coverage dropped calls every day",
    "why was bill so high last month")).split(" "))


def columns(n: int = N, seed: int = 1) -> dict[str, tuple[str, list[Any]]]:
    """(SQL type, values as churnml.train reads them: numbers as floats) of one column of each shape."""
    rng = random.Random(seed)
    return {
        "phone": ("text", [f"{rng.randint(300, 499)}-{rng.randint(1000, 9999)}" for _ in range(n)]),
        "email": ("text", [f"{rng.choice(['ann', 'bob', 'eve'])}.{i}@example.com" for i in range(n)]),
        "uid": ("uuid", [str(uuid.UUID(int=rng.getrandbits(128))) for _ in range(n)]),
        "customer_id": ("bigint", [float(rng.randint(10**7, 10**8)) for _ in range(n)]),
        "serial": ("integer", [float(i + 1000) for i in range(n)]),
        "account_key": ("bigint", [float(v) for v in rng.sample(range(10**9), n)]),
        "acc_length": ("bigint", [float(rng.randint(1, 243)) for _ in range(n)]),
        "total_bytes": ("bigint", [float(v) for v in rng.sample(range(10**12), n)]),  # unique, but a measurement
        "day_mins": ("double precision", [round(rng.uniform(0, 350), 1) for _ in range(n)]),
        "state": ("text", [rng.choice(["CA", "NY", "TX", "WA", "OH"]) for _ in range(n)]),
        "zip": ("character varying(5)", [str(rng.randint(10000, 10400)) for _ in range(n)]),
        "voucher": ("text", [f"VX{rng.randint(0, 99999):05d}" for _ in range(n)]),
        "full_name": ("text", [f"{rng.choice(['John', 'Mary', 'Ann'])} {rng.choice(['Smith', 'Jones'])} {i}"
                               for i in range(n)]),
        "message": ("text", [" ".join(rng.choice(WORDS) for _ in range(rng.randint(4, 14))).capitalize() + "."
                             for _ in range(n)]),
        "vmail_plan": ("boolean", [rng.random() < 0.3 for _ in range(n)]),
    }


EXPECTED = {
    "phone": (None, "phone numbers"), "email": (None, "e-mail addresses"), "uid": (None, "uuids"),
    "customer_id": (None, "named like a key"), "serial": (None, "serial key"), "account_key": (None, "like a key"),
    "acc_length": ("numeric", ""), "total_bytes": ("numeric", ""), "day_mins": ("numeric", ""),
    "state": ("categorical", ""), "zip": ("categorical", ""), "voucher": (None, "one-word codes"),
    "full_name": (None, "distinct values"), "message": ("text", ""), "vmail_plan": ("boolean", ""),
}


@pytest.mark.parametrize("name", list(EXPECTED))
def test_each_shape_gets_its_role(name: str) -> None:
    sql_type, values = columns()[name]
    role = infer_role(name, sql_type, profile_column(values, sql_type), 100)
    group, reason = EXPECTED[name]
    assert role.group == group, (name, role)
    assert reason in role.reason
    if group is None:
        assert "distinct values in" in role.reason


def test_nulls_do_not_count_and_few_values_say_nothing() -> None:
    values = [f"a{i}@example.com" for i in range(MIN_VALUES - 1)] + [None] * 5000
    profile = profile_column(values, "text")
    assert (profile.values, profile.distinct) == (MIN_VALUES - 1, MIN_VALUES - 1)
    assert infer_role("email", "text", profile, 100).group == "categorical"
    values[MIN_VALUES - 1] = "last@example.com"
    assert infer_role("email", "text", profile_column(values, "text"), 100).group is None


def test_a_mostly_unique_column_with_some_repeats_is_still_an_identifier_but_a_category_is_not() -> None:
    rng = random.Random(3)
    mostly = [f"{rng.randint(0, 10**6):07d}" for _ in range(N)] + ["0000000"] * (N // 10)
    assert infer_role("code", "text", profile_column(mostly, "text"), 100).group is None
    half = [f"C{i % (N // 2)}" for i in range(N)]  # every code twice: a category of 1,000 values
    assert infer_role("code", "text", profile_column(half, "text"), 100).group == "categorical"


def test_prose_needs_words_vocabulary_and_lower_case() -> None:
    rng = random.Random(5)
    prose = [" ".join(rng.choice(WORDS) for _ in range(8)) for _ in range(200)]
    assert reads_as_prose(prose)
    assert not reads_as_prose(["call transcript number"] * 200)  # no vocabulary
    assert not reads_as_prose([f"{rng.randint(1, 999)} Main Street Springfield" for _ in range(200)] +
                              [f"{rng.randint(1, 999)} Oak Avenue Shelbyville" for _ in range(200)])
    assert not reads_as_prose(list(WORDS))  # one word each
    assert not reads_as_prose([])


def test_profiles_merged_from_pieces_equal_the_whole_column() -> None:
    for name, (sql_type, values) in columns(n=900).items():
        numeric = sql_type in ("bigint", "integer", "double precision")
        data: Any = np.asarray(values, dtype=np.float64) if numeric else values
        pieces = [profile_piece(data[i:i + 250], numeric=numeric) for i in range(0, 900, 250)]
        assert merge_profiles(pieces, numeric=numeric) == profile_column(data, sql_type), name


def test_leave_out_identifiers_keeps_named_columns_and_says_why() -> None:
    data = columns()
    types = {name: sql_type for name, (sql_type, _) in data.items()}
    profiles = {name: profile_column(values, types[name]) for name, (_, values) in data.items()}
    kept, left = leave_out_identifiers(list(data), types, profiles)
    assert [name for name, _ in left] == ["phone", "email", "uid", "customer_id", "serial", "account_key",
                                         "voucher", "full_name"]
    assert kept == ["acc_length", "total_bytes", "day_mins", "state", "zip", "message", "vmail_plan"]
    kept, left = leave_out_identifiers(list(data), types, profiles, named={"phone"})
    assert "phone" in kept and "phone" not in dict(left)
    notice = identifier_notice(left[:1], engine="database")
    assert notice.startswith("leaving out column email: it identifies rows") and "features => ARRAY" in notice
    assert "--feature-types" in identifier_notice(left, engine="dask")
    spec = infer_spec(types, {n: v for n, (_, v) in data.items()}, features=["phone", "zip"], profiles=profiles)
    assert [f.group for f in spec.features] == ["categorical", "categorical"]  # named: used, as categories


def test_nothing_left_is_an_error_naming_the_columns() -> None:
    data = columns()
    types = {"phone": "text", "email": "text"}
    profiles = {n: profile_column(data[n][1], "text") for n in types}
    with pytest.raises(DataException) as caught:
        leave_out_identifiers(["phone", "email"], types, profiles)
    assert caught.value.sqlstate == "22000"
    assert "phone" in caught.value.detail and "features => ARRAY['phone']" in caught.value.hint
