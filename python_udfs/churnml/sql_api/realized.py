"""SQL area: prediction logging, outcomes, realized performance and the shadow challenger.

churnml.log_predictions, start_shadow, stop_shadow, promote_shadow and record_outcomes are
churnml_admin's; realized_performance is churnml_user's. The log itself is written by the
scoring functions (churnml.monitoring.prediction_log) through churnml._log_prediction.
"""

from __future__ import annotations

import math
from typing import Any

from churnml import registry
from churnml.errors import (
    InvalidParameter,
    NullValueNotAllowed,
    NumericValueOutOfRange,
    ObjectNotInPrerequisiteState,
    UndefinedColumn,
    UndefinedObject,
    shown_number,
    sql_literal,
)
from churnml.monitoring import realized
from churnml.spi import Plpy, prepared
from churnml.sql_api.entry import entry

MAX_IDENTIFIER = 63


def _forget(name: str) -> None:
    """This session's next call of `name` reads the settings again (others' next statement does anyway)."""
    from churnml.scoring import model_cache

    model_cache.forget(name)


def _deployed_model(plpy: Plpy, name: str) -> int | None:
    rows = plpy.execute(prepared(plpy, "realized_deployed", """
        SELECT model_id FROM churnml.deployments WHERE name OPERATOR(pg_catalog.=) $1 ORDER BY id DESC LIMIT 1""",
        ["pg_catalog.text"]), [name])
    return int(rows[0]["model_id"]) if rows else None


def _column_name(value: str | None, what: str, *, required: bool) -> str | None:
    if value is None:
        if required:
            raise NullValueNotAllowed(f"{what} must not be NULL", hint=f"Name the source's {what.replace('_', ' ')}.")
        return None
    if not value.strip():
        raise InvalidParameter(f"{what} must not be empty", hint="Pass a column name, e.g. 'customer_id'.")
    if len(value) > MAX_IDENTIFIER or "\x00" in value:
        raise InvalidParameter(f"{what} is not a column name",
                               detail=f"A column name is at most {MAX_IDENTIFIER} characters.")
    return value


# --------------------------------------------------------------------------------------- logging

@entry
def log_predictions(plpy: Plpy, name: str | None, sample_rate: float | None,
                    key_column: str | None) -> list[dict[str, Any]]:
    name = registry.check_model_name(name)
    if sample_rate is None:
        raise NullValueNotAllowed("sample_rate must not be NULL",
                                  hint="Pass the fraction of calls to log, from 0 (off) to 1 (every call).")
    if not 0.0 <= sample_rate <= 1.0:  # also NaN
        raise NumericValueOutOfRange(f"sample_rate must be between 0 and 1, not {shown_number(sample_rate)}",
                                     hint="Pass the fraction of calls to log, e.g. 0.01; 0 turns logging off.")
    key = _column_name(key_column, "key_column", required=False)
    plpy.execute(prepared(plpy, "delete_prediction_logging",
                          "DELETE FROM churnml.prediction_logging WHERE name OPERATOR(pg_catalog.=) $1",
                          ["pg_catalog.text"]), [name])
    row = plpy.execute(prepared(plpy, "insert_prediction_logging", """
        INSERT INTO churnml.prediction_logging (name, sample_rate, key_column) VALUES ($1, $2, $3)
        RETURNING *""", ["pg_catalog.text", "pg_catalog.float8", "pg_catalog.text"]),
        [name, float(sample_rate), key])[0]
    _forget(name)
    deployed = _deployed_model(plpy, name) is not None
    if sample_rate == 0.0:
        said = f'logging of "{name}" is off'
    else:
        said = (f'{"every call" if sample_rate == 1.0 else f"a fraction {sample_rate:g} of the calls"} of "{name}" '
                f"will be logged" + (f" with the row's {key} as the key" if key else " without a key")
                + ("" if deployed else " once it is deployed")
                + "; calls in parallel queries and read-only transactions are not logged")
    plpy.notice(f"churnml.log_predictions: {said}")
    return [dict(row)]


# --------------------------------------------------------------------------------------- outcomes

_OUTCOMES = """
WITH src AS (
    SELECT (s.{key})::pg_catalog.text AS entity_key, {label} AS outcome
    FROM {query} AS s
    WHERE s.{key} IS NOT NULL AND s.{label_column} IS NOT NULL
), outcomes AS (
    SELECT o.entity_key, pg_catalog.bool_or(o.outcome) AS outcome FROM src AS o GROUP BY o.entity_key
), updated AS (
    UPDATE churnml.prediction_log AS l
    SET (outcome, outcome_at) = (o.outcome, pg_catalog.statement_timestamp())
    FROM outcomes AS o
    WHERE l.name OPERATOR(pg_catalog.=) $1 AND l.entity_key OPERATOR(pg_catalog.=) o.entity_key
      AND l.outcome IS NULL AND l.logged_at OPERATOR(pg_catalog.<=) pg_catalog.statement_timestamp()
      AND ($2::pg_catalog.interval IS NULL OR l.logged_at OPERATOR(pg_catalog.>=)
           (pg_catalog.statement_timestamp() OPERATOR(pg_catalog.-) $2::pg_catalog.interval))
    RETURNING l.entity_key, l.outcome
)
SELECT (SELECT pg_catalog.count(*) FROM src) AS labelled_rows,
       (SELECT pg_catalog.count(*) FROM outcomes) AS keys,
       pg_catalog.count(DISTINCT u.entity_key) AS keys_matched,
       pg_catalog.count(*) AS predictions_updated,
       pg_catalog.count(*) FILTER (WHERE u.outcome) AS positives
FROM updated AS u"""


def _known(plpy: Plpy, name: str) -> None:
    """42704 unless `name` logs predictions or has logged some."""
    rows = plpy.execute(prepared(plpy, "realized_known", """
        SELECT EXISTS (SELECT FROM churnml.prediction_logging WHERE name OPERATOR(pg_catalog.=) $1)
            OR EXISTS (SELECT FROM churnml.prediction_log WHERE name OPERATOR(pg_catalog.=) $1) AS known""",
        ["pg_catalog.text"]), [name])
    if not rows[0]["known"]:
        raise UndefinedObject(f'no predictions of "{name}" are logged',
                              hint=f"Turn logging on first: SELECT churnml.log_predictions({sql_literal(name)}, "
                                   "0.05, 'customer_id');")


def _check_horizon(plpy: Plpy, horizon: str | None) -> None:
    if horizon is None:
        return
    positive = plpy.execute(prepared(plpy, "positive_interval",
                                     "SELECT $1::pg_catalog.interval OPERATOR(pg_catalog.>) "
                                     "'0'::pg_catalog.interval AS ok", ["pg_catalog.interval"]), [horizon])
    if not positive[0]["ok"]:
        raise InvalidParameter("horizon must be a positive interval",
                               hint="e.g. '30 days': outcomes attach to the calls logged within 30 days before.")


@entry
def record_outcomes(plpy: Plpy, name: str | None, source: str | None, key_column: str | None,
                    label_column: str | None, horizon: str | None, search_path: str | None) -> list[dict[str, Any]]:
    from churnml.source_data import caller_search_path, query_columns, resolve_source

    name = registry.check_model_name(name)
    key = _column_name(key_column, "key_column", required=True)
    label_name = _column_name(label_column, "label_column", required=True)
    assert key is not None and label_name is not None  # required
    _check_horizon(plpy, horizon)
    _known(plpy, name)
    with caller_search_path(plpy, search_path):
        from_item, _ = resolve_source(plpy, source)
        columns = dict(query_columns(plpy, from_item, "the source", unique=False))
        for wanted, what in ((key, "key"), (label_name, "label")):
            if wanted not in columns:
                raise UndefinedColumn(f'the source has no {what} column "{wanted}"',
                                      detail=f"Source columns: {', '.join(columns)}.")
        label = realized.label_expression(plpy.quote_ident(label_name), columns[label_name])
        statement = _OUTCOMES.format(key=plpy.quote_ident(key), label=label.expression,
                                     label_column=plpy.quote_ident(label_name),
                                     query=from_item.removesuffix(" AS src"))
        plan = plpy.prepare(statement, ["pg_catalog.text", "pg_catalog.interval"])
        row = dict(plpy.execute(plan, [name, horizon])[0])
    plpy.notice(f'churnml.record_outcomes: {row["predictions_updated"]} logged predictions of "{name}" '
                f'({row["keys_matched"]} of the source\'s {row["keys"]} keys) now have an outcome, '
                f'{row["positives"]} of them churned')
    return [row]


# --------------------------------------------------------------------------------------- performance

@entry
def realized_performance(plpy: Plpy, name: str | None, period: str | None, since: str | None
                         ) -> list[dict[str, Any]]:
    name = registry.check_model_name(name)
    chosen = realized.check_period(period)
    _known(plpy, name)
    plan = prepared(plpy, "realized_performance", realized.PERFORMANCE,
                    ["pg_catalog.text", "pg_catalog.text", "pg_catalog.timestamptz"])
    return [dict(r) for r in plpy.execute(plan, [name, chosen, since])]


# --------------------------------------------------------------------------------------- shadow

def _shadow_of(plpy: Plpy, name: str, *, lock: bool = False) -> int | None:
    query = "SELECT model_id FROM churnml.shadow_models WHERE name OPERATOR(pg_catalog.=) $1"
    rows = plpy.execute(prepared(plpy, "shadow_of" + ("_locked" if lock else ""),
                                 query + (" FOR UPDATE" if lock else ""), ["pg_catalog.text"]), [name])
    return int(rows[0]["model_id"]) if rows else None


def _logging_rate(plpy: Plpy, name: str) -> float:
    rows = plpy.execute(prepared(plpy, "logging_rate", """
        SELECT sample_rate FROM churnml.prediction_logging WHERE name OPERATOR(pg_catalog.=) $1""",
        ["pg_catalog.text"]), [name])
    return float(rows[0]["sample_rate"]) if rows else 0.0


@entry
def start_shadow(plpy: Plpy, name: str | None, model_id: int | None) -> list[dict[str, Any]]:
    from churnml.scoring import model_cache

    name = registry.check_model_name(name)
    if model_id is None:
        raise NullValueNotAllowed("model_id must not be NULL",
                                  hint="Pass the id of the challenger: SELECT id FROM churnml.model_summary.")
    current = registry.current_deployment(plpy, name)  # 55000 when the name is not deployed
    stored = registry.load_model(plpy, model_id)  # 42704, or XX001 for a damaged artifact
    if stored.kind != "churn":
        raise InvalidParameter(f"model {model_id} is a {stored.kind} model, not a churn model",
                               hint="A shadow is scored beside a churn model.")
    if stored.name != name:
        raise InvalidParameter(f'model {model_id} belongs to "{stored.name}", not "{name}"',
                               detail="A shadow must be promotable, and deploy serves a name only its own models.",
                               hint=f"Train the challenger under the name {sql_literal(name)}.")
    if model_id == current.model_id:
        raise InvalidParameter(f'model {model_id} already serves "{name}"',
                               hint="Shadow another model: a challenger scored beside the one serving.")
    shadow = model_cache.build(stored)  # refuses an artifact the scorer cannot read, before it is used
    serving = model_cache.model(plpy, current.model_id, current.artifact_sha256)
    missing = [n for n in shadow.input_names if n not in serving.input_names]
    plpy.execute(prepared(plpy, "delete_shadow", "DELETE FROM churnml.shadow_models WHERE name OPERATOR(pg_catalog.=) "
                          "$1", ["pg_catalog.text"]), [name])
    plpy.execute(prepared(plpy, "insert_shadow", "INSERT INTO churnml.shadow_models (name, model_id) VALUES ($1, $2)",
                          ["pg_catalog.text", "pg_catalog.int8"]), [name, model_id])
    _forget(name)
    rate = _logging_rate(plpy, name)
    said = (f'model {model_id} is scored beside model {current.model_id} on every logged call of "{name}"'
            + (f" (a fraction {rate:g} of the calls)" if 0 < rate < 1 else "")
            + "; the answers stay model " + str(current.model_id) + "'s")
    if rate == 0:
        said += (f"; logging of \"{name}\" is off, so nothing is scored yet: churnml.log_predictions("
                 f"{sql_literal(name)}, 0.05, 'customer_id') turns it on")
    if missing:
        said += (f"; the serving model has no feature \"{missing[0]}\", so typed functions and invoke_endpoint "
                 "calls get no shadow score (will_churn(row) does when the row has the column)")
    plpy.notice(f"churnml.start_shadow: {said}")
    return [{"deployment": name, "serving_model_id": current.model_id, "shadow_model_id": model_id,
             "sample_rate": rate}]


@entry
def stop_shadow(plpy: Plpy, name: str | None) -> int | None:
    name = registry.check_model_name(name)
    rows = plpy.execute(prepared(plpy, "stop_shadow", """
        DELETE FROM churnml.shadow_models WHERE name OPERATOR(pg_catalog.=) $1 RETURNING model_id""",
        ["pg_catalog.text"]), [name])
    _forget(name)
    if not rows:
        plpy.notice(f'churnml.stop_shadow: "{name}" has no shadow model')
        return None
    stopped = int(rows[0]["model_id"])
    plpy.notice(f'churnml.stop_shadow: model {stopped} is no longer scored beside "{name}"; its logged calls stay')
    return stopped


def _check_gain(min_gain: float | None, min_outcomes: int | None) -> tuple[float, int]:
    if min_gain is None:
        raise NullValueNotAllowed("min_gain must not be NULL", hint="Pass the AUC gain to require, e.g. 0.01.")
    if not (math.isfinite(min_gain) and 0.0 <= min_gain < 1.0):
        raise NumericValueOutOfRange(f"min_gain must be from 0 to below 1, not {shown_number(min_gain)}",
                                     hint="Pass the AUC gain the shadow must show, e.g. 0.01.")
    if min_outcomes is None:
        raise NullValueNotAllowed("min_outcomes must not be NULL",
                                  hint="Pass how many calls with outcomes the comparison needs, e.g. 200.")
    if min_outcomes < 1:
        raise NumericValueOutOfRange(f"min_outcomes must be at least 1, not {min_outcomes}",
                                     hint="Pass how many calls with outcomes the comparison needs, e.g. 200.")
    return float(min_gain), int(min_outcomes)


def _auc(value: Any) -> str:
    return "undefined" if value is None else f"{float(value):.4f}"


@entry
def promote_shadow(plpy: Plpy, name: str | None, min_gain: float | None,
                   min_outcomes: int | None) -> list[dict[str, Any]]:
    from churnml.sql_api.models import deploy_model

    name = registry.check_model_name(name)
    gain_needed, outcomes_needed = _check_gain(min_gain, min_outcomes)
    shadow_id = _shadow_of(plpy, name, lock=True)  # one promotion at a time per name
    if shadow_id is None:
        raise ObjectNotInPrerequisiteState(f'"{name}" has no shadow model',
                                           hint=f"Start one: SELECT churnml.start_shadow({sql_literal(name)}, "
                                                "model_id);")
    serving_id = registry.current_deployment(plpy, name).model_id
    compared = dict(plpy.execute(prepared(plpy, "paired_auc", realized.PAIRED_AUC,
                                          ["pg_catalog.text", "pg_catalog.int8", "pg_catalog.int8"]),
                                 [name, shadow_id, serving_id])[0])
    outcomes, positives = int(compared["outcomes"]), int(compared["positives"])
    serving_auc, shadow_auc = compared["serving_auc"], compared["shadow_auc"]
    result = {"decision": "kept", "serving_model_id": serving_id, "shadow_model_id": shadow_id,
              "serving_auc": serving_auc, "shadow_auc": shadow_auc, "outcomes": outcomes, "positives": positives,
              "deployment_id": None}
    on = f"on the {outcomes} logged calls both scored that have outcomes"
    if outcomes < outcomes_needed:
        result["reason"] = (f"too few outcomes: {outcomes} logged calls scored by both models have one, "
                            f"min_outcomes is {outcomes_needed}")
    elif serving_auc is None or shadow_auc is None:
        result["reason"] = f"AUC is undefined {on}: {positives} churned, {outcomes - positives} stayed"
    elif float(shadow_auc) - float(serving_auc) >= gain_needed and float(shadow_auc) > float(serving_auc):
        deployed = deploy_model(plpy, name, shadow_id, None, None, caller="churnml.promote_shadow",
                                 recorded_as="shadow")
        plpy.execute(prepared(plpy, "stop_shadow", """
            DELETE FROM churnml.shadow_models WHERE name OPERATOR(pg_catalog.=) $1 RETURNING model_id""",
            ["pg_catalog.text"]), [name])
        _forget(name)
        result.update(decision="promoted", deployment_id=deployed["deployment_id"],
                      reason=f"shadow AUC {_auc(shadow_auc)} beats serving {_auc(serving_auc)} by "
                             f"{float(shadow_auc) - float(serving_auc):.4f} (min_gain {gain_needed:g}) {on}; "
                             f"churnml.rollback({sql_literal(name)}) undoes it")
    else:
        result["reason"] = (f"shadow AUC {_auc(shadow_auc)} is not better than serving {_auc(serving_auc)} by "
                            f"min_gain {gain_needed:g} {on}")
    plpy.notice(f'churnml.promote_shadow: "{name}" {result["decision"]} ({result["reason"]})')
    return [result]
