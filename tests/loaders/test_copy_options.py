"""The COPY options text of Aurora's aws_s3 functions: both of COPY's spellings, and a
clear refusal of whatever churnml's loaders would not honour."""

from __future__ import annotations

import pytest

from churnml_loaders.copy_options import CopyOptions, UnsupportedCopyOption, parse
from churnml_loaders.errors import InvalidParameter


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


@pytest.mark.parametrize(("text", "expected"), [
    ("format csv, force_quote *", CopyOptions("csv", False, force_quote=True)),
    ("(FORMAT CSV, HEADER true, FORCE_QUOTE *)", CopyOptions("csv", True, force_quote=True)),
    ("CSV HEADER FORCE QUOTE *", CopyOptions("csv", True, force_quote=True)),
    ("format csv", CopyOptions("csv", False, force_quote=False)),
])
def test_force_quote_all_is_honoured_on_export(text: str, expected: CopyOptions) -> None:
    assert parse(text, direction="export") == expected


@pytest.mark.parametrize("text", ["format csv, force_quote (a)", "format csv, force_quote (a, b)",
                                  "format csv, force_quote a", "CSV FORCE QUOTE a"])
def test_force_quote_column_lists_are_refused_with_a_hint(text: str) -> None:
    with pytest.raises(UnsupportedCopyOption) as raised:
        parse(text, direction="export")
    assert raised.value.sqlstate == "0A000" and "column list" in raised.value.message
    assert raised.value.detail == f"Options: {text}" and "force_quote *" in (raised.value.hint or "")


def test_force_quote_needs_csv_and_a_target_and_is_refused_on_import() -> None:
    for text in ("format text, force_quote *", "force_quote *", "format binary, force_quote *"):
        with pytest.raises(UnsupportedCopyOption) as raised:
            parse(text, direction="export")
        # 0A000, as PostgreSQL's COPY reports it
        assert raised.value.sqlstate == "0A000" and "format csv" in (raised.value.hint or "")
    with pytest.raises(InvalidParameter) as raised:
        parse("format csv, force_quote", direction="export")
    assert raised.value.sqlstate == "22023"
    for text in ("format csv, force_quote *", "CSV FORCE QUOTE *"):
        with pytest.raises(UnsupportedCopyOption):
            parse(text, direction="import")


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
