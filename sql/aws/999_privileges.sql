-- Nothing here is executable by PUBLIC. Scoring and sentiment go to churnml_user,
-- export and import to churnml_loader, as their churnml counterparts.
REVOKE ALL ON ALL FUNCTIONS IN SCHEMA aws_commons, aws_comprehend, aws_sagemaker, aws_s3 FROM PUBLIC;
REVOKE ALL ON FUNCTION
    @extschema@.aws_comprehend_detect_sentiment(text, text, int),
    @extschema@.aws_comprehend_detect_sentiment_confidence(text, text, int)
FROM PUBLIC;

GRANT USAGE ON SCHEMA aws_commons, aws_comprehend, aws_sagemaker TO churnml_user;
GRANT USAGE ON SCHEMA aws_commons, aws_s3 TO churnml_loader;
GRANT EXECUTE ON FUNCTION
    aws_comprehend.detect_sentiment(varchar, varchar, int),
    aws_sagemaker._invoke_endpoint(text, int, text[]),
    aws_sagemaker.invoke_endpoint(varchar, int, "any"),
    @extschema@.aws_comprehend_detect_sentiment(text, text, int),
    @extschema@.aws_comprehend_detect_sentiment_confidence(text, text, int)
TO churnml_user;
GRANT EXECUTE ON FUNCTION
    aws_commons.create_s3_uri(text, text, text),
    aws_commons.create_aws_credentials(text, text, text),
    aws_s3._query_export_to_s3(text, aws_commons._s3_uri_1, text, text),
    aws_s3.query_export_to_s3(text, aws_commons._s3_uri_1, text),
    aws_s3.query_export_to_s3(text, text, text, text, text),
    aws_s3._table_import_from_s3(text, text, text, aws_commons._s3_uri_1, text),
    aws_s3.table_import_from_s3(text, text, text, aws_commons._s3_uri_1),
    aws_s3.table_import_from_s3(text, text, text, text, text, text),
    aws_s3.table_import_from_s3(text, text, text, aws_commons._s3_uri_1, aws_commons._aws_credentials_1),
    aws_s3.table_import_from_s3(text, text, text, text, text, text, text, text, text)
TO churnml_loader;
