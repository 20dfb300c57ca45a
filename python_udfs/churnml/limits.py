"""The batch limits: how many texts, and how much text, one batch call takes.

`churnml.max_batch_texts` and `churnml.max_batch_size` are server parameters defined by
churnml.so (extension/core/limits.c) that only a superuser, or a role granted SET on
them, can change. A call over either limit is refused before any work (54000), so no
churnml_user can make a backend hold or grind through an unbounded request; within the
limits, batch functions work in bounded chunks and stream their rows.

Inside a backend the values come from churnml._limits() (C: calling it loads churnml.so,
which defines the parameters, so a value a user SET before is refused); outside one (unit
tests) the defaults apply.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from churnml import interrupts
from churnml.errors import ProgramLimitExceeded

DEFAULT_MAX_TEXTS = 100_000
DEFAULT_MAX_BYTES = 64 * 1024 * 1024

def current() -> tuple[int, int]:
    """(max texts, max bytes) in force for this call (one SPI call: batch calls only)."""
    if not interrupts.in_backend():
        return DEFAULT_MAX_TEXTS, DEFAULT_MAX_BYTES
    import plpy

    from churnml.spi import prepared

    row = plpy.execute(prepared(plpy, "limits", "SELECT max_batch_texts, max_batch_size FROM churnml._limits()",
                                []))[0]
    return int(row["max_batch_texts"]), int(row["max_batch_size"])


def text_size(texts: Sequence[str | None]) -> int:
    """Bytes of the texts in UTF-8 (the server's size of them, give or take headers)."""
    return sum(len(t) if t.isascii() else len(t.encode("utf-8", "surrogatepass"))
               for t in texts if isinstance(t, str))


def check_batch(texts: Sequence[Any], what: str = "input_texts") -> None:
    """Refuse (54000) a batch over churnml.max_batch_texts or churnml.max_batch_size."""
    max_texts, max_bytes = current()
    if len(texts) > max_texts:
        raise ProgramLimitExceeded(
            f"{what} has {len(texts)} elements, more than one call takes",
            detail=f"churnml.max_batch_texts is {max_texts}.",
            hint="Pass the texts in several calls (e.g. by ranges of ids); a superuser can raise "
                 "churnml.max_batch_texts.")
    size = text_size(texts)
    if size > max_bytes:
        raise ProgramLimitExceeded(
            f"{what} holds {_megabytes(size)} of text, more than one call takes",
            detail=f"churnml.max_batch_size is {_megabytes(max_bytes)}.",
            hint="Pass the texts in several calls; a superuser can raise churnml.max_batch_size.")


# A JSON argument of one call (recommend_incentive's customer, rule_set_cost's sentiment_mix):
# a customer row is a few hundred bytes; 1 MB leaves room for wide rows and bounds what one
# call parses. A constant, checked before the text is parsed: no SPI call on the hot path.
MAX_JSON_ARGUMENT_BYTES = 1024 * 1024


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
