"""CSV and COPY-text records turned into PostgreSQL composite literals, with line numbers.

Loading parses with PostgreSQL's own input functions: every record becomes the
text of a composite value, `(f1,f2,...)`, which SQL casts to a row type in C
(record_in, then each column's input function, exactly what COPY uses). Python only
finds record boundaries and, where the two syntaxes differ, rewrites fields:
- CSV and composite literals agree on `"..."` quoting with `""` for a quote, and on
  an unquoted empty field meaning NULL (a quoted one is an empty string);
- a backslash is an escape in a composite literal, so it is doubled;
- a parenthesis in an unquoted CSV field would end the literal, so such records
  are re-quoted field by field (the slow path), as is every COPY-text record.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator

from churnml.errors import DataException

_CSV_FIELD = re.compile(r'"((?:[^"]|"")*)"|([^,"]*)')
_TEXT_ESCAPE = re.compile(r"\\(?:([0-7]{1,3})|x([0-9A-Fa-f]{1,2})|(.))", re.DOTALL)
_TEXT_SIMPLE = {"b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v"}


def lines(chunks: Iterable[bytes], encoding: str = "utf-8") -> Iterator[str]:
    """Decoded lines (without their line ending) from byte chunks, in constant memory."""
    rest = b""
    for chunk in chunks:
        data = rest + chunk
        parts = data.split(b"\n")
        rest = parts.pop()
        for part in parts:
            yield _decode(part, encoding)
    if rest:
        yield _decode(rest, encoding)


def _decode(raw: bytes, encoding: str) -> str:
    text = raw.decode(encoding)
    return text[:-1] if text.endswith("\r") else text


def quote_field(value: str | None) -> str:
    """One field of a composite literal: empty for NULL, else quoted with escapes."""
    if value is None:
        return ""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def csv_fields(record: str, where: str) -> list[str | None]:
    """Split one CSV record (which may span lines) into values; None for an unquoted empty field."""
    fields: list[str | None] = []
    position, end = 0, len(record)
    while True:
        match = _CSV_FIELD.match(record, position)
        if match is None:  # pragma: no cover - the pattern matches the empty string
            raise DataException(f"malformed CSV at {where}")
        quoted, plain = match.group(1), match.group(2)
        fields.append(quoted.replace('""', '"') if quoted is not None else (plain or None))
        position = match.end()
        if position == end:
            return fields
        if record[position] != ",":
            raise DataException(f"malformed CSV at {where}", detail=f"Unexpected character after field "
                                f"{len(fields)}: {record[position]!r}.", hint="Quote fields that contain quotes.")
        position += 1


def csv_records(text_lines: Iterable[str], skip: int, where: str) -> Iterator[tuple[int, str]]:
    """(line number where the record starts, composite literal) for each CSV record."""
    number, start, pending, quotes = 0, 0, [], 0
    for line in text_lines:
        number += 1
        if number <= skip:
            continue
        if not pending:
            start = number
        pending.append(line)
        quotes += line.count('"')
        if quotes % 2:  # inside a quoted field that goes on to the next line
            continue
        record = "\n".join(pending) if len(pending) > 1 else line
        pending, quotes = [], 0
        if "(" in record or ")" in record:
            literal = "(" + ",".join(quote_field(v) for v in csv_fields(record, f"{where} line {start}")) + ")"
        elif "\\" in record:
            literal = "(" + record.replace("\\", "\\\\") + ")"
        else:
            literal = "(" + record + ")"
        yield start, literal
    if pending:
        raise DataException(f"unterminated quoted CSV field at {where} line {start}",
                            hint="A quoted field must end with a quote before the end of the file.")


def _unescape_text(field: str) -> str:
    def replace(match: re.Match[str]) -> str:
        octal, hexa, char = match.groups()
        if octal is not None:
            return chr(int(octal, 8))
        if hexa is not None:
            return chr(int(hexa, 16))
        return _TEXT_SIMPLE.get(char, char)

    return _TEXT_ESCAPE.sub(replace, field)


def text_fields(line: str) -> list[str | None]:
    """One COPY-text line: tab-separated, \\N for NULL, backslash escapes."""
    return [None if f == "\\N" else (_unescape_text(f) if "\\" in f else f) for f in line.split("\t")]


def text_records(text_lines: Iterable[str], skip: int) -> Iterator[tuple[int, str]]:
    """(line number, composite literal) for each COPY-text line; `\\.` ends the data, as in COPY."""
    for number, line in enumerate(text_lines, start=1):
        if number <= skip:
            continue
        if line == "\\.":
            return
        yield number, "(" + ",".join(quote_field(v) for v in text_fields(line)) + ")"


def literal_fields(literal: str) -> list[str | None]:
    """Split a composite literal `(f1,f2,...)` back into values (for naming the field a type refuses)."""
    body, fields, i = literal[1:-1], [], 0
    value: list[str] = []
    quoted = was_quoted = False
    while i < len(body):
        ch = body[i]
        if ch == "\\" and i + 1 < len(body):
            value.append(body[i + 1])
            i += 2
            continue
        if ch == '"':
            if quoted and body[i + 1:i + 2] == '"':
                value.append('"')
                i += 2
                continue
            quoted, was_quoted = not quoted, True
        elif ch == "," and not quoted:
            fields.append("".join(value) if value or was_quoted else None)
            value, was_quoted = [], False
        else:
            value.append(ch)
        i += 1
    fields.append("".join(value) if value or was_quoted else None)
    return fields
