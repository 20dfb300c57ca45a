"""The report's PNG plots (matplotlib, Agg backend): one function per file, each returning the file name.

    importance.png   feature importance by gain and by cover (input features, top 15)
    roc.png          ROC of train/validation/test, plus the test ROC of compared models
    scores.png       held-out test scores by actual outcome
    cost.png         total cost per cutoff on the held-out rows, the cheapest marked
    tree.png         the first tree as a diagram (its text form is on the page)
    depths.png       how deep the trees are
    drift.png        PSI of the score and of the features that moved most, per monitor run
    realized.png     realized AUC per period and model (logged calls with outcomes) against its test AUC
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from churnml.training import metrics as mx
from churnml_client.report.formatting import fmt, money
from churnml_client.report.production import MonitorRun, Realized
from churnml_client.report.queries import SPLITS, Model

TOP_FEATURES = 15
DPI = 110
STAYED_COLOR = "#4C72B0"
CHURNED_COLOR = "#DD8452"
SPLIT_STYLES = {
    "train": {"color": "#9aa5b1", "linestyle": "--", "linewidth": 1.4},
    "validation": {"color": "#5a6b7b", "linestyle": "-.", "linewidth": 1.6},
    "test": {"color": "#1f4e79", "linestyle": "-", "linewidth": 2.4},
}
COMPARE_COLORS = ("#C44E52", "#55A868", "#8172B2", "#CCB974", "#64B5CD", "#937860")


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")  # files only, never a display; must precede the pyplot import
    import matplotlib.pyplot as plt

    plt.rcParams["text.parse_math"] = False  # "$50 ... $500" and feature names are plain text, not TeX

    return plt


def _save(fig: Any, out_dir: Path, filename: str) -> str:
    fig.savefig(out_dir / filename, dpi=DPI, bbox_inches="tight", facecolor="white")
    _pyplot().close(fig)
    return filename


def plot_importance(rows: Sequence[dict[str, Any]], out_dir: Path) -> str:
    plt = _pyplot()
    used = [r for r in rows if r["weight"] > 0]
    measures = (
        ("gain", "Gain: average improvement per split", "average loss reduction per split on the feature"),
        ("cover", "Cover: average customers (weighted) per split", "average cover (hessian) per split on the feature"),
    )
    height = max(3.0, 0.36 * min(len(used), TOP_FEATURES) + 1.4)
    fig, axes = plt.subplots(1, 2, figsize=(13, height))
    for ax, (key, title, xlabel) in zip(axes, measures, strict=True):
        top = sorted(used, key=lambda r: -r[key])[:TOP_FEATURES][::-1]  # largest at the top
        values = [r[key] for r in top]
        bars = ax.barh([r["feature"] for r in top], values, color=CHURNED_COLOR if key == "gain" else STAYED_COLOR)
        ax.bar_label(bars, labels=[f"{v:,.1f}" for v in values], padding=3, fontsize=8)
        ax.set_title(title, fontsize=11)
        ax.set_xlabel(xlabel, fontsize=9)
        ax.margins(x=0.15)
        ax.tick_params(axis="y", labelsize=9)
        ax.grid(axis="x", alpha=0.3)
        ax.set_axisbelow(True)
    if not used:
        axes[0].text(0.5, 0.5, "the model makes no splits", transform=axes[0].transAxes, ha="center")
    fig.suptitle(f"Feature importance (input features, top {TOP_FEATURES})", fontsize=13)
    fig.tight_layout()
    return _save(fig, out_dir, "importance.png")


def _test_roc(model: Model) -> tuple[dict[str, list[Any]] | None, float | None]:
    test = model.metrics.get("test") or {}
    if test.get("roc"):
        return test["roc"], test.get("auc")
    if model.has_holdout:
        return mx.roc_curve(model.labels, model.scores), mx.roc_auc(model.labels, model.scores)
    return None, None


def plot_roc(model: Model, compared: Sequence[Model], counts: dict[str, int] | None, out_dir: Path) -> str:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7.5, 7))
    ax.plot([0, 1], [0, 1], color="#bbbbbb", linestyle=":", linewidth=1, label="chance (AUC 0.500)")
    for split in SPLITS:
        roc, auc = (_test_roc(model) if split == "test"
                    else ((model.metrics.get(split) or {}).get("roc"), (model.metrics.get(split) or {}).get("auc")))
        if roc:
            ax.plot(roc["fpr"], roc["tpr"], label=f"{model.label} {split} (AUC {fmt(auc)})", **SPLIT_STYLES[split])
    if counts is not None:
        tpr = counts["tp"] / (counts["tp"] + counts["fn"])
        fpr = counts["fp"] / (counts["fp"] + counts["tn"])
        ax.plot([fpr], [tpr], marker="o", markersize=9, color="black", linestyle="none",
                label=f"cutoff {model.threshold:g} on test: {tpr:.0%} caught, {fpr:.0%} of stayers flagged")
    for i, other in enumerate(compared):
        roc, auc = _test_roc(other)
        if roc:
            ax.plot(roc["fpr"], roc["tpr"], color=COMPARE_COLORS[i % len(COMPARE_COLORS)], linewidth=2,
                    label=f"{other.label} test (AUC {fmt(auc)})")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.01)
    ax.set_aspect("equal")
    ax.set_xlabel("false positive rate: share of stayers flagged")
    ax.set_ylabel("true positive rate: share of churners caught")
    ax.set_title("ROC curves (higher and further left is better)")
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right", fontsize=8.5, framealpha=0.95)
    return _save(fig, out_dir, "roc.png")


def plot_scores(model: Model, out_dir: Path) -> str:
    """Two panels sharing the probability axis: stayers far outnumber churners, so each gets its own count axis."""
    plt = _pyplot()
    fig, axes = plt.subplots(2, 1, figsize=(9, 6.2), sharex=True)
    bins = np.linspace(0, 1, 26)
    groups = (("stayed", 0, STAYED_COLOR), ("churned", 1, CHURNED_COLOR))
    for ax, (outcome, label, color) in zip(axes, groups, strict=True):
        values = model.scores[model.labels == label]
        flagged = int(np.count_nonzero(values > model.threshold))
        ax.hist(values, bins=bins, color=color, edgecolor="white",
                label=f"{outcome}: {len(values):,} customers, {flagged:,} flagged")
        ax.axvline(model.threshold, color="black", linestyle="--", linewidth=1.3,
                   label=f"cutoff {model.threshold:g}: flagged to the right")
        ax.set_ylabel("customers")
        ax.set_title(f"Customers who actually {outcome}", fontsize=10, loc="left")
        ax.grid(axis="y", alpha=0.3)
        ax.set_axisbelow(True)
        ax.legend(fontsize=9, loc="upper center")
    axes[1].set_xlim(0, 1)
    axes[1].set_xlabel("predicted churn probability")
    fig.suptitle(f"Held-out test customers by predicted churn probability ({len(model.scores):,} rows)", fontsize=12)
    fig.tight_layout()
    return _save(fig, out_dir, "scores.png")


def plot_costs(model: Model, rows: Sequence[dict[str, Any]], best: dict[str, Any], do_nothing: float,
               costs: dict[str, float], out_dir: Path) -> str:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(9, 5.2))
    ax.plot([r["threshold"] for r in rows], [r["cost"] for r in rows], color="#1f4e79", linewidth=2,
            label="total cost at each cutoff")
    ax.axhline(do_nothing, color=CHURNED_COLOR, linestyle="--", linewidth=1.5,
               label=f"doing nothing (no one flagged): {money(do_nothing)}")
    ax.axvline(model.threshold, color="#888888", linestyle=":", linewidth=1.3,
               label=f"deployed cutoff {model.threshold:g}")
    ax.plot([best["threshold"]], [best["cost"]], marker="o", markersize=10, color="#C44E52", linestyle="none",
            label=f"cheapest cutoff {best['threshold']:g}: {money(best['cost'])}")
    ax.annotate(f"cutoff {best['threshold']:g}\n{money(best['cost'])}", (best["threshold"], best["cost"]),
                xytext=(12, 28), textcoords="offset points", fontsize=9,
                arrowprops={"arrowstyle": "->", "color": "#C44E52"})
    ax.yaxis.set_major_formatter(lambda value, _pos: money(value))
    ax.set_xlim(0, 1)
    ax.set_ylim(min(0.0, *(r["cost"] for r in rows)), 1.08 * max(do_nothing, *(r["cost"] for r in rows)) or 1.0)
    ax.set_xlabel("cutoff: customers with a churn probability above it get the incentive")
    ax.set_ylabel(f"total cost on {len(model.scores):,} held-out customers")
    ax.set_title("Cost of each cutoff (flagged churner {tp}, flagged stayer {fp}, missed churner {fn}, "
                 "stayer left alone {tn})".format(**{k: money(v) for k, v in costs.items()}), fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=9, loc="lower right", framealpha=0.95)  # the curve rises to the right: free space below
    return _save(fig, out_dir, "cost.png")


def _tree_layout(root: dict[str, Any]) -> tuple[list[tuple[dict[str, Any], float, int]], int, int]:
    """(node, x, depth) for every node, leaves at 0, 1, 2, ... left to right; parents centred."""
    placed: list[tuple[dict[str, Any], float, int]] = []
    leaves = 0
    deepest = 0

    def place(node: dict[str, Any], depth: int) -> float:
        nonlocal leaves, deepest
        deepest = max(deepest, depth)
        if "leaf" in node:
            x = float(leaves)
            leaves += 1
        else:
            x = (place(node["yes"], depth + 1) + place(node["no"], depth + 1)) / 2
        placed.append((node, x, depth))
        return x

    place(root, 0)
    return placed, leaves, deepest


def plot_tree(root: dict[str, Any], out_dir: Path) -> str:
    plt = _pyplot()
    placed, leaves, deepest = _tree_layout(root)
    where = {id(node): (x, -depth) for node, x, depth in placed}
    fig, ax = plt.subplots(figsize=(min(max(8.0, 1.75 * leaves), 60.0), 1.5 * (deepest + 1) + 0.8))
    for node, x, depth in placed:
        if "leaf" in node:
            continue
        for branch in ("yes", "no"):
            cx, cy = where[id(node[branch])]
            ax.plot([x, cx], [-depth, cy], color="#888888", linewidth=1, zorder=1)
            text = f"{branch}, missing" if node["missing"] == branch else branch
            ax.text((x + cx) / 2, (-depth + cy) / 2, text, ha="center", va="center", fontsize=8,
                    color="#1f4e79" if branch == "yes" else "#7a2e00", zorder=3,
                    bbox={"boxstyle": "round,pad=0.15", "fc": "white", "ec": "none"})
    for node, x, depth in placed:
        if "leaf" in node:
            text = f"leaf {node['leaf']:+.3f}\ncover {node['cover']:.4g}"
            color = "#f8d3bd" if node["leaf"] > 0 else "#d3e6d3"
        else:
            text = node["split"]
            color = "#dbe7f3"
        ax.text(x, -depth, text, ha="center", va="center", fontsize=8.5, zorder=4,
                bbox={"boxstyle": "round,pad=0.4", "fc": color, "ec": "#555555", "lw": 0.8})
    ax.set_xlim(-0.7, leaves - 0.3)
    ax.set_ylim(-deepest - 0.45, 0.45)
    ax.axis("off")
    ax.set_title("The first tree. Go \"yes\" when the feature is below the threshold; a missing value follows "
                 "the branch marked \"missing\".\nLeaves add their value to the churn log-odds: "
                 "orange (+) pushes towards churn, green (−) towards staying.", fontsize=9.5)
    return _save(fig, out_dir, "tree.png")


def plot_depths(depths: Sequence[int], max_depth: Any, out_dir: Path) -> str:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 4))
    counts = np.bincount(np.asarray(depths, dtype=np.int64)) if depths else np.zeros(1, dtype=np.int64)
    levels = np.arange(len(counts))
    bars = ax.bar(levels, counts, color=STAYED_COLOR, width=0.7)
    ax.bar_label(bars, labels=[str(c) if c else "" for c in counts], padding=2, fontsize=9)
    ax.set_xticks(levels)
    ax.set_xlabel("tree depth (splits on the longest path from the root to a leaf)")
    ax.set_ylabel("trees")
    limit = f"; max_depth {max_depth}" if max_depth is not None else ""
    ax.set_title(f"Depth of the {len(depths)} trees{limit}")
    ax.margins(y=0.15)
    ax.grid(axis="y", alpha=0.3)
    ax.set_axisbelow(True)
    return _save(fig, out_dir, "depths.png")



DRIFT_FEATURES = 5  # features drawn besides the score: those with the highest PSI in any run


def plot_drift(runs: Sequence[MonitorRun], out_dir: Path) -> str:
    """The score's PSI (bold) and the most-moved features' per monitor run, with the latest run's warn and
    alert levels; a change of model is a dotted vertical line."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(10, 4.6))
    # runs are equally spaced, labelled with their time: daily checks and a burst of checks read alike
    times = list(range(len(runs)))
    peak: dict[str, float] = {}
    for run in runs:
        for feature, value in run.features.items():
            peak[feature] = max(peak.get(feature, 0.0), value)
    top = sorted(peak, key=lambda f: (-peak[f], f))[:DRIFT_FEATURES]
    for i, feature in enumerate(top):
        ax.plot(times, [r.features.get(feature, np.nan) for r in runs], marker="o", markersize=3, linewidth=1.2,
                color=COMPARE_COLORS[i % len(COMPARE_COLORS)], label=feature)
    if any(r.score_psi is not None for r in runs):
        ax.plot(times, [np.nan if r.score_psi is None else r.score_psi for r in runs], marker="o", markersize=4,
                linewidth=2.6, color="#1f4e79", label="score")
    latest = runs[-1]
    ax.axhline(latest.warn_psi, color="#CCB974", linestyle="--", linewidth=1, label=f"warn {latest.warn_psi:g}")
    ax.axhline(latest.alert_psi, color="#C44E52", linestyle="--", linewidth=1, label=f"alert {latest.alert_psi:g}")
    for before, after in itertools.pairwise(runs):
        if after.model_id != before.model_id:
            x = runs.index(after) - 0.5
            ax.axvline(x, color="#777777", linestyle=":", linewidth=1)
            ax.annotate(f"model {after.model_id}", (x, ax.get_ylim()[1]), fontsize=8, color="#555555",
                        rotation=90, va="top", ha="right")
    ax.set_ylabel("population stability index (PSI)")
    ax.set_title(f"Drift of the population against the model's training rows ({len(runs)} monitor runs)",
                 fontsize=11, loc="left")
    ax.grid(alpha=0.3)
    ax.set_axisbelow(True)
    ax.legend(fontsize=8, loc="upper left", ncol=2)
    step = max(1, len(runs) // 12)
    ax.set_xticks(times[::step], [runs[i].run_at.strftime("%Y-%m-%d\n%H:%M:%S") for i in times[::step]], fontsize=8)
    ax.set_xlabel("monitor run (UTC)")
    fig.tight_layout()
    return _save(fig, out_dir, "drift.png")


def plot_realized(rows: Sequence[Realized], out_dir: Path) -> str:
    """Realized AUC per period for each model and role (logged calls whose outcome arrived), beside the test
    AUC its held-out rows promised (dashed): a model whose customers changed falls below its line."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(10, 4.4))
    periods = sorted({r.period_start for r in rows if r.period_start is not None})
    position = {p: i for i, p in enumerate(periods)}
    series = sorted({(r.model_id, r.role) for r in rows})
    for i, (model_id, role) in enumerate(series):
        color = COMPARE_COLORS[i % len(COMPARE_COLORS)]
        points = [r for r in rows if (r.model_id, r.role) == (model_id, role) and r.auc is not None]
        xs = [position.get(r.period_start, 0) if r.period_start is not None else 0 for r in points]
        ax.plot(xs, [r.auc for r in points], marker="o", markersize=6, linewidth=1.8, color=color,
                linestyle="-" if role == "serving" else ":",
                label=f"model {model_id} ({role}), {sum(r.outcomes for r in points):,} outcomes")
        test_auc = next((r.test_auc for r in points if r.test_auc is not None), None)
        if test_auc is not None:
            ax.axhline(test_auc, color=color, linestyle="--", linewidth=1, alpha=0.7,
                       label=f"model {model_id}: test AUC {test_auc:.3f}")
    ax.set_xticks(range(len(periods)) or [0],
                  [p.strftime("%Y-%m-%d") for p in periods] or ["all"], fontsize=8)
    ax.set_xlim(-0.5, max(len(periods) - 0.5, 0.5))
    lowest = min([r.auc for r in rows if r.auc is not None] + [r.test_auc for r in rows if r.test_auc is not None])
    ax.set_ylim(min(0.5, lowest - 0.05), 1.0)
    ax.set_ylabel("AUC on logged calls with outcomes")
    ax.set_xlabel("period the calls were made in (UTC)")
    ax.set_title("Realized performance: how the answers did once the truth arrived", fontsize=11, loc="left")
    ax.grid(alpha=0.3)
    ax.set_axisbelow(True)
    ax.legend(fontsize=8, loc="lower left")
    fig.tight_layout()
    return _save(fig, out_dir, "realized.png")
