"""SQL area: plain text helpers."""

from __future__ import annotations

from typing import Any

from churnml.sql_api.entry import entry
from churnml.text.sentences import first_sentence as _first_sentence


@entry
def first_sentence(plpy: Any, text: str | None) -> str | None:
    return _first_sentence(text)
