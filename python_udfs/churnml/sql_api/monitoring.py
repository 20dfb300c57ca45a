"""SQL area: drift monitoring of deployed churn models (churnml.monitor, capture_profile, thresholds)."""

from __future__ import annotations

import json
import math
import time
from typing import Any

from churnml import interrupts, progress, registry
from churnml.errors import (
    InvalidParameter,
    NullValueNotAllowed,
    ObjectNotInPrerequisiteState,
    UndefinedColumn,
    shown_number,
    sql_literal,
)
from churnml.monitoring import drift as drifts
from churnml.monitoring.profile import Profile, build_profile, read_profile, score_reference
from churnml.spi import Plpy, prepared
from churnml.sql_api.entry import entry

# Rows monitor reads when neither the call nor churnml.monitor_settings says: enough for bin shares
# within about 0.3 percentage points, a fraction of a second to read and score.
DEFAULT_MAX_ROWS = 100_000
# The most rows one run reads: the sample is held as Python lists and one encoded matrix.
MAX_ROWS_LIMIT = 5_000_000
# Rows encoded and scored at a time: bounds the matrix's memory, and a cancel waits at most one batch.
SCORE_BATCH = 20_000


def profile_for_training(columns: dict[str, list[Any]], spec: Any, holdout_scores: list[float]) -> dict[str, Any]:
    """The reference profile churnml.train stores with a model, from the rows it read."""
    progress.phase("profiling the training rows")
    groups = [(f.name, f.group) for f in spec.features]
    return build_profile(columns, groups, holdout_scores).to_dict()


def store_profile(plpy: Plpy, model_id: int, profile: dict[str, Any]) -> None:
    """Replace the profile of `model_id` (DELETE and INSERT: captured_by and captured_at are the
    database's to write, as business_costs' set_by)."""
    delete = prepared(plpy, "delete_profile",
                      "DELETE FROM churnml.model_profiles WHERE model_id OPERATOR(pg_catalog.=) $1", ["bigint"])
    insert = prepared(plpy, "store_profile", """
        INSERT INTO churnml.model_profiles (model_id, profile) VALUES ($1, $2::pg_catalog.jsonb)""",
        ["bigint", "pg_catalog.text"])
    plpy.execute(delete, [model_id])
    plpy.execute(insert, [model_id, json.dumps(profile, allow_nan=False)])


def _stored_profile(plpy: Plpy, model_id: int, name: str) -> Profile:
    plan = prepared(plpy, "load_profile", """
        SELECT profile::pg_catalog.text AS profile FROM churnml.model_profiles
        WHERE model_id OPERATOR(pg_catalog.=) $1""", ["bigint"])
    rows = plpy.execute(plan, [model_id])
    if not rows:
        raise ObjectNotInPrerequisiteState(
            f"model {model_id}, which \"{name}\" serves, has no reference profile",
            detail="churnml.train stores one with every model it trains since 0.3.0; models trained earlier or "
                   "registered with churnml.register_model have none.",
            hint=f"Capture one from the rows the model was trained on: SELECT churnml.capture_profile({model_id}, "
                 "'training_table');")
    return read_profile(json.loads(rows[0]["profile"]), model_id)


def _thresholds(plpy: Plpy, name: str) -> tuple[float, float, int]:
    plan = prepared(plpy, "monitor_settings", """
        SELECT warn_psi, alert_psi, max_rows FROM churnml.monitor_settings WHERE name OPERATOR(pg_catalog.=) $1""",
        ["pg_catalog.text"])
    rows = plpy.execute(plan, [name])
    if not rows:
        return drifts.DEFAULT_WARN, drifts.DEFAULT_ALERT, DEFAULT_MAX_ROWS
    return float(rows[0]["warn_psi"]), float(rows[0]["alert_psi"]), int(rows[0]["max_rows"])


def _check_max_rows(max_rows: int | None, default: int) -> int:
    if max_rows is None:
        return default
    if not 1 <= max_rows <= MAX_ROWS_LIMIT:
        raise InvalidParameter(f"max_rows must be between 1 and {MAX_ROWS_LIMIT:,}, not {max_rows}",
                               detail="It bounds the rows one run reads; a larger source is sampled.",
                               hint="Leave it NULL for the name's setting (churnml.monitor_settings), "
                                    f"else {DEFAULT_MAX_ROWS:,}.")
    return max_rows


def _scores(loaded: Any, columns: dict[str, list[Any]], rows: int) -> Any:
    """The model's probabilities for the sampled rows, SCORE_BATCH rows at a time (the C evaluator)."""
    import numpy as np

    out = np.empty(rows, dtype=np.float64)
    names = loaded.input_names
    progress.phase("scoring the sample", total=rows, unit="rows")
    for start in range(0, rows, SCORE_BATCH):
        interrupts.check()
        stop = min(start + SCORE_BATCH, rows)
        batch = {n: columns[n][start:stop] for n in names}
        out[start:stop] = loaded.predict_matrix(loaded.transform(batch))
        progress.set_done(stop)
    return out


def _churn_model(plpy: Plpy, model_id: int, what: str) -> Any:
    """The loaded churn model `model_id`; a sentiment model is 42809 in monitoring's words."""
    from churnml.errors import WrongObjectType
    from churnml.scoring import model_cache

    plan = prepared(plpy, "model_kind", "SELECT kind FROM churnml.models WHERE id OPERATOR(pg_catalog.=) $1",
                    ["bigint"])
    kind = plpy.execute(plan, [model_id])
    if kind and kind[0]["kind"] != "churn":
        raise WrongObjectType(f"model {model_id} is a {kind[0]['kind']} model: drift is watched for churn models",
                              detail=f"{what[0].upper()}{what[1:]} a {kind[0]['kind']} model, whose inputs are text.",
                              hint="Pass the name of a deployed churn model, e.g. 'churn'.")
    return model_cache.by_id(plpy, model_id)


@entry
@progress.tracked("monitor", "reading the population")
def monitor(plpy: Plpy, name: str | None, source: str | None, max_rows: int | None) -> dict[str, Any]:
    """Compare the population in `source` with the reference profile of the model `name` serves: PSI per
    feature and for the score, a status, kept as a row of churnml.monitor_runs (returned)."""
    from churnml.source_data import current_search_path, pinned_search_path, read_sample

    started = time.perf_counter()
    caller_path = current_search_path(plpy)  # read before anything pins it: the source resolves with it
    with pinned_search_path(plpy):
        if name is None:
            raise NullValueNotAllowed("the model name must not be NULL",
                                      hint="Pass a deployed model's name, e.g. churnml.monitor('churn', 'customers').")
        if source is None or not source.strip():
            raise InvalidParameter("source must name a table or view, or be a query",
                                   hint="Pass the current population, e.g. 'customers' or "
                                        "'SELECT * FROM customers WHERE active'.")
        warn, alert, default_rows = _thresholds(plpy, name)
        limit = _check_max_rows(max_rows, default_rows)
        deployment = registry.current_deployment(plpy, name)
        loaded = _churn_model(plpy, deployment.model_id, f'"{name}" serves')
        profile = _stored_profile(plpy, deployment.model_id, name)
        wanted = list(loaded.input_names)
        data = read_sample(plpy, source, caller_path, wanted=wanted, max_rows=limit)
        if data.rows < drifts.MIN_ROWS:
            raise ObjectNotInPrerequisiteState(
                "the source has no rows to compare" if data.rows == 0 else
                f"the source has too few rows to compare: {data.rows}, at least {drifts.MIN_ROWS} are needed",
                detail=f"{data.description} returned no rows." if data.rows == 0 else
                       f"{data.description} returned {data.rows} rows; shares in ten bins of fewer rows are "
                       "sampling noise.",
                hint="Pass the population the model scores now." if data.rows == 0 else
                     "Pass a longer window of the population (a week, not a day).")
        progress.phase("comparing features", total=len(wanted), unit="features")
        features: list[drifts.Drift] = []
        for i, feature in enumerate(wanted):
            interrupts.check()
            reference = profile.feature(feature)
            if reference is None:
                raise UndefinedColumn(
                    f'the reference profile of model {deployment.model_id} has no feature "{feature}"',
                    hint=f"Capture it again: SELECT churnml.capture_profile({deployment.model_id}, 'training_table');")
            features.append(drifts.drift_of(reference, data.columns[feature], profile.rows))
            progress.set_done(i + 1)
        score: drifts.Drift | None = None
        if profile.score is not None:
            score = drifts.drift_of(profile.score, _scores(loaded, data.columns, data.rows), profile.score_rows)
        features.sort(key=lambda d: (-d.psi, d.feature))
        max_feature = features[0].psi if features else 0.0
        statuses = [d.status(warn, alert) for d in (*features, *([score] if score is not None else []))]
        overall = "alert" if "alert" in statuses else "warn" if "warn" in statuses else "ok"
        drifted = [d.feature for d in features if d.flagged(warn)]
        run = {
            "name": name, "model_id": deployment.model_id, "source": data.description,
            "rows": data.rows, "population": data.population,
            "score_psi": None if score is None else round(score.psi, 6),
            "max_feature_psi": round(max_feature, 6), "status": overall,
            "drifted_features": drifted,
            "features": [d.to_dict(warn, alert) for d in features],
            "score": None if score is None else score.to_dict(warn, alert),
            "warn_psi": warn, "alert_psi": alert, "seconds": round(time.perf_counter() - started, 3),
        }
        plan = prepared(plpy, "insert_monitor_run", """
            INSERT INTO churnml.monitor_runs (name, model_id, source, rows, population, score_psi, max_feature_psi,
                                              status, drifted_features, features, score, warn_psi, alert_psi, seconds)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10::pg_catalog.jsonb, $11::pg_catalog.jsonb, $12, $13, $14)
            RETURNING *""",
            ["pg_catalog.text", "bigint", "pg_catalog.text", "bigint", "bigint", "pg_catalog.float8",
             "pg_catalog.float8", "pg_catalog.text", "pg_catalog.text[]", "pg_catalog.text", "pg_catalog.text",
             "pg_catalog.float8", "pg_catalog.float8", "pg_catalog.float8"])
        row = plpy.execute(plan, [
            run["name"], run["model_id"], run["source"], run["rows"], run["population"], run["score_psi"],
            run["max_feature_psi"], run["status"], run["drifted_features"], json.dumps(run["features"]),
            json.dumps(run["score"]) if run["score"] is not None else None, warn, alert, run["seconds"]])[0]
        if run["status"] != "ok":
            top = ", ".join(f"{d.feature} {d.psi:.2f}" for d in features[:3])
            plpy.notice(f'churnml.monitor: "{name}" {run["status"]}: score PSI '
                        f"{'n/a' if score is None else f'{score.psi:.2f}'}; features that moved most: {top}")
        return dict(row)


@entry
def capture_profile(plpy: Plpy, model: str | None, source: str | None, max_rows: int | None) -> dict[str, Any]:
    """A reference profile for a model from the rows it was trained on (models trained before 0.3.0, or
    registered from outside): its held-out scores when it has them, else its scores of those rows."""
    from churnml.source_data import current_search_path, pinned_search_path, read_sample

    caller_path = current_search_path(plpy)
    with pinned_search_path(plpy):
        model_id, _ = registry.resolve_model(plpy, model, caller="churnml.capture_profile")
        if source is None or not source.strip():
            raise InvalidParameter("source must name a table or view, or be a query",
                                   hint="Pass the rows the model was trained on, e.g. 'customers'.")
        limit = _check_max_rows(max_rows, MAX_ROWS_LIMIT)
        loaded = _churn_model(plpy, model_id, "it is")
        data = read_sample(plpy, source, caller_path, wanted=list(loaded.input_names), max_rows=limit)
        if data.rows == 0:
            raise ObjectNotInPrerequisiteState("the source has no rows to profile",
                                               detail=f"{data.description} returned no rows.")
        _, held_out = registry.holdout(plpy, model_id)
        profile = profile_for_training(data.columns, loaded.spec, list(held_out))
        if not held_out:
            reference = score_reference(list(_scores(loaded, data.columns, data.rows)))
            profile["score"] = None if reference is None else reference.to_dict()
        earlier = plpy.execute(prepared(plpy, "profile_exists", "SELECT captured_at::pg_catalog.text AS at FROM "
                                        "churnml.model_profiles WHERE model_id OPERATOR(pg_catalog.=) $1",
                                        ["bigint"]), [model_id])
        store_profile(plpy, model_id, profile)
        if earlier:
            plpy.notice(f"churnml.capture_profile: replaced the reference profile of model {model_id} captured at "
                        f"{earlier[0]['at']} with one of {data.rows} rows of {data.description}")
        plan = prepared(plpy, "profile_row",
                        "SELECT * FROM churnml.model_profiles WHERE model_id OPERATOR(pg_catalog.=) $1", ["bigint"])
        return dict(plpy.execute(plan, [model_id])[0])


def _psi_bound(value: float | None, what: str) -> float:
    if value is None:
        raise NullValueNotAllowed(f"{what} must not be NULL", hint="The usual values are 0.1 (warn) and 0.25 (alert).")
    if not math.isfinite(value) or value <= 0:
        raise InvalidParameter(f"{what} must be a positive number, not {shown_number(value)}",
                               hint="The usual values are 0.1 (warn) and 0.25 (alert).")
    return value


@entry
def set_monitor_thresholds(plpy: Plpy, name: str | None, warn_psi: float | None, alert_psi: float | None,
                           max_rows: int | None) -> dict[str, Any]:
    registry.check_model_name(name)
    warn, alert = _psi_bound(warn_psi, "warn_psi"), _psi_bound(alert_psi, "alert_psi")
    if warn > alert:
        raise InvalidParameter(f"warn_psi ({shown_number(warn)}) must not be above alert_psi ({shown_number(alert)})",
                               hint=f"e.g. churnml.set_monitor_thresholds({sql_literal(str(name))}, 0.1, 0.25)")
    rows = _check_max_rows(max_rows, DEFAULT_MAX_ROWS)
    known = prepared(plpy, "model_name_known", "SELECT EXISTS (SELECT FROM churnml.models WHERE name "
                     "OPERATOR(pg_catalog.=) $1) AS known", ["pg_catalog.text"])
    if not plpy.execute(known, [name])[0]["known"]:
        plpy.notice(f'churnml.set_monitor_thresholds: no model is named "{name}" yet; the thresholds apply once '
                    "one is deployed under that name")
    delete = prepared(plpy, "delete_monitor_settings",
                      "DELETE FROM churnml.monitor_settings WHERE name OPERATOR(pg_catalog.=) $1", ["pg_catalog.text"])
    insert = prepared(plpy, "set_monitor_settings", """
        INSERT INTO churnml.monitor_settings (name, warn_psi, alert_psi, max_rows) VALUES ($1, $2, $3, $4)
        RETURNING *""", ["pg_catalog.text", "pg_catalog.float8", "pg_catalog.float8", "bigint"])
    plpy.execute(delete, [name])  # set_by and set_at are the database's to write: DELETE and INSERT
    return dict(plpy.execute(insert, [name, warn, alert, rows])[0])
