"""Export to and load from S3 from SQL, against COPY to and from a local file.

Data: the demo customers (100k quick, 1M full). S3: the local SeaweedFS server
(`churnml s3 start`), on the same machine, so the figures include its CPU time.
Baselines, same run: `COPY (SELECT * FROM customers) TO '<file>' (FORMAT csv, HEADER)`
and `COPY ... FROM '<file>'` into an empty copy of the table, run by the server.
Peak backend memory (VmHWM) is read in a fresh connection per measurement; export_query's
upload helper process reports its own peak (ru_maxrss) in a debug2 message.
The shell commands (`churnml export` / `churnml load`: COPY streamed through psycopg)
run as a user runs them, Python start-up included, with their own peak RSS.
Every run measures each path right after its baseline, so that a busy moment of the
2-core machine weighs on both sides of a ratio; the medians of the paired ratios are
reported too (extra.paired_ratio_median), with the machine's 1-minute load average before
each run (extra.load_average_1min_*: the machine is shared). What the S3 library costs a backend's first loader
call (its import and client) is extra.first_load_in_backend_ms of load_from_s3, next to a
second call in the same backend (later_load_in_backend_ms), for a one-row manifest load.
COPY options (issue 22): the same export and load with `delimiter ';', null 'NULL',
encoding 'WIN1252', force_quote (phone)` (re-encoded, one column always quoted, parts split
by the general CSV scanner), each next to COPY to and from a local file with the same options.
"""

from __future__ import annotations

import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psycopg

from bench.run import BENCH_HOME, REPO, Context, Result, ensure_customers, proc_status_mb, timed


def _configure(url: str) -> None:
    from churnml_client.s3_server import LocalS3Server
    from churnml_loaders.server_config import write_file

    config = LocalS3Server.from_environment(BENCH_HOME).start()
    with psycopg.connect(url) as conn:
        write_file(Path(conn.execute("SHOW data_directory").fetchone()[0]), config)
        # the bench runs as a superuser, who passes the grant check but still needs a location
        conn.execute("SET client_min_messages = warning")
        conn.execute("SELECT churnml.create_storage_location('bench', 's3://churnml/', if_not_exists => true)")


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


def _first_calls(url: str) -> tuple[float, float]:
    """(ms of the first load_from_s3 in a fresh backend, ms of the second): what importing the S3 library costs."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("SELECT churnml.version()")  # churnml itself imported: only the loaders' imports remain
        conn.execute("TRUNCATE tiny_loaded")
        call = ("SELECT churnml.load_from_s3('tiny_loaded', 's3://churnml/bench/tiny', mode => 'manifest', "
                "header => true)")
        first = timed(lambda: conn.execute(call))
        second = timed(lambda: conn.execute(call))
    return first * 1000, second * 1000


def run(ctx: Context) -> list[Result]:
    """Each run measures every path right after its COPY baseline (interleaved), so a busy
    moment of the machine lands on both sides of a ratio rather than on one of them."""
    customers = 100_000 if ctx.quick else 1_000_000
    url = ctx.server_url("bench_loaders")
    _prepare(url, customers)
    _configure(url)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("DROP TABLE IF EXISTS tiny_loaded")
        conn.execute("CREATE UNLOGGED TABLE tiny_loaded (LIKE customers)")
        conn.execute("SELECT * FROM churnml.export_query('SELECT * FROM customers LIMIT 1', "
                     "'s3://churnml/bench/tiny', overwrite => true)")
    export_sql = ("SELECT * FROM churnml.export_query('SELECT * FROM customers', 's3://churnml/bench/customers', "
                  "overwrite => true)")
    load_sql = ("SELECT churnml.load_from_s3('loaded', 's3://churnml/bench/customers', mode => 'manifest', "
                "header => true)")
    shell = {"export": ["export", "SELECT * FROM customers", "s3://churnml/bench/cli", "--header", "--overwrite"],
             "load": ["load", "loaded", "s3://churnml/bench/cli", "--mode", "manifest"]}
    options = "delimiter '';'', null ''NULL'', encoding ''WIN1252''"
    export_opts_sql = export_sql.replace("overwrite => true)", f"overwrite => true, options => '{options}, "
                                                                "force_quote (phone)')")
    load_opts_sql = load_sql.replace("header => true)", f"header => true, options => '{options}')")
    copy_options = "DELIMITER ';', NULL 'NULL', ENCODING 'WIN1252'"
    rate: dict[str, list[float]] = {name: [] for name in ("copy_to", "export", "shell_export", "copy_from", "load",
                                                           "shell_load", "copy_to_opts", "export_opts",
                                                           "copy_from_opts", "load_opts")}
    peak: dict[str, list[float]] = {name: [] for name in ("export", "load", "shell_export", "shell_load")}
    first: list[float] = []
    later: list[float] = []
    load_average: list[float] = []  # the machine is shared: what else ran is part of every figure
    notices: list[str] = []
    with tempfile.TemporaryDirectory(prefix="churnml-bench-copy-") as tmp:
        os.chmod(tmp, 0o777)  # the server's OS user writes the baseline's file
        local = Path(tmp) / "customers.csv"
        copy_to = f"COPY (SELECT * FROM customers) TO '{local}' (FORMAT csv, HEADER)"
        copy_from = f"COPY loaded FROM '{local}' (FORMAT csv, HEADER)"
        local_opts = Path(tmp) / "customers_win.csv"
        copy_to_opts = (f"COPY (SELECT * FROM customers) TO '{local_opts}' (FORMAT csv, HEADER, {copy_options}, "
                        "FORCE_QUOTE (phone))")
        copy_from_opts = f"COPY loaded FROM '{local_opts}' (FORMAT csv, HEADER, {copy_options})"
        for _ in range(ctx.runs):
            load_average.append(os.getloadavg()[0])
            rate["copy_to"].append(customers / _timed_with_peak(url, copy_to)[0])
            seconds, mb = _timed_with_peak(url, export_sql, notices=notices)
            rate["export"].append(customers / seconds)
            peak["export"].append(mb)
            seconds, mb = _shell(url, BENCH_HOME, *shell["export"])
            rate["shell_export"].append(customers / seconds)
            peak["shell_export"].append(mb)
            rate["copy_from"].append(customers / _timed_with_peak(url, copy_from, "TRUNCATE loaded")[0])
            seconds, mb = _timed_with_peak(url, load_sql, "TRUNCATE loaded")
            rate["load"].append(customers / seconds)
            peak["load"].append(mb)
            with psycopg.connect(url, autocommit=True) as conn:
                conn.execute("TRUNCATE loaded")
            seconds, mb = _shell(url, BENCH_HOME, *shell["load"])
            rate["shell_load"].append(customers / seconds)
            peak["shell_load"].append(mb)
            rate["copy_to_opts"].append(customers / _timed_with_peak(url, copy_to_opts)[0])
            rate["export_opts"].append(customers / _timed_with_peak(url, export_opts_sql)[0])
            rate["copy_from_opts"].append(customers / _timed_with_peak(url, copy_from_opts, "TRUNCATE loaded")[0])
            rate["load_opts"].append(customers / _timed_with_peak(url, load_opts_sql, "TRUNCATE loaded")[0])
            one, two = _first_calls(url)
            first.append(one)
            later.append(two)
        size = local.stat().st_size
    # constant memory: the same export and load of a tenth of the rows, for their peaks
    small_notices: list[str] = []
    _, export_small = _timed_with_peak(url, f"SELECT * FROM churnml.export_query('SELECT * FROM customers LIMIT "
                                            f"{customers // 10}', 's3://churnml/bench/small', overwrite => true)",
                                       notices=small_notices)
    _, load_small = _timed_with_peak(url, "SELECT churnml.load_from_s3('loaded', 's3://churnml/bench/small', "
                                          "mode => 'manifest', header => true)", "TRUNCATE loaded")

    def result(name: str, key: str, base: str, extra: dict[str, float]) -> Result:
        baseline = "COPY (query) TO a local file" if base.startswith("copy_to") else "COPY FROM a local file"
        if base.endswith("_opts"):
            baseline += " with the same options"
        return Result(name=name, unit="rows/s", median=statistics.median(rate[key]), runs=rate[key],
                      baseline=baseline, baseline_median=statistics.median(rate[base]),
                      target=f"≥ 70% of {baseline.split(' a ')[0]}",
                      extra={**extra, "baseline_runs": rate[base],
                             "paired_ratio_median": statistics.median(a / b for a, b in zip(rate[key], rate[base],
                                                                                            strict=True))})

    tenth = f"{customers // 10}_rows"
    machine = {"load_average_1min_median": statistics.median(load_average), "load_average_1min_max": max(load_average)}
    return [
        result(f"export_query {customers:,} customers to S3 (CSV, manifest)", "export", "copy_to",
               {"peak_rss_mb": max(peak["export"]), f"peak_rss_mb_{tenth}": export_small,
                "helper_peak_rss_mb": _helper_peak_mb(notices),
                f"helper_peak_rss_mb_{tenth}": _helper_peak_mb(small_notices), "bytes": size, **machine}),
        result(f"load_from_s3 {customers:,} customers (CSV, manifest)", "load", "copy_from",
               {"peak_rss_mb": max(peak["load"]), f"peak_rss_mb_{tenth}": load_small,
                "first_load_in_backend_ms": statistics.median(first),
                "later_load_in_backend_ms": statistics.median(later), **machine}),
        result(f"export_query {customers:,} customers to S3 with COPY options (;, NULL, WIN1252, force_quote)",
               "export_opts", "copy_to_opts", {**machine}),
        result(f"load_from_s3 {customers:,} customers with COPY options (;, NULL, WIN1252)", "load_opts",
               "copy_from_opts", {**machine}),
        result(f"churnml export (shell command) {customers:,} customers, S3", "shell_export", "copy_to",
               {"command_peak_rss_mb": max(peak["shell_export"]), **machine}),
        result(f"churnml load (shell command) {customers:,} customers, S3", "shell_load", "copy_from",
               {"command_peak_rss_mb": max(peak["shell_load"]), **machine}),
    ]
