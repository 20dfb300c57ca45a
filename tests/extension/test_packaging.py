"""Packaging: CREATE/DROP EXTENSION, and the install-time runtime check on a real server."""

from __future__ import annotations

import dataclasses
import shutil
from collections.abc import Callable, Iterator

import psycopg
import pytest

from tests.conftest import REPO, private_path


def test_create_in_several_databases_and_drop_removes_everything(make_database: Callable[..., str]) -> None:
    urls = [make_database("pkg"), make_database("pkg")]
    for url in urls:
        with psycopg.connect(url, autocommit=True) as conn:
            assert conn.execute("SELECT churnml.version()").fetchone()[0] == conn.execute(
                "SELECT extversion FROM pg_extension WHERE extname = 'churnml'").fetchone()[0]
    with psycopg.connect(urls[0], autocommit=True) as conn:
        members = conn.execute(
            "SELECT count(*) FROM pg_depend WHERE refclassid = 'pg_extension'::regclass AND deptype = 'e' "
            "AND refobjid = (SELECT oid FROM pg_extension WHERE extname = 'churnml')").fetchone()[0]
        assert members > 0
        conn.execute("DROP EXTENSION churnml")
        # PostgreSQL created the schema named in the control file and keeps it, empty.
        for catalog, column in (("pg_class", "relnamespace"), ("pg_proc", "pronamespace"),
                                ("pg_type", "typnamespace")):
            left = conn.execute(f"SELECT count(*) FROM {catalog} c JOIN pg_namespace n ON n.oid = c.{column} "
                                "WHERE n.nspname = 'churnml'").fetchone()[0]
            assert left == 0, catalog
        conn.execute("DROP SCHEMA churnml")  # empty: no CASCADE needed
        # plpython3u came in with CASCADE and stays: other code may use it.
        conn.execute("CREATE EXTENSION churnml")  # and it can come back
    with psycopg.connect(urls[1], autocommit=True) as conn:  # the other database was untouched
        assert conn.execute("SELECT churnml.version()").fetchone()[0]


def test_relocation_is_refused(db_url: str) -> None:
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute("CREATE SCHEMA IF NOT EXISTS elsewhere")
        with pytest.raises(psycopg.errors.FeatureNotSupported):
            conn.execute("ALTER EXTENSION churnml SET SCHEMA elsewhere")


@pytest.fixture(scope="module")
def broken_server(embedded_server) -> Iterator[Callable[[str], str]]:
    """A second embedded server whose PYTHONPATH names a runtime we break on purpose."""
    from churnml_client.embedded_pg import EmbeddedServer

    root = private_path("broken")
    shutil.rmtree(root, ignore_errors=True)
    runtime = root / "runtime"
    runtime.mkdir(parents=True)
    root.chmod(0o755)
    runtime.chmod(0o755)
    info = dataclasses.replace(embedded_server.info, runtime_site=str(runtime))
    server = EmbeddedServer(home=root / "home", info=info)
    server.start(database="")

    def url_with(contents: str) -> str:
        """Restart the server with a runtime holding `contents` ('nothing' or 'only-churnml')."""
        shutil.rmtree(runtime)
        runtime.mkdir()
        if contents == "only-churnml":
            shutil.copytree(REPO / "python_udfs" / "churnml", runtime / "churnml",
                            ignore=shutil.ignore_patterns("__pycache__"))
            # as `make install` does: the version travels with the code
            (runtime / "churnml" / "_version.py").write_text(f'VERSION = "{server.info.version}"\n')
        for path in runtime.rglob("*"):
            path.chmod(0o755 if path.is_dir() else 0o644)
        runtime.chmod(0o755)
        server.stop()
        server.start(database="")
        name = f"broken_{contents.replace('-', '_')}"
        server.ensure_database(name, ensure_extension=False)
        return server.url(name)

    try:
        yield url_with
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)


@pytest.mark.slow
def test_create_extension_without_runtime_fails_with_hint(broken_server: Callable[[str], str]) -> None:
    with psycopg.connect(broken_server("nothing"), autocommit=True) as conn:
        with pytest.raises(psycopg.Error) as info:
            conn.execute("CREATE EXTENSION churnml CASCADE")
        diag = info.value.diag
        assert diag.sqlstate == "58P01"
        assert "not importable" in diag.message_primary
        assert "PYTHONPATH" in (diag.message_hint or "") and "make install" in (diag.message_hint or "")
        assert conn.execute("SELECT count(*) FROM pg_extension WHERE extname = 'churnml'").fetchone()[0] == 0


@pytest.mark.slow
def test_create_extension_with_incomplete_runtime_names_the_missing_packages(
        broken_server: Callable[[str], str]) -> None:
    with psycopg.connect(broken_server("only-churnml"), autocommit=True) as conn:
        with pytest.raises(psycopg.Error) as info:
            conn.execute("CREATE EXTENSION churnml CASCADE")
        diag = info.value.diag
        assert diag.sqlstate == "58P01"
        assert diag.message_primary == "churnml: churnml's Python runtime is incomplete in this server"
        for module in ("numpy", "xgboost", "sklearn", "vaderSentiment", "torch", "sentence_transformers", "botocore"):
            assert module in (diag.message_detail or "")
        assert "make install" in (diag.message_hint or "")
        assert conn.execute("SELECT count(*) FROM pg_extension WHERE extname = 'churnml'").fetchone()[0] == 0
        # the connection is still usable after the failed first Python call
        assert conn.execute("SELECT 1").fetchone()[0] == 1


def test_the_runtime_holds_the_backend_and_the_loaders_only(embedded_server) -> None:
    """What make install copies next to the pinned packages: the backend package and object storage,
    never the client (the `churnml` command lives in client/ and is installed into .venv only)."""
    from pathlib import Path

    site = Path(embedded_server.info.runtime_site)
    ours = {p.name for p in site.iterdir() if p.name.startswith("churnml")}
    assert ours == {"churnml", "churnml_loaders"}, ours
    assert not (site / "churnml" / "cli").exists()
    sources = {p.relative_to(REPO / "python_udfs").as_posix() for p in (REPO / "python_udfs").rglob("*.py")}
    installed = {p.relative_to(site).as_posix() for p in (site / "churnml").rglob("*.py")} - {"churnml/_version.py"}
    assert installed == sources, installed ^ sources


def test_the_runtime_holds_the_backend_data_files(embedded_server) -> None:
    """make install copies the backend package whole: its data files (sentiment weights and examples) are in
    the runtime byte for byte, and the runtime's Python reads the examples from there."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    site = Path(embedded_server.info.runtime_site)
    source = REPO / "python_udfs"
    data = sorted(p.relative_to(source).as_posix() for p in (source / "churnml").rglob("*")
                  if p.is_file() and p.suffix in (".toml", ".json"))
    assert {"churnml/sentiment/examples/training_examples.toml", "churnml/sentiment/examples/evaluation_examples.toml",
            "churnml/sentiment/weights/encoder_head.json"} <= set(data)
    for name in data:
        assert (site / name).read_bytes() == (source / name).read_bytes(), name
    probe = ("import churnml\n"
             "from churnml.sentiment import evaluation_examples, training_examples\n"
             "print(churnml.__file__)\n"
             "print(len(training_examples.examples()), len(evaluation_examples.three_class_set()))\n")
    env = {**os.environ, "PYTHONPATH": str(site)}
    result = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True, check=True,
                            timeout=60)
    location, counts = result.stdout.splitlines()
    assert Path(location).is_relative_to(site)
    assert counts == "942 184"
