"""Read the COPY options text that Aurora's aws_s3 functions take, e.g.

    '(format csv, header true)'    'format csv, delimiter '','''    'CSV HEADER'

Both spellings COPY accepts are read: the option list, parenthesised or not
(`name [value], ...`), and the older keywords (`CSV HEADER DELIMITER ','`). The
result says what churnml's loaders do with it, or raises an error that names the
option churnml does not support, so a migrated call never silently means
something else.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from churnml_loaders.errors import FeatureNotSupported, InvalidParameter


class UnsupportedCopyOption(FeatureNotSupported):
    """A COPY option churnml's loaders do not implement (0A000)."""


@dataclass(frozen=True)
class CopyOptions:
    format: str = "text"
    header: bool = False
    force_quote: bool = False  # export only: `force_quote *`, every non-NULL CSV value quoted


_TOKEN = re.compile(r"""\s*(?:
    (?P<string>[Ee]?'(?:[^']|'')*')
  | (?P<dollar>\$(?P<tag>[A-Za-z_]*)\$.*?\$(?P=tag)\$)
  | (?P<ident>"(?:[^"]|"")*"|[A-Za-z_][A-Za-z0-9_]*)
  | (?P<number>[+-]?[0-9]+(?:\.[0-9]+)?)
  | (?P<punct>[(),*])
)""", re.VERBOSE | re.DOTALL)

_ESCAPE = re.compile(r"\\(.)", re.DOTALL)
_ESCAPES = {"t": "\t", "n": "\n", "r": "\r", "b": "\b", "f": "\f"}
_TRUE = {"true", "on", "1", "yes", "t", "y"}
_FALSE = {"false", "off", "0", "no", "f", "n"}
_OLD_KEYWORDS = {"binary", "csv", "header", "delimiter", "null", "quote", "escape", "encoding", "force", "oids",
                 "freeze"}
_COPY_OPTIONS = {"format", "freeze", "delimiter", "null", "header", "quote", "escape", "force_quote",
                 "force_not_null", "force_null", "encoding", "force"}
# What churnml reads and writes: COPY's defaults for each format.
_DEFAULTS = {"delimiter": {"csv": ",", "text": "\t"}, "null": {"csv": "", "text": "\\N"},
             "quote": {"csv": '"'}, "escape": {"csv": '"'}}
_HINT = ("churnml's loaders read and write COPY's defaults for csv and text (delimiter, null, quote, escape, "
         "UTF8). Drop the option, or convert the file first; see docs/from-aurora.md.")


@dataclass(frozen=True)
class _Token:
    kind: str
    text: str

    @property
    def value(self) -> str:
        if self.kind == "string":
            if self.text[0] in "Ee":  # E'...': backslash escapes, as PostgreSQL reads them
                return _ESCAPE.sub(lambda m: _ESCAPES.get(m.group(1), m.group(1)), self.text[2:-1].replace("''", "'"))
            return self.text[1:-1].replace("''", "'")
        if self.kind == "dollar":
            tag_end = self.text.index("$", 1) + 1
            return self.text[tag_end:-tag_end]
        if self.kind == "ident" and self.text.startswith('"'):
            return self.text[1:-1].replace('""', '"')
        return self.text.lower() if self.kind == "ident" else self.text


def _tokens(text: str) -> list[_Token]:
    tokens, position = [], 0
    while position < len(text):
        if text[position:].strip() == "":
            break
        match = _TOKEN.match(text, position)
        if match is None:
            raise InvalidParameter(f"cannot read the COPY options at \"{text[position:].strip()[:30]}\"",
                                   detail=f"Options: {text}",
                                   hint="Write them as COPY does, e.g. '(format csv, header true)'.")
        kind = next(k for k in ("string", "dollar", "ident", "number", "punct") if match.group(k) is not None)
        tokens.append(_Token(kind, match.group(kind)))
        position = match.end()
    return tokens


def _option_list(tokens: list[_Token], text: str) -> list[tuple[str, list[_Token]]]:
    """`name [value], ...` with optional surrounding parentheses."""
    if tokens and tokens[0].text == "(":
        if tokens[-1].text != ")":
            raise InvalidParameter("the COPY options open a parenthesis they do not close", detail=f"Options: {text}")
        tokens = tokens[1:-1]
    items: list[tuple[str, list[_Token]]] = []
    current: list[_Token] = []
    depth = 0
    for token in [*tokens, _Token("punct", ",")]:
        if token.text == "(":
            depth += 1
        elif token.text == ")":
            depth -= 1
        if token.text == "," and depth == 0:
            if not current or current[0].kind != "ident":
                raise InvalidParameter("each COPY option must start with its name", detail=f"Options: {text}")
            items.append((current[0].value, current[1:]))
            current = []
        else:
            current.append(token)
    return items


def _old_style(tokens: list[_Token], text: str) -> list[tuple[str, list[_Token]]]:
    """COPY's older keywords: CSV, BINARY, HEADER, DELIMITER [AS] 'x', NULL [AS] 'x', ..."""
    items: list[tuple[str, list[_Token]]] = []
    i = 0
    while i < len(tokens):
        word = tokens[i].value if tokens[i].kind == "ident" else tokens[i].text
        i += 1
        if word in ("csv", "binary"):
            items.append(("format", [_Token("ident", word)]))
        elif word in ("header", "oids", "freeze"):
            items.append((word, []))
        elif word in ("delimiter", "null", "quote", "escape", "encoding"):
            if i < len(tokens) and tokens[i].kind == "ident" and tokens[i].value == "as":
                i += 1
            if i >= len(tokens):
                raise InvalidParameter(f"COPY option {word.upper()} needs a value", detail=f"Options: {text}")
            items.append((word, [tokens[i]]))
            i += 1
        elif word == "force":
            rest = tokens[i:]  # FORCE QUOTE * is force_quote *; FORCE NOT NULL ... is refused below
            if rest and rest[0].kind == "ident" and rest[0].value == "quote":
                items.append(("force_quote", rest[1:]))
            else:
                items.append(("force", rest))
            break
        else:
            raise InvalidParameter(f"unknown COPY option \"{word}\"", detail=f"Options: {text}",
                                   hint="Write them as COPY does, e.g. '(format csv, header true)'.")
    return items


def _boolean(name: str, value: list[_Token], text: str) -> bool:
    if not value:
        return True
    word = value[0].value.lower()
    if len(value) == 1 and word in _TRUE:
        return True
    if len(value) == 1 and word in _FALSE:
        return False
    raise InvalidParameter(f"COPY option {name} needs a boolean, not {' '.join(t.text for t in value)}",
                           detail=f"Options: {text}")


def parse(text: str | None, *, direction: str) -> CopyOptions:
    """The options of an export (`direction` 'export') or an import ('import')."""
    text = text or ""
    tokens = _tokens(text)
    if not tokens:
        return CopyOptions()
    first = tokens[0].value if tokens[0].kind == "ident" else tokens[0].text
    new_style = (tokens[0].text == "(" or any(t.text == "," for t in tokens) or first not in _OLD_KEYWORDS
                 or (first == "header" and len(tokens) == 2 and tokens[1].value.lower() in _TRUE | _FALSE))
    items = _option_list(tokens, text) if new_style else _old_style(tokens, text)
    fmt, header, force_quote = "text", False, False
    seen: set[str] = set()
    values: dict[str, str] = {}
    for name, value in items:
        if name in seen:
            raise InvalidParameter(f"COPY option {name} is given twice", detail=f"Options: {text}")
        seen.add(name)
        if name == "format":
            if len(value) != 1 or value[0].value.lower() not in ("text", "csv", "binary"):
                raise InvalidParameter("COPY option format must be text, csv or binary", detail=f"Options: {text}")
            fmt = value[0].value.lower()
        elif name == "header":
            if value and value[0].value.lower() == "match":
                raise UnsupportedCopyOption("COPY option header match is not supported by churnml",
                                            hint="Use header true: the first line is skipped.")
            header = _boolean(name, value, text)
        elif name in ("delimiter", "null", "quote", "escape", "encoding"):
            if len(value) != 1:
                raise InvalidParameter(f"COPY option {name} needs one value", detail=f"Options: {text}")
            values[name] = value[0].value
        elif name == "freeze" and not _boolean(name, value, text):
            continue
        elif name == "force_quote" and direction == "export":
            force_quote = _force_quote_all(value, text)
        elif name not in _COPY_OPTIONS:
            raise InvalidParameter(f"COPY option \"{name}\" not recognized", detail=f"Options: {text}",
                                   hint="COPY's options are " + ", ".join(sorted(_COPY_OPTIONS)) + ".")
        else:
            raise UnsupportedCopyOption(f"COPY option {name} is not supported by churnml", detail=f"Options: {text}",
                                        hint=_HINT)
    for name, value in values.items():
        if name == "encoding":
            if re.sub(r"[-_]", "", value).lower() != "utf8":
                raise UnsupportedCopyOption(f"COPY option encoding '{value}' is not supported by churnml",
                                            detail="churnml's loaders read and write UTF8 only.", hint=_HINT)
            continue
        default = _DEFAULTS[name].get(fmt)
        if value != default:
            shown = value.replace("\t", "\\t")
            raise UnsupportedCopyOption(f"COPY option {name} '{shown}' is not supported by churnml for format {fmt}",
                                        detail=f"Options: {text}", hint=_HINT)
    if fmt == "binary" and header:
        raise InvalidParameter("COPY option header is not possible with format binary",
                               detail="A binary COPY file has no lines.", hint="Leave header out with format binary.")
    if force_quote and fmt != "csv":
        # 0A000, as COPY's own "COPY force quote available only in CSV mode"
        raise UnsupportedCopyOption("COPY option force_quote is possible only with format csv",
                                    detail=f"Options: {text}", hint="Add format csv, or drop force_quote.")
    return CopyOptions(format=fmt, header=header, force_quote=force_quote)


def _force_quote_all(value: list[_Token], text: str) -> bool:
    """`force_quote *` (every non-NULL value quoted, as COPY's FORCE_QUOTE * writes it); a column list
    is refused: churnml's exports quote all columns or none."""
    if len(value) == 1 and value[0].text == "*":
        return True
    if not value:
        raise InvalidParameter("COPY option force_quote needs * or a column list", detail=f"Options: {text}",
                               hint="Write force_quote *.")
    raise UnsupportedCopyOption("COPY option force_quote with a column list is not supported by churnml",
                                detail=f"Options: {text}",
                                hint="Write force_quote * to quote every non-NULL value, or drop force_quote: "
                                     "values are then quoted where CSV needs it, as COPY's CSV does.")
