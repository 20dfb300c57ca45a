"""Sort PostgreSQL type names into the families feature inference cares about.

The SQL layer describes each source column by its type name as PostgreSQL prints it
(`format_type`), e.g. 'bigint', 'double precision', 'numeric(10,2)',
'character varying(20)', 'text[]'. Only the base name matters here.
"""

from __future__ import annotations

import re
from typing import Literal

TypeFamily = Literal["numeric", "boolean", "text", "unsupported", "other"]

_NUMERIC = frozenset({
    "smallint", "integer", "int", "bigint", "int2", "int4", "int8",
    "smallserial", "serial", "bigserial", "serial2", "serial4", "serial8",
    "real", "float4", "double precision", "float8", "float", "numeric", "decimal",
})  # fmt: skip
_BOOLEAN = frozenset({"boolean", "bool"})
_TEXT = frozenset({"text", "varchar", "character varying", "character", "char", "bpchar", "name", "citext"})
# Types whose values PL/Python hands over as strings that would make meaningless
# categories (every timestamp is distinct) or that cannot be hashed (arrays, json).
_UNSUPPORTED_PREFIXES = (
    "date", "time", "timestamp", "interval", "json", "jsonb", "bytea", "money", "xml",
    "tsvector", "tsquery", "point", "line", "lseg", "box", "path", "polygon", "circle",
)  # fmt: skip


def base_type(sql_type: str) -> str:
    """'numeric(10,2)' → 'numeric', 'pg_catalog.int4' → 'int4', 'Character  Varying(5)' → 'character varying'."""
    name = re.sub(r"\(.*?\)", "", sql_type).strip().lower()
    name = re.sub(r"\s+", " ", name)
    if name.startswith("pg_catalog."):
        name = name[len("pg_catalog.") :]
    return name.strip('"')


def type_family(sql_type: str) -> TypeFamily:
    """The family of a PostgreSQL type name; 'other' covers enums, uuid, domains and the like."""
    name = base_type(sql_type)
    if name.endswith("[]") or name.startswith("_"):
        return "unsupported"  # arrays ('integer[]', or the internal '_int4' spelling)
    if name in _NUMERIC:
        return "numeric"
    if name in _BOOLEAN:
        return "boolean"
    if name in _TEXT:
        return "text"
    first_word = name.split(" ", 1)[0]
    if first_word in _UNSUPPORTED_PREFIXES:
        return "unsupported"  # also 'timestamp with time zone', 'time without time zone'
    return "other"
