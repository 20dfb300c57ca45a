-- Install only (see sql/README.md): CREATE EXTENSION runs this file, an update does not.
-- After a release, a change here needs its delta in sql/upgrades/.
-- The call-center answer in one call: who the customer is, how likely they are to
-- leave, how they feel, what to offer and why, and a record of the offer.

CREATE TABLE churnml.call_center_settings (
    singleton       boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    customer_table  text NOT NULL DEFAULT 'public.customers',
    key_columns     text[] NOT NULL DEFAULT '{area_code,phone}'
                    CHECK (pg_catalog.array_length(key_columns, 1) OPERATOR(pg_catalog.=) 2),
    message_table   text NOT NULL DEFAULT 'public.customer_message',
    message_column  text NOT NULL DEFAULT 'message',
    time_column     text NOT NULL DEFAULT 'calltime',
    model           text NOT NULL DEFAULT 'churn',
    rule_set        text NOT NULL DEFAULT 'default',
    top_reasons     int NOT NULL DEFAULT 3 CHECK (top_reasons BETWEEN 0 AND 20),
    updated_by      name NOT NULL DEFAULT current_user,
    updated_at      timestamptz NOT NULL DEFAULT now()
);
-- Empty at install, so pg_dump/pg_restore carry exactly what an admin set; while it
-- is empty, assess_customer uses the defaults (the view below).
SELECT pg_catalog.pg_extension_config_dump('churnml.call_center_settings', '');
