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
--
-- An aws_ml role that already exists (restored Aurora globals, or made by hand) is taken over only
-- when it is what this script would make: NOLOGIN, no attribute, a member of no role but
-- churnml_user. Else churnml_admin would be handed, WITH ADMIN OPTION, whatever it holds (say
-- pg_execute_server_program): CREATE EXTENSION refuses and says what to change.
DO $role$
DECLARE
    extra text;
BEGIN
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname OPERATOR(pg_catalog.=) 'aws_ml') THEN
        CREATE ROLE aws_ml NOLOGIN;
    ELSE
        SELECT pg_catalog.concat_ws(', ',
                   CASE WHEN r.rolsuper THEN 'SUPERUSER' END, CASE WHEN r.rolcanlogin THEN 'LOGIN' END,
                   CASE WHEN r.rolcreaterole THEN 'CREATEROLE' END, CASE WHEN r.rolcreatedb THEN 'CREATEDB' END,
                   CASE WHEN r.rolreplication THEN 'REPLICATION' END, CASE WHEN r.rolbypassrls THEN 'BYPASSRLS' END,
                   (SELECT pg_catalog.string_agg('member of ' OPERATOR(pg_catalog.||) g.rolname::pg_catalog.text,
                                                 ', ' ORDER BY g.rolname)
                    FROM pg_catalog.pg_auth_members AS m JOIN pg_catalog.pg_roles AS g ON g.oid OPERATOR(pg_catalog.=) m.roleid
                    WHERE m.member OPERATOR(pg_catalog.=) r.oid AND g.rolname OPERATOR(pg_catalog.<>) 'churnml_user'))
          INTO extra
        FROM pg_catalog.pg_roles AS r WHERE r.rolname OPERATOR(pg_catalog.=) 'aws_ml';
        IF extra OPERATOR(pg_catalog.<>) '' THEN
            RAISE EXCEPTION USING
                ERRCODE = '42710',
                MESSAGE = 'churnml: role "aws_ml" already exists with more than the aws_ml role may hold',
                DETAIL = pg_catalog.format('It has: %s. CREATE EXTENSION aws_ml grants aws_ml to churnml_admin '
                                           'WITH ADMIN OPTION, so it must be a NOLOGIN role holding nothing but '
                                           'churnml_user.', extra),
                HINT = 'Revoke those from aws_ml (ALTER ROLE aws_ml NOLOGIN NOSUPERUSER ...; REVOKE ... FROM '
                       'aws_ml), or drop the role, then CREATE EXTENSION aws_ml again.';
        END IF;
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
