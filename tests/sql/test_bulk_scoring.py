"""Bulk scoring (churnml.score) end to end: keys of every kind, batch sizes, encodings,
and the C helpers it reads and returns rows through (_pack_float8, and _unpack_scores: the one C
unpack function, also behind customer_risk's _unpack_risk)."""

from __future__ import annotations

import math
import struct
import uuid
from collections.abc import Callable, Iterator

import psycopg
import pytest
from psycopg import sql

from churnml_client import datagen
from tests.conftest import with_database

KEYED = ("SELECT *, CASE WHEN phone LIKE '%1' THEN NULL WHEN phone LIKE '%2' THEN '' "
         "WHEN phone LIKE '%3' THEN 'café ' || phone WHEN phone LIKE '%4' THEN '🙂' || chr(9) || phone "
         "ELSE area_code || '/' || phone END AS k FROM customers")


@pytest.fixture(scope="module")
def telco(make_telco: Callable[..., str]) -> str:
    return make_telco("bulk", 3000, 11)


def _per_row(conn: psycopg.Connection, source: str) -> list[tuple[str | None, float]]:
    """(key, will_churn(row)) of every row of the source: the per-row path, the reference."""
    return conn.execute(f"SELECT s.k, churnml.will_churn(s) FROM ({source}) AS s").fetchall()


def _sorted(rows: list[tuple[str | None, float]]) -> list[tuple[str, str | None, float]]:
    return sorted((repr(k), k, p) for k, p in rows)


@pytest.mark.parametrize("batch_size", [1, 7, 64, 65, 1000, 1_000_000])
def test_bulk_equals_per_row_with_null_empty_and_unicode_keys(telco: str, batch_size: int) -> None:
    source = KEYED
    with psycopg.connect(telco) as conn:
        expected = _per_row(conn, source)
        got = conn.execute("SELECT key, probability FROM churnml.score(%s, 'k', batch_size => %s)",
                           (source, batch_size)).fetchall()
    assert len(got) == len(expected) == 3000
    assert {k for k, _ in got} >= {None, ""} and any(k and k.startswith("🙂\t") for k, _ in got)
    # the bulk (vector) walk and the per-row (node) walk give the same float64 results
    assert [(k, p) for _, k, p in _sorted(got)] == [(k, p) for _, k, p in _sorted(expected)]


def test_without_key_column_every_key_is_null(telco: str) -> None:
    with psycopg.connect(telco) as conn:
        rows = conn.execute("SELECT key, probability FROM churnml.score('customers')").fetchall()
    assert len(rows) == 3000 and {k for k, _ in rows} == {None}
    assert all(0.0 < p < 1.0 for _, p in rows)


def test_score_and_store_in_one_statement(telco: str) -> None:
    with psycopg.connect(telco) as conn:
        conn.execute("CREATE TEMP TABLE stored (id text PRIMARY KEY, probability float8 NOT NULL)")
        inserted = conn.execute("INSERT INTO stored SELECT key, probability FROM churnml.score("
                                "'SELECT *, area_code || ''/'' || phone AS id FROM customers', 'id')").rowcount
        assert inserted == 3000
        differ = conn.execute("""SELECT count(*) FROM stored s JOIN customers c ON s.id = c.area_code || '/' || c.phone
                                 WHERE s.probability <> churnml.will_churn(c)""").fetchone()[0]
        assert differ == 0


@pytest.fixture(scope="module")
def latin1(server_url: str) -> Iterator[str]:
    """A LATIN1 database with customers whose keys are Latin-1 text, and a deployed model."""
    name = f"latin1_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {} ENCODING 'LATIN1' LC_COLLATE 'C' LC_CTYPE 'C' TEMPLATE template0")
                     .format(sql.Identifier(name)))
    url = with_database(server_url, name)
    try:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("CREATE EXTENSION churnml CASCADE")
        with psycopg.connect(url) as conn:
            datagen.load(conn, 1500, 3, progress=False)
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("SELECT churnml.train('churn', 'customers', 'churn', exclude => ARRAY['phone'], "
                         "deploy => true)")
        yield url
    finally:
        with psycopg.connect(server_url, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def test_keys_keep_their_text_in_a_latin1_database(latin1: str) -> None:
    query = "SELECT *, 'Müller-' || phone || '-ÿ' AS k FROM customers"
    with psycopg.connect(latin1) as conn:
        assert conn.execute("SHOW server_encoding").fetchone()[0] == "LATIN1"
        conn.execute(f"CREATE VIEW keyed AS {query}")
        expected = _per_row(conn, query)
        got = conn.execute("SELECT key, probability FROM churnml.score('keyed', 'k', batch_size => 100)").fetchall()
        # the keys are the database's own text: they join back to the source
        joined = conn.execute("SELECT count(*) FROM churnml.score('keyed', 'k') AS b "
                              "JOIN keyed AS s ON s.k = b.key").fetchone()[0]
        # PL/Python would send the query's text as UTF-8 and read 'MÃ¼ller': refused instead
        with pytest.raises(psycopg.errors.FeatureNotSupported) as caught:
            conn.execute("SELECT count(*) FROM churnml.score(%s, 'k')", (query,))
    assert _sorted(got) == _sorted(expected) and joined == 1500
    assert all(k.startswith("Müller-") and k.endswith("-ÿ") for k, _ in got)
    assert "view" in caught.value.diag.message_hint


def _unpack(conn: psycopg.Connection, keys: bytes, probabilities: bytes) -> list[tuple[str | None, float]]:
    return conn.execute("SELECT key, probability FROM churnml._unpack_scores(%s, %s)",
                        (keys, probabilities)).fetchall()


def test_unpack_scores_reads_exactly_what_it_is_given(conn: psycopg.Connection) -> None:
    values = [0.5, math.inf, -0.0, 1e-300]
    got = _unpack(conn, b"a\x00\xff\x00\x00caf\xc3\xa9\x00", struct.pack("=4d", *values))
    assert got == [("a", 0.5), (None, math.inf), ("", -0.0), ("café", 1e-300)]
    assert _unpack(conn, b"\x00", struct.pack("=d", math.nan)) == [("", None)]  # NaN reads as NULL
    assert _unpack(conn, b"", b"") == []


@pytest.mark.parametrize(("keys", "probabilities", "sqlstate", "message"), [
    (b"a\x00", b"\x00" * 7, "22023", "probability must hold whole float8 values"),
    (b"a\x00", b"\x00" * 16, "22023", "key holds fewer values than there are rows"),
    (b"a", b"\x00" * 8, "22023", "key holds fewer values"),
    (b"a\x00b\x00", b"\x00" * 8, "22023", "key holds more values than there are rows"),
    (b"a\x00junk", b"\x00" * 8, "22023", "key holds more values"),
    (b"\xc3\x28\x00", b"\x00" * 8, "22021", "invalid byte sequence"),
    (b"\xff\xff\x00", b"\x00" * 8, "22021", "invalid byte sequence"),
])
def test_unpack_scores_refuses_malformed_input(conn: psycopg.Connection, keys: bytes, probabilities: bytes,
                                               sqlstate: str, message: str) -> None:
    with pytest.raises(psycopg.Error) as caught:
        _unpack(conn, keys, probabilities)
    assert caught.value.sqlstate == sqlstate
    assert message in caught.value.diag.message_primary
    assert conn.execute("SELECT 1").fetchone() == (1,)


def test_unpack_risk_reads_three_columns_the_same_way(conn: psycopg.Connection) -> None:
    """customer_risk's batches come back through the same C function, with more columns."""
    floats = struct.pack("=3d", 0.9, 0.1, 0.5)
    got = conn.execute("SELECT * FROM churnml._unpack_risk(%s, %s, %s)",
                       (b"408/1\x00\xff\x00caf\xc3\xa9\x00", floats, b"high\x00low\x00\xff\x00")).fetchall()
    assert got == [("408/1", 0.9, "high"), (None, 0.1, "low"), ("café", 0.5, None)]
    for keys, bands, message in ((b"a\x00", b"high\x00low\x00\xff\x00", "customer_key holds fewer values"),
                                 (b"a\x00b\x00c\x00", b"high\x00", "risk_band holds fewer values")):
        with pytest.raises(psycopg.errors.InvalidParameterValue) as caught:
            conn.execute("SELECT * FROM churnml._unpack_risk(%s, %s, %s)", (keys, floats, bands))
        assert message in caught.value.diag.message_primary
        assert caught.value.diag.message_hint


def test_float8_at_reads_one_value_and_never_past_the_end(conn: psycopg.Connection) -> None:
    """customer_risk's explanations, read per customer: 1-based, NaN is NULL, out of range is 22023."""
    packed = struct.pack("=3d", 0.25, math.nan, -1.5)
    assert [conn.execute("SELECT churnml._float8_at(%s, %s)", (packed, n)).fetchone()[0] for n in (1, 2, 3)] \
        == [0.25, None, -1.5]
    for blob, n, message in ((packed, 0, "position 0 is outside the 3 values"),
                             (packed, 4, "position 4 is outside the 3 values"),
                             (packed[:-1], 1, "values holds 23 bytes, not a whole number of float8s"),
                             (b"", 1, "position 1 is outside the 0 values")):
        with pytest.raises(psycopg.errors.InvalidParameterValue) as caught:
            conn.execute("SELECT churnml._float8_at(%s, %s)", (blob, n))
        assert caught.value.diag.message_primary == message
        assert caught.value.diag.message_hint
    assert conn.execute("SELECT churnml._float8_at(NULL, 1)").fetchone()[0] is None


def test_pack_float8_packs_native_float8s_with_null_as_nan(conn: psycopg.Connection) -> None:
    packed = conn.execute("SELECT churnml._pack_float8(1.5::float8, NULL::float8, '-Infinity'::float8)").fetchone()[0]
    one, missing, minus_inf = struct.unpack("=3d", packed)
    assert one == 1.5 and math.isnan(missing) and minus_inf == -math.inf


@pytest.mark.parametrize(("call", "sqlstate"), [
    ("churnml._pack_float8(1::int)", "42804"),
    ("churnml._pack_float8(1.5::float8, 'x'::text)", "42804"),
    ("churnml._pack_float8(VARIADIC ARRAY[1.5::float8])", "0A000"),
])
def test_pack_float8_refuses_anything_but_separate_float8s(conn: psycopg.Connection, call: str, sqlstate: str) -> None:
    with pytest.raises(psycopg.Error) as caught:
        conn.execute(f"SELECT {call}")
    assert caught.value.sqlstate == sqlstate
    assert caught.value.diag.message_hint


def test_an_infinite_feature_is_refused_in_bulk(telco: str) -> None:
    """NULL and NaN are missing values; ±Infinity is 22003 naming the feature (the matrix is checked per batch)."""

    def source(value: str) -> str:
        return ("SELECT phone AS k, state, acc_length, area_code, phone, int_plan, vmail_plan, vmail_msg, day_mins, "
                "day_calls, day_charge, eve_mins, eve_calls, eve_charge, CASE WHEN phone = (SELECT max(phone) "
                f"FROM customers) THEN {value}::float8 ELSE night_mins END AS night_mins, night_calls, "
                "night_charge, int_mins, int_calls, int_charge, cust_service_calls FROM customers")

    with psycopg.connect(telco, autocommit=True) as conn:
        conn.execute("GRANT SELECT ON customers TO churnml_user")
        conn.execute("SET ROLE churnml_user")
        last = conn.execute("SELECT max(phone) FROM customers").fetchone()[0]
        missing = []
        for value in ("'NaN'", "NULL"):
            scored = dict(conn.execute("SELECT key, probability FROM churnml.score(%s, 'k', batch_size => 100)",
                                       (source(value),)).fetchall())
            assert len(scored) == 3000
            missing.append(scored[last])
        assert missing[0] == missing[1]
        for value in ("Infinity", "-Infinity"):
            with pytest.raises(psycopg.Error) as info:
                conn.execute("SELECT count(*) FROM churnml.score(%s, batch_size => 100)", (source(f"'{value}'"),))
            assert info.value.diag.sqlstate == "22003"
            assert info.value.diag.message_primary == \
                f'churnml: feature "night_mins" is {value}, which churnml cannot score'
