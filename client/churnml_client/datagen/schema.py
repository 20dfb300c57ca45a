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
