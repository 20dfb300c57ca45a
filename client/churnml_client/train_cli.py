"""`churnml train`: train a churn model from the shell, inside the database or on a Dask cluster.

    churnml train churn --source customers --label churn --exclude phone
    churnml train churn --source customers --label churn --exclude phone --engine dask --workers 2 --deploy

`--engine database` (the default) is `SELECT churnml.train(...)`: the server reads the
source and trains in its backend, NOTICEs go to stderr. `--engine dask` exports the
source to S3 as Parquet, trains with xgboost's Dask integration on a local Dask cluster
(or the one `--scheduler` names) and registers the model with churnml.register_model:
see churnml_client.dask_train. Either way the model lands in churnml.models and
`churnml.will_churn` serves it once deployed.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from churnml.errors import InvalidParameter

ENGINES = ("database", "dask")
DEFAULT_S3_PREFIX = "s3://churnml/churnml-train"


def parse_json_object(text: str | None, option: str) -> dict[str, Any] | None:
    if text is None:
        return None
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidParameter(f"{option} is not valid JSON", detail=str(exc)) from None
    if not isinstance(value, dict):
        raise InvalidParameter(f"{option} must be a JSON object", hint=f"e.g. {option} '{{\"max_depth\": 5}}'")
    return value


def parse_names(text: str | None) -> list[str] | None:
    if text is None:
        return None
    names = [n.strip() for n in text.split(",")]
    if any(not n for n in names):
        raise InvalidParameter(f"invalid column list \"{text}\"", hint="Write it as a,b,c.")
    return names


def train_in_database(conn: psycopg.Connection, args: argparse.Namespace) -> int:
    """SELECT churnml.train(...) with the caller's role; its NOTICEs go to stderr."""
    conn.add_notice_handler(lambda diag: None if args.quiet else print(
        f"{diag.severity}:  {diag.message_primary}", file=sys.stderr, flush=True))
    row = conn.execute(
        "SELECT churnml.train(%(name)s, %(source)s, %(label)s, features => %(features)s, exclude => %(exclude)s, "
        "feature_types => %(types)s, hyperparams => %(params)s, missing => %(missing)s, "
        "test_fraction => %(test)s, validation_fraction => %(validation)s, seed => %(seed)s, "
        "deploy => %(deploy)s)",
        {"name": args.name, "source": args.source, "label": args.label, "features": parse_names(args.features),
         "exclude": parse_names(args.exclude),
         "types": _jsonb(parse_json_object(args.feature_types, "--feature-types")),
         "params": _jsonb(parse_json_object(args.hyperparams, "--hyperparams")), "missing": args.missing,
         "test": args.test_fraction, "validation": args.validation_fraction, "seed": args.seed,
         "deploy": args.deploy}).fetchone()
    assert row is not None
    return int(row[0])


def _jsonb(value: dict[str, Any] | None) -> Jsonb | None:
    return None if value is None else Jsonb(value)


def run_train(args: argparse.Namespace) -> int:
    from churnml_client.loaders_cli import _dsn

    if args.features and args.exclude:
        raise InvalidParameter("give either --features or --exclude, not both")
    with psycopg.connect(_dsn(args), autocommit=True) as conn:
        if args.engine == "database":
            model_id = train_in_database(conn, args)
            facts = conn.execute("SELECT validation_auc, test_auc, training_seconds FROM churnml.model_summary "
                                 "WHERE id = %s", (model_id,)).fetchone()
            assert facts is not None
            print(f"churnml: model {model_id} \"{args.name}\" trained in the database: validation AUC "
                  f"{_auc(facts[0])}, test AUC {_auc(facts[1])}, {facts[2]:.1f} s"
                  + ("; deployed" if args.deploy else ""))
            return 0
        from churnml_client import dask_train
        from churnml_client.loaders_cli import resolve_s3_config

        config = resolve_s3_config(args.s3_config)
        result = dask_train.train(
            conn, config, name=args.name, source=args.source, label=args.label,
            features=parse_names(args.features), exclude=parse_names(args.exclude),
            feature_types=parse_json_object(args.feature_types, "--feature-types"), missing=args.missing,
            hyperparams=parse_json_object(args.hyperparams, "--hyperparams"), seed=args.seed,
            test_fraction=args.test_fraction, validation_fraction=args.validation_fraction, deploy=args.deploy,
            s3_prefix=args.s3_prefix, part_size=args.part_size, workers=args.workers,
            threads_per_worker=args.threads_per_worker, scheduler=args.scheduler, keep_export=args.keep_export,
            progress=None if args.quiet else (lambda message: print(f"churnml train: {message}", file=sys.stderr,
                                                                      flush=True)))
    print(f"churnml: model {result.model_id} \"{args.name}\" trained with Dask on {result.workers} worker"
          f"{'s' if result.workers != 1 else ''}: validation AUC {_auc(result.validation_auc)}, test AUC "
          f"{_auc(result.test_auc)}, {result.seconds:.1f} s" + ("; deployed" if args.deploy else ""))
    return 0


def _auc(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.4f}"


def _fraction(text: str) -> float:
    value = float(text)
    if not 0.0 <= value < 1.0:
        raise argparse.ArgumentTypeError(f"must be in [0, 1), not {text}")
    return value


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


def add_command(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from churnml_client.loaders_cli import parse_size

    train = commands.add_parser(
        "train", help="train a churn model: in the database (churnml.train) or on a Dask cluster")
    train.add_argument("name", help="the model family (deployments are per name)")
    train.add_argument("--source", required=True, help="a table or view name, or a query")
    train.add_argument("--label", required=True, help="the column to predict")
    train.add_argument("--features", metavar="A,B,...",
                       help="the input columns, in order (default: all but the label)")
    train.add_argument("--exclude", metavar="A,B,...", help="all columns but these (and the label)")
    train.add_argument("--feature-types", metavar="JSON",
                       help='groups by column, e.g. \'{"area_code": "categorical"}\'')
    train.add_argument("--hyperparams", metavar="JSON", help="XGBoost parameters, as for churnml.train")
    train.add_argument("--missing", choices=("native", "mean", "median", "zero"), default="native",
                       help="numeric NULLs (default native)")
    train.add_argument("--test-fraction", type=_fraction, default=0.1, metavar="F", help="default 0.1")
    train.add_argument("--validation-fraction", type=_fraction, default=0.2, metavar="F", help="default 0.2")
    train.add_argument("--seed", type=int, default=42, help="split and model seed (default 42)")
    train.add_argument("--deploy", action="store_true", help="deploy the new model at once")
    train.add_argument("--engine", choices=ENGINES, default="database",
                       help="database: churnml.train in the server (default); dask: xgboost on a Dask cluster")
    dask = train.add_argument_group("engine dask")
    dask.add_argument("--workers", type=_positive, default=2,
                      help="worker processes of the local Dask cluster (default 2)")
    dask.add_argument("--threads-per-worker", type=_positive, default=1, help="default 1")
    dask.add_argument("--scheduler", metavar="tcp://HOST:PORT",
                      help="an existing Dask scheduler to use instead of starting a local cluster")
    dask.add_argument("--s3-prefix", default=DEFAULT_S3_PREFIX, metavar="s3://BUCKET/PREFIX",
                      help=f"where the training data is staged as Parquet (default {DEFAULT_S3_PREFIX})")
    dask.add_argument("--part-size", type=parse_size, default=64 * 1024 * 1024, metavar="SIZE",
                      help="Parquet part size, before encoding (default 64MB); one part is one Dask partition")
    dask.add_argument("--keep-export", action="store_true",
                      help="keep the staged Parquet export (default: deleted after training)")
    train.add_argument("--dsn", metavar="URL", help="libpq URL of the database (default: the embedded server's telco)")
    train.add_argument("--s3-config", type=Path, metavar="FILE",
                       help="S3 endpoint and credentials for --engine dask (as for churnml export)")
    train.add_argument("--quiet", action="store_true", help="no progress messages")
    train.set_defaults(func=run_train)
