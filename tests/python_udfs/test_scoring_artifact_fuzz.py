"""Structure-aware fuzzing of churnml.scoring.artifact (issue 19): no artifact crashes anything.

Small real models are trained here (gbtree and dart, missing values, several depths,
pruned trees with deleted nodes, parallel trees; nothing binary is committed), saved as
JSON and UBJSON, and mutated one field at a time (artifact_mutations: every array and
scalar of the trees, learner and booster parameters, deleted keys, truncation, UBJ
markers and counts, JSON bytes, and valid changes). Each mutant goes through churnml's
validator in a child process (artifact_fuzz_child), so a crash is a signal exit that
names the mutant, which is saved for reproduction. A mutant must be either

- refused with a ChurnmlError: XX001 "malformed XGBoost model: ..." or 22023
  "unsupported XGBoost model: ...", or
- accepted, and then xgboost loading the raw mutant must not crash, nor refuse it,
  and must give churnml's probabilities (scorer, row path and C evaluator) to 1e-6 on a
  fixed matrix with missing values and values on the thresholds.

`make test` runs FUZZ_MUTANTS mutants; CHURNML_FUZZ_MUTANTS=200000 (and optionally
CHURNML_FUZZ_SEED) runs a longer campaign (docs/security.md). The tally per kind is
printed (pytest -s shows it) and written to fuzz-report.json in the mutants directory.
"""

from __future__ import annotations

import json
import os
import pickle
import signal
import subprocess
import sys
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.python_udfs import artifact_mutations as mutations

xgb = pytest.importorskip("xgboost")

REPO = Path(__file__).resolve().parents[2]
FUZZ_MUTANTS = int(os.environ.get("CHURNML_FUZZ_MUTANTS", "4000"))
FUZZ_SEED = int(os.environ.get("CHURNML_FUZZ_SEED", "19"))
BATCH = 1000  # mutants per child process: its start (importing xgboost) costs ~1 s
N_FEATURES = 12
TOLERANCE = 1e-6


def _data(seed: int, rows: int = 600) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(rows, N_FEATURES))
    x[:, -1] = np.round(x[:, -1] * 2)
    x[rng.random(x.shape) < 0.15] = np.nan
    y = (np.nan_to_num(x[:, 0]) - 0.5 * np.nan_to_num(x[:, 1]) + rng.normal(size=rows) > 0).astype(int)
    return x, y


def _bases() -> list[mutations.Base]:
    x, y = _data(1)
    named = xgb.DMatrix(x, y, feature_names=[f"c{i}" for i in range(N_FEATURES)])
    plain = xgb.DMatrix(x, y)
    common = {"objective": "binary:logistic", "seed": 1, "nthread": 1}
    models = {
        "gbtree-depth2": (named, {"max_depth": 2}, 4),
        "gbtree-depth5": (plain, {"max_depth": 5, "eta": 0.3}, 3),
        "exact-pruned": (plain, {"tree_method": "exact", "max_depth": 4, "gamma": 2.0}, 4),
        "dart": (named, {"booster": "dart", "max_depth": 3, "rate_drop": 0.5, "skip_drop": 0.0}, 4),
        "parallel": (plain, {"num_parallel_tree": 2, "max_depth": 2, "subsample": 0.8}, 2),
    }
    bases = [mutations.make_base(name, xgb.train({**common, **params}, matrix, rounds))
             for name, (matrix, params, rounds) in models.items()]
    pruned = mutations.trees(bases[2].doc["json"])
    assert any(tree["tree_param"]["num_deleted"] != "0" for tree in pruned), "no deleted nodes to fuzz"
    return bases


def _rows(bases: list[mutations.Base]) -> np.ndarray:
    """Missing values, and values on, next to and between every threshold of the base models."""
    x, _ = _data(2, rows=300)
    rng = np.random.default_rng(3)
    for base in bases:
        for tree in mutations.trees(base.doc["json"]):
            for node, left in enumerate(tree["left_children"]):
                if left == -1:
                    continue
                t = np.float32(tree["split_conditions"][node])
                value = rng.choice([t, np.nextafter(t, np.float32(-np.inf)), np.nextafter(t, np.float32(np.inf))])
                x[rng.integers(len(x)), tree["split_indices"][node]] = float(value)
    return x


def _mutants_dir() -> Path:
    home = os.environ.get("CHURNML_TEST_HOME")
    root = Path(home) if home else Path(os.environ.get("TMPDIR", "/tmp"))
    path = root / "artifact-fuzz"
    path.mkdir(parents=True, exist_ok=True)
    for old in path.glob("mutant-*"):  # what a previous run saved
        old.unlink()
    return path


def _run_child(rows: np.ndarray, batch: list[mutations.Mutant], work: Path) -> tuple[list[dict[str, Any]], int | None]:
    """Judge `batch` in one child; returns the outcomes and, if the child died, the mutant it died on."""
    batch_file = work / "batch.pickle"
    batch_file.write_bytes(pickle.dumps((rows, [(m.index, m.data) for m in batch])))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO / "python_udfs"), str(REPO)])}
    with open(work / "child-stderr.txt", "wb") as stderr:
        done = subprocess.run([sys.executable, "-m", "tests.python_udfs.artifact_fuzz_child", str(batch_file)],
                              stdout=subprocess.PIPE, stderr=stderr, env=env, cwd=REPO, timeout=1800)
    outcomes, begun = [], None
    for line in done.stdout.decode().splitlines():
        if line.startswith("begin "):
            begun = int(line.split()[1])
        else:
            outcomes.append(json.loads(line))
            begun = None
    if done.returncode != 0:
        return outcomes, begun if begun is not None else -1
    return outcomes, None


def _save(mutant: mutations.Mutant, why: str, work: Path) -> Path:
    path = work / f"mutant-{FUZZ_SEED}-{mutant.index}-{mutant.kind}.{mutant.fmt}"
    path.write_bytes(mutant.data)
    path.with_suffix(path.suffix + ".txt").write_text(f"{why}\n{mutant.what}\n")
    return path


def _problem(outcome: dict[str, Any]) -> str | None:
    if outcome["outcome"] == "refused":
        message = outcome["message"]
        if outcome["sqlstate"] == "XX001" and message.startswith("malformed XGBoost model: "):
            return None
        if outcome["sqlstate"] == "22023" and message.startswith(("unsupported XGBoost model: ", "model must be")):
            return None
        return f"refused with {outcome['sqlstate']} {message!r}"
    if outcome["outcome"] == "accepted":
        worst = max(v for k, v in outcome.items() if k in ("scorer", "rows", "canonical") and v is not None)
        return None if worst <= TOLERANCE else f"accepted, but probabilities differ by {worst:g}: {outcome}"
    return outcome["error"]


def test_no_mutant_crashes_and_accepted_ones_score_like_xgboost() -> None:
    bases = _bases()
    rows = _rows(bases)
    work = _mutants_dir()
    tally: dict[str, Counter[str]] = defaultdict(Counter)
    problems: list[str] = []
    pending = [mutations.mutant(bases, FUZZ_SEED, i) for i in range(min(BATCH, FUZZ_MUTANTS))]
    next_index = len(pending)
    while pending:
        by_index = {m.index: m for m in pending}
        outcomes, crashed = _run_child(rows, pending, work)
        for outcome in outcomes:
            mutant = by_index[outcome["index"]]
            tally[mutant.kind][outcome["outcome"]] += 1
            problem = _problem(outcome)
            if problem is not None:
                problems.append(f"{_save(mutant, problem, work)}: {mutant.what}: {problem}")
        done = {o["index"] for o in outcomes}
        rest = [m for m in pending if m.index not in done]
        if crashed is not None:
            mutant = by_index.get(crashed, rest[0] if rest else None)
            if mutant is not None:
                tally[mutant.kind]["crashed"] += 1
                problems.append(f"{_save(mutant, 'the child died', work)}: {mutant.what}: crashed")
                rest = [m for m in rest if m.index != mutant.index]
        fresh = min(BATCH - len(rest), FUZZ_MUTANTS - next_index)
        pending = rest + [mutations.mutant(bases, FUZZ_SEED, next_index + i) for i in range(max(fresh, 0))]
        next_index += max(fresh, 0)
    report = {kind: dict(counts) for kind, counts in sorted(tally.items())}
    (work / "fuzz-report.json").write_text(json.dumps({"seed": FUZZ_SEED, "mutants": FUZZ_MUTANTS,
                                                        "by_kind": report}, indent=1))
    print(f"\nartifact fuzz, seed {FUZZ_SEED}, {FUZZ_MUTANTS} mutants (accepted/refused/crashed/error per kind):")
    for kind, counts in report.items():
        print(f"  {kind:18} {counts.get('accepted', 0):7} {counts.get('refused', 0):7} "
              f"{counts.get('crashed', 0):3} {counts.get('error', 0):3}")
    assert sum(sum(c.values()) for c in tally.values()) == FUZZ_MUTANTS
    assert not problems, "\n".join(problems[:20])
    # every kind was exercised, and the valid changes were accepted
    assert set(report) == set(mutations.KINDS)
    assert report["valid-change"].get("accepted", 0) > 0.9 * sum(report["valid-change"].values())
    assert report["tree-pruned"].get("accepted", 0) > 0


def test_a_crash_in_the_child_is_caught_and_the_mutant_saved(tmp_path: Path) -> None:
    """The harness itself: a child killed by a signal names the mutant it was judging."""
    mutant = mutations.Mutant(0, "self-test", "kills its judge", "json", b"{}")
    script = f"import os, signal; print('begin 0', flush=True); os.kill(os.getpid(), {int(signal.SIGSEGV)})"
    done = subprocess.run([sys.executable, "-c", script], stdout=subprocess.PIPE, check=False)
    assert done.returncode == -signal.SIGSEGV
    assert done.stdout.decode().split() == ["begin", "0"]
    saved = _save(mutant, "the child died", tmp_path)
    assert saved.read_bytes() == b"{}"
