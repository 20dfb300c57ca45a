-- Sentiment, Aurora PostgreSQL's aws_comprehend.detect_sentiment, answered by
-- churnml.detect_sentiment with the engine set in churnml.sentiment_engine.
-- STABLE and PARALLEL SAFE for the reasons given in churnml's sentiment functions.

CREATE OR REPLACE FUNCTION aws_comprehend.detect_sentiment(
    input_text varchar,
    language_code varchar,
    max_rows_per_batch int DEFAULT NULL,
    OUT sentiment varchar,
    OUT confidence real
) RETURNS record
LANGUAGE plpython3u STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
import churnml.sql_api.aws as api
return api.detect_sentiment(plpy, '@EXTVERSION@', input_text, language_code, max_rows_per_batch)
$$;
COMMENT ON FUNCTION aws_comprehend.detect_sentiment(varchar, varchar, int) IS
'Aurora-compatible: (sentiment, confidence) of a text, sentiment POSITIVE, NEGATIVE, NEUTRAL or MIXED and confidence the probability of that label, from churnml.detect_sentiment (engine: the churnml.sentiment_engine setting, else the encoder). NULL text gives NULLs; only language ''en''. max_rows_per_batch must be NULL or positive; churnml scores in-process, so it does not change results.';
