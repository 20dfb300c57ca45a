-- Who may do what: no churnml role (regress_churnml_nobody), churnml_user, churnml_loader,
-- churnml_admin (a member of both others). x = may, . = may not.
\pset format unaligned
SELECT r.rolname, m.rolname AS member_of
FROM pg_roles r JOIN pg_auth_members am ON am.member = r.oid JOIN pg_roles m ON m.oid = am.roleid
WHERE r.rolname IN ('churnml_user', 'churnml_loader', 'churnml_admin')
  AND m.rolname <> 'aws_ml'  -- the aws_ml extension's role, in the cluster once any database had it
ORDER BY 1, 2;

-- Schemas: USAGE.
SELECT n.nspname AS schema,
       (SELECT string_agg(CASE WHEN has_schema_privilege(role, n.oid, 'USAGE') THEN 'x' ELSE '.' END, '' ORDER BY o)
        FROM unnest(ARRAY['regress_churnml_nobody', 'churnml_user', 'churnml_loader', 'churnml_admin'])
             WITH ORDINALITY AS r(role, o)) AS "nobody/user/loader/admin"
FROM pg_namespace n
WHERE n.nspname IN ('churnml', 'aws_commons', 'aws_comprehend', 'aws_sagemaker', 'aws_s3')
ORDER BY 1;

-- Functions: EXECUTE (as the role itself; what its members inherit follows from the list above).
-- Functions no role may execute are for the superuser only (internal, or trigger functions).
SELECT p.oid::regprocedure AS function,
       (SELECT string_agg(CASE WHEN has_function_privilege(role, p.oid, 'EXECUTE') THEN 'x' ELSE '.' END, ''
                          ORDER BY o)
        FROM unnest(ARRAY['regress_churnml_nobody', 'churnml_user', 'churnml_loader', 'churnml_admin'])
             WITH ORDINALITY AS r(role, o)) AS "nobody/user/loader/admin"
FROM pg_proc p
JOIN pg_depend d ON d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e'
JOIN pg_extension e ON e.oid = d.refobjid AND e.extname IN ('churnml', 'churnml_aws')
ORDER BY p.oid::regprocedure::text;

-- Tables, views and sequences: per role, SELECT (r), INSERT (a), UPDATE (w), DELETE (d),
-- TRUNCATE (D), sequence USAGE (U); a letter in parentheses: on some columns only (listed below).
SELECT c.oid::regclass AS relation, c.relkind,
       (SELECT string_agg(format('%-8s', coalesce(nullif(
            CASE WHEN c.relkind = 'S' THEN CASE WHEN has_sequence_privilege(role, c.oid, 'USAGE') THEN 'U' END
                 ELSE concat(
                     CASE WHEN has_table_privilege(role, c.oid, 'SELECT') THEN 'r'
                          WHEN has_any_column_privilege(role, c.oid, 'SELECT') THEN '(r)' END,
                     CASE WHEN has_table_privilege(role, c.oid, 'INSERT') THEN 'a'
                          WHEN has_any_column_privilege(role, c.oid, 'INSERT') THEN '(a)' END,
                     CASE WHEN has_table_privilege(role, c.oid, 'UPDATE') THEN 'w'
                          WHEN has_any_column_privilege(role, c.oid, 'UPDATE') THEN '(w)' END,
                     CASE WHEN has_table_privilege(role, c.oid, 'DELETE') THEN 'd' END,
                     CASE WHEN has_table_privilege(role, c.oid, 'TRUNCATE') THEN 'D' END) END, ''), '-')), ' '
            ORDER BY o)
        FROM unnest(ARRAY['regress_churnml_nobody', 'churnml_user', 'churnml_loader', 'churnml_admin'])
             WITH ORDINALITY AS r(role, o)) AS "nobody   user     loader   admin"
FROM pg_class c
JOIN pg_depend d ON d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e'
JOIN pg_extension e ON e.oid = d.refobjid AND e.extname IN ('churnml', 'churnml_aws')
ORDER BY c.oid::regclass::text;

-- The column grants: which columns a role may write (ids, builtin and audit columns are
-- the database's, never the caller's).
SELECT a.attrelid::regclass AS relation, x.grantee::regrole AS role, x.privilege_type AS privilege,
       string_agg(a.attname, ', ' ORDER BY a.attnum) AS columns
FROM pg_attribute a
JOIN pg_depend d ON d.classid = 'pg_class'::regclass AND d.objid = a.attrelid AND d.deptype = 'e'
JOIN pg_extension e ON e.oid = d.refobjid AND e.extname IN ('churnml', 'churnml_aws')
CROSS JOIN LATERAL aclexplode(a.attacl) x
WHERE a.attacl IS NOT NULL AND a.attnum > 0
GROUP BY a.attrelid, x.grantee, x.privilege_type
ORDER BY a.attrelid::regclass::text, x.grantee::regrole::text, x.privilege_type;

-- Row-level security: storage grants are visible to their grantees and to admins only.
SELECT c.oid::regclass AS relation, c.relrowsecurity, p.polname, p.polcmd, pg_get_expr(p.polqual, p.polrelid) AS using,
       pg_get_expr(p.polwithcheck, p.polrelid) AS with_check
FROM pg_class c JOIN pg_policy p ON p.polrelid = c.oid
WHERE c.relnamespace = 'churnml'::regnamespace
ORDER BY c.oid::regclass::text, p.polname;

-- What each role meets calling what it may not (42501), and what it may.
\pset tuples_only on
SET ROLE regress_churnml_nobody;
SELECT regress.try($$SELECT churnml.version()$$);
SELECT regress.try($$SELECT churnml.will_churn(c) FROM public.customers c LIMIT 1$$);
SELECT regress.try($$SELECT * FROM churnml.models$$);
SELECT regress.try($$SELECT * FROM aws_comprehend.detect_sentiment('fine', 'en')$$);
RESET ROLE;
SET ROLE churnml_user;
SELECT regress.try($$SELECT churnml.version()$$);
SELECT regress.try($$SELECT churnml.will_churn(c) FROM public.customers c LIMIT 1$$);
SELECT regress.try($$SELECT churnml.train('churn2', 'public.customers', 'churn')$$);
SELECT regress.try($$SELECT churnml.deploy('churn')$$);
SELECT regress.try($$SELECT churnml.export_query('SELECT 1', 's3://churnml/x.csv')$$);
SELECT regress.try($$INSERT INTO churnml.incentive_rules (priority, name, condition, offer) VALUES (1, 'x', 'TRUE', 'x')$$);
SELECT regress.try($$DELETE FROM churnml.offer_log$$);
SELECT regress.try($$UPDATE churnml.models SET name = 'x'$$);
SELECT regress.try($$SELECT churnml.runtime_info()$$);
RESET ROLE;
SET ROLE churnml_loader;
SELECT regress.try($$SELECT churnml.will_churn(c) FROM public.customers c LIMIT 1$$);
SELECT regress.try($$SELECT churnml.create_storage_location('elsewhere', 's3://bucket/')$$);
SELECT regress.try($$SELECT count(*) FROM churnml.load_history$$);
RESET ROLE;
SET ROLE churnml_admin;
SELECT regress.try($$INSERT INTO churnml.models (id, name, artifact_format, artifact_sha256, feature_spec) VALUES (99, 'x', 'churnml-json', repeat('0', 64), '{}')$$);
SELECT regress.try($$UPDATE churnml.offer_log SET offer = 'x'$$);
SELECT regress.try($$TRUNCATE churnml.models$$);
SELECT regress.try($$SELECT churnml._build_id()$$);
RESET ROLE;
