\set SHOW_CONTEXT never
-- The extension, its runtime and the rules every churnml function follows.
SELECT e.extname, n.nspname AS schema, e.extrelocatable,
       e.extversion = a.default_version AS is_default_version,
       churnml.version() = e.extversion AS version_matches
FROM pg_extension e
JOIN pg_namespace n ON n.oid = e.extnamespace
JOIN pg_available_extensions a ON a.name = e.extname
WHERE e.extname = 'churnml';

-- The backend runs the runtime's Python (3.11, like PL/Python's libpython).
SELECT churnml.runtime_info() ->> 'python_version' LIKE '3.11.%' AS python_311,
       churnml.runtime_info() ->> 'churnml_version' = churnml.version() AS code_matches_sql,
       (churnml.runtime_info() -> 'packages' ->> 'xgboost') LIKE '3.2.%' AS xgboost_32;

-- Every function pins search_path, except two in C: _pack_float8 looks up no names and is
-- called once per row, where SET would cost a GUC save and restore per call
-- (sql/120_scoring.sql); _copy_to_spool runs the caller's query under the caller's path,
-- as COPY does (sql/500_loaders.sql); and the SQL functions whose one-line body hands the
-- caller's search_path to an internal function (train, score, assess_customer, ...); and predict,
-- C that checks its arrays and calls churnml._predict by its qualified name.
SELECT p.oid::regprocedure AS unpinned
FROM pg_proc p
WHERE p.pronamespace = 'churnml'::regnamespace
  AND NOT coalesce('search_path=pg_catalog, pg_temp' = ANY (p.proconfig), false)
ORDER BY p.oid::regprocedure::text;

-- Every function has a comment (expect no rows).
SELECT p.oid::regprocedure AS undocumented
FROM pg_proc p
WHERE p.pronamespace = 'churnml'::regnamespace
  AND obj_description(p.oid, 'pg_proc') IS NULL;

-- PUBLIC may execute nothing (expect no rows).
SELECT p.oid::regprocedure AS public_executable
FROM pg_proc p
WHERE p.pronamespace = 'churnml'::regnamespace
  AND EXISTS (SELECT FROM aclexplode(coalesce(p.proacl, acldefault('f', p.proowner))) a
              WHERE a.grantee = 0 AND a.privilege_type = 'EXECUTE');

-- Nothing reading a deployment may claim to be IMMUTABLE: only pure text helpers are, and
-- churnml._predict (what predict calls), which reads one registered model by id (a registered model never changes).
SELECT p.oid::regprocedure AS immutable_python
FROM pg_proc p JOIN pg_language l ON l.oid = p.prolang
WHERE p.pronamespace = 'churnml'::regnamespace AND l.lanname = 'plpython3u' AND p.provolatile = 'i'
ORDER BY p.oid::regprocedure::text;

-- The roles exist; the admin role is also a user.
SELECT rolname, rolcanlogin FROM pg_roles WHERE rolname IN ('churnml_user', 'churnml_admin') ORDER BY 1;
SELECT pg_has_role('churnml_admin', 'churnml_user', 'MEMBER') AS admin_is_user;

-- A session whose loaded Python code is of another version refuses to run it.
DO $$
import churnml.runtime
churnml.runtime.VERSION = '0.0.0-old'
$$ LANGUAGE plpython3u;
SELECT churnml.runtime_info();
\echo :LAST_ERROR_SQLSTATE
-- ...and a new connection is fine.
\c
SELECT churnml.runtime_info() ->> 'churnml_version' = churnml.version() AS fine_after_reconnect;
