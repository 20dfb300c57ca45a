"""The SQL reference's pure parts (no server): parsing the install script, formatting, rendering."""

from __future__ import annotations

from churnml_client import sql_reference as ref
from churnml_client.sql_reference import Area, Argument, Column, ExtensionReference, Grant, Role, SqlObject

SCRIPT = r'''-- churnml 0.1.0 install script
\echo Use "CREATE EXTENSION churnml" to load this file. \quit

-- ---- sql/schema/400_call_center.sql ----
CREATE TABLE churnml.call_center_settings (id int);

-- ---- sql/000_runtime.sql ----
CREATE FUNCTION churnml.version() RETURNS text LANGUAGE sql AS $$ SELECT '1' $$;

-- ---- sql/400_call_center.sql ----
create or replace view churnml."Odd ""Name""" AS SELECT 1;
CREATE FUNCTION @extschema@.mysql_style() RETURNS int LANGUAGE sql AS $$ SELECT 1 $$;
CREATE FUNCTION churnml.version() RETURNS text LANGUAGE sql AS $$ SELECT '2' $$;

-- ---- sql/aws/000_schemas.sql ----
CREATE SCHEMA aws_commons;
  CREATE TYPE aws_commons._s3_uri_1 AS (bucket text);
'''


def routine(name: str = "f", *, schema: str = "churnml", args: tuple[Argument, ...] = (),
            result: str | None = "text", **kw: object) -> SqlObject:
    return SqlObject(group="routine", kind="function", schema=schema, name=name, comment=f"{name} does it.",
                     arguments=args, result=result, volatility="s", parallel="s", **kw)  # type: ignore[arg-type]


# ---- the install script: which sql/ file made which object ----

def test_area_title_from_file_names() -> None:
    assert ref.area_title("sql/000_runtime.sql") == "Runtime"
    assert ref.area_title("sql/400_call_center.sql") == "Call center"
    assert ref.area_title("sql/aws/500_mysql_compat.sql") == "Mysql compat"


def test_split_name_handles_quotes_and_extschema() -> None:
    assert ref.split_name("churnml.train") == ("churnml", "train")
    assert ref.split_name('churnml."Odd ""Name"""') == ("churnml", 'Odd "Name"')
    assert ref.split_name("@extschema@.f") == (None, "f")
    assert ref.split_name("Plain") == (None, "plain")


def test_script_areas_maps_each_object_to_the_first_file_creating_it() -> None:
    """An area is a file name, in file-name order: sql/schema/400_call_center.sql (its tables) and
    sql/400_call_center.sql (its functions and views) are one area."""
    areas = ref.script_areas(SCRIPT)
    assert areas[("churnml", "version")] == Area(0, "Runtime")
    assert areas[(None, "aws_commons")] == Area(1, "Schemas")
    assert areas[("aws_commons", "_s3_uri_1")] == Area(1, "Schemas")
    assert areas[("churnml", "call_center_settings")] == Area(2, "Call center")
    assert areas[("churnml", 'Odd "Name"')] == Area(2, "Call center")
    assert areas[(None, "mysql_style")] == Area(2, "Call center")


def test_script_without_markers_maps_nothing_and_objects_group_by_schema() -> None:
    assert ref.script_areas("CREATE FUNCTION churnml.version() RETURNS text;") == {}
    area = ref.area_of(routine("x", schema="aws_s3"), {})
    assert area == Area(ref.UNMAPPED_AREA_ORDER, "Schema aws_s3")


def test_area_of_falls_back_to_unqualified_names() -> None:
    areas = ref.script_areas(SCRIPT)
    assert ref.area_of(routine("mysql_style", schema="public"), areas) == Area(2, "Call center")
    schema = SqlObject(group="schema", kind="schema", schema="", name="aws_commons", comment="c")
    assert ref.area_of(schema, areas) == Area(1, "Schemas")


# ---- formatting ----

def test_grants_grouped_per_grantee_public_first_privileges_in_canonical_order() -> None:
    grants = ref.grants_from_pairs([("churnml_user", "SELECT"), ("churnml_admin", "DELETE"),
                                    ("churnml_admin", "INSERT"), ("PUBLIC", "EXECUTE"),
                                    ("churnml_admin", "UPDATE")])
    assert grants == (Grant("PUBLIC", ("EXECUTE",)), Grant("churnml_admin", ("INSERT", "UPDATE", "DELETE")),
                      Grant("churnml_user", ("SELECT",)))
    assert ref.format_grants(grants) == ("`PUBLIC`: EXECUTE; `churnml_admin`: INSERT, UPDATE, DELETE; "
                                         "`churnml_user`: SELECT")


def test_short_signature_on_one_line() -> None:
    fn = routine("set_threshold", args=(Argument("name", "i", "text"), Argument("threshold", "i", "double precision")),
                 result="churnml.deployment")
    assert ref.format_signature(fn) == ("churnml.set_threshold(name text, threshold double precision) "
                                        "RETURNS churnml.deployment")


def test_long_signature_one_argument_per_line_with_modes_and_defaults() -> None:
    fn = routine("detect_sentiment", args=(
        Argument("input_text", "i", "text"),
        Argument("engine", "i", "text", "current_setting('churnml.sentiment_engine'::text, true)"),
        Argument("names", "v", "text[]"),
        Argument("sentiment", "o", "text"),
        Argument("confidence", "b", "real"),
    ), result="record")
    assert ref.format_signature(fn) == (
        "churnml.detect_sentiment(\n"
        "    input_text text,\n"
        "    engine text DEFAULT current_setting('churnml.sentiment_engine'::text, true),\n"
        "    VARIADIC names text[],\n"
        "    OUT sentiment text,\n"
        "    INOUT confidence real\n"
        ") RETURNS record")


def test_returns_table_from_table_columns() -> None:
    fn = routine("embed_batch", args=(Argument("input_texts", "i", "text[]"), Argument("ordinality", "t", "integer"),
                                      Argument("embedding", "t", "real[]")),
                 result="TABLE(ordinality integer, embedding real[])")
    assert ref.format_signature(fn, width=120) == ("churnml.embed_batch(input_texts text[]) "
                                        "RETURNS TABLE (ordinality integer, embedding real[])")
    assert ref.format_signature(fn, width=20) == (
        "churnml.embed_batch(\n    input_texts text[]\n) RETURNS TABLE (\n    ordinality integer,\n"
        "    embedding real[]\n)")


def test_procedure_without_arguments() -> None:
    proc = SqlObject(group="routine", kind="procedure", schema="s", name="p", comment="c", result=None,
                     volatility="v", parallel="u", security_definer=True, strict=True)
    assert ref.format_signature(proc, width=0) == "s.p()"
    assert ref.routine_properties(proc) == "PROCEDURE, VOLATILE, PARALLEL UNSAFE, STRICT, SECURITY DEFINER"


def test_cells_and_column_modifiers() -> None:
    assert ref.cell("a | b\nc") == "a \\| b<br>c"
    assert ref.cell(None) == ""
    assert ref.column_modifiers(Column("id", "bigint", True, None, "d")) == "not null, identity (by default)"
    assert ref.column_modifiers(Column("t", "text", True, "'x'::text")) == "not null, default `'x'::text`"
    assert ref.column_modifiers(Column("g", "int", False, "(a + 1)", generated=True)) == "generated: `(a + 1)`"
    assert ref.column_modifiers(Column("n", "int")) == ""


def test_github_slugs_with_repeats() -> None:
    slugger = ref.Slugger()
    assert slugger.slug("`churnml.train`") == "churnmltrain"
    assert slugger.slug("Call center") == "call-center"
    assert slugger.slug("Internal") == "internal"
    assert slugger.slug("Internal") == "internal-1"


def test_internal_means_a_function_whose_name_starts_with_underscore() -> None:
    assert routine("_score_json").internal
    assert not routine("score").internal
    assert not SqlObject(group="type", kind="composite type", schema="aws_commons", name="_s3_uri_1",
                         comment="c").internal


# ---- the whole document ----

def sample_extension() -> ExtensionReference:
    runtime, registry = Area(0, "Runtime"), Area(2, "Registry")
    schema = SqlObject(group="schema", kind="schema", schema="", name="churnml", comment=None,
                       grants=(Grant("churnml_user", ("USAGE",)),))
    table = SqlObject(group="relation", kind="table", schema="churnml", name="models", comment="Every model.",
                      grants=(Grant("churnml_user", ("SELECT",)),),
                      columns=(Column("id", "bigint", True, None, "d", comment="The id | key"),),
                      constraints=(("models_pkey", "PRIMARY KEY (id)"),),
                      sequences=(SqlObject(group="relation", kind="sequence", schema="churnml", name="models_id_seq",
                                           comment=None, grants=(Grant("churnml_admin", ("USAGE",)),),
                                           owned_by="id"),))
    execute = (Grant("churnml_user", ("EXECUTE",)),)
    objects = [
        (registry, table),
        (runtime, routine("version", grants=execute)),
        (runtime, routine("record", args=(Argument("id", "i", "bigint"),), grants=execute)),
        (runtime, routine("record", args=(Argument("key", "i", "text"),), grants=execute, identity="text")),
        (registry, routine("_check", result="trigger")),
    ]
    return ExtensionReference(name="churnml", version="0.1.0", comment="Churn.", schema=schema,
                              requires=("plpython3u",), objects=objects,
                              roles=(Role("churnml_admin", ("churnml_user",), None), Role("churnml_user", (), None)))


def test_render_is_ordered_linked_and_marks_itself_generated() -> None:
    text = ref.render([sample_extension()])
    assert text.startswith("# SQL reference\n\nGenerated by `churnml docs sql-reference`")
    assert text.endswith("\n") and not text.endswith("\n\n")
    assert text.index("### Runtime") < text.index("### Registry") < text.index("### Internal")
    assert "  - [Runtime](#runtime): [`record`](#churnmlrecord), [`version`](#churnmlversion)" in text
    assert text.count("#### `churnml.record`") == 1  # overloads share one heading
    assert "churnml.record(id bigint) RETURNS text" in text and "churnml.record(key text) RETURNS text" in text
    assert "- EXECUTE: `churnml_user`" in text
    assert "| `id` | `bigint` | not null, identity (by default) | The id \\| key |" in text
    assert "Sequence `churnml.models_id_seq` (for `id`): `churnml_admin`: USAGE" in text
    assert "Schema `churnml` (USAGE: `churnml_user`)." in text
    assert "| `churnml_admin` | `churnml_user` |  |" in text
    assert "- `churnml._check()` (EXECUTE: owner only): _check does it." in text
    assert "#### `churnml._check`" not in text


def test_render_is_deterministic_whatever_the_input_order() -> None:
    ext = sample_extension()
    shuffled = ExtensionReference(**{**ext.__dict__, "objects": list(reversed(ext.objects))})
    assert ref.render([ext]) == ref.render([shuffled])


def test_missing_comment_is_visible() -> None:
    ext = sample_extension()
    bare = SqlObject(group="type", kind="composite type", schema="churnml", name="t", comment=" ")
    ext.objects.append((Area(0, "Runtime"), bare))
    assert "*Composite type.* *(no comment)*" in ref.render([ext])
