"""`load`: the generated tables into a database, in one transaction (`churnml data generate`)."""

from __future__ import annotations

import sys
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from churnml_client.datagen.copy_text import customer_copy_chunks, text_copy_chunks
from churnml_client.datagen.customers import generate_customers
from churnml_client.datagen.schema import copy_sql, create_tables_sql, index_sql
from churnml_client.datagen.texts import generate_messages, generate_transcripts

if TYPE_CHECKING:
    import psycopg
    from tqdm import tqdm


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
    with (
        tqdm(total=sum(counts.values()), unit=" rows", unit_scale=True, file=sys.stderr, disable=not progress,
             desc="loading") as bar,
        conn.transaction(),
        conn.cursor() as cur,
    ):  # fmt: skip
        for statement in create_tables_sql():
            cur.execute(statement)
        _copy(cur, copy_sql("customers"), customer_copy_chunks(customers), bar)
        for table, rows in (("customer_message", messages), ("call_transcript", transcripts)):
            _copy(cur, copy_sql(table), text_copy_chunks(rows), bar)
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
