"""Cancel, statement_timeout and pg_terminate_backend for long work in Python.

PostgreSQL's signal handlers only set flags (`InterruptPending`, then `QueryCancelPending`
or `ProcDiePending`); the flags take effect where the server's own code calls
CHECK_FOR_INTERRUPTS(). Python code in a PL/Python function never does, so a long loop
in churnml would run to its end whatever the client asked. `check()` is that call for
Python: it reads `InterruptPending` from the server's memory (`churnml.server`: well under a microsecond,
cheap enough between batches of any size) and, only when it is set, runs one tiny
statement through SPI, where the executor calls CHECK_FOR_INTERRUPTS(): the server then
does what it would do anywhere else, "canceling statement due to statement timeout"
(57014) or "terminating connection due to administrator command" included, and the
error unwinds the Python stack like any SPI error.

`Once(work).get()` makes a value that takes seconds to make and cannot be interrupted
from Python (importing torch and loading a model on a cold backend) in a helper thread,
checking every 50 ms while it waits, so a cancel is honoured at once; the load goes on
and its result is kept for the next call.

Outside a PostgreSQL backend (unit tests, the CLI) there is no `InterruptPending`
symbol: `check()` returns at once and `Once` calls `work()` directly.

In parallel mode (a parallel worker, or the leader while a parallel query runs) no SPI
statement may run through plpy: `check()` calls CHECK_FOR_INTERRUPTS() in churnml.so
instead (`churnml.parallel_read.check_interrupts`), which hands the error back to be raised.
A worker is stopped by its leader (a cancel of the leader's query terminates its workers), so
a worker sees a terminate here and exits.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable
from typing import Any, Generic, TypeVar

from churnml import server

T = TypeVar("T")

POLL_SECONDS = 0.05


def in_backend() -> bool:
    return server.in_backend()


def pending() -> bool:
    """Whether the server has an interrupt waiting (a cancel, a timeout, a terminate, ...)."""
    flag = server.interrupt_flag()
    return bool(flag) and flag.value != 0


_PLAN: list[Any] = []


def check() -> None:
    """Let the server act on a pending interrupt: raises its error (or exits) if one is due."""
    flag = server.interrupt_flag()
    if not flag or not flag.value:
        return
    if server.in_parallel_mode():
        from churnml.parallel_read import check_interrupts

        check_interrupts()
        return
    import plpy  # the PL/Python module: present whenever InterruptPending is

    if not _PLAN:
        # ExecResult calls CHECK_FOR_INTERRUPTS() before it returns its row
        _PLAN.append(plpy.prepare("SELECT 1"))
    plpy.execute(_PLAN[0])


class Pending(Generic[T]):
    """A call running in a helper thread: its result or exception once done."""

    def __init__(self, work: Callable[[], T]) -> None:
        self._work = work
        self._done = threading.Event()
        self._result: T | None = None
        self._error: BaseException | None = None
        # The helper thread must never run the server's signal handlers (they assume the
        # main thread): it starts with every signal blocked, inheriting this thread's mask
        # for the instant it takes to start it.
        everything = set(signal.valid_signals())
        previous = signal.pthread_sigmask(signal.SIG_BLOCK, everything)
        try:
            self._thread = threading.Thread(target=self._run, name="churnml-load", daemon=True)
            self._thread.start()
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, previous)

    def _run(self) -> None:
        try:
            self._result = self._work()
        except BaseException as exc:  # noqa: BLE001 - handed to the waiting thread as is
            self._error = exc
        finally:
            self._done.set()

    def done(self) -> bool:
        return self._done.is_set()

    def result(self) -> T:
        """Wait for the call, checking for interrupts every POLL_SECONDS."""
        while not self._done.wait(POLL_SECONDS):
            check()
        if self._error is not None:
            raise self._error
        return self._result  # type: ignore[return-value]  # set by the call when it raised nothing (T may be None)


class Once(Generic[T]):
    """A value made once per process (a model and the modules it needs), interruptibly.

    In a backend the first `get()` starts `work` in a helper thread and waits for it with
    `Pending.result`; a cancel ends that statement but not the load, whose result the
    next `get()` collects (or waits for again). A load that failed is tried again.
    """

    def __init__(self, work: Callable[[], T]) -> None:
        self._work = work
        self._value: T | None = None
        self._ready = False
        self._pending: Pending[T] | None = None

    def ready(self) -> bool:
        return self._ready

    def get(self) -> T:
        if self._ready:
            return self._value  # type: ignore[return-value]  # _ready: _value holds what work returned
        if not in_backend():
            value = self._work()
        else:
            if self._pending is None:
                self._pending = Pending(self._work)
            pending = self._pending
            try:
                value = pending.result()
            finally:
                if pending.done():
                    self._pending = None
        self._value, self._ready = value, True
        return value
