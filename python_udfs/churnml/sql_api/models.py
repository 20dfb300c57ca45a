"""SQL area: training, deployment and explanation of churn models."""

from __future__ import annotations

import importlib.metadata
import json
import platform
import time
from collections.abc import Sequence
from typing import Any

from churnml import endpoint_outputs, interrupts, progress, registry
from churnml.errors import (
    ChurnmlError,
    InvalidParameter,
    NullValueNotAllowed,
    ObjectNotInPrerequisiteState,
    ProgramLimitExceeded,
    StatementTooComplex,
    UndefinedObject,
    shown_number,
    sql_literal,
)
from churnml.spi import Plpy, prepared
from churnml.sql_api.entry import entry

DEFAULT_COSTS = {"tp_cost": 0.0, "fp_cost": 0.0, "tn_cost": 0.0, "fn_cost": 0.0}


def _loads(text: str | None, what: str) -> Any:
    if text is None:
        return None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidParameter(f"{what} is not valid JSON", detail=f"{exc.msg} at character {exc.pos}.") from None
    except ValueError:  # Python reads integers of at most 4,300 digits (a jsonb 1e5000 has 5,001)
        raise InvalidParameter(f"{what} holds a number churnml cannot read",
                               detail="An integer in it has more than 4,300 digits.") from None
    except RecursionError:
        raise StatementTooComplex(f"{what} is nested too deeply",
                                  detail="Its arrays and objects nest deeper than churnml reads.") from None


def _library_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for dist in ("xgboost-cpu", "numpy", "scikit-learn"):
        try:
            versions[dist] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            continue
    return versions


@entry
@progress.tracked("train", "reading the source")
def train(plpy: Plpy, name: str, source: str, label: str, features: list[str] | None, exclude: list[str] | None,
          feature_types: str | None, hyperparams: str | None, search: str | None, missing: str,
          test_fraction: float, validation_fraction: float, seed: int, deploy: bool, parent_id: int | None,
          search_path: str | None) -> int:
    # Imported here: xgboost and scikit-learn take ~1 s to import, and only training needs them.
    from churnml.source_data import probe_source, read_source
    from churnml.training.feature_roles import identifier_notice, profile_column
    from churnml.training.feature_spec import (
        check_feature_arguments,
        infer_spec,
        leave_out_identifiers,
        plan_features,
    )
    from churnml.training.hyperparams import plan_search, resolve_params
    from churnml.training.labels import normalize_labels
    from churnml.training.split import check_seed, stratified_split
    from churnml.training.sql_types import type_family
    from churnml.training.train import train_model

    registry.check_model_name(name)
    if label is None:
        raise NullValueNotAllowed("label must name the column to predict, not NULL",
                                  hint="e.g. churnml.train('churn', 'customers', 'churn')")
    # Everything that needs no data first: a bad argument fails in milliseconds, not after the read.
    _check_fractions(test_fraction, validation_fraction)
    check_seed(seed)
    registry.check_parent(plpy, parent_id)
    registry.check_kind(plpy, name, "churn")
    params = _loads(hyperparams, "hyperparams")
    _, fixed = resolve_params(params)  # a misspelt or out-of-range hyperparameter
    search_request = _loads(search, "search")
    if search_request is not None:
        plan_search(search_request, fixed)  # trials, seed and space
    overrides = _loads(feature_types, "feature_types")
    check_feature_arguments(label=label, features=features, exclude=exclude, overrides=overrides, missing=missing)
    # Then the source's columns, from a LIMIT 0 probe: names are checked before a row is read.
    probed = probe_source(plpy, source, search_path)
    if label not in probed.names:
        raise UndefinedObject(
            f'label column "{label}" is not in the source',
            detail=f"Columns: {', '.join(probed.names)}.")
    chosen = plan_features(probed.column_types, label=label, features=features, exclude=exclude or (),
                           overrides=overrides, missing=missing)
    started = time.perf_counter()
    plpy.notice(f"churnml.train: reading {source!r}")
    data = read_source(plpy, probed, search_path, wanted=[*chosen, label])
    types = dict(data.column_types)
    profiles = {c: profile_column(data.columns[c], types[c]) for c in chosen
                if type_family(types[c]) != "unsupported"}
    # columns churnml chose itself: those that identify rows (phone, e-mail, ids) are left out
    named = set(chosen) if features is not None else set(overrides or {})
    chosen, left_out = leave_out_identifiers(chosen, types, profiles, named=named)
    if left_out:
        plpy.notice("churnml.train: " + identifier_notice(left_out, engine="database"))
    spec = infer_spec(data.column_types, data.columns, label=label, features=chosen, exclude=(),
                      overrides=overrides, missing=missing, profiles=profiles)
    y = normalize_labels(data.columns[label], column=label)
    fractions = (1.0 - test_fraction - validation_fraction, validation_fraction, test_fraction)
    split = stratified_split(y, fractions=fractions, seed=seed)
    from churnml.text.embedder import embedder_for

    embed = embedder_for(spec)
    if embed is not None:
        plpy.notice(f"churnml.train: embedding text features with {embed.encoder_name}")  # type: ignore[attr-defined]  # set on the embedder function
    progress.phase("encoding features")
    spec.fit(data.columns, split.train, embed=embed)
    X, output_names = spec.transform(data.columns, embed=embed)
    read_seconds = time.perf_counter() - started
    plpy.notice(f"churnml.train: {data.rows} rows, {len(spec.input_names)} features "
                f"({len(output_names)} columns after encoding); split {len(split.train)}/"
                f"{len(split.validation)}/{len(split.test)}")
    result = train_model(X, y, split, params, search_request,
                         progress=lambda message: plpy.notice(f"churnml.train: {message}"),
                         feature_names=output_names)
    summary = result.to_dict()
    test_scores = result.predictions.get("test")
    holdout_labels = [bool(v) for v in y[split.test]] if test_scores is not None else []
    holdout_scores = [float(v) for v in test_scores] if test_scores is not None else []
    training = {
        "engine": "database",
        "source": data.description,
        "label": label,
        "rows": data.rows,
        "split": split.summary(y),
        "seconds": round(time.perf_counter() - started, 3),
        "read_seconds": round(read_seconds, 3),
        "timings": summary["timings"],
        "best_iteration": summary["best_iteration"],
        "n_trees": summary["n_trees"],
        "trials": summary["trials"],
        "search": summary["search"],
        "learning_curve": summary["learning_curve"],
        "features": spec.input_names,
        "left_out": [{"column": column, "reason": reason} for column, reason in left_out],
        "output_columns": output_names,
        "libraries": _library_versions(),
    }
    from churnml.scoring.artifact import MAX_ARTIFACT_BYTES, read_artifact, storable_canonical

    raw = result.model_json
    if len(raw) > MAX_ARTIFACT_BYTES:  # xgboost's JSON is longer than its UBJSON and the canonical JSON
        raw = bytes(result.booster().save_raw("ubj"))
    canonical = storable_canonical(read_artifact(raw))  # stored in canonical form, as registered ones
    progress.phase("storing the model")
    model_id = registry.insert_model(
        plpy, name=name, artifact=canonical, feature_spec=spec.to_dict(), params=summary["params"],
        metrics=summary["metrics"], training=training, holdout_labels=holdout_labels,
        holdout_scores=holdout_scores, parent_id=parent_id)
    auc = summary["metrics"]["validation"].get("auc")
    plpy.notice(f"churnml.train: model {model_id} \"{name}\": validation AUC "
                f"{auc if auc is None else round(auc, 4)}, {summary['n_trees']} trees, "
                f"{training['seconds']} s")
    if deploy:
        deploy_model(plpy, name, model_id, None, None)
    return model_id


def _check_fractions(test_fraction: float | None, validation_fraction: float | None) -> None:
    """The split's fractions, checked before reading any data (stratified_split checks them again)."""
    from churnml.training.split import check_fractions

    if test_fraction is None or validation_fraction is None:
        raise NullValueNotAllowed("test_fraction and validation_fraction must not be NULL",
                                  hint="Pass fractions such as 0.1 and 0.2 (test may be 0).")
    check_fractions((1.0 - test_fraction - validation_fraction, validation_fraction, test_fraction))


def _json_object(text: str | None, what: str, *, required: bool = True) -> dict[str, Any]:
    value = _loads(text, what)
    if value is None and not required:
        return {}
    if not isinstance(value, dict):
        raise InvalidParameter(f"{what} must be a JSON object", detail=f"Got {type(value).__name__}.")
    return value


def _checked_holdout(holdout: str | None) -> tuple[list[bool], list[float]]:
    value = _json_object(holdout, "holdout", required=False)
    if not value:
        return [], []
    labels, scores = value.get("labels"), value.get("scores")
    if (not isinstance(labels, list) or not isinstance(scores, list) or len(labels) != len(scores)
            or set(value) - {"labels", "scores"}):
        raise InvalidParameter("holdout must be {\"labels\": [...], \"scores\": [...]} of equal length",
                               hint="Pass the held-out test rows' labels (true/false) and churn probabilities.")
    if not all(isinstance(v, bool) for v in labels):
        raise InvalidParameter("holdout labels must be true or false")
    if not all(isinstance(v, int | float) and not isinstance(v, bool) and 0.0 <= v <= 1.0 for v in scores):
        raise InvalidParameter("holdout scores must be probabilities between 0 and 1")
    return list(labels), [float(v) for v in scores]


def check_artifact(artifact: str | bytes | None, spec: Any) -> bytes:
    """The artifact's canonical JSON, after validating it completely and checking that it fits `spec`.

    `artifact` is XGBoost JSON (text or bytes) or UBJSON (bytes). churnml's validator
    reads it first (churnml.scoring.artifact); xgboost only ever loads the canonical
    document written from the validated values, and must then agree with churnml's
    scorer. Every problem is 22023 (a bad argument): nothing has been stored yet.
    """
    from churnml.scoring.artifact import read_artifact, storable_canonical
    from churnml.scoring.forest import forest_of
    from churnml.scoring.tree_evaluator import TreeEvaluator

    if artifact is None or (isinstance(artifact, str) and not artifact.strip()) or not artifact:
        raise InvalidParameter("artifact must be an XGBoost model: its JSON, or its UBJSON as bytea",
                               hint='Pass bytes(booster.save_raw("json")).decode(), or booster.save_raw() as bytea.')
    try:
        model = read_artifact(artifact)
    except ChurnmlError as exc:  # DataCorrupted or InvalidParameter: the argument is bad either way
        raise InvalidParameter(exc.message, detail=exc.detail, hint=exc.hint) from None
    # over the size limit, deploy and every backend would refuse it: refused here, before it is compiled
    canonical = storable_canonical(model)
    forest = forest_of(model)
    names = list(model.feature_names)
    del model  # the validated copy of every node: the forest has what is still needed
    outputs = spec.output_names
    if forest.n_features != len(outputs):
        raise InvalidParameter(
            f"the artifact takes {forest.n_features} inputs, but the feature spec encodes {len(outputs)} columns",
            detail=f"The spec's encoded columns: {', '.join(outputs[:20])}{', …' if len(outputs) > 20 else ''}.",
            hint="Register the model with the feature spec it was trained on.")
    if names and names != list(outputs):
        raise InvalidParameter("the artifact's feature names differ from the feature spec's encoded columns",
                               detail=f"Model: {', '.join(names[:10])}; spec: {', '.join(outputs[:10])}.",
                               hint="Register the model with the feature spec it was trained on.")
    rows = _probe_rows(forest)
    evaluator = TreeEvaluator(forest)
    del forest
    _xgboost_agrees(canonical, evaluator, rows)
    del evaluator
    from churnml.scoring.model_cache import release_memory

    release_memory()  # xgboost's copy and the decoded document: ~1 GB for a model of a million nodes
    return canonical


def _xgboost_agrees(canonical: bytes, evaluator: Any, rows: Any) -> None:
    """xgboost reads the canonical document as churnml's scorer does (same probabilities on rows with
    missing values and values on every threshold), so tools that load the stored model with
    xgboost see the model that is served."""
    import numpy as np
    import xgboost as xgb

    try:
        # xgboost reads a model of a million nodes for seconds, in C: in a helper thread (the GIL is
        # released), so a cancel is honoured meanwhile (the load runs on and is dropped)
        booster = interrupts.Pending(lambda: xgb.Booster(model_file=bytearray(canonical))).result()
    except xgb.core.XGBoostError as exc:
        first = str(exc).splitlines()[0] if str(exc) else "no reason given"
        raise InvalidParameter("XGBoost cannot load the validated artifact",
                               detail=f"XGBoost said: {first[:300]}.") from None
    expected = booster.inplace_predict(rows)
    if booster.num_features() != evaluator.n_features or \
            float(np.max(np.abs(evaluator.predict_matrix(rows) - expected), initial=0.0)) > 1e-6:
        raise InvalidParameter("XGBoost and churnml's scorer read the artifact differently",
                               detail="Their probabilities differ by more than 1e-6 on the same rows.",
                               hint="Report this model to the churnml maintainers.")


def _probe_rows(forest: Any) -> Any:
    """Rows that take every path: each split's threshold, just below it, and missing values."""
    import numpy as np

    rng = np.random.default_rng(0)
    n = forest.n_features
    rows = rng.normal(size=(64, n))
    rows[rng.random(rows.shape) < 0.2] = np.nan
    for tree in forest.trees[:64]:
        interrupts.check()
        split = np.flatnonzero(np.asarray(tree.left) != -1)
        at = rng.integers(len(rows), size=split.size)
        rows[at, np.asarray(tree.feature)[split]] = np.asarray(tree.cutoff)[split].astype(np.float32)
    return rows


SPEC_HINT = ("Pass the fitted spec churnml.train stores (FeatureSpec.to_dict()): spec_version, and features "
             "with a name, group, sql_type, fitted and state each.")


def _checked_spec(plpy: Plpy, document: dict[str, Any]) -> Any:
    """register_model's feature_spec, checked completely (22023 naming the feature): the document
    (`spec_document`), then every sql_type as the database parses it, which is stored instead."""
    from churnml.errors import DataCorrupted, DataException
    from churnml.training.feature_spec import FeatureSpec

    try:
        spec = FeatureSpec.from_dict(document)
    except (DataCorrupted, DataException) as exc:
        feature = getattr(exc, "feature", None)
        if feature is None:
            raise InvalidParameter("feature_spec is not a churnml feature spec", detail=exc.detail,
                                   hint=SPEC_HINT) from None
        raise InvalidParameter(f'invalid feature "{feature}" in feature_spec',
                               detail=exc.detail.removeprefix(f'Feature "{feature}": ') if exc.detail else None,
                               hint=SPEC_HINT) from None
    for feature in spec.features:
        feature.sql_type = _database_type(plpy, feature.name, feature.group, feature.sql_type)
    return spec


# Errors to_regtype raises for a text that is no type name (syntax, a cross-database name, ...):
# those classes only, so a cancel or a lost connection is never taken for a bad name.
_NOT_A_TYPE_CLASSES = ("22", "42", "3F", "0A")


def _database_type(plpy: Plpy, feature: str, group: str, sql_type: str) -> str:
    """The database's name of the type `sql_type` names (as format_type prints it under churnml's pinned
    search_path), refused (22023) unless it is a real, complete type of a family the group can be."""
    from churnml.errors import spi_error_fields
    from churnml.spi import prepared
    from churnml.training.spec_document import SpecProblem, check_type_family

    plan = prepared(plpy, "spec_type", """
        SELECT t.oid::pg_catalog.regtype::pg_catalog.text AS name, t.typtype::pg_catalog.text AS kind,
               t.typisdefined AS defined
        FROM pg_catalog.pg_type AS t WHERE t.oid OPERATOR(pg_catalog.=) pg_catalog.to_regtype($1)""",
        ["pg_catalog.text"])
    shown = sql_type if len(sql_type) <= 60 else sql_type[:57] + "…"
    rows: Sequence[dict[str, Any]]
    try:
        rows = plpy.execute(plan, [sql_type])
    except plpy.SPIError as exc:
        if not spi_error_fields(exc)[0].startswith(_NOT_A_TYPE_CLASSES):
            raise
        rows = []
    if not rows:
        raise InvalidParameter(f'invalid feature "{feature}" in feature_spec',
                               detail=f'Its sql_type "{shown}" is not a type this database knows.',
                               hint="Use a PostgreSQL type name such as bigint, double precision, text or boolean, "
                                    "schema-qualified when it is not in pg_catalog.")
    row = rows[0]
    if row["kind"] == "p" or not row["defined"]:
        raise InvalidParameter(f'invalid feature "{feature}" in feature_spec',
                               detail=f'Its sql_type "{shown}" is a pseudo-type or an incomplete type, which no '
                                      "column has.",
                               hint="Use the type of the column the model was trained on.")
    try:
        check_type_family(feature, group, row["name"])
    except SpecProblem as problem:
        raise InvalidParameter(f'invalid feature "{feature}" in feature_spec', detail=problem.sentence,
                               hint="Use the type of the column the model was trained on: numbers for numeric "
                                    "features, boolean for boolean ones.") from None
    return str(row["name"])


@entry
def register_model(plpy: Plpy, name: str | None, artifact: str | bytes | None, feature_spec: str | None,
                   metrics: str | None, training: str | None, params: str | None, holdout: str | None,
                   deploy: bool | None, parent_id: int | None) -> int:
    """Register a churn model trained outside the database; returns its id."""
    from churnml.training.jsonable import to_jsonable

    name = registry.check_model_name(name)
    registry.check_parent(plpy, parent_id)
    registry.check_kind(plpy, name, "churn")
    spec_doc = _json_object(feature_spec, "feature_spec")
    if spec_doc.get("kind") == "sentiment":
        raise InvalidParameter("register_model registers churn models", hint="Train sentiment models in SQL.")
    spec = _checked_spec(plpy, spec_doc)
    if not spec.fitted:
        raise InvalidParameter("feature_spec has not been fitted",
                               hint="Register the spec after fitting it on the training rows.")
    metrics_doc = _json_object(metrics, "metrics")
    facts = _json_object(training, "training")
    facts.setdefault("engine", "external")
    facts["registered_with"] = "churnml.register_model"
    labels, scores = _checked_holdout(holdout)
    extra_params = _json_object(params, "params", required=False)
    raw = check_artifact(artifact, spec)  # the long part, last
    model_id = registry.insert_model(
        plpy, name=name, artifact=raw, feature_spec=to_jsonable(spec.to_dict()),  # type: ignore[arg-type]  # a dict in, a dict out
        params=extra_params, metrics=metrics_doc, training=facts,
        holdout_labels=labels, holdout_scores=scores, parent_id=parent_id)
    auc = metrics_doc.get("validation", {}).get("auc") if isinstance(metrics_doc.get("validation"), dict) else None
    plpy.notice(f"churnml.register_model: model {model_id} \"{name}\" ({facts['engine']} engine)"
                + (f", validation AUC {round(auc, 4)}" if isinstance(auc, int | float) else ""))
    if deploy:
        deploy_model(plpy, name, model_id, None, None)
    return model_id


def _holdout_metrics(plpy: Plpy, model_id: int, threshold: float) -> dict[str, Any]:
    from churnml.training.metrics import confusion, rates

    try:
        labels, scores = registry.holdout(plpy, model_id)
    except ObjectNotInPrerequisiteState:
        return {}
    counts = confusion(labels, scores, threshold)
    return {"threshold": threshold, "rows": len(labels), "confusion": counts, **rates(counts)}


def _check_threshold(threshold: float | None) -> None:
    if threshold is not None and not 0.0 <= threshold <= 1.0:
        raise InvalidParameter(f"threshold must be between 0 and 1, not {shown_number(threshold)}",
                               hint="A cutoff is a churn probability: churnml.optimal_threshold suggests one.")


def model_cutoff(plpy: Plpy, name: str, model_id: int) -> tuple[float, str, str]:
    """(cutoff, cutoff_source, words for the NOTICE) of a model about to serve `name`: the cheapest on its
    held-out rows at the business costs set for `name`, else the model's default (the cutoff its
    stored metrics use, 0.5 for every model churnml trains)."""

    costs = registry.business_costs(plpy, name)
    if costs is not None:
        cheapest = _cheapest_cutoff(plpy, model_id, costs)
        if cheapest is not None:
            best, rows = cheapest
            return (best, "business costs",
                    f"the cheapest on its {rows:,} held-out rows at the business costs of \"{name}\": "
                    f"{costs.described()}")
        default = _model_default(plpy, model_id)
        return (default, "model default", f"the model's default: it has no held-out rows to price the business "
                                          f"costs of \"{name}\" on")
    return (_model_default(plpy, model_id), "model default",
            f"the model's default; churnml.set_business_costs({sql_literal(name)}, fp_cost => ..., "
            "fn_cost => ...) makes deploy choose the cheapest cutoff")


def _cheapest_cutoff(plpy: Plpy, model_id: int, costs: registry.BusinessCosts) -> tuple[float, int] | None:
    """(the cheapest cutoff at `costs` on the model's held-out rows, how many rows), or None without rows."""
    from churnml.training.metrics import optimal_threshold as optimum

    try:
        labels, scores = registry.holdout(plpy, model_id)
    except ObjectNotInPrerequisiteState:
        return None
    if not labels:
        return None
    best = optimum(labels, scores, fp_cost=costs.fp_cost, fn_cost=costs.fn_cost, tp_cost=costs.tp_cost,
                   tn_cost=costs.tn_cost)
    return float(best["threshold"]), len(labels)


def _model_default(plpy: Plpy, model_id: int) -> float:
    from churnml.training.metrics import DEFAULT_THRESHOLD

    stated = _metric(registry.model_facts(plpy, model_id).metrics, "test", "threshold")
    return stated if stated is not None and 0.0 <= stated <= 1.0 else float(DEFAULT_THRESHOLD)


def deploy_model(plpy: Plpy, name: str, model_id: int | None, strategy: str | None,
                 threshold: float | None, *, caller: str = "churnml.deploy",
                 record_as: str | None = None) -> dict[str, Any]:
    """A deployment event; `record_as` names the strategy recorded when a caller other than deploy chose the
    model (promote_shadow records 'shadow')."""
    _check_threshold(threshold)
    chosen, recorded = registry.pick_model(plpy, name, model_id, strategy)
    recorded = record_as or recorded
    stored = registry.load_model(plpy, chosen)  # verifies the checksum before anything serves it
    _compiled_check(stored)
    history = registry.deployment_history(plpy, name)
    if stored.kind != "churn":  # a sentiment model has labels, not a churn cutoff
        source = "given" if threshold is not None else "model default"
        threshold = threshold if threshold is not None else 0.5
        message = f'"{name}" now serves model {chosen}' + (f" (was model {history[0]['model_id']})" if history else "")
    else:
        if threshold is None:
            threshold, source, why = model_cutoff(plpy, name, chosen)
        else:
            source, why = "given", "given"
        was = (f"; was model {history[0]['model_id']} at {float(history[0]['threshold']):g}" if history else "")
        message = f'"{name}" now serves model {chosen} with cutoff {threshold:g} ({why}{was})'
    # the name's endpoint output stays: wrappers written for it (::INT, a composite cast) keep working
    output = str(history[0].get("endpoint_output") or endpoint_outputs.DEFAULT) if history else endpoint_outputs.DEFAULT
    deployment_id = registry.insert_deployment(plpy, name, chosen, threshold, recorded,
                                               _holdout_metrics(plpy, chosen, threshold), source,
                                               endpoint_output=output)
    _forget_serving(name)
    plpy.notice(f"{caller}: {message}")
    return {"deployment_id": deployment_id, "name": name, "model_id": chosen, "threshold": threshold,
            "strategy": recorded}


def _forget_serving(name: str) -> None:
    """This session's next score of `name` looks the deployment up again (see model_cache.forget)."""
    from churnml.scoring import model_cache

    model_cache.forget(name)


def _compiled_check(stored: registry.StoredModel) -> None:
    """Refuse to deploy an artifact the scorer cannot read."""
    if stored.feature_spec.get("kind") == "sentiment":
        from churnml.sentiment.custom_models import engine_from

        engine_from(stored.artifact)  # validates the head completely (XX001 when it is damaged)
        return
    from churnml.scoring import model_cache

    loaded = model_cache.build(stored)
    if loaded.nodes >= model_cache.TRIM_AFTER_NODES:  # the check's copy is dropped here: its memory goes back
        del loaded
        model_cache.release_memory()


@entry
def deploy(plpy: Plpy, name: str, model_id: int | None, strategy: str | None,
           threshold: float | None) -> dict[str, Any]:
    return deploy_model(plpy, name, model_id, strategy, threshold)


@entry
def rollback(plpy: Plpy, name: str) -> dict[str, Any]:
    """Undo the latest deployment event of `name` (deploy, set_threshold or rollback's own target): the
    model and the cutoff it served before, together."""
    history = registry.deployment_history(plpy, registry.check_model_name(name))
    if not history:
        registry.current_deployment(plpy, name)  # 55000 naming the deployed names
    current = history[0]
    target = registry.undo_target(history)
    if target is None:
        raise ObjectNotInPrerequisiteState(
            f'"{name}" has no earlier deployment to roll back to',
            detail=f"It serves model {current['model_id']} at cutoff {float(current['threshold']):g}, as its first "
                   "deployment did" + (" (every later one was rolled back)" if len(history) > 1 else "") + ".",
            hint=f"Deploy another model: churnml.deploy({sql_literal(name)}, model_id).")
    model_id, threshold = int(target["model_id"]), float(target["threshold"])
    stored = registry.load_model(plpy, model_id)  # its checksum, before it serves again
    _compiled_check(stored)
    deployment_id = registry.insert_deployment(plpy, name, model_id, threshold, "rollback",
                                               _holdout_metrics(plpy, model_id, threshold), "rollback",
                                               restores=int(target["id"]),
                                               endpoint_output=str(target.get("endpoint_output")
                                                                   or endpoint_outputs.DEFAULT))
    _forget_serving(name)
    undone = current if current.get("restores") is None else next(
        (row for row in history if int(row["id"]) == int(current["restores"])), current)
    plpy.notice(f'churnml.rollback: "{name}" serves model {model_id} with cutoff {threshold:g} again (deployment '
                f'{target["id"]}); was model {current["model_id"]} at {float(current["threshold"]):g} '
                f'({_event(undone)})')
    return {"deployment_id": deployment_id, "name": name, "model_id": model_id, "threshold": threshold,
            "strategy": "rollback"}


def _event(row: dict[str, Any]) -> str:
    """A deployment row as the event it was, for rollback's NOTICE."""
    if row.get("strategy") == "threshold" or row.get("cutoff_source") == "set_threshold":
        return f"set_threshold, deployment {row['id']}"
    if row.get("strategy") == "rollback":
        return f"rollback, deployment {row['id']}"
    if row.get("strategy") == ENDPOINT_OUTPUT_STRATEGY:
        return f"set_endpoint_output, deployment {row['id']}"
    return f"deployment {row['id']}"


@entry
def set_threshold(plpy: Plpy, name: str, threshold: float) -> dict[str, Any]:
    """A deployment event: the deployed model with another cutoff (rollback undoes it)."""
    if threshold is None:
        raise NullValueNotAllowed("threshold must not be NULL", hint="Pass a cutoff from 0 to 1, e.g. 0.35.")
    _check_threshold(threshold)
    current = registry.current_deployment(plpy, name)
    _compiled_check(registry.load_model(plpy, current.model_id))  # a damaged deployed model is XX001, as on deploy
    deployment_id = registry.insert_deployment(plpy, name, current.model_id, threshold, "threshold",
                                               _holdout_metrics(plpy, current.model_id, threshold), "set_threshold",
                                               endpoint_output=current.endpoint_output)
    _forget_serving(name)
    plpy.notice(f'churnml.set_threshold: "{name}" serves model {current.model_id} with cutoff {threshold:g} (was '
                f'{current.threshold:g}); churnml.rollback({sql_literal(name)}) undoes it')
    return {"deployment_id": deployment_id, "name": name, "model_id": current.model_id, "threshold": threshold,
            "strategy": "threshold"}


# churnml.deployments.strategy of a set_endpoint_output event
ENDPOINT_OUTPUT_STRATEGY = "endpoint_output"


@entry
def set_endpoint_output(plpy: Plpy, name: str, output: str | None) -> dict[str, Any]:
    """A deployment event: the deployed model at its cutoff, answering `output` through invoke_endpoint."""
    stored_output = endpoint_outputs.parse(output)
    current = registry.current_deployment(plpy, name)
    history = registry.deployment_history(plpy, name)
    if _is_sentiment(plpy, current.model_id):
        raise InvalidParameter(f'"{name}" serves a sentiment model, which is not an endpoint',
                               detail="Endpoint outputs are a churn model's probability, label and cutoff.",
                               hint="Sentiment models answer aws_comprehend.detect_sentiment when "
                                    "churnml.sentiment_engine names them.")
    if stored_output == current.endpoint_output:
        plpy.notice(f'churnml.set_endpoint_output: "{name}" already answers {stored_output}')
        return {"deployment_id": int(history[0]["id"]), "name": name, "model_id": current.model_id,
                "threshold": current.threshold, "strategy": str(history[0]["strategy"])}
    deployment_id = registry.insert_deployment(plpy, name, current.model_id, current.threshold,
                                               ENDPOINT_OUTPUT_STRATEGY,
                                               _holdout_metrics(plpy, current.model_id, current.threshold),
                                               history[0].get("cutoff_source"), endpoint_output=stored_output)
    _forget_serving(name)
    plpy.notice(f'churnml.set_endpoint_output: aws_sagemaker.invoke_endpoint({sql_literal(name)}, ...) answers '
                f"{_described_output(stored_output)} (was {current.endpoint_output}); "
                f"churnml.rollback({sql_literal(name)}) undoes it")
    return {"deployment_id": deployment_id, "name": name, "model_id": current.model_id,
            "threshold": current.threshold, "strategy": ENDPOINT_OUTPUT_STRATEGY}


def _is_sentiment(plpy: Plpy, model_id: int) -> bool:
    plan = prepared(plpy, "model_kind", "SELECT kind FROM churnml.models WHERE id OPERATOR(pg_catalog.=) $1",
                    ["bigint"])
    rows = plpy.execute(plan, [model_id])
    return bool(rows) and rows[0]["kind"] == "sentiment"


def _described_output(output: str) -> str:
    names = endpoint_outputs.fields(output)
    if len(names) == 1:
        return names[0] + (" (1 above the cutoff, else 0)" if names[0] == "label" else "")
    return f"({', '.join(names)}) as a record literal, for a cast to a composite type of {len(names)} fields"


def _cost(value: float | None, what: str) -> float:
    import math

    if value is None:
        raise NullValueNotAllowed(f"{what} must not be NULL", hint="Pass what the outcome costs, e.g. 50.")
    if not math.isfinite(value):
        raise InvalidParameter(f"{what} must be a finite number, not {shown_number(value)}",
                               hint="Pass what the outcome costs, e.g. 50 (0 when it costs nothing).")
    return float(value)


@entry
def set_business_costs(plpy: Plpy, name: str, fp_cost: float | None, fn_cost: float | None, tp_cost: float | None,
                       tn_cost: float | None) -> dict[str, Any]:
    """What the outcomes cost for `name`: deploy then chooses the cheapest cutoff for each new model."""

    registry.check_model_name(name)
    costs = registry.BusinessCosts(fp_cost=_cost(fp_cost, "fp_cost"), fn_cost=_cost(fn_cost, "fn_cost"),
                                   tp_cost=_cost(tp_cost, "tp_cost"), tn_cost=_cost(tn_cost, "tn_cost"))
    stored = registry.store_business_costs(plpy, name, costs)
    history = registry.deployment_history(plpy, name)
    if history:
        model_id, cutoff = int(history[0]["model_id"]), float(history[0]["threshold"])
        cheapest = _cheapest_cutoff(plpy, model_id, costs)
        if cheapest is not None:
            best = cheapest[0]
            advice = ("which it uses" if best == cutoff else f"it uses {cutoff:g}: churnml.set_threshold("
                      f"{sql_literal(name)}, {best:g}) applies it now")
            plpy.notice(f'churnml.set_business_costs: the next deploy of "{name}" gives the new model its cheapest '
                        f"cutoff at {costs.described()}; for model {model_id}, which it serves, that is {best:g}, "
                        f"{advice}")
    else:
        plpy.notice(f'churnml.set_business_costs: deploying "{name}" gives the model its cheapest cutoff at '
                    f"{costs.described()}")
    return stored


@entry
def threshold_costs(plpy: Plpy, name: str, tp_cost: float, fp_cost: float, tn_cost: float, fn_cost: float,
                    ) -> list[dict[str, Any]]:
    from churnml.training.metrics import threshold_costs as costs

    labels, scores = registry.holdout(plpy, registry.model_id_for(plpy, name, caller="churnml.threshold_costs"))
    return costs(labels, scores, fp_cost=fp_cost, fn_cost=fn_cost, tp_cost=tp_cost, tn_cost=tn_cost)


@entry
def optimal_threshold(plpy: Plpy, name: str, tp_cost: float, fp_cost: float, tn_cost: float,
                      fn_cost: float) -> dict[str, Any]:
    from churnml.training.metrics import optimal_threshold as optimum

    labels, scores = registry.holdout(plpy, registry.model_id_for(plpy, name, caller="churnml.optimal_threshold"))
    best = optimum(labels, scores, fp_cost=fp_cost, fn_cost=fn_cost, tp_cost=tp_cost, tn_cost=tn_cost)
    nobody = sum(fn_cost if label else tn_cost for label in labels)
    return {**best, "cost_no_action": nobody}


def _stored_artifact(plpy: Plpy, name: str, caller: str) -> tuple[registry.StoredModel, Any]:
    """The model a name or id stands for, and its artifact validated once (XX001 when damaged)."""
    from churnml.scoring.artifact import read_stored_artifact

    stored = registry.load_model(plpy, registry.model_id_for(plpy, name, caller=caller))
    if stored.kind != "churn":
        raise InvalidParameter(f'"{name}" is a {stored.kind} model, not a churn model',
                               hint="Importance and trees are those of churn models.")
    return stored, read_stored_artifact(stored.id, stored.artifact)


@entry
def feature_importance(plpy: Plpy, name: str, level: str) -> list[dict[str, Any]]:
    from churnml.training.explain import feature_importance as importance
    from churnml.training.feature_spec import FeatureSpec

    if level not in ("input", "output"):
        raise InvalidParameter(f'level must be "input" or "output", not "{level}"')
    stored, artifact = _stored_artifact(plpy, name, "churnml.feature_importance")
    spec = FeatureSpec.from_dict(stored.feature_spec)
    rows = importance(artifact, spec.output_names, spec)[level + "s"]
    return [{"feature": r["feature"], "gain": r["gain"], "total_gain": r["total_gain"], "cover": r["cover"],
             "total_cover": r["total_cover"], "weight": r["weight"]} for r in rows]


# model_trees prints the first tree up to this many nodes (a complete tree of depth 9), breadth first:
# a depth-16 tree has 131,071 nodes, whose JSON and text ran to hundreds of MB.
MODEL_TREES_MAX_NODES = 1023


@entry
def model_trees(plpy: Plpy, name: str) -> dict[str, Any]:
    from churnml.training.explain import tree_depths, tree_to_dict, tree_to_text
    from churnml.training.feature_spec import FeatureSpec

    stored, artifact = _stored_artifact(plpy, name, "churnml.model_trees")
    names = FeatureSpec.from_dict(stored.feature_spec).output_names
    depths = tree_depths(artifact)
    first = tree_to_dict(artifact, 0, names, max_nodes=MODEL_TREES_MAX_NODES)
    text = tree_to_text(artifact, 0, names, tree=first)
    nodes = len(artifact.trees[0].left)
    shown = min(nodes, MODEL_TREES_MAX_NODES)
    if shown < nodes:
        text += (f"\n({nodes - shown} of the tree's {nodes} nodes not shown: model_trees shows the first "
                 f"{MODEL_TREES_MAX_NODES}, breadth first)")
    return {"model_id": stored.id, "trees": len(depths), "depths": depths,
            "first_tree": first, "first_tree_text": text,
            "first_tree_nodes": nodes, "first_tree_nodes_shown": shown}


@entry
def top_features(plpy: Plpy, name: str, k: int, level: str) -> list[str]:
    from churnml.training.feature_spec import FeatureSpec
    from churnml.training.selection import top_features as top

    stored, artifact = _stored_artifact(plpy, name, "churnml.top_features")
    return top(artifact, FeatureSpec.from_dict(stored.feature_spec), k, level=level)


# A side-by-side table of more models than this is not a comparison anyone reads; without a
# cap one call could make the backend load an artifact per name (10,000 names: 2 GB).
MAX_COMPARED_MODELS = 64


@entry
def compare_models(plpy: Plpy, names: list[str]) -> list[dict[str, Any]]:
    """One row per (metric, split) with one column per model, for side-by-side reading."""
    if not names:
        raise InvalidParameter("name at least one model")
    if any(isinstance(n, list) for n in names):  # PL/Python passes a 2-D array as nested lists
        raise InvalidParameter("names must be a one-dimensional array",
                               hint="Pass the names as separate arguments, e.g. compare_models('churn', '12').")
    if len(names) > MAX_COMPARED_MODELS:
        raise ProgramLimitExceeded(
            f"compare_models compares at most {MAX_COMPARED_MODELS} models, not {len(names)}",
            detail="Each name or id is one column of the comparison.",
            hint="Compare a few models at a time: SELECT id, name, validation_auc FROM churnml.model_summary "
                 "lists them all.")
    ids: dict[str, int] = {}  # each distinct name resolved once
    for name in names:
        if name not in ids:
            interrupts.check()
            ids[name] = registry.model_id_for(plpy, name, caller="churnml.compare_models")
    facts: dict[int, registry.ModelFacts] = {}  # each distinct model read once, without its artifact
    for model_id in ids.values():
        if model_id not in facts:
            interrupts.check()
            facts[model_id] = registry.model_facts(plpy, model_id)
    models = [facts[ids[name]] for name in names]
    rows: list[dict[str, Any]] = []
    for split in ("train", "validation", "test"):
        for metric in ("auc", "accuracy", "precision", "recall", "f1", "log_loss", "brier"):
            rows.append({"split": split, "metric": metric,
                         "model_ids": [m.id for m in models],
                         "values": [_metric(m.metrics, split, metric) for m in models]})
    rows.append({"split": "all", "metric": "features", "model_ids": [m.id for m in models],
                 "values": [float(m.features) for m in models]})
    return rows


def _metric(metrics: dict[str, Any], split: str, metric: str) -> float | None:
    value = metrics.get(split)
    value = value.get(metric) if isinstance(value, dict) else None
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None
