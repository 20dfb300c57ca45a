"""Reading model inputs in bulk: the query that packs them, and the batch → columns step.

The numeric features travel as one bytea of native float8s per row
(churnml._pack_float8, NULL as NaN), so a batch becomes a matrix in one C pass
(`_native_trees.pack_batch`) instead of one Python object per value; the other features come as they
are. Rows stream through a cursor in source order: no sort, constant memory.
Used by bulk scoring (churnml.score) and the dashboard view (churnml.customer_risk).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

from churnml import interrupts, progress
from churnml.scoring.tree_evaluator import native_module
from churnml.spi import Plpy

if TYPE_CHECKING:
    from churnml.scoring.model_cache import LoadedModel

Features = Sequence[tuple[str, str]]  # (name, group) in spec order


def features_hint(loaded: LoadedModel) -> str:
    """What a model needs, for error hints: its input features with their types, in order."""
    described = ", ".join(f"{f.name} {f.sql_type}" for f in loaded.spec.features)
    return f"Model {loaded.model_id} (\"{loaded.name}\") expects: {described}."


def packed_query(plpy: Plpy, from_item: str, key_sql: str, features: Features) -> str:
    """SELECT key AS k, packed numerics AS x, other features AS c<i> FROM from_item.

    `from_item` must alias the source as `s`; `key_sql` is SQL over `s` (already
    quoted by the caller); feature names are quoted here. x is churnml._pack_float8
    of the numeric features (native float8s, NULL as NaN), in chunks of 100
    arguments (a function takes at most 100).
    """
    numeric = [f"s.{plpy.quote_ident(n)}::pg_catalog.float8" for n, group in features if group == "numeric"]
    chunks = [numeric[i:i + 100] for i in range(0, len(numeric), 100)]
    packed_expr = " OPERATOR(pg_catalog.||) ".join(
        f"churnml._pack_float8({', '.join(chunk)})" for chunk in chunks) or "''::pg_catalog.bytea"
    others = [f"s.{plpy.quote_ident(n)} AS c{i}" for i, (n, group) in enumerate(features) if group != "numeric"]
    columns = [f"{key_sql} AS k", f"({packed_expr}) AS x", *others]
    return f"SELECT {', '.join(columns)} FROM {from_item}"  # noqa: S608 - identifiers quoted, from_item built by callers


NULL_KEY = b"\xff"  # never valid UTF-8, so never a real key


def text_blob(values: list[str | None]) -> bytes:
    """Text values in churnml._unpack_batch's format: UTF-8, each followed by a 0 byte, NULL as 0xFF."""
    return b"".join((NULL_KEY if v is None else v.encode("utf-8")) + b"\0" for v in values)


def text_list(blob: bytes) -> list[str | None]:
    """The values of a text_blob back as Python values."""
    return [None if v == NULL_KEY else v.decode("utf-8") for v in blob.split(b"\0")[:-1]]


def _numeric_matrix(rows: Any, n_numeric: int) -> tuple[bytes, Any]:
    """(keys as a text_blob, rows x n_numeric float64 matrix) of a fetched batch, in one C pass."""
    import numpy as np

    keys, x = native_module().pack_batch(rows, n_numeric)
    return keys, np.frombuffer(x, dtype=np.float64).reshape(len(rows), n_numeric)


def batch_columns(rows: Any, features: Features) -> tuple[bytes, dict[str, Any]]:
    """A fetched batch of packed_query rows: (keys blob, columns by feature name, numerics as float64 arrays).

    ±Infinity in a numeric feature is 22003 naming it (one vectorised pass over the batch); NULL and NaN
    are missing values."""
    numeric = [n for n, group in features if group == "numeric"]
    keys, matrix = _numeric_matrix(rows, len(numeric))
    if matrix.size and _isinf(matrix).any():
        _refuse_infinity(matrix, numeric)
    columns: dict[str, Any] = {n: matrix[:, j] for j, n in enumerate(numeric)}
    for i, (name, group) in enumerate(features):
        if group != "numeric":
            columns[name] = [r[f"c{i}"] for r in rows]
    return keys, columns


def _isinf(matrix: Any) -> Any:
    import numpy as np

    return np.isinf(matrix)


def _refuse_infinity(matrix: Any, numeric: list[str]) -> None:
    import numpy as np

    from churnml.training.feature_values import infinite_value

    row, column = (int(i) for i in np.argwhere(np.isinf(matrix))[0])
    raise infinite_value(numeric[column], float(matrix[row, column]))


def encoded_batches(plpy: Plpy, loaded: LoadedModel, from_item: str, key_sql: str,
                    batch_size: int) -> Iterator[tuple[bytes, Any]]:
    """Stream `from_item` (aliased `s`) through a cursor: per batch, the keys (as a
    text_blob) and the model's encoded input matrix."""
    features = [(f.name, f.group) for f in loaded.spec.features]
    cursor = plpy.cursor(packed_query(plpy, from_item, key_sql, features))
    while rows := cursor.fetch(batch_size):
        interrupts.check()  # the fetch checks too; this also covers the caller's work on the last batch
        keys, columns = batch_columns(rows, features)
        progress.advance(len(rows))
        yield keys, loaded.transform(columns)
