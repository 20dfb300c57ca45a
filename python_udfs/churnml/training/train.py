"""Train an XGBoost churn model (binary:logistic) with early stopping on validation AUC.

`train_model` takes an already encoded matrix, 0/1 labels and a `Split`; it never
touches the database. With `search`, it runs a seeded random search and keeps the
trial with the best validation AUC. The returned model is trimmed to its best
boosting round, so the stored model is exactly the one that was evaluated.

Progress messages (one per phase and per search trial) go to `progress`, which the
SQL layer turns into NOTICEs.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import xgboost as xgb

from churnml import interrupts
from churnml import progress as tracking
from churnml.errors import DataCorrupted, DataException, InvalidParameter
from churnml.training.hyperparams import FIXED, LOOP_KEYS, SearchPlan, plan_search, resolve_params
from churnml.training.jsonable import to_jsonable
from churnml.training.metrics import evaluate
from churnml.training.split import Split

Progress = Callable[[str], None]


@dataclass
class TrainResult:
    model_json: bytes  # booster.save_raw("json") of the trimmed model
    params: dict[str, Any]  # every parameter of the chosen model, loop settings included
    best_iteration: int  # 0-based boosting round with the best validation AUC
    n_trees: int  # trees in the stored model (= best_iteration + 1)
    validation_auc: float
    best_trial: int  # 1-based row of `trials` that produced the model
    trials: list[dict[str, Any]]
    learning_curve: list[float]  # validation AUC per round of the chosen trial
    metrics: dict[str, dict[str, Any]]  # evaluate() at 0.5 for train / validation / test
    timings: dict[str, float]
    search: dict[str, Any] | None = None
    feature_names: list[str] | None = None
    # probabilities per split, for threshold tuning without predicting again (not stored)
    predictions: dict[str, np.ndarray] = field(default_factory=dict, repr=False)

    def booster(self) -> xgb.Booster:
        return load_booster(self.model_json)

    def to_dict(self) -> dict[str, Any]:
        """Everything but the model and predictions, as plain JSON values."""
        return to_jsonable(
            {
                "params": self.params,
                "best_iteration": self.best_iteration,
                "n_trees": self.n_trees,
                "validation_auc": self.validation_auc,
                "best_trial": self.best_trial,
                "trials": self.trials,
                "learning_curve": self.learning_curve,
                "metrics": self.metrics,
                "timings": self.timings,
                "search": self.search,
                "feature_names": self.feature_names,
            }
        )  # type: ignore[return-value]  # a dict in, a dict out


@dataclass
class _Fit:
    booster: xgb.Booster
    best_iteration: int
    validation_auc: float
    curve: list[float]


def train_model(
    X: np.ndarray,
    y: np.ndarray,
    split: Split,
    params: Mapping[str, Any] | None = None,
    search: Mapping[str, Any] | None = None,
    progress: Progress | None = None,
    *,
    feature_names: Sequence[str] | None = None,
) -> TrainResult:
    """Train, select by validation AUC, trim to the best round, and evaluate every split.

    Raises InvalidParameter for unknown or out-of-range hyperparameters or search
    settings (naming the key), DataException for unusable data.
    """
    say = progress or (lambda _message: None)
    started = time.perf_counter()
    resolved, fixed = resolve_params(params)
    plan = plan_search(search, fixed) if search is not None else None
    matrix, labels = _check_data(X, y, split, feature_names)

    names = list(feature_names) if feature_names is not None else None
    nthread = resolved["nthread"]
    dtrain = xgb.DMatrix(matrix[split.train], label=labels[split.train], feature_names=names, nthread=nthread)
    dval = xgb.DMatrix(matrix[split.validation], label=labels[split.validation], feature_names=names, nthread=nthread)
    say(
        f"training on {len(split.train)} rows, validating on {len(split.validation)}, "
        f"testing on {len(split.test)}; {matrix.shape[1]} features"
    )
    prepared = time.perf_counter()

    if plan is None:
        say(
            f"training up to {resolved['num_boost_round']} rounds "
            f"(early stopping after {resolved['early_stopping_rounds']} rounds without validation AUC gain)"
        )
        trial_start = time.perf_counter()
        tracking.phase("boosting", total=resolved["num_boost_round"], unit="rounds")
        best = _fit_once(resolved, dtrain, dval)
        trials = [_trial_row(1, "fixed", {}, best, time.perf_counter() - trial_start)]
        best_trial, best_params = 1, resolved
    else:
        best, best_trial, best_params, trials = _random_search(resolved, plan, dtrain, dval, say)
    trained = time.perf_counter()

    model = best.booster[: best.best_iteration + 1]  # the stored model is the evaluated one
    say(
        f"keeping {best.best_iteration + 1} trees (the best of {len(best.curve)} rounds), "
        f"validation AUC {best.validation_auc:.4f}"
    )

    say("evaluating on the training, validation and test sets")
    tracking.phase("evaluating", total=len(split.parts()), unit="sets")
    predictions: dict[str, np.ndarray] = {}
    metrics: dict[str, dict[str, Any]] = {}
    for part, index in split.parts().items():
        if len(index) == 0:
            continue
        probs = model.inplace_predict(matrix[index]).astype(np.float64)
        predictions[part] = probs
        metrics[part] = evaluate(labels[index], probs)
        tracking.advance()
    finished = time.perf_counter()
    timings = {
        "prepare_seconds": prepared - started,
        "training_seconds": trained - prepared,
        "evaluation_seconds": finished - trained,
        "total_seconds": finished - started,
    }
    test_auc = metrics.get("test", {}).get("auc")
    say(f"done in {timings['total_seconds']:.1f} s" + (f"; test AUC {test_auc:.4f}" if test_auc else ""))

    return TrainResult(
        model_json=bytes(model.save_raw("json")),
        params={**FIXED, **best_params},
        best_iteration=best.best_iteration,
        n_trees=best.best_iteration + 1,
        validation_auc=best.validation_auc,
        best_trial=best_trial,
        trials=trials,
        learning_curve=best.curve,
        metrics=metrics,
        timings=timings,
        search=plan.to_dict() if plan is not None else None,
        feature_names=names,
        predictions=predictions,
    )


def _random_search(
    base: dict[str, Any], plan: SearchPlan, dtrain: xgb.DMatrix, dval: xgb.DMatrix, say: Progress
) -> tuple[_Fit, int, dict[str, Any], list[dict[str, Any]]]:
    """Trial 1 uses the base parameters (so the search never ends below them on
    validation); trials 2..n draw the searched ones. Ties keep the earlier trial."""
    rng = np.random.default_rng(plan.seed)
    names = ", ".join(r.name for r in plan.ranges)
    say(f"random search: {plan.trials} trials over {names} (seed {plan.seed})")
    best: _Fit | None = None
    best_trial, best_params = 0, base
    trials: list[dict[str, Any]] = []
    for trial in range(1, plan.trials + 1):
        if trial == 1:
            source, drawn = "baseline", {r.name: base.get(r.name) for r in plan.ranges}
        else:
            source, drawn = "random", {r.name: r.sample(rng) for r in plan.ranges}
        params = {**base, **{k: v for k, v in drawn.items() if v is not None}}
        trial_start = time.perf_counter()
        tracking.phase(f"boosting, trial {trial} of {plan.trials}", total=params["num_boost_round"], unit="rounds")
        fit = _fit_once(params, dtrain, dval)
        trials.append(_trial_row(trial, source, drawn, fit, time.perf_counter() - trial_start))
        improved = best is None or fit.validation_auc > best.validation_auc
        if improved:
            best, best_trial, best_params = fit, trial, params
        shown = ", ".join(f"{k}={_short(v)}" for k, v in drawn.items() if v is not None)
        say(
            f"trial {trial}/{plan.trials}: validation AUC {fit.validation_auc:.4f} at round "
            f"{fit.best_iteration + 1} ({shown}){' - best so far' if improved else ''}"
        )
    assert best is not None  # plan.trials >= 1
    return best, best_trial, best_params, trials


def _fit_once(params: dict[str, Any], dtrain: xgb.DMatrix, dval: xgb.DMatrix) -> _Fit:
    booster_params = {k: v for k, v in params.items() if k not in LOOP_KEYS}
    booster_params.update(FIXED)
    booster_params["verbosity"] = 0  # warnings would go to the server log, not the client
    early = params["early_stopping_rounds"]
    history: dict[str, dict[str, list[float]]] = {}
    booster = xgb.train(
        booster_params,
        dtrain,
        num_boost_round=params["num_boost_round"],
        evals=[(dval, "validation")],
        early_stopping_rounds=early or None,
        evals_result=history,
        verbose_eval=False,
        callbacks=[_Interruptible()],
    )
    curve = [float(v) for v in history["validation"]["auc"]]
    best_iteration = booster.best_iteration if early else len(curve) - 1
    return _Fit(booster, int(best_iteration), curve[best_iteration], curve)


class _Interruptible(xgb.callback.TrainingCallback):
    """Lets a cancel, statement_timeout or terminate take effect between boosting rounds."""

    def after_iteration(self, model: Any, epoch: int, evals_log: Any) -> bool:
        interrupts.check()
        tracking.set_done(epoch + 1)
        return False


def _trial_row(trial: int, source: str, drawn: dict[str, Any], fit: _Fit, seconds: float) -> dict[str, Any]:
    return {
        "trial": trial,
        "source": source,
        "params": dict(drawn),
        "best_iteration": fit.best_iteration,
        "validation_auc": fit.validation_auc,
        "seconds": seconds,
    }


def _short(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def _check_data(
    X: np.ndarray, y: np.ndarray, split: Split, feature_names: Sequence[str] | None
) -> tuple[np.ndarray, np.ndarray]:
    matrix = np.asarray(X, dtype=np.float64)
    labels = np.asarray(y, dtype=np.float64)
    if matrix.ndim != 2 or labels.ndim != 1 or matrix.shape[0] != labels.shape[0]:
        raise InvalidParameter(
            "the feature matrix and labels do not match",
            detail=f"Got a matrix of shape {matrix.shape} and {labels.shape[0] if labels.ndim else 0} labels.",
            hint="Pass one row of features per label, as FeatureSpec.transform returns them.",
        )
    if matrix.shape[1] == 0:
        raise InvalidParameter(
            "the feature matrix has no columns",
            detail="A model needs at least one feature.",
            hint="Select at least one feature column.",
        )
    if not np.isin(labels, (0.0, 1.0)).all():
        raise InvalidParameter(
            "labels must be 0 or 1",
            detail="churnml trains binary churn models.",
            hint="Normalise the label column with normalize_labels() first.",
        )
    if np.isinf(matrix).any():
        raise DataException(
            "the feature matrix contains infinite values",
            detail="XGBoost treats NaN as missing but cannot train on ±Infinity.",
            hint="Encode features with FeatureSpec.transform, which maps infinities to missing.",
        )
    used = np.concatenate([split.train, split.validation, split.test])
    if used.size and (used.min() < 0 or used.max() >= matrix.shape[0]):
        raise InvalidParameter(
            "the split does not belong to this data",
            detail=f"It refers to row {int(used.max())}, but there are {matrix.shape[0]} rows.",
            hint="Make the split from the same labels that are passed to train_model.",
        )
    for part, index in (("training", split.train), ("validation", split.validation)):
        part_labels = labels[index]
        if len(np.unique(part_labels)) < 2:
            raise DataException(
                f"the {part} set does not contain both classes",
                detail="Training and early stopping on AUC need churned and stayed customers in each set.",
                hint="Use stratified_split() to make the split.",
            )
    if feature_names is not None and len(feature_names) != matrix.shape[1]:
        raise InvalidParameter(
            "feature_names does not match the matrix",
            detail=f"{len(feature_names)} names for {matrix.shape[1]} columns.",
            hint="Pass the output names FeatureSpec.transform returned.",
        )
    return matrix, labels


def load_booster(model_json: bytes | bytearray | str) -> xgb.Booster:
    """A Booster from stored model JSON; DataCorrupted if it cannot be read.

    xgboost loads only the canonical document churnml writes from the validated model
    (churnml.scoring.artifact): its own loader trusts every index, and a crafted one
    crashes the process.
    """
    from churnml.scoring.artifact import read_artifact

    raw = read_artifact(bytes(model_json) if isinstance(model_json, bytearray) else model_json).canonical_json()
    try:
        return xgb.Booster(model_file=bytearray(raw))
    except xgb.core.XGBoostError as exc:
        raise DataCorrupted(
            "stored model cannot be loaded",
            detail=f"XGBoost said: {str(exc).splitlines()[0] if str(exc) else 'no reason given'}.",
            hint="Retrain the model; its stored JSON is damaged.",
        ) from None


def predict_proba(model: xgb.Booster | bytes | bytearray | str, X: np.ndarray) -> np.ndarray:
    """Churn probabilities (float64) for the rows of an encoded matrix."""
    booster = model if isinstance(model, xgb.Booster) else load_booster(model)
    return booster.inplace_predict(np.asarray(X, dtype=np.float64)).astype(np.float64)
