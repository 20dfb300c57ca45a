"""The per-backend cache of deployed models.

Models are cached by (model id, artifact SHA-256), which never change for a stored
model, so a cached entry is always right for its key. Which model a *name* serves
is looked up once per statement: the SQL functions pass the statement's start time
(statement_timestamp()), and a new value means "look again". So the first
statement after a deploy uses the new model in every session, without
reconnecting, while a running statement keeps one consistent model to its end.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from churnml import registry
from churnml.errors import DataCorrupted
from churnml.scoring.compiled_trees import CompiledModel
from churnml.training.feature_spec import FeatureSpec

MAX_CACHED_MODELS = 8


@dataclass(frozen=True)
class LoadedModel:
    model_id: int
    sha256: str
    name: str
    spec: FeatureSpec
    compiled: CompiledModel

    @property
    def input_names(self) -> list[str]:
        return self.spec.input_names

    def score_values(self, values: list[Any]) -> float:
        """One row given as input-feature values in spec order."""
        return self.compiled.predict_row(self.spec.transform_row(values))


@dataclass(frozen=True)
class Serving:
    statement: float
    model: LoadedModel
    threshold: float


_models: OrderedDict[tuple[int, str], LoadedModel] = OrderedDict()
_serving: dict[str, Serving] = {}


def build(stored: registry.StoredModel) -> LoadedModel:
    spec = FeatureSpec.from_dict(stored.feature_spec)
    compiled = CompiledModel.from_json(stored.artifact)
    if compiled.n_features != len(spec.output_names):
        raise DataCorrupted(
            f"model {stored.id} does not match its feature spec",
            detail=f"The trees expect {compiled.n_features} columns; the spec encodes {len(spec.output_names)}.")
    return LoadedModel(model_id=stored.id, sha256=stored.artifact_sha256, name=stored.name, spec=spec,
                       compiled=compiled)


def model(plpy: Any, model_id: int, sha256: str) -> LoadedModel:
    key = (model_id, sha256)
    loaded = _models.get(key)
    if loaded is None:
        loaded = build(registry.load_model(plpy, model_id, expected_sha256=sha256))
        _models[key] = loaded
        while len(_models) > MAX_CACHED_MODELS:
            _models.popitem(last=False)
    else:
        _models.move_to_end(key)
    return loaded


def serving(plpy: Any, name: str, statement: float | None) -> Serving:
    """The model `name` serves for the statement that started at `statement`."""
    current = _serving.get(name)
    if current is not None and statement is not None and current.statement == statement:
        return current
    deployment = registry.current_deployment(plpy, name)
    current = Serving(statement=statement if statement is not None else float("nan"),
                      model=model(plpy, deployment.model_id, deployment.artifact_sha256),
                      threshold=deployment.threshold)
    _serving[name] = current
    return current


def clear() -> None:
    _models.clear()
    _serving.clear()
