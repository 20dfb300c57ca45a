"""docs/sql-reference.md against a real server: every object is commented, and the committed file is current.

Comment rule (checked for every installed extension: churnml, plus churnml_aws when the
server has its control file): every function, procedure, table, view, type, schema and
stand-alone sequence the extension owns has a non-empty COMMENT. Columns need none:
their comments appear in the reference when written. Sequences that belong to a column
(identity/serial) are documented with their table and need none either.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest

from churnml_client import main as cli
from churnml_client import sql_reference
from tests.conftest import REPO

REFERENCE = REPO / "docs" / "sql-reference.md"
REGENERATE = "run `.venv/bin/churnml docs sql-reference` (or `make docs`) and commit docs/sql-reference.md"


@pytest.fixture(scope="module")
def reference_db(make_database: Callable[..., str]) -> tuple[str, list[str]]:
    """A fresh database with every extension the reference covers, and their names."""
    url = make_database("sqlref", extension=False)
    with psycopg.connect(url, autocommit=True) as conn:
        extensions = sql_reference.default_extensions(conn)
        sql_reference.create_extensions(conn, extensions)
    return url, extensions


@pytest.fixture
def ref_conn(reference_db: tuple[str, list[str]]) -> Iterator[psycopg.Connection]:
    with psycopg.connect(reference_db[0], autocommit=True) as conn:
        yield conn


def test_every_object_of_every_extension_has_a_comment(ref_conn: psycopg.Connection,
                                                       reference_db: tuple[str, list[str]]) -> None:
    missing = []
    for extension in reference_db[1]:
        objects = sql_reference.extension_objects(ref_conn, extension)
        assert objects, f"{extension} owns no objects?"
        missing += [f"{extension}: {obj.kind} {obj.qualified}({obj.identity})" if obj.group == "routine"
                    else f"{extension}: {obj.kind} {obj.qualified}"
                    for obj in objects if not (obj.comment or "").strip()]
    assert not missing, "objects without a COMMENT ON (add one in sql/):\n  " + "\n  ".join(missing)


def test_committed_reference_matches_the_catalog(ref_conn: psycopg.Connection,
                                                 reference_db: tuple[str, list[str]]) -> None:
    generated = sql_reference.generate(ref_conn, reference_db[1])
    committed = REFERENCE.read_text(encoding="utf-8") if REFERENCE.exists() else ""
    if generated != committed:
        diff = list(difflib.unified_diff(committed.splitlines(), generated.splitlines(),
                                         "docs/sql-reference.md (committed)", "generated", lineterm="", n=1))
        shown = "\n".join(diff[:60]) + ("\n..." if len(diff) > 60 else "")
        pytest.fail(f"docs/sql-reference.md is out of date: {REGENERATE}.\n{shown}", pytrace=False)


def test_every_extension_and_public_function_is_in_the_reference(ref_conn: psycopg.Connection,
                                                                 reference_db: tuple[str, list[str]]) -> None:
    text = sql_reference.generate(ref_conn, reference_db[1])
    assert "## Extension `churnml` " in text
    assert "#### `churnml.will_churn`" in text and "#### `churnml.models`" in text
    assert "- `churnml._score_json(" in text  # internal: listed, briefly
    assert "#### `churnml._score_json`" not in text
    names = [o for e in reference_db[1] for o in sql_reference.extension_objects(ref_conn, e)]
    for obj in names:
        assert f"`{obj.qualified}" in text, obj


def test_signature_acl_and_areas_come_from_the_catalog(ref_conn: psycopg.Connection) -> None:
    text = sql_reference.generate(ref_conn, ["churnml"])
    train = text[text.index("#### `churnml.train`"):]
    train = train[:train.index("\n#### ")]
    assert "    exclude text[] DEFAULT NULL::text[]," in train
    assert ") RETURNS bigint" in train
    assert "- VOLATILE" in train and "- EXECUTE: `churnml_admin`" in train
    assert text.index("### Runtime") < text.index("### Training") < text.index("### Loaders")
    assert text.index("### Training") < text.index("#### `churnml.train`") < text.index("### Scoring")
    # column grants too: what a role may write of a table whose ids and audit columns are the database's
    assert ("Privileges: `churnml_admin`: INSERT (name, type, description), UPDATE (name, type, description), "
            "DELETE; `churnml_user`: SELECT") in text


def test_cli_writes_the_reference_from_a_dsn(reference_db: tuple[str, list[str]], tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    url, extensions = reference_db
    out = tmp_path / "ref.md"
    args = ["docs", "sql-reference", "--dsn", url, "--out", str(out)]
    for extension in extensions:
        args += ["--extension", extension]
    assert cli.main(args) == 0
    assert "wrote" in capsys.readouterr().out
    with psycopg.connect(url, autocommit=True) as conn:
        assert out.read_text(encoding="utf-8") == sql_reference.generate(conn, extensions)
    assert cli.main(args) == 0
    assert "unchanged" in capsys.readouterr().out


def test_cli_names_an_extension_missing_from_the_database(reference_db: tuple[str, list[str]], tmp_path: Path,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    args = ["docs", "sql-reference", "--dsn", reference_db[0], "--out", str(tmp_path / "x.md"),
            "--extension", "plpgsql_not_there"]
    assert cli.main(args) == 1
    assert "extension plpgsql_not_there is not installed in this database" in capsys.readouterr().err
    assert not (tmp_path / "x.md").exists()


def test_scratch_database_is_created_and_dropped(server_url: str) -> None:
    """What `churnml docs sql-reference` does without --dsn (on the embedded server's URL)."""

    def scratch_databases() -> set[str]:
        with psycopg.connect(server_url, autocommit=True) as conn:
            return {name for (name,) in conn.execute(
                "SELECT datname FROM pg_database WHERE datname LIKE 'churnml\\_sqlref\\_%'").fetchall()}

    before = scratch_databases()
    text = sql_reference.generate_in_scratch_database(server_url, ["churnml"])
    assert text.startswith("# SQL reference\n") and "## Extension `churnml` " in text
    assert "## Extension `churnml_aws`" not in text
    assert scratch_databases() == before
