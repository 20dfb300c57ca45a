"""Scoring trained models inside the backend without importing their training libraries.

`TreeEvaluator` scores and explains an XGBoost binary:logistic model from the JSON the
registry stores, with churnml's C evaluator. Importing this package imports neither
xgboost nor scikit-learn (nor numpy: numpy is imported on first use of the matrix
methods only), so a fresh connection pays milliseconds, not the second xgboost's
import costs.
"""

from churnml.scoring.forest import float32_cutoff
from churnml.scoring.tree_evaluator import TreeEvaluator

__all__ = ["TreeEvaluator", "float32_cutoff"]
