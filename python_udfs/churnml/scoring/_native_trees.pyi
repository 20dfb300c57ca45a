"""Types of _native_trees.c (built by make); see its comments for what each does."""

from collections.abc import Sequence
from typing import Any, TypeAlias

import numpy as np
from typing_extensions import Buffer

# C-contiguous float64 data: numpy arrays (typed as buffers only from Python 3.12) or any buffer
_Floats: TypeAlias = Buffer | np.ndarray[Any, Any]

class Pending:
    def wait(self) -> None: ...

class Forest:
    n_features: int
    n_trees: int
    n_nodes: int
    max_depth: int
    base_margin: float
    expected_value: float
    @property
    def zero_cover(self) -> tuple[int, int] | None: ...
    def __init__(
        self, feature: Buffer, left: Buffer, right: Buffer, default_left: Buffer, cutoff: Buffer, value: Buffer,
        cover: Buffer, roots: Buffer, n_features: int, base_margin: float, /,
    ) -> None: ...
    def margin_row(self, row: Sequence[float | None], /) -> float: ...
    def predict_row(self, row: Sequence[float | None], /) -> float: ...
    def contributions_row(self, row: Sequence[float | None], /) -> list[float]: ...
    def predict_matrix(self, x: _Floats, out: _Floats, threads: int = ..., node_walk: int = ..., /) -> None: ...
    def predict_matrix_start(self, x: _Floats, out: _Floats, /) -> Pending: ...
    def contributions_matrix(self, x: _Floats, out: _Floats, threads: int = ..., /) -> None: ...

def pack_batch(rows: Sequence[object], n_numeric: int, /) -> tuple[bytes, bytes]: ...
