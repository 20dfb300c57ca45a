"""churnml.progress outside a backend: the setting's forms, the NOTICE text, torn files, no-ops."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from churnml import progress


@pytest.mark.parametrize(("text", "seconds"), [
    (None, 5.0), ("", 5.0), ("5", 5.0), ("0", 0.0), ("off", 0.0), ("2s", 2.0), ("500ms", 0.5), ("2min", 120.0),
    ("1h", 3600.0), (" 3 s ", 3.0), ("nonsense", 5.0), ("-1", 5.0),
])
def test_the_setting_as_the_server_or_a_placeholder_holds_it(text: str | None, seconds: float) -> None:
    assert progress.parse_interval(text) == seconds


def test_notice_text() -> None:
    assert progress.describe("train", "boosting", 120, 500, "rounds", 12.4) \
        == "churnml.train: boosting: 120 of 500 rounds (24%), 12 s so far"
    assert progress.describe("score", "scoring rows", 25000, None, "rows", 3) \
        == "churnml.score: scoring rows: 25,000 rows, 3 s so far"
    assert progress.describe("train", "encoding features", 0, None, None, 6) \
        == "churnml.train: encoding features, 6 s so far"
    assert progress.describe("x", None, 7, 5, None, 1) == "churnml.x: working: 7 of 5 (100%), 1 s so far"


def test_a_record_is_read_only_whole(tmp_path: Path) -> None:
    path = tmp_path / "churnml_progress.1"
    body = json.dumps({"operation": "score", "done": 3})
    path.write_bytes(f"4 {body} 4\n".encode().ljust(progress.RECORD_BYTES))
    assert progress.read_file(str(path)) == {"operation": "score", "done": 3}
    path.write_bytes(f"5 {body} 4\n".encode())  # the head of one write, the tail of another
    assert progress.read_file(str(path)) is None
    path.write_bytes(b"5 {\"operation\": 5")
    assert progress.read_file(str(path)) is None
    assert progress.read_file(str(tmp_path / "gone")) is None


def test_outside_a_backend_nothing_is_written_or_said() -> None:
    with progress.operation("train", "boosting", total=10, unit="rounds"):
        progress.advance(3)
        progress.phase("evaluating")
        assert not progress.active()  # not tracked: no backend to report to
    assert progress.current() == (None, 0)
