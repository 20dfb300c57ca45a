"""The model registry (churnml.models, churnml.deployments) through SPI.

Artifacts are XGBoost's native JSON, stored with their SHA-256; every load checks
the checksum, so a damaged or tampered artifact is refused rather than scored.
All statements are prepared with parameters: nothing here formats user input
into SQL text.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from typing import Any

from churnml import interrupts, parallel_read
from churnml.errors import (
    DataCorrupted,
    DuplicateObject,
    InvalidParameter,
    NullValueNotAllowed,
    ObjectNotInPrerequisiteState,
    UndefinedObject,
    sql_literal,
)
from churnml.spi import Plpy, prepared

# churnml.models.name's CHECK constraint, checked before any work so that a bad name
# fails in a millisecond, not after training, and never shows the failing row.
MODEL_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]{0,62}")


def check_model_name(name: str | None) -> str:
    if name is None:
        raise NullValueNotAllowed("a model needs a name, not NULL", hint="e.g. churnml.train('churn', 'customers', "
                                  "'churn')")
    if not MODEL_NAME.fullmatch(name):
        shown = name if len(name) <= 70 else name[:67] + "…"
        raise InvalidParameter(f'invalid model name "{shown}"',
                               detail="A model name is 1 to 63 characters: letters, digits, _ . and -, "
                                      "starting with a letter or _.",
                               hint="e.g. 'churn', 'churn_v2' or 'support-tone'.")
    return name


def check_parent(plpy: Plpy, parent_id: int | None) -> None:
    """parent_id, if given, names an existing model (checked before training, not at the insert)."""
    if parent_id is None:
        return
    plan = prepared(plpy, "parent_exists",
                    "SELECT 1 FROM churnml.models WHERE id OPERATOR(pg_catalog.=) $1", ["bigint"])
    if not plpy.execute(plan, [parent_id]):
        raise UndefinedObject(f"parent model {parent_id} does not exist",
                              hint="SELECT id, name FROM churnml.model_summary lists the models; pass one of "
                                   "their ids, or NULL.")


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class StoredModel:
    id: int
    name: str
    artifact: bytes
    artifact_sha256: str
    feature_spec: dict[str, Any]
    metrics: dict[str, Any]
    kind: str = "churn"


def check_kind(plpy: Plpy, name: str, kind: str) -> None:
    """A name holds models of one kind: 42710 when `name` already names models of another kind
    (checked before training as well as at the insert)."""
    other = prepared(plpy, "other_kind", """
        SELECT kind FROM churnml.models WHERE name OPERATOR(pg_catalog.=) $1 AND kind OPERATOR(pg_catalog.<>) $2
        LIMIT 1""", ["pg_catalog.text", "pg_catalog.text"])
    clash = plpy.execute(other, [name, kind])
    if clash:
        raise DuplicateObject(f'"{name}" already names {clash[0]["kind"]} models',
                              hint=f"Give the {kind} model another name.")


def insert_model(plpy: Plpy, *, name: str, artifact: bytes, feature_spec: dict[str, Any], params: dict[str, Any],
                 metrics: dict[str, Any], training: dict[str, Any], holdout_labels: list[bool],
                 holdout_scores: list[float], parent_id: int | None, kind: str = "churn",
                 artifact_format: str = "xgboost-json") -> int:
    # the model's row, then its artifact's (churnml.model_artifacts): both or neither, as the caller's
    # statement fails or commits as a whole
    plan = prepared(plpy, "insert_model", """
        INSERT INTO churnml.models (name, kind, artifact_format, artifact_sha256, feature_spec, params,
                                    metrics, training, parent_id)
        VALUES ($1, $2, $3, $4, $5::pg_catalog.jsonb, $6::pg_catalog.jsonb, $7::pg_catalog.jsonb,
                $8::pg_catalog.jsonb, $9)
        RETURNING id""",
        ["pg_catalog.text", "pg_catalog.text", "pg_catalog.text", "pg_catalog.text", "pg_catalog.text",
         "pg_catalog.text", "pg_catalog.text", "pg_catalog.text", "bigint"])
    files = prepared(plpy, "insert_model_artifact", """
        INSERT INTO churnml.model_artifacts (model_id, artifact, holdout_labels, holdout_scores)
        VALUES ($1, $2, $3, $4)""",
        ["bigint", "pg_catalog.bytea", "boolean[]", "pg_catalog.float8[]"])
    check_kind(plpy, name, kind)
    dumps = _json
    row = plpy.execute(plan, [name, kind, artifact_format, sha256(artifact), dumps(feature_spec), dumps(params),
                              dumps(metrics), dumps(training), parent_id])
    model_id = int(row[0]["id"])
    plpy.execute(files, [model_id, artifact, holdout_labels, holdout_scores])
    return model_id


def _json(value: Any) -> str:
    return json.dumps(value, allow_nan=False, sort_keys=True)


def load_model(plpy: Plpy, model_id: int, expected_sha256: str | None = None) -> StoredModel:
    # also in parallel workers (churnml.parallel_read): the artifact is checked below all the same
    rows = parallel_read.rows(plpy, "load_model", """
        SELECT m.id, m.name, m.kind, a.artifact, m.artifact_sha256, m.feature_spec::pg_catalog.text AS spec,
               m.metrics::pg_catalog.text AS metrics
        FROM churnml.models AS m
        LEFT JOIN churnml.model_artifacts AS a ON a.model_id OPERATOR(pg_catalog.=) m.id
        WHERE m.id OPERATOR(pg_catalog.=) $1""", ["pg_catalog.int8"], [model_id])
    if not rows:
        raise UndefinedObject(f"model {model_id} does not exist",
                              hint="SELECT id, name FROM churnml.model_summary lists the models.")
    row = rows[0]
    if row["artifact"] is None:
        raise DataCorrupted(f"model {model_id} has no artifact",
                            detail="churnml.model_artifacts has no row for it.",
                            hint="Register models with churnml.register_model (or train them), which stores "
                                 "both rows; redeploy another model or retrain this one.")
    artifact = bytes(row["artifact"])
    actual = sha256(artifact)
    if actual != row["artifact_sha256"] or (expected_sha256 is not None and actual != expected_sha256):
        raise DataCorrupted(
            f"the artifact of model {model_id} failed its checksum",
            detail=f"Stored SHA-256 {row['artifact_sha256']}, computed {actual}.",
            hint="The artifact was changed outside churnml; redeploy another model or retrain this one.",
        )
    return StoredModel(id=int(row["id"]), name=row["name"], artifact=artifact, artifact_sha256=actual,
                       feature_spec=json.loads(row["spec"]), metrics=json.loads(row["metrics"]), kind=row["kind"])


@dataclass(frozen=True)
class ModelFacts:
    """What compare_models shows of a model: no artifact (it is not read)."""

    id: int
    metrics: dict[str, Any]
    features: int  # input features in its spec


def model_facts(plpy: Plpy, model_id: int) -> ModelFacts:
    plan = prepared(plpy, "model_facts", """
        SELECT id, metrics::pg_catalog.text AS metrics,
               CASE WHEN pg_catalog.jsonb_typeof(feature_spec OPERATOR(pg_catalog.->) 'features')
                         OPERATOR(pg_catalog.=) 'array'
                    THEN pg_catalog.jsonb_array_length(feature_spec OPERATOR(pg_catalog.->) 'features')
                    ELSE 0 END AS features
        FROM churnml.models WHERE id OPERATOR(pg_catalog.=) $1""", ["bigint"])
    rows = plpy.execute(plan, [model_id])
    if not rows:
        raise UndefinedObject(f"model {model_id} does not exist",
                              hint="SELECT id, name FROM churnml.model_summary lists the models.")
    metrics = json.loads(rows[0]["metrics"])
    return ModelFacts(id=int(rows[0]["id"]), metrics=metrics if isinstance(metrics, dict) else {},
                      features=int(rows[0]["features"]))


@dataclass(frozen=True)
class Deployment:
    name: str
    model_id: int
    artifact_sha256: str
    threshold: float
    endpoint_output: str = "probability"  # what aws_sagemaker.invoke_endpoint answers (endpoint_outputs)
    # prediction logging (churnml.prediction_logging; 0 = off) and the shadow challenger
    # (churnml.shadow_models), read in the same statement so that scoring looks nothing else up
    log_rate: float = 0.0
    log_key: str | None = None
    shadow_model_id: int | None = None
    shadow_sha256: str | None = None


def current_deployment(plpy: Plpy, name: str | None) -> Deployment:
    if name is None:
        raise NullValueNotAllowed("the model name must not be NULL",
                                  hint="Pass a deployed model's name, e.g. 'churn' (the default).")
    # what every scoring and sentiment call reads, also in parallel workers (churnml.parallel_read)
    rows = parallel_read.rows(plpy, "current_deployment", """
        SELECT d.model_id, m.artifact_sha256, d.threshold, d.endpoint_output,
               l.sample_rate AS log_rate, l.key_column AS log_key,
               s.model_id AS shadow_model_id, sm.artifact_sha256 AS shadow_sha256
        FROM churnml.deployments AS d JOIN churnml.models AS m ON m.id OPERATOR(pg_catalog.=) d.model_id
        LEFT JOIN churnml.prediction_logging AS l ON l.name OPERATOR(pg_catalog.=) d.name
        LEFT JOIN churnml.shadow_models AS s ON s.name OPERATOR(pg_catalog.=) d.name
        LEFT JOIN churnml.models AS sm ON sm.id OPERATOR(pg_catalog.=) s.model_id
        WHERE d.name OPERATOR(pg_catalog.=) $1
        ORDER BY d.id DESC LIMIT 1""", ["pg_catalog.text"], [name])
    if not rows:
        # a name no model can have: say what a name is (a database updated from 0.2.0 may still
        # hold a deployment under such a name, so it is looked up first)
        check_model_name(name)
        raise ObjectNotInPrerequisiteState(
            f'model "{name}" is not deployed',
            detail=_known_names(plpy),
            hint=f"Train it with churnml.train({sql_literal(name)}, ...) and deploy it with "
                 f"churnml.deploy({sql_literal(name)}).",
        )
    row = rows[0]
    shadow = row.get("shadow_model_id")
    return Deployment(name=name, model_id=int(row["model_id"]), artifact_sha256=row["artifact_sha256"],
                      threshold=float(row["threshold"]), endpoint_output=row["endpoint_output"],
                      log_rate=float(row.get("log_rate") or 0.0), log_key=row.get("log_key"),
                      shadow_model_id=None if shadow is None else int(shadow), shadow_sha256=row.get("shadow_sha256"))


def _known_names(plpy: Plpy) -> str:
    rows = parallel_read.rows(plpy, "known_names", "SELECT pg_catalog.string_agg(name, ', ' ORDER BY name) AS names "
                              "FROM churnml.current_deployments", [], [])
    names = rows[0]["names"] if rows else None
    return f"Deployed models: {names}." if names else "No model is deployed yet."


def pick_model(plpy: Plpy, name: str | None, model_id: int | None, strategy: str | None) -> tuple[int, str]:
    """The model to deploy and the strategy to record."""
    name = check_model_name(name)  # models.name has always had this CHECK: no model has another name
    if model_id is not None and strategy is not None:
        raise InvalidParameter("give either model_id or strategy, not both")
    if model_id is not None:
        plan = prepared(plpy, "model_name", "SELECT name FROM churnml.models WHERE id OPERATOR(pg_catalog.=) $1",
                     ["bigint"])
        rows = plpy.execute(plan, [model_id])
        if not rows:
            raise UndefinedObject(f"model {model_id} does not exist")
        if rows[0]["name"] != name:
            raise InvalidParameter(f'model {model_id} belongs to "{rows[0]["name"]}", not "{name}"',
                                   hint=f"Deploy it under its own name: churnml.deploy({sql_literal(rows[0]['name'])}, "
                                        f"{model_id}).")
        return model_id, "specific"
    strategy = strategy or "best"
    orders = {
        # churn models by validation AUC; sentiment models by their held-out macro-F1
        "best": "COALESCE(metrics OPERATOR(pg_catalog.->) 'validation' OPERATOR(pg_catalog.->>) 'auc', "
                "metrics OPERATOR(pg_catalog.->) 'test' OPERATOR(pg_catalog.->>) 'macro_f1')::pg_catalog.float8"
                " DESC NULLS LAST, id DESC",
        "latest": "id DESC",
    }
    if strategy not in orders:
        raise InvalidParameter(f'unknown deployment strategy "{strategy}"',
                               hint="Use 'best' (highest validation AUC), 'latest', or pass a model_id.")
    plan = prepared(plpy, f"pick_{strategy}",
                 f"SELECT id FROM churnml.models WHERE name OPERATOR(pg_catalog.=) $1 "
                 f"ORDER BY {orders[strategy]} LIMIT 1", ["pg_catalog.text"])
    rows = plpy.execute(plan, [name])
    if not rows:
        raise UndefinedObject(f'no model named "{name}" has been trained',
                              hint=f"Train one first: SELECT churnml.train({sql_literal(name)}, 'customers', 'churn');")
    return int(rows[0]["id"]), strategy


def insert_deployment(plpy: Plpy, name: str, model_id: int, threshold: float, strategy: str,
                      metrics: dict[str, Any], cutoff_source: str | None, restores: int | None = None,
                      endpoint_output: str = "probability") -> int:
    plan = prepared(plpy, "insert_deployment", """
        INSERT INTO churnml.deployments (name, model_id, threshold, strategy, metrics, cutoff_source, restores,
                                         endpoint_output)
        VALUES ($1, $2, $3, $4, $5::pg_catalog.jsonb, $6, $7, $8) RETURNING id""",
        ["pg_catalog.text", "bigint", "pg_catalog.float8", "pg_catalog.text", "pg_catalog.text", "pg_catalog.text",
         "bigint", "pg_catalog.text"])
    deployment_id = int(plpy.execute(plan, [name, model_id, threshold, strategy, _json(metrics), cutoff_source,
                                            restores, endpoint_output])[0]["id"])
    # a shadow that now serves is no challenger any more: left running, every logged call would log the
    # model twice (serving and shadow) and promote_shadow would compare it with itself
    stop = prepared(plpy, "stop_serving_shadow", """
        DELETE FROM churnml.shadow_models WHERE name OPERATOR(pg_catalog.=) $1 AND model_id OPERATOR(pg_catalog.=) $2
        RETURNING model_id""", ["pg_catalog.text", "bigint"])
    if plpy.execute(stop, [name, model_id]):
        plpy.notice(f'churnml: model {model_id} was the shadow of "{name}" and now serves it: its shadow is stopped')
    return deployment_id


def deployment_history(plpy: Plpy, name: str) -> list[dict[str, Any]]:
    """Every deployment event of `name`, newest first."""
    plan = prepared(plpy, "history", """
        SELECT id, model_id, threshold, strategy, cutoff_source, restores, endpoint_output FROM churnml.deployments
        WHERE name OPERATOR(pg_catalog.=) $1 ORDER BY id DESC""", ["pg_catalog.text"])
    return list(plpy.execute(plan, [name]))


def undo_target(history: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The deployment a rollback returns to: the state before the latest event that is not undone.

    `history` is newest first. The state before an ordinary event (deploy, set_threshold) is the
    deployment before it; a rollback that restored deployment R leaves the state R made, so the
    state before it is the one before R. So rollback after rollback walks back through the history
    (deploy A, deploy B, set_threshold, rollback → B at its cutoff, rollback → A) instead of
    toggling between the last two. None when the first deployment is the one being served."""
    by_id = {int(row["id"]): row for row in history}
    ids = sorted(by_id)
    current = ids[-1] if ids else None
    seen: set[int] = set()
    while current is not None and current not in seen:
        seen.add(current)
        restored = by_id[current].get("restores")
        if restored is not None and int(restored) in by_id and int(restored) < current:
            current = int(restored)  # this rollback stands for the event it restored
            continue
        earlier = [i for i in ids if i < current]
        return by_id[earlier[-1]] if earlier else None
    return None


@dataclass(frozen=True)
class BusinessCosts:
    fp_cost: float
    fn_cost: float
    tp_cost: float
    tn_cost: float

    def described(self) -> str:
        return (f"fp {self.fp_cost:g}, fn {self.fn_cost:g}, tp {self.tp_cost:g}, tn {self.tn_cost:g}")


def business_costs(plpy: Plpy, name: str) -> BusinessCosts | None:
    plan = prepared(plpy, "business_costs", """
        SELECT fp_cost, fn_cost, tp_cost, tn_cost FROM churnml.business_costs
        WHERE name OPERATOR(pg_catalog.=) $1""", ["pg_catalog.text"])
    rows = plpy.execute(plan, [name])
    if not rows:
        return None
    row = rows[0]
    return BusinessCosts(fp_cost=float(row["fp_cost"]), fn_cost=float(row["fn_cost"]), tp_cost=float(row["tp_cost"]),
                         tn_cost=float(row["tn_cost"]))


def store_business_costs(plpy: Plpy, name: str, costs: BusinessCosts) -> dict[str, Any]:
    """Replace the costs of `name` (DELETE and INSERT: set_by and set_at are the database's to write);
    returns the stored row."""
    delete = prepared(plpy, "delete_business_costs",
                      "DELETE FROM churnml.business_costs WHERE name OPERATOR(pg_catalog.=) $1", ["pg_catalog.text"])
    insert = prepared(plpy, "insert_business_costs", """
        INSERT INTO churnml.business_costs (name, fp_cost, fn_cost, tp_cost, tn_cost) VALUES ($1, $2, $3, $4, $5)
        RETURNING *""",
        ["pg_catalog.text", "pg_catalog.float8", "pg_catalog.float8", "pg_catalog.float8", "pg_catalog.float8"])
    plpy.execute(delete, [name])
    return dict(plpy.execute(insert, [name, costs.fp_cost, costs.fn_cost, costs.tp_cost, costs.tn_cost])[0])


def holdout(plpy: Plpy, model_id: int) -> tuple[list[bool], list[float]]:
    plan = prepared(plpy, "holdout", """
        SELECT a.holdout_labels, a.holdout_scores
        FROM churnml.models AS m LEFT JOIN churnml.model_artifacts AS a ON a.model_id OPERATOR(pg_catalog.=) m.id
        WHERE m.id OPERATOR(pg_catalog.=) $1""",
        ["bigint"])
    rows = plpy.execute(plan, [model_id])
    if not rows:
        raise UndefinedObject(f"model {model_id} does not exist")
    labels, scores = rows[0]["holdout_labels"] or [], rows[0]["holdout_scores"] or []
    if not labels and not scores:
        raise ObjectNotInPrerequisiteState(f"model {model_id} has no held-out test rows",
                                           hint="Train with a test fraction above 0 to tune thresholds.")
    check_holdout(model_id, labels, scores)
    return list(labels), list(scores)


HOLDOUT_CHUNK = 65536


def check_holdout(model_id: int, labels: list[Any], scores: list[Any]) -> None:
    """One label (true/false) and one score (a probability from 0 to 1) per held-out row, or XX001.

    What threshold_costs, optimal_threshold, rule_set_cost and deploy's metrics all read: a NaN
    score or arrays of different lengths (written into churnml.models by hand) would give wrong
    figures or Python's own words, so the model is named instead. Checked in chunks, honouring a
    cancel between them (millions of rows take a fraction of a second)."""
    hint = ("Retrain the model, or fix churnml.model_artifacts.holdout_labels and holdout_scores: one label and one "
            "score from 0 to 1 per held-out row.")
    if len(labels) != len(scores):
        raise DataCorrupted(f"the held-out rows of model {model_id} are damaged",
                            detail=f"It has {len(labels)} labels and {len(scores)} scores; each held-out row has "
                                   "one of each.", hint=hint)
    for start in range(0, len(scores), HOLDOUT_CHUNK):
        interrupts.check()
        chunk = scores[start:start + HOLDOUT_CHUNK]
        bad = next((i for i, s in enumerate(chunk) if not (isinstance(s, float | int) and 0.0 <= s <= 1.0)), None)
        if bad is None and None not in labels[start:start + HOLDOUT_CHUNK]:
            continue
        if bad is None:
            row, what = start + labels[start:start + HOLDOUT_CHUNK].index(None) + 1, "a NULL label"
        else:
            value = chunk[bad]
            row, what = start + bad + 1, "a NULL score" if value is None else f"the score {value!r}".replace(
                "nan", "NaN").replace("inf", "Infinity")
        raise DataCorrupted(f"the held-out rows of model {model_id} are damaged",
                            detail=f"Held-out row {row} of {len(scores)} has {what}; each held-out row has a label "
                                   "(true or false) and a score from 0 to 1.", hint=hint)


MAX_BIGINT = 2**63 - 1


def model_id_for(plpy: Plpy, name_or_id: str | None, *, caller: str | None = None) -> int:
    """A model named by id ('42'), by deployment name ('churn' = its deployed model), or by the name of
    models that are trained but not deployed (the latest of them; `caller` says so in a NOTICE)."""
    return resolve_model(plpy, name_or_id, caller=caller)[0]


def resolve_model(plpy: Plpy, name_or_id: str | None, *, caller: str | None = None) -> tuple[int, str]:
    """(model id, how it was found: 'id', 'deployed' or 'latest') for a model id, a deployed name, or a
    trained-but-undeployed name (its latest model, which `caller`, when given, says in a NOTICE).
    NULL is 22004, '' or a name no model has is 42704 listing the names there are."""
    if name_or_id is None:
        raise NullValueNotAllowed("the model name or id must not be NULL",
                                  hint="Pass a model name such as 'churn', or a model id such as '42'.")
    text = name_or_id.strip()
    # ASCII digits only: str.isdigit() is also true for '²' or '٣', which int() refuses or reads as 3
    if text.isascii() and text.isdigit():
        if len(text) > 19 or int(text) > MAX_BIGINT:  # len first: int() refuses more than 4300 digits
            raise InvalidParameter(f"model id {text[:20]}{'…' if len(text) > 20 else ''} is out of range",
                                   detail="Model ids are bigint.")
        return int(text), "id"
    deployed = prepared(plpy, "deployed_model_id", """
        SELECT model_id FROM churnml.deployments WHERE name OPERATOR(pg_catalog.=) $1 ORDER BY id DESC LIMIT 1""",
        ["pg_catalog.text"])
    rows = plpy.execute(deployed, [text])
    if rows:
        return int(rows[0]["model_id"]), "deployed"
    latest = prepared(plpy, "latest_model_id", """
        SELECT pg_catalog.max(id) AS id FROM churnml.models WHERE name OPERATOR(pg_catalog.=) $1""",
        ["pg_catalog.text"])
    found = plpy.execute(latest, [text])[0]["id"]
    if found is not None:
        if caller is not None:
            plpy.notice(f'{caller}: "{text}" is not deployed; using its latest model, {int(found)}')
        return int(found), "latest"
    if not text:
        raise InvalidParameter("the model name or id must not be empty",
                               hint="Pass a model name such as 'churn', or a model id such as '42'.")
    shown = text if len(text) <= 70 else text[:67] + "…"
    raise UndefinedObject(f'no model is named "{shown}"', detail=_known_model_names(plpy),
                          hint="Pass a model's name (deployed or not) or its id: SELECT id, name, deployed FROM "
                               "churnml.model_summary lists them.")


def _known_model_names(plpy: Plpy) -> str:
    rows = plpy.execute("SELECT pg_catalog.string_agg(name, ', ' ORDER BY name) AS names FROM "
                        "(SELECT DISTINCT name FROM churnml.models) AS n")
    names = rows[0]["names"] if rows else None
    if not names:
        return "No model has been trained yet."
    return f"Model names: {names if len(names) <= 500 else names[:499] + '…'}."
