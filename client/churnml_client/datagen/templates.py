"""The English templates of generated messages and transcripts, read once from templates.toml.

The file holds the words; this module checks its shape (every tone, every turn, only
known {fields}) so that a mistake in it is an error naming the file, not a KeyError
in the middle of generating a million texts.
"""

from __future__ import annotations

import re
import string
import tomllib
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

DATA_FILE = Path(__file__).resolve().with_name("templates.toml")

# The {fields} a template may use, in the order texts.slot_values fills them.
SLOTS: tuple[str, ...] = (
    "amount", "bill", "minutes", "got", "feature", "days", "country", "place", "months", "calls",
    "wait", "weekday", "month", "agent", "nth",
)  # fmt: skip
MESSAGE_TONES: tuple[str, ...] = ("angry", "complaint", "mixed", "neutral", "positive")
TRANSCRIPT_TONES: tuple[str, ...] = ("negative", "mixed", "neutral", "positive")
TRANSCRIPT_TURNS = 5  # after the agent's opening: customer, agent, customer, agent, customer
MAX_VARIANTS = 15  # per transcript turn: texts.py numbers a turn's variants in one hex digit, 0 = not spoken
# The [slots] word lists; `ordinal` fills {nth}.
VOCABULARIES: tuple[str, ...] = ("feature", "country", "place", "weekday", "month", "agent", "ordinal")


@dataclass(frozen=True)
class Templates:
    messages: dict[str, tuple[str, ...]]  # per message tone
    greetings: tuple[str, ...]
    closings: dict[str, tuple[str, ...]]  # per message tone
    agent_opening: tuple[str, ...]
    turns: dict[str, tuple[tuple[str, ...], ...]]  # per transcript tone, TRANSCRIPT_TURNS lists of variants
    words: dict[str, tuple[str, ...]]  # per VOCABULARIES name


class TemplateError(ValueError):
    """templates.toml is not what the generator needs."""


@cache
def templates() -> Templates:
    """The checked contents of templates.toml (read on first use)."""
    return read(DATA_FILE)


def read(path: Path) -> Templates:
    try:
        with path.open("rb") as file:
            document = tomllib.load(file)
        messages, transcripts = document["messages"], document["transcripts"]
        loaded = Templates(
            messages=_lists(messages["templates"], MESSAGE_TONES, "messages.templates"),
            greetings=_texts(messages["greetings"], "messages.greetings"),
            closings=_lists(messages["closings"], MESSAGE_TONES, "messages.closings"),
            agent_opening=_texts(transcripts["agent_opening"], "transcripts.agent_opening"),
            turns={
                tone: _turns(turns, f"transcripts.turns.{tone}")
                for tone, turns in _keyed(transcripts["turns"], TRANSCRIPT_TONES, "transcripts.turns").items()
            },
            words=_lists(document["slots"], VOCABULARIES, "slots"),
        )
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise TemplateError(f"{path}: {exc}") from None
    except KeyError as exc:
        raise TemplateError(f"{path}: missing {exc}") from None
    except TemplateError as exc:
        raise TemplateError(f"{path}: {exc}") from None
    return loaded


def _keyed(table: Any, keys: tuple[str, ...], where: str) -> dict[str, Any]:
    if not isinstance(table, dict) or set(table) != set(keys):
        found = sorted(table) if isinstance(table, dict) else type(table).__name__
        raise TemplateError(f"[{where}] must have exactly {', '.join(keys)}; found {found}")
    return {key: table[key] for key in keys}


def _lists(table: Any, keys: tuple[str, ...], where: str) -> dict[str, tuple[str, ...]]:
    return {key: _texts(texts, f"{where}.{key}") for key, texts in _keyed(table, keys, where).items()}


def _turns(turns: Any, where: str) -> tuple[tuple[str, ...], ...]:
    if not isinstance(turns, list) or len(turns) != TRANSCRIPT_TURNS:
        raise TemplateError(f"{where} must be {TRANSCRIPT_TURNS} lists of lines, one per turn")
    checked = tuple(_texts(variants, f"{where}[{i}]") for i, variants in enumerate(turns))
    for i, variants in enumerate(checked):
        if len(variants) > MAX_VARIANTS:
            raise TemplateError(f"{where}[{i}] has {len(variants)} lines; at most {MAX_VARIANTS}")
    return checked


def _texts(texts: Any, where: str) -> tuple[str, ...]:
    if not isinstance(texts, list) or not texts or not all(isinstance(t, str) and t for t in texts):
        raise TemplateError(f"{where} must be a non-empty list of non-empty strings")
    for text in texts:
        try:
            fields = [
                (field, spec, conversion)
                for _, field, spec, conversion in string.Formatter().parse(text)
                if field is not None
            ]
        except ValueError as exc:
            raise TemplateError(f"{where}: {text!r}: {exc}") from None
        for field, spec, conversion in fields:
            if field not in SLOTS or spec or conversion:
                raise TemplateError(f"{where}: {text!r}: {{{field}}} is not one of the fields {{{'}, {'.join(SLOTS)}}}")
    return tuple(texts)


_SLOT_RE = re.compile(r"\{(\w+)\}")


def compile_template(template: str) -> str:
    """'{amount}' -> '{0}': positional fields (SLOTS order) measured ~1.7x faster than keywords."""
    return _SLOT_RE.sub(lambda m: f"{{{SLOTS.index(m.group(1))}}}", template)


def message_templates(tone: str) -> tuple[str, ...]:
    """The raw templates of one message tone (for tests and documentation)."""
    return templates().messages[tone]
