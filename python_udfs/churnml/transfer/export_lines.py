"""The query that turns any result set into COPY-compatible text lines, one per row.

PL/Python cannot run `COPY ... TO STDOUT`, so export formats rows in SQL with the
types' own output functions (what COPY uses) and fetches one text column per row:
- csv: every non-NULL value quoted (COPY's FORCE_QUOTE *), embedded quotes doubled,
  NULL as an empty unquoted field — COPY ... FROM (FORMAT csv) reads it back exactly;
- text: COPY's text format: tab-separated, NULL as \\N, backslash escapes.
Column names come from the query's own result description and are quoted with
quote_ident; the caller's query text runs as the caller's own query.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

FORMATS = ("csv", "text")


def _csv_field(column: str) -> str:
    value = f"q.{column}::pg_catalog.text"
    quoted = f"""'"' OPERATOR(pg_catalog.||) pg_catalog.replace({value}, '"', '""') OPERATOR(pg_catalog.||) '"'"""
    return f"COALESCE({quoted}, '')"


def _text_field(column: str) -> str:
    value = f"q.{column}::pg_catalog.text"
    for raw, escaped in (("\\", "\\\\"), ("\t", "\\t"), ("\n", "\\n"), ("\r", "\\r")):
        value = f"pg_catalog.replace({value}, E'{_e(raw)}', E'{_e(escaped)}')"
    return f"COALESCE({value}, E'\\\\N')"


def _e(text: str) -> str:
    """A string as the body of an E'' literal (only backslash and control characters occur here)."""
    return text.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")


def lines_query(query: str, columns: Sequence[str], fmt: str, quote_ident: Callable[[str], str]) -> str:
    """SELECT one text column `line` per row of `query`, in the given COPY format."""
    if not columns:
        return f"SELECT ''::pg_catalog.text AS line FROM ({query}) AS q"
    field = _csv_field if fmt == "csv" else _text_field
    separator = "','" if fmt == "csv" else "E'\\t'"
    parts = f" OPERATOR(pg_catalog.||) {separator} OPERATOR(pg_catalog.||) ".join(
        field(quote_ident(c)) for c in columns)
    return f"SELECT {parts} AS line FROM ({query}) AS q"


def header_line(columns: Sequence[str], fmt: str) -> str:
    """The header row: the column names, quoted in CSV only where needed, as COPY ... HEADER does."""
    if fmt == "csv":
        return ",".join('"' + c.replace('"', '""') + '"' if _needs_quotes(c) else c for c in columns)
    return "\t".join(columns)


def _needs_quotes(name: str) -> bool:
    return name in ("", "\\.") or any(ch in name for ch in ',"\r\n')
