"""The hyperparameters churnml lets users set, their defaults, and random-search spaces.

Parameters come from SQL (a jsonb argument), so every name and value is checked
against a whitelist before XGBoost sees it: a typo such as `max_dept` must be an
error naming the key, not a silently ignored setting. The objective and evaluation
metric are fixed (binary churn, validation AUC) and cannot be overridden.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from churnml.errors import InvalidParameter


@dataclass(frozen=True)
class Rule:
    """What values one hyperparameter accepts."""

    kind: type  # int, float or str
    low: float | None = None
    high: float | None = None
    low_open: bool = False  # low itself is not allowed
    choices: tuple[str, ...] = ()
    search: tuple[float, float, bool] | None = None  # default search range (low, high, log)

    def describe(self) -> str:
        if self.choices:
            return "one of " + ", ".join(self.choices)
        kind = "an integer" if self.kind is int else "a number"
        left = "(" if self.low_open else "["
        high = "∞" if self.high is None else f"{self.high:g}"
        return f"{kind} in {left}{self.low:g}, {high}]"


RULES: dict[str, Rule] = {
    "max_depth": Rule(int, 1, 20, search=(2, 8, False)),
    "eta": Rule(float, 0, 1, low_open=True, search=(0.01, 0.3, True)),
    "min_child_weight": Rule(float, 0, None, search=(1, 10, False)),
    "subsample": Rule(float, 0, 1, low_open=True, search=(0.5, 1.0, False)),
    "colsample_bytree": Rule(float, 0, 1, low_open=True, search=(0.5, 1.0, False)),
    "colsample_bylevel": Rule(float, 0, 1, low_open=True),
    "colsample_bynode": Rule(float, 0, 1, low_open=True),
    "lambda": Rule(float, 0, None, search=(0.1, 10.0, True)),
    "alpha": Rule(float, 0, None, search=(0.0, 1.0, False)),
    "gamma": Rule(float, 0, None, search=(0.0, 5.0, False)),
    "max_delta_step": Rule(float, 0, None),
    "scale_pos_weight": Rule(float, 0, None, low_open=True),
    "max_bin": Rule(int, 2, 65536),
    "max_leaves": Rule(int, 0, 65536),
    "tree_method": Rule(str, choices=("hist", "approx", "exact")),
    "grow_policy": Rule(str, choices=("depthwise", "lossguide")),
    "num_boost_round": Rule(int, 1, 10000),
    "early_stopping_rounds": Rule(int, 0, 10000),  # 0 turns early stopping off
    "nthread": Rule(int, 1, 256),
    "seed": Rule(int, 0, 2**31 - 1),
}
# scikit-learn style spellings people copy from notebooks
ALIASES = {
    "learning_rate": "eta",
    "reg_lambda": "lambda",
    "reg_alpha": "alpha",
    "min_split_loss": "gamma",
    "n_estimators": "num_boost_round",
    "random_state": "seed",
}
FIXED = {"objective": "binary:logistic", "eval_metric": "auc"}
# Training-loop settings, not passed to XGBoost's parameter dict.
LOOP_KEYS = ("num_boost_round", "early_stopping_rounds")


def default_params() -> dict[str, Any]:
    """The parameters used when the user sets none."""
    return {
        "max_depth": 4,
        "eta": 0.1,
        "subsample": 0.8,
        "colsample_bytree": 0.8,
        "min_child_weight": 1.0,
        "tree_method": "hist",
        "num_boost_round": 300,
        "early_stopping_rounds": 30,
        # a backend shares the machine with other backends, so keep it small
        "nthread": min(2, os.cpu_count() or 1),
        "seed": 42,
    }


def _allowed_list() -> str:
    return ", ".join(sorted(RULES))


def canonical_name(key: Any) -> str:
    """The whitelist name for `key` (resolving aliases); InvalidParameter if unknown or fixed."""
    if not isinstance(key, str):
        raise InvalidParameter(
            f"hyperparameter names must be text, got {shown(key)}",
            detail=f"Allowed hyperparameters: {_allowed_list()}.",
            hint="Pass parameters as a JSON object of name: value.",
        )
    if key in FIXED:
        raise InvalidParameter(
            f'hyperparameter "{key}" cannot be changed',
            detail=f"churnml always trains {FIXED['objective']} models and selects them by validation "
            f"{FIXED['eval_metric']}.",
            hint=f'Remove "{key}" from the parameters.',
        )
    name = ALIASES.get(key, key)
    if name not in RULES:
        raise InvalidParameter(
            f'unknown hyperparameter "{key}"',
            detail=f"Allowed hyperparameters: {_allowed_list()}.",
            hint="Check the spelling; only the listed XGBoost parameters can be set.",
        )
    return name


def shown(value: Any) -> str:
    """A value for a message: its repr, at most 40 characters (a jsonb 1e400 arrives as a 401-digit int)."""
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 10**30:
        digits = len(str(abs(value))) if abs(value) < 10**4000 else "over 4000"
        return f"an integer of {digits} digits"
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "…"


def check_value(name: str, value: Any) -> int | float | str:
    """`value` as the right Python type for `name`; InvalidParameter naming the key and its allowed range
    if it is not one (NaN, infinite, beyond float range, the wrong type, outside the range)."""
    rule = RULES[name]

    def bad() -> InvalidParameter:
        return InvalidParameter(
            f'invalid value for hyperparameter "{name}": {shown(value)}',
            detail=f"{name} must be {rule.describe()}.",
            hint=f"Pass {rule.describe()} for {name}.",
        )

    if rule.kind is str:
        if not isinstance(value, str) or value not in rule.choices:
            raise bad()
        return str(value)
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
        raise bad()
    try:
        number = float(value)
    except OverflowError:  # an int beyond float range
        raise bad() from None
    if not math.isfinite(number):
        raise bad()
    if rule.kind is int and not number.is_integer():
        raise bad()
    assert rule.low is not None  # every numeric rule has a lower bound
    if number < rule.low or (rule.low_open and number == rule.low):
        raise bad()
    if rule.high is not None and number > rule.high:
        raise bad()
    return int(number) if rule.kind is int else number


def resolve_params(params: Mapping[str, Any] | None) -> tuple[dict[str, Any], set[str]]:
    """Defaults overlaid with the user's checked parameters, and the names the user set."""
    if params is not None and not isinstance(params, Mapping):
        raise InvalidParameter(
            "hyperparameters must be a JSON object",
            detail=f"Got {type(params).__name__}.",
            hint='Pass e.g. {"max_depth": 5, "eta": 0.05}.',
        )
    resolved = default_params()
    given: set[str] = set()
    for key, value in (params or {}).items():
        name = canonical_name(key)
        if name in given:
            raise InvalidParameter(
                f'hyperparameter "{name}" is given twice',
                detail=f'"{key}" is another spelling of "{name}".',
                hint="Give each parameter once.",
            )
        resolved[name] = check_value(name, value)
        given.add(name)
    return resolved, given


# --------------------------------------------------------------------- random search


@dataclass(frozen=True)
class Range:
    """Where one searched hyperparameter is drawn from.

    Hand-written rather than scikit-learn's ParameterSampler, which does not give the
    same result: it draws from a legacy RandomState, in sorted-name order, unrounded,
    so the same search seed would try other parameters and searched models would
    change (measured: 3 of the 152 values drawn for the default space with seed 0 are
    the same). tests/python_udfs/test_training_train.py pins the draws.
    """

    name: str
    low: float = 0.0
    high: float = 0.0
    log: bool = False
    choices: tuple[int | float | str, ...] = ()

    def sample(self, rng: np.random.Generator) -> int | float | str:
        if self.choices:
            return self.choices[int(rng.integers(len(self.choices)))]
        if RULES[self.name].kind is int:
            if self.log:
                drawn = math.exp(rng.uniform(math.log(self.low), math.log(self.high + 1)))
                return int(min(max(math.floor(drawn), self.low), self.high))
            return int(rng.integers(int(self.low), int(self.high) + 1))
        if self.log:
            drawn = math.exp(rng.uniform(math.log(self.low), math.log(self.high)))
        else:
            drawn = rng.uniform(self.low, self.high)
        # 4 significant digits keep trial tables readable; clip so rounding stays in range
        return min(max(float(f"{drawn:.4g}"), self.low), self.high)

    def to_dict(self) -> dict[str, Any]:
        if self.choices:
            return {"choices": list(self.choices)}
        return {"low": self.low, "high": self.high, "log": self.log}


@dataclass(frozen=True)
class SearchPlan:
    trials: int
    seed: int
    ranges: tuple[Range, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"trials": self.trials, "seed": self.seed, "space": {r.name: r.to_dict() for r in self.ranges}}


SEARCH_KEYS = ("trials", "space", "seed")
DEFAULT_TRIALS = 20
MAX_TRIALS = 1000


def _search_error(message: str, detail: str) -> InvalidParameter:
    return InvalidParameter(
        message,
        detail=detail,
        hint='Use e.g. {"trials": 20, "seed": 1, "space": {"max_depth": [3, 8], '
        '"eta": {"low": 0.01, "high": 0.3, "log": true}}}.',
    )


def plan_search(search: Mapping[str, Any], fixed: set[str]) -> SearchPlan:
    """Check a search request: {"trials": n, "seed": s, "space": {param: range}}.

    A range is [low, high], {"low", "high", "log"}, {"choices": [...]}, or null for
    the default range. Without "space", every parameter with a default range is
    searched except those fixed in params; a parameter both fixed and named in the
    space is an error, since it is not clear which should win.
    """
    if not isinstance(search, Mapping):
        raise _search_error("search must be a JSON object", f"Got {type(search).__name__}.")
    unknown = [key for key in search if key not in SEARCH_KEYS]
    if unknown:
        raise _search_error(f'unknown search setting "{unknown[0]}"', f"Allowed: {', '.join(SEARCH_KEYS)}.")
    trials = search.get("trials", DEFAULT_TRIALS)
    if isinstance(trials, bool) or not isinstance(trials, int) or not 1 <= trials <= MAX_TRIALS:
        raise _search_error(f"invalid search trials: {shown(trials)}", f"trials is an integer from 1 to {MAX_TRIALS}.")
    seed = search.get("seed", 0)
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise _search_error(f"invalid search seed: {shown(seed)}", "seed is a non-negative integer.")

    space = search.get("space")
    if space is None:
        entries: dict[str, Any] = {n: None for n, r in RULES.items() if r.search and n not in fixed}
    elif isinstance(space, Mapping):
        entries = {}
        for key, value in space.items():
            name = canonical_name(key)
            if name in fixed:
                raise _search_error(
                    f'hyperparameter "{name}" is both fixed in params and searched',
                    "A parameter is either set to one value or searched over a range.",
                )
            entries[name] = value
    else:
        raise _search_error("search space must be a JSON object", f"Got {type(space).__name__}.")
    if not entries:
        raise _search_error("the search space is empty", "Every searchable parameter is fixed in params.")
    ranges = tuple(_parse_range(name, value) for name, value in entries.items())
    return SearchPlan(trials=trials, seed=seed, ranges=ranges)


def _parse_range(name: str, value: Any) -> Range:
    rule = RULES[name]
    if value is None:
        if rule.search is None:
            raise _search_error(
                f'hyperparameter "{name}" has no default search range',
                f"Parameters with default ranges: {', '.join(n for n, r in RULES.items() if r.search)}.",
            )
        low, high, log = rule.search
        return Range(name, float(low), float(high), log)
    if isinstance(value, Mapping) and "choices" in value:
        choices = value["choices"]
        if set(value) != {"choices"} or not isinstance(choices, list) or not choices:
            raise _search_error(f'invalid search choices for "{name}"', "choices is a non-empty list of values.")
        return Range(name, choices=tuple(check_value(name, c) for c in choices))
    if rule.kind is str:
        raise _search_error(f'"{name}" can only be searched over choices', f"{name} must be {rule.describe()}.")
    list_form = isinstance(value, list | tuple) and len(value) == 2
    if list_form:
        low, high, log = value[0], value[1], False
    elif isinstance(value, Mapping) and {"low", "high"} <= set(value) <= {"low", "high", "log"}:
        low, high, log = value["low"], value["high"], value.get("log", False)
        if not isinstance(log, bool):
            raise _search_error(f'invalid "log" for "{name}": {shown(log)}', "log is true or false.")
    else:
        raise _search_error(
            f'invalid search range for "{name}": {shown(value)}',
            'A range is [low, high], {"low": .., "high": .., "log": ..}, {"choices": [..]} or null.',
        )
    low, high = float(check_value(name, low)), float(check_value(name, high))
    if list_form:  # a bare [low, high] follows the default range's scale when it can
        log = bool(rule.search and rule.search[2]) and low > 0
    if low > high:
        raise _search_error(f'search range for "{name}" has low > high', f"Got low {low:g}, high {high:g}.")
    if log and low <= 0:
        raise _search_error(f'log search range for "{name}" must start above 0', f"Got low {low:g}.")
    return Range(name, low, high, log)
