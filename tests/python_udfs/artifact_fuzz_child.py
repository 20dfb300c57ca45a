"""The child process of test_scoring_artifact_fuzz: judges a batch of mutants.

    python -m tests.python_udfs.artifact_fuzz_child BATCH_FILE

BATCH_FILE is a pickle of (rows, mutants): the matrix to score and a list of
(index, data) pairs. For each mutant the child prints `begin <index>` before it does
anything with it, then one JSON line with the outcome, flushing both, so that when a
mutant kills the process (a signal) the parent knows which one it was. Outcomes:

- refused: churnml's validator raised a ChurnmlError (sqlstate, message);
- accepted: churnml accepted it, and xgboost then loaded the *raw* mutant (and the
  canonical document) and predicted; the line carries the largest differences between
  xgboost's probabilities and those of churnml's evaluator (per matrix and per row) and
  of xgboost on the canonical document;
- error: anything else (a Python exception escaping the validator, xgboost refusing a
  mutant churnml accepted, a canonical document that does not validate to the same model).
"""

from __future__ import annotations

import json
import os
import pickle
import sys
import traceback
import warnings
from typing import Any

os.environ.setdefault("OMP_NUM_THREADS", "1")


def judge(data: bytes, rows: Any) -> dict[str, Any]:
    import numpy as np
    import xgboost as xgb

    from churnml.errors import ChurnmlError
    from churnml.scoring.artifact import read_artifact
    from churnml.scoring.tree_evaluator import TreeEvaluator

    try:
        model = read_artifact(data)
    except ChurnmlError as exc:
        return {"outcome": "refused", "sqlstate": exc.sqlstate, "message": exc.message[:200]}
    canonical = model.canonical_json()
    if read_artifact(canonical) != model:
        return {"outcome": "error", "error": "the canonical document does not validate to the same model"}
    evaluator = TreeEvaluator.from_artifact(model)
    ours = evaluator.predict_matrix(rows)
    by_row = np.array([evaluator.predict_row([None if v != v else v for v in row]) for row in rows[:8].tolist()])
    try:
        raw_booster = xgb.Booster(model_file=bytearray(data))
        expected = raw_booster.inplace_predict(rows)
        canonical_expected = xgb.Booster(model_file=bytearray(canonical)).inplace_predict(rows)
    except xgb.core.XGBoostError as exc:
        return {"outcome": "error", "error": f"xgboost refused an accepted mutant: {str(exc).splitlines()[0][:200]}"}
    return {
        "outcome": "accepted",
        "scorer": float(np.max(np.abs(ours - expected))),
        "rows": float(np.max(np.abs(by_row - expected[:8]))),
        "canonical": float(np.max(np.abs(canonical_expected - expected))),
    }


def main(batch_file: str) -> None:
    warnings.filterwarnings("ignore")  # xgboost warns about old model versions
    import xgboost as xgb

    xgb.set_config(verbosity=0)
    with open(batch_file, "rb") as handle:
        rows, mutants = pickle.load(handle)  # the parent wrote it a moment ago
    out = sys.stdout
    for index, data in mutants:
        out.write(f"begin {index}\n")
        out.flush()
        try:
            result = judge(data, rows)
        except Exception:  # noqa: BLE001 - a bug to report, with its traceback
            result = {"outcome": "error", "error": traceback.format_exc(limit=3)[-600:]}
        out.write(json.dumps({"index": index, **result}) + "\n")
        out.flush()


if __name__ == "__main__":
    main(sys.argv[1])
