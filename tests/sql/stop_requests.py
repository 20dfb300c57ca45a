"""Run a statement, ask the server to stop it part way, and measure how long stopping took.

Shared by the cancel tests (test_interrupts, test_loader_interrupts, test_incentives,
test_parallel): `ask` (stop_request makes it)
is a statement_timeout already set (a no-op here), a pg_cancel_backend or a
pg_terminate_backend from another connection.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import psycopg
import pytest

ASK_AFTER = 0.8  # seconds: every statement these tests run takes far longer


def stop_request(conn: psycopg.Connection, url: str, how: str) -> Callable[[], None]:
    """What asks `conn`'s statement to stop, for run_until_asked: "statement_timeout" sets it on
    `conn` now (ASK_AFTER) and asks nothing more; "pg_cancel_backend" or "pg_terminate_backend"
    is sent from another connection to `url`."""
    if how == "statement_timeout":
        conn.execute(f"SET statement_timeout = '{int(ASK_AFTER * 1000)}ms'")
        return lambda: None
    if how not in ("pg_cancel_backend", "pg_terminate_backend"):
        raise ValueError(how)
    pid = conn.info.backend_pid

    def ask() -> None:
        with psycopg.connect(url, autocommit=True) as other:
            other.execute(f"SELECT pg_catalog.{how}(%s)", [pid])

    return ask


def run_until_asked(conn: psycopg.Connection, statement: str, ask: Callable[[], None],
                    params: tuple[object, ...] | None = None) -> tuple[psycopg.Error, float]:
    """Run `statement`; `ask` fires after ASK_AFTER s. Returns the error and the seconds it took to stop."""
    fired: list[float] = []

    def fire() -> None:
        fired.append(time.monotonic())
        ask()

    timer = threading.Timer(ASK_AFTER, fire)
    started = time.monotonic()
    timer.start()
    try:
        conn.execute(statement, params)
    except psycopg.Error as exc:
        ended = time.monotonic()
        timer.join()
        return exc, ended - (fired[0] if fired else started + ASK_AFTER)
    finally:
        timer.cancel()
    pytest.fail(f"{statement[:80]}... finished in {time.monotonic() - started:.2f} s, before it was asked to stop")
    raise AssertionError


def report(name: str, how: str, delay: float) -> None:
    """One line per measurement, shown with pytest -s."""
    print(f"\n  {name:<24} {how:<22} stopped {delay * 1000:6.0f} ms after the request", end="")
