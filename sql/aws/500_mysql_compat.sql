-- Aurora MySQL's scalar sentiment functions, as the walkthrough calls them:
-- aws_comprehend_detect_sentiment(message, 'en'). They live in the schema the
-- extension is created in (CREATE EXTENSION churnml_aws [SCHEMA s]; by default the
-- first schema of the search_path, usually public), so unqualified calls resolve.

CREATE OR REPLACE FUNCTION @extschema@.aws_comprehend_detect_sentiment(
    input_text text, language_code text, max_batch_size int DEFAULT NULL
) RETURNS varchar
LANGUAGE sql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$ SELECT d.sentiment FROM aws_comprehend.detect_sentiment(input_text, language_code, max_batch_size) AS d $$;
COMMENT ON FUNCTION @extschema@.aws_comprehend_detect_sentiment(text, text, int) IS
'Aurora MySQL-compatible: the sentiment label (POSITIVE, NEGATIVE, NEUTRAL or MIXED) of a text; NULL for NULL text.';

CREATE OR REPLACE FUNCTION @extschema@.aws_comprehend_detect_sentiment_confidence(
    input_text text, language_code text, max_batch_size int DEFAULT NULL
) RETURNS double precision
LANGUAGE sql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$ SELECT d.confidence::double precision FROM aws_comprehend.detect_sentiment(input_text, language_code, max_batch_size) AS d $$;
COMMENT ON FUNCTION @extschema@.aws_comprehend_detect_sentiment_confidence(text, text, int) IS
'Aurora MySQL-compatible: the confidence (0..1) of the label aws_comprehend_detect_sentiment gives for the same text; NULL for NULL text.';
