"""COPY's options text, as the aws_s3 functions and churnml's loaders take it: both of COPY's
spellings, every option PostgreSQL 15's COPY has, checked as COPY checks them, with errors
that name the option and where it stands (the text never reaches SQL)."""

from __future__ import annotations

import pytest

from churnml_loaders.copy_options import (
    CopyColumnNotFound,
    CopyOptions,
    CopyOptionSyntaxError,
    UnsupportedCopyOption,
    parse,
)
from churnml_loaders.errors import InvalidParameter


@pytest.mark.parametrize(("text", "expected"), [
    (None, CopyOptions()),
    ("", CopyOptions()),
    ("(format csv)", CopyOptions("csv")),
    ("format csv, header true", CopyOptions("csv", True)),
    ("(FORMAT CSV, DELIMITER ',', HEADER true)", CopyOptions("csv", True, delimiter=",")),
    ("format csv, delimiter $$:$$", CopyOptions("csv", delimiter=":")),
    ("format csv, delimiter $x$;$x$, HEADER", CopyOptions("csv", True, delimiter=";")),
    ("DELIMITER '|'", CopyOptions(delimiter="|")),
    ("DELIMITER AS '|' CSV HEADER", CopyOptions("csv", True, delimiter="|")),
    ("CSV HEADER", CopyOptions("csv", True)),
    ("csv header delimiter as ','", CopyOptions("csv", True, delimiter=",")),
    ("DELIMITER E'\\t'", CopyOptions(delimiter="\t")),
    ("format text, encoding WIN1253", CopyOptions(encoding="win1253")),
    ("encoding 'WIN1252'", CopyOptions(encoding="WIN1252")),
    ("ENCODING 'LATIN1' CSV", CopyOptions("csv", encoding="LATIN1")),
    ("format text, null '\\N', encoding 'utf-8'", CopyOptions(null="\\N", encoding="utf-8")),
    ("null '…'", CopyOptions(null="…")),
    ("format csv, null 'NULL', quote '''', escape E'\\\\'", CopyOptions("csv", null="NULL", quote="'", escape="\\")),
    ("format csv, quote $$'$$", CopyOptions("csv", quote="'")),
    ("null E'\\x41\\101\\u0041'", CopyOptions(null="AAA")),
    ("header", CopyOptions(header=True)),
    ("header off", CopyOptions()),
    ("header 1", CopyOptions(header=True)),
    ("format binary", CopyOptions("binary")),
    ("(format csv, quote '\"', escape '\"', freeze false)", CopyOptions("csv", quote='"', escape='"')),
    ("format csv, force_not_null (a, \"B\"), force_null ('c d')",
     CopyOptions("csv", force_not_null=("a", "B"), force_null=("c d",))),
    ("CSV FORCE NOT NULL a, \"B\" HEADER", CopyOptions("csv", True, force_not_null=("a", "B"))),
    ("CSV FORCE NULL a", CopyOptions("csv", force_null=("a",))),
    ("(FORMAT CSV, HEADER MATCH)", CopyOptions("csv", True, header_match=True)),
])
def test_import_options(text: str | None, expected: CopyOptions) -> None:
    assert parse(text, direction="import") == expected


@pytest.mark.parametrize(("text", "expected"), [
    ("format csv, force_quote *", CopyOptions("csv", force_quote_all=True)),
    ("(FORMAT CSV, HEADER true, FORCE_QUOTE *)", CopyOptions("csv", True, force_quote_all=True)),
    ("CSV HEADER FORCE QUOTE *", CopyOptions("csv", True, force_quote_all=True)),
    ("format csv, force_quote (a, \"B\")", CopyOptions("csv", force_quote=("a", "B"))),
    ("CSV FORCE QUOTE a, b HEADER", CopyOptions("csv", True, force_quote=("a", "b"))),
    ("format csv, force_quote a", CopyOptions("csv", force_quote=("a",))),
])
def test_export_options(text: str, expected: CopyOptions) -> None:
    assert parse(text, direction="export") == expected


def test_copy_items_are_values_never_text() -> None:
    options = parse("format csv, delimiter ';', null E'\\\\N', force_quote (a, \"B c\"), encoding WIN1252, "
                    "quote '''', escape '\\'", direction="export")
    assert options.copy_items() == [("delimiter", ";"), ("null", "\\N"), ("quote", "'"), ("escape", "\\"),
                                    ("encoding", "win1252"), ("force_quote", "a"), ("force_quote", "B c")]
    assert parse("csv force quote *", direction="export").flat_items() == ["force_quote", None]
    assert parse("format csv, header match", direction="import").copy_items() == [("header", "match")]
    assert parse("format csv, header", direction="import").copy_items() == []  # the loaders drop header lines


def test_default_format_is_the_functions() -> None:
    assert parse("delimiter ';'", direction="import", default_format="csv").format == "csv"
    with pytest.raises(InvalidParameter):  # 'a' is a text-format escape letter, fine in csv
        parse("delimiter 'a'", direction="import")
    assert parse("delimiter 'a'", direction="import", default_format="csv").delimiter == "a"


def test_encoding_and_columns_are_checked_with_the_callers_answers() -> None:
    options = parse("format csv, encoding 'latin-1', force_quote (a)", direction="export")
    assert options.check_encoding(lambda name: "LATIN1").encoding == "LATIN1"
    with pytest.raises(InvalidParameter) as raised:
        options.check_encoding(lambda name: None)
    assert "latin-1" in raised.value.message and "At character 13" in (raised.value.detail or "")
    options.check_columns(["a", "b"], "the query")
    with pytest.raises(CopyColumnNotFound) as missing:
        options.check_columns(["A", "b"], "the query")
    assert missing.value.sqlstate == "42P10" and '"a"' in missing.value.message
    assert "force_quote" in missing.value.message and '"A", "b"' in (missing.value.detail or "")


@pytest.mark.parametrize(("text", "direction", "words", "at"), [
    ("format csv, delimiter '||'", "import", "single one-byte character", 13),
    ("format csv, delimiter 'é'", "import", "single one-byte character", 13),
    ("format csv, delimiter ''", "import", "single one-byte character", 13),
    ("format csv, delimiter E'\\n'", "import", "newline", 13),
    ("format text, delimiter 'a'", "import", "cannot be 'a'", 14),
    ("format text, delimiter '\\'", "import", "cannot be", 14),
    ("format csv, null E'a\\nb'", "import", "newline", 13),
    ("format csv, null 'a,b'", "import", "delimiter must not appear", 13),
    ("format csv, null '\"'", "import", "quote character must not appear", 13),
    ("format csv, quote ','", "import", "must be different", 13),
    ("format csv, delimiter '\"'", "import", "must be different", 13),
    ("format csv, quote 'ab'", "import", "single one-byte", 13),
    ("format csv, escape ''", "import", "single one-byte", 13),
    ("format text, quote '\"'", "import", "only with format csv", 14),
    ("format text, escape '\"'", "import", "only with format csv", 14),
    ("format binary, delimiter ','", "import", "not possible with format binary", 16),
    ("format binary, null ''", "export", "not possible with format binary", 16),
    ("format binary, header", "import", "not possible with format binary", 16),
    ("format text, force_quote *", "export", "only with format csv", 14),
    ("format csv, force_quote *", "import", "only in an export", 13),
    ("CSV FORCE QUOTE *", "import", "only in an export", 5),
    ("format csv, force_not_null (a)", "export", "only in an import", 13),
    ("format csv, force_null (a)", "export", "only in an import", 13),
    ("format text, force_null (a)", "import", "only with format csv", 14),
    ("format csv, header match", "export", "only in an import", 13),
    ("format parquet", "import", "not recognized", 1),
    ("header maybe", "import", "true, false or match", 1),
    ("format csv, force_quote (a, a)", "export", "twice", 13),
    ("format csv, encoding ''", "export", "must name an encoding", 13),
])
def test_values_copy_refuses_are_22023_with_the_option_and_its_place(text: str, direction: str, words: str,
                                                                      at: int) -> None:
    with pytest.raises(InvalidParameter) as raised:
        parse(text, direction=direction)
    assert raised.value.sqlstate == "22023"
    assert words in raised.value.message, raised.value.message
    assert (raised.value.detail or "").startswith(f"At character {at} of the options: ")


@pytest.mark.parametrize(("text", "words"), [
    ("(format csv", "do not close"),
    ("format csv,", "end with a comma"),
    ("format csv, 'x'", "must start with its name"),
    ("bogus", "not recognized"),
    ("format csv, bogus 1", "not recognized"),
    ("\"FORMAT\" csv", "not recognized"),
    ("format csv, format text", "given twice"),
    ("format csv; drop table t", "cannot be read"),
    ("delimiter", "needs a value"),
    ("format csv, delimiter '|' header", "takes one value"),
    ("format csv, null 'x", "unterminated string"),
    ("format csv, null $a$x", "unterminated $a$"),
    ("format csv, force_quote ()", "needs a column list"),
    ("format csv, force_quote (a b)", "cannot be read"),
    ("format csv, force_not_null *", "not *"),
    ("FORCE something", "FORCE must be followed"),
    ("CSV OIDS", "OIDS"),
    ("null E'\\u12'", "Unicode escape"),
    ("()", "empty"),
])
def test_what_cannot_be_read_is_42601(text: str, words: str) -> None:
    with pytest.raises(CopyOptionSyntaxError) as raised:
        parse(text, direction="import")
    assert raised.value.sqlstate == "42601"
    assert words in raised.value.message, raised.value.message
    assert "of the options: " in (raised.value.detail or "")


def test_freeze_true_is_0a000_and_says_why() -> None:
    for text in ("freeze", "format csv, freeze true", "CSV FREEZE"):
        with pytest.raises(UnsupportedCopyOption) as raised:
            parse(text, direction="import")
        assert raised.value.sqlstate == "0A000" and "VACUUM FREEZE" in (raised.value.hint or "")


def test_hostile_text_is_refused_not_echoed_whole() -> None:
    with pytest.raises(InvalidParameter) as raised:
        parse("delimiter '" + "x" * 20_000 + "'", direction="import")
    assert len(str(raised.value)) < 200
    with pytest.raises(InvalidParameter) as long_value:
        parse("format csv, null '" + "\x01" * 1000 + "', delimiter 'xx'", direction="import")
    assert "\\x01" in (long_value.value.detail or "") and len(long_value.value.detail or "") < 400
    with pytest.raises(CopyOptionSyntaxError):
        parse("null E'\\000'", direction="import")
