-- Every function of both extensions as a caller meets it: arguments (names, defaults),
-- result, volatility, SECURITY DEFINER, parallel safety and the settings it pins
-- (search_path). One line each: function|arguments|result|volatility|security|parallel|settings.
\pset format unaligned
SELECT p.oid::regprocedure AS function,
       pg_get_function_arguments(p.oid) AS arguments,
       pg_get_function_result(p.oid) AS result,
       CASE p.provolatile WHEN 'i' THEN 'immutable' WHEN 's' THEN 'stable' ELSE 'volatile' END AS volatility,
       CASE WHEN p.prosecdef THEN 'definer' ELSE 'invoker' END AS security,
       CASE p.proparallel WHEN 's' THEN 'safe' WHEN 'r' THEN 'restricted' ELSE 'unsafe' END AS parallel,
       coalesce(array_to_string(p.proconfig, '; '), '') AS settings
FROM pg_proc p
JOIN pg_depend d ON d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e'
JOIN pg_extension e ON e.oid = d.refobjid AND e.extname IN ('churnml', 'churnml_aws')
ORDER BY p.oid::regprocedure::text;

-- Types the functions return, with their fields.
SELECT t.oid::regtype AS type,
       string_agg(a.attname || ' ' || format_type(a.atttypid, a.atttypmod), ', ' ORDER BY a.attnum) AS fields
FROM pg_type t
JOIN pg_depend d ON d.classid = 'pg_type'::regclass AND d.objid = t.oid AND d.deptype = 'e'
JOIN pg_extension e ON e.oid = d.refobjid AND e.extname IN ('churnml', 'churnml_aws')
JOIN pg_attribute a ON a.attrelid = t.typrelid AND a.attnum > 0
GROUP BY t.oid
ORDER BY t.oid::regtype::text;
