"""The extensions' build (extension/Makefile, extension/aws/Makefile: PGXS) and their SQL
scripts (extension/tools/build-sql.sh: plain concatenation of sql/, see sql/README.md)."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from tests.conftest import REPO
from tests.extension.test_upgrade import catalog

BUILD_SQL = REPO / "extension" / "tools" / "build-sql.sh"
VERSION = re.search(r"^default_version = '([^']+)'", (REPO / "extension" / "churnml.control").read_text(),
                    re.MULTILINE)[1]
EXTENSIONS = {"churnml": ("sql", REPO / "extension"), "churnml_aws": ("sql/aws", REPO / "extension" / "aws")}


def build_sql(*args: str) -> str:
    return subprocess.run([str(BUILD_SQL), *args], capture_output=True, text=True, check=True).stdout


@pytest.mark.parametrize("extension", EXTENSIONS)
def test_committed_upgrade_scripts_are_what_the_sources_give(extension: str) -> None:
    """One upgrade script from each earlier release with a chain of deltas, committed, and current:
    after changing sql/, `make -C extension upgrade-scripts` rewrites them (then review and commit)."""
    sql_dir, out_dir = EXTENSIONS[extension]
    releases = build_sql("releases", sql_dir, VERSION).split()
    assert "0.2.0" in releases and "0.1.0" in releases
    expected = {f"{extension}--{old}--{VERSION}.sql" for old in releases}
    assert {p.name for p in out_dir.glob(f"{extension}--*--*.sql")} == expected
    for old in releases:
        script = out_dir / f"{extension}--{old}--{VERSION}.sql"
        assert script.read_text(encoding="utf-8") == build_sql("upgrade", extension, old, VERSION, sql_dir), (
            f"{script.relative_to(REPO)} is stale: run `make -C extension upgrade-scripts` and commit it")


def test_an_upgrade_script_is_its_deltas_then_the_rerunnable_files() -> None:
    text = build_sql("upgrade", "churnml", "0.1.0", VERSION, "sql")
    sections = re.findall(r"^-- ---- (sql/\S+) ----$", text, re.MULTILINE)
    rerunnable = sorted(p.relative_to(REPO).as_posix() for p in (REPO / "sql").glob("*.sql"))
    assert sections == ["sql/upgrades/0.1.0--0.2.0.sql", "sql/upgrades/0.2.0--0.3.0.sql", *rerunnable]
    assert "@EXTVERSION@" not in text and "@BUILD_ID@" not in text
    install = build_sql("install", "churnml", VERSION, "sql")
    # the same build id as the install script: _build_id() is identical after an update
    assert re.search(r"^-- build id: (\w+)$", text, re.MULTILINE)[1] == re.search(
        r"^-- build id: (\w+)$", install, re.MULTILINE)[1]


def test_no_chain_of_deltas_is_an_error() -> None:
    result = subprocess.run([str(BUILD_SQL), "upgrade", "churnml", "0.0.1", VERSION, "sql"], capture_output=True,
                            text=True, check=False)
    assert result.returncode != 0 and "no delta from 0.0.1" in result.stderr


_TOKEN = re.compile(r"--[^\n]*|'(?:[^']|'')*'|\"(?:[^\"]|\"\")*\"|(\$[A-Za-z_0-9]*\$)|;")


def _statement_heads(path: Path) -> list[str]:
    """The first line of each statement: the file split at `;` outside comments, quotes and dollar quotes."""
    text = path.read_text(encoding="utf-8")
    heads, start, pos = [], 0, 0
    while match := _TOKEN.search(text, pos):
        pos = match.end()
        if match[1]:  # a dollar quote: skip to its end
            pos = text.index(match[1], pos) + len(match[1])
        elif match[0] == ";":
            body = "\n".join(line for line in text[start:match.start()].splitlines()
                             if line.strip() and not line.lstrip().startswith("--"))
            heads.append(body.splitlines()[0] if body else "")
            start = pos
    return heads


@pytest.mark.parametrize("sql_dir", ["sql", "sql/aws", "sql/aurora/aws_commons", "sql/aurora/aws_ml",
                                     "sql/aurora/aws_s3"])
def test_rerunnable_files_only_hold_rerunnable_statements(sql_dir: str) -> None:
    """What an update re-runs must succeed over the objects it finds: CREATE OR REPLACE, comments, grants,
    DO blocks (idempotent by their own checks). Tables, types, indexes and rows belong to schema/ or data/."""
    allowed = re.compile(r"(CREATE OR REPLACE (FUNCTION|VIEW|TRIGGER)|COMMENT ON|GRANT|REVOKE|DO)\b")
    for path in sorted((REPO / sql_dir).glob("*.sql")):
        for head in _statement_heads(path):
            assert allowed.match(head), f"{path.relative_to(REPO)}: not re-runnable: {head}"
    for kind in ("schema", "data"):
        for path in sorted((REPO / sql_dir / kind).glob("*.sql")):
            for head in _statement_heads(path):
                assert not re.match(r"CREATE (OR REPLACE )?(FUNCTION|VIEW|TRIGGER)", head), (
                    f"{path.relative_to(REPO)}: belongs in a re-runnable file: {head}")


def test_rerunning_the_rerunnable_files_changes_nothing(make_database, embedded_server) -> None:
    """Every re-runnable file run again over a fresh install, as an extension script (an update to a
    throwaway version): the catalog is the same."""
    sharedir = Path(subprocess.run([embedded_server.info.pg_config, "--sharedir"], capture_output=True, text=True,
                                   check=True).stdout.strip()) / "extension"
    if not os.access(sharedir, os.W_OK):
        pytest.skip(f"cannot write a throwaway update script into {sharedir}")
    again = f"{VERSION}-rerun"
    script = sharedir / f"churnml--{VERSION}--{again}.sql"
    script.write_text(build_sql("rerun", "churnml", VERSION, "sql"), encoding="utf-8")
    script.chmod(0o644)
    try:
        url = make_database("rerun")
        with psycopg.connect(url, autocommit=True) as conn:
            before = catalog(conn)
            conn.execute(sql.SQL("ALTER EXTENSION churnml UPDATE TO {}").format(sql.Literal(again)))
            after = catalog(conn)
            conn.execute("DROP EXTENSION churnml")
    finally:
        script.unlink()
    assert after.pop("extensions") != before.pop("extensions")  # the version moved on; nothing else did
    assert after == before


def test_the_c_is_compiled_with_the_servers_flags() -> None:
    """PGXS passes PostgreSQL's own CFLAGS (-fwrapv, -fno-strict-aliasing, ...) to churnml's C."""
    pg_config = json.loads(subprocess.run([str(REPO / ".venv" / "bin" / "python"), "-m", "churnml_client.install_info",
                                           "show"], capture_output=True, text=True, check=True).stdout)["pg_config"]
    for directory, source in (("extension", "core/predict.c"), ("extension/aws", "invoke_endpoint.c")):
        dry_run = subprocess.run(["make", "-n", "-B", "-C", str(REPO / directory), f"PG_CONFIG={pg_config}",
                                  source.replace(".c", ".o")], capture_output=True, text=True, check=True).stdout
        compile_line = next(line for line in dry_run.splitlines() if source in line and " -c " in line)
        for flag in ("-fwrapv", "-fno-strict-aliasing", "-fPIC", "-Werror", "-Wmissing-prototypes"):
            assert flag in compile_line.split(), (directory, flag, compile_line)
