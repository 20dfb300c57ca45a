"""The report's page: index.html from templates/report.html (Jinja2, autoescaped).

The template holds the page and its words; this module hands it the model and the
numbers computed for it, formatted where a table needs them as text.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any

import jinja2

from churnml.training import metrics as mx
from churnml.version import VERSION
from churnml_client.report.formatting import cutoff, fmt, money, percent, thousands
from churnml_client.report.queries import SPLITS, Model


@cache
def environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("churnml_client.report", "templates"),
        autoescape=True,  # every value is text: model, feature and deployment names reach the page escaped
        undefined=jinja2.StrictUndefined,  # a misspelt name in the template is an error, not an empty string
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters.update(cutoff=cutoff, fmt=fmt, money=money, percent=percent, thousands=thousands)
    return env


@dataclass(frozen=True)
class Share:
    feature: str
    share: str  # of the total gain, e.g. '46%'


@dataclass(frozen=True)
class Reading:
    """The numbers of the page's "In plain words" paragraph."""

    top: Share
    others: list[Share]  # the next two drivers
    test_rows: int
    test_auc: float | None
    flagged: int
    churners: int
    caught: str  # share of the churners flagged
    precision: str  # share of the flagged who churned


def reading(model: Model, inputs: Sequence[dict[str, Any]], counts: dict[str, int] | None) -> Reading | None:
    """None when the model makes no splits."""
    total = sum(r["total_gain"] for r in inputs)
    used = [r for r in inputs if r["weight"] > 0]
    if not used or total <= 0:
        return None
    shares = [Share(r["feature"], percent(r["total_gain"] / total)) for r in used[:3]]
    test = model.metrics.get("test") or {}
    flagged = churners = 0
    caught = precision = ""
    if counts is not None:
        churners = counts["tp"] + counts["fn"]
        flagged = counts["tp"] + counts["fp"]
        caught = percent(counts["tp"] / churners)
        precision = percent(counts["tp"] / flagged if flagged else 0.0)
    return Reading(top=shares[0], others=shares[1:], test_rows=test.get("rows", len(model.labels)),
                   test_auc=test.get("auc"), flagged=flagged, churners=churners, caught=caught, precision=precision)


def metric_rows(model: Model) -> list[list[str]]:
    """The metrics table at the report's cutoff (the deployment's): accuracy, precision, recall and F1 of
    the test rows are computed again from their stored scores at that cutoff; the training and validation
    rows' scores are not stored, so theirs are shown only when they were computed at that very cutoff."""
    at_cutoff = mx.rates(mx.confusion(model.labels, model.scores, model.threshold)) if model.has_holdout else None
    rows = []
    for split in SPLITS:
        m = model.metrics.get(split) or {}
        if not m:
            continue
        rate = m["positives"] / m["rows"] if m.get("rows") else None
        stored_at = m.get("threshold")
        if split == "test" and at_cutoff is not None:
            cutoff, rated = model.threshold, at_cutoff
        elif isinstance(stored_at, int | float) and abs(float(stored_at) - model.threshold) < 1e-12:
            cutoff, rated = float(stored_at), m
        else:
            cutoff, rated = None, {}
        rows.append([split, fmt(m.get("rows")), fmt(rate), fmt(m.get("auc")), fmt(cutoff, 2),
                     fmt(rated.get("accuracy")), fmt(rated.get("precision")), fmt(rated.get("recall")),
                     fmt(rated.get("f1")), fmt(m.get("log_loss"), 4), fmt(m.get("brier"), 4)])
    return rows


def weight_rows(inputs: Sequence[dict[str, Any]]) -> list[list[str]]:
    """Input features by the number of splits using them."""
    splits = sum(r["weight"] for r in inputs)
    gain = sum(r["total_gain"] for r in inputs)
    return [
        [r["feature"], r["group"], f"{r['weight']:,}", f"{r['weight'] / splits if splits else 0.0:.1%}",
         f"{r['total_gain'] / gain if gain else 0.0:.1%}", f"{r['gain']:,.2f}", f"{r['cover']:,.2f}"]
        for r in sorted(inputs, key=lambda r: -r["weight"])
    ]


def compare_rows(model: Model, compared: Sequence[Model]) -> list[list[str]]:
    return [[m.label, m.deployment or "not deployed", fmt((m.metrics.get("test") or {}).get("auc")),
             fmt((m.metrics.get("test") or {}).get("log_loss"), 4), str(len(m.spec.features))]
            for m in (model, *compared)]


def retrain_rows(retrains: Sequence[dict[str, Any]]) -> list[list[str]]:
    """churnml.retrain_history rows as the report's table shows them."""
    return [[r["started_at"].strftime("%Y-%m-%d %H:%M"), str(r["trigger"]), str(r["status"]),
             str(r["champion_id"] or ""), str(r["challenger_id"] or ""), fmt(r["champion_auc"]),
             fmt(r["challenger_auc"]), str(r["reason"])] for r in retrains]


def render(model: Model, compared: Sequence[Model], inputs: Sequence[dict[str, Any]], depths: Sequence[int],
           counts: dict[str, int] | None, best: dict[str, Any] | None, do_nothing: float | None,
           costs: dict[str, float], files: dict[str, str | None], tree_text: str, generated_at: datetime,
           production: dict[str, Any] | None = None) -> str:
    """index.html for `model` (and the models it is compared with)."""
    template = environment().get_template("report.html")
    return template.render(
        model=model, compared=compared, inputs=inputs, depths=depths, splits=SPLITS,
        training_split=model.training.get("split") or {},
        reading=reading(model, inputs, counts), counts=counts, rates=mx.rates(counts) if counts else None,
        best=best, do_nothing=do_nothing, costs=costs, files=files, tree_text=tree_text,
        metric_rows=metric_rows(model), weight_rows=weight_rows(inputs), compare_rows=compare_rows(model, compared),
        version=VERSION, generated_at=generated_at, production=production or {}, retrain_rows=retrain_rows,
    )
