"""What reporting progress (churnml.progress and its NOTICEs) costs the work it reports.

`python -m bench.run --only progress`. In the server, on the demo data (10,000 customers
with --quick, 100,000 otherwise) with a deployed model:

- churnml.score over every customer (500-row batches, so the progress calls are as frequent
  as churnml makes them), in sessions with progress reporting as shipped, against sessions
  where churnml.progress's functions were replaced by no-ops first (the baseline), alternated;
- the cost of each progress call, timed inside a backend: advance() between file writes
  (what a batch pays), a file write (at most one per 0.5 s while work advances), and an
  operation's start and end (one each per call of a covered function). From these and the
  number of calls score makes, the share of the work spent on progress.
"""

from __future__ import annotations

import time

import psycopg

from bench.run import Context, Result, ensure_customers

BATCH = 500
NO_PROGRESS = """
DO $$
from contextlib import contextmanager
from churnml import progress

@contextmanager
def nothing(*args, **kwargs):
    yield

progress.operation = nothing
progress.sub = nothing
progress.phase = lambda *args, **kwargs: None
progress.advance = lambda *args, **kwargs: None
progress.set_done = lambda *args, **kwargs: None
$$ LANGUAGE plpython3u
"""
COSTS = """
CREATE OR REPLACE FUNCTION bench_progress_costs(n int) RETURNS TABLE (what text, microseconds float8)
LANGUAGE plpython3u AS $$
import time
from churnml import progress

out = []
with progress.operation("bench", "advancing", total=n):
    progress.advance()  # the file opened
    started = time.perf_counter()
    for _ in range(n):
        progress.advance()
    out.append(("advance", (time.perf_counter() - started) / n * 1e6))
    started = time.perf_counter()
    for _ in range(n):
        progress._write()
    out.append(("file write", (time.perf_counter() - started) / n * 1e6))
started = time.perf_counter()
for _ in range(n):
    with progress.operation("bench", "nothing"):
        pass
out.append(("operation start and end", (time.perf_counter() - started) / n * 1e6))
return out
$$
"""


def _prepare(url: str, customers: int) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        ensure_customers(conn, customers)
        conn.execute("CREATE EXTENSION IF NOT EXISTS churnml CASCADE")
        if not conn.execute("SELECT count(*) FROM churnml.current_deployments WHERE name = 'churn'").fetchone()[0]:
            conn.execute("SELECT churnml.train('churn', 'customers', 'churn', exclude => ARRAY['phone'], "
                         "deploy => true)")
        conn.execute(COSTS)


def _score_seconds(url: str, progress: bool) -> float:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("SELECT churnml.will_churn(c) FROM customers c LIMIT 1")  # the model loaded
        if not progress:
            conn.execute(NO_PROGRESS)
        started = time.perf_counter()
        conn.execute(f"SELECT count(*) FROM churnml.score('customers', batch_size => {BATCH})").fetchone()
        return time.perf_counter() - started


def run(ctx: Context) -> list[Result]:
    customers = 10_000 if ctx.quick else 100_000
    url = ctx.server_url("bench_progress")
    _prepare(url, customers)
    with_runs: list[float] = []
    without_runs: list[float] = []
    for _ in range(max(ctx.runs, 5)):  # alternated: the machine's load hits both alike
        without_runs.append(_score_seconds(url, progress=False))
        with_runs.append(_score_seconds(url, progress=True))
    with_median = sorted(with_runs)[len(with_runs) // 2]
    without_median = sorted(without_runs)[len(without_runs) // 2]
    with psycopg.connect(url, autocommit=True) as conn:
        costs = dict(conn.execute("SELECT * FROM bench_progress_costs(20000)").fetchall())
    batches = -(-customers // BATCH)
    writes = with_median / 0.5 + 2 + 1  # throttled writes, the phase and the start, the end
    spent_us = batches * costs["advance"] + writes * costs["file write"] + costs["operation start and end"]
    share = spent_us / 1e6 / with_median * 100
    results = [
        Result(name=f"churnml.score of {customers:,} rows ({BATCH}-row batches), progress reported", unit="s",
               median=with_median, runs=with_runs, baseline="the same with churnml.progress's functions no-ops",
               baseline_median=without_median, higher_is_better=False,
               target="within the noise of the baseline"),
        Result(name="progress: its share of that score, from the cost of each call", unit="%",
               median=share, runs=[share], baseline="1% of the work", baseline_median=1.0, higher_is_better=False,
               target="well under 1%",
               extra={f"{what} (us)": value for what, value in costs.items()}),
    ]
    return results
