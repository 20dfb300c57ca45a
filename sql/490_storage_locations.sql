-- Storage locations: where export_query, load_from_s3 and aws_s3 may read and write, and who
-- may — declared by an administrator and granted per role, in the spirit of Aurora's
-- per-feature IAM roles and Snowflake's storage integrations, but checked inside the
-- database. Without a grant, a loader reaches no object storage at all: the server's
-- credentials are not the caller's (docs/security.md, "Object storage").
--
-- A location is a name, a URI prefix in normal form (s3://bucket/ or s3://bucket/some/prefix/,
-- file:///directory/; always ending in "/", so prefix matching is on whole path segments) and
-- the name of a credential in the server's $PGDATA/churnml/s3.json. Credentials never appear in
-- SQL: only their names. Both tables are configuration tables (pg_extension_config_dump), so
-- pg_dump keeps their rows and pg_restore brings them back.

COMMENT ON TABLE churnml.storage_locations IS
'Where churnml may read and write object storage: each location is a name, a URI prefix in normal form (s3://bucket/, s3://bucket/some/prefix/ or file:///directory/, always ending in "/", lowercase scheme and bucket, no empty, "." or ".." segment, no percent-encoded ".", "/" or "\") and the name of a credential in the server''s $PGDATA/churnml/s3.json. Every URI an export or load touches is covered by the location with the longest matching prefix, on which the caller needs read (load, list) or write (export, overwrite): churnml.grant_storage. Written by churnml.create_storage_location and drop_storage_location (churnml_admin); readable by churnml_loader, so a refusal can name the location to ask for.';
COMMENT ON COLUMN churnml.storage_locations.credential IS
'The name of a credential in the server''s $PGDATA/churnml/s3.json ("credentials": {"default": {...}, ...}); the credential itself never appears in SQL. ''default'' is also churnml 0.2.0''s single credential and the server''s environment.';
COMMENT ON COLUMN churnml.storage_locations.sse IS
'Server-side encryption of every object churnml writes there: NULL (the bucket''s default), ''AES256'' (SSE-S3, keys the storage manages) or ''aws:kms'' (SSE-KMS, with kms_key_id or the account''s default KMS key). Reads need no setting: S3 decrypts for whoever may read.';
COMMENT ON COLUMN churnml.storage_locations.kms_key_id IS
'With sse ''aws:kms'': the KMS key id, alias or ARN the objects are encrypted with (NULL: the default KMS key). An identifier, not a secret; the credential must be allowed to use the key.';
COMMENT ON COLUMN churnml.storage_locations.created_by IS
'Who declared the location, set by the database (a trigger) for everyone but a superuser (whose pg_restore keeps the recorded value).';
COMMENT ON TABLE churnml.storage_grants IS
'Who may use which storage location: read (load_from_s3, table_import_from_s3, prefix listings, manifests and their parts) or write (export_query, query_export_to_s3, overwriting). A role has a grant made to it or to a role whose privileges it inherits. Written by churnml.grant_storage and revoke_storage (churnml_admin). Row-level security: members of churnml_admin see every row, anyone else only the grants that apply to them.';
COMMENT ON COLUMN churnml.storage_grants.grantee IS
'The role (regrole: pg_dump writes its name, so a restore needs the role to exist, as for GRANT). A dropped role''s grants stay, shown as its OID, and apply to nobody; revoke_storage removes them.';

CREATE OR REPLACE FUNCTION churnml._storage_audit() RETURNS trigger
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    -- A superuser's values stand (pg_restore brings back who declared or granted what, and when);
    -- anyone else is recorded as who they are, now, and cannot rewrite the record later.
    IF NOT coalesce((SELECT r.rolsuper FROM pg_catalog.pg_roles AS r
                     WHERE r.rolname OPERATOR(pg_catalog.=) CURRENT_USER), false) THEN
        IF TG_OP OPERATOR(pg_catalog.=) 'UPDATE' THEN
            NEW.created_by := OLD.created_by;
            NEW.created_at := OLD.created_at;
        ELSE
            NEW.created_by := CURRENT_USER;
            NEW.created_at := pg_catalog.now();
        END IF;
    END IF;
    RETURN NEW;
END
$$;
COMMENT ON FUNCTION churnml._storage_audit() IS
'Internal trigger: created_by and created_at of storage locations and grants are set by the database (the acting role and now; kept on UPDATE), except for a superuser, so that pg_restore keeps the recorded values.';
CREATE OR REPLACE TRIGGER audit BEFORE INSERT OR UPDATE ON churnml.storage_locations
    FOR EACH ROW EXECUTE FUNCTION churnml._storage_audit();
CREATE OR REPLACE TRIGGER audit BEFORE INSERT OR UPDATE ON churnml.storage_grants
    FOR EACH ROW EXECUTE FUNCTION churnml._storage_audit();

CREATE OR REPLACE VIEW churnml.storage_privileges WITH (security_invoker = true) AS
SELECT g.location, l.uri_prefix, l.credential, g.grantee::pg_catalog.text AS grantee, g.privilege,
       g.grantee::pg_catalog.oid OPERATOR(pg_catalog.=) ANY (ARRAY(
           SELECT r.oid FROM pg_catalog.pg_roles AS r WHERE pg_catalog.pg_has_role(r.oid, 'USAGE'))) AS applies_to_me,
       g.created_by AS granted_by, g.created_at AS granted_at
FROM churnml.storage_grants AS g
JOIN churnml.storage_locations AS l ON l.name OPERATOR(pg_catalog.=) g.location;
COMMENT ON VIEW churnml.storage_privileges IS
'The storage grants the reader can see, with each location''s prefix: for a loader, what it may use (applies_to_me: granted to it or to a role whose privileges it inherits); for a member of churnml_admin, who has what. Runs with the reader''s rights (security_invoker), so row-level security on churnml.storage_grants decides what it shows.';

CREATE OR REPLACE FUNCTION churnml.create_storage_location(
    name text,
    uri_prefix text,
    credential text DEFAULT 'default',
    description text DEFAULT NULL,
    if_not_exists boolean DEFAULT false,
    sse text DEFAULT NULL,
    kms_key_id text DEFAULT NULL
) RETURNS text
LANGUAGE plpython3u VOLATILE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS $$
import churnml.sql_api.storage as api
return api.create_location(plpy, '@EXTVERSION@', name, uri_prefix, credential, description, if_not_exists, sse,
                           kms_key_id)
$$;
COMMENT ON FUNCTION churnml.create_storage_location(text, text, text, text, boolean, text, text) IS
'Declare a storage location (churnml_admin): a name (lowercase letters, digits, _), a URI prefix (s3://bucket/, s3://bucket/some/prefix/, or file:///directory/ for the admin-only file:// URIs, still bound by file_root) and the name of the server-side credential it uses (default ''default''; credentials themselves are configured in $PGDATA/churnml/s3.json, never in SQL). The prefix is normalised (lowercase scheme and bucket, a trailing "/"; "..", "//" and percent-encoded separators refused). Grants nothing: see churnml.grant_storage. With if_not_exists, an existing location of that name is left as it is (a NOTICE says so). sse (''AES256'' for SSE-S3, ''aws:kms'' for SSE-KMS) and kms_key_id set the server-side encryption of every object churnml writes there. Returns the normalised prefix.';

CREATE OR REPLACE FUNCTION churnml.drop_storage_location(name text, if_exists boolean DEFAULT false) RETURNS void
LANGUAGE plpython3u VOLATILE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS $$
import churnml.sql_api.storage as api
return api.drop_location(plpy, '@EXTVERSION@', name, if_exists)
$$;
COMMENT ON FUNCTION churnml.drop_storage_location(text, boolean) IS
'Remove a storage location and every grant on it (churnml_admin). Objects in storage are not touched; exports and loads under its prefix are refused from then on (unless a shorter location covers them). With if_exists, a missing location is a NOTICE, not an error.';

CREATE OR REPLACE FUNCTION churnml.grant_storage(location text, privilege text, to_role regrole) RETURNS void
LANGUAGE plpython3u VOLATILE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS $$
import churnml.sql_api.storage as api
return api.grant(plpy, '@EXTVERSION@', location, privilege, to_role)
$$;
COMMENT ON FUNCTION churnml.grant_storage(text, text, regrole) IS
'Let a role (and every role that inherits its privileges) use a storage location (churnml_admin): privilege ''read'' (load_from_s3, table_import_from_s3, prefix listings, manifests), ''write'' (export_query, query_export_to_s3, overwrite) or both (''read, write'' or ''all''). The role still needs churnml_loader, and SELECT or INSERT on the tables. Granting again is no change.';

CREATE OR REPLACE FUNCTION churnml.revoke_storage(location text, privilege text, from_role regrole) RETURNS void
LANGUAGE plpython3u VOLATILE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS $$
import churnml.sql_api.storage as api
return api.revoke(plpy, '@EXTVERSION@', location, privilege, from_role)
$$;
COMMENT ON FUNCTION churnml.revoke_storage(text, text, regrole) IS
'Take back what churnml.grant_storage gave (churnml_admin): ''read'', ''write'', both or ''all''. Only the grant made to that role goes; a role may still have the privilege through another role it inherits from (churnml.storage_privileges shows it). Revoking what was not granted is no change.';

GRANT SELECT ON churnml.storage_locations, churnml.storage_grants, churnml.storage_privileges TO churnml_loader;
GRANT INSERT, UPDATE, DELETE ON churnml.storage_locations, churnml.storage_grants TO churnml_admin;
GRANT EXECUTE ON FUNCTION
    churnml.create_storage_location(text, text, text, text, boolean, text, text),
    churnml.drop_storage_location(text, boolean),
    churnml.grant_storage(text, text, regrole),
    churnml.revoke_storage(text, text, regrole)
TO churnml_admin;
