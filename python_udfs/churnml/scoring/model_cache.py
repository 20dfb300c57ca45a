"""The per-backend cache of deployed models.

Models are cached by (model id, artifact SHA-256), which never change for a stored
model, so a cached entry is always right for its key. Which model a *name* serves
is looked up once per statement: the SQL functions pass the statement's start time
(statement_timestamp()), and a new value means "look again". So the first
statement after a deploy uses the new model in every session, without
reconnecting, while a running statement keeps one consistent model to its end.
A deploy made by this backend also drops the name's entry (`forget`), because
statements sent in one Query message share one statement_timestamp().
"""

from __future__ import annotations

import os
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from churnml import endpoint_outputs, registry, server
from churnml.errors import DataCorrupted, InvalidParameter
from churnml.monitoring import prediction_log
from churnml.scoring.artifact import read_stored_artifact
from churnml.scoring.forest import forest_of
from churnml.scoring.tree_evaluator import TreeEvaluator
from churnml.spi import Plpy
from churnml.text.embedder import embedder_for
from churnml.training.feature_spec import FeatureSpec

# What a backend keeps compiled, least recently used first out: at most this many models and this
# many tree nodes in all. A cached model is only the C evaluator's copy of its trees, ~60 bytes a
# node (plus, for trees of depth up to 12, the AVX2 walk's copy padded to perfect trees), so the
# cache stays within ~200 MB for ordinary trees; a model used by the running statement is never
# evicted (no reloading per row), so one statement scoring several big models may hold more until it ends.
MAX_CACHED_MODELS = 8
MAX_CACHED_NODES = 2_000_000
# After loading a model of at least this many nodes, or evicting one, free memory goes back to the OS
# (the JSON of a big artifact leaves hundreds of MB of freed blocks in the backend's heap).
TRIM_AFTER_NODES = 100_000
# Bulk scoring may use this many threads (in C, without the GIL): like training's
# default, at most two, so one backend never takes over a bigger machine.
BULK_THREADS = min(2, os.cpu_count() or 1)
NAN = float("nan")
# SQL types PL/Python hands over as plain int/float (numeric arrives as Decimal).
_PLAIN_NUMBER_TYPES = {"smallint", "integer", "bigint", "real", "double precision", "int2", "int4", "int8",
                       "float4", "float8"}


class _NotFinite(Exception):
    """A value of a plain-number row that is neither a finite number nor missing (see _plain_numbers)."""


def _missing(value: Any) -> float:
    # the rare branch of _plain_numbers: NULL and NaN are missing values, anything else is looked at
    if value is None or value != value:
        return NAN
    raise _NotFinite


def _plain_numbers(spec: FeatureSpec) -> Callable[[Sequence[Any]], list[float]]:
    """The row as it is, NULL and NaN as NaN: one comprehension (v - v == 0 holds for finite numbers
    only). Anything else, ±Infinity (22003) or a JSON string (will_churn(row) hands float8 NaN and
    Infinity over as "NaN", "Infinity"), goes through the checked per-feature path."""
    checked = spec.row_transformer(refuse_infinite=True)

    def encode(values: Sequence[Any]) -> list[float]:
        try:
            return [v if v is not None and v - v == 0 else _missing(v) for v in values]
        except (_NotFinite, TypeError, ArithmeticError):
            return checked(values)

    return encode


def _row_encoder(spec: FeatureSpec) -> Callable[[Sequence[Any]], list[Any]]:
    """The cheapest correct way to encode one row for this spec, for scoring (±Infinity is refused).

    When every feature is a plain int/float column whose missing values go to
    XGBoost natively, the encoding is the identity (up to NULL -> NaN), which
    saves the general encoder's per-feature calls on the per-row hot path.
    """
    if all(f.group == "numeric" and getattr(f.state, "missing", None) == "native"
           and f.sql_type in _PLAIN_NUMBER_TYPES for f in spec.features):
        return _plain_numbers(spec)
    transform = spec.row_transformer(refuse_infinite=True)
    embed = embedder_for(spec)
    if embed is not None:
        return lambda values: transform(values, embed=embed)
    return transform


@dataclass(frozen=True)
class LoadedModel:
    model_id: int
    sha256: str
    name: str
    spec: FeatureSpec
    evaluator: TreeEvaluator
    encode_row: Callable[[Sequence[Any]], list[Any]]
    # the C evaluator's own method: encode_row hands it lists of floats (NaN for missing)
    predict_row: Callable[[Sequence[Any]], float]
    nodes: int = 0  # tree nodes in all: what the cache's budget counts

    @property
    def input_names(self) -> list[str]:
        return self.spec.input_names

    def score_values(self, values: list[Any]) -> float:
        """One row given as input-feature values in spec order."""
        return self.predict_row(self.encode_row(values))

    def contributions(self, encoded: list[Any]) -> list[float]:
        """TreeSHAP values of one encoded row, then the bias (xgboost's pred_contribs)."""
        return self.evaluator.contributions_row(encoded)

    def contributions_matrix(self, matrix: Any) -> Any:
        """TreeSHAP values of every row of an encoded float64 matrix, each row's bias last."""
        return self.evaluator.contributions_matrix(matrix, BULK_THREADS)

    def transform(self, columns: Any) -> Any:
        """Encode whole columns (bulk scoring), embedding text features when the model has any."""
        matrix, _ = self.spec.transform(columns, embed=embedder_for(self.spec))
        return matrix

    def predict_start(self, matrix: Any) -> Callable[[], Any]:
        """Start predicting a float64 matrix in a C thread; call the result for the probabilities.

        The caller fetches the next batch meanwhile (bulk scoring's pipeline)."""
        return self.evaluator.predict_matrix_start(matrix)

    def predict_matrix(self, matrix: Any) -> Any:
        """Probabilities for a float64 matrix (rows x encoded columns)."""
        return self.evaluator.predict_matrix(matrix, BULK_THREADS)


@dataclass(frozen=True)
class Serving:
    statement: int | None  # the statement start it was looked up for (churnml.server.statement_start)
    model: LoadedModel
    threshold: float
    endpoint_output: tuple[str, ...] = ("probability",)  # what invoke_endpoint answers (endpoint_outputs)
    # prediction logging for this name, None while it is off: the one test per call that
    # logging costs when it is off (churnml.monitoring.prediction_log)
    logging: prediction_log.Logging | None = None


_models: OrderedDict[tuple[int, str], LoadedModel] = OrderedDict()
_used_by: dict[tuple[int, str], int | None] = {}  # the statement (server.statement_start) that last used it
_serving: dict[str, Serving] = {}
# predict(model_id, ...): model id -> the SHA-256 it was loaded with (its key in _models)
_pinned: dict[int, str] = {}


def build(stored: registry.StoredModel) -> LoadedModel:
    spec = FeatureSpec.from_dict(stored.feature_spec)
    forest = forest_of(read_stored_artifact(stored.id, stored.artifact))
    if forest.n_features != len(spec.output_names):
        raise DataCorrupted(
            f"model {stored.id} does not match its feature spec",
            detail=f"The trees expect {forest.n_features} columns; the spec encodes {len(spec.output_names)}.")
    evaluator = TreeEvaluator(forest)
    del forest  # the C evaluator has its own copy of the trees: the Python one goes now
    nodes = evaluator.n_nodes
    if nodes >= TRIM_AFTER_NODES:
        release_memory()
    return LoadedModel(model_id=stored.id, sha256=stored.artifact_sha256, name=stored.name, spec=spec,
                       evaluator=evaluator, encode_row=_row_encoder(spec), predict_row=evaluator.row_predictor,
                       nodes=nodes)


def model(plpy: Plpy, model_id: int, sha256: str) -> LoadedModel:
    key = (model_id, sha256)
    loaded = _models.get(key)
    if loaded is None:
        loaded = _remember(build(registry.load_model(plpy, model_id, expected_sha256=sha256)))
    else:
        _touch(key)
    return loaded


def _touch(key: tuple[int, str]) -> None:
    _models.move_to_end(key)
    _used_by[key] = server.statement_start()


def _remember(loaded: LoadedModel) -> LoadedModel:
    key = (loaded.model_id, loaded.sha256)
    _models[key] = loaded
    _touch(key)
    _evict()
    return loaded


def cached_nodes() -> int:
    return sum(m.nodes for m in _models.values())


def _evict() -> None:
    """Least recently used models out until the cache is within MAX_CACHED_MODELS and MAX_CACHED_NODES,
    except those the running statement has used: evicting one of those would reload it on its next row."""
    now = server.statement_start()
    total = cached_nodes()
    evicted = False
    for key in list(_models):  # least recently used first
        if len(_models) <= MAX_CACHED_MODELS and total <= MAX_CACHED_NODES:
            break
        if now is not None and _used_by.get(key) == now:
            continue
        old = _models.pop(key)
        _used_by.pop(key, None)
        total -= old.nodes
        evicted = True
        # nothing else may keep it alive: the per-statement lookups and predict's pins go too
        for name in [n for n, serving in _serving.items() if serving.model is old]:
            del _serving[name]
        for name in [n for n, (_, explained) in _explaining.items() if explained is old]:
            del _explaining[name]
        if _pinned.get(old.model_id) == old.sha256:
            del _pinned[old.model_id]
    if evicted:
        release_memory()


def release_memory() -> None:
    """Give the backend's freed heap memory back to the OS (glibc's malloc_trim: a few ms). A big
    model's JSON is hundreds of MB of small objects, freed once the model is compiled, which glibc
    would otherwise keep in the backend for its lifetime."""
    trim = _malloc_trim()
    if trim is not None:
        trim(0)


_TRIM: list[Any] = []


def _malloc_trim() -> Any:
    if not _TRIM:
        try:
            import ctypes

            _TRIM.append(ctypes.CDLL(None).malloc_trim)
        except (OSError, AttributeError):  # not glibc
            _TRIM.append(None)
    return _TRIM[0]


def by_id(plpy: Plpy, model_id: int) -> LoadedModel:
    """Exactly the registered model `model_id`, whatever is deployed (churnml.predict).

    A registered model's artifact checksum, format and feature spec never change
    (the registry's trigger refuses it), so after the first load in this backend
    the id alone finds the cached (id, SHA-256) entry: no registry query per row.
    """
    sha256 = _pinned.get(model_id)
    if sha256 is not None:
        loaded = _models.get((model_id, sha256))
        if loaded is not None:
            if _used_by.get((model_id, sha256)) != server.statement_start():
                _touch((model_id, sha256))  # once a statement: predict runs per row
            return loaded
    stored = registry.load_model(plpy, model_id)  # verifies the checksum
    if stored.kind != "churn":
        raise InvalidParameter(f"model {model_id} is a {stored.kind} model, not a churn model",
                               hint="churnml.predict scores with churn models: "
                                    "SELECT id, name FROM churnml.model_summary WHERE kind = 'churn'.")
    key = (stored.id, stored.artifact_sha256)
    loaded = _models.get(key)
    if loaded is None:
        loaded = _remember(build(stored))
    else:
        _touch(key)
    _pinned[model_id] = loaded.sha256
    return loaded


def serving(plpy: Plpy, name: str) -> Serving:
    """The model `name` serves for the current statement: looked up once per statement (by its
    start time, read from the server), so every row of a statement uses one model and a deploy
    takes effect at the next statement. Outside a backend: looked up on every call."""
    statement = server.statement_start()
    current = _serving.get(name)
    if current is not None and statement is not None and current.statement == statement:
        return current
    deployment = registry.current_deployment(plpy, name)
    current = Serving(statement=statement,
                      model=model(plpy, deployment.model_id, deployment.artifact_sha256),
                      threshold=deployment.threshold,
                      endpoint_output=endpoint_outputs.fields(deployment.endpoint_output),
                      logging=prediction_log.logging_of(deployment))
    _serving[name] = current
    return current


_explaining: dict[str, tuple[int | None, LoadedModel]] = {}


def explaining(plpy: Any, name: str) -> LoadedModel:
    """The model explain_churn explains for `name`: the one it serves when deployed, else the model a
    trained-but-undeployed name's latest model or an id names (registry.resolve_model, which says so
    in a NOTICE). Looked up once per statement, as `serving`, so the NOTICE comes once, not per row."""
    statement = server.statement_start()
    cached = _explaining.get(name)
    if cached is not None and statement is not None and cached[0] == statement:
        return cached[1]
    model_id, how = registry.resolve_model(plpy, name, caller="churnml.explain_churn")
    loaded = serving(plpy, name).model if how == "deployed" else by_id(plpy, model_id)
    _explaining[name] = (statement, loaded)
    return loaded


def forget(name: str) -> None:
    """Look `name` up again at its next use, even within the same statement time.

    Called after this backend changes what `name` serves (deploy, rollback,
    set_threshold): statements sent together in one Query message share one
    statement_timestamp(), and without this a score after `SELECT churnml.deploy(...)`
    in the same message would still use the model cached before the deploy.
    """
    _serving.pop(name, None)
    _explaining.pop(name, None)


def clear() -> None:
    _explaining.clear()
    _models.clear()
    _used_by.clear()
    _serving.clear()
    _pinned.clear()
