"""churnml_aws: Aurora ML's functions on churnml, checked against churnml's own answers,
with Aurora's NULL behaviour, clean errors, and churnml's roles."""

from __future__ import annotations

import gzip
import uuid
from collections.abc import Callable, Iterator

import psycopg
import pytest
from psycopg import sql

from churnml_loaders.s3_client import S3Client
from churnml_loaders.s3_config import S3Config
from tests.sql.conftest import declare_storage

FEATURES = ("acc_length, vmail_msg, day_mins, day_calls, eve_mins, night_mins, night_calls, int_calls, int_charge, "
            "cust_service_calls")
ENDPOINT_SOURCE = f"SELECT {FEATURES}, CASE WHEN int_plan = 'no' THEN 1 ELSE 0 END AS int_plan_no, churn FROM customers"
MESSAGES = ["You morons! You charged me extra again!", "Thank you very much for resolving the issues with my bill!",
            "How do I dial Morocco?", "I love the coverage but the bill is way too high", ""]


@pytest.fixture(scope="module")
def aws_db(make_telco: Callable[..., str], configured: S3Config) -> str:
    url = make_telco("aws", 2000, 5)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE EXTENSION churnml_aws")
        conn.execute("SELECT churnml.train('churn_endpoint', %s, 'churn', deploy => true)", (ENDPOINT_SOURCE,))
        # declared, so that a missing bucket gets the storage's own answer (42704)
        conn.execute("SELECT churnml.create_storage_location('missing_bucket', 's3://no-such-bucket/')")
    return declare_storage(url)


@pytest.fixture
def conn(aws_db: str) -> Iterator[psycopg.Connection]:
    with psycopg.connect(aws_db, autocommit=True) as connection:
        yield connection


def test_invoke_endpoint_is_the_deployed_model(conn: psycopg.Connection) -> None:
    rows = conn.execute(f"""
        SELECT aws_sagemaker.invoke_endpoint('churn_endpoint', NULL, {FEATURES}, int_plan_no),
               churnml.will_churn(q, 'churn_endpoint')
        FROM ({ENDPOINT_SOURCE.replace(' FROM', ', area_code, phone FROM')}) AS q
        ORDER BY area_code, phone LIMIT 200""").fetchall()
    assert len(rows) == 200
    for text, probability in rows:
        assert isinstance(text, str) and float(text) == probability  # the text round-trips exactly
    # The explicit VARIADIC array form, NULL as a missing value, and text inputs all read as their features.
    args = [120, 0, 200.5, 100, 150.0, 200.0, 100, 3, 2.7, 4, 1]
    variadic = conn.execute("SELECT aws_sagemaker.invoke_endpoint('churn_endpoint', 10, VARIADIC %s::float8[])",
                            ([float(a) for a in args],)).fetchone()[0]
    separate = conn.execute("SELECT aws_sagemaker.invoke_endpoint('churn_endpoint', NULL, "
                            + ", ".join(["%s"] * len(args)) + ")", args).fetchone()[0]
    as_text = conn.execute("SELECT aws_sagemaker.invoke_endpoint('churn_endpoint', NULL, "
                           + ", ".join(f"'{a}'" for a in args) + ")").fetchone()[0]
    assert variadic == separate == as_text
    with_null = conn.execute("SELECT aws_sagemaker.invoke_endpoint('churn_endpoint', NULL, 120, NULL, 200.5, 100, "
                             "150.0, 200.0, 100, 3, 2.7, 4, 1)::float8").fetchone()[0]
    row = conn.execute("SELECT churnml.will_churn(r, 'churn_endpoint') FROM (SELECT 120::bigint AS acc_length, "
                       "NULL::bigint AS vmail_msg, 200.5::float8 AS day_mins, 100::bigint AS day_calls, "
                       "150.0::float8 AS eve_mins, 200.0::float8 AS night_mins, 100::bigint AS night_calls, "
                       "3::bigint AS int_calls, 2.7::float8 AS int_charge, 4::bigint AS cust_service_calls, "
                       "1 AS int_plan_no) r").fetchone()[0]
    assert with_null == row
    assert conn.execute("SELECT aws_sagemaker.invoke_endpoint('churn_endpoint', NULL, "
                        "VARIADIC NULL::int[])").fetchone()[0] is None


@pytest.mark.parametrize(("call", "sqlstate", "words"), [
    ("'churn_endpoint', NULL, 1, 2, 3", "42P13", "takes 11 model inputs, not 3"),
    ("'churn_endpoint', NULL, 'x', 0, 1, 1, 1, 1, 1, 1, 1, 1, 1", "22000", "acc_length"),
    ("'churn_endpoint', 0, 1, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1", "22023", "max_rows_per_batch"),
    ("NULL, NULL, 1", "22004", "endpoint_name"),
    ("'no_such_endpoint', NULL, 1", None, "no_such_endpoint"),
])
def test_invoke_endpoint_errors(conn: psycopg.Connection, call: str, sqlstate: str | None, words: str) -> None:
    with pytest.raises(psycopg.Error) as raised:
        conn.execute(f"SELECT aws_sagemaker.invoke_endpoint({call})")
    if sqlstate:
        assert raised.value.sqlstate == sqlstate
    assert words in str(raised.value)
    if sqlstate == "42P13":
        assert "acc_length" in raised.value.diag.message_detail  # the detail lists the features in order
    assert conn.execute("SELECT 1").fetchone()[0] == 1  # the session goes on


def test_detect_sentiment_matches_churnml(conn: psycopg.Connection) -> None:
    for engine in ("lexicon", "encoder"):
        conn.execute("SELECT set_config('churnml.sentiment_engine', %s, false)", (engine,))
        for message in MESSAGES:
            aws = conn.execute("SELECT sentiment, confidence FROM aws_comprehend.detect_sentiment(%s, 'en')",
                               (message,)).fetchone()
            own = conn.execute("SELECT sentiment, confidence FROM churnml.detect_sentiment(%s, 'en', %s)",
                               (message, engine)).fetchone()
            mysql = conn.execute("SELECT aws_comprehend_detect_sentiment(%s, 'en'), "
                                 "aws_comprehend_detect_sentiment_confidence(%s, 'en', 25)",
                                 (message, message)).fetchone()
            assert aws == own, (engine, message)
            assert mysql[0] == own[0] and mysql[1] == pytest.approx(own[1], rel=1e-6)
    conn.execute("RESET churnml.sentiment_engine")
    types = conn.execute("SELECT pg_typeof(sentiment)::text, pg_typeof(confidence)::text "
                         "FROM aws_comprehend.detect_sentiment('fine', 'en')").fetchone()
    assert types == ("character varying", "real")
    assert conn.execute("SELECT sentiment, confidence FROM aws_comprehend.detect_sentiment(NULL, 'en')"
                        ).fetchone() == (None, None)
    assert conn.execute("SELECT aws_comprehend_detect_sentiment(NULL, 'en')").fetchone()[0] is None
    for call, sqlstate in (("'hi', NULL", "22004"), ("'hi', 'en', 0", "22023"), ("'bonjour', 'fr'", None)):
        with pytest.raises(psycopg.Error) as raised:
            conn.execute(f"SELECT * FROM aws_comprehend.detect_sentiment({call})")
        assert sqlstate is None or raised.value.sqlstate == sqlstate


def test_s3_export_and_import_round_trip(conn: psycopg.Connection, configured: S3Config) -> None:
    path = f"aws/{uuid.uuid4().hex[:8]}/customers.csv"
    exported = conn.execute(
        "SELECT * FROM aws_s3.query_export_to_s3('SELECT * FROM customers ORDER BY area_code, phone', "
        "aws_commons.create_s3_uri('churnml', %s, 'us-east-1'), options := 'format csv, header true')",
        (path,)).fetchone()
    assert exported[0] == 2000 and exported[1] == 1 and exported[2] > 100_000
    with S3Client(configured) as client:
        assert [o.key for o in client.list_objects("churnml", path)] == [path]  # Aurora's name, no manifest
        body = b"".join(client.get_object("churnml", path))
    assert body.startswith(b'"state","acc_length"') or body.split(b"\n", 1)[0].count(b",") == 20
    conn.execute("DROP SCHEMA IF EXISTS landing CASCADE")
    conn.execute("CREATE SCHEMA landing")
    conn.execute("CREATE TABLE landing.customers (LIKE public.customers INCLUDING ALL)")
    conn.execute("SET search_path = landing, public")  # the table name resolves with the caller's path
    try:
        message = conn.execute("SELECT aws_s3.table_import_from_s3('customers', '', '(format csv, header true)', "
                               "'churnml', %s, 'us-east-1')", (path,)).fetchone()[0]
    finally:
        conn.execute("RESET search_path")
    assert message == f'2000 rows imported into relation "customers" from file {path} of {len(body)} bytes'
    same = conn.execute("SELECT (SELECT md5(string_agg(c::text, ',' ORDER BY area_code, phone)) FROM customers c) "
                        "= (SELECT md5(string_agg(c::text, ',' ORDER BY area_code, phone)) "
                        "FROM landing.customers c)").fetchone()[0]
    assert same
    history = conn.execute("SELECT target, uri, rows FROM churnml.load_history ORDER BY id DESC LIMIT 1").fetchone()
    assert history == ("landing.customers", f"s3://churnml/{path}", 2000)


def test_s3_import_column_list_text_format_and_gzip(conn: psycopg.Connection, configured: S3Config) -> None:
    key = f"aws/{uuid.uuid4().hex[:8]}/calls.txt.gz"
    with S3Client(configured) as client:
        client.put_object("churnml", key, gzip.compress(b"415\t111-0000\n408\t222-0000\n"))
    conn.execute("DROP TABLE IF EXISTS calls")
    conn.execute("CREATE TABLE calls (id serial, area_code int, phone text, note text DEFAULT 'imported')")
    message = conn.execute("SELECT aws_s3.table_import_from_s3('calls', 'area_code, phone', '', "
                           "aws_commons.create_s3_uri('churnml', %s, 'us-east-1'))", (key,)).fetchone()[0]
    assert message.startswith('2 rows imported into relation "calls" from file ')
    assert conn.execute("SELECT area_code, phone, note FROM calls ORDER BY id").fetchall() == [
        (415, "111-0000", "imported"), (408, "222-0000", "imported")]


def test_s3_binary_format_round_trip(conn: psycopg.Connection, configured: S3Config) -> None:
    key = f"aws/{uuid.uuid4().hex[:8]}/calls.bin"
    rows, files, _ = conn.execute(
        "SELECT * FROM aws_s3.query_export_to_s3('SELECT area_code, phone FROM customers', 'churnml', %s, "
        "options => 'format binary')", (key,)).fetchone()
    assert rows == conn.execute("SELECT count(*) FROM customers").fetchone()[0] and files == 1
    conn.execute("DROP TABLE IF EXISTS calls_bin")
    conn.execute("CREATE TABLE calls_bin (area_code bigint, phone text)")
    message = conn.execute("SELECT aws_s3.table_import_from_s3('calls_bin', '', '(format binary)', "
                           "aws_commons.create_s3_uri('churnml', %s, 'us-east-1'))", (key,)).fetchone()[0]
    assert message.startswith(f'{rows} rows imported into relation "calls_bin"')
    assert conn.execute("SELECT count(*) FROM (SELECT area_code, phone FROM customers EXCEPT "
                        "SELECT * FROM calls_bin) d").fetchone()[0] == 0


FORCE_QUOTED = """SELECT * FROM (VALUES (1, NULL::text, 2.5::float8, true), (2, '', NULL, false),
    (3, 'a, "b"', -1, NULL)) AS t(id, note, "x y", flag) ORDER BY id"""


def _copy_to_stdout(conn: psycopg.Connection, query: str, options: str) -> bytes:
    with conn.cursor().copy(sql.SQL("COPY ({}) TO STDOUT ({})").format(sql.SQL(query), sql.SQL(options))) as copy:
        return b"".join(bytes(b) for b in copy)


def test_s3_export_csv_is_copys_and_force_quote_all_is_honoured(conn: psycopg.Connection,
                                                                 configured: S3Config) -> None:
    """Aurora's 'format csv' is COPY's own CSV; 'force_quote *' quotes every non-NULL value (FORCE_QUOTE *),
    the NULLs stay unquoted and empty, the header is not quoted."""
    bodies = {}
    for options in ("format csv, header true", "format csv, header true, force_quote *", "CSV FORCE QUOTE *"):
        key = f"aws/{uuid.uuid4().hex[:8]}/quoted.csv"
        conn.execute("SELECT * FROM aws_s3.query_export_to_s3(%s, 'churnml', %s, options => %s)",
                     (FORCE_QUOTED, key, options))
        with S3Client(configured) as client:
            bodies[options] = b"".join(client.get_object("churnml", key))
    assert bodies["format csv, header true"] == _copy_to_stdout(conn, FORCE_QUOTED, "FORMAT csv, HEADER")
    assert bodies["format csv, header true"] == b'id,note,x y,flag\n1,,2.5,t\n2,"",,f\n3,"a, ""b""",-1,\n'
    quoted = bodies["format csv, header true, force_quote *"]
    assert quoted == _copy_to_stdout(conn, FORCE_QUOTED, "FORMAT csv, HEADER, FORCE_QUOTE *")
    assert quoted == b'id,note,x y,flag\n"1",,"2.5","t"\n"2","",,"f"\n"3","a, ""b""","-1",\n'
    assert bodies["CSV FORCE QUOTE *"] == quoted.split(b"\n", 1)[1]  # COPY's older spelling, no header


@pytest.mark.parametrize(("statement", "sqlstate", "words"), [
    ("SELECT * FROM aws_s3.query_export_to_s3('SELECT 1 AS a', 'churnml', 'aws/fq.csv', NULL, "
     "'format csv, force_quote (b)')", "42P10", 'force_quote names column "b"'),
    ("SELECT * FROM aws_s3.query_export_to_s3('SELECT 1 AS a', 'churnml', 'aws/fq.csv', NULL, "
     "'format text, force_quote *')", "22023", "force_quote is possible only with format csv"),
    ("SELECT aws_s3.table_import_from_s3('calls', '', 'format csv, force_quote *', 'churnml', 'x', 'us-east-1')",
     "22023", "force_quote"),
    ("SELECT aws_commons.create_aws_credentials('AKIAEXAMPLE', 'secret', '')", "0A000", "credentials"),
    ("SELECT aws_s3.table_import_from_s3('calls', '', '', 'churnml', 'x', 'us-east-1', 'AKIA', 's', '')",
     "0A000", "credentials"),
    ("SELECT aws_s3.table_import_from_s3('calls', '', 'format csv, delimiter ''||''', 'churnml', 'x', 'us-east-1')",
     "22023", "delimiter"),
    ("SELECT aws_s3.table_import_from_s3('calls', '', 'format parquet', 'churnml', 'x', 'us-east-1')",
     "22023", "format"),
    ("SELECT aws_s3.table_import_from_s3('calls', 'a;b', '', 'churnml', 'x', 'us-east-1')", "22023", "column"),
    ("SELECT aws_s3.table_import_from_s3('no_such_table', '', '', 'churnml', 'x', 'us-east-1')", "42P01",
     "no_such_table"),
    ("SELECT aws_s3.table_import_from_s3('calls', '', '', aws_commons.create_s3_uri('churnml', NULL, NULL))",
     "22023", "s3_info"),
    ("SELECT * FROM aws_s3.query_export_to_s3('SELECT 1', 'no-such-bucket', 'x.csv')", "42704", "no-such-bucket"),
    ("SELECT aws_s3.table_import_from_s3('calls', '', '', 'churnml', 'aws/missing.csv', 'us-east-1')", None,
     "missing.csv"),
])
def test_s3_errors(conn: psycopg.Connection, configured: S3Config, statement: str, sqlstate: str | None,
                   words: str) -> None:
    conn.execute("CREATE TABLE IF NOT EXISTS calls (id serial, area_code int, phone text)")
    before = conn.execute("SELECT count(*) FROM calls").fetchone()[0]
    with pytest.raises(psycopg.Error) as raised:
        conn.execute(statement)
    if sqlstate:
        assert raised.value.sqlstate == sqlstate, raised.value
    assert words in str(raised.value) + (raised.value.diag.message_detail or "")
    assert raised.value.diag.message_hint or sqlstate in ("42P01", "22023")
    assert conn.execute("SELECT count(*) FROM calls").fetchone()[0] == before


def test_roles(aws_db: str) -> None:
    suffix = uuid.uuid4().hex[:6]
    user, loader, nobody = f"aws_user_{suffix}", f"aws_loader_{suffix}", f"aws_nobody_{suffix}"
    with psycopg.connect(aws_db, autocommit=True) as admin:
        for role, grant in ((user, "churnml_user"), (loader, "churnml_loader"), (nobody, None)):
            admin.execute(sql.SQL("CREATE ROLE {}").format(sql.Identifier(role)))
            if grant:
                admin.execute(sql.SQL("GRANT {} TO {}").format(sql.Identifier(grant), sql.Identifier(role)))
            admin.execute(sql.SQL("GRANT SELECT ON customers TO {}").format(sql.Identifier(role)))
        score = "SELECT aws_sagemaker.invoke_endpoint('churn_endpoint', NULL, 1, 0, 1.0, 1, 1.0, 1.0, 1, 1, 1.0, 1, 1)"
        sentiment = "SELECT aws_comprehend_detect_sentiment('great', 'en')"
        export = "SELECT * FROM aws_s3.query_export_to_s3('SELECT 1', 'churnml', 'aws/roles.csv')"
        allowed = {user: {score, sentiment}, loader: {export}, nobody: set()}
        try:
            for role, may in allowed.items():
                for statement in (score, sentiment, export):
                    admin.execute(sql.SQL("SET ROLE {}").format(sql.Identifier(role)))
                    try:
                        if statement in may:
                            admin.execute(statement)
                        else:
                            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                                admin.execute(statement)
                    finally:
                        admin.execute("RESET ROLE")
        finally:
            for role in allowed:
                admin.execute(sql.SQL("DROP OWNED BY {}").format(sql.Identifier(role)))
                admin.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(role)))
        public = admin.execute("""
            SELECT count(*) FROM pg_proc p JOIN pg_depend d ON d.objid = p.oid AND d.deptype = 'e'
            JOIN pg_extension e ON e.oid = d.refobjid AND e.extname = 'churnml_aws'
            WHERE has_function_privilege('public', p.oid, 'EXECUTE')""").fetchone()[0]
        assert public == 0
        unpinned = admin.execute("""
            SELECT array_agg(p.oid::regprocedure::text ORDER BY 1) FROM pg_proc p
            JOIN pg_depend d ON d.objid = p.oid AND d.deptype = 'e'
            JOIN pg_extension e ON e.oid = d.refobjid AND e.extname = 'churnml_aws'
            WHERE NOT coalesce('search_path=pg_catalog, pg_temp' = ANY(p.proconfig), false)""").fetchone()[0]
        # only the aws_s3 functions with Aurora's signatures, which hand the caller's search_path on
        assert sorted(unpinned) == ["aws_s3.query_export_to_s3(text,aws_commons._s3_uri_1,text)",
                                    "aws_s3.query_export_to_s3(text,text,text,text,text)",
                                    "aws_s3.table_import_from_s3(text,text,text,aws_commons._s3_uri_1)",
                                    "aws_s3.table_import_from_s3(text,text,text,text,text,text)"]


def test_create_and_drop(make_database: Callable[..., str]) -> None:
    url = make_database("awsddl")
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("DROP EXTENSION churnml")
        conn.execute("CREATE EXTENSION churnml_aws CASCADE")  # brings churnml back with it
        assert conn.execute("SELECT count(*) FROM pg_namespace WHERE nspname LIKE 'aws\\_%'").fetchone()[0] == 4
        assert conn.execute("SELECT to_regprocedure('public.aws_comprehend_detect_sentiment(text, text, integer)') "
                            "IS NOT NULL").fetchone()[0]
        conn.execute("DROP EXTENSION churnml_aws")
        assert conn.execute("SELECT count(*) FROM pg_namespace WHERE nspname LIKE 'aws\\_%'").fetchone()[0] == 0
        assert conn.execute("SELECT churnml.version()").fetchone()[0]
