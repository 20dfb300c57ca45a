-- Sentiment of customer messages, and text embeddings.
--
-- Engines: 'encoder' (all-MiniLM-L6-v2 embedding + a trained classifier head; the
-- default, right about complaints), 'lexicon' (VADER with a calibrated mapping; no
-- torch, microseconds), or the name of a sentiment model trained with
-- churnml.train_sentiment and deployed. The engine argument defaults to the setting
-- churnml.sentiment_engine (SET churnml.sentiment_engine = 'lexicon'), else 'encoder'.
-- STABLE (a deployed custom model or the setting can change the answer). The per-row
-- functions (detect_sentiment, _label, _confidence, sentiment_scores) are PARALLEL SAFE:
-- in parallel mode a deployed custom model is read without PL/Python's SPI
-- (python_udfs/churnml/parallel_read.py), and the setting reaches workers with the
-- leader's others. Each worker loads the encoder for itself (~0.2 s), so parallel plans
-- pay off on big tables only. The batch functions, sentiment_summary and the embeddings
-- stay PARALLEL UNSAFE: they report progress (a file whose path comes through SPI), and
-- embeddings load torch.

CREATE OR REPLACE FUNCTION churnml.detect_sentiment(
    input_text text,
    language_code text DEFAULT 'en',
    engine text DEFAULT pg_catalog.current_setting('churnml.sentiment_engine', true),
    OUT sentiment text,
    OUT confidence real
) RETURNS record
LANGUAGE plpython3u STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
import churnml.sql_api.sentiment as api
return api.detect(plpy, '@EXTVERSION@', input_text, language_code, engine)
$$;
COMMENT ON FUNCTION churnml.detect_sentiment(text, text, text) IS
'Sentiment of a text like aws_comprehend.detect_sentiment: (sentiment, confidence) with sentiment POSITIVE, NEGATIVE, NEUTRAL or MIXED and confidence the calibrated probability of that label. NULL text gives NULLs; empty or blank text is NEUTRAL with confidence 1. Only language ''en''. See docs/sentiment.md.';

CREATE OR REPLACE FUNCTION churnml.detect_sentiment_label(
    input_text text,
    language_code text DEFAULT 'en',
    engine text DEFAULT pg_catalog.current_setting('churnml.sentiment_engine', true)
) RETURNS text
LANGUAGE plpython3u STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
import churnml.sql_api.sentiment as api
result = api.detect(plpy, '@EXTVERSION@', input_text, language_code, engine)
return None if result is None else result["sentiment"]
$$;
COMMENT ON FUNCTION churnml.detect_sentiment_label(text, text, text) IS
'The sentiment label alone (POSITIVE, NEGATIVE, NEUTRAL, MIXED), for tools that want a scalar.';

CREATE OR REPLACE FUNCTION churnml.detect_sentiment_confidence(
    input_text text,
    language_code text DEFAULT 'en',
    engine text DEFAULT pg_catalog.current_setting('churnml.sentiment_engine', true)
) RETURNS real
LANGUAGE plpython3u STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
import churnml.sql_api.sentiment as api
result = api.detect(plpy, '@EXTVERSION@', input_text, language_code, engine)
return None if result is None else result["confidence"]
$$;
COMMENT ON FUNCTION churnml.detect_sentiment_confidence(text, text, text) IS
'The calibrated probability (0..1) of the detected sentiment label, for tools that want a scalar.';

CREATE OR REPLACE FUNCTION churnml.sentiment_scores(
    input_text text,
    language_code text DEFAULT 'en',
    engine text DEFAULT pg_catalog.current_setting('churnml.sentiment_engine', true),
    OUT positive real, OUT negative real, OUT neutral real, OUT mixed real
) RETURNS record
LANGUAGE plpython3u STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
import churnml.sql_api.sentiment as api
return api.scores(plpy, '@EXTVERSION@', input_text, language_code, engine)
$$;
COMMENT ON FUNCTION churnml.sentiment_scores(text, text, text) IS
'All four class probabilities of a text (they sum to 1).';

-- The batch functions are SQL functions that pass their arrays through
-- churnml._checked_batch (C: churnml.max_batch_texts, churnml.max_batch_size) before the
-- PL/Python function that does the work receives them: PL/Python converts an argument
-- into Python objects before any Python runs, so the check must come first.
CREATE OR REPLACE FUNCTION churnml._detect_sentiment_batch(input_texts text[], language_code text, engine text)
RETURNS TABLE (ordinality int, sentiment text, confidence real, positive real, negative real, neutral real,
               mixed real)
LANGUAGE plpython3u STABLE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS $$
import churnml.sql_api.sentiment as api
return api.detect_batch(plpy, '@EXTVERSION@', input_texts, language_code, engine)
$$;
COMMENT ON FUNCTION churnml._detect_sentiment_batch(text[], text, text) IS
'Internal: what churnml.detect_sentiment_batch calls with its checked array.';

CREATE OR REPLACE FUNCTION churnml.detect_sentiment_batch(
    input_texts text[],
    language_code text DEFAULT 'en',
    engine text DEFAULT pg_catalog.current_setting('churnml.sentiment_engine', true)
) RETURNS TABLE (ordinality int, sentiment text, confidence real, positive real, negative real, neutral real,
                 mixed real)
LANGUAGE sql STABLE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS $$
SELECT * FROM churnml._detect_sentiment_batch(churnml._checked_batch(input_texts, 'input_texts'), language_code,
                                              engine)
$$;
COMMENT ON FUNCTION churnml.detect_sentiment_batch(text[], text, text) IS
'Sentiment of many texts in one call (the encoder embeds them in batches, far faster than one call per row): one row per input element, ordinality from 1. Use with array_agg(...) and join back on ordinality.';

CREATE OR REPLACE FUNCTION churnml._sentiment_summary(
    input_texts text[], times timestamptz[], language_code text, engine text,
    OUT messages int, OUT latest text, OUT latest_confidence real, OUT mean_score real,
    OUT worst_text text, OUT worst_score real, OUT trend_per_day real
) RETURNS record
LANGUAGE plpython3u STABLE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS $$
import churnml.sql_api.sentiment as api
return api.summary(plpy, '@EXTVERSION@', input_texts, times, language_code, engine)
$$;
COMMENT ON FUNCTION churnml._sentiment_summary(text[], timestamptz[], text, text) IS
'Internal: what churnml.sentiment_summary calls with its checked arrays.';

CREATE OR REPLACE FUNCTION churnml.sentiment_summary(
    input_texts text[],
    times timestamptz[] DEFAULT NULL,
    language_code text DEFAULT 'en',
    engine text DEFAULT pg_catalog.current_setting('churnml.sentiment_engine', true),
    OUT messages int, OUT latest text, OUT latest_confidence real, OUT mean_score real,
    OUT worst_text text, OUT worst_score real, OUT trend_per_day real
) RETURNS record
LANGUAGE sql STABLE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS $$
SELECT * FROM churnml._sentiment_summary(churnml._checked_batch(input_texts, 'input_texts'),
                                         churnml._checked_batch(times, 'times'), language_code, engine)
$$;
COMMENT ON FUNCTION churnml.sentiment_summary(text[], timestamptz[], text, text) IS
'Sentiment over one customer''s messages, e.g. SELECT m.phone, s.* FROM (SELECT phone, array_agg(message ORDER BY calltime) AS messages, array_agg(calltime ORDER BY calltime) AS times FROM customer_message GROUP BY phone) AS m, churnml.sentiment_summary(m.messages, m.times) AS s (a function in FROM runs once per row; (f(...)).* would run it once per column). score = P(POSITIVE) - P(NEGATIVE) in -1..1; latest = label of the last message (by time, else array order); worst = the lowest-scoring message; trend_per_day = least-squares slope of score over time (NULL with fewer than two distinct times).';

CREATE OR REPLACE FUNCTION churnml.embed(input_text text) RETURNS real[]
LANGUAGE plpython3u STABLE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS $$
import churnml.sql_api.sentiment as api
return api.embed_one(plpy, '@EXTVERSION@', input_text)
$$;
COMMENT ON FUNCTION churnml.embed(text) IS
'The all-MiniLM-L6-v2 sentence embedding of a text (384 normalised reals), computed offline in the backend. NULL gives NULL.';

CREATE OR REPLACE FUNCTION churnml._embed_batch(input_texts text[]) RETURNS TABLE (ordinality int, embedding real[])
LANGUAGE plpython3u STABLE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS $$
import churnml.sql_api.sentiment as api
return api.embed_batch(plpy, '@EXTVERSION@', input_texts)
$$;
COMMENT ON FUNCTION churnml._embed_batch(text[]) IS
'Internal: what churnml.embed_batch calls with its checked array.';

CREATE OR REPLACE FUNCTION churnml.embed_batch(input_texts text[]) RETURNS TABLE (ordinality int, embedding real[])
LANGUAGE sql STABLE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS $$
SELECT * FROM churnml._embed_batch(churnml._checked_batch(input_texts, 'input_texts'))
$$;
COMMENT ON FUNCTION churnml.embed_batch(text[]) IS
'Embeddings of many texts in one call (batched through the encoder): one row per element, ordinality from 1.';

GRANT EXECUTE ON FUNCTION
    churnml.detect_sentiment(text, text, text),
    churnml.detect_sentiment_label(text, text, text),
    churnml.detect_sentiment_confidence(text, text, text),
    churnml.sentiment_scores(text, text, text),
    churnml._detect_sentiment_batch(text[], text, text),
    churnml.detect_sentiment_batch(text[], text, text),
    churnml._sentiment_summary(text[], timestamptz[], text, text),
    churnml.sentiment_summary(text[], timestamptz[], text, text),
    churnml.embed(text),
    churnml._embed_batch(text[]),
    churnml.embed_batch(text[])
TO churnml_user;

CREATE OR REPLACE FUNCTION churnml._train_sentiment(
    name text, source text, text_column text, label_column text, seed int, deploy boolean, search_path text
) RETURNS bigint
LANGUAGE plpython3u VOLATILE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS $$
import churnml.sql_api.sentiment as api
return api.train_sentiment(plpy, '@EXTVERSION@', name, source, text_column, label_column, seed, deploy,
                           search_path)
$$;
COMMENT ON FUNCTION churnml._train_sentiment(text, text, text, text, int, boolean, text) IS
'Internal: what churnml.train_sentiment calls, with the caller''s search_path as the last argument.';

-- Without SET search_path, like churnml.train: it hands the caller's path on.
CREATE OR REPLACE FUNCTION churnml.train_sentiment(
    name text,
    source text,
    text_column text,
    label_column text,
    seed int DEFAULT 42,
    deploy boolean DEFAULT false
) RETURNS bigint
LANGUAGE sql VOLATILE PARALLEL UNSAFE
AS $$
SELECT churnml._train_sentiment(name, source, text_column, label_column, seed, deploy,
                                pg_catalog.current_setting('search_path'))
$$;
COMMENT ON FUNCTION churnml.train_sentiment(text, text, text, text, int, boolean) IS
'Train your own sentiment model from labelled rows of a table, view or query: a classifier head on the all-MiniLM-L6-v2 embeddings, calibrated like the shipped one (labels POSITIVE/NEGATIVE/NEUTRAL, any case, or 1/0; at least 5 per class; 70/15/15 split). It is registered in churnml.models (kind sentiment), deployed and rolled back with churnml.deploy/rollback, and used with detect_sentiment(..., engine => name). Returns the model id.';

GRANT EXECUTE ON FUNCTION
    churnml._train_sentiment(text, text, text, text, int, boolean, text),
    churnml.train_sentiment(text, text, text, text, int, boolean)
TO churnml_admin;
