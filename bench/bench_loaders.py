"""Export to and load from S3 from SQL, against COPY to and from a local file.

Data: the demo customers (100k quick, 1M full). S3: the local moto server
(`churnml s3 start`), on the same machine, so the figures include its CPU time.
Baselines, same run: `COPY (SELECT * FROM customers) TO '<file>' (FORMAT csv, HEADER)`
and `COPY ... FROM '<file>'` into an empty copy of the table, run by the server.
Peak backend memory (VmHWM) is read in a fresh connection per measurement; export_query's
upload helper process reports its own peak (ru_maxrss) in a debug2 message.
The shell commands (`churnml export` / `churnml load`: COPY streamed through psycopg)
run as a user runs them, Python start-up included, with their own peak RSS.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psycopg

from bench.run import BENCH_HOME, REPO, Context, Result, ensure_customers, proc_status_mb, timed


def _configure(url: str) -> None:
    from churnml.cli.s3_server import LocalS3Server
    from churnml.transfer.server_config import write_file

    config = LocalS3Server.from_environment(BENCH_HOME).start()
    with psycopg.connect(url) as conn:
        write_file(Path(conn.execute("SHOW data_directory").fetchone()[0]), config)


def _prepare(url: str, customers: int) -> None:
    with psycopg.connect(url) as conn:
        ensure_customers(conn, customers)
        conn.execute("DROP TABLE IF EXISTS loaded")
        conn.execute("CREATE UNLOGGED TABLE loaded (LIKE customers)")


def _timed_with_peak(url: str, statement: str, before: str | None = None,
                     notices: list[str] | None = None) -> tuple[float, float]:
    """(seconds, peak RSS MB of the backend that ran it); `notices` collects its debug2 messages."""
    with psycopg.connect(url, autocommit=True) as conn:
        if before:
            conn.execute(before)
        if notices is not None:
            conn.execute("SET client_min_messages = debug2")
            conn.add_notice_handler(lambda diag: notices.append(diag.message_primary or ""))
        pid = conn.execute("SELECT pg_backend_pid()").fetchone()[0]
        seconds = timed(lambda: conn.execute(statement))
        peak = proc_status_mb(pid, "VmHWM")
    return seconds, peak


def _helper_peak_mb(notices: list[str]) -> float:
    """The export's upload helper's peak RSS, from export_query's debug line (0 if absent)."""
    found = [re.search(r"upload helper .*peak RSS (\d+) kB", n) for n in notices]
    return max((int(m.group(1)) / 1024 for m in found if m), default=0.0)


CHURNML = REPO / ".venv" / "bin" / "churnml"


# A child's ru_maxrss counts the image it was forked from, and this process is large:
# a small Python forks the command and reports the command's own peak.
_PEAK_OF_CHILD = ("import os, subprocess, sys; p = subprocess.Popen(sys.argv[1:]); _, s, u = os.wait4(p.pid, 0); "
                  "print(u.ru_maxrss); sys.exit(os.waitstatus_to_exitcode(s))")


def _shell(url: str, s3_home: Path, *args: str) -> tuple[float, float]:
    """Run `churnml ARGS` as a user would; (seconds, the command's peak RSS in MB)."""
    env = {**os.environ, "CHURNML_HOME": str(s3_home)}
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", _PEAK_OF_CHILD, str(CHURNML), *args, "--dsn", url, "--quiet"],
                          env=env, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"churnml {args[0]} failed: {done.stderr[-2000:]}")
    return seconds, int(done.stdout.split()[-1]) / 1024


def run(ctx: Context) -> list[Result]:
    customers = 100_000 if ctx.quick else 1_000_000
    url = ctx.server_url("bench_loaders")
    _prepare(url, customers)
    _configure(url)
    results = []
    with tempfile.TemporaryDirectory(prefix="churnml-bench-copy-") as tmp:
        os.chmod(tmp, 0o777)  # the server's OS user writes the baseline's file
        local = Path(tmp) / "customers.csv"
        copy_to = f"COPY (SELECT * FROM customers) TO '{local}' (FORMAT csv, HEADER)"
        base, _ = ctx.median_of(lambda: customers / _timed_with_peak(url, copy_to)[0])
        runs, peaks, notices = [], [], []
        for _ in range(ctx.runs):
            seconds, peak = _timed_with_peak(url, "SELECT * FROM churnml.export_query('SELECT * FROM customers', "
                                                  "'s3://churnml/bench/customers', overwrite => true)",
                                             notices=notices)
            runs.append(customers / seconds)
            peaks.append(peak)
        # constant memory: the same export of a tenth of the rows, for its peak
        small_notices: list[str] = []
        _, peak_small = _timed_with_peak(url, f"SELECT * FROM churnml.export_query('SELECT * FROM customers LIMIT "
                                              f"{customers // 10}', 's3://churnml/bench/small', overwrite => true)",
                                         notices=small_notices)
        results.append(Result(name=f"export_query {customers:,} customers to S3 (CSV, manifest)", unit="rows/s",
                              median=sorted(runs)[len(runs) // 2], runs=runs,
                              baseline="COPY (query) TO a local file", baseline_median=base,
                              target="≥ 70% of COPY TO", extra={"peak_rss_mb": max(peaks),
                                                                 f"peak_rss_mb_{customers // 10}_rows": peak_small,
                                                                 "helper_peak_rss_mb": _helper_peak_mb(notices),
                                                                 f"helper_peak_rss_mb_{customers // 10}_rows":
                                                                     _helper_peak_mb(small_notices),
                                                                 "bytes": local.stat().st_size}))
        copy_from = f"COPY loaded FROM '{local}' (FORMAT csv, HEADER)"
        base, _ = ctx.median_of(lambda: customers / _timed_with_peak(url, copy_from, "TRUNCATE loaded")[0])
        runs, peaks = [], []
        for _ in range(ctx.runs):
            seconds, peak = _timed_with_peak(url, "SELECT churnml.load_from_s3('loaded', 's3://churnml/bench/customers',"
                                                  " mode => 'manifest', header => true)", "TRUNCATE loaded")
            runs.append(customers / seconds)
            peaks.append(peak)
        _, peak_small = _timed_with_peak(url, "SELECT churnml.load_from_s3('loaded', 's3://churnml/bench/small', "
                                              "mode => 'manifest', header => true)", "TRUNCATE loaded")
        results.append(Result(name=f"load_from_s3 {customers:,} customers (CSV, manifest)", unit="rows/s",
                              median=sorted(runs)[len(runs) // 2], runs=runs,
                              baseline="COPY FROM a local file", baseline_median=base,
                              target="≥ 70% of COPY FROM", extra={"peak_rss_mb": max(peaks),
                                                                   f"peak_rss_mb_{customers // 10}_rows": peak_small}))
        copy_to_base = results[0].baseline_median
        copy_from_base = results[1].baseline_median
    shell = {"export": ["export", "SELECT * FROM customers", "s3://churnml/bench/cli", "--header", "--overwrite"],
             "load": ["load", "loaded", "s3://churnml/bench/cli", "--mode", "manifest"]}
    for name, base in (("export", copy_to_base), ("load", copy_from_base)):
        runs, peaks = [], []
        for _ in range(ctx.runs):
            if name == "load":
                with psycopg.connect(url, autocommit=True) as conn:
                    conn.execute("TRUNCATE loaded")
            seconds, peak = _shell(url, BENCH_HOME, *shell[name])
            runs.append(customers / seconds)
            peaks.append(peak)
        baseline = "COPY (query) TO a local file" if name == "export" else "COPY FROM a local file"
        results.append(Result(name=f"churnml {name} (shell command) {customers:,} customers, S3", unit="rows/s",
                              median=sorted(runs)[len(runs) // 2], runs=runs, baseline=baseline,
                              baseline_median=base, target=f"≥ 70% of {baseline.split(' a ')[0]}",
                              extra={"command_peak_rss_mb": max(peaks)}))
    return results
