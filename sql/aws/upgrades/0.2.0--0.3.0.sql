-- churnml_aws 0.2.0 -> 0.3.0: what an update cannot get by re-running the 0.3.0 install
-- script's re-runnable files (functions, views, triggers, comments, grants; see sql/README.md).

-- Aurora's signatures without churnml's hidden arguments (the engine is read from the
-- churnml.sentiment_engine setting, the statement start from the server): the old forms
-- go, the replayed install script creates the new ones.
-- (IF EXISTS: an update from 0.1.0 never ran 0.2.0's re-runnable files, which made some of these.)
DROP FUNCTION IF EXISTS aws_comprehend.detect_sentiment(varchar, varchar, int, text);
DROP FUNCTION IF EXISTS aws_sagemaker._invoke_endpoint(text, int, text[], float8);
-- The aws_s3 functions without _search_path: exactly Aurora's signatures. The forms taking
-- bucket, file_path and region call the s3_info forms: dropped first.
DROP FUNCTION IF EXISTS aws_s3.query_export_to_s3(text, text, text, text, text, text);
DROP FUNCTION IF EXISTS aws_s3.query_export_to_s3(text, aws_commons._s3_uri_1, text, text);
DROP FUNCTION IF EXISTS aws_s3.table_import_from_s3(text, text, text, text, text, text, text);
DROP FUNCTION IF EXISTS aws_s3.table_import_from_s3(text, text, text, aws_commons._s3_uri_1, text);
