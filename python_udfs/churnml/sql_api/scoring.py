"""SQL area: scoring with deployed models (per row, per typed function, in bulk) and per-row reasons.

Nothing here imports xgboost or scikit-learn: scoring uses churnml's C tree evaluator
(churnml.scoring.tree_evaluator), so a fresh connection starts scoring in milliseconds.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from churnml import progress
from churnml.errors import (
    DatatypeMismatch,
    DuplicateFunction,
    InvalidParameter,
    NullValueNotAllowed,
    NumericValueOutOfRange,
    StatementTooComplex,
    UndefinedColumn,
    UndefinedObject,
    WrongArgumentCount,
    shown_number,
)
from churnml.monitoring import prediction_log
from churnml.scoring import model_cache
from churnml.scoring.feature_batches import encoded_batches, features_hint
from churnml.spi import Plpy, prepared
from churnml.sql_api.entry import entry, generated_entry
from churnml.training.sql_types import type_family
from churnml.version import VERSION

FUNCTION_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")


def _row(row_json: str) -> dict[str, Any]:
    """A row as will_churn and explain_churn pass it: to_json of a composite value, a JSON object."""
    try:
        row = json.loads(row_json)
    except json.JSONDecodeError as exc:
        raise InvalidParameter("row_json is not valid JSON", detail=f"{exc.msg} at character {exc.pos}.") from None
    except RecursionError:
        raise StatementTooComplex("row_json is nested too deeply",
                                  detail="Its arrays and objects nest deeper than churnml reads; a row is a JSON "
                                         "object of column values.",
                                  hint="Pass a table row: SELECT churnml.will_churn(c) FROM customers AS c.") from None
    except ValueError:  # Python reads integers of at most 4,300 digits
        raise InvalidParameter("row_json holds a number churnml cannot read",
                               detail="An integer in it has more than 4,300 digits.") from None
    if not isinstance(row, dict):
        # will_churn(42) or explain_churn('text'): to_json of a value that is not a row
        kind = {list: "an array", str: "a text value", bool: "a boolean", type(None): "a null"}.get(
            type(row), "a number")
        raise DatatypeMismatch(f"a row of column values is needed, not {kind}",
                               detail="will_churn and explain_churn take a whole row (a table row, or "
                                      "ROW(...)::a_type) and read the model's features from its columns by name.",
                               hint="SELECT churnml.will_churn(c) FROM customers AS c; for separate values, make "
                                    "a typed function with churnml.create_model_function.")
    return row


@entry
def score_json(plpy: Plpy, name: str, row_json: str | None, _statement: float | None = None) -> float | None:
    """will_churn(c): the row arrives as JSON; features are taken by column name.

    `_statement` is what churnml._score_json's third argument still carries for the typed
    functions 0.2.0's create_model_function made (their calling convention is frozen); the
    statement is now read from the server (model_cache.serving)."""
    if row_json is None:
        return None
    serving = model_cache.serving(plpy, name)
    loaded = serving.model
    row = _row(row_json)
    try:
        values = [row[n] for n in loaded.input_names]
    except KeyError as missing:
        raise UndefinedColumn(f"the row has no column {missing} that model \"{name}\" needs",
                              detail=f"Row columns: {', '.join(row)}.", hint=features_hint(loaded)) from None
    probability = loaded.score_values(values)
    if serving.logging is not None and prediction_log.sampled(serving.logging):  # all logging costs while off
        prediction_log.log_call(plpy, name, serving, probability, prediction_log.row_key(serving.logging, row, plpy),
                                lambda: row)
    return probability


@generated_entry
def score_args(plpy: Plpy, name: str, args: list[Any]) -> float:
    """A function made by 0.2.0's create_model_function: features as typed arguments, then a
    statement time that is no longer used.

    Its calling convention, `score_args(plpy, version, name, args)`, is frozen (see generated_entry)."""
    return _score_typed(plpy, name, args[:-1])


@generated_entry
def score_typed(plpy: Plpy, name: str, args: list[Any]) -> float:
    """A function made by create_model_function: the features as typed arguments, nothing else.

    Its calling convention, `score_typed(plpy, version, name, args)`, is frozen (see generated_entry)."""
    return _score_typed(plpy, name, args)


def _score_typed(plpy: Plpy, name: str, values: list[Any]) -> float:
    serving = model_cache.serving(plpy, name)
    loaded = serving.model
    if len(values) != len(loaded.input_names):
        raise WrongArgumentCount(
            f"model \"{name}\" now expects {len(loaded.input_names)} features, the function passed {len(values)}",
            hint=features_hint(loaded) + " Recreate the function with churnml.create_model_function().")
    probability = loaded.score_values(values)
    if serving.logging is not None and prediction_log.sampled(serving.logging):
        log_features(plpy, name, serving, probability, values)
    return probability


def log_features(plpy: Plpy, name: str, serving: model_cache.Serving, probability: float, values: list[Any]) -> None:
    """Log a sampled call whose inputs are the serving model's features in order (a typed function,
    invoke_endpoint): the entity key is the key column's value when the key column is a feature."""
    by_name = dict(zip(serving.model.input_names, values, strict=True))
    prediction_log.log_call(plpy, name, serving, probability,
                            prediction_log.row_key(serving.logging, by_name), lambda: by_name)


@entry
def churn_flag(plpy: Plpy, name: str, probability: float | None) -> bool | None:
    if probability is None:
        return None
    if not 0.0 <= probability <= 1.0:  # also NaN
        raise NumericValueOutOfRange(f"probability must be between 0 and 1, not {shown_number(probability)}",
                                     hint="Pass a churn probability, e.g. churnml.churn_flag(churnml.will_churn(c)).")
    return probability > model_cache.serving(plpy, name).threshold


@entry
def explain_json(plpy: Plpy, name: str, row_json: str | None, top_k: int | None) -> list[dict[str, Any]]:
    from churnml.training.explain import group_contributions

    if row_json is None:
        return []
    if top_k is not None and top_k < 1:
        raise InvalidParameter(f"top_k must be at least 1, not {top_k}")
    loaded = model_cache.explaining(plpy, name)
    row = _row(row_json)
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
@progress.tracked("score", "scoring rows", unit="rows")
def score_batches(plpy: Plpy, name: str, source: str, key_column: str | None, batch_size: int,
                  search_path: str | None) -> list[tuple[bytes, bytes]]:
    """Bulk scoring: one SPI round trip per batch, one vectorised predict per batch.

    Each batch goes back as two bytea values, (keys, probabilities as native float8s),
    which churnml._unpack_scores turns into rows in C: PL/Python would convert every
    returned value through its text form, about 1 us a value."""
    from churnml.source_data import caller_search_path

    with caller_search_path(plpy, search_path):
        return list(_score_batches(plpy, name, source, key_column, batch_size))


def _score_batches(plpy: Plpy, name: str, source: str, key_column: str | None,
                   batch_size: int) -> Iterator[tuple[bytes, bytes]]:
    import numpy as np

    from churnml.source_data import resolve_source

    if batch_size is None or not 1 <= batch_size <= 1_000_000:
        raise InvalidParameter(f"batch_size must be between 1 and 1000000, not {batch_size}")
    loaded = model_cache.serving(plpy, name).model
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
    key_sql = f"(s.{plpy.quote_ident(key_column)})::pg_catalog.text" if key_column else "NULL::pg_catalog.text"
    def done(batch: tuple[bytes, Any]) -> tuple[bytes, bytes]:
        keys, probabilities = batch
        return keys, np.ascontiguousarray(probabilities(), dtype=np.float64).tobytes()

    # A pipeline of two: batch i is predicted in a C thread while batch i+1 is fetched.
    previous = None
    for keys, matrix in encoded_batches(plpy, loaded, f"({query}) AS s", key_sql, batch_size):
        started = (keys, loaded.predict_start(matrix))
        if previous is not None:
            yield done(previous)
        previous = started
    if previous is not None:
        yield done(previous)


def _function_sql(plpy: Plpy, schema: str, function: str, name: str, features: list[tuple[str, str]]) -> str:
    """The typed function in PL/Python, for a superuser.

    The deployment name is a Python string literal (repr) inside a body that the database
    quotes as one SQL literal (quote_literal): a name holding a dollar-quote tag or a quote
    ends neither, so it can only ever be data.
    """
    params = ", ".join(f"{plpy.quote_ident(n)} {t}" for n, t in features)
    qualified = f"{plpy.quote_ident(schema)}.{plpy.quote_ident(function)}"
    body = f"\nimport churnml.sql_api.scoring as api\nreturn api.score_typed(plpy, {VERSION!r}, {name!r}, args)\n"
    return (
        f"CREATE OR REPLACE FUNCTION {qualified}({params}) RETURNS float8 "
        f"LANGUAGE plpython3u STABLE PARALLEL SAFE SET search_path = pg_catalog, pg_temp "
        f"AS {plpy.quote_literal(body)}"
    )


def _sql_function_sql(plpy: Plpy, schema: str, function: str, name: str, features: list[tuple[str, str]]) -> str:
    """The typed function as LANGUAGE sql, for a caller who may not create PL/Python functions.

    PL/Python is untrusted: only superusers create functions in it. A churnml_admin
    gets the same signature in SQL (a trusted language) over churnml._score_json, as
    will_churn(row) does: the arguments become a JSON object keyed by feature name.
    The body is one quoted literal, so no feature name can end it early.
    """
    params = ", ".join(f"{plpy.quote_ident(n)} {t}" for n, t in features)
    qualified = f"{plpy.quote_ident(schema)}.{plpy.quote_ident(function)}"
    pairs = [f"{plpy.quote_literal(n)}, ${i}" for i, (n, _) in enumerate(features, start=1)]
    chunks = [pairs[i:i + 50] for i in range(0, len(pairs), 50)]  # json_build_object takes <= 100 arguments
    if len(chunks) == 1:
        row = f"pg_catalog.json_build_object({', '.join(chunks[0])})::pg_catalog.text"
    else:
        row = "(" + " OPERATOR(pg_catalog.||) ".join(
            f"pg_catalog.jsonb_build_object({', '.join(chunk)})" for chunk in chunks) + ")::pg_catalog.text"
    body = f"SELECT churnml._score_json({plpy.quote_literal(name)}, {row})"
    return (
        f"CREATE OR REPLACE FUNCTION {qualified}({params}) RETURNS float8 "
        f"LANGUAGE sql STABLE PARALLEL SAFE SET search_path = pg_catalog, pg_temp AS {plpy.quote_literal(body)}"
    )


@entry
def create_model_function(plpy: Plpy, function: str, name: str, schema: str | None) -> str:
    if not function or not FUNCTION_NAME.match(function):
        raise InvalidParameter(f"invalid function name {function!r}",
                               hint="Use a plain identifier such as will_churn.")
    if schema is None:
        raise NullValueNotAllowed("schema must not be NULL", hint="Pass the schema to create the function in.")
    loaded = model_cache.serving(plpy, name).model
    regtype = plpy.prepare("SELECT $1::pg_catalog.regtype::pg_catalog.text AS t", ["pg_catalog.text"])
    features = []
    for feature in loaded.spec.features:
        # Parsed by regtype: a stored type name can only ever come back as a real type's name.
        sql_type = plpy.execute(regtype, [feature.sql_type])[0]["t"]
        features.append((feature.name, sql_type))
    superuser = plpy.execute(plpy.prepare(
        "SELECT r.rolsuper FROM pg_catalog.pg_roles AS r WHERE r.rolname OPERATOR(pg_catalog.=) CURRENT_USER",
        []))[0]["rolsuper"]
    make = _function_sql if superuser else _sql_function_sql
    _refuse_foreign_function(plpy, f"{plpy.quote_ident(schema)}.{plpy.quote_ident(function)}"
                                   f"({', '.join(t for _, t in features)})", "create_model_function")
    _drop_earlier_form(plpy, schema, function, features)
    plpy.execute(make(plpy, schema, function, name, features))
    signature = f"{plpy.quote_ident(schema)}.{plpy.quote_ident(function)}({', '.join(t for _, t in features)})"
    plpy.execute(f"REVOKE ALL ON FUNCTION {signature} FROM PUBLIC")
    plpy.execute(f"GRANT EXECUTE ON FUNCTION {signature} TO churnml_user")
    comment = f"Churn probability from the model deployed as \"{name}\" (made by churnml.create_model_function)."
    plpy.execute(f"COMMENT ON FUNCTION {signature} IS {plpy.quote_literal(comment)}")
    return signature


def _refuse_foreign_function(plpy: Plpy, signature: str, maker: str) -> None:
    """42723 when `signature` names an existing function that churnml did not make: CREATE OR REPLACE
    would silently replace someone's own function of that name and arguments. One churnml made (its
    body calls churnml, or its comment names the function that made it) is replaced, which is what
    re-running create_model_function or create_shard_function after a deploy is for."""
    plan = prepared(plpy, "existing_function", """
        SELECT p.oid::pg_catalog.regprocedure::pg_catalog.text AS signature,
               pg_catalog.obj_description(p.oid, 'pg_proc') AS comment, p.prosrc AS body
        FROM pg_catalog.pg_proc AS p WHERE p.oid OPERATOR(pg_catalog.=) pg_catalog.to_regprocedure($1)""",
        ["pg_catalog.text"])
    rows = plpy.execute(plan, [signature])
    if not rows:
        return
    comment, body = rows[0]["comment"] or "", rows[0]["body"] or ""
    if f"churnml.{maker}" in comment or "churnml.sql_api.scoring" in body or "churnml._score_json" in body \
            or "churnml.predict" in body:
        return
    raise DuplicateFunction(
        f"function {rows[0]['signature']} already exists and churnml did not make it",
        detail=f"churnml.{maker} replaces only a function it made itself.",
        hint="Choose another function name, or drop that function first (DROP FUNCTION "
             f"{rows[0]['signature']}).")


def _drop_earlier_form(plpy: Plpy, schema: str, function: str, features: list[tuple[str, str]]) -> None:
    """Drop the function 0.2.0's create_model_function made under this name for these features.

    Its signature had a last `_statement float8` argument with a default; beside the new
    function without it, every call would be ambiguous ("function is not unique"). It is
    the function this call replaces, so it goes, as CREATE OR REPLACE would have replaced it.
    """
    earlier = f"{plpy.quote_ident(schema)}.{plpy.quote_ident(function)}({', '.join(t for _, t in features)}, float8)"
    plan = prepared(plpy, "earlier_typed_function", """
        SELECT p.oid::pg_catalog.regprocedure::pg_catalog.text AS signature
        FROM pg_catalog.pg_proc AS p
        WHERE p.oid OPERATOR(pg_catalog.=) pg_catalog.to_regprocedure($1)
          AND p.proargnames[p.pronargs] OPERATOR(pg_catalog.=) '_statement'""", ["pg_catalog.text"])
    rows = plpy.execute(plan, [earlier])
    if rows:
        plpy.execute(f"DROP FUNCTION {rows[0]['signature']}")


# ---------------------------------------------------------------------------------------------
# churnml.predict(model_id, numbers, texts): one registered model, features as two arrays.
#
# IMMUTABLE, so postgres_fdw may ship it to shards (and Citus evaluates it there): it reads
# exactly the model `model_id`, never a deployment, and a registered model's artifact checksum,
# format and feature spec never change (the trigger on churnml.models refuses it).


def takes_number(sql_type: str) -> bool:
    """Whether a feature of this SQL type travels in predict's float8 array (else in the text one)."""
    return type_family(sql_type) in ("numeric", "boolean")


@dataclass(frozen=True)
class _Layout:
    """Where each of a model's features sits in predict's two arrays."""

    numbers: list[str]  # feature names, in spec order
    texts: list[str]
    order: list[int]  # value of feature i = (numbers + texts)[order[i]]
    as_bool: list[int]  # categorical features of a boolean SQL type: 1.0/0.0 back to true/false

    def hint(self, loaded: model_cache.LoadedModel) -> str:
        return (f"Model {loaded.model_id} (\"{loaded.name}\") takes numbers => float8[] of "
                f"{len(self.numbers)} ({', '.join(self.numbers) or 'none'}) and texts => text[] of "
                f"{len(self.texts)} ({', '.join(self.texts) or 'none'}), in this order. "
                f"churnml.create_shard_function writes the call for a table.")


_layouts: dict[tuple[int, str], _Layout] = {}


def layout(loaded: model_cache.LoadedModel) -> _Layout:
    key = (loaded.model_id, loaded.sha256)
    found = _layouts.get(key)
    if found is None:
        features = loaded.spec.features
        numbers = [f.name for f in features if takes_number(f.sql_type)]
        texts = [f.name for f in features if not takes_number(f.sql_type)]
        order, n, t = [], 0, len(numbers)
        for f in features:
            if takes_number(f.sql_type):
                order.append(n)
                n += 1
            else:
                order.append(t)
                t += 1
        as_bool = [i for i, f in enumerate(features)
                   if f.group == "categorical" and type_family(f.sql_type) == "boolean"]
        if len(_layouts) >= 4 * model_cache.MAX_CACHED_MODELS:
            _layouts.clear()
        found = _layouts[key] = _Layout(numbers, texts, order, as_bool)
    return found


def _flat(values: list[Any], what: str, loaded: model_cache.LoadedModel, shape: _Layout) -> None:
    for value in values:
        if isinstance(value, list):
            raise InvalidParameter(f"{what} must be a one-dimensional array", hint=shape.hint(loaded))


@entry
def predict(plpy: Plpy, model_id: int, numbers: list[Any], texts: list[Any]) -> float:
    try:
        loaded = model_cache.by_id(plpy, model_id)
    except UndefinedObject as missing:
        missing.hint = ("SELECT id, name FROM churnml.model_summary lists the models. On a shard, the "
                        "coordinator's registry may not have replicated yet (docs/models.md, "
                        "\"Sharded scoring with postgres_fdw\").")
        raise
    shape = layout(loaded)
    _flat(numbers, "numbers", loaded, shape)  # before counting: a 2-D array counts its rows
    _flat(texts, "texts", loaded, shape)
    if len(numbers) != len(shape.numbers) or len(texts) != len(shape.texts):
        raise InvalidParameter(
            f"model {model_id} takes {len(shape.numbers)} numbers and {len(shape.texts)} texts, "
            f"not {len(numbers)} and {len(texts)}", hint=shape.hint(loaded))
    merged = numbers + texts
    values = [merged[i] for i in shape.order]
    for i in shape.as_bool:
        if values[i] is not None:
            values[i] = values[i] == 1.0 if values[i] in (0.0, 1.0) else values[i]
    return loaded.score_values(values)


def _shard_function_sql(plpy: Plpy, schema: str, function: str, row_type: str, model_id: int,
                        numbers: list[str], texts: list[str]) -> str:
    qualified = f"{plpy.quote_ident(schema)}.{plpy.quote_ident(function)}"
    return (
        f"CREATE OR REPLACE FUNCTION {qualified}(c {row_type}) RETURNS pg_catalog.float8 "
        f"LANGUAGE sql IMMUTABLE PARALLEL SAFE\n"
        f"RETURN churnml.predict({int(model_id)}::pg_catalog.int8,\n"
        f"    ARRAY[{', '.join(numbers)}]::pg_catalog.float8[],\n"
        f"    ARRAY[{', '.join(texts)}]::pg_catalog.text[])"
    )


def _as_float8(plpy: Plpy, column: str, sql_type: str, feature: str) -> str:
    ref = f"($1).{plpy.quote_ident(column)}"
    family = type_family(sql_type)
    if family == "boolean":
        return f"CAST(CAST({ref} AS pg_catalog.int4) AS pg_catalog.float8)"
    if family == "numeric":
        return ref if sql_type == "double precision" else f"CAST({ref} AS pg_catalog.float8)"
    raise DatatypeMismatch(
        f"column \"{column}\" is of type {sql_type}, but feature \"{feature}\" is a number",
        detail="The model was trained on a number or boolean column of that name.",
        hint="Score a table or view whose column has a number or boolean type.")


def _as_text(plpy: Plpy, column: str, sql_type: str) -> str:
    ref = f"($1).{plpy.quote_ident(column)}"
    return ref if sql_type == "text" else f"CAST({ref} AS pg_catalog.text)"


@entry
def create_shard_function(plpy: Plpy, function: str | None, relation: str | None, name: str | None,
                          schema: str | None) -> str:
    for argument, value in (("function_name", function), ("relation", relation), ("model", name),
                            ("schema", schema)):
        if value is None:
            raise NullValueNotAllowed(f"{argument} must not be NULL")
    assert function is not None and relation is not None and name is not None and schema is not None  # just checked
    if not FUNCTION_NAME.match(function):
        raise InvalidParameter(f"invalid function name {function!r}",
                               hint="Use a plain identifier such as churn_on_shards.")
    # The function runs with search_path = pg_catalog, pg_temp: regclass and regtype print
    # schema-qualified, quoted names, so what is read back and written below is exact.
    rows = plpy.execute(plpy.prepare("""
        SELECT c.reltype::pg_catalog.regtype::pg_catalog.text AS row_type, c.relkind::pg_catalog.text AS kind
        FROM pg_catalog.pg_class AS c WHERE c.oid OPERATOR(pg_catalog.=) pg_catalog.to_regclass($1)""",
        ["pg_catalog.text"]),
        [relation])
    if not rows or rows[0]["kind"] not in ("r", "p", "f", "v", "m"):
        raise UndefinedObject(f"{relation} is not a table, view or foreign table",
                              hint="Name the table whose rows the function will score, e.g. 'customers'.")
    row_type = rows[0]["row_type"]
    columns = {r["attname"]: r["type"] for r in plpy.execute(plpy.prepare("""
        SELECT a.attname, pg_catalog.format_type(a.atttypid, NULL) AS type
        FROM pg_catalog.pg_attribute AS a
        WHERE a.attrelid OPERATOR(pg_catalog.=) pg_catalog.to_regclass($1) AND a.attnum OPERATOR(pg_catalog.>) 0
          AND NOT a.attisdropped""", ["pg_catalog.text"]), [relation])}
    loaded = model_cache.serving(plpy, name).model
    missing = [f.name for f in loaded.spec.features if f.name not in columns]
    if missing:
        raise UndefinedColumn(f"{relation} has no column \"{missing[0]}\" that model \"{name}\" needs",
                              hint=features_hint(loaded))
    numbers = [_as_float8(plpy, f.name, columns[f.name], f.name)
               for f in loaded.spec.features if takes_number(f.sql_type)]
    texts = [_as_text(plpy, f.name, columns[f.name]) for f in loaded.spec.features if not takes_number(f.sql_type)]
    signature = f"{plpy.quote_ident(schema)}.{plpy.quote_ident(function)}({row_type})"
    _refuse_foreign_function(plpy, signature, "create_shard_function")
    plpy.execute(_shard_function_sql(plpy, schema, function, row_type, loaded.model_id, numbers, texts))
    plpy.execute(f"REVOKE ALL ON FUNCTION {signature} FROM PUBLIC")
    plpy.execute(f"GRANT EXECUTE ON FUNCTION {signature} TO churnml_user")
    comment = (
        f"Churn probability of a {row_type} row from model {loaded.model_id}, the model deployed as \"{name}\" "
        f"when churnml.create_shard_function made this function: run it again after a deploy. IMMUTABLE and "
        f"inlinable, so postgres_fdw ships the churnml.predict call inside to shards that have churnml. "
        f"Deliberately without SET search_path (PostgreSQL never inlines a function that has one): its body is "
        f"SQL-standard, parsed once at creation with every name schema-qualified, so no name is looked up "
        f"when it runs.")
    plpy.execute(f"COMMENT ON FUNCTION {signature} IS {plpy.quote_literal(comment)}")
    return signature
