"""`churnml train --engine dask`: the training data goes to S3 as Parquet, xgboost trains on Dask workers.

1. The source runs in the database with the caller's role, in churnml.train's row order
   (`ORDER BY md5(row::text)`), and is exported with the loaders as Parquet parts plus a
   manifest (`churnml export --format parquet`): numeric columns as float8, as the
   in-database training reads them.
2. A Dask cluster: a `LocalCluster` of `workers` processes, or the scheduler named. The
   workers read the parts from S3 themselves (churnml_loaders' S3 client, each part
   checked against the manifest's SHA-256); they never connect to the database. One part
   is one partition and stays in the memory of the worker that read it.
3. The same preparation as churnml.train, with the same code (churnml.training): labels
   (gathered to the client, one column), the deterministic stratified split, the feature
   groups (numeric / categorical / boolean, missing values, one-hot with unseen values as
   all zeros) fitted on the training rows from per-partition statistics merged on the
   client, then each partition encoded where it lives.
4. `xgboost.dask.train` with churnml's hyperparameters, early stopping on validation AUC,
   the model trimmed to its best round; predictions on the workers; the metrics churnml.train
   stores (churnml.training.metrics.evaluate) for train, validation and test.
5. `churnml.register_model(...)` checks and stores it with engine 'dask' in its training
   facts; `--deploy` deploys it. The staged export is deleted unless `keep_export`.

The same code runs against a real cluster (`scheduler='tcp://host:8786'`): the workers need
this client environment (churnml, pyarrow, xgboost) and reach S3 with the S3 configuration
the client resolved, which travels with the tasks.
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
import psycopg
from psycopg import sql
from psycopg.types.json import Jsonb

from churnml.errors import DataException, InvalidParameter, UndefinedObject
from churnml.training.feature_roles import ProfilePiece, identifier_notice, merge_profiles, profile_piece
from churnml.training.feature_spec import FeatureSpec, _choose_features, infer_spec, leave_out_identifiers
from churnml.training.feature_state import DEFAULT_CATEGORICAL_MAX_DISTINCT
from churnml.training.sql_types import type_family
from churnml_loaders.errors import LoaderError
from churnml_loaders.manifest import Manifest, ManifestPart
from churnml_loaders.s3_client import S3Client
from churnml_loaders.s3_config import S3Config
from churnml_loaders.uris import S3Uri, parse_s3_uri

Progress = Callable[[str], None]
log = logging.getLogger("churnml.dask_train")


@dataclass
class DaskTrainResult:
    model_id: int
    workers: int
    validation_auc: float | None
    test_auc: float | None
    seconds: float
    timings: dict[str, float]
    export_uri: str


# ---- the source, as churnml.train reads it ------------------------------------------------

def resolve_source(conn: psycopg.Connection, source: str | None) -> tuple[str, str]:
    """(a query for the source's rows, what to record): a table or view by name, else the query itself."""
    if source is None or not source.strip():
        raise InvalidParameter("source must name a table or view, or be a query",
                               hint="Pass e.g. customers or 'SELECT ... FROM customers WHERE ...'.")
    try:
        row = conn.execute("SELECT pg_catalog.to_regclass(%s)::pg_catalog.text", (source.strip(),)).fetchone()
        rel = row[0] if row else None
    except psycopg.Error:
        rel = None  # not parseable as a name: it is a query
    if rel is not None:
        return f"SELECT * FROM {rel}", rel  # noqa: S608 - regclass output is a quoted, existing name
    body = source.strip().rstrip(";").strip()
    return body, body


def export_query(inner: str, columns: Sequence[tuple[str, str]]) -> sql.Composed:
    """The rows to export: the chosen columns in churnml.train's order, typed as it reads them."""
    selects = []
    for name, sql_type in columns:
        ident = sql.SQL("src.{}").format(sql.Identifier(name))
        family = type_family(sql_type)
        if family == "numeric":
            ident = sql.SQL("{}::pg_catalog.float8 AS {}").format(ident, sql.Identifier(name))
        elif family not in ("boolean", "text"):
            # PL/Python hands churnml.train these as their text output; so does the export
            ident = sql.SQL("{}::pg_catalog.text AS {}").format(ident, sql.Identifier(name))
        selects.append(ident)
    return sql.SQL("SELECT {} FROM ({}) AS src ORDER BY pg_catalog.md5(src::pg_catalog.text)").format(
        sql.SQL(", ").join(selects), sql.SQL(inner))  # the caller's own source, run with the caller's rights


# ---- what runs on the workers (no database connection) -------------------------------------

def read_part(config: S3Config, bucket: str, part: dict[str, Any]) -> Any:
    """Task: one Parquet part from S3 (checked against the manifest) as an Arrow table."""
    from churnml_loaders.parquet_parts import read_part as read

    with S3Client(config) as client:
        return read(client, bucket, ManifestPart(**part))


def column_values(table: Any, name: str) -> np.ndarray | list[Any]:
    """A column as churnml.training takes it: float64 with NaN for numbers, Python values otherwise."""
    import pyarrow as pa

    column = table.column(name)
    if pa.types.is_integer(column.type) or pa.types.is_floating(column.type):
        return np.asarray(column.to_numpy(), dtype=np.float64)
    return column.to_pylist()


def part_labels(table: Any, label: str) -> np.ndarray | list[Any]:
    return column_values(table, label)


def part_profiles(table: Any, columns: Sequence[tuple[str, bool]]) -> dict[str, ProfilePiece]:
    """Task: this partition's share of each column's profile (distinct values, a sample), from which the
    client decides, as churnml.train does, which columns identify rows and which are categories or text."""
    return {name: profile_piece(column_values(table, name), numeric=numeric) for name, numeric in columns}


def part_statistics(table: Any, spec_doc: dict[str, Any], train_rows: np.ndarray) -> dict[str, Any]:
    """Task: the feature statistics of this partition's training rows."""
    spec = FeatureSpec.from_dict(spec_doc)
    columns = {name: column_values(table, name) for name in spec.input_names}
    return spec.statistics(columns, train_rows)


def part_matrix(table: Any, spec_doc: dict[str, Any]) -> np.ndarray:
    """Task: this partition encoded by the fitted spec (float32, which XGBoost uses anyway)."""
    spec = FeatureSpec.from_dict(spec_doc)
    matrix, _ = spec.transform({name: column_values(table, name) for name in spec.input_names})
    return matrix.astype(np.float32)


def take_rows(matrix: np.ndarray, rows: np.ndarray) -> np.ndarray:
    return matrix[rows]


# ---- the training --------------------------------------------------------------------------

def train(conn: psycopg.Connection, config: S3Config, *, name: str, source: str, label: str,
          features: Sequence[str] | None = None, exclude: Sequence[str] | None = None,
          feature_types: dict[str, str] | None = None, missing: str = "native",
          hyperparams: dict[str, Any] | None = None, seed: int = 42, test_fraction: float = 0.1,
          validation_fraction: float = 0.2, deploy: bool = False, s3_prefix: str = "s3://churnml/churnml-train",
          part_size: int = 64 * 1024 * 1024, workers: int = 2, threads_per_worker: int = 1,
          scheduler: str | None = None, keep_export: bool = False, progress: Progress | None = None,
          ) -> DaskTrainResult:
    """Export, train on Dask, register; see the module docstring."""
    from churnml.training.hyperparams import resolve_params

    say = progress or (lambda _message: None)
    started = time.perf_counter()
    if not name:
        raise InvalidParameter("a model needs a name")
    resolved, given = resolve_params(hyperparams)  # a misspelt hyperparameter fails before any work
    fractions = (1.0 - test_fraction - validation_fraction, validation_fraction, test_fraction)
    timings: dict[str, float] = {}

    inner, description = resolve_source(conn, source)
    from churnml_client.loaders_cli import describe_columns

    described = describe_columns(conn, inner)
    names = [c.name for c in described]
    if len(set(names)) != len(names):
        raise DataException("the source has two columns with the same name", detail=f"Columns: {', '.join(names)}.",
                            hint="Give every column of the source a distinct name (AS).")
    types = {c.name: c.base_type for c in described}
    if label not in types:
        raise UndefinedObject(f'label column "{label}" is not in the source', detail=f"Columns: {', '.join(names)}.")
    chosen = _choose_features(types, label, features, exclude or ())
    exported = [label, *chosen]
    target = _staging_target(s3_prefix, name)

    from churnml_client.loaders_cli import export_parquet

    with S3Client(config) as client:
        say(f"exporting {description!r} to {target} as Parquet")
        result = export_parquet(conn, export_query(inner, [(c, types[c]) for c in exported]).as_string(conn),
                                target, client, part_size=part_size)
        manifest = result.manifest
        assert manifest is not None
        exported_at = time.perf_counter()
        say(f"exported {manifest.total_rows:,} rows in {len(manifest.parts)} Parquet part"
            f"{'s' if len(manifest.parts) != 1 else ''} ({manifest.total_bytes:,} bytes)")
        try:
            trained = _train_on_dask(
                config, target, manifest, label=label, chosen=chosen, types=types, feature_types=feature_types,
                features_named=features is not None,
                missing=missing, resolved=resolved, given=given, fractions=fractions, seed=seed, workers=workers,
                threads_per_worker=threads_per_worker, scheduler=scheduler, say=say, timings=timings)
        finally:
            if not keep_export:
                _delete_export(client, target, manifest, result.manifest_key, say)
    trained_at = time.perf_counter()
    timings.update(export_seconds=exported_at - started, total_seconds=trained_at - started)

    training = {
        **trained.facts,
        "engine": "dask",
        "source": description,
        "label": label,
        "export": {"uri": str(target), "parts": len(manifest.parts), "bytes": manifest.total_bytes,
                   "format": "parquet", "kept": keep_export},
        "seconds": round(trained_at - started, 3),
        "timings": {k: round(v, 3) for k, v in timings.items()},
    }
    say("registering the model with churnml.register_model")
    row = conn.execute(
        "SELECT churnml.register_model(%s, %s, %s, %s, %s, params => %s, holdout => %s, deploy => %s)",
        (name, trained.artifact.decode("utf-8"), Jsonb(trained.spec), Jsonb(trained.metrics), Jsonb(training),
         Jsonb(trained.params), Jsonb(trained.holdout), deploy)).fetchone()
    assert row is not None
    model_id = int(row[0])
    finished = time.perf_counter()
    timings["register_seconds"] = finished - trained_at
    return DaskTrainResult(model_id=model_id, workers=trained.workers,
                           validation_auc=trained.metrics.get("validation", {}).get("auc"),
                           test_auc=trained.metrics.get("test", {}).get("auc"), seconds=finished - started,
                           timings=timings, export_uri=str(target))


def _delete_export(client: S3Client, target: S3Uri, manifest: Manifest, manifest_key: str | None,
                   say: Progress) -> None:
    """The staged copy of the training data goes (manifest first: an export without it is incomplete)."""
    try:
        if manifest_key:
            client.delete_object(target.bucket, manifest_key)
        client.delete_objects(target.bucket, [p.key for p in manifest.parts])
    except LoaderError as exc:  # the model matters more than the clean-up; say what is left
        say(f"could not delete the staged export {target} ({exc.message}); delete it by hand")


def _staging_target(prefix: str, name: str) -> S3Uri:
    base = parse_s3_uri(prefix)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    key = "/".join(p for p in (base.key.strip("/"), f"{name}-{stamp}-{uuid.uuid4().hex[:8]}") if p)
    return parse_s3_uri(f"s3://{base.bucket}/{key}")


@dataclass
class _Trained:
    artifact: bytes
    spec: dict[str, Any]
    metrics: dict[str, Any]
    params: dict[str, Any]
    holdout: dict[str, Any]
    facts: dict[str, Any]
    workers: int


# xgboost's native library writes log lines (the collective's "Task [xgboost.dask-0]:tcp://... got
# rank 0", warnings) straight to its process's stdout or stderr: from C++ on the threads that run
# Dask tasks, where no Python logging or log callback reaches. Each worker's stdout and stderr are
# therefore kept in a file while churnml trains on it, and the client says every line in its own
# format ("churnml train: worker 1: ..."), quiet with --quiet like the rest.
_KEPT: list[tuple[Any, int, int]] = []  # (the file, the saved stdout, the saved stderr)
_CLOCK = re.compile(r"^\[\d\d:\d\d:\d\d\]\s*")


def keep_output() -> None:
    """In this process (a Dask worker): stdout and stderr into a temporary file until take_output()."""
    import os
    import sys
    import tempfile

    if _KEPT:
        return
    sys.stdout.flush()
    sys.stderr.flush()
    kept = tempfile.TemporaryFile()  # noqa: SIM115 - open until take_output(), on a later call
    _KEPT.append((kept, os.dup(1), os.dup(2)))
    os.dup2(kept.fileno(), 1)
    os.dup2(kept.fileno(), 2)


def take_output() -> list[str]:
    """The lines written since keep_output(), each without xgboost's clock; stdout and stderr restored."""
    import os
    import sys

    if not _KEPT:
        return []
    sys.stdout.flush()
    sys.stderr.flush()
    kept, out, err = _KEPT.pop()
    os.dup2(out, 1)
    os.dup2(err, 2)
    os.close(out)
    os.close(err)
    kept.seek(0)
    text = kept.read().decode("utf-8", "replace")
    kept.close()
    return [_CLOCK.sub("", line).strip() for line in text.splitlines() if line.strip()]


def _say_worker_output(client: Any, addresses: list[str], say: Progress) -> None:
    """What the workers wrote (xgboost's lines), as the CLI's own messages."""
    try:
        by_worker = client.run(take_output)
    except Exception as exc:  # noqa: BLE001 - a worker gone at the end loses its lines, not the model
        log.debug("could not collect the workers' output: %s", exc)
        return
    for address, lines in sorted(by_worker.items()):
        worker = addresses.index(address) + 1 if address in addresses else address
        for line in lines:
            say(f"worker {worker}: {line}")


def _train_on_dask(config: S3Config, target: S3Uri, manifest: Manifest, *, label: str, chosen: list[str],
                   types: dict[str, str], feature_types: dict[str, str] | None, features_named: bool, missing: str,
                   resolved: dict[str, Any], given: set[str], fractions: tuple[float, float, float], seed: int,
                   workers: int, threads_per_worker: int, scheduler: str | None, say: Progress,
                   timings: dict[str, float]) -> _Trained:
    cluster_started = time.perf_counter()  # importing dask and xgboost.dask is part of the cluster's cost
    import dask.array as da
    import xgboost as xgb
    from distributed import Client, LocalCluster
    from xgboost import dask as dxgb

    from churnml.sql_api.models import _library_versions
    from churnml.training.hyperparams import FIXED, LOOP_KEYS
    from churnml.training.jsonable import to_jsonable
    from churnml.training.labels import normalize_labels
    from churnml.training.metrics import evaluate
    from churnml.training.split import stratified_split

    cluster = None
    if scheduler:
        say(f"connecting to the Dask scheduler at {scheduler}")
        client = Client(scheduler)
    else:
        say(f"starting a local Dask cluster: {workers} worker process{'es' if workers != 1 else ''}, "
            f"{threads_per_worker} thread{'s' if threads_per_worker != 1 else ''} each")
        cluster = LocalCluster(n_workers=workers, threads_per_worker=threads_per_worker, processes=True,
                               dashboard_address=None, silence_logs=logging.ERROR)
        client = Client(cluster)
    try:
        info = client.scheduler_info(n_workers=-1)["workers"]
        addresses = sorted(info)
        if not addresses:
            raise InvalidParameter(f"the Dask scheduler {scheduler} has no workers",
                                   hint="Start workers (dask worker tcp://...) or leave out --scheduler.")
        threads = sum(int(w.get("nthreads", 1)) for w in info.values())
        client.run(keep_output)
        started = time.perf_counter()
        parts = list(manifest.parts)
        offsets = np.concatenate([[0], np.cumsum([p.rows for p in parts])]).astype(np.int64)
        # One part per task, spread round-robin, so every worker holds a share of the data.
        tables = [client.submit(read_part, config, target.bucket, p.to_dict(), key=f"churnml-part-{i}-{uuid.uuid4()}",
                                workers=[addresses[i % len(addresses)]], allow_other_workers=True)
                  for i, p in enumerate(parts)]

        say(f"reading {len(parts)} part{'s' if len(parts) != 1 else ''} on {len(addresses)} worker"
            f"{'s' if len(addresses) != 1 else ''}; labels to the client for the split")
        labels = client.gather([client.submit(part_labels, t, label) for t in tables])
        label_values: Any = (np.concatenate(labels) if all(isinstance(v, np.ndarray) for v in labels)
                             else [v for part in labels for v in (part.tolist() if isinstance(part, np.ndarray)
                                                                  else part)])
        y = normalize_labels(label_values, column=label)
        split = stratified_split(y, fractions=fractions, seed=seed)

        # Feature groups and identifiers, from the columns' profiles (the rule churnml.train applies):
        # each partition profiles its rows, the client merges them in row order.
        overrides = feature_types or {}
        profiled = [(c, type_family(types[c]) == "numeric") for c in chosen if type_family(types[c]) != "unsupported"]
        pieces_by_part = client.gather([client.submit(part_profiles, t, profiled) for t in tables]) if profiled \
            else []
        profiles = {c: merge_profiles([piece[c] for piece in pieces_by_part], numeric=numeric)
                    for c, numeric in profiled}
        named = set(chosen) if features_named else set(overrides)
        chosen, left_out = leave_out_identifiers(chosen, types, profiles, named=named)
        if left_out:
            say(identifier_notice(left_out, engine="dask"))
        spec = infer_spec([(c, types[c]) for c in [label, *chosen]], {}, label=label, features=chosen,
                          overrides=overrides, missing=missing, profiles=profiles)
        text = [f.name for f in spec.features if f.group == "text"]
        if text:
            raise InvalidParameter(
                f'feature "{text[0]}" is free text, which the Dask engine does not embed',
                detail=f"Free-text features: {', '.join(text)} (text that reads as prose, with more than "
                       f"{DEFAULT_CATEGORICAL_MAX_DISTINCT} distinct values, or declared text).",
                hint="Exclude them, declare them categorical (--feature-types), or use --engine database.")

        part_index = {"train": split.train, "validation": split.validation, "test": split.test}
        local: list[dict[str, np.ndarray]] = []
        for i in range(len(parts)):
            lo, hi = offsets[i], offsets[i + 1]
            local.append({s: idx[(idx >= lo) & (idx < hi)] - lo for s, idx in part_index.items()})
        unfitted = spec.to_dict()
        stats = client.gather([client.submit(part_statistics, t, unfitted, local[i]["train"])
                               for i, t in enumerate(tables)])
        spec.fit_from_statistics(stats)
        fitted = spec.to_dict()
        output_names = spec.output_names
        width = len(output_names)
        say(f"{len(y):,} rows, {len(spec.input_names)} features ({width} columns after encoding); split "
            f"{len(split.train)}/{len(split.validation)}/{len(split.test)}")

        matrices = [client.submit(part_matrix, t, fitted) for t in tables]
        pieces: dict[str, tuple[Any, Any]] = {}
        for s, global_rows in part_index.items():
            xs, ys = [], []
            for i, m in enumerate(matrices):
                rows = local[i][s]
                if rows.size == 0:
                    continue
                xs.append(da.from_delayed(client.submit(take_rows, m, rows), shape=(rows.size, width),
                                          dtype=np.float32))
                ys.append(da.from_array(y[rows + offsets[i]].astype(np.float32), chunks=rows.size))
            if xs:
                pieces[s] = (da.concatenate(xs, axis=0), da.concatenate(ys, axis=0))
            assert sum(x.shape[0] for x in xs) == global_rows.size
        prepared = time.perf_counter()

        booster_params = {k: v for k, v in resolved.items() if k not in LOOP_KEYS}
        if "nthread" not in given:
            booster_params.pop("nthread", None)  # each worker uses its own threads
        booster_params.update(FIXED)
        booster_params["verbosity"] = 0
        early = resolved["early_stopping_rounds"]
        say(f"training up to {resolved['num_boost_round']} rounds with xgboost.dask on {len(addresses)} workers "
            f"(early stopping after {early} rounds without validation AUC gain)")
        dtrain = dxgb.DaskDMatrix(client, *pieces["train"], feature_names=output_names)
        dval = dxgb.DaskDMatrix(client, *pieces["validation"], feature_names=output_names)
        with xgb.config_context(verbosity=0):  # the workers get the client's global configuration
            output = dxgb.train(client, booster_params, dtrain, num_boost_round=resolved["num_boost_round"],
                                evals=[(dval, "validation")], early_stopping_rounds=early or None,
                                verbose_eval=False)
        _say_worker_output(client, addresses, say)
        booster = output["booster"]
        curve = [float(v) for v in output["history"]["validation"]["auc"]]
        best = int(booster.best_iteration) if early else len(curve) - 1
        model = booster[: best + 1]  # the stored model is the evaluated one
        trained = time.perf_counter()
        say(f"keeping {best + 1} trees (the best of {len(curve)} rounds), validation AUC {curve[best]:.4f}")

        metrics: dict[str, Any] = {}
        predictions: dict[str, np.ndarray] = {}
        for s, global_rows in part_index.items():
            if s not in pieces:
                continue
            probs = np.asarray(dxgb.inplace_predict(client, model, pieces[s][0]).compute(), dtype=np.float64)
            predictions[s] = probs
            metrics[s] = evaluate(y[global_rows], probs)
        evaluated = time.perf_counter()
        test_auc = metrics.get("test", {}).get("auc")
        say("evaluated on the training, validation and test sets" + (f"; test AUC {test_auc:.4f}" if test_auc else ""))

        params = {**FIXED, **resolved, "nthread": resolved["nthread"] if "nthread" in given else threads_per_worker}
        timings.update(cluster_seconds=started - cluster_started, prepare_seconds=prepared - started,
                       training_seconds=trained - prepared, evaluation_seconds=evaluated - trained)
        facts = {
            "rows": len(y),
            "split": split.summary(y),
            "best_iteration": best,
            "n_trees": best + 1,
            "trials": [{"trial": 1, "source": "fixed", "params": {}, "best_iteration": best,
                        "validation_auc": curve[best], "seconds": round(trained - prepared, 3)}],
            "search": None,
            "learning_curve": curve,
            "features": spec.input_names,
            "left_out": [{"column": column, "reason": reason} for column, reason in left_out],
            "output_columns": output_names,
            "libraries": {**_library_versions(), **_versions("dask", "distributed", "pyarrow")},
            "dask": {"workers": len(addresses), "threads": threads,
                     "cluster": "external" if scheduler else "local", "partitions": len(parts)},
        }
        test_rows = part_index["test"]
        holdout = {"labels": [bool(v) for v in y[test_rows]],
                   "scores": [float(v) for v in predictions.get("test", [])]} if "test" in predictions else {}
        return _Trained(artifact=bytes(model.save_raw("json")), spec=to_jsonable(fitted),  # type: ignore[arg-type]  # dicts in, dicts out
                        metrics=to_jsonable(metrics), params=to_jsonable(params),  # type: ignore[arg-type]  # dicts in, dicts out
                        holdout=holdout, facts=to_jsonable(facts), workers=len(addresses))  # type: ignore[arg-type]  # dicts in, dicts out
    finally:
        try:  # a worker of a cluster that lives on gets its stdout and stderr back, even after an error
            client.run(take_output)
        except Exception as exc:  # noqa: BLE001 - closing goes on
            log.debug("could not restore the workers' output: %s", exc)
        closing = time.perf_counter()
        client.close()
        if cluster is not None:
            cluster.close()
        timings["shutdown_seconds"] = time.perf_counter() - closing


def _versions(*dists: str) -> dict[str, str]:
    import importlib.metadata

    out = {}
    for dist in dists:
        try:
            out[dist] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            continue
    return out
