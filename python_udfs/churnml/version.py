"""The churnml version, read from the one place it lives: extension/churnml.control.

`make install` writes `_version.py` into the runtime copy of this package, so the
backend never needs the source tree; in a checkout the control file is read directly.
"""

from __future__ import annotations

import re
from pathlib import Path

_CONTROL = Path(__file__).resolve().parents[2] / "extension" / "churnml.control"


def _read_version() -> str:
    try:
        from churnml._version import VERSION  # written by `make install`

        return str(VERSION)
    except ImportError:
        pass
    text = _CONTROL.read_text(encoding="utf-8")
    match = re.search(r"^\s*default_version\s*=\s*'([^']+)'", text, re.MULTILINE)
    if match is None:
        raise RuntimeError(f"no default_version in {_CONTROL}")
    return match.group(1)


VERSION: str = _read_version()
