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

-- Progress of long churnml work, for every session (python_udfs/churnml/progress.py says how).
CREATE OR REPLACE FUNCTION churnml._progress_file() RETURNS text
LANGUAGE c VOLATILE STRICT PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'churnml_progress_file';
COMMENT ON FUNCTION churnml._progress_file() IS
'Internal: the path of this backend''s progress file ($PGDATA/pg_stat_tmp/churnml_progress.<pid>), which churnml''s Python rewrites while long work runs; the first call registers its removal when the backend exits.';

CREATE OR REPLACE FUNCTION churnml._progress() RETURNS TABLE (
    pid int, datname text, usename text, operation text, phase text, done bigint, total bigint, unit text,
    started timestamptz, phase_started timestamptz, updated timestamptz)
LANGUAGE plpython3u VOLATILE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS $$
import churnml.sql_api.runtime as api
return api.progress(plpy, '@EXTVERSION@')
$$;
COMMENT ON FUNCTION churnml._progress() IS
'Internal: what churnml.progress shows, the progress files of live backends joined with pg_stat_activity, detail only for backends whose statistics the caller may read.';

CREATE OR REPLACE VIEW churnml.progress WITH (security_invoker = true) AS
SELECT pid, datname, usename, operation, phase, done, total, unit, started, phase_started, updated
FROM churnml._progress();
COMMENT ON VIEW churnml.progress IS
'Long churnml work running now, one row per backend, like pg_stat_progress_*: the operation (train, train_sentiment, score, customer_risk, export_query, load_from_s3, detect_sentiment_batch, sentiment_summary, embed_batch), its phase, done of total units (total NULL when unknown), when it and its phase started, when this was last updated (at most every 0.5 s while it advances). Phase and counts are shown for your own backends (those of roles whose privileges you have), and for all to superusers and pg_read_all_stats members; for others only pid, database, user and operation. Uncommitted work is visible: it is not stored in a table.';
