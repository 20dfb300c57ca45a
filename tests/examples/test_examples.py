"""The psql scripts in examples/, run the way `make demo` runs them, their output checked.

A fresh database gets what `make demo` gives the demo database: the extension
(`churnml db start` creates it), 10,000 generated customers with seed 42 (`churnml
data generate`), a local S3 server whose endpoint and credentials the server reads
from $PGDATA/churnml/s3.json (`churnml s3 start`), and the customer file in S3
(`churnml export ... --header --no-manifest`). The examples run in the demo's
order, then getting_started.sql, the README's four statements, as a reader would
type them after `make demo`, then aurora_walkthrough.sql (the Aurora ML walkthrough's
SQL through churnml_aws). Each runs with the demo's flags (`psql -X -q -v
ON_ERROR_STOP=1 -P pager=off -f`), stderr merged into stdout like pg_regress (so
NOTICEs and errors are part of the output); it must exit 0 and print exactly
tests/examples/expected/NAME.out.

The examples print only stable things (rounded metrics, counts, checksums, booleans);
normalise() below makes the substitutions the output needs: the durations in
churnml.train's progress NOTICEs ("done in 0.1 s", "0.163 s") become "N s", the
periodic progress NOTICEs ("..., 6 s so far": whether and how many come depends on the
machine's speed) go, and the test database's generated name (should an example print
it) becomes EXAMPLES_DB.

CHURNML_EXAMPLES_UPDATE=1 rewrites the expected files after a deliberate change.
"""

from __future__ import annotations

import difflib
import os
import re
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest

from tests.conftest import REPO, TEST_HOME, VENV_BIN, run_psql

HERE = Path(__file__).parent
EXAMPLES = REPO / "examples"
EXPECTED = HERE / "expected"
# `make demo`'s order (checked against the Makefile below), then the README's statements,
# then the Aurora walkthrough's SQL on churnml_aws (which needs the demo's S3 file).
DEMO_EXAMPLES = ["train_churn", "call_center", "loaders", "closed_loop"]
ORDER = [*DEMO_EXAMPLES, "getting_started", "aurora_walkthrough"]
# `make demo` puts this file into S3 before loaders.sql (its `churnml export` line).
EXPORT_ARGS = ["SELECT * FROM customers", "s3://churnml/incoming/customers", "--header", "--no-manifest",
               "--overwrite", "--quiet"]
UPDATE = os.environ.get("CHURNML_EXAMPLES_UPDATE") == "1"
Outputs = dict[str, subprocess.CompletedProcess[str]]


def psql_args(example: str) -> list[str]:
    """The demo's `churnml db psql -X -q -v ON_ERROR_STOP=1 -P pager=off -f ...` (run_psql adds -X)."""
    return ["-q", "-v", "ON_ERROR_STOP=1", "-P", "pager=off", "-f", f"examples/{example}.sql"]


TRAIN_NOTICE = re.compile(r"^psql:\S+: NOTICE:  churnml\.train: .*$", re.M)
DURATION = re.compile(r"\b\d+(?:\.\d+)? s\b")


PERIODIC = re.compile(r"^psql:\S+: NOTICE:  churnml\.\w+: .*, \d+ s so far\n", re.M)


def normalise(output: str, url: str) -> str:
    """Durations in training progress NOTICEs, periodic progress NOTICEs, and the fresh database's name:
    nothing else varies."""
    output = PERIODIC.sub("", output)
    output = TRAIN_NOTICE.sub(lambda m: DURATION.sub("N s", m.group(0)), output)
    return output.replace(url.rsplit("/", 1)[1], "EXAMPLES_DB")


@pytest.fixture(scope="module")
def demo_outputs(server_url: str, make_database: Callable[..., str]) -> Iterator[Outputs]:
    """Every example's psql result, run in ORDER on one database prepared like the demo's."""
    from churnml_client import datagen
    from churnml_client.s3_server import LocalS3Server
    from churnml_loaders.server_config import write_file

    with psycopg.connect(server_url) as conn:
        datadir = Path(conn.execute("SHOW data_directory").fetchone()[0])
    if not os.access(datadir, os.W_OK):
        pytest.skip(f"cannot write the server's S3 configuration into {datadir}")

    url = make_database("examples")  # with the extension, as `churnml db start` creates it
    with psycopg.connect(url) as conn:
        # `churnml data generate --customers 10000 --seed 42 --months 4`
        datagen.load(conn, 10_000, 42, progress=False)
        datagen.load_months(conn, 10_000, 42, 4, datagen.parse_drift(None, 4)[0], progress=False)

    s3 = LocalS3Server.from_environment(TEST_HOME / "examples")
    config_path: Path | None = None
    try:
        config = s3.start()  # `churnml s3 start` ...
        config_path = write_file(datadir, config)  # ... which configures the embedded server too
        outputs: Outputs = {}
        for example in ORDER:
            if example == "loaders":
                export = subprocess.run(
                    [str(VENV_BIN / "churnml"), "export", *EXPORT_ARGS, "--dsn", url,
                     "--s3-config", str(s3.config_file)],
                    capture_output=True, text=True, check=False)
                assert export.returncode == 0, export.stdout + export.stderr
            result = run_psql(url, *psql_args(example), cwd=REPO)
            outputs[example] = subprocess.CompletedProcess(result.args, result.returncode,
                                                           normalise(result.stdout, url))
        yield outputs
    finally:
        if config_path is not None:
            config_path.unlink(missing_ok=True)
        s3.stop()


@pytest.mark.slow
@pytest.mark.parametrize("example", ORDER)
def test_example_output(example: str, demo_outputs: Outputs) -> None:
    result = demo_outputs[example]
    expected_path = EXPECTED / f"{example}.out"
    if UPDATE or not expected_path.exists():
        expected_path.write_text(result.stdout, encoding="utf-8")
        if not UPDATE:
            pytest.fail(f"{expected_path} did not exist; wrote it — review and commit it")
    assert result.returncode == 0, f"psql exited with {result.returncode}:\n{result.stdout}"
    expected = expected_path.read_text(encoding="utf-8")
    if result.stdout != expected:
        diff = "".join(difflib.unified_diff(expected.splitlines(True), result.stdout.splitlines(True),
                                            str(expected_path), "actual"))
        pytest.fail(f"examples/{example}.sql printed something else than expected:\n{diff}")


def test_every_example_is_run_and_expected() -> None:
    assert sorted(p.stem for p in EXAMPLES.glob("*.sql")) == sorted(ORDER)
    assert sorted(p.stem for p in EXPECTED.glob("*.out")) == sorted(ORDER)


def _demo_recipe() -> list[str]:
    lines = (REPO / "Makefile").read_text(encoding="utf-8").splitlines()
    start = lines.index(next(line for line in lines if line.startswith("demo:")))
    recipe: list[str] = []
    for line in lines[start + 1:]:
        if not line.startswith("\t"):
            break
        recipe.append(line.strip())
    return recipe


def test_the_demo_runs_the_examples_as_this_test_does() -> None:
    """If `make demo` changes its examples, their order or their S3 file, this test must follow."""
    recipe = _demo_recipe()
    ran = [m.group(1) for line in recipe for m in [re.search(r"-f examples/(\w+)\.sql", line)] if m]
    assert ran in (DEMO_EXAMPLES, ["getting_started", *DEMO_EXAMPLES])
    for line in recipe:
        if re.search(r"-f examples/\w+\.sql", line):
            assert "psql -X -q -v ON_ERROR_STOP=1 -P pager=off -f" in line, line
    export = next(i for i, line in enumerate(recipe) if " export " in line)
    loaders = next(i for i, line in enumerate(recipe) if "examples/loaders.sql" in line)
    assert export < loaders
    assert recipe[export].endswith(" ".join(f'"{a}"' if " " in a else a for a in EXPORT_ARGS)), recipe[export]


def sql_statements(text: str) -> list[str]:
    """SQL statements of a psql script or a README block: comments and backslash commands dropped,
    whitespace collapsed, one entry per statement."""
    kept = [re.sub(r"--.*$", "", line) for line in text.splitlines() if not line.lstrip().startswith("\\")]
    joined = " ".join(" ".join(kept).split())
    return [s.strip() + ";" for s in joined.split(";") if s.strip()]


def test_readme_getting_started_is_examples_getting_started() -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    section = readme.split("\n## Getting started\n", 1)[1].split("\n## ", 1)[0]
    block = re.search(r"```sql\n(.*?)```", section, re.S)
    assert block, "README's Getting started has no ```sql block"
    in_readme = sql_statements(block.group(1))
    in_example = sql_statements((EXAMPLES / "getting_started.sql").read_text(encoding="utf-8"))
    assert in_readme == in_example
    assert len(in_readme) == 4 and in_readme[0].startswith("CREATE EXTENSION")
