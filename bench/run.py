"""The benchmark harness: `make bench` (or `python -m bench.run [--quick] [--only NAME]`).

Each module `bench/bench_*.py` defines `run(ctx: Context) -> list[Result]`. Every
figure is the median of several runs, reported next to a baseline measured in the
same run on the same machine, so ratios stay meaningful across machines.
Results go to bench/results/latest.json and the table in docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results" / "latest.json"
DOC = REPO / "docs" / "benchmarks.md"
BEGIN, END = "<!-- bench:begin -->", "<!-- bench:end -->"
BENCH_HOME = Path(os.environ.get("CHURNML_BENCH_HOME", f"/tmp/churnml-bench-{os.getuid()}"))


@dataclass
class Result:
    name: str
    unit: str
    median: float
    runs: list[float]
    baseline: str
    baseline_median: float
    higher_is_better: bool = True
    target: str = ""
    notes: str = ""
    extra: dict[str, float] = field(default_factory=dict)

    @property
    def ratio(self) -> float:
        if not self.baseline_median:
            return float("nan")
        return self.median / self.baseline_median

    def as_dict(self) -> dict[str, object]:
        return {**asdict(self), "ratio": self.ratio}


@dataclass
class Context:
    quick: bool
    runs: int
    server_url: Callable[[str], str]  # database name -> URL (created on demand)

    def median_of(self, fn: Callable[[], float], runs: int | None = None) -> tuple[float, list[float]]:
        """Call fn (which returns a measurement) `runs` times; median and all values."""
        values = [fn() for _ in range(runs or self.runs)]
        return statistics.median(values), values


def ensure_customers(conn: Any, customers: int) -> None:
    """The demo data with exactly `customers` customers (seed 1), generated only when it differs."""
    from churnml_client import datagen

    have = conn.execute("SELECT count(*) FROM pg_tables WHERE tablename = 'customers'").fetchone()[0]
    n = conn.execute("SELECT count(*) FROM customers").fetchone()[0] if have else 0
    if n != customers:
        datagen.load(conn, customers, 1, progress=False)


def proc_status_mb(pid: int | str, field: str) -> float:
    """A memory line of /proc/<pid>/status (VmRSS, VmHWM, ...) in MB."""
    with open(f"/proc/{pid}/status", encoding="utf-8") as status:
        return int(next(ln for ln in status if ln.startswith(f"{field}:")).split()[1]) / 1024


def timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def _start_server() -> Callable[[str], str]:
    from churnml_client.embedded_pg import EmbeddedServer

    server = EmbeddedServer.from_environment(BENCH_HOME)
    server.start(database="")

    def url(database: str) -> str:
        server.ensure_database(database)
        return server.url(database)

    return url


def _write_doc(results: list[Result], meta: dict[str, object]) -> None:
    lines = [
        BEGIN,
        f"Last run: {meta['date']} on {meta['machine']} ({meta['cpus']} CPUs), "
        f"{'quick' if meta['quick'] else 'full'} mode. Medians of {meta['runs']} runs.",
        "",
        "| benchmark | median | baseline (same run) | ratio | target |",
        "|---|---|---|---|---|",
    ]
    for r in results:
        lines.append(
            f"| {r.name} | {r.median:,.1f} {r.unit} | {r.baseline}: {r.baseline_median:,.1f} {r.unit} "
            f"| {r.ratio:.2f}x | {r.target} |"
        )
    lines.append(END)
    block = "\n".join(lines)
    text = DOC.read_text(encoding="utf-8") if DOC.exists() else f"# Benchmarks\n\n{BEGIN}\n{END}\n"
    head, _, rest = text.partition(BEGIN)
    _, _, tail = rest.partition(END)
    DOC.write_text(head + block + tail, encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.run")
    parser.add_argument("--quick", action="store_true", help="smaller sizes, for a smoke run")
    parser.add_argument("--runs", type=int, default=3, help="runs per measurement (median reported)")
    parser.add_argument("--only", action="append", help="run only bench_<NAME>.py (repeatable)")
    args = parser.parse_args(argv)

    modules = sorted(p.stem for p in (REPO / "bench").glob("bench_*.py"))
    if args.only:
        modules = [m for m in modules if m.removeprefix("bench_") in args.only]
    ctx = Context(quick=args.quick, runs=args.runs, server_url=_start_server())
    results: list[Result] = []
    for name in modules:
        module = importlib.import_module(f"bench.{name}")
        if not hasattr(module, "run"):
            continue
        print(f"==> {name}", flush=True)
        for result in module.run(ctx):
            print(f"    {result.name}: {result.median:,.1f} {result.unit} "
                  f"(baseline {result.baseline}: {result.baseline_median:,.1f}; {result.ratio:.2f}x) {result.target}",
                  flush=True)
            results.append(result)
    save(results, run_meta(args.quick, args.runs), merge=bool(args.only))
    return 0


def run_meta(quick: bool, runs: int) -> dict[str, object]:
    return {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "machine": f"{platform.system()} {platform.machine()}",
        "cpus": os.cpu_count(),
        "python": sys.version.split()[0],
        "quick": quick,
        "runs": runs,
    }


def save(results: list[Result], meta: dict[str, object], *, merge: bool) -> None:
    """Write bench/results/latest.json and the table in docs/benchmarks.md.

    merge: keep the other benchmarks' results from the previous latest.json (a partial run).
    """
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    previous = json.loads(RESULTS.read_text(encoding="utf-8")) if RESULTS.exists() and merge else {}
    merged = {r["name"]: r for r in previous.get("results", [])}
    merged.update({r.name: r.as_dict() for r in results})
    RESULTS.write_text(json.dumps({"meta": meta, "results": list(merged.values())}, indent=2) + "\n",
                       encoding="utf-8")
    _write_doc([Result(**{k: v for k, v in r.items() if k != "ratio"}) for r in merged.values()], meta)
    print(f"==> wrote {RESULTS.relative_to(REPO)} and {DOC.relative_to(REPO)}")


if __name__ == "__main__":
    sys.exit(main())
