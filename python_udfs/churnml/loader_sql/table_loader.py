"""Load spooled records into a table: the columns, the privilege check, the conflict handling.

Column names and types are read from the catalog and quoted with quote_ident; the
records themselves are parsed by PostgreSQL's COPY (churnml._copy_from_spool).
"""

from __future__ import annotations

import contextlib
import secrets
from dataclasses import dataclass

from churnml.errors import InsufficientPrivilege, InvalidParameter, UndefinedColumn
from churnml.spi import Plpy
from churnml_loaders.copy_options import CopyOptions

ON_CONFLICT = ("error", "ignore", "replace")


@dataclass(frozen=True)
class Column:
    name: str
    type: str


def target_columns(plpy: Plpy, table: str, wanted: list[str] | None) -> list[Column]:
    """The columns to fill, in file order: `wanted`, or every insertable column in table order."""
    plan = plpy.prepare("""
        SELECT a.attname::pg_catalog.text AS name, pg_catalog.format_type(a.atttypid, a.atttypmod) AS type,
               a.attgenerated OPERATOR(pg_catalog.<>) '' AS generated
        FROM pg_catalog.pg_attribute AS a
        WHERE a.attrelid OPERATOR(pg_catalog.=) $1::pg_catalog.regclass AND a.attnum OPERATOR(pg_catalog.>) 0
          AND NOT a.attisdropped
        ORDER BY a.attnum""", ["pg_catalog.text"])
    rows = list(plpy.execute(plan, [table]))
    by_name = {r["name"]: r for r in rows}
    if wanted is None:
        return [Column(r["name"], r["type"]) for r in rows if not r["generated"]]
    if len(set(wanted)) != len(wanted):
        raise InvalidParameter("columns names a column twice",
                               detail=f"columns is {', '.join(wanted)[:300]}.", hint="Name each column once.")
    columns = []
    for name in wanted:
        row = by_name.get(name)
        if row is None:
            raise UndefinedColumn(f'column "{name}" of {table} does not exist',
                                  detail=f"{table} has the columns {', '.join(by_name)}.",
                                  hint="Names are exact (case included), as in the table.")
        if row["generated"]:
            raise InvalidParameter(f'column "{name}" of {table} is generated and cannot be loaded',
                                   detail="PostgreSQL computes a generated column from the others.",
                                   hint="Leave it out of columns.")
        columns.append(Column(name, row["type"]))
    return columns


def _primary_key(plpy: Plpy, table: str) -> list[str]:
    plan = plpy.prepare("""
        SELECT a.attname::pg_catalog.text AS name
        FROM pg_catalog.pg_index AS i
        JOIN pg_catalog.pg_attribute AS a ON a.attrelid OPERATOR(pg_catalog.=) i.indrelid
             AND a.attnum OPERATOR(pg_catalog.=) ANY (i.indkey)
        WHERE i.indrelid OPERATOR(pg_catalog.=) $1::pg_catalog.regclass AND i.indisprimary
        ORDER BY a.attnum""", ["pg_catalog.text"])
    return [r["name"] for r in plpy.execute(plan, [table])]


def _check_insert_privilege(plpy: Plpy, table: str, columns: list[Column]) -> None:
    """Fail before reading any object, not at the first batch (an empty file would never check)."""
    plan = plpy.prepare("""
        SELECT c AS name FROM pg_catalog.unnest($2::pg_catalog.text[]) AS c
        WHERE NOT pg_catalog.has_column_privilege($1::pg_catalog.regclass, c, 'INSERT')""", ["pg_catalog.text",
                                                                                             "pg_catalog.text[]"])
    denied = [r["name"] for r in plpy.execute(plan, [table, [c.name for c in columns]])]
    if denied:
        raise InsufficientPrivilege(f"permission denied to insert into {table}",
                                    detail=f"No INSERT privilege on column(s): {', '.join(denied)}.",
                                    hint="load_from_s3 runs with your own privileges; ask the table's owner "
                                         "for INSERT.")


class TableLoader:
    """Spooled records into one table with PostgreSQL's COPY, within the caller's transaction.

    on_conflict 'error' copies straight into the table. 'ignore' and 'replace' copy into
    a temporary table with the loaded columns, then INSERT ... SELECT ... ON CONFLICT.
    Every value goes through its type's input function (COPY's own parsing), and a bad
    record is reported by churnml._copy_from_spool as object, line and column.
    """

    def __init__(self, plpy: Plpy, table: str, columns: list[Column], on_conflict: str) -> None:
        if on_conflict not in ON_CONFLICT:
            raise InvalidParameter(f"on_conflict must be one of {', '.join(ON_CONFLICT)}, not {on_conflict!r}",
                                   detail="error stops at a duplicate key, ignore skips the row, replace updates it.",
                                   hint="Pass on_conflict => 'error', 'ignore' or 'replace'.")
        self.plpy = plpy
        self.table = table
        self.columns = columns
        self.on_conflict = on_conflict
        self.rows = 0
        _check_insert_privilege(plpy, table, columns)
        q = plpy.quote_ident
        self.conflict = ""
        if on_conflict == "ignore":
            self.conflict = " ON CONFLICT DO NOTHING"
        elif on_conflict == "replace":
            key = _primary_key(plpy, table)
            if not key:
                raise InvalidParameter(f"on_conflict 'replace' needs a primary key, and {table} has none",
                                       detail="Rows are replaced by their primary key.",
                                       hint="Add a primary key, or use on_conflict => 'ignore' or 'error'.")
            missing = [k for k in key if k not in {c.name for c in columns}]
            if missing:
                raise InvalidParameter(f'on_conflict \'replace\' needs the key column "{missing[0]}" in the file',
                                       detail="Rows are replaced by their primary key, so the file must have it.",
                                       hint="Add the key column to columns.")
            others = [c.name for c in columns if c.name not in key]
            action = ("DO UPDATE SET " + ", ".join(f"{q(n)} = EXCLUDED.{q(n)}" for n in others)
                      if others else "DO NOTHING")
            self.conflict = f" ON CONFLICT ({', '.join(q(k) for k in key)}) {action}"
        self.copy_plan = plpy.prepare(
            "SELECT churnml._copy_from_spool($1::pg_catalog.regclass, $2, $3, $4, $5, $6, $7, $8) AS n",
            ["pg_catalog.text", "pg_catalog.text", "pg_catalog.text", "pg_catalog.text[]", "pg_catalog.text[]",
             "pg_catalog.int8[]", "pg_catalog.int8[]", "pg_catalog.text[]"])

    def copy(self, spool: str, fmt: str, sources: list[str], records: list[int], skipped: list[int],
             options: CopyOptions | None = None) -> int:
        """COPY the spool file's records in with COPY's `options` (as values: churnml._copy_from_spool
        hands them to COPY); `sources` etc. say which object each came from."""
        plpy, q = self.plpy, self.plpy.quote_ident
        names = [c.name for c in self.columns]
        where = (sources, records, skipped, options.flat_items() if options is not None else [])
        if self.on_conflict == "error":
            self.rows = plpy.execute(self.copy_plan, [self.table, spool, fmt, names, *where])[0]["n"]
            return self.rows
        staging = f"pg_temp.{q('churnml_load_' + secrets.token_hex(6))}"
        plpy.execute(f"CREATE TEMPORARY TABLE {staging} ({', '.join(f'{q(c.name)} {c.type}' for c in self.columns)})")
        try:
            plpy.execute(self.copy_plan, [staging, spool, fmt, names, *where])
            listed = ", ".join(q(n) for n in names)
            self.rows = plpy.execute(f"INSERT INTO {self.table} ({listed}) SELECT {listed} FROM {staging}"
                                     f"{self.conflict}").nrows()
        finally:
            with contextlib.suppress(plpy.SPIError):  # when the transaction is failing anyway the table goes with it
                plpy.execute(f"DROP TABLE IF EXISTS {staging}")
        return self.rows
