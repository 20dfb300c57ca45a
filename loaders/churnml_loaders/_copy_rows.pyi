"""Types of _copy_rows.c (built by make)."""

from typing_extensions import Buffer

def scan(data: Buffer, fmt: str, /) -> tuple[int, int, int]: ...
