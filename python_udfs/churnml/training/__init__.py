"""The pure-Python training core: labels, feature specs, splits, training, metrics, explanations.

Nothing here touches the database: the SQL layer fetches rows with SPI, passes
them in as columns, and stores what comes back (JSON-ready dicts and model JSON).
Typical flow:

    y = normalize_labels(rows[label], column=label)
    spec = infer_spec(column_types, rows, label=label)
    split = stratified_split(y, seed=42)
    spec.fit(rows, split.train)
    X, names = spec.transform(rows)
    result = train_model(X, y, split, params, search, progress, feature_names=names)
"""

from churnml.training.feature_spec import FeatureSpec, infer_spec
from churnml.training.labels import normalize_labels
from churnml.training.metrics import evaluate, optimal_threshold, threshold_costs
from churnml.training.split import Split, stratified_split
from churnml.training.train import TrainResult, load_booster, predict_proba, train_model

__all__ = [
    "FeatureSpec",
    "Split",
    "TrainResult",
    "evaluate",
    "infer_spec",
    "load_booster",
    "normalize_labels",
    "optimal_threshold",
    "predict_proba",
    "stratified_split",
    "threshold_costs",
    "train_model",
]
