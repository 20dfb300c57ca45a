"""Micro-benchmark: scoring an XGBoost binary:logistic model with churnml's evaluator vs xgboost.

Standalone: `python bench/bench_tree_scoring.py [--runs 5] [--rows 100000]`.
Trains a 100-tree depth-4 model on 20 features, then times, on the same rows
(5% missing values):

  (a) baseline: xgboost `inplace_predict` called once per row, as a per-row UDF
      would (a Python list turned into a 1 × 20 array each call); over the first
      --baseline-rows rows (default 10,000: the per-call cost does not depend on
      the row count and 100k calls would take ~20 s per run);
  (b) TreeEvaluator.predict_row, once per row (Python lists);
  (c) TreeEvaluator.predict_matrix on chunks of 10,000 rows, one thread;
  (d) xgboost `inplace_predict` on the whole matrix with nthread=1;
  (e) TreeEvaluator.contributions_matrix (TreeSHAP) on chunks of 10,000 rows, one thread,
      over the first --baseline-rows rows;
  (f) xgboost `predict(pred_contribs=True)` on the same rows, nthread=1.

Prints the median rows/s of --runs runs and ratios, plus the largest differences
from xgboost. Never exits non-zero: a failing measurement is reported and skipped.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO / "python_udfs") not in sys.path:  # standalone runs from a checkout
    sys.path.insert(0, str(REPO / "python_udfs"))

import numpy as np  # noqa: E402 - after the path setup above
import xgboost as xgb  # noqa: E402

from churnml.scoring import TreeEvaluator  # noqa: E402

N_FEATURES = 20
N_TREES = 100
DEPTH = 4
CHUNK = 10_000


def make_data(rows: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(rows, N_FEATURES))
    x[:, :5] = np.round(x[:, :5] * 4)  # some count-like columns, as in churn data
    weights = rng.normal(size=N_FEATURES)
    y = (x @ weights + rng.normal(size=rows) * 2 > 0).astype(int)
    x[rng.random(x.shape) < 0.05] = np.nan
    return x, y


def train() -> xgb.Booster:
    x, y = make_data(20_000, seed=1)
    params = {"objective": "binary:logistic", "max_depth": DEPTH, "eta": 0.1, "seed": 1, "nthread": 1}
    return xgb.train(params, xgb.DMatrix(x, y), N_TREES)


def rate(rows: int, work: Callable[[], object], runs: int) -> tuple[float, list[float]]:
    """Median rows/s over `runs` timings of `work`, and all of them."""
    values = []
    for _ in range(runs):
        start = time.perf_counter()
        work()
        values.append(rows / (time.perf_counter() - start))
    return statistics.median(values), values


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--baseline-rows", type=int, default=10_000)
    args = parser.parse_args(argv)

    booster = train()
    booster.set_param({"nthread": 1})
    raw = bytes(booster.save_raw("json"))
    start = time.perf_counter()
    model = TreeEvaluator.from_json(raw)
    load_ms = (time.perf_counter() - start) * 1000
    x, _ = make_data(args.rows, seed=2)
    rows = [[None if v != v else v for v in row] for row in x.tolist()]
    baseline_rows = rows[: args.baseline_rows]
    explained = x[: args.baseline_rows]
    print(f"model: {N_TREES} trees, depth {DEPTH}, {N_FEATURES} features; {args.rows:,} rows, "
          f"medians of {args.runs} runs")
    print(f"TreeEvaluator.from_json: {load_ms:.1f} ms")

    def per_row_xgboost() -> None:
        for row in baseline_rows:
            booster.inplace_predict(np.array([row], dtype=np.float64))

    def per_row() -> None:
        predict = model.predict_row
        for row in rows:
            predict(row)

    def chunked_matrix() -> None:
        for begin in range(0, len(x), CHUNK):
            model.predict_matrix(x[begin : begin + CHUNK])

    def chunked_contributions() -> None:
        for begin in range(0, len(explained), CHUNK):
            model.contributions_matrix(explained[begin : begin + CHUNK])

    cases = [
        ("(a) xgboost inplace_predict per row [baseline]", len(baseline_rows), per_row_xgboost),
        ("(b) TreeEvaluator.predict_row", len(rows), per_row),
        (f"(c) TreeEvaluator.predict_matrix, chunks of {CHUNK:,}", len(rows), chunked_matrix),
        ("(d) xgboost inplace_predict whole matrix, nthread=1", len(rows), lambda: booster.inplace_predict(x)),
        (f"(e) TreeEvaluator.contributions_matrix, chunks of {CHUNK:,}", len(explained), chunked_contributions),
        ("(f) xgboost predict(pred_contribs=True), nthread=1", len(explained),
         lambda: booster.predict(xgb.DMatrix(explained), pred_contribs=True)),
    ]
    results: dict[str, float] = {}
    for name, count, work in cases:
        try:
            median, values = rate(count, work, args.runs)
        except Exception:  # noqa: BLE001 - a benchmark reports a failure and goes on
            traceback.print_exc()
            continue
        results[name] = median
        print(f"{name:55s} {median:>12,.0f} rows/s  (runs: {', '.join(f'{v:,.0f}' for v in values)})")

    baseline = results.get(cases[0][0])
    whole = results.get(cases[3][0])
    for name, median in results.items():
        ratios = []
        if baseline:
            ratios.append(f"{median / baseline:8.1f}x baseline (a)")
        if whole:
            ratios.append(f"{median / whole:6.2f}x xgboost matrix (d)")
        print(f"  {name[:3]} {'; '.join(ratios)}")

    try:
        expected = booster.inplace_predict(x)
        by_row = np.array([model.predict_row(row) for row in rows[:20_000]])
        contributions = booster.predict(xgb.DMatrix(explained[:1000]), pred_contribs=True)
        print(f"max |difference| vs xgboost: predict_row {np.abs(by_row - expected[:20_000]).max():.2e}, "
              f"predict_matrix {np.abs(model.predict_matrix(x) - expected).max():.2e}, "
              f"contributions {np.abs(model.contributions_matrix(explained[:1000]) - contributions).max():.2e}")
    except Exception:  # noqa: BLE001 - same: report, never fail
        traceback.print_exc()
    return 0


if __name__ == "__main__":
    sys.exit(main())
