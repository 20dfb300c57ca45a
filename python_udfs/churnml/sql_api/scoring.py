"""SQL area: scoring with deployed models (per row, per typed function, in bulk) and per-row reasons.

Nothing here imports xgboost or scikit-learn: scoring uses the trees compiled to
Python (churnml.scoring), so a fresh connection starts scoring in milliseconds.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

from churnml.errors import InvalidParameter, UndefinedColumn, WrongArgumentCount
from churnml.scoring import model_cache
from churnml.scoring.feature_batches import batch_columns, features_hint, packed_query
from churnml.scoring.native_trees import format_floats
from churnml.sql_api.entry import entry, generated_entry
from churnml.version import VERSION

FUNCTION_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")


@entry
def score_json(plpy: Any, name: str, row_json: str | None, statement: float | None) -> float | None:
    """will_churn(c): the row arrives as JSON; features are taken by column name."""
    if row_json is None:
        return None
    loaded = model_cache.serving(plpy, name, statement).model
    row = json.loads(row_json)
    try:
        values = [row[n] for n in loaded.input_names]
    except KeyError as missing:
        raise UndefinedColumn(f"the row has no column {missing} that model \"{name}\" needs",
                              detail=f"Row columns: {', '.join(row)}.", hint=features_hint(loaded)) from None
    return loaded.score_values(values)


@generated_entry
def score_args(plpy: Any, name: str, args: list[Any]) -> float:
    """A function made by create_model_function: features as typed arguments, then the statement time.

    Its calling convention, `score_args(plpy, version, name, args)`, is frozen (see generated_entry)."""
    *values, statement = args
    loaded = model_cache.serving(plpy, name, statement).model
    if len(values) != len(loaded.input_names):
        raise WrongArgumentCount(
            f"model \"{name}\" now expects {len(loaded.input_names)} features, the function passed {len(values)}",
            hint=features_hint(loaded) + " Recreate the function with churnml.create_model_function().")
    return loaded.score_values(values)


@entry
def churn_flag(plpy: Any, name: str, probability: float | None, statement: float | None) -> bool | None:
    if probability is None:
        return None
    return probability > model_cache.serving(plpy, name, statement).threshold


@entry
def explain_json(plpy: Any, name: str, row_json: str | None, top_k: int | None,
                 statement: float | None) -> list[dict[str, Any]]:
    from churnml.training.explain import group_contributions

    if row_json is None:
        return []
    if top_k is not None and top_k < 1:
        raise InvalidParameter(f"top_k must be at least 1, not {top_k}")
    loaded = model_cache.serving(plpy, name, statement).model
    row = json.loads(row_json)
    missing = [n for n in loaded.input_names if n not in row]
    if missing:
        raise UndefinedColumn(f"the row has no column \"{missing[0]}\" that model \"{name}\" needs",
                              hint=features_hint(loaded))
    values = [row[n] for n in loaded.input_names]
    encoded = loaded.encode_row(values)  # embeds text features too
    contributions = loaded.contributions(encoded)
    grouped = group_contributions(loaded.spec.output_names, contributions, loaded.spec)
    by_name = dict(zip(loaded.input_names, values, strict=True))
    rows = [{"feature": feature, "value": None if by_name.get(feature) is None else str(by_name[feature]),
             "contribution": float(value)} for feature, value in grouped]
    return rows[:top_k] if top_k else rows


@entry
def score_batches(plpy: Any, name: str, source: str, key_column: str | None, batch_size: int,
                  search_path: str | None, statement: float | None) -> list[tuple[str, str]]:
    """Bulk scoring: one SPI round trip per batch, one vectorised predict per batch."""
    from churnml.source_data import caller_search_path

    with caller_search_path(plpy, search_path):
        return list(_score_batches(plpy, name, source, key_column, batch_size, statement))


def _score_batches(plpy: Any, name: str, source: str, key_column: str | None, batch_size: int,
                   statement: float | None) -> Iterator[tuple[str, str]]:
    from churnml.source_data import resolve_source

    if batch_size is None or not 1 <= batch_size <= 1_000_000:
        raise InvalidParameter(f"batch_size must be between 1 and 1000000, not {batch_size}")
    loaded = model_cache.serving(plpy, name, statement).model
    from_item, _ = resolve_source(plpy, source)
    query = from_item.removesuffix(" AS src")
    probe = plpy.execute(f"SELECT * FROM {from_item} LIMIT 0")
    present = set(probe.colnames())
    missing = [n for n in loaded.input_names if n not in present]
    if missing:
        raise UndefinedColumn(f"the source has no column \"{missing[0]}\" that model \"{name}\" needs",
                              hint=features_hint(loaded))
    if key_column is not None and key_column not in present:
        raise UndefinedColumn(f"the source has no key column \"{key_column}\"",
                              detail=f"Source columns: {', '.join(probe.colnames())}.")
    features = [(f.name, f.group) for f in loaded.spec.features]
    key_sql = f"(s.{plpy.quote_ident(key_column)})::pg_catalog.text" if key_column else "NULL::pg_catalog.text"
    cursor = plpy.cursor(packed_query(plpy, f"({query}) AS s", key_sql, features))
    while True:
        rows = cursor.fetch(batch_size)
        if not rows:
            break
        matrix = loaded.transform(batch_columns(rows, features))
        probabilities = loaded.predict_matrix(matrix)
        # PL/Python turns a returned list into an array through each element's text
        # form, ~1 us a value; one JSON text of keys and one comma-joined text of
        # probabilities, which SQL splits in C, cost a fraction of that.
        yield json.dumps([r["k"] for r in rows]), format_floats(probabilities)


def _function_sql(plpy: Any, schema: str, function: str, name: str, features: list[tuple[str, str]]) -> str:
    params = ", ".join(f"{plpy.quote_ident(n)} {t}" for n, t in features)
    qualified = f"{plpy.quote_ident(schema)}.{plpy.quote_ident(function)}"
    return (
        f"CREATE OR REPLACE FUNCTION {qualified}({params}, _statement float8 DEFAULT "
        f"pg_catalog.date_part('epoch', pg_catalog.statement_timestamp())) RETURNS float8 "
        f"LANGUAGE plpython3u STABLE PARALLEL UNSAFE SET search_path = pg_catalog, pg_temp AS $churnml$\n"
        f"import churnml.sql_api.scoring as api\n"
        f"return api.score_args(plpy, {VERSION!r}, {name!r}, args)\n$churnml$"
    )


@entry
def create_model_function(plpy: Any, function: str, name: str, schema: str) -> str:
    if not function or not FUNCTION_NAME.match(function):
        raise InvalidParameter(f"invalid function name {function!r}",
                               hint="Use a plain identifier such as will_churn.")
    loaded = model_cache.serving(plpy, name, None).model
    regtype = plpy.prepare("SELECT $1::pg_catalog.regtype::pg_catalog.text AS t", ["text"])
    features = []
    for feature in loaded.spec.features:
        # Parsed by regtype: a stored type name can only ever come back as a real type's name.
        sql_type = plpy.execute(regtype, [feature.sql_type])[0]["t"]
        features.append((feature.name, sql_type))
    plpy.execute(_function_sql(plpy, schema, function, name, features))
    signature = f"{plpy.quote_ident(schema)}.{plpy.quote_ident(function)}({', '.join(t for _, t in features)}, float8)"
    plpy.execute(f"REVOKE ALL ON FUNCTION {signature} FROM PUBLIC")
    plpy.execute(f"GRANT EXECUTE ON FUNCTION {signature} TO churnml_user")
    comment = (f"Churn probability from the model deployed as \"{name}\" (made by churnml.create_model_function). "
               f"Leave _statement to its default: it keys the per-statement model cache.")
    plpy.execute(f"COMMENT ON FUNCTION {signature} IS {plpy.quote_literal(comment)}")
    return signature
