"""Crafted model artifacts against the real server (issue 19): refused with a clear error, never a crash.

The reproduction: a `parents` entry of -5 made xgboost read outside the tree inside
`churnml.register_model`, the backend segfaulted and PostgreSQL restarted every
backend. Each test checks the error and that the postmaster has not restarted.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Callable, Iterator
from typing import Any

import psycopg
import pytest
import xgboost as xgb
from psycopg import sql

REPRODUCTION = (
    "SELECT churnml.register_model('x', regexp_replace(convert_from(artifact, 'UTF8'), "
    "'\"parents\":\\[2147483647,0,0,1,', '\"parents\":[2147483647,0,0,-5,'), feature_spec, '{}', '{}') "
    "FROM churnml.models m JOIN churnml.model_artifacts a ON a.model_id = m.id WHERE m.id = %s"
)
ADMIN = "cm_artifact_admin"


@pytest.fixture(scope="module")
def telco(make_telco: Callable[..., str]) -> str:
    """A database with 1,500 generated customers and a deployed model 'churn'."""
    return make_telco("artifacts", 1500, 11)


@pytest.fixture
def db(telco: str) -> Iterator[psycopg.Connection]:
    with psycopg.connect(telco, autocommit=True) as conn:
        started = conn.execute("SELECT pg_postmaster_start_time()").fetchone()[0]
        yield conn
    # a backend that crashed would have made the postmaster restart every backend
    with psycopg.connect(telco, autocommit=True) as fresh:
        assert fresh.execute("SELECT pg_postmaster_start_time()").fetchone()[0] == started


def _model(conn: psycopg.Connection) -> tuple[int, bytes, dict[str, Any]]:
    model_id, artifact, spec = conn.execute(
        "SELECT m.id, a.artifact, m.feature_spec FROM churnml.models m JOIN churnml.model_artifacts a "
        "ON a.model_id = m.id JOIN churnml.current_deployments d ON d.model_id = m.id "
        "WHERE d.name = 'churn'").fetchone()
    return model_id, bytes(artifact), spec


def _ubj(artifact: bytes) -> bytes:
    """The model as xgboost's own UBJSON (the stored artifact is canonical JSON, which xgboost reads)."""
    return bytes(xgb.Booster(model_file=bytearray(artifact)).save_raw("ubj"))


def _crafted_ubj(artifact: bytes) -> bytes:
    """UBJSON of the model with tree 0's parents[3] set to -5 in its typed int32 array."""
    data = bytearray(_ubj(artifact))
    at = data.index(b"parents[$l#L") + len(b"parents[$l#L") + 8  # past the int64 count
    struct.pack_into(">i", data, at + 3 * 4, -5)
    return bytes(data)


def _register(conn: psycopg.Connection, artifact: str | bytes, spec: dict[str, Any], name: str = "x") -> int:
    return conn.execute("SELECT churnml.register_model(%s, %s, %s, '{}', '{}', deploy => true)",
                        (name, artifact, json.dumps(spec))).fetchone()[0]


def _refused(conn: psycopg.Connection, statement: str, params: Any, sqlstate: str) -> tuple[str, str]:
    """The (message, detail) of the error `statement` raises, after checking its form."""
    with pytest.raises(psycopg.Error) as info:
        conn.execute(statement, params)
    diag = info.value.diag
    assert diag.sqlstate == sqlstate, (diag.sqlstate, diag.message_primary)
    assert diag.message_primary.startswith("churnml: ")  # PL/Python's prefix is the extension's name
    message = diag.message_primary.removeprefix("churnml: ")
    assert message[:1].islower() and "Error" not in message.split(":")[0], message
    assert diag.message_detail and diag.message_hint
    assert len(diag.message_detail) < 300  # a sentence, never the artifact
    assert conn.execute("SELECT 1").fetchone()[0] == 1  # the same session goes on
    return message, diag.message_detail


def scores(conn: psycopg.Connection, model: str) -> dict[str, float]:
    rows = conn.execute("SELECT key, probability FROM churnml.score("
                        "'SELECT *, area_code || ''/'' || phone AS id FROM customers', 'id', %s)", (model,))
    return dict(rows.fetchall())


def test_the_reproduction_is_refused_with_22023(db: psycopg.Connection) -> None:
    model_id, _, _ = _model(db)
    message, detail = _refused(db, REPRODUCTION, (model_id,), "22023")
    assert message == "malformed XGBoost model: tree 0 parents[3] is -5, not the parent of node 3"
    assert detail == "Node 3 is the left child of node 1."


def test_the_reproduction_as_bytea_and_as_ubjson_is_refused(db: psycopg.Connection) -> None:
    model_id, artifact, spec = _model(db)
    as_bytea = REPRODUCTION.replace("SELECT churnml.register_model('x', regexp_replace(",
                                    "SELECT churnml.register_model('x', convert_to(regexp_replace(")
    as_bytea = as_bytea.replace("), feature_spec", "), 'UTF8'), feature_spec")
    assert "parents[3] is -5" in _refused(db, as_bytea, (model_id,), "22023")[0]
    message, _ = _refused(db, "SELECT churnml.register_model('x', %s::bytea, %s, '{}', '{}')",
                          (_crafted_ubj(artifact), json.dumps(spec)), "22023")
    assert message == "malformed XGBoost model: tree 0 parents[3] is -5, not the parent of node 3"


@pytest.mark.parametrize(
    ("crafted", "message"),
    [
        (lambda ubj: ubj[:-40], "UBJSON"),  # cut short
        (lambda ubj: ubj.replace(b"split_indices[$l#L", b"split_indices[$l#L\x7f", 1), "UBJSON"),  # huge count
        (lambda ubj: ubj.replace(b"[$d#L", b"[$D#L", 1), "UBJSON"),  # float64 items xgboost does not write
        (lambda ubj: b"{L" + b"\xff" * 8 + ubj[10:], "UBJSON"),  # a negative key length
    ],
)
def test_broken_ubjson_is_refused(db: psycopg.Connection, crafted: Callable[[bytes], bytes], message: str) -> None:
    _, artifact, spec = _model(db)
    refused, _ = _refused(db, "SELECT churnml.register_model('x', %s::bytea, %s, '{}', '{}')",
                          (crafted(_ubj(artifact)), json.dumps(spec)), "22023")
    assert refused.startswith("malformed XGBoost model: " + message), refused


def test_ubjson_registers_and_scores_like_json(db: psycopg.Connection) -> None:
    _, artifact, spec = _model(db)
    from_json = _register(db, artifact.decode(), spec, "churn_from_json")
    from_ubj = _register(db, _ubj(artifact), spec, "churn_from_ubj")
    stored = dict(db.execute("SELECT id, artifact_sha256 FROM churnml.models WHERE id IN (%s, %s)",
                             (from_json, from_ubj)).fetchall())
    assert stored[from_json] == stored[from_ubj]  # both stored as the same canonical JSON
    assert db.execute("SELECT artifact_format FROM churnml.models WHERE id = %s", (from_ubj,)).fetchone()[0] \
        == "xgboost-json"
    assert scores(db, "churn_from_ubj") == scores(db, "churn_from_json") == scores(db, "churn")


@pytest.fixture
def admin(db: psycopg.Connection) -> Iterator[psycopg.Connection]:
    """The session as a member of churnml_admin, which may INSERT into churnml.models directly."""
    db.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(ADMIN)))
    db.execute(sql.SQL("CREATE ROLE {} NOLOGIN IN ROLE churnml_admin").format(sql.Identifier(ADMIN)))
    db.execute(sql.SQL("SET ROLE {}").format(sql.Identifier(ADMIN)))
    yield db
    db.execute("RESET ROLE")
    db.execute("DELETE FROM churnml.deployments WHERE model_id IN "
                "(SELECT id FROM churnml.models WHERE created_by = %s)", (ADMIN,))
    db.execute("DELETE FROM churnml.models WHERE created_by = %s", (ADMIN,))
    db.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(ADMIN)))


def _insert(conn: psycopg.Connection, name: str, artifact: bytes, fmt: str, spec: dict[str, Any],
            kind: str = "churn") -> int:
    return conn.execute(
        "WITH m AS (INSERT INTO churnml.models (name, kind, artifact_format, artifact_sha256, feature_spec) "
        "VALUES (%s, %s, %s, encode(sha256(%s), 'hex'), %s) RETURNING id) "
        "INSERT INTO churnml.model_artifacts (model_id, artifact) SELECT id, %s FROM m RETURNING model_id",
        (name, kind, fmt, artifact, json.dumps(spec), artifact)).fetchone()[0]


def test_a_tampered_stored_artifact_is_refused_on_deploy_with_xx001(telco: str, admin: psycopg.Connection) -> None:
    _, artifact, spec = _model(admin)
    crafted = artifact.replace(b'"parents":[2147483647,0,0,1,', b'"parents":[2147483647,0,0,-5,', 1)
    assert crafted != artifact
    with psycopg.connect(telco) as other:
        before = scores(other, "churn")
    for fmt, content in (("xgboost-json", crafted), ("xgboost-ubj", _crafted_ubj(artifact))):
        model_id = _insert(admin, "tampered", content, fmt, spec)  # the checksum matches: only validation stops it
        message, _ = _refused(admin, "SELECT churnml.deploy('tampered', %s)", (model_id,), "XX001")
        assert message == (f"model {model_id}: malformed XGBoost model: tree 0 parents[3] is -5, "
                           "not the parent of node 3")
        for statement in ("SELECT * FROM churnml.feature_importance(%s::text)",
                          "SELECT churnml.model_trees(%s::text)"):
            _refused(admin, statement, (str(model_id),), "XX001")
    with psycopg.connect(telco) as other:
        assert scores(other, "churn") == before


def test_a_tampered_sentiment_head_is_refused_on_deploy_with_xx001(admin: psycopg.Connection) -> None:
    from churnml.sentiment.int8_encoder import NAME

    head = {"classes": ["POSITIVE", "NEGATIVE", "NEUTRAL"], "embedding": NAME, "temperature": 1.0,
            "W": [[0.0] * 384] * 3, "b": [0.0] * 3}
    spec = {"kind": "sentiment", "encoder": "all-MiniLM-L6-v2", "classes": head["classes"], "text_column": "t"}
    for broken, message in (
        ({**head, "W": [[0.0] * 384] * 2}, "W is not 3 rows"),
        ({**head, "embedding": "compact", "temperature": 0.0}, "embedding names no encoder"),
        ({**head, "b": [1e308, 0.0, 0.0]}, "b[0] is not a finite number"),
    ):
        model_id = _insert(admin, "tampered_head", json.dumps(broken).encode(), "churnml-json", spec, "sentiment")
        refused, _ = _refused(admin, "SELECT churnml.deploy('tampered_head', %s)", (model_id,), "XX001")
        assert refused.startswith("malformed sentiment model: " + message), refused


# --------------------------------------------------------------------------- the outside review of 0.3.0


def test_a_model_too_large_to_store_is_refused_at_registration(telco: str, admin: psycopg.Connection) -> None:
    """The review: a valid 62 MB UBJ model (14 complete depth-16 trees) was registered, its canonical JSON had 109 MB,
    and deploy then called it tampered (XX001 "changed outside churnml"). Now 22023 at registration; nothing stored.
    (9 trees of 131,071 nodes: 40 MB of UBJSON, just over 64 MiB of canonical JSON.)"""
    from tests.big_models import full_trees_ubj

    _, _, spec = _model(admin)
    n_features = len(spec["output_names"])
    before = admin.execute("SELECT count(*) FROM churnml.models").fetchone()[0]
    message, detail = _refused(admin, "SELECT churnml.register_model('huge', %s::bytea, %s, '{}', '{}')",
                               (full_trees_ubj(9, 16, n_features), json.dumps(spec)), "22023")
    assert message == ("the model is too large to store: its canonical JSON would be more than the limit of "
                       "67108864 bytes (64 MiB)")
    assert "about a million tree nodes" in detail
    assert admin.execute("SELECT count(*) FROM churnml.models").fetchone()[0] == before


def test_a_stored_artifact_over_the_limit_is_too_large_not_tampered(admin: psycopg.Connection) -> None:
    """What a 0.3.0 release candidate stored (or an admin wrote) over the limit: 54000 on deploy, without
    claiming that the artifact was changed outside churnml."""
    _, _, spec = _model(admin)
    huge = b'{"learner": ' + b" " * (64 << 20) + b"}"
    model_id = _insert(admin, "oversized", huge, "xgboost-json", spec)
    message, detail = _refused(admin, "SELECT churnml.deploy('oversized', %s)", (model_id,), "54000")
    assert message == (f"model {model_id} is too large to load: its artifact has {len(huge)} bytes, more than the "
                       "limit of 67108864 (64 MiB)")
    with pytest.raises(psycopg.Error) as info:
        admin.execute("SELECT churnml.deploy('oversized', %s)", (model_id,))
    assert "changed outside" not in (info.value.diag.message_hint or "") + detail


def _spec_with(spec: dict[str, Any], index: int, **changes: Any) -> dict[str, Any]:
    changed = json.loads(json.dumps(spec))
    changed["features"][index].update(changes)
    return changed


def test_feature_specs_are_checked_completely(admin: psycopg.Connection) -> None:
    """The review: '{}' said "KeyError: 'spec_version'."; sql_type 'nosuchtype', 'float8[]', 'regclass' and
    injection strings were stored, and a superuser's create_model_function then failed or made an unusable
    function. Now 22023 naming the key or the feature."""
    _, artifact, spec = _model(admin)
    register = "SELECT churnml.register_model('x', %s::bytea, %s, '{}', '{}')"
    message, detail = _refused(admin, register, (artifact, "{}"), "22023")
    assert (message, detail) == ("feature_spec is not a churnml feature spec", 'It has no "spec_version" key.')
    numeric = next(i for i, f in enumerate(spec["features"]) if f["group"] == "numeric")
    name = spec["features"][numeric]["name"]
    for sql_type in ("nosuchtype", "float8[]", "regclass", "text", "bigint); DROP TABLE customers; --",
                     "void", "anyelement", "pg_catalog.nosuch", "x.y.z.w"):
        changed = json.dumps(_spec_with(spec, numeric, sql_type=sql_type))
        message, detail = _refused(admin, register, (artifact, changed), "22023")
        assert message == f'invalid feature "{name}" in feature_spec', (sql_type, message)
        assert "sql_type" in detail and "Error" not in detail, detail
    categorical = next(i for i, f in enumerate(spec["features"]) if f["group"] == "categorical")
    for sql_type, why in (("nosuchtype", "is not a type this database knows"), ("void", "pseudo-type"),
                          ("anyelement", "pseudo-type")):
        changed = json.dumps(_spec_with(spec, categorical, sql_type=sql_type))
        _, detail = _refused(admin, register, (artifact, changed), "22023")
        assert why in detail, (sql_type, detail)
    other = spec["features"][numeric + 1]["name"]
    for new_name, expected in (("", "Feature {n} has an empty name."),
                               ("x" * 64, "The name has 64 bytes; PostgreSQL names have at most 63."),
                               (other, f'Two features are named "{other}"; feature names must be unique.')):
        _, detail = _refused(admin, register, (artifact, json.dumps(_spec_with(spec, numeric, name=new_name))),
                             "22023")
        assert detail == expected.format(n=numeric + 1)
    _, detail = _refused(admin, register, (artifact, json.dumps(_spec_with(spec, numeric, state={"fill": "x"}))),
                         "22023")
    assert detail == 'Its "fill" is "x", not a finite number or null.'
    # a type name the database knows is stored as it names it
    qualified = json.dumps(_spec_with(spec, numeric, sql_type="pg_catalog.int8"))
    model_id = admin.execute(register.replace("'x'", "'spec_ok'"), (artifact, qualified)).fetchone()[0]
    stored = admin.execute("SELECT feature_spec -> 'features' -> %s ->> 'sql_type' FROM churnml.models WHERE id = %s",
                           (numeric, model_id)).fetchone()[0]
    assert stored == "bigint"


def test_a_base_score_xgboost_reads_differently_is_refused_clearly(admin: psycopg.Connection) -> None:
    """The review: base_score [1e-45] passed validation, then register failed with "XGBoost and churnml's scorer
    read the artifact differently ... Report this model to the churnml maintainers"."""
    _, artifact, spec = _model(admin)
    doc = json.loads(artifact)
    for base_score in ("[1e-45]", "[1E-7]", "[0.9999995]"):
        doc["learner"]["learner_model_param"]["base_score"] = base_score
        message, detail = _refused(admin, "SELECT churnml.register_model('x', %s, %s, '{}', '{}')",
                                   (json.dumps(doc), json.dumps(spec)), "22023")
        assert message == f"unsupported XGBoost model: base_score {base_score} is too close to 0 or 1"
        assert "xgboost clamps it" in detail
    for base_score in ("[1E-6]", "[0.99999]"):  # the edges of what both read alike
        doc["learner"]["learner_model_param"]["base_score"] = base_score
        admin.execute("SELECT churnml.register_model('edge', %s, %s, '{}', '{}')", (json.dumps(doc), json.dumps(spec)))
