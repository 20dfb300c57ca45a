"""Text handling shared by both engines: the length cap, the language check, clause splitting.

Everything here is plain `re` and runs in microseconds, because the lexicon engine calls
it once per text on its hot path.
"""

from __future__ import annotations

import re

from churnml.errors import InvalidParameter

# Texts are cut to their first MAX_CHARS characters (code points) before any other work,
# so a pasted log or a 1 MB blob costs no more than a 4,000-character text. Customer
# messages are far shorter (a long complaint e-mail is ~2,000 characters), so the cap
# changes nothing for them. 4,000 characters are ~1,000 word pieces: four encoder windows
# plus, for dense text, ~75 clauses for the MIXED rule; measured on one core (busy
# 2-core machine, UCI sentences run together): ~0.9 s, against ~1.1 s for 5,000 and
# ~0.45 s for 2,000. 4,000 keeps the worst case well inside a 2 s budget on a loaded
# machine. Sentiment that only shows after the cap is ignored: the price of bounded cost.
MAX_CHARS = 4000

SUPPORTED_LANGUAGES: tuple[str, ...] = ("en",)
# 'en', or 'en' with a region ('en-US', 'en_GB', 'EN-au'): both engines are English-only
# and region makes no difference to either, so every English variant is accepted.
_LANGUAGE = re.compile(r"^\s*([A-Za-z]{2,3})(?:[-_][A-Za-z0-9]{1,8})*\s*$")

# A text is split into sentences (after ., !, ?, ; and at line breaks), and each sentence
# at contrastive conjunctions. "but also", "nothing but", "anything but" and "all but"
# are not contrasts. Commas alone never split: "As a customer of 10 years, I am
# disappointed" is one opinion.
SENTENCE_END = re.compile(r"(?<=[.!?;])\s+|[\r\n]+")
_CONTRAST = re.compile(
    r"[\s,;:\-–—]*\b(?:"
    r"(?<!\bnothing )(?<!\banything )(?<!\ball )but(?!\s+also\b)"
    r"|however|although|even though|though|whereas|nevertheless|nonetheless|on the other hand|except that"
    r")\b[\s,:]*",
    re.IGNORECASE,
)
# A sentence that opens with a concessive ("Although the staff were nice, my line is
# still dead.") contrasts its first comma-delimited clause with the rest.
_CONCESSIVE_START = re.compile(r"^\s*(?:although|even though|though|while|whereas|despite)\b[\s,]*", re.IGNORECASE)
# Anything that may split: a superset test (plain substring checks, ~1 µs), so most
# one-clause texts skip the regular expressions below. _MAY_SPLIT_AT itself is exact: it
# matches a text if and only if SENTENCE_END does.
_MAY_SPLIT_AT = re.compile(r"[.!?;]\s|[\r\n]")
_MAY_SPLIT_WORDS: tuple[str, ...] = (
    "but", "however", "though", "whereas", "nevertheless", "nonetheless", "on the other hand", "except that",
    "while", "despite",
)  # fmt: skip
# The words each splitting pattern needs (lower case, ASCII): a sentence without one of them
# cannot split there, so the pattern is not run (`mixed_clauses`, ASCII text only, where
# str.lower agrees with re.IGNORECASE).
_CONTRAST_WORDS: tuple[str, ...] = (
    "but", "however", "though", "whereas", "nevertheless", "nonetheless", "on the other hand", "except that",
)  # fmt: skip
_CONCESSIVE_WORDS: tuple[str, ...] = ("though", "while", "whereas", "despite")
_WORD = re.compile(r"[^\W_]+(?:'[^\W_]+)?")
# Greetings and sign-offs made only of these words are courtesy, not an opinion, and never
# count as a clause for MIXED ("My bill is wrong again. Thanks in advance.").
_COURTESY = frozenset(
    (
        "hi", "hello", "hey", "dear", "good", "morning", "afternoon", "evening", "thanks", "thank", "you",
        "thx", "ty", "so", "very", "much", "lot", "a", "in", "advance", "please", "regards", "kind", "best",
        "wishes", "cheers", "sincerely", "all", "the", "team", "again",
    )
)
# A clause needs at least this many words to count (a lone "Ok." or "Really?" says too little).
MIN_CLAUSE_WORDS = 2


def cap(text: str) -> str:
    """The part of `text` that is analysed: its first MAX_CHARS characters."""
    return text[:MAX_CHARS] if len(text) > MAX_CHARS else text


def normalize_language(language: str | None) -> str:
    """The supported language code for `language`, or InvalidParameter."""
    match = _LANGUAGE.match(language) if isinstance(language, str) else None
    code = match.group(1).lower() if match else None
    if code not in SUPPORTED_LANGUAGES:
        raise InvalidParameter(
            f"unsupported sentiment language: {language!r}",
            detail="Supported language codes: " + ", ".join(SUPPORTED_LANGUAGES) + " (with any region, e.g. en-US).",
            hint="Pass language_code => 'en'; other languages need their own model, which churnml does not ship.",
        )
    return code


def mixed_clauses(text: str) -> list[str]:
    """The clauses of `text` that take part in the MIXED rule (`result`), or [] if fewer than two.

    Sentences and contrastive clauses; a concessive sentence is also split at its first
    comma. Clauses shorter than MIN_CLAUSE_WORDS words or made only of greeting/courtesy
    words are dropped.
    """
    lowered = text.lower()
    # _MAY_SPLIT_AT matches exactly where SENTENCE_END would split.
    breaks = _MAY_SPLIT_AT.search(text) is not None
    if not breaks and not any(word in lowered for word in _MAY_SPLIT_WORDS):
        return []  # the common one-clause message
    # Most multi-sentence messages ("Hi. My bill is wrong.") have no contrastive word at
    # all; skipping those regular expressions then halves the cost of the split. Non-ASCII
    # text always runs them: re.IGNORECASE matches a few non-ASCII letters (e.g. 'ı' for
    # 'i') that str.lower does not map.
    ascii_text = text.isascii()
    contrast = not ascii_text or any(word in lowered for word in _CONTRAST_WORDS)
    concessive = not ascii_text or any(word in lowered for word in _CONCESSIVE_WORDS)
    out: list[str] = []
    for sentence in SENTENCE_END.split(text) if breaks else (text,):
        opening = _CONCESSIVE_START.match(sentence) if concessive else None
        pieces = sentence[opening.end() :].split(",", 1) if opening else [sentence]
        for piece in pieces:
            if contrast:
                out.extend(_counted(part) for part in _CONTRAST.split(piece))
            else:
                out.append(_counted(piece))
    kept = [part for part in out if part]
    return kept if len(kept) >= 2 else []


def _counted(piece: str) -> str:
    """`piece` stripped, or '' when it is too short or only courtesy."""
    words = _WORD.findall(piece)
    if len(words) < MIN_CLAUSE_WORDS or all(word.lower() in _COURTESY for word in words):
        return ""
    return piece.strip(" \t,;:-–—")
