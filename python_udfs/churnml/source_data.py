"""Reading a training source (a table, view or query) through SPI, column by column.

The source runs with the caller's own privileges (no churnml function is SECURITY
DEFINER), so a query here can read nothing the caller could not read directly.
Rows come back as one array per column (`array_agg`), which PL/Python converts far
faster than one dict per row; numeric columns are cast to float8 on the way so
they arrive as floats rather than Decimals.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from churnml import server
from churnml.errors import (
    DataException,
    FeatureNotSupported,
    InvalidParameter,
    UndefinedColumn,
    UndefinedTable,
    not_a_name,
)
from churnml.spi import Plpy, prepared
from churnml.training.sql_types import type_family


@dataclass
class SourceData:
    description: str  # what to record: the relation name or the query text
    column_types: list[tuple[str, str]]  # (name, format_type) in source order
    columns: dict[str, list[Any]]
    rows: int


PINNED_SEARCH_PATH = "pg_catalog, pg_temp"


@contextmanager
def caller_search_path(plpy: Plpy, search_path: str | None) -> Iterator[None]:
    """Run the caller's own SQL (a source name or query) under the caller's search_path.

    churnml functions pin search_path, so `customers` would not resolve inside them;
    the SQL signature captures the caller's path as a default argument. PostgreSQL
    restores the pinned value when the function exits, and so do we on the way out.
    """
    setter = prepared(plpy, "set_search_path", "SELECT pg_catalog.set_config('search_path', $1, true)",
                      ["pg_catalog.text"])
    plpy.execute(setter, [search_path or PINNED_SEARCH_PATH])
    try:
        yield
    finally:
        plpy.execute(setter, [PINNED_SEARCH_PATH])


def current_search_path(plpy: Plpy) -> str:
    """The search_path in force now (the caller's, in a function without a SET clause)."""
    current = server.setting("search_path")  # read in the server: no query
    if current is None:  # outside a backend
        current = plpy.execute(prepared(plpy, "search_path", "SELECT pg_catalog.current_setting('search_path') AS p",
                                        []))[0]["p"]
    return str(current)


@contextmanager
def pinned_search_path(plpy: Plpy) -> Iterator[None]:
    """The pinned search_path for a while: inside caller_search_path, or in a function
    without a SET clause (churnml.assess_customer) once it has used the caller's path.

    For churnml's own SQL whose result must not depend on the caller's path: type
    names printed by format_type are parsed again later under the pinned path (a
    feature's type, a load's row type), so they are printed under it too — then a
    type of the caller's path comes out schema-qualified and a look-alike of a
    built-in type in the caller's path is never what a name means.
    """
    current = current_search_path(plpy)
    setter = prepared(plpy, "set_search_path", "SELECT pg_catalog.set_config('search_path', $1, true)",
                      ["pg_catalog.text"])
    plpy.execute(setter, [PINNED_SEARCH_PATH])
    try:
        yield
    finally:
        plpy.execute(setter, [current])


_encoding: list[str] = []  # the database's encoding, once per backend (it never changes)


def _check_query_text(plpy: Plpy, text: str) -> None:
    """Refuse non-ASCII SQL text in a database whose encoding is not UTF8.

    PL/Python hands query text to SPI as UTF-8 whatever the database encoding, so in
    a LATIN1 database 'Müller' in a query would silently read as 'MÃ¼ller'. Values
    passed as parameters are converted properly; only SQL text is affected.
    """
    if text.isascii():
        return
    if not _encoding:
        _encoding.append(plpy.execute(prepared(plpy, "database_encoding",
                                               "SELECT pg_catalog.getdatabaseencoding() AS e", []))[0]["e"])
    if _encoding[0] not in ("UTF8", "SQL_ASCII"):
        raise FeatureNotSupported(
            f"a source query or name with non-ASCII characters cannot be read in a {_encoding[0]} database",
            detail="PL/Python passes SQL text to the server as UTF-8, whatever the database encoding.",
            hint="Create a view over the query (or give the table an ASCII name) and pass the view's name.")


def resolve_source(plpy: Plpy, source: str | None, what: str = "the source") -> tuple[str, str]:
    """(SQL for the source as a FROM item, description). Tables/views by name, else a query.

    A source that parses as a (qualified) name is a relation, and one that does not
    exist is 42P01 naming it; anything else must be exactly one SELECT (`_check_select`,
    on the server's parse tree) before it is pasted into a statement of churnml's.
    """
    if source is None or not source.strip():
        raise InvalidParameter(f"{what} must name a table or view, or be a query",
                               hint="Pass e.g. 'customers' or 'SELECT ... FROM customers WHERE ...'.")
    text = source.strip()
    # first: in a LATIN1 database even the server's "not a valid identifier" message, which
    # quotes the text, could not be read back by PL/Python
    _check_query_text(plpy, text)
    plan = prepared(plpy, "source_relation", "SELECT pg_catalog.to_regclass($1)::pg_catalog.text AS rel, "
                    "pg_catalog.parse_ident($1) IS NOT NULL AS is_name", ["pg_catalog.text"])
    try:
        row = plpy.execute(plan, [text])[0]
    except plpy.SPIError as exc:
        if not not_a_name(exc):
            raise
        row = None  # not parseable as a name: it is a query
    if row is not None:
        if row["rel"] is None:
            raise UndefinedTable(f'relation "{text if len(text) <= 80 else text[:77] + "…"}" does not exist',
                                 detail=f"{what[0].upper()}{what[1:]} is read as a table or view name.",
                                 hint="Check the name and the search_path, or pass a query (SELECT ...).")
        _check_query_text(plpy, row["rel"])
        return f"(SELECT * FROM {row['rel']}) AS src", row["rel"]
    body = text.rstrip(";").strip()
    plpy.execute(prepared(plpy, "check_select", "SELECT churnml._check_select($1, $2)",
                          ["pg_catalog.text", "pg_catalog.text"]), [body, f"{what} query"])
    # the newline ends a trailing -- comment before the closing parenthesis
    return f"({body}\n) AS src", body


def query_columns(plpy: Plpy, from_item: str, what: str, unique: bool = True) -> list[tuple[str, str]]:
    """(name, format_type) of each column a FROM item returns; with `unique`, two columns of one
    name are an error (a training source's features are named; an export, like COPY, allows them)."""
    probe = plpy.execute(f"SELECT * FROM {from_item} LIMIT 0")
    names: list[str] = list(probe.colnames())
    if unique and len(set(names)) != len(names):
        raise DataException(f"{what} has two columns with the same name", detail=f"Columns: {', '.join(names)}.",
                            hint=f"Give every column of {what} a distinct name (AS).")
    plan = prepared(plpy, "format_types", "SELECT pg_catalog.format_type(t, NULL) AS t "
                    "FROM pg_catalog.unnest($1::pg_catalog.oid[]) WITH ORDINALITY AS u(t, i) ORDER BY i",
                    ["pg_catalog.oid[]"])
    with pinned_search_path(plpy):  # the names are recorded and parsed later under the pinned path
        types = [r["t"] for r in plpy.execute(plan, [list(probe.coltypes())])]
    return list(zip(names, types, strict=True))


@dataclass(frozen=True)
class SourceColumns:
    """A source looked at without reading a row: what `read_source` will read, and its columns."""

    from_item: str  # the source as a FROM item aliased src (see resolve_source)
    description: str
    column_types: list[tuple[str, str]]  # (name, format_type) in source order

    @property
    def names(self) -> list[str]:
        return [n for n, _ in self.column_types]


def probe_source(plpy: Plpy, source: str | None, search_path: str | None) -> SourceColumns:
    """The source's columns and their types from a LIMIT 0 probe: no row is read, so a caller can
    check its arguments against the columns before the (long) read."""
    with caller_search_path(plpy, search_path):
        return probe_source_here(plpy, source)


def read_source(plpy: Plpy, source: str | SourceColumns | None, search_path: str | None, *,
                wanted: list[str] | None = None) -> SourceData:
    """The source's rows, column by column: only the `wanted` columns (every column when None); a
    wanted column the source lacks is 42703 naming it and listing the source's columns. `source`
    may be what probe_source returned for the same search_path, so it is not resolved twice."""
    with caller_search_path(plpy, search_path):
        probed = source if isinstance(source, SourceColumns) else probe_source_here(plpy, source)
        return _read_source(plpy, probed, wanted)


def probe_source_here(plpy: Plpy, source: str | None) -> SourceColumns:
    """probe_source under the search_path already in force."""
    from_item, description = resolve_source(plpy, source)
    return SourceColumns(from_item, description, query_columns(plpy, from_item, "the source"))


def check_wanted(probed: SourceColumns, wanted: list[str]) -> None:
    """42703 for the first wanted column the source does not have, listing the columns it has."""
    names = probed.names
    missing = [w for w in wanted if w not in names]
    if missing:
        shown = ", ".join(names[:50]) + (", …" if len(names) > 50 else "")
        raise UndefinedColumn(f'column "{missing[0]}" is not in the source',
                              detail=f"The source's columns are: {shown}.",
                              hint="Column names are case-sensitive; check the spelling, or select the column "
                                   "in the source query.")


def _column_arrays(plpy: Plpy, probed: SourceColumns, wanted: list[str] | None) -> tuple[list[int], str]:
    """(indexes of the columns read, the select list reading each as one array)."""
    names = probed.names
    types = [t for _, t in probed.column_types]
    if wanted is not None:
        check_wanted(probed, wanted)
    keep = [i for i, n in enumerate(names) if wanted is None or n in wanted]
    selects = []
    for i in keep:
        ident = plpy.quote_ident(names[i])
        expr = f"src.{ident}"
        if type_family(types[i]) == "numeric":
            expr = f"{expr}::pg_catalog.float8"  # Decimal/int8 conversion is the slow part otherwise
        selects.append(f"pg_catalog.array_agg({expr}) AS c{i}")
    return keep, ", ".join(selects)


def _read_source(plpy: Plpy, probed: SourceColumns, wanted: list[str] | None) -> SourceData:
    from_item, description = probed.from_item, probed.description
    names = probed.names
    types = [t for _, t in probed.column_types]
    keep, selects = _column_arrays(plpy, probed, wanted)
    # A deterministic row order, so the same data and seed give the same split.
    query = (f"SELECT pg_catalog.count(*) AS n, {selects} FROM "
             f"(SELECT * FROM {from_item} ORDER BY pg_catalog.md5(src::pg_catalog.text)) AS src")
    row = plpy.execute(query)[0]
    n = int(row["n"])
    columns = {names[i]: (row[f"c{i}"] or []) for i in keep}
    return SourceData(description=description, column_types=[(names[i], types[i]) for i in keep],
                      columns=columns, rows=n)


@dataclass
class SampledData(SourceData):
    population: int  # rows of the source; `rows` of them were read


def read_sample(plpy: Plpy, source: str | None, search_path: str | None, *, wanted: list[str],
                max_rows: int) -> SampledData:
    """At most `max_rows` rows of the source, each with the same chance, column by column
    (churnml.monitor), in bounded memory, and the source run once whatever it is.

    A table (or materialized view) is counted, then read through a Bernoulli filter of
    max_rows / count and a LIMIT: two cheap scans, no sort. A view or a query runs once, as a
    materialized CTE (a query may call a function that writes, and a count first would run it
    twice), and the sample is its rows in random order up to the LIMIT. Not in a deterministic
    order: a drift check needs a fair sample, not a reproducible split."""
    with caller_search_path(plpy, search_path):
        probed = probe_source_here(plpy, source)
        keep, selects = _column_arrays(plpy, probed, wanted)
        if _is_stored_relation(plpy, probed):
            population = int(plpy.execute(f"SELECT pg_catalog.count(*) AS n FROM {probed.from_item}")[0]["n"])
            fraction = 1.0 if population <= max_rows else max_rows / population
            plan = plpy.prepare(
                f"SELECT pg_catalog.count(*) AS n, {selects} FROM (SELECT * FROM {probed.from_item} "
                f"WHERE $1 OPERATOR(pg_catalog.>=) 1 OR pg_catalog.random() OPERATOR(pg_catalog.<) $1 LIMIT $2) AS src",
                ["pg_catalog.float8", "pg_catalog.int8"])
            row = plpy.execute(plan, [fraction, max_rows])[0]
        else:
            plan = plpy.prepare(
                f"WITH population AS MATERIALIZED (SELECT * FROM {probed.from_item}) "
                f"SELECT (SELECT pg_catalog.count(*) FROM population) AS population, pg_catalog.count(*) AS n, "
                f"{selects} FROM (SELECT * FROM population ORDER BY pg_catalog.random() LIMIT $1) AS src",
                ["pg_catalog.int8"])
            row = plpy.execute(plan, [max_rows])[0]
            population = int(row["population"])
    names = probed.names
    types = [t for _, t in probed.column_types]
    return SampledData(description=probed.description, column_types=[(names[i], types[i]) for i in keep],
                       columns={names[i]: (row[f"c{i}"] or []) for i in keep}, rows=int(row["n"]),
                       population=population)


def _is_stored_relation(plpy: Plpy, probed: SourceColumns) -> bool:
    """Whether the source is a table or materialized view by name (reading it twice has no side effect)."""
    if not names_relation(probed.from_item, probed.description):
        return False  # a query
    plan = prepared(plpy, "source_relkind", "SELECT c.relkind::pg_catalog.text AS kind FROM pg_catalog.pg_class AS c "
                    "WHERE c.oid OPERATOR(pg_catalog.=) pg_catalog.to_regclass($1)", ["pg_catalog.text"])
    rows = plpy.execute(plan, [probed.description])
    return bool(rows) and rows[0]["kind"] in ("r", "p", "m")


def names_relation(from_item: str, description: str) -> bool:
    """Whether resolve_source's (from_item, description) is a relation by name, not a query."""
    return from_item == f"(SELECT * FROM {description}) AS src"
