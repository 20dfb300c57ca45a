"""Every SQL statement of AWS's three Aurora ML pages, run in psql against churnml with a migrating
user's substitutions only (tests/sql/aurora_pages.sql: the statements, their expected outcomes and
why). Each page runs in one psql session of its own database, as a reader would run it; each
statement is one test, so that the report shows which run, which differ and which fail for the
reason documented in docs/from-aurora.md. Statements waiting for another branch are strict xfails
naming it: they turn into failures (to be re-marked `runs`) once that branch is merged."""

from __future__ import annotations

import gzip
import os
import re
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest

from churnml_loaders.s3_client import S3Client
from churnml_loaders.s3_config import S3Config
from tests.conftest import REPO, psql_binary

STATEMENTS = Path(__file__).with_name("aurora_pages.sql")
PAGES = ("postgresql-ml.md", "postgresql-s3-export.md", "USER_PostgreSQL.S3Import.md")
# The objects the import page reads, in the buckets it names (after the substitutions).
OBJECTS = {
    ("docs-lab-store-for-rpg", "versions_and_jdks_listing.csv"):
        b"jdk,8,2014\njdk,11,2018\njdk,17,2021\n",
    ("samplebucket", "pipeDelimitedSampleFile"):
        b"1|foo1|bar1|elephant1\n2|foo2|bar2|elephant2\n3|foo3|bar3|elephant3\n4|foo4|bar4|elephant4\n",
    ("mys3bucket", "test-data.gz"): gzip.compress(b"1,a,b,c,d\n2,e,f,g,h\n"),
    ("samplebucket", "SampleFile"): "caf\u00e9\t\u20ac 5\n".encode("cp1252"),
}
BUCKETS = ("sample-bucket", "docs-lab-store-for-rpg", "samplebucket", "mys3bucket")


@dataclass
class Statement:
    page: str
    number: int
    section: str
    text: str = ""
    expect: str = ""  # runs, differs, fails, xfail
    sqlstate: str | None = None
    branch: str | None = None
    reason: str = ""
    shows: list[str] = field(default_factory=list)
    subs: list[tuple[str, str]] = field(default_factory=list)
    as_written: tuple[str, str] | None = None  # (sqlstate, reason)

    @property
    def run_text(self) -> str:
        text = self.text
        for old, new in self.subs:
            assert old in text, (self.page, self.number, old)
            text = text.replace(old, new)
        return text


@dataclass
class Page:
    name: str
    setup: str = ""
    statements: list[Statement] = field(default_factory=list)


_EXPECT = re.compile(r"(runs|differs|fails ([0-9A-Z]{5})|xfail (\w+))(?::\s*(.*))?$")


def parse(path: Path = STATEMENTS) -> list[Page]:
    pages: list[Page] = []
    current: Statement | None = None
    in_setup = False
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("-- @page "):
            pages.append(Page(line.removeprefix("-- @page ").strip()))
            current = None
        elif line.startswith("-- @setup"):
            in_setup = True
        elif line.startswith("-- @end"):
            in_setup = False
        elif in_setup:
            pages[-1].setup += line + "\n"
        elif match := re.match(r"-- #(\d+) (.*)$", line):
            current = Statement(pages[-1].name, int(match[1]), match[2].strip())
            pages[-1].statements.append(current)
        elif current is None:
            continue
        elif line.startswith("-- @expect "):
            expect = _EXPECT.match(line.removeprefix("-- @expect ").strip())
            assert expect, line
            current.expect = expect[1].split()[0]
            current.sqlstate, current.branch, current.reason = expect[2], expect[3], expect[4] or ""
        elif line.startswith("-- @shows "):
            current.shows.append(line.removeprefix("-- @shows "))
        elif line.startswith("-- @sub "):
            old, new = line.removeprefix("-- @sub ").split(" => ")
            current.subs.append((old, new))
        elif line.startswith("-- @as-written fails "):
            state, reason = line.removeprefix("-- @as-written fails ").split(": ", 1)
            current.as_written = (state, reason)
        else:
            current.text += line + "\n"
    for page in pages:
        for statement in page.statements:
            statement.text = statement.text.strip() + "\n"
    return pages


ALL = parse()


def _marks(statement: Statement) -> list[pytest.MarkDecorator]:
    if statement.expect == "xfail":
        return [pytest.mark.xfail(strict=True, reason=f"needs branch {statement.branch}: {statement.reason}")]
    return []


CASES = [pytest.param(s, id=f"{p.name}#{s.number}", marks=_marks(s)) for p in ALL for s in p.statements]


def _psql(url: str, script: str) -> tuple[str, str]:
    """psql running `script` as a reader's session: stdout and stderr apart (psql buffers stdout)."""
    parts = urlsplit(url)
    env = {**os.environ, "PGPASSWORD": parts.password or "", "PGTZ": "UTC", "PGDATESTYLE": "ISO, MDY"}
    dsn = urlunsplit(parts._replace(netloc=f"{parts.username}@{parts.hostname}:{parts.port}"))
    done = subprocess.run([psql_binary(), "-X", "-d", dsn], input=script, env=env, cwd=REPO, capture_output=True,
                          text=True, check=False, timeout=600)
    return done.stdout, done.stderr


def _chunks(output: str) -> dict[int, str]:
    """The output after each `@@statement N` marker, up to the next."""
    pieces = re.split(r"^@@statement (\d+)\n", output, flags=re.MULTILINE)
    return {int(pieces[i]): pieces[i + 1] for i in range(1, len(pieces) - 1, 2)}


@dataclass
class Outcome:
    stdout: str
    stderr: str

    @property
    def sqlstate(self) -> str | None:
        match = re.search(r"^(?:psql:[^ ]*: )?ERROR:  ([0-9A-Z]{5}): ", self.stderr, re.MULTILINE)
        return match[1] if match else None

    @property
    def messages(self) -> str:
        """stderr as psql shows it by default: without VERBOSITY's SQLSTATEs and LOCATION lines."""
        shown = re.sub(r"^(\w+):  [0-9A-Z]{5}: ", r"\1:  ", self.stderr, flags=re.MULTILINE)
        return re.sub(r"^LOCATION:  .*\n", "", shown, flags=re.MULTILINE)

    @property
    def error(self) -> str:
        return next((line for line in self.stderr.splitlines() if "ERROR:" in line), "")


def page_script(page: Page) -> str:
    lines = ["\\set VERBOSITY verbose", "\\set ON_ERROR_STOP off", page.setup]
    for statement in page.statements:
        lines += [f"\\echo @@statement {statement.number}", f"\\warn @@statement {statement.number}",
                  statement.run_text]
    return "\n".join(lines) + "\n"


@pytest.fixture(scope="module")
def aurora_buckets(configured: S3Config) -> S3Config:
    with S3Client(configured) as client:
        existing = set()
        for bucket in BUCKETS:
            try:
                client.create_bucket(bucket)
            except Exception:  # noqa: BLE001 - already there from an earlier module: fine
                existing.add(bucket)
        for (bucket, key), body in OBJECTS.items():
            client.put_object(bucket, key, body)
    return configured


@pytest.fixture(scope="module")
def runs(make_database: Callable[..., str], aurora_buckets: S3Config) -> Iterator[dict[str, tuple[str, dict]]]:
    """Each page run once: its database's URL and each statement's Outcome."""
    results: dict[str, tuple[str, dict[int, Outcome]]] = {}
    for page in ALL:
        url = make_database("aurora")
        stdout, stderr = _psql(url, page_script(page))
        out, err = _chunks(stdout), _chunks(stderr)
        results[page.name] = (url, {s.number: Outcome(out.get(s.number, ""), err.get(s.number, ""))
                                    for s in page.statements})
    yield results


def test_the_file_has_the_three_pages() -> None:
    assert [p.name for p in ALL] == list(PAGES)
    assert [len(p.statements) for p in ALL] == [17, 14, 14]
    for page in ALL:
        assert [s.number for s in page.statements] == list(range(1, len(page.statements) + 1))
        for statement in page.statements:
            assert statement.expect in ("runs", "differs", "fails", "xfail"), statement
            assert statement.expect == "runs" or statement.reason, statement  # each difference says why


@pytest.mark.parametrize("statement", CASES)
def test_statement(runs: dict[str, tuple[str, dict[int, Outcome]]], statement: Statement) -> None:
    outcome = runs[statement.page][1][statement.number]
    if statement.expect == "fails":
        assert outcome.sqlstate == statement.sqlstate, (outcome.error, statement.reason)
    else:  # runs, differs, xfail (which should run)
        assert outcome.sqlstate is None, outcome.error
    for text in statement.shows:
        assert text in outcome.stdout + outcome.messages, (text, outcome.stdout, outcome.messages)


AS_WRITTEN = [pytest.param(s, id=f"{p.name}#{s.number}") for p in ALL for s in p.statements if s.as_written]


@pytest.mark.parametrize("statement", AS_WRITTEN)
def test_statement_as_written(runs: dict[str, tuple[str, dict[int, Outcome]]], statement: Statement) -> None:
    """Without the substitution (a bucket name S3 no longer allows) the statement fails, and says why."""
    assert statement.as_written is not None
    url = runs[statement.page][0]
    stdout, stderr = _psql(url, "\\set VERBOSITY verbose\n\\warn @@statement 1\n" + statement.text)
    outcome = Outcome(stdout, _chunks(stderr)[1])
    assert outcome.sqlstate == statement.as_written[0], outcome.error
    assert "upper-case letters" in outcome.stderr and "since March 2018" in outcome.stderr, outcome.stderr


def test_what_the_pages_left_behind(runs: dict[str, tuple[str, dict[int, Outcome]]],
                                    aurora_buckets: S3Config) -> None:
    """The statements that ran did their work: the export wrote the object AWS's page names, the imports
    filled the tables, the refused credentials imported nothing."""
    with S3Client(aurora_buckets) as client:
        body = b"".join(client.get_object("sample-bucket", "sample-filepath"))
    assert body == b"1\tMonday\n2\tTuesday\n3\tWednesday\n"
    with psycopg.connect(runs["USER_PostgreSQL.S3Import.md"][0]) as conn:
        assert conn.execute("SELECT * FROM t1 ORDER BY col3").fetchall() == [
            ("jdk", "8", "2014"), ("jdk", "11", "2018"), ("jdk", "17", "2021")]
        assert conn.execute("SELECT * FROM test_gzip ORDER BY id").fetchall() == [
            (1, "a", "b", "c", "d"), (2, "e", "f", "g", "h")]
        # t1, test_gzip, and the pipe-delimited and WIN1252 imports (COPY's options)
        assert conn.execute("SELECT count(*) FROM churnml.load_history").fetchone()[0] == 4
        assert conn.execute("SELECT count(*) FROM test").fetchone()[0] > 0
        assert conn.execute("SELECT count(*) FROM test_table").fetchone()[0] > 0
    with psycopg.connect(runs["postgresql-ml.md"][0]) as conn:
        assert conn.execute("SELECT count(*) FROM clinician_notes WHERE sentiment IS NULL").fetchone()[0] == 1
        functions = conn.execute("SELECT array_agg(p.oid::regprocedure::text ORDER BY 1) FROM pg_proc p "
                                 "WHERE proname IN ('classify_event', 'regression_model', 'analyze_company')"
                                 ).fetchone()[0]
        assert len(functions) == 4
