"""SQL area: dashboards (churnml.customer_risk), every customer scored and explained in bulk.

The customer table and its two key columns come from churnml.call_center_config
(the ones assess_customer uses) and are checked by the same code
(call_center.resolve_tables): the name is resolved by to_regclass under the
caller's search_path and written back schema-qualified with quote_ident, column
names go through plpy.quote_ident: nothing a caller types becomes SQL text. The
table is read with the caller's own privileges, through one cursor, in batches:
one prediction into the C evaluator per batch, no SPI per row. Each batch goes back
to SQL as one row of bytea columns, as churnml.score's do, which churnml._unpack_risk
turns into rows in C: returning a Python value per cell would cost ~1 us each.

Explanations (TreeSHAP, most of the work) are a separate function of a batch's
encoded matrix, churnml._risk_explanations, which the view calls in a subquery
column: PostgreSQL drops a subquery's unused columns, so a dashboard tile that
reads neither top_reason nor top_reason_contribution never computes them.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from churnml import progress
from churnml.errors import InvalidParameter, UndefinedColumn
from churnml.lazy_numpy import np
from churnml.scoring import model_cache
from churnml.scoring.feature_batches import encoded_batches, features_hint, text_blob
from churnml.scoring.risk import risk_band, top_reasons
from churnml.source_data import caller_search_path, query_columns
from churnml.spi import Plpy, prepared
from churnml.sql_api.call_center import resolve_tables
from churnml.sql_api.entry import entry

_SETTINGS = "SELECT customer_table, key_columns, model FROM churnml.call_center_config"


@entry
@progress.tracked("customer_risk", "scoring customers", unit="customers")
def customer_risk_batches(plpy: Plpy, batch_size: int | None, search_path: str | None) -> list[dict[str, Any]]:
    """Every batch made before the first row goes back (an error while PL/Python fetches rows from
    a generator would reach the client as "error fetching next item from iterator"): the encoded
    matrices, 8 bytes per customer and encoded column, are held until the statement reads them."""
    if batch_size is None or not 1 <= batch_size <= 1_000_000:
        raise InvalidParameter(f"batch_size must be between 1 and 1000000, not {batch_size}")
    settings = plpy.execute(prepared(plpy, "dashboards:settings", _SETTINGS, []))[0]
    serving = model_cache.serving(plpy, settings["model"])
    with caller_search_path(plpy, search_path):
        return list(_batches(plpy, settings, serving, batch_size))


def _batches(plpy: Plpy, settings: dict[str, Any], serving: model_cache.Serving,
             batch_size: int) -> Iterator[dict[str, Any]]:
    loaded = serving.model
    table = settings["customer_table"]
    relation = resolve_tables(plpy, settings, messages=False).customer  # the settings checked, as assess_customer
    present = {name for name, _ in query_columns(plpy, f"{relation} AS c", f'the customer table "{table}"')}
    keys = list(settings["key_columns"])
    missing = [n for n in loaded.input_names if n not in present]
    if missing:
        raise UndefinedColumn(f'the customer table "{table}" has no column "{missing[0]}" that model '
                              f'"{settings["model"]}" needs', hint=features_hint(loaded))
    # customer_key as assess_customer spells it: key1/key2
    k1, k2 = (f"(s.{plpy.quote_ident(k)})::pg_catalog.text" for k in keys)
    key_sql = f"{k1} OPERATOR(pg_catalog.||) '/' OPERATOR(pg_catalog.||) {k2}"
    for batch_keys, matrix in encoded_batches(plpy, loaded, f"{relation} AS s", key_sql, batch_size):
        probabilities = np.asarray(loaded.predict_matrix(matrix), dtype=np.float64)
        # churnml._unpack_risk's format: float8 columns as native float8s (NaN = NULL), text ones as text_blob.
        # The encoded matrix goes along for churnml._risk_explanations, which the view calls only when
        # a query reads top_reason or top_reason_contribution.
        yield {
            "keys": batch_keys,
            "probabilities": probabilities.tobytes(),
            "bands": text_blob([risk_band(p, serving.threshold) for p in probabilities.tolist()]),
            "matrix": np.ascontiguousarray(matrix, dtype=np.float64).tobytes(),
            "threshold": serving.threshold,
            "model": settings["model"],
            "model_id": loaded.model_id,
        }


@entry
def risk_explanations(plpy: Plpy, model_id: int | None, matrix: bytes | None) -> dict[str, Any] | None:
    """The top positive reason (TreeSHAP, as explain_churn) of every customer of one batch of
    _customer_risk_batches: the model's features, and per customer the 1-based position of its top
    reason among them and that reason's contribution, both as native float8s (NaN: none positive)."""
    if model_id is None or matrix is None:
        return None
    loaded = model_cache.by_id(plpy, model_id)
    width = len(loaded.spec.output_names)
    raw = bytes(matrix)
    if width == 0 or len(raw) % (8 * width):
        raise InvalidParameter(f"the matrix does not fit model {model_id}",
                               detail=f"{len(raw)} bytes for {width} encoded columns of 8 bytes.",
                               hint="churnml._risk_explanations is internal to churnml.customer_risk; read that view.")
    encoded = np.frombuffer(raw, dtype=np.float64).reshape(-1, width)
    with progress.operation("customer_risk", resume=True):
        phase, done = progress.current()
        if phase != _EXPLAINING:
            progress.phase(_EXPLAINING, total=done or None, unit="customers")
        positions, contributions = top_reasons(loaded, encoded)
        progress.advance(encoded.shape[0])
    return {"features": list(loaded.spec.input_names), "reasons": positions.tobytes(),
            "contributions": contributions.tobytes()}


_EXPLAINING = "explaining customers (top_reason)"
