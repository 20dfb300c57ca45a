"""`COPY ... TO STDOUT` read in batches of rows, uploaded by a second thread: `churnml export`'s pipe.

libpq hands COPY data over one row at a time. Through psycopg's Copy object each row
costs a few microseconds of Python (its generator and wait machinery), which makes
the client, not the server, the bottleneck of an export. Here libpq is asked for rows
in a tight loop until about 1 MiB is gathered, and the batches go to the export
writer in another thread: its hashing and sending release the GIL, so uploads run
while the next rows arrive (the server's COPY on one core, this process on the other).
"""

from __future__ import annotations

import contextlib
import queue
import select
import threading
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import psycopg
from psycopg import pq, sql

BATCH_BYTES = 1 << 20
QUEUE_BATCHES = 8  # batches read ahead of the uploads at most: memory stays constant

T = TypeVar("T")
R = TypeVar("R")


def copy_out_batches(conn: psycopg.Connection, statement: sql.Composable, *, batch_bytes: int = BATCH_BYTES,
                     first_apart: bool = False) -> Iterator[tuple[bytes, int]]:
    """The data of `COPY ... TO STDOUT` (csv or text: one message per row) as (bytes, rows)
    batches of about `batch_bytes`; first_apart: the first message (the header line) is a batch
    of its own. A server error raises psycopg's exception for it. Closed early, the COPY is
    cancelled and its rest discarded, so the connection can be used again."""
    pgconn = conn.pgconn
    with conn.lock:
        conn.wait(_start(pgconn, statement.as_bytes(conn)))
        finished = False
        try:
            buffer = bytearray()
            rows = 0
            get = pgconn.get_copy_data
            while True:
                nbytes, data = get(1)
                if nbytes > 0:
                    buffer += data
                    rows += 1
                    if len(buffer) >= batch_bytes or first_apart:
                        first_apart = False
                        yield bytes(buffer), rows
                        buffer.clear()
                        rows = 0
                elif nbytes == 0:  # nothing buffered: wait for the server (GIL released), take what came
                    select.select([pgconn.socket], [], [])
                    pgconn.consume_input()
                else:  # -1: the end of the data (-2: the connection failed; the result says how)
                    break
            if buffer:
                yield bytes(buffer), rows
            finished = True
        finally:
            if not finished:
                _abandon(conn)
        _finish(pgconn)


def _abandon(conn: psycopg.Connection) -> None:
    """Stop a COPY TO STDOUT midway: cancel it on the server and drain what is still coming."""
    pgconn = conn.pgconn
    with contextlib.suppress(Exception):
        conn.cancel_safe(timeout=5)
    with contextlib.suppress(Exception):
        while pgconn.get_copy_data(0)[0] >= 0:
            pass
        while pgconn.get_result() is not None:
            pass


def _start(pgconn: Any, command: bytes) -> Any:
    """A psycopg generator: send the COPY, wait for its COPY_OUT answer."""
    from psycopg.generators import execute

    pgconn.send_query(command)
    results = yield from execute(pgconn)
    result = results[-1]
    if result.status != pq.ExecStatus.COPY_OUT:
        raise psycopg.errors.error_from_result(result, encoding=pgconn._encoding) \
            if result.status == pq.ExecStatus.FATAL_ERROR else \
            psycopg.ProgrammingError("expected COPY TO STDOUT, the server answered "
                                     f"{pq.ExecStatus(result.status).name}")
    return result


def _finish(pgconn: Any) -> None:
    """After the data: COPY's own result (an error if the query failed midway)."""
    error: psycopg.Error | None = None
    while (result := pgconn.get_result()) is not None:
        if result.status == pq.ExecStatus.FATAL_ERROR and error is None:
            error = psycopg.errors.error_from_result(result, encoding=pgconn._encoding)
    if error is None and pgconn.status != pq.ConnStatus.OK:
        error = psycopg.OperationalError(pgconn.get_error_message())
    if error is not None:
        raise error


class _Failed:
    def __init__(self, exc: BaseException) -> None:
        self.exc = exc


_DONE = object()


def pipelined(items: Iterator[T], consume: Callable[[Iterator[T], Callable[[], None]], R]) -> R:
    """consume(items, check) with `items` read in this thread and consumed in another, at most
    QUEUE_BATCHES apart. A failure on either side stops both: the reading side's error reaches
    `consume` as an exception from its iterator (so it can undo its work), `consume`'s error
    stops the reading; the first error is raised here. A Ctrl-C once the reading is done makes
    `check()` raise KeyboardInterrupt in the consuming thread, where `consume` calls it (the
    export writer: before its manifest), so the work is undone rather than cut off."""
    handoff: queue.Queue[Any] = queue.Queue(QUEUE_BATCHES)
    outcome: dict[str, Any] = {}
    stop = threading.Event()
    interrupted = threading.Event()

    def received() -> Iterator[T]:
        while True:
            item = handoff.get()
            if item is _DONE:
                return
            if isinstance(item, _Failed):
                raise item.exc
            yield item

    def check() -> None:
        if interrupted.is_set():
            raise KeyboardInterrupt

    def run() -> None:
        try:
            outcome["result"] = consume(received(), check)
        except BaseException as exc:  # noqa: BLE001 - handed to the calling thread
            outcome["error"] = exc
        finally:
            stop.set()

    worker = threading.Thread(target=run, name="churnml-export-upload", daemon=True)
    worker.start()

    def put(item: Any) -> bool:
        while not stop.is_set():
            try:
                handoff.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    try:
        for item in items:
            if not put(item):
                break  # the consuming side failed: stop reading
        else:
            put(_DONE)
    except BaseException as exc:
        put(_Failed(exc))
        _join(worker, stop, interrupted)
        raise
    finally:
        close = getattr(items, "close", None)
        if close is not None:
            close()  # a generator stopped early cleans up now (copy_out_batches cancels its COPY)
    _join(worker, stop, interrupted)
    if "error" in outcome:
        raise outcome["error"]
    return outcome["result"]


def _join(worker: threading.Thread, stopped: threading.Event, interrupted: threading.Event) -> None:
    """Wait for the consuming thread. A first Ctrl-C asks it to stop at its next check (and so
    to undo its work); a second one stops waiting. (Waiting on an Event, not in Thread.join:
    Python 3.11.2's join, interrupted, takes the thread for ended while it still runs.)"""
    while not stopped.is_set():
        try:
            stopped.wait()
        except KeyboardInterrupt:
            if interrupted.is_set():
                raise
            interrupted.set()
    worker.join()
