"""Which columns describe customers and which only identify them, decided from the data.

A column that identifies rows (a phone number, an e-mail address, a uuid, a customer id, a
serial key) has a different value in (nearly) every row: a tree can only memorise it, a
one-hot encoding of it is a column per customer that no new customer matches, and as free
text it costs an embedding per row for nothing. So a column churnml chose by default (not
named in `features` or `feature_types`) is left out when it is one; the caller is told,
and can still name it.

The rule, per column, from a `ColumnProfile` (non-NULL values, exact distinct values, and
the first SAMPLE_SIZE non-NULL values as text):

- **identifier**, left out, when at least MIN_VALUES values are present and
  - a number column of an integer type has a distinct value in at least
    INTEGER_KEY_RATIO of its rows and either runs nearly without gaps (a serial key:
    max - min + 1 <= 1.5 x distinct) or is named like a key (`id`, `customer_id`,
    `account_key`, ...); other numbers (minutes, charges) are measurements, never
    identifiers;
  - any other non-boolean column has a distinct value in at least IDENTIFIER_RATIO of
    its rows and is not genuine text;
- **free text** (embedded), for text-like columns with more than
  `categorical_max_distinct` distinct values that read as prose: in the sample, a median
  of at least MIN_WORDS words per value, at least half of the space-separated tokens
  words (letters, possibly with a trailing punctuation mark or an apostrophe), at least
  MIN_VOCABULARY distinct words and at least MIN_LOWERCASE of them in lower case (so
  codes, names and addresses are not prose);
- **categorical** for every other text-like column (the most frequent categories get a
  column each), numeric and boolean by type.

The same profile is computed on one column (churnml.train) or merged from pieces (the Dask
engine's partitions, in row order): `profile_piece` per piece, `merge_profiles` over them.
"""

from __future__ import annotations

import hashlib
import re
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from churnml.lazy_numpy import np
from churnml.training.feature_values import category_key
from churnml.training.sql_types import base_type, type_family

MIN_VALUES = 50  # fewer non-NULL values say nothing about uniqueness
IDENTIFIER_RATIO = 0.9
INTEGER_KEY_RATIO = 0.99
SAMPLE_SIZE = 1000
MIN_WORDS = 3
MIN_VOCABULARY = 30
MIN_LOWERCASE = 0.4

_INTEGER_TYPES = frozenset({"smallint", "integer", "int", "bigint", "int2", "int4", "int8", "smallserial",
                            "serial", "bigserial", "serial2", "serial4", "serial8"})
_KEY_NAME = re.compile(r"(?i:(?:^|_)(?:id|key|pk|uuid|guid|serial|no|number)$)|[a-z0-9](?:Id|ID|Key|No)$")
_WORD = re.compile(r"^[(\"'¿¡]*([^\W\d_]+(?:['’-][^\W\d_]+)*)[.,!?;:)\"']*$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_UUID = re.compile(r"^\{?[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}\}?$")
_DIGITS = re.compile(r"^\+?[\d\s().\-/]*\d[\d\s().\-/]*$")


@dataclass
class ProfilePiece:
    """What one piece of a column (all of it, or one partition) contributes to its profile."""

    values: int
    distinct: Any  # sorted unique float64 values (numbers) or uint64 hashes of the spellings (others)
    sample: list[str]  # the first SAMPLE_SIZE non-NULL values, spelled


@dataclass(frozen=True)
class ColumnProfile:
    values: int  # non-NULL values
    distinct: int
    minimum: float | None  # numbers only
    maximum: float | None
    sample: tuple[str, ...]


@dataclass(frozen=True)
class Role:
    group: str | None  # numeric / categorical / boolean / text, or None: an identifier, left out
    reason: str  # for an identifier: why, e.g. "9,997 distinct values in 10,000 rows: one-word codes"


def _hash(key: str) -> int:
    return int.from_bytes(hashlib.blake2b(key.encode("utf-8", "surrogatepass"), digest_size=8).digest(), "little")


def profile_piece(values: Sequence[Any] | Any, *, numeric: bool) -> ProfilePiece:
    """The profile of one piece: `values` as churnml.training reads them (float64 arrays with NaN for
    numbers, Python values with None otherwise)."""
    if numeric:
        array = np.asarray(values, dtype=np.float64)
        present = array[~np.isnan(array)]
        sample = [category_key(v) or "" for v in present[:SAMPLE_SIZE].tolist()]
        return ProfilePiece(values=int(present.size), distinct=np.unique(present), sample=sample)
    keys = [k for k in (category_key(v) for v in (values.tolist() if isinstance(values, np.ndarray) else values))
            if k is not None]
    hashes = np.unique(np.fromiter((_hash(k) for k in set(keys)), dtype=np.uint64))
    return ProfilePiece(values=len(keys), distinct=hashes, sample=keys[:SAMPLE_SIZE])


def merge_profiles(pieces: Sequence[ProfilePiece], *, numeric: bool) -> ColumnProfile:
    """The column's profile from its pieces, given in row order."""
    sample: list[str] = []
    for piece in pieces:
        if len(sample) >= SAMPLE_SIZE:
            break
        sample.extend(piece.sample[: SAMPLE_SIZE - len(sample)])
    arrays = [piece.distinct for piece in pieces if len(piece.distinct)]
    dtype = np.float64 if numeric else np.uint64
    distinct = np.unique(np.concatenate(arrays)) if arrays else np.asarray([], dtype=dtype)
    minimum = maximum = None
    if numeric and distinct.size:
        minimum, maximum = float(distinct[0]), float(distinct[-1])
    return ColumnProfile(values=sum(p.values for p in pieces), distinct=int(distinct.size), minimum=minimum,
                         maximum=maximum, sample=tuple(sample))


def profile_column(values: Sequence[Any] | Any, sql_type: str) -> ColumnProfile:
    numeric = type_family(sql_type) == "numeric"
    return merge_profiles([profile_piece(values, numeric=numeric)], numeric=numeric)


def reads_as_prose(sample: Sequence[str]) -> bool:
    """Whether sampled values read as prose: several words each, a vocabulary, mostly lower case."""
    if not sample:
        return False
    word_counts, tokens_total, words_total = [], 0, 0
    vocabulary: set[str] = set()
    lowercase = 0
    for text in sample:
        tokens = text.split()
        words = [m.group(1) for m in map(_WORD.match, tokens) if m is not None]
        word_counts.append(len(words))
        tokens_total += len(tokens)
        words_total += len(words)
        for word in words:
            folded = word.lower()
            vocabulary.add(folded)
            lowercase += word == folded
    return (statistics.median(word_counts) >= MIN_WORDS and words_total * 2 >= tokens_total
            and len(vocabulary) >= MIN_VOCABULARY and lowercase >= MIN_LOWERCASE * words_total)


def _shape(sample: Sequence[str]) -> str | None:
    """What most sampled values look like, when they have a recognisable identifier shape."""
    if not sample:
        return None
    for pattern, words in ((_UUID, "uuids"), (_EMAIL, "e-mail addresses"),
                           (_DIGITS, "phone numbers or other digit codes")):
        if sum(1 for s in sample if pattern.match(s.strip())) * 10 >= len(sample) * 9:
            return words
    if all(len(s.split()) <= 1 for s in sample):
        return "one-word codes"
    return None


def _counted(profile: ColumnProfile) -> str:
    return f"{profile.distinct:,} distinct values in {profile.values:,} rows"


def infer_role(name: str, sql_type: str, profile: ColumnProfile, categorical_max_distinct: int) -> Role:
    """The group of a column churnml chose by default, or None (an identifier) and why."""
    family = type_family(sql_type)
    if family == "boolean":
        return Role("boolean", "")
    enough = profile.values >= MIN_VALUES
    if family == "numeric":
        if enough and base_type(sql_type) in _INTEGER_TYPES and profile.distinct >= INTEGER_KEY_RATIO * profile.values:
            span = (profile.maximum or 0.0) - (profile.minimum or 0.0) + 1
            if span <= 1.5 * profile.distinct:
                return Role(None, f"{_counted(profile)}, from {profile.minimum:.0f} to {profile.maximum:.0f} "
                                  "almost without gaps: a serial key")
            if _KEY_NAME.search(name):
                return Role(None, f"{_counted(profile)}, an integer named like a key")
        return Role("numeric", "")
    prose = profile.distinct > categorical_max_distinct and reads_as_prose(profile.sample)
    if enough and not prose and profile.distinct >= IDENTIFIER_RATIO * profile.values:
        if base_type(sql_type) == "uuid":
            shape: str | None = "uuids"
        else:
            shape = _shape(profile.sample)
        return Role(None, _counted(profile) + (f": {shape}" if shape else ""))
    if profile.distinct <= categorical_max_distinct:
        return Role("categorical", "")
    return Role("text" if prose else "categorical", "")


def identifier_notice(left_out: Sequence[tuple[str, str]], *, engine: str) -> str:
    """The NOTICE naming the columns left out and how to include one."""
    first = left_out[0][0]
    if engine == "dask":
        how = f"--features ...,{first} or --feature-types '{{\"{first}\": \"categorical\"}}'"
    else:
        how = f"features => ARRAY[..., '{first}'] or feature_types => '{{\"{first}\": \"categorical\"}}'"
    if len(left_out) == 1:
        return (f"leaving out column {first}: it identifies rows rather than describing them ({left_out[0][1]}). "
                f"To use it anyway, name it: {how}")
    listed = "; ".join(f"{name} ({reason})" for name, reason in left_out)
    return (f"leaving out {len(left_out)} columns that identify rows rather than describe them: {listed}. "
            f"To use one anyway, name it: {how}")
