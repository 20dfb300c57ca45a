"""SQL area: assess_customer, the walkthrough's assess_and_recommend_incentive as one call.

The customer's message is only ever a parameter value: it never becomes SQL text.
Table and column names come from churnml.call_center_settings (set by an admin): the
tables are resolved by to_regclass under the caller's search_path and written back
schema-qualified with quote_ident, and checked with their columns up front
(`resolve_tables`, shared with churnml.customer_risk), so a wrong setting is an error
naming it; column names are quoted with plpy.quote_ident.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from churnml.errors import (
    InvalidName,
    NoDataFound,
    ReadOnlyTransaction,
    UndefinedColumn,
    UndefinedTable,
    WrongObjectType,
    not_a_name,
)
from churnml.monitoring import prediction_log
from churnml.scoring import model_cache
from churnml.sentiment.analysis import run_one
from churnml.source_data import pinned_search_path
from churnml.spi import Plpy, prepared
from churnml.sql_api.entry import entry
from churnml.sql_api.sentiment import scorer_for

_SETTINGS = """
    SELECT customer_table, key_columns, message_table, message_column, time_column, model, rule_set, top_reasons
    FROM churnml.call_center_config"""
# The function sits in FROM so that it runs once: as `(f(...)).field` in a select
# list, PostgreSQL would call it once per field it expands.
_RECOMMEND_AND_LOG = """
    SELECT r.offer, r.offer_value, r.reason, r.rule_name, r.arm, r.experiment,
           CASE WHEN $6 THEN churnml.log_offer($5, r, $7) END AS offer_id
    FROM churnml.recommend_incentive($1, $2, $3, $4::pg_catalog.jsonb, $5, $8) AS r"""


SETTINGS_TABLE = "churnml.call_center_settings"
_HINT = "Set it in churnml.call_center_settings (see its COMMENT: INSERT ... ON CONFLICT (singleton) DO UPDATE)."
# What a customer or message table may be: a table, view, materialized view, foreign or partitioned table.
_READABLE = frozenset("rvmfp")
_KINDS = {"S": "a sequence", "i": "an index", "I": "an index", "c": "a composite type", "t": "a TOAST table"}

# Both tables of the settings resolved in one statement (under the caller's search_path, as the
# lookups that follow): each as schema-qualified quoted SQL with its kind, and which of the named
# columns it has. A name that does not parse makes to_regclass fail (42602): see _refuse_bad_name.
_RESOLVE = """
    SELECT pg_catalog.quote_ident(cn.nspname) OPERATOR(pg_catalog.||) '.'
               OPERATOR(pg_catalog.||) pg_catalog.quote_ident(c.relname) AS customer,
           c.relkind::pg_catalog.text AS customer_kind,
           (SELECT pg_catalog.jsonb_object_agg(a.attname, pg_catalog.format_type(a.atttypid, a.atttypmod))
            FROM pg_catalog.pg_attribute AS a
            WHERE a.attrelid OPERATOR(pg_catalog.=) c.oid AND a.attnum OPERATOR(pg_catalog.>) 0 AND NOT a.attisdropped
              AND a.attname OPERATOR(pg_catalog.=) ANY ($3::pg_catalog.name[]))::pg_catalog.text AS key_types,
           pg_catalog.quote_ident(mn.nspname) OPERATOR(pg_catalog.||) '.'
               OPERATOR(pg_catalog.||) pg_catalog.quote_ident(m.relname) AS messages,
           m.relkind::pg_catalog.text AS messages_kind,
           (SELECT pg_catalog.array_agg(a.attname::pg_catalog.text) FROM pg_catalog.pg_attribute AS a
            WHERE a.attrelid OPERATOR(pg_catalog.=) m.oid AND a.attnum OPERATOR(pg_catalog.>) 0 AND NOT a.attisdropped
              AND a.attname OPERATOR(pg_catalog.=) ANY ($4::pg_catalog.name[])) AS message_columns
    FROM (SELECT pg_catalog.to_regclass($1) AS customer, pg_catalog.to_regclass($2) AS messages) AS r
    LEFT JOIN pg_catalog.pg_class AS c ON c.oid OPERATOR(pg_catalog.=) r.customer
    LEFT JOIN pg_catalog.pg_namespace AS cn ON cn.oid OPERATOR(pg_catalog.=) c.relnamespace
    LEFT JOIN pg_catalog.pg_class AS m ON m.oid OPERATOR(pg_catalog.=) r.messages
    LEFT JOIN pg_catalog.pg_namespace AS mn ON mn.oid OPERATOR(pg_catalog.=) m.relnamespace"""


@dataclass(frozen=True)
class Tables:
    """The call-center settings' tables, checked: quoted, schema-qualified SQL names."""

    customer: str
    key_types: list[str]  # the key columns' types, in key_columns' order
    messages: str | None  # None: the message table does not exist (assess without a message store)


def _shown(value: str) -> str:
    return value if len(value) <= 70 else value[:69] + "\u2026"


def _refuse_bad_name(plpy: Plpy, names: list[tuple[str, str | None]]) -> None:
    """Which setting does not parse as a table name: 42602 naming it."""
    plan = prepared(plpy, "call_center:regclass", "SELECT pg_catalog.to_regclass($1) AS r", ["pg_catalog.text"])
    for setting, value in names:
        if value is None:
            continue
        try:
            plpy.execute(plan, [value])
        except plpy.SPIError as exc:
            if not not_a_name(exc):
                raise
            raise InvalidName(
                f'{setting} "{_shown(value)}" of {SETTINGS_TABLE} is not a valid table name',
                detail='A table name is an identifier, optionally schema-qualified (schema.table); names with '
                       'capitals, spaces or dots are double-quoted as in SQL ("My Table").', hint=_HINT) from None


def _check_kind(setting: str, value: str, kind: str) -> None:
    if kind not in _READABLE:
        raise WrongObjectType(f'{setting} "{_shown(value)}" of {SETTINGS_TABLE} is {_KINDS.get(kind, "not a table")}'
                              ", not a table or view", hint=_HINT)


def _missing_column(setting: str, table: str, column_setting: str, column: str) -> UndefinedColumn:
    detail = ("assess_customer and churnml.customer_risk find customers by key_columns in customer_table."
              if setting == "customer_table" else
              "assess_customer reads a customer's latest message from message_table: message_column, the latest "
              "by time_column, matched on key_columns.")
    return UndefinedColumn(
        f'{setting} "{_shown(table)}" has no column "{_shown(column)}" ({column_setting} of {SETTINGS_TABLE})',
        detail=detail, hint=_HINT)


def resolve_tables(plpy: Plpy, settings: dict[str, Any], messages: bool) -> Tables:
    """The settings' customer table (and, with `messages`, message table) checked in one place,
    up front, under the caller's search_path: 42P01 for a missing customer table, 42602 for a
    name that does not parse, 42809 for a sequence or the like, 42703 for a missing key, message
    or time column, each naming the setting. A message table that does not exist is allowed
    (messages is then None: no message store)."""
    keys = list(settings["key_columns"])
    customer_table = settings["customer_table"]
    message_table = settings["message_table"] if messages else None
    columns = {settings["message_column"]: "message_column", settings["time_column"]: "time_column"} \
        if messages else {}
    plan = prepared(plpy, "call_center:tables", _RESOLVE,
                    ["pg_catalog.text", "pg_catalog.text", "pg_catalog.text[]", "pg_catalog.text[]"])
    try:
        row = plpy.execute(plan, [customer_table, message_table, keys, [*keys, *columns]])[0]
    except plpy.SPIError as exc:
        if not not_a_name(exc):
            raise
        _refuse_bad_name(plpy, [("customer_table", customer_table), ("message_table", message_table)])
        raise
    if row["customer"] is None:
        raise UndefinedTable(f'customer_table "{_shown(customer_table)}" of {SETTINGS_TABLE} does not exist',
                             detail="assess_customer and churnml.customer_risk look customers up in it, by its "
                                    "name as the caller's search_path resolves it.", hint=_HINT)
    _check_kind("customer_table", customer_table, row["customer_kind"])
    key_types = json.loads(row["key_types"] or "{}")
    for key in keys:
        if key not in key_types:
            raise _missing_column("customer_table", customer_table, "key_columns", key)
    if row["messages"] is None:
        return Tables(row["customer"], [key_types[k] for k in keys], None)
    _check_kind("message_table", message_table or "", row["messages_kind"])
    present = set(row["message_columns"] or ())
    for column, setting in [*((k, "key_columns") for k in keys), *columns.items()]:
        if column not in present:
            raise _missing_column("message_table", message_table or "", setting, column)
    return Tables(row["customer"], [key_types[k] for k in keys], row["messages"])


def _customer(plpy: Plpy, settings: dict[str, Any], tables: Tables, key: tuple[Any, Any]) -> dict[str, Any]:
    k1, k2 = (plpy.quote_ident(c) for c in settings["key_columns"])
    types = tables.key_types
    query = (f"SELECT pg_catalog.to_jsonb(c)::pg_catalog.text AS row FROM {tables.customer} AS c "
             f"WHERE c.{k1} OPERATOR(pg_catalog.=) $1 AND c.{k2} OPERATOR(pg_catalog.=) $2")
    rows = plpy.execute(prepared(plpy, f"customer:{query}:{types}", query, types), list(key))
    if not rows:
        raise NoDataFound(f"customer ({key[0]}, {key[1]}) not found",
                          detail=f'No row of {settings["customer_table"]} has {settings["key_columns"][0]} = '
                                 f'{key[0]} and {settings["key_columns"][1]} = {key[1]}.',
                          hint="Check the key, or churnml.call_center_settings for the table it looks in.")
    customer: dict[str, Any] = json.loads(rows[0]["row"])  # to_jsonb of a row: an object
    return customer


def _latest_message(plpy: Plpy, settings: dict[str, Any], tables: Tables, key: tuple[Any, Any]) -> str | None:
    if tables.messages is None:
        return None  # no message store configured: assess without a message
    k1, k2 = (plpy.quote_ident(c) for c in settings["key_columns"])
    text, time = plpy.quote_ident(settings["message_column"]), plpy.quote_ident(settings["time_column"])
    query = (f"SELECT m.{text}::pg_catalog.text AS message FROM {tables.messages} AS m "
             f"WHERE m.{k1}::pg_catalog.text OPERATOR(pg_catalog.=) $1 "
             f"AND m.{k2}::pg_catalog.text OPERATOR(pg_catalog.=) $2 ORDER BY m.{time} DESC NULLS LAST LIMIT 1")
    rows = plpy.execute(prepared(plpy, f"message:{query}", query, ["pg_catalog.text", "pg_catalog.text"]),
                        [str(key[0]), str(key[1])])
    return rows[0]["message"] if rows else None


def _reasons(loaded: model_cache.LoadedModel, values: list[Any], encoded: list[Any], top: int) -> str | None:
    from churnml.training.explain import group_contributions

    if top == 0:
        return None
    contributions = loaded.contributions(encoded)
    grouped = group_contributions(loaded.spec.output_names, contributions, loaded.spec)[:top]
    by_name = dict(zip(loaded.input_names, values, strict=True))
    return "; ".join(f"{feature}={by_name.get(feature)} ({value:+.2f})" for feature, value in grouped)


@entry
def assess(plpy: Plpy, area_code: int | None, phone: str | None, message: str | None, log_offer: bool | None,
           engine: str | None) -> list[dict[str, Any]]:
    """churnml.assess_customer, which runs under the caller's search_path (no SET clause): the
    settings' tables are found with it, then the rest runs with the path pinned."""
    if area_code is None or phone is None:
        return []
    settings = plpy.execute(prepared(plpy, "settings", _SETTINGS, []))[0]
    key = (area_code, phone)
    # the message table's settings matter only when it is read (message NULL)
    tables = resolve_tables(plpy, settings, messages=message is None)
    customer = _customer(plpy, settings, tables, key)
    if message is None:
        message = _latest_message(plpy, settings, tables, key)
    with pinned_search_path(plpy):
        return _assess(plpy, settings, key, customer, message, log_offer, engine)


def _assess(plpy: Plpy, settings: dict[str, Any], key: tuple[int, str], customer: dict[str, Any],
            message: str | None, log_offer: bool | None, engine: str | None) -> list[dict[str, Any]]:
    area_code, phone = key
    serving = model_cache.serving(plpy, settings["model"])
    loaded = serving.model
    missing = [n for n in loaded.input_names if n not in customer]
    if missing:
        raise UndefinedColumn(f'the customer row has no column "{missing[0]}" that model "{settings["model"]}" needs',
                              hint="Point call_center_settings at the table the model was trained on.")
    values = [customer[n] for n in loaded.input_names]
    # encoded once for the score and the reasons (a text feature would be embedded twice)
    encoded = loaded.encode_row(values)
    probability = loaded.predict_row(encoded)
    # keyed as the offer log is, so that offer outcomes attach to the call's log row
    if serving.logging is not None and prediction_log.sampled(serving.logging):
        prediction_log.log_call(plpy, settings["model"], serving, probability, f"{area_code}/{phone}",
                                lambda: customer)
    result = run_one(message, scorer_for(plpy, "en", engine))
    sentiment = None if result is None else result.label
    confidence = None if result is None else result.confidence
    customer_key = f"{area_code}/{phone}"
    plan = prepared(plpy, "recommend", _RECOMMEND_AND_LOG,
                 ["pg_catalog.float8", "pg_catalog.text", "pg_catalog.float8", "pg_catalog.text",
                  "pg_catalog.text", "boolean", "bigint", "pg_catalog.text"])
    try:
        offer = plpy.execute(plan, [probability, sentiment, confidence, json.dumps(customer), customer_key,
                                    log_offer is True, loaded.model_id, settings["rule_set"]])[0]
    except plpy.SPIError as exc:
        if getattr(exc, "sqlstate", None) != "25006" or log_offer is not True:
            raise
        # a hot standby (or a READ ONLY transaction) can score but not write the offer log
        raise ReadOnlyTransaction(
            "assess_customer cannot log the offer in a read-only transaction",
            detail="This server is a hot standby or the transaction is READ ONLY; the offer log is written on "
                   "the primary.",
            hint="Leave log_offer out (it defaults to false) to assess here, or make the call on the primary "
                 "to record the offer.") from exc
    return [{
        "customer_key": customer_key, "customer": json.dumps(customer), "will_churn": probability,
        "churn_flag": probability > serving.threshold, "sentiment": sentiment, "confidence": confidence,
        "offer": offer["offer"], "offer_value": offer["offer_value"], "reason": offer["reason"],
        "rule_name": offer["rule_name"], "arm": offer["arm"], "experiment": offer["experiment"],
        "top_reasons": _reasons(loaded, values, encoded, int(settings["top_reasons"])), "model_id": loaded.model_id,
        "offer_id": offer["offer_id"],
    }]
