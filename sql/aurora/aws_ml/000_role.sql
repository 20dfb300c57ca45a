-- aws_ml: Aurora PostgreSQL's machine learning extension name. churnml_aws (required through
-- aws_commons) holds aws_comprehend.detect_sentiment and aws_sagemaker.invoke_endpoint; this
-- extension creates what Aurora's does besides: "the aws_ml administrative role", granted to
-- the administrators (Aurora: rds_superuser; churnml: churnml_admin), who grant EXECUTE on.
--
-- The role is what a caller of those functions needs: they answer inside churnml, with the
-- caller's own privileges there (an invoke_endpoint reads the deployed model), so aws_ml is a
-- churnml_user; and it holds USAGE and EXECUTE WITH GRANT OPTION, so that a member who is not
-- a superuser can run Aurora's GRANT statements. Roles are cluster-wide: DROP EXTENSION aws_ml
-- keeps it, as DROP EXTENSION churnml keeps churnml_user. Re-runnable (sql/README.md).
DO $role$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname OPERATOR(pg_catalog.=) 'aws_ml') THEN
        CREATE ROLE aws_ml NOLOGIN;
    END IF;
    IF NOT pg_catalog.pg_has_role('aws_ml', 'churnml_user', 'MEMBER') THEN
        GRANT churnml_user TO aws_ml;
    END IF;
    IF NOT pg_catalog.pg_has_role('churnml_admin', 'aws_ml', 'MEMBER') THEN
        GRANT aws_ml TO churnml_admin;
    END IF;
END
$role$;

GRANT USAGE ON SCHEMA aws_commons, aws_comprehend, aws_sagemaker TO aws_ml WITH GRANT OPTION;
GRANT EXECUTE ON FUNCTION
    aws_comprehend.detect_sentiment(varchar, varchar, int),
    aws_sagemaker.invoke_endpoint(varchar, int, "any"),
    aws_commons.create_s3_uri(text, text, text)
TO aws_ml WITH GRANT OPTION;
