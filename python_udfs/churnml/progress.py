"""Progress of long churnml work: NOTICEs in the calling session, churnml.progress for every session.

PostgreSQL shows the progress of its own long commands in `pg_stat_progress_*` views,
read from shared memory that only core commands may use; churnml is not preloaded, so it
cannot have shared memory of its own. Another session must still see a running
statement, uncommitted as it is, so a table will not do. What churnml does instead:

- each backend that runs churnml work writes its state, when it changes and at most
  every WRITE_SECONDS while it advances, into one small file of its own,
  `$PGDATA/pg_stat_tmp/churnml_progress.<pid>` (the directory PostgreSQL keeps for
  transient statistics, which base backups leave out). The file is opened once per
  backend and rewritten in place (pwrite of one fixed-size record, ~5 us); it holds the
  state between two copies of a sequence number, so a reader detects a torn read and
  retries. A rename-based replace would cost ~0.8 ms on ext4 (it forces writeback);
- the file's path comes from churnml._progress_file() (C, progress.c), which also
  registers its removal when the backend exits: no file is left by a backend that ends,
  however it ends, short of a crash. After a crash a file may remain: readers ignore a
  file whose pid is not a live backend with the backend start the file records, and
  remove it when no backend has that pid;
- churnml._progress() (the view churnml.progress) reads the files and joins them with
  pg_stat_activity: a role sees the whole state of its own backends (those of roles whose
  privileges it has), superusers and pg_read_all_stats members every backend's, others
  only pid, database, user and operation, as pg_stat_progress_* shows them.

NOTICEs: once an operation has run for `churnml.progress_notice_interval` (default 5 s;
0 turns them off), and then at most once per interval, the calling session gets a NOTICE
with the phase and how far it is; client_min_messages = warning silences them too. A
call shorter than the interval says nothing.

Operations nest: work that reports progress of its own (the sentence encoder's batches)
inside a reporting operation (train) shows as that operation's phase, and the outer
phase is restored when it ends. Updates are cheap where they are called (a counter and
a clock read; measured in bench/bench_progress.py). Outside a backend (unit tests, the
CLI) nothing is written or said.

Only the backend's main thread calls this module (plpy is not thread-safe).
"""

from __future__ import annotations

import functools
import json
import os
import re
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from typing import Any, TypeVar

from churnml import server
from churnml.spi import Plpy

F = TypeVar("F", bound=Callable[..., Any])

WRITE_SECONDS = 0.5  # at most one file write per this while an operation advances (phase changes: at once)
DEFAULT_NOTICE_SECONDS = 5.0
NOTICE_SETTING = "churnml.progress_notice_interval"
RECORD_BYTES = 1024  # the file's one record, padded: readers read this many bytes
FILE_PREFIX = "churnml_progress."
_EPOCH_2000_US = 946_684_800_000_000  # the server's TimestampTz counts from 2000-01-01


@dataclass
class _Frame:
    operation: str
    phase: str | None
    total: int | None
    unit: str | None
    done: int = 0
    phase_started: float = field(default_factory=time.time)


@dataclass
class _State:
    frames: list[_Frame] = field(default_factory=list)
    statement: int | None = None  # the statement (its start) the outermost operation belongs to
    started: float = 0.0  # wall clock, for the view
    started_monotonic: float = 0.0
    next_write: float = 0.0
    next_notice: float = 0.0
    notice_seconds: float = DEFAULT_NOTICE_SECONDS
    fd: int | None = None
    disabled: bool = False  # no file for this backend (the call failed once): NOTICEs only
    # the outermost operation that ended last: (statement, name, started, started_monotonic, next_notice, frame)
    last: tuple[Any, ...] | None = None
    seq: int = 0


_STATE = _State()


def _in_backend() -> bool:
    return server.in_backend()


# ---------------------------------------------------------------------------------------------
# The public interface


@contextmanager
def operation(name: str, phase: str | None = None, total: int | None = None,
              unit: str | None = None, resume: bool = False) -> Iterator[None]:
    """Report `name`'s progress while the block runs (nested: as the outer operation's phase).

    resume: when the last operation of this statement was `name` too, go on from where it
    ended (its start, phase and counts): one operation made of several calls, as
    churnml.customer_risk's explanations, one call per batch after the scoring."""
    if not _in_backend():
        yield
        return
    state = _STATE
    statement = server.statement_start()
    if state.frames and state.statement != statement:
        state.frames.clear()  # left by a statement that ended without unwinding them (an abandoned generator)
    outer = bool(state.frames)
    last = state.last
    if not outer and resume and last is not None and last[0] == statement and last[1] == name:
        state.statement, state.started, state.started_monotonic, state.next_notice = statement, *last[2:5]
        state.frames.append(last[5])
    else:
        state.frames.append(_Frame(name, phase, total, unit))
        if not outer:
            state.statement = statement
            now = time.monotonic()
            state.started, state.started_monotonic = time.time(), now
            state.notice_seconds = notice_interval()
            state.next_notice = now + state.notice_seconds if state.notice_seconds > 0 else float("inf")
    _write()
    try:
        yield
    finally:
        frame = state.frames.pop()
        if state.frames:
            _write()
        else:
            state.last = (state.statement, name, state.started, state.started_monotonic, state.next_notice, frame)
            _write_idle()


def tracked(name: str, phase: str | None = None, unit: str | None = None) -> Callable[[F], F]:
    """A function's whole call as operation `name` (below @entry, so its errors are mapped as they unwind)."""
    def wrap(func: F) -> F:
        @functools.wraps(func)
        def inner(*args: Any, **kwargs: Any) -> Any:
            with operation(name, phase, unit=unit):
                return func(*args, **kwargs)
        return inner  # type: ignore[return-value]  # functools.wraps keeps func's signature
    return wrap


@contextmanager
def sub(phase_name: str, total: int | None = None, unit: str | None = None) -> Iterator[None]:
    """Inner work's own progress (the encoder's batches), shown as the current operation's phase while it
    runs, but only when the current phase counts nothing itself (train's feature encoding does not;
    detect_sentiment_batch counts texts, and its encoder batches would count them twice)."""
    frames = _STATE.frames
    if not frames or frames[-1].total is not None:
        yield
        return
    with operation(frames[0].operation, phase_name, total, unit):
        yield


def phase(name: str, total: int | None = None, unit: str | None = None) -> None:
    """The current operation enters phase `name` (done starts at 0, `total` when known)."""
    frames = _STATE.frames
    if not frames:
        return
    frame = frames[-1]
    frame.phase, frame.total, frame.unit, frame.done = name, total, unit, 0
    frame.phase_started = time.time()
    _write()
    if time.monotonic() >= _STATE.next_notice:
        _notice(time.monotonic())


def advance(count: int = 1) -> None:
    """`count` more units of the current phase are done."""
    frames = _STATE.frames
    if not frames:
        return
    frames[-1].done += count
    _tick()


def set_done(done: int, total: int | None = None) -> None:
    """The current phase has `done` units done (of `total`, when given)."""
    frames = _STATE.frames
    if not frames:
        return
    frame = frames[-1]
    frame.done = done
    if total is not None:
        frame.total = total
    _tick()


def active() -> bool:
    return bool(_STATE.frames)


def current() -> tuple[str | None, int]:
    """The current phase and its count (None, 0 when nothing is reported)."""
    frames = _STATE.frames
    return (frames[-1].phase, frames[-1].done) if frames else (None, 0)


def notice_interval() -> float:
    """churnml.progress_notice_interval in seconds (0: no progress NOTICEs)."""
    return parse_interval(server.setting(NOTICE_SETTING))


_INTERVAL = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|min|h)?\s*$", re.IGNORECASE)
_UNITS = {"ms": 0.001, "s": 1.0, "min": 60.0, "h": 3600.0}


def parse_interval(value: str | None) -> float:
    """A setting's text (the server prints integers without their unit, seconds here; a
    placeholder SET before churnml.so loaded keeps the user's text) as seconds; 'off' is 0."""
    if value is None or not value.strip():
        return DEFAULT_NOTICE_SECONDS
    if value.strip().lower() in ("off", "false", "no"):
        return 0.0
    found = _INTERVAL.match(value)
    if not found:
        return DEFAULT_NOTICE_SECONDS
    return float(found.group(1)) * _UNITS[(found.group(2) or "s").lower()]


def describe(frame_operation: str, phase_name: str | None, done: int, total: int | None, unit: str | None,
             seconds: float) -> str:
    """The NOTICE text: 'churnml.train: boosting: 120 of 500 rounds (24%), 12 s so far'."""
    what = f"churnml.{frame_operation}: {phase_name or 'working'}"
    units = f" {unit}" if unit else ""
    if total:
        how_far = f"{done:,} of {total:,}{units} ({min(100.0, 100.0 * done / total):.0f}%)"
    elif done:
        how_far = f"{done:,}{units}"
    else:
        how_far = ""
    return f"{what}{': ' + how_far if how_far else ''}, {seconds:.0f} s so far"


# ---------------------------------------------------------------------------------------------
# The calling session: NOTICEs and the file


def _tick() -> None:
    state = _STATE
    now = time.monotonic()
    if now >= state.next_write:
        _write(now)
    if now >= state.next_notice:
        _notice(now)


def _notice(now: float) -> None:
    state = _STATE
    state.next_notice = now + state.notice_seconds
    frame = state.frames[-1]
    import plpy  # present whenever this runs in a backend

    plpy.notice(describe(state.frames[0].operation, frame.phase, frame.done, frame.total, frame.unit,
                         now - state.started_monotonic))


def _record() -> dict[str, Any]:
    state = _STATE
    frame = state.frames[-1]
    return {"operation": state.frames[0].operation, "phase": frame.phase, "done": frame.done, "total": frame.total,
            "unit": frame.unit, "started": state.started, "phase_started": frame.phase_started,
            "updated": time.time(), "backend_start": backend_start_us()}


def _write(now: float | None = None) -> None:
    _STATE.next_write = (time.monotonic() if now is None else now) + WRITE_SECONDS
    _put(_record())


def _write_idle() -> None:
    _put({"operation": None, "backend_start": backend_start_us()})


def _put(record: dict[str, Any]) -> None:
    state = _STATE
    fd = _file()
    if fd is None:
        return
    state.seq += 1
    body = json.dumps(record, separators=(",", ":"), ensure_ascii=True)
    text = f"{state.seq} {body} {state.seq}\n"
    if len(text) > RECORD_BYTES:  # a phase name is churnml's own text: never this long, but never torn either
        record = {**record, "phase": (record.get("phase") or "")[:200]}
        body = json.dumps(record, separators=(",", ":"), ensure_ascii=True)[: RECORD_BYTES - 64]
        text = f"{state.seq} {body} {state.seq}\n"
    try:
        os.pwrite(fd, text.encode("ascii").ljust(RECORD_BYTES), 0)
    except OSError:
        _give_up()


def _file() -> int | None:
    state = _STATE
    if state.fd is not None or state.disabled:
        return state.fd
    try:
        import plpy

        path = plpy.execute(_plan(plpy))[0]["p"]
        flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC
        try:
            state.fd = os.open(path, flags, 0o600)
        except PermissionError:  # a file of an earlier backend with this pid, not ours to write: replace it
            os.unlink(path)
            state.fd = os.open(path, flags, 0o600)
    except Exception:  # noqa: BLE001 - no file (no privilege on the C function, a full disk): NOTICEs still work
        _give_up()
    return state.fd


_PLANS: list[Any] = []


def _plan(plpy: Plpy) -> Any:
    if not _PLANS:
        _PLANS.append(plpy.prepare("SELECT churnml._progress_file() AS p"))
    return _PLANS[0]


def _give_up() -> None:
    state = _STATE
    if state.fd is not None:
        with suppress(OSError):
            os.close(state.fd)
    state.fd, state.disabled = None, True


_START: list[int] = []


def backend_start_us() -> int | None:
    """This backend's start (pg_stat_activity.backend_start) in microseconds since 1970, or None."""
    if not _START:
        found = server.backend_start()
        _START.append(found + _EPOCH_2000_US if found is not None else -1)
    return _START[0] if _START[0] >= 0 else None


# ---------------------------------------------------------------------------------------------
# Every session: the view


_ACTIVITY = """
SELECT a.pid, a.datname::pg_catalog.text AS datname, a.usename::pg_catalog.text AS usename,
       (pg_catalog.extract('epoch', a.backend_start) OPERATOR(pg_catalog.*) 1000000)::pg_catalog.int8 AS start_us,
       coalesce(pg_catalog.pg_has_role(a.usesysid, 'USAGE')
                OR pg_catalog.pg_has_role('pg_read_all_stats', 'USAGE'), false) AS visible
FROM pg_catalog.pg_stat_activity AS a
"""


def read_file(path: str) -> dict[str, Any] | None:
    """The record of one progress file, or None (gone, torn three times, not churnml's format)."""
    for _ in range(3):
        try:
            with open(path, "rb") as handle:
                raw = handle.read(RECORD_BYTES)
        except OSError:
            return None
        text = raw.decode("ascii", "replace").strip()
        head, _, rest = text.partition(" ")
        body, _, tail = rest.rpartition(" ")
        if head and head == tail:
            try:
                found = json.loads(body)
            except ValueError:
                continue
            return found if isinstance(found, dict) else None
    return None


def rows(plpy: Plpy, directory: str) -> list[dict[str, Any]]:
    """churnml.progress: one row per backend with churnml work running, as the caller may see it."""
    try:
        names = [n for n in os.listdir(directory) if n.startswith(FILE_PREFIX)]
    except OSError:
        return []
    if not names:
        return []
    activity = {r["pid"]: r for r in plpy.execute(plpy.prepare(_ACTIVITY, []))}
    out = []
    for name in sorted(names):
        pid_text = name[len(FILE_PREFIX):]
        if not pid_text.isdigit():
            continue
        pid = int(pid_text)
        path = os.path.join(directory, name)
        backend = activity.get(pid)
        if backend is None:  # no backend has this pid: a file left by a crash
            with suppress(OSError):
                os.unlink(path)
            continue
        record = read_file(path)
        if not record or not record.get("operation"):
            continue
        if backend["visible"] and backend["start_us"] is not None and record.get("backend_start") is not None \
                and abs(int(record["backend_start"]) - int(backend["start_us"])) > 1:
            continue  # the pid belongs to a later backend: the file is stale
        row: dict[str, Any] = {"pid": pid, "datname": backend["datname"], "usename": backend["usename"],
                               "operation": str(record["operation"]), "phase": None, "done": None, "total": None,
                               "unit": None, "started": None, "phase_started": None, "updated": None}
        if backend["visible"]:
            row.update({"phase": record.get("phase"), "done": record.get("done"), "total": record.get("total"),
                        "unit": record.get("unit"), "started": _timestamp(record.get("started")),
                        "phase_started": _timestamp(record.get("phase_started")),
                        "updated": _timestamp(record.get("updated"))})
        out.append(row)
    return out


def _timestamp(value: Any) -> str | None:
    """Seconds since 1970 as timestamptz input text."""
    if not isinstance(value, (int, float)):
        return None
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(value)) + f".{int((value % 1) * 1e6):06d}+00"
