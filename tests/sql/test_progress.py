"""Progress you can see: churnml.progress from other sessions, NOTICEs in the calling one.

A long training runs in one session (a thread); other sessions read churnml.progress
while it runs, as the superuser, as a role with pg_read_all_stats and as a role without
either (which sees only pid, database, user and operation, as pg_stat_progress_* shows
other users' backends). The running statement is then cancelled: progress updates must not
delay that, and its row goes. Files left by dead or earlier backends are never shown, and a
backend's file goes when the backend exits.
"""

from __future__ import annotations

import json
import os
import re
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql

# 10,000 small rounds (a few ms each): runs for tens of seconds unless stopped
SLOW_TRAIN = ("SELECT churnml.train('slow_progress', 'customers', 'churn', exclude => ARRAY['phone'], "
              "hyperparams => '{\"num_boost_round\": 10000, \"early_stopping_rounds\": 0, \"max_depth\": 3, "
              "\"eta\": 0.001}')")
ROLES = {"cm_progress_stats": "churnml_user, pg_read_all_stats", "cm_progress_other": "churnml_user"}
COLUMNS = "pid, datname, usename, operation, phase, done, total, unit, started, phase_started, updated"


@pytest.fixture(scope="module")
def telco(make_telco: Callable[..., str]) -> Iterator[str]:
    url = make_telco("progress", 2000, 23)
    with psycopg.connect(url, autocommit=True) as conn:
        for role, groups in ROLES.items():
            conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(role)))
            conn.execute(sql.SQL("CREATE ROLE {} NOLOGIN IN ROLE {}").format(
                sql.Identifier(role), sql.SQL(groups)))
    yield url
    with psycopg.connect(url, autocommit=True) as conn:
        for role in ROLES:
            conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(role)))


def _progress_dir(conn: psycopg.Connection) -> Path:
    return Path(conn.execute("SHOW data_directory").fetchone()[0]) / "pg_stat_tmp"


def _rows(conn: psycopg.Connection, pid: int, role: str | None = None) -> list[dict[str, Any]]:
    with conn.transaction():
        if role:
            conn.execute(sql.SQL("SET LOCAL ROLE {}").format(sql.Identifier(role)))
        cur = conn.execute(f"SELECT {COLUMNS} FROM churnml.progress WHERE pid = %s", (pid,))
        names = [d.name for d in cur.description]
        return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]


class Running:
    """A statement running in a thread on its own connection, cancellable, its error kept."""

    def __init__(self, url: str, statement: str) -> None:
        self.conn = psycopg.connect(url, autocommit=True)
        self.pid = self.conn.info.backend_pid
        self.error: psycopg.Error | None = None
        self.ended: float | None = None
        self.thread = threading.Thread(target=self._run, args=(statement,), daemon=True)
        self.thread.start()

    def _run(self, statement: str) -> None:
        try:
            self.conn.execute(statement)
        except psycopg.Error as exc:
            self.error = exc
        self.ended = time.monotonic()

    def close(self) -> None:
        self.thread.join(60)
        self.conn.close()


def _wait_for(check: Callable[[], Any], seconds: float, what: str) -> Any:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.1)
    pytest.fail(f"no {what} within {seconds} s")


def test_another_session_sees_the_running_training_as_postgresql_would_show_it(telco: str) -> None:
    running = Running(telco, SLOW_TRAIN)
    try:
        with psycopg.connect(telco, autocommit=True) as watcher:
            def boosting() -> list[dict[str, Any]]:
                assert running.error is None, running.error
                return [r for r in _rows(watcher, running.pid) if r["phase"] == "boosting" and r["done"]]

            first = _wait_for(boosting, 60, "boosting row")[0]
            assert first["operation"] == "train" and first["total"] == 10000 and first["unit"] == "rounds"
            assert first["datname"] == watcher.info.dbname and first["usename"]
            assert first["started"] <= first["phase_started"] <= first["updated"]
            time.sleep(1.2)  # the file is rewritten at most every 0.5 s while rounds go by
            later = _rows(watcher, running.pid)[0]
            assert later["done"] > first["done"] and later["updated"] > first["updated"]
            # pg_read_all_stats sees everything; another role what pg_stat_activity shows it
            stats = _rows(watcher, running.pid, "cm_progress_stats")[0]
            assert stats["phase"] == "boosting" and stats["total"] == 10000
            other = _rows(watcher, running.pid, "cm_progress_other")[0]
            assert (other["pid"], other["operation"], other["datname"]) == (running.pid, "train", first["datname"])
            assert [other[c] for c in ("phase", "done", "total", "unit", "started", "phase_started", "updated")] \
                == [None] * 7
            # progress does not get in the way of a cancel
            asked = time.monotonic()
            watcher.execute("SELECT pg_cancel_backend(%s)", (running.pid,))
            running.thread.join(30)
            assert running.error is not None and running.error.sqlstate == "57014", running.error
            assert running.ended is not None and running.ended - asked < 1.5
            assert _rows(watcher, running.pid) == []  # nothing runs in it any more
    finally:
        running.close()


def test_notices_come_at_the_set_interval_and_not_for_short_calls(telco: str) -> None:
    with psycopg.connect(telco, autocommit=True) as conn:
        notices: list[str] = []
        conn.add_notice_handler(lambda diag: notices.append(diag.message_primary or ""))
        conn.execute("SET churnml.progress_notice_interval = '1s'")
        conn.execute("SET statement_timeout = '6s'")
        with pytest.raises(psycopg.errors.QueryCanceled):
            conn.execute(SLOW_TRAIN)
        conn.execute("SET statement_timeout = 0")
        progress = [n for n in notices if n.endswith(" s so far")]
        assert 4 <= len(progress) <= 7, notices  # about one a second, none in the first second
        assert all(re.fullmatch(r"churnml\.train: [a-z ]+(: [\d,]+ of [\d,]+ \w+ \(\d+%\))?, \d+ s so far", n)
                   for n in progress), progress
        assert any(re.fullmatch(r"churnml\.train: boosting: [\d,]+ of 10,000 rounds \(\d+%\), \d+ s so far", n)
                   for n in progress), progress
        seconds = [int(n.rsplit(" ", 4)[1]) for n in progress]  # "..., 12 s so far"
        assert seconds == sorted(seconds) and seconds[0] >= 1, progress
        # a short call says nothing more than its own messages; 0 turns progress NOTICEs off
        for setting in ("5s", "0"):
            notices.clear()
            conn.execute(f"SET churnml.progress_notice_interval = '{setting}'")
            conn.execute("SELECT count(*) FROM churnml.score('customers')")
            with pytest.raises(psycopg.errors.QueryCanceled):
                conn.execute("SET statement_timeout = '2s'")
                conn.execute(SLOW_TRAIN)
            conn.execute("SET statement_timeout = 0")
            assert not [n for n in notices if "so far" in n], (setting, notices)
        # client_min_messages silences them like any NOTICE
        notices.clear()
        conn.execute("SET churnml.progress_notice_interval = '1s'; SET client_min_messages = warning")
        with pytest.raises(psycopg.errors.QueryCanceled):
            conn.execute("SET statement_timeout = '2500ms'")
            conn.execute(SLOW_TRAIN)
        assert notices == []


def _record(pid: int, backend_start: int, operation: str = "train") -> bytes:
    body = json.dumps({"operation": operation, "phase": "forged", "done": 1, "total": 2, "unit": "rounds",
                       "started": time.time(), "phase_started": time.time(), "updated": time.time(),
                       "backend_start": backend_start})
    return f"7 {body} 7\n".encode().ljust(1024)


def test_files_of_dead_and_earlier_backends_are_not_shown(telco: str) -> None:
    with psycopg.connect(telco, autocommit=True) as watcher, psycopg.connect(telco, autocommit=True) as idle:
        directory = _progress_dir(watcher)
        dead = directory / "churnml_progress.2147483646"  # no backend has this pid
        dead.write_bytes(_record(2147483646, 0))
        # a live backend that never ran churnml work, but with a file from an earlier one with its pid
        earlier = directory / f"churnml_progress.{idle.info.backend_pid}"
        earlier.write_bytes(_record(idle.info.backend_pid, 1))
        torn = directory / "churnml_progress.notapid"
        torn.write_bytes(b"garbage")
        owner = directory.stat()
        for path in (dead, earlier, torn):  # as the server's OS user would have left them
            os.chown(path, owner.st_uid, owner.st_gid)
        try:
            assert watcher.execute("SELECT count(*) FROM churnml.progress WHERE phase = 'forged'").fetchone()[0] == 0
            assert not dead.exists()  # removed by the reader: nothing can ever match it
            assert earlier.exists()  # its pid is live: left for its backend to take over
            # once that backend runs churnml work, the file is its own (and idle when it is done)
            idle.execute("SELECT count(*) FROM churnml.score('customers')")
            assert json.loads(earlier.read_bytes().decode().strip().split(" ", 1)[1].rsplit(" ", 1)[0]) \
                .get("operation") is None
        finally:
            for path in (dead, torn):
                path.unlink(missing_ok=True)


def test_a_backend_removes_its_file_when_it_exits(telco: str) -> None:
    with psycopg.connect(telco, autocommit=True) as watcher:
        directory = _progress_dir(watcher)
        for ending in ("close", "terminate"):
            with psycopg.connect(telco, autocommit=True) as worker:
                pid = worker.info.backend_pid
                worker.execute("SELECT count(*) FROM churnml.score('customers')")
                path = directory / f"churnml_progress.{pid}"
                assert path.exists()
                if ending == "terminate":
                    watcher.execute("SELECT pg_terminate_backend(%s, 5000)", (pid,))
            _wait_for(lambda path=path: not path.exists(), 10, f"removal of {path.name} after {ending}")
