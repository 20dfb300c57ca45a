"""Read a trained model's structure: feature importance, tree depths, the first tree.

Works from the validated model (churnml.scoring.artifact: compact node arrays), so
explaining a stored model needs no XGBoost at all, and a cancel is honoured between
trees. Importance follows XGBoost's definitions:

- weight: number of splits on the feature (the walkthrough's "times used");
- total_gain / total_cover: summed loss reduction / hessian over those splits;
- gain / cover: the totals divided by weight (average per split).

Importance per output column (`int_plan_yes`) can be folded back onto input
features (`int_plan`) with a FeatureSpec; contributions likewise.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from churnml import interrupts
from churnml.errors import InvalidParameter, UndefinedColumn
from churnml.training.feature_spec import FeatureSpec

if TYPE_CHECKING:
    from churnml.scoring.artifact import ModelArtifact

ModelLike = Any  # xgboost.Booster | bytes | bytearray | str | dict (parsed JSON) | ModelArtifact
IMPORTANCE_KEYS = ("weight", "gain", "total_gain", "cover", "total_cover")


def model_dict(model: ModelLike) -> dict[str, Any]:
    """The model document from a Booster, raw JSON/UBJSON bytes or text, or an already parsed dict.

    Bytes and text are validated completely first (churnml.scoring.artifact), and what
    comes back is the canonical document, so explanations never walk an unchecked tree.
    """
    if isinstance(model, Mapping):
        return dict(model)
    return artifact_of(model).document()


def artifact_of(model: ModelLike) -> ModelArtifact:
    """The validated model (churnml.scoring.artifact) of a Booster, JSON/UBJSON bytes or text, a parsed
    document, or a ModelArtifact already validated. Explanations read its compact node arrays: a model of
    a million nodes is never turned into a JSON document of Python objects (hundreds of MB)."""
    from churnml.scoring.artifact import ModelArtifact, read_artifact, validate_document

    if isinstance(model, ModelArtifact):
        return model
    if isinstance(model, Mapping):
        return validate_document(dict(model))
    if hasattr(model, "save_raw"):  # an xgboost.Booster; not imported so stored models need no XGBoost
        model = model.save_raw("json")
    if isinstance(model, bytearray | memoryview):
        model = bytes(model)
    return read_artifact(model)


def feature_names(model: ModelLike, output_names: Sequence[str] | None = None) -> list[str]:
    """Names of the model's input columns: `output_names` if given, else those stored
    in the model, else XGBoost's f0, f1, ..."""
    artifact = artifact_of(model)
    count = artifact.n_features
    names = list(output_names) if output_names is not None else list(artifact.feature_names)
    if not names:
        return [f"f{i}" for i in range(count)]
    if len(names) != count:
        raise InvalidParameter(
            "feature names do not match the model",
            detail=f"The model has {count} input columns, {len(names)} names were given.",
            hint="Pass the output names of the feature spec the model was trained with.",
        )
    return names


def feature_importance(
    model: ModelLike, output_names: Sequence[str] | None = None, spec: FeatureSpec | None = None
) -> dict[str, list[dict[str, Any]]]:
    """Importance per output column and, with a spec, per input feature.

    Returns {"outputs": [...], "inputs": [...]} ("inputs" empty without a spec),
    each row {"feature", "weight", "gain", "total_gain", "cover", "total_cover"},
    input rows also {"group", "outputs"}. Every column appears, unused ones with
    zeros; rows are sorted by total_gain, highest first, ties in model order.
    """
    artifact = artifact_of(model)
    if output_names is None and spec is not None:
        output_names = spec.output_names
    names = feature_names(artifact, output_names)
    weight = np.zeros(len(names))
    total_gain = np.zeros(len(names))
    total_cover = np.zeros(len(names))
    for tree in artifact.trees:
        interrupts.check()  # a few ms a tree of 131,072 nodes
        inner = np.frombuffer(tree.left, dtype=np.int32) != -1
        feature = np.frombuffer(tree.split_index, dtype=np.int32)[inner]
        np.add.at(weight, feature, 1)
        np.add.at(total_gain, feature, np.frombuffer(tree.loss_change, dtype=np.float64)[inner])
        np.add.at(total_cover, feature, np.frombuffer(tree.sum_hessian, dtype=np.float64)[inner])
    outputs = [
        _importance_row(name, int(w), g, c)
        for name, w, g, c in zip(names, weight, total_gain, total_cover, strict=True)
    ]
    inputs: list[dict[str, Any]] = []
    if spec is not None:
        by_output = {row["feature"]: row for row in outputs}
        for f in spec.features:
            members = f.output_names()
            row = _importance_row(
                f.name,
                sum(by_output[m]["weight"] for m in members),
                sum(by_output[m]["total_gain"] for m in members),
                sum(by_output[m]["total_cover"] for m in members),
            )
            inputs.append({**row, "group": f.group, "outputs": members})
    return {"outputs": _by_total_gain(outputs), "inputs": _by_total_gain(inputs)}


def _importance_row(name: str, weight: int, total_gain: float, total_cover: float) -> dict[str, Any]:
    return {
        "feature": name,
        "weight": weight,
        "gain": float(total_gain) / weight if weight else 0.0,
        "total_gain": float(total_gain),
        "cover": float(total_cover) / weight if weight else 0.0,
        "total_cover": float(total_cover),
    }


def _by_total_gain(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted(rows, key=lambda row: -row["total_gain"])  # stable: ties keep model order


def tree_depths(model: ModelLike) -> list[int]:
    """Depth of each tree (number of splits on its longest root-to-leaf path; a lone leaf is 0)."""
    return [tree.depth for tree in artifact_of(model).trees]


def _format_threshold(value: float) -> str:
    # split conditions are float32; print the shortest decimal that reads back the same
    return np.format_float_positional(np.float32(value), trim="-")


def _shown_nodes(tree: Any, max_nodes: int | None) -> set[int] | None:
    """The first `max_nodes` nodes of the tree breadth first (None: all of them)."""
    if max_nodes is None or len(tree.left) <= max_nodes:
        return None
    shown: set[int] = set()
    level = [0]
    while level and len(shown) < max_nodes:
        below = []
        for node in level:
            if len(shown) == max_nodes:
                break
            shown.add(node)
            if tree.left[node] != -1:
                below += [tree.left[node], tree.right[node]]
        level = below
    return shown


def _subtree_sizes(tree: Any) -> list[int]:
    """Nodes in each node's subtree (children have higher numbers than their parent in a validated tree)."""
    sizes = [1] * len(tree.left)
    for node in range(len(tree.left) - 1, -1, -1):
        if tree.left[node] != -1:
            sizes[node] += sizes[tree.left[node]] + sizes[tree.right[node]]
    return sizes


def tree_to_dict(model: ModelLike, index: int = 0, output_names: Sequence[str] | None = None, *,
                 max_nodes: int | None = None) -> dict[str, Any]:
    """One tree as nested dicts.

    Split nodes: {"node", "split": "cust_service_calls < 3.5", "feature",
    "threshold", "gain", "cover", "missing": "yes"|"no", "yes": {...}, "no": {...}}
    where "yes" is the branch taken when feature < threshold and "missing" says
    which branch a missing value takes. Leaves: {"node", "leaf", "cover"}, leaf
    being the margin (log-odds) contribution. With `max_nodes`, only the first
    max_nodes nodes (breadth first) are shown: a subtree left out is
    {"node", "nodes_not_shown": its number of nodes}.
    """
    artifact = artifact_of(model)
    trees = artifact.trees
    if not 0 <= index < len(trees):
        raise InvalidParameter(
            f"tree {index} does not exist",
            detail=f"The model has {len(trees)} trees, numbered from 0.",
            hint=f"Pass a tree number from 0 to {max(len(trees) - 1, 0)}.",
        )
    names = feature_names(artifact, output_names)
    tree = trees[index]
    shown = _shown_nodes(tree, max_nodes)
    sizes = _subtree_sizes(tree) if shown is not None else None

    def build(node: int) -> dict[str, Any]:
        if shown is not None and node not in shown:
            return {"node": node, "nodes_not_shown": sizes[node]}  # type: ignore[index]  # sizes is set whenever shown is
        if tree.left[node] == -1:
            return {"node": node, "leaf": float(tree.base_weight[node]), "cover": float(tree.sum_hessian[node])}
        name = names[tree.split_index[node]]
        threshold = _format_threshold(tree.split_condition[node])
        return {
            "node": node,
            "split": f"{name} < {threshold}",
            "feature": name,
            "threshold": float(threshold),
            "gain": float(tree.loss_change[node]),
            "cover": float(tree.sum_hessian[node]),
            "missing": "yes" if tree.default_left[node] else "no",
            "yes": build(tree.left[node]),
            "no": build(tree.right[node]),
        }

    return build(0)


def tree_to_text(model: ModelLike, index: int = 0, output_names: Sequence[str] | None = None, *,
                 max_nodes: int | None = None, tree: dict[str, Any] | None = None) -> str:
    """One tree as indented text, two spaces per level: a split line such as
    `cust_service_calls < 3.5  (gain 120.5, cover 800, missing → no)`, then its
    branches as `yes: ...` (feature < threshold) and `no: ...`, down to
    `leaf -0.18  (cover 400)` lines; a subtree `max_nodes` left out is one line
    `… 1023 nodes not shown`. `tree`: what tree_to_dict returned for the same arguments.
    """
    lines: list[str] = []

    def walk(node: dict[str, Any], depth: int, branch: str) -> None:
        pad = "  " * depth + (f"{branch}: " if branch else "")
        if "nodes_not_shown" in node:
            lines.append(f"{pad}… {node['nodes_not_shown']} nodes not shown")
            return
        if "leaf" in node:
            lines.append(f"{pad}leaf {node['leaf']:.6g}  (cover {node['cover']:.6g})")
            return
        lines.append(
            f"{pad}{node['split']}  (gain {node['gain']:.6g}, cover {node['cover']:.6g}, missing → {node['missing']})"
        )
        walk(node["yes"], depth + 1, "yes")
        walk(node["no"], depth + 1, "no")

    walk(tree if tree is not None else tree_to_dict(model, index, output_names, max_nodes=max_nodes), 0, "")
    return "\n".join(lines)


def group_contributions(
    output_names: Sequence[str], contribs: Sequence[float] | np.ndarray, spec: FeatureSpec
) -> list[tuple[str, float]]:
    """Fold one row's per-output-column contributions onto input features.

    `contribs` has one value per output column, optionally followed by the bias
    term (as XGBoost's pred_contribs returns it); the bias belongs to no feature
    and is left out. One-hot columns and embedding dimensions add up onto their
    input column. Returns (input feature, value) for every input feature, sorted by
    |value|, largest first, ties in spec order.
    """
    values = np.asarray(contribs, dtype=np.float64).ravel()
    if len(values) not in (len(output_names), len(output_names) + 1):
        raise InvalidParameter(
            "contributions do not match the output columns",
            detail=f"{len(values)} contributions for {len(output_names)} output columns.",
            hint="Pass one contribution per output column, optionally followed by the bias.",
        )
    sources = spec.output_sources()
    totals = dict.fromkeys(spec.input_names, 0.0)
    for name, value in zip(output_names, values.tolist(), strict=False):
        source = sources.get(name)
        if source is None:
            raise UndefinedColumn(
                f'output column "{name}" is not produced by the feature spec',
                detail=f"The spec produces: {', '.join(spec.output_names)}.",
                hint="Pass the output names of the spec the model was trained with.",
            )
        totals[source] += value
    return sorted(totals.items(), key=lambda item: -abs(item[1]))
