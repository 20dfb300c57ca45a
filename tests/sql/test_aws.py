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


# ---------------------------------------------------------------------------------------------
# Endpoint outputs as Aurora's endpoints give them, arrays as separate inputs, and (f(x)).*
# scoring once (issue 22 items 5 and 6). They use a deployment of their own, churn_answers, so
# that its output settings leave churn_endpoint answering probabilities.

ARGS = (120, 0, 300.5, 100, 150.0, 200.0, 100, 3, 2.7, 4, 1)


def _answers_call(of: str = "") -> str:
    """invoke_endpoint of churn_answers on a customers row (`of`: the row's name and a dot, or nothing)."""
    columns = ", ".join(f"{of}{column}" for column in FEATURES.split(", "))
    return (f"aws_sagemaker.invoke_endpoint('churn_answers', NULL, {columns}, "
            f"CASE WHEN {of}int_plan = 'no' THEN 1 ELSE 0 END)")


ANSWERS_CALL = _answers_call()


def _invoke(conn: psycopg.Connection, args: str, endpoint: str = "churn_endpoint") -> str | None:
    value: str | None = conn.execute(f"SELECT aws_sagemaker.invoke_endpoint('{endpoint}', NULL, {args})").fetchone()[0]
    return value


@pytest.fixture(scope="module")
def answers(aws_db: str) -> str:
    with psycopg.connect(aws_db, autocommit=True) as conn:
        conn.execute("SET client_min_messages = warning")
        conn.execute("SELECT churnml.train('churn_answers', %s, 'churn', deploy => true)", (ENDPOINT_SOURCE,))
    return "churn_answers"


def test_array_arguments_are_separate_model_inputs(conn: psycopg.Connection) -> None:
    separate = _invoke(conn, ", ".join(map(str, ARGS)))
    # one flat array (the page's regression_model(params REAL[])), arrays mixed with values
    assert _invoke(conn, f"ARRAY{list(map(float, ARGS))}::float8[]") == separate
    assert _invoke(conn, f"ARRAY{list(map(float, ARGS))}::real[]") == separate
    assert _invoke(conn, "120, ARRAY[0, 300.5, 100]::float8[], 150.0, 200.0, ARRAY[100, 3]::bigint[], 2.7, "
                         "ARRAY[4], 1") == separate
    conn.execute("CREATE OR REPLACE FUNCTION pg_temp.regression_model(params REAL[], OUT estimate REAL) AS $$ "
                 "SELECT aws_sagemaker.invoke_endpoint('churn_endpoint', NULL, params)::REAL "
                 "$$ LANGUAGE SQL PARALLEL SAFE COST 5000")
    estimate = conn.execute("SELECT pg_temp.regression_model(%s::real[])", (list(map(float, ARGS)),)).fetchone()[0]
    assert estimate == pytest.approx(float(separate or "nan"), rel=1e-6)
    # a NULL element is a missing value, as a NULL argument is
    assert _invoke(conn, "ARRAY[120, NULL, 300.5, 100, 150.0, 200.0, 100, 3, 2.7, 4, 1]::float8[]") == \
        _invoke(conn, "120, NULL, 300.5, 100, 150.0, 200.0, 100, 3, 2.7, 4, 1")
    # a NULL array has no elements to count: NULL, as VARIADIC NULL
    assert _invoke(conn, "NULL::float8[]") is None
    assert _invoke(conn, "120, NULL::float8[], 1") is None
    # a domain over an array is an array
    conn.execute("CREATE DOMAIN pg_temp.features AS float8[]")
    assert _invoke(conn, f"ARRAY{list(map(float, ARGS))}::pg_temp.features") == separate


@pytest.mark.parametrize(("args", "sqlstate", "words"), [
    ("ARRAY[[1, 2], [3, 4]]", "2202E", "one-dimensional"),
    ("ARRAY[]::int[]", "42P13", "takes 11 model inputs, not 0"),
    ("ARRAY[1, 2, 3]::int[], 4", "42P13", "takes 11 model inputs, not 4"),
    ("array_fill(1, ARRAY[100001])", "54000", "at most 100000 model inputs"),
    ("1, array_fill(1.5, ARRAY[60000]), array_fill(2.5, ARRAY[60000])", "54000", "not 120001"),
])
def test_array_argument_errors(conn: psycopg.Connection, args: str, sqlstate: str, words: str) -> None:
    with pytest.raises(psycopg.Error) as raised:
        _invoke(conn, args)
    assert raised.value.sqlstate == sqlstate
    assert words in str(raised.value)
    assert conn.execute("SELECT 1").fetchone()[0] == 1


def test_endpoint_output_label_threshold_and_composite(conn: psycopg.Connection, answers: str) -> None:
    rows = f"SELECT {ANSWERS_CALL} AS answer, churnml.will_churn(c, 'churn_answers') AS p FROM " \
           f"(SELECT *, CASE WHEN int_plan = 'no' THEN 1 ELSE 0 END AS int_plan_no FROM customers) AS c " \
           f"ORDER BY phone LIMIT 300"
    probabilities = conn.execute(rows).fetchall()
    assert all(float(answer) == p for answer, p in probabilities)
    with pytest.raises(psycopg.errors.InvalidTextRepresentation):  # the issue: a probability is no INT
        conn.execute(f"SELECT {ANSWERS_CALL}::int FROM customers LIMIT 1")

    conn.execute("SELECT churnml.set_endpoint_output('churn_answers', 'label')")
    assert conn.execute("SELECT endpoint_output FROM churnml.current_deployments WHERE name = 'churn_answers'"
                        ).fetchone()[0] == "label"
    labels = conn.execute(rows.replace("AS answer", "::int AS answer")).fetchall()
    assert [a for a, _ in labels] == [int(p > 0.5) for _, p in probabilities]
    assert {a for a, _ in labels} == {0, 1}
    # the cutoff is the deployment's: set_threshold moves the labels and keeps the output
    conn.execute("SELECT churnml.set_threshold('churn_answers', 0.2)")
    labels = conn.execute(rows.replace("AS answer", "::int AS answer")).fetchall()
    assert [a for a, _ in labels] == [int(p > 0.2) for _, p in probabilities]
    flags = conn.execute(f"SELECT {ANSWERS_CALL}::boolean = churnml.churn_flag(churnml.will_churn(c, "
                         "'churn_answers'), 'churn_answers') FROM (SELECT *, CASE WHEN int_plan = 'no' THEN 1 "
                         "ELSE 0 END AS int_plan_no FROM customers) AS c LIMIT 300").fetchall()
    assert all(f for (f,) in flags)

    # several outputs: a record literal in the order asked, for a composite cast (and point for a pair)
    conn.execute("SELECT churnml.set_endpoint_output('churn_answers', ' Probability, label,threshold ')")
    conn.execute("DROP TYPE IF EXISTS pg_temp.churn_answer")
    conn.execute("CREATE TYPE pg_temp.churn_answer AS (probability float8, will_churn int, cutoff float8)")
    composite = conn.execute(f"SELECT ({ANSWERS_CALL}::pg_temp.churn_answer).*, churnml.will_churn(c, "
                             "'churn_answers') FROM (SELECT *, CASE WHEN int_plan = 'no' THEN 1 ELSE 0 END AS "
                             "int_plan_no FROM customers) AS c ORDER BY phone LIMIT 300").fetchall()
    assert all(row == (p, int(p > 0.2), 0.2, p) for row, (_, p) in zip(composite, probabilities, strict=True))
    conn.execute("SELECT churnml.set_endpoint_output('churn_answers', 'threshold,probability')")
    assert conn.execute(f"SELECT ({ANSWERS_CALL}::point)[0] FROM customers LIMIT 1").fetchone()[0] == 0.2

    # rollback undoes one event at a time; deploy and set_threshold keep the output
    conn.execute("SELECT churnml.rollback('churn_answers')")
    assert conn.execute("SELECT endpoint_output FROM churnml.current_deployments WHERE name = 'churn_answers'"
                        ).fetchone()[0] == "probability,label,threshold"
    conn.execute("SELECT churnml.deploy('churn_answers', strategy => 'latest')")
    history = conn.execute("SELECT strategy, threshold, endpoint_output FROM churnml.deployments "
                           "WHERE name = 'churn_answers' ORDER BY id").fetchall()
    assert history == [("specific", 0.5, "probability"), ("endpoint_output", 0.5, "label"),
                       ("threshold", 0.2, "label"), ("endpoint_output", 0.2, "probability,label,threshold"),
                       ("endpoint_output", 0.2, "threshold,probability"),
                       ("rollback", 0.2, "probability,label,threshold"),
                       ("latest", 0.5, "probability,label,threshold")]
    conn.execute("SELECT churnml.set_endpoint_output('churn_answers', 'probability')")


def test_endpoint_output_is_not_stale_in_one_statement_or_message(conn: psycopg.Connection, answers: str) -> None:
    values = ", ".join(map(str, ARGS))
    probability = _invoke(conn, values, "churn_answers")
    # one PL/pgSQL block: the same call before and after each change (one memory context for all)
    conn.execute(f"""DO $$
        DECLARE a text; b text; c text;
        BEGIN
            a := aws_sagemaker.invoke_endpoint('churn_answers', NULL, {values});
            PERFORM churnml.set_endpoint_output('churn_answers', 'label');
            b := aws_sagemaker.invoke_endpoint('churn_answers', NULL, {values});
            PERFORM churnml.rollback('churn_answers');
            c := aws_sagemaker.invoke_endpoint('churn_answers', NULL, {values});
            CREATE TEMP TABLE seen AS SELECT a, b, c;
        END $$""")
    assert conn.execute("SELECT a, b, c FROM seen").fetchone() == (probability, str(int(float(probability or 0) > 0.5)),
                                                                   probability)
    conn.execute("DROP TABLE seen")
    # statements of one Query message share their statement time
    cur = conn.execute(f"SELECT aws_sagemaker.invoke_endpoint('churn_answers', NULL, {values}); "
                       "SELECT churnml.set_endpoint_output('churn_answers', 'label'); "
                       f"SELECT aws_sagemaker.invoke_endpoint('churn_answers', NULL, {values})")
    assert cur.nextset() and cur.nextset()
    assert cur.fetchone()[0] in ("0", "1")
    conn.execute("SELECT churnml.set_endpoint_output('churn_answers', 'probability')")


@pytest.mark.parametrize(("output", "sqlstate", "words"), [
    ("NULL", "22004", "output must not be NULL"),
    ("'labels'", "22023", 'unknown endpoint output "labels"'),
    ("''", "22023", "empty"),
    ("'label,'", "22023", "empty"),
    ("'label,label'", "22023", "named twice"),
    ("repeat('x', 100000)", "22023", "unknown endpoint output"),
])
def test_endpoint_output_errors(conn: psycopg.Connection, answers: str, output: str, sqlstate: str,
                                words: str) -> None:
    with pytest.raises(psycopg.Error) as raised:
        conn.execute(f"SELECT churnml.set_endpoint_output('churn_answers', {output})")
    assert raised.value.sqlstate == sqlstate and words in str(raised.value)
    assert raised.value.diag.message_hint and len(str(raised.value)) < 1000
    for name, sqlstate in (("'no_such'", "55000"), ("NULL", "22004"), ("''", "22023")):
        with pytest.raises(psycopg.Error) as raised:
            conn.execute(f"SELECT churnml.set_endpoint_output({name}, 'label')")
        assert raised.value.sqlstate == sqlstate


def test_endpoint_output_is_for_admins(aws_db: str, answers: str) -> None:
    suffix = uuid.uuid4().hex[:6]
    with psycopg.connect(aws_db, autocommit=True) as admin:
        roles = {f"ep_{grant or 'nobody'}_{suffix}": grant
                 for grant in ("churnml_user", "churnml_loader", "churnml_admin", None)}
        for role, grant in roles.items():
            admin.execute(sql.SQL("CREATE ROLE {}").format(sql.Identifier(role)))
            if grant:
                admin.execute(sql.SQL("GRANT {} TO {}").format(sql.Identifier(grant), sql.Identifier(role)))
        try:
            for role, grant in roles.items():
                admin.execute(sql.SQL("SET ROLE {}").format(sql.Identifier(role)))
                try:
                    if grant == "churnml_admin":
                        admin.execute("SELECT churnml.set_endpoint_output('churn_answers', 'label')")
                        assert admin.execute("SELECT deployed_by FROM churnml.deployments WHERE name = "
                                             "'churn_answers' ORDER BY id DESC LIMIT 1").fetchone()[0] == role
                        admin.execute("SELECT churnml.set_endpoint_output('churn_answers', 'probability')")
                    else:
                        with pytest.raises(psycopg.errors.InsufficientPrivilege):
                            admin.execute("SELECT churnml.set_endpoint_output('churn_answers', 'label')")
                    if grant == "churnml_user":  # may read what an endpoint answers
                        assert admin.execute("SELECT endpoint_output FROM churnml.current_deployments WHERE name = "
                                             "'churn_answers'").fetchone()[0] == "probability"
                finally:
                    admin.execute("RESET ROLE")
        finally:
            for role in roles:
                admin.execute(sql.SQL("DROP OWNED BY {}").format(sql.Identifier(role)))
                admin.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(role)))


def _function_calls(conn: psycopg.Connection) -> dict[str, int]:
    """Calls of this transaction so far, by function (track_functions = 'all')."""
    return {name: calls for name, calls in conn.execute(
        "SELECT schemaname || '.' || funcname, calls FROM pg_stat_xact_user_functions").fetchall()}


def test_composite_star_calls_the_model_once_per_row(aws_db: str, answers: str) -> None:
    """(f(x)::t).* is expanded into one call per column; PL/Python scores each row once."""
    with psycopg.connect(aws_db) as conn:  # one transaction: pg_stat_xact_user_functions counts it
        conn.execute("SET track_functions = 'all'")
        conn.execute("SELECT churnml.set_endpoint_output('churn_answers', 'probability,label,threshold')")
        conn.execute("CREATE TYPE pg_temp.churn_answer AS (probability float8, will_churn int, cutoff float8)")
        # a wrapper as on Aurora's page (analyze_company), taking the row
        conn.execute("CREATE FUNCTION pg_temp.analyze_customer(c customers, OUT prediction pg_temp.churn_answer) AS $$ "
                     f"SELECT {_answers_call('c.')}::pg_temp.churn_answer $$ LANGUAGE SQL PARALLEL SAFE COST 5000")
        before = _function_calls(conn)
        rows = "(SELECT * FROM customers ORDER BY phone LIMIT 99) AS c"
        direct = conn.execute(f"SELECT ({ANSWERS_CALL}::pg_temp.churn_answer).* FROM {rows}").fetchall()
        after = _function_calls(conn)
        assert after["aws_sagemaker.invoke_endpoint"] - before.get("aws_sagemaker.invoke_endpoint", 0) == 3 * 99
        assert after["aws_sagemaker._invoke_endpoint"] - before.get("aws_sagemaker._invoke_endpoint", 0) == 99
        wrapped = conn.execute(f"SELECT (pg_temp.analyze_customer(c)).* FROM {rows}").fetchall()
        assert wrapped == direct
        # the wrapper is inlined (LANGUAGE SQL, no SET, STRICT or SECURITY DEFINER): once a row too
        assert _function_calls(conn)["aws_sagemaker._invoke_endpoint"] - after["aws_sagemaker._invoke_endpoint"] == 99
        conn.rollback()


def _cache_counts(conn: psycopg.Connection) -> tuple[int, int]:
    """(hits, misses) of the backend's sentiment statement cache, read by a superuser's PL/Python."""
    conn.execute("CREATE OR REPLACE FUNCTION pg_temp.sentiment_cache_counts() RETURNS int[] LANGUAGE plpython3u AS "
                 "$$ import churnml.sentiment.statement_cache as c; return [c.counts['hits'], c.counts['misses']] $$")
    hits, misses = conn.execute("SELECT pg_temp.sentiment_cache_counts()").fetchone()[0]
    return hits, misses


@pytest.mark.parametrize("engine", ["lexicon", "encoder"])
def test_sentiment_star_scores_each_text_once(conn: psycopg.Connection, engine: str) -> None:
    texts = [f"{m} (ticket {i})" for i, m in enumerate(MESSAGES * 8)]  # 40 distinct texts
    conn.execute("SELECT set_config('churnml.sentiment_engine', %s, false)", (engine,))
    once = conn.execute("SELECT d.sentiment, d.confidence FROM unnest(%s::text[]) WITH ORDINALITY AS m(t, i), "
                        "aws_comprehend.detect_sentiment(m.t, 'en') AS d ORDER BY m.i", (texts,)).fetchall()
    hits, misses = _cache_counts(conn)
    star = conn.execute("SELECT (aws_comprehend.detect_sentiment(m.t, 'en')).* FROM unnest(%s::text[]) "
                        "WITH ORDINALITY AS m(t, i) ORDER BY m.i", (texts,)).fetchall()
    assert star == once
    after = _cache_counts(conn)
    assert (after[0] - hits, after[1] - misses) == (len(texts), len(texts))  # the second column: from the cache
    # Aurora's UPDATE form and the MySQL pair: one scoring per text too
    mysql = conn.execute("SELECT aws_comprehend_detect_sentiment(t, 'en'), "
                         "aws_comprehend_detect_sentiment_confidence(t, 'en') FROM unnest(%s::text[]) "
                         "WITH ORDINALITY AS m(t, i) ORDER BY m.i", (texts,)).fetchall()
    assert [(s, pytest.approx(c, rel=1e-6)) for s, c in once] == mysql
    again = _cache_counts(conn)
    assert (again[0] - after[0], again[1] - after[1]) == (len(texts), len(texts))
    # churnml's own detect_sentiment shares it; the next statement scores afresh
    own = conn.execute("SELECT (churnml.detect_sentiment(m.t, 'en', %s)).* FROM unnest(%s::text[]) "
                       "WITH ORDINALITY AS m(t, i) ORDER BY m.i", (engine, texts)).fetchall()
    assert own == once
    conn.execute("RESET churnml.sentiment_engine")


def test_sentiment_cache_follows_the_engine_within_one_message(conn: psycopg.Connection) -> None:
    text = "I love the coverage but the bill is way too high"
    expected = {engine: conn.execute("SELECT sentiment, confidence FROM churnml.detect_sentiment(%s, 'en', %s)",
                                     (text, engine)).fetchone() for engine in ("lexicon", "encoder")}
    assert expected["lexicon"] != expected["encoder"]
    quoted = text.replace("'", "''")
    cur = conn.execute(f"SET churnml.sentiment_engine = 'lexicon'; "
                       f"SELECT (aws_comprehend.detect_sentiment('{quoted}', 'en')).*; "
                       f"SET churnml.sentiment_engine = 'encoder'; "
                       f"SELECT (aws_comprehend.detect_sentiment('{quoted}', 'en')).*; "
                       "RESET churnml.sentiment_engine")
    answers = []
    while True:
        if cur.description is not None:
            answers.append(cur.fetchone())
        if not cur.nextset():
            break
    assert answers == [expected["lexicon"], expected["encoder"]]
