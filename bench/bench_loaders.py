"""Export to and load from S3 from SQL, against COPY to and from a local file.

Data: the demo customers (100k quick, 1M full). S3: the local moto server
(`churnml s3 start`), on the same machine, so the figures include its CPU time.
Baselines, same run: `COPY (SELECT * FROM customers) TO '<file>' (FORMAT csv, HEADER)`
and `COPY ... FROM '<file>'` into an empty copy of the table, run by the server.
Peak backend memory (VmHWM) is read in a fresh connection per measurement.
The shell path (`churnml export` / `churnml load`: COPY streamed through psycopg) is
timed in this process with the same functions the commands call.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import psycopg

from bench.run import BENCH_HOME, Context, Result, ensure_customers, timed


def _configure(url: str) -> object:
    from churnml.cli.s3_server import LocalS3Server
    from churnml.transfer.server_config import write_file

    config = LocalS3Server.from_environment(BENCH_HOME).start()
    with psycopg.connect(url) as conn:
        write_file(Path(conn.execute("SHOW data_directory").fetchone()[0]), config)
    return config


def _prepare(url: str, customers: int) -> None:
    with psycopg.connect(url) as conn:
        ensure_customers(conn, customers)
        conn.execute("DROP TABLE IF EXISTS loaded")
        conn.execute("CREATE UNLOGGED TABLE loaded (LIKE customers)")


def _timed_with_peak(url: str, statement: str, before: str | None = None) -> tuple[float, float]:
    """(seconds, peak RSS MB of the backend that ran it)."""
    with psycopg.connect(url, autocommit=True) as conn:
        if before:
            conn.execute(before)
        pid = conn.execute("SELECT pg_backend_pid()").fetchone()[0]
        seconds = timed(lambda: conn.execute(statement))
        with open(f"/proc/{pid}/status", encoding="utf-8") as status:
            peak = next(int(line.split()[1]) for line in status if line.startswith("VmHWM:")) / 1024
    return seconds, peak


def _client_export(url: str, config: object) -> float:
    from churnml.cli.loaders_cli import export_query
    from churnml_loaders.s3_client import S3Client
    from churnml_loaders.uris import parse_s3_uri

    with psycopg.connect(url) as conn, S3Client(config) as client:
        return timed(lambda: export_query(conn, "SELECT * FROM customers", parse_s3_uri("s3://churnml/bench/cli"),
                                          client, header=True, overwrite=True))


def _client_load(url: str, config: object) -> float:
    from churnml.cli.loaders_cli import load_table
    from churnml_loaders.s3_client import S3Client
    from churnml_loaders.uris import parse_s3_uri

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("TRUNCATE loaded")
    with psycopg.connect(url) as conn, S3Client(config) as client:
        return timed(lambda: load_table(conn, "loaded", parse_s3_uri("s3://churnml/bench/cli"), client,
                                        mode="manifest"))


def _own_peak_mb() -> float:
    with open("/proc/self/status", encoding="utf-8") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmHWM:")) / 1024


def run(ctx: Context) -> list[Result]:
    customers = 100_000 if ctx.quick else 1_000_000
    url = ctx.server_url("bench_loaders")
    _prepare(url, customers)
    config = _configure(url)
    results = []
    with tempfile.TemporaryDirectory(prefix="churnml-bench-copy-") as tmp:
        os.chmod(tmp, 0o777)  # the server's OS user writes the baseline's file
        local = Path(tmp) / "customers.csv"
        copy_to = f"COPY (SELECT * FROM customers) TO '{local}' (FORMAT csv, HEADER)"
        base, _ = ctx.median_of(lambda: customers / _timed_with_peak(url, copy_to)[0])
        runs, peaks = [], []
        for _ in range(ctx.runs):
            seconds, peak = _timed_with_peak(url, "SELECT * FROM churnml.export_query('SELECT * FROM customers', "
                                                  "'s3://churnml/bench/customers', overwrite => true)")
            runs.append(customers / seconds)
            peaks.append(peak)
        results.append(Result(name=f"export_query {customers:,} customers to S3 (CSV, manifest)", unit="rows/s",
                              median=sorted(runs)[len(runs) // 2], runs=runs,
                              baseline="COPY (query) TO a local file", baseline_median=base,
                              target="≥ 70% of COPY TO", extra={"peak_rss_mb": max(peaks),
                                                                 "bytes": local.stat().st_size}))
        copy_from = f"COPY loaded FROM '{local}' (FORMAT csv, HEADER)"
        base, _ = ctx.median_of(lambda: customers / _timed_with_peak(url, copy_from, "TRUNCATE loaded")[0])
        runs, peaks = [], []
        for _ in range(ctx.runs):
            seconds, peak = _timed_with_peak(url, "SELECT churnml.load_from_s3('loaded', 's3://churnml/bench/customers',"
                                                  " mode => 'manifest', header => true)", "TRUNCATE loaded")
            runs.append(customers / seconds)
            peaks.append(peak)
        results.append(Result(name=f"load_from_s3 {customers:,} customers (CSV, manifest)", unit="rows/s",
                              median=sorted(runs)[len(runs) // 2], runs=runs,
                              baseline="COPY FROM a local file", baseline_median=base,
                              target="≥ 70% of COPY FROM", extra={"peak_rss_mb": max(peaks)}))
        copy_to_base = results[0].baseline_median
        copy_from_base = results[1].baseline_median
    runs = [customers / _client_export(url, config) for _ in range(ctx.runs)]
    results.append(Result(name=f"churnml export (shell) {customers:,} customers to S3", unit="rows/s",
                          median=sorted(runs)[len(runs) // 2], runs=runs, baseline="COPY (query) TO a local file",
                          baseline_median=copy_to_base, target="≥ 70% of COPY TO",
                          extra={"client_peak_rss_mb": _own_peak_mb()}))
    runs = [customers / _client_load(url, config) for _ in range(ctx.runs)]
    results.append(Result(name=f"churnml load (shell) {customers:,} customers from S3", unit="rows/s",
                          median=sorted(runs)[len(runs) // 2], runs=runs, baseline="COPY FROM a local file",
                          baseline_median=copy_from_base, target="≥ 70% of COPY FROM",
                          extra={"client_peak_rss_mb": _own_peak_mb()}))
    return results
