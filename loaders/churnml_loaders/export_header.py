"""The header line of an export, as COPY ... HEADER writes it.

The rows themselves are written by PostgreSQL's COPY (churnml._copy_to_spool) with
COPY's defaults: csv exactly as COPY (query) TO ... (FORMAT csv) writes it (a value
quoted only where it needs it; NULL unquoted and empty, '' as ""), text or binary.
aws_s3.query_export_to_s3's 'force_quote *' adds FORCE_QUOTE * (every non-NULL value
quoted); the header line is never force-quoted, as COPY's is not.
"""

from __future__ import annotations

from collections.abc import Sequence

FORMATS = ("csv", "text", "binary")

# COPY's text format escapes (CopyAttributeOutText): backslash, the control characters
# it names, and the delimiter (tab).
_TEXT_ESCAPES = {"\\": "\\\\", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t", "\v": "\\v"}


def header_line(columns: Sequence[str], fmt: str) -> str:
    """The header row, byte for byte as COPY ... HEADER writes it: in CSV a name is quoted only
    where needed, in text it is escaped."""
    if fmt == "csv":
        single = len(columns) == 1
        return ",".join('"' + c.replace('"', '""') + '"' if _needs_quotes(c, single) else c for c in columns)
    return "\t".join("".join(_TEXT_ESCAPES.get(ch, ch) for ch in c) for c in columns)


def _needs_quotes(name: str, single: bool) -> bool:
    """CopyAttributeOutCSV's rule: the NULL string (''), a delimiter, quote or line break, and
    `\\.` alone on its line (only when it is the only column)."""
    return name == "" or (single and name == "\\.") or any(ch in name for ch in ',"\r\n')
