"""Every ```sql block of docs/incentives.md, pasted into psql in order on fresh demo data, runs.

The database is prepared as `make demo` prepares the demo's (10,000 customers with seed 42, then
examples/train_churn.sql and examples/call_center.sql, which log one offer for each of the
walkthrough's three customers); the blocks then run as a reader pastes them into
`churnml db psql` (a superuser), with ON_ERROR_STOP. The docs' record_outcome examples depend on
that state: by offer id for the offer the first block logs, by customer key for a customer with
exactly one open offer.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import psycopg
import pytest

from tests.conftest import REPO, run_psql

DOC = REPO / "docs" / "incentives.md"


def sql_blocks() -> list[str]:
    return re.findall(r"```sql\n(.*?)```", DOC.read_text(encoding="utf-8"), re.S)


def test_signatures_are_not_sql_blocks() -> None:
    """A function signature is not a statement to paste: its block has no `sql` tag."""
    for block in sql_blocks():
        assert not re.match(r"\s*churnml\.\w+\(", block), block[:80]


@pytest.mark.slow
def test_the_sql_examples_run_on_fresh_demo_data(make_database: Callable[..., str]) -> None:
    from churnml_client import datagen

    url = make_database("incentive_docs")
    with psycopg.connect(url) as conn:
        datagen.load(conn, 10_000, 42, progress=False)
    for example in ("train_churn", "call_center"):
        result = run_psql(url, "-q", "-v", "ON_ERROR_STOP=1", "-P", "pager=off", "-f", f"examples/{example}.sql",
                          cwd=REPO)
        assert result.returncode == 0, result.stdout
    script = "\n".join(f"\\echo '-- block {i}'\n{block}" for i, block in enumerate(sql_blocks(), 1))
    result = run_psql(url, "-v", "ON_ERROR_STOP=1", "-P", "pager=off", "-e", input_text=script, cwd=REPO)
    assert result.returncode == 0 and "ERROR" not in result.stdout, result.stdout[-3000:]
    with psycopg.connect(url) as conn:
        # the first block's offer got its outcome by id; make demo's offers for two customers by key
        outcomes = conn.execute("SELECT l.customer_key, o.outcome FROM churnml.offer_outcomes o "
                                "JOIN churnml.offer_log l ON l.id = o.offer_id ORDER BY o.offer_id").fetchall()
        assert sorted(outcomes) == [("408/375-9999", "churned"), ("415/358-1921", "retained"),
                                    ("415/358-1921", "retained")]
