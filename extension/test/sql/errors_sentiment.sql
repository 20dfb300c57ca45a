-- Errors of sentiment detection.
\set SHOW_CONTEXT never
\pset format unaligned
\pset tuples_only on
SET ROLE churnml_user;
-- an unknown engine or language, NULL, ''; a long text is analysed in its first part, not refused
SELECT regress.try($$SELECT * FROM churnml.detect_sentiment('fine', engine => 'oracle')$$);
SELECT regress.try($$SELECT * FROM churnml.detect_sentiment('fine', 'xx', 'lexicon')$$);
SELECT regress.try($$SELECT * FROM churnml.detect_sentiment('fine', NULL, 'lexicon')$$);
SELECT regress.try($$SELECT * FROM churnml.detect_sentiment('fine', '', 'lexicon')$$);
SELECT regress.try($$SELECT * FROM churnml.detect_sentiment(repeat('bad ', 1000000), engine => 'lexicon')$$);
-- NULL and '' texts are answers, not errors
SELECT * FROM churnml.detect_sentiment(NULL, engine => 'lexicon');
SELECT * FROM churnml.detect_sentiment('', engine => 'lexicon');
SELECT * FROM churnml.detect_sentiment('I love it', engine => 'lexicon');
-- batches: too many texts, a NULL array, a 2-D array, an unknown engine
SELECT regress.try($$SELECT * FROM churnml.detect_sentiment_batch(array_fill('ok'::text, ARRAY[200000]), engine => 'lexicon')$$);
SELECT regress.try($$SELECT * FROM churnml.detect_sentiment_batch(ARRAY[['a', 'b'], ['c', 'd']], engine => 'lexicon')$$);
SELECT regress.try($$SELECT * FROM churnml.detect_sentiment_batch(ARRAY['ok'], engine => 'oracle')$$);
SELECT count(*) FROM churnml.detect_sentiment_batch(NULL, engine => 'lexicon');
SELECT ordinality, sentiment FROM churnml.detect_sentiment_batch(ARRAY['I love it', NULL, ''], engine => 'lexicon');
-- a setting naming an unknown engine
SET churnml.sentiment_engine = 'oracle';
SELECT regress.try($$SELECT * FROM churnml.detect_sentiment('fine')$$);
RESET churnml.sentiment_engine;
-- the Aurora form
SELECT regress.try($$SELECT * FROM aws_comprehend.detect_sentiment('fine', 'xx')$$);
SELECT regress.try($$SELECT * FROM aws_comprehend.detect_sentiment('fine', 'en', -1)$$);
RESET ROLE;
