"""runtime.require_version: which way the code and the definitions disagree decides the hint."""

from __future__ import annotations

import pytest

from churnml import runtime
from churnml.errors import VersionMismatch


def test_same_version_passes() -> None:
    runtime.require_version(runtime.VERSION)


def test_older_definitions_ask_for_alter_extension_update(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(runtime, "VERSION", "0.2.0")
    with pytest.raises(VersionMismatch) as error:
        runtime.require_version("0.1.0")
    assert error.value.sqlstate == "55000"
    assert "ALTER EXTENSION churnml UPDATE" in (error.value.hint or "")


def test_newer_definitions_ask_for_a_reconnect(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(runtime, "VERSION", "0.2.0")
    for expected in ("0.3.0", "0.10.0", "dev"):
        with pytest.raises(VersionMismatch) as error:
            runtime.require_version(expected)
        assert "Reconnect" in (error.value.hint or "")
