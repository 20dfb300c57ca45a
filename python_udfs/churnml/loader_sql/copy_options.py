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


def checked(plpy: Plpy, text: str | None, direction: str, default_format: str = "text") -> CopyOptions:
    """The options text, read and checked (the encoding by the server)."""
    options = parse(text, direction=direction, default_format=default_format)
    return options.check_encoding(lambda name: server_encoding_name(plpy, name))


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
