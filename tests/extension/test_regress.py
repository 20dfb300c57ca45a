"""The pg_regress contract tests (extension/test/sql/*.sql, expected output in
extension/test/expected/*.out), run by `make -C extension installcheck` against the
test server: it has plpython3u and churnml's runtime (PYTHONPATH), which a throwaway
--temp-instance would not, and it runs as root too (initdb refuses root).

After a deliberate change to the API: run this test, read extension/test/out/results/NAME.out,
and copy it over extension/test/expected/NAME.out if it is right (CHURNML_REGRESS_UPDATE=1
copies every result over its expected file; review the diff before committing).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import uuid
from urllib.parse import urlsplit

import psycopg
import pytest
from psycopg import sql

from tests.conftest import REPO

EXTENSION = REPO / "extension"
OUT = EXTENSION / "test" / "out"


def test_contract(server_url: str) -> None:
    parts = urlsplit(server_url)
    pg_config = _installed_pg_config()  # the PostgreSQL `make install` put churnml into
    database = f"churnml_regress_{uuid.uuid4().hex[:8]}"
    env = {**os.environ, "PGHOST": parts.hostname or "", "PGPORT": str(parts.port), "PGUSER": parts.username or "",
           "PGPASSWORD": parts.password or ""}
    shutil.rmtree(OUT, ignore_errors=True)
    try:
        result = subprocess.run(["make", "-s", "-C", str(EXTENSION), "installcheck", f"PG_CONFIG={pg_config}",
                                 f"CONTRIB_TESTDB={database}"], env=env, capture_output=True, text=True,
                                check=False, timeout=1200)
    finally:
        with psycopg.connect(server_url, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(database)))
    if os.environ.get("CHURNML_REGRESS_UPDATE") == "1":
        for path in (OUT / "results").glob("*.out"):
            shutil.copy(path, EXTENSION / "test" / "expected" / path.name)
    diffs = OUT / "regression.diffs"
    if result.returncode != 0:
        pytest.fail(f"pg_regress failed:\n{result.stdout}{result.stderr}\n"
                    + (diffs.read_text(encoding="utf-8", errors="replace")[:30000] if diffs.exists() else ""))


def _installed_pg_config() -> str:
    info = subprocess.run([sys.executable, "-m", "churnml_client.install_info", "show"], capture_output=True,
                          text=True, check=True).stdout
    return json.loads(info)["pg_config"]
