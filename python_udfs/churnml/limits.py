"""Limits on what one call parses in Python.

Arrays are checked in C before PL/Python converts them (churnml._checked_batch and
churnml.predict: extension/core/limits.c, predict.c). A JSON argument arrives as one
text, cheap to measure before it is parsed: recommend_incentive's customer and
rule_set_cost's sentiment_mix are checked here.
"""

from __future__ import annotations

from collections.abc import Sequence

from churnml.errors import ProgramLimitExceeded

# A customer row is a few hundred bytes; 1 MB leaves room for wide rows and bounds what one
# call parses. A constant, checked before the text is parsed: no SPI call on the hot path.
MAX_JSON_ARGUMENT_BYTES = 1024 * 1024


def text_size(texts: Sequence[str | None]) -> int:
    """Bytes of the texts in UTF-8 (the server's size of them, give or take headers)."""
    return sum(len(t) if t.isascii() else len(t.encode("utf-8", "surrogatepass"))
               for t in texts if isinstance(t, str))


def check_json_argument(text: str | None, what: str, hint: str) -> None:
    """Refuse (54000) a JSON argument over MAX_JSON_ARGUMENT_BYTES, before it is parsed."""
    if text is None or len(text) <= MAX_JSON_ARGUMENT_BYTES // 4:  # 4 bytes a character at most
        return
    size = text_size([text])
    if size > MAX_JSON_ARGUMENT_BYTES:
        raise ProgramLimitExceeded(
            f"{what} is {_megabytes(size)} of JSON, more than one call takes",
            detail=f"{what} is at most {_megabytes(MAX_JSON_ARGUMENT_BYTES)}.", hint=hint)


def _megabytes(size: int) -> str:
    return f"{size / (1024 * 1024):.1f} MB"
