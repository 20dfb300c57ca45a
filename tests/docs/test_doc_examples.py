"""Docs are tests: every sql and shell block of README.md and docs/*.md runs, in document order,
on fresh demo data, and what a block shows it prints is what it prints.

How a document runs (tests/docs/doc_examples.py says how blocks are marked and compared):

- **Fresh demo data, as `make demo` makes it.** Once per session: 10,000 customers with seed
  42 (`churnml data generate`), examples/train_churn.sql and examples/call_center.sql, into a
  template database. For each document: database `telco` on the test server is dropped and
  created again from that template; the bucket `churnml` of a local S3 server (SeaweedFS,
  `churnml s3 start`'s code, whose endpoint the test server reads from its s3.json) is emptied,
  and `make demo`'s `churnml export ... s3://churnml/incoming/customers` and
  examples/loaders.sql run again. (docs/sql-reference.md is generated from the catalog and
  tested by test_sql_reference.py.)
- **One psql session per document**: `churnml db psql -X -v ON_ERROR_STOP=1 -P pager=off`
  on `telco`, as a reader pastes into it, so psql's meta-commands (`\\gset`, `\\x`) work, and
  session state (SET, temporary tables, variables) lasts from block to block. The blocks are
  written to one script with `\\echo` markers between them; stdout is split at the markers
  (NOTICEs and WARNINGs go to stderr and are not compared; an ERROR stops the document).
- **Shell blocks** run from that session with `\\!`, in document order, as `bash -e` in a
  directory of the document's own that looks like the source tree (`.venv` and `examples`
  link to the real ones), with an environment of its own: PATH starting with .venv/bin, and
  CHURNML_HOME naming the test server's home, so `churnml db psql`, `churnml export` and the
  others reach the test server and its S3 server exactly as they reach the demo's. Nothing
  else: no PG* variables, so a plain `psql` would not find the database (nor would it a
  reader's). stderr is merged into stdout, as a terminal shows it.

CHURNML_TEST_DSN (an external server) skips these tests: the `churnml` command only reaches
the embedded server.
"""

from __future__ import annotations

import difflib
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import psycopg
import pytest
from psycopg import sql

from tests.conftest import REPO, TEST_HOME, VENV_BIN, private_path, run_psql
from tests.docs.doc_examples import Block, console_commands, matches, parse

if TYPE_CHECKING:
    from churnml_loaders.s3_config import S3Config

DOCS = [REPO / "README.md", *sorted(p for p in (REPO / "docs").glob("*.md") if p.name != "sql-reference.md")]
# the documents with sql or shell blocks to run (the others are counted by the inventory)
RUNNABLE_DOCS = [d for d in DOCS if parse(d).of_kind("sql", "sh", "console")]
DEMO_DATABASE = "telco"  # what `churnml db psql` and the other commands connect to
DEMO_EXPORT = ["SELECT * FROM customers", "s3://churnml/incoming/customers", "--header", "--no-manifest",
               "--overwrite", "--quiet"]
SHELL_PATH = f"{VENV_BIN}:/usr/local/bin:/usr/bin:/bin"
TIMEOUT = 3600


def doc_name(path: Path) -> str:
    return str(path.relative_to(REPO))


# ---- the parse: every block fenced, said what it is, templates marked ------------------------

@pytest.mark.parametrize("doc", DOCS, ids=doc_name)
def test_every_block_says_what_it_is(doc: Path) -> None:
    parsed = parse(doc, doc_name(doc))
    assert not parsed.problems, "\n".join(parsed.problems)
    for block in parsed.of_kind("sql"):
        assert _ends_complete(block.text), f"{block.where}: the block's last statement has no `;`"


def test_sql_reference_is_tested_elsewhere() -> None:
    assert (REPO / "tests" / "docs" / "test_sql_reference.py").exists()


def _ends_complete(text: str) -> bool:
    lines = [re.sub(r"--.*$", "", line).rstrip() for line in text.splitlines()]
    lines = [line for line in lines if line.strip()]
    return not lines or lines[-1].endswith(";") or lines[-1].lstrip().startswith("\\") or "\\g" in lines[-1]


def inventory() -> list[dict[str, object]]:
    """Per document: blocks found, run, with output compared, templates, not run (and why), other."""
    rows = []
    for doc in DOCS:
        parsed = parse(doc, doc_name(doc))
        runnable = parsed.of_kind("sql", "sh", "console")
        rows.append({
            "doc": parsed.doc, "blocks": len(parsed.blocks), "run": len(runnable),
            "sql": len(parsed.of_kind("sql")), "shell": len(parsed.of_kind("sh", "console")),
            "compared": sum(1 for b in runnable if b.output is not None or b.kind == "console"),
            "templates": [b.where for b in parsed.of_kind("template")],
            "not_run": [f"{b.where} ({b.marker})" for b in parsed.of_kind("not-run")],
            "other": len(parsed.of_kind("other", "output")),
        })
    return rows


def test_inventory_is_printed(capsys: pytest.CaptureFixture[str]) -> None:
    rows = inventory()
    with capsys.disabled():
        print("\ndocs examples: doc, blocks, run (sql+shell), compared, templates, not run")
        for row in rows:
            print(f"  {row['doc']}: {row['blocks']} blocks, {row['run']} run ({row['sql']}+{row['shell']}), "
                  f"{row['compared']} compared, {len(row['templates'])} templates, {len(row['not_run'])} not run")
        for row in rows:
            for where in row["templates"]:
                print(f"  template: {where}")
            for where in row["not_run"]:
                print(f"  not run: {where}")
    assert sum(int(row["run"]) for row in rows) > 0


# ---- the run ------------------------------------------------------------------------------

@dataclass
class DocsEnvironment:
    server_url: str
    template: str  # the database every document's `telco` is copied from
    s3_config: S3Config
    workdirs: Path  # each document runs in a directory of its own under this one


@pytest.fixture(scope="module")
def docs_env(server_url: str, make_database: Callable[..., str]) -> Iterator[DocsEnvironment]:
    if os.environ.get("CHURNML_TEST_DSN"):
        pytest.skip("the docs' `churnml` commands reach only the embedded server, not CHURNML_TEST_DSN")
    from churnml_client import datagen
    from churnml_client.s3_server import LocalS3Server
    from churnml_loaders.server_config import write_file

    with psycopg.connect(server_url) as conn:
        datadir = Path(conn.execute("SHOW data_directory").fetchone()[0])
    if not os.access(datadir, os.W_OK):
        pytest.skip(f"cannot write the server's S3 configuration into {datadir}")
    template = make_database("docs_demo")  # `churnml db start`: telco with the extension
    with psycopg.connect(template) as conn:
        datagen.load(conn, 10_000, 42, progress=False)  # `churnml data generate --customers 10000 --seed 42`
    for example in ("train_churn", "call_center"):
        result = run_psql(template, "-q", "-v", "ON_ERROR_STOP=1", "-P", "pager=off", "-f",
                          f"examples/{example}.sql", cwd=REPO)
        assert result.returncode == 0, result.stdout
    s3 = LocalS3Server.from_environment(TEST_HOME)  # `churnml s3 start` with CHURNML_HOME = the test home
    was_running = s3.running_pid() is not None
    config = s3.start()
    config_path = write_file(datadir, config)  # ... which configures the embedded server too
    try:
        workdirs = private_path("docs")
        workdirs.mkdir(exist_ok=True)
        yield DocsEnvironment(server_url, template, config, workdirs)
    finally:
        config_path.unlink(missing_ok=True)
        if not was_running:
            s3.stop()


# Examples of product changes made on other branches (issue 21), written as they will be once
# merged: a block containing the text runs, and while it fails the document goes on after it and
# the test is an expected failure naming the change. Once the block passes, the entry must go.
PENDING: dict[str, str] = {
    "compare_models('churn', 'churn_small')":
        "issue 21 item 5 (branch nu1): compare_models takes a trained, undeployed name",
    "--compare churn_small": "issue 21 item 5 (branch nu1): the report's --compare takes a trained, undeployed name",
}


def pending(block: Block) -> str:
    return next((reason for text, reason in PENDING.items() if text in block.text), "")


def shell_env(home: Path) -> dict[str, str]:
    return {"PATH": SHELL_PATH, "HOME": str(home), "CHURNML_HOME": str(TEST_HOME), "LANG": "C.UTF-8",
            "PGTZ": "UTC", "TERM": "dumb"}


def fresh_demo(env: DocsEnvironment, workdir: Path) -> None:
    """`telco` and the bucket as `make demo` leaves them."""
    from churnml_loaders.s3_client import S3Client

    with psycopg.connect(env.server_url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(DEMO_DATABASE)))
        conn.execute(sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
            sql.Identifier(DEMO_DATABASE), sql.Identifier(env.template.rsplit("/", 1)[1])))
    with S3Client(env.s3_config) as s3:
        s3.delete_objects("churnml", [obj.key for obj in s3.list_objects("churnml", "")])
    demo = [[str(VENV_BIN / "churnml"), "export", *DEMO_EXPORT],
            [str(VENV_BIN / "churnml"), "db", "psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-P", "pager=off", "-f",
             str(REPO / "examples" / "loaders.sql")]]
    for argv in demo:
        result = subprocess.run(argv, env=shell_env(workdir), cwd=workdir, capture_output=True, text=True,
                                check=False, timeout=TIMEOUT)
        assert result.returncode == 0, result.stdout + result.stderr


@dataclass
class Step:
    block: Block
    first_line: int  # the block's lines in the script, for psql's error line numbers
    last_line: int


def build_script(blocks: list[Block], workdir: Path) -> tuple[str, list[Step]]:
    lines: list[str] = []
    steps: list[Step] = []
    env = " ".join(f"{k}={shell_quote(v)}" for k, v in shell_env(workdir).items())
    for n, block in enumerate(blocks, 1):
        waiting = pending(block)
        lines.append(f"\\echo '@@block {n}'")
        if waiting:  # the product change it waits for is not merged: the document goes on after it
            lines.append("\\set ON_ERROR_STOP 0")
        first = len(lines) + 1
        if block.kind == "sql":
            lines.extend(block.text.rstrip("\n").split("\n"))
        else:
            script = workdir / f".block{n}.sh"
            if block.kind == "console":
                body = []
                for k, (command, _) in enumerate(console_commands(block.text), 1):
                    body += [f"echo '@@command {k}'", command]
                script.write_text("\n".join(body) + "\n", encoding="utf-8")
            else:
                script.write_text(block.text, encoding="utf-8")
            rc = workdir / f".block{n}.rc"
            lines.append(f"\\! cd {shell_quote(str(workdir))} && env -i {env} bash -e -o pipefail {script.name} 2>&1;"
                         f" echo $? > {rc.name}; echo \"@@rc $(cat {rc.name})\"")
            if not waiting:
                lines.append(f"\\set shell_ok `test \"$(cat {rc.name})\" = 0 && echo on || echo off`")
                lines.append("\\if :shell_ok \\else \\q \\endif")
        steps.append(Step(block, first, len(lines)))
        if waiting:
            lines.append("\\set ON_ERROR_STOP 1")
        lines.append(f"\\echo '@@end {n}'")
    return "\n".join(lines) + "\n", steps


def shell_quote(text: str) -> str:
    return "'" + text.replace("'", "'\\''") + "'"


def split_output(stdout: str) -> dict[int, str]:
    outputs: dict[int, str] = {}
    current: int | None = None
    for line in stdout.splitlines(keepends=True):
        marker = re.match(r"^@@(block|end) (\d+)$", line.rstrip("\n"))
        if marker:
            current = int(marker.group(2)) if marker.group(1) == "block" else None
            if current is not None:
                outputs[current] = ""
            continue
        if current is not None:
            outputs[current] += line
    return outputs


def failing_steps(stderr: str, steps: list[Step]) -> list[tuple[Step, str]]:
    """The steps psql reported an ERROR in, with the error's lines."""
    failed: list[tuple[Step, str]] = []
    for m in re.finditer(r"^psql:[^:\n]*:(\d+): (?:ERROR|FATAL).*(?:\n(?!psql:).*)*", stderr, re.M):
        line = int(m.group(1))
        for step in steps:
            if step.first_line <= line <= step.last_line:
                failed.append((step, m.group(0)))
    return failed


def diff(expected: str, actual: str) -> str:
    return "".join(difflib.unified_diff(expected.splitlines(True), actual.splitlines(True), "the doc shows",
                                        "it prints"))


@pytest.mark.slow
@pytest.mark.parametrize("doc", RUNNABLE_DOCS, ids=doc_name)
def test_doc_examples_run_and_print_what_they_show(doc: Path, docs_env: DocsEnvironment) -> None:
    parsed = parse(doc, doc_name(doc))
    assert not parsed.problems, "\n".join(parsed.problems)
    blocks = parsed.of_kind("sql", "sh", "console")
    workdir = Path(tempfile.mkdtemp(prefix=f"{doc.stem}-", dir=docs_env.workdirs))
    created = {m.group(1) for b in blocks for m in re.finditer(r"CREATE ROLE (\w+)", b.text, re.I)}
    roles_before = roles(docs_env.server_url) - created  # a role an earlier, interrupted run left behind
    try:
        for link in (".venv", "examples"):
            (workdir / link).symlink_to(REPO / link)
        drop_database_and_roles(docs_env.server_url, created & roles(docs_env.server_url))
        fresh_demo(docs_env, workdir)
        script, steps = build_script(blocks, workdir)
        (workdir / ".doc.sql").write_text(script, encoding="utf-8")
        result = subprocess.run(
            [str(VENV_BIN / "churnml"), "db", "psql", "-X", "-v", "ON_ERROR_STOP=1", "-P", "pager=off",
             "-f", ".doc.sql"],
            env=shell_env(workdir), cwd=workdir, capture_output=True, text=True, check=False, timeout=TIMEOUT)
        (workdir / ".doc.stdout").write_text(result.stdout, encoding="utf-8")
        (workdir / ".doc.stderr").write_text(result.stderr, encoding="utf-8")
        failures, waiting = check(steps, split_output(result.stdout), result)
    finally:
        drop_database_and_roles(docs_env.server_url, roles(docs_env.server_url) - roles_before)
        if os.environ.get("CHURNML_DOCS_KEEP") != "1":
            shutil.rmtree(workdir, ignore_errors=True)
    if failures:
        pytest.fail("\n\n".join(failures))
    if waiting:
        pytest.xfail("waiting for a product change:\n" + "\n".join(waiting))


def check(steps: list[Step], outputs: dict[int, str],
          result: subprocess.CompletedProcess[str]) -> tuple[list[str], list[str]]:
    """What failed, and what failed only because the product change it documents is not merged yet."""
    failures: list[str] = []
    waiting: list[str] = []
    errors = failing_steps(result.stderr, steps)

    def failed(block: Block, message: str) -> None:
        reason = pending(block)
        if reason:
            waiting.append(f"{block.where}: {reason}")
        else:
            failures.append(f"{block.where}: {message}")

    for n, step in enumerate(steps, 1):
        block = step.block
        if n not in outputs:
            if not failures:
                failures.append(f"{block.where}: never ran (psql stopped before it)")
            break
        out = outputs[n]
        noted = len(failures) + len(waiting)
        error = [text for s, text in errors if s is step]
        if block.kind in ("sh", "console"):
            rc = re.search(r"^@@rc (\d+)$", out, re.M)
            out = out[:rc.start()] if rc else out
            if not rc or rc.group(1) != "0":
                failed(block, f"the shell block failed (exit {rc.group(1) if rc else '?'}):\n{block.text}"
                              f"--- it printed:\n{out}")
                continue
        elif error:
            failed(block, f"psql reported an error:\n{block.text}--- psql:\n" + "\n".join(error))
            continue
        elif f"@@end {n}" not in result.stdout:
            failures.append(f"{block.where}: psql stopped in it:\n{result.stderr[-3000:]}")
            break
        if block.kind == "console":
            pieces = re.split(r"^@@command \d+\n", out, flags=re.M)[1:]
            commands = console_commands(block.text)
            if len(pieces) != len(commands):
                failed(block, f"ran {len(pieces)} of its {len(commands)} commands:\n{out}")
                continue
            for (command, shown), printed in zip(commands, pieces, strict=True):
                if not matches(shown, printed):
                    failed(block, f"`{command}` printed something else:\n{diff(shown, printed)}")
        elif block.output is not None and not matches(block.output.text, out, block.output.tolerance):
            failed(block, f"it printed something else than {block.output.where} shows:\n"
                          f"{diff(block.output.text, out)}")
        if pending(block) and len(failures) + len(waiting) == noted:
            failures.append(f"{block.where}: waits for {pending(block)!r} in PENDING, but it passes: take it out")
    if result.returncode != 0 and not failures and not waiting:
        failures.append(f"psql exited with {result.returncode}:\n{result.stderr[-3000:]}")
    return failures, waiting


def drop_database_and_roles(server_url: str, created_roles: set[str]) -> None:
    """Roles are the cluster's: the next document starts without the ones this one created."""
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(DEMO_DATABASE)))
        for role in sorted(created_roles):
            conn.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(role)))


def roles(server_url: str) -> set[str]:
    with psycopg.connect(server_url) as conn:
        return {name for (name,) in conn.execute("SELECT rolname FROM pg_roles")}


def test_demo_preparation_follows_the_makefile() -> None:
    """If `make demo` changes how it prepares the demo, this harness must follow."""
    from tests.examples.test_examples import _demo_recipe

    recipe = _demo_recipe()
    assert any("data generate --customers 10000 --seed 42" in line for line in recipe), recipe
    ran = [m.group(1) for line in recipe for m in [re.search(r"-f examples/(\w+)\.sql", line)] if m]
    assert ran == ["train_churn", "call_center", "loaders"], ran
    assert any(line.endswith(" ".join(f'"{a}"' if " " in a else a for a in DEMO_EXPORT)) for line in recipe)

