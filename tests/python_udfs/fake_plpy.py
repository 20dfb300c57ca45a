"""Just enough of PL/Python's `plpy` to call entry points outside PostgreSQL: its
exception classes (the entry decorators re-raise or raise them) and collected NOTICEs."""

from __future__ import annotations


class FakePlpy:
    class SPIError(Exception):
        pass

    class Error(Exception):
        pass

    class Fatal(Exception):
        pass

    def __init__(self) -> None:
        self.notices: list[str] = []

    def notice(self, message: str) -> None:
        self.notices.append(message)
