"""Read and check COPY's options text, as Aurora's aws_s3 functions and churnml's loaders take it:

    '(format csv, header true)'   'format csv, delimiter $$:$$'   'DELIMITER ''|'' CSV HEADER'
    'format text, encoding WIN1253'   '(format csv, force_quote (id, "Name"), null E''\\\\N'')'

Both spellings COPY accepts are read: the option list (`name [value], ...`, parenthesised or
not, a value being a word, a number, a 'literal' with '' inside, an E'...' string with
backslash escapes, a $$dollar$$ or $tag$ quoted string, `*` or a parenthesised list), and
the older keywords (`CSV HEADER DELIMITER [AS] ',' FORCE QUOTE a, b ...`). Keywords are
case-insensitive, unquoted words are folded to lower case and "quoted" ones kept, as
PostgreSQL's parser does. Every option is checked as COPY checks it, and before COPY
sees it, so an error names the option and where it stands in the text (42601 for what
cannot be read, 22023 for a value COPY would refuse); the text itself never reaches SQL:
the loaders hand COPY the parsed values (`copy_items`), and COPY checks them again.

What needs the database is checked by the caller with the parsed values: that an
encoding name is one PostgreSQL knows (`check_encoding`), that the force_* lists name
columns of the COPY (`check_columns`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

from churnml_loaders.errors import FeatureNotSupported, InvalidParameter, LoaderError


class CopyOptionSyntaxError(LoaderError):
    """COPY options text that cannot be read (42601, as the parser reports it)."""

    sqlstate = "42601"  # syntax_error


class UnsupportedCopyOption(FeatureNotSupported):
    """A COPY option churnml's loaders cannot honour (0A000): only `freeze true`."""


class CopyColumnNotFound(LoaderError):
    """A force_* list names a column the COPY does not have (42P10, as COPY reports it)."""

    sqlstate = "42P10"  # invalid_column_reference


FORMATS = ("text", "csv", "binary")
# Every option PostgreSQL 15's COPY takes, in the order COPY's documentation lists them.
OPTIONS = ("format", "freeze", "delimiter", "null", "header", "quote", "escape", "force_quote", "force_not_null",
           "force_null", "encoding")
LIST_OPTIONS = ("force_quote", "force_not_null", "force_null")
# Encodings whose multibyte characters may contain bytes of ASCII characters (PostgreSQL's
# client-only encodings): a CSV scanner must step over their characters, as COPY does.
ASCII_EMBEDDING = ("SJIS", "BIG5", "GBK", "UHC", "GB18030", "JOHAB")
_TRUE = {"true", "on", "1", "yes", "t", "y"}  # PostgreSQL's boolean spellings (parse_bool)
_FALSE = {"false", "off", "0", "no", "f", "n"}
_HINT = "Write them as COPY does, e.g. '(format csv, header true, delimiter '';'')'."


@dataclass(frozen=True)
class CopyOptions:
    """The options, as given; None where COPY's default applies (`delimiter` and the rest)."""

    format: str = "text"
    header: bool = False
    header_match: bool = False  # import only: the header line must name the columns loaded
    delimiter: str | None = None
    null: str | None = None
    quote: str | None = None
    escape: str | None = None
    encoding: str | None = None  # as written until check_encoding gives PostgreSQL's name for it
    force_quote: tuple[str, ...] = ()
    force_quote_all: bool = False  # force_quote *
    force_not_null: tuple[str, ...] = ()
    force_null: tuple[str, ...] = ()
    text: str = field(default="", compare=False)  # the options as written, for errors
    positions: dict[str, int] = field(default_factory=dict, compare=False, repr=False)  # option -> character

    @property
    def csv(self) -> bool:
        return self.format == "csv"

    @property
    def quote_char(self) -> str:
        """The CSV quote in effect ('"' by default)."""
        return self.quote if self.quote is not None else '"'

    @property
    def escape_char(self) -> str:
        """The CSV escape in effect (the quote by default)."""
        return self.escape if self.escape is not None else self.quote_char

    @property
    def embeds_ascii(self) -> bool:
        """Whether the file's encoding has multibyte characters with ASCII bytes in them."""
        return (self.encoding or "").upper() in ASCII_EMBEDDING

    @property
    def defaults_only(self) -> bool:
        """Nothing but format, header and force_quote *: COPY's defaults otherwise."""
        return (self.delimiter, self.null, self.quote, self.escape, self.encoding) == (None,) * 5 and \
            not (self.force_quote or self.force_not_null or self.force_null or self.header_match)

    def copy_items(self) -> list[tuple[str, str | None]]:
        """The options for churnml's COPY functions (churnml._copy_to_spool, _copy_from_spool),
        as (name, value) pairs; a list option has a pair per column, and force_quote * the
        value None. format and header are not among them: the loaders write and drop
        header lines themselves (but `header match`, which COPY checks)."""
        items: list[tuple[str, str | None]] = []
        for name in ("delimiter", "null", "quote", "escape", "encoding"):
            value = getattr(self, name)
            if value is not None:
                items.append((name, value))
        if self.header_match:
            items.append(("header", "match"))
        if self.force_quote_all:
            items.append(("force_quote", None))
        for name in LIST_OPTIONS:
            items.extend((name, column) for column in getattr(self, name))
        return items

    def flat_items(self) -> list[str | None]:
        """copy_items as one flat array, [name, value, name, value, ...], as the C functions take it."""
        return [part for item in self.copy_items() for part in item]

    # ---- checks that need the database -----------------------------------------------
    def check_encoding(self, canonical: Callable[[str], str | None]) -> CopyOptions:
        """With `encoding` as PostgreSQL names it; `canonical(name)` is the server's name for an
        encoding name (pg_char_to_encoding, which knows every alias), or None when it knows none."""
        if self.encoding is None:
            return self
        name = canonical(self.encoding)
        if not name:
            raise self._invalid("encoding", f"COPY option encoding: \"{_shown(self.encoding)}\" is not an encoding "
                                "PostgreSQL knows",
                                hint="Name one of PostgreSQL's encodings, e.g. UTF8, LATIN1, WIN1252, WIN1253, "
                                     "SJIS (SELECT pg_encoding_to_char(i) FROM generate_series(0, 41) i).")
        return replace(self, encoding=name)

    def check_columns(self, columns: Sequence[str], what: str) -> None:
        """Every column a force_* list names is one of `columns` (those of `what`)."""
        for name in LIST_OPTIONS:
            for column in getattr(self, name):
                if column not in columns:
                    shown = ", ".join(f'"{c}"' for c in columns[:50]) or "none"
                    raise CopyColumnNotFound(
                        f"COPY option {name} names column \"{_shown(column)}\", which is not a column of {what}",
                        detail=f"{self._where(name)} The columns are {shown}.",
                        hint="Names are exact (case included); unquoted names are folded to lower case, so "
                             "write \"Name\" in double quotes for a column with capitals.")

    def _where(self, name: str) -> str:
        at = self.positions.get(name)
        return f"At character {at} of the options: {_shown(self.text)}." if at else f"Options: {_shown(self.text)}."

    def _invalid(self, name: str, message: str, hint: str | None = None) -> InvalidParameter:
        return InvalidParameter(message, detail=self._where(name), hint=hint)


def _shown(text: str, limit: int = 300) -> str:
    """Text for a message: control characters escaped (a tab delimiter shows as \\t), cut."""
    shown = "".join(ch if ch.isprintable() or ch == " " else ascii(ch)[1:-1] for ch in text[:limit])
    return shown[:limit] + ("…" if len(shown) > limit or len(text) > limit else "")


# ---- reading the text ------------------------------------------------------------------
@dataclass(frozen=True)
class _Token:
    kind: str  # word, quoted (a "quoted identifier"), string, number, punct
    value: str  # words folded to lower case, strings and quoted names unescaped
    at: int  # 1-based character position in the text
    raw: str


_WORD = re.compile(r"[A-Za-z_\u0080-\U0010ffff][A-Za-z0-9_$\u0080-\U0010ffff]*")
_NUMBER = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_DOLLAR = re.compile(r"\$([A-Za-z_\u0080-\U0010ffff][A-Za-z0-9_\u0080-\U0010ffff]*)?\$")
_OCTAL = re.compile(r"[0-7]{1,3}")
_HEX = re.compile(r"[0-9A-Fa-f]{1,2}")
_E_ESCAPES = {"b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t"}


def _syntax(message: str, text: str, at: int, hint: str | None = _HINT) -> CopyOptionSyntaxError:
    return CopyOptionSyntaxError(message, detail=f"At character {at} of the options: {_shown(text)}.", hint=hint)


def _quoted(text: str, start: int, quote: str) -> tuple[str, int]:
    """The body of a '...' or "..." at `start` (doubled quotes inside), and the index after it."""
    parts, i = [], start + 1
    while True:
        end = text.find(quote, i)
        if end < 0:
            what = "string" if quote == "'" else "quoted name"
            raise _syntax(f"the COPY options have an unterminated {what}", text, start + 1)
        parts.append(text[i:end])
        if text.startswith(quote, end + 1):
            parts.append(quote)
            i = end + 2
        else:
            return "".join(parts), end + 1


def _e_string(body: str, text: str, at: int) -> str:
    """An E'...' string's escapes, as PostgreSQL reads them (\\n, \\t, \\ooo, \\xhh, \\uXXXX, ...)."""
    out, i = [], 0
    while i < len(body):
        ch = body[i]
        if ch != "\\" or i + 1 == len(body):
            out.append(ch)
            i += 1
            continue
        nxt = body[i + 1]
        if nxt in _E_ESCAPES:
            out.append(_E_ESCAPES[nxt])
            i += 2
        elif (m := _OCTAL.match(body, i + 1)) is not None:
            out.append(chr(int(m.group(), 8)))
            i = m.end()
        elif nxt == "x" and (m := _HEX.match(body, i + 2)) is not None:
            out.append(chr(int(m.group(), 16)))
            i = m.end()
        elif nxt in "uU":
            digits = 4 if nxt == "u" else 8
            code = body[i + 2:i + 2 + digits]
            if len(code) != digits or not all(c in "0123456789abcdefABCDEF" for c in code) or \
                    int(code, 16) > 0x10FFFF or 0xD800 <= int(code, 16) <= 0xDFFF:
                raise _syntax(f"invalid Unicode escape in an E'' string of the COPY options: \\{nxt}{code}",
                              text, at, hint=f"\\{nxt} takes {digits} hexadecimal digits of a Unicode character.")
            out.append(chr(int(code, 16)))
            i += 2 + digits
        else:
            out.append(nxt)
            i += 2
    value = "".join(out)
    if "\x00" in value:
        raise _syntax("an E'' string of the COPY options contains a zero byte", text, at, hint=None)
    return value


def _tokens(text: str) -> list[_Token]:
    tokens: list[_Token] = []
    i = 0
    while i < len(text):
        ch = text[i]
        if ch.isspace():
            i += 1
            continue
        start = i
        if ch in "Ee" and text.startswith("'", i + 1):
            body, i = _quoted(text, i + 1, "'")
            tokens.append(_Token("string", _e_string(body, text, start + 1), start + 1, text[start:i]))
        elif ch == "'":
            body, i = _quoted(text, i, "'")
            tokens.append(_Token("string", body, start + 1, text[start:i]))
        elif ch == '"':
            body, i = _quoted(text, i, '"')
            if body == "":
                raise _syntax("the COPY options have a zero-length quoted name (\"\")", text, start + 1, hint=None)
            tokens.append(_Token("quoted", body, start + 1, text[start:i]))
        elif ch == "$" and (m := _DOLLAR.match(text, i)) is not None:
            tag = m.group()
            end = text.find(tag, m.end())
            if end < 0:
                raise _syntax(f"the COPY options have an unterminated {tag}-quoted string", text, start + 1)
            i = end + len(tag)
            tokens.append(_Token("string", text[m.end():end], start + 1, text[start:i]))
        elif (m := _NUMBER.match(text, i)) is not None and (ch.isdigit() or ch in "+-."):
            i = m.end()
            tokens.append(_Token("number", m.group(), start + 1, m.group()))
        elif (m := _WORD.match(text, i)) is not None:
            i = m.end()
            word = m.group()
            # PostgreSQL folds ASCII letters of unquoted names; other characters stay
            tokens.append(_Token("word", word.translate(_ASCII_LOWER), start + 1, word))
        elif ch in "(),*":
            i += 1
            tokens.append(_Token("punct", ch, start + 1, ch))
        else:
            raise _syntax(f"the COPY options cannot be read at \"{_shown(text[i:i + 30])}\"", text, start + 1)
    return tokens


_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


@dataclass
class _Item:
    name: str
    at: int
    value: list[_Token]  # empty: no value; a list value keeps its parentheses


# COPY's older keywords (copy_opt_item in PostgreSQL's grammar).
_OLD_KEYWORDS = {"binary", "csv", "freeze", "header", "delimiter", "null", "quote", "escape", "encoding", "force",
                 "oids"}


def _generic_list(tokens: list[_Token], text: str) -> list[_Item]:
    """`name [value], ...`, with or without the surrounding parentheses."""
    if tokens[0].value == "(" and tokens[0].kind == "punct":
        if tokens[-1].kind != "punct" or tokens[-1].value != ")":
            raise _syntax("the COPY options open a parenthesis they do not close", text, tokens[0].at)
        tokens = tokens[1:-1]
        if not tokens:
            raise _syntax("the COPY options' parentheses are empty", text, 1, hint="Leave the options NULL or ''.")
    items: list[_Item] = []
    i = 0
    while i < len(tokens):
        name = tokens[i]
        if name.kind not in ("word", "quoted"):
            raise _syntax(f"a COPY option must start with its name, not {_shown(name.raw)}", text, name.at)
        i += 1
        value: list[_Token] = []
        while i < len(tokens) and not (tokens[i].kind == "punct" and tokens[i].value == ","):
            token = tokens[i]
            if token.kind == "punct" and token.value == "(":
                close = next((j for j in range(i + 1, len(tokens))
                              if tokens[j].kind == "punct" and tokens[j].value in "()"), None)
                if close is None or tokens[close].value != ")":
                    raise _syntax(f"COPY option {name.value}'s list opens a parenthesis it does not close",
                                  text, token.at)
                value.extend(tokens[i:close + 1])
                i = close + 1
                continue
            if token.kind == "punct" and token.value == ")":
                raise _syntax("the COPY options close a parenthesis they did not open", text, token.at)
            value.append(token)
            i += 1
        if len(value) > 1 and value[0].value != "(":
            raise _syntax(f"COPY option {name.value} takes one value, not {_shown(' '.join(t.raw for t in value))}",
                          text, value[1].at, hint="Separate options with commas, and quote values with spaces "
                                                  "in them: delimiter ';', null 'n/a'.")
        items.append(_Item(name.value, name.at, value))
        if i < len(tokens):  # a comma
            if i + 1 == len(tokens):
                raise _syntax("the COPY options end with a comma", text, tokens[i].at)
            i += 1
    return items


def _old_style(tokens: list[_Token], text: str) -> list[_Item]:
    """COPY's older keywords: CSV, BINARY, FREEZE, HEADER, DELIMITER [AS] 'x', NULL [AS] 'x', QUOTE [AS] 'x',
    ESCAPE [AS] 'x', ENCODING 'x', FORCE QUOTE {* | a, b}, FORCE NOT NULL a, b, FORCE NULL a, b."""
    items: list[_Item] = []
    i = 0
    while i < len(tokens):
        token = tokens[i]
        word = token.value if token.kind == "word" else None
        i += 1
        if word in ("csv", "binary"):
            items.append(_Item("format", token.at, [_Token("word", word, token.at, token.raw)]))
        elif word in ("header", "freeze"):
            items.append(_Item(word, token.at, []))
        elif word in ("delimiter", "null", "quote", "escape", "encoding"):
            if word != "encoding" and i < len(tokens) and tokens[i].kind == "word" and tokens[i].value == "as":
                i += 1
            # the grammar wants a 'string'; a bare word or number (encoding WIN1253) is read too
            if i >= len(tokens) or tokens[i].kind == "punct":
                at = tokens[i].at if i < len(tokens) else len(text)
                raise _syntax(f"COPY option {word.upper()} needs a value, e.g. {word.upper()} ';'", text, at)
            items.append(_Item(word, token.at, [tokens[i]]))
            i += 1
        elif word == "force":
            kind = [t.value for t in tokens[i:i + 2] if t.kind == "word"]
            if kind[:1] == ["quote"]:
                name, i = "force_quote", i + 1
            elif kind[:2] == ["not", "null"]:
                name, i = "force_not_null", i + 2
            elif kind[:1] == ["null"]:
                name, i = "force_null", i + 1
            else:
                raise _syntax("FORCE must be followed by QUOTE, NOT NULL or NULL", text, token.at)
            if name == "force_quote" and i < len(tokens) and tokens[i].value == "*" and tokens[i].kind == "punct":
                items.append(_Item(name, token.at, [tokens[i]]))
                i += 1
                continue
            columns: list[_Token] = []
            while i < len(tokens) and tokens[i].kind in ("word", "quoted"):
                columns.append(tokens[i])
                i += 1
                if i < len(tokens) and tokens[i].kind == "punct" and tokens[i].value == ",":
                    i += 1
                    continue
                break
            if not columns:
                at = tokens[i].at if i < len(tokens) else len(text)
                raise _syntax(f"FORCE {name[6:].replace('_', ' ').upper()} needs column names", text, at)
            listed: list[_Token] = [_Token("punct", "(", token.at, "(")]
            for column in columns:
                listed += [column, _Token("punct", ",", column.at, ",")]
            items.append(_Item(name, token.at, [*listed[:-1], _Token("punct", ")", token.at, ")")]))
        elif word == "oids":
            raise _syntax("COPY option OIDS is not PostgreSQL's any more (gone in PostgreSQL 12)", text, token.at,
                          hint="Leave it out.")
        else:
            raise _syntax(f"COPY option \"{_shown(token.raw)}\" not recognized", text, token.at,
                          hint="COPY's options are " + ", ".join(OPTIONS) + ".")
    return items


def _is_old_style(tokens: list[_Token]) -> bool:
    """The older keywords never contain a comma outside FORCE's column list, never start with a
    parenthesis, and have a keyword (not a value) in second place: `header true` is the new style."""
    first = tokens[0]
    if first.kind != "word" or first.value not in _OLD_KEYWORDS:
        return False
    force = next((i for i, t in enumerate(tokens) if t.kind == "word" and t.value == "force"), len(tokens))
    if any(t.kind == "punct" and t.value == "," for t in tokens[:force]):
        return False
    if len(tokens) >= 2 and first.value in ("header", "freeze", "csv", "binary"):
        second = tokens[1]
        return second.kind == "word" and second.value in _OLD_KEYWORDS
    return True


# ---- checking the values ------------------------------------------------------------------
class _Checker:
    def __init__(self, text: str, direction: str) -> None:
        self.text = text
        self.direction = direction
        self.positions: dict[str, int] = {}

    def where(self, name: str) -> str:
        return f"At character {self.positions[name]} of the options: {_shown(self.text)}."

    def invalid(self, name: str, message: str, hint: str | None = None) -> InvalidParameter:
        return InvalidParameter(message, detail=self.where(name), hint=hint)

    def syntax(self, name: str, message: str, hint: str | None = _HINT) -> CopyOptionSyntaxError:
        return CopyOptionSyntaxError(message, detail=self.where(name), hint=hint)

    def single(self, item: _Item) -> _Token:
        if not item.value:
            raise self.syntax(item.name, f"COPY option {item.name} needs a value")
        if item.value[0].kind == "punct":
            raise self.syntax(item.name, f"COPY option {item.name} takes one value, not "
                                         f"{_shown(' '.join(t.raw for t in item.value))}")
        return item.value[0]

    def text_value(self, item: _Item) -> str:
        token = self.single(item)
        if "\x00" in token.value:
            raise self.invalid(item.name, f"COPY option {item.name} cannot contain a zero byte")
        return token.value

    def boolean(self, item: _Item, *, match_ok: bool = False) -> bool | str:
        if not item.value:
            return True
        token = self.single(item)
        word = token.value.lower() if token.kind != "quoted" else token.value
        if word in _TRUE:
            return True
        if word in _FALSE:
            return False
        if match_ok and word == "match":
            return "match"
        choices = "true, false or match" if match_ok else "true or false"
        raise self.invalid(item.name, f"COPY option {item.name} must be {choices}, not {_shown(token.raw)}",
                           hint="PostgreSQL's booleans: true/false, on/off, yes/no, 1/0.")

    def columns(self, item: _Item) -> tuple[str, ...] | None:
        """A column list, or None for `*`."""
        value = item.value
        if len(value) == 1 and value[0].kind == "punct" and value[0].value == "*":
            return None
        if not value:
            raise self.syntax(item.name, f"COPY option {item.name} needs a column list, e.g. {item.name} (id, name)")
        inner = value[1:-1] if value[0].value == "(" and value[0].kind == "punct" else value
        names: list[str] = []
        expect_name = True
        for token in inner:
            if expect_name and token.kind in ("word", "quoted", "string"):
                names.append(token.value)
            elif not expect_name and token.kind == "punct" and token.value == ",":
                pass
            else:
                raise CopyOptionSyntaxError(
                    f"COPY option {item.name}'s column list cannot be read at {_shown(token.raw)}",
                    detail=f"At character {token.at} of the options: {_shown(self.text)}.",
                    hint=f"Write {item.name} (a, \"B\", c): names separated by commas, in parentheses.")
            expect_name = not expect_name
        if not names or expect_name:
            raise self.syntax(item.name, f"COPY option {item.name} needs a column list, e.g. {item.name} (id, name)")
        duplicate = next((n for i, n in enumerate(names) if n in names[:i]), None)
        if duplicate is not None:
            raise self.invalid(item.name, f"COPY option {item.name} names column \"{_shown(duplicate)}\" twice")
        return tuple(names)


def parse(text: str | None, *, direction: str, default_format: str = "text") -> CopyOptions:
    """The options of an export (`direction` 'export', COPY TO) or an import ('import', COPY FROM);
    `default_format` is the format when the text names none (COPY's is text)."""
    if direction not in ("export", "import"):
        raise ValueError(f"direction must be export or import, not {direction!r}")
    text = text or ""
    if len(text) > 10_000:
        raise InvalidParameter(f"the COPY options are {len(text)} characters long",
                               detail="COPY's options take a few dozen characters; at most 10,000 are read.",
                               hint=_HINT)
    tokens = _tokens(text)
    if not tokens:
        return CopyOptions(format=default_format, text=text)
    items = _old_style(tokens, text) if _is_old_style(tokens) else _generic_list(tokens, text)
    check = _Checker(text, direction)
    given: dict[str, _Item] = {}
    for item in items:
        if item.name not in OPTIONS:
            check.positions[item.name] = item.at
            raise check.syntax(item.name, f"COPY option \"{_shown(item.name)}\" not recognized",
                               hint="COPY's options are " + ", ".join(OPTIONS) + ".")
        if item.name in given:
            raise CopyOptionSyntaxError(f"COPY option {item.name} is given twice",
                                        detail=f"At characters {given[item.name].at} and {item.at} of the options: "
                                               f"{_shown(text)}.", hint="Give each option once.")
        given[item.name] = item
        check.positions[item.name] = item.at
    return _checked(given, check, text, default_format)


def _checked(given: dict[str, _Item], check: _Checker, text: str, fmt: str) -> CopyOptions:
    """PostgreSQL 15's ProcessCopyOptions, BeginCopyTo and BeginCopyFrom checks, in their order."""
    values: dict[str, object] = {}
    if "format" in given:
        fmt = check.text_value(given["format"]).lower()
        if fmt not in FORMATS:
            raise check.invalid("format", f"COPY format \"{_shown(fmt)}\" not recognized",
                                hint="COPY's formats are text, csv and binary.")
    if "freeze" in given and check.boolean(given["freeze"]):
        # PL/Python runs each statement of churnml's loaders in a subtransaction, and COPY FREEZE
        # needs the table created or truncated in the same one: it would always refuse.
        raise UnsupportedCopyOption("COPY option freeze is not supported by churnml's loaders",
                                    detail=check.where("freeze"),
                                    hint="Leave freeze out (or write freeze false); VACUUM FREEZE the table after the "
                                         "load instead.")
    for name in ("delimiter", "null", "quote", "escape", "encoding"):
        if name in given:
            values[name] = check.text_value(given[name])
    header: bool | str = check.boolean(given["header"], match_ok=True) if "header" in given else False
    for name in LIST_OPTIONS:
        if name in given:
            values[name] = check.columns(given[name])
    csv, binary = fmt == "csv", fmt == "binary"
    delimiter, null = values.get("delimiter"), values.get("null")
    assert delimiter is None or isinstance(delimiter, str)
    assert null is None or isinstance(null, str)
    # the same rules, in the same order, as COPY; the messages add where the option stands
    if binary and "delimiter" in given:
        raise check.invalid("delimiter", "COPY option delimiter is not possible with format binary",
                            hint="Leave delimiter out with format binary.")
    if binary and "null" in given:
        raise check.invalid("null", "COPY option null is not possible with format binary",
                            hint="Leave null out with format binary.")
    if delimiter is not None:
        if len(delimiter.encode("utf-8")) != 1:
            raise check.invalid("delimiter", f"COPY option delimiter must be a single one-byte character, "
                                f"not '{_shown(delimiter)}'", hint="Write e.g. delimiter '|' or delimiter E'\\t'.")
        if delimiter in "\r\n":
            raise check.invalid("delimiter", "COPY option delimiter cannot be a newline or carriage return")
        if not csv and delimiter in "\\.abcdefghijklmnopqrstuvwxyz0123456789":
            raise check.invalid("delimiter", f"COPY option delimiter cannot be '{_shown(delimiter)}' with format "
                                "text", hint="Text format reserves backslash, '.', lower-case letters and digits "
                                             "for its escapes; use another character, or format csv.")
    if null is not None and ("\r" in null or "\n" in null):
        raise check.invalid("null", "COPY option null cannot contain a newline or carriage return")
    if binary and header:
        raise check.invalid("header", "COPY option header is not possible with format binary",
                            hint="A binary COPY file has no lines; leave header out.")
    if not csv and "quote" in given:
        raise check.invalid("quote", f"COPY option quote is possible only with format csv, not {fmt}",
                            hint="Add format csv, or drop quote.")
    quote = values.get("quote")
    assert quote is None or isinstance(quote, str)
    if quote is not None and len(quote.encode("utf-8")) != 1:
        raise check.invalid("quote", f"COPY option quote must be a single one-byte character, not '{_shown(quote)}'")
    effective_delimiter = delimiter if delimiter is not None else ("," if csv else "\t")
    if csv and (quote if quote is not None else '"') == effective_delimiter:
        raise check.invalid("quote" if quote is not None else "delimiter",
                            "COPY's delimiter and quote must be different characters",
                            hint=f"Both are '{_shown(effective_delimiter)}'.")
    if not csv and "escape" in given:
        raise check.invalid("escape", f"COPY option escape is possible only with format csv, not {fmt}",
                            hint="Add format csv, or drop escape (text format's escape is always backslash).")
    escape = values.get("escape")
    assert escape is None or isinstance(escape, str)
    if escape is not None and len(escape.encode("utf-8")) != 1:
        raise check.invalid("escape", f"COPY option escape must be a single one-byte character, "
                                      f"not '{_shown(escape)}'")
    for name, only in (("force_quote", "export"), ("force_not_null", "import"), ("force_null", "import")):
        if name not in given:
            continue
        if not csv:
            raise check.invalid(name, f"COPY option {name} is possible only with format csv, not {fmt}",
                                hint=f"Add format csv, or drop {name}.")
        if check.direction != only:
            verb = "an export (COPY TO)" if only == "export" else "an import (COPY FROM)"
            raise check.invalid(name, f"COPY option {name} is possible only in {verb}",
                                hint=f"Drop {name}: " + ("it says how values are written."
                                                         if only == "export" else "it says how values are read."))
        if values[name] is None and name != "force_quote":
            raise check.syntax(name, f"COPY option {name} needs a column list, not *",
                               hint=f"Name the columns: {name} (a, b).")
    effective_null = null if null is not None else ("" if csv else "\\N")
    if effective_delimiter in effective_null and null is not None:
        raise check.invalid("null", "COPY's delimiter must not appear in the null string",
                            hint=f"The null string '{_shown(effective_null)}' contains the delimiter "
                                 f"'{_shown(effective_delimiter)}'.")
    if csv and (quote if quote is not None else '"') in effective_null and null is not None:
        raise check.invalid("null", "COPY's CSV quote character must not appear in the null string")
    if header == "match" and check.direction == "export":
        raise check.invalid("header", "COPY option header match is possible only in an import (COPY FROM)",
                            hint="Write header true: an export writes the column names.")
    encoding = values.get("encoding")
    assert encoding is None or isinstance(encoding, str)
    if encoding is not None and not encoding.strip():
        raise check.invalid("encoding", "COPY option encoding must name an encoding",
                            hint="Name one of PostgreSQL's encodings, e.g. UTF8, LATIN1, WIN1252.")
    force_quote = values.get("force_quote", ())
    return CopyOptions(
        format=fmt, header=bool(header), header_match=header == "match", delimiter=delimiter, null=null,
        quote=quote, escape=escape, encoding=encoding,
        force_quote=force_quote if isinstance(force_quote, tuple) else (),
        force_quote_all="force_quote" in given and force_quote is None,
        force_not_null=_names(values.get("force_not_null")), force_null=_names(values.get("force_null")),
        text=text, positions=dict(check.positions))


def _names(value: object) -> tuple[str, ...]:
    return value if isinstance(value, tuple) else ()
