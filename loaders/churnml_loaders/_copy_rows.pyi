"""Types of _copy_rows.c (built by setup.py)."""

from typing_extensions import Buffer

def scan(data: Buffer, fmt: str, quote: int = ..., escape: int = ..., mb: str = ..., /) -> tuple[int, int, int]: ...
