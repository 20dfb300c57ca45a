"""`load`: the generated tables into a database, in one transaction (`churnml data generate`);
`load_months`: customer_months likewise, in a transaction of its own (`--months`)."""

from __future__ import annotations

import sys
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from psycopg import sql

from churnml_client.datagen.copy_text import customer_copy_chunks, text_copy_chunks
from churnml_client.datagen.customers import generate_customers
from churnml_client.datagen.drift import DriftPlan
from churnml_client.datagen.months import check_size, generate_months
from churnml_client.datagen.schema import (
    CUSTOMER_COLUMNS,
    MONTH_COLUMNS,
    MONTHS_TABLE,
    TABLES,
    TEXT_TABLES,
    comment_sql,
    copy_sql,
    create_months_sql,
    create_tables_sql,
    index_sql,
    marker,
    months_copy_sql,
    months_finish_sql,
    months_marker,
)
from churnml_client.datagen.texts import generate_messages, generate_transcripts

if TYPE_CHECKING:
    import psycopg
    from tqdm import tqdm


class TablesExist(ValueError):
    """The tables `churnml data generate` would create exist already (and --replace was not given), or
    other objects depend on them."""


@dataclass(frozen=True)
class Loaded:
    counts: dict[str, int]  # rows per table
    kept: bool  # the same demo data was there already: nothing was changed
    unmarked: bool = False  # kept tables of the demo's shape and size that carry no marker (an earlier churnml's)


def _demo_shaped(conn: psycopg.Connection[Any]) -> bool:
    """Whether the three tables have exactly the columns (names and types) the generator creates."""
    expected = {"customers": [(name, sql_type) for name, sql_type, _ in CUSTOMER_COLUMNS],
                **{table: [("area_code", "bigint"), ("phone", "text"), (column, "text"),
                           ("calltime", "timestamp with time zone")] for table, column in TEXT_TABLES.items()}}
    for table, columns in expected.items():
        found = conn.execute(
            "SELECT a.attname::text, pg_catalog.format_type(a.atttypid, a.atttypmod) FROM pg_catalog.pg_attribute a "
            "WHERE a.attrelid = pg_catalog.to_regclass(%s) AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum",
            (f"public.{table}",)).fetchall()
        if [tuple(row) for row in found] != columns:
            return False
    return True


def _row_counts(conn: psycopg.Connection[Any]) -> dict[str, int]:
    return {t: int((conn.execute(sql.SQL("SELECT count(*) FROM public.{}").format(sql.Identifier(t))).fetchone()
                    or (0,))[0])
            for t in TABLES}


def existing_tables(conn: psycopg.Connection[Any]) -> dict[str, str | None]:
    """The generated tables that exist in schema public, with their comments."""
    rows = conn.execute(
        "SELECT c.relname, pg_catalog.obj_description(c.oid, 'pg_class') FROM pg_catalog.pg_class c "
        "WHERE c.relnamespace = 'public'::regnamespace AND c.relname = ANY(%s)", (list(TABLES),)).fetchall()
    return {name: comment for name, comment in sorted(rows, key=lambda r: TABLES.index(r[0]))}


def dependents(conn: psycopg.Connection[Any], tables: list[str]) -> list[str]:
    """What depends on `tables` other than their own parts (views, foreign keys of other tables, ...):
    a DROP TABLE without CASCADE refuses them, and they are not churnml's to drop."""
    rows = conn.execute("""
        WITH t AS (SELECT c.oid FROM pg_catalog.pg_class c
                   WHERE c.relnamespace = 'public'::regnamespace AND c.relname = ANY(%s))
        SELECT DISTINCT CASE WHEN d.classid = 'pg_catalog.pg_rewrite'::regclass
                             THEN pg_catalog.pg_describe_object('pg_catalog.pg_class'::regclass, r.ev_class, 0)
                             ELSE pg_catalog.pg_describe_object(d.classid, d.objid, d.objsubid) END AS what
        FROM pg_catalog.pg_depend d
        LEFT JOIN pg_catalog.pg_rewrite r ON d.classid = 'pg_catalog.pg_rewrite'::regclass AND r.oid = d.objid
        LEFT JOIN pg_catalog.pg_constraint k ON d.classid = 'pg_catalog.pg_constraint'::regclass AND k.oid = d.objid
        WHERE d.refclassid = 'pg_catalog.pg_class'::regclass AND d.refobjid IN (SELECT oid FROM t)
          AND d.deptype = 'n'
          AND NOT (d.classid = 'pg_catalog.pg_class'::regclass AND d.objid IN (SELECT oid FROM t))
          AND NOT (d.classid = 'pg_catalog.pg_rewrite'::regclass AND r.ev_class IN (SELECT oid FROM t))
          AND NOT (d.classid = 'pg_catalog.pg_constraint'::regclass AND k.conrelid IN (SELECT oid FROM t))
        ORDER BY 1""", (tables,)).fetchall()
    return [row[0] for row in rows]


def load(conn: psycopg.Connection[Any], n: int, seed: int, progress: bool = True, *,
         replace: bool = False) -> Loaded:
    """Create and fill customers, customer_message and call_transcript in one transaction.

    Tables of those names that exist already are never dropped silently: when all three hold the
    demo data of this `n` and `seed` (their comment says so), nothing is done (`kept`), and so when
    they have exactly the demo's columns, no comment (churnml before 0.3.0 wrote none) and `n`
    customers (`kept`, `unmarked`: they may have been changed since, and are kept as they are); otherwise
    TablesExist names them, unless `replace`, which drops them (without CASCADE: objects that depend
    on them are TablesExist too, named). Keys, indexes, comments and ANALYZE run after the COPYs, in
    the same transaction, so a failure leaves the database as it was. Returns the rows per table.
    """
    from tqdm import tqdm  # client-only dependency; the unit tests never need it

    found = existing_tables(conn)
    conn.rollback()  # the look is over: no transaction stays open while the data is generated
    if found:
        if not replace and len(found) == len(TABLES) and all(c == marker(n, seed) for c in found.values()):
            counts = _row_counts(conn)
            conn.rollback()
            return Loaded(counts=counts, kept=True)
        if not replace and len(found) == len(TABLES) and all(c is None for c in found.values()) \
                and _demo_shaped(conn):
            # the demo tables of a churnml before 0.3.0 (which wrote no marker): kept, never guessed away
            counts = _row_counts(conn)
            conn.rollback()
            if counts["customers"] == n:
                return Loaded(counts=counts, kept=True, unmarked=True)
        listed = ", ".join(f"public.{t}" for t in found)
        blocking = "; ".join(dependents(conn, list(found)))
        conn.rollback()
        if not replace:
            what = "hold other data" if any(c is not None and c.startswith("churnml demo data:")
                                            for c in found.values()) else "exist"
            raise TablesExist(
                f"{listed} already {what} in this database; churnml data generate --replace drops "
                f"{'it' if len(found) == 1 else 'them'} and generates {n:,} customers (seed {seed}) in their place"
                + (f", once nothing depends on {'it' if len(found) == 1 else 'them'} (now: {blocking})"
                   if blocking else ""))
        if blocking:
            raise TablesExist(
                f"{listed} cannot be replaced: other objects depend on {'it' if len(found) == 1 else 'them'} "
                f"({blocking}). Drop or change those first; churnml data generate never drops them (no CASCADE)")
    with tqdm(total=3, unit=" tables", file=sys.stderr, disable=not progress, desc="generating") as bar:
        customers = generate_customers(n, seed)
        bar.update()
        messages = generate_messages(customers, seed)
        bar.update()
        transcripts = generate_transcripts(customers, seed)
        bar.update()
    counts = {"customers": n, "customer_message": len(messages), "call_transcript": len(transcripts)}
    with (
        tqdm(total=sum(counts.values()), unit=" rows", unit_scale=True, file=sys.stderr, disable=not progress,
             desc="loading") as bar,
        conn.transaction(),
        conn.cursor() as cur,
    ):  # fmt: skip
        for statement in create_tables_sql(replace=replace):
            cur.execute(statement)
        _copy(cur, copy_sql("customers"), customer_copy_chunks(customers), bar)
        for table, rows in (("customer_message", messages), ("call_transcript", transcripts)):
            _copy(cur, copy_sql(table), text_copy_chunks(rows), bar)
        bar.set_description("indexing")
        for statement in [*index_sql(), *comment_sql(n, seed)]:
            cur.execute(statement)
        for table in counts:
            cur.execute(f"ANALYZE public.{table}")
        bar.set_description("loaded")
    return Loaded(counts=counts, kept=False)


def _copy(cur: psycopg.Cursor[Any], statement: str, chunks: Iterable[tuple[bytes | str, int]], bar: tqdm[Any]) -> None:
    """COPY ... FROM STDIN in text format; psycopg encodes str chunks in the client encoding."""
    with cur.copy(statement) as copy:
        for chunk, rows in chunks:
            copy.write(chunk)
            bar.update(rows)


def check_months(conn: psycopg.Connection[Any], n: int, seed: int, months: int, plan: DriftPlan, *,
                 replace: bool = False) -> bool:
    """Whether customer_months holds these monthly snapshots already (True: nothing to do); TablesExist
    when it holds other data and `replace` is not given, or other objects depend on it. Called before
    `load` too, so that a customer_months in the way stops the command before any work."""
    check_size(n, months)
    row = conn.execute(
        "SELECT pg_catalog.obj_description(c.oid, 'pg_class') FROM pg_catalog.pg_class c "
        "WHERE c.relnamespace = 'public'::regnamespace AND c.relname = %s", (MONTHS_TABLE,)).fetchone()
    conn.rollback()
    if row is None:
        return False
    comment = row[0]
    if not replace and comment == months_marker(n, seed, months, plan.spec):
        return True
    blocking = "; ".join(dependents(conn, [MONTHS_TABLE]))
    conn.rollback()
    if not replace:
        what = "holds other data" if comment is not None and comment.startswith("churnml demo data:") else "exists"
        raise TablesExist(
            f"public.{MONTHS_TABLE} already {what} in this database; churnml data generate --replace drops it and "
            f"generates {months} months of {n:,} customers (seed {seed}, drift {plan.spec}) in its place"
            + (f", once nothing depends on it (now: {blocking})" if blocking else ""))
    if blocking:
        raise TablesExist(f"public.{MONTHS_TABLE} cannot be replaced: other objects depend on it ({blocking}). "
                          "Drop or change those first; churnml data generate never drops them (no CASCADE)")
    return False


def load_months(conn: psycopg.Connection[Any], n: int, seed: int, months: int, plan: DriftPlan,
                progress: bool = True, *, replace: bool = False) -> Loaded:
    """Create and fill customer_months (months.py), in one transaction of its own.

    Kept as it is when it holds the snapshots of the same arguments (its comment says so); another
    customer_months is TablesExist unless `replace` (check_months). The snapshots are generated and
    copied one month at a time, so memory holds one month. The customers tables are `load`'s: month 1
    is the customers of `n` and `seed`, generated again here, never read from the database.
    """
    from tqdm import tqdm  # client-only dependency

    if check_months(conn, n, seed, months, plan, replace=replace):
        rows = int((conn.execute(sql.SQL("SELECT count(*) FROM public.{}").format(sql.Identifier(MONTHS_TABLE)))
                    .fetchone() or (0,))[0])
        conn.rollback()
        return Loaded(counts={MONTHS_TABLE: rows}, kept=True)
    rows = 0
    with (
        tqdm(total=months, unit=" months", file=sys.stderr, disable=not progress, desc="customer_months") as bar,
        conn.transaction(),
        conn.cursor() as cur,
    ):  # fmt: skip
        for statement in create_months_sql(replace=replace):
            cur.execute(statement)
        with cur.copy(months_copy_sql()) as copy:
            for snapshot in generate_months(n, seed, months, plan):
                for chunk, count in customer_copy_chunks(snapshot, columns=MONTH_COLUMNS):
                    copy.write(chunk)
                    rows += count
                bar.update()
        bar.set_description("indexing")
        for statement in months_finish_sql(n, seed, months, plan.spec):
            cur.execute(statement)
        bar.set_description("loaded")
    return Loaded(counts={MONTHS_TABLE: rows}, kept=False)
