"""`churnml train --engine dask` end to end, and churnml.register_model.

Real parts only: the embedded PostgreSQL with churnml (tests/conftest.py), the local S3 server (SeaweedFS)
(`churnml s3`'s code), a real dask.distributed LocalCluster of two worker processes, and the real
command line. The same 5,000 generated customers are trained on by both engines; the Dask model must
see the same rows in the same split with the same feature spec, and score within noise of the
in-database model (|Δ test AUC| ≤ 0.02: the two differ only in how XGBoost samples rows and builds
histograms across workers).
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import urlsplit

import numpy as np
import psycopg
import pytest
from psycopg import sql
from psycopg.types.json import Jsonb

from churnml_client.s3_server import LocalS3Server
from churnml_loaders.s3_client import S3Client
from tests.conftest import VENV_BIN

pytestmark = pytest.mark.slow

CUSTOMERS = 5_000
AUC_TOLERANCE = 0.02


def churnml(*args: str, timeout: int = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(VENV_BIN / "churnml"), *args], capture_output=True, text=True, timeout=timeout,
                          check=False, env=dict(os.environ))


@pytest.fixture(scope="module")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalS3Server]:
    server = LocalS3Server.from_environment(tmp_path_factory.mktemp("dask-s3"))
    server.start()  # with the bucket "churnml"
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def telco(make_database: Callable[..., str]) -> str:
    from churnml_client import datagen

    url = make_database("dask")
    with psycopg.connect(url) as conn:
        datagen.load(conn, CUSTOMERS, 7, progress=False)
    return url


@pytest.fixture(scope="module")
def trained(telco: str, s3_server: LocalS3Server) -> dict[str, Any]:
    """Both engines on the same data: ids, wall-clock seconds (CLI start-up included) and outputs. No
    --exclude: both leave out phone by themselves (it identifies customers)."""
    common = ["--source", "customers", "--label", "churn", "--dsn", telco]
    started = time.perf_counter()
    database = churnml("train", "churn_db", *common, "--deploy")
    database_seconds = time.perf_counter() - started
    assert database.returncode == 0, database.stderr
    started = time.perf_counter()
    dask = churnml("train", "churn_dask", *common, "--engine", "dask", "--workers", "2", "--part-size", "150KB",
                   "--s3-config", str(s3_server.config_file), "--deploy")
    dask_seconds = time.perf_counter() - started
    assert dask.returncode == 0, dask.stderr
    with psycopg.connect(telco) as conn:
        ids = dict(conn.execute("SELECT name, id FROM churnml.models WHERE name IN ('churn_db', 'churn_dask')"))
    return {"ids": ids, "seconds": {"database": database_seconds, "dask": dask_seconds}, "dask": dask,
            "database": database}


def model(conn: psycopg.Connection, model_id: int) -> dict[str, Any]:
    row = conn.execute("SELECT feature_spec, metrics, training, params, holdout_labels, holdout_scores, "
                       "artifact_sha256, encode(sha256(artifact), 'hex') "
                       "FROM churnml.models m JOIN churnml.model_artifacts a ON a.model_id = m.id WHERE m.id = %s",
                       (model_id,)).fetchone()
    assert row is not None
    keys = ("spec", "metrics", "training", "params", "holdout_labels", "holdout_scores", "sha256", "computed")
    return dict(zip(keys, row, strict=True))


def test_dask_training_matches_in_database_training(telco: str, trained: dict[str, Any]) -> None:
    with psycopg.connect(telco) as conn:
        db, dk = model(conn, trained["ids"]["churn_db"]), model(conn, trained["ids"]["churn_dask"])
    training = dk["training"]
    assert training["engine"] == "dask" and training["dask"]["workers"] == 2
    assert training["dask"]["cluster"] == "local" and training["dask"]["partitions"] > 2  # data on both workers
    assert training["rows"] == CUSTOMERS and training["export"]["format"] == "parquet"
    assert set(training["timings"]) >= {"export_seconds", "cluster_seconds", "training_seconds", "total_seconds"}
    assert db["training"]["engine"] == "database"
    # the same columns left out, for the same reason, and both said so
    assert [c["column"] for c in training["left_out"]] == ["phone"]
    assert training["left_out"] == db["training"]["left_out"]
    assert "phone" not in training["features"]
    for engine in ("database", "dask"):
        said = trained[engine].stdout + trained[engine].stderr
        assert "leaving out column phone: it identifies rows" in said, engine
    # the same preparation: feature groups, categories, fill values, split and the very same test rows
    assert dk["spec"] == db["spec"]
    assert training["split"] == db["training"]["split"]
    assert dk["holdout_labels"] == db["holdout_labels"]
    assert training["output_columns"] == db["training"]["output_columns"]
    assert {k: v for k, v in dk["params"].items() if k != "nthread"} == \
        {k: v for k, v in db["params"].items() if k != "nthread"}
    # the same metrics set, and within noise of each other
    assert set(dk["metrics"]) == set(db["metrics"]) == {"train", "validation", "test"}
    for split in ("train", "validation", "test"):
        assert set(dk["metrics"][split]) == set(db["metrics"][split])
    delta = dk["metrics"]["test"]["auc"] - db["metrics"]["test"]["auc"]
    print(f"\ntest AUC: database {db['metrics']['test']['auc']:.4f} ({trained['seconds']['database']:.1f} s), "
          f"dask {dk['metrics']['test']['auc']:.4f} ({trained['seconds']['dask']:.1f} s), delta {delta:+.4f}; "
          f"dask timings {training['timings']}")
    assert abs(delta) <= AUC_TOLERANCE
    assert abs(dk["metrics"]["validation"]["auc"] - db["metrics"]["validation"]["auc"]) <= AUC_TOLERANCE
    assert dk["metrics"]["test"]["auc"] > 0.85
    assert dk["sha256"] == dk["computed"] and len(dk["holdout_scores"]) == len(dk["holdout_labels"]) > 0
    assert "trained with Dask on 2 workers" in trained["dask"].stdout


def test_the_dask_model_deploys_and_scores(telco: str, trained: dict[str, Any]) -> None:
    with psycopg.connect(telco) as conn:
        assert conn.execute("SELECT model_id FROM churnml.current_deployments WHERE name = 'churn_dask'"
                            ).fetchone()[0] == trained["ids"]["churn_dask"]
        scores = conn.execute("SELECT churnml.will_churn(c, 'churn_dask'), churnml.will_churn(c, 'churn_db') "
                              "FROM customers AS c").fetchall()
        assert len(scores) == CUSTOMERS
        dask_scores, db_scores = np.array(scores).T
        assert ((dask_scores >= 0) & (dask_scores <= 1)).all()
        assert np.corrcoef(dask_scores, db_scores)[0, 1] > 0.9  # two fits of the same data agree
        top = conn.execute("SELECT feature FROM churnml.feature_importance('churn_dask') LIMIT 3").fetchall()
        assert ("cust_service_calls",) in top
        assert conn.execute("SELECT threshold FROM churnml.optimal_threshold('churn_dask', fp_cost => 50, "
                            "fn_cost => 500, tp_cost => 50)").fetchone()[0] is not None


def test_the_staged_export_is_deleted(trained: dict[str, Any], s3_server: LocalS3Server) -> None:
    with S3Client(s3_server.config()) as client:
        assert [o.key for o in client.list_objects("churnml", "churnml-train/")] == []


def test_dask_engine_fails_early_on_a_misspelt_hyperparameter(telco: str, s3_server: LocalS3Server) -> None:
    result = churnml("train", "churn_typo", "--source", "customers", "--label", "churn", "--exclude", "phone",
                     "--engine", "dask", "--hyperparams", '{"max_dept": 3}', "--dsn", telco,
                     "--s3-config", str(s3_server.config_file), timeout=60)
    assert result.returncode == 1
    assert "22023" in result.stderr and 'unknown hyperparameter "max_dept"' in result.stderr
    with S3Client(s3_server.config()) as client:
        assert list(client.list_objects("churnml", "churnml-train/")) == []


# ---- churnml.register_model -------------------------------------------------------------------

def register(conn: psycopg.Connection, name: str, artifact: str, spec: Any, **extra: Any) -> int:
    holdout = extra.pop("holdout", None)
    return conn.execute(
        "SELECT churnml.register_model(%s, %s, %s, %s, %s, holdout => %s, deploy => %s)",
        (name, artifact, Jsonb(spec), Jsonb(extra.pop("metrics", {"validation": {"auc": 0.9}})),
         Jsonb(extra.pop("training", {"engine": "test"})), Jsonb(holdout) if holdout else None,
         extra.pop("deploy", False))).fetchone()[0]


def source_model(conn: psycopg.Connection, model_id: int) -> tuple[str, dict[str, Any]]:
    artifact, spec = conn.execute("SELECT convert_from(artifact, 'UTF8'), feature_spec FROM churnml.models m "
                                  "JOIN churnml.model_artifacts a ON a.model_id = m.id WHERE m.id = %s",
                                  (model_id,)).fetchone()
    return artifact, spec


def test_register_model_stores_a_model_that_scores_like_the_original(telco: str, trained: dict[str, Any]) -> None:
    with psycopg.connect(telco, autocommit=True) as conn:
        artifact, spec = source_model(conn, trained["ids"]["churn_db"])
        new = register(conn, "churn_copy", artifact, spec, deploy=True,
                       holdout={"labels": [True, False], "scores": [0.9, 0.1]})
        facts, labels, sha, computed = conn.execute(
            "SELECT training, holdout_labels, artifact_sha256, encode(sha256(artifact), 'hex') "
            "FROM churnml.models m JOIN churnml.model_artifacts a ON a.model_id = m.id WHERE m.id = %s",
            (new,)).fetchone()
        assert facts["engine"] == "test" and facts["registered_with"] == "churnml.register_model"
        assert labels == [True, False] and sha == computed
        same = conn.execute("SELECT bool_and(abs(churnml.will_churn(c, 'churn_copy') - churnml.will_churn(c, "
                            "'churn_db')) < 1e-12) FROM customers AS c").fetchone()[0]
        assert same


def test_register_model_refuses_a_corrupt_artifact(telco: str, trained: dict[str, Any]) -> None:
    with psycopg.connect(telco, autocommit=True) as conn:
        good, spec = source_model(conn, trained["ids"]["churn_db"])
        before = conn.execute("SELECT count(*) FROM churnml.models").fetchone()[0]
        for artifact, message in (("{not json", "malformed XGBoost model: the artifact is neither"),
                                  ('{"learner": {}}', "malformed XGBoost model: version"),
                                  ("", "must be an XGBoost model"),
                                  (good[: len(good) // 2], "malformed XGBoost model: the JSON does not parse"),
                                  (good.replace('"num_feature":"', '"num_feature":"x', 1),
                                   "num_feature is not a non-negative decimal integer")):
            with pytest.raises(psycopg.Error) as info:
                register(conn, "churn_bad", artifact, spec)
            assert info.value.diag.sqlstate == "22023", artifact[:40]
            assert message in info.value.diag.message_primary
        assert conn.execute("SELECT count(*) FROM churnml.models").fetchone()[0] == before


def test_register_model_refuses_an_artifact_that_does_not_fit_the_spec(telco: str,
                                                                      trained: dict[str, Any]) -> None:
    import xgboost as xgb

    with psycopg.connect(telco, autocommit=True) as conn:
        _, spec = source_model(conn, trained["ids"]["churn_db"])
        rng = np.random.default_rng(0)
        small = xgb.train({"objective": "binary:logistic", "max_depth": 2},
                          xgb.DMatrix(rng.normal(size=(50, 3)), label=rng.integers(0, 2, 50)), num_boost_round=2)
        with pytest.raises(psycopg.Error) as info:
            register(conn, "churn_bad", bytes(small.save_raw("json")).decode(), spec)
        assert info.value.diag.sqlstate == "22023"
        assert f"takes 3 inputs, but the feature spec encodes {len(spec['output_names'])} columns" in \
            info.value.diag.message_primary
        regression = xgb.train({"objective": "reg:squarederror"}, xgb.DMatrix(rng.normal(size=(20, 3)),
                               label=rng.normal(size=20)), num_boost_round=1)
        with pytest.raises(psycopg.Error) as info:
            register(conn, "churn_bad", bytes(regression.save_raw("json")).decode(), spec)
        assert info.value.diag.sqlstate == "22023" and "binary:logistic" in info.value.diag.message_primary
        unfitted = {**spec, "fitted": False, "features": [{**f, "fitted": False} for f in spec["features"]]}
        unfitted.pop("output_names")
        with pytest.raises(psycopg.Error) as info:
            register(conn, "churn_bad", bytes(small.save_raw("json")).decode(), unfitted)
        assert info.value.diag.sqlstate == "22023" and "not been fitted" in info.value.diag.message_primary
        with pytest.raises(psycopg.Error) as info:
            register(conn, "churn_bad", bytes(small.save_raw("json")).decode(), {"features": 1})
        assert info.value.diag.sqlstate == "22023"


def test_register_model_is_for_churnml_admin_only(telco: str, trained: dict[str, Any]) -> None:
    role = "dask_test_user"
    with psycopg.connect(telco, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(role)))
        conn.execute(sql.SQL("CREATE ROLE {} LOGIN PASSWORD 'pw' IN ROLE churnml_user").format(sql.Identifier(role)))
        artifact, spec = source_model(conn, trained["ids"]["churn_db"])
        for artifact_type in ("text", "bytea"):  # the JSON text form and the bytes (UBJ or JSON) form
            public, user, admin = conn.execute(
                "SELECT has_function_privilege('public', p, 'EXECUTE'), has_function_privilege('churnml_user', p, "
                "'EXECUTE'), has_function_privilege('churnml_admin', p, 'EXECUTE') FROM (SELECT "
                f"'churnml.register_model(text, {artifact_type}, jsonb, jsonb, jsonb, jsonb, jsonb, boolean, bigint)'"
                "::regprocedure AS p) AS f").fetchone()
            assert (public, user, admin) == (False, False, True), artifact_type
    parts = urlsplit(telco)
    as_user = parts._replace(netloc=f"{role}:pw@{parts.hostname}:{parts.port}").geturl()
    try:
        with psycopg.connect(as_user, autocommit=True) as conn, pytest.raises(psycopg.Error) as info:
            register(conn, "churn_mine", artifact, spec)
        assert info.value.diag.sqlstate == "42501"
    finally:
        with psycopg.connect(telco, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(role)))


def test_help_lists_the_engines() -> None:
    result = churnml("train", "--help", timeout=60)
    assert result.returncode == 0 and "--engine {database,dask}" in result.stdout and "--scheduler" in result.stdout
