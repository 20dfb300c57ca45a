"""SQL contract tests, pg_regress style: tests/sql/regress/NAME.sql is run by psql
in a fresh database with churnml installed, and its output (error lines included:
the error text is part of the contract) must equal tests/sql/expected/NAME.out.

Set CHURNML_REGRESS_UPDATE=1 to rewrite the expected files after a deliberate change.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import run_psql

HERE = Path(__file__).parent
CASES = sorted((HERE / "regress").glob("*.sql"))


@pytest.mark.parametrize("case", CASES, ids=[c.stem for c in CASES])
def test_regress(case: Path, make_database: Callable[..., str]) -> None:
    url = make_database("regress")
    result = run_psql(url, "-a", "-q", "-v", "VERBOSITY=default", "-v", "SHOW_CONTEXT=never",
                      "-f", case.name, cwd=case.parent)
    # The database name differs per run; nothing else in the output may.
    actual = result.stdout.replace(url.rsplit("/", 1)[1], "REGRESS_DB")
    expected_path = HERE / "expected" / (case.stem + ".out")
    if os.environ.get("CHURNML_REGRESS_UPDATE") == "1" or not expected_path.exists():
        expected_path.write_text(actual, encoding="utf-8")
        if os.environ.get("CHURNML_REGRESS_UPDATE") != "1":
            pytest.fail(f"{expected_path} did not exist; wrote it — review and commit it")
    expected = expected_path.read_text(encoding="utf-8")
    if actual != expected:
        diff = "".join(difflib.unified_diff(expected.splitlines(True), actual.splitlines(True),
                                            str(expected_path), "actual"))
        pytest.fail("SQL output differs from the expected file:\n" + diff)
