"""Hostile input for every public SQL function of churnml and churnml_aws (property-based, hypothesis).

Which functions: all that the two extensions own (pg_depend deptype 'e'), read from the catalog at run time,
except internal ones (a leading '_') that no role but their owner may execute; the granted internal ones
(_score_json, _explain_json, _score_batches, _customer_risk_batches, aws_sagemaker._invoke_endpoint) are called
too. A function added later is fuzzed with no change here, unless it has an argument type without a strategy in
TYPE_STRATEGIES: then test_every_argument_type_has_a_strategy fails and names it.

How: each example gives every argument a plausible value (GOOD, FUNCTION_GOOD) or a hostile one for its type
(usually one argument hostile, sometimes several, now and then none); defaulted arguments may keep their
defaults. Hostile: NULL, NaN, ±Infinity, type extremes, numbers that overflow, negative and zero sizes, text that
fails to cast, values of other types, '', blanks, 100,000-character text, combining marks, RTL and zero-width
characters, emoji, control characters, SQL-looking text, quotes, $$ and backslashes, unknown names, malformed,
huge and 3,000-deep JSON, 2-D and non-1-based arrays, rows with missing or mistyped columns, model artifacts and
specs with one number broken, and S3 objects/files with NUL bytes, Latin-1, a BOM, broken gzip... Every call runs
as the superuser in a transaction that is rolled back, so train, deploy, rollback, set_threshold, register_model,
create_model_function, log_offer, record_outcome, load_from_s3, assess_customer's offer log and the other side
effects leave nothing; exports go to the test S3 server and file_root under CHURNML_TEST_HOME.

"A documented value or a clean error":
- the call returns, and columns named like probabilities, confidences or class scores are in [0, 1] or NULL,
  sentiment labels are POSITIVE/NEGATIVE/NEUTRAL/MIXED or NULL; or
- it raises an error whose SQLSTATE is not XX000 (what churnml's errors.py gives an exception it does not know),
  XX001/XX002, not class 38 (a Python exception that escaped un-mapped: PL/Python reports "KeyError: ..."), not
  57014 (statement_timeout: a hang), and whose message is churnml's ("churnml: ...") or PostgreSQL's own (22P02
  from a cast, 42883 for a wrong type, an SPI error passed through PL/Python with its SQLSTATE). Clean errors
  that came from errors.py's catch-all mapping of Python's own exceptions ("invalid value in churnml") are
  listed in the printed report: not failures, but inputs without a specific check.
After every example the session still answers SELECT 1, and no SQL-injection payload outside `source` and
`query` (SQL by contract) ran: the payloads call nextval() on a canary sequence that must never advance.
test_server_log_has_no_crash then reads the server log written meanwhile: no "terminated by signal",
"server process ... was terminated", PANIC or TRAP.

Deliberate outcomes (checked when the call succeeds):
- STRICT functions (first_sentence, predict) return NULL when an argument is NULL;
- NULL text gives NULL(s) from detect_sentiment, _label, _confidence, sentiment_scores, embed, aws_comprehend's
  and the aws_comprehend_detect_sentiment* functions; a NULL row gives NULL from will_churn/_score_json and no row
  from explain_churn/_explain_json; NULL probability gives NULL from churn_flag; NULL area_code or phone gives no
  row from assess_customer(_text); VARIADIC NULL (or a NULL model_input) gives NULL from invoke_endpoint;
- XX001 from load_from_s3 for an invalid export manifest or a part that disagrees with it, as docs/loaders.md
  documents (a broken gzip object is 22000);
- NUL cannot reach a text argument: the client refuses it (psycopg DataError), the server refuses chr(0) (54000)
  and invalid bytes (22021); a \u0000 escape in JSON text reaching Python is data (test_nul_...).
test_first_error_does_not_poison_the_session: a fresh session whose first churnml call fails inside Python
(also inside a transaction, rolled back) then gets the right answer, twice.

Examples: HOSTILE_EXAMPLES per function (default 60; fewer for the training functions, EXAMPLES_OVERRIDE),
derandomized, so runs are reproducible; HOSTILE_ONLY=name,... runs only those functions.
"""

from __future__ import annotations

import math
import os
import re
import struct
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from churnml.training.sql_types import type_family
from churnml_loaders.s3_client import S3Client
from churnml_loaders.s3_config import S3Config
from tests.conftest import TEST_HOME
from tests.sql.conftest import declare_storage

DEFAULT_EXAMPLES = int(os.environ.get("HOSTILE_EXAMPLES", "60"))
# Training runs XGBoost or the encoder for each accepted call: fewer examples keep the module within minutes.
EXAMPLES_OVERRIDE = {"train": max(10, DEFAULT_EXAMPLES // 4), "train_sentiment": max(8, DEFAULT_EXAMPLES // 6),
                     "retrain": max(10, DEFAULT_EXAMPLES // 4)}
ONLY = {n.strip() for n in os.environ.get("HOSTILE_ONLY", "").split(",") if n.strip()}
STATEMENT_TIMEOUT = "60s"  # a call that runs longer is a hang (the encoder is loaded before, see Session)
CANARY = "public.hostile_canary"
QUERY_PARAMS = frozenset({"source", "query"})  # SQL by contract: they run as the caller
LABELS = {"POSITIVE", "NEGATIVE", "NEUTRAL", "MIXED"}
UNIT_COLUMNS = {"will_churn", "probability", "confidence", "latest_confidence", "positive", "negative", "neutral",
                "mixed", "detect_sentiment_confidence", "aws_comprehend_detect_sentiment_confidence", "_score_json"}
LABEL_COLUMNS = {"sentiment", "latest", "detect_sentiment_label", "aws_comprehend_detect_sentiment"}
# (function, argument) whose NULL gives NULL(s) or no rows, as documented
NULL_GIVES_NULL = {
    ("detect_sentiment", "input_text"), ("detect_sentiment_label", "input_text"),
    ("detect_sentiment_confidence", "input_text"), ("sentiment_scores", "input_text"), ("embed", "input_text"),
    ("aws_comprehend_detect_sentiment", "input_text"), ("aws_comprehend_detect_sentiment_confidence", "input_text"),
    ("will_churn", "c"), ("explain_churn", "c"), ("churn_flag", "probability"), ("_score_json", "row_json"),
    ("_explain_json", "row_json"), ("assess_customer", "area_code"), ("assess_customer", "phone"),
    ("assess_customer_text", "area_code"), ("assess_customer_text", "phone"), ("invoke_endpoint", "model_input"),
    ("_invoke_endpoint", "model_input"),
}
SUPPRESSED = [getattr(HealthCheck, n) for n in ("too_slow", "data_too_large", "filter_too_much", "large_base_example",
                                                "function_scoped_fixture", "differing_executors", "nested_given")
              if hasattr(HealthCheck, n)]
# errors.describe's mappings of Python's own exceptions: clean SQLSTATEs, but generic messages
GENERIC_MAPPING = re.compile(r"churnml: (out of memory|division by zero|numeric value out of range|invalid text "
                             r"encoding|invalid value|wrong data type) in churnml$|churnml: input nested too deeply")
LOADERS = frozenset({"load_from_s3", "table_import_from_s3"})
DOCUMENTED_XX001 = re.compile(r"\b(export manifest|export part) ")
CRASH_LINES = re.compile(r"terminated by signal|server process \(PID \d+\) was terminated|\bPANIC:|\bTRAP:")
PY_EXCEPTION_MESSAGE = re.compile(r"^(?!spiexceptions\.)[A-Za-z_][\w.]*(Error|Exception|Warning|Exit|Interrupt)\b:")


# ---------------------------------------------------------------- arguments


@dataclass(frozen=True)
class Arg:
    """One argument as an SQL fragment with %s placeholders and their values."""

    sql: str
    params: tuple[Any, ...] = ()
    null: bool = False  # the SQL NULL (of some type)
    payload: bool = False  # carries an SQL-injection canary

    def __repr__(self) -> str:
        shown = [f"<{len(p)} chars: {p[:24]!r}...>" if isinstance(p, str) and len(p) > 80 else repr(p)
                 for p in self.params]
        return f"Arg({self.sql!r}, {', '.join(shown)})"


def typed(sql_type: str) -> Callable[[Any], Arg]:
    return lambda value: Arg(f"%s::{sql_type}", (value,), null=value is None)


def nulls(sql_type: str) -> list[Arg]:
    return [Arg(f"NULL::{sql_type}", null=True), Arg("NULL", null=True)]


def array_literal(values: Sequence[str | None]) -> str:
    """A one-dimensional array's text form, every element quoted (NULL unquoted)."""
    def quote(v: str | None) -> str:
        return "NULL" if v is None else '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'

    return "{" + ",".join(quote(v) for v in values) + "}"


PAYLOADS = [
    f"'); SELECT nextval('{CANARY}'); --",
    f"'; SELECT nextval('{CANARY}'); --",
    f"\"; SELECT nextval('{CANARY}'); --",
    f"$$; SELECT nextval('{CANARY}'); $$",
    f"$churnml$; SELECT nextval('{CANARY}'); --",
    f"x) AS s; SELECT nextval('{CANARY}'); --",
    f"1 OR nextval('{CANARY}') > 0",
    f"churn' || nextval('{CANARY}')::text || '",
]
LONG_TEXTS = ["a" * 100_000, "\N{GRINNING FACE}" * 100_000, "You charged me extra again! " * 3_600,
              "x\u0301\u0302\u0303" * 25_000]
TEXT_SAMPLES = [
    "", " ", "\t\n\r ", "e\u0301\u0301\u0301\u0301", "\u202eevil\u202c", "\u0645\u0631\u062d\u0628\u0627",
    "\u05e9\u05dc\u05d5\u05dd", "\N{FAMILY}\N{ZERO WIDTH JOINER}\N{RAINBOW}",
    "\U0001f468\u200d\U0001f469\u200d\U0001f467\u200d\U0001f466",
    "\u200b\u200c\u200d\ufeff", "\x01\x02\x07\x1b[31m\x7f",
    "\ue000\uffff\U0010ffff", "\u0130\u00df\ufb01", "'; DROP TABLE customers; --", "$$", "$churnml$", "'", "''", '"',
    "\\", "\\\\'", "%s", "%(x)s", "{}", "{0}", "{sentiment}", "{{x}}", "../../../etc/passwd", "/etc/passwd",
    "file:///etc/passwd", "s3://", "s3://churnml/", "s3://churnml/../x", "s3://no-such-bucket/x.csv", "NaN",
    "Infinity", "-0", "1e400", "null", "[]", '{"a":', "\\u0000", "TRUE OR 1=1", "churn; SELECT 1", "no_such_model",
    "0", "-1", "1", "99999999999999999999", "\u00b2", "\u0663", " churn ", "CHURN", "churn\n", "public.customers",
    "pg_catalog.pg_authid", "churnml.models", "customers WHERE false", "SELECT", "SELECT 1/0", "(", ")",
    "en", "EN-us", "xx", "lexicon", "encoder", "churn", "customers", "\u00a0",
]
TEXT_CHARS = st.characters(exclude_categories=("Cs",), exclude_characters="\x00")
NUL_PATHS = [Arg("chr(0)"), Arg("convert_from('\\x00'::bytea, 'UTF8')"), Arg("%s::text", ('{"state": "\\u0000"}',)),
             Arg("%s::text", ("\\u0000",))]
OTHER_TYPES = [Arg("%s::jsonb", ('{"a": 1}',)), Arg("ARRAY[1, 2]"), Arg("now()"), Arg("'\\x00ff'::bytea"),
               Arg("ROW(1, 'a')"), Arg("point(1, 2)"), Arg("interval '1 day'"), Arg("true"), Arg("42"), Arg("4.5"),
               Arg("'x'::text"), Arg("NULL::point", null=True), Arg("'{a,b}'::text[]"), Arg("1e400::numeric")]


def hostile(*branches: st.SearchStrategy[Arg], sql_type: str) -> st.SearchStrategy[Arg]:
    """The type's own hostile values, or NULL (twice as likely as any other branch), or a value of another type."""
    null = st.sampled_from(nulls(sql_type))
    return st.one_of(*branches, null, null, st.sampled_from(OTHER_TYPES))


def text_strategy(sql_type: str) -> Callable[[Ctx, str], st.SearchStrategy[Arg]]:
    def make(ctx: Ctx, param: str) -> st.SearchStrategy[Arg]:
        return hostile(
            st.sampled_from(TEXT_SAMPLES).map(typed(sql_type)),
            st.sampled_from(JSON_VALID + JSON_MALFORMED).map(typed(sql_type)),  # text that Python may parse
            st.sampled_from(LONG_TEXTS).map(typed(sql_type)),
            st.text(TEXT_CHARS, max_size=40).map(typed(sql_type)),
            st.sampled_from(PAYLOADS).map(lambda p: Arg(f"%s::{sql_type}", (p,), payload=True)),
            st.sampled_from(NUL_PATHS),
            st.sampled_from(TEXT_SAMPLES).map(lambda v: Arg("%s", (v,))),  # unknown-typed literal
            sql_type=sql_type)
    return make


def number_strategy(sql_type: str, low: int, high: int) -> Callable[[Ctx, str], st.SearchStrategy[Arg]]:
    edges = [0, 1, -1, 2, 7, low, high, low + 1, high - 1]
    bad = ["abc", "1.5", "", " ", str(high + 1), str(low - 1), "1e3", "NaN", "Infinity", "0x10", "\u0663"]

    def make(ctx: Ctx, param: str) -> st.SearchStrategy[Arg]:
        return hostile(
            st.sampled_from(edges).map(typed(sql_type)),
            st.integers(low, high).map(typed(sql_type)),
            st.sampled_from(bad).map(typed(sql_type)),
            sql_type=sql_type)
    return make


FLOAT_EDGES = [0.0, -0.0, 1.0, -1.0, 0.5, 1.5, 1e308, -1e308, 5e-324, math.nan, math.inf, -math.inf, 1e-300]


def float_strategy(sql_type: str) -> Callable[[Ctx, str], st.SearchStrategy[Arg]]:
    bad = ["abc", "1e400", "-1e400", "", "1,5", "0x1p3", "nan nan"]

    def make(ctx: Ctx, param: str) -> st.SearchStrategy[Arg]:
        return hostile(
            st.sampled_from(FLOAT_EDGES).map(typed(sql_type)),
            st.floats(allow_nan=True, allow_infinity=True, width=64 if sql_type == "float8" else 32).map(
                typed(sql_type)),
            st.sampled_from(bad).map(typed(sql_type)),
            sql_type=sql_type)
    return make


def numeric_strategy(ctx: Ctx, param: str) -> st.SearchStrategy[Arg]:
    edges = [Decimal("NaN"), Decimal("Infinity"), Decimal("-Infinity"), Decimal("1e1000"), Decimal("-1e1000"),
             Decimal("1e-1000"), Decimal(0), Decimal(-5), Decimal("0.5")]
    return hostile(
        st.sampled_from(edges).map(typed("numeric")),
        st.decimals(allow_nan=False, allow_infinity=False, places=3, min_value=-1e9, max_value=1e9).map(
            typed("numeric")),
        st.sampled_from(["abc", "", "1e", "1e100000000"]).map(typed("numeric")),
        sql_type="numeric")


def boolean_strategy(ctx: Ctx, param: str) -> st.SearchStrategy[Arg]:
    return hostile(
        st.sampled_from([True, False]).map(typed("boolean")),
        st.sampled_from(["maybe", "2", "", "yes", "off"]).map(typed("boolean")),
        st.sampled_from([Arg("1"), Arg("'t'::text")]),
        sql_type="boolean")


TIMESTAMPS = ["now", "infinity", "-infinity", "4713-01-01 00:00:00+00 BC", "294276-12-31 23:59:59+00", "epoch",
              "1999-01-08 04:05:06+14", "2000-02-29 12:00:00-12"]


def timestamptz_strategy(ctx: Ctx, param: str) -> st.SearchStrategy[Arg]:
    return hostile(
        st.sampled_from(TIMESTAMPS).map(typed("timestamptz")),
        st.sampled_from(["2023-13-45", "yesterday-ish", "", "4714-11-23 BC", "300000-01-01"]).map(typed("timestamptz")),
        sql_type="timestamptz")


def interval_strategy(ctx: Ctx, param: str) -> st.SearchStrategy[Arg]:
    return hostile(
        st.sampled_from(["30 days", "1 hour", "0", "-1 day", "P1Y2M", "1 microsecond", "178000000 years",
                         "-178000000 years"]).map(typed("interval")),
        st.sampled_from(["forever", "", "1 fortnight", "30 days ago ago"]).map(typed("interval")),
        sql_type="interval")


def deep_json(depth: int) -> str:
    return "[" * depth + "]" * depth


JSON_VALID = ["{}", "[]", "null", '"x"', "1", "true", '{"a": null}', '{"": 1}', '{"trials": 0}', '{"trials": -1}',
              '{"trials": 1e308}', '{"trials": "x"}', '{"trials": 1001}', '{"max_depth": 1e9}', '{"eta": -1}',
              '{"num_boost_round": 0}', '{"nthread": 100000}', '{"max_dept": 3}', '{"objective": "reg:linear"}',
              '{"NEGATIVE": -1}', '{"NEGATIVE": 1e400}', '{"POSITIVE": "x"}', '{"FOO": 1}', '{"NEGATIVE": 0}',
              '{"cust_service_calls": "abc"}', '{"cust_service_calls": 1e400}', '{"int_plan": [1, 2]}',
              '{"day_mins": {"a": 1}}', '{"state": "\\ud83d\\ude00"}', '{"a": 1, "a": 2}', "1" + "0" * 5000,
              '{"x": 1' + "0" * 5000 + "}", '{"space": {"max_depth": [9, 2]}}', '{"space": {"eta": {"low": 0}}}',
              '{"space": "all"}', '{"trials": 2, "space": {"max_depth": {"choices": []}}}', '{"col": "categorical"}',
              '{"int_plan": "categorical", "state": "text"}', '{"churn": "numeric"}', deep_json(900),
              deep_json(3000), '{"\\u202e": "\\u200b"}', '[{"arm": "A"}]', '{"trials": 1.5}']
JSON_DEEP = [deep_json(900), deep_json(3000), '{"a": ' * 2000 + "1" + "}" * 2000, "1" + "0" * 5000, "1e999999",
             '{"NEGATIVE": ' + deep_json(2000) + "}", '{"cust_service_calls": ' + deep_json(2000) + "}",
             '{"trials": 2, "space": ' + '{"a": ' * 1500 + "1" + "}" * 1501]
JSON_MALFORMED = ["{", '{"a":}', "{'a': 1}", "NaN", "Infinity", "", " ", "[1,]", '{"a" 1}', "\\u0000", '"\\u0000"',
                  deep_json(100_000)]


def jsonb_strategy(ctx: Ctx, param: str) -> st.SearchStrategy[Arg]:
    return hostile(
        st.sampled_from(JSON_VALID).map(typed("jsonb")),
        st.sampled_from(JSON_DEEP).map(typed("jsonb")),
        st.sampled_from(JSON_MALFORMED).map(typed("jsonb")),
        st.sampled_from([Arg("'null'::jsonb"), Arg("'\"x\"'::json")]),
        sql_type="jsonb")


def regclass_strategy(ctx: Ctx, param: str) -> st.SearchStrategy[Arg]:
    names = ["hostile_target", "customers", "churnml.models", "pg_catalog.pg_class", "churnml.current_deployments",
             "churnml.customer_risk", CANARY, "no_such_table", '"Weird ""Name"""', "pg_temp.x", "a.b.c.d", "",
             "'; DROP TABLE customers; --", "\u202ecustomers", "x" * 100_000]
    return hostile(
        st.sampled_from(names).map(typed("regclass")),
        st.sampled_from([0, 1, 4294967295, 1259]).map(lambda o: Arg("%s::oid::regclass", (o,))),
        sql_type="regclass")


def regrole_strategy(ctx: Ctx, param: str) -> st.SearchStrategy[Arg]:
    names = ["churnml_loader", "churnml_user", "pg_read_all_data", "no_such_role", "public", "", '"Weird ""Name"""',
             "'; DROP TABLE customers; --", "\u202echurnml_loader", "x" * 100_000]
    return hostile(
        st.sampled_from(names).map(typed("regrole")),
        st.sampled_from([0, 1, 10, 4294967295]).map(lambda o: Arg("%s::oid::regrole", (o,))),
        sql_type="regrole")


def text_array_strategy(ctx: Ctx, param: str) -> st.SearchStrategy[Arg]:
    element = st.one_of(st.none(), st.sampled_from(TEXT_SAMPLES + PAYLOADS), st.text(TEXT_CHARS, max_size=20))
    return hostile(
        st.lists(element, max_size=5).map(lambda v: Arg("%s::text[]", (array_literal(v),))),
        st.lists(st.sampled_from(LONG_TEXTS), min_size=1, max_size=3).map(
            lambda v: Arg("%s::text[]", (array_literal(v),))),
        st.sampled_from([
            Arg("%s::text[]", ("{{a,b},{c,d}}",)), Arg("%s::text[]", ("[0:1]={a,b}",)), Arg("ARRAY[]::text[]"),
            Arg("%s::text[]", ("{NULL}",)), Arg("%s::text[]", (array_literal(["word"] * 200),)),
            Arg("%s::text[]", ("{a,",)), Arg("%s::text[]", ("not an array",)), Arg("ARRAY[1, 2]"),
            Arg("ARRAY[%s]::text[]", ("'; DROP TABLE customers; --",)),
        ]),
        sql_type="text[]")


def float_array_strategy(ctx: Ctx, param: str) -> st.SearchStrategy[Arg]:
    element = st.one_of(st.none(), st.sampled_from(FLOAT_EDGES), st.floats())
    return hostile(
        st.lists(element, max_size=14).map(lambda v: Arg("%s::float8[]", (array_literal([
            None if x is None else repr(x).replace("inf", "Infinity").replace("nan", "NaN") for x in v]),))),
        st.sampled_from([Arg("%s::float8[]", ("{{1,2},{3,4}}",)), Arg("%s::float8[]", ("[0:1]={1,2}",)),
                         Arg("ARRAY[]::float8[]"), Arg("%s::float8[]", ("{1e400}",)), Arg("%s::float8[]", ("{abc}",)),
                         Arg("%s::float8[]", (array_literal(["1"] * 2000),)), Arg("ARRAY[1, 2]::int[]"),
                         Arg("%s::numeric[]", ("{1e1000}",))]),
        sql_type="float8[]")


# churnml._unpack_scores's inputs: well-formed ones, and every way to get them wrong
# (no terminator, a length that is not whole float8s, invalid UTF-8, many keys).
BYTEA_SAMPLES = [b"", b"\x00", b"\xff\x00", b"a\x00b\x00", b"\xc3\x28\x00", b"caf\xc3\xa9\x00", b"\x00" * 8,
                 struct.pack("=d", 0.5), struct.pack("=dd", math.nan, math.inf), b"\x01" * 7, b"a" * 100_000,
                 b"k\x00" * 10_000, struct.pack("=d", 0.25) * 10_000]


def bytea_strategy(ctx: Ctx, param: str) -> st.SearchStrategy[Arg]:
    return hostile(
        st.sampled_from(BYTEA_SAMPLES).map(typed("bytea")),
        st.binary(max_size=64).map(typed("bytea")),
        sql_type="bytea")


def bigint_array_strategy(ctx: Ctx, param: str) -> st.SearchStrategy[Arg]:
    element = st.one_of(st.none(), st.sampled_from([0, 1, -1, 2**63 - 1, -(2**63)]), st.integers(-10, 10**6))
    return hostile(
        st.lists(element, max_size=6).map(lambda v: Arg("%s::bigint[]", (array_literal(
            [None if x is None else str(x) for x in v]),))),
        st.sampled_from([Arg("%s::bigint[]", ("{{1,2},{3,4}}",)), Arg("ARRAY[]::bigint[]"),
                         Arg("%s::bigint[]", ("{1.5}",)), Arg("%s::numeric[]", ("{1e30}",))]),
        sql_type="bigint[]")


def timestamptz_array_strategy(ctx: Ctx, param: str) -> st.SearchStrategy[Arg]:
    element = st.one_of(st.none(), st.sampled_from(TIMESTAMPS))
    return hostile(
        st.lists(element, max_size=5).map(lambda v: Arg("%s::timestamptz[]", (array_literal(v),))),
        st.sampled_from([Arg("%s::timestamptz[]", ("{{now,now},{now,now}}",)),
                         Arg("%s::timestamptz[]", ("{not a time}",)), Arg("ARRAY[]::timestamptz[]")]),
        sql_type="timestamptz[]")


# Values of many types, for rows (anyelement) and VARIADIC "any".
ANY_POOL = [
    Arg("%s::float8", (math.nan,)), Arg("%s::float8", (math.inf,)), Arg("%s::float8", (-math.inf,)),
    Arg("%s::float8", (1e308,)), Arg("%s::float8", (-0.0,)), Arg("%s::numeric", ("1e1000",)),
    Arg("%s::numeric", ("NaN",)), Arg("%s::bigint", (2**63 - 1,)), Arg("%s::int", (-(2**31),)), Arg("true"),
    Arg("NULL::float8", null=True), Arg("NULL", null=True), Arg("%s::jsonb", ('{"a": [1, 2]}',)),
    Arg("ARRAY[1.5, 2.5]"), Arg("now()"), Arg("interval '1 day'"), Arg("'\\x00ff'::bytea"), Arg("ROW(1, 'x')"),
    Arg("'infinity'::timestamptz"), Arg("'NaN'::real"), Arg("%s::text", ("1e400",)), Arg("%s::text", ("nan",)),
    Arg("%s::text", (" 12 ",)), Arg("%s::text", ("1_000",)), Arg("%s::text", ("\u0663",)), Arg("%s::text", ("",)),
    Arg("%s::text", ("yes",)), Arg("%s::text", ("abc",)), Arg("%s::text", (LONG_TEXTS[1],)), Arg("'abc'"),
    Arg("%s::text", ("'; DROP TABLE customers; --",)), Arg("%s::text", (PAYLOADS[0],), payload=True),
    Arg("point(1, 2)"), Arg("'{\"a\": 1}'::json"), Arg("ARRAY[ARRAY[1, 2], ARRAY[3, 4]]"),
]


@st.composite
def customer_row(draw: st.DrawFn, ctx: Ctx) -> Arg:
    """A customer row with some columns replaced by values of any type, some dropped, maybe one added."""
    replaced = draw(st.dictionaries(st.sampled_from(ctx.customer_columns), st.sampled_from(ANY_POOL), max_size=3))
    dropped = draw(st.sets(st.sampled_from(ctx.customer_columns), max_size=2))
    extra = draw(st.sampled_from([None, '"\'; DROP TABLE customers; --"', '"\u202e"', '"day_mins "']))
    selects: list[str] = []
    params: list[Any] = []
    payload = False
    for column in ctx.customer_columns:
        if column in dropped:
            continue
        if column in replaced:
            arg = replaced[column]
            selects.append(f"{arg.sql} AS {column}")
            params.extend(arg.params)
            payload = payload or arg.payload
        else:
            selects.append(f"c.{column}")
    if extra:
        selects.append(f"1 AS {extra}")
    if not selects:
        selects.append("1 AS one")
    sql = f"(SELECT r FROM (SELECT {', '.join(selects)} FROM customers AS c WHERE c.phone = %s) AS r)"
    return Arg(sql, (*params, ctx.phone), payload=payload)


def anyelement_strategy(ctx: Ctx, param: str) -> st.SearchStrategy[Arg]:
    return st.one_of(
        customer_row(ctx),
        st.sampled_from([Arg("NULL::customers", null=True), Arg("NULL", null=True), Arg("42"), Arg("'x'::text"),
                         Arg("ARRAY[1, 2]"), Arg("'{}'::jsonb"), Arg("ROW(1, 'a')"),
                         Arg("(SELECT r FROM (SELECT) AS r)"),
                         Arg("(SELECT c FROM customers AS c WHERE false)", null=True),
                         Arg("(SELECT m FROM churnml.models AS m LIMIT 1)")]),
    )


def composite_strategy(sql_type: str, fields: Sequence[str]) -> Callable[[Ctx, str], st.SearchStrategy[Arg]]:
    """ROW(...)::type whose fields are text/numbers/JSON drawn hostile, plus NULLs and other types."""
    field_values: dict[str, st.SearchStrategy[Any]] = {
        "text": st.one_of(st.none(), st.sampled_from(TEXT_SAMPLES), st.text(TEXT_CHARS, max_size=20)),
        "numeric": st.one_of(st.none(), st.sampled_from(["NaN", "-1", "1e1000", "Infinity", "5", "abc"])),
        "bigint": st.one_of(st.none(), st.sampled_from(["-1", "0", "9223372036854775807", "abc"])),
        "jsonb": st.one_of(st.none(), st.sampled_from(['{"will_churn": "abc"}', '{"confidence": 1e300}', "[]",
                                                       '{"will_churn": 0.5, "sentiment": "NEGATIVE"}', "{", "null"])),
    }

    @st.composite
    def row(draw: st.DrawFn) -> Arg:
        values = tuple(draw(field_values[f]) for f in fields)
        casts = ", ".join(f"%s::{f}" for f in fields)
        return Arg(f"ROW({casts})::{sql_type}", values)

    def make(ctx: Ctx, param: str) -> st.SearchStrategy[Arg]:
        all_null = Arg(f"ROW({', '.join(['NULL'] * len(fields))})::{sql_type}")
        return hostile(row(), st.just(all_null), sql_type=sql_type)
    return make


def variadic_text_strategy(ctx: Ctx, param: str) -> st.SearchStrategy[list[Arg]]:
    names = st.one_of(st.sampled_from([typed("text")(v) for v in ("churn", str(ctx.model_id), str(ctx.model_id2))]),
                      text_strategy("text")(ctx, param))
    return st.one_of(
        st.lists(names, max_size=5),
        st.sampled_from([[Arg("VARIADIC %s::text[]", ("{churn,NULL}",))], [Arg("VARIADIC ARRAY[]::text[]")],
                         [Arg("VARIADIC NULL::text[]", null=True)], [Arg("VARIADIC %s::text[]", ("{{a},{b}}",))],
                         [Arg("VARIADIC ARRAY[1, 2]")]]),
    )


def variadic_any_strategy(ctx: Ctx, param: str) -> st.SearchStrategy[list[Arg]]:
    good = [typed("text")(v) for v in ctx.endpoint_inputs]

    @st.composite
    def mutated(draw: st.DrawFn) -> list[Arg]:
        args = list(good)
        for i in draw(st.sets(st.sampled_from(range(len(args))), min_size=1, max_size=3)):
            args[i] = draw(st.sampled_from(ANY_POOL))
        return args

    return st.one_of(
        mutated(),
        st.lists(st.sampled_from(ANY_POOL), min_size=1, max_size=14),
        st.sampled_from([
            [Arg("VARIADIC %s::text[]", (array_literal(ctx.endpoint_inputs),))],
            [Arg("VARIADIC %s::float8[]", ([math.nan] * len(good),))],
            [Arg("VARIADIC %s::float8[]", ([math.inf, -math.inf] * len(good),))],
            [Arg("VARIADIC NULL::int[]", null=True)], [Arg("VARIADIC '{}'::int[]")],
            [Arg("VARIADIC ARRAY[[1, 2], [3, 4]]")], [Arg("VARIADIC '[0:1]={1,2}'::int[]")],
            [Arg("VARIADIC ARRAY[ROW(1, 'a')]")], [Arg("VARIADIC %s::jsonb[]", (['{"a": 1}', "[]"],))],
            [Arg("VARIADIC %s::text[]", (array_literal([LONG_TEXTS[0]] * len(good)),))],
            [Arg(str(i)) for i in range(120)],
        ]),
    )


TYPE_STRATEGIES: dict[str, Callable[[Ctx, str], st.SearchStrategy[Any]]] = {
    "text": text_strategy("text"),
    "character varying": text_strategy("varchar"),
    "integer": number_strategy("int", -(2**31), 2**31 - 1),
    "bigint": number_strategy("bigint", -(2**63), 2**63 - 1),
    "double precision": float_strategy("float8"),
    "real": float_strategy("real"),
    "numeric": numeric_strategy,
    "boolean": boolean_strategy,
    "jsonb": jsonb_strategy,
    "bytea": bytea_strategy,
    "regclass": regclass_strategy,
    "regrole": regrole_strategy,
    "timestamp with time zone": timestamptz_strategy,
    "interval": interval_strategy,
    "text[]": text_array_strategy,
    "bigint[]": bigint_array_strategy,
    "double precision[]": float_array_strategy,
    "timestamp with time zone[]": timestamptz_array_strategy,
    "anyelement": anyelement_strategy,
    "anyarray": lambda ctx, param: st.one_of(text_array_strategy(ctx, param), float_array_strategy(ctx, param)),
    "churnml.incentive": composite_strategy(
        "churnml.incentive",
        ["text", "numeric", "text", "text", "text", "text", "bigint", "text", "text", "jsonb"]),
    "aws_commons._s3_uri_1": composite_strategy("aws_commons._s3_uri_1", ["text", "text", "text"]),
    "aws_commons._aws_credentials_1": composite_strategy("aws_commons._aws_credentials_1", ["text", "text", "text"]),
    "VARIADIC text[]": variadic_text_strategy,
    'VARIADIC "any"': variadic_any_strategy,
}


# ---------------------------------------------------------------- plausible values


@dataclass(frozen=True)
class Ctx:
    """What the plausible values need from the test database."""

    url: str
    model_id: int
    model_id2: int
    area_code: int
    phone: str
    customer_key: str
    offer_id: int
    row_json: str
    customer_columns: tuple[str, ...]
    endpoint_inputs: tuple[str, ...]
    files_root: str
    predict_numbers: tuple[float | None, ...]  # model_id2's features for predict, from one customer
    predict_texts: tuple[str | None, ...]
    # model_id2 as register_model takes it: artifact, feature_spec, metrics, training, params, holdout
    stored: dict[str, str] = field(repr=False)


def good_values(ctx: Ctx) -> dict[str, list[Arg]]:
    """Plausible values by parameter name, so hostile values reach past the first check."""
    t, i, b, f = typed("text"), typed("int"), typed("bigint"), typed("float8")
    texts = ["You morons! You charged me extra again!", "Thank you very much for resolving the issues with my bill!"]
    return {
        "name": [t("churn"), t(str(ctx.model_id))],
        "model": [t("churn")],
        "endpoint_name": [typed("varchar")("churn")],
        "source": [t("train_view"), t("SELECT * FROM train_view WHERE cust_service_calls < 5")],
        "label": [t("churn")],
        "features": [Arg("ARRAY['day_mins', 'cust_service_calls', 'int_plan']")],
        "exclude": [Arg("ARRAY['phone']")],
        "feature_types": [Arg("'{\"int_plan\": \"categorical\"}'::jsonb")],
        "hyperparams": [Arg("'{\"max_depth\": 2, \"num_boost_round\": 5}'::jsonb")],
        "search": [Arg("'{\"trials\": 2, \"space\": {\"max_depth\": [2, 3]}}'::jsonb")],
        "missing": [t(m) for m in ("native", "mean", "median", "zero")],
        "test_fraction": [f(0.2)], "validation_fraction": [f(0.2)], "seed": [i(1)],
        "deploy": [Arg("false"), Arg("true")], "parent_id": [b(ctx.model_id)],
        "model_id": [b(ctx.model_id), b(ctx.model_id2)], "strategy": [t("best"), t("latest")],
        "threshold": [f(0.3)], "fp_cost": [f(50.0)], "fn_cost": [f(500.0)], "tp_cost": [f(50.0)], "tn_cost": [f(0.0)],
        "level": [t("input"), t("output")], "k": [i(3)], "top_k": [i(3)],
        "row_json": [t(ctx.row_json)], "c": [Arg("(SELECT c FROM customers AS c WHERE c.phone = %s)", (ctx.phone,))],
        "probability": [f(0.7)], "key_column": [t("phone")], "batch_size": [i(100), i(7)],
        "function_name": [t("hostile_fn")], "schema": [t("public")],
        "input_text": [t(x) for x in texts], "message": [t(x) for x in texts], "language_code": [t("en")],
        "engine": [t("lexicon"), t("mood"), Arg("NULL::text", null=True)], "_engine": [t("lexicon")],
        "input_texts": [Arg("%s::text[]", (array_literal(texts),))],
        "times": [Arg("ARRAY[now() - interval '1 day', now()]")],
        "text_column": [t("message")], "label_column": [t("label")],
        "condition": [t("cust_service_calls > 3 AND int_plan = 'yes'"), t("TRUE")],
        "will_churn": [f(0.9)], "sentiment": [t("NEGATIVE")], "confidence": [f(0.95)],
        "customer": [Arg("'{\"cust_service_calls\": 4, \"int_plan\": \"yes\"}'::jsonb")],
        "customer_key": [t(ctx.customer_key)], "rule_set": [t("default")], "as_of": [Arg("now()")],
        "recommendation": [Arg("(SELECT r FROM churnml.recommend_incentive(0.9, 'NEGATIVE', 0.95, "
                               "customer_key => %s) AS r)", (ctx.customer_key,))],
        "offer_id": [b(ctx.offer_id)], "outcome": [t("retained"), t("churned")], "recorded_at": [Arg("now()")],
        "note": [t("called back")], "experiment": [t("negative_medium_risk_credit")], "control_arm": [t("A")],
        "retained_value": [typed("numeric")(300)], "save_rate": [f(0.3)], "acceptance_rate": [f(0.5)],
        "sentiment_mix": [Arg("'{\"NEGATIVE\": 0.5, \"POSITIVE\": 0.5}'::jsonb")],
        "area_code": [b(ctx.area_code)], "phone": [t(ctx.phone)], "log_offer": [Arg("false"), Arg("true")],
        "query": [t("SELECT * FROM customers LIMIT 5"), t("SELECT 1 AS x")],
        "uri": [t("s3://churnml/hostile/in.csv"), t(f"file://{ctx.files_root}/in.csv")],
        "format": [t("csv"), t("text")], "header": [Arg("false"), Arg("true")], "manifest": [Arg("true")],
        "overwrite": [Arg("true")], "compression": [t("gzip")], "part_size": [b(1000)],
        "target": [Arg("'hostile_target'::regclass")], "mode": [t("file"), t("prefix"), t("manifest")],
        "ignore_lines": [i(0), i(1)], "columns": [Arg("ARRAY['a', 'b']")],
        "on_conflict": [t("error"), t("ignore"), t("replace")],
        "bucket": [t("churnml")], "file_path": [t("hostile/in.csv")], "region": [t("us-east-1")],
        "s3_info": [Arg("aws_commons.create_s3_uri('churnml', 'hostile/in.csv', 'us-east-1')")],
        "credentials": [Arg("ROW('a', 'b', 'c')::aws_commons._aws_credentials_1")],
        "access_key": [t("AKIAEXAMPLE")], "secret_key": [t("secret")], "session_token": [t("token")],
        "max_rows_per_batch": [Arg("NULL::int", null=True), i(10)], "max_batch_size": [i(5)],
        "model_input": [Arg("%s::text[]", (array_literal(ctx.endpoint_inputs),))],
        "table_name": [t("hostile_target")], "column_list": [t("a,b"), t("")],
        "options": [t("(format csv)"), t("format csv, header false")],
        "uri_prefix": [t("s3://churnml/hostile/"), t(f"file://{ctx.files_root}/")], "credential": [t("default")],
        "description": [t("hostile")], "if_not_exists": [Arg("true")], "if_exists": [Arg("true")],
        "location": [t("test_bucket")], "privilege": [t("read"), t("write"), t("read, write")],
        "to_role": [Arg("'churnml_loader'::regrole")], "from_role": [Arg("'churnml_loader'::regrole")],
        "schedule": [t("0 3 * * 1"), t("@daily")], "min_gain": [f(0.01), f(0.0)], "min_auc": [f(0.6)],
        "policy_id": [b(1)],
        "sample_rate": [f(0.5), f(1.0), f(0.0)], "period": [t("month"), t("day"), t("all")],
        "since": [Arg("now() - interval '1 day'")], "horizon": [Arg("'30 days'::interval")],
        "min_outcomes": [b(10)],
        "log_name": [t("churn")], "serving_model": [b(ctx.model_id)], "cutoff": [f(0.5)], "key": [t("k1")],
        "serving_probability": [f(0.5)], "shadow_model": [b(ctx.model_id2)], "shadow_probability": [f(0.4)],
    }


NUMBER_TOKEN = re.compile(r"-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?")
BAD_NUMBERS = ["NaN", "Infinity", "-1", "1e999", "99999999999999999999", '"x"', "null", "[]", "{}", "0", "-0",
               "2147483648", "4294967296", "1.5", "true"]


def mutated_json(sql_type: str, text: str) -> st.SearchStrategy[Arg]:
    """`text` (valid JSON) with one number replaced by something hostile, or cut short."""
    spans = [m.span() for m in NUMBER_TOKEN.finditer(text)]

    @st.composite
    def mutate(draw: st.DrawFn) -> Arg:
        if spans and draw(st.booleans()):
            start, end = draw(st.sampled_from(spans))
            return Arg(f"%s::{sql_type}", (text[:start] + draw(st.sampled_from(BAD_NUMBERS)) + text[end:],))
        cut = draw(st.integers(1, len(text) - 1))
        return Arg(f"%s::{sql_type}", (text[:cut],))
    return mutate()


# (function, parameter) -> hostile values beyond the type's, for arguments with structure
FUNCTION_HOSTILE: dict[tuple[str, str], Callable[[Ctx], st.SearchStrategy[Arg]]] = {
    ("register_model", "artifact"): lambda ctx: mutated_json("text", ctx.stored["artifact"]),
    ("register_model", "feature_spec"): lambda ctx: mutated_json("jsonb", ctx.stored["feature_spec"]),
    ("register_model", "holdout"): lambda ctx: mutated_json("jsonb", ctx.stored["holdout"]),
    ("_score_json", "row_json"): lambda ctx: mutated_json("text", ctx.row_json),
    ("_explain_json", "row_json"): lambda ctx: mutated_json("text", ctx.row_json),
}
# Objects and files whose content is hostile: NUL bytes, invalid UTF-8, a BOM, an unterminated quote, a broken
# gzip stream, no final newline, an empty file, a 1 MB line. Loaded by load_from_s3 and table_import_from_s3.
HOSTILE_FILES = {
    "in.csv": b"1,hello\n2,world\n", "nul.csv": b"1,a\x00b\n", "latin1.csv": b"1,caf\xe9\n",
    "bom.csv": b"\xef\xbb\xbf1,x\n", "quote.csv": b'1,"never closed\n2,x\n',
    "broken.csv.gz": b"\x1f\x8b\x08\x00garbage",
    "nonl.csv": b"1,x", "empty.csv": b"", "wide.csv": b"1," + b"y" * 1_000_000 + b"\n", "crlf.csv": b"1,a\r\n2,b\r\n",
    "cols.csv": b"1,a,extra,more\n", "text.txt": b"1\t\\N\n2\t\\x41\\\n",
}


def load_uris(ctx: Ctx) -> list[Arg]:
    return [typed("text")(u) for name in HOSTILE_FILES
            for u in (f"s3://churnml/hostile/{name}", f"file://{ctx.files_root}/{name}")]


# (function, parameter) -> plausible values where the parameter name alone is not enough
FUNCTION_GOOD: dict[tuple[str, str], Callable[[Ctx], list[Arg]]] = {
    ("train", "name"): lambda ctx: [typed("text")("hostile_model"), typed("text")("churn")],
    ("train_sentiment", "name"): lambda ctx: [typed("text")("mood2")],
    ("train_sentiment", "source"): lambda ctx: [typed("text")("labelled")],
    ("score", "source"): lambda ctx: [typed("text")("customers"),
                                      typed("text")("SELECT * FROM customers WHERE area_code = 415")],
    ("_score_batches", "source"): lambda ctx: [typed("text")("customers")],
    ("load_from_s3", "uri"): load_uris,
    ("table_import_from_s3", "file_path"): lambda ctx: [typed("text")(f"hostile/{n}") for n in HOSTILE_FILES],
    ("table_import_from_s3", "s3_info"): lambda ctx: [
        Arg("aws_commons.create_s3_uri('churnml', %s, 'us-east-1')", (f"hostile/{n}",)) for n in HOSTILE_FILES],
    ("export_query", "uri"): lambda ctx: [typed("text")("s3://churnml/hostile/out.csv"),
                                          typed("text")(f"file://{ctx.files_root}/out.csv")],
    ("query_export_to_s3", "file_path"): lambda ctx: [typed("text")("hostile/out.csv")],
    ("predict", "model_id"): lambda ctx: [typed("bigint")(ctx.model_id2)],
    ("predict", "numbers"): lambda ctx: [Arg("%s::float8[]", (array_literal(
        [None if v is None else repr(v) for v in ctx.predict_numbers]),))],
    ("predict", "texts"): lambda ctx: [Arg("%s::text[]", (array_literal(ctx.predict_texts),))],
    ("create_shard_function", "relation"): lambda ctx: [Arg("'customers'::regclass")],
    ("register_model", "name"): lambda ctx: [typed("text")("churn"), typed("text")("hostile_model")],
    ("register_model", "artifact"): lambda ctx: [typed("text")(ctx.stored["artifact"])],
    ("register_model", "feature_spec"): lambda ctx: [typed("jsonb")(ctx.stored["feature_spec"])],
    ("register_model", "metrics"): lambda ctx: [typed("jsonb")(ctx.stored["metrics"])],
    ("register_model", "training"): lambda ctx: [typed("jsonb")(ctx.stored["training"])],
    ("register_model", "params"): lambda ctx: [typed("jsonb")(ctx.stored["params"])],
    ("register_model", "holdout"): lambda ctx: [typed("jsonb")(ctx.stored["holdout"])],
    ("invoke_endpoint", "model_input"): lambda ctx: [
        Arg("VARIADIC %s::text[]", (array_literal(ctx.endpoint_inputs),))],
    ("query_export_to_s3", "s3_info"): lambda ctx: [
        Arg("aws_commons.create_s3_uri('churnml', 'hostile/out.csv', 'us-east-1')")],
}


# ---------------------------------------------------------------- the catalog


@dataclass(frozen=True)
class Func:
    extension: str
    schema: str
    name: str
    identity: str
    arg_names: tuple[str, ...]
    arg_types: tuple[str, ...]
    n_defaults: int
    variadic: bool
    strict: bool

    @property
    def qualified(self) -> str:
        return f'"{self.schema}"."{self.name}"'

    @property
    def key(self) -> str:
        return f"{self.schema}.{self.name}({self.identity})"

    def has_default(self, index: int) -> bool:
        return index >= len(self.arg_names) - self.n_defaults

    def type_key(self, index: int) -> str:
        last = index == len(self.arg_types) - 1
        return f"VARIADIC {self.arg_types[index]}" if self.variadic and last else self.arg_types[index]


CATALOG = """
SELECT e.extname, n.nspname, p.proname, pg_catalog.pg_get_function_identity_arguments(p.oid) AS identity,
       ARRAY(SELECT pg_catalog.format_type(u.t, NULL)
             FROM pg_catalog.unnest(p.proargtypes::pg_catalog.oid[]) WITH ORDINALITY AS u(t, i) ORDER BY u.i)
           AS argtypes,
       p.proargnames, p.proargmodes::text[] AS argmodes, p.pronargdefaults, p.provariadic <> 0 AS variadic,
       p.proisstrict,
       p.proacl IS NULL OR EXISTS (SELECT FROM pg_catalog.aclexplode(p.proacl) AS a
                                   WHERE a.grantee <> p.proowner AND a.privilege_type = 'EXECUTE') AS granted
FROM pg_catalog.pg_proc AS p
JOIN pg_catalog.pg_namespace AS n ON n.oid = p.pronamespace
JOIN pg_catalog.pg_depend AS d ON d.classid = 'pg_catalog.pg_proc'::pg_catalog.regclass AND d.objid = p.oid
                               AND d.deptype = 'e'
JOIN pg_catalog.pg_extension AS e ON e.oid = d.refobjid AND e.extname IN ('churnml', 'churnml_aws')
WHERE p.prokind = 'f'
ORDER BY e.extname, n.nspname, p.proname, identity
"""


def public_functions(conn: psycopg.Connection) -> list[Func]:
    """Every function of the two extensions a user may call: public names, and internal ones that are granted."""
    functions = []
    for ext, schema, name, identity, types, names, modes, n_defaults, variadic, strict, granted in conn.execute(
            CATALOG).fetchall():
        if name.startswith("_") and not granted:
            continue
        if modes is None:
            inputs = list(names or [])[: len(types)]
        else:
            inputs = [n for n, m in zip(names or [""] * len(modes), modes, strict=True) if m in ("i", "b", "v")]
        inputs = [n or f"${k + 1}" for k, n in enumerate(inputs)] + [f"${k + 1}" for k in range(len(inputs),
                                                                                              len(types))]
        functions.append(Func(ext, schema, name, identity, tuple(inputs), tuple(types), n_defaults, variadic,
                              strict))
    return functions


# ---------------------------------------------------------------- calling


@dataclass
class Call:
    sql: str
    params: tuple[Any, ...]
    given: dict[str, Arg]  # parameter name -> the argument passed (absent: its default)


def draw_call(data: st.DataObject, ctx: Ctx, good: dict[str, list[Arg]], fn: Func) -> Call:
    n = len(fn.arg_names)
    positional = fn.variadic or any(a.startswith("$") for a in fn.arg_names)
    # one hostile argument (the others plausible) as often as several, or now and then none
    chosen = st.one_of(st.sampled_from(range(n)).map(lambda i: {i}), st.sets(st.sampled_from(range(n))))
    hostile = data.draw(chosen, label="hostile") if n else set()
    given: dict[str, Arg] = {}
    parts: list[str] = []
    params: list[Any] = []
    for index, (param, _sql_type) in enumerate(zip(fn.arg_names, fn.arg_types, strict=True)):
        plausible = FUNCTION_GOOD[(fn.name, param)](ctx) if (fn.name, param) in FUNCTION_GOOD else good.get(param)
        strategy = TYPE_STRATEGIES[fn.type_key(index)](ctx, param)
        if (fn.name, param) in FUNCTION_HOSTILE:
            strategy = st.one_of(strategy, FUNCTION_HOSTILE[(fn.name, param)](ctx))
        if fn.type_key(index).startswith("VARIADIC"):
            drawn = data.draw(strategy if index in hostile or not plausible else
                              st.sampled_from([[a] for a in plausible]), label=param)
            for arg in drawn:
                parts.append(arg.sql)
                params.extend(arg.params)
            # only VARIADIC <array> stands for the whole list (VARIADIC NULL is a NULL list, not a NULL input)
            whole = len(drawn) == 1 and drawn[0].sql.startswith("VARIADIC")
            given[param] = drawn[0] if whole else Arg("<list>")
            continue
        if index in hostile:
            arg = data.draw(strategy, label=param)
        elif fn.has_default(index) and (param.startswith("_") or not plausible
                                        or (not positional and data.draw(st.booleans(), label=f"{param} default"))):
            if positional:  # positional calls cannot skip an argument: pass a plausible or hostile value
                arg = data.draw(st.sampled_from(plausible) if plausible else strategy, label=param)
            else:
                continue
        elif plausible:
            arg = data.draw(st.sampled_from(plausible), label=param)
        else:
            arg = data.draw(strategy, label=param)
        given[param] = arg
        parts.append(arg.sql if positional else f'"{param}" => {arg.sql}')
        params.extend(arg.params)
    return Call(f"SELECT * FROM {fn.qualified}({', '.join(parts)})", tuple(params), given)


@dataclass
class Session:
    """The connection every example runs on, replaced if it ever breaks (which is a failure itself)."""

    url: str
    conn: psycopg.Connection = field(init=False)

    def __post_init__(self) -> None:
        self.connect()

    def connect(self) -> None:
        self.conn = psycopg.connect(self.url, autocommit=True)
        self.conn.execute("SET client_min_messages = warning")  # train's progress NOTICEs
        # Loading the sentence encoder takes seconds (more on a busy machine): done here, before the
        # statement_timeout, so that a slow first load does not pass for a hang.
        self.conn.execute("SELECT churnml.embed('warm up'), churnml.detect_sentiment_label('warm up', 'en', 'encoder')")
        self.conn.execute(f"SET statement_timeout = '{STATEMENT_TIMEOUT}'")

    def close(self) -> None:
        self.conn.close()


@dataclass
class Outcome:
    rows: list[tuple[Any, ...]] | None = None
    columns: list[str] = field(default_factory=list)
    error: psycopg.Error | None = None


def execute(session: Session, call: Call) -> Outcome:
    conn = session.conn
    outcome = Outcome()
    with conn.transaction(force_rollback=True):
        try:
            cursor = conn.execute(call.sql, call.params)
            outcome.columns = [d.name for d in cursor.description or []]
            outcome.rows = cursor.fetchall() if cursor.description else []
        except psycopg.Error as exc:
            outcome.error = exc
            if conn.closed or conn.broken:
                raise
    return outcome


def error_problem(exc: psycopg.Error, function: str = "") -> str | None:
    """Why an error is not a clean one, or None."""
    state = exc.sqlstate or ""
    diag = exc.diag
    message = diag.message_primary or str(exc)
    described = f"SQLSTATE {state or '(none)'}: {message} / detail: {diag.message_detail}"
    if not state:
        return f"no SQLSTATE (client-side or protocol error): {exc!r}"
    if state == "XX001" and function in LOADERS and DOCUMENTED_XX001.search(message):
        return None  # docs/loaders.md: an invalid export manifest, or a part that disagrees with it
    if state in ("XX000", "XX001", "XX002"):
        return f"internal error, {described}"
    if state.startswith("38"):
        return f"an exception escaped un-mapped, {described}"
    if state == "57014":
        return f"hang: cancelled by statement_timeout {STATEMENT_TIMEOUT}, {described}"
    if state.startswith(("08", "53", "58")) and "churnml" not in message:
        return f"system error, {described}"
    if PY_EXCEPTION_MESSAGE.match(message):
        return f"a Python exception as the message, {described}"
    return None


def _unit(value: Any) -> bool:
    return value is None or (isinstance(value, int | float) and 0.0 <= float(value) <= 1.0)


def value_problem(fn: Func, call: Call, outcome: Outcome) -> str | None:
    """Why a successful result breaks what the documentation says, or None."""
    rows = outcome.rows or []
    for row in rows:
        for column, value in zip(outcome.columns, row, strict=True):
            if column in UNIT_COLUMNS and not _unit(value):
                return f"{column} = {value!r} is not in [0, 1]"
            if column in LABEL_COLUMNS and value is not None and value not in LABELS:
                return f"{column} = {value!r} is not a sentiment label"
            if column == "model_output" and value is not None and not 0.0 <= float(value) <= 1.0:
                return f"model_output = {value!r} is not a probability"
    null_args = {p for p, a in call.given.items() if a.null}
    all_null = all(v is None for row in rows for v in row)
    if fn.strict and null_args and not all_null:
        return f"STRICT function returned {rows!r} for NULL {sorted(null_args)}"
    if any((fn.name, p) in NULL_GIVES_NULL for p in null_args) and not all_null:
        return f"documented NULL result, got {rows[:2]!r} for NULL {sorted(null_args)}"
    return None


@dataclass
class Stats:
    examples: int = 0
    ok: int = 0
    states: Counter[str] = field(default_factory=Counter)
    seconds: float = 0.0
    generic: dict[str, str] = field(default_factory=dict)  # errors.py's catch-all mappings seen: message -> detail


def canary_advanced(conn: psycopg.Connection) -> bool:
    _last, called = conn.execute(f"SELECT last_value, is_called FROM {CANARY}").fetchone()
    if called:
        conn.execute(f"SELECT pg_catalog.setval('{CANARY}', 1, false)")
    return bool(called)


def fuzz(session: Session, ctx: Ctx, good: dict[str, list[Arg]], fn: Func, stats: Stats) -> None:
    missing = [fn.type_key(i) for i in range(len(fn.arg_types)) if fn.type_key(i) not in TYPE_STRATEGIES]
    assert not missing, f"no argument strategy for {missing}: add one to TYPE_STRATEGIES"
    examples = EXAMPLES_OVERRIDE.get(fn.name, DEFAULT_EXAMPLES) if fn.arg_names else 1

    @settings(max_examples=examples, deadline=None, derandomize=True, database=None, print_blob=False,
              suppress_health_check=SUPPRESSED)
    @given(data=st.data())
    def check(data: st.DataObject) -> None:
        call = draw_call(data, ctx, good, fn)
        stats.examples += 1
        try:
            outcome = execute(session, call)
        except psycopg.Error as exc:
            session.connect()
            raise AssertionError(f"{fn.key}: the connection broke: {exc!r}") from None
        if outcome.error is None:
            stats.ok += 1
            problem = value_problem(fn, call, outcome)
        else:
            stats.states[outcome.error.sqlstate or "none"] += 1
            problem = error_problem(outcome.error, fn.name)
            message = outcome.error.diag.message_primary or ""
            if GENERIC_MAPPING.match(message):  # clean, but the input got no specific check
                stats.generic.setdefault(message, f"{outcome.error.diag.message_detail} <- {call.sql[:160]}")
        alive = session.conn.execute("SELECT 1").fetchone()
        assert alive == (1,), f"{fn.key}: SELECT 1 gave {alive!r} after the call"
        if canary_advanced(session.conn):
            carriers = [p for p, a in call.given.items() if a.payload and p not in QUERY_PARAMS]
            assert not carriers, f"{fn.key}: SQL injected through {carriers} ran (the canary advanced)"
        assert problem is None, f"{fn.key}: {problem}\n  call: {call.sql[:500]}"

    started = time.perf_counter()
    try:
        check()
    finally:
        stats.seconds += time.perf_counter() - started


# ---------------------------------------------------------------- fixtures

LABELLED = """CREATE TABLE labelled AS
    SELECT * FROM (VALUES
      ('the bill is wrong again', 'negative'), ('I was charged twice this month', 'negative'),
      ('my calls keep dropping', 'negative'), ('nobody answered my ticket', 'negative'),
      ('great service, thank you', 'positive'), ('the new plan is excellent', 'positive'),
      ('very happy with the coverage', 'positive'), ('support fixed it fast, thanks', 'positive'),
      ('what are your opening hours', 'neutral'), ('how do I change my address', 'neutral'),
      ('when is my bill due', 'neutral'), ('can I add a line', 'neutral'))
    AS t(message, label), generate_series(1, 2)"""


@pytest.fixture(scope="module")
def files_dir() -> Iterator[Path]:
    """file:// URIs of this module stay in its own directory under the private test home."""
    path = TEST_HOME / "hostile-files"
    path.mkdir(mode=0o777, parents=True, exist_ok=True)
    path.chmod(0o777)  # the server's OS user writes exports here
    yield path
    for child in path.iterdir():
        child.unlink(missing_ok=True)


@pytest.fixture(scope="module")
def log_start(server_url: str) -> tuple[Path, int] | None:
    """The server log and its size before this module ran (None for an external server)."""
    if os.environ.get("CHURNML_TEST_DSN"):
        return None
    log = TEST_HOME / "log" / "postgresql.log"
    return log, log.stat().st_size if log.exists() else 0


@pytest.fixture(scope="module")
def ctx(make_telco: Callable[..., str], configured: S3Config, files_dir: Path,
        log_start: tuple[Path, int] | None) -> Ctx:
    url = declare_storage(make_telco("hostile", 500, 3), files_dir)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("SET client_min_messages = warning")
        conn.execute("CREATE EXTENSION churnml_aws")
        model_id = conn.execute("SELECT model_id FROM churnml.current_deployments WHERE name = 'churn'").fetchone()[0]
        # a second model of the same name, so that rollback has somewhere to go
        model_id2 = conn.execute("SELECT churnml.train('churn', 'customers', 'churn', exclude => ARRAY['phone'], "
                                 "hyperparams => '{\"max_depth\": 2, \"num_boost_round\": 20}', deploy => true)"
                                 ).fetchone()[0]
        conn.execute("CREATE VIEW train_view AS SELECT day_mins, cust_service_calls, int_plan, churn FROM customers "
                     "ORDER BY phone LIMIT 300")
        conn.execute(LABELLED)
        conn.execute("SELECT churnml.train_sentiment('mood', 'labelled', 'message', 'label', deploy => true)")
        conn.execute("CREATE TABLE hostile_target (a int PRIMARY KEY, b text)")
        conn.execute(f"CREATE SEQUENCE {CANARY}")
        area_code, phone = conn.execute("SELECT area_code, phone FROM customers ORDER BY phone LIMIT 1").fetchone()
        key = f"{area_code}/{phone}"
        offer_id = conn.execute("SELECT churnml.log_offer(%s, r, %s) FROM churnml.recommend_incentive("
                                "0.9, 'NEGATIVE', 0.95, customer_key => %s) AS r", (key, model_id, key)).fetchone()[0]
        row_json = conn.execute("SELECT row_to_json(c)::text FROM customers AS c WHERE phone = %s",
                                (phone,)).fetchone()[0]
        columns = tuple(r[0] for r in conn.execute(
            "SELECT attname FROM pg_attribute WHERE attrelid = 'customers'::regclass AND attnum > 0 "
            "AND NOT attisdropped ORDER BY attnum").fetchall())
        features = conn.execute("SELECT f ->> 'name', f ->> 'sql_type' FROM churnml.models AS m, "
                                "jsonb_array_elements(m.feature_spec -> 'features') AS f WHERE m.id = %s",
                                (model_id2,)).fetchall()
        customer = conn.execute("SELECT to_jsonb(c) FROM customers AS c WHERE phone = %s", (phone,)).fetchone()[0]
        inputs = tuple(str(customer[f]) for f, _ in features)
        numbers = tuple(None if customer[f] is None else float(customer[f]) for f, t in features
                        if type_family(t) in ("numeric", "boolean"))
        texts = tuple(customer[f] for f, t in features if type_family(t) not in ("numeric", "boolean"))
        stored = dict(zip(("artifact", "feature_spec", "metrics", "training", "params", "holdout"), conn.execute(
            "SELECT convert_from(artifact, 'UTF8'), feature_spec::text, metrics::text, training::text, params::text, "
            "jsonb_build_object('labels', to_jsonb(holdout_labels), 'scores', to_jsonb(holdout_scores))::text "
            "FROM churnml.models m JOIN churnml.model_artifacts a ON a.model_id = m.id WHERE m.id = %s",
            (model_id2,)).fetchone(), strict=True))
    with S3Client(configured) as client:
        for name, content in HOSTILE_FILES.items():
            client.put_object("churnml", f"hostile/{name}", content)
    for name, content in HOSTILE_FILES.items():
        (files_dir / name).write_bytes(content)
        (files_dir / name).chmod(0o644)
    return Ctx(url=url, model_id=model_id, model_id2=model_id2, area_code=area_code, phone=phone, customer_key=key,
               offer_id=offer_id, row_json=row_json, customer_columns=columns, endpoint_inputs=inputs,
               files_root=str(files_dir), predict_numbers=numbers, predict_texts=texts, stored=stored)


@pytest.fixture(scope="module")
def functions(ctx: Ctx) -> list[Func]:
    with psycopg.connect(ctx.url, autocommit=True) as conn:
        return public_functions(conn)


# ---------------------------------------------------------------- tests


def test_every_argument_type_has_a_strategy(functions: list[Func]) -> None:
    """A new function is fuzzed automatically, unless it brings an argument type nobody wrote values for."""
    missing = sorted({f"{fn.key}: {fn.type_key(i)}" for fn in functions for i in range(len(fn.arg_types))
                      if fn.type_key(i) not in TYPE_STRATEGIES})
    assert not missing, f"no argument strategy for: {missing}; add one to TYPE_STRATEGIES"
    names = {fn.name for fn in functions}
    # the catalog query finds both extensions' functions, public and granted internal ones, but no trigger
    assert {"train", "will_churn", "_score_json", "invoke_endpoint", "table_import_from_s3",
            "aws_comprehend_detect_sentiment"} <= names
    assert not {"_build_id", "_incentive_rules_check"} & names


def test_every_function_survives_hostile_input(ctx: Ctx, functions: list[Func]) -> None:
    good = good_values(ctx)
    session = Session(ctx.url)
    failures: list[str] = []
    report: list[str] = []
    try:
        for fn in functions:
            if ONLY and fn.name not in ONLY:
                continue
            stats = Stats()
            try:
                fuzz(session, ctx, good, fn, stats)
            except Exception as exc:  # noqa: BLE001 - collect every function's failure, then report them all
                notes = "\n".join(getattr(exc, "__notes__", []))
                failures.append(f"{fn.key}: {exc}\n{notes}")
            states = ", ".join(f"{s}x{n}" for s, n in stats.states.most_common())
            report.append(f"{fn.key}: {stats.examples} examples in {stats.seconds:.1f}s, {stats.ok} ok; {states}")
            report.extend(f"    catch-all mapping: {m} ({d})" for m, d in stats.generic.items())
    finally:
        session.close()
    print("\n".join(report))
    assert not failures, f"{len(failures)} functions failed:\n\n" + "\n\n".join(failures)


FIRST_ERRORS = [
    ("SELECT churnml.will_churn(c, 'no_such_model') FROM customers AS c LIMIT 1",
     "SELECT churnml.will_churn(c) FROM customers AS c WHERE c.phone = %(phone)s"),
    ("SELECT churnml._score_json('churn', '[[[')",
     "SELECT churnml._score_json('churn', %(row_json)s)"),
    ("SELECT churnml.detect_sentiment_label('I am happy', 'xx')",
     "SELECT churnml.detect_sentiment_label('You charged me extra again!', 'en', 'lexicon')"),
    ("SELECT churnml.check_condition('cust_service_calls >')",
     "SELECT churnml.check_condition('cust_service_calls > 3')::text"),
    ("SELECT * FROM churnml.assess_customer(1, 'nobody', log_offer => false)",
     "SELECT will_churn, offer FROM churnml.assess_customer(%(area_code)s, %(phone)s, 'thanks', false, 'lexicon')"),
    ("SELECT aws_sagemaker.invoke_endpoint('churn', 0, 1)",
     "SELECT probability FROM churnml.score('customers', 'phone') WHERE key = %(phone)s"),
    ("SELECT churnml.train('x', 'no_such_table', 'churn')",
     "SELECT * FROM churnml.top_features('churn', 3)"),
    ("SELECT * FROM churnml.threshold_costs(NULL, 1, 1)",
     "SELECT * FROM churnml.optimal_threshold('churn', 50, 500)"),
]


@pytest.mark.parametrize(("first", "then"), FIRST_ERRORS, ids=[f.split("(")[0].split()[-1] for f, _ in FIRST_ERRORS])
def test_first_error_does_not_poison_the_session(ctx: Ctx, first: str, then: str) -> None:
    """A fresh session whose first churnml call fails inside Python still answers correctly afterwards."""
    values = {"phone": ctx.phone, "area_code": ctx.area_code, "row_json": ctx.row_json}
    values = values if "%(" in then else {}
    with psycopg.connect(ctx.url, autocommit=True) as clean:
        expected = clean.execute(then, values).fetchall()
    assert expected and expected[0][0] is not None
    for in_transaction in (False, True):
        with psycopg.connect(ctx.url, autocommit=True) as fresh:
            if in_transaction:
                fresh.execute("BEGIN")
            with pytest.raises(psycopg.Error) as raised:
                fresh.execute(first)
            assert error_problem(raised.value) is None, error_problem(raised.value)
            if in_transaction:
                fresh.execute("ROLLBACK")
            assert fresh.execute(then, values).fetchall() == expected
            assert fresh.execute(then, values).fetchall() == expected  # and again, from the caches


SOURCE_QUERIES = [  # (a source or export query, the SQLSTATE it must get)
    (f"SELECT * FROM customers; SELECT nextval('{CANARY}')", "42601"),
    ("WITH gone AS (DELETE FROM customers RETURNING *) SELECT * FROM gone", "42809"),
    ("WITH gone AS (UPDATE customers SET churn = NOT churn RETURNING *) SELECT * FROM gone", "42809"),
    ("SELECT * INTO stolen FROM customers", "42809"),
    ("DELETE FROM customers RETURNING *", "42809"),
    (f"SELECT * FROM customers) AS src, (SELECT nextval('{CANARY}')", "42601"),
    (f"SELECT * FROM customers -- ) AS src, (SELECT nextval('{CANARY}')", None),  # a comment stays a comment
]


@pytest.mark.parametrize(("query", "state"), SOURCE_QUERIES)
def test_source_queries_are_one_select(ctx: Ctx, query: str, state: str | None) -> None:
    """Training, scoring and export paste a caller's query into their own statement: it must be exactly one
    SELECT that changes nothing, checked on the parse tree, the same for every function (internal ones too)."""
    calls = [("SELECT churnml.train('hostile', %(q)s, 'churn', exclude => ARRAY['phone'])", {}),
             ("SELECT count(*) FROM churnml.score(%(q)s)", {}),
             ("SELECT rows FROM churnml._copy_to_spool(%(q)s, 'csv', churnml._spool_file())", {})]
    with psycopg.connect(ctx.url, autocommit=True) as conn:
        before = conn.execute(f"SELECT count(*), sum(churn::int), (SELECT last_value FROM {CANARY}) "
                              "FROM customers").fetchone()
        for call, _ in calls:
            if state is None:
                conn.execute("BEGIN")
                conn.execute(call, {"q": query})
                conn.execute("ROLLBACK")
                continue
            with pytest.raises(psycopg.Error) as refused:
                conn.execute(call, {"q": query})
            assert refused.value.sqlstate == state, (call, query, str(refused.value))
            assert error_problem(refused.value) is None, error_problem(refused.value)
        assert conn.execute(f"SELECT count(*), sum(churn::int), (SELECT last_value FROM {CANARY}) "
                            "FROM customers").fetchone() == before
        assert conn.execute("SELECT to_regclass('stolen')").fetchone()[0] is None


def test_nul_characters_are_refused_cleanly(ctx: Ctx) -> None:
    """NUL cannot be in PostgreSQL text: the client refuses it, the server's paths to it fail cleanly."""
    with psycopg.connect(ctx.url, autocommit=True) as conn:
        with pytest.raises(psycopg.DataError):  # refused before it is sent
            conn.execute("SELECT churnml.detect_sentiment_label(%s, 'en', 'lexicon')", ("a\x00b",))
        for sql, state in [("SELECT churnml.first_sentence(chr(0))", "54000"),
                           ("SELECT churnml.embed(convert_from('\\x00'::bytea, 'UTF8'))", "22021"),
                           ("SELECT churnml.recommend_incentive(0.5, 'NEGATIVE', 0.9, '{\"a\": \"\\u0000\"}')",
                            "22P05")]:
            with pytest.raises(psycopg.Error) as raised:
                conn.execute(sql)
            assert raised.value.sqlstate == state, (sql, raised.value.sqlstate, str(raised.value))
        # A JSON escape inside text is data: Python sees a NUL character, which must not break the call.
        row = conn.execute("SELECT c FROM customers AS c WHERE phone = %s", (ctx.phone,)).fetchone()
        assert row is not None
        for sql in ["SELECT churnml._score_json('churn', %s)", "SELECT * FROM churnml._explain_json('churn', %s, 3)"]:
            with_nul = ctx.row_json.replace('"state":"', '"state":"\\u0000', 1)
            try:
                conn.execute(sql, (with_nul,)).fetchall()
            except psycopg.Error as exc:
                assert error_problem(exc) is None, error_problem(exc)
        assert conn.execute("SELECT 1").fetchone() == (1,)


def test_server_log_has_no_crash(log_start: tuple[Path, int] | None) -> None:
    """Nothing above crashed a backend: no signal, PANIC or TRAP in the server log written meanwhile."""
    if log_start is None:
        pytest.skip("CHURNML_TEST_DSN names an external server; its log is not ours to read")
    log, offset = log_start
    with open(log, "rb") as handle:
        handle.seek(offset)
        written = handle.read().decode("utf-8", errors="replace")
    crashes = [line for line in written.splitlines() if CRASH_LINES.search(line)]
    assert not crashes, "\n".join(crashes[:20])
