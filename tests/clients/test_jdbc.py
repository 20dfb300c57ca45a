"""A real JDBC client (pgjdbc, Debian's libpostgresql-jdbc-java) against churnml.

tests/clients/jdbc/CallCenterClient.java is compiled with javac and run with java.
It logs in as a non-superuser role granted churnml_user (scram-sha-256 over TCP,
password from the environment), runs the call-center query with bind parameters,
bulk scoring and the customer_risk view, reads every column with the getter a BI
tool would use and prints JSON lines; here they are compared with the same
queries run through psycopg.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import struct
import subprocess
from collections.abc import Callable, Iterator
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import psycopg
import pytest
from psycopg import sql

JAR = Path(os.environ.get("CHURNML_PGJDBC_JAR", "/usr/share/java/postgresql.jar"))
SOURCE = Path(__file__).resolve().parent / "jdbc" / "CallCenterClient.java"
PGOBJECT = "org.postgresql.util.PGobject"
CALL = (408, "375-9999", "You morons! You charged me extra again! '; DROP TABLE customers; --")
SCORE_QUERY = ("SELECT key, probability FROM churnml.score('SELECT *, area_code || ''/'' || phone AS id "
               "FROM customers', key_column => 'id') ORDER BY key")
# What a BI tool sees for the dashboard view: the getter per column.
RISK_GETTERS = {
    "customer_key": "getString", "will_churn": "getDouble", "churn_flag": "getBoolean", "risk_band": "getString",
    "threshold": "getDouble", "top_reason": "getString", "top_reason_contribution": "getDouble",
    "sentiment": "getString", "confidence": "getDouble", "sentiment_at": "getTimestamp", "model": "getString",
    "model_id": "getLong",
}


def _tools() -> tuple[str, str]:
    java, javac = shutil.which("java"), shutil.which("javac")
    if java is None or javac is None:
        pytest.skip("no JDK: java/javac not on PATH (Debian: apt-get install default-jdk-headless)")
    if not JAR.is_file():
        pytest.skip(f"no pgjdbc jar at {JAR} (Debian: apt-get install libpostgresql-jdbc-java)")
    return java, javac


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    """The compiled client: the command line up to its arguments."""
    java, javac = _tools()
    classes = tmp_path_factory.mktemp("jdbc-classes")
    built = subprocess.run([javac, "-Xlint:all", "-Werror", "-d", str(classes), "-cp", str(JAR), str(SOURCE)],
                           capture_output=True, text=True, check=False)
    assert built.returncode == 0, built.stderr
    return [java, "-cp", f"{classes}{os.pathsep}{JAR}", "CallCenterClient"]


@pytest.fixture(scope="module")
def telco(make_telco: Callable[..., str]) -> str:
    return make_telco("jdbc", 1000, 8)


@pytest.fixture(scope="module")
def login(telco: str) -> Iterator[tuple[str, str]]:
    """A LOGIN role with a password, granted churnml_user and SELECT on the demo tables; (name, password)."""
    role, password = f"jdbc_{secrets.token_hex(4)}", secrets.token_urlsafe(18)
    with psycopg.connect(telco, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE ROLE {} LOGIN PASSWORD {} IN ROLE churnml_user").format(
            sql.Identifier(role), sql.Literal(password)))
        conn.execute(sql.SQL("GRANT SELECT ON customers, customer_message TO {}").format(sql.Identifier(role)))
    try:
        yield role, password
    finally:
        with psycopg.connect(telco, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP OWNED BY {}").format(sql.Identifier(role)))
            conn.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(role)))


@pytest.fixture(scope="module")
def run(client: list[str], telco: str, login: tuple[str, str]) -> dict[str, Any]:
    """Run the Java client once; its output, parsed per query."""
    parts = urlsplit(telco)
    role, password = login
    jdbc_url = f"jdbc:postgresql://{parts.hostname}:{parts.port}{parts.path}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    env["CHURNML_JDBC_PASSWORD"] = password
    done = subprocess.run([*client, jdbc_url, role, str(CALL[0]), CALL[1], CALL[2]], env=env,
                          capture_output=True, text=True, timeout=300, check=False)
    assert password not in " ".join(done.args)
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    out: dict[str, Any] = {"returncode": done.returncode, "stderr": done.stderr, "events": [], "meta": {},
                           "cells": {}, "rows": {}}
    for line in lines:
        if "event" in line:
            out["events"].append(line)
        elif line.get("meta"):
            out["meta"].setdefault(line["query"], {})[line["column"]] = line
        elif "rows" in line:
            out["rows"][line["query"]] = int(line["rows"])
        else:
            rows = out["cells"].setdefault(line["query"], {})
            rows.setdefault(int(line["row"]), {})[line["column"]] = (line["getter"], line["value"])
    return out


def _rows(run: dict[str, Any], query: str) -> list[dict[str, tuple[str, Any]]]:
    cells = run["cells"].get(query, {})
    return [cells[i] for i in sorted(cells)]


def _psycopg_rows(url: str, query: str, params: tuple[Any, ...] = ()) -> list[dict[str, Any]]:
    with psycopg.connect(url, autocommit=True) as conn:
        cur = conn.execute(query, params)
        names = [d.name for d in cur.description]
        return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]


def _float32(value: float) -> bytes:
    return struct.pack("<f", value)


def _same(java: tuple[str, Any], value: Any, *, real: bool = False) -> bool:
    """A cell read through JDBC equals psycopg's value, type by type."""
    getter, got = java
    if value is None or got is None:
        return value is None and got is None
    if getter == "getDouble":
        return _float32(got) == _float32(value) if real else float(got) == value
    if getter == "getTimestamp":
        return datetime.fromisoformat(got) == value
    if getter == "getBigDecimal":
        return Decimal(got) == value
    if getter == "getArray":
        return list(got) == list(value)
    return got == value


def test_client_ran_cleanly(run: dict[str, Any], login: tuple[str, str]) -> None:
    assert run["returncode"] == 0, (run["events"], run["stderr"])
    connected = run["events"][0]
    assert connected["event"] == "connected" and connected["server"].startswith("15")
    assert run["events"][-1] == {"event": "done", "problems": 0}


def test_assess_customer_over_jdbc(run: dict[str, Any], telco: str, login: tuple[str, str]) -> None:
    (java,) = _rows(run, "assess")
    meta = run["meta"]["assess"]
    # the finding: assess_customer's `customer` is jsonb, which pgjdbc only hands out as PGobject
    assert [c for c, m in meta.items() if m["pgobject"]] == ["customer"]
    assert meta["customer"]["typeName"] == "jsonb" and meta["customer"]["objectClass"] == PGOBJECT
    with psycopg.connect(telco, autocommit=True) as conn:
        logged = conn.execute("SELECT customer_key, sentiment, offered_by, model_id FROM churnml.offer_log "
                              "WHERE id = %s", (java["offer_id"][1],)).fetchone()
    assert logged == (java["customer_key"][1], java["sentiment"][1], login[0], java["model_id"][1])
    (expected,) = _psycopg_rows(telco, "SELECT * FROM churnml.assess_customer(%s, %s, %s, log_offer => false)",
                                CALL)
    for column, value in expected.items():
        if column == "offer_id":
            continue  # logged over JDBC, not through psycopg
        if column == "customer":
            assert json.loads(java[column][1]) == value
            continue
        assert _same(java[column], value, real=column == "confidence"), (column, java[column], value)
    assert java["will_churn"][0] == "getDouble" and java["confidence"][0] == "getDouble"


def test_assess_customer_text_is_bi_friendly(run: dict[str, Any], telco: str) -> None:
    (java,) = _rows(run, "assess_text")
    assert not [c for c, m in run["meta"]["assess_text"].items() if m["pgobject"]]
    assert {c: g for c, (g, _) in java.items()} == {
        "customer_key": "getString", "customer": "getString", "will_churn": "getDouble", "churn_flag": "getBoolean",
        "sentiment": "getString", "confidence": "getDouble", "offer": "getString", "offer_value": "getBigDecimal",
        "reason": "getString", "rule_name": "getString", "arm": "getString", "experiment": "getString",
        "top_reasons": "getString", "model_id": "getLong", "offer_id": "getLong"}
    (expected,) = _psycopg_rows(telco, "SELECT * FROM churnml.assess_customer_text(%s, %s, %s, "
                                "log_offer => false)", CALL)
    for column, value in expected.items():
        if column == "customer":
            assert json.loads(java[column][1]) == json.loads(value)
            continue
        assert _same(java[column], value, real=column == "confidence"), (column, java[column], value)


def test_config_array_over_jdbc(run: dict[str, Any]) -> None:
    (java,) = _rows(run, "config")
    assert java["key_columns"] == ("getArray", ["area_code", "phone"])
    assert run["meta"]["config"]["key_columns"]["className"] == "java.sql.Array"


def test_bulk_score_over_jdbc(run: dict[str, Any], telco: str) -> None:
    java = _rows(run, "score")
    expected = _psycopg_rows(telco, SCORE_QUERY)
    assert len(java) == len(expected) == 1000 == run["rows"]["score"]
    for got, want in zip(java, expected, strict=True):
        assert got["key"] == ("getString", want["key"])
        assert got["probability"][0] == "getDouble" and float(got["probability"][1]) == want["probability"]


def test_customer_risk_over_jdbc(run: dict[str, Any], telco: str) -> None:
    java = _rows(run, "risk")
    meta = run["meta"]["risk"]
    assert not [c for c, m in meta.items() if m["pgobject"]]
    assert meta["sentiment_at"]["className"] == meta["sentiment_at"]["objectClass"] == "java.sql.Timestamp"
    assert meta["will_churn"]["objectClass"] == "java.lang.Double"
    expected = _psycopg_rows(telco, "SELECT * FROM churnml.customer_risk ORDER BY customer_key")
    assert len(java) == len(expected) == 1000
    for got, want in zip(java, expected, strict=True):
        assert {c: g for c, (g, _) in got.items()} == RISK_GETTERS
        for column, value in want.items():
            assert _same(got[column], value, real=column == "confidence"), (column, got[column], value)
    # the call made over JDBC is the customer's latest sentiment
    (called,) = [r for r in java if r["customer_key"][1] == f"{CALL[0]}/{CALL[1]}"]
    (assessed,) = _rows(run, "assess")
    assert called["sentiment"] == assessed["sentiment"] and called["sentiment_at"][1] is not None
    assert sum(r["sentiment"][1] is not None for r in java) == 1
