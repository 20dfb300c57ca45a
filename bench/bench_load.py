"""Load: churnml's SQL calls under pgbench at 8 and 32 clients, errors, tail latency and backend memory.

Part of `make bench` (bench/run.py), or alone:

    CHURNML_BENCH_HOME=/tmp/churnml-bench-load .venv/bin/python -m bench.bench_load --duration 60 --clients 8,32

pgbench custom scripts, each client a key drawn with `\\set k random(...)` per call:
- assess_customer: the call-center call `churnml.assess_customer(area_code, phone, message)` for a random
  customer with one of bench_call_center's fixed messages (the offer is logged, committed), with the lexicon
  sentiment engine at every client count and the encoder engine where memory allows (each backend with the
  encoder loaded holds several hundred MB: the 8-client run's RSS decides whether 32 fit under MEMORY_CAP);
- will_churn: per-row scoring, `SELECT churnml.will_churn(cu) FROM customers cu ...` for a random customer;
- score: bulk scoring, `SELECT count(*), avg(probability) FROM churnml.score(<1,000-row slice>)`.
Baselines in the same run, same pgbench settings: the same customer lookup without churnml (the floor of
assess_customer and will_churn) and the same 1,000-row slice aggregated without churnml (the floor of score).

Every run: `pgbench -n -M prepared -c N -j 2 -T <duration>`, per-transaction log. Each new backend's first
calls load the model (and the encoder: seconds of CPU each), so the *measured window* starts when every
client has finished its first call, and no earlier than WARMUP seconds in; throughput, p50 and p99 are those
of the calls completed in the window. Errors must be zero: pgbench's exit code, its failed-transaction count
and aborted clients, the database's rolled-back transactions (pg_stat_database) and ERROR/FATAL lines the
server logged for the database during the run; any error fails the benchmark after the results are written.

Memory: a separate connection lists the database's client backends (pg_stat_activity) every
SAMPLE_EVERY seconds and reads VmRSS (and RssAnon, RssShmem) from /proc/<pid>/status. Per backend, growth is
from its first sample in the measured window to its last sample before pgbench ends; "flat" means the median
growth across backends is under FLAT_MEDIAN_PCT and the largest under FLAT_MAX_PCT. The verdict is on the
backend's private memory, VmRSS less RssShmem: VmRSS also counts every page of shared memory (shared_buffers,
WAL buffers) the backend has touched, which keeps rising while a script writes (assess_customer's offer log)
and is bounded by shared_buffers; it is the server's shared cache, not the backend's. VmRSS growth is reported
beside it, by the same rule.

Results: bench/results/load.json (every run, with the memory series), the "Load" section of
docs/benchmarks.md, and one row per run in bench/results/latest.json and its table.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import psycopg

from bench.bench_call_center import ASSESS, CUSTOMERS
from bench.bench_call_center import _percentile as percentile
from bench.bench_call_center import _prepare as prepare_call_center
from bench.run import BENCH_HOME, DOC, REPO, RESULTS, Context, Result

DATABASE = "bench_load"
LOAD_RESULTS = REPO / "bench" / "results" / "load.json"
LOAD_BEGIN, LOAD_END = "<!-- bench-load:begin -->", "<!-- bench-load:end -->"
SLICE = 1_000
WARMUP = 10.0  # seconds: the measured window never starts earlier
SAMPLE_EVERY = 2.0  # seconds between memory samples
FLAT_MEDIAN_PCT, FLAT_MAX_PCT = 2.0, 5.0
MEMORY_CAP_MB = 16 * 1024  # the encoder runs only at client counts whose backends fit under this
# The encoder's cold start is seconds of CPU per backend (8 backends on 2 busy cores: ~40 s), so its runs get
# this much longer for the measured window to be about as long as the others'.
ENCODER_COLD_START = 60
THREADS = 2  # pgbench -j

LOOKUP = "FROM bench_calls AS c JOIN customers AS cu USING (area_code, phone)"
SCRIPTS = {
    "lookup": ("baseline: customer lookup (no churnml)",
               f"\\set k random(1, {CUSTOMERS})\nSELECT cu.* {LOOKUP} WHERE c.i = :k;\n"),
    "will_churn": ("will_churn(row), one customer",
                   f"\\set k random(1, {CUSTOMERS})\nSELECT churnml.will_churn(cu) {LOOKUP} WHERE c.i = :k;\n"),
    "slice": (f"baseline: {SLICE:,}-row slice aggregated (no churnml)",
              f"\\set s random(1, {CUSTOMERS - SLICE + 1})\n"
              f"SELECT count(*), avg(cu.day_mins) {LOOKUP} WHERE c.i BETWEEN :s AND :s + {SLICE - 1};\n"),
    "score": (f"churnml.score over a random {SLICE:,}-row slice",
              f"\\set s random(1, {CUSTOMERS - SLICE + 1})\n"
              "SELECT count(*), avg(probability) FROM churnml.score(pg_catalog.format("
              f"'SELECT cu.* {LOOKUP} WHERE c.i BETWEEN %s AND %s', :s::int, :s::int + {SLICE - 1}), 'phone');\n"),
    "assess_lexicon": ("assess_customer (lexicon)", ASSESS.format(n=CUSTOMERS, engine="lexicon")),
    "assess_encoder": ("assess_customer (encoder)", ASSESS.format(n=CUSTOMERS, engine="encoder")),
    # not in ORDER: a diagnostic (--scripts assess_nolog) for where VmRSS growth comes from
    "assess_nolog": ("assess_customer (lexicon, log_offer => false)",
                     ASSESS.format(n=CUSTOMERS, engine="lexicon").replace("log_offer => true",
                                                                           "log_offer => false")),
}
BASELINE = {"will_churn": "lookup", "assess_lexicon": "lookup", "assess_encoder": "lookup", "assess_nolog": "lookup",
            "score": "slice"}
ORDER = ("lookup", "will_churn", "assess_lexicon", "assess_encoder", "slice", "score")


@dataclass
class LoadRun:
    script: str
    label: str
    clients: int
    seconds: int
    ok: bool = True
    errors: int = 0
    error_detail: list[str] = field(default_factory=list)
    transactions: int = 0  # completed in the measured window
    tps: float = 0.0  # in the measured window
    pgbench_tps: float = 0.0  # pgbench's own figure, warm-up included
    p50_ms: float = 0.0
    p99_ms: float = 0.0
    warmup_s: float = 0.0  # from pgbench's start to the measured window
    window_s: float = 0.0
    backends: int = 0
    # VmRSS: medians across backends at the start and end of the window; growth per backend
    rss_start_mb: float = 0.0
    rss_end_mb: float = 0.0
    rss_growth_median_pct: float = 0.0
    rss_growth_max_pct: float = 0.0
    rss_growth_max_mb: float = 0.0
    rss_flat: bool = True
    # private: VmRSS less RssShmem (the shared buffers and WAL buffers the backend has touched)
    private_start_mb: float = 0.0
    private_end_mb: float = 0.0
    private_growth_median_pct: float = 0.0
    private_growth_max_pct: float = 0.0
    private_growth_max_mb: float = 0.0
    shmem_growth_median_mb: float = 0.0
    flat: bool = True  # by private memory
    rss_peak_sum_mb: float = 0.0  # all the run's backends' VmRSS together, at the busiest sample
    load_before: float = 0.0  # 1-minute load average just before the run
    load_mean: float = 0.0  # mean of the 1-minute load average sampled during the run
    load_max: float = 0.0
    # [s from start, backends, median VmRSS, median RssAnon, median RssShmem] (MB) at each sample
    series: list[list[float]] = field(default_factory=list)
    skipped: str = ""


# ---- /proc ----------------------------------------------------------------------------------------------
def _status_mb(pid: int) -> tuple[float, float, float] | None:
    """(VmRSS, RssAnon, RssShmem) in MB, None when the process is gone."""
    values: dict[str, float] = {}
    try:
        with open(f"/proc/{pid}/status", encoding="utf-8") as status:
            for line in status:
                name, _, rest = line.partition(":")
                if name in ("VmRSS", "RssAnon", "RssShmem"):
                    values[name] = int(rest.split()[0]) / 1024
    except (FileNotFoundError, ProcessLookupError):
        return None
    if "VmRSS" not in values:
        return None  # a zombie has no memory lines
    return values["VmRSS"], values.get("RssAnon", 0.0), values.get("RssShmem", 0.0)


def _load1() -> float:
    with open("/proc/loadavg", encoding="utf-8") as loadavg:
        return float(loadavg.read().split()[0])


def _mem_available_mb() -> float:
    with open("/proc/meminfo", encoding="utf-8") as meminfo:
        return next(int(ln.split()[1]) for ln in meminfo if ln.startswith("MemAvailable:")) / 1024


class Sampler(threading.Thread):
    """Every SAMPLE_EVERY s, while `running()`: the database's client backends' memory, and the load average."""

    def __init__(self, url: str, running: Callable[[], bool]) -> None:
        super().__init__(daemon=True)
        self.url, self.running = url, running
        self.stop_event = threading.Event()
        # (epoch seconds, load1, {pid: (rss, anon, shmem)})
        self.samples: list[tuple[float, float, dict[int, tuple[float, float, float]]]] = []
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            with psycopg.connect(self.url, autocommit=True) as conn:
                while not self.stop_event.is_set():
                    if self.running():
                        pids = [r[0] for r in conn.execute(
                            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
                            "AND backend_type = 'client backend' AND pid <> pg_backend_pid()").fetchall()]
                        at = time.time()
                        memory = {pid: m for pid in pids if (m := _status_mb(pid)) is not None}
                        self.samples.append((at, _load1(), memory))
                    self.stop_event.wait(SAMPLE_EVERY)
        except BaseException as error:  # noqa: BLE001 - reported by the caller
            self.error = error

    def stop(self) -> None:
        self.stop_event.set()
        self.join()
        if self.error is not None:
            raise RuntimeError(f"memory sampler failed: {self.error}") from self.error


# ---- error sources besides pgbench itself ----------------------------------------------------------------
def _rollbacks(url: str) -> int:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("SELECT pg_stat_clear_snapshot()")
        return conn.execute("SELECT xact_rollback FROM pg_stat_database WHERE datname = current_database()"
                            ).fetchone()[0]


def _server_log() -> Path:
    return BENCH_HOME / "log" / "postgresql.log"


def _log_size() -> int:
    try:
        return _server_log().stat().st_size
    except FileNotFoundError:
        return -1


def _logged_errors(offset: int) -> list[str]:
    """ERROR/FATAL/PANIC lines the server logged for this database since `offset`."""
    if offset < 0:
        return []
    with open(_server_log(), "rb") as log:
        log.seek(offset)
        text = log.read().decode("utf-8", errors="replace")
    return [ln for ln in text.splitlines()
            if f"@{DATABASE} " in ln and re.search(r"\b(ERROR|FATAL|PANIC):", ln)]


# ---- one pgbench run ----------------------------------------------------------------------------------------
def _pgbench(url: str, script: str, label: str, clients: int, seconds: int) -> LoadRun:
    run = LoadRun(script=script, label=label, clients=clients, seconds=seconds)
    pgbench = shutil.which("pgbench") or "/usr/lib/postgresql/15/bin/pgbench"
    rollbacks_before, log_offset = _rollbacks(url), _log_size()
    run.load_before = _load1()
    with tempfile.TemporaryDirectory(prefix="churnml-load-") as tmp:
        script_file = Path(tmp) / f"{script}.sql"
        script_file.write_text(SCRIPTS[script][1], encoding="utf-8")
        # -n: no vacuum of pgbench's own tables; -M prepared: what an application would do
        argv = [pgbench, "-n", "-M", "prepared", "-c", str(clients), "-j", str(min(clients, THREADS)),
                "-T", str(seconds), "-f", str(script_file), "-l", "--log-prefix", str(Path(tmp) / "log"), url]
        started = time.time()
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                env={**os.environ, "PGOPTIONS": "-c client_min_messages=warning"})
        sampler = Sampler(url, lambda: proc.poll() is None)
        sampler.start()
        try:
            out, err = proc.communicate(timeout=seconds + 600)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, err = proc.communicate()
            run.error_detail.append("pgbench did not finish in time: killed")
        finally:
            sampler.stop()
        calls: dict[int, list[tuple[float, float]]] = {}  # client -> [(completed at, latency ms)]
        for log in Path(tmp).glob("log*"):
            for line in log.read_text(encoding="utf-8").splitlines():
                client, _, micros, _, epoch, epoch_us = line.split()[:6]
                if not micros.isdigit():  # "failed", "skipped": counted by pgbench's summary below
                    continue
                calls.setdefault(int(client), []).append((int(epoch) + int(epoch_us) / 1e6, int(micros) / 1000.0))
    time.sleep(1.5)  # backends flush their statistics when they exit
    _check_errors(run, proc.returncode, out, err, _rollbacks(url) - rollbacks_before, _logged_errors(log_offset))
    _throughput(run, calls, clients, started, out)
    _memory(run, sampler.samples, started)
    return run


def _check_errors(run: LoadRun, returncode: int, out: str, err: str, rollbacks: int, logged: list[str]) -> None:
    failed = re.search(r"number of failed transactions: (\d+)", out)
    aborted = [ln for ln in err.splitlines() if "aborted" in ln or "error" in ln.lower()]
    if returncode != 0:
        run.error_detail.append(f"pgbench exited with {returncode}")
    if failed is None:
        run.error_detail.append("pgbench printed no failed-transaction count")
    elif int(failed.group(1)):
        run.error_detail.append(f"{failed.group(1)} failed transactions")
    run.error_detail += [f"pgbench: {ln.strip()}" for ln in aborted[:5]]
    if rollbacks:
        run.error_detail.append(f"{rollbacks} transactions rolled back (pg_stat_database)")
    run.error_detail += [f"server log: {ln.strip()}" for ln in logged[:5]]
    # the same errors seen from three sides: count them once
    aborted_clients = sum(1 for ln in aborted if re.search(r"client \d+ .*aborted", ln))
    run.errors = max((int(failed.group(1)) if failed else 0) + aborted_clients, rollbacks, len(logged))
    run.errors = max(run.errors, int(bool(run.error_detail)))
    run.ok = not run.error_detail


def _throughput(run: LoadRun, calls: dict[int, list[tuple[float, float]]], clients: int, started: float,
                out: str) -> None:
    tps = re.search(r"tps = ([\d.]+)", out)
    run.pgbench_tps = float(tps.group(1)) if tps else 0.0
    if len(calls) < clients:
        run.error_detail.append(f"only {len(calls)} of {clients} clients completed a call: run it longer")
        run.ok = False
        return
    for client_calls in calls.values():
        client_calls.sort()
    # the window opens when every client has a warm backend, never before WARMUP s
    warm_from = max(started + min(WARMUP, run.seconds / 3), max(c[0][0] for c in calls.values()))
    in_window = [(at, lat) for client_calls in calls.values() for at, lat in client_calls if at > warm_from]
    if len(in_window) < 2:
        run.error_detail.append("too few calls after the warm-up: run it longer")
        run.ok = False
        return
    end = max(at for at, _ in in_window)
    run.warmup_s = warm_from - started
    run.window_s = end - warm_from
    run.transactions = len(in_window)
    run.tps = len(in_window) / run.window_s
    latencies = [lat for _, lat in in_window]
    run.p50_ms, run.p99_ms = percentile(latencies, 0.5), percentile(latencies, 0.99)


def _memory(run: LoadRun, samples: list[tuple[float, float, dict[int, tuple[float, float, float]]]],
            started: float) -> None:
    if samples:
        loads = [load for _, load, _ in samples]
        run.load_mean, run.load_max = statistics.mean(loads), max(loads)
        run.rss_peak_sum_mb = max(sum(m[0] for m in memory.values()) for _, _, memory in samples)
        run.series = [[round(at - started, 1), len(memory),
                       *(round(statistics.median(m[i] for m in memory.values()), 1) for i in range(3))]
                      for at, _, memory in samples if memory]
    if not run.window_s:
        return
    window_start = started + run.warmup_s
    first: dict[int, tuple[float, float, float]] = {}
    last: dict[int, tuple[float, float, float]] = {}
    for at, _, memory in samples:
        for pid, values in memory.items():
            if at >= window_start:
                first.setdefault(pid, values)
                last[pid] = values
    pids = [pid for pid in first if last[pid] is not first[pid]]
    if not pids:
        run.error_detail.append("no memory samples in the measured window")
        run.ok = False
        return
    run.backends = len(pids)

    def growth(value: Callable[[tuple[float, float, float]], float]) -> tuple[float, float, float, float, float]:
        """Median start, median end, median and max growth (%), max growth (MB) of `value` across backends."""
        pct = [100 * (value(last[p]) - value(first[p])) / value(first[p]) for p in pids]
        return (statistics.median(value(first[p]) for p in pids), statistics.median(value(last[p]) for p in pids),
                statistics.median(pct), max(pct), max(value(last[p]) - value(first[p]) for p in pids))

    (run.rss_start_mb, run.rss_end_mb, run.rss_growth_median_pct, run.rss_growth_max_pct,
     run.rss_growth_max_mb) = growth(lambda m: m[0])
    (run.private_start_mb, run.private_end_mb, run.private_growth_median_pct, run.private_growth_max_pct,
     run.private_growth_max_mb) = growth(lambda m: m[0] - m[2])
    run.shmem_growth_median_mb = statistics.median(last[p][2] - first[p][2] for p in pids)
    run.rss_flat = run.rss_growth_median_pct < FLAT_MEDIAN_PCT and run.rss_growth_max_pct < FLAT_MAX_PCT
    run.flat = run.private_growth_median_pct < FLAT_MEDIAN_PCT and run.private_growth_max_pct < FLAT_MAX_PCT


# ---- the whole benchmark --------------------------------------------------------------------------------------
def _check_connections(url: str, clients: list[int]) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        limit = int(conn.execute("SHOW max_connections").fetchone()[0])
    if limit < max(clients) + 10:
        raise RuntimeError(f"max_connections is {limit}: {max(clients)} clients need at least {max(clients) + 10} "
                           f"(set it in {BENCH_HOME}/pgdata/churnml.conf and restart the server)")


def _encoder_skip(clients: int, encoder_runs: list[LoadRun]) -> str:
    """Why the encoder run at `clients` is skipped ('' to run it), from the smaller encoder runs' RSS."""
    measured = [r for r in encoder_runs if r.rss_end_mb]
    if not measured:
        return ""
    per_backend = max(max(r.rss_end_mb, r.rss_peak_sum_mb / r.clients) for r in measured)
    need = per_backend * clients
    last = measured[-1]
    if need > MEMORY_CAP_MB:
        return (f"{clients} backends × {per_backend:,.0f} MB (VmRSS of a backend with the encoder loaded, measured "
                f"at {last.clients} clients) = {need / 1024:,.1f} GB, over the {MEMORY_CAP_MB / 1024:.0f} GB cap; "
                f"and the cold start, {last.warmup_s:.0f} s for {last.clients} backends, would be "
                f"~{last.warmup_s * clients / last.clients:.0f} s for {clients}")
    available = _mem_available_mb()
    if need > available - 2048:
        return (f"{clients} backends × {per_backend:,.0f} MB = {need / 1024:,.1f} GB; only "
                f"{available / 1024:,.1f} GB available on the (shared) machine")
    return ""


def measure(url: str, seconds: int, clients: list[int], skip_encoder: str = "",
            scripts: tuple[str, ...] = ORDER) -> list[LoadRun]:
    """Every script in `scripts` at every client count; skip_encoder: why not to run the encoder ('' to run it)."""
    _check_connections(url, clients)
    prepare_call_center(url)  # 10,000 customers, the deployed 'churn' model, bench_calls with the messages
    runs: list[LoadRun] = []
    for n in clients:
        for script in scripts:
            label = SCRIPTS[script][0]
            if script == "assess_encoder":
                reason = skip_encoder or _encoder_skip(n, [r for r in runs if r.script == script and not r.skipped])
                if reason:
                    print(f"    {label}, {n} clients: skipped ({reason})", flush=True)
                    runs.append(LoadRun(script=script, label=label, clients=n, seconds=seconds, skipped=reason))
                    continue
            length = seconds + (ENCODER_COLD_START if script == "assess_encoder" else 0)
            print(f"    {label}, {n} clients, {length} s ...", flush=True)
            run = _pgbench(url, script, label, n, length)
            print(f"      {run.tps:,.1f} calls/s, p50 {run.p50_ms:.1f} ms, p99 {run.p99_ms:.1f} ms, "
                  f"errors {run.errors}, "
                  f"VmRSS {run.rss_start_mb:.0f} -> {run.rss_end_mb:.0f} MB ({run.rss_growth_median_pct:+.1f}%, "
                  f"max {run.rss_growth_max_pct:+.1f}%), private {run.private_start_mb:.0f} -> "
                  f"{run.private_end_mb:.0f} MB ({run.private_growth_median_pct:+.1f}%, "
                  f"max {run.private_growth_max_pct:+.1f}%), load {run.load_mean:.1f}"
                  + ("" if run.ok else f"  FAILED: {'; '.join(run.error_detail)}"), flush=True)
            runs.append(run)
    return runs


def _results(runs: list[LoadRun]) -> list[Result]:
    by_key = {(r.script, r.clients): r for r in runs if not r.skipped}
    results = []
    for run in runs:
        if run.skipped or run.script not in BASELINE:
            continue
        base = by_key.get((BASELINE[run.script], run.clients))
        results.append(Result(
            name=f"pgbench load: {run.label}, {run.clients} clients", unit="calls/s", median=run.tps, runs=[run.tps],
            baseline=f"{SCRIPTS[BASELINE[run.script]][0].removeprefix('baseline: ')}, {run.clients} clients",
            baseline_median=base.tps if base else float("nan"),
            target="0 errors; memory flat after warm-up",
            notes=(f"{run.seconds} s run, {run.window_s:.0f} s measured; errors {run.errors}; p99 {run.p99_ms:.1f} ms; "
                   f"private memory {run.private_start_mb:.0f} -> {run.private_end_mb:.0f} MB "
                   f"({'flat' if run.flat else 'GROWS'}); load average {run.load_mean:.1f}"),
            extra={"p50_ms": run.p50_ms, "p99_ms": run.p99_ms, "errors": float(run.errors),
                   "baseline_p99_ms": base.p99_ms if base else float("nan"),
                   "rss_start_mb": run.rss_start_mb, "rss_end_mb": run.rss_end_mb,
                   "rss_growth_median_pct": run.rss_growth_median_pct, "rss_growth_max_pct": run.rss_growth_max_pct,
                   "private_growth_median_pct": run.private_growth_median_pct,
                   "private_growth_max_pct": run.private_growth_max_pct, "load_average": run.load_mean}))
    return results


def _doc_block(runs: list[LoadRun], meta: dict[str, object]) -> str:
    measured = [r for r in runs if not r.skipped]
    flat = all(r.flat for r in measured)
    rss_grows = [f"{r.label} at {r.clients}" for r in measured if not r.rss_flat]
    errors = sum(r.errors for r in measured)
    lines = [
        LOAD_BEGIN,
        f"Last run: {meta['date']} on {meta['machine']} ({meta['cpus']} CPUs, {meta['memory_gb']:.0f} GB), "
        f"shared with other work: 1-minute load average {meta['load_min']:.1f}–{meta['load_max']:.1f} during the "
        f"runs (sampled every {SAMPLE_EVERY:g} s, this benchmark's own load included), "
        f"{meta['load_before_min']:.1f}–{meta['load_before_max']:.1f} just before each. "
        f"{meta['seconds']} s per run, `-j {THREADS}`. "
        f"Errors: {'**none**' if not errors else f'**{errors}**'}. "
        f"Private backend memory: {'**flat** in every run' if flat else '**grows** in some runs'}; "
        f"VmRSS: {'flat in every run' if not rss_grows else 'grows in ' + ', '.join(rss_grows) + ' clients'}.",
        "",
        "| script | clients | calls/s | vs baseline | p50 ms | p99 ms | errors | measured window | "
        "VmRSS start → end | VmRSS growth median / max | private start → end | private growth median / max | "
        "load avg |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    by_key = {(r.script, r.clients): r for r in measured}
    for r in runs:
        if r.skipped:
            lines.append(f"| {r.label} | {r.clients} | skipped: {r.skipped} |||||||||||")
            continue
        base = by_key.get((BASELINE.get(r.script, ""), r.clients))
        ratio = f"{r.tps / base.tps:.2f}x" if base and base.tps else "—"
        lines.append(
            f"| {r.label} | {r.clients} | {r.tps:,.1f} | {ratio} | {r.p50_ms:.1f} | {r.p99_ms:.1f} | "
            f"{r.errors} | {r.window_s:.0f} s from {r.warmup_s:.0f} s ({r.transactions:,} calls) | "
            f"{r.rss_start_mb:.0f} → {r.rss_end_mb:.0f} MB | "
            f"{r.rss_growth_median_pct:+.1f}% / {r.rss_growth_max_pct:+.1f}% | "
            f"{r.private_start_mb:.1f} → {r.private_end_mb:.1f} MB | "
            f"{r.private_growth_median_pct:+.1f}% / {r.private_growth_max_pct:+.1f}% "
            f"({r.private_growth_max_mb:+.1f} MB) | {r.load_mean:.1f} |")
    lines.append(LOAD_END)
    return "\n".join(lines)


def record(runs: list[LoadRun], seconds: int) -> dict[str, object]:
    """bench/results/load.json and the Load section of docs/benchmarks.md."""
    from bench.run import run_meta

    measured = [r for r in runs if not r.skipped]
    meta: dict[str, object] = {
        **run_meta(False, 1), "seconds": seconds,
        "memory_gb": os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30,
        "load_min": min((r.load_mean for r in measured), default=0.0),
        "load_max": max((r.load_max for r in measured), default=0.0),
        "load_before_min": min((r.load_before for r in measured), default=0.0),
        "load_before_max": max((r.load_before for r in measured), default=0.0),
        "flat_rule": f"median growth < {FLAT_MEDIAN_PCT}% and max < {FLAT_MAX_PCT}% across backends, from each "
                     f"backend's first sample in the measured window to its last; applied to private memory "
                     f"(VmRSS - RssShmem) for the verdict, and reported for VmRSS",
    }
    LOAD_RESULTS.parent.mkdir(parents=True, exist_ok=True)
    LOAD_RESULTS.write_text(json.dumps({"meta": meta, "runs": [asdict(r) for r in runs]}, indent=2) + "\n",
                            encoding="utf-8")
    text = DOC.read_text(encoding="utf-8")
    if LOAD_BEGIN in text:
        head, _, rest = text.partition(LOAD_BEGIN)
        _, _, tail = rest.partition(LOAD_END)
        text = head + _doc_block(runs, meta) + tail
    else:
        text = text.rstrip("\n") + "\n\n## Load (pgbench, 8 and 32 clients)\n\n" + _doc_block(runs, meta) + "\n"
    DOC.write_text(text, encoding="utf-8")
    print(f"==> wrote {LOAD_RESULTS.relative_to(REPO)} and the Load section of {DOC.relative_to(REPO)}")
    return meta


def _failures(runs: list[LoadRun]) -> list[str]:
    return [f"{r.label}, {r.clients} clients: {'; '.join(r.error_detail)}" for r in runs if not r.ok]


def _settings(quick: bool) -> tuple[int, list[int]]:
    seconds = int(os.environ.get("CHURNML_BENCH_LOAD_SECONDS") or (20 if quick else 60))
    clients = [int(c) for c in (os.environ.get("CHURNML_BENCH_LOAD_CLIENTS") or "8,32").split(",")]
    return seconds, clients


def run(ctx: Context) -> list[Result]:
    """In `make bench`: CHURNML_BENCH_LOAD_SECONDS (60; 20 with --quick), CHURNML_BENCH_LOAD_CLIENTS (8,32)."""
    seconds, clients = _settings(ctx.quick)
    runs = measure(ctx.server_url(DATABASE), seconds, clients, skip_encoder="quick mode" if ctx.quick else "")
    record(runs, seconds)
    if failures := _failures(runs):
        raise RuntimeError("load benchmark had errors:\n" + "\n".join(failures))
    return _results(runs)


def main(argv: list[str] | None = None) -> int:
    from bench.run import _start_server, run_meta, save

    parser = argparse.ArgumentParser(prog="python -m bench.bench_load", description=__doc__.split("\n")[0])
    parser.add_argument("--duration", type=int, default=60, help="seconds per pgbench run (default 60)")
    parser.add_argument("--clients", default="8,32", help="comma-separated client counts (default 8,32)")
    parser.add_argument("--no-encoder", action="store_true", help="skip assess_customer with the encoder engine")
    parser.add_argument("--scripts", default=",".join(ORDER),
                        help=f"comma-separated, of {','.join(SCRIPTS)} (default: all but assess_nolog)")
    args = parser.parse_args(argv)
    clients = [int(c) for c in args.clients.split(",")]
    scripts = tuple(s for s in args.scripts.split(",") if s)
    if unknown := set(scripts) - set(SCRIPTS):
        parser.error(f"unknown scripts: {', '.join(sorted(unknown))}")
    runs = measure(_start_server()(DATABASE), args.duration, clients,
                   skip_encoder="--no-encoder" if args.no_encoder else "", scripts=scripts)
    if scripts != ORDER:  # a partial or diagnostic run: keep the recorded results
        path = BENCH_HOME / "load-partial.json"
        path.write_text(json.dumps({"runs": [asdict(r) for r in runs]}, indent=2) + "\n", encoding="utf-8")
        print(f"==> wrote {path} (not a full run: bench/results and docs unchanged)")
        return 1 if _failures(runs) else 0
    record(runs, args.duration)
    # the other benchmarks' rows keep the meta of the run that measured them; this run's is in load.json
    previous = json.loads(RESULTS.read_text(encoding="utf-8")).get("meta") if RESULTS.exists() else None
    save(_results(runs), previous or run_meta(False, 1), merge=True)
    if failures := _failures(runs):
        print("load benchmark had errors:\n" + "\n".join(failures), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
