"""SQL area: assess_customer, the walkthrough's assess_and_recommend_incentive as one call.

The customer's message is only ever a parameter value: it never becomes SQL text.
Table and column names come from churnml.call_center_settings (set by an admin)
and are quoted with plpy.quote_ident before they reach a statement.
"""

from __future__ import annotations

import json
from typing import Any

from churnml.errors import NoDataFound, ReadOnlyTransaction, UndefinedColumn, UndefinedObject
from churnml.scoring import model_cache
from churnml.source_data import caller_search_path
from churnml.spi import prepared
from churnml.sql_api.entry import entry
from churnml.sql_api.sentiment import analyze_texts

_SETTINGS = """
    SELECT customer_table, key_columns, message_table, message_column, time_column, model, rule_set, top_reasons
    FROM churnml.call_center_config"""
# The function sits in FROM so that it runs once: as `(f(...)).field` in a select
# list, PostgreSQL would call it once per field it expands.
_RECOMMEND_AND_LOG = """
    SELECT r.offer, r.offer_value, r.reason, r.rule_name, r.arm, r.experiment,
           CASE WHEN $6 THEN churnml.log_offer($5, r, $7) END AS offer_id
    FROM churnml.recommend_incentive($1, $2, $3, $4::pg_catalog.jsonb, $5, $8) AS r"""


def _qualified(plpy: Any, name: str) -> str:
    """'public.customers' -> "public"."customers" (each part quoted)."""
    return ".".join(plpy.quote_ident(part) for part in name.split("."))


def _key_types(plpy: Any, table: str, columns: list[str]) -> list[str]:
    """The key columns' types, so the lookup compares like with like and can use the table's index."""
    plan = prepared(plpy, "key_types", """
        SELECT a.attname::pg_catalog.text AS name, pg_catalog.format_type(a.atttypid, a.atttypmod) AS type
        FROM pg_catalog.pg_attribute AS a
        WHERE a.attrelid OPERATOR(pg_catalog.=) pg_catalog.to_regclass($1)
          AND a.attname OPERATOR(pg_catalog.=) ANY ($2::pg_catalog.name[]) AND NOT a.attisdropped""",
        ["pg_catalog.text", "pg_catalog.text[]"])
    found = {r["name"]: r["type"] for r in plpy.execute(plan, [table, columns])}
    if not found:
        raise UndefinedObject(f'the customer table "{table}" does not exist',
                              hint="Set it in churnml.call_center_settings (see its COMMENT).")
    missing = [c for c in columns if c not in found]
    if missing:
        raise UndefinedColumn(f'the customer table "{table}" has no key column "{missing[0]}"',
                              hint="Set them in churnml.call_center_settings (see its COMMENT).")
    return [found[c] for c in columns]


def _customer(plpy: Any, settings: dict[str, Any], key: tuple[Any, Any]) -> dict[str, Any]:
    table = settings["customer_table"]
    types = _key_types(plpy, table, list(settings["key_columns"]))
    k1, k2 = (plpy.quote_ident(c) for c in settings["key_columns"])
    query = (f"SELECT pg_catalog.to_jsonb(c)::pg_catalog.text AS row FROM {_qualified(plpy, table)} AS c "
             f"WHERE c.{k1} OPERATOR(pg_catalog.=) $1 AND c.{k2} OPERATOR(pg_catalog.=) $2")
    rows = plpy.execute(prepared(plpy, f"customer:{query}:{types}", query, types), list(key))
    if not rows:
        raise NoDataFound(f"customer ({key[0]}, {key[1]}) not found",
                          detail=f'No row of {table} has {settings["key_columns"][0]} = {key[0]} and '
                                 f'{settings["key_columns"][1]} = {key[1]}.',
                          hint="Check the key, or churnml.call_center_settings for the table it looks in.")
    return json.loads(rows[0]["row"])


def _latest_message(plpy: Any, settings: dict[str, Any], key: tuple[Any, Any]) -> str | None:
    k1, k2 = (plpy.quote_ident(c) for c in settings["key_columns"])
    text, time = plpy.quote_ident(settings["message_column"]), plpy.quote_ident(settings["time_column"])
    query = (f"SELECT m.{text}::pg_catalog.text AS message FROM {_qualified(plpy, settings['message_table'])} AS m "
             f"WHERE m.{k1}::pg_catalog.text OPERATOR(pg_catalog.=) $1 "
             f"AND m.{k2}::pg_catalog.text OPERATOR(pg_catalog.=) $2 ORDER BY m.{time} DESC NULLS LAST LIMIT 1")
    try:
        rows = plpy.execute(prepared(plpy, f"message:{query}", query, ["pg_catalog.text", "pg_catalog.text"]),
                            [str(key[0]), str(key[1])])
    except (plpy.spiexceptions.UndefinedTable, plpy.spiexceptions.UndefinedColumn):
        return None  # no message store configured: assess without a message
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
def assess(plpy: Any, area_code: int | None, phone: str | None, message: str | None, log_offer: bool | None,
           engine: str | None, search_path: str | None) -> list[dict[str, Any]]:
    if area_code is None or phone is None:
        return []
    settings = plpy.execute(prepared(plpy, "settings", _SETTINGS, []))[0]
    key = (area_code, phone)
    with caller_search_path(plpy, search_path):
        customer = _customer(plpy, settings, key)
        if message is None:
            message = _latest_message(plpy, settings, key)
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
    result = analyze_texts(plpy, [message], "en", engine)[0]
    sentiment = None if result is None else result.label
    confidence = None if result is None else result.confidence
    customer_key = f"{area_code}/{phone}"
    plan = prepared(plpy, "recommend", _RECOMMEND_AND_LOG,
                 ["pg_catalog.float8", "pg_catalog.text", "pg_catalog.float8", "pg_catalog.text",
                  "pg_catalog.text", "boolean", "bigint", "pg_catalog.text"])
    try:
        offer = plpy.execute(plan, [probability, sentiment, confidence, json.dumps(customer), customer_key,
                                    log_offer is not False, loaded.model_id, settings["rule_set"]])[0]
    except plpy.SPIError as exc:
        if getattr(exc, "sqlstate", None) != "25006" or log_offer is False:
            raise
        # a hot standby (or a READ ONLY transaction) can score but not write the offer log
        raise ReadOnlyTransaction(
            "assess_customer cannot log the offer in a read-only transaction",
            detail="This server is a hot standby or the transaction is READ ONLY; the offer log is written on "
                   "the primary.",
            hint="Call churnml.assess_customer(..., log_offer => false) here, or make the call on the primary "
                 "to record the offer.") from exc
    return [{
        "customer_key": customer_key, "customer": json.dumps(customer), "will_churn": probability,
        "churn_flag": probability > serving.threshold, "sentiment": sentiment, "confidence": confidence,
        "offer": offer["offer"], "offer_value": offer["offer_value"], "reason": offer["reason"],
        "rule_name": offer["rule_name"], "arm": offer["arm"], "experiment": offer["experiment"],
        "top_reasons": _reasons(loaded, values, encoded, int(settings["top_reasons"])), "model_id": loaded.model_id,
        "offer_id": offer["offer_id"],
    }]
