"""Reading a spool file while COPY is still writing it, and listening to the backend meanwhile.

The export upload helper (churnml_loaders.upload_helper) reads export_query's spool
file as it grows: `SpoolFollower.read(n)` returns n bytes once COPY has written them,
and the rest once the backend has said COPY is done and how long the file is.
`Backend` is the helper's end of the conversation on its stdin; while waiting for
data it is polled, so a backend that gives up (closes the pipe, or dies) stops the
upload within one poll, not when the file would have been complete.
Standard library only, no plpy: this runs in the helper process.
"""

from __future__ import annotations

import json
import os
import select
import time
from dataclasses import dataclass
from typing import Any

from churnml_loaders.errors import DataException, LoaderError

POLL_SECONDS = 0.005  # how long to wait for COPY to write more: ~300 KB at COPY's pace
_READ_BYTES = 1 << 16


class ExportAbandoned(LoaderError):
    """The backend closed the pipe before committing: its statement failed, was cancelled, or it exited."""

    sqlstate = "57014"  # query_canceled: nobody sees it, the backend reports its own error


@dataclass(frozen=True)
class CopyEnd:
    """What the backend says when COPY has returned: the spool file's final size and row count."""

    size: int
    rows: int


class Backend:
    """The backend's messages on `fd` (JSON lines), read without blocking."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        os.set_blocking(fd, False)
        self._buffer = b""
        self._messages: list[dict[str, Any]] = []
        self.eof = False
        self.end: CopyEnd | None = None
        self.end_at: float | None = None  # when the end message came (time.monotonic)
        self.committed = False

    def poll(self, timeout: float) -> None:
        """Take in what the backend sent within `timeout` seconds; raise ExportAbandoned on end of input
        before the commit."""
        if not self.eof:
            ready, _, _ = select.select([self.fd], [], [], timeout)
            if ready:
                self._read_available()
        if self.eof and not self.committed:
            raise ExportAbandoned("the backend abandoned the export")

    def next_message(self) -> dict[str, Any]:
        """Block until the next message (the job, or the commit)."""
        while not self._messages:
            self.poll(1.0)
        return self._messages.pop(0)

    def _read_available(self) -> None:
        while True:
            try:
                data = os.read(self.fd, _READ_BYTES)
            except BlockingIOError:
                break
            if not data:
                self.eof = True
                break
            self._buffer += data
        *lines, self._buffer = self._buffer.split(b"\n")
        for line in lines:
            if line.strip():
                self._take(json.loads(line))

    def _take(self, message: dict[str, Any]) -> None:
        if "end" in message:  # kept as state: the follower asks for it, nobody waits for it
            self.end = CopyEnd(int(message["end"]["size"]), int(message["end"]["rows"]))
            self.end_at = time.monotonic()
            return
        if message.get("commit") is True:
            self.committed = True
        self._messages.append(message)


class SpoolFollower:
    """A spool file read from the start while COPY appends to it."""

    def __init__(self, path: str, backend: Backend) -> None:
        self.fd = os.open(path, os.O_RDONLY)
        self.backend = backend
        self.position = 0
        self.behind_at_end: int | None = None  # bytes still to read when COPY's end was first seen

    def read(self, want: int) -> bytes:
        """`want` bytes once COPY has written them; fewer (b"" at the end) only once COPY is done."""
        while True:
            self.backend.poll(0)
            end = self.backend.end
            if end is not None and self.behind_at_end is None:
                self.behind_at_end = end.size - self.position
            limit = end.size if end is not None else os.fstat(self.fd).st_size
            available = limit - self.position
            if available >= want or end is not None:
                if available < 0:
                    raise DataException("the spool file is shorter than COPY said",
                                        detail=f"COPY wrote {limit} bytes, {self.position} were read.")
                return self._pread(min(want, available))
            self.backend.poll(POLL_SECONDS)

    def _pread(self, n: int) -> bytes:
        parts = []
        while n > 0:
            data = os.pread(self.fd, n, self.position)
            if not data:
                raise DataException("the spool file ended early", detail=f"At byte {self.position}.")
            parts.append(data)
            self.position += len(data)
            n -= len(data)
        return b"".join(parts) if len(parts) != 1 else parts[0]

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1
