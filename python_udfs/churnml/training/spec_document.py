"""Checking a feature spec document (the JSON a FeatureSpec is stored as) before it is rebuilt.

A spec reaches churnml from two places: the registry (written by churnml.train or
register_model) and register_model's argument (written by anyone). Every field scoring
or create_model_function reads is checked here with the types FeatureSpec.to_dict
writes, and a problem is one sentence naming the key or the feature, so that neither
a Python exception's text nor a half-built spec ever reaches the user.

The feature names are checked as PostgreSQL names (1 to 63 bytes, no NUL: typed
functions take them as argument names, sources as column names), unique; the
`sql_type` as a type name of a family the group can come from (the database parses it
as a type too, in register_model: `churnml.sql_api.models`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import fields
from typing import Any

from churnml.training.feature_state import GROUPS, MISSING_STRATEGIES, STATE_TYPES, UNKNOWN_CATEGORY
from churnml.training.sql_types import type_family

MAX_NAME_BYTES = 63  # PostgreSQL's NAMEDATALEN - 1: longer names are truncated
MAX_TYPE_CHARS = 200
MAX_EMBEDDING_DIM = 4096
FEATURE_KEYS = frozenset({"name", "group", "sql_type", "fitted", "state"})
# The type families each group can be trained from (feature_spec._check_override and inference).
GROUP_FAMILIES = {
    "numeric": ("numeric",),
    "boolean": ("boolean",),
    "text": ("text", "other"),
    "categorical": ("numeric", "boolean", "text", "other", "unsupported"),
}


class SpecProblem(ValueError):
    """What is wrong with a spec document: `sentence` (a full sentence), and the feature it is about."""

    def __init__(self, sentence: str, feature: str | None = None) -> None:
        super().__init__(sentence)
        self.sentence = sentence
        self.feature = feature


def _shown(value: Any) -> str:
    text = repr(value) if not isinstance(value, str) else f'"{value}"'
    return text if len(text) <= 40 else text[:37] + "…"


def _kind(value: Any) -> str:
    return {bool: "a boolean", int: "an integer", float: "a number", str: "a string", list: "an array",
            dict: "an object", type(None): "null"}.get(type(value), "a JSON value")


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def check_spec_document(data: Any, *, newest_version: int) -> None:
    """Raise SpecProblem for the first thing wrong with `data`; a newer spec_version is left to the caller."""
    if not isinstance(data, Mapping):
        raise SpecProblem(f"It is {_kind(data)}, not a JSON object.")
    if "spec_version" not in data:
        raise SpecProblem('It has no "spec_version" key.')
    version = data["spec_version"]
    if not _is_int(version) or version < 1:
        raise SpecProblem(f'Its "spec_version" is {_shown(version)}, not an integer from 1 to {newest_version}.')
    if version > newest_version:
        return  # FeatureSpec.from_dict says so (VersionMismatch)
    if "features" not in data:
        raise SpecProblem('It has no "features" key.')
    features = data["features"]
    if not isinstance(features, list) or not features:
        raise SpecProblem(f'Its "features" is {_kind(features)}, not a non-empty array of feature objects.')
    label = data.get("label")
    if label is not None and not isinstance(label, str):
        raise SpecProblem(f'Its "label" is {_kind(label)}, not a column name or null.')
    seen: set[str] = set()
    for index, item in enumerate(features):
        name = _check_feature(item, index)
        if name in seen:
            raise SpecProblem(f'Two features are named "{name}"; feature names must be unique.', name)
        seen.add(name)
    output_names = data.get("output_names")
    if output_names is not None and (not isinstance(output_names, list)
                                     or not all(isinstance(n, str) for n in output_names)):
        raise SpecProblem('Its "output_names" is not an array of column names.')


def check_name(name: Any, index: int) -> str:
    if not isinstance(name, str):
        raise SpecProblem(f'Feature {index + 1} has {"no name" if name is None else _kind(name) + " as its name"}.')
    if not name:
        raise SpecProblem(f"Feature {index + 1} has an empty name.")
    if "\0" in name:
        raise SpecProblem(f"Feature {index + 1}'s name holds a NUL character.", name[:63])
    size = len(name.encode("utf-8", "surrogatepass"))
    if size > MAX_NAME_BYTES:
        raise SpecProblem(f"The name has {size} bytes; PostgreSQL names have at most {MAX_NAME_BYTES}.",
                          name if len(name) <= 40 else name[:40] + "…")
    return name


def _check_feature(item: Any, index: int) -> str:
    if not isinstance(item, Mapping):
        raise SpecProblem(f"Feature {index + 1} is {_kind(item)}, not an object.")
    name = check_name(item.get("name"), index)
    unknown = sorted(set(item) - FEATURE_KEYS)
    if unknown:
        raise SpecProblem(f'It has the unknown key {_shown(unknown[0])}.', name)
    group = item.get("group")
    if group not in GROUPS:
        raise SpecProblem(f"Its group is {_shown(group)}, not one of {', '.join(GROUPS)}.", name)
    sql_type = item.get("sql_type")
    if not isinstance(sql_type, str) or not sql_type.strip():
        raise SpecProblem(f'Its "sql_type" is {_kind(sql_type)}, not the name of a PostgreSQL type.', name)
    if len(sql_type) > MAX_TYPE_CHARS:
        raise SpecProblem(f'Its "sql_type" is longer than {MAX_TYPE_CHARS} characters.', name)
    check_type_family(name, group, sql_type)
    fitted = item.get("fitted", False)
    if not isinstance(fitted, bool):
        raise SpecProblem(f'Its "fitted" is {_kind(fitted)}, not true or false.', name)
    state = item.get("state", {})
    if not isinstance(state, Mapping):
        raise SpecProblem(f'Its "state" is {_kind(state)}, not an object.', name)
    allowed = {f.name for f in fields(STATE_TYPES[group])}
    unknown = sorted(set(state) - allowed)
    if unknown:
        raise SpecProblem(f"Its state has the key {_shown(unknown[0])}, which a {group} feature does not have.",
                          name)
    _check_state(group, state, fitted, name)
    return name


def check_type_family(name: str, group: str, sql_type: str) -> None:
    family = type_family(sql_type)
    if family not in GROUP_FAMILIES[group]:
        wanted = " or ".join(GROUP_FAMILIES[group])
        raise SpecProblem(f'Its sql_type "{sql_type[:60]}" is not a type a {group} feature can have '
                          f"(a {wanted} type).", name)


def _check_state(group: str, state: Mapping[str, Any], fitted: bool, name: str) -> None:
    if group == "numeric":
        missing = state.get("missing", "native")
        if missing not in MISSING_STRATEGIES:
            raise SpecProblem(f"Its missing strategy is {_shown(missing)}, not one of "
                              f"{', '.join(MISSING_STRATEGIES)}.", name)
        fill = state.get("fill")
        if fill is not None and (isinstance(fill, bool) or not isinstance(fill, int | float)
                                 or not math.isfinite(fill)):
            raise SpecProblem(f'Its "fill" is {_shown(fill)}, not a finite number or null.', name)
        if fitted and (fill is None) != (missing == "native"):
            raise SpecProblem(f'Its "fill" is {"missing" if fill is None else "set"} for the missing strategy '
                              f'"{missing}" (only "native" has none).', name)
    elif group == "categorical":
        limit = state.get("max_categories", 64)
        if not _is_int(limit) or limit < 1:
            raise SpecProblem(f'Its "max_categories" is {_shown(limit)}, not a positive integer.', name)
        dropped = state.get("dropped", 0)
        if not _is_int(dropped) or dropped < 0:
            raise SpecProblem(f'Its "dropped" is {_shown(dropped)}, not a non-negative integer.', name)
        if state.get("unknown", UNKNOWN_CATEGORY) != UNKNOWN_CATEGORY:
            raise SpecProblem(f'Its "unknown" is {_shown(state.get("unknown"))}, not "{UNKNOWN_CATEGORY}".', name)
        categories = state.get("categories")
        if categories is None:
            if fitted:
                raise SpecProblem('It is fitted but has no "categories".', name)
            return
        if not isinstance(categories, list) or not all(isinstance(c, str) for c in categories):
            raise SpecProblem('Its "categories" is not an array of strings.', name)
        if len(categories) > limit:
            raise SpecProblem(f"It has {len(categories)} categories, more than its max_categories ({limit}).", name)
        if len(set(categories)) != len(categories):
            raise SpecProblem("A category appears twice in its \"categories\".", name)
        if fitted and not categories:
            raise SpecProblem('It is fitted but its "categories" is empty.', name)
    elif group == "text":
        encoder, dim = state.get("encoder"), state.get("dim")
        if encoder is not None and not isinstance(encoder, str):
            raise SpecProblem(f'Its "encoder" is {_kind(encoder)}, not a name.', name)
        if dim is not None and (not _is_int(dim) or not 1 <= dim <= MAX_EMBEDDING_DIM):
            raise SpecProblem(f'Its "dim" is {_shown(dim)}, not an integer from 1 to {MAX_EMBEDDING_DIM}.', name)
        if fitted and (encoder is None or dim is None):
            raise SpecProblem('It is fitted but has no "encoder" or "dim".', name)
