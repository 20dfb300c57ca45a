"""train_model and its hyperparameter whitelist / random search."""

from __future__ import annotations

import json

import numpy as np
import pytest

from churnml.errors import DataCorrupted, DataException, InvalidParameter
from churnml.training.hyperparams import RULES, Range, default_params, plan_search, resolve_params
from churnml.training.metrics import roc_auc
from churnml.training.split import Split, stratified_split
from churnml.training.train import TrainResult, load_booster, predict_proba, train_model

FAST = {"num_boost_round": 60, "early_stopping_rounds": 10}


@pytest.fixture(scope="module")
def data() -> tuple[np.ndarray, np.ndarray, Split]:
    rng = np.random.default_rng(11)
    n = 1500
    X = rng.normal(size=(n, 5))
    X[rng.random(n) < 0.1, 2] = np.nan
    logit = 1.5 * X[:, 0] - X[:, 1] + 0.5 * np.nan_to_num(X[:, 2]) - 1
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(np.int8)
    return X, y, stratified_split(y, seed=3)


@pytest.fixture(scope="module")
def trained(data: tuple[np.ndarray, np.ndarray, Split]) -> TrainResult:
    X, y, split = data
    return train_model(X, y, split, FAST, feature_names=["a", "b", "c", "d", "e"])


# --------------------------------------------------------------------- training


def test_model_is_trimmed_to_the_best_round(trained: TrainResult, data: tuple) -> None:
    X, y, split = data
    booster = trained.booster()
    assert booster.num_boosted_rounds() == trained.n_trees == trained.best_iteration + 1
    assert trained.n_trees <= len(trained.learning_curve)
    assert trained.validation_auc == max(trained.learning_curve)
    # the stored model reproduces the validation AUC early stopping picked it for
    val_auc = roc_auc(y[split.validation], predict_proba(trained.model_json, X[split.validation]))
    assert val_auc == pytest.approx(trained.validation_auc, abs=1e-5)
    assert trained.metrics["validation"]["auc"] == pytest.approx(val_auc)


def test_result_contents(trained: TrainResult) -> None:
    assert set(trained.metrics) == {"train", "validation", "test"}
    assert trained.metrics["test"]["auc"] > 0.75
    assert trained.params["objective"] == "binary:logistic"
    assert trained.params["eval_metric"] == "auc"
    assert trained.params["max_depth"] == 4 and trained.params["eta"] == 0.1
    assert trained.params["num_boost_round"] == 60
    assert trained.best_trial == 1 and len(trained.trials) == 1
    assert set(trained.timings) == {"prepare_seconds", "training_seconds", "evaluation_seconds", "total_seconds"}
    assert trained.search is None
    parsed = json.loads(trained.model_json)
    assert parsed["learner"]["feature_names"] == ["a", "b", "c", "d", "e"]
    assert trained.predictions["test"].dtype == np.float64


def test_to_dict_is_plain_json(trained: TrainResult) -> None:
    stored = trained.to_dict()
    assert json.loads(json.dumps(stored, allow_nan=False)) == stored
    assert "model_json" not in stored and "predictions" not in stored


def test_training_is_deterministic(data: tuple, trained: TrainResult) -> None:
    X, y, split = data
    again = train_model(X, y, split, FAST, feature_names=["a", "b", "c", "d", "e"])
    assert again.model_json == trained.model_json
    assert again.metrics == trained.metrics


def test_progress_messages(data: tuple) -> None:
    X, y, split = data
    messages: list[str] = []
    train_model(X, y, split, {"num_boost_round": 5}, progress=messages.append)
    assert messages[0].startswith("training on 1050 rows, validating on 300, testing on 150; 5 features")
    assert any(m.startswith("keeping ") for m in messages)
    assert messages[-1].startswith("done in ")


def test_early_stopping_can_be_turned_off(data: tuple) -> None:
    X, y, split = data
    result = train_model(X, y, split, {"num_boost_round": 12, "early_stopping_rounds": 0})
    assert result.n_trees == 12 and len(result.learning_curve) == 12


def test_aliases_and_nthread(data: tuple) -> None:
    X, y, split = data
    result = train_model(X, y, split, {"learning_rate": 0.3, "n_estimators": 5, "nthread": 1, "reg_lambda": 2})
    assert result.params["eta"] == 0.3 and result.params["lambda"] == 2.0 and result.params["nthread"] == 1
    assert "learning_rate" not in result.params


# --------------------------------------------------------------------- hyperparameter whitelist


def test_unknown_hyperparameter_names_the_key_and_lists_the_allowed() -> None:
    with pytest.raises(InvalidParameter) as caught:
        resolve_params({"max_dept": 5})
    err = caught.value
    assert err.message == 'unknown hyperparameter "max_dept"'
    assert err.detail and "max_depth" in err.detail and "colsample_bytree" in err.detail
    assert err.sqlstate == "22023"


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("max_depth", 0),
        ("max_depth", 2.5),
        ("max_depth", "4"),
        ("max_depth", True),
        ("eta", 0),
        ("eta", 1.5),
        ("eta", float("nan")),
        ("subsample", 0.0),
        ("colsample_bytree", 1.01),
        ("lambda", -1),
        ("tree_method", "gpu_hist"),
        ("num_boost_round", 0),
        ("nthread", 0),
        ("seed", -3),
        ("scale_pos_weight", 0),
    ],
)
def test_bad_hyperparameter_values_name_the_key(key: str, value: object) -> None:
    with pytest.raises(InvalidParameter) as caught:
        resolve_params({key: value})
    assert caught.value.message.startswith(f'invalid value for hyperparameter "{key}"')
    assert caught.value.hint


def test_fixed_and_duplicate_parameters() -> None:
    with pytest.raises(InvalidParameter, match='"objective" cannot be changed'):
        resolve_params({"objective": "reg:squarederror"})
    with pytest.raises(InvalidParameter, match='"eval_metric" cannot be changed'):
        resolve_params({"eval_metric": "logloss"})
    with pytest.raises(InvalidParameter, match="given twice"):
        resolve_params({"eta": 0.1, "learning_rate": 0.2})
    with pytest.raises(InvalidParameter, match="JSON object"):
        resolve_params([("eta", 0.1)])  # type: ignore[arg-type]


def test_resolved_params_are_defaults_plus_the_given() -> None:
    resolved, given = resolve_params({"max_depth": 6.0, "subsample": 1})
    assert resolved == {**default_params(), "max_depth": 6, "subsample": 1.0}
    assert type(resolved["max_depth"]) is int
    assert given == {"max_depth", "subsample"}
    assert 1 <= default_params()["nthread"] <= 2


# --------------------------------------------------------------------- random search


def test_random_search(data: tuple) -> None:
    X, y, split = data
    messages: list[str] = []
    search = {"trials": 4, "seed": 1, "space": {"max_depth": [2, 6], "eta": {"low": 0.05, "high": 0.3, "log": True}}}
    result = train_model(X, y, split, FAST, search, messages.append)
    assert [t["trial"] for t in result.trials] == [1, 2, 3, 4]
    assert result.trials[0]["source"] == "baseline"
    assert result.trials[0]["params"] == {"max_depth": 4, "eta": 0.1}
    assert all(t["source"] == "random" for t in result.trials[1:])
    best = max(result.trials, key=lambda t: t["validation_auc"])
    assert result.best_trial == best["trial"]
    assert result.validation_auc == best["validation_auc"]
    assert result.params["max_depth"] == best["params"]["max_depth"]
    assert result.search == {
        "trials": 4,
        "seed": 1,
        "space": {
            "max_depth": {"low": 2.0, "high": 6.0, "log": False},
            "eta": {"low": 0.05, "high": 0.3, "log": True},
        },
    }
    assert sum(m.startswith("trial ") for m in messages) == 4
    assert any(m.startswith("random search: 4 trials over max_depth, eta") for m in messages)
    assert json.loads(json.dumps(result.to_dict(), allow_nan=False))["trials"][1]["trial"] == 2
    again = train_model(X, y, split, FAST, search)
    assert [t["params"] for t in again.trials] == [t["params"] for t in result.trials]
    assert again.model_json == result.model_json


def test_default_space_skips_fixed_parameters() -> None:
    plan = plan_search({"trials": 2}, fixed={"max_depth", "eta"})
    names = [r.name for r in plan.ranges]
    assert names == ["min_child_weight", "subsample", "colsample_bytree", "lambda", "alpha", "gamma"]
    assert plan.seed == 0


def test_samples_stay_inside_their_ranges() -> None:
    rng = np.random.default_rng(0)
    plan = plan_search({"space": {name: None for name, rule in RULES.items() if rule.search}}, fixed=set())
    for r in plan.ranges:
        for _ in range(200):
            value = r.sample(rng)
            assert r.low <= value <= r.high
            if RULES[r.name].kind is int:
                assert type(value) is int
    choices = Range("tree_method", choices=("hist", "approx"))
    assert {choices.sample(rng) for _ in range(50)} == {"hist", "approx"}


def test_bare_range_uses_log_scale_only_above_zero() -> None:
    plan = plan_search({"space": {"lambda": [0.5, 8], "alpha": [0, 2], "reg_alpha": None}}, fixed=set())
    assert [(r.name, r.log) for r in plan.ranges] == [("lambda", True), ("alpha", False)]


@pytest.mark.parametrize(
    ("search", "message"),
    [
        ({"trails": 5}, 'unknown search setting "trails"'),
        ({"trials": 0}, "invalid search trials"),
        ({"trials": 2.5}, "invalid search trials"),
        ({"seed": -1}, "invalid search seed"),
        ({"space": {"max_dept": [2, 5]}}, 'unknown hyperparameter "max_dept"'),
        ({"space": {"max_depth": [6, 2]}}, "low > high"),
        ({"space": {"max_depth": [0, 4]}}, 'invalid value for hyperparameter "max_depth"'),
        ({"space": {"eta": {"low": 0, "high": 0.3, "log": True}}}, "invalid value for hyperparameter"),
        ({"space": {"gamma": {"low": 0, "high": 1, "log": True}}}, "must start above 0"),
        ({"space": {"eta": [0.1]}}, 'invalid search range for "eta"'),
        ({"space": {"eta": {"low": 0.1}}}, 'invalid search range for "eta"'),
        ({"space": {"tree_method": ["hist", "exact"]}}, "can only be searched over choices"),
        ({"space": {"tree_method": {"choices": ["gpu"]}}}, 'invalid value for hyperparameter "tree_method"'),
        ({"space": {"max_bin": None}}, "no default search range"),
        ({"space": {"colsample_bylevel": [0.5, 1]}, "trials": 3}, "both fixed in params and searched"),
        ({"space": []}, "search space must be a JSON object"),
    ],
)
def test_bad_search_settings(search: dict, message: str, data: tuple) -> None:
    X, y, split = data
    with pytest.raises(InvalidParameter, match=message):
        train_model(X, y, split, {"colsample_bylevel": 0.9}, search)


# --------------------------------------------------------------------- data problems


def test_data_problems(data: tuple) -> None:
    X, y, split = data
    with pytest.raises(InvalidParameter, match="do not match"):
        train_model(X[:-1], y, split)
    with pytest.raises(InvalidParameter, match="feature_names does not match"):
        train_model(X, y, split, feature_names=["a"])
    bad = X.copy()
    bad[0, 0] = np.inf
    with pytest.raises(DataException, match="infinite"):
        train_model(bad, y, split)
    with pytest.raises(InvalidParameter, match="0 or 1"):
        train_model(X, y * 2, split)
    one_class_validation = Split(
        train=split.train, validation=split.validation[y[split.validation] == 0], test=split.test,
        seed=0, fractions=(0.7, 0.2, 0.1),
    )  # fmt: skip
    with pytest.raises(DataException, match="validation set does not contain both classes"):
        train_model(X, y, one_class_validation)
    with pytest.raises(InvalidParameter, match="does not belong"):
        train_model(X[:100], y[:100], split)


def test_damaged_model_json() -> None:
    # refused by churnml's validator: xgboost never sees it
    with pytest.raises(DataCorrupted, match="malformed XGBoost model"):
        load_booster(b'{"learner": 1}')
    with pytest.raises(DataCorrupted):
        load_booster("not json")


def test_search_draws_are_the_same_release_after_release() -> None:
    """A search with the same seed tries the same parameters, also across releases (values taken on 0.3.0's
    sampler, which scikit-learn's ParameterSampler does not reproduce: see hyperparams.Range)."""
    import hashlib

    def draws(search: dict) -> list[dict]:
        plan = plan_search(search, set())
        rng = np.random.default_rng(plan.seed)  # as train._random_search draws trials 2..n
        return [{r.name: r.sample(rng) for r in plan.ranges} for _ in range(plan.trials - 1)]

    default = draws({"trials": 20, "seed": 0})
    assert default[0] == {"max_depth": 7, "eta": 0.02503, "min_child_weight": 1.369, "subsample": 0.5083,
                          "colsample_bytree": 0.9066, "lambda": 6.691, "alpha": 0.6066, "gamma": 3.647}
    assert hashlib.sha256(json.dumps(default).encode()).hexdigest() == (
        "6dfa262502a1d608aa790fb2973e9f0e93b16a4417de3e3631e7ee2c9c4e994f"
    )
    space = {"max_depth": {"low": 2, "high": 9, "log": True}, "tree_method": {"choices": ["hist", "approx"]},
             "eta": [0.01, 0.3]}
    assert draws({"trials": 5, "seed": 3, "space": space}) == [
        {"max_depth": 2, "tree_method": "hist", "eta": 0.1526},
        {"max_depth": 5, "tree_method": "hist", "eta": 0.01377},
        {"max_depth": 4, "tree_method": "approx", "eta": 0.01722},
        {"max_depth": 6, "tree_method": "hist", "eta": 0.01472},
    ]
