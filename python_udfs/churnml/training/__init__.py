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

Deliberately no imports here: the scoring path imports `churnml.training.feature_spec`
in every backend, and must not pay for xgboost and scikit-learn (~1 s), which only
training needs (`churnml.training.train`, and `churnml.training.metrics`' AUC, log loss
and Brier score, which import scikit-learn on first use).
"""
