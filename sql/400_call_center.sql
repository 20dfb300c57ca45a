-- The call-center answer in one call: who the customer is, how likely they are to
-- leave, how they feel, what to offer and why, and a record of the offer.

COMMENT ON TABLE churnml.call_center_settings IS
'Where assess_customer finds customers (table and its two key columns) and their messages, which deployed model and rule set it uses, and how many reasons it returns. At most one row; while there is none the column defaults apply. churnml_admin sets it: INSERT INTO churnml.call_center_settings (customer_table) VALUES (''crm.clients'') ON CONFLICT (singleton) DO UPDATE SET customer_table = excluded.customer_table;';
GRANT SELECT ON churnml.call_center_settings TO churnml_user;
-- updated_by/updated_at are the database's: the defaults on INSERT, the trigger on UPDATE.
GRANT INSERT (singleton, customer_table, key_columns, message_table, message_column, time_column, model, rule_set,
              top_reasons),
      UPDATE (customer_table, key_columns, message_table, message_column, time_column, model, rule_set, top_reasons)
    ON churnml.call_center_settings TO churnml_admin;
GRANT DELETE ON churnml.call_center_settings TO churnml_admin;

CREATE OR REPLACE FUNCTION churnml._stamp_updated() RETURNS trigger
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    NEW.updated_by := CURRENT_USER;
    NEW.updated_at := pg_catalog.now();
    RETURN NEW;
END
$$;
COMMENT ON FUNCTION churnml._stamp_updated() IS
'Internal trigger: an UPDATE stamps the row''s updated_by and updated_at, whatever the statement set.';
CREATE OR REPLACE TRIGGER stamp_updated BEFORE UPDATE ON churnml.call_center_settings
    FOR EACH ROW EXECUTE FUNCTION churnml._stamp_updated();

CREATE OR REPLACE VIEW churnml.call_center_config AS
SELECT customer_table, key_columns, message_table, message_column, time_column, model, rule_set, top_reasons
FROM churnml.call_center_settings
UNION ALL
SELECT 'public.customers', '{area_code,phone}'::text[], 'public.customer_message', 'message', 'calltime',
       'churn', 'default', 3
WHERE NOT EXISTS (SELECT FROM churnml.call_center_settings);
COMMENT ON VIEW churnml.call_center_config IS
'The settings assess_customer uses: the churnml.call_center_settings row, or the defaults while it is empty.';
GRANT SELECT ON churnml.call_center_config TO churnml_user;

-- Without SET search_path: an unqualified customer or message table in the settings
-- resolves with the caller's path, and the body pins the path itself once it has read them
-- (sql_api/call_center.py, source_data.pinned_search_path). The call center's hot path: a
-- SQL wrapper handing the path on, as churnml.train has, cost ~30 us a call (measured).
CREATE OR REPLACE FUNCTION churnml.assess_customer(
    area_code bigint,
    phone text,
    message text DEFAULT NULL,
    log_offer boolean DEFAULT false,
    engine text DEFAULT pg_catalog.current_setting('churnml.sentiment_engine', true)
) RETURNS TABLE (
    customer_key text,
    customer jsonb,
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
LANGUAGE plpython3u VOLATILE PARALLEL UNSAFE
AS $$
import churnml.sql_api.call_center as api
return api.assess(plpy, '@EXTVERSION@', area_code, phone, message, log_offer, engine)
$$;
COMMENT ON FUNCTION churnml.assess_customer(bigint, text, text, boolean, text) IS
'The call-center answer for one customer: their row (as jsonb), the churn probability from the deployed model and whether it is above the deployed cutoff, the sentiment of `message` (or, when NULL, of their latest stored message), the incentive Marketing''s rules recommend with its reason, rule and experiment arm, and the model''s top reasons for this customer. The message is data, never SQL. Only with log_offer => true is the recommendation written to churnml.offer_log (offer_id, for record_outcome and experiment_results; NULL otherwise): reading is never writing, so a BI refresh or a repeated look-up logs nothing. An unknown customer is an error (SQLSTATE P0002). Tables and model come from churnml.call_center_settings.';

GRANT EXECUTE ON FUNCTION churnml.assess_customer(bigint, text, text, boolean, text) TO churnml_user;
