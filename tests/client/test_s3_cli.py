"""`churnml s3 stop` says what happens to the objects: they stay for the next start (docs/loaders.md)."""

from __future__ import annotations

from pathlib import Path

import pytest

from churnml_client import main
from churnml_client.s3_server import LocalS3Server


@pytest.mark.parametrize("running", [True, False])
def test_stop_says_the_objects_stay(running: bool, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("CHURNML_HOME", str(tmp_path))
    monkeypatch.setattr(LocalS3Server, "stop", lambda self: running)
    assert main.main(["s3", "stop"]) == 0
    out = capsys.readouterr().out
    if running:
        assert out == f"churnml: S3 server stopped; its objects stay in {tmp_path / 's3' / 'data'} for the next start\n"
        assert "gone" not in out
    else:
        assert out == "churnml: S3 server was not running\n"
