-- Dashboards and BI tools: every customer's churn risk in one view, and the
-- call-center answer with plain column types for JDBC/ODBC clients.
--
-- The extension cannot name the customer table at CREATE EXTENSION time (it is
-- configured in churnml.call_center_settings), so the view reads it through a
-- PL/Python function: bulk scoring and TreeSHAP in C, a matrix at a time, each batch
-- packed into one row of bytea columns and unpacked in C, as churnml.score's batches
-- are. STABLE (it reads the deployed model), PARALLEL UNSAFE (SPI), run with the
-- caller's privileges on the customer table.

-- The view calls it without arguments: search_path's default, evaluated where the view
-- is read, is the reader's path (the view runs with its reader's rights).
CREATE OR REPLACE FUNCTION churnml._customer_risk_batches(
    batch_size int DEFAULT 5000,
    search_path text DEFAULT pg_catalog.current_setting('search_path')
) RETURNS TABLE (keys bytea, probabilities bytea, bands bytea, reasons bytea, contributions bytea,
                 threshold float8, model text, model_id bigint)
LANGUAGE plpython3u STABLE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS $$
import churnml.sql_api.dashboards as api
return api.customer_risk_batches(plpy, '@EXTVERSION@', batch_size, search_path)
$$;
COMMENT ON FUNCTION churnml._customer_risk_batches(int, text) IS
'Internal: every customer of the call-center customer table scored and explained, one row per batch, its columns packed as churnml._unpack_risk reads them; what churnml.customer_risk unnests.';

CREATE OR REPLACE FUNCTION churnml._unpack_risk(keys bytea, probabilities bytea, bands bytea, reasons bytea,
                                     contributions bytea)
RETURNS TABLE (customer_key text, will_churn float8, risk_band text, top_reason text,
               top_reason_contribution float8)
LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'churnml_unpack_batch';
COMMENT ON FUNCTION churnml._unpack_risk(bytea, bytea, bytea, bytea, bytea) IS
'Internal (what customer_risk calls, in C, the same function as _unpack_scores): one row per customer of a batch from _customer_risk_batches. probabilities and contributions = float8 values in native byte order (NaN reads as NULL); keys, bands and reasons = one UTF-8 value per customer, each followed by a zero byte, the single byte 0xFF for NULL. Sizes and UTF-8 are checked (22023, 22021).';

CREATE OR REPLACE VIEW churnml.customer_risk WITH (security_invoker = true) AS
SELECT u.customer_key,
       u.will_churn,
       u.will_churn OPERATOR(pg_catalog.>) b.threshold AS churn_flag,
       u.risk_band,
       b.threshold,
       u.top_reason,
       u.top_reason_contribution,
       s.sentiment,
       s.confidence,
       s.offered_at AS sentiment_at,
       b.model,
       b.model_id
FROM churnml._customer_risk_batches() AS b
CROSS JOIN LATERAL churnml._unpack_risk(b.keys, b.probabilities, b.bands, b.reasons, b.contributions) AS u
LEFT JOIN LATERAL (
    SELECT l.sentiment, l.confidence, l.offered_at
    FROM churnml.offer_log AS l
    WHERE l.customer_key OPERATOR(pg_catalog.=) u.customer_key AND l.sentiment IS NOT NULL
    ORDER BY l.offered_at DESC, l.id DESC
    LIMIT 1
) AS s ON true;
COMMENT ON VIEW churnml.customer_risk IS
'One row per customer of the call-center customer table (churnml.call_center_config) for dashboards: customer_key (key1/key2, as assess_customer), will_churn from the deployed model, churn_flag and risk_band against the deployment''s threshold (high: will_churn > threshold, i.e. churn_flag; medium: > threshold/2; low: the rest), top_reason = the feature with the largest positive TreeSHAP contribution (as explain_churn; NULL when none is positive) and that contribution, the latest sentiment/confidence/time recorded for the customer in churnml.offer_log (NULL if never assessed with a sentiment), and the model name and id. Computed on every read (bulk scoring, TreeSHAP in C): for 10,000 customers about a second; materialise it for heavy dashboards. Reads the customer table with the caller''s privileges.';

-- Without SET search_path, like churnml.assess_customer: it hands the caller's path on.
CREATE OR REPLACE FUNCTION churnml.assess_customer_text(
    area_code bigint,
    phone text,
    message text DEFAULT NULL,
    log_offer boolean DEFAULT true,
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
FROM churnml._assess_customer(area_code, phone, message, log_offer, engine,
                              pg_catalog.current_setting('search_path')) AS a
$$;
COMMENT ON FUNCTION churnml.assess_customer_text(bigint, text, text, boolean, text) IS
'assess_customer with only plain SQL types, for JDBC/ODBC and BI tools: the same columns, but `customer` is the customer row as JSON text instead of jsonb (which JDBC returns as org.postgresql.util.PGobject). Logs the offer like assess_customer unless log_offer is false.';

GRANT EXECUTE ON FUNCTION
    churnml._customer_risk_batches(int, text),
    churnml._unpack_risk(bytea, bytea, bytea, bytea, bytea),
    churnml.assess_customer_text(bigint, text, text, boolean, text)
TO churnml_user;
GRANT SELECT ON churnml.customer_risk TO churnml_user;
