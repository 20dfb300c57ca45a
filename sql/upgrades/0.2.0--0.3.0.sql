-- churnml 0.2.0 -> 0.3.0: what an update cannot get by re-running the 0.3.0 install
-- script's functions, views, comments and grants (see extension/tools/build_upgrades.py).

-- Storage locations and their grants (sql/490_storage_locations.sql): new configuration
-- tables, their row-level security policy and audit triggers. The trigger function is
-- created here so the triggers can name it; the replayed install script re-creates it
-- identically. An updated database has no location: every export and load is refused
-- (42501, with the calls an administrator runs in the hint) until one is declared and
-- granted (docs/install.md, "Upgrading").
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
CREATE FUNCTION churnml._storage_audit() RETURNS trigger
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
CREATE TRIGGER audit BEFORE INSERT OR UPDATE ON churnml.storage_locations
    FOR EACH ROW EXECUTE FUNCTION churnml._storage_audit();
CREATE TRIGGER audit BEFORE INSERT OR UPDATE ON churnml.storage_grants
    FOR EACH ROW EXECUTE FUNCTION churnml._storage_audit();
