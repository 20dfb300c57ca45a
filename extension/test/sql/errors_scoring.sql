-- Errors of scoring, as a user gets them: SQLSTATE: message, then DETAIL and HINT.
-- (regress.try, from 00_setup, catches the error; PL/Python's traceback is not the contract.)
\set SHOW_CONTEXT never
\pset format unaligned
\pset tuples_only on
SET ROLE churnml_user;

-- will_churn: a model name that is not deployed, NULL, '', an invalid name, an oversize name.
SELECT regress.try($$SELECT churnml.will_churn(c, 'nope') FROM public.customers c LIMIT 1$$);
SELECT regress.try($$SELECT churnml.will_churn(c, NULL) FROM public.customers c LIMIT 1$$);
SELECT regress.try($$SELECT churnml.will_churn(c, '') FROM public.customers c LIMIT 1$$);
SELECT regress.try($$SELECT churnml.will_churn(c, 'bad name; DROP') FROM public.customers c LIMIT 1$$);
SELECT regress.try($$SELECT churnml.will_churn(c, repeat('m', 100)) FROM public.customers c LIMIT 1$$);
-- a row without the model's features, a NULL row, a scalar
SELECT regress.try($$SELECT churnml.will_churn(ROW(1, 'x')::record)$$);
SELECT regress.try($$SELECT churnml.will_churn(NULL::public.customers)$$);
SELECT regress.try($$SELECT churnml.will_churn(42)$$);
-- a feature of the wrong type; NaN is a missing value (as NULL), an infinity is refused
SELECT regress.try($$SELECT churnml.will_churn(t) FROM (SELECT 401::bigint AS area_code, 'many'::text AS day_mins, 1 AS cust_service_calls, 'no' AS int_plan) t$$);
SELECT regress.try($$SELECT churnml.will_churn(t) FROM (SELECT 401::bigint AS area_code, 'NaN'::float8 AS day_mins, 1 AS cust_service_calls, 'no' AS int_plan) t$$);
SELECT regress.try($$SELECT churnml.will_churn(t) FROM (SELECT 401::bigint AS area_code, 'Infinity'::float8 AS day_mins, 1 AS cust_service_calls, 'no' AS int_plan) t$$);

-- churn_flag: a probability out of range, NaN, NULL model.
SELECT regress.try($$SELECT churnml.churn_flag(1.5)$$);
SELECT regress.try($$SELECT churnml.churn_flag('NaN')$$);
SELECT regress.try($$SELECT churnml.churn_flag(0.5, 'nope')$$);

-- predict: an unknown model id, arrays of the wrong length or shape; NaN and NULL elements are missing values.
SELECT regress.try($$SELECT churnml.predict(999, ARRAY[1, 2, 3]::float8[], ARRAY['no'])$$);
SELECT regress.try($$SELECT churnml.predict(1, ARRAY[1]::float8[], ARRAY['no'])$$);
SELECT regress.try($$SELECT churnml.predict(1, ARRAY[401, 'NaN', 1]::float8[], ARRAY['no'])$$);
SELECT regress.try($$SELECT churnml.predict(1, ARRAY[401, NULL, 1]::float8[], ARRAY['no'])$$);
SELECT regress.try($$SELECT churnml.predict(1, ARRAY[[401, 100, 1]]::float8[], ARRAY['no'])$$);
SELECT regress.try($$SELECT churnml.predict(-1, ARRAY[]::float8[], ARRAY[]::text[])$$);

-- explain_churn: top_k out of range, an unknown model.
SELECT regress.try($$SELECT e.* FROM public.customers c, churnml.explain_churn(c, 0) e LIMIT 1$$);
SELECT regress.try($$SELECT e.* FROM public.customers c, churnml.explain_churn(c, -1) e LIMIT 1$$);
SELECT regress.try($$SELECT e.* FROM public.customers c, churnml.explain_churn(c, NULL) e LIMIT 1$$);
SELECT regress.try($$SELECT e.* FROM public.customers c, churnml.explain_churn(c, 3, 'nope') e LIMIT 1$$);

-- score: a source that is not a table or query, an unknown key column, a bad batch size.
SELECT regress.try($$SELECT * FROM churnml.score('no_such_table')$$);
SELECT regress.try($$SELECT * FROM churnml.score('public.customers', 'no_such_column')$$);
SELECT regress.try($$SELECT * FROM churnml.score('public.customers', 'phone', batch_size => 0)$$);
SELECT regress.try($$SELECT * FROM churnml.score('')$$);
SELECT regress.try($$SELECT * FROM churnml.score(NULL)$$);

-- aws_sagemaker.invoke_endpoint: an array's elements are separate inputs (a wrong count lists the
-- features), a 2-D array, more inputs than any model has.
SELECT regress.try($$SELECT aws_sagemaker.invoke_endpoint('churn', NULL, ARRAY[1, 2, 3])$$);
SELECT regress.try($$SELECT aws_sagemaker.invoke_endpoint('churn', NULL, ARRAY[[401, 2], [3, 4]])$$);
SELECT regress.try($$SELECT aws_sagemaker.invoke_endpoint('churn', NULL, array_fill(1, ARRAY[100001]))$$);
SELECT aws_sagemaker.invoke_endpoint('churn', NULL, ARRAY[401, 120.5]::float8[], 3, 'no')
     = aws_sagemaker.invoke_endpoint('churn', NULL, 401, 120.5, 3, 'no') AS array_is_separate_inputs;
RESET ROLE;
