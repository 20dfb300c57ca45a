"""The per-feature part of a FeatureSpec: its group, SQL type and fitted state.

Each group has its own state dataclass, so a stored spec says exactly what was
learned: the fill value of a numeric feature, the kept categories of a categorical
one, the encoder and width of a text one. The states are plain JSON once passed
through `dataclasses.asdict`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from churnml.training.feature_values import output_name

GROUPS = ("numeric", "categorical", "boolean", "text")
MISSING_STRATEGIES = ("native", "mean", "median", "zero")
UNKNOWN_CATEGORY = "all_zero"
# 64 keeps every US state (51 values in the walkthrough data) as its own column.
DEFAULT_MAX_CATEGORIES = 64
# A text column with more distinct values than this is free text, not a category.
DEFAULT_CATEGORICAL_MAX_DISTINCT = 100

Group = Literal["numeric", "categorical", "boolean", "text"]


@dataclass
class NumericState:
    missing: str = "native"
    fill: float | None = None  # fitted; None with 'native'


@dataclass
class CategoricalState:
    max_categories: int = DEFAULT_MAX_CATEGORIES
    categories: list[str] | None = None  # fitted, most frequent first
    dropped: int = 0  # fitted: training categories beyond max_categories (encode as all zeros)
    unknown: str = UNKNOWN_CATEGORY


@dataclass
class BooleanState:
    pass


@dataclass
class TextState:
    encoder: str | None = None  # fitted: the embedder's name
    dim: int | None = None  # fitted: embedding width


FeatureState = NumericState | CategoricalState | BooleanState | TextState
STATE_TYPES: dict[str, type[FeatureState]] = {
    "numeric": NumericState,
    "categorical": CategoricalState,
    "boolean": BooleanState,
    "text": TextState,
}


@dataclass
class Feature:
    name: str
    group: Group
    sql_type: str
    state: FeatureState
    fitted: bool = False

    def output_names(self) -> list[str]:
        """The model's input columns this feature expands to (needs a fitted spec for categorical/text)."""
        state = self.state
        if isinstance(state, CategoricalState):
            return [output_name(self.name, c) for c in state.categories or []]
        if isinstance(state, TextState):
            return [output_name(self.name, f"emb{i}") for i in range(state.dim or 0)]
        return [output_name(self.name)]
