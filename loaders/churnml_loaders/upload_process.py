"""The backend's side of export_query's upload helper (churnml_loaders.upload_helper).

    helper = UploadHelper.start(job)       # before COPY: it follows the spool file as COPY writes it
    ... COPY (query) TO the spool file ...
    helper.copy_finished(size, rows)
    rows, files, size = helper.result(check_interrupts)
    # on any failure in between: helper.stop() - it undoes the export, and is gone when stop returns

The helper runs as the server's OS user, in its own process group: a reload's SIGHUP
or pg_cancel_backend's SIGINT to the backend's group does not reach it; it learns of a
cancel, an error or the backend's death from the end of its input, and undoes the
export then. Credentials go in the job on its stdin, never in argv or its environment.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

import churnml_loaders
from churnml_loaders.errors import ExternalServiceError, LoaderError

STOP_SECONDS = 30.0     # how long a failed export waits for the helper to delete its parts
CHECK_SECONDS = 0.05    # how often the backend looks for a cancel while the helper finishes


class HelperError(LoaderError):
    """An error the helper reported: its SQLSTATE, message, detail and hint, as it raised them."""

    def __init__(self, sqlstate: str, message: str, detail: str | None, hint: str | None) -> None:
        super().__init__(message, detail=detail, hint=hint)
        self.sqlstate = sqlstate


def _interpreter() -> str:
    # The backend's embedded Python is the one whose packages the runtime holds.
    for candidate in (sys.executable, f"{sys.base_prefix}/bin/python{sys.version_info[0]}.{sys.version_info[1]}"):
        if candidate and os.access(candidate, os.X_OK) and Path(candidate).name.startswith("python"):
            return candidate
    raise ExternalServiceError("cannot find the Python interpreter to start export_query's upload helper",
                               detail=f"sys.executable is {sys.executable!r}.")


def _environment() -> dict[str, str]:
    """Just enough to import the loaders (and the runtime's packages beside them): nothing of the
    server's environment, which may hold AWS_* secrets."""
    root = str(Path(churnml_loaders.__file__).resolve().parents[1])
    return {"PYTHONPATH": root, "PATH": "/usr/bin:/bin", "LC_ALL": "C.UTF-8"}


class UploadHelper:
    def __init__(self, process: subprocess.Popen[bytes]) -> None:
        self.process = process
        self._stdin: IO[bytes] | None = process.stdin
        self._stdout: IO[bytes] = process.stdout  # type: ignore[assignment]  # PIPE
        self._lines: list[bytes] = []
        self._pending = b""
        self.peak_rss_kb: int | None = None  # the helper's, once it has answered
        self.outcome: dict[str, Any] | None = None  # its last line

    @classmethod
    def start(cls, job: dict[str, Any]) -> UploadHelper:
        # our own interpreter and module: no shell, nothing from the caller in argv
        try:
            process = subprocess.Popen(
                [_interpreter(), "-s", "-m", "churnml_loaders.upload_helper"],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=_environment(), close_fds=True,
                process_group=0, cwd="/")
        except OSError as exc:
            raise ExternalServiceError("cannot start export_query's upload helper process",
                                       detail=f"{exc.strerror or type(exc).__name__}.",
                                       hint="The server may be out of processes or memory; try again.") from None
        helper = cls(process)
        helper._send(job)
        return helper

    # ---- the conversation ---------------------------------------------------------------
    def _send(self, message: dict[str, Any]) -> bool:
        """False if the helper is gone (its answer says why)."""
        if self._stdin is None:
            return False
        try:
            self._stdin.write(json.dumps(message).encode() + b"\n")
            self._stdin.flush()
        except BrokenPipeError:
            return False
        return True

    def _next_line(self, timeout: float) -> bytes | None:
        """The helper's next line, b"" if it closed its output, None if nothing came within timeout."""
        while not self._lines:
            ready, _, _ = select.select([self._stdout], [], [], timeout)
            if not ready:
                return None
            data = os.read(self._stdout.fileno(), 1 << 16)
            if not data:
                return b""
            *lines, self._pending = (self._pending + data).split(b"\n")
            self._lines.extend(line for line in lines if line.strip())
        return self._lines.pop(0)

    def copy_finished(self, size: int, rows: int) -> None:
        self._send({"end": {"size": size, "rows": rows}})

    def result(self, check_interrupts: Callable[[], None]) -> tuple[int, int, int]:
        """Wait for the helper to finish: (rows, files, bytes). `check_interrupts` raises if the
        statement was cancelled meanwhile; once the helper is told to commit, nothing is checked."""
        committing = False
        while True:
            line = self._next_line(CHECK_SECONDS)
            if line is None:
                if not committing:
                    check_interrupts()
                continue
            if not line:
                self._reap(STOP_SECONDS)
                raise ExternalServiceError("export_query's upload helper ended without an answer",
                                           detail=f"Exit status {self.process.returncode}.",
                                           hint="The server log may say why.")
            message = json.loads(line)
            if "uploaded" in message:
                check_interrupts()  # the last moment a cancel can still undo the export
                committing = self._send({"commit": True})
                continue
            self._take_outcome(message)
            self._close_input()
            self._reap(STOP_SECONDS)
            if message.get("ok"):
                return int(message["rows"]), int(message["files"]), int(message["bytes"])
            error = self.reported_error()
            assert error is not None
            raise error

    def _take_outcome(self, message: dict[str, Any]) -> None:
        self.outcome = message
        self.peak_rss_kb = message.get("peak_rss_kb")

    def reported_error(self) -> HelperError | None:
        """The error the helper reported, if it failed (and said so)."""
        if self.outcome is None or self.outcome.get("ok"):
            return None
        error = self.outcome.get("error") or {}
        return HelperError(str(error.get("sqlstate") or "XX000"), str(error.get("message") or "upload failed"),
                           error.get("detail"), error.get("hint"))

    @property
    def interrupted_backend(self) -> bool:
        """Whether the helper may have sent the backend a SIGINT (see upload_helper)."""
        return bool(self.outcome and self.outcome.get("interrupts_backend"))

    # ---- ending -------------------------------------------------------------------------
    def _close_input(self) -> None:
        if self._stdin is not None:
            with contextlib.suppress(BrokenPipeError):
                self._stdin.close()
            self._stdin = None

    def _reap(self, seconds: float) -> bool:
        """Wait up to `seconds` for the helper to exit; kill it after that. True if it exited by itself."""
        try:
            self.process.wait(timeout=seconds)
            return True
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            return False
        finally:
            self._stdout.close()

    def stop(self) -> bool:
        """Undo the export (the helper aborts the upload in progress and deletes its parts) and wait
        for the helper to exit, taking in its last word. False if it had to be killed: parts may
        remain then."""
        if self.process.returncode is not None:
            return True
        self._close_input()
        deadline = time.monotonic() + STOP_SECONDS
        while self.outcome is None:  # its answer first: a helper blocked writing it would never exit
            line = self._next_line(max(0.0, deadline - time.monotonic()))
            if not line:  # closed, or out of time
                break
            message = json.loads(line)
            if "uploaded" not in message:
                self._take_outcome(message)
        return self._reap(max(0.0, deadline - time.monotonic()))
