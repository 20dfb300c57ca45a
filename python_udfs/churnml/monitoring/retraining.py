"""Gated retraining (churnml.retrain): a challenger trained on fresh data with the champion's spec,
both judged on the challenger's held-out rows, the challenger deployed only if the gate says so.

One run, under a per-name lock so that two retrains of a name never interleave:

1. the champion is what the name serves now; its spec is read from the registry (label, input
   features, each feature's group, the missing-value strategy, the hyperparameters it was
   trained with, its split's fractions and seed);
2. in a subtransaction: churnml.train's own code trains the challenger on the source
   (parent_id = the champion), the champion scores exactly the challenger's test rows, the gate
   (retrain_gate) decides, and a promotion deploys the challenger as churnml.deploy would (its
   cutoff from the name's business costs, else the model's default);
3. one row of churnml.retrain_history says what happened, and is returned.

A failure of the data or the training in step 2 (a missing table, a column the champion needs
gone, one class only, a damaged artifact, an error of xgboost) rolls the subtransaction back,
so no challenger and no deployment remain, and is recorded as status 'failed' with the error's
message. A cancel, statement_timeout,
terminate, lost resources or a serialization failure is not a data failure: it propagates, and
the statement ends as any cancelled statement does (with nothing of the run kept).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

from churnml import registry
from churnml.errors import (
    InvalidParameter,
    NullValueNotAllowed,
    ObjectNotInPrerequisiteState,
    describe,
    spi_error_fields,
    sql_literal,
)
from churnml.monitoring import retrain_gate
from churnml.spi import Plpy, prepared

# SQLSTATE classes that are no data failure: the run must stop, not be recorded as failed.
# 57 operator intervention (cancel, statement_timeout, terminate, shutdown), 53 insufficient
# resources, 40 transaction rollback (serialization, deadlock), 08 connection, 25 transaction state.
NOT_RECORDED_CLASSES = frozenset({"57", "53", "40", "08", "25"})
# the first of the two keys of pg_advisory_xact_lock(int, int): "churnml retrain", as an int4
LOCK_CLASS = 0x43524554  # b"CRET"
DEFAULT_FRACTIONS = (0.7, 0.2, 0.1)


@dataclass(frozen=True)
class Policy:
    id: int
    name: str
    source: str
    search_path: str
    min_gain: float
    min_auc: float


def policy_by_name(plpy: Plpy, name: str) -> Policy | None:
    rows = plpy.execute(prepared(plpy, "retrain_policy_by_name", """
        SELECT id, name, source, search_path, min_gain, min_auc FROM churnml.retrain_policies
        WHERE name OPERATOR(pg_catalog.=) $1""", ["pg_catalog.text"]), [name])
    return _policy(rows[0]) if rows else None


def policy_by_id(plpy: Plpy, policy_id: int) -> Policy | None:
    rows = plpy.execute(prepared(plpy, "retrain_policy_by_id", """
        SELECT id, name, source, search_path, min_gain, min_auc FROM churnml.retrain_policies
        WHERE id OPERATOR(pg_catalog.=) $1""", ["bigint"]), [policy_id])
    return _policy(rows[0]) if rows else None


def _policy(row: Any) -> Policy:
    return Policy(id=int(row["id"]), name=row["name"], source=row["source"], search_path=row["search_path"],
                  min_gain=float(row["min_gain"]), min_auc=float(row["min_auc"]))


def lock_name(plpy: Plpy, name: str) -> None:
    """Wait for any other retrain of `name` to end (its transaction's end): runs of one name take turns,
    each against the champion the previous one left. The wait obeys cancel, statement_timeout and
    lock_timeout."""
    plpy.execute(prepared(plpy, "retrain_lock",
                          "SELECT pg_catalog.pg_advisory_xact_lock($1, pg_catalog.hashtext($2))",
                          ["integer", "pg_catalog.text"]), [LOCK_CLASS, name])


@dataclass(frozen=True)
class ChampionSpec:
    """What churnml.train needs to train a model like the champion, as train's arguments."""

    label: str
    features: list[str]
    feature_types: str  # JSON: every feature's group, so no group is inferred anew
    hyperparams: str  # JSON: the champion's parameters, without the fixed objective and metric
    missing: str
    test_fraction: float
    validation_fraction: float
    seed: int


def champion_spec(plpy: Plpy, model_id: int) -> ChampionSpec:
    from churnml.training.hyperparams import FIXED

    rows = plpy.execute(prepared(plpy, "retrain_champion", """
        SELECT kind, feature_spec::pg_catalog.text AS spec, params::pg_catalog.text AS params,
               training::pg_catalog.text AS training
        FROM churnml.models WHERE id OPERATOR(pg_catalog.=) $1""", ["bigint"]), [model_id])
    if not rows:
        raise ObjectNotInPrerequisiteState(f"model {model_id} is deployed but not in churnml.models")
    row = rows[0]
    if row["kind"] != "churn":
        raise ObjectNotInPrerequisiteState(f"model {model_id} is a {row['kind']} model",
                                           detail="churnml.retrain retrains churn models.")
    spec, params, training = json.loads(row["spec"]), json.loads(row["params"]), json.loads(row["training"])
    features = [f["name"] for f in spec.get("features", [])]
    label = training.get("label") or spec.get("label")
    if not features or not isinstance(label, str):
        raise ObjectNotInPrerequisiteState(
            f"model {model_id} does not record the spec it was trained with",
            detail="Its feature spec has no features or its training record no label.",
            hint="Train the champion with churnml.train, deploy it, and retrain that.")
    strategies = {f.get("state", {}).get("missing") for f in spec["features"] if f.get("group") == "numeric"}
    strategies.discard(None)
    missing = strategies.pop() if len(strategies) == 1 else "native"
    split = training.get("split") or {}
    fractions = split.get("fractions") or DEFAULT_FRACTIONS
    if len(fractions) != 3 or not fractions[2]:  # a champion without test rows: the challenger needs some
        fractions = DEFAULT_FRACTIONS
    seed = split.get("seed")
    hyperparams = {k: v for k, v in params.items() if k not in FIXED}
    return ChampionSpec(
        label=label, features=features,
        feature_types=json.dumps({f["name"]: f["group"] for f in spec["features"]}),
        hyperparams=json.dumps(hyperparams), missing=missing,
        test_fraction=float(fractions[2]), validation_fraction=float(fractions[1]),
        seed=int(seed) if isinstance(seed, int) else 42)


def _recorded_failure(plpy: Plpy, exc: Exception) -> tuple[str, dict[str, Any]] | None:
    """(reason, details) when `exc` is a failure of the data or the training to record; None when it must
    propagate: a cancel, timeout or terminate (also as the plain plpy.Error PL/Python raises when one
    interrupts a NOTICE), lost resources, a broken transaction or connection, running out of memory."""
    if isinstance(exc, plpy.Fatal | MemoryError):
        return None
    if isinstance(exc, plpy.SPIError):
        sqlstate, message, detail, hint = spi_error_fields(exc)
    elif isinstance(exc, plpy.Error):
        sqlstate = getattr(exc, "sqlstate", None) or "XX000"
        message = str(exc.args[0]) if exc.args else str(exc)
        detail, hint = getattr(exc, "detail", None), getattr(exc, "hint", None)
    else:  # churnml's own errors, and a library's (xgboost's XGBoostError) as errors.py maps them
        sqlstate, message, detail, hint = describe(exc)
    if sqlstate[:2] in NOT_RECORDED_CLASSES:
        return None
    return message.removeprefix("churnml: "), {"sqlstate": sqlstate, "detail": detail, "hint": hint}


def run(plpy: Plpy, name: str | None, source: str | None, min_gain: float | None, min_auc: float | None,
        search_path: str | None, trigger: str, policy: Policy | None = None) -> dict[str, Any]:
    """One gated retrain of `name` (see the module's docstring); the churnml.retrain_history row."""
    from churnml.scoring import model_cache
    from churnml.sql_api.models import deploy_model, train_from_source

    name = registry.check_model_name(name)
    # the arguments first: a bad one fails at once, before the lock and the data
    gain = None if min_gain is None else retrain_gate.checked_margin(min_gain, "min_gain",
                                                                      retrain_gate.DEFAULT_MIN_GAIN)
    least = None if min_auc is None else retrain_gate.checked_margin(min_auc, "min_auc", retrain_gate.DEFAULT_MIN_AUC)
    if source is not None and not source.strip():
        raise InvalidParameter("source must name a table or view, or be a query, not ''",
                               hint="Pass e.g. 'customers_this_month', or NULL for the scheduled policy's source.")
    lock_name(plpy, name)
    policy = policy or policy_by_name(plpy, name)
    if source is None:
        if policy is None:
            raise NullValueNotAllowed(
                f'churnml.retrain needs a source for "{name}"',
                detail=f'No retraining is scheduled for "{name}", so there is no policy source to use.',
                hint=f"Pass the fresh data: churnml.retrain({sql_literal(name)}, source => 'customers_recent'), "
                     "or schedule it with churnml.schedule_retrain.")
        source, search_path = policy.source, policy.search_path
    gain = gain if gain is not None else (policy.min_gain if policy else retrain_gate.DEFAULT_MIN_GAIN)
    least = least if least is not None else (policy.min_auc if policy else retrain_gate.DEFAULT_MIN_AUC)
    champion = registry.current_deployment(plpy, name)  # 55000 when `name` is not deployed
    started_at = _now(plpy)
    started = time.perf_counter()
    champion_id = champion.model_id
    outcome: dict[str, Any] = {"champion_id": champion_id, "challenger_id": None, "champion_auc": None,
                               "challenger_auc": None, "evaluated_rows": None}
    details: dict[str, Any] = {"source": source, "min_gain": gain, "min_auc": least}
    try:
        with plpy.subtransaction():
            spec = champion_spec(plpy, champion_id)
            trained = train_from_source(
                plpy, name, source, spec.label, spec.features, None, spec.feature_types, spec.hyperparams, None,
                spec.missing, spec.test_fraction, spec.validation_fraction, spec.seed, False, champion_id,
                search_path)
            outcome["challenger_id"] = trained.model_id
            loaded = model_cache.build(registry.load_model(plpy, champion_id, expected_sha256=champion.artifact_sha256))
            champion_scores = [float(v) for v in loaded.predict_matrix(loaded.transform(trained.test_columns))]
            verdict = retrain_gate.judge(trained.holdout_labels, champion_scores, trained.holdout_scores,
                                         min_gain=gain, min_auc=least)
            details.update(verdict.details)
            details["training_rows"] = trained.training.get("rows")
            status, reason = verdict.status, verdict.reason
            if status == "promoted" and registry.current_deployment(plpy, name).model_id != champion_id:
                status, reason = "kept", (f'"{name}" was deployed anew while the challenger trained: the new '
                                          "deployment stays, the challenger is not deployed")
            if status == "promoted":
                deployment = deploy_model(plpy, name, trained.model_id, None, None, caller="churnml.retrain",
                                          recorded_as="retrain")
                details["deployment_id"] = deployment["deployment_id"]
                details["threshold"] = deployment["threshold"]
            outcome.update(champion_auc=verdict.champion_auc, challenger_auc=verdict.challenger_auc,
                           evaluated_rows=len(trained.holdout_labels))
    except Exception as exc:
        failure = _recorded_failure(plpy, exc)
        if failure is None:
            raise
        status, reason = "failed", failure[0]
        details["error"] = failure[1]
        outcome.update(challenger_id=None, champion_auc=None, challenger_auc=None, evaluated_rows=None)
    details["seconds"] = round(time.perf_counter() - started, 3)
    plpy.notice(f"churnml.retrain: {name}: {status}: {reason}")
    return _record(plpy, name, trigger, started_at, status, reason, outcome, details)


def _now(plpy: Plpy) -> str:
    return str(plpy.execute(prepared(plpy, "retrain_now", "SELECT pg_catalog.clock_timestamp() AS t", []))[0]["t"])


def _record(plpy: Plpy, name: str, trigger: str, started_at: str, status: str, reason: str,
            outcome: dict[str, Any], details: dict[str, Any]) -> dict[str, Any]:
    plan = prepared(plpy, "retrain_history_insert", """
        INSERT INTO churnml.retrain_history (name, trigger, started_at, finished_at, status, champion_id,
                                             challenger_id, champion_auc, challenger_auc, evaluated_rows,
                                             reason, details)
        VALUES ($1, $2, $3, pg_catalog.clock_timestamp(), $4, $5, $6, $7, $8, $9, $10, $11::pg_catalog.jsonb)
        RETURNING *""",
        ["pg_catalog.text", "pg_catalog.text", "pg_catalog.timestamptz", "pg_catalog.text", "bigint", "bigint",
         "pg_catalog.float8", "pg_catalog.float8", "bigint", "pg_catalog.text", "pg_catalog.text"])
    row = plpy.execute(plan, [name, trigger, started_at, status, outcome["champion_id"], outcome["challenger_id"],
                              outcome["champion_auc"], outcome["challenger_auc"], outcome["evaluated_rows"],
                              reason, json.dumps(details, allow_nan=False, default=str)])[0]
    return dict(row)
