"""`write_report`: the numbers (registry, explanations, holdout costs), then the plots, then the page."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg

from churnml.errors import ChurnmlError
from churnml.training import explain
from churnml.training import metrics as mx
from churnml_client.report import page, plots
from churnml_client.report.production import monitor_runs, realized, retrain_history
from churnml_client.report.queries import Model, business_costs, load_model

DEFAULT_COSTS = {"fp": 50.0, "fn": 500.0, "tp": 50.0, "tn": 0.0}


def write_report(
    conn: psycopg.Connection,
    name: str,
    out_dir: Path,
    *,
    compare: list[str] | None = None,
    fp_cost: float | None = None,
    fn_cost: float | None = None,
    tp_cost: float | None = None,
    tn_cost: float | None = None,
    say: Callable[[str], None] | None = None,
) -> Path:
    """Write out_dir/index.html and its PNGs for the model `name` serves (the latest model of a name not
    deployed, or model id `name`); returns index.html.

    Costs not given are the business costs set for the deployment (churnml.set_business_costs), else
    DEFAULT_COSTS. Raises ValueError for a name or id that does not exist and for a model that cannot
    be read.
    """
    replacing = _check_target(Path(out_dir))  # before any work: a directory of someone else's files is refused
    model = load_model(conn, name, say)
    compared = [load_model(conn, other, say) for other in compare or []]
    configured = business_costs(conn, model.deployment) or DEFAULT_COSTS
    given = {"fp": fp_cost, "fn": fn_cost, "tp": tp_cost, "tn": tn_cost}
    costs = {k: float(v) if v is not None else float(configured[k]) for k, v in given.items()}
    production = {"runs": monitor_runs(conn, model.deployment), "realized": realized(conn, model.deployment),
                  "retrains": retrain_history(conn, model.deployment)}
    try:
        index = _write(model, compared, Path(out_dir), costs, production)
    except ChurnmlError as exc:  # e.g. a cost that is not a number
        raise ValueError(str(exc)) from exc
    if replacing and say is not None:
        say(f"replaced the earlier report in {out_dir}")
    return index


# The files a report consists of: the only ones it writes, or replaces.
REPORT_FILES = ("index.html", "importance.png", "roc.png", "scores.png", "cost.png", "tree.png", "depths.png",
                "drift.png", "realized.png")
GENERATOR = '<meta name="generator" content="churnml report">'


def _check_target(out_dir: Path) -> bool:
    """Whether `out_dir` holds an earlier churnml report (whose files this one replaces). ValueError when
    it is not a directory, or holds files of a report's names that are not a churnml report's: a report
    never overwrites anyone else's files."""
    if out_dir.exists() and not out_dir.is_dir():
        raise ValueError(f"{out_dir} exists and is not a directory; choose another --out")
    present = [name for name in REPORT_FILES if (out_dir / name).exists()]
    if not present:
        return False
    index = out_dir / "index.html"
    try:
        head = index.read_text(encoding="utf-8", errors="replace")[:4096] if index.is_file() else ""
    except OSError:
        head = ""
    ours = GENERATOR in head or "<title>Churn model report: " in head  # 0.2.0's reports had no generator tag
    if not ours:
        raise ValueError(f"{out_dir} already holds {', '.join(present)}, which churnml report did not write; "
                         "choose another --out (a report replaces only an earlier churnml report)")
    return True


def _write(model: Model, compared: Sequence[Model], out_dir: Path, costs: dict[str, float],
           production: dict[str, Any]) -> Path:
    importance = explain.feature_importance(model.booster, spec=model.spec)
    inputs = importance["inputs"]
    output_names = model.spec.output_names
    depths = explain.tree_depths(model.booster)

    counts = cost_rows = best = do_nothing = None
    if model.has_holdout:
        counts = mx.confusion(model.labels, model.scores, model.threshold)
        cost_rows = mx.threshold_costs(model.labels, model.scores, costs["fp"], costs["fn"], costs["tp"],
                                       costs["tn"])
        best = mx.optimal_threshold(model.labels, model.scores, costs["fp"], costs["fn"], costs["tp"], costs["tn"])
        positives = int(model.labels.sum())
        do_nothing = positives * costs["fn"] + (len(model.labels) - positives) * costs["tn"]

    out_dir.mkdir(parents=True, exist_ok=True)  # only once everything computed: a bad cost leaves no directory
    for name in REPORT_FILES[1:]:  # an earlier report's plots that this one may not draw (e.g. no held-out rows)
        (out_dir / name).unlink(missing_ok=True)
    files = {
        "importance": plots.plot_importance(inputs, out_dir),
        "roc": plots.plot_roc(model, compared, counts, out_dir),
        "scores": plots.plot_scores(model, out_dir) if model.has_holdout else None,
        "cost": (plots.plot_costs(model, cost_rows, best, do_nothing, costs, out_dir)
                 if cost_rows and best is not None and do_nothing is not None else None),
        "tree": plots.plot_tree(explain.tree_to_dict(model.booster, 0, output_names), out_dir) if depths else None,
        "depths": plots.plot_depths(depths, model.params.get("max_depth"), out_dir),
        "drift": plots.plot_drift(production["runs"], out_dir) if production["runs"] else None,
        "realized": plots.plot_realized(production["realized"], out_dir) if production["realized"] else None,
    }
    tree_text = explain.tree_to_text(model.booster, 0, output_names) if depths else ""
    html = page.render(model, compared, inputs, depths, counts, best, do_nothing, costs, files, tree_text,
                       generated_at=datetime.now(UTC), production=production)
    index = out_dir / "index.html"
    index.write_text(html, encoding="utf-8")
    return index
