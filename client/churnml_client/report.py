"""`churnml report NAME`: one model explained on an HTML page with PNG plots, for Marketing.

    index.html       summary, a plain-language reading, the plots and two tables
    importance.png   feature importance by gain and by cover (input features, top 15)
    roc.png          ROC of train/validation/test, plus the test ROC of compared models
    scores.png       held-out test scores by actual outcome
    cost.png         total cost per cutoff on the held-out rows, the cheapest marked
    tree.png         the first tree as a diagram (its text form is on the page)
    depths.png       how deep the trees are

Everything comes from the registry (churnml.models, churnml.current_deployments),
read with parameterised queries; the model structure is read from its stored JSON
with churnml.training.explain, so no scoring or retraining happens.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import psycopg

from churnml import registry
from churnml.errors import ChurnmlError
from churnml.training import explain
from churnml.training import metrics as mx
from churnml.training.feature_spec import FeatureSpec
from churnml.version import VERSION

TOP_FEATURES = 15
SPLITS = ("train", "validation", "test")
DPI = 110
STAYED_COLOR = "#4C72B0"
CHURNED_COLOR = "#DD8452"
SPLIT_STYLES = {
    "train": {"color": "#9aa5b1", "linestyle": "--", "linewidth": 1.4},
    "validation": {"color": "#5a6b7b", "linestyle": "-.", "linewidth": 1.6},
    "test": {"color": "#1f4e79", "linestyle": "-", "linewidth": 2.4},
}
COMPARE_COLORS = ("#C44E52", "#55A868", "#8172B2", "#CCB974", "#64B5CD", "#937860")

_MODEL_QUERY = """
    SELECT id, name, kind, created_at, created_by, artifact, artifact_format, artifact_sha256,
           feature_spec, metrics, training, params, holdout_labels, holdout_scores
    FROM churnml.models WHERE id = %s"""


@dataclass(frozen=True)
class Model:
    """One registry row, decoded, with the deployment that serves it (if any)."""

    id: int
    name: str
    created_at: datetime
    created_by: str
    booster: dict[str, Any]  # parsed XGBoost model JSON
    spec: FeatureSpec
    metrics: dict[str, Any]
    training: dict[str, Any]
    params: dict[str, Any]
    labels: np.ndarray  # held-out test rows: 1 churned, 0 stayed (may be empty)
    scores: np.ndarray
    deployment: str | None  # the name serving it, None if it serves no name
    threshold: float  # the deployed cutoff, else the one its metrics were computed at

    @property
    def label(self) -> str:
        return f"{self.name} #{self.id}"

    @property
    def has_holdout(self) -> bool:
        return len(self.labels) > 0 and 0 < int(self.labels.sum()) < len(self.labels)


# --------------------------------------------------------------------- reading


def _resolve(conn: psycopg.Connection, name_or_id: str) -> tuple[int, str | None, float | None]:
    """(model id, deployment name, deployed threshold) for a deployment name or a model id."""
    text = name_or_id.strip()
    if text.isdigit():
        row = conn.execute(
            "SELECT name, threshold FROM churnml.current_deployments WHERE model_id = %s ORDER BY name LIMIT 1",
            (int(text),),
        ).fetchone()
        return int(text), (row[0] if row else None), (float(row[1]) if row else None)
    row = conn.execute(
        "SELECT model_id, threshold FROM churnml.current_deployments WHERE name = %s", (text,)
    ).fetchone()
    if row is not None:
        return int(row[0]), text, float(row[1])
    names = [r[0] for r in conn.execute("SELECT name FROM churnml.current_deployments ORDER BY name")]
    trained = conn.execute("SELECT max(id) FROM churnml.models WHERE name = %s", (text,)).fetchone()[0]
    known = f"deployed: {', '.join(names)}" if names else "nothing is deployed yet"
    if trained is not None:
        raise ValueError(f'"{text}" is trained but not deployed ({known}); pass a model id, e.g. {trained}')
    raise ValueError(f'no deployment named "{text}" ({known}); pass a deployment name or a model id')


def _load(conn: psycopg.Connection, name_or_id: str) -> Model:
    model_id, deployment, threshold = _resolve(conn, name_or_id)
    row = conn.execute(_MODEL_QUERY, (model_id,)).fetchone()
    if row is None:
        raise ValueError(f"model {model_id} does not exist; the view churnml.model_summary lists the models")
    (id_, name, kind, created_at, created_by, artifact, fmt, checksum, spec_json, metrics, training, params,
     labels, scores) = row  # fmt: skip
    if kind != "churn":
        raise ValueError(f"model {id_} is a {kind} model; reports explain churn models")
    artifact = bytes(artifact)
    if registry.sha256(artifact) != checksum:
        raise ValueError(f"the artifact of model {id_} failed its checksum; it was changed outside churnml")
    try:
        booster = _parse_artifact(artifact, fmt, id_)
        spec = FeatureSpec.from_dict(spec_json)
        explain.feature_names(booster, spec.output_names)  # the spec must match the model
    except ChurnmlError as exc:
        raise ValueError(f"model {id_}: {exc}") from exc
    if threshold is None:
        threshold = float((metrics.get("test") or {}).get("threshold", mx.DEFAULT_THRESHOLD))
    labels = np.asarray([1 if v else 0 for v in labels or []], dtype=np.int8)
    scores = np.asarray(scores or [], dtype=np.float64)
    if len(labels) != len(scores):
        raise ValueError(f"model {id_} has {len(labels)} held-out labels but {len(scores)} scores")
    return Model(id=int(id_), name=name, created_at=created_at, created_by=created_by, booster=booster, spec=spec,
                 metrics=metrics or {}, training=training or {}, params=params or {}, labels=labels, scores=scores,
                 deployment=deployment, threshold=threshold)


def _parse_artifact(artifact: bytes, fmt: str, model_id: int) -> dict[str, Any]:
    if fmt in ("xgboost-json", "xgboost-ubj"):
        return explain.model_dict(artifact)  # validated by churnml (JSON or UBJSON), never loaded by xgboost
    raise ValueError(f"model {model_id} is stored as {fmt}; reports read XGBoost models")


# --------------------------------------------------------------------- plots


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


def _money(value: float) -> str:
    return f"-${-value:,.0f}" if value < 0 else f"${value:,.0f}"


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


def _test_roc(model: Model) -> tuple[dict[str, list] | None, float | None]:
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
            ax.plot(roc["fpr"], roc["tpr"], label=f"{model.label} {split} (AUC {_fmt(auc)})", **SPLIT_STYLES[split])
    if counts is not None:
        tpr = counts["tp"] / (counts["tp"] + counts["fn"])
        fpr = counts["fp"] / (counts["fp"] + counts["tn"])
        ax.plot([fpr], [tpr], marker="o", markersize=9, color="black", linestyle="none",
                label=f"cutoff {model.threshold:g} on test: {tpr:.0%} caught, {fpr:.0%} of stayers flagged")
    for i, other in enumerate(compared):
        roc, auc = _test_roc(other)
        if roc:
            ax.plot(roc["fpr"], roc["tpr"], color=COMPARE_COLORS[i % len(COMPARE_COLORS)], linewidth=2,
                    label=f"{other.label} test (AUC {_fmt(auc)})")
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
               label=f"doing nothing (no one flagged): {_money(do_nothing)}")
    ax.axvline(model.threshold, color="#888888", linestyle=":", linewidth=1.3,
               label=f"deployed cutoff {model.threshold:g}")
    ax.plot([best["threshold"]], [best["cost"]], marker="o", markersize=10, color="#C44E52", linestyle="none",
            label=f"cheapest cutoff {best['threshold']:g}: {_money(best['cost'])}")
    ax.annotate(f"cutoff {best['threshold']:g}\n{_money(best['cost'])}", (best["threshold"], best["cost"]),
                xytext=(12, 28), textcoords="offset points", fontsize=9,
                arrowprops={"arrowstyle": "->", "color": "#C44E52"})
    ax.yaxis.set_major_formatter(lambda value, _pos: _money(value))
    ax.set_xlim(0, 1)
    ax.set_ylim(min(0.0, *(r["cost"] for r in rows)), 1.08 * max(do_nothing, *(r["cost"] for r in rows)) or 1.0)
    ax.set_xlabel("cutoff: customers with a churn probability above it get the incentive")
    ax.set_ylabel(f"total cost on {len(model.scores):,} held-out customers")
    ax.set_title("Cost of each cutoff (flagged churner {tp}, flagged stayer {fp}, missed churner {fn}, "
                 "stayer left alone {tn})".format(**{k: _money(v) for k, v in costs.items()}), fontsize=10)
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


# --------------------------------------------------------------------- page

CSS = """
body { font-family: -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; margin: 2em auto; max-width: 1100px;
       color: #222; line-height: 1.45; padding: 0 1em; }
h1 { margin-bottom: 0.2em; } h2 { border-bottom: 1px solid #ddd; padding-bottom: 0.2em; margin-top: 2em; }
table { border-collapse: collapse; margin: 0.8em 0; }
th, td { border: 1px solid #ccc; padding: 0.3em 0.7em; text-align: right; }
th { background: #f3f5f7; } td.text, th.text { text-align: left; }
table.facts th { text-align: left; }
.reading { background: #f6f9fc; border-left: 4px solid #1f4e79; padding: 0.8em 1.1em; font-size: 1.05em; }
img { max-width: 100%; border: 1px solid #eee; }
.scroll { overflow-x: auto; } .scroll img { max-width: none; }
pre { background: #f7f7f7; padding: 0.8em; overflow-x: auto; font-size: 0.85em; }
p.note, footer { color: #666; font-size: 0.9em; }
"""


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _fmt(value: Any, digits: int = 3) -> str:
    if value is None:
        return "–"
    if isinstance(value, int):
        return f"{value:,}"
    return f"{float(value):.{digits}f}"


def _table(headers: Sequence[str], rows: Sequence[Sequence[Any]], *, text_columns: int = 1, css: str = "") -> str:
    def cell(tag: str, index: int, value: Any) -> str:
        cls = ' class="text"' if index < text_columns else ""
        return f"<{tag}{cls}>{_e(value)}</{tag}>"

    head = "".join(cell("th", i, h) for i, h in enumerate(headers))
    body = "".join("<tr>" + "".join(cell("td", i, v) for i, v in enumerate(row)) + "</tr>" for row in rows)
    cls = f' class="{_e(css)}"' if css else ""
    return f"<table{cls}><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _figure(filename: str | None, alt: str, caption: str, *, scroll: bool = False) -> str:
    if filename is None:
        return f'<p class="note">{_e(caption)}</p>'
    img = f'<img src="{_e(filename)}" alt="{_e(alt)}">'
    if scroll:
        img = f'<div class="scroll">{img}</div>'
    return f"<figure>{img}<figcaption>{_e(caption)}</figcaption></figure>"


def _reading(model: Model, inputs: Sequence[dict[str, Any]], counts: dict[str, int] | None,
             best: dict[str, Any] | None, do_nothing: float | None, costs: dict[str, float]) -> str:
    total = sum(r["total_gain"] for r in inputs)
    used = [r for r in inputs if r["weight"] > 0]
    if not used or total <= 0:
        return "The model makes no splits, so no feature drives its predictions."
    top = used[0]
    parts = [f"The strongest driver is {top['feature']}: splits on it account for "
             f"{top['total_gain'] / total:.0%} of everything the model learned (its total gain)"]
    others = [f"{r['feature']} ({r['total_gain'] / total:.0%})" for r in used[1:3]]
    parts[0] += f", followed by {' and '.join(others)}." if others else "."
    test = model.metrics.get("test") or {}
    auc = test.get("auc")
    if auc is not None:
        parts.append(f"On {test.get('rows', len(model.labels)):,} customers held out from training, a customer "
                     f"who churned gets a higher score than one who stayed {auc:.0%} of the time "
                     f"(test AUC {auc:.3f}).")
    if counts is not None:
        churners = counts["tp"] + counts["fn"]
        flagged = counts["tp"] + counts["fp"]
        precision = counts["tp"] / flagged if flagged else 0.0
        parts.append(f"At the cutoff {model.threshold:g} the model flags {flagged:,} of them and catches "
                     f"{counts['tp']:,} of the {churners:,} who churned ({counts['tp'] / churners:.0%}); "
                     f"{precision:.0%} of the flagged customers really churned.")
    if best is not None and do_nothing is not None:
        parts.append(f"With a flagged churner costing {_money(costs['tp'])}, a flagged stayer {_money(costs['fp'])}, "
                     f"a missed churner {_money(costs['fn'])} and a stayer left alone {_money(costs['tn'])}, the "
                     f"cheapest cutoff on these customers is {best['threshold']:g} at {_money(best['cost'])}, "
                     f"against {_money(do_nothing)} for doing nothing.")
    return " ".join(parts)


def write_report(
    conn: psycopg.Connection,
    name: str,
    out_dir: Path,
    *,
    compare: list[str] | None = None,
    fp_cost: float = 50.0,
    fn_cost: float = 500.0,
    tp_cost: float = 50.0,
    tn_cost: float = 0.0,
) -> Path:
    """Write out_dir/index.html and its PNGs for the model `name` serves (or model id `name`); returns index.html.

    Raises ValueError for a name or id that does not exist and for a model that cannot be read.
    """
    model = _load(conn, name)
    compared = [_load(conn, other) for other in compare or []]
    costs = {"fp": fp_cost, "fn": fn_cost, "tp": tp_cost, "tn": tn_cost}
    try:
        return _write(model, compared, Path(out_dir), costs)
    except ChurnmlError as exc:  # e.g. a cost that is not a number
        raise ValueError(str(exc)) from exc


def _write(model: Model, compared: Sequence[Model], out_dir: Path, costs: dict[str, float]) -> Path:
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
    files = {
        "importance": plot_importance(inputs, out_dir),
        "roc": plot_roc(model, compared, counts, out_dir),
        "scores": plot_scores(model, out_dir) if model.has_holdout else None,
        "cost": plot_costs(model, cost_rows, best, do_nothing, costs, out_dir) if cost_rows else None,
        "tree": plot_tree(explain.tree_to_dict(model.booster, 0, output_names), out_dir) if depths else None,
        "depths": plot_depths(depths, model.params.get("max_depth"), out_dir),
    }
    tree_text = explain.tree_to_text(model.booster, 0, output_names) if depths else ""
    page = _page(model, compared, inputs, depths, counts, best, do_nothing, costs, files, tree_text)
    index = out_dir / "index.html"
    index.write_text(page, encoding="utf-8")
    return index


def _page(model: Model, compared: Sequence[Model], inputs: Sequence[dict[str, Any]], depths: Sequence[int],
          counts: dict[str, int] | None, best: dict[str, Any] | None, do_nothing: float | None,
          costs: dict[str, float], files: dict[str, str | None], tree_text: str) -> str:
    training = model.training
    split = training.get("split") or {}
    split_rows = ", ".join(f"{(split.get(s) or {}).get('rows', 0):,} {s}" for s in SPLITS if split.get(s))
    rows_text = f"{training.get('rows', 0):,} rows" + (f": {split_rows}" if split_rows else "")
    served = (f'serves "{model.deployment}" with cutoff {model.threshold:g}' if model.deployment
              else f"not deployed; rates below use the cutoff {model.threshold:g}")
    facts = [
        ("Model id", model.id),
        ("Name", model.name),
        ("Deployment", served),
        ("Created", f"{model.created_at:%Y-%m-%d %H:%M:%S %Z} by {model.created_by}"),
        ("Training rows", rows_text),
        ("Source / label", f"{training.get('source', '?')} / {training.get('label', '?')}"),
        ("Input features", f"{len(inputs)} ({len(model.spec.output_names)} model columns)"),
        ("Trees", len(depths)),
        ("Threshold", f"{model.threshold:g} (a customer is flagged when the churn probability is above it)"),
    ]
    facts_html = "<table class=\"facts\"><tbody>" + "".join(
        f"<tr><th>{_e(k)}</th><td class=\"text\">{_e(v)}</td></tr>" for k, v in facts) + "</tbody></table>"

    metric_rows = []
    for s in SPLITS:
        m = model.metrics.get(s) or {}
        if not m:
            continue
        rate = m["positives"] / m["rows"] if m.get("rows") else None
        metric_rows.append([s, _fmt(m.get("rows")), _fmt(rate), _fmt(m.get("auc")), _fmt(m.get("threshold"), 2),
                            _fmt(m.get("accuracy")), _fmt(m.get("precision")), _fmt(m.get("recall")),
                            _fmt(m.get("f1")), _fmt(m.get("log_loss"), 4), _fmt(m.get("brier"), 4)])
    metrics_html = _table(["split", "rows", "churn rate", "AUC", "at cutoff", "accuracy", "precision", "recall",
                           "F1", "log loss", "Brier"], metric_rows)

    confusion_html = '<p class="note">The model has no held-out test rows with both outcomes.</p>'
    if counts is not None:
        rates = mx.rates(counts)
        confusion_html = (
            f"<p>Held-out test customers at the cutoff {_e(f'{model.threshold:g}')}"
            f"{_e(' (the deployed one)' if model.deployment else '')}:</p>"
            + _table(["", "predicted churn (flagged)", "predicted stay (not flagged)", "total"], [
                ["actually churned", f"tp = {counts['tp']:,}", f"fn = {counts['fn']:,}",
                 f"{counts['tp'] + counts['fn']:,}"],
                ["actually stayed", f"fp = {counts['fp']:,}", f"tn = {counts['tn']:,}",
                 f"{counts['fp'] + counts['tn']:,}"],
                ["total", f"{counts['tp'] + counts['fp']:,}", f"{counts['fn'] + counts['tn']:,}",
                 f"{sum(counts.values()):,}"],
            ])
            + "<p>" + _e("tp = predicted churn & churned, fp = predicted churn & stayed, fn = predicted stay & "
                         "churned, tn = predicted stay & stayed. At this cutoff: accuracy "
                         f"{rates['accuracy']:.3f}, precision {rates['precision']:.3f}, recall {rates['recall']:.3f},"
                         f" F1 {rates['f1']:.3f}.") + "</p>"
        )

    total_splits = sum(r["weight"] for r in inputs)
    total_gain = sum(r["total_gain"] for r in inputs)
    weight_rows = [
        [r["feature"], r["group"], f"{r['weight']:,}", f"{r['weight'] / total_splits if total_splits else 0.0:.1%}",
         f"{r['total_gain'] / total_gain if total_gain else 0.0:.1%}", f"{r['gain']:,.2f}", f"{r['cover']:,.2f}"]
        for r in sorted(inputs, key=lambda r: -r["weight"])
    ]
    weight_html = _table(["feature", "kind", "times used in a split (weight)", "share of splits",
                          "share of total gain", "gain per split", "cover per split"], weight_rows, text_columns=2)

    compare_html = ""
    if compared:
        rows = [[m.label, m.deployment or "not deployed", _fmt((m.metrics.get("test") or {}).get("auc")),
                 _fmt((m.metrics.get("test") or {}).get("log_loss"), 4), len(m.spec.features)]
                for m in (model, *compared)]
        compare_html = "<h3>Compared models (test split)</h3>" + _table(
            ["model", "deployment", "test AUC", "test log loss", "input features"], rows, text_columns=2)

    roc_caption = ("ROC curves: how many churners are caught (up) for how many stayers flagged (right) as the "
                   "cutoff moves. AUCs: " + "; ".join(
                       f"{model.label} {s} {_fmt((model.metrics.get(s) or {}).get('auc'))}" for s in SPLITS)
                   + "".join(f"; {m.label} test {_fmt((m.metrics.get('test') or {}).get('auc'))}" for m in compared))
    cost_caption = ("No held-out rows, so no cost curve." if best is None else
                    f"Total cost on the held-out customers at each cutoff from 0.00 to 1.00. Cheapest: "
                    f"{best['threshold']:g} ({_money(best['cost'])}: {best['tp']} churners caught, {best['fp']} "
                    f"stayers flagged, {best['fn']} churners missed); doing nothing costs {_money(do_nothing)}.")
    title = f"Churn model report: {model.name} (model {model.id})"
    sections = [
        f"<h1>{_e(title)}</h1>",
        facts_html,
        "<h2>In plain words</h2>",
        f'<p class="reading">{_e(_reading(model, inputs, counts, best, do_nothing, costs))}</p>',
        "<h2>What drives the predictions</h2>",
        _figure(files["importance"], "feature importance by gain and cover",
                "Gain: how much a split on the feature improves the model, on average. Cover: how many customers "
                "(weighted) such a split sorts, on average. One-hot columns count towards their input feature."),
        "<h3>Times used in a split</h3>",
        weight_html,
        "<h2>How well it separates churners from stayers</h2>",
        _figure(files["roc"], "ROC curves", roc_caption),
        compare_html,
        _figure(files["scores"], "histogram of held-out scores by outcome",
                "Held-out test customers by predicted churn probability, split by what they actually did (each "
                "panel has its own count axis: stayers far outnumber churners). Good separation: stayers on the "
                "left, churners on the right."
                if files["scores"] else "No held-out rows, so no score histogram."),
        "<h3>Metrics</h3>",
        metrics_html,
        "<p class=\"note\">" + _e("AUC, log loss and Brier score use the probabilities; accuracy, precision, "
                                  "recall and F1 use the cutoff shown. Lower log loss and Brier are better.") + "</p>",
        "<h3>Confusion matrix</h3>",
        confusion_html,
        "<h2>Choosing the cutoff</h2>",
        _figure(files["cost"], "threshold cost curve", cost_caption),
        "<h2>Inside the model</h2>",
        _figure(files["tree"], "the first tree", "The first of the model's trees; the others add their own "
                "corrections on top of it. The same tree as text:", scroll=True),
        f"<pre>{_e(tree_text)}</pre>" if tree_text else "",
        _figure(files["depths"], "histogram of tree depths", "How deep the trees grow."),
        f"<footer>{_e(f'Generated by churnml {VERSION} on {datetime.now(UTC):%Y-%m-%d %H:%M:%S} UTC.')}</footer>",
    ]
    body = "\n".join(s for s in sections if s)
    return (f'<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n<title>{_e(title)}</title>\n'
            f"<style>{CSS}</style>\n</head>\n<body>\n{body}\n</body>\n</html>\n")
