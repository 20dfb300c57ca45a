"""Complete validation of an XGBoost model artifact, and its canonical form.

Why: xgboost's model loader trusts the document it reads. A crafted `parents` index,
child index, tree id, category segment, `base_score` or UBJ length makes it read or
write out of bounds, and inside a PostgreSQL backend a segfault restarts every
backend (issue 19). So churnml checks every field xgboost's JSON/UBJ loader reads
(learner, objective, learner_model_param, gradient_booster gbtree/dart, and each tree:
see `churnml.scoring.artifact_trees`) before any native code sees the artifact, and
keeps only what it validated:

- `read_artifact(raw)` takes JSON (bytes or text) or UBJSON bytes (xgboost's default
  save format, decoded by the strict `churnml.scoring.ubjson`) and returns a
  `ModelArtifact` holding validated values only;
- `ModelArtifact.canonical_json()` writes them back as xgboost JSON: parents recomputed
  from the children, deleted nodes dropped, tree_param from the counts, every float as
  the float32 it is, unknown keys gone. That document is what the registry stores (its
  SHA-256 is the model's checksum) and the only one xgboost ever loads in a backend, so
  a field churnml does not understand never reaches xgboost.

Problems raise DataCorrupted ("malformed XGBoost model: ...", XX001) or, for a well
formed model churnml does not score (another objective, gblinear, multi-class,
categorical splits), InvalidParameter ("unsupported XGBoost model: ...", 22023).
Callers that validate an argument turn both into 22023 (`churnml.sql_api.models`).

Limits: MAX_ARTIFACT_BYTES, MAX_TREES, MAX_TOTAL_NODES, MAX_FEATURES, and per tree
MAX_NODES_PER_TREE and MAX_TREE_DEPTH (artifact_trees). Validation runs once per model
load (register, deploy, the first score in a backend), never per row; it needs only
the standard library.
"""

from __future__ import annotations

import json
import math
import re
import struct
from dataclasses import dataclass
from typing import Any, cast

from churnml import interrupts
from churnml.errors import ChurnmlError, DataCorrupted, InvalidParameter, ProgramLimitExceeded
from churnml.scoring import ubjson
from churnml.scoring.artifact_trees import (
    MAX_NODES_PER_TREE,
    MAX_TREE_DEPTH,
    ValidTree,
    decimal_text,
    malformed,
    unsupported,
    validate_tree,
)
from churnml.scoring.ubjson import TypedArray

__all__ = [
    "MAX_ARTIFACT_BYTES", "MAX_FEATURES", "MAX_NODES_PER_TREE", "MAX_TOTAL_NODES", "MAX_TREES", "MAX_TREE_DEPTH",
    "ModelArtifact", "ValidTree", "load_document", "read_artifact", "read_stored_artifact", "validate_document",
]

MAX_ARTIFACT_BYTES = 64 << 20  # 64 MiB; a 300-tree depth-6 model is ~1.5 MB of JSON
MAX_TREES = 10_000
MAX_TOTAL_NODES = 4_000_000
MAX_FEATURES = 100_000
MAX_NAME_CHARS = 1_000  # a feature name or type
MAX_ATTRIBUTES = 100
MAX_ATTRIBUTE_CHARS = 10_000
SUPPORTED_OBJECTIVE = "binary:logistic"
# base_score from float32(1e-6) up to, not including, float32(1 - 1e-6): see _base_score
BASE_SCORE_LOW = struct.unpack("<f", struct.pack("<f", 1e-6))[0]
BASE_SCORE_HIGH = struct.unpack("<f", struct.pack("<f", 1 - 1e-6))[0]
# xgboost's feature types: q/float (quantitative), int, i (indicator); c (categorical) is not scored
NUMERIC_FEATURE_TYPES = frozenset({"q", "float", "int", "i"})

_NUMBER = r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?"
_BASE_SCORE = re.compile(rf"\[({_NUMBER})\]|({_NUMBER})")
_DECIMAL_NUMBER = re.compile(_NUMBER)
# xgboost's JSON reader knows only these escapes; it refuses \/ \b \f and keeps \uXXXX undecoded
_ESCAPE = re.compile(r"\\(.)", re.DOTALL)
_XGBOOST_ESCAPES = frozenset('"\\nrt')
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


@dataclass(frozen=True, slots=True)
class ModelArtifact:
    """A validated XGBoost binary:logistic gbtree/dart model: nothing here is unchecked."""

    version: tuple[int, int, int]
    n_features: int
    base_score: float  # float32, a probability strictly between 0 and 1
    boost_from_average: int
    scale_pos_weight: float
    feature_names: tuple[str, ...]  # empty, or one per feature
    feature_types: tuple[str, ...]  # empty, or one per feature
    attributes: tuple[tuple[str, str], ...]
    booster: str  # "gbtree" or "dart"
    num_parallel_tree: int
    trees: tuple[ValidTree, ...]
    weight_drop: tuple[float, ...] | None  # dart's float32 tree weights

    @property
    def tree_weights(self) -> tuple[float, ...]:
        return self.weight_drop if self.weight_drop is not None else (1.0,) * len(self.trees)

    def canonical_json(self, limit: int | None = None) -> bytes:
        """xgboost JSON written only from the validated values (see the module docstring).

        With `limit`, writing stops as soon as the document would have more bytes (22023, `too_large`)."""
        document = _canonical(self, limit).encode("utf-8")
        if limit is not None and len(document) > limit:
            raise too_large(len(document))
        return document

    def document(self) -> dict[str, Any]:
        """The canonical document, parsed (what explanations read)."""
        return cast(dict[str, Any], json.loads(self.canonical_json()))


# --------------------------------------------------------------------------- decoding


def load_document(raw: bytes | bytearray | memoryview | str | dict[str, Any]) -> dict[str, Any]:
    """The model document in `raw`: JSON bytes or text, UBJSON bytes, or an already parsed dict."""
    if isinstance(raw, dict):
        return raw
    if isinstance(raw, str):
        try:
            raw = raw.encode("utf-8")
        except UnicodeEncodeError:
            raise malformed("the text is not valid Unicode") from None
    elif isinstance(raw, bytes | bytearray | memoryview):
        raw = bytes(raw)
    else:
        raise InvalidParameter("model must be JSON or UBJSON bytes, text or a parsed dict",
                               detail=f"Got {type(raw).__name__}.")
    if len(raw) > MAX_ARTIFACT_BYTES:
        raise malformed(f"the artifact has {len(raw)} bytes, more than the limit of {MAX_ARTIFACT_BYTES}")
    if not raw:
        raise malformed("the artifact is empty")
    if ubjson.looks_like_ubjson(raw):
        return ubjson.decode(raw)
    return _decode_json(raw)


def _decode_json(raw: bytes) -> dict[str, Any]:
    # xgboost tells JSON from UBJSON by the first non-space byte after the first: '"'.
    if raw[:1] != b"{" or raw[1:].lstrip(b" \t\n\r\f\v")[:1] != b'"':
        raise malformed("the artifact is neither an XGBoost JSON object nor UBJSON",
                        detail='A model document opens with {" (JSON) or {L (UBJSON).')
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise malformed(f"the JSON is not UTF-8 (byte {exc.start})") from None
    for match in _ESCAPE.finditer(text):
        if match.group(1) not in _XGBOOST_ESCAPES:
            raise malformed(f"the JSON has the escape \\{match.group(1)[:1]} at character {match.start()}",
                            detail='xgboost reads only the escapes \\" \\\\ \\n \\r and \\t.')
    try:
        document = json.loads(text, parse_constant=_reject_constant, object_pairs_hook=_unique_keys)
    except _DuplicateKey as exc:
        raise malformed(f"the JSON has the key {exc.key[:40]!r} twice in one object",
                        detail="xgboost's JSON and UBJSON readers disagree on which of the two counts.") from None
    except RecursionError:
        raise malformed("the JSON is nested too deeply") from None
    except ValueError as exc:
        raise malformed("the JSON does not parse", detail=f"{str(exc)[:200]}.") from None
    return cast(dict[str, Any], document)


def _reject_constant(name: str) -> float:
    raise ValueError(f"non-standard JSON constant {name}")  # xgboost never writes NaN/Infinity in a model


class _DuplicateKey(ValueError):
    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    document = dict(pairs)
    if len(document) != len(pairs):
        # xgboost's readers disagree on which duplicate wins (JSON: the last; UBJ: the first)
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise _DuplicateKey(key)
            seen.add(key)
    return document


# --------------------------------------------------------------------------- validation


def too_large(size: int | None) -> InvalidParameter:
    """22023 for a model whose canonical JSON is (`size` bytes, or None: would be) over MAX_ARTIFACT_BYTES:
    refused at registration (and by churnml.train), since no backend would load it afterwards."""
    has = f"has {size} bytes," if size is not None else "would be"
    return InvalidParameter(
        f"the model is too large to store: its canonical JSON {has} more than the limit of "
        f"{MAX_ARTIFACT_BYTES} bytes ({MAX_ARTIFACT_BYTES >> 20} MiB)",
        detail=f"churnml stores and serves models of at most {MAX_ARTIFACT_BYTES >> 20} MiB of canonical JSON, "
               "about a million tree nodes.",
        hint="Train a smaller model: fewer boosting rounds, a lower max_depth or max_leaves.")


def storable_canonical(model: ModelArtifact) -> bytes:
    """`model.canonical_json()`, refused (22023, `too_large`) when it is over MAX_ARTIFACT_BYTES."""
    return model.canonical_json(limit=MAX_ARTIFACT_BYTES)


def read_stored_artifact(model_id: int, raw: bytes) -> ModelArtifact:
    """A registered model's artifact, validated again before it is served: any problem is
    XX001, since what the registry holds should be a canonical document churnml wrote,
    except an artifact over the size limit (54000): register_model refuses those, and
    one stored before it did is too large, not damaged."""
    if len(raw) > MAX_ARTIFACT_BYTES:
        raise ProgramLimitExceeded(
            f"model {model_id} is too large to load: its artifact has {len(raw)} bytes, more than the limit of "
            f"{MAX_ARTIFACT_BYTES} ({MAX_ARTIFACT_BYTES >> 20} MiB)",
            detail=f"churnml loads models of at most {MAX_ARTIFACT_BYTES >> 20} MiB of canonical JSON; "
                   "register_model refuses larger ones.",
            hint="Deploy another model, or train a smaller one (fewer rounds, a lower max_depth).")
    try:
        return read_artifact(raw)
    except ChurnmlError as exc:
        raise DataCorrupted(
            f"model {model_id}: {exc.message}",
            detail=exc.detail or f"The artifact stored for model {model_id} is not one churnml wrote.",
            hint="The artifact was changed outside churnml: deploy another model, or register this one again.",
        ) from None


def read_artifact(raw: bytes | bytearray | memoryview | str | dict[str, Any]) -> ModelArtifact:
    """Decode and validate a model artifact completely; see the module docstring."""
    return validate_document(load_document(raw))


def validate_document(doc: Any) -> ModelArtifact:
    if not isinstance(doc, dict):
        raise malformed("the document is not an object")
    version = _version(doc.get("version"))
    learner = _object(doc, "learner", "the model")
    scale_pos_weight = _objective(_object(learner, "objective", "learner"))
    n_features, base_score, boost_from_average = _model_param(_object(learner, "learner_model_param", "learner"))
    names = _strings(learner, "feature_names", n_features)
    types = _strings(learner, "feature_types", n_features)
    if "c" in types:
        raise unsupported("the model has categorical features")
    if unknown := set(types) - NUMERIC_FEATURE_TYPES:
        raise malformed(f"learner.feature_types holds {sorted(unknown)[0][:20]!r}, not a feature type",
                        detail="xgboost's types are q, float, int, i and c.")
    attributes = _attributes(_object(learner, "attributes", "learner"))
    booster, model, weight_drop = _gradient_booster(_object(learner, "gradient_booster", "learner"))
    tree_docs, num_parallel_tree = _gbtree_model(model)
    if weight_drop is not None and len(weight_drop) != len(tree_docs):
        raise malformed(f"dart weight_drop has {len(weight_drop)} weights for {len(tree_docs)} trees")
    trees = []
    total = 0
    for index, tree_doc in enumerate(tree_docs):
        interrupts.check()  # ~0.1 s a tree of 131,072 nodes: a cancel is honoured between trees
        tree = validate_tree(tree_doc, index, n_features)
        total += len(tree.left)
        if total > MAX_TOTAL_NODES:
            raise malformed(f"the trees have more than {MAX_TOTAL_NODES} nodes in all")
        trees.append(tree)
    return ModelArtifact(
        version=version, n_features=n_features, base_score=base_score, boost_from_average=boost_from_average,
        scale_pos_weight=scale_pos_weight, feature_names=names, feature_types=types, attributes=attributes,
        booster=booster, num_parallel_tree=num_parallel_tree, trees=tuple(trees), weight_drop=weight_drop,
    )


def _describe(value: Any) -> str:
    if isinstance(value, TypedArray):
        return "a typed UBJ array"
    return {bool: "a boolean", int: "an integer", float: "a float", str: "a string", list: "an array",
            dict: "an object", type(None): "missing"}.get(type(value), type(value).__name__)


def _object(section: dict[str, Any], key: str, where: str) -> dict[str, Any]:
    value = section.get(key)
    if not isinstance(value, dict):
        raise malformed(f"{where} has no {key} object", detail=f"Found {_describe(value)}.")
    return value


def _plain_list(section: dict[str, Any], key: str, where: str) -> list[Any]:
    """An untyped array: xgboost reads these fields as generic arrays, never typed ones."""
    value = section.get(key)
    if not isinstance(value, list) or isinstance(value, TypedArray):
        raise malformed(f"{where} {key} is not an untyped array", detail=f"Found {_describe(value)}.")
    return value


def _int_list(section: dict[str, Any], key: str, where: str) -> list[int]:
    values = _plain_list(section, key, where)
    for index, value in enumerate(values):
        if type(value) is not int:
            raise malformed(f"{where} {key}[{index}] is {_describe(value)}, not an integer")
    return values


def _version(value: Any) -> tuple[int, int, int]:
    if not isinstance(value, list) or isinstance(value, TypedArray) or len(value) != 3 \
            or any(type(part) is not int or not 0 <= part <= 999 for part in value):
        raise malformed("version is not [major, minor, patch]", detail=f"Found {_describe(value)}.")
    return value[0], value[1], value[2]


def _text_param(section: dict[str, Any], key: str, where: str) -> str:
    value = section[key]
    if not isinstance(value, str):
        raise malformed(f"{where}.{key} is not a string", detail=f"Found {_describe(value)}.")
    return value


def _objective(objective: dict[str, Any]) -> float:
    """The objective's name (binary:logistic only) and its reg_loss_param; returns scale_pos_weight."""
    name = objective.get("name")
    if not isinstance(name, str):
        raise malformed("learner.objective has no name")
    if name != SUPPORTED_OBJECTIVE:
        raise unsupported(f"objective is not {SUPPORTED_OBJECTIVE}",
                          detail=f"The model's objective is {name[:80]!r}; only {SUPPORTED_OBJECTIVE} is scored.")
    if "reg_loss_param" not in objective:
        return 1.0
    param = _object(objective, "reg_loss_param", "learner.objective")
    _all_text(param, "learner.objective.reg_loss_param")
    if "scale_pos_weight" not in param:
        return 1.0
    text = param["scale_pos_weight"]
    value = _float32(float(text)) if _DECIMAL_NUMBER.fullmatch(text) else math.nan
    if not (math.isfinite(value) and value >= 0):
        raise malformed("learner.objective.reg_loss_param.scale_pos_weight is not a non-negative number",
                        detail=f"Found {text[:20]!r}.")
    return value


def _all_text(param: dict[str, Any], where: str) -> None:
    # xgboost reads every entry of a parameter object as a string, known or not
    for key, value in param.items():
        if not isinstance(value, str):
            raise malformed(f"{where}.{key[:40]} is not a string", detail=f"Found {_describe(value)}.")


def _float32(value: float) -> float:
    """`value` rounded to float32; inf when it is beyond float32 range."""
    try:
        rounded: float = struct.unpack("<f", struct.pack("<f", value))[0]
        return rounded
    except OverflowError:
        return math.inf


def _model_param(params: dict[str, Any]) -> tuple[int, float, int]:
    where = "learner_model_param"
    for key in ("num_feature", "num_class", "base_score"):
        if key not in params:
            raise malformed(f"{where} has no {key}")
    n_features = decimal_text(_text_param(params, "num_feature", where), f"{where}.num_feature", limit=MAX_FEATURES)
    if n_features == 0:
        raise malformed(f"{where}.num_feature is 0")
    num_class = decimal_text(_text_param(params, "num_class", where), f"{where}.num_class")
    num_target = decimal_text(_text_param(params, "num_target", where), f"{where}.num_target") \
        if "num_target" in params else 1
    if num_target == 0:
        raise malformed(f"{where}.num_target is 0")
    if num_class > 1 or num_target > 1:
        raise unsupported("multi-class or multi-target model")
    boost_from_average = 1
    if "boost_from_average" in params:
        boost_from_average = decimal_text(_text_param(params, "boost_from_average", where),
                                          f"{where}.boost_from_average", limit=1)
    return n_features, _base_score(_text_param(params, "base_score", where)), boost_from_average


def _base_score(text: str) -> float:
    """xgboost 3.x writes "[5E-1]" (2.x "5E-1"): one probability, which binary:logistic turns into logit."""
    match = _BASE_SCORE.fullmatch(text)
    if match is None:
        raise malformed("base_score is not a number or a one-number array", detail=f"Found {text[:40]!r}.")
    probability = _float32(float(match.group(1) or match.group(2)))
    if not 0.0 < probability < 1.0:
        raise malformed("base_score is not a probability strictly between 0 and 1", detail=f"Found {text[:40]!r}.")
    if not BASE_SCORE_LOW <= probability < BASE_SCORE_HIGH:
        # xgboost clamps base_score into [1e-6, 1 - 1e-6] (as float32) before taking its log-odds, and
        # churnml does not: outside that range the two would score the model differently (1e-45, a
        # subnormal float32, was 7e-6 apart in probability; 1 - 5e-7 1.7e-6)
        raise unsupported(f"base_score {text[:40]} is too close to 0 or 1",
                          detail=f"churnml scores models whose base_score is at least {BASE_SCORE_LOW:.9g} and "
                                 f"below {BASE_SCORE_HIGH:.9g} (float32 values): xgboost clamps it into that range, "
                                 "so only there do xgboost and churnml read the model alike.")
    return probability


def _strings(learner: dict[str, Any], key: str, n_features: int) -> tuple[str, ...]:
    if key not in learner:
        return ()
    values = _plain_list(learner, key, "learner")
    for index, value in enumerate(values):
        if not isinstance(value, str) or len(value) > MAX_NAME_CHARS or _CONTROL.search(value):
            raise malformed(f"learner.{key}[{index}] is not a name of at most {MAX_NAME_CHARS} printable characters",
                            detail=f"Found {_describe(value)}.")
    if values and len(values) != n_features:
        raise malformed(f"learner.{key} has {len(values)} entries, not num_feature ({n_features})")
    return tuple(values)


def _attributes(attributes: dict[str, Any]) -> tuple[tuple[str, str], ...]:
    if len(attributes) > MAX_ATTRIBUTES:
        raise malformed(f"learner.attributes has more than {MAX_ATTRIBUTES} entries")
    for key, value in attributes.items():
        if not isinstance(value, str):
            raise malformed(f"learner.attributes.{key[:40]} is not a string", detail=f"Found {_describe(value)}.")
        if len(key) > MAX_NAME_CHARS or len(value) > MAX_ATTRIBUTE_CHARS or _CONTROL.search(key + value):
            raise malformed(f"learner.attributes.{key[:40]} is too long or holds control characters")
    return tuple(sorted(attributes.items()))


def _gradient_booster(booster: dict[str, Any]) -> tuple[str, dict[str, Any], tuple[float, ...] | None]:
    """The booster's name, its gbtree model object and (dart) its float32 tree weights."""
    name = booster.get("name")
    if not isinstance(name, str):
        raise malformed("learner.gradient_booster has no name")
    if name == "gbtree":
        return name, _object(booster, "model", "gradient_booster"), None
    if name != "dart":
        raise unsupported("booster is not gbtree or dart", detail=f"The booster is {name[:40]!r}.")
    inner = _object(booster, "gbtree", "gradient_booster")
    if inner.get("name") != "gbtree":
        raise malformed("gradient_booster.gbtree.name is not \"gbtree\"")
    weights = _plain_list(booster, "weight_drop", "gradient_booster")
    checked = []
    for index, weight in enumerate(weights):
        value = _float32(weight) if type(weight) is float else math.nan
        if not math.isfinite(value):
            raise malformed(f"gradient_booster weight_drop[{index}] is not a finite float32 number",
                            detail=f"Found {_describe(weight)}.")
        checked.append(value)
    return name, _object(inner, "model", "gradient_booster.gbtree"), tuple(checked)


def _gbtree_model(model: dict[str, Any]) -> tuple[list[Any], int]:
    where = "gradient_booster.model"
    param = _object(model, "gbtree_model_param", where)
    _all_text(param, f"{where}.gbtree_model_param")
    if "num_trees" not in param:
        raise malformed(f"{where}.gbtree_model_param has no num_trees")
    n_trees = decimal_text(param["num_trees"], f"{where}.gbtree_model_param.num_trees", limit=MAX_TREES)
    parallel = decimal_text(param.get("num_parallel_tree", "1"), f"{where}.gbtree_model_param.num_parallel_tree",
                            limit=MAX_TREES)
    if parallel == 0:
        raise malformed(f"{where}.gbtree_model_param.num_parallel_tree is 0")
    trees = _plain_list(model, "trees", where)
    if len(trees) != n_trees:
        raise malformed(f"{where} has {len(trees)} trees, but num_trees is {n_trees}")
    if n_trees % parallel:
        raise malformed(f"{where} has {n_trees} trees, not a multiple of num_parallel_tree ({parallel})")
    tree_info = _int_list(model, "tree_info", where)
    if len(tree_info) != n_trees:
        raise malformed(f"{where}.tree_info has {len(tree_info)} entries for {n_trees} trees")
    if any(tree_info):
        index = next(i for i, group in enumerate(tree_info) if group)
        raise malformed(f"{where}.tree_info[{index}] is {tree_info[index]}, not 0",
                        detail="A binary model has one output group, 0.")
    if "iteration_indptr" in model:
        indptr = _int_list(model, "iteration_indptr", where)
        if indptr != list(range(0, n_trees + 1, parallel)):
            raise malformed(f"{where}.iteration_indptr does not count {parallel} tree(s) per round up to {n_trees}")
    if "cats" in model:
        _check_no_categories(model["cats"], where)
    return trees, parallel


def _check_no_categories(cats: Any, where: str) -> None:
    """xgboost 3.x writes an empty category container for numerical models; anything else is categorical."""
    if not isinstance(cats, dict) or any(key not in cats for key in ("enc", "feature_segments", "sorted_idx")):
        raise malformed(f"{where}.cats is not a category container")
    enc = cats["enc"]
    if not isinstance(enc, list) or isinstance(enc, TypedArray):
        raise malformed(f"{where}.cats.enc is not an untyped array")
    for key in ("feature_segments", "sorted_idx"):
        value = cats[key]
        if not isinstance(value, list) or (isinstance(value, TypedArray) and value.item_type != "l"):
            raise malformed(f"{where}.cats.{key} is not an int32 array")
    if enc or cats["feature_segments"] or cats["sorted_idx"]:
        raise unsupported("the model has categorical features", detail="Its category container is not empty.")


# --------------------------------------------------------------------------- canonical form

_G9 = "%.9g".__mod__  # 9 significant digits give back every float32 exactly


def _float_text(value: float) -> str:
    text = _G9(value)
    return text if "." in text or "e" in text else text + ".0"  # xgboost reads "1" as an integer


def _floats(values: Any) -> str:
    return "[" + ",".join(map(_float_text, values)) + "]"


def _ints(values: Any) -> str:
    return "[" + ",".join(map(str, values)) + "]"


def _text(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _tree_json(tree: ValidTree, index: int, n_features: int) -> str:
    n = len(tree.left)
    empty = "[]"
    # keys in xgboost's (sorted) order
    return "".join([
        '{"base_weights":', _floats(tree.base_weight),
        ',"categories":', empty, ',"categories_nodes":', empty, ',"categories_segments":', empty,
        ',"categories_sizes":', empty,
        ',"default_left":', _ints(1 if flag else 0 for flag in tree.default_left),
        ',"id":', str(index),
        ',"left_children":', _ints(tree.left),
        ',"loss_changes":', _floats(tree.loss_change),
        ',"parents":', _ints(tree.parents),
        ',"right_children":', _ints(tree.right),
        ',"split_conditions":', _floats(tree.split_condition),
        ',"split_indices":', _ints(tree.split_index),
        ',"split_type":', _ints([0] * n),
        ',"sum_hessian":', _floats(tree.sum_hessian),
        ',"tree_param":', _text({"num_deleted": "0", "num_feature": str(n_features), "num_nodes": str(n),
                                 "size_leaf_vector": "1"}),
        "}",
    ])


def _canonical_trees(model: ModelArtifact, limit: int | None) -> str:
    parts = []
    size = 0
    for index, tree in enumerate(model.trees):
        interrupts.check()
        parts.append(_tree_json(tree, index, model.n_features))
        size += len(parts[-1]) + 1  # the trees' text is ASCII: characters are bytes
        if limit is not None and size > limit:
            raise too_large(None)
    return ",".join(parts)


def _canonical(model: ModelArtifact, limit: int | None = None) -> str:
    n_trees = len(model.trees)
    gbtree = "".join([
        '{"model":{"gbtree_model_param":',
        _text({"num_parallel_tree": str(model.num_parallel_tree), "num_trees": str(n_trees)}),
        ',"iteration_indptr":', _ints(range(0, n_trees + 1, model.num_parallel_tree)),
        ',"tree_info":', _ints([0] * n_trees),
        ',"trees":[', _canonical_trees(model, limit),
        ']},"name":"gbtree"}',
    ])
    if model.booster == "dart":
        booster = '{"gbtree":' + gbtree + ',"name":"dart","weight_drop":' + _floats(model.tree_weights) + "}"
    else:
        booster = gbtree
    param = {"base_score": f"[{_float_text(model.base_score)}]", "boost_from_average": str(model.boost_from_average),
             "num_class": "0", "num_feature": str(model.n_features), "num_target": "1"}
    objective = {"name": SUPPORTED_OBJECTIVE,
                 "reg_loss_param": {"scale_pos_weight": _float_text(model.scale_pos_weight)}}
    document = "".join([
        '{"learner":{"attributes":', _text(dict(model.attributes)),
        ',"feature_names":', _text(list(model.feature_names)),
        ',"feature_types":', _text(list(model.feature_types)),
        ',"gradient_booster":', booster,
        ',"learner_model_param":', _text(param),
        ',"objective":', _text(objective),
        '},"version":', _ints(model.version), "}",
    ])
    return document

