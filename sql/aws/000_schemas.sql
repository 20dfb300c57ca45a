-- churnml_aws: Aurora ML's SQL surface on churnml, so Aurora queries run unchanged.
-- The schemas carry Aurora's names; every function delegates to churnml, runs inside
-- this server and calls no AWS service. Roles come from churnml: churnml_user may
-- score and detect sentiment, churnml_loader may export and import.

COMMENT ON SCHEMA aws_commons IS 'churnml_aws: Aurora''s aws_commons types and constructors (S3 locations).';
COMMENT ON SCHEMA aws_comprehend IS 'churnml_aws: Aurora''s aws_comprehend.detect_sentiment, answered by churnml.detect_sentiment.';
COMMENT ON SCHEMA aws_sagemaker IS 'churnml_aws: Aurora''s aws_sagemaker.invoke_endpoint, answered by models deployed in churnml.';
COMMENT ON SCHEMA aws_s3 IS 'churnml_aws: Aurora''s aws_s3 export and import, done by churnml.export_query and churnml.load_from_s3.';
