-- Two roles, created once per cluster (roles are cluster-wide: DROP EXTENSION keeps them).
--   churnml_user   scoring, sentiment, recommendations, the call-center function
--   churnml_admin  training, deploys, rules, settings (also a churnml_user and a churnml_loader)
--   churnml_loader export_query / load_from_s3 (object storage in and out)
DO $roles$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname OPERATOR(pg_catalog.=) 'churnml_user') THEN
        CREATE ROLE churnml_user NOLOGIN;
    END IF;
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname OPERATOR(pg_catalog.=) 'churnml_admin') THEN
        CREATE ROLE churnml_admin NOLOGIN;
    END IF;
    IF NOT pg_catalog.pg_has_role('churnml_admin', 'churnml_user', 'MEMBER') THEN
        GRANT churnml_user TO churnml_admin;
    END IF;
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname OPERATOR(pg_catalog.=) 'churnml_loader') THEN
        CREATE ROLE churnml_loader NOLOGIN;
    END IF;
    IF NOT pg_catalog.pg_has_role('churnml_admin', 'churnml_loader', 'MEMBER') THEN
        GRANT churnml_loader TO churnml_admin;
    END IF;
END
$roles$;

GRANT USAGE ON SCHEMA churnml TO churnml_user, churnml_loader;
GRANT EXECUTE ON FUNCTION churnml.version() TO churnml_user;
GRANT EXECUTE ON FUNCTION churnml.runtime_info() TO churnml_admin;
-- Internal helpers that churnml's Python calls as the caller, for every role.
GRANT EXECUTE ON FUNCTION churnml._checked_batch(anyarray, text), churnml._check_select(text, text)
TO churnml_user, churnml_loader;
-- Progress: each backend's churnml work writes its own (churnml._progress_file), and every
-- churnml role may read churnml.progress, which shows others' detail as pg_stat_activity would.
GRANT EXECUTE ON FUNCTION churnml._progress_file(), churnml._progress() TO churnml_user, churnml_loader;
GRANT SELECT ON churnml.progress TO churnml_user, churnml_loader;
