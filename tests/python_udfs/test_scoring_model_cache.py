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


@pytest.fixture
def fake_registry(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, int]]:
    inserted: list[tuple[str, int]] = []
    stored = registry.StoredModel(id=7, name="churn", artifact=b"{}", artifact_sha256="0" * 64,
                                  feature_spec={}, metrics={})

    def insert(plpy: Any, name: str, model_id: int, threshold: float, strategy: str, metrics: Any) -> int:
        inserted.append((name, model_id))
        return len(inserted)

    monkeypatch.setattr(registry, "pick_model", lambda plpy, name, model_id, strategy: (7, "specific"))
    monkeypatch.setattr(registry, "load_model", lambda plpy, model_id, expected_sha256=None: stored)
    monkeypatch.setattr(registry, "deployment_history",
                        lambda plpy, name: [{"model_id": 7, "threshold": 0.5}, {"model_id": 3, "threshold": 0.4}])
    monkeypatch.setattr(registry, "insert_deployment", insert)
    monkeypatch.setattr(models, "_compiled_check", lambda stored: None)
    monkeypatch.setattr(models, "_holdout_metrics", lambda plpy, model_id, threshold: {})
    return inserted


def test_forget_drops_only_that_name(cached: None) -> None:
    model_cache.forget("churn")
    assert "churn" not in model_cache._serving
    assert "other" in model_cache._serving
    model_cache.forget("never-cached")  # not an error


@pytest.mark.usefixtures("cached")
def test_deploy_forgets_the_name_it_deployed(fake_registry: list[tuple[str, int]]) -> None:
    models.deploy_model(FakePlpy(), "churn", 7, None, 0.3)
    assert fake_registry == [("churn", 7)]
    assert "churn" not in model_cache._serving
    assert "other" in model_cache._serving


@pytest.mark.usefixtures("cached")
def test_rollback_forgets_the_name(fake_registry: list[tuple[str, int]]) -> None:
    result = models.rollback(FakePlpy(), VERSION, "churn")
    assert result["model_id"] == 3
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
