"""churnml_loaders.spool_follow: reading export_query's spool file while COPY writes it."""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path

import pytest

from churnml_loaders.copy_rows import copy_chunks
from churnml_loaders.spool_follow import Backend, ExportAbandoned, SpoolFollower


def _send(fd: int, message: dict) -> None:  # type: ignore[type-arg]
    os.write(fd, json.dumps(message).encode() + b"\n")


def test_rows_are_read_as_copy_writes_them_and_up_to_the_size_copy_reports(tmp_path: Path) -> None:
    spool = tmp_path / "spool"
    spool.write_bytes(b"")
    read_end, write_end = os.pipe()
    backend = Backend(read_end)
    rows = [b'"%d","%s"\n' % (i, b"w" * (i % 50)) for i in range(20000)]

    def copy() -> None:  # as COPY does: buffered writes, rows cut anywhere, then the end message
        with open(spool, "ab", buffering=4096) as out:
            for i, row in enumerate(rows):
                out.write(row)
                if i % 2000 == 0:
                    out.flush()
                    time.sleep(0.01)
        _send(write_end, {"end": {"size": spool.stat().st_size, "rows": len(rows)}})

    writer = threading.Thread(target=copy)
    writer.start()
    follower = SpoolFollower(str(spool), backend)
    _, chunks = copy_chunks(follower.read, "csv", 10_000, close=follower.close)
    seen_before_end = 0
    got = []
    for view, count in chunks:
        got.append(bytes(view))
        seen_before_end += count if backend.end is None else 0
    writer.join()
    assert b"".join(got) == b"".join(rows)
    assert seen_before_end > 0  # some rows came while COPY was still writing
    assert backend.end is not None and backend.end.rows == len(rows)
    os.close(write_end)


def test_a_backend_that_goes_away_stops_the_reading(tmp_path: Path) -> None:
    spool = tmp_path / "spool"
    spool.write_bytes(b'"1","a"\n' * 10)
    read_end, write_end = os.pipe()
    backend = Backend(read_end)
    follower = SpoolFollower(str(spool), backend)
    assert follower.read(8) == b'"1","a"\n'
    threading.Timer(0.05, os.close, (write_end,)).start()
    with pytest.raises(ExportAbandoned):
        follower.read(1 << 20)  # waits for more, then sees the end of the backend's input
    follower.close()


def test_the_commit_makes_the_end_of_input_harmless() -> None:
    read_end, write_end = os.pipe()
    backend = Backend(read_end)
    _send(write_end, {"job": 1})
    assert backend.next_message() == {"job": 1}
    _send(write_end, {"commit": True})
    os.close(write_end)
    assert backend.next_message() == {"commit": True}
    backend.poll(0.01)  # end of input after the commit: no error
    assert backend.committed and backend.eof
