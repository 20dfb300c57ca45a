"""Training on Dask against training in the database: `churnml train --engine dask|database`.

The bench server's database `bench_dask` holds the generated customers (50,000; 10,000
with --quick; datagen seed 1). S3 is the local SeaweedFS server (`churnml s3`'s code), started
here in its own home (/tmp/churnml-bench-dask-s3-<uid>) and stopped in a finally. Each run
is the `churnml train` command a user types, run as a subprocess so that every run pays
what a user's does (Python start-up, importing dask and xgboost, a fresh database backend
that loads xgboost), with the same model options and the defaults for the rest
(hyperparameters, split fractions, seed 42):

    churnml train bench_database --source customers --label churn --exclude phone --dsn URL --quiet
    churnml train bench_dask ... --engine dask --workers 2 --part-size SIZE --s3-config FILE

`--part-size` is set so that the export is 8-10 Parquet parts (PARTS: 8 at 220 B a customer), spread over
both workers: at this size the default 64MB would be one part, all on one worker.
The two engines alternate, database first, ctx.runs times. Figures (medians):
- wall time of the dask command (2 worker processes of a LocalCluster) against the database
  command (baseline); `extra` has the phase breakdown from the dask model's training facts
  (`training->'timings'`: export, cluster start, prepare, train, evaluation, stop) and
  the database model's `training->'seconds'`;
- test AUC of each model (churnml's metrics, `metrics->'test'->'auc'`, in %), dask
  against database (baseline): the same rows, split and feature spec, so they should agree
  within noise (tests/client/test_train_dask.py allows |delta| <= 0.02).
The machine has 2 cores: the two workers share them with the database server, the
command itself and the S3 server.
Run alone: `python -m bench.run --only training_dask`.
"""

from __future__ import annotations

import os
import re
import shutil
import statistics
import subprocess
import time
from pathlib import Path
from typing import Any

import psycopg

from bench.run import REPO, Context, Result, ensure_customers

S3_HOME = Path(f"/tmp/churnml-bench-dask-s3-{os.getuid()}")  # a CHURNML_HOME: the server lives in its s3/
CHURNML = REPO / ".venv" / "bin" / "churnml"
WORKERS = 2
PARTS = 8  # about this many Parquet parts, so each worker reads and holds a share
BYTES_PER_CUSTOMER = 220  # the exported columns' size before Parquet encoding (float8 numbers, short text)
COMMON = ("--source", "customers", "--label", "churn", "--exclude", "phone", "--quiet")
PHASES = (("export", "export_seconds"), ("cluster start", "cluster_seconds"), ("prepare", "prepare_seconds"),
          ("train", "training_seconds"), ("evaluate", "evaluation_seconds"), ("stop", "shutdown_seconds"))


def _train(url: str, name: str, *options: str) -> tuple[float, int]:
    """Run `churnml train NAME ...` as a user would; (wall seconds, the new model's id)."""
    start = time.perf_counter()
    done = subprocess.run([str(CHURNML), "train", name, *COMMON, "--dsn", url, *options],
                          capture_output=True, text=True, check=False, env=dict(os.environ), timeout=1800)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"churnml train {name} {' '.join(options)} failed:\n{done.stderr[-3000:]}")
    match = re.search(r"churnml: model (\d+) ", done.stdout)
    if not match:
        raise RuntimeError(f"churnml train printed no model id:\n{done.stdout}")
    return seconds, int(match.group(1))


def _facts(url: str, model_id: int) -> dict[str, Any]:
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT training, (metrics->'test'->>'auc')::float8 FROM churnml.models WHERE id = %s",
                           (model_id,)).fetchone()
    assert row is not None, model_id
    return {"training": row[0], "test_auc": row[1]}


def run(ctx: Context) -> list[Result]:
    from churnml_client.s3_server import LocalS3Server

    customers = 10_000 if ctx.quick else 50_000
    url = ctx.server_url("bench_dask")
    with psycopg.connect(url) as conn:
        ensure_customers(conn, customers)
    part_size = max(64 * 1024, customers * BYTES_PER_CUSTOMER // PARTS)
    s3 = LocalS3Server.from_environment(S3_HOME)
    database: list[tuple[float, dict[str, Any]]] = []
    dask: list[tuple[float, dict[str, Any]]] = []
    try:
        s3.start()  # with the bucket "churnml", the default --s3-prefix's
        dask_options = ("--engine", "dask", "--workers", str(WORKERS), "--part-size", str(part_size),
                        "--s3-config", str(s3.config_file))
        for _ in range(ctx.runs):  # alternate, so both engines see the same load on this shared machine
            seconds, model_id = _train(url, "bench_database")
            database.append((seconds, _facts(url, model_id)))
            seconds, model_id = _train(url, "bench_dask", *dask_options)
            dask.append((seconds, _facts(url, model_id)))
    finally:
        s3.stop()
        shutil.rmtree(S3_HOME, ignore_errors=True)

    db_seconds = [s for s, _ in database]
    dk_seconds = [s for s, _ in dask]
    db_auc = [f["test_auc"] * 100 for _, f in database]
    dk_auc = [f["test_auc"] * 100 for _, f in dask]
    facts = [f["training"] for _, f in dask]
    assert all(f["engine"] == "dask" and f["dask"]["workers"] == WORKERS for f in facts), facts[0].get("dask")
    phases = {label: statistics.median(f["timings"][key] for f in facts) for label, key in PHASES}
    extra = {
        **{f"dask_{key}": value for key, value in zip((k for _, k in PHASES), phases.values(), strict=True)},
        "dask_training_facts_seconds": statistics.median(f["seconds"] for f in facts),
        "database_training_facts_seconds": statistics.median(f["training"]["seconds"] for _, f in database),
        "dask_parts": float(statistics.median(f["export"]["parts"] for f in facts)),
        "dask_export_parquet_bytes": float(statistics.median(f["export"]["bytes"] for f in facts)),
        "part_size_bytes": float(part_size),
        "dask_trees": float(statistics.median(f["n_trees"] for f in facts)),
        "database_trees": float(statistics.median(f["training"]["n_trees"] for _, f in database)),
    }
    breakdown = " / ".join(f"{v:.1f}" for v in phases.values())
    common = (f"{customers:,} customers, `churnml train` wall time (start-up included), default hyperparameters "
              f"and seed for both; this machine has 2 cores, so the {WORKERS} Dask workers share them with the "
              "database server, the command and the local S3 server")
    db_auc_median, dk_auc_median = statistics.median(db_auc), statistics.median(dk_auc)
    return [
        Result(f"churnml train --engine dask ({WORKERS} local workers), {customers:,} customers", "s",
               statistics.median(dk_seconds), dk_seconds, "churnml train --engine database",
               statistics.median(db_seconds), higher_is_better=False, target="reported",
               notes=f"{common}. Dask phases (median, s): {' / '.join(p for p, _ in PHASES)} = {breakdown}; "
                     f"{int(extra['dask_parts'])} Parquet parts of --part-size {part_size:,} B; training facts: "
                     f"dask {extra['dask_training_facts_seconds']:.1f} s, database "
                     f"{extra['database_training_facts_seconds']:.1f} s",
               extra=extra),
        Result(f"test AUC, churnml train --engine dask ({WORKERS} local workers), {customers:,} customers", "%",
               dk_auc_median, dk_auc, "the same with --engine database", db_auc_median,
               target="within 2 points (|delta AUC| <= 0.02, as tests/client/test_train_dask.py)",
               notes=f"test AUC dask {dk_auc_median / 100:.4f} vs database {db_auc_median / 100:.4f} "
                     f"(delta {(dk_auc_median - db_auc_median) / 100:+.4f}); same rows, split and feature spec; "
                     f"{int(extra['dask_trees'])} vs {int(extra['database_trees'])} trees (early stopping)",
               extra={"dask_test_auc": dk_auc_median / 100, "database_test_auc": db_auc_median / 100,
                      "delta": (dk_auc_median - db_auc_median) / 100}),
    ]
