-- Plain text helpers (no model behind them).

CREATE OR REPLACE FUNCTION churnml.first_sentence(input_text text) RETURNS text
LANGUAGE plpython3u IMMUTABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
import churnml.sql_api.text as api
return api.first_sentence(plpy, '@EXTVERSION@', input_text)
$$;
COMMENT ON FUNCTION churnml.first_sentence(text) IS
'The first sentence of a message (ends at . ! ? … before a capital, digit or the end, or at a line break; not after abbreviations like "Dr." or inside numbers like 3.5). Empty text gives ''''. Looks at the first 5,000 characters only. Pure text processing: IMMUTABLE.';

GRANT EXECUTE ON FUNCTION churnml.first_sentence(text) TO churnml_user;
