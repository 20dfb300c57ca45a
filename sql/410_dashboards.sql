-- Dashboards and BI tools: every customer's churn risk in one view, and the
-- call-center answer with plain column types for JDBC/ODBC clients.
--
-- The extension cannot name the customer table at CREATE EXTENSION time (it is
-- configured in churnml.call_center_settings), so the view reads it through a
-- PL/Python function: bulk scoring in C, a matrix at a time, each batch packed into one
-- row of bytea columns and unpacked in C, as churnml.score's batches are; TreeSHAP in C
-- too, but only for queries that read the explanation columns. STABLE (it reads the
-- deployed model), PARALLEL UNSAFE (SPI), run with the caller's privileges on the
-- customer table.

-- The view calls it without arguments: search_path's default, evaluated where the view
-- is read, is the reader's path (the view runs with its reader's rights).
-- ROWS: a batch is 5,000 customers; without it the planner guesses 1,000 x 1,000 rows and
-- compiles every dashboard query with JIT (~0.2 s) for nothing.
CREATE OR REPLACE FUNCTION churnml._customer_risk_batches(
    batch_size int DEFAULT 5000,
    search_path text DEFAULT pg_catalog.current_setting('search_path')
) RETURNS TABLE (keys bytea, probabilities bytea, bands bytea, matrix bytea,
                 threshold float8, model text, model_id bigint)
LANGUAGE plpython3u STABLE PARALLEL UNSAFE ROWS 20
SET search_path = pg_catalog, pg_temp
AS $$
import churnml.sql_api.dashboards as api
return api.customer_risk_batches(plpy, '@EXTVERSION@', batch_size, search_path)
$$;
COMMENT ON FUNCTION churnml._customer_risk_batches(int, text) IS
'Internal: every customer of the call-center customer table scored, one row per batch, its columns packed as churnml._unpack_risk reads them, with the batch''s encoded feature matrix (native float8s, row by row) for churnml._risk_explanations; what churnml.customer_risk unnests.';

CREATE OR REPLACE FUNCTION churnml._risk_explanations(model_id bigint, matrix bytea,
                                           OUT features text[], OUT reasons bytea, OUT contributions bytea)
LANGUAGE plpython3u STABLE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS $$
import churnml.sql_api.dashboards as api
return api.risk_explanations(plpy, '@EXTVERSION@', model_id, matrix)
$$;
COMMENT ON FUNCTION churnml._risk_explanations(bigint, bytea) IS
'Internal: the top positive reason (TreeSHAP, as explain_churn) of every customer of one batch of churnml._customer_risk_batches, computed only when a query reads customer_risk''s top_reason or top_reason_contribution: the model''s features, and per customer (native float8s, NaN = none positive) the 1-based position of its top reason among them and that reason''s contribution.';

CREATE OR REPLACE FUNCTION churnml._unpack_risk(keys bytea, probabilities bytea, bands bytea)
RETURNS TABLE (customer_key text, will_churn float8, risk_band text)
LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE ROWS 5000
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'churnml_unpack_batch';
COMMENT ON FUNCTION churnml._unpack_risk(bytea, bytea, bytea) IS
'Internal (what customer_risk calls, in C, the same function as _unpack_scores): one row per customer of a batch from _customer_risk_batches. probabilities = float8 values in native byte order (NaN reads as NULL); keys and bands = one UTF-8 value per customer, each followed by a zero byte, the single byte 0xFF for NULL. Sizes and UTF-8 are checked (22023, 22021).';

CREATE OR REPLACE FUNCTION churnml._float8_at(packed bytea, n bigint) RETURNS float8
LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'churnml_float8_at';
COMMENT ON FUNCTION churnml._float8_at(bytea, bigint) IS
'Internal (what customer_risk calls, in C): the n-th (1-based) of a bytea of native float8s, NaN as NULL; 22023 when n is outside them.';

-- The explanations are a column of the batch subquery (OFFSET 0 keeps it a subquery): when
-- a query reads neither top_reason nor top_reason_contribution, PostgreSQL drops that unused
-- column and churnml._risk_explanations never runs. The latest sentiment is a lookup per
-- customer in the select list for the same reason.
CREATE OR REPLACE VIEW churnml.customer_risk WITH (security_invoker = true) AS
SELECT u.customer_key,
       u.will_churn,
       u.will_churn OPERATOR(pg_catalog.>) b.threshold AS churn_flag,
       u.risk_band,
       b.threshold,
       ((b.e).features)[churnml._float8_at((b.e).reasons, u.n)::pg_catalog.int4] AS top_reason,
       churnml._float8_at((b.e).contributions, u.n) AS top_reason_contribution,
       (SELECT l.sentiment FROM churnml.offer_log AS l
        WHERE l.customer_key OPERATOR(pg_catalog.=) u.customer_key AND l.sentiment IS NOT NULL
        ORDER BY l.offered_at DESC, l.id DESC LIMIT 1) AS sentiment,
       (SELECT l.confidence FROM churnml.offer_log AS l
        WHERE l.customer_key OPERATOR(pg_catalog.=) u.customer_key AND l.sentiment IS NOT NULL
        ORDER BY l.offered_at DESC, l.id DESC LIMIT 1) AS confidence,
       (SELECT l.offered_at FROM churnml.offer_log AS l
        WHERE l.customer_key OPERATOR(pg_catalog.=) u.customer_key AND l.sentiment IS NOT NULL
        ORDER BY l.offered_at DESC, l.id DESC LIMIT 1) AS sentiment_at,
       b.model,
       b.model_id
FROM (SELECT r.keys, r.probabilities, r.bands, r.threshold, r.model, r.model_id,
             churnml._risk_explanations(r.model_id, r.matrix) AS e
      FROM churnml._customer_risk_batches() AS r
      OFFSET 0) AS b
CROSS JOIN LATERAL churnml._unpack_risk(b.keys, b.probabilities, b.bands) WITH ORDINALITY
    AS u (customer_key, will_churn, risk_band, n);
COMMENT ON VIEW churnml.customer_risk IS
'One row per customer of the call-center customer table (churnml.call_center_config) for dashboards: customer_key (key1/key2, as assess_customer), will_churn from the deployed model, churn_flag and risk_band against the deployment''s threshold (high: will_churn > threshold, i.e. churn_flag; medium: > threshold/2; low: the rest), top_reason = the feature with the largest positive TreeSHAP contribution (as explain_churn; NULL when none is positive) and that contribution, the latest sentiment/confidence/time recorded for the customer in churnml.offer_log (NULL if never assessed with a sentiment), and the model name and id. Computed on every read (bulk scoring in C), and a query pays only for the columns it reads: the explanations (TreeSHAP, most of the work) only when it reads top_reason or top_reason_contribution, the offer-log lookups only when it reads sentiment, confidence or sentiment_at. For 10,000 customers about 0.3 s without explanations; materialise it for heavy dashboards. Reads the customer table with the caller''s privileges. Never writes.';

-- Without SET search_path, like churnml.assess_customer, which reads the caller's path.
CREATE OR REPLACE FUNCTION churnml.assess_customer_text(
    area_code bigint,
    phone text,
    message text DEFAULT NULL,
    log_offer boolean DEFAULT false,
    engine text DEFAULT pg_catalog.current_setting('churnml.sentiment_engine', true)
) RETURNS TABLE (
    customer_key text,
    customer text,
    will_churn float8,
    churn_flag boolean,
    sentiment text,
    confidence real,
    offer text,
    offer_value numeric,
    reason text,
    rule_name text,
    arm text,
    experiment text,
    top_reasons text,
    model_id bigint,
    offer_id bigint
)
LANGUAGE sql VOLATILE PARALLEL UNSAFE
AS $$
SELECT a.customer_key, a.customer::pg_catalog.text, a.will_churn, a.churn_flag, a.sentiment, a.confidence,
       a.offer, a.offer_value, a.reason, a.rule_name, a.arm, a.experiment, a.top_reasons, a.model_id, a.offer_id
FROM churnml.assess_customer(area_code, phone, message, log_offer, engine) AS a
$$;
COMMENT ON FUNCTION churnml.assess_customer_text(bigint, text, text, boolean, text) IS
'assess_customer with only plain SQL types, for JDBC/ODBC and BI tools: the same columns, but `customer` is the customer row as JSON text instead of jsonb (which JDBC returns as org.postgresql.util.PGobject). Like assess_customer, writes the offer to churnml.offer_log only when log_offer is true: a BI refresh never writes.';

GRANT EXECUTE ON FUNCTION
    churnml._customer_risk_batches(int, text),
    churnml._risk_explanations(bigint, bytea),
    churnml._unpack_risk(bytea, bytea, bytea),
    churnml._float8_at(bytea, bigint),
    churnml.assess_customer_text(bigint, text, text, boolean, text)
TO churnml_user;
GRANT SELECT ON churnml.customer_risk TO churnml_user;
