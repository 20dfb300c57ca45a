"""Every COPY option on export and import (issue 22): aws_s3.query_export_to_s3 /
table_import_from_s3 and churnml.export_query / load_from_s3 with delimiter, null, header
(and header match), quote, escape, force_quote (* and column lists), force_not_null,
force_null and encoding, through the real S3 server: the objects are byte for byte what
COPY writes with the same options, non-UTF8 encodings included, and load back as they were."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from churnml_loaders.s3_client import S3Client
from churnml_loaders.s3_config import S3Config
from tests.sql.conftest import declare_storage

BUCKET = "churnml"
# Values that exercise every option: quotes, escapes, delimiters, line breaks, backslashes, the
# null strings written as data, '' next to NULL, and text of three scripts.
LATIN = """SELECT * FROM (VALUES
    (1, 'café, "crème"', 'Müller|naïve', 2.5::numeric, true),
    (2, '', NULL, NULL, false),
    (3, E'two\\nlines\\tand a tab', E'back\\\\slash and ''single'' quotes', -1, NULL),
    (4, 'NULL', '\\N', 0, true),
    (5, '€ 10 — ½', 'x;y', 1e10, false)
) AS t(id, name, note, amount, flag)"""
GREEK = """SELECT * FROM (VALUES
    (1, 'Αθήνα, "Ελλάδα"', 'ΑΒΓ|δεζ'), (2, '', NULL), (3, E'γραμμή\\nδύο', E'\\\\ ''εισαγωγικά'''),
    (4, '€ Ω', 'NULL')) AS t(id, name, note)"""
# 表, ソ and 能 end in the byte 0x5c (backslash) in SJIS: a CSV escape '\\' must not be seen in them.
JAPANESE = """SELECT * FROM (VALUES
    (1, '東京, "表"', 'ソ能\\表'), (2, '', NULL), (3, E'改行\\n表', '"表"')) AS t(id, name, note)"""
LATIN_TABLE = "id int, name text, note text, amount numeric, flag boolean"
SHORT_TABLE = "id int, name text, note text"


@pytest.fixture(scope="module")
def db(make_database: Callable[..., str], configured: S3Config, files_dir: Path) -> str:
    url = make_database("copyopts")
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE EXTENSION churnml_aws")
    return declare_storage(url, files_dir)


@pytest.fixture
def conn(db: str) -> Iterator[psycopg.Connection]:
    with psycopg.connect(db, autocommit=True) as connection:
        yield connection


@pytest.fixture
def client(configured: S3Config) -> Iterator[S3Client]:
    with S3Client(configured) as s3:
        yield s3


def _key(name: str) -> str:
    return f"copyopts/{uuid.uuid4().hex[:8]}/{name}"


def _copy_to(conn: psycopg.Connection, query: str, options: str) -> bytes:
    """What COPY itself writes with these options (the test writes them as SQL; churnml never does)."""
    with conn.cursor().copy(sql.SQL("COPY ({}) TO STDOUT ({})").format(sql.SQL(query), sql.SQL(options))) as copy:
        return b"".join(bytes(b) for b in copy)


def _object(client: S3Client, key: str) -> bytes:
    return b"".join(client.get_object(BUCKET, key))


def _table(conn: psycopg.Connection, columns: str) -> str:
    name = f"t_{uuid.uuid4().hex[:8]}"
    conn.execute(f"CREATE TABLE {name} ({columns})")
    return name


def _same_rows(conn: psycopg.Connection, query: str, table: str) -> None:
    """The table holds exactly the query's rows, NULLs and '' told apart."""
    for a, b in ((f"({query})", f"(TABLE {table})"), (f"(TABLE {table})", f"({query})")):
        diff = conn.execute(f"SELECT count(*) FROM ({a} EXCEPT ALL {b}) d").fetchone()[0]
        assert diff == 0, conn.execute(f"TABLE {table} ORDER BY 1").fetchall()
    assert conn.execute(f"SELECT count(*) FROM {table} WHERE name IS NULL").fetchone()[0] == 0


# (aws options, the same as COPY's statement options, table, query)
EXPORTS = [
    ("format csv, header true, delimiter $$:$$", "FORMAT csv, HEADER, DELIMITER ':'", LATIN_TABLE, LATIN),
    ("DELIMITER '|' CSV HEADER", "FORMAT csv, HEADER, DELIMITER '|'", LATIN_TABLE, LATIN),
    ("(format csv, header true, encoding 'WIN1252', null 'NULL')",
     "FORMAT csv, HEADER, ENCODING 'WIN1252', NULL 'NULL'", LATIN_TABLE, LATIN),
    ("format text, encoding WIN1252, null '…'", "FORMAT text, ENCODING 'WIN1252', NULL '…'", LATIN_TABLE, LATIN),
    ("format text, delimiter '|', header", "FORMAT text, DELIMITER '|', HEADER", LATIN_TABLE, LATIN),
    ("format csv, quote '''', escape E'\\\\', header true", "FORMAT csv, QUOTE '''', ESCAPE '\\', HEADER",
     LATIN_TABLE, LATIN),
    ("format csv, force_quote (name, amount), delimiter ';'", "FORMAT csv, FORCE_QUOTE (name, amount), DELIMITER ';'",
     LATIN_TABLE, LATIN),
    ("CSV HEADER FORCE QUOTE *", "FORMAT csv, HEADER, FORCE_QUOTE *", LATIN_TABLE, LATIN),
    ("format csv, header true, encoding WIN1253, delimiter E'\\t'", "FORMAT csv, HEADER, ENCODING 'WIN1253', "
     "DELIMITER E'\\t'", SHORT_TABLE, GREEK),
    ("format text, encoding 'ISO-8859-7'", "FORMAT text, ENCODING 'ISO_8859_7'", SHORT_TABLE, GREEK),
    ("format csv, header true, encoding 'SJIS', escape '\\', quote '\"'", "FORMAT csv, HEADER, ENCODING 'SJIS', "
     "ESCAPE '\\'", SHORT_TABLE, JAPANESE),
    ("format text, encoding 'SJIS'", "FORMAT text, ENCODING 'SJIS'", SHORT_TABLE, JAPANESE),
]


@pytest.mark.parametrize(("options", "copy_options", "columns", "query"), EXPORTS)
def test_aws_export_is_copys_bytes_and_imports_back(conn: psycopg.Connection, client: S3Client, options: str,
                                                   copy_options: str, columns: str, query: str) -> None:
    key = _key("t.csv")
    rows, files, size = conn.execute("SELECT * FROM aws_s3.query_export_to_s3(%s, 'churnml', %s, options => %s)",
                                     (query, key, options)).fetchone()
    body = _object(client, key)
    assert body == _copy_to(conn, query, copy_options)
    assert (rows, files, size) == (conn.execute(f"SELECT count(*) FROM ({query}) q").fetchone()[0], 1, len(body))
    table = _table(conn, columns)
    message = conn.execute("SELECT aws_s3.table_import_from_s3(%s, '', %s, 'churnml', %s, 'us-east-1')",
                           (table, options.replace("force_quote (name, amount), ", "").replace(" FORCE QUOTE *", ""),
                            key)).fetchone()[0]
    assert message.startswith(f'{rows} rows imported into relation "{table}"')
    _same_rows(conn, query, table)


def test_non_utf8_objects_hold_the_encodings_bytes(conn: psycopg.Connection, client: S3Client) -> None:
    for query, encoding, codec, text in ((LATIN, "WIN1252", "cp1252", 'café, ""crème""'),
                                         (GREEK, "WIN1253", "cp1253", 'Αθήνα, ""Ελλάδα""'),
                                         (JAPANESE, "SJIS", "cp932", '東京, ""表""')):
        key = _key(f"{encoding}.csv")
        conn.execute("SELECT * FROM churnml.export_query(%s, %s, options => %s, manifest => false)",
                     (query + " WHERE id = 1", f"s3://churnml/{key}", f"encoding '{encoding}'"))
        body = b"".join(_object(client, f"{key}.part_00000").split(b"\n")[1:])
        assert text.encode(codec) in body
        with pytest.raises(UnicodeDecodeError):
            body.decode("utf-8")
    assert "表".encode("cp932")[-1:] == b"\\"  # what the SJIS case above is about


def test_churnml_functions_round_trip_in_parts_with_a_manifest(conn: psycopg.Connection, client: S3Client) -> None:
    """Parts split on rows by the scanner (quote "'" and escape '\\' in values, line breaks inside quotes,
    SJIS characters ending in a backslash byte), each with COPY's header; loaded back by manifest."""
    query = (f"SELECT g AS id, name || ' ' || g AS name, note FROM ({JAPANESE}) j, generate_series(1, 400) g "
             "UNION ALL SELECT 0, E'a''b\\\\c\\nd', NULL")
    options = "quote '''', escape '\\', delimiter '|', null 'NIL', encoding 'SJIS', force_quote (note)"
    rows, files, _ = conn.execute("SELECT * FROM churnml.export_query(%s, 's3://churnml/copyopts/sjis', "
                                  "part_size => 4096, overwrite => true, options => %s)", (query, options)).fetchone()
    assert rows == 1201 and files > 3
    parts = sorted(o.key for o in client.list_objects(BUCKET, "copyopts/sjis.part_"))
    header = _copy_to(conn, query + " LIMIT 0", "FORMAT csv, HEADER, QUOTE '''', ESCAPE '\\', DELIMITER '|', "
                                                "NULL 'NIL', ENCODING 'SJIS', FORCE_QUOTE (note)")
    whole = _copy_to(conn, query, "FORMAT csv, QUOTE '''', ESCAPE '\\', DELIMITER '|', NULL 'NIL', "
                                  "ENCODING 'SJIS', FORCE_QUOTE (note)")
    bodies = [_object(client, key) for key in parts]
    assert all(b.startswith(header) for b in bodies)
    assert b"".join(b[len(header):] for b in bodies) == whole
    table = _table(conn, SHORT_TABLE)
    loaded = conn.execute("SELECT churnml.load_from_s3(%s, 's3://churnml/copyopts/sjis', mode => 'manifest', "
                          "header => true, options => %s)",
                          (table, options.replace(", force_quote (note)", ""))).fetchone()[0]
    assert loaded == rows
    _same_rows(conn, query, table)


def test_server_file_export_and_load_with_options(conn: psycopg.Connection, files_dir: Path) -> None:
    """file:// URIs (an administrator's) take the options too: the file is COPY's bytes, in SJIS."""
    options = "quote '''', escape '\\', encoding 'SJIS', null 'NIL'"
    conn.execute("SELECT * FROM churnml.export_query(%s, %s, options => %s)",
                 (JAPANESE, f"file://{files_dir}/jp.csv", options))
    assert (files_dir / "jp.csv").read_bytes() == _copy_to(
        conn, JAPANESE, "FORMAT csv, HEADER, QUOTE '''', ESCAPE '\\', ENCODING 'SJIS', NULL 'NIL'")
    table = _table(conn, SHORT_TABLE)
    assert conn.execute("SELECT churnml.load_from_s3(%s, %s, header => true, options => %s)",
                        (table, f"file://{files_dir}/jp.csv", options)).fetchone()[0] == 3
    _same_rows(conn, JAPANESE, table)


def test_an_export_without_options_is_unchanged(conn: psycopg.Connection, client: S3Client) -> None:
    key = _key("plain")
    conn.execute("SELECT * FROM churnml.export_query(%s, %s, manifest => false)", (LATIN, f"s3://churnml/{key}"))
    assert _object(client, f"{key}.part_00000") == _copy_to(conn, LATIN, "FORMAT csv, HEADER")


def test_an_export_may_repeat_a_column_name(conn: psycopg.Connection, client: S3Client) -> None:
    """As COPY and Aurora: SELECT 1, 2 (two ?column?) and a join's shared names export."""
    key = _key("dup")
    conn.execute("SELECT * FROM aws_s3.query_export_to_s3('SELECT 1, 2', 'churnml', %s, NULL, 'format csv, header')",
                 (key,))
    assert _object(client, key) == _copy_to(conn, "SELECT 1, 2", "FORMAT csv, HEADER")


def test_import_decodes_a_win1253_file_and_names_the_line_of_a_wrong_encoding(conn: psycopg.Connection,
                                                                              client: S3Client) -> None:
    key = _key("greek.csv")
    client.put_object(BUCKET, key, "id;name;note\n1;Καλημέρα;«ναι»\n2;Ωραία €;\n".encode("cp1253"))
    table = _table(conn, SHORT_TABLE)
    conn.execute("SELECT aws_s3.table_import_from_s3(%s, '', %s, 'churnml', %s, 'us-east-1')",
                 (table, "(format csv, header true, delimiter ';', encoding 'WIN1253')", key))
    assert conn.execute(f"SELECT id, name, note FROM {table} ORDER BY id").fetchall() == [
        (1, "Καλημέρα", "«ναι»"), (2, "Ωραία €", None)]
    with pytest.raises(psycopg.errors.CharacterNotInRepertoire) as raised:  # 22021, read as UTF8
        conn.execute("SELECT churnml.load_from_s3(%s, %s, header => true, options => 'delimiter '';''')",
                     (table, f"s3://churnml/{key}"))
    assert f"s3://churnml/{key} line 2" in str(raised.value)
    assert "encoding" in (raised.value.diag.message_detail or "")
    assert conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0] == 2


def test_force_not_null_and_force_null_on_import(conn: psycopg.Connection, client: S3Client) -> None:
    key = _key("nulls.csv")
    # unquoted empty (the CSV null string) and quoted empty ("") in each column
    client.put_object(BUCKET, key, b'id,name,note\n1,a,\n2,b,""\n3,,x\n')
    table = _table(conn, "id int, name text, note text")
    conn.execute("SELECT churnml.load_from_s3(%s, %s, header => true, options => 'force_not_null (note)')",
                 (table, f"s3://churnml/{key}"))
    assert conn.execute(f"SELECT id, name, note FROM {table} ORDER BY id").fetchall() == [
        (1, "a", ""), (2, "b", ""), (3, None, "x")]
    conn.execute(f"TRUNCATE {table}")
    conn.execute("SELECT aws_s3.table_import_from_s3(%s, 'id, name, note', %s, 'churnml', %s, 'us-east-1')",
                 (table, "CSV HEADER FORCE NULL note", key))
    assert conn.execute(f"SELECT id, name, note FROM {table} ORDER BY id").fetchall() == [
        (1, "a", None), (2, "b", None), (3, None, "x")]


def test_header_match(conn: psycopg.Connection, client: S3Client) -> None:
    prefix = _key("hm")
    client.put_object(BUCKET, f"{prefix}/a.csv", b"id,name,note\n1,a,x\n")
    client.put_object(BUCKET, f"{prefix}/b.csv", b"id,name,note\n2,b,y\n3,c,z\n")
    table = _table(conn, SHORT_TABLE)
    loaded = conn.execute("SELECT churnml.load_from_s3(%s, %s, mode => 'prefix', header => true, "
                          "options => 'header match')", (table, f"s3://churnml/{prefix}/")).fetchone()[0]
    assert loaded == 3
    client.put_object(BUCKET, f"{prefix}/c.csv", b"id,note,name\n4,w,d\n")
    with pytest.raises(psycopg.Error) as other:
        conn.execute("SELECT churnml.load_from_s3(%s, %s, mode => 'prefix', header => true, "
                     "options => 'header match')", (table, f"s3://churnml/{prefix}/"))
    assert other.value.sqlstate == "22P04" and "c.csv" in str(other.value)
    with pytest.raises(psycopg.Error) as first:  # COPY's own check of the first object's header
        conn.execute("SELECT aws_s3.table_import_from_s3(%s, '', '(format csv, header match)', 'churnml', %s, "
                     "'us-east-1')", (table, f"{prefix}/c.csv"))
    assert first.value.sqlstate == "22P04" and "c.csv line 1" in str(first.value)
    assert conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0] == 3


@pytest.mark.parametrize(("statement", "sqlstate", "words"), [
    ("SELECT * FROM aws_s3.query_export_to_s3('SELECT 1 AS a', 'churnml', 'copyopts/e.csv', NULL, "
     "'format csv, delimiter ''||''')", "22023", "single one-byte character"),
    ("SELECT * FROM aws_s3.query_export_to_s3('SELECT 1 AS a', 'churnml', 'copyopts/e.csv', NULL, "
     "'format csv, force_quote (b)')", "42P10", 'force_quote names column "b"'),
    ("SELECT * FROM aws_s3.query_export_to_s3('SELECT 1 AS a', 'churnml', 'copyopts/e.csv', NULL, "
     "'format csv, encoding ''KLINGON''')", "22023", "not an encoding"),
    ("SELECT * FROM aws_s3.query_export_to_s3('SELECT 1 AS a', 'churnml', 'copyopts/e.csv', NULL, "
     "'format csv) TO PROGRAM ''id'' --')", "42601", "cannot be read"),
    ("SELECT * FROM aws_s3.query_export_to_s3('SELECT 1 AS a', 'churnml', 'copyopts/e.csv', NULL, "
     "'format csv, program ''id''')", "42601", "not recognized"),
    ("SELECT aws_s3.table_import_from_s3('calls', '', 'format csv, force_not_null (nope)', 'churnml', 'x', "
     "'us-east-1')", "42P10", 'force_not_null names column "nope"'),
    ("SELECT aws_s3.table_import_from_s3('calls', 'a', 'format csv, force_null (b)', 'churnml', 'x', 'us-east-1')",
     "42P10", "the load into"),
    ("SELECT aws_s3.table_import_from_s3('calls', '', 'format csv, force_quote *', 'churnml', 'x', 'us-east-1')",
     "22023", "only in an export"),
    ("SELECT aws_s3.table_import_from_s3('calls', '', 'freeze', 'churnml', 'x', 'us-east-1')", "0A000", "freeze"),
    # an encoding PostgreSQL has no conversion for is refused before any work (was 42883 midway)
    ("SELECT * FROM aws_s3.query_export_to_s3('SELECT 1 AS a', 'churnml', 'copyopts/e.csv', NULL, "
     "'format csv, encoding MULE_INTERNAL')", "22023", "cannot convert UTF8 to MULE_INTERNAL"),
    ("SELECT aws_s3.table_import_from_s3('calls', '', 'format csv, encoding MULE_INTERNAL', 'churnml', 'x', "
     "'us-east-1')", "22023", "cannot convert MULE_INTERNAL to UTF8"),
    # SQL_ASCII would store the file's bytes unchecked (plain COPY does; churnml's loads do not)
    ("SELECT aws_s3.table_import_from_s3('calls', '', 'format csv, encoding SQL_ASCII', 'churnml', 'x', "
     "'us-east-1')", "22023", "SQL_ASCII cannot be read into a UTF8 database"),
    ("SELECT * FROM churnml.export_query('SELECT 1 AS a', 's3://churnml/copyopts/e', options => 'format text')",
     "22023", "options say format text"),
    ("SELECT * FROM churnml.export_query('SELECT 1 AS a', 's3://churnml/copyopts/e', options => 'header false')",
     "22023", "options say header false"),
    ("SELECT churnml.load_from_s3('calls', 's3://churnml/x', options => 'header match')", "22023",
     "options say header match"),
    ("SELECT churnml.load_from_s3('calls', 's3://churnml/x', header => true, ignore_lines => 1, "
     "options => 'header match')", "22023", "ignore_lines"),
    ("SELECT churnml.load_from_s3('calls', 's3://churnml/x', options => 'delimiter ''a''', format => 'text')",
     "22023", "cannot be 'a' with format text"),
    ("SELECT * FROM churnml._copy_to_spool('SELECT 1', 'csv', churnml._spool_file(), '{convert_selectively,a}')",
     "42601", "not taken here"),
    ("SELECT * FROM churnml._copy_to_spool('SELECT 1', 'csv', churnml._spool_file(), '{format,text}')",
     "42601", "not taken here"),
    ("SELECT * FROM churnml._copy_to_spool('SELECT 1', 'csv', churnml._spool_file(), '{delimiter}')",
     "22023", "pairs"),
    ("SELECT * FROM churnml._copy_to_spool('SELECT 1', 'csv', churnml._spool_file(), '{delimiter,NULL}')",
     "22004", "must not be NULL"),
    ("SELECT * FROM churnml._copy_to_spool('SELECT 1 AS a', 'text', churnml._spool_file(), '{force_quote,a}')",
     "0A000", "CSV"),  # COPY's own check, behind churnml's
])
def test_option_errors(conn: psycopg.Connection, configured: S3Config, statement: str, sqlstate: str,
                       words: str) -> None:
    conn.execute("CREATE TABLE IF NOT EXISTS calls (a int, b text)")
    with pytest.raises(psycopg.Error) as raised:
        conn.execute(statement)
    error = raised.value
    assert error.sqlstate == sqlstate, error
    assert words in str(error) + (error.diag.message_detail or ""), error
    assert "Error" not in (error.diag.message_primary or "").split(":")[0]  # no Python class name in front
    if sqlstate in ("22023", "42601") and "_copy_to_spool" not in statement and "options say" not in words:
        assert "of the options: " in (error.diag.message_detail or "") or "ignore_lines" in words
    assert conn.execute("SELECT count(*) FROM calls").fetchone()[0] == 0


def test_roles(db: str, client: S3Client) -> None:
    suffix = uuid.uuid4().hex[:6]
    loader, user, nobody = f"co_loader_{suffix}", f"co_user_{suffix}", f"co_nobody_{suffix}"
    export = ("SELECT * FROM aws_s3.query_export_to_s3('SELECT 1 AS a, ''é'' AS b', 'churnml', 'copyopts/r.csv', "
              "options => 'format csv, encoding LATIN1, force_quote (b)')")
    own = ("SELECT * FROM churnml.export_query('SELECT 1 AS a', 's3://churnml/copyopts/r', overwrite => true, "
           "options => 'delimiter '';''')")
    with psycopg.connect(db, autocommit=True) as admin:
        for role, grant in ((loader, "churnml_loader"), (user, "churnml_user"), (nobody, None)):
            admin.execute(sql.SQL("CREATE ROLE {}").format(sql.Identifier(role)))
            if grant:
                admin.execute(sql.SQL("GRANT {} TO {}").format(sql.Identifier(grant), sql.Identifier(role)))
        admin.execute("SELECT churnml.grant_storage('test_bucket', 'read, write', %s)", (loader,))
        for role in (loader, user, nobody):
            admin.execute(sql.SQL("SET ROLE {}").format(sql.Identifier(role)))
            try:
                for statement in (export, own):
                    if role == loader:
                        assert admin.execute(statement).fetchone()[0] == 1
                    else:
                        with pytest.raises(psycopg.errors.InsufficientPrivilege):
                            admin.execute(statement)
            finally:
                admin.execute("RESET ROLE")
    assert _object(client, "copyopts/r.csv") == b'1,"\xe9"\n'


def test_cancel_midway_leaves_nothing(conn: psycopg.Connection, client: S3Client) -> None:
    """statement_timeout during an export with options (a re-encoded, force-quoted CSV in parts)."""
    prefix = _key("cancel")
    conn.execute("SET statement_timeout = '1500ms'")
    started = time.monotonic()
    with pytest.raises(psycopg.errors.QueryCanceled):
        conn.execute("SELECT * FROM churnml.export_query('SELECT g, repeat(''é'', 50) AS t FROM "
                     "generate_series(1, 50000000) g', %s, part_size => 1048576, "
                     "options => 'encoding WIN1252, force_quote *, delimiter ''|''')", (f"s3://churnml/{prefix}",))
    assert time.monotonic() - started < 10
    conn.execute("RESET statement_timeout")
    time.sleep(1)
    assert [o.key for o in client.list_objects(BUCKET, prefix)] == []


def test_upgrade_script_drops_the_old_copy_functions() -> None:
    text = (Path(__file__).parents[2] / "sql/upgrades/0.2.0--0.3.0.sql").read_text()
    assert "DROP FUNCTION IF EXISTS churnml._copy_to_spool(text, text, text, boolean);" in text


def test_column_list_naming_a_column_twice_is_said_in_auroras_terms(conn: psycopg.Connection,
                                                                    configured: S3Config) -> None:
    """The outside review: a repeated column was "columns names a column twice" (churnml's argument name)."""
    conn.execute("CREATE TABLE IF NOT EXISTS calls (a int, b text)")
    with pytest.raises(psycopg.errors.InvalidParameterValue) as raised:
        conn.execute("SELECT aws_s3.table_import_from_s3('calls', 'a, A', '(format csv)', 'churnml', 'x', "
                     "'us-east-1')")
    assert raised.value.diag.message_primary == "churnml: column_list names a column twice"
    assert raised.value.diag.message_detail == "column_list is 'a, A'."
