"""SQL area: plain text helpers."""

from __future__ import annotations

from churnml.spi import Plpy
from churnml.sql_api.entry import entry
from churnml.text.sentences import first_sentence as _first_sentence


@entry
def first_sentence(plpy: Plpy, text: str | None) -> str | None:
    return _first_sentence(text)
