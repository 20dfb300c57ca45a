"""The report's data: one registry row per model, read with parameterised queries, decoded and checked.

Everything comes from churnml.models and churnml.current_deployments; the model structure
is read from its stored JSON (churnml.training.explain validates it), so no scoring or
retraining happens.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
import psycopg

from churnml import registry
from churnml.errors import ChurnmlError
from churnml.training import explain
from churnml.training import metrics as mx
from churnml.training.feature_spec import FeatureSpec

SPLITS = ("train", "validation", "test")  # the parts a model's metrics are stored for
_MODEL_QUERY = """
    SELECT m.id, m.name, m.kind, m.created_at, m.created_by, a.artifact, m.artifact_format, m.artifact_sha256,
           m.feature_spec, m.metrics, m.training, m.params, a.holdout_labels, a.holdout_scores
    FROM churnml.models AS m LEFT JOIN churnml.model_artifacts AS a ON a.model_id = m.id
    WHERE m.id = %s"""


@dataclass(frozen=True)
class Model:
    """One registry row, decoded, with the deployment that serves it (if any)."""

    id: int
    name: str
    created_at: datetime
    created_by: str
    booster: dict[str, Any]  # parsed XGBoost model JSON
    spec: FeatureSpec
    metrics: dict[str, Any]
    training: dict[str, Any]
    params: dict[str, Any]
    labels: np.ndarray  # held-out test rows: 1 churned, 0 stayed (may be empty)
    scores: np.ndarray
    deployment: str | None  # the name serving it, None if it serves no name
    threshold: float  # the deployed cutoff, else the one its metrics were computed at

    @property
    def label(self) -> str:
        return f"{self.name} #{self.id}"

    @property
    def has_holdout(self) -> bool:
        return len(self.labels) > 0 and 0 < int(self.labels.sum()) < len(self.labels)



def _resolve(conn: psycopg.Connection, name_or_id: str,
             say: Callable[[str], None] | None = None) -> tuple[int, str | None, float | None]:
    """(model id, deployment name, deployed threshold) for a deployment name, the name of models that are
    trained but not deployed (the latest of them, which `say` reports), or a model id: as churnml's SQL
    functions read them (churnml.registry.resolve_model)."""
    text = name_or_id.strip()
    if text.isascii() and text.isdigit():
        row = conn.execute(
            "SELECT name, threshold FROM churnml.current_deployments WHERE model_id = %s ORDER BY name LIMIT 1",
            (int(text),),
        ).fetchone()
        return int(text), (row[0] if row else None), (float(row[1]) if row else None)
    row = conn.execute(
        "SELECT model_id, threshold FROM churnml.current_deployments WHERE name = %s", (text,)
    ).fetchone()
    if row is not None:
        return int(row[0]), text, float(row[1])
    trained = (conn.execute("SELECT max(id) FROM churnml.models WHERE name = %s", (text,)).fetchone() or (None,))[0]
    if trained is not None:
        if say is not None:
            say(f'"{text}" is not deployed; using its latest model, {trained}')
        return int(trained), None, None
    names = [r[0] for r in conn.execute("SELECT DISTINCT name FROM churnml.models ORDER BY name")]
    known = f"models: {', '.join(names)}" if names else "no model has been trained yet"
    raise ValueError(f'no model is named "{text}" ({known}); pass a model name or a model id')


def business_costs(conn: psycopg.Connection, name: str | None) -> dict[str, float] | None:
    """The costs set for a deployment name (churnml.set_business_costs), as {"fp": ..., "fn": ..., ...}."""
    if name is None:
        return None
    row = conn.execute("SELECT fp_cost, fn_cost, tp_cost, tn_cost FROM churnml.business_costs WHERE name = %s",
                       (name,)).fetchone()
    return None if row is None else {"fp": row[0], "fn": row[1], "tp": row[2], "tn": row[3]}


def load_model(conn: psycopg.Connection, name_or_id: str, say: Callable[[str], None] | None = None) -> Model:
    """The model a deployment name serves, the latest model of a name not deployed (`say` reports it), or
    model id `name_or_id`; ValueError if none or unreadable."""
    model_id, deployment, threshold = _resolve(conn, name_or_id, say)
    row = conn.execute(_MODEL_QUERY, (model_id,)).fetchone()
    if row is None:
        raise ValueError(f"model {model_id} does not exist; the view churnml.model_summary lists the models")
    (id_, name, kind, created_at, created_by, artifact, fmt, checksum, spec_json, metrics, training, params,
     labels, scores) = row  # fmt: skip
    if kind != "churn":
        raise ValueError(f"model {id_} is a {kind} model; reports explain churn models")
    if artifact is None:
        raise ValueError(f"model {id_} has no artifact (no row in churnml.model_artifacts)")
    artifact = bytes(artifact)
    if registry.sha256(artifact) != checksum:
        raise ValueError(f"the artifact of model {id_} failed its checksum; it was changed outside churnml")
    try:
        booster = _parse_artifact(artifact, fmt, id_)
        spec = FeatureSpec.from_dict(spec_json)
        explain.feature_names(booster, spec.output_names)  # the spec must match the model
    except ChurnmlError as exc:
        raise ValueError(f"model {id_}: {exc}") from exc
    if threshold is None:
        threshold = float((metrics.get("test") or {}).get("threshold", mx.DEFAULT_THRESHOLD))
    labels = np.asarray([1 if v else 0 for v in labels or []], dtype=np.int8)
    scores = np.asarray(scores or [], dtype=np.float64)
    if len(labels) != len(scores):
        raise ValueError(f"model {id_} has {len(labels)} held-out labels but {len(scores)} scores")
    return Model(id=int(id_), name=name, created_at=created_at, created_by=created_by, booster=booster, spec=spec,
                 metrics=metrics or {}, training=training or {}, params=params or {}, labels=labels, scores=scores,
                 deployment=deployment, threshold=threshold)


def _parse_artifact(artifact: bytes, fmt: str, model_id: int) -> dict[str, Any]:
    if fmt in ("xgboost-json", "xgboost-ubj"):
        return explain.model_dict(artifact)  # validated by churnml (JSON or UBJSON), never loaded by xgboost
    raise ValueError(f"model {model_id} is stored as {fmt}; reports read XGBoost models")

