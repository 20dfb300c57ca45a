"""`churnml report` end to end: two models trained in a fresh database, the real CLI, the files it writes."""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Callable
from pathlib import Path

import psycopg
import pytest

from tests.conftest import VENV_BIN

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def churnml(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(VENV_BIN / "churnml"), *args], capture_output=True, text=True, timeout=300,
                          check=False, env=dict(os.environ))


@pytest.fixture(scope="module")
def trained(make_telco: Callable[..., str]) -> str:
    url = make_telco("report", 3000, 5)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("SELECT churnml.train('small', 'customers', 'churn', "
                     "features => ARRAY['cust_service_calls','day_mins','int_plan'], deploy => true)")
    return url


@pytest.mark.slow
def test_report_writes_html_and_pngs(trained: str, tmp_path: Path) -> None:
    out = tmp_path / "report"
    result = churnml("report", "churn", "--compare", "small", "--dsn", trained, "--out", str(out))
    assert result.returncode == 0, result.stderr
    index = out / "index.html"
    assert result.stdout.strip() == str(index)
    page = index.read_text(encoding="utf-8")

    # every PNG on disk is on the page and every image on the page is on disk
    pngs = sorted(p.name for p in out.glob("*.png"))
    referenced = sorted(set(re.findall(r'<img src="([^"]+)"', page)))
    assert referenced == pngs
    assert {"importance.png", "roc.png", "scores.png", "cost.png", "tree.png", "depths.png"} <= set(pngs)
    for name in pngs:
        data = (out / name).read_bytes()
        assert data.startswith(PNG_MAGIC), name
        assert len(data) > 5_000, name

    with psycopg.connect(trained) as conn:
        churn_id, threshold = conn.execute(
            "SELECT model_id, threshold FROM churnml.current_deployments WHERE name = 'churn'").fetchone()
        aucs = conn.execute("SELECT train_auc, validation_auc, test_auc FROM churnml.model_summary WHERE id = %s",
                            (churn_id,)).fetchone()
        small_auc = conn.execute("SELECT test_auc FROM churnml.current_deployments WHERE name = 'small'").fetchone()[0]
    for auc in (*aucs, small_auc):
        assert f"{auc:.3f}" in page
    assert "cust_service_calls" in page
    assert f"<h1>Churn model report: churn (model {churn_id})</h1>" in page
    assert f"{threshold:g}" in page
    assert "The strongest driver is " in page
    assert "tp = predicted churn &amp; churned" in page
    # the first tree's text form, escaped: "feature < threshold" becomes "feature &lt; threshold"
    assert re.search(r"<pre>[A-Za-z_][\w.-]* &lt; \S+  \(gain ", page)


@pytest.mark.slow
def test_report_by_model_id(trained: str, tmp_path: Path) -> None:
    with psycopg.connect(trained) as conn:
        small_id = conn.execute("SELECT model_id FROM churnml.current_deployments WHERE name = 'small'").fetchone()[0]
    result = churnml("report", str(small_id), "--dsn", trained, "--out", str(tmp_path / "by-id"),
                     "--fp-cost", "40", "--tp-cost", "40")
    assert result.returncode == 0, result.stderr
    page = (tmp_path / "by-id" / "index.html").read_text(encoding="utf-8")
    assert f"model {small_id})" in page
    assert "flagged churner costing $40" in page


@pytest.mark.slow
@pytest.mark.parametrize("args", [["report", "no_such_model"], ["report", "churn", "--compare", "nope"],
                                  ["report", "999999"]])
def test_unknown_model_is_a_clean_error(trained: str, tmp_path: Path, args: list[str]) -> None:
    out = tmp_path / "missing"
    result = churnml(*args, "--dsn", trained, "--out", str(out))
    assert result.returncode != 0
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("churnml: ")
    assert "Traceback" not in result.stderr
    assert not out.exists()  # nothing is written for a model that cannot be found


@pytest.mark.slow
def test_names_not_deployed_and_the_deployed_cutoff(trained: str, tmp_path: Path) -> None:
    """--compare takes a trained-but-undeployed name (its latest model, said on stderr); the tables use the
    deployment's cutoff and the deployment's business costs."""
    with psycopg.connect(trained, autocommit=True) as conn:
        challenger = conn.execute("SELECT churnml.train('challenger', 'customers', 'churn', "
                                  "features => ARRAY['cust_service_calls', 'day_mins'])").fetchone()[0]
        conn.execute("SELECT churnml.set_threshold('churn', 0.2)")
        conn.execute("SELECT churnml.set_business_costs('churn', fp_cost => 30, fn_cost => 300)")
    try:
        result = churnml("report", "churn", "--compare", "challenger", "--dsn", trained, "--out",
                         str(tmp_path / "r"))
        assert result.returncode == 0, result.stderr
        assert f'churnml report: "challenger" is not deployed; using its latest model, {challenger}' in result.stderr
        page = (tmp_path / "r" / "index.html").read_text(encoding="utf-8")
        assert f"challenger #{challenger}" in page
        assert "Metrics at the cutoff 0.2</h3>" in page and "serves \"churn\" with cutoff 0.2" in page
        words = re.sub(r"\s+", " ", page)
        assert "a flagged stayer $30, a missed churner $300" in words
    finally:
        with psycopg.connect(trained, autocommit=True) as conn:
            conn.execute("DELETE FROM churnml.business_costs")
            conn.execute("SELECT churnml.rollback('churn')")


@pytest.mark.slow
def test_the_report_replaces_only_an_earlier_report(trained: str, tmp_path: Path) -> None:
    out = tmp_path / "mine"
    out.mkdir()
    (out / "index.html").write_text("<p>my own page</p>", encoding="utf-8")
    refused = churnml("report", "churn", "--dsn", trained, "--out", str(out))
    assert refused.returncode == 1 and "which churnml report did not write" in refused.stderr
    assert (out / "index.html").read_text(encoding="utf-8") == "<p>my own page</p>"
    assert not (out / "roc.png").exists()
    fresh = tmp_path / "report"
    assert churnml("report", "churn", "--dsn", trained, "--out", str(fresh)).returncode == 0
    (fresh / "notes.txt").write_text("keep me", encoding="utf-8")
    again = churnml("report", "small", "--dsn", trained, "--out", str(fresh))
    assert again.returncode == 0 and f"replaced the earlier report in {fresh}" in again.stderr
    assert "Churn model report: small" in (fresh / "index.html").read_text(encoding="utf-8")
    assert (fresh / "notes.txt").read_text(encoding="utf-8") == "keep me"


@pytest.mark.slow
def test_the_report_plots_drift_per_monitor_run(trained: str, tmp_path: Path) -> None:
    """Without monitor runs the page says how to start one; with them drift.png shows each run."""
    out = tmp_path / "before"
    assert churnml("report", "small", "--dsn", trained, "--out", str(out)).returncode == 0
    page = (out / "index.html").read_text(encoding="utf-8")
    assert not (out / "drift.png").exists() and "No drift check has run for small yet" in page
    with psycopg.connect(trained, autocommit=True) as conn:
        conn.execute("CREATE TABLE drifted_small AS SELECT * FROM customers")
        conn.execute("UPDATE drifted_small SET day_mins = day_mins * 1.5")
        for source in ("customers", "drifted_small", "customers"):
            conn.execute("SELECT churnml.monitor('small', %s)", (source,))
    out = tmp_path / "after"
    result = churnml("report", "small", "--dsn", trained, "--out", str(out))
    assert result.returncode == 0, result.stderr
    page = (out / "index.html").read_text(encoding="utf-8")
    assert (out / "drift.png").read_bytes().startswith(PNG_MAGIC) and 'src="drift.png"' in page
    assert "Latest run" in page and "<strong>ok</strong>" in page


@pytest.mark.slow
def test_the_report_shows_realized_performance_and_retraining(trained: str, tmp_path: Path) -> None:
    with psycopg.connect(trained, autocommit=True) as conn:
        conn.execute("SET max_parallel_workers_per_gather = 0")
        conn.execute("SELECT churnml.log_predictions('small', 1, 'phone')")
        conn.execute("SELECT count(churnml.will_churn(c, 'small')) FROM customers AS c")
        conn.execute("SELECT * FROM churnml.record_outcomes('small', 'customers', 'phone', 'churn')")
        conn.execute("SELECT * FROM churnml.retrain('small', 'customers', min_gain => 0.5)")  # kept: no gain of 0.5
    out = tmp_path / "production"
    result = churnml("report", "small", "--dsn", trained, "--out", str(out))
    assert result.returncode == 0, result.stderr
    page = (out / "index.html").read_text(encoding="utf-8")
    assert (out / "realized.png").read_bytes().startswith(PNG_MAGIC) and 'src="realized.png"' in page
    assert "<h3>Retraining</h3>" in page and "does not beat the champion" in page
