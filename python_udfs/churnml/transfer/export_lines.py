"""The header line of an export, as COPY ... HEADER writes it.

The rows themselves are written by PostgreSQL's COPY (churnml._copy_to_spool):
csv with every non-NULL value quoted (FORCE_QUOTE *) so NULL and '' differ, text,
or binary.
"""

from __future__ import annotations

from collections.abc import Sequence

FORMATS = ("csv", "text", "binary")


def header_line(columns: Sequence[str], fmt: str) -> str:
    """The header row: the column names, quoted in CSV only where needed, as COPY ... HEADER does."""
    if fmt == "csv":
        return ",".join('"' + c.replace('"', '""') + '"' if _needs_quotes(c) else c for c in columns)
    return "\t".join(columns)


def _needs_quotes(name: str) -> bool:
    return name in ("", "\\.") or any(ch in name for ch in ',"\r\n')
