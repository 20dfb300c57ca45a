"""Aurora's extension names (aws_commons, aws_ml, aws_s3: thin extensions over churnml_aws), Aurora's
aws_ml role, Aurora's exact signatures (its GRANT statements run; each credentials form reaches its
own overload and is refused), and Aurora's error for a 0-byte object."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator

import psycopg
import pytest
from psycopg import sql

from churnml_loaders.s3_client import S3Client
from churnml_loaders.s3_config import S3Config
from tests.conftest import dump_and_restore, run_psql
from tests.sql.conftest import declare_storage

AURORA = ("aws_commons", "aws_ml", "aws_s3")


def _extensions(conn: psycopg.Connection) -> set[str]:
    return {r[0] for r in conn.execute("SELECT extname FROM pg_extension")}


def test_create_cascade_from_nothing_says_what_aurora_says(make_database: Callable[..., str]) -> None:
    """Aurora's `CREATE EXTENSION aws_s3 CASCADE` in a database without churnml: its NOTICE first."""
    url = make_database("aurora_ddl", extension=False)
    out = run_psql(url, "-c", "CREATE EXTENSION aws_s3 CASCADE").stdout
    notices = [line for line in out.splitlines() if line.startswith("NOTICE")]
    assert notices == [f'NOTICE:  installing required extension "{name}"'
                       for name in ("aws_commons", "churnml_aws", "churnml", "plpython3u")]
    with psycopg.connect(url, autocommit=True) as conn:
        assert {"aws_commons", "aws_s3", "churnml_aws", "churnml"} <= _extensions(conn)
        conn.execute("CREATE EXTENSION IF NOT EXISTS aws_ml CASCADE")
        schemas = dict(conn.execute("SELECT e.extname, n.nspname FROM pg_extension e "
                                    "JOIN pg_namespace n ON n.oid = e.extnamespace").fetchall())
        assert [schemas[name] for name in AURORA] == ["public"] * 3  # as Aurora's \dx shows them
        # They own nothing: every aws_* function is churnml_aws's.
        owned = conn.execute("SELECT count(*) FROM pg_depend d JOIN pg_extension e ON e.oid = d.refobjid "
                             "WHERE d.deptype = 'e' AND e.extname = ANY(%s)", (list(AURORA),)).fetchone()[0]
        assert owned == 0
        with pytest.raises(psycopg.errors.DependentObjectsStillExist):
            conn.execute("DROP EXTENSION aws_commons")  # aws_s3 and aws_ml need it, as on Aurora
        for name in ("aws_s3", "aws_ml", "aws_commons"):
            conn.execute(sql.SQL("DROP EXTENSION {}").format(sql.Identifier(name)))
        assert not set(AURORA) & _extensions(conn)
        assert conn.execute("SELECT to_regprocedure('aws_s3.table_import_from_s3(text, text, text, "
                            "aws_commons._s3_uri_1)') IS NOT NULL").fetchone()[0]  # churnml_aws keeps them
        with pytest.raises(psycopg.errors.UndefinedObject) as refused:
            conn.execute("CREATE EXTENSION aws_s3")
        assert "aws_commons" in str(refused.value)  # without CASCADE: PostgreSQL names what is missing
        conn.execute("CREATE EXTENSION aws_s3 CASCADE")  # churnml_aws is there: only aws_commons comes
        with pytest.raises(psycopg.errors.DependentObjectsStillExist):
            conn.execute("DROP EXTENSION churnml_aws")
        conn.execute("DROP EXTENSION churnml_aws CASCADE")
        assert not {"aws_commons", "aws_s3", "churnml_aws"} & _extensions(conn)
        assert conn.execute("SELECT count(*) FROM pg_namespace WHERE nspname LIKE 'aws\\_%'").fetchone()[0] == 0
        assert conn.execute("SELECT churnml.version()").fetchone()[0]


def test_aws_ml_role_is_granted_as_aurora_describes(make_database: Callable[..., str]) -> None:
    """aws_ml: the role an application of Aurora ML is given (a churnml_user); churnml_admin may grant it
    on, as Aurora's rds_superuser. Aurora's own GRANT USAGE / EXECUTE statements work too."""
    url = make_database("aurora_role")
    suffix = uuid.uuid4().hex[:6]
    dba, app, plain = f"dba_{suffix}", f"app_{suffix}", f"plain_{suffix}"
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE EXTENSION aws_ml CASCADE")
        assert conn.execute("SELECT pg_has_role('aws_ml', 'churnml_user', 'MEMBER'), "
                            "pg_has_role('churnml_admin', 'aws_ml', 'USAGE WITH ADMIN OPTION'), "
                            "(SELECT rolcanlogin FROM pg_roles WHERE rolname = 'aws_ml')").fetchone() == (
            True, True, False)
        for role in (dba, app, plain):
            conn.execute(sql.SQL("CREATE ROLE {}").format(sql.Identifier(role)))
        conn.execute(sql.SQL("GRANT churnml_admin TO {}").format(sql.Identifier(dba)))
        try:
            conn.execute(sql.SQL("SET ROLE {}").format(sql.Identifier(dba)))  # an administrator, not a superuser
            conn.execute(sql.SQL("GRANT aws_ml TO {}").format(sql.Identifier(app)))
            conn.execute("RESET ROLE")
            # Aurora's way: USAGE on the schema and EXECUTE on the function.
            conn.execute(sql.SQL("GRANT USAGE ON SCHEMA aws_comprehend TO {}").format(sql.Identifier(plain)))
            conn.execute(sql.SQL("GRANT EXECUTE ON FUNCTION aws_comprehend.detect_sentiment(varchar, varchar, int) "
                                 "TO {}").format(sql.Identifier(plain)))
            for role in (plain, app):
                conn.execute(sql.SQL("SET ROLE {}").format(sql.Identifier(role)))
                label = conn.execute("SELECT sentiment FROM aws_comprehend.detect_sentiment('I love it', 'en')"
                                     ).fetchone()[0]
                assert label == "POSITIVE"
                conn.execute("RESET ROLE")
            conn.execute(sql.SQL("SET ROLE {}").format(sql.Identifier(app)))
            with pytest.raises(psycopg.errors.InsufficientPrivilege):  # aws_ml is not a loader
                conn.execute("SELECT * FROM aws_s3.query_export_to_s3('SELECT 1', 'churnml', 'x')")
        finally:
            conn.execute("RESET ROLE")
            for role in (dba, app, plain):
                conn.execute(sql.SQL("DROP OWNED BY {}").format(sql.Identifier(role)))
                conn.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(role)))
        conn.execute("DROP EXTENSION aws_ml")
        assert conn.execute("SELECT count(*) FROM pg_roles WHERE rolname = 'aws_ml'").fetchone()[0] == 1  # kept


def test_an_aws_ml_role_holding_more_is_not_taken_over(make_database: Callable[..., str]) -> None:
    """The outside review: a pre-existing aws_ml holding pg_execute_server_program was granted to
    churnml_admin WITH ADMIN OPTION, so an administrator could run shell commands. Now CREATE EXTENSION
    aws_ml refuses such a role, naming what it holds; once it holds nothing more, it is taken over."""
    url = make_database("aurora_role_taken")
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'aws_ml') THEN "
                     "CREATE ROLE aws_ml NOLOGIN; END IF; END $$")
        try:
            conn.execute("GRANT pg_execute_server_program TO aws_ml")
            conn.execute("ALTER ROLE aws_ml LOGIN")
            with pytest.raises(psycopg.errors.DuplicateObject) as raised:
                conn.execute("CREATE EXTENSION aws_ml CASCADE")
            detail = raised.value.diag.message_detail or ""
            assert "LOGIN" in detail and "member of pg_execute_server_program" in detail, detail
            assert "REVOKE" in (raised.value.diag.message_hint or "")
            assert conn.execute("SELECT count(*) FROM pg_extension WHERE extname = 'aws_ml'").fetchone()[0] == 0
        finally:
            conn.execute("REVOKE pg_execute_server_program FROM aws_ml")
            conn.execute("ALTER ROLE aws_ml NOLOGIN")
        conn.execute("CREATE EXTENSION aws_ml CASCADE")
        assert conn.execute("SELECT pg_has_role('aws_ml', 'pg_execute_server_program', 'MEMBER')").fetchone() == (
            False,)


# Aurora's functions, each as an Aurora GRANT statement names it (the pages' signatures).
AURORA_SIGNATURES = (
    "aws_comprehend.detect_sentiment(varchar, varchar, int)",
    'aws_sagemaker.invoke_endpoint(varchar, int, "any")',
    "aws_commons.create_s3_uri(text, text, text)",
    "aws_commons.create_aws_credentials(text, text, text)",
    "aws_s3.query_export_to_s3(text, aws_commons._s3_uri_1, text)",
    "aws_s3.query_export_to_s3(text, text, text, text, text)",
    "aws_s3.table_import_from_s3(text, text, text, aws_commons._s3_uri_1)",
    "aws_s3.table_import_from_s3(text, text, text, aws_commons._s3_uri_1, aws_commons._aws_credentials_1)",
    "aws_s3.table_import_from_s3(text, text, text, text, text, text)",
    "aws_s3.table_import_from_s3(text, text, text, text, text, text, text, text, text)",
)


@pytest.fixture(scope="module")
def aurora_db(make_database: Callable[..., str], configured: S3Config) -> Iterator[str]:
    url = make_database("aurora_sig")
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE EXTENSION aws_ml CASCADE")
        conn.execute("CREATE EXTENSION aws_s3 CASCADE")
    yield declare_storage(url)


def test_aurora_grant_statements_name_every_function_exactly(aurora_db: str) -> None:
    role = f"grantee_{uuid.uuid4().hex[:6]}"
    script = "\n".join([f"CREATE ROLE {role};",
                        f"GRANT USAGE ON SCHEMA aws_commons, aws_comprehend, aws_sagemaker, aws_s3 TO {role};",
                        *(f"GRANT EXECUTE ON FUNCTION {s} TO {role};" for s in AURORA_SIGNATURES),
                        *(f"REVOKE EXECUTE ON FUNCTION {s} FROM {role};" for s in AURORA_SIGNATURES),
                        f"DROP OWNED BY {role};", f"DROP ROLE {role};"])
    done = run_psql(aurora_db, "-v", "ON_ERROR_STOP=1", input_text=script)
    assert done.returncode == 0, done.stdout
    assert done.stdout.count("GRANT") == 1 + len(AURORA_SIGNATURES)
    with psycopg.connect(aurora_db) as conn:
        # and no other aws_s3/aws_commons/aws_comprehend/aws_sagemaker function takes an argument Aurora's lack
        public = {r[0] for r in conn.execute(
            "SELECT p.oid::regprocedure::text FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace "
            "WHERE n.nspname IN ('aws_commons', 'aws_comprehend', 'aws_sagemaker', 'aws_s3') "
            "AND p.proname NOT LIKE '\\_%'")}
        expected = {conn.execute("SELECT %s::regprocedure::text", (s,)).fetchone()[0] for s in AURORA_SIGNATURES}
    assert public == expected


@pytest.mark.parametrize("call", [
    # psql's :'creds' after \gset: an untyped literal, which must reach the credentials overload
    "SELECT aws_s3.table_import_from_s3('t', '', '(format csv)', '(churnml,x.csv,us-east-1)', "
    "'(sample_access_key,sample_secret_key,)')",
    "SELECT aws_s3.table_import_from_s3('t', '', '(format csv)', aws_commons.create_s3_uri('churnml', 'x.csv', "
    "'us-east-1'), ROW('k', 's', '')::aws_commons._aws_credentials_1)",
    "SELECT aws_s3.table_import_from_s3('t', '', '(format csv)', 'churnml', 'x.csv', 'us-east-1', 'k', 's', '')",
    "SELECT aws_commons.create_aws_credentials('sample_access_key', 'sample_secret_key', '')",
])
def test_each_credentials_form_is_refused(aurora_db: str, call: str) -> None:
    with psycopg.connect(aurora_db, autocommit=True) as conn, \
            pytest.raises(psycopg.errors.FeatureNotSupported) as refused:
        conn.execute(call)
    assert refused.value.diag.message_primary == "churnml: AWS credentials as SQL arguments are not supported"
    hint = refused.value.diag.message_hint or ""
    assert "churnml.create_storage_location" in hint and "grant_storage" in hint
    assert "(table_name, column_list, options, bucket, file_path, region)" in hint


def test_a_zero_byte_object_is_an_error_as_on_aurora(aurora_db: str, configured: S3Config) -> None:
    key = f"aurora/{uuid.uuid4().hex[:8]}/empty.csv"
    with S3Client(configured) as client:
        client.put_object("churnml", key, b"")
    with psycopg.connect(aurora_db, autocommit=True) as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS zero (a int)")
        with pytest.raises(psycopg.errors.DataException) as refused:
            conn.execute("SELECT aws_s3.table_import_from_s3('zero', '', '(format csv)', 'churnml', %s, 'us-east-1')",
                         (key,))
        assert refused.value.diag.message_primary == f"churnml: object s3://churnml/{key} is empty (0 bytes)"
        assert "as Aurora PostgreSQL does" in (refused.value.diag.message_detail or "")
        assert "load_from_s3" in (refused.value.diag.message_hint or "")
        assert conn.execute("SELECT count(*) FROM churnml.load_history WHERE uri = %s",
                            (f"s3://churnml/{key}",)).fetchone()[0] == 0  # undone
        # churnml's own loader takes it as 0 rows
        assert conn.execute("SELECT churnml.load_from_s3('zero', %s)", (f"s3://churnml/{key}",)).fetchone()[0] == 0


@pytest.mark.parametrize("bucket", ["sampleBucket", "myS3Bucket"])
def test_aurora_example_buckets_are_refused_with_the_reason(aurora_db: str, bucket: str) -> None:
    with psycopg.connect(aurora_db, autocommit=True) as conn, \
            pytest.raises(psycopg.errors.InvalidParameterValue) as refused:
        conn.execute("SELECT * FROM aws_s3.query_export_to_s3('SELECT 1', %s, 'x.csv')", (bucket,))
    assert "upper-case letters" in (refused.value.diag.message_detail or "")
    assert f'"{bucket.lower()}"' in (refused.value.diag.message_hint or "")


def test_dump_and_restore_of_a_database_with_aurora_names(make_database: Callable[..., str]) -> None:
    source = make_database("aurora_dump", extension=False)
    with psycopg.connect(source, autocommit=True) as conn:
        conn.execute("SET client_min_messages = warning")
        conn.execute("CREATE EXTENSION aws_ml CASCADE")
        conn.execute("CREATE EXTENSION aws_s3 CASCADE")
        conn.execute("CREATE VIEW feelings AS SELECT s.* FROM aws_comprehend.detect_sentiment('great', 'en') s")
    target = make_database("aurora_restored", extension=False)
    restored = dump_and_restore(source, target)
    assert restored.returncode == 0, restored.stderr.decode()
    with psycopg.connect(target) as conn:
        assert {"aws_commons", "aws_ml", "aws_s3", "churnml_aws", "churnml"} <= _extensions(conn)
        assert conn.execute("SELECT sentiment FROM feelings").fetchone()[0] == "POSITIVE"
