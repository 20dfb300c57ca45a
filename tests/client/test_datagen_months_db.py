"""`churnml data generate --months N` into a real database: customer_months' schema and key, outcomes
a month later, the customers table untouched, and never replacing what is there without --replace."""

from __future__ import annotations

from collections.abc import Callable

import psycopg
import pytest

from tests.client.test_datagen_db import fingerprint, generate

CUSTOMER_TYPES = [
    ("state", "text"), ("acc_length", "bigint"), ("area_code", "bigint"), ("phone", "text"), ("int_plan", "text"),
    ("vmail_plan", "text"), ("vmail_msg", "bigint"), ("day_mins", "double precision"), ("day_calls", "bigint"),
    ("day_charge", "double precision"), ("eve_mins", "double precision"), ("eve_calls", "bigint"),
    ("eve_charge", "double precision"), ("night_mins", "double precision"), ("night_calls", "bigint"),
    ("night_charge", "double precision"), ("int_mins", "double precision"), ("int_calls", "bigint"),
    ("int_charge", "double precision"), ("cust_service_calls", "bigint"), ("churn", "boolean"),
]  # fmt: skip


def columns(conn: psycopg.Connection, table: str) -> list[tuple[str, str]]:
    return [tuple(row) for row in conn.execute(  # type: ignore[misc]
        "SELECT attname::text, format_type(atttypid, atttypmod) FROM pg_attribute "
        "WHERE attrelid = %s::regclass AND attnum > 0 AND NOT attisdropped ORDER BY attnum", (table,))]


def months_fingerprint(url: str) -> str:
    with psycopg.connect(url) as conn:
        return str(conn.execute("SELECT md5(string_agg(t::text, '|' ORDER BY t::text)) FROM customer_months t")
                   .fetchone()[0])  # type: ignore[index]


@pytest.fixture(scope="module")
def generated(make_database: Callable[..., str]) -> str:
    url = make_database("datagen_months", extension=False)
    result = generate(url, 2000, 11, "--months", "5")
    assert "generated the 5 monthly snapshots of 2,000 customers, seed 11, drift price_rise:3,competitor:4: " \
           "customer_months, 10,000 rows" in result.stdout, result.stdout
    return url


def test_schema_key_and_comments(generated: str) -> None:
    with psycopg.connect(generated) as conn:
        assert columns(conn, "customers") == CUSTOMER_TYPES
        assert columns(conn, "customer_months") == [("month", "integer"), *CUSTOMER_TYPES]
        pk = conn.execute("SELECT pg_get_constraintdef(oid) FROM pg_constraint "
                          "WHERE conrelid = 'customer_months'::regclass AND contype = 'p'").fetchone()[0]
        assert pk == "PRIMARY KEY (month, area_code, phone)"
        assert conn.execute("SELECT array_agg(n ORDER BY month) FROM (SELECT month, count(*) n FROM customer_months "
                            "GROUP BY month) m").fetchone()[0] == [2000] * 5
        assert "the month after this snapshot" in conn.execute(
            "SELECT col_description('customer_months'::regclass, 22)").fetchone()[0]
        assert conn.execute("SELECT obj_description('customer_months'::regclass, 'pg_class')").fetchone()[0] == (
            "churnml demo data: 5 monthly snapshots of 2000 customers, seed 11, drift price_rise:3,competitor:4 "
            "(churnml data generate --months; docs/drift-simulation.md)")


def test_month_1_is_customers_and_churn_is_known_a_month_later(generated: str) -> None:
    with psycopg.connect(generated) as conn:
        differ = conn.execute("""
            SELECT count(*) FROM ((SELECT * FROM customers EXCEPT SELECT state, acc_length, area_code, phone, int_plan,
                vmail_plan, vmail_msg, day_mins, day_calls, day_charge, eve_mins, eve_calls, eve_charge, night_mins,
                night_calls, night_charge, int_mins, int_calls, int_charge, cust_service_calls, churn
                FROM customer_months WHERE month = 1)) d""").fetchone()[0]
        assert differ == 0
        # churn = true: gone the month after; false: still there (months 1..4 have a next month)
        wrong = conn.execute("""
            SELECT count(*) FROM customer_months m
            LEFT JOIN customer_months n ON n.month = m.month + 1 AND (n.area_code, n.phone) = (m.area_code, m.phone)
            WHERE m.month < 5 AND m.churn = (n.phone IS NOT NULL)""").fetchone()[0]
        assert wrong == 0
        rates = [r[0] for r in conn.execute(
            "SELECT avg(churn::int)::float8 FROM customer_months GROUP BY month ORDER BY month")]
        assert all(0.10 <= r <= 0.20 for r in rates), rates
        # the price rise from month 3: charges up 20% at the same minutes
        ratio = conn.execute("SELECT avg(day_charge / day_mins) FILTER (WHERE month = 3) / "
                             "avg(day_charge / day_mins) FILTER (WHERE month = 2) FROM customer_months "
                             "WHERE day_mins > 50").fetchone()[0]
        assert ratio == pytest.approx(1.2, abs=0.001)


def test_months_leave_customers_as_without_and_nothing_is_replaced_without_asking(
        generated: str, make_database: Callable[..., str]) -> None:
    plain = make_database("datagen_months", extension=False)
    generate(plain, 2000, 11)
    assert fingerprint(plain) == fingerprint(generated)  # --months changes none of the three tables
    with psycopg.connect(plain) as conn:
        assert conn.execute("SELECT to_regclass('customer_months')").fetchone()[0] is None
    # the same arguments again: kept; months added to existing demo tables: the three are kept
    again = generate(generated, 2000, 11, "--months", "5")
    assert "are there already; kept as they are" in again.stdout and "is there already" in again.stdout
    before = months_fingerprint(generated)
    added = generate(plain, 2000, 11, "--months", "5")
    assert "is there already; kept as it is" in added.stdout and "generated the 5 monthly" in added.stdout
    assert months_fingerprint(plain) == before and fingerprint(plain) == fingerprint(generated)
    # without --months, nothing about customer_months changes, --replace or not
    generate(plain, 2000, 11, "--replace")
    assert months_fingerprint(plain) == before
    # other snapshots: refused before any work, naming the table
    refused = generate(plain, 2000, 11, "--months", "5", "--drift", "competitor:2", check=False)
    assert refused.returncode == 1 and refused.stdout == ""
    assert refused.stderr.strip() == (
        "churnml: public.customer_months already holds other data in this database; churnml data generate "
        "--replace drops it and generates 5 months of 2,000 customers (seed 11, drift competitor:2) in its place")
    assert months_fingerprint(plain) == before
    with psycopg.connect(plain, autocommit=True) as conn:
        conn.execute("CREATE VIEW latest AS SELECT * FROM customer_months WHERE month = 5")
    blocked = generate(plain, 2000, 11, "--months", "5", "--drift", "competitor:2", "--replace", check=False)
    assert blocked.returncode == 1 and "Traceback" not in blocked.stderr
    assert "public.customer_months cannot be replaced: other objects depend on it (view latest)" in blocked.stderr
    with psycopg.connect(plain, autocommit=True) as conn:
        conn.execute("DROP VIEW latest")
    replaced = generate(plain, 2000, 11, "--months", "5", "--drift", "competitor:2", "--replace")
    assert "drift competitor:2: customer_months, 10,000 rows" in replaced.stdout
    after = months_fingerprint(plain)
    assert after != before and fingerprint(plain) == fingerprint(generated)
    with psycopg.connect(plain) as conn:  # the months before the competitor are the same as before
        assert conn.execute("SELECT md5(string_agg(t::text, '|' ORDER BY t::text)) FROM customer_months t "
                            "WHERE month = 1").fetchone()[0] == conn.execute(
            "SELECT md5(string_agg(t::text, '|' ORDER BY t::text)) FROM (SELECT 1 AS month, * FROM customers) t"
        ).fetchone()[0]


def test_default_drift_left_out_after_the_last_month_is_said(make_database: Callable[..., str]) -> None:
    url = make_database("datagen_months", extension=False)
    result = generate(url, 300, 2, "--months", "3")
    assert "the default drift's competitor:4 left out (it starts after the last month)" in result.stderr
    assert "drift price_rise:3: customer_months, 900 rows" in result.stdout
