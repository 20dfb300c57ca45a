-- Install only (see sql/README.md): CREATE EXTENSION runs this file, an update does not.
-- After a release, a change here needs its delta in sql/aws/upgrades/.
-- churnml_aws: Aurora ML's SQL surface on churnml, so Aurora queries run unchanged.
-- The schemas carry Aurora's names; every function delegates to churnml, runs inside
-- this server and calls no AWS service. Roles come from churnml: churnml_user may
-- score and detect sentiment, churnml_loader may export and import.

CREATE SCHEMA aws_commons;
CREATE SCHEMA aws_comprehend;
CREATE SCHEMA aws_sagemaker;
CREATE SCHEMA aws_s3;
