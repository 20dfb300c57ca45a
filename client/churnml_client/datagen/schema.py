"""The generated tables: `customers` (the walkthrough's 21 columns), `customer_message`, `call_transcript`."""

from __future__ import annotations

import numpy as np

# The customers as columns named and ordered like the table.
Customers = dict[str, np.ndarray]
# A customer_message or call_transcript row: (area_code, phone, text, calltime as 'YYYY-MM-DD HH:MM:SS+00').
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

# The text tables and their text column.
TEXT_TABLES: dict[str, str] = {"customer_message": "message", "call_transcript": "transcript"}


TABLES: tuple[str, ...] = ("customers", *TEXT_TABLES)


def marker(n: int, seed: int) -> str:
    """The comment each generated table carries: which data it holds (re-running with the same
    arguments then leaves the tables alone)."""
    return f"churnml demo data: {n} customers, seed {seed} (churnml data generate)"


def create_tables_sql(*, replace: bool = False) -> list[str]:
    """DDL: the three tables (keys and indexes come after COPY); with `replace`, dropped first, without
    CASCADE: what depends on them must be dropped by its owner, never silently."""
    columns = ",\n    ".join(f"{name} {sql_type}" for name, sql_type, _ in CUSTOMER_COLUMNS)
    statements = [f"DROP TABLE IF EXISTS public.{t}" for t in TABLES] if replace else []
    statements.append(f"CREATE TABLE public.customers (\n    {columns}\n)")
    statements += [
        f"CREATE TABLE public.{table} (area_code bigint, phone text, {column} text, calltime timestamptz)"
        for table, column in TEXT_TABLES.items()
    ]
    return statements


def comment_sql(n: int, seed: int) -> list[str]:
    return [f"COMMENT ON TABLE public.{table} IS '{marker(n, seed)}'" for table in TABLES]


def index_sql() -> list[str]:
    """Keys and indexes, built once after loading (much faster than maintaining them per row)."""
    return [
        "ALTER TABLE public.customers ADD PRIMARY KEY (area_code, phone)",
        "CREATE INDEX ON public.customer_message (area_code, phone)",
        "CREATE INDEX ON public.call_transcript (area_code, phone)",
    ]


def copy_sql(table: str) -> str:
    """The COPY ... FROM STDIN statement that fills `table` (text format, every column in order)."""
    if table == "customers":
        return f"COPY public.customers ({', '.join(COLUMN_NAMES)}) FROM STDIN"
    return f"COPY public.{table} (area_code, phone, {TEXT_TABLES[table]}, calltime) FROM STDIN"


# --- customer_months: monthly snapshots (`--months N`; months.py, drift.py) ----------------------

MONTHS_TABLE = "customer_months"
# `month` first, then every column of customers (same names and types); churn = churns in the next month.
MONTH_COLUMNS: tuple[tuple[str, str, str], ...] = (("month", "integer", "int"), *CUSTOMER_COLUMNS)
MONTH_COLUMN_NAMES: tuple[str, ...] = tuple(name for name, _, _ in MONTH_COLUMNS)


def months_marker(n: int, seed: int, months: int, drift: str) -> str:
    """The comment of customer_months: which data it holds (the same arguments then leave it alone)."""
    return (f"churnml demo data: {months} monthly snapshots of {n} customers, seed {seed}, drift {drift} "
            "(churnml data generate --months; docs/drift-simulation.md)")


def create_months_sql(*, replace: bool = False) -> list[str]:
    """DDL of customer_months (its key comes after COPY); with `replace`, dropped first, without CASCADE."""
    columns = ",\n    ".join(f"{name} {sql_type}" for name, sql_type, _ in MONTH_COLUMNS)
    statements = [f"DROP TABLE IF EXISTS public.{MONTHS_TABLE}"] if replace else []
    statements.append(f"CREATE TABLE public.{MONTHS_TABLE} (\n    {columns}\n)")
    return statements


def months_finish_sql(n: int, seed: int, months: int, drift: str) -> list[str]:
    """Key, comments and ANALYZE, after loading. The marker is a literal of digits and scenario names only."""
    return [
        f"ALTER TABLE public.{MONTHS_TABLE} ADD PRIMARY KEY (month, area_code, phone)",
        f"COMMENT ON TABLE public.{MONTHS_TABLE} IS '{months_marker(n, seed, months, drift)}'",
        f"COMMENT ON COLUMN public.{MONTHS_TABLE}.month IS 'the snapshot''s month, 1 = the customers table'",
        f"COMMENT ON COLUMN public.{MONTHS_TABLE}.churn IS "
        "'the outcome: the customer churned in the month after this snapshot (and is not in the next one)'",
        f"ANALYZE public.{MONTHS_TABLE}",
    ]


def months_copy_sql() -> str:
    return f"COPY public.{MONTHS_TABLE} ({', '.join(MONTH_COLUMN_NAMES)}) FROM STDIN"
