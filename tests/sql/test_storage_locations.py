"""Object storage is authorized per role: storage locations, declared by an admin, granted per role.

The confused deputy an outside review found: every loader call used the server's one S3
credential, so a role with churnml_loader but no SELECT on a table could load the
superuser's export of it, list a whole prefix, or overwrite it. Now every URI an export
or load touches — the object, the listed prefix, each listed object, the manifest and each
part it names, each object an overwrite replaces — must lie in a storage location on which
the calling role has the privilege, checked before anything is asked of storage.

Roles here are real roles used with SET ROLE (the checks use current_user, as PostgreSQL's
own privileges do); the S3 server is the module-scoped one of tests/sql/conftest.py.
"""

from __future__ import annotations

import dataclasses
import hashlib
import secrets
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from churnml_loaders.manifest import Column, Manifest, ManifestPart
from churnml_loaders.s3_client import S3Client
from churnml_loaders.s3_config import S3Config
from tests.conftest import dump_and_restore
from tests.sql.conftest import write_server_config

BUCKET = "churnml"
SUFFIX = secrets.token_hex(3)
# key -> (role name, groups)
ROLES = {"loader": ("churnml_loader",), "reader": ("churnml_loader",), "writer": ("churnml_loader",),
         "admin": ("churnml_admin",), "user": ("churnml_user",), "nothing": ()}


def name(key: str) -> str:
    return f"cm_store_{key}_{SUFFIX}"


@pytest.fixture(scope="module")
def db(make_telco: Callable[..., str], configured: S3Config, files_dir: Path) -> Iterator[str]:
    url = make_telco("storage", 300, 3)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE EXTENSION churnml_aws")
        for key, groups in ROLES.items():
            conn.execute(sql.SQL("CREATE ROLE {}").format(sql.Identifier(name(key))))
            for group in groups:
                conn.execute(sql.SQL("GRANT {} TO {}").format(sql.Identifier(group), sql.Identifier(name(key))))
            conn.execute(sql.SQL("GRANT USAGE, CREATE ON SCHEMA public TO {}").format(sql.Identifier(name(key))))
        # where the superuser keeps its exports: nobody is granted it
        conn.execute("SELECT churnml.create_storage_location('admin_only', 's3://churnml/admin-only/')")
        conn.execute("SELECT churnml.create_storage_location('shared', 's3://churnml/shared')")
        conn.execute("SELECT churnml.create_storage_location('shared_inner', 's3://churnml/shared/inner/')")
        conn.execute("SELECT churnml.grant_storage('shared', 'read', %s)", (name("reader"),))
        conn.execute("SELECT churnml.grant_storage('shared', 'read, write', %s)", (name("writer"),))
        conn.execute("SELECT churnml.grant_storage('shared', 'all', %s)", (name("admin"),))
        # the superuser's export of a table the loader may not SELECT
        conn.execute("SELECT * FROM churnml.export_query('SELECT * FROM customers', "
                     "'s3://churnml/admin-only/customers', part_size => 8000)")
        for key in ("loader", "reader", "writer", "admin"):
            conn.execute(sql.SQL("CREATE TABLE {} (LIKE customers)").format(sql.Identifier(f"landing_{key}")))
            conn.execute(sql.SQL("ALTER TABLE {} OWNER TO {}").format(sql.Identifier(f"landing_{key}"),
                                                                       sql.Identifier(name(key))))
    try:
        yield url
    finally:
        with psycopg.connect(url, autocommit=True) as conn:
            for key in ROLES:
                conn.execute(sql.SQL("DROP OWNED BY {}").format(sql.Identifier(name(key))))
                conn.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(name(key))))


@contextmanager
def as_role(url: str, key: str | None) -> Iterator[psycopg.Connection]:
    with psycopg.connect(url, autocommit=True) as conn:
        if key is not None:
            conn.execute(sql.SQL("SET ROLE {}").format(sql.Identifier(name(key))))
        yield conn


def refused(conn: psycopg.Connection, statement: str, params: tuple[object, ...] = ()) -> psycopg.errors.Diagnostic:
    with pytest.raises(psycopg.errors.InsufficientPrivilege) as info:
        conn.execute(statement, params)
    return info.value.diag


def keys(client: S3Client, prefix: str) -> list[str]:
    return sorted(o.key for o in client.list_objects(BUCKET, prefix))


def test_the_reproduction_fails(db: str, configured: S3Config) -> None:
    """A churnml_loader without SELECT on customers cannot read, list or overwrite the superuser's export."""
    with S3Client(configured) as client:
        before = {k: b"".join(client.get_object(BUCKET, k)) for k in keys(client, "admin-only/")}
    assert len(before) > 3
    with as_role(db, "loader") as conn:
        conn.execute("SET client_min_messages = warning")
        diag = refused(conn, "SELECT churnml.load_from_s3('landing_loader', 's3://churnml/admin-only/customers', "
                             "mode => 'manifest', header => true)")
        assert diag.message_primary == 'churnml: permission denied to read storage location "admin_only"'
        assert f'Role "{name("loader")}" may not read s3://churnml/admin-only/customers.manifest' in diag.message_detail
        assert diag.message_hint == ("An administrator can grant it: SELECT churnml.grant_storage('admin_only', "
                                     f"'read', '{name('loader')}');")
        diag = refused(conn, "SELECT churnml.load_from_s3('landing_loader', 's3://churnml/admin-only/', "
                             "mode => 'prefix', header => true)")
        assert "admin_only" in diag.message_primary
        refused(conn, "SELECT churnml.load_from_s3('landing_loader', "
                      "'s3://churnml/admin-only/customers.part_00000', header => true)")
        diag = refused(conn, "SELECT * FROM churnml.export_query('SELECT 1 AS one', "
                             "'s3://churnml/admin-only/customers', overwrite => true)")
        assert diag.message_primary == 'churnml: permission denied to write to storage location "admin_only"'
        assert "'write'" in diag.message_hint
        # Aurora's functions go through the same checks
        refused(conn, "SELECT * FROM aws_s3.query_export_to_s3('SELECT 1 AS one', 'churnml', "
                      "'admin-only/customers.part_00000')")
        diag = refused(conn, "SELECT aws_s3.table_import_from_s3('landing_loader', '', '(format csv, header true)', "
                             "aws_commons.create_s3_uri('churnml', 'admin-only/customers.part_00000', 'us-east-1'))")
        # load_from_s3's error, through SPI, keeps one "churnml: " prefix
        assert diag.message_primary == 'churnml: permission denied to read storage location "admin_only"'
        assert diag.message_detail and diag.message_hint
        assert conn.execute("SELECT count(*) FROM landing_loader").fetchone()[0] == 0
    with S3Client(configured) as client:
        after = {k: b"".join(client.get_object(BUCKET, k)) for k in keys(client, "admin-only/")}
    assert after == before  # nothing overwritten, nothing deleted


def test_a_manifest_cannot_lead_a_load_outside_the_readers_grants(db: str, configured: S3Config) -> None:
    """A manifest written where the reader may read names a part in a location the reader may not:
    refused before any part is read (the part does not even exist: reading it would be 58P01)."""
    secret = b"4111,secret\n"
    manifest = Manifest(format="csv", compression="none", header=False,
                        columns=(Column("phone", "text"), Column("note", "text")),
                        parts=(ManifestPart("shared/forged/inner.csv", len(secret), 1,
                                            hashlib.sha256(secret).hexdigest()),))
    with S3Client(configured) as client:
        # the writer may write under shared/ (aws_s3.query_export_to_s3 can write any key there, a .manifest too)
        client.put_object(BUCKET, "shared/forged.manifest", manifest.to_json())
    with psycopg.connect(db, autocommit=True) as conn:
        conn.execute("SELECT churnml.create_storage_location('forged_inner', 's3://churnml/shared/forged/')")
    with as_role(db, "reader") as conn:
        conn.execute("CREATE TEMPORARY TABLE pairs (phone text, note text)")
        diag = refused(conn, "SELECT churnml.load_from_s3('pairs', 's3://churnml/shared/forged', mode => 'manifest')")
        assert 'storage location "forged_inner"' in diag.message_primary
        assert "s3://churnml/shared/forged/inner.csv (a part the manifest lists)" in diag.message_detail


def test_longest_prefix_wins_and_segments_are_whole(db: str, configured: S3Config) -> None:
    with S3Client(configured) as client:
        for key in ("shared/a.csv", "shared/inner/b.csv", "shared-secret/c.csv"):
            client.put_object(BUCKET, key, b"1,x\n")
    with psycopg.connect(db, autocommit=True) as conn:
        conn.execute("SELECT churnml.create_storage_location('shared_secret', 's3://churnml/shared-secret/')")
    with as_role(db, "reader") as conn:
        conn.execute("CREATE TEMPORARY TABLE pairs (n int, t text)")
        assert conn.execute("SELECT churnml.load_from_s3('pairs', 's3://churnml/shared/a.csv')").fetchone()[0] == 1
        # shared/inner/ is its own location, not granted: the longer prefix wins
        assert "shared_inner" in refused(conn, "SELECT churnml.load_from_s3('pairs', "
                                               "'s3://churnml/shared/inner/b.csv')").message_primary
        # a listing of shared/ would include inner/b.csv: refused before reading anything
        diag = refused(conn, "SELECT churnml.load_from_s3('pairs', 's3://churnml/shared/', mode => 'prefix')")
        assert "shared_inner" in diag.message_primary and "which a listing of s3://churnml/shared/ would include" \
            in diag.message_detail and "inner/b.csv" not in diag.message_detail  # no key of it is shown
        # "shared" does not cover "shared-secret", nor does a listing of "s3://churnml/shared" (it would list it)
        assert "shared_secret" in refused(conn, "SELECT churnml.load_from_s3('pairs', "
                                                "'s3://churnml/shared-secret/c.csv')").message_primary
        assert "no storage location covers s3://churnml/shared" in refused(
            conn, "SELECT churnml.load_from_s3('pairs', 's3://churnml/shared', mode => 'prefix')").message_primary
        assert conn.execute("SELECT count(*) FROM pairs").fetchone()[0] == 1


@pytest.mark.parametrize(("uri", "sqlstate"), [
    ("s3://churnml/shared/../admin-only/customers.part_00000", "22023"),
    ("s3://churnml/shared/%2e%2e/admin-only/customers.part_00000", "22023"),
    ("s3://churnml/shared/%2E%2e%2Fadmin-only/customers.part_00000", "22023"),
    ("s3://churnml/shared//a.csv", "22023"),
    ("s3://churnml/shared/./a.csv", "22023"),
    ("s3://CHURNML/shared/a.csv", "22023"),
    ("s3://churnml/shared\\..\\admin-only/x", "22023"),
    ("s3://churnml/admin-only/customers.part_00000", "42501"),
    ("s3://churnml/admin-only//customers.part_00000", "22023"),
    ("s3://churnml/shared", "42501"),  # an object named "shared" is not in shared/
    ("s3://other-bucket/shared/a.csv", "42501"),
    ("S3://churnml/shared/a.csv", None),  # the scheme is case-insensitive
])
def test_uri_tricks(db: str, uri: str, sqlstate: str | None) -> None:
    with as_role(db, "reader") as conn:
        conn.execute("CREATE TEMPORARY TABLE pairs (n int, t text)")
        if sqlstate is None:
            assert conn.execute("SELECT churnml.load_from_s3('pairs', %s)", (uri,)).fetchone()[0] == 1
            return
        with pytest.raises(psycopg.Error) as info:
            conn.execute("SELECT churnml.load_from_s3('pairs', %s)", (uri,))
        assert info.value.diag.sqlstate == sqlstate, (uri, info.value.diag.message_primary)
        assert info.value.diag.message_detail and info.value.diag.message_hint


def test_what_each_role_may_do(db: str, configured: S3Config) -> None:
    """Nothing is granted by default: not to churnml_admin, churnml_user or a role with nothing."""
    with S3Client(configured) as client:
        client.put_object(BUCKET, "shared/seed.csv", b"1,x\n")
    export = "SELECT * FROM churnml.export_query('SELECT 1 AS n', %s, overwrite => true)"
    for key, may_read, may_write in (("reader", True, False), ("writer", True, True), ("admin", True, True),
                                     ("loader", False, False), ("user", False, False), ("nothing", False, False)):
        with as_role(db, key) as conn:
            conn.execute("CREATE TEMPORARY TABLE pairs (n int, t text)")
            load = "SELECT churnml.load_from_s3('pairs', 's3://churnml/shared/seed.csv')"
            if may_read:
                assert conn.execute(load).fetchone()[0] == 1, key
            else:
                refused(conn, load)
            if may_write:
                assert conn.execute(export, (f"s3://churnml/shared/by-{key}",)).fetchone()[0] == 1, key
            else:
                refused(conn, export, (f"s3://churnml/shared/by-{key}",))
            # only churnml_admin declares and grants
            for call in ("SELECT churnml.create_storage_location('mine', 's3://churnml/mine/')",
                         "SELECT churnml.grant_storage('admin_only', 'read', current_user::regrole)",
                         "SELECT churnml.revoke_storage('shared', 'read', current_user::regrole)",
                         "SELECT churnml.drop_storage_location('shared')",
                         "INSERT INTO churnml.storage_grants (location, grantee, privilege) "
                         "VALUES ('admin_only', current_user::regrole, 'read')",
                         "DELETE FROM churnml.storage_locations"):
                if key == "admin":
                    continue
                refused(conn, call)
            # what a role sees: its own grants (a loader), everything (an admin), nothing (the others)
            if key in ("user", "nothing"):
                refused(conn, "SELECT * FROM churnml.storage_privileges")
                continue
            seen = conn.execute("SELECT grantee, location, privilege, applies_to_me FROM churnml.storage_privileges "
                                "ORDER BY 1, 2, 3").fetchall()
            if key == "admin":
                assert {g for g, *_ in seen} >= {name("reader"), name("writer"), name("admin")}
            else:
                assert {g for g, *_ in seen} <= {name(key)} and all(mine for *_, mine in seen)
                assert len(seen) == {"reader": 1, "writer": 2, "loader": 0}[key]


def test_admin_calls(db: str) -> None:
    with as_role(db, "admin") as conn:
        conn.execute("SET client_min_messages = warning")
        assert conn.execute("SELECT churnml.create_storage_location('admin_made', 'S3://Churnml/Made/By/Admin', "
                            "description => 'test')").fetchone()[0] == "s3://churnml/Made/By/Admin/"
        # idempotent with if_not_exists (make demo re-runs), an error without
        assert conn.execute("SELECT churnml.create_storage_location('admin_made', 's3://churnml/x/', "
                            "if_not_exists => true)").fetchone()[0] == "s3://churnml/Made/By/Admin/"
        for call, sqlstate in [
            ("SELECT churnml.create_storage_location('admin_made', 's3://churnml/x/')", "42710"),
            ("SELECT churnml.create_storage_location('copy', 's3://churnml/Made/By/Admin/')", "42710"),
            ("SELECT churnml.create_storage_location('Bad Name', 's3://churnml/y/')", "22023"),
            ("SELECT churnml.create_storage_location('bad', 's3://churnml/a/../b/')", "22023"),
            ("SELECT churnml.create_storage_location('bad', 's3://churnml/a/%2E%2E/b/')", "22023"),
            ("SELECT churnml.create_storage_location('bad', 's3://churnml/a//b/')", "22023"),
            ("SELECT churnml.create_storage_location('bad', 's3://ab/')", "22023"),
            ("SELECT churnml.create_storage_location('bad', 's3://' || repeat('a', 64) || '/')", "22023"),
            ("SELECT churnml.create_storage_location('bad', 'https://churnml/')", "22023"),
            ("SELECT churnml.create_storage_location('bad', 's3://churnml/y/', 'AKIAIOSFODNN7 secret!')", "22023"),
            ("SELECT churnml.grant_storage('admin_made', 'delete', current_user::regrole)", "22023"),
            ("SELECT churnml.grant_storage('no_such', 'read', current_user::regrole)", "42704"),
            ("SELECT churnml.grant_storage('admin_made', 'read', 'no_such_role_x')", "42704"),
            ("SELECT churnml.grant_storage('admin_made', 'read', NULL)", "22004"),
            ("SELECT churnml.drop_storage_location('no_such')", "42704"),
            # the table's constraints hold the normal form even for a direct INSERT
            ("INSERT INTO churnml.storage_locations (name, uri_prefix) VALUES ('direct', 's3://churnml/a')", "23514"),
            ("INSERT INTO churnml.storage_locations (name, uri_prefix) VALUES ('direct', 's3://Churnml/a/')",
             "23514"),
            ("INSERT INTO churnml.storage_locations (name, uri_prefix) VALUES ('direct', 's3://churnml/../')",
             "23514"),
            ("INSERT INTO churnml.storage_locations (name, uri_prefix) VALUES ('direct', 's3://churnml/%2e/')",
             "23514"),
        ]:
            with pytest.raises(psycopg.Error) as info:
                conn.execute(call)
            diag = info.value.diag
            assert diag.sqlstate == sqlstate, (call, diag.sqlstate, diag.message_primary)
            assert "secret" not in f"{diag.message_primary} {diag.message_detail}", call
            if sqlstate not in ("23514",):
                assert diag.message_primary.startswith("churnml: ") or sqlstate == "42704", call
                assert diag.message_primary[9:10].islower() or sqlstate == "42704", call
        conn.execute("SELECT churnml.drop_storage_location('no_such', if_exists => true)")
        # grants are idempotent, go to a group and its members, and are revoked one by one
        conn.execute("SELECT churnml.grant_storage('admin_made', 'read', 'churnml_loader')")
        conn.execute("SELECT churnml.grant_storage('admin_made', 'read', 'churnml_loader')")
        assert conn.execute("SELECT count(*) FROM churnml.storage_grants WHERE location = 'admin_made'"
                            ).fetchone()[0] == 1
        # the audit columns are the database's, whatever an admin writes
        conn.execute("INSERT INTO churnml.storage_grants (location, grantee, privilege, created_by, created_at) "
                     "VALUES ('admin_made', 'churnml_user', 'write', 'somebody_else', '2000-01-01')")
        assert conn.execute("SELECT created_by = current_user, created_at > now() - interval '1 hour' "
                            "FROM churnml.storage_grants WHERE grantee = 'churnml_user'::regrole").fetchone() == (
                                True, True)
        assert conn.execute("SELECT created_by = current_user FROM churnml.storage_locations "
                            "WHERE name = 'admin_made'").fetchone() == (True,)
    with as_role(db, "loader") as conn:  # a member of churnml_loader has the group's grant
        assert conn.execute("SELECT count(*) FROM churnml.storage_privileges WHERE location = 'admin_made' "
                            "AND applies_to_me").fetchone()[0] == 1
    with as_role(db, "admin") as conn:
        conn.execute("SELECT churnml.revoke_storage('admin_made', 'all', 'churnml_loader')")
        conn.execute("SELECT churnml.drop_storage_location('admin_made')")
        assert conn.execute("SELECT count(*) FROM churnml.storage_grants WHERE location = 'admin_made'"
                            ).fetchone()[0] == 0  # the grants went with it


def test_server_side_encryption_per_location(db: str, configured: S3Config) -> None:
    """A location's sse reaches every part and the manifest an export writes there (SSE-S3: the local
    SeaweedFS has no KMS; SSE-KMS's parameters are checked in tests/loaders/test_s3_client.py)."""
    import botocore.session

    with as_role(db, "admin") as conn:
        conn.execute("SET client_min_messages = warning")
        conn.execute("SELECT churnml.create_storage_location('encrypted', 's3://churnml/encrypted/', sse => 'AES256')")
        conn.execute("SELECT churnml.grant_storage('encrypted', 'read, write', %s)", (name("writer"),))
        for call, sqlstate in [
            ("SELECT churnml.create_storage_location('bad', 's3://churnml/z/', sse => 'aes256')", "22023"),
            ("SELECT churnml.create_storage_location('bad', 's3://churnml/z/', kms_key_id => 'alias/x')", "22023"),
            ("SELECT churnml.create_storage_location('bad', 's3://churnml/z/', sse => 'AES256', "
             "kms_key_id => 'alias/x')", "22023"),
            # a key id the table's CHECK would refuse is the function's own 22023, not a CHECK violation
            ("SELECT churnml.create_storage_location('bad', 's3://churnml/z/', sse => 'aws:kms', "
             "kms_key_id => 'arn:aws:kms:eu-west-1:111122223333:key/…')", "22023"),
            ("INSERT INTO churnml.storage_locations (name, uri_prefix, sse) VALUES ('direct', 's3://churnml/d/', "
             "'none')", "23514"),
            ("INSERT INTO churnml.storage_locations (name, uri_prefix, kms_key_id) VALUES ('direct', "
             "'s3://churnml/d/', 'alias/x')", "23514"),
        ]:
            with pytest.raises(psycopg.Error) as info:
                conn.execute(call)
            assert info.value.diag.sqlstate == sqlstate, (call, info.value.diag.message_primary)
        assert conn.execute("SELECT sse, kms_key_id FROM churnml.storage_locations WHERE name = 'encrypted'"
                            ).fetchone() == ("AES256", None)
    with as_role(db, "writer") as conn:
        rows, files, _ = conn.execute("SELECT * FROM churnml.export_query('SELECT i, repeat(''x'', 100) AS pad "
                                      "FROM generate_series(1, 300) AS i', 's3://churnml/encrypted/c', "
                                      "part_size => 10000)").fetchone()
        assert rows == 300 and files > 1
        conn.execute("CREATE TEMPORARY TABLE back (i int, pad text)")
        assert conn.execute("SELECT churnml.load_from_s3('back', 's3://churnml/encrypted/c', mode => 'manifest', "
                            "header => true)").fetchone()[0] == 300  # S3 decrypts for readers
    raw = botocore.session.Session().create_client(
        "s3", endpoint_url=configured.endpoint, region_name="us-east-1", aws_access_key_id=configured.access_key_id,
        aws_secret_access_key=configured.secret_access_key)
    written = [o["Key"] for o in raw.list_objects_v2(Bucket=BUCKET, Prefix="encrypted/c")["Contents"]]
    assert len(written) == files + 1 and "encrypted/c.manifest" in written
    for key in written:
        assert raw.head_object(Bucket=BUCKET, Key=key).get("ServerSideEncryption") == "AES256", key


def test_superusers_need_a_location_but_no_grant(db: str) -> None:
    with as_role(db, None) as conn:
        conn.execute("SELECT * FROM churnml.export_query('SELECT 1 AS n', 's3://churnml/admin-only/su', "
                     "overwrite => true)")
        diag = refused(conn, "SELECT * FROM churnml.export_query('SELECT 1 AS n', 's3://churnml/nowhere/x')")
        assert diag.message_primary == "churnml: no storage location covers s3://churnml/nowhere/x"
        assert "churnml.create_storage_location('name', 's3://churnml/nowhere/')" in diag.message_hint


def test_named_credentials(db: str, configured: S3Config, server_url: str, files_dir: Path) -> None:
    """A location uses the credential it names; one the server lacks is 42704, a wrong one is the storage's 28000."""
    with psycopg.connect(db, autocommit=True) as conn:
        conn.execute("SET client_min_messages = warning")
        conn.execute("SELECT churnml.create_storage_location('marketing', 's3://churnml/marketing/', 'marketing')")
        conn.execute("SELECT churnml.create_storage_location('other', 's3://churnml/other/', 'other')")
        conn.execute("CREATE TEMPORARY TABLE pairs (n int, t text)")
        diag = None
        with pytest.raises(psycopg.errors.UndefinedObject) as missing:
            conn.execute("SELECT * FROM churnml.export_query('SELECT 1', 's3://churnml/marketing/x')")
        diag = missing.value.diag
        assert 'credential "marketing" of storage location "marketing"' in diag.message_primary
        wrong = dataclasses.replace(configured, secret_access_key="not-the-secret-at-all")
        write_server_config(server_url, configured, files_dir, others={"marketing": configured, "other": wrong})
        try:
            rows = conn.execute("SELECT * FROM churnml.export_query('SELECT 1 AS n, ''x'' AS t', "
                                "'s3://churnml/marketing/x', header => false)").fetchone()[0]
            assert rows == 1
            assert conn.execute("SELECT churnml.load_from_s3('pairs', 's3://churnml/marketing/x', "
                                "mode => 'manifest')").fetchone()[0] == 1
            with pytest.raises(psycopg.Error) as refused_key:
                conn.execute("SELECT * FROM churnml.export_query('SELECT 1', 's3://churnml/other/x')")
            assert refused_key.value.diag.sqlstate == "28000"
            assert "not-the-secret-at-all" not in str(refused_key.value)
        finally:
            write_server_config(server_url, configured, files_dir)


def test_file_uris_need_a_location_too(db: str, files_dir: Path) -> None:
    with as_role(db, None) as conn:
        target = f"file://{files_dir}/storage-test.csv"
        assert "no storage location covers" in refused(
            conn, "SELECT * FROM churnml.export_query('SELECT 1 AS n', %s, overwrite => true)", (target,)
        ).message_primary
        conn.execute("SELECT churnml.create_storage_location('files', %s)", (f"file://{files_dir}",))
        conn.execute("SELECT * FROM churnml.export_query('SELECT 1 AS n', %s, overwrite => true)", (target,))
    with as_role(db, "admin") as conn:  # an admin may use file:// URIs, but only with a grant
        conn.execute("CREATE TEMPORARY TABLE one (n int)")
        assert "files" in refused(conn, "SELECT churnml.load_from_s3('one', %s, header => true)",
                                  (target,)).message_primary
    with psycopg.connect(db, autocommit=True) as conn:
        conn.execute("SELECT churnml.grant_storage('files', 'read', %s)", (name("admin"),))
    with as_role(db, "admin") as conn:
        conn.execute("CREATE TEMPORARY TABLE one (n int)")
        assert conn.execute("SELECT churnml.load_from_s3('one', %s, header => true)", (target,)).fetchone()[0] == 1


def test_copy_to_spool_refuses_a_data_modifying_with_query(db: str) -> None:
    """The C half refuses what export_query refuses, when a loader calls it directly (42809), and changes nothing."""
    with psycopg.connect(db, autocommit=True) as conn:
        conn.execute("CREATE TABLE spool_victim (a int)")
        conn.execute("INSERT INTO spool_victim SELECT generate_series(1, 5)")
        conn.execute(sql.SQL("GRANT SELECT, DELETE ON spool_victim TO {}").format(sql.Identifier(name("loader"))))
    with as_role(db, "loader") as conn:
        for query in ("WITH d AS (DELETE FROM spool_victim RETURNING *) SELECT * FROM d",
                      "WITH d AS (DELETE FROM spool_victim RETURNING *) SELECT 1",
                      "WITH x AS (SELECT 1), d AS (UPDATE spool_victim SET a = 0 RETURNING *) SELECT * FROM d"):
            with pytest.raises(psycopg.errors.WrongObjectType) as info:
                conn.execute("SELECT * FROM churnml._copy_to_spool(%s, 'csv', churnml._spool_file())", (query,))
            assert "not a SELECT" in info.value.diag.message_primary and info.value.diag.message_hint
        assert conn.execute("SELECT count(*), sum(a) FROM spool_victim").fetchone() == (5, 15)


def test_pg_dump_keeps_locations_and_grants(db: str, make_database: Callable[..., str], server_url: str) -> None:
    """Both tables are configuration tables: a restore brings back the locations, the grants (by role
    name) and who made them, and the restored grants work."""
    with psycopg.connect(db, autocommit=True) as conn:
        conn.execute("SELECT churnml.create_storage_location('dumped', 's3://churnml/dumped/', "
                     "description => 'kept by pg_dump')")
        conn.execute("SELECT churnml.grant_storage('dumped', 'read, write', %s)", (name("reader"),))
        before = conn.execute("SELECT name, uri_prefix, credential, description, created_by, created_at "
                              "FROM churnml.storage_locations ORDER BY name").fetchall()
        grants = conn.execute("SELECT location, grantee::text, privilege, created_by, created_at "
                              "FROM churnml.storage_grants ORDER BY 1, 2, 3").fetchall()
    target = make_database("storage_restored", extension=False)
    try:
        restored = dump_and_restore(db, target)
        assert restored.returncode == 0, restored.stderr.decode()[-2000:]
        with psycopg.connect(target, autocommit=True) as conn:
            assert conn.execute("SELECT name, uri_prefix, credential, description, created_by, created_at "
                                "FROM churnml.storage_locations ORDER BY name").fetchall() == before
            assert conn.execute("SELECT location, grantee::text, privilege, created_by, created_at "
                                "FROM churnml.storage_grants ORDER BY 1, 2, 3").fetchall() == grants
        with as_role(target, "reader") as conn:
            assert conn.execute("SELECT count(*) FROM churnml.storage_privileges WHERE location = 'dumped'"
                                ).fetchone()[0] == 2
    finally:  # it holds objects of this module's roles, which the module drops at its end
        with psycopg.connect(server_url, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                sql.Identifier(target.rsplit("/", 1)[1])))
