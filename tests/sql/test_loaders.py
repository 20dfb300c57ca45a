"""export_query / load_from_s3 from SQL, against a real S3-compatible server (SeaweedFS) on 127.0.0.1."""

from __future__ import annotations

import dataclasses
import gzip
import os
import pwd
from collections.abc import Callable
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from churnml_loaders.s3_client import S3Client
from churnml_loaders.s3_config import S3Config
from tests.loaders.conftest import crash
from tests.sql.conftest import declare_storage, write_server_config

BUCKET = "churnml"
CHECKSUM = "SELECT count(*), md5(string_agg(c::text, ',' ORDER BY c::text)) FROM {} c"


@pytest.fixture(scope="module")
def telco(make_telco: Callable[..., str], configured: S3Config, files_dir: Path) -> str:
    return declare_storage(make_telco("loaders", 3000, 11), files_dir)


def _copy_out(conn: psycopg.Connection, query: str) -> bytes:
    with conn.cursor().copy(f"COPY ({query}) TO STDOUT (FORMAT csv, HEADER)") as copy:
        return b"".join(bytes(b) for b in copy)


def _checksum(conn: psycopg.Connection, table: str) -> tuple[int, str]:
    return conn.execute(CHECKSUM.format(table)).fetchone()


def test_walkthrough_flow_load_export_load(telco: str, configured: S3Config) -> None:
    with psycopg.connect(telco, autocommit=True) as conn, S3Client(configured) as client:
        # the DBA's customer file, as a CSV with a header, in S3
        client.put_object(BUCKET, "incoming/customers.csv", _copy_out(conn, "SELECT * FROM customers"))
        conn.execute("CREATE TABLE customers_loaded (LIKE customers INCLUDING ALL)")
        loaded = conn.execute("SELECT churnml.load_from_s3('customers_loaded', 's3://churnml/incoming/customers.csv',"
                              " header => true)").fetchone()[0]
        assert loaded == 3000
        # unloaded for the data scientist: CSV with header and a manifest, in parts
        rows, files, size = conn.execute(
            "SELECT * FROM churnml.export_query('SELECT * FROM customers_loaded', 's3://churnml/exports/customers', "
            "part_size => 100000)").fetchone()
        assert rows == 3000 and files > 1 and size > 0
        keys = [o.key for o in client.list_objects(BUCKET, "exports/customers")]
        assert "exports/customers.manifest" in keys and len(keys) == files + 1
        conn.execute("CREATE TABLE customers_again (LIKE customers INCLUDING ALL)")
        again = conn.execute("SELECT churnml.load_from_s3('customers_again', 's3://churnml/exports/customers', "
                             "mode => 'manifest', header => true)").fetchone()[0]
        assert again == 3000
        assert _checksum(conn, "customers") == _checksum(conn, "customers_loaded") == _checksum(conn, "customers_again")
        history = conn.execute("SELECT target, mode, rows, jsonb_array_length(objects), loaded_by = current_user "
                               "FROM churnml.load_history ORDER BY id").fetchall()
        assert history == [("public.customers_loaded", "file", 3000, 1, True),
                           ("public.customers_again", "manifest", 3000, files, True)]


def test_gzip_text_format_prefix_and_conflicts(telco: str, configured: S3Config) -> None:
    with psycopg.connect(telco, autocommit=True) as conn:
        conn.execute("SELECT * FROM churnml.export_query('SELECT * FROM customers WHERE area_code = 415', "
                     "'s3://churnml/gz/c', format => 'text', header => false, compression => 'gzip', "
                     "manifest => false)")
        conn.execute("CREATE TABLE c415 (LIKE customers INCLUDING ALL)")
        n = conn.execute("SELECT churnml.load_from_s3('c415', 's3://churnml/gz/c', mode => 'prefix', "
                         "format => 'text')").fetchone()[0]
        assert n == conn.execute("SELECT count(*) FROM customers WHERE area_code = 415").fetchone()[0]
        with pytest.raises(psycopg.errors.UniqueViolation) as info:
            conn.execute("SELECT churnml.load_from_s3('c415', 's3://churnml/gz/c', mode => 'prefix', format => 'text')")
        assert "on_conflict" in info.value.diag.message_hint
        assert conn.execute("SELECT churnml.load_from_s3('c415', 's3://churnml/gz/c', mode => 'prefix', "
                            "format => 'text', on_conflict => 'ignore')").fetchone()[0] == 0
        conn.execute("UPDATE c415 SET day_mins = -1")
        assert conn.execute("SELECT churnml.load_from_s3('c415', 's3://churnml/gz/c', mode => 'prefix', "
                            "format => 'text', on_conflict => 'replace')").fetchone()[0] == n
        assert conn.execute("SELECT count(*) FROM c415 WHERE day_mins = -1").fetchone()[0] == 0


def test_binary_round_trip_from_sql(telco: str, configured: S3Config) -> None:
    """COPY's binary format both ways from SQL, in parts, with NULLs and every column type of customers."""
    with psycopg.connect(telco, autocommit=True) as conn, S3Client(configured) as client:
        conn.execute("CREATE TABLE with_nulls AS SELECT * FROM customers")
        conn.execute("UPDATE with_nulls SET day_mins = NULL, int_plan = NULL WHERE phone LIKE '%7'")
        rows, files, _ = conn.execute(
            "SELECT * FROM churnml.export_query('SELECT * FROM with_nulls', 's3://churnml/bin/c', format => 'binary', "
            "header => false, part_size => 60000)").fetchone()
        assert rows == 3000 and files > 1
        first = b"".join(client.get_object(BUCKET, "bin/c.part_00000"))
        assert first.startswith(b"PGCOPY\n\xff\r\n\x00") and first.endswith(b"\xff\xff")
        conn.execute("CREATE TABLE bin_again (LIKE customers)")
        assert conn.execute("SELECT churnml.load_from_s3('bin_again', 's3://churnml/bin/c', mode => 'manifest', "
                            "format => 'binary')").fetchone()[0] == 3000
        assert _checksum(conn, "with_nulls") == _checksum(conn, "bin_again")


# NULL, '', quotes, commas, line breaks, `\.`, unicode, numbers; column names that need quoting
# (and `\.`, which COPY quotes in a header only when it is the only column).
AWKWARD = r'''SELECT * FROM (VALUES
    (1, NULL::text, 1.5::float8, true, NULL::int, 'plain'),
    (2, '', -0.25, false, 42, 'comma, inside'),
    (3, 'say "hi"', 1e300, NULL, -7, E'two\nlines'),
    (4, 'ünïcödé ✓ 🐘', 'NaN', true, 0, E'cr\rlf\r\n'),
    (5, '\.', 123456789.125, false, 2147483647, ' spaced '),
    (6, '""', NULL, NULL, NULL, NULL)
) AS t(id, "a,b", x, "say ""q""", "\.", "note
two") ORDER BY id'''
ALONE = r"""SELECT v AS "\." FROM (VALUES (1, '\.'), (2, NULL), (3, ''), (4, 'x')) AS t(i, v) ORDER BY i"""


def _copy_to_stdout(conn: psycopg.Connection, query: str, options: str) -> bytes:
    """What COPY itself writes: psycopg's COPY TO STDOUT of the same query (options are the test's own)."""
    with conn.cursor().copy(sql.SQL("COPY ({}) TO STDOUT ({})").format(sql.SQL(query), sql.SQL(options))) as copy:
        return b"".join(bytes(b) for b in copy)


def test_csv_export_is_byte_for_byte_copys_csv(telco: str, configured: S3Config) -> None:
    """export_query's CSV (and text) is exactly what COPY (query) TO ... writes: values quoted only where
    needed, NULL unquoted and empty, '' as "", the header as COPY's HEADER writes it."""
    with psycopg.connect(telco, autocommit=True) as conn, S3Client(configured) as client:
        for name, query, fmt, options in (("awkward", AWKWARD, "csv", "FORMAT csv, HEADER"),
                                          ("alone", ALONE, "csv", "FORMAT csv, HEADER"),
                                          ("awkward-text", AWKWARD, "text", "FORMAT text, HEADER")):
            rows, files, size = conn.execute("SELECT * FROM churnml.export_query(%s, %s, format => %s)",
                                             (query, f"s3://churnml/exact/{name}", fmt)).fetchone()
            body = b"".join(client.get_object(BUCKET, f"exact/{name}.part_00000"))
            assert body == _copy_to_stdout(conn, query, options), name
            assert files == 1 and size == len(body)
        awkward = b"".join(client.get_object(BUCKET, "exact/awkward.part_00000"))
        assert awkward.startswith(b'id,"a,b",x,"say ""q""",\\.,"note\ntwo"\n1,,1.5,t,,plain\n2,"",-0.25,f,42,')
        assert b'\n6,"""""",,,,\n' in awkward  # '""' is quoted, the NULLs are not
        assert b"\n" + '4,ünïcödé ✓ 🐘,NaN,t,0,"cr\rlf\r\n"'.encode() + b"\n" in awkward
        alone = b"".join(client.get_object(BUCKET, "exact/alone.part_00000"))
        assert alone == b'"\\."\n"\\."\n\n""\nx\n'
        # in parts: each starts with COPY's header line, and the rest put together is COPY's output of the
        # whole table, as with the shell's `churnml export` (where parts are cut depends on how the rows
        # arrive in batches, so the two may cut them at different rows)
        from churnml_client.loaders_cli import export_query
        from churnml_loaders.uris import S3Uri

        query = "SELECT * FROM customers ORDER BY area_code, phone"
        rows, files, _ = conn.execute("SELECT * FROM churnml.export_query(%s, 's3://churnml/exact/sql', "
                                      "part_size => 100000)", (query,)).fetchone()
        shell = export_query(conn, query, S3Uri(BUCKET, "exact/shell"), client, header=True, part_size=100000)
        assert rows == 3000 and files > 1 and len(shell.parts) > 1
        header, copied = _copy_to_stdout(conn, query, "FORMAT csv, HEADER").split(b"\n", 1)
        for prefix in ("exact/sql", "exact/shell"):
            parts = [b"".join(client.get_object(BUCKET, o.key)) for o in client.list_objects(BUCKET, f"{prefix}.part_")]
            assert all(part.startswith(header + b"\n") for part in parts), prefix
            assert b"".join(part[len(header) + 1:] for part in parts) == copied, prefix


def test_csv_round_trip_keeps_null_apart_from_empty(telco: str, configured: S3Config) -> None:
    with psycopg.connect(telco, autocommit=True) as conn:
        # plain column names: the header is skipped as one line (a name with a line break would be two)
        conn.execute("CREATE TABLE awkward (id int, a text, x float8, b boolean, n int, note text)")
        conn.execute(f"INSERT INTO awkward {AWKWARD}")
        conn.execute("SELECT * FROM churnml.export_query('SELECT * FROM awkward', 's3://churnml/exact/round')")
        conn.execute("CREATE TABLE awkward_again (LIKE awkward)")
        assert conn.execute("SELECT churnml.load_from_s3('awkward_again', 's3://churnml/exact/round', "
                            "mode => 'manifest', header => true)").fetchone()[0] == 6
        # EXCEPT compares NULL with NULL as equal and '' with NULL as different
        assert conn.execute("SELECT count(*) FROM ((TABLE awkward EXCEPT TABLE awkward_again) UNION ALL "
                            "(TABLE awkward_again EXCEPT TABLE awkward)) d").fetchone()[0] == 0
        assert conn.execute("SELECT id, a FROM awkward_again WHERE id IN (1, 2, 6) ORDER BY id").fetchall() == [
            (1, None), (2, ""), (6, '""')]


def test_a_bad_row_loads_nothing_and_is_named(telco: str, configured: S3Config) -> None:
    with psycopg.connect(telco, autocommit=True) as conn, S3Client(configured) as client:
        data = _copy_out(conn, "SELECT phone, day_mins, churn FROM customers").split(b"\n")
        data[1500] = data[1500].replace(b",", b",not-a-number", 1)  # line 1501: day_mins
        client.put_object(BUCKET, "bad/part1.csv", gzip.compress(b"\n".join(data)))
        conn.execute("CREATE TABLE partial (phone text, day_mins float8, churn boolean)")
        history = conn.execute("SELECT count(*) FROM churnml.load_history").fetchone()[0]
        with pytest.raises(psycopg.Error) as info:
            conn.execute("SELECT churnml.load_from_s3('partial', 's3://churnml/bad/part1.csv', header => true)")
        diag = info.value.diag
        assert diag.sqlstate == "22P02"
        assert "s3://churnml/bad/part1.csv line 1501" in diag.message_primary
        assert 'column "day_mins"' in diag.message_primary and "Nothing was loaded" in diag.message_hint
        assert conn.execute("SELECT count(*) FROM partial").fetchone()[0] == 0
        assert conn.execute("SELECT count(*) FROM churnml.load_history").fetchone()[0] == history
        # inside a transaction that goes on, the failed load left no row either
        with conn.transaction():
            conn.execute("INSERT INTO partial VALUES ('x', 1, true)")
            with pytest.raises(psycopg.Error), conn.transaction():
                conn.execute("SELECT churnml.load_from_s3('partial', 's3://churnml/bad/part1.csv', header => true)")
        assert conn.execute("SELECT count(*) FROM partial").fetchone()[0] == 1


def test_failed_export_leaves_no_parts_and_no_manifest(telco: str, configured: S3Config) -> None:
    with psycopg.connect(telco, autocommit=True) as conn, S3Client(configured) as client:
        with pytest.raises(psycopg.errors.DivisionByZero):
            conn.execute("SELECT * FROM churnml.export_query('SELECT i, repeat(''x'', 200) AS pad, "
                         "CASE WHEN i = 40000 THEN 1 / 0 ELSE i END AS v FROM generate_series(1, 50000) i', "
                         "'s3://churnml/failed/x', part_size => 1000000)")
        assert list(client.list_objects(BUCKET, "failed/")) == []
        # an existing export is not replaced without overwrite
        conn.execute("SELECT * FROM churnml.export_query('SELECT 1 AS one', 's3://churnml/once/x')")
        with pytest.raises(psycopg.errors.DuplicateObject) as info:
            conn.execute("SELECT * FROM churnml.export_query('SELECT 2 AS two', 's3://churnml/once/x')")
        assert "overwrite" in info.value.diag.message_hint
        conn.execute("SELECT * FROM churnml.export_query('SELECT 2 AS two', 's3://churnml/once/x', overwrite => true)")
        assert b"two" in b"".join(client.get_object(BUCKET, "once/x.part_00000"))


def test_storage_errors_are_clear(telco: str, configured: S3Config, server_url: str, files_dir: Path) -> None:
    with psycopg.connect(telco, autocommit=True) as conn:
        conn.execute("CREATE TABLE target (a int)")
        conn.execute("SELECT churnml.create_storage_location('missing_bucket', 's3://no-such-bucket/')")
        cases = [
            ("SELECT churnml.load_from_s3('target', 's3://no-such-bucket/x.csv')", "42704", "bucket"),
            ("SELECT churnml.load_from_s3('target', 's3://not-declared/x.csv')", "42501",
             "churnml.create_storage_location('name', 's3://not-declared/')"),
            ("SELECT churnml.load_from_s3('target', 's3://churnml/no/such.csv')", "58P01", "key"),
            ("SELECT churnml.load_from_s3('target', 'ftp://host/x')", "22023", "s3://"),
            ("SELECT churnml.load_from_s3('target', 's3://churnml/x', mode => 'sideways')", "22023", "prefix"),
            ("SELECT * FROM churnml.export_query('SELECT 1', 's3://churnml/e/x', format => 'binary')", "22023",
             "header => false"),
            ("SELECT * FROM churnml.export_query('SELECT 1; SELECT 2', 's3://churnml/e/x')", "42601", "one SELECT"),
            ("SELECT * FROM churnml.export_query('DELETE FROM target RETURNING a', 's3://churnml/e/x')", "42809",
             "SELECT"),
            # the C half called directly: one SELECT only, and only this session's spool files
            ("SELECT * FROM churnml._copy_to_spool('SELECT 1; SELECT 2', 'csv', churnml._spool_file())", "42601",
             "one SELECT"),
            ("SELECT * FROM churnml._copy_to_spool('DELETE FROM target RETURNING a', 'csv', churnml._spool_file())",
             "42809", "SELECT"),
            ("SELECT * FROM churnml._copy_to_spool('SELECT 1', 'xml', churnml._spool_file())", "22023", "export_query"),
            ("SELECT * FROM churnml._copy_to_spool('SELECT 1', 'text', churnml._spool_file(), '{force_quote,NULL}')",
             "0A000", ""),
            ("SELECT * FROM churnml._copy_to_spool('SELECT 1', 'csv', '/tmp/churnml-not-a-spool')", "42501",
             "export_query"),
            ("SELECT * FROM churnml._copy_to_spool('SELECT 1', 'csv', current_setting('data_directory') || "
             "'/postgresql.auto.conf')", "42501", "export_query"),
            ("SELECT churnml._copy_from_spool('target', '/etc/passwd', 'text', ARRAY['a'], '{}', '{}', '{}')",
             "42501", "load_from_s3"),
            ("SELECT churnml._copy_from_spool('target', current_setting('data_directory') || '/churnml/s3.json', "
             "'text', ARRAY['a'], '{}', '{}', '{}')", "42501", "load_from_s3"),
            ("SELECT churnml.load_from_s3('target', 's3://churnml/x', format => 'binary', header => true)", "22023",
             ""),
        ]
        for statement, sqlstate, hint in cases:
            with pytest.raises(psycopg.Error) as info:
                conn.execute(statement)
            assert info.value.diag.sqlstate == sqlstate, statement
            assert hint in (info.value.diag.message_hint or ""), (statement, info.value.diag.message_hint)
    wrong = dataclasses.replace(configured, secret_access_key="not-the-secret")
    write_server_config(server_url, wrong, files_dir)
    try:
        with psycopg.connect(telco, autocommit=True) as conn:
            with pytest.raises(psycopg.Error) as info:
                conn.execute("SELECT churnml.load_from_s3('target', 's3://churnml/incoming/customers.csv')")
            assert info.value.diag.sqlstate == "28000"
            assert "not-the-secret" not in str(info.value) and "not-the-secret" not in (info.value.diag.message_detail
                                                                                          or "")
    finally:
        write_server_config(server_url, configured, files_dir)


def test_privileges(telco: str, configured: S3Config, files_dir: Path) -> None:
    role = f"loader_{os.getpid()}"
    plain = f"nobody_{os.getpid()}"
    with psycopg.connect(telco, autocommit=True) as conn:
        conn.execute(f"CREATE ROLE {role} LOGIN PASSWORD 'x'")
        conn.execute(f"CREATE ROLE {plain} LOGIN PASSWORD 'x'")
        conn.execute(f"GRANT churnml_loader TO {role}")
        conn.execute("CREATE TABLE readable (a int)")
        conn.execute("INSERT INTO readable VALUES (1), (2)")
        conn.execute(f"GRANT SELECT ON readable TO {role}")
        conn.execute(f"GRANT USAGE ON SCHEMA public TO {role}, {plain}")
        try:
            conn.execute(f"SET ROLE {plain}")
            with pytest.raises(psycopg.errors.InsufficientPrivilege):  # not a loader
                conn.execute("SELECT * FROM churnml.export_query('SELECT 1', 's3://churnml/p/x')")
            conn.execute(f"SET ROLE {role}")
            with pytest.raises(psycopg.errors.InsufficientPrivilege):  # the query runs as the caller
                conn.execute("SELECT * FROM churnml.export_query('SELECT * FROM customers', 's3://churnml/p/c')")
            conn.execute("SELECT * FROM churnml.export_query('SELECT * FROM readable', 's3://churnml/p/r')")
            with pytest.raises(psycopg.errors.InsufficientPrivilege) as info:  # no INSERT on the target
                conn.execute("SELECT churnml.load_from_s3('readable', 's3://churnml/p/r', mode => 'manifest', "
                             "header => true)")
            assert "insert" in info.value.diag.message_primary
            with pytest.raises(psycopg.errors.InsufficientPrivilege) as info:  # file:// is for admins
                conn.execute(f"SELECT * FROM churnml.export_query('SELECT 1', 'file://{files_dir}/x.csv')")
            assert "churnml_admin" in info.value.diag.message_primary
        finally:
            conn.execute("RESET ROLE")
        # an admin may, under file_root only
        conn.execute(f"SELECT * FROM churnml.export_query('SELECT * FROM customers', 'file://{files_dir}/c.csv')")
        conn.execute("CREATE TABLE from_file (LIKE customers)")
        n = conn.execute(f"SELECT churnml.load_from_s3('from_file', 'file://{files_dir}/c.csv', header => true)"
                         ).fetchone()[0]
        assert n == 3000 and _checksum(conn, "from_file") == _checksum(conn, "customers")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("SELECT churnml.load_from_s3('from_file', 'file:///etc/passwd')")
        assert pwd.getpwuid(os.stat(files_dir / "c.csv").st_uid).pw_name in ("postgres", pwd.getpwuid(os.getuid())[0])


def test_s3_server_stopping_mid_load_loads_nothing(telco: str, configured: S3Config, server_url: str,
                                                   files_dir: Path, tmp_path: Path) -> None:
    """A real outage from SQL: the S3 server goes away while load_from_s3 is reading objects."""
    import threading
    import time

    from churnml_client.s3_server import LocalS3Server

    server = LocalS3Server.from_environment(tmp_path)
    private = server.start()
    try:
        with S3Client(private) as client:
            for i in range(6):  # six objects of ~8 MB: the outage comes while the first ones download
                client.put_object(BUCKET, f"big/part{i}.csv", b"".join(b"%d,%s\n" % (n, b"x" * 40)
                                                                       for n in range(i * 200_000, (i + 1) * 200_000)))
        write_server_config(server_url, private, files_dir)
        with psycopg.connect(telco, autocommit=True) as conn:
            conn.execute("CREATE TABLE big (n int, pad text)")
            pid = conn.execute("SELECT pg_backend_pid()").fetchone()[0]
            tmp_dir = Path(conn.execute("SHOW data_directory").fetchone()[0]) / "base" / "pgsql_tmp"
            history = conn.execute("SELECT count(*) FROM churnml.load_history").fetchone()[0]

            def stop_when_spooling() -> None:
                deadline = time.monotonic() + 30
                while time.monotonic() < deadline:
                    spool = list(tmp_dir.glob(f"pgsql_tmp{pid}.*")) if tmp_dir.exists() else []
                    if any(p.stat().st_size > 1_000_000 for p in spool if p.exists()):
                        break
                    time.sleep(0.002)
                crash(server)

            stopper = threading.Thread(target=stop_when_spooling)
            stopper.start()
            with pytest.raises(psycopg.Error) as info:
                conn.execute("SELECT churnml.load_from_s3('big', 's3://churnml/big/', mode => 'prefix')")
            stopper.join()
            diag = info.value.diag
            assert diag.sqlstate in ("08001", "08006"), (diag.sqlstate, diag.message_primary)
            assert private.endpoint in diag.message_primary and diag.message_hint
            assert conn.execute("SELECT count(*) FROM big").fetchone()[0] == 0
            assert conn.execute("SELECT count(*) FROM churnml.load_history").fetchone()[0] == history
            assert not list(tmp_dir.glob(f"pgsql_tmp{pid}.*"))  # the spool file went with the statement
    finally:
        server.stop()
        write_server_config(server_url, configured, files_dir)
