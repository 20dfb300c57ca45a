"""COPY's options for export_query, load_from_s3 and the aws_s3 functions, checked with the database.

churnml_loaders.copy_options reads and checks the text; what only the server knows is
checked here: the encoding name (every alias PostgreSQL accepts: pg_char_to_encoding) and,
for churnml's own functions, that options and arguments do not say two things.
"""

from __future__ import annotations

from churnml.errors import InvalidParameter
from churnml.spi import Plpy, prepared
from churnml_loaders.copy_options import CopyOptions, parse

_ENCODING = ("SELECT pg_catalog.pg_encoding_to_char(pg_catalog.pg_char_to_encoding($1)) AS name")


def server_encoding_name(plpy: Plpy, name: str) -> str | None:
    """PostgreSQL's name for an encoding name or alias ('latin-1' -> 'LATIN1'), None for none."""
    found = plpy.execute(prepared(plpy, "copy_options:encoding", _ENCODING, ["pg_catalog.name"]), [name[:200]])
    return str(found[0]["name"]) or None


# The database's encoding, and whether COPY can convert between it and the file's encoding $1
# in the direction of the copy ($2: an export, database to file; else file to database): a
# default conversion in pg_catalog, what COPY looks for (none exists for MULE_INTERNAL and UTF8).
_CONVERTS = """
    SELECT d.name AS database,
           EXISTS (SELECT FROM pg_catalog.pg_conversion AS c
                   WHERE c.condefault
                     AND c.conforencoding OPERATOR(pg_catalog.=) pg_catalog.pg_char_to_encoding(
                             CASE WHEN $2 THEN d.name ELSE $1 END)
                     AND c.contoencoding OPERATOR(pg_catalog.=) pg_catalog.pg_char_to_encoding(
                             CASE WHEN $2 THEN $1 ELSE d.name END)) AS converts
    FROM (SELECT pg_catalog.getdatabaseencoding()::pg_catalog.name AS name) AS d"""


def checked(plpy: Plpy, text: str | None, direction: str, default_format: str = "text") -> CopyOptions:
    """The options text, read and checked (the encoding by the server)."""
    options = parse(text, direction=direction, default_format=default_format)
    options = options.check_encoding(lambda name: server_encoding_name(plpy, name))
    if options.encoding is not None and options.format != "binary":
        _check_conversion(plpy, options, direction)
    return options


def _check_conversion(plpy: Plpy, options: CopyOptions, direction: str) -> None:
    """Refuse, before any work, an encoding COPY would fail on midway or would read unchecked."""
    encoding = options.encoding or ""
    found = plpy.execute(prepared(plpy, "copy_options:converts", _CONVERTS, ["pg_catalog.name", "boolean"]),
                         [encoding, direction == "export"])[0]
    database = str(found["database"])
    if direction == "import" and encoding == "SQL_ASCII" and database != "SQL_ASCII":
        # COPY would store the file's bytes unchecked: text the database's encoding does not allow
        raise options._invalid(
            "encoding", "COPY option encoding: SQL_ASCII cannot be read into a " + database + " database",
            hint="SQL_ASCII means no conversion and no check, so invalid text would be stored. Name the "
                 "file's real encoding (e.g. LATIN1, WIN1252), or leave encoding out for " + database + ".")
    if encoding in (database, "SQL_ASCII") or database == "SQL_ASCII" or found["converts"]:
        return
    source, target = (database, encoding) if direction == "export" else (encoding, database)
    raise options._invalid(
        "encoding", f"COPY option encoding: PostgreSQL cannot convert {source} to {target}",
        hint="Name an encoding PostgreSQL converts to and from " + database + " (SELECT name FROM "
             "pg_catalog.pg_conversion lists them), e.g. LATIN1, WIN1252, SJIS.")


def for_arguments(plpy: Plpy, text: str | None, direction: str, fmt: str, header: bool) -> CopyOptions:
    """The options argument of export_query and load_from_s3. format and header are those
    functions' own arguments: options may repeat them only with the same value (header
    match counts as header true), so that a call never says two things."""
    options = checked(plpy, text, direction, default_format=fmt)
    if options.format != fmt:
        raise InvalidParameter(f"options say format {options.format} and format is {fmt}",
                               detail=f"Options: {options.text[:300]}.",
                               hint=f"Pass format => '{options.format}' and leave format out of options.")
    if "header" in options.positions and options.header != header:
        said = "header match" if options.header_match else f"header {str(options.header).lower()}"
        raise InvalidParameter(f"options say {said} and header is {str(header).lower()}",
                               detail=f"Options: {options.text[:300]}.",
                               hint=f"Pass header => {str(options.header).lower()}"
                                    + (" with header match in options." if options.header_match
                                       else " and leave header out of options."))
    return options
