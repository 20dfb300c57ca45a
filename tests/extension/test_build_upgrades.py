"""extension/tools/build_upgrades.py: splitting install scripts and building upgrade scripts."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest

from tests.conftest import REPO


def _tool() -> ModuleType:
    spec = importlib.util.spec_from_file_location("build_upgrades", REPO / "extension" / "tools" / "build_upgrades.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


tool = _tool()

SCRIPT = """-- churnml 9.9.9 install script
\\echo Use "CREATE EXTENSION churnml" to load this file. \\quit
CREATE TABLE churnml.t (a text DEFAULT 'x;y', "odd;name" int); -- a comment; with a semicolon
/* a /* nested */ block; comment */
CREATE FUNCTION churnml.f(a int) RETURNS int LANGUAGE sql AS $$ SELECT $1; $$;
CREATE OR REPLACE FUNCTION churnml.g() RETURNS text LANGUAGE plpython3u AS $body$
return "it's; $$ fine"
$body$;
COMMENT ON FUNCTION churnml.f(int) IS 'a ''quoted''; comment';
CREATE VIEW churnml.v AS SELECT 1 AS one;
GRANT EXECUTE ON FUNCTION churnml.f(int) TO churnml_user;
REVOKE ALL ON ALL FUNCTIONS IN SCHEMA churnml FROM PUBLIC;
DO $roles$ BEGIN PERFORM 1; END $roles$;
INSERT INTO churnml.t VALUES ('a;b');
SELECT pg_catalog.pg_extension_config_dump('churnml.t', '');
CREATE TYPE churnml.pair AS (a int, b int);
"""


def test_split_respects_quotes_comments_and_dollar_quotes() -> None:
    statements = tool.split_statements(SCRIPT)
    assert len(statements) == 11
    assert statements[0] == "CREATE TABLE churnml.t (a text DEFAULT 'x;y', \"odd;name\" int)"
    assert statements[1].endswith("$$ SELECT $1; $$")
    assert "it's; $$ fine" in statements[2]
    assert statements[-1].startswith("CREATE TYPE")


def test_only_replayable_statements_are_kept_and_made_idempotent() -> None:
    replayed = [r for r in map(tool.replayable, tool.split_statements(SCRIPT)) if r]
    heads = [" ".join(r.split()[:4]) for r in replayed]
    assert heads == [
        "CREATE OR REPLACE FUNCTION", "CREATE OR REPLACE FUNCTION", "COMMENT ON FUNCTION churnml.f(int)",
        "CREATE OR REPLACE VIEW", "GRANT EXECUTE ON FUNCTION", "REVOKE ALL ON ALL", "DO $roles$ BEGIN PERFORM",
    ]


def test_unterminated_input_is_an_error() -> None:
    with pytest.raises(ValueError, match="dollar quote"):
        tool.split_statements("CREATE FUNCTION f() AS $$ SELECT 1;")
    with pytest.raises(ValueError, match="missing"):
        tool.split_statements("SELECT 1")


def test_one_direct_script_from_every_release_with_a_chain(tmp_path: Path) -> None:
    install = tmp_path / "churnml--0.3.0.sql"
    install.write_text(SCRIPT)
    deltas = tmp_path / "upgrades"
    deltas.mkdir()
    (deltas / "0.1.0--0.2.0.sql").write_text("ALTER TABLE churnml.t ADD COLUMN b int;\n")
    (deltas / "0.2.0--0.3.0.sql").write_text("-- version @EXTVERSION@\nCREATE INDEX ON churnml.t (b);\n")
    (deltas / "0.0.1--0.0.2.sql").write_text("-- a dead end: no chain to 0.3.0\n")
    out = tmp_path / "out"
    out.mkdir()
    (out / "churnml--0.1.0--0.2.0.sql").write_text("stale")
    written = tool.build("churnml", "0.3.0", install, deltas, out)
    assert sorted(p.name for p in written) == ["churnml--0.1.0--0.3.0.sql", "churnml--0.2.0--0.3.0.sql"]
    assert sorted(p.name for p in out.iterdir()) == sorted(p.name for p in written)  # the stale one is gone
    text = (out / "churnml--0.1.0--0.3.0.sql").read_text()
    assert text.index("ADD COLUMN b") < text.index("CREATE INDEX") < text.index("CREATE OR REPLACE FUNCTION")
    assert "-- version 0.3.0" in text
    assert "CREATE TABLE" not in text and "INSERT INTO" not in text
    assert "ADD COLUMN" not in (out / "churnml--0.2.0--0.3.0.sql").read_text()


def test_delta_names_are_checked(tmp_path: Path) -> None:
    (tmp_path / "to-0.2.0.sql").write_text("")
    with pytest.raises(ValueError, match="<from>--<to>"):
        tool.delta_chain(tmp_path, "0.2.0")


def test_built_upgrade_scripts_are_current() -> None:
    """make build wrote an upgrade script to this version from each release with a delta."""
    version = (REPO / "extension" / "churnml.control").read_text().split("default_version = '")[1].split("'")[0]
    for ext, deltas in (("churnml", REPO / "sql" / "upgrades"), ("churnml_aws", REPO / "sql" / "aws" / "upgrades")):
        for old in tool.delta_chain(deltas, version):
            assert (REPO / "extension" / f"{ext}--{old}--{version}.sql").exists(), (ext, old)
