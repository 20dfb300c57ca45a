"""numpy, imported on first use.

Scoring one row with a plain numeric model needs no numpy, and importing it costs
a fresh backend ~0.1-0.2 s and ~20 MB; the feature modules therefore reach numpy
through this proxy, so only column-wise work (training, bulk scoring) pays for it.
"""

from __future__ import annotations

import importlib
from typing import Any


class _LazyNumpy:
    __slots__ = ()

    def __getattr__(self, name: str) -> Any:
        return getattr(importlib.import_module("numpy"), name)


np: Any = _LazyNumpy()
