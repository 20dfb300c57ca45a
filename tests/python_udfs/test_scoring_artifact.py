"""churnml.scoring.artifact, artifact_trees and ubjson: what is refused, how, and the canonical form."""

from __future__ import annotations

import json
import struct
from typing import Any

import numpy as np
import pytest

from churnml.errors import DataCorrupted, InvalidParameter
from churnml.scoring import artifact, artifact_trees, ubjson
from churnml.scoring.artifact import read_artifact, read_stored_artifact
from churnml.sentiment.head_artifact import read_head

xgb = pytest.importorskip("xgboost")


def _booster(**params: Any) -> Any:
    rng = np.random.default_rng(4)
    x = rng.normal(size=(800, 6))
    x[rng.random(x.shape) < 0.1] = np.nan
    y = (np.nan_to_num(x[:, 0]) + rng.normal(size=800) > 0).astype(int)
    rounds = params.pop("rounds", 5)
    return xgb.train({"objective": "binary:logistic", "max_depth": 3, "seed": 4, **params}, xgb.DMatrix(x, y), rounds)


@pytest.fixture(scope="module")
def raw() -> bytes:
    return bytes(_booster().save_raw("json"))


def _tree0(doc: dict[str, Any]) -> dict[str, Any]:
    return doc["learner"]["gradient_booster"]["model"]["trees"][0]


def _refused(data: Any, error: type = DataCorrupted) -> str:
    with pytest.raises(error) as info:
        read_artifact(data)
    assert info.value.detail is None or len(info.value.detail) < 300
    assert info.value.hint
    return info.value.message


def test_the_issue_19_reproduction_is_named_precisely(raw: bytes) -> None:
    crafted = raw.replace(b'"parents":[2147483647,0,0,1,', b'"parents":[2147483647,0,0,-5,', 1)
    assert crafted != raw
    with pytest.raises(DataCorrupted) as info:
        read_artifact(crafted)
    assert info.value.message == "malformed XGBoost model: tree 0 parents[3] is -5, not the parent of node 3"
    assert info.value.detail == "Node 3 is the left child of node 1."
    with pytest.raises(DataCorrupted) as stored:
        read_stored_artifact(7, crafted)
    assert stored.value.message.startswith("model 7: malformed XGBoost model: tree 0 parents[3]")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda t: t["tree_param"].update(num_nodes=str(len(t["left_children"]) + 1)), "entries, not num_nodes"),
        (lambda t: t["split_indices"].__setitem__(0, 4294967296), "split_indices[0] is 4294967296, outside 0..5"),
        (lambda t: t.update(id=1), "tree 0 has id 1, not 0"),
        (lambda t: t["split_conditions"].__setitem__(1, 1), "split_conditions[1] is an integer, not a float"),
        (lambda t: t["default_left"].__setitem__(2, 2), "default_left[2] is 2, not 0 or 1"),
        (lambda t: t.update(split_type=[1, *t["split_type"][1:]]), None),  # categorical: unsupported
        (lambda t: t["right_children"].__setitem__(1, 0), "node 1 has right child 0, outside"),
        (lambda t: t["left_children"].__setitem__(2, 1), "node 1 is reached twice"),
        (lambda t: t["left_children"].__setitem__(1, -1), "node 1 has left child -1, outside"),
        (lambda t: t.update(left_children=[t["left_children"][0], -1, *t["left_children"][2:]],
                            right_children=[t["right_children"][0], -1, *t["right_children"][2:]]),
         "cannot be reached from the root"),
        (lambda t: t["tree_param"].update(num_deleted="1"), "num_deleted is 1, but 0 nodes are deleted"),
        (lambda t: t["tree_param"].update(num_feature="7"), "tree_param.num_feature is 7, not the model's"),
        (lambda t: t["tree_param"].update(size_leaf_vector="2"), None),
        (lambda t: t.pop("loss_changes"), "tree 0 has no loss_changes"),
    ],
)
def test_tree_fields(raw: bytes, change: Any, message: str | None) -> None:
    doc = json.loads(raw)
    change(_tree0(doc))
    if message is None:
        assert _refused(doc, InvalidParameter).startswith("unsupported XGBoost model: ")
    else:
        refused = _refused(doc)
        assert refused.startswith("malformed XGBoost model: ") and message in refused, refused


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        (("learner_model_param", "base_score"), "", "base_score is not a number"),  # crashes xgboost's parser
        (("learner_model_param", "base_score"), "[0.5,0.5]", "base_score is not a number"),
        (("learner_model_param", "num_feature"), "100001", "more than the limit of 100000"),
        (("learner_model_param", "num_class"), 2, "num_class is not a string"),
        (("gradient_booster", "model", "tree_info"), [0, 1, 0, 0, 0], "tree_info[1] is 1, not 0"),
        (("gradient_booster", "model", "iteration_indptr"), [], "iteration_indptr does not count"),
        (("gradient_booster", "model", "gbtree_model_param", "num_trees"), "6", "has 5 trees, but num_trees is 6"),
        (("attributes",), {"best_iteration": 4}, "attributes.best_iteration is not a string"),
        (("feature_names",), ["a\x00"] * 6, "feature_names[0] is not a name"),
    ],
)
def test_learner_fields(raw: bytes, path: tuple[str, ...], value: Any, message: str) -> None:
    doc = json.loads(raw)
    target = doc["learner"]
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    assert message in _refused(doc)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "empty"),
        (b' {"learner": 1}', "neither an XGBoost JSON object nor UBJSON"),
        (b'{"learner": {"a": 1, "a": 2}}', "the key 'a' twice"),
        (b'{"learner": "\\u0041"}', "escape \\u"),
        (b'{"version": [3, 2, 0], "learner": NaN}', "does not parse"),
        (b'{"a":' + b"[" * 100_000 + b"]" * 100_000 + b"}", "nested too deeply"),
    ],
)
def test_json_decoding(data: bytes, message: str) -> None:
    assert message in _refused(data)


def test_the_total_size_is_capped(monkeypatch: pytest.MonkeyPatch, raw: bytes) -> None:
    monkeypatch.setattr(artifact, "MAX_ARTIFACT_BYTES", len(raw) - 1)
    assert "more than the limit" in _refused(raw)
    monkeypatch.setattr(artifact, "MAX_TREES", 4)
    monkeypatch.setattr(artifact, "MAX_ARTIFACT_BYTES", 1 << 30)
    assert "more than the limit of 4" in _refused(raw)
    monkeypatch.setattr(artifact_trees, "MAX_NODES_PER_TREE", 3)
    monkeypatch.setattr(artifact, "MAX_TREES", 100)
    assert "more than the limit of 3" in _refused(raw)


def test_ubjson_decoder_is_strict_and_bounded(raw: bytes) -> None:
    ubj = bytes(xgb.Booster(model_file=bytearray(raw)).save_raw("ubj"))
    doc = ubjson.decode(ubj)
    parents = _tree0(doc)["parents"]
    assert isinstance(parents, ubjson.TypedArray) and parents.item_type == "l"
    for broken, message in [
        (ubj + b"x", "follow the document"),
        (ubj[:-1], "not closed"),
        (b"{L" + struct.pack(">q", 2**62) + b"ab}", "longer than"),
        (b"{L" + struct.pack(">q", 10) + b"ab}", "runs past the end"),
        (b"{L\x00\x00\x00\x00\x00\x00\x00\x01a[$l#L" + struct.pack(">q", 2**61) + b"}", "more than the bytes left"),
        (b"{L\x00\x00\x00\x00\x00\x00\x00\x01aZ}", "marker 'Z' is not one xgboost writes"),
        (b"{L\x00\x00\x00\x00\x00\x00\x00\x01a[]}", "array has no count"),
        (b"{L\x00\x00\x00\x00\x00\x00\x00\x01a" + b"[#L\x00\x00\x00\x00\x00\x00\x00\x01" * 20 + b"T}",
         "nesting deeper than 16"),
    ]:
        with pytest.raises(DataCorrupted) as info:
            ubjson.decode(broken)
        assert message in info.value.message, (message, info.value.message)


def test_canonical_form_is_xgboosts_model_and_a_fixed_point() -> None:
    # exact + gamma prunes: the arrays keep deleted nodes, the canonical form drops them
    booster = _booster(tree_method="exact", gamma=3.0, max_depth=5, rounds=8)
    model = read_artifact(bytes(booster.save_raw("json")))
    assert model == read_artifact(bytes(booster.save_raw("ubj")))
    canonical = model.canonical_json()
    doc = json.loads(canonical)
    trees = doc["learner"]["gradient_booster"]["model"]["trees"]
    original = json.loads(bytes(booster.save_raw("json")))["learner"]["gradient_booster"]["model"]["trees"]
    assert any(t["tree_param"]["num_deleted"] != "0" for t in original)
    assert all(t["tree_param"]["num_deleted"] == "0" for t in trees)
    assert read_artifact(canonical).canonical_json() == canonical
    x = np.random.default_rng(1).normal(size=(500, 6))
    x[::7, 2] = np.nan
    reloaded = xgb.Booster(model_file=bytearray(canonical))
    np.testing.assert_array_equal(reloaded.inplace_predict(x), booster.inplace_predict(x))


def test_unknown_keys_never_reach_the_canonical_form(raw: bytes) -> None:
    doc = json.loads(raw)
    doc["learner"]["surprise"] = {"x": 1}
    _tree0(doc)["surprise"] = [1, 2, 3]
    assert b"surprise" not in read_artifact(doc).canonical_json()


def test_sentiment_heads_are_validated_completely() -> None:
    from churnml.sentiment.int8_encoder import NAME

    head = {"classes": ["POSITIVE", "NEGATIVE", "NEUTRAL"], "embedding": NAME, "temperature": 0.5,
            "W": [[0.1] * 384] * 3, "b": [0.0, 0.1, -0.1], "extra": "dropped"}
    assert set(read_head(json.dumps(head).encode())) == {"classes", "embedding", "temperature", "W", "b"}
    for broken, message in [
        ({**head, "W": [[0.1] * 383] * 3}, "W[0] is not a list of 384 numbers"),
        ({**head, "W": [[0.1] * 384] * 2 + [[True] * 384]}, "W[2][0] is not a number"),
        ({**head, "temperature": 0}, "temperature is 0"),
        ({**head, "b": [1e7, 0, 0]}, "b[0] is not a finite number"),
        ({**head, "classes": ["NEGATIVE", "POSITIVE", "NEUTRAL"]}, "classes is not"),
    ]:
        with pytest.raises(DataCorrupted) as info:
            read_head(json.dumps(broken).encode())
        assert info.value.message.startswith("malformed sentiment model: " + message), info.value.message
    for data in (b"[" * 100_000, b'{"W": NaN}', b"x" * (2 << 20)):
        with pytest.raises(DataCorrupted):
            read_head(data)
