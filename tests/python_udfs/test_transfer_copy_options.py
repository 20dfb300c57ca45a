"""The COPY options text of Aurora's aws_s3 functions: both of COPY's spellings, and a
clear refusal of whatever churnml's loaders would not honour."""

from __future__ import annotations

import pytest

from churnml.errors import InvalidParameter
from churnml.sql_api.aws import column_names
from churnml.transfer.copy_options import CopyOptions, UnsupportedCopyOption, parse


@pytest.mark.parametrize(("text", "expected"), [
    (None, CopyOptions("text", False)),
    ("", CopyOptions("text", False)),
    ("(format csv)", CopyOptions("csv", False)),
    ("format csv, header true", CopyOptions("csv", True)),
    ("(FORMAT CSV, DELIMITER ',', HEADER true)", CopyOptions("csv", True)),
    ("format csv, delimiter $$,$$, HEADER", CopyOptions("csv", True)),
    ("CSV HEADER", CopyOptions("csv", True)),
    ("csv header delimiter as ','", CopyOptions("csv", True)),
    ("DELIMITER E'\\t'", CopyOptions("text", False)),
    ("format text, null '\\N', encoding 'utf-8'", CopyOptions("text", False)),
    ("header", CopyOptions("text", True)),
    ("header off", CopyOptions("text", False)),
    ("format binary", CopyOptions("binary", False)),
    ("(format csv, quote '\"', escape '\"', freeze false)", CopyOptions("csv", False)),
])
def test_accepted(text: str | None, expected: CopyOptions) -> None:
    assert parse(text, direction="import") == expected


def test_force_quote_is_what_exports_do_anyway() -> None:
    assert parse("format csv, force_quote *", direction="export") == CopyOptions("csv", False)
    with pytest.raises(UnsupportedCopyOption):
        parse("format csv, force_quote *", direction="import")


@pytest.mark.parametrize("text", [
    "format csv, delimiter '|'",
    "DELIMITER ';' CSV",
    "format text, null ''",
    "format csv, encoding 'LATIN1'",
    "format csv, header match",
    "format csv, force_not_null (a)",
    "freeze",
    "format csv, quote ''''",
])
def test_refused_with_0a000(text: str) -> None:
    with pytest.raises(UnsupportedCopyOption) as raised:
        parse(text, direction="import")
    assert raised.value.sqlstate == "0A000" and raised.value.hint


@pytest.mark.parametrize("text", [
    "format parquet", "format csv, format text", "(format csv", "header maybe", "bogus", "format csv, 'x'",
    "delimiter", "format csv; drop table t",
])
def test_malformed_is_22023(text: str) -> None:
    with pytest.raises(InvalidParameter) as raised:
        parse(text, direction="import")
    assert raised.value.sqlstate == "22023"


def test_column_lists() -> None:
    assert column_names(None) is None and column_names("  ") is None
    assert column_names("a, B ,c") == ["a", "b", "c"]
    assert column_names('(a, "Mixed Case", "with ""quote""")') == ["a", "Mixed Case", 'with "quote"']
    for bad in ("a,,b", "a b", "1a", '"open', "a;drop table t", "a,"):
        with pytest.raises(InvalidParameter):
            column_names(bad)
