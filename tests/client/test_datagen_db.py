"""`churnml data generate` into a real database: schema, keys, determinism, the walkthrough rows."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable

import psycopg
import pytest

from tests.conftest import VENV_BIN

WALKTHROUGH_KEYS = [(415, "358-1921"), (408, "375-9999"), (415, "329-6603")]
COLUMNS = ["state", "acc_length", "area_code", "phone", "int_plan", "vmail_plan", "vmail_msg", "day_mins",
           "day_calls", "day_charge", "eve_mins", "eve_calls", "eve_charge", "night_mins", "night_calls",
           "night_charge", "int_mins", "int_calls", "int_charge", "cust_service_calls", "churn"]


def generate(url: str, customers: int, seed: int, *more: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(VENV_BIN / "churnml"), "data", "generate", "--customers", str(customers),
                           "--seed", str(seed), "--dsn", url, "--quiet", *more], capture_output=True, text=True,
                          check=check, env=dict(os.environ))


def fingerprint(url: str) -> tuple[str, str, str]:
    with psycopg.connect(url) as conn:
        return tuple(conn.execute(  # type: ignore[return-value]
            f"SELECT md5(string_agg(t::text, '|' ORDER BY t::text)) FROM {table} t").fetchone()[0]
            for table in ("customers", "customer_message", "call_transcript"))


@pytest.fixture(scope="module")
def generated(make_database: Callable[..., str]) -> str:
    url = make_database("datagen", extension=False)
    generate(url, 5000, 11)
    return url


def test_schema_keys_and_counts(generated: str) -> None:
    with psycopg.connect(generated) as conn:
        cols = [r[0] for r in conn.execute(
            "SELECT attname FROM pg_attribute WHERE attrelid = 'customers'::regclass AND attnum > 0 "
            "AND NOT attisdropped ORDER BY attnum")]
        assert cols == COLUMNS
        assert conn.execute("SELECT count(*) FROM customers").fetchone()[0] == 5000
        pk = conn.execute("SELECT pg_get_constraintdef(oid) FROM pg_constraint "
                          "WHERE conrelid = 'customers'::regclass AND contype = 'p'").fetchone()[0]
        assert pk == "PRIMARY KEY (area_code, phone)"
        rate = conn.execute("SELECT avg(churn::int) FROM customers").fetchone()[0]
        assert 0.13 <= rate <= 0.16
        for key in WALKTHROUGH_KEYS:
            assert conn.execute("SELECT count(*) FROM customers WHERE (area_code, phone) = (%s, %s)",
                                key).fetchone()[0] == 1
        assert conn.execute("SELECT count(*) FROM customer_message WHERE message = %s",
                            ("You morons! You charged me extra again!",)).fetchone()[0] == 2
        # every message and transcript belongs to a customer
        for table in ("customer_message", "call_transcript"):
            orphans = conn.execute(f"SELECT count(*) FROM {table} m LEFT JOIN customers c USING (area_code, phone) "
                                   "WHERE c.phone IS NULL").fetchone()[0]
            assert orphans == 0


def test_same_seed_same_data_and_nothing_replaced_without_asking(generated: str,
                                                                 make_database: Callable[..., str]) -> None:
    other = make_database("datagen", extension=False)
    generate(other, 5000, 11)
    assert fingerprint(other) == fingerprint(generated)
    # the same arguments again: the same data is there, nothing is dropped (make demo re-runs this)
    again = generate(other, 5000, 11)
    assert "is there already; kept as it is" in again.stdout and fingerprint(other) == fingerprint(generated)
    # other data: refused, naming the tables, changing nothing
    refused = generate(other, 5000, 12, check=False)
    assert refused.returncode == 1 and refused.stdout == ""
    assert refused.stderr.strip() == (
        "churnml: public.customers, public.customer_message, public.call_transcript already hold other data in "
        "this database; churnml data generate --replace drops them and generates 5,000 customers (seed 12) in "
        "their place")
    assert fingerprint(other) == fingerprint(generated)
    replaced = generate(other, 5000, 12, "--replace")
    assert "generated customers: 5,000 rows" in replaced.stdout
    assert fingerprint(other) != fingerprint(generated)
    with psycopg.connect(other) as conn:
        assert conn.execute("SELECT count(*) FROM customers").fetchone()[0] == 5000


def test_tables_of_someone_else_and_their_dependents_are_never_dropped(make_database: Callable[..., str]) -> None:
    url = make_database("datagen", extension=False)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE TABLE customers (id int PRIMARY KEY, name text)")
        conn.execute("INSERT INTO customers VALUES (1, 'mine')")
        conn.execute("CREATE TABLE orders (customer int REFERENCES customers)")
        conn.execute("CREATE VIEW named AS SELECT name FROM customers")
    refused = generate(url, 100, 1, check=False)
    assert refused.returncode == 1 and "Traceback" not in refused.stderr
    assert refused.stderr.strip() == (
        "churnml: public.customers already exist in this database; churnml data generate --replace drops it and "
        "generates 100 customers (seed 1) in their place, once nothing depends on it (now: constraint "
        "orders_customer_fkey on table orders; view named)")
    blocked = generate(url, 100, 1, "--replace", check=False)
    assert blocked.returncode == 1 and "Traceback" not in blocked.stderr
    assert "public.customers cannot be replaced: other objects depend on it (constraint orders_customer_fkey " \
           "on table orders; view named)" in blocked.stderr, blocked.stderr
    with psycopg.connect(url) as conn:
        assert conn.execute("SELECT name FROM customers").fetchall() == [("mine",)]
        assert conn.execute("SELECT to_regclass('customer_message')").fetchone()[0] is None


def test_bad_arguments_fail_cleanly(make_database: Callable[..., str]) -> None:
    url = make_database("datagen", extension=False)
    result = subprocess.run([str(VENV_BIN / "churnml"), "data", "generate", "--customers", "0", "--dsn", url],
                            capture_output=True, text=True, check=False)
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    assert "customers" in result.stderr


def test_demo_tables_of_an_earlier_churnml_are_kept_when_they_fit(make_database: Callable[..., str]) -> None:
    """0.2.0 wrote no marker: tables of exactly the demo's columns and size are kept (make demo re-runs),
    of another size refused."""
    url = make_database("datagen", extension=False)
    generate(url, 300, 2)
    with psycopg.connect(url, autocommit=True) as conn:
        for table in ("customers", "customer_message", "call_transcript"):
            conn.execute(f"COMMENT ON TABLE {table} IS NULL")
    before = fingerprint(url)
    kept = generate(url, 300, 5)
    assert "made by an earlier churnml or by you; kept as they are" in kept.stdout
    assert fingerprint(url) == before
    refused = generate(url, 400, 2, check=False)
    assert refused.returncode == 1 and "already exist in this database" in refused.stderr
    assert fingerprint(url) == before
