"""The per-statement serving cache forgets a name when this backend changes its deployment.

Statements sent in one Query message share one statement_timestamp(), the key of
the serving cache; so `SELECT churnml.deploy(...); SELECT churnml.will_churn(c) ...`
in one message must not score with the model cached before the deploy.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from churnml import registry
from churnml.scoring import model_cache
from churnml.sql_api import models
from churnml.version import VERSION
from tests.python_udfs.fake_plpy import FakePlpy


def _serving(statement: float) -> model_cache.Serving:
    return model_cache.Serving(statement=statement, model=object(), threshold=0.5)  # type: ignore[arg-type]


@pytest.fixture
def cached() -> Iterator[None]:
    model_cache.clear()
    model_cache._serving["churn"] = _serving(1.0)
    model_cache._serving["other"] = _serving(1.0)
    yield
    model_cache.clear()


# the endpoint_output of each deployment the fake registry inserted
outputs: list[str] = []


@pytest.fixture
def fake_registry(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, int]]:
    inserted: list[tuple[str, int]] = []
    outputs.clear()
    stored = registry.StoredModel(id=7, name="churn", artifact=b"{}", artifact_sha256="0" * 64,
                                  feature_spec={}, metrics={})

    def insert(plpy: Any, name: str, model_id: int, threshold: float, strategy: str, metrics: Any,
               cutoff_source: str | None, restores: int | None = None, endpoint_output: str = "probability") -> int:
        inserted.append((name, model_id))
        outputs.append(endpoint_output)
        return len(inserted)

    monkeypatch.setattr(registry, "pick_model", lambda plpy, name, model_id, strategy: (7, "specific"))
    monkeypatch.setattr(registry, "load_model", lambda plpy, model_id, expected_sha256=None: stored)
    monkeypatch.setattr(registry, "deployment_history",
                        lambda plpy, name: [{"id": 2, "model_id": 7, "threshold": 0.5, "restores": None,
                                             "endpoint_output": "label"},
                                            {"id": 1, "model_id": 3, "threshold": 0.4, "restores": None,
                                             "endpoint_output": "probability,label"}])
    monkeypatch.setattr(registry, "insert_deployment", insert)
    monkeypatch.setattr(models, "_compiled_check", lambda stored: None)
    monkeypatch.setattr(models, "_holdout_metrics", lambda plpy, model_id, threshold: {})
    return inserted


def test_forget_drops_only_that_name(cached: None) -> None:
    model_cache._explaining["churn"] = (1, object())  # type: ignore[assignment]
    model_cache.forget("churn")
    assert "churn" not in model_cache._serving and "churn" not in model_cache._explaining
    assert "other" in model_cache._serving
    model_cache.forget("never-cached")  # not an error


@pytest.mark.usefixtures("cached")
def test_deploy_forgets_the_name_it_deployed(fake_registry: list[tuple[str, int]]) -> None:
    models.deploy_model(FakePlpy(), "churn", 7, None, 0.3)
    assert fake_registry == [("churn", 7)]
    assert outputs == ["label"]  # a new model keeps the name's endpoint output
    assert "churn" not in model_cache._serving
    assert "other" in model_cache._serving


@pytest.mark.usefixtures("cached")
def test_rollback_forgets_the_name(fake_registry: list[tuple[str, int]]) -> None:
    result = models.rollback(FakePlpy(), VERSION, "churn")
    assert result["model_id"] == 3
    assert outputs == ["probability,label"]  # the endpoint output comes back with the model and cutoff
    assert "churn" not in model_cache._serving
    assert "other" in model_cache._serving


@pytest.mark.usefixtures("cached")
def test_a_refused_deploy_keeps_the_cached_serving(monkeypatch: pytest.MonkeyPatch,
                                                   fake_registry: list[tuple[str, int]]) -> None:
    from churnml.errors import DataCorrupted

    def corrupt(plpy: Any, model_id: int, expected_sha256: str | None = None) -> registry.StoredModel:
        raise DataCorrupted(f"the artifact of model {model_id} failed its checksum")

    monkeypatch.setattr(registry, "load_model", corrupt)
    with pytest.raises(DataCorrupted):
        models.deploy_model(FakePlpy(), "churn", 7, None, None)
    assert fake_registry == []
    assert model_cache._serving["churn"].statement == 1.0


# --------------------------------------------------------------------------- the budget


def _loaded(model_id: int, nodes: int) -> model_cache.LoadedModel:
    return model_cache.LoadedModel(model_id=model_id, sha256=f"{model_id:064d}", name=f"m{model_id}",
                                   spec=None, evaluator=None, encode_row=list, predict_row=len,  # type: ignore[arg-type]
                                   nodes=nodes)


@pytest.fixture
def empty_cache(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[int]]:
    """An empty cache in a statement whose start the test sets (the list's one element)."""
    statement = [1]
    monkeypatch.setattr(model_cache.server, "statement_start", lambda: statement[0])
    trims: list[int] = []
    monkeypatch.setattr(model_cache, "release_memory", lambda: trims.append(1))
    model_cache.clear()
    yield statement
    model_cache.clear()


def test_the_cache_keeps_models_within_the_node_budget(empty_cache: list[int]) -> None:
    """The review: a 524k-node model costs ~355 MB per backend and the cache kept 8 of any size."""
    big = model_cache.MAX_CACHED_NODES // 2
    for model_id in (1, 2):
        model_cache._remember(_loaded(model_id, big))
        empty_cache[0] += 1
    model_cache._serving["m1"] = model_cache.Serving(statement=1, model=model_cache._models[(1, f"{1:064d}")],
                                                     threshold=0.5)
    model_cache._pinned[1] = f"{1:064d}"
    model_cache._remember(_loaded(3, 1000))  # over the budget: the least recently used goes, and all that holds it
    assert [key[0] for key in model_cache._models] == [2, 3]
    assert "m1" not in model_cache._serving and 1 not in model_cache._pinned
    assert model_cache.cached_nodes() <= model_cache.MAX_CACHED_NODES
    # a model bigger than the whole budget is kept on its own: the statement needs it
    empty_cache[0] += 1
    model_cache._remember(_loaded(4, model_cache.MAX_CACHED_NODES + 1))
    assert [key[0] for key in model_cache._models] == [4]


def test_models_the_running_statement_uses_are_not_evicted(empty_cache: list[int]) -> None:
    big = model_cache.MAX_CACHED_NODES // 2 + 1
    model_cache._remember(_loaded(1, big))
    model_cache._remember(_loaded(2, big))  # same statement: both stay (no reload per row) ...
    assert [key[0] for key in model_cache._models] == [1, 2]
    empty_cache[0] += 1
    model_cache._remember(_loaded(3, 10))  # ... until a later statement loads another
    assert [key[0] for key in model_cache._models] == [2, 3]


def test_at_most_eight_models(empty_cache: list[int]) -> None:
    for model_id in range(12):
        empty_cache[0] += 1
        model_cache._remember(_loaded(model_id, 10))
    assert [key[0] for key in model_cache._models] == list(range(4, 12))


# --------------------------------------------------------------------------- ±Infinity


@pytest.mark.parametrize("sql_type", ["double precision", "numeric"])  # the plain path, and the general one
def test_rows_with_infinity_are_refused_and_nan_is_missing(sql_type: str) -> None:
    from decimal import Decimal

    from churnml.errors import DatatypeMismatch, NumericValueOutOfRange
    from churnml.training.feature_spec import infer_spec

    data = {"a": [1.0, 2.0, 3.0], "b": [0.5, None, 1.5]}
    spec = infer_spec({"a": sql_type, "b": sql_type}, data).fit(data)
    encode = model_cache._row_encoder(spec)
    nan = encode([float("nan"), None])
    assert all(v != v for v in nan)
    assert all(v != v for v in encode(["NaN", None]))  # will_churn(row): row_to_json spells float8 NaN "NaN"
    assert encode([1, 2.5]) == [1.0, 2.5]
    for value, shown in ((float("inf"), "Infinity"), (float("-inf"), "-Infinity"), ("-Infinity", "-Infinity"),
                         (Decimal("Infinity"), "Infinity")):
        with pytest.raises(NumericValueOutOfRange) as raised:
            encode([0.0, value])
        assert raised.value.message == f'feature "b" is {shown}, which churnml cannot score'
    with pytest.raises(DatatypeMismatch, match='feature "a"'):
        encode(["lots", 1.0])
    # training still reads infinities as missing values (docs/models.md)
    assert spec.transform_row([float("inf"), 1.0])[0] != spec.transform_row([float("inf"), 1.0])[0]


# --------------------------------------------------------------------------- rollback's order


def _event(id_: int, model_id: int, threshold: float, restores: int | None = None) -> dict[str, Any]:
    return {"id": id_, "model_id": model_id, "threshold": threshold, "restores": restores}


def test_rollback_undoes_events_in_order_instead_of_toggling() -> None:
    # deploy A (1), deploy B (2), set_threshold on B (3)
    history = [_event(3, 20, 0.3), _event(2, 20, 0.5), _event(1, 10, 0.12)]
    target = registry.undo_target(history)
    assert target is not None and target["id"] == 2  # set_threshold undone: B at its own cutoff
    history.insert(0, _event(4, 20, 0.5, restores=2))
    target = registry.undo_target(history)
    assert target is not None and target["id"] == 1  # then the deploy of B: A at 0.12
    history.insert(0, _event(5, 10, 0.12, restores=1))
    assert registry.undo_target(history) is None  # the first deployment: nothing before it
    history.insert(0, _event(6, 30, 0.2))  # deploy C after the rollbacks
    target = registry.undo_target(history)
    assert target is not None and target["id"] == 5
    assert registry.undo_target([_event(1, 10, 0.5)]) is None
    # a rollback row of 0.2.0 (no restores) counts as an ordinary event
    assert registry.undo_target([_event(3, 10, 0.5), _event(2, 20, 0.5), _event(1, 10, 0.5)])["id"] == 2


def test_explaining_says_once_per_statement_which_model_an_undeployed_name_means(
        monkeypatch: pytest.MonkeyPatch) -> None:
    statement = [1]
    monkeypatch.setattr(model_cache.server, "statement_start", lambda: statement[0])
    lookups: list[str] = []

    def resolve(plpy: Any, name: str, caller: str | None = None) -> tuple[int, str]:
        lookups.append(name)
        plpy.notice(f'{caller}: "{name}" is not deployed; using its latest model, 9')
        return 9, "latest"

    loaded = _loaded(9, 10)
    monkeypatch.setattr(registry, "resolve_model", resolve)
    monkeypatch.setattr(model_cache, "by_id", lambda plpy, model_id: loaded)
    model_cache.clear()
    plpy = FakePlpy()
    for _row in range(3):
        assert model_cache.explaining(plpy, "churn_small") is loaded
    assert lookups == ["churn_small"]
    assert plpy.notices == ['churnml.explain_churn: "churn_small" is not deployed; using its latest model, 9']
    statement[0] = 2  # the next statement looks again
    model_cache.explaining(plpy, "churn_small")
    assert lookups == ["churn_small", "churn_small"]
    model_cache.clear()
