-- Install only (see sql/README.md): CREATE EXTENSION runs this file, an update does not.
-- After a release, a change here needs its delta in sql/upgrades/.
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

CREATE TABLE churnml.storage_locations (
    name        text PRIMARY KEY
                CONSTRAINT storage_location_name CHECK (name OPERATOR(pg_catalog.~) '^[a-z][a-z0-9_]{0,62}$'),
    uri_prefix  text NOT NULL UNIQUE
                CONSTRAINT storage_location_prefix CHECK (
                    pg_catalog.octet_length(uri_prefix) OPERATOR(pg_catalog.<=) 1100
                    AND (uri_prefix OPERATOR(pg_catalog.~) '^s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]/([^/]+/)*$'
                         OR uri_prefix OPERATOR(pg_catalog.~) '^file:///([^/]+/)*$')
                    AND uri_prefix OPERATOR(pg_catalog.!~) '^s3://[^/]*(\.\.|\.-|-\.)'
                    AND uri_prefix OPERATOR(pg_catalog.!~) '/\.\.?/'
                    AND uri_prefix OPERATOR(pg_catalog.!~) '[[:cntrl:]\\]'
                    AND uri_prefix OPERATOR(pg_catalog.!~*) '%(2e|2f|5c)'),
    credential  text NOT NULL DEFAULT 'default'
                CONSTRAINT storage_location_credential CHECK (credential OPERATOR(pg_catalog.~) '^[A-Za-z0-9_.-]{1,64}$'),
    sse         text
                CONSTRAINT storage_location_sse CHECK (sse OPERATOR(pg_catalog.=) ANY (ARRAY['AES256', 'aws:kms'])),
    kms_key_id  text
                CONSTRAINT storage_location_kms_key CHECK (kms_key_id IS NULL OR (
                    sse IS NOT NULL AND sse OPERATOR(pg_catalog.=) 'aws:kms' AND kms_key_id OPERATOR(pg_catalog.~) '^[A-Za-z0-9:/_.-]+$'
                    AND pg_catalog.length(kms_key_id) OPERATOR(pg_catalog.<=) 2048)),
    description text,
    created_by  name NOT NULL DEFAULT CURRENT_USER,
    created_at  timestamptz NOT NULL DEFAULT pg_catalog.now()
);
SELECT pg_catalog.pg_extension_config_dump('churnml.storage_locations', '');

CREATE TABLE churnml.storage_grants (
    location    text NOT NULL REFERENCES churnml.storage_locations (name) ON UPDATE CASCADE ON DELETE CASCADE,
    grantee     regrole NOT NULL,
    privilege   text NOT NULL
                CONSTRAINT storage_grant_privilege CHECK (privilege OPERATOR(pg_catalog.=) ANY (ARRAY['read', 'write'])),
    created_by  name NOT NULL DEFAULT CURRENT_USER,
    created_at  timestamptz NOT NULL DEFAULT pg_catalog.now(),
    PRIMARY KEY (location, grantee, privilege)
);
SELECT pg_catalog.pg_extension_config_dump('churnml.storage_grants', '');

ALTER TABLE churnml.storage_grants ENABLE ROW LEVEL SECURITY;
CREATE POLICY grantees_and_admins ON churnml.storage_grants
    USING (pg_catalog.pg_has_role('churnml_admin', 'USAGE')
           OR grantee::pg_catalog.oid OPERATOR(pg_catalog.=) ANY (ARRAY(
               SELECT r.oid FROM pg_catalog.pg_roles AS r WHERE pg_catalog.pg_has_role(r.oid, 'USAGE'))))
    WITH CHECK (pg_catalog.pg_has_role('churnml_admin', 'USAGE'));
