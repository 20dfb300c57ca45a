"""Sentence splitting for live chats: what did the customer say first?

Rules: a sentence ends at '.', '!', '?' or '…' (repeated or not, optionally followed
by closing quotes or brackets) when whitespace and then an upper-case letter, a
digit, a quote or the end of text follows, or at a line break. A period does not end
a sentence after a common abbreviation (Mr., Dr., e.g., ...), after a single
initial (J.), or between digits (3.5). Only the first `SCAN_LIMIT` characters are
looked at, so a 1 MB message costs what a short one does.
"""

from __future__ import annotations

import re

SCAN_LIMIT = 5_000
ABBREVIATIONS = frozenset({
    "mr", "mrs", "ms", "dr", "prof", "sr", "jr", "st", "vs", "etc", "e.g", "i.e", "approx", "dept", "no",
    "a.m", "p.m", "inc", "ltd", "co", "corp", "jan", "feb", "mar", "apr", "jun", "jul", "aug", "sep", "sept",
    "oct", "nov", "dec", "mon", "tue", "wed", "thu", "fri", "sat", "sun", "u.s",
})
_END = re.compile(r"([.!?…]+)([\"'”’)\]]*)(?=\s+[\"'“‘(\[]?[A-Z0-9]|\s*$)|\n+")
_WORD_BEFORE = re.compile(r"([A-Za-z][A-Za-z.]*)$")


def _is_abbreviation(text: str, end: int) -> bool:
    match = _WORD_BEFORE.search(text[:end])
    if match is None:
        return False
    word = match.group(1).lower().rstrip(".")
    return word in ABBREVIATIONS or (len(word) == 1 and word.isalpha())


def sentences(text: str) -> list[str]:
    """The sentences of `text` (its first SCAN_LIMIT characters), stripped, in order."""
    head = text[:SCAN_LIMIT]
    found: list[str] = []
    start = 0
    for match in _END.finditer(head):
        if match.group(0).startswith(".") and match.group(1) == "." and _is_abbreviation(head, match.start()):
            continue
        piece = head[start:match.end()].strip()
        if piece:
            found.append(piece)
        start = match.end()
    rest = head[start:].strip()
    if rest:
        found.append(rest)
    return found


def first_sentence(text: str | None) -> str | None:
    """The first sentence; NULL for NULL, '' for empty or whitespace-only text."""
    if text is None:
        return None
    parts = sentences(text)
    return parts[0] if parts else ""
