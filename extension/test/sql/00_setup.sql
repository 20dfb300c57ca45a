-- Setup for the contract tests that follow (they run in this order, in one database):
-- the extensions, a role with no churnml role, a helper that shows an error's SQLSTATE,
-- message, detail and hint (without PL/Python's traceback or C source lines, which are
-- not the contract), and a small customer table with a deployed model.
\set SHOW_CONTEXT never
SET client_min_messages = warning;
CREATE EXTENSION churnml CASCADE;
CREATE EXTENSION churnml_aws;

-- Roles are cluster-wide: another run, or another database, may have made this one already.
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'regress_churnml_nobody') THEN
        CREATE ROLE regress_churnml_nobody NOLOGIN;
    END IF;
END
$$;

CREATE SCHEMA regress;
GRANT USAGE ON SCHEMA regress TO PUBLIC;
-- try(statement): runs it and returns 'no error', or the error as a user gets it, one field
-- a line: SQLSTATE: message / DETAIL: ... / HINT: ...
CREATE FUNCTION regress.try(statement text) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    state text;
    message text;
    detail text;
    hint text;
BEGIN
    EXECUTE statement;
    RETURN 'no error';
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS state = RETURNED_SQLSTATE, message = MESSAGE_TEXT,
                            detail = PG_EXCEPTION_DETAIL, hint = PG_EXCEPTION_HINT;
    RETURN concat_ws(E'\n', state || ': ' || message, 'DETAIL: ' || nullif(detail, ''),
                     'HINT: ' || nullif(hint, ''));
END
$$;

-- 400 customers, their churn a function of their service calls, day minutes and plan.
CREATE TABLE public.customers AS
SELECT 400::bigint + i % 3 AS area_code,
       lpad((1000000 + i * 7919 % 9000000)::text, 7, '0') AS phone,
       (i * 37 % 300)::float8 AS day_mins,
       i % 7 AS cust_service_calls,
       CASE WHEN i % 5 = 0 THEN 'yes' ELSE 'no' END AS int_plan,
       (i % 7 > 3 OR i * 37 % 300 > 250 OR (i % 5 = 0 AND i % 7 > 2)) AS churn
FROM generate_series(1, 400) AS i;
CREATE TABLE public.customer_message (area_code bigint, phone text, message text, calltime timestamptz);
GRANT SELECT ON public.customers, public.customer_message TO PUBLIC;

SELECT churnml.train('churn', 'public.customers', 'churn', exclude => ARRAY['phone'], seed => 7) AS model_id;
SELECT name, model_id, threshold, strategy FROM churnml.deploy('churn');
