"""churnml_client.copy_out: COPY TO STDOUT in batches, and the two-thread pipe `churnml export` uses."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator

import psycopg
import pytest
from psycopg import sql

from churnml_client.copy_out import copy_out_batches, pipelined

QUERY = sql.SQL("COPY (SELECT i, repeat('x', i % 50) FROM generate_series(1, 20000) AS i) TO STDOUT (FORMAT csv{})")


def test_batches_hold_whole_rows_and_every_row(conn: psycopg.Connection) -> None:
    with conn.cursor().copy(QUERY.format(sql.SQL(""))) as copy:
        expected = b"".join(bytes(m) for m in copy)
    batches = list(copy_out_batches(conn, QUERY.format(sql.SQL("")), batch_bytes=10_000))
    assert b"".join(b for b, _ in batches) == expected
    assert sum(n for _, n in batches) == 20000 and len(batches) > 10
    assert all(b.endswith(b"\n") and b.count(b"\n") == n for b, n in batches)
    header, *rest = copy_out_batches(conn, QUERY.format(sql.SQL(", HEADER")), first_apart=True)
    assert header == (b"i,repeat\n", 1) and sum(n for _, n in rest) == 20000


def test_a_server_error_midway_is_raised_and_the_connection_stays_usable(conn: psycopg.Connection) -> None:
    failing = sql.SQL("COPY (SELECT i, 1 / (i - 15000) FROM generate_series(1, 20000) AS i) TO STDOUT (FORMAT csv)")
    seen = 0
    with pytest.raises(psycopg.errors.DivisionByZero):
        for _, n in copy_out_batches(conn, failing, batch_bytes=1000):
            seen += n
    assert 0 < seen < 15000
    assert conn.execute("SELECT 41 + 1").fetchone() == (42,)


def test_a_statement_that_is_not_copy_to_stdout_is_refused_by_name(conn: psycopg.Connection) -> None:
    # psycopg's result status is an int: the message names it through pq.ExecStatus (was AttributeError)
    with pytest.raises(psycopg.ProgrammingError, match="the server answered TUPLES_OK"):
        list(copy_out_batches(conn, sql.SQL("SELECT 1")))
    assert conn.execute("SELECT 41 + 1").fetchone() == (42,)


def test_stopping_early_cancels_the_copy(conn: psycopg.Connection) -> None:
    batches = copy_out_batches(conn, QUERY.format(sql.SQL("")), batch_bytes=1000)
    next(batches)
    batches.close()
    assert conn.execute("SELECT 41 + 1").fetchone() == (42,)


def test_the_pipe_consumes_in_another_thread_and_stops_on_either_side_failing() -> None:
    consumer_threads: set[str] = set()

    def total(items: Iterator[int], check: Callable[[], None]) -> int:
        check()
        consumer_threads.add(threading.current_thread().name)
        return sum(items)

    assert pipelined(iter(range(1000)), total) == sum(range(1000))
    assert threading.current_thread().name not in consumer_threads

    read = []

    def numbers() -> Iterator[int]:
        for i in range(10_000):
            read.append(i)
            yield i

    def fussy(items: Iterator[int], check: Callable[[], None]) -> None:
        for i in items:
            if i == 5:
                raise ValueError("five")

    with pytest.raises(ValueError, match="five"):
        pipelined(numbers(), fussy)
    assert len(read) < 100  # the reading stopped soon after the consumer failed

    undone = []

    def failing_source() -> Iterator[int]:
        yield 1
        raise KeyError("source")

    def careful(items: Iterator[int], check: Callable[[], None]) -> None:
        try:
            list(items)
        except KeyError:
            undone.append(True)
            raise

    with pytest.raises(KeyError):
        pipelined(failing_source(), careful)
    assert undone == [True]  # the consumer saw the source's error and could undo its work


def test_ctrl_c_while_the_consumer_finishes_makes_it_undo_rather_than_be_cut_off() -> None:
    import signal
    import time

    undone = []

    def slow_finish(items: Iterator[int], check: Callable[[], None]) -> None:
        list(items)
        time.sleep(0.3)  # e.g. the last upload, while the reading side already waits
        try:
            check()  # the export writer's before_commit
        except KeyboardInterrupt:
            undone.append(True)
            raise

    main = threading.main_thread().ident
    assert main is not None
    threading.Timer(0.1, signal.pthread_kill, (main, signal.SIGINT)).start()  # Ctrl-C, to the main thread
    with pytest.raises(KeyboardInterrupt):
        pipelined(iter(range(3)), slow_finish)
    assert undone == [True]
