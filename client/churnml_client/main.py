"""`churnml`: the command-line tool installed into .venv by `make install`.

    churnml db start|stop|status|url|psql [psql args...]
    churnml data generate --customers N --seed S [--months N [--drift price_rise:3,competitor:4]] [--replace] ...
    churnml train NAME --source TABLE_OR_QUERY --label COL [--exclude a,b] [--engine database|dask] [--deploy] ...
    churnml report NAME [--out DIR] [--compare NAME_OR_ID ...] [--dsn URL] [--fp-cost 50 --fn-cost 500 ...]
    churnml s3 start|stop|status|url
    churnml export QUERY s3://bucket/prefix [--format csv|text|binary|parquet] [--header] [--gzip] [--part-size 64MB]
    churnml load TABLE s3://bucket/key [--mode file|prefix|manifest] [--format ...] [--header] [--columns a,b] ...
    churnml docs sql-reference [--out docs/sql-reference.md] [--dsn URL] [--extension NAME ...]
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

import psycopg

from churnml.errors import ChurnmlError
from churnml_client.embedded_pg import DEFAULT_DATABASE, EmbeddedServer, ServerError
from churnml_loaders.errors import LoaderError


def _db(args: argparse.Namespace) -> int:
    server = EmbeddedServer.from_environment()
    action = args.action
    if action == "start":
        server.start(args.database, recreate_extension=args.recreate_extension)
        print(f"churnml: PostgreSQL running on 127.0.0.1:{server.port}; `churnml db psql` connects", flush=True)
        return 0
    if action == "stop":
        stopped = server.stop()
        print("churnml: server stopped" if stopped else "churnml: server was not running")
        return 0
    if action == "status":
        pid = server.running_pid()
        if pid is None:
            print(f"churnml: not running (home {server.home})")
            return 3  # the pg_ctl convention for "not running"
        print(f"churnml: running, pid {pid}, port {server.port}, data {server.datadir}, log {server.logfile}")
        return 0
    if action == "url":
        if not server.initialized():
            print("churnml: no server yet; run `churnml db start`", file=sys.stderr)
            return 1
        print(server.url(args.database))
        return 0
    if action == "psql":
        return server.psql(args.psql_args, args.database)
    raise AssertionError(action)


def _data(args: argparse.Namespace) -> int:
    from churnml_client import datagen
    from churnml_client.datagen.months import check_size

    plan = None
    if args.months is not None:
        # every argument is checked before connecting
        check_size(args.customers, args.months)
        plan, left_out = datagen.parse_drift(args.drift, args.months)
        if left_out:
            print(f"churnml: --months {args.months}: the default drift's {', '.join(left_out)} left out (it starts "
                  "after the last month); --drift names scenarios and their months", file=sys.stderr)
    elif args.drift is not None:
        raise ValueError("--drift needs --months: it sets the drift of the monthly snapshots (customer_months)")
    dsn = args.dsn or EmbeddedServer.from_environment().url(DEFAULT_DATABASE)
    with psycopg.connect(dsn) as conn:
        if plan is not None:
            datagen.check_months(conn, args.customers, args.seed, args.months, plan, replace=args.replace)
        loaded = datagen.load(conn, args.customers, args.seed, progress=not args.quiet, replace=args.replace)
        months = None if plan is None else datagen.load_months(
            conn, args.customers, args.seed, args.months, plan, progress=not args.quiet, replace=args.replace)
    summary = ", ".join(f"{table}: {rows:,} rows" for table, rows in loaded.counts.items())
    if loaded.unmarked:
        print(f"churnml: the demo tables are there already, with {args.customers:,} customers, made by an earlier "
              f"churnml or by you; kept as they are ({summary}). --replace generates them again")
    elif loaded.kept:
        print(f"churnml: the demo data of {args.customers:,} customers, seed {args.seed}, is there already; kept as "
              f"it is ({summary}). --replace generates it again")
    else:
        print(f"churnml: generated {summary} (seed {args.seed})")
    if months is not None and plan is not None:
        what = (f"{args.months} monthly snapshots of {args.customers:,} customers, seed {args.seed}, drift "
                f"{plan.spec}: customer_months, {months.counts['customer_months']:,} rows")
        if months.kept:
            print(f"churnml: the {what} are there already; kept as they are. --replace generates them again")
        else:
            print(f"churnml: generated the {what} (docs/drift-simulation.md)")
        if loaded.unmarked:
            print(f"churnml: note: month 1 of customer_months is the customers of seed {args.seed}; the customers "
                  "table kept above may hold others")
    return 0


def _report(args: argparse.Namespace) -> int:
    from churnml_client import report

    dsn = args.dsn or EmbeddedServer.from_environment().url(DEFAULT_DATABASE)
    # the name becomes a directory name: keep it to one safe path component
    out = args.out or Path(f"churnml-report-{re.sub(r'[^A-Za-z0-9_.-]', '_', args.name)}")
    with psycopg.connect(dsn) as conn:
        index = report.write_report(conn, args.name, out, compare=args.compare, fp_cost=args.fp_cost,
                                    fn_cost=args.fn_cost, tp_cost=args.tp_cost, tn_cost=args.tn_cost,
                                    say=lambda note: print(f"churnml report: {note}", file=sys.stderr))
    print(index)
    return 0


def _s3(args: argparse.Namespace) -> int:
    from churnml_client.s3_server import LocalS3Server

    server = LocalS3Server.from_environment()
    action = args.action
    if action == "start":
        config = server.start()
        print(f"churnml: S3 server (SeaweedFS) running on {config.endpoint}; bucket churnml; "
              f"credentials in {server.config_file}", flush=True)
        database = EmbeddedServer.from_environment()
        if database.initialized():
            # export_query/load_from_s3 in the embedded server read the same endpoint and credentials
            from churnml_loaders.server_config import write_file

            print(f"churnml: the embedded PostgreSQL uses it too ({write_file(database.datadir, config)}, "
                  "credential \"default\"); SQL reaches it only through a storage location: "
                  "SELECT churnml.create_storage_location('demo', 's3://churnml/'), then churnml.grant_storage "
                  "(examples/loaders.sql does both)")
        return 0
    if action == "stop":
        stopped = server.stop()
        print(f"churnml: S3 server stopped; its objects stay in {server.data_dir} for the next start" if stopped
              else "churnml: S3 server was not running")
        return 0
    if action == "status":
        pid = server.running_pid()
        if pid is None:
            print(f"churnml: S3 server not running (home {server.home})")
            return 3
        print(f"churnml: S3 server running, pid {pid}, endpoint {server.url()}, log {server.logfile}")
        return 0
    if action == "url":
        if server.running_pid() is None:
            print("churnml: the S3 server is not running; run `churnml s3 start`", file=sys.stderr)
            return 1
        print(server.url())
        return 0
    raise AssertionError(action)


def _docs(args: argparse.Namespace) -> int:
    from churnml_client import sql_reference

    if args.dsn:
        text = sql_reference.generate_from_dsn(args.dsn, args.extension)
    else:
        # a scratch database on the embedded server (started for the occasion if it is not running)
        server = EmbeddedServer.from_environment()
        was_running = server.running_pid() is not None
        server.start(database="")
        try:
            text = sql_reference.generate_in_scratch_database(server.url("postgres"), args.extension)
        finally:
            if not was_running:
                server.stop()
    if str(args.out) == "-":
        sys.stdout.write(text)
        return 0
    changed = sql_reference.write_if_changed(args.out, text)
    print(f"churnml: {'wrote' if changed else 'unchanged:'} {args.out}")
    return 0


def _months(text: str) -> int:
    from churnml_client.datagen.months import MAX_MONTHS

    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number of months, not {text!r}") from None
    if not 1 <= value <= MAX_MONTHS:
        raise argparse.ArgumentTypeError(f"must be between 1 and {MAX_MONTHS}, not {value}")
    return value


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="churnml", description="churnml: in-database churn ML for PostgreSQL")
    commands = parser.add_subparsers(dest="command", required=True)

    db = commands.add_parser("db", help="the embedded PostgreSQL server (state in $CHURNML_HOME)")
    db.add_argument("action", choices=["start", "stop", "status", "url", "psql"])
    db.add_argument("--database", "-d", default=DEFAULT_DATABASE, help="database for start/url/psql (default telco)")
    db.add_argument("--recreate-extension", action="store_true",
                    help="with start: when the database's churnml comes from an earlier build of this version, "
                         "re-create it even though that drops its models, deployments and offers")
    db.add_argument("psql_args", nargs="*", help="with psql: arguments passed to psql")
    db.set_defaults(func=_db)

    data = commands.add_parser("data", help="demo data")
    data_commands = data.add_subparsers(dest="data_command", required=True)
    generate = data_commands.add_parser(
        "generate", help="create and fill customers, customer_message, call_transcript (never replaces existing "
                         "tables without --replace)",
        description="Create the tables public.customers, public.customer_message and public.call_transcript and "
                    "fill them with synthetic demo data. Tables of those names that exist already are left alone: "
                    "when they hold the demo data of the same --customers and --seed (or, made by churnml before "
                    "0.3.0, the demo's columns and --customers rows), nothing is done; otherwise "
                    "the command stops and names them, unless --replace is given. With --months N it also writes "
                    "public.customer_months, monthly snapshots with churn outcomes a month later and known drift "
                    "(a price rise, a competitor's offer) for testing monitoring and retraining: "
                    "docs/drift-simulation.md describes the scenarios.")
    generate.add_argument("--customers", type=_positive_int, default=10_000, help="number of customers (default 10000)")
    generate.add_argument("--seed", type=int, default=42, help="random seed; the same seed gives the same data")
    generate.add_argument("--dsn", help="libpq URL of the target database (default: the embedded server's telco)")
    generate.add_argument("--quiet", action="store_true", help="no progress bar")
    generate.add_argument("--months", type=_months, metavar="N",
                          help="also write customer_months: monthly snapshots of the customers for months 1..N "
                               "(1..60; month 1 is the customers table), with churn = churns in the "
                               "next month, customers leaving and joining, and known drift (--drift); "
                               "see docs/drift-simulation.md")
    # Written out rather than imported from datagen.drift, which would load numpy for every command;
    # tests/client/test_datagen_months.py checks that they agree.
    generate.add_argument("--drift", metavar="SCENARIO:MONTH,...",
                          help="with --months: the drift scenarios and the month each starts in (2..N; it stays "
                               "from then on), or none. Scenarios: price_rise (covariate drift: rates +20%% with "
                               "minutes unchanged, heavy users churn more); competitor (concept drift: "
                               "international-plan customers and heavy international callers churn much more, "
                               "customer-service calls matter less). Default price_rise:3,competitor:4, leaving "
                               "out those after month N")
    generate.add_argument("--replace", action="store_true",
                          help="drop existing customers, customer_message and call_transcript tables first, and "
                               "customer_months with --months (never with CASCADE: objects depending on them stop "
                               "the command)")
    generate.set_defaults(func=_data)

    report = commands.add_parser("report", help="an HTML page with PNG plots explaining a model, for Marketing")
    report.add_argument("name", help="a deployment name (its current model), the name of models not deployed "
                                     "(the latest) or a model id")
    report.add_argument("--out", type=Path, metavar="DIR", help="output directory (default ./churnml-report-NAME)")
    report.add_argument("--compare", nargs="+", action="extend", default=[], metavar="NAME_OR_ID",
                        help="other models (names, deployed or not, or ids) whose test ROC joins the plot")
    report.add_argument("--dsn", metavar="URL",
                        help="libpq URL of the database (default: the embedded server's telco)")
    for outcome, default, meaning in (("fp", 50.0, "flagging a stayer"), ("fn", 500.0, "missing a churner"),
                                      ("tp", 50.0, "flagging a churner"), ("tn", 0.0, "leaving a stayer alone")):
        report.add_argument(f"--{outcome}-cost", type=float, default=None, metavar="AMOUNT",
                            help=f"cost of {meaning} (default: the deployment's business costs, "
                                 f"churnml.set_business_costs, else {default:g})")
    report.set_defaults(func=_report)

    s3 = commands.add_parser("s3", help="a local S3-compatible server (SeaweedFS) for exports and loads")
    s3.add_argument("action", choices=["start", "stop", "status", "url"])
    s3.set_defaults(func=_s3)

    docs = commands.add_parser("docs", help="generated documentation")
    docs_commands = docs.add_subparsers(dest="docs_command", required=True)
    reference = docs_commands.add_parser(
        "sql-reference", help="docs/sql-reference.md from the catalog of a database with the extension(s)")
    reference.add_argument("--out", type=Path, default=Path("docs/sql-reference.md"), metavar="FILE",
                           help="output file, - for stdout (default docs/sql-reference.md)")
    reference.add_argument("--dsn", metavar="URL",
                           help="libpq URL of a database where the extensions are installed (default: a scratch "
                                "database on the embedded server, with CREATE EXTENSION ... CASCADE, dropped after)")
    reference.add_argument("--extension", action="append", metavar="NAME",
                           help="an extension to document, repeatable (default: churnml, plus churnml_aws "
                                "when the server has its control file)")
    reference.set_defaults(func=_docs)

    from churnml_client import loaders_cli, train_cli

    loaders_cli.add_commands(commands)
    train_cli.add_command(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    # `churnml db psql ...`: everything after `psql` belongs to psql, even -d or -h.
    if argv[:2] == ["db", "psql"]:
        args = build_parser().parse_args(["db", "psql"])
        args.psql_args = argv[2:]
    else:
        args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except (ChurnmlError, LoaderError) as exc:
        from churnml_client.loaders_cli import format_error

        print(f"churnml: {format_error(exc)}", file=sys.stderr)
        return 1
    except (ServerError, ValueError) as exc:
        print(f"churnml: {exc}", file=sys.stderr)
        return 1
    except psycopg.Error as exc:
        print(f"churnml: database error: {str(exc).strip()}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
