"""Insert composite-literal records into a table in batches, and find the bad one when a batch fails.

The records are cast to a temporary row type with exactly the loaded columns (names
and types read from the catalog, quoted with quote_ident), so PostgreSQL's input
functions parse every value, as COPY would. A failed batch is examined record by
record, then field by field, so the error can name the object, line and column.
"""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from churnml.errors import ChurnmlError, InsufficientPrivilege, InvalidParameter, UndefinedColumn
from churnml.transfer.records import literal_fields

ON_CONFLICT = ("error", "ignore", "replace")
BATCH_ROWS = 10_000


@dataclass(frozen=True)
class Column:
    name: str
    type: str


class LoadRowError(ChurnmlError):
    """A row the table refused; carries the SQLSTATE PostgreSQL gave it."""

    def __init__(self, sqlstate: str, message: str, *, detail: str | None = None, hint: str | None = None) -> None:
        super().__init__(message, detail=detail, hint=hint)
        self.sqlstate = sqlstate


def target_columns(plpy: Any, table: str, wanted: list[str] | None) -> list[Column]:
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
        raise InvalidParameter("columns names a column twice")
    columns = []
    for name in wanted:
        row = by_name.get(name)
        if row is None:
            raise UndefinedColumn(f'column "{name}" of {table} does not exist',
                                  hint=f"Columns: {', '.join(by_name)}.")
        if row["generated"]:
            raise InvalidParameter(f'column "{name}" of {table} is generated and cannot be loaded')
        columns.append(Column(name, row["type"]))
    return columns


def _primary_key(plpy: Any, table: str) -> list[str]:
    plan = plpy.prepare("""
        SELECT a.attname::pg_catalog.text AS name
        FROM pg_catalog.pg_index AS i
        JOIN pg_catalog.pg_attribute AS a ON a.attrelid OPERATOR(pg_catalog.=) i.indrelid
             AND a.attnum OPERATOR(pg_catalog.=) ANY (i.indkey)
        WHERE i.indrelid OPERATOR(pg_catalog.=) $1::pg_catalog.regclass AND i.indisprimary
        ORDER BY a.attnum""", ["pg_catalog.text"])
    return [r["name"] for r in plpy.execute(plan, [table])]


def _check_insert_privilege(plpy: Any, table: str, columns: list[Column]) -> None:
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
    """Batches of records into one table, within the caller's transaction."""

    def __init__(self, plpy: Any, table: str, columns: list[Column], on_conflict: str) -> None:
        if on_conflict not in ON_CONFLICT:
            raise InvalidParameter(f"on_conflict must be one of {', '.join(ON_CONFLICT)}, not {on_conflict!r}")
        self.plpy = plpy
        self.table = table
        self.columns = columns
        self.rows = 0
        _check_insert_privilege(plpy, table, columns)
        q = plpy.quote_ident
        self.row_type = f"pg_temp.{q('churnml_load_' + secrets.token_hex(6))}"
        plpy.execute(f"CREATE TYPE {self.row_type} AS ({', '.join(f'{q(c.name)} {c.type}' for c in columns)})")
        names = ", ".join(q(c.name) for c in columns)
        conflict = ""
        if on_conflict == "ignore":
            conflict = " ON CONFLICT DO NOTHING"
        elif on_conflict == "replace":
            key = _primary_key(plpy, table)
            if not key:
                raise InvalidParameter(f"on_conflict 'replace' needs a primary key, and {table} has none")
            missing = [k for k in key if k not in {c.name for c in columns}]
            if missing:
                raise InvalidParameter(f'on_conflict \'replace\' needs the key column "{missing[0]}" in the file')
            others = [c.name for c in columns if c.name not in key]
            action = ("DO UPDATE SET " + ", ".join(f"{q(n)} = EXCLUDED.{q(n)}" for n in others)
                      if others else "DO NOTHING")
            conflict = f" ON CONFLICT ({', '.join(q(k) for k in key)}) {action}"
        # OFFSET 0 keeps the cast in the subquery: flattened, (r).* would cast once per column
        self.insert = plpy.prepare(
            f"INSERT INTO {table} ({names}) SELECT (s.r).* FROM (SELECT l::{self.row_type} AS r "
            f"FROM pg_catalog.unnest($1::pg_catalog.text[]) AS l OFFSET 0) AS s{conflict}", ["pg_catalog.text[]"])
        self.check_record = plpy.prepare(f"SELECT $1::{self.row_type} IS NOT NULL AS ok", ["pg_catalog.text"])

    def close(self) -> None:
        # when the transaction is failing anyway the type goes with it
        with contextlib.suppress(self.plpy.SPIError):
            self.plpy.execute(f"DROP TYPE IF EXISTS {self.row_type}")

    def load(self, batch: list[tuple[int, str]], where: Callable[[int], str]) -> int:
        """Insert (line number, literal) records; raise LoadRowError naming the first bad row.

        `where(line)` says where an input line came from, e.g. "s3://bucket/key line 12".
        """
        try:
            result = self.plpy.execute(self.insert, [[literal for _, literal in batch]])
        except self.plpy.SPIError as exc:
            raise self._explain(exc, batch, where) from None
        self.rows += result.nrows()
        return result.nrows()

    def _explain(self, exc: Any, batch: list[tuple[int, str]], where: Callable[[int], str]) -> ChurnmlError:
        plpy = self.plpy
        for line, literal in batch:
            try:
                plpy.execute(self.check_record, [literal])
            except plpy.SPIError as bad:
                return LoadRowError(getattr(bad, "sqlstate", None) or "22P02",
                                    f"cannot load {where(line)}{self._column(literal)}",
                                    detail=_message(bad), hint="Nothing was loaded. Fix the row, or pass the "
                                    "right format, header or columns.")
        # every row parses: a constraint (unique, not null, check, foreign key) refused the batch
        first = batch[0][0]
        return LoadRowError(getattr(exc, "sqlstate", None) or "XX000",
                            f"cannot load {where(first)} (or one of the {len(batch) - 1} records after it) "
                            f"into {self.table}", detail=_message(exc),
                            hint="Nothing was loaded. on_conflict => 'ignore' or 'replace' handles duplicate keys.")

    def _column(self, literal: str) -> str:
        """', column "x"' for the first field its type refuses, or a note on the field count."""
        plpy = self.plpy
        fields = literal_fields(literal)
        if len(fields) != len(self.columns):
            return f" (it has {len(fields)} fields, the load expects {len(self.columns)})"
        for column, value in zip(self.columns, fields, strict=True):
            if value is None:
                continue
            try:
                plpy.execute(plpy.prepare(f"SELECT $1::{column.type} IS NOT NULL AS ok", ["pg_catalog.text"]), [value])
            except plpy.SPIError:
                return f', column "{column.name}"'
        return ""


def _message(exc: Any) -> str:
    return str(exc).split("\n", 1)[0]
