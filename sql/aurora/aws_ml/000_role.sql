-- aws_ml: Aurora PostgreSQL's machine learning extension name. churnml_aws (required through
-- aws_commons) holds aws_comprehend.detect_sentiment and aws_sagemaker.invoke_endpoint; this
-- extension creates what Aurora's does besides: "the aws_ml administrative role", granted to
-- the administrators (Aurora: rds_superuser; churnml: churnml_admin), who grant EXECUTE on.
--
-- The role is what a caller of those functions needs: they answer inside churnml, with the
-- caller's own privileges there (an invoke_endpoint reads the deployed model), so aws_ml is a
-- churnml_user: GRANT aws_ml TO app. churnml_admin holds it WITH ADMIN OPTION, so that an
-- administrator who is not a superuser can grant it on. (Not EXECUTE WITH GRANT OPTION: in
-- PostgreSQL 15, DROP OWNED BY does not revoke what a non-owner granted, so a role given
-- EXECUTE by a member of aws_ml could not be dropped without REVOKE ... GRANTED BY aws_ml.)
-- Aurora's own GRANT USAGE / GRANT EXECUTE statements, run by a superuser, work as on Aurora.
-- Roles are cluster-wide: DROP EXTENSION aws_ml keeps it, as DROP EXTENSION churnml keeps
-- churnml_user. Re-runnable (sql/README.md).
DO $role$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname OPERATOR(pg_catalog.=) 'aws_ml') THEN
        CREATE ROLE aws_ml NOLOGIN;
    END IF;
    IF NOT pg_catalog.pg_has_role('aws_ml', 'churnml_user', 'MEMBER') THEN
        GRANT churnml_user TO aws_ml;
    END IF;
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_auth_members m
                   WHERE m.roleid OPERATOR(pg_catalog.=) 'aws_ml'::pg_catalog.regrole
                     AND m.member OPERATOR(pg_catalog.=) 'churnml_admin'::pg_catalog.regrole AND m.admin_option) THEN
        GRANT aws_ml TO churnml_admin WITH ADMIN OPTION;
    END IF;
END
$role$;
