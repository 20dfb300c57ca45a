-- The runtime: the install-time check, version and diagnostics.

-- CREATE EXTENSION and every update fail here, before any function is created (the tables of
-- sql/schema/, created first, go with the failed transaction), when the backend cannot
-- import churnml's Python runtime. The runtime reaches the backend only through the
-- server's environment (PYTHONPATH), which no SQL user can change.
DO $check$
try:
    import churnml.sql_api.runtime as api
except Exception as exc:  # ImportError, or a broken copy of churnml
    import os
    import pwd
    pythonpath = os.environ.get("PYTHONPATH")
    # A runtime the server's OS user cannot read imports as "No module named ...":
    # name the directory and the user instead.
    unreadable, missing = [], []
    for entry in filter(None, (pythonpath or "").split(os.pathsep)):
        package = os.path.join(entry, "churnml")
        try:
            os.stat(entry)
        except FileNotFoundError:
            missing.append(entry)
            continue
        except OSError:  # a parent directory it may not search
            unreadable.append(entry)
            continue
        if not os.access(entry, os.R_OK | os.X_OK):
            unreadable.append(entry)
        elif os.path.isdir(package) and not os.access(package, os.R_OK | os.X_OK):
            unreadable.append(package)
    detail = "%s: %s. The server's PYTHONPATH is %r." % (type(exc).__name__, exc, pythonpath)
    if missing:
        detail += " %s does not exist." % ", ".join(missing)
    hint = ("Run `make install` in the churnml source tree, then start the server with "
            "PYTHONPATH naming the runtime's site directory (default "
            "/usr/local/lib/churnml/@EXTVERSION@/site); see docs/install.md.")
    if unreadable:
        user = pwd.getpwuid(os.geteuid()).pw_name
        detail += " The server's OS user %s cannot read %s." % (user, ", ".join(unreadable))
        hint = ("Make the runtime readable by %s (chmod -R a+rX on the site directory, as `make install` "
                "does) and reconnect; see docs/install.md." % user)
    plpy.error("churnml's Python code is not importable in this server", detail=detail, hint=hint,
               sqlstate="58P01")
api.check_install(plpy, '@EXTVERSION@',
    "Run `make install` in the churnml source tree to (re)build the runtime directory, "
    "then restart the server; see docs/install.md.")
$check$ LANGUAGE plpython3u;

CREATE OR REPLACE FUNCTION churnml.version() RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$ SELECT '@EXTVERSION@'::text $$;
COMMENT ON FUNCTION churnml.version() IS
'The version of the installed churnml SQL definitions.';

CREATE OR REPLACE FUNCTION churnml._build_id() RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$ SELECT '@BUILD_ID@'::text $$;
COMMENT ON FUNCTION churnml._build_id() IS
'Internal: a hash of the SQL this installation was created from, so that tools can tell a database created by an earlier build of the same version (the embedded server re-creates it).';

CREATE OR REPLACE FUNCTION churnml.runtime_info() RETURNS jsonb
LANGUAGE plpython3u VOLATILE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
import churnml.sql_api.runtime as api
return api.runtime_info(plpy, '@EXTVERSION@')
$$;
COMMENT ON FUNCTION churnml.runtime_info() IS
'Diagnostics of the Python runtime in this backend: versions of churnml, Python and its packages, the backend pid.';

CREATE OR REPLACE FUNCTION churnml._checked_batch(value anyarray, what text) RETURNS anyarray
LANGUAGE c STABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'churnml_checked_batch';
COMMENT ON FUNCTION churnml._checked_batch(anyarray, text) IS
'Internal: value itself, after checking it against churnml.max_batch_texts (elements) and churnml.max_batch_size (bytes), else 54000 naming `what`; the batch functions pass their arrays through it before PL/Python converts them. Calling it loads churnml.so, which defines those superuser-only parameters, so a value a user SET before is dropped.';

CREATE OR REPLACE FUNCTION churnml._check_select(query text, what text) RETURNS void
LANGUAGE c STABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'churnml_check_select';
COMMENT ON FUNCTION churnml._check_select(text, text) IS
'Internal: an error (42601, 42809) unless query is exactly one SELECT (or VALUES, TABLE) without a data-modifying WITH query or INTO, judged on PostgreSQL''s parse tree; what names the query in the message. Called before churnml runs a caller''s query as part of its own statement.';
