"""Reading model inputs in bulk: the query that packs them, and the batch → columns step.

The numeric features travel as one bytea of big-endian float8s per row
(float8send, NULL as NaN), so a batch becomes a matrix with one join and one numpy
call instead of one Python object per value; the other features come as they
are. Rows stream through a cursor in source order: no sort, constant memory.
Used by bulk scoring (churnml.score) and the dashboard view (churnml.customer_risk).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from churnml.scoring.model_cache import LoadedModel

Features = list[tuple[str, str]]  # (name, group) in spec order


def features_hint(loaded: LoadedModel) -> str:
    """What a model needs, for error hints: its input features with their types, in order."""
    described = ", ".join(f"{f.name} {f.sql_type}" for f in loaded.spec.features)
    return f"Model {loaded.model_id} (\"{loaded.name}\") expects: {described}."


def packed_query(plpy: Any, from_item: str, key_sql: str, features: Features) -> str:
    """SELECT key AS k, packed numerics AS x, other features AS c<i> FROM from_item.

    `from_item` must alias the source as `s`; `key_sql` is SQL over `s` (already
    quoted by the caller); feature names are quoted here.
    """
    packed = [f"pg_catalog.float8send(COALESCE(s.{plpy.quote_ident(n)}::pg_catalog.float8, 'NaN'::pg_catalog.float8))"
              for n, group in features if group == "numeric"]
    others = [f"s.{plpy.quote_ident(n)} AS c{i}" for i, (n, group) in enumerate(features) if group != "numeric"]
    packed_expr = " OPERATOR(pg_catalog.||) ".join(packed) or "''::pg_catalog.bytea"
    columns = [f"{key_sql} AS k", f"({packed_expr}) AS x", *others]
    return f"SELECT {', '.join(columns)} FROM {from_item}"  # noqa: S608 - identifiers quoted, from_item built by callers


def batch_columns(rows: Any, features: Features) -> dict[str, Any]:
    """A fetched batch of packed_query rows as columns by feature name (numerics as float64 arrays)."""
    import numpy as np

    numeric = [n for n, group in features if group == "numeric"]
    matrix = np.frombuffer(b"".join([r["x"] for r in rows]), dtype=">f8").reshape(len(rows), len(numeric))
    columns: dict[str, Any] = {n: matrix[:, j] for j, n in enumerate(numeric)}
    for i, (name, group) in enumerate(features):
        if group != "numeric":
            columns[name] = [r[f"c{i}"] for r in rows]
    return columns


def encoded_batches(plpy: Any, loaded: LoadedModel, from_item: str, key_sql: str,
                    batch_size: int) -> Iterator[tuple[list[Any], Any]]:
    """Stream `from_item` (aliased `s`) through a cursor: per batch, the keys and the
    model's encoded input matrix."""
    features = [(f.name, f.group) for f in loaded.spec.features]
    cursor = plpy.cursor(packed_query(plpy, from_item, key_sql, features))
    while rows := cursor.fetch(batch_size):
        yield [r["k"] for r in rows], loaded.transform(batch_columns(rows, features))
