"""Scoring trained models inside the backend without importing their training libraries.

`CompiledModel` scores an XGBoost binary:logistic model from the JSON the registry
stores. Importing this package imports neither xgboost nor scikit-learn (nor numpy:
numpy is imported on first use of the matrix methods only), so a fresh connection
pays milliseconds, not the second xgboost's import costs.
"""

from churnml.scoring.compiled_trees import CompiledModel, float32_cutoff

__all__ = ["CompiledModel", "float32_cutoff"]
