-- churnml upgrade 0.2.0 -> 0.3.0, built from sql/ by extension/tools/build-sql.sh: edit those, not this.
-- The deltas (run once), then every re-runnable file of the 0.3.0 install script.
-- build id: 8ba4d4f4c32bf826
\echo Use "ALTER EXTENSION churnml UPDATE" to load this file. \quit

-- ---- sql/upgrades/0.2.0--0.3.0.sql ----
-- churnml 0.2.0 -> 0.3.0: what an update cannot get by re-running the 0.3.0 install
-- script's re-runnable files (functions, views, triggers, comments, grants; see sql/README.md).

-- ---------------------------------------------------------------------------------------
-- Records are the database's, not the caller's (issue 19). Table-level INSERT/UPDATE
-- become column grants without ids, builtin and the audit columns: revoke the table-level
-- ones here (revoking a table privilege revokes its column privileges too); the replayed
-- install script then grants the columns.
REVOKE INSERT, UPDATE ON churnml.models, churnml.deployments, churnml.incentive_inputs, churnml.experiments,
    churnml.incentive_rules, churnml.offer_outcomes, churnml.call_center_settings FROM churnml_admin;
REVOKE INSERT ON churnml.offer_log FROM churnml_user;
REVOKE INSERT ON churnml.load_history FROM churnml_loader;

-- Builtin rows are churnml's own: rules 1-7 and the walkthrough's experiment (ids and names
-- CREATE EXTENSION gives them, which pg_restore updates in place). A 0.2.0 admin could insert
-- more with builtin = true, which then could never be deleted: they become ordinary rows.
-- The check triggers are PL/Python of 0.2.0 until the functions are replayed below, so they
-- stand aside for this one update.
ALTER TABLE churnml.incentive_rules DISABLE TRIGGER check_rule;
ALTER TABLE churnml.experiments DISABLE TRIGGER check_experiment;
DO $builtin$
DECLARE
    freed text;
BEGIN
    WITH changed AS (
        UPDATE churnml.incentive_rules SET builtin = false
        WHERE builtin AND id OPERATOR(pg_catalog.>) 7 RETURNING id, name)
    SELECT pg_catalog.string_agg(pg_catalog.format('%s (%s)', id, name), ', ' ORDER BY id) INTO freed FROM changed;
    IF freed IS NOT NULL THEN
        RAISE WARNING 'churnml 0.3.0: rules % were marked builtin but are not churnml''s; they are ordinary rules now',
            freed USING HINT = 'Only CREATE EXTENSION and pg_restore write builtin rows now. Review these rules.';
    END IF;
    WITH changed AS (
        UPDATE churnml.experiments SET builtin = false
        WHERE builtin AND name OPERATOR(pg_catalog.<>) 'negative_medium_risk_credit' RETURNING name)
    SELECT pg_catalog.string_agg(name, ', ' ORDER BY name) INTO freed FROM changed;
    IF freed IS NOT NULL THEN
        RAISE WARNING 'churnml 0.3.0: experiments % were marked builtin but are not churnml''s; they are ordinary '
                      'experiments now', freed
            USING HINT = 'Only CREATE EXTENSION and pg_restore write builtin rows now. Review these experiments.';
    END IF;
END
$builtin$;
ALTER TABLE churnml.incentive_rules ENABLE TRIGGER check_rule;
ALTER TABLE churnml.experiments ENABLE TRIGGER check_experiment;

-- New constraints, added NOT VALID so that existing rows are not lost: each is validated
-- when every existing row meets it (then the catalog is exactly a fresh install's); else it
-- stays NOT VALID, still checking every new or updated row, and a WARNING names the rows
-- that break it and the statement that validates it once they are fixed.
ALTER TABLE churnml.deployments
    ADD CONSTRAINT deployments_name_check CHECK (name ~ '^[A-Za-z_][A-Za-z0-9_.-]{0,62}$') NOT VALID;
ALTER TABLE churnml.incentive_rules
    ADD CONSTRAINT incentive_rules_condition_length
        CHECK (pg_catalog.char_length(condition) OPERATOR(pg_catalog.<=) 2000) NOT VALID,
    ADD CONSTRAINT incentive_rules_offer_length
        CHECK (pg_catalog.char_length(offer) OPERATOR(pg_catalog.<=) 100) NOT VALID,
    ADD CONSTRAINT incentive_rules_reason_length
        CHECK (pg_catalog.char_length(reason) OPERATOR(pg_catalog.<=) 500) NOT VALID;
DO $validate$
DECLARE
    c record;
    bad text;
BEGIN
    -- each: the table, the constraint, and the rows that break it (a row passes a CHECK unless it is false)
    FOR c IN SELECT * FROM (VALUES
        ('deployments', 'deployments_name_check', 'pg_catalog.format(''%s (%L)'', id, name)',
         'NOT name OPERATOR(pg_catalog.~) ''^[A-Za-z_][A-Za-z0-9_.-]{0,62}$'''),
        ('incentive_rules', 'incentive_rules_condition_length', 'pg_catalog.format(''%s (%s)'', id, name)',
         'pg_catalog.char_length(condition) OPERATOR(pg_catalog.>) 2000'),
        ('incentive_rules', 'incentive_rules_offer_length', 'pg_catalog.format(''%s (%s)'', id, name)',
         'pg_catalog.char_length(offer) OPERATOR(pg_catalog.>) 100'),
        ('incentive_rules', 'incentive_rules_reason_length', 'pg_catalog.format(''%s (%s)'', id, name)',
         'pg_catalog.char_length(reason) OPERATOR(pg_catalog.>) 500')
    ) AS v (tab, con, shown, broken) LOOP
        EXECUTE pg_catalog.format('SELECT pg_catalog.string_agg(%s, '', '' ORDER BY id) FROM churnml.%I WHERE %s',
                                  c.shown, c.tab, c.broken) INTO bad;
        IF bad IS NULL THEN
            EXECUTE pg_catalog.format('ALTER TABLE churnml.%I VALIDATE CONSTRAINT %I', c.tab, c.con);
        ELSE
            RAISE WARNING 'churnml 0.3.0: existing rows of churnml.% break the new constraint %, left NOT VALID',
                c.tab, c.con
                USING DETAIL = pg_catalog.format('Rows (id): %s. New and updated rows are checked all the same.',
                                                 pg_catalog.left(bad, 2000)),
                      HINT = pg_catalog.format('Fix or delete those rows, then run ALTER TABLE churnml.%I VALIDATE '
                                               'CONSTRAINT %I.', c.tab, c.con);
        END IF;
    END LOOP;
END
$validate$;

-- The offer log's consistency check (for new offers: those already logged are history, kept
-- as they are), the outcomes' bounds and the settings' update stamp.
-- The functions are created here so the triggers can name them; the replayed install
-- script then re-creates them (_offer_log_check with its body: here it is a placeholder).
CREATE FUNCTION churnml._offer_log_check() RETURNS trigger
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    RETURN NEW;  -- a placeholder: the replayed install script gives it its body
END
$$;
CREATE TRIGGER check_offer BEFORE INSERT ON churnml.offer_log
    FOR EACH ROW EXECUTE FUNCTION churnml._offer_log_check();
CREATE FUNCTION churnml._offer_outcomes_check() RETURNS trigger
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    offered timestamptz;
BEGIN
    IF TG_OP OPERATOR(pg_catalog.=) 'UPDATE' THEN
        NEW.recorded_by := CURRENT_USER;  -- who changed it last (an INSERT gets the column default)
    END IF;
    IF NEW.recorded_at OPERATOR(pg_catalog.>) pg_catalog.clock_timestamp() THEN
        RAISE EXCEPTION USING
            ERRCODE = '22023',
            MESSAGE = pg_catalog.format('churnml: the outcome of offer %s cannot be recorded in the future',
                                        NEW.offer_id),
            DETAIL = pg_catalog.format('recorded_at is %s.', NEW.recorded_at),
            HINT = 'Leave recorded_at to its default, now().';
    END IF;
    SELECT l.offered_at INTO offered FROM churnml.offer_log AS l WHERE l.id OPERATOR(pg_catalog.=) NEW.offer_id;
    IF offered OPERATOR(pg_catalog.>) NEW.recorded_at THEN
        RAISE EXCEPTION USING
            ERRCODE = '22023',
            MESSAGE = pg_catalog.format('churnml: the outcome of offer %s cannot be recorded before the offer was made',
                                        NEW.offer_id),
            DETAIL = pg_catalog.format('The offer was made at %s; recorded_at is %s.', offered, NEW.recorded_at);
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER check_outcome BEFORE INSERT OR UPDATE ON churnml.offer_outcomes
    FOR EACH ROW EXECUTE FUNCTION churnml._offer_outcomes_check();
CREATE FUNCTION churnml._stamp_updated() RETURNS trigger
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    NEW.updated_by := CURRENT_USER;
    NEW.updated_at := pg_catalog.now();
    RETURN NEW;
END
$$;
CREATE TRIGGER stamp_updated BEFORE UPDATE ON churnml.call_center_settings
    FOR EACH ROW EXECUTE FUNCTION churnml._stamp_updated();

-- Public signatures without internal arguments: _search_path and _statement are gone
-- (the caller's search_path is handed on by SQL wrappers, the statement start read from the
-- server). CREATE OR REPLACE cannot drop an argument, so the old forms are dropped here and
-- the replayed install script creates the new ones. customer_risk depends on
-- _customer_risk_batches: the view is dropped with it and re-created by the replay.
-- IF EXISTS: an update from 0.1.0 runs this delta right after 0.1.0--0.2.0.sql, without 0.2.0's
-- re-runnable files in between, so what only those created is not there to drop.
DROP VIEW IF EXISTS churnml.customer_risk;
DROP FUNCTION IF EXISTS churnml._customer_risk_batches(int, text, float8);
DROP FUNCTION IF EXISTS churnml.train(text, text, text, text[], text[], jsonb, jsonb, jsonb, text, float8, float8, int, boolean,
                            bigint, text);
DROP FUNCTION IF EXISTS churnml.train_sentiment(text, text, text, text, int, boolean, text);
DROP FUNCTION IF EXISTS churnml.churn_flag(float8, text, float8);
DROP FUNCTION IF EXISTS churnml._explain_json(text, text, int, float8);
DROP FUNCTION IF EXISTS churnml.score(text, text, text, int, text);
DROP FUNCTION IF EXISTS churnml._score_batches(text, text, text, int, text, float8);
DROP FUNCTION IF EXISTS churnml.recommend_incentive(float8, text, float8, jsonb, text, text, timestamptz, float8);
DROP FUNCTION IF EXISTS churnml.assess_customer_text(bigint, text, text, boolean, text, text);
DROP FUNCTION IF EXISTS churnml.assess_customer(bigint, text, text, boolean, text, text, float8);


-- Storage locations and their grants (sql/490_storage_locations.sql): new configuration
-- tables, their row-level security policy and audit triggers. The trigger function is
-- created here so the triggers can name it; the replayed install script re-creates it
-- identically. An updated database has no location: every export and load is refused
-- (42501, with the calls an administrator runs in the hint) until one is declared and
-- granted (docs/install.md, "Upgrading").
CREATE TABLE churnml.storage_locations (
    name        text PRIMARY KEY
                CONSTRAINT storage_location_name CHECK (name OPERATOR(pg_catalog.~) '^[a-z][a-z0-9_]{0,62}$'),
    uri_prefix  text NOT NULL UNIQUE
                CONSTRAINT storage_location_prefix CHECK (
                    pg_catalog.octet_length(uri_prefix) OPERATOR(pg_catalog.<=) 1100
                    AND (uri_prefix OPERATOR(pg_catalog.~) '^s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]/([^/]+/)*$'
                         OR uri_prefix OPERATOR(pg_catalog.~) '^file:///([^/]+/)*$')
                    AND uri_prefix OPERATOR(pg_catalog.!~) '^s3://[^/]*(\.\.|\.-|-\.)'
                    AND uri_prefix OPERATOR(pg_catalog.!~) '/\.\.?/'
                    AND uri_prefix OPERATOR(pg_catalog.!~) '[[:cntrl:]\\]'
                    AND uri_prefix OPERATOR(pg_catalog.!~*) '%(2e|2f|5c)'),
    credential  text NOT NULL DEFAULT 'default'
                CONSTRAINT storage_location_credential CHECK (credential OPERATOR(pg_catalog.~) '^[A-Za-z0-9_.-]{1,64}$'),
    sse         text
                CONSTRAINT storage_location_sse CHECK (sse OPERATOR(pg_catalog.=) ANY (ARRAY['AES256', 'aws:kms'])),
    kms_key_id  text
                CONSTRAINT storage_location_kms_key CHECK (kms_key_id IS NULL OR (
                    sse IS NOT NULL AND sse OPERATOR(pg_catalog.=) 'aws:kms' AND kms_key_id OPERATOR(pg_catalog.~) '^[A-Za-z0-9:/_.-]+$'
                    AND pg_catalog.length(kms_key_id) OPERATOR(pg_catalog.<=) 2048)),
    description text,
    created_by  name NOT NULL DEFAULT CURRENT_USER,
    created_at  timestamptz NOT NULL DEFAULT pg_catalog.now()
);
SELECT pg_catalog.pg_extension_config_dump('churnml.storage_locations', '');
CREATE TABLE churnml.storage_grants (
    location    text NOT NULL REFERENCES churnml.storage_locations (name) ON UPDATE CASCADE ON DELETE CASCADE,
    grantee     regrole NOT NULL,
    privilege   text NOT NULL
                CONSTRAINT storage_grant_privilege CHECK (privilege OPERATOR(pg_catalog.=) ANY (ARRAY['read', 'write'])),
    created_by  name NOT NULL DEFAULT CURRENT_USER,
    created_at  timestamptz NOT NULL DEFAULT pg_catalog.now(),
    PRIMARY KEY (location, grantee, privilege)
);
SELECT pg_catalog.pg_extension_config_dump('churnml.storage_grants', '');
ALTER TABLE churnml.storage_grants ENABLE ROW LEVEL SECURITY;
CREATE POLICY grantees_and_admins ON churnml.storage_grants
    USING (pg_catalog.pg_has_role('churnml_admin', 'USAGE')
           OR grantee::pg_catalog.oid OPERATOR(pg_catalog.=) ANY (ARRAY(
               SELECT r.oid FROM pg_catalog.pg_roles AS r WHERE pg_catalog.pg_has_role(r.oid, 'USAGE'))))
    WITH CHECK (pg_catalog.pg_has_role('churnml_admin', 'USAGE'));
CREATE FUNCTION churnml._storage_audit() RETURNS trigger
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    -- A superuser's values stand (pg_restore brings back who declared or granted what, and when);
    -- anyone else is recorded as who they are, now, and cannot rewrite the record later.
    IF NOT coalesce((SELECT r.rolsuper FROM pg_catalog.pg_roles AS r
                     WHERE r.rolname OPERATOR(pg_catalog.=) CURRENT_USER), false) THEN
        IF TG_OP OPERATOR(pg_catalog.=) 'UPDATE' THEN
            NEW.created_by := OLD.created_by;
            NEW.created_at := OLD.created_at;
        ELSE
            NEW.created_by := CURRENT_USER;
            NEW.created_at := pg_catalog.now();
        END IF;
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER audit BEFORE INSERT OR UPDATE ON churnml.storage_locations
    FOR EACH ROW EXECUTE FUNCTION churnml._storage_audit();
CREATE TRIGGER audit BEFORE INSERT OR UPDATE ON churnml.storage_grants
    FOR EACH ROW EXECUTE FUNCTION churnml._storage_audit();

-- export_query and load_from_s3 without _search_path (SQL functions handing the caller's
-- path to _export_query and _load_from_s3).
DROP FUNCTION IF EXISTS churnml.export_query(text, text, text, boolean, boolean, boolean, text, bigint, text);
DROP FUNCTION IF EXISTS churnml.load_from_s3(regclass, text, text, text, boolean, int, text[], text, text);

-- ---------------------------------------------------------------------------------------
-- Cutoffs that come from the deployed model (issue 21): where each deployment's cutoff came
-- from, what a rollback restored, and the business costs deploy chooses a cutoff with.
-- Deployments made before 0.3.0 keep NULL in both columns (their source is not known).
ALTER TABLE churnml.deployments ADD COLUMN cutoff_source text, ADD COLUMN restores bigint;
CREATE TABLE churnml.business_costs (
    name    text PRIMARY KEY CHECK (name ~ '^[A-Za-z_][A-Za-z0-9_.-]{0,62}$'),
    fp_cost float8 NOT NULL CHECK (fp_cost > '-Infinity' AND fp_cost < 'Infinity'),
    fn_cost float8 NOT NULL CHECK (fn_cost > '-Infinity' AND fn_cost < 'Infinity'),
    tp_cost float8 NOT NULL DEFAULT 0 CHECK (tp_cost > '-Infinity' AND tp_cost < 'Infinity'),
    tn_cost float8 NOT NULL DEFAULT 0 CHECK (tn_cost > '-Infinity' AND tn_cost < 'Infinity'),
    set_by  name NOT NULL DEFAULT current_user,
    set_at  timestamptz NOT NULL DEFAULT now()
);
SELECT pg_catalog.pg_extension_config_dump('churnml.business_costs', '');

-- ---------------------------------------------------------------------------------------
-- Clean psql output (issue 21): SELECT * FROM churnml.models no longer prints model files.
-- The artifacts and held-out rows move to churnml.model_artifacts (one row per model,
-- deleted with it); the column grants on the moved columns go with them.
CREATE TABLE churnml.model_artifacts (
    model_id        bigint PRIMARY KEY REFERENCES churnml.models (id) ON DELETE CASCADE,
    artifact        bytea NOT NULL,
    holdout_labels  boolean[],
    holdout_scores  float8[]
);
SELECT pg_catalog.pg_extension_config_dump('churnml.model_artifacts', '');
INSERT INTO churnml.model_artifacts (model_id, artifact, holdout_labels, holdout_scores)
SELECT id, artifact, holdout_labels, holdout_scores FROM churnml.models;
ALTER TABLE churnml.models DROP COLUMN artifact, DROP COLUMN holdout_labels, DROP COLUMN holdout_scores;

-- rule_set_cost's counts and money are numeric, rounded (they were float8: 175.99999999999855);
-- CREATE OR REPLACE cannot change a result type.
DROP FUNCTION IF EXISTS churnml.rule_set_cost(text, numeric, float8, text, float8, jsonb, float8, timestamptz);

-- ---------------------------------------------------------------------------------------
-- Endpoint outputs as Aurora's endpoints give them (issue 22): what invoke_endpoint answers
-- for each deployment name (churnml.set_endpoint_output). Deployments made before 0.3.0 answer
-- the probability, as they did.
ALTER TABLE churnml.deployments ADD COLUMN endpoint_output text NOT NULL DEFAULT 'probability'
    CONSTRAINT deployments_endpoint_output_check
    CHECK (endpoint_output ~ '^(probability|label|threshold)(,(probability|label|threshold)){0,2}$');

-- Every COPY option on export and import (issue 22): COPY's own functions take the options
-- as values (text[] pairs) instead of 0.2.0's force_quote flag; CREATE OR REPLACE cannot
-- change arguments. (IF EXISTS: an update from 0.1.0 never made them.)
DROP FUNCTION IF EXISTS churnml._copy_to_spool(text, text, text, boolean);
DROP FUNCTION IF EXISTS churnml._copy_from_spool(regclass, text, text, text[], text[], bigint[], bigint[]);

-- ---------------------------------------------------------------------------------------
-- Drift monitoring (issue 23): reference profiles, thresholds per name, and monitor runs.
CREATE TABLE churnml.model_profiles (
    model_id    bigint PRIMARY KEY REFERENCES churnml.models (id) ON DELETE CASCADE,
    profile     jsonb NOT NULL CONSTRAINT model_profiles_profile_check CHECK (jsonb_typeof(profile) = 'object'),
    captured_by name NOT NULL DEFAULT current_user,
    captured_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE churnml.monitor_settings (
    name      text PRIMARY KEY CHECK (name ~ '^[A-Za-z_][A-Za-z0-9_.-]{0,62}$'),
    warn_psi  float8 NOT NULL DEFAULT 0.1 CHECK (warn_psi > 0 AND warn_psi < 'Infinity'),
    alert_psi float8 NOT NULL DEFAULT 0.25 CHECK (alert_psi > 0 AND alert_psi < 'Infinity'),
    max_rows  bigint NOT NULL DEFAULT 100000 CHECK (max_rows BETWEEN 1 AND 5000000),
    set_by    name NOT NULL DEFAULT current_user,
    set_at    timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT monitor_settings_order_check CHECK (warn_psi <= alert_psi)
);

CREATE TABLE churnml.monitor_runs (
    id               bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    name             text NOT NULL,
    model_id         bigint NOT NULL REFERENCES churnml.models (id) ON DELETE CASCADE,
    source           text NOT NULL,
    rows             bigint NOT NULL CHECK (rows >= 0),
    population       bigint NOT NULL CHECK (population >= rows),
    score_psi        float8,
    max_feature_psi  float8 NOT NULL,
    status           text NOT NULL CHECK (status IN ('ok', 'warn', 'alert')),
    drifted_features text[] NOT NULL DEFAULT '{}',
    features         jsonb NOT NULL,
    score            jsonb,
    warn_psi         float8 NOT NULL,
    alert_psi        float8 NOT NULL,
    seconds          float8 NOT NULL,
    run_by           name NOT NULL DEFAULT current_user,
    run_at           timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX monitor_runs_name_idx ON churnml.monitor_runs (name, run_at);

SELECT pg_catalog.pg_extension_config_dump('churnml.model_profiles', '');
SELECT pg_catalog.pg_extension_config_dump('churnml.monitor_settings', '');
SELECT pg_catalog.pg_extension_config_dump('churnml.monitor_runs', '');
SELECT pg_catalog.pg_extension_config_dump('churnml.monitor_runs_id_seq', '');
-- Gated retraining on pg_cron (issue 23): the policies its jobs run and every run's outcome
-- (as sql/schema/620_retraining.sql).
CREATE TABLE churnml.retrain_policies (
    id           bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    name         text NOT NULL UNIQUE CHECK (name ~ '^[A-Za-z_][A-Za-z0-9_.-]{0,62}$'),
    schedule     text NOT NULL CHECK (schedule <> '' AND length(schedule) <= 100),
    source       text NOT NULL CHECK (source <> ''),
    search_path  text NOT NULL,
    min_gain     float8 NOT NULL CHECK (min_gain >= 0 AND min_gain <= 1),
    min_auc      float8 NOT NULL CHECK (min_auc >= 0 AND min_auc <= 1),
    cron_job_id  bigint,
    cron_job_name text,
    scheduled_by name NOT NULL DEFAULT current_user,
    scheduled_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE churnml.retrain_history (
    id             bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    name           text NOT NULL,
    trigger        text NOT NULL CHECK (trigger IN ('manual', 'schedule')),
    started_at     timestamptz NOT NULL,
    finished_at    timestamptz NOT NULL,
    status         text NOT NULL CHECK (status IN ('promoted', 'kept', 'failed')),
    champion_id    bigint,
    challenger_id  bigint,
    champion_auc   float8,
    challenger_auc float8,
    evaluated_rows bigint,
    reason         text NOT NULL,
    details        jsonb NOT NULL DEFAULT '{}',
    run_by         name NOT NULL DEFAULT current_user
);
CREATE INDEX retrain_history_name_idx ON churnml.retrain_history (name, id DESC);
SELECT pg_catalog.pg_extension_config_dump('churnml.retrain_policies', '');
SELECT pg_catalog.pg_extension_config_dump('churnml.retrain_policies_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('churnml.retrain_history', '');
SELECT pg_catalog.pg_extension_config_dump('churnml.retrain_history_id_seq', '');
-- Prediction logging, realized performance and shadow challengers (issue 23, items 3 and 5):
-- the tables of sql/schema/610_prediction_log.sql.
CREATE TABLE churnml.prediction_logging (
    name        text PRIMARY KEY CHECK (name ~ '^[A-Za-z_][A-Za-z0-9_.-]{0,62}$'),
    sample_rate float8 NOT NULL CHECK (sample_rate >= 0 AND sample_rate <= 1),
    key_column  text CHECK (key_column <> '' AND pg_catalog.length(key_column) <= 63),
    set_by      name NOT NULL DEFAULT current_user,
    set_at      timestamptz NOT NULL DEFAULT now()
);

-- The challenger scored beside a name's serving model on every logged call (one per name).
CREATE TABLE churnml.shadow_models (
    name        text PRIMARY KEY CHECK (name ~ '^[A-Za-z_][A-Za-z0-9_.-]{0,62}$'),
    model_id    bigint NOT NULL REFERENCES churnml.models (id) ON DELETE CASCADE,
    started_by  name NOT NULL DEFAULT current_user,
    started_at  timestamptz NOT NULL DEFAULT now()
);

-- One row per logged call and model: the serving model's answer, and the shadow's beside it
-- (serving_id pairs a shadow row with the serving row of the same call). Outcomes are attached
-- later by churnml.record_outcomes.
-- Without CHECK constraints, on purpose: PostgreSQL prepares a table's CHECK constraints afresh
-- for every INSERT statement, and every logged call is one (measured: ~12 us of ~70 for the five
-- this table had). Its one writer, churnml._log_prediction, writes only probabilities from 0 to 1,
-- a deployment's cutoff and the roles 'serving' (serving_id NULL) and 'shadow' (serving_id set);
-- churnml_admin may update only outcome and outcome_at (record_outcomes sets both).
CREATE TABLE churnml.prediction_log (
    id          bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    name        text NOT NULL,
    model_id    bigint NOT NULL,
    role        text NOT NULL,
    entity_key  text,
    probability float8 NOT NULL,
    threshold   float8 NOT NULL,
    logged_at   timestamptz NOT NULL DEFAULT statement_timestamp(),
    outcome     boolean,
    outcome_at  timestamptz,
    serving_id  bigint
);
-- realized_performance reads a name's calls by time; record_outcomes finds a name's calls by key
CREATE INDEX prediction_log_name_time_idx ON churnml.prediction_log (name, logged_at);
CREATE INDEX prediction_log_name_key_idx ON churnml.prediction_log (name, entity_key) WHERE entity_key IS NOT NULL;
CREATE INDEX prediction_log_serving_idx ON churnml.prediction_log (serving_id) WHERE serving_id IS NOT NULL;

SELECT pg_catalog.pg_extension_config_dump('churnml.prediction_logging', '');
SELECT pg_catalog.pg_extension_config_dump('churnml.shadow_models', '');
SELECT pg_catalog.pg_extension_config_dump('churnml.prediction_log', '');
SELECT pg_catalog.pg_extension_config_dump('churnml.prediction_log_id_seq', '');

-- ---- sql/000_runtime.sql ----
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
            "/usr/local/lib/churnml/0.3.0/site); see docs/install.md.")
    if unreadable:
        user = pwd.getpwuid(os.geteuid()).pw_name
        detail += " The server's OS user %s cannot read %s." % (user, ", ".join(unreadable))
        hint = ("Make the runtime readable by %s (chmod -R a+rX on the site directory, as `make install` "
                "does) and reconnect; see docs/install.md." % user)
    plpy.error("churnml's Python code is not importable in this server", detail=detail, hint=hint,
               sqlstate="58P01")
api.check_install(plpy, '0.3.0',
    "Run `make install` in the churnml source tree to (re)build the runtime directory, "
    "then restart the server; see docs/install.md.")
$check$ LANGUAGE plpython3u;

CREATE OR REPLACE FUNCTION churnml.version() RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$ SELECT '0.3.0'::text $$;
COMMENT ON FUNCTION churnml.version() IS
'The version of the installed churnml SQL definitions.';

CREATE OR REPLACE FUNCTION churnml._build_id() RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$ SELECT '8ba4d4f4c32bf826'::text $$;
COMMENT ON FUNCTION churnml._build_id() IS
'Internal: a hash of the SQL this installation was created from, so that tools can tell a database created by an earlier build of the same version (the embedded server re-creates it).';

CREATE OR REPLACE FUNCTION churnml.runtime_info() RETURNS jsonb
LANGUAGE plpython3u VOLATILE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
import churnml.sql_api.runtime as api
return api.runtime_info(plpy, '0.3.0')
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
return api.progress(plpy, '0.3.0')
$$;
COMMENT ON FUNCTION churnml._progress() IS
'Internal: what churnml.progress shows, the progress files of live backends joined with pg_stat_activity, detail only for backends whose statistics the caller may read.';

CREATE OR REPLACE VIEW churnml.progress WITH (security_invoker = true) AS
SELECT pid, datname, usename, operation, phase, done, total, unit, started, phase_started, updated
FROM churnml._progress();
COMMENT ON VIEW churnml.progress IS
'Long churnml work running now, one row per backend, like pg_stat_progress_*: the operation (train, train_sentiment, score, customer_risk, export_query, load_from_s3, detect_sentiment_batch, sentiment_summary, embed_batch), its phase, done of total units (total NULL when unknown), when it and its phase started, when this was last updated (at most every 0.5 s while it advances). Phase and counts are shown for your own backends (those of roles whose privileges you have), and for all to superusers and pg_read_all_stats members; for others only pid, database, user and operation. Uncommitted work is visible: it is not stored in a table.';

-- ---- sql/001_roles.sql ----
-- Two roles, created once per cluster (roles are cluster-wide: DROP EXTENSION keeps them).
--   churnml_user   scoring, sentiment, recommendations, the call-center function
--   churnml_admin  training, deploys, rules, settings (also a churnml_user and a churnml_loader)
--   churnml_loader export_query / load_from_s3 (object storage in and out)
DO $roles$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname OPERATOR(pg_catalog.=) 'churnml_user') THEN
        CREATE ROLE churnml_user NOLOGIN;
    END IF;
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname OPERATOR(pg_catalog.=) 'churnml_admin') THEN
        CREATE ROLE churnml_admin NOLOGIN;
    END IF;
    IF NOT pg_catalog.pg_has_role('churnml_admin', 'churnml_user', 'MEMBER') THEN
        GRANT churnml_user TO churnml_admin;
    END IF;
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname OPERATOR(pg_catalog.=) 'churnml_loader') THEN
        CREATE ROLE churnml_loader NOLOGIN;
    END IF;
    IF NOT pg_catalog.pg_has_role('churnml_admin', 'churnml_loader', 'MEMBER') THEN
        GRANT churnml_loader TO churnml_admin;
    END IF;
END
$roles$;

GRANT USAGE ON SCHEMA churnml TO churnml_user, churnml_loader;
GRANT EXECUTE ON FUNCTION churnml.version() TO churnml_user;
GRANT EXECUTE ON FUNCTION churnml.runtime_info() TO churnml_admin;
-- Internal helpers that churnml's Python calls as the caller, for every role.
GRANT EXECUTE ON FUNCTION churnml._checked_batch(anyarray, text), churnml._check_select(text, text)
TO churnml_user, churnml_loader;
-- Progress: each backend's churnml work writes its own (churnml._progress_file), and every
-- churnml role may read churnml.progress, which shows others' detail as pg_stat_activity would.
GRANT EXECUTE ON FUNCTION churnml._progress_file(), churnml._progress() TO churnml_user, churnml_loader;
GRANT SELECT ON churnml.progress TO churnml_user, churnml_loader;

-- ---- sql/100_registry.sql ----
-- The model registry: every trained model and every deployment, as rows.
-- Both tables are configuration tables (pg_extension_config_dump), so pg_dump
-- keeps their rows and pg_restore brings them back.

-- A registered model never changes what it predicts: churnml.predict(model_id, ...) is
-- IMMUTABLE on that promise, and postgres_fdw ships it to shards because of it.
CREATE OR REPLACE FUNCTION churnml._models_keep_identity() RETURNS trigger
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF NEW.id IS DISTINCT FROM OLD.id OR NEW.artifact_sha256 IS DISTINCT FROM OLD.artifact_sha256
       OR NEW.artifact_format IS DISTINCT FROM OLD.artifact_format OR NEW.kind IS DISTINCT FROM OLD.kind
       OR NEW.feature_spec IS DISTINCT FROM OLD.feature_spec THEN
        RAISE EXCEPTION USING
            ERRCODE = '55000',
            MESSAGE = pg_catalog.format('churnml: model %s cannot change its id, kind, artifact checksum, '
                                        'artifact format or feature spec', OLD.id),
            DETAIL = 'A registered model always predicts the same; churnml.predict(model_id, ...) is IMMUTABLE on '
                     'that promise.',
            HINT = 'Train a new model (churnml.train) and deploy it instead.';
    END IF;
    RETURN NEW;
END
$$;
COMMENT ON FUNCTION churnml._models_keep_identity() IS
'Internal trigger: a registered model keeps its id, kind, artifact checksum, artifact format and feature spec. Its artifact bytes (churnml.model_artifacts) can still be overwritten (the tests do, to simulate damage), but then they fail the unchanged checksum and are never served (XX001).';
CREATE OR REPLACE TRIGGER keep_identity BEFORE UPDATE ON churnml.models
    FOR EACH ROW EXECUTE FUNCTION churnml._models_keep_identity();
COMMENT ON TABLE churnml.models IS
'Every trained model: its artifact''s format and SHA-256 (verified on every load), the fitted feature spec, hyperparameters, metrics and training facts. The artifact itself (up to 64 MiB) and the held-out rows are in churnml.model_artifacts, so that SELECT * here reads like a catalog (churnml.model_summary: one line per model).';
COMMENT ON TABLE churnml.model_artifacts IS
'The artifact of each model of churnml.models (XGBoost JSON or UBJSON, or a sentiment head''s JSON), checked against churnml.models.artifact_sha256 on every load: bytes changed here fail it and are never served (XX001); and its held-out test rows (one label and one probability each), which threshold_costs, optimal_threshold, rule_set_cost and the report read.';
COMMENT ON TABLE churnml.deployments IS
'Deployment history, one row per event (deploy, set_threshold, rollback): the latest row per name is the model and cutoff that name serves; rollback undoes the latest event that is not undone yet.';
COMMENT ON COLUMN churnml.deployments.cutoff_source IS
'Where the cutoff came from: given (deploy''s threshold argument), business costs (the cheapest on the model''s held-out rows at churnml.business_costs), model default, set_threshold or rollback; NULL for deployments made before 0.3.0.';
COMMENT ON COLUMN churnml.deployments.restores IS
'For a rollback: the deployment whose model and cutoff it restored (a later rollback continues from the event before that one).';
COMMENT ON COLUMN churnml.deployments.endpoint_output IS
'What aws_sagemaker.invoke_endpoint answers for this name: probability (the default), label (1 when the probability is above the cutoff, else 0: what a classifier endpoint answers, so ::INT works) or threshold (the cutoff), or several of them comma-separated, answered as a record literal such as (0.93,1) for a cast to a composite type. Set with churnml.set_endpoint_output; deploy, set_threshold and rollback carry it on.';
COMMENT ON TABLE churnml.business_costs IS
'What each outcome costs for a deployment name (fp = flagged and stayed, fn = not flagged and churned, tp, tn): churnml.deploy then gives the new model the cheapest cutoff on its held-out rows at these costs, instead of the model''s default. Written by churnml.set_business_costs; DELETE a row to go back to the default.';
COMMENT ON SEQUENCE churnml.models_id_seq IS 'Ids of churnml.models (its identity column).';
COMMENT ON SEQUENCE churnml.deployments_id_seq IS 'Ids of churnml.deployments (its identity column).';

CREATE OR REPLACE VIEW churnml.current_deployments AS
SELECT DISTINCT ON (d.name)
       d.name, d.model_id, m.name AS model_name, d.threshold, d.strategy, d.deployed_by, d.deployed_at,
       (m.metrics -> 'test' ->> 'auc')::float8 AS test_auc, d.endpoint_output
FROM churnml.deployments AS d
JOIN churnml.models AS m ON m.id OPERATOR(pg_catalog.=) d.model_id
ORDER BY d.name, d.id DESC;
COMMENT ON VIEW churnml.current_deployments IS
'The model each name serves now, with its threshold and what aws_sagemaker.invoke_endpoint answers for it (endpoint_output).';

CREATE OR REPLACE VIEW churnml.model_summary AS
SELECT m.id, m.name, m.kind, m.algorithm, m.parent_id, m.created_by, m.created_at,
       (m.metrics -> 'train' ->> 'auc')::float8 AS train_auc,
       (m.metrics -> 'validation' ->> 'auc')::float8 AS validation_auc,
       (m.metrics -> 'test' ->> 'auc')::float8 AS test_auc,
       (m.metrics -> 'test' ->> 'log_loss')::float8 AS test_log_loss,
       jsonb_array_length(m.feature_spec -> 'features') AS n_features,
       (m.training ->> 'rows')::bigint AS training_rows,
       (m.training ->> 'seconds')::float8 AS training_seconds,
       EXISTS (SELECT FROM churnml.current_deployments c WHERE c.model_id OPERATOR(pg_catalog.=) m.id) AS deployed
FROM churnml.models AS m;
COMMENT ON VIEW churnml.model_summary IS
'One line per model with its key metrics and whether it is deployed.';

GRANT SELECT ON churnml.models, churnml.model_artifacts, churnml.deployments, churnml.current_deployments,
    churnml.model_summary, churnml.business_costs TO churnml_user;
-- Column grants leave out id and the audit columns (created_by/at, deployed_by/at): their
-- defaults say who wrote a row and when, and a caller cannot write them (a superuser, who
-- restores dumps, still can).
GRANT INSERT (name, kind, algorithm, artifact_format, artifact_sha256, feature_spec, params, metrics,
              training, parent_id),
      UPDATE (name, kind, algorithm, artifact_format, artifact_sha256, feature_spec, params, metrics,
              training, parent_id)
    ON churnml.models TO churnml_admin;
GRANT INSERT (model_id, artifact, holdout_labels, holdout_scores),
      UPDATE (artifact, holdout_labels, holdout_scores)
    ON churnml.model_artifacts TO churnml_admin;
GRANT INSERT (name, model_id, threshold, strategy, metrics, cutoff_source, restores, endpoint_output),
      UPDATE (name, model_id, threshold, strategy, metrics, cutoff_source, restores, endpoint_output)
    ON churnml.deployments TO churnml_admin;
GRANT INSERT (name, fp_cost, fn_cost, tp_cost, tn_cost), UPDATE (name, fp_cost, fn_cost, tp_cost, tn_cost)
    ON churnml.business_costs TO churnml_admin;
GRANT DELETE ON churnml.models, churnml.model_artifacts, churnml.deployments, churnml.business_costs TO churnml_admin;
GRANT USAGE ON SEQUENCE churnml.models_id_seq, churnml.deployments_id_seq TO churnml_admin;

-- ---- sql/110_training.sql ----
-- Training, deployment, thresholds and explanations (churnml_admin trains and deploys;
-- churnml_user may read explanations and costs).

-- The caller's search_path is what a source name or query resolves with, and a function
-- with SET search_path no longer sees it: so train is a SQL function without that
-- clause (every name in it schema-qualified) that hands the caller's path to _train.
CREATE OR REPLACE FUNCTION churnml._train(
    name text, source text, label text, features text[], exclude text[], feature_types jsonb, hyperparams jsonb,
    search jsonb, missing text, test_fraction float8, validation_fraction float8, seed int, deploy boolean,
    parent_id bigint, search_path text
) RETURNS bigint
LANGUAGE plpython3u VOLATILE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS $$
import churnml.sql_api.models as api
return api.train(plpy, '0.3.0', name, source, label, features, exclude, feature_types, hyperparams,
                 search, missing, test_fraction, validation_fraction, seed, deploy, parent_id,
                 search_path)
$$;
COMMENT ON FUNCTION churnml._train(text, text, text, text[], text[], jsonb, jsonb, jsonb, text, float8, float8, int, boolean, bigint, text) IS
'Internal: what churnml.train calls, with the caller''s search_path as the last argument.';

CREATE OR REPLACE FUNCTION churnml.train(
    name text,
    source text,
    label text,
    features text[] DEFAULT NULL,
    exclude text[] DEFAULT NULL,
    feature_types jsonb DEFAULT NULL,
    hyperparams jsonb DEFAULT NULL,
    search jsonb DEFAULT NULL,
    missing text DEFAULT 'native',
    test_fraction float8 DEFAULT 0.1,
    validation_fraction float8 DEFAULT 0.2,
    seed int DEFAULT 42,
    deploy boolean DEFAULT false,
    parent_id bigint DEFAULT NULL
) RETURNS bigint
LANGUAGE sql VOLATILE PARALLEL UNSAFE
AS $$
SELECT churnml._train(name, source, label, features, exclude, feature_types, hyperparams, search, missing,
                      test_fraction, validation_fraction, seed, deploy, parent_id,
                      pg_catalog.current_setting('search_path'))
$$;
COMMENT ON FUNCTION churnml.train(text, text, text, text[], text[], jsonb, jsonb, jsonb, text, float8, float8, int, boolean, bigint) IS
'Train an XGBoost churn model on a table, view or query and register it; returns the model id. Features: all columns but the label (or `features`, or all but `exclude`); `feature_types` overrides groups ({"col": "categorical"}); `missing` is native|mean|median|zero; `search` = {"trials": n} runs a random search on validation AUC. Progress is reported as NOTICEs. A source name or query resolves with the caller''s search_path.';

CREATE OR REPLACE FUNCTION churnml.register_model(
    name text,
    artifact text,
    feature_spec jsonb,
    metrics jsonb,
    training jsonb,
    params jsonb DEFAULT NULL,
    holdout jsonb DEFAULT NULL,
    deploy boolean DEFAULT false,
    parent_id bigint DEFAULT NULL
) RETURNS bigint
LANGUAGE plpython3u VOLATILE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS $$
import churnml.sql_api.models as api
return api.register_model(plpy, '0.3.0', name, artifact, feature_spec, metrics, training, params, holdout,
                          deploy, parent_id)
$$;
COMMENT ON FUNCTION churnml.register_model(text, text, jsonb, jsonb, jsonb, jsonb, jsonb, boolean, bigint) IS
'Register a churn model trained outside the database (churnml train --engine dask): `artifact` is XGBoost''s native JSON model text (for its UBJSON, pass bytea), `feature_spec` the fitted spec it was trained on, `metrics` and `training` as churnml.train stores them, `holdout` = {"labels": [...], "scores": [...]} of the test rows. churnml validates every field of the artifact before any library reads it, and it must be a binary:logistic gbtree or dart model whose input count and names match the spec''s encoded columns (else 22023). The canonical JSON written from the validated values is stored, with its SHA-256 (at most 64 MiB of it: a larger model is 22023). The feature spec is checked completely: names of 1 to 63 bytes, unique; every sql_type parsed by the database as a type its group can have. Returns the model id; `deploy` deploys it at once.';

CREATE OR REPLACE FUNCTION churnml.register_model(
    name text,
    artifact bytea,
    feature_spec jsonb,
    metrics jsonb,
    training jsonb,
    params jsonb DEFAULT NULL,
    holdout jsonb DEFAULT NULL,
    deploy boolean DEFAULT false,
    parent_id bigint DEFAULT NULL
) RETURNS bigint
LANGUAGE plpython3u VOLATILE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS $$
import churnml.sql_api.models as api
return api.register_model(plpy, '0.3.0', name, artifact, feature_spec, metrics, training, params, holdout,
                          deploy, parent_id)
$$;
COMMENT ON FUNCTION churnml.register_model(text, bytea, jsonb, jsonb, jsonb, jsonb, jsonb, boolean, bigint) IS
'Register a churn model trained outside the database from the bytes of its artifact: XGBoost''s UBJSON (booster.save_raw(), a .ubj file; its default save format) or its JSON. Otherwise as the text form: the artifact is validated completely before any library reads it (else 22023), and what is stored is its canonical JSON with its SHA-256. Returns the model id.';
COMMENT ON TYPE churnml.deployment IS 'What churnml.deploy, rollback and set_threshold return.';

CREATE OR REPLACE FUNCTION churnml.deploy(
    name text,
    model_id bigint DEFAULT NULL,
    strategy text DEFAULT NULL,
    threshold float8 DEFAULT NULL
) RETURNS churnml.deployment
LANGUAGE plpython3u VOLATILE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS $$
import churnml.sql_api.models as api
return api.deploy(plpy, '0.3.0', name, model_id, strategy, threshold)
$$;
COMMENT ON FUNCTION churnml.deploy(text, bigint, text, float8) IS
'Make `name` serve a model: a given model_id, or strategy ''best'' (highest validation AUC, the default) or ''latest''. The artifact''s checksum is verified first. The cutoff comes from the model itself unless `threshold` is given: the cheapest on its held-out rows at the business costs set for `name` (churnml.set_business_costs), else the model''s default (0.5); the NOTICE says which. Every session uses it from its next statement.';

CREATE OR REPLACE FUNCTION churnml.rollback(name text) RETURNS churnml.deployment
LANGUAGE plpython3u VOLATILE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS $$
import churnml.sql_api.models as api
return api.rollback(plpy, '0.3.0', name)
$$;
COMMENT ON FUNCTION churnml.rollback(text) IS
'Undo the latest deployment event of `name` (a deploy, a set_threshold, or what an earlier rollback restored): the model and the cutoff served before it, together. Rolling back again goes one event further back.';

CREATE OR REPLACE FUNCTION churnml.set_threshold(name text, threshold float8) RETURNS churnml.deployment
LANGUAGE plpython3u VOLATILE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS $$
import churnml.sql_api.models as api
return api.set_threshold(plpy, '0.3.0', name, threshold)
$$;
COMMENT ON FUNCTION churnml.set_threshold(text, float8) IS
'Keep the deployed model of `name` and change the probability above which churn_flag() flags a customer: a deployment event of its own, which churnml.rollback undoes.';

CREATE OR REPLACE FUNCTION churnml.set_endpoint_output(name text, output text) RETURNS churnml.deployment
LANGUAGE plpython3u VOLATILE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS $$
import churnml.sql_api.models as api
return api.set_endpoint_output(plpy, '0.3.0', name, output)
$$;
COMMENT ON FUNCTION churnml.set_endpoint_output(text, text) IS
'What aws_sagemaker.invoke_endpoint answers for the churn model deployed as `name`, as a SageMaker endpoint would: ''probability'' (the default, e.g. 0.93), ''label'' (1 when the probability is above the cutoff, else 0, as a classifier endpoint answers: ::INT and ::boolean work) or ''threshold'' (the cutoff); or several, comma-separated in the order wanted, e.g. ''probability,label'', answered as (0.93,1) for a cast to a composite type of those fields. A deployment event of its own, which churnml.rollback undoes; deploy and set_threshold keep it.';

CREATE OR REPLACE FUNCTION churnml.threshold_costs(
    name text,
    fp_cost float8,
    fn_cost float8,
    tp_cost float8 DEFAULT 0,
    tn_cost float8 DEFAULT 0
) RETURNS TABLE (threshold float8, tp bigint, fp bigint, tn bigint, fn bigint, cost float8)
LANGUAGE plpython3u STABLE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS $$
import churnml.sql_api.models as api
return api.threshold_costs(plpy, '0.3.0', name, tp_cost, fp_cost, tn_cost, fn_cost)
$$;
COMMENT ON FUNCTION churnml.threshold_costs(text, float8, float8, float8, float8) IS
'Total cost of each cutoff 0.00..1.00 on the model''s held-out test rows. tp = flagged and churned, fp = flagged and stayed, fn = not flagged and churned, tn = not flagged and stayed; a customer is flagged when probability > cutoff. `name` is a deployed name (its model), the name of models not deployed (the latest, said in a NOTICE) or a model id.';

CREATE OR REPLACE FUNCTION churnml.optimal_threshold(
    name text,
    fp_cost float8,
    fn_cost float8,
    tp_cost float8 DEFAULT 0,
    tn_cost float8 DEFAULT 0,
    OUT threshold float8, OUT tp bigint, OUT fp bigint, OUT tn bigint, OUT fn bigint, OUT cost float8,
    OUT cost_no_action float8
) RETURNS record
LANGUAGE plpython3u STABLE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS $$
import churnml.sql_api.models as api
return api.optimal_threshold(plpy, '0.3.0', name, tp_cost, fp_cost, tn_cost, fn_cost)
$$;
COMMENT ON FUNCTION churnml.optimal_threshold(text, float8, float8, float8, float8) IS
'The cheapest cutoff of threshold_costs (ties: the lowest cutoff), with the cost of flagging nobody for comparison. To have deploy use it for every new model of a name: churnml.set_business_costs.';

CREATE OR REPLACE FUNCTION churnml.feature_importance(name text, level text DEFAULT 'input')
RETURNS TABLE (feature text, gain float8, total_gain float8, cover float8, total_cover float8, weight bigint)
LANGUAGE plpython3u STABLE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS $$
import churnml.sql_api.models as api
return api.feature_importance(plpy, '0.3.0', name, level)
$$;
COMMENT ON FUNCTION churnml.feature_importance(text, text) IS
'Feature importance of a model (a deployed name, a trained-but-undeployed name: its latest model, said in a NOTICE; or a model id): gain, cover and weight (the number of splits using the feature), per input column (level ''input'', one-hot columns folded) or per encoded column (''output''), by total gain.';

CREATE OR REPLACE FUNCTION churnml.model_trees(name text) RETURNS jsonb
LANGUAGE plpython3u STABLE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS $$
import json
import churnml.sql_api.models as api
return json.dumps(api.model_trees(plpy, '0.3.0', name))
$$;
COMMENT ON FUNCTION churnml.model_trees(text) IS
'The trees of a model (a deployed name, a trained-but-undeployed name: its latest model; or a model id): count, depth of each, and the first tree as JSON and text (e.g. its first split "cust_service_calls < 3.5"), at most its first 1023 nodes breadth first (first_tree_nodes and first_tree_nodes_shown say how many it has and shows).';

CREATE OR REPLACE FUNCTION churnml.set_business_costs(
    name text,
    fp_cost float8,
    fn_cost float8,
    tp_cost float8 DEFAULT 0,
    tn_cost float8 DEFAULT 0
) RETURNS churnml.business_costs
LANGUAGE plpython3u VOLATILE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS $$
import churnml.sql_api.models as api
return api.set_business_costs(plpy, '0.3.0', name, fp_cost, fn_cost, tp_cost, tn_cost)
$$;
COMMENT ON FUNCTION churnml.set_business_costs(text, float8, float8, float8, float8) IS
'What each outcome costs for the deployment name `name` (fp = flagged and stayed, fn = not flagged and churned, tp = flagged and churned, tn = not flagged and stayed), kept in churnml.business_costs: from then on churnml.deploy gives each new model of `name` the cheapest cutoff on its own held-out rows at these costs. The NOTICE says the cheapest cutoff of the model deployed now; the current deployment is not changed (set_threshold applies it).';

GRANT EXECUTE ON FUNCTION
    churnml._train(text, text, text, text[], text[], jsonb, jsonb, jsonb, text, float8, float8, int, boolean, bigint, text),
    churnml.train(text, text, text, text[], text[], jsonb, jsonb, jsonb, text, float8, float8, int, boolean, bigint),
    churnml.register_model(text, text, jsonb, jsonb, jsonb, jsonb, jsonb, boolean, bigint),
    churnml.register_model(text, bytea, jsonb, jsonb, jsonb, jsonb, jsonb, boolean, bigint),
    churnml.deploy(text, bigint, text, float8),
    churnml.rollback(text),
    churnml.set_threshold(text, float8),
    churnml.set_endpoint_output(text, text),
    churnml.set_business_costs(text, float8, float8, float8, float8)
TO churnml_admin;
GRANT EXECUTE ON FUNCTION
    churnml.threshold_costs(text, float8, float8, float8, float8),
    churnml.optimal_threshold(text, float8, float8, float8, float8),
    churnml.feature_importance(text, text),
    churnml.model_trees(text)
TO churnml_user;

CREATE OR REPLACE FUNCTION churnml.top_features(name text, k int, level text DEFAULT 'input') RETURNS text[]
LANGUAGE plpython3u STABLE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS $$
import churnml.sql_api.models as api
return api.top_features(plpy, '0.3.0', name, k, level)
$$;
COMMENT ON FUNCTION churnml.top_features(text, int, text) IS
'The k features of a model (a deployed name, a trained-but-undeployed name: its latest model; or a model id) that carry the most total gain, best first (fewer when the model uses fewer): train a smaller model on them with churnml.train(..., features => churnml.top_features(''churn'', 11), parent_id => ...).';

CREATE OR REPLACE FUNCTION churnml.compare_models(VARIADIC names text[])
RETURNS TABLE (split text, metric text, model_ids bigint[], "values" float8[])
LANGUAGE plpython3u STABLE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS $$
import churnml.sql_api.models as api
return api.compare_models(plpy, '0.3.0', names)
$$;
COMMENT ON FUNCTION churnml.compare_models(text[]) IS
'Metrics of several models side by side (at most 64 deployed names, names of models not deployed (their latest model, said in a NOTICE) or model ids; more is 54000): one row per split and metric, values in the order given.';

GRANT EXECUTE ON FUNCTION churnml.top_features(text, int, text), churnml.compare_models(text[]) TO churnml_user;

-- ---- sql/120_scoring.sql ----
-- Scoring with deployed models. Every scoring function reads the deployment
-- registry, so it is STABLE: a deploy changes its answer. The exception is
-- churnml.predict, which reads one registered model by id (and a registered model
-- never changes), so it is IMMUTABLE: what postgres_fdw needs to ship it to shards.
-- The deployment is looked up once per statement (keyed by the statement's start, which
-- the Python reads from the server; a parallel worker has its leader's).
--
-- Parallel labels. PL/Python's SPI opens a subtransaction for every statement, which
-- PostgreSQL forbids during a parallel operation (in workers and in the leader), so in
-- parallel mode the per-row functions read the deployment and the artifact without it
-- (python_udfs/churnml/parallel_read.py, C in extension/core/parallel_read.c), in the
-- statement's snapshot, which workers share with their leader: will_churn, _score_json
-- (and the typed functions create_model_function makes), churn_flag, predict and _predict
-- are PARALLEL SAFE. explain_churn stays UNSAFE (it may say which model it explains in a
-- NOTICE through a lookup that runs plpy statements), and so does bulk score (a PL/Python
-- cursor over the source, and progress reporting through SPI); create_model_function and
-- create_shard_function write.

CREATE OR REPLACE FUNCTION churnml._score_json(
    name text, row_json text,
    _statement float8 DEFAULT pg_catalog.date_part('epoch', pg_catalog.statement_timestamp())
) RETURNS float8
LANGUAGE plpython3u STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
import churnml.sql_api.scoring as api
return api.score_json(plpy, '0.3.0', name, row_json, _statement)
$$;
COMMENT ON FUNCTION churnml._score_json(text, text, float8) IS
'Internal: the churn probability of one row given as JSON (what will_churn(row) calls, and the typed functions create_model_function makes for non-superusers: keep its signature). The third argument is no longer used; the typed functions 0.2.0 made still pass it.';

CREATE OR REPLACE FUNCTION churnml.will_churn(c anyelement, model text DEFAULT 'churn') RETURNS float8
LANGUAGE sql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$ SELECT churnml._score_json(model, pg_catalog.to_json(c)::pg_catalog.text) $$;
COMMENT ON FUNCTION churnml.will_churn(anyelement, text) IS
'Churn probability (0..1) of a whole row, e.g. SELECT churnml.will_churn(c) FROM customers c, from the model deployed as `model`; features are taken from the row''s columns by name. For the fastest per-row calls make a typed function with churnml.create_model_function.';

CREATE OR REPLACE FUNCTION churnml.churn_flag(probability float8, model text DEFAULT 'churn') RETURNS boolean
LANGUAGE plpython3u STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
import churnml.sql_api.scoring as api
return api.churn_flag(plpy, '0.3.0', model, probability)
$$;
COMMENT ON FUNCTION churnml.churn_flag(float8, text) IS
'True when a churn probability is above the threshold stored with the deployment of `model` (see optimal_threshold and set_threshold); a probability outside 0..1 is 22003.';

CREATE OR REPLACE FUNCTION churnml._explain_json(name text, row_json text, top_k int)
RETURNS TABLE (feature text, value text, contribution float8)
LANGUAGE plpython3u STABLE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS $$
import churnml.sql_api.scoring as api
return api.explain_json(plpy, '0.3.0', name, row_json, top_k)
$$;
COMMENT ON FUNCTION churnml._explain_json(text, text, int) IS
'Internal: per-feature contributions for one row given as JSON (what explain_churn calls).';

CREATE OR REPLACE FUNCTION churnml.explain_churn(c anyelement, top_k int DEFAULT 5, model text DEFAULT 'churn')
RETURNS TABLE (feature text, value text, contribution float8)
LANGUAGE sql STABLE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS $$ SELECT * FROM churnml._explain_json(model, pg_catalog.to_json(c)::pg_catalog.text, top_k) $$;
COMMENT ON FUNCTION churnml.explain_churn(anyelement, int, text) IS
'Why the model predicts what it does for one customer: the top_k input features by absolute TreeSHAP contribution to the log-odds (one-hot columns folded back onto their column), largest first. Positive contributions push towards churn. `model` is a deployed name (the model it serves), the name of models not deployed (the latest, said in a NOTICE once per statement) or a model id.';

CREATE OR REPLACE FUNCTION churnml._score_batches(
    name text, source text, key_column text, batch_size int, search_path text
) RETURNS TABLE (keys bytea, probabilities bytea)
LANGUAGE plpython3u STABLE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS $$
import churnml.sql_api.scoring as api
return api.score_batches(plpy, '0.3.0', name, source, key_column, batch_size, search_path)
$$;
COMMENT ON FUNCTION churnml._score_batches(text, text, text, int, text) IS
'Internal: bulk scoring, one row per batch: the keys and the probabilities packed as churnml._unpack_scores reads them (what score calls, with the caller''s search_path as the last argument).';

-- Without SET search_path, unlike every other churnml function: C that looks up no
-- names, called once per row, where a SET clause costs a GUC save and restore per call
-- (a third more time for the whole fetch). tests/sql/test_privileges.py lists it.
CREATE OR REPLACE FUNCTION churnml._pack_float8(VARIADIC "any") RETURNS bytea
LANGUAGE c IMMUTABLE PARALLEL SAFE
AS 'MODULE_PATHNAME', 'churnml_pack_float8';
COMMENT ON FUNCTION churnml._pack_float8("any") IS
'Internal (what score and customer_risk read rows through, in C): its double precision arguments, passed separately, as one bytea of native float8s, NULL as NaN. Any other argument type is 42804.';

-- The one way batch results come back to SQL: bytea columns unpacked in C
-- (extension/core/bulk_scoring.c); churnml._unpack_risk (410_dashboards.sql) is the same C function.
CREATE OR REPLACE FUNCTION churnml._unpack_scores(keys bytea, probabilities bytea)
RETURNS TABLE (key text, probability float8)
LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'churnml_unpack_batch';
COMMENT ON FUNCTION churnml._unpack_scores(bytea, bytea) IS
'Internal (what score calls, in C): one row per probability of a batch from _score_batches. probabilities = float8 values in native byte order (NaN reads as NULL); keys = one UTF-8 key per probability, each followed by a zero byte, the single byte 0xFF for NULL. Sizes and UTF-8 are checked (22023, 22021).';

-- Without SET search_path: the source resolves with the caller's path, which this body
-- hands on (every name in it is schema-qualified, and it uses no operator).
CREATE OR REPLACE FUNCTION churnml.score(
    source text, key_column text DEFAULT NULL, model text DEFAULT 'churn', batch_size int DEFAULT 10000
) RETURNS TABLE (key text, probability float8)
LANGUAGE sql STABLE PARALLEL UNSAFE
AS $$
SELECT u.key, u.probability
FROM churnml._score_batches(model, source, key_column, batch_size, pg_catalog.current_setting('search_path')) AS b,
     LATERAL churnml._unpack_scores(b.keys, b.probabilities) AS u
$$;
COMMENT ON FUNCTION churnml.score(text, text, text, int) IS
'Bulk scoring: the churn probability of every row of a table, view or query (`source`), in batches with one vectorised prediction each; `key_column` (cast to text) identifies the rows. An order of magnitude faster than calling will_churn per row.';

CREATE OR REPLACE FUNCTION churnml.create_model_function(
    function_name text, model text DEFAULT 'churn', schema text DEFAULT 'public'
) RETURNS text
LANGUAGE plpython3u VOLATILE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS $$
import churnml.sql_api.scoring as api
return api.create_model_function(plpy, '0.3.0', function_name, model, schema)
$$;
COMMENT ON FUNCTION churnml.create_model_function(text, text, text) IS
'Aurora-style: create schema.function_name(<feature> <type>, ...) RETURNS float8 with the deployed model''s features as named, typed arguments in training order, e.g. will_churn(acc_length bigint, ..., int_plan_no int). Executable by churnml_user (not PUBLIC), search_path pinned, owned by the caller, who needs CREATE on the schema. Made by a superuser it is PL/Python (the fastest per-row path); PL/Python is untrusted, so for any other churnml_admin it is a SQL function over churnml._score_json (will_churn(row)''s speed). Returns the new function''s signature.';

CREATE OR REPLACE FUNCTION churnml._predict(model_id bigint, numbers float8[], texts text[]) RETURNS float8
LANGUAGE plpython3u IMMUTABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
import churnml.sql_api.scoring as api
return api.predict(plpy, '0.3.0', model_id, numbers, texts)
$$;
COMMENT ON FUNCTION churnml._predict(bigint, float8[], text[]) IS
'Internal: what churnml.predict calls with its checked arrays.';

-- In C (extension/core/predict.c): checks the two arrays (at most 100,000 elements and
-- 16 MB each) before PL/Python converts them, then calls churnml._predict. Without SET
-- search_path: C that looks up one schema-qualified function, once per call site.
CREATE OR REPLACE FUNCTION churnml.predict(model_id bigint, numbers float8[], texts text[]) RETURNS float8
LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE
AS 'MODULE_PATHNAME', 'churnml_predict';
COMMENT ON FUNCTION churnml.predict(bigint, float8[], text[]) IS
'Churn probability (0..1) from exactly the registered model model_id, never a deployment: the model''s features in training order, those of number or boolean SQL types in `numbers` (booleans as 1/0), the others in `texts`; NULL elements are missing values. IMMUTABLE because a registered model''s artifact checksum and feature spec can never change (a trigger on churnml.models refuses it), so postgres_fdw ships it to shards. (churnml never reuses a model id; do not delete a model and insert another under its id.) Wrong array lengths fail with 22023 and a hint listing both arrays'' features. Written for you by churnml.create_shard_function.';

CREATE OR REPLACE FUNCTION churnml.create_shard_function(
    function_name text, relation regclass, model text DEFAULT 'churn', schema text DEFAULT 'public'
) RETURNS text
LANGUAGE plpython3u VOLATILE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS $$
import churnml.sql_api.scoring as api
return api.create_shard_function(plpy, '0.3.0', function_name, relation, model, schema)
$$;
COMMENT ON FUNCTION churnml.create_shard_function(text, regclass, text, text) IS
'Create (or re-point) schema.function_name(c <relation''s row type>) RETURNS float8: an IMMUTABLE LANGUAGE sql function whose body is churnml.predict(<the model deployed as `model` now>, ARRAY[<its number columns>], ARRAY[<its text columns>]). The planner inlines it into plain column references, so postgres_fdw ships the call to shards with churnml in the foreign server''s `extensions` option (docs/models.md, "Sharded scoring with postgres_fdw"). It is pinned to one model id: run this again after every deploy. Deliberately without SET search_path, because PostgreSQL never inlines a function that has one; its body is SQL-standard (RETURN ...), parsed once here with every name schema-qualified, so nothing is looked up by name when it runs. Executable by churnml_user, owned by the caller, who needs CREATE on the schema. Returns the function''s signature.';

GRANT EXECUTE ON FUNCTION
    churnml._predict(bigint, float8[], text[]),
    churnml.predict(bigint, float8[], text[]),
    churnml._score_json(text, text, float8),
    churnml.will_churn(anyelement, text),
    churnml.churn_flag(float8, text),
    churnml._explain_json(text, text, int),
    churnml.explain_churn(anyelement, int, text),
    churnml._score_batches(text, text, text, int, text),
    churnml._pack_float8("any"),
    churnml._unpack_scores(bytea, bytea),
    churnml.score(text, text, text, int)
TO churnml_user;
GRANT EXECUTE ON FUNCTION churnml.create_model_function(text, text, text) TO churnml_admin;
GRANT EXECUTE ON FUNCTION churnml.create_shard_function(text, regclass, text, text) TO churnml_admin;

-- ---- sql/200_sentiment.sql ----
-- Sentiment of customer messages, and text embeddings.
--
-- Engines: 'encoder' (all-MiniLM-L6-v2 embedding + a trained classifier head; the
-- default, right about complaints), 'lexicon' (VADER with a calibrated mapping; no
-- torch, microseconds), or the name of a sentiment model trained with
-- churnml.train_sentiment and deployed. The engine argument defaults to the setting
-- churnml.sentiment_engine (SET churnml.sentiment_engine = 'lexicon'), else 'encoder'.
-- STABLE (a deployed custom model or the setting can change the answer). The per-row
-- functions (detect_sentiment, _label, _confidence, sentiment_scores) are PARALLEL SAFE:
-- in parallel mode a deployed custom model is read without PL/Python's SPI
-- (python_udfs/churnml/parallel_read.py), and the setting reaches workers with the
-- leader's others. Each worker loads the encoder for itself (~0.2 s), so parallel plans
-- pay off on big tables only. The batch functions, sentiment_summary and the embeddings
-- stay PARALLEL UNSAFE: they report progress (a file whose path comes through SPI), and
-- embeddings load torch.

CREATE OR REPLACE FUNCTION churnml.detect_sentiment(
    input_text text,
    language_code text DEFAULT 'en',
    engine text DEFAULT pg_catalog.current_setting('churnml.sentiment_engine', true),
    OUT sentiment text,
    OUT confidence real
) RETURNS record
LANGUAGE plpython3u STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
import churnml.sql_api.sentiment as api
return api.detect(plpy, '0.3.0', input_text, language_code, engine)
$$;
COMMENT ON FUNCTION churnml.detect_sentiment(text, text, text) IS
'Sentiment of a text like aws_comprehend.detect_sentiment: (sentiment, confidence) with sentiment POSITIVE, NEGATIVE, NEUTRAL or MIXED and confidence the calibrated probability of that label. NULL text gives NULLs; empty or blank text is NEUTRAL with confidence 1. Only language ''en''. See docs/sentiment.md.';

CREATE OR REPLACE FUNCTION churnml.detect_sentiment_label(
    input_text text,
    language_code text DEFAULT 'en',
    engine text DEFAULT pg_catalog.current_setting('churnml.sentiment_engine', true)
) RETURNS text
LANGUAGE plpython3u STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
import churnml.sql_api.sentiment as api
result = api.detect(plpy, '0.3.0', input_text, language_code, engine)
return None if result is None else result["sentiment"]
$$;
COMMENT ON FUNCTION churnml.detect_sentiment_label(text, text, text) IS
'The sentiment label alone (POSITIVE, NEGATIVE, NEUTRAL, MIXED), for tools that want a scalar.';

CREATE OR REPLACE FUNCTION churnml.detect_sentiment_confidence(
    input_text text,
    language_code text DEFAULT 'en',
    engine text DEFAULT pg_catalog.current_setting('churnml.sentiment_engine', true)
) RETURNS real
LANGUAGE plpython3u STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
import churnml.sql_api.sentiment as api
result = api.detect(plpy, '0.3.0', input_text, language_code, engine)
return None if result is None else result["confidence"]
$$;
COMMENT ON FUNCTION churnml.detect_sentiment_confidence(text, text, text) IS
'The calibrated probability (0..1) of the detected sentiment label, for tools that want a scalar.';

CREATE OR REPLACE FUNCTION churnml.sentiment_scores(
    input_text text,
    language_code text DEFAULT 'en',
    engine text DEFAULT pg_catalog.current_setting('churnml.sentiment_engine', true),
    OUT positive real, OUT negative real, OUT neutral real, OUT mixed real
) RETURNS record
LANGUAGE plpython3u STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
import churnml.sql_api.sentiment as api
return api.scores(plpy, '0.3.0', input_text, language_code, engine)
$$;
COMMENT ON FUNCTION churnml.sentiment_scores(text, text, text) IS
'All four class probabilities of a text (they sum to 1).';

-- The batch functions are SQL functions that pass their arrays through
-- churnml._checked_batch (C: churnml.max_batch_texts, churnml.max_batch_size) before the
-- PL/Python function that does the work receives them: PL/Python converts an argument
-- into Python objects before any Python runs, so the check must come first.
CREATE OR REPLACE FUNCTION churnml._detect_sentiment_batch(input_texts text[], language_code text, engine text)
RETURNS TABLE (ordinality int, sentiment text, confidence real, positive real, negative real, neutral real,
               mixed real)
LANGUAGE plpython3u STABLE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS $$
import churnml.sql_api.sentiment as api
return api.detect_batch(plpy, '0.3.0', input_texts, language_code, engine)
$$;
COMMENT ON FUNCTION churnml._detect_sentiment_batch(text[], text, text) IS
'Internal: what churnml.detect_sentiment_batch calls with its checked array.';

CREATE OR REPLACE FUNCTION churnml.detect_sentiment_batch(
    input_texts text[],
    language_code text DEFAULT 'en',
    engine text DEFAULT pg_catalog.current_setting('churnml.sentiment_engine', true)
) RETURNS TABLE (ordinality int, sentiment text, confidence real, positive real, negative real, neutral real,
                 mixed real)
LANGUAGE sql STABLE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS $$
SELECT * FROM churnml._detect_sentiment_batch(churnml._checked_batch(input_texts, 'input_texts'), language_code,
                                              engine)
$$;
COMMENT ON FUNCTION churnml.detect_sentiment_batch(text[], text, text) IS
'Sentiment of many texts in one call (the encoder embeds them in batches, far faster than one call per row): one row per input element, ordinality from 1. Use with array_agg(...) and join back on ordinality.';

CREATE OR REPLACE FUNCTION churnml._sentiment_summary(
    input_texts text[], times timestamptz[], language_code text, engine text,
    OUT messages int, OUT latest text, OUT latest_confidence real, OUT mean_score real,
    OUT worst_text text, OUT worst_score real, OUT trend_per_day real
) RETURNS record
LANGUAGE plpython3u STABLE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS $$
import churnml.sql_api.sentiment as api
return api.summary(plpy, '0.3.0', input_texts, times, language_code, engine)
$$;
COMMENT ON FUNCTION churnml._sentiment_summary(text[], timestamptz[], text, text) IS
'Internal: what churnml.sentiment_summary calls with its checked arrays.';

CREATE OR REPLACE FUNCTION churnml.sentiment_summary(
    input_texts text[],
    times timestamptz[] DEFAULT NULL,
    language_code text DEFAULT 'en',
    engine text DEFAULT pg_catalog.current_setting('churnml.sentiment_engine', true),
    OUT messages int, OUT latest text, OUT latest_confidence real, OUT mean_score real,
    OUT worst_text text, OUT worst_score real, OUT trend_per_day real
) RETURNS record
LANGUAGE sql STABLE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS $$
SELECT * FROM churnml._sentiment_summary(churnml._checked_batch(input_texts, 'input_texts'),
                                         churnml._checked_batch(times, 'times'), language_code, engine)
$$;
COMMENT ON FUNCTION churnml.sentiment_summary(text[], timestamptz[], text, text) IS
'Sentiment over one customer''s messages, e.g. SELECT m.phone, s.* FROM (SELECT phone, array_agg(message ORDER BY calltime) AS messages, array_agg(calltime ORDER BY calltime) AS times FROM customer_message GROUP BY phone) AS m, churnml.sentiment_summary(m.messages, m.times) AS s (a function in FROM runs once per row; (f(...)).* would run it once per column). score = P(POSITIVE) - P(NEGATIVE) in -1..1; latest = label of the last message (by time, else array order); worst = the lowest-scoring message; trend_per_day = least-squares slope of score over time (NULL with fewer than two distinct times).';

CREATE OR REPLACE FUNCTION churnml.embed(input_text text) RETURNS real[]
LANGUAGE plpython3u STABLE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS $$
import churnml.sql_api.sentiment as api
return api.embed_one(plpy, '0.3.0', input_text)
$$;
COMMENT ON FUNCTION churnml.embed(text) IS
'The all-MiniLM-L6-v2 sentence embedding of a text (384 normalised reals), computed offline in the backend. NULL gives NULL.';

CREATE OR REPLACE FUNCTION churnml._embed_batch(input_texts text[]) RETURNS TABLE (ordinality int, embedding real[])
LANGUAGE plpython3u STABLE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS $$
import churnml.sql_api.sentiment as api
return api.embed_batch(plpy, '0.3.0', input_texts)
$$;
COMMENT ON FUNCTION churnml._embed_batch(text[]) IS
'Internal: what churnml.embed_batch calls with its checked array.';

CREATE OR REPLACE FUNCTION churnml.embed_batch(input_texts text[]) RETURNS TABLE (ordinality int, embedding real[])
LANGUAGE sql STABLE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS $$
SELECT * FROM churnml._embed_batch(churnml._checked_batch(input_texts, 'input_texts'))
$$;
COMMENT ON FUNCTION churnml.embed_batch(text[]) IS
'Embeddings of many texts in one call (batched through the encoder): one row per element, ordinality from 1.';

GRANT EXECUTE ON FUNCTION
    churnml.detect_sentiment(text, text, text),
    churnml.detect_sentiment_label(text, text, text),
    churnml.detect_sentiment_confidence(text, text, text),
    churnml.sentiment_scores(text, text, text),
    churnml._detect_sentiment_batch(text[], text, text),
    churnml.detect_sentiment_batch(text[], text, text),
    churnml._sentiment_summary(text[], timestamptz[], text, text),
    churnml.sentiment_summary(text[], timestamptz[], text, text),
    churnml.embed(text),
    churnml._embed_batch(text[]),
    churnml.embed_batch(text[])
TO churnml_user;

CREATE OR REPLACE FUNCTION churnml._train_sentiment(
    name text, source text, text_column text, label_column text, seed int, deploy boolean, search_path text
) RETURNS bigint
LANGUAGE plpython3u VOLATILE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS $$
import churnml.sql_api.sentiment as api
return api.train_sentiment(plpy, '0.3.0', name, source, text_column, label_column, seed, deploy,
                           search_path)
$$;
COMMENT ON FUNCTION churnml._train_sentiment(text, text, text, text, int, boolean, text) IS
'Internal: what churnml.train_sentiment calls, with the caller''s search_path as the last argument.';

-- Without SET search_path, like churnml.train: it hands the caller's path on.
CREATE OR REPLACE FUNCTION churnml.train_sentiment(
    name text,
    source text,
    text_column text,
    label_column text,
    seed int DEFAULT 42,
    deploy boolean DEFAULT false
) RETURNS bigint
LANGUAGE sql VOLATILE PARALLEL UNSAFE
AS $$
SELECT churnml._train_sentiment(name, source, text_column, label_column, seed, deploy,
                                pg_catalog.current_setting('search_path'))
$$;
COMMENT ON FUNCTION churnml.train_sentiment(text, text, text, text, int, boolean) IS
'Train your own sentiment model from labelled rows of a table, view or query: a classifier head on the all-MiniLM-L6-v2 embeddings, calibrated like the shipped one (labels POSITIVE/NEGATIVE/NEUTRAL, any case, or 1/0; at least 5 per class; 70/15/15 split). It is registered in churnml.models (kind sentiment), deployed and rolled back with churnml.deploy/rollback, and used with detect_sentiment(..., engine => name). Returns the model id.';

GRANT EXECUTE ON FUNCTION
    churnml._train_sentiment(text, text, text, text, int, boolean, text),
    churnml.train_sentiment(text, text, text, text, int, boolean)
TO churnml_admin;

-- ---- sql/210_text.sql ----
-- Plain text helpers (no model behind them).

CREATE OR REPLACE FUNCTION churnml.first_sentence(input_text text) RETURNS text
LANGUAGE plpython3u IMMUTABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
import churnml.sql_api.text as api
return api.first_sentence(plpy, '0.3.0', input_text)
$$;
COMMENT ON FUNCTION churnml.first_sentence(text) IS
'The first sentence of a message (ends at . ! ? … before a capital, digit or the end, or at a line break; not after abbreviations like "Dr." or inside numbers like 3.5). Empty text gives ''''. Looks at the first 5,000 characters only. Pure text processing: IMMUTABLE.';

GRANT EXECUTE ON FUNCTION churnml.first_sentence(text) TO churnml_user;

-- ---- sql/300_incentives.sql ----
-- Retention incentives: Marketing's rules as data, experiments with recorded arms, the
-- offer log with outcomes, and what a rule set costs. churnml_admin changes rules,
-- inputs and experiments and records outcomes; churnml_user gets recommendations and
-- logs offers. See docs/incentives.md.
--
-- Every table is an extension configuration table (pg_extension_config_dump), so
-- pg_dump keeps its rows. The rows this script installs (builtin = true) survive a
-- restore too: CREATE EXTENSION installs them again and the dumped copy, with the
-- admin's edits, then updates them in place (the check triggers do that), which is
-- why builtin rules and experiments are disabled or stopped, never deleted.
--
-- Records are what the database says, not what a caller claims: the column grants at the
-- end leave out ids, builtin and the audit columns (created_by/at, updated_by/at,
-- offered_by/at, recorded_by), so their defaults and triggers fill them; only a
-- superuser (CREATE EXTENSION, pg_restore) writes them, and the checks on builtin
-- rows and on the offer log trust only a superuser.

COMMENT ON TABLE churnml.incentive_inputs IS
'The named inputs rule conditions may use, with their types (numeric, text, boolean). will_churn, sentiment and confidence come from recommend_incentive''s arguments; every other input is read by name from its customer JSON (e.g. to_jsonb of a customers row). Admins add inputs; the builtin ones (the walkthrough''s customer columns) cannot change.';
COMMENT ON TABLE churnml.experiments IS
'Offer experiments. A rule with arms names one; while it runs (started_at <= now < stopped_at) each customer gets the arm chosen by sha256(seed || '':'' || name || '':'' || customer_key); stopped, the rule makes its own offer. The seed cannot change once offers were logged.';
COMMENT ON TABLE churnml.incentive_rules IS
'Marketing''s rules as data. recommend_incentive takes the first enabled rule of a rule set, by priority then id, that is active (active_from <= now < active_until, NULL = open) and whose condition is TRUE. condition is validated on every INSERT/UPDATE and stored parsed in condition_ast (set by the trigger). reason may name inputs and result fields in braces: {sentiment}, {offer}, {arm}, ...';
COMMENT ON COLUMN churnml.incentive_rules.condition IS
'A boolean expression over named inputs (churnml.incentive_inputs): literals, = <> != < <= > >=, IS [NOT] NULL, [NOT] IN, [NOT] BETWEEN, AND, OR, NOT, + - * / and parentheses; nothing else. At most 2000 characters.';
COMMENT ON COLUMN churnml.incentive_rules.offer IS
'What the customer is offered, at most 100 characters; logged offers of the rule repeat it exactly.';
COMMENT ON COLUMN churnml.incentive_rules.arms IS
'NULL, or the arms of the rule''s experiment: [{"arm": "A", "offer": "$15 credit", "offer_value": 15, "weight": 0.5}, ...]; weights are relative; an arm''s offer is at most 100 characters.';
COMMENT ON COLUMN churnml.incentive_rules.offer_value IS
'What the offer costs, in currency; NULL when unpriced (rule_set_cost then counts it as unpriced).';
COMMENT ON COLUMN churnml.incentive_rules.reason IS
'The explanation returned with the offer, a template of at most 500 characters: {name} is replaced by an input or result field (each value cut at 100 characters, the whole reason at 1000).';

CREATE OR REPLACE FUNCTION churnml._incentive_rules_check() RETURNS trigger
LANGUAGE plpython3u VOLATILE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS $$
import churnml.sql_api.incentives as api
return api.check_rule(plpy, '0.3.0', TD)
$$;
COMMENT ON FUNCTION churnml._incentive_rules_check() IS
'Internal trigger: validates a rule (condition, arms, experiment, reason), stores its parsed condition, stamps updated_by/at, keeps builtin rules and rules with offers from being deleted, refuses builtin = true from anyone but a superuser, and lets pg_restore (a superuser) update a builtin rule in place.';
CREATE OR REPLACE TRIGGER check_rule BEFORE INSERT OR UPDATE OR DELETE ON churnml.incentive_rules
    FOR EACH ROW EXECUTE FUNCTION churnml._incentive_rules_check();

CREATE OR REPLACE FUNCTION churnml._experiments_check() RETURNS trigger
LANGUAGE plpython3u VOLATILE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS $$
import churnml.sql_api.incentives as api
return api.check_experiment(plpy, '0.3.0', TD)
$$;
COMMENT ON FUNCTION churnml._experiments_check() IS
'Internal trigger: keeps an experiment''s seed once offers were logged, keeps builtin experiments and experiments with offers from being deleted, refuses builtin = true from anyone but a superuser, and lets pg_restore (a superuser) update a builtin experiment in place.';
CREATE OR REPLACE TRIGGER check_experiment BEFORE INSERT OR UPDATE OR DELETE ON churnml.experiments
    FOR EACH ROW EXECUTE FUNCTION churnml._experiments_check();

CREATE OR REPLACE FUNCTION churnml._incentive_inputs_check() RETURNS trigger
LANGUAGE plpython3u VOLATILE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS $$
import churnml.sql_api.incentives as api
return api.check_input(plpy, '0.3.0', TD)
$$;
COMMENT ON FUNCTION churnml._incentive_inputs_check() IS
'Internal trigger: builtin inputs cannot change; an input name cannot be an SQL keyword; after an update or delete every rule must still validate.';
-- Created after the builtin inputs were installed: from here on nobody adds builtin ones.
CREATE OR REPLACE TRIGGER check_input BEFORE INSERT OR UPDATE OR DELETE ON churnml.incentive_inputs
    FOR EACH ROW EXECUTE FUNCTION churnml._incentive_inputs_check();
CREATE OR REPLACE TRIGGER check_rules_still_valid AFTER UPDATE OR DELETE ON churnml.incentive_inputs
    FOR EACH STATEMENT EXECUTE FUNCTION churnml._incentive_inputs_check();
COMMENT ON TABLE churnml.offer_log IS
'Every offer made: who, when, which rule, experiment and arm, the offer, the model and inputs it was based on. Append-only for churnml_user (churnml.log_offer); churnml.record_outcome adds what happened next. id, offered_at and offered_by are set by the database; rule_id names an existing rule (NULL when no rule applied) with its rule_set and rule_name; an experiment''s arm is one of its arms; the offer, offer_value and currency of a rule''s offer are what the rule (or the arm) offers; offer_value >= 0; currency is a three-letter code; will_churn and confidence are from 0 to 1, sentiment one of POSITIVE, NEGATIVE, NEUTRAL, MIXED; customer_key is not blank and has no control characters (the check_offer trigger and CHECK constraints). An offer without a rule or experiment says what its writer says. A rule or experiment with offers cannot be deleted.';

-- Cheap on purpose: churnml.log_offer (the call-center hot path) inserts here on every
-- call, so this is PL/pgSQL with one index probe and no Python. A superuser's rows
-- (pg_restore of offers whose rule or arms changed since) pass when they do not match.
CREATE OR REPLACE FUNCTION churnml._offer_log_check() RETURNS trigger
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    rule_set text;
    rule_name text;
    rule_experiment text;
    rule_offer text;
    rule_value numeric;
    rule_currency text;
    arm jsonb;
    maker text;    -- who makes the offer the row must repeat: the rule, or an arm of its experiment
    problem text;
    detail text;
    what text;
BEGIN
    -- The row's own values first, whoever writes it (superusers too): what CHECK constraints
    -- would say (23514, with the constraint's name), said here because this function's
    -- expressions are prepared once a session where a table's CHECK constraints are prepared
    -- again for every INSERT (see the table).
    -- One expression on the way in; which check failed is worked out only when one did.
    IF NOT COALESCE(NEW.customer_key OPERATOR(pg_catalog.~) '[^ \u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]'
                    AND NEW.customer_key OPERATOR(pg_catalog.!~) '[\u0001-\u001f\u007f-\u009f]'
                    AND COALESCE(NEW.will_churn OPERATOR(pg_catalog.>=) 0
                                 AND NEW.will_churn OPERATOR(pg_catalog.<=) 1, true)
                    AND COALESCE(NEW.confidence OPERATOR(pg_catalog.>=) 0
                                 AND NEW.confidence OPERATOR(pg_catalog.<=) 1, true)
                    AND COALESCE(NEW.sentiment OPERATOR(pg_catalog.=) ANY (ARRAY['POSITIVE', 'NEGATIVE', 'NEUTRAL',
                                                                                  'MIXED']), true)
                    AND COALESCE(NEW.offer_value OPERATOR(pg_catalog.>=) 0
                                 AND NEW.offer_value OPERATOR(pg_catalog.<) 'Infinity'::pg_catalog.numeric, true)
                    AND COALESCE(NEW.currency OPERATOR(pg_catalog.~) '^[A-Z]{3}$', true)
                    AND (NEW.experiment IS NULL) OPERATOR(pg_catalog.=) (NEW.arm IS NULL), false) THEN
        IF NEW.customer_key IS NULL THEN
            RAISE EXCEPTION USING
                ERRCODE = '23502', COLUMN = 'customer_key', TABLE = 'offer_log', SCHEMA = 'churnml',
                MESSAGE = 'churnml: customer_key must not be NULL',
                DETAIL = 'It keys the customer''s experiment arm and the offer log.',
                HINT = 'Pass a stable key such as area_code || ''/'' || phone.';
        ELSIF NEW.customer_key OPERATOR(pg_catalog.!~) '[^ \u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]' THEN
            RAISE EXCEPTION USING
                ERRCODE = '23514', CONSTRAINT = 'offer_log_customer_key_check', TABLE = 'offer_log',
                SCHEMA = 'churnml',
                MESSAGE = 'churnml: customer_key must not be blank',
                DETAIL = 'It keys the customer''s experiment arm and the offer log.',
                HINT = 'Pass a stable key such as area_code || ''/'' || phone.';
        ELSIF NEW.customer_key OPERATOR(pg_catalog.~) '[\u0001-\u001f\u007f-\u009f]' THEN
            RAISE EXCEPTION USING
                ERRCODE = '23514', CONSTRAINT = 'offer_log_customer_key_check', TABLE = 'offer_log',
                SCHEMA = 'churnml',
                MESSAGE = 'churnml: customer_key must not contain control characters',
                DETAIL = 'A customer key is printable text, such as area_code || ''/'' || phone.',
                HINT = 'Remove tabs, line breaks and other control characters from the key.';
        ELSIF NOT COALESCE(NEW.will_churn OPERATOR(pg_catalog.>=) 0 AND NEW.will_churn OPERATOR(pg_catalog.<=) 1,
                           true)
              OR NOT COALESCE(NEW.confidence OPERATOR(pg_catalog.>=) 0 AND NEW.confidence OPERATOR(pg_catalog.<=) 1,
                              true) THEN
            -- NaN, which PostgreSQL sorts above every number, fails <= 1
            what := CASE WHEN NOT COALESCE(NEW.will_churn OPERATOR(pg_catalog.>=) 0
                                           AND NEW.will_churn OPERATOR(pg_catalog.<=) 1, true)
                         THEN 'will_churn' ELSE 'confidence' END;
            RAISE EXCEPTION USING
                ERRCODE = '23514', CONSTRAINT = pg_catalog.format('offer_log_%s_check', what), TABLE = 'offer_log',
                SCHEMA = 'churnml',
                MESSAGE = pg_catalog.format('churnml: %s must be between 0 and 1, not %s', what,
                                            CASE what WHEN 'will_churn' THEN NEW.will_churn::pg_catalog.text
                                                      ELSE NEW.confidence::pg_catalog.text END),
                DETAIL = pg_catalog.format('%s is a probability: a number from 0 to 1, or NULL when unknown.', what),
                HINT = 'Log what churnml.recommend_incentive returned.';
        ELSIF NOT COALESCE(NEW.sentiment OPERATOR(pg_catalog.=) ANY (ARRAY['POSITIVE', 'NEGATIVE', 'NEUTRAL', 'MIXED']),
                           true) THEN
            RAISE EXCEPTION USING
                ERRCODE = '23514', CONSTRAINT = 'offer_log_sentiment_check', TABLE = 'offer_log', SCHEMA = 'churnml',
                MESSAGE = pg_catalog.format('churnml: sentiment must be POSITIVE, NEGATIVE, NEUTRAL or MIXED, not %s',
                                            pg_catalog.left(pg_catalog.to_json(NEW.sentiment)::pg_catalog.text, 70)),
                DETAIL = 'The offer log keeps the labels churnml.detect_sentiment gives, upper-cased.',
                HINT = 'Log what churnml.recommend_incentive returned.';
        ELSIF NOT COALESCE(NEW.offer_value OPERATOR(pg_catalog.>=) 0
                           AND NEW.offer_value OPERATOR(pg_catalog.<) 'Infinity'::pg_catalog.numeric, true) THEN
            RAISE EXCEPTION USING
                ERRCODE = '23514', CONSTRAINT = 'offer_log_offer_value_check', TABLE = 'offer_log',
                SCHEMA = 'churnml',
                MESSAGE = pg_catalog.format('churnml: offer_value must be a finite number >= 0, not %s',
                                            pg_catalog.left(NEW.offer_value::pg_catalog.text, 30)),
                DETAIL = 'An offer_value is what the offer costs, or NULL when it is unpriced.',
                HINT = 'Log what churnml.recommend_incentive returned.';
        ELSIF NOT COALESCE(NEW.currency OPERATOR(pg_catalog.~) '^[A-Z]{3}$', true) THEN
            RAISE EXCEPTION USING
                ERRCODE = '23514', CONSTRAINT = 'offer_log_currency_check', TABLE = 'offer_log', SCHEMA = 'churnml',
                MESSAGE = pg_catalog.format('churnml: currency must be three capital letters, not %s',
                                            pg_catalog.left(pg_catalog.to_json(NEW.currency)::pg_catalog.text, 30)),
                DETAIL = 'A currency is an ISO 4217 code such as USD or EUR.',
                HINT = 'Log what churnml.recommend_incentive returned.';
        END IF;
        RAISE EXCEPTION USING
            ERRCODE = '23514', CONSTRAINT = 'offer_log_check', TABLE = 'offer_log', SCHEMA = 'churnml',
            MESSAGE = 'churnml: experiment and arm must both be given or both be NULL',
            DETAIL = 'An offer made by an experiment names the experiment and the arm the customer was given.',
            HINT = 'Log what churnml.recommend_incentive returned.';
    END IF;
    IF NEW.rule_id IS NOT NULL THEN
        -- one index probe: the rule's names, experiment and offer, and the logged arm among its arms
        SELECT r.rule_set, r.name, r.experiment, r.offer, r.offer_value, r.currency,
               CASE WHEN NEW.arm IS NOT NULL THEN
                   pg_catalog.jsonb_path_query_first(r.arms, '$[*] ? (@.arm == $arm)',
                                                     pg_catalog.jsonb_build_object('arm', NEW.arm)) END
          INTO rule_set, rule_name, rule_experiment, rule_offer, rule_value, rule_currency, arm
        FROM churnml.incentive_rules AS r WHERE r.id OPERATOR(pg_catalog.=) NEW.rule_id;
        IF NOT FOUND THEN
            problem := pg_catalog.format('rule %s does not exist', NEW.rule_id);
        ELSE
            -- what the rule is called and what it offers come from the rule when left NULL
            IF NEW.rule_set IS NULL THEN
                NEW.rule_set := rule_set;
            END IF;
            IF NEW.rule_name IS NULL THEN
                NEW.rule_name := rule_name;
            END IF;
            IF NEW.rule_set IS DISTINCT FROM rule_set OR NEW.rule_name IS DISTINCT FROM rule_name THEN
                problem := pg_catalog.format('rule %s is "%s" of rule set "%s", not "%s" of "%s"', NEW.rule_id,
                                             rule_name, rule_set, pg_catalog.left(NEW.rule_name, 63),
                                             pg_catalog.left(NEW.rule_set, 63));
            ELSIF NEW.experiment IS NOT NULL AND NEW.experiment IS DISTINCT FROM rule_experiment THEN
                problem := pg_catalog.format('rule %s does not run experiment "%s"', NEW.rule_id,
                                             pg_catalog.left(NEW.experiment, 63));
            ELSIF NEW.experiment IS NOT NULL AND arm IS NULL THEN
                problem := pg_catalog.format('"%s" is not an arm of experiment "%s"', pg_catalog.left(NEW.arm, 63),
                                             NEW.experiment);
            ELSE
                IF NEW.experiment IS NOT NULL THEN
                    rule_offer := arm OPERATOR(pg_catalog.->>) 'offer';
                    rule_value := (arm OPERATOR(pg_catalog.->>) 'offer_value')::pg_catalog.numeric;
                END IF;
                IF NEW.offer IS NULL THEN
                    NEW.offer := rule_offer;
                END IF;
                IF NEW.offer_value IS NULL THEN
                    NEW.offer_value := rule_value;
                END IF;
                IF NEW.currency IS NULL THEN
                    NEW.currency := rule_currency;
                END IF;
                IF NEW.offer OPERATOR(pg_catalog.=) rule_offer
                   AND NEW.offer_value IS NOT DISTINCT FROM rule_value
                   AND NEW.currency OPERATOR(pg_catalog.=) rule_currency THEN
                    RETURN NEW;
                END IF;
                maker := CASE WHEN NEW.experiment IS NULL
                              THEN pg_catalog.format('Rule %s ("%s")', NEW.rule_id, rule_name)
                              ELSE pg_catalog.format('Arm "%s" of experiment "%s" (rule %s)', NEW.arm, NEW.experiment,
                                                     NEW.rule_id) END;
                problem := pg_catalog.format('%s does not offer "%s"%s',
                                             CASE WHEN NEW.experiment IS NULL THEN pg_catalog.format('rule %s', NEW.rule_id)
                                                  ELSE pg_catalog.format('arm "%s" of rule %s', NEW.arm, NEW.rule_id) END,
                                             pg_catalog.left(NEW.offer, 60) OPERATOR(pg_catalog.||)
                                                 CASE WHEN pg_catalog.length(NEW.offer) OPERATOR(pg_catalog.>) 60
                                                      THEN '…' ELSE '' END,
                                             CASE WHEN NEW.offer_value IS NULL THEN ', unpriced'
                                                  ELSE pg_catalog.format(' worth %s %s', NEW.offer_value,
                                                                         pg_catalog.left(NEW.currency, 3)) END);
                detail := pg_catalog.format('%s offers "%s"%s.', maker, rule_offer,
                                            CASE WHEN rule_value IS NULL THEN ', unpriced'
                                                 ELSE pg_catalog.format(' worth %s %s', rule_value, rule_currency)
                                            END)
                          OPERATOR(pg_catalog.||) ' Leave offer, offer_value and currency NULL to log exactly that.';
            END IF;
        END IF;
    ELSIF NEW.experiment IS NULL THEN
        RETURN NEW;  -- an offer without a rule or experiment: what its writer says (see docs/incentives.md)
    ELSE
        -- an arm without a rule: an arm of some rule of that experiment, with that arm's offer
        -- (the rule whose arm matches what the row says, else the first one)
        SELECT a.value, r.currency INTO arm, rule_currency
        FROM churnml.incentive_rules AS r,
             pg_catalog.jsonb_path_query_first(r.arms, '$[*] ? (@.arm == $arm)',
                                               pg_catalog.jsonb_build_object('arm', NEW.arm)) AS a (value)
        WHERE r.experiment OPERATOR(pg_catalog.=) NEW.experiment AND NEW.arm IS NOT NULL AND a.value IS NOT NULL
        ORDER BY (COALESCE(NEW.offer, a.value OPERATOR(pg_catalog.->>) 'offer')
                      OPERATOR(pg_catalog.=) (a.value OPERATOR(pg_catalog.->>) 'offer')
                  AND COALESCE(NEW.offer_value, (a.value OPERATOR(pg_catalog.->>) 'offer_value')::pg_catalog.numeric)
                      IS NOT DISTINCT FROM (a.value OPERATOR(pg_catalog.->>) 'offer_value')::pg_catalog.numeric
                  AND COALESCE(NEW.currency, r.currency) OPERATOR(pg_catalog.=) r.currency) DESC,
                 r.id
        LIMIT 1;
        IF arm IS NULL THEN
            problem := pg_catalog.format('"%s" is not an arm of experiment "%s"', pg_catalog.left(NEW.arm, 63),
                                         pg_catalog.left(NEW.experiment, 63));
        ELSE
            rule_offer := arm OPERATOR(pg_catalog.->>) 'offer';
            rule_value := (arm OPERATOR(pg_catalog.->>) 'offer_value')::pg_catalog.numeric;
            NEW.offer := COALESCE(NEW.offer, rule_offer);
            NEW.offer_value := COALESCE(NEW.offer_value, rule_value);
            NEW.currency := COALESCE(NEW.currency, rule_currency);
            IF NEW.offer OPERATOR(pg_catalog.=) rule_offer AND NEW.offer_value IS NOT DISTINCT FROM rule_value
               AND NEW.currency OPERATOR(pg_catalog.=) rule_currency THEN
                RETURN NEW;
            END IF;
            maker := pg_catalog.format('Arm "%s" of experiment "%s"', NEW.arm, NEW.experiment);
            problem := pg_catalog.format('arm "%s" of experiment "%s" does not offer "%s"%s', NEW.arm, NEW.experiment,
                                         pg_catalog.left(NEW.offer, 60) OPERATOR(pg_catalog.||)
                                             CASE WHEN pg_catalog.length(NEW.offer) OPERATOR(pg_catalog.>) 60
                                                  THEN '…' ELSE '' END,
                                         CASE WHEN NEW.offer_value IS NULL THEN ', unpriced'
                                              ELSE pg_catalog.format(' worth %s %s', NEW.offer_value,
                                                                     pg_catalog.left(NEW.currency, 3)) END);
            detail := pg_catalog.format('%s offers "%s"%s.', maker, rule_offer,
                                        CASE WHEN rule_value IS NULL THEN ', unpriced'
                                             ELSE pg_catalog.format(' worth %s %s', rule_value, rule_currency) END)
                      OPERATOR(pg_catalog.||) ' Leave offer, offer_value and currency NULL to log exactly that.';
        END IF;
    END IF;
    -- Inconsistent. A superuser is restoring a dump (or knows better); anyone else is refused.
    IF (SELECT a.rolsuper FROM pg_catalog.pg_roles AS a WHERE a.rolname OPERATOR(pg_catalog.=) CURRENT_USER) THEN
        RETURN NEW;
    END IF;
    IF rule_name IS NULL AND NEW.rule_id IS NOT NULL THEN
        RAISE EXCEPTION USING
            ERRCODE = '23503',
            MESSAGE = pg_catalog.format('churnml: rule %s does not exist', NEW.rule_id),
            DETAIL = 'An offer''s rule_id names the rule of churnml.incentive_rules that made it, or is NULL.';
    END IF;
    IF NEW.experiment IS NOT NULL
       AND NOT EXISTS (SELECT FROM churnml.experiments AS e WHERE e.name OPERATOR(pg_catalog.=) NEW.experiment) THEN
        RAISE EXCEPTION USING
            ERRCODE = '23503',
            MESSAGE = pg_catalog.format('churnml: experiment "%s" does not exist', pg_catalog.left(NEW.experiment, 63)),
            HINT = 'SELECT name FROM churnml.experiments lists them.';
    END IF;
    IF detail IS NULL AND NEW.experiment IS NOT NULL THEN
        SELECT 'Its arms: ' OPERATOR(pg_catalog.||)
               COALESCE(pg_catalog.string_agg(DISTINCT a.value OPERATOR(pg_catalog.->>) 'arm', ', '), 'none')
               OPERATOR(pg_catalog.||) '.' INTO detail
        FROM churnml.incentive_rules AS r, pg_catalog.jsonb_array_elements(r.arms) AS a
        WHERE r.experiment OPERATOR(pg_catalog.=) NEW.experiment;
    END IF;
    RAISE EXCEPTION USING
        ERRCODE = '23514',
        MESSAGE = 'churnml: the offer does not match its rule: ' OPERATOR(pg_catalog.||) problem,
        DETAIL = COALESCE(detail, 'An offer names the rule that made it, as that rule is now.'),
        HINT = 'Log offers with churnml.log_offer(customer_key, r) FROM churnml.recommend_incentive(...) r.';
END
$$;
COMMENT ON FUNCTION churnml._offer_log_check() IS
'Internal trigger: an offer''s values are what the log keeps (23514 naming the check, for every writer: customer_key not blank and without control characters, will_churn and confidence 0..1, sentiment one of the four labels, offer_value finite and >= 0, currency three capital letters, experiment and arm both or neither); its rule_id names an existing rule (23503), its rule_set and rule_name are that rule''s, and its offer, offer_value and currency are what the rule offers, or, with an experiment, what that arm of the rule offers (each filled in when NULL); without a rule, an experiment''s arm is an arm of some rule of that experiment and the offer is that arm''s (an unknown experiment is 23503). 23514 otherwise. A superuser''s rows pass (pg_restore of offers whose rule changed since).';
CREATE OR REPLACE TRIGGER check_offer BEFORE INSERT OR UPDATE ON churnml.offer_log
    FOR EACH ROW EXECUTE FUNCTION churnml._offer_log_check();
COMMENT ON TABLE churnml.offer_outcomes IS
'What happened after an offer: retained or churned (one outcome per offer; recording again replaces it). recorded_at is when the outcome was known: not before the offer, not in the future. recorded_by is set by the database.';

CREATE OR REPLACE FUNCTION churnml._offer_outcomes_check() RETURNS trigger
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    offered timestamptz;
BEGIN
    IF TG_OP OPERATOR(pg_catalog.=) 'UPDATE' THEN
        NEW.recorded_by := CURRENT_USER;  -- who changed it last (an INSERT gets the column default)
    END IF;
    IF NEW.recorded_at OPERATOR(pg_catalog.>) pg_catalog.clock_timestamp() THEN
        RAISE EXCEPTION USING
            ERRCODE = '22023',
            MESSAGE = pg_catalog.format('churnml: the outcome of offer %s cannot be recorded in the future',
                                        NEW.offer_id),
            DETAIL = pg_catalog.format('recorded_at is %s.', NEW.recorded_at),
            HINT = 'Leave recorded_at to its default, now().';
    END IF;
    SELECT l.offered_at INTO offered FROM churnml.offer_log AS l WHERE l.id OPERATOR(pg_catalog.=) NEW.offer_id;
    IF offered OPERATOR(pg_catalog.>) NEW.recorded_at THEN
        RAISE EXCEPTION USING
            ERRCODE = '22023',
            MESSAGE = pg_catalog.format('churnml: the outcome of offer %s cannot be recorded before the offer was made',
                                        NEW.offer_id),
            DETAIL = pg_catalog.format('The offer was made at %s; recorded_at is %s.', offered, NEW.recorded_at);
    END IF;
    RETURN NEW;
END
$$;
COMMENT ON FUNCTION churnml._offer_outcomes_check() IS
'Internal trigger: an outcome is recorded between its offer and now (22023 otherwise); an update stamps recorded_by.';
CREATE OR REPLACE TRIGGER check_outcome BEFORE INSERT OR UPDATE ON churnml.offer_outcomes
    FOR EACH ROW EXECUTE FUNCTION churnml._offer_outcomes_check();
COMMENT ON SEQUENCE churnml.incentive_rules_id_seq IS 'Ids of churnml.incentive_rules (its identity column).';
COMMENT ON SEQUENCE churnml.offer_log_id_seq IS 'Ids of churnml.offer_log (its identity column): offer ids, as log_offer and assess_customer return them.';
COMMENT ON TYPE churnml.incentive IS
'What recommend_incentive returns and log_offer records: the offer, its value and reason, the rule, the experiment arm (NULL outside experiments), and the inputs the rules saw.';

CREATE OR REPLACE FUNCTION churnml.recommend_incentive(
    will_churn float8,
    sentiment text,
    confidence float8,
    customer jsonb DEFAULT '{}',
    customer_key text DEFAULT NULL,
    rule_set text DEFAULT 'default',
    as_of timestamptz DEFAULT pg_catalog.now()
) RETURNS churnml.incentive
LANGUAGE plpython3u STABLE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS $$
import churnml.sql_api.incentives as api
return api.recommend_incentive(plpy, '0.3.0', will_churn, sentiment, confidence, customer, customer_key,
                               rule_set, as_of)
$$;
COMMENT ON FUNCTION churnml.recommend_incentive(float8, text, float8, jsonb, text, text, timestamptz) IS
'The incentive Marketing''s rules give a customer: the first enabled rule of rule_set, by priority, active at as_of, whose condition is TRUE for these inputs (customer: JSON of further inputs by name, e.g. to_jsonb(c)). A rule running an experiment picks the arm from sha256(seed:experiment:customer_key), so it needs customer_key. No matching rule: offer and rule_name are NULL. Reads rules once per statement; never writes (log with churnml.log_offer).';

CREATE OR REPLACE FUNCTION churnml.check_condition(condition text) RETURNS jsonb
LANGUAGE plpython3u STABLE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS $$
import churnml.sql_api.incentives as api
return api.check_condition(plpy, '0.3.0', condition)
$$;
COMMENT ON FUNCTION churnml.check_condition(text) IS
'Validate a rule condition without saving a rule: returns its syntax tree, the inputs it uses and its normalised text, or fails with SQLSTATE 22023 naming the offending token and its position.';

-- ---------------------------------------------------------------------------
-- Logging offers and outcomes.
CREATE OR REPLACE FUNCTION churnml.log_offer(
    customer_key text,
    recommendation churnml.incentive,
    model_id bigint DEFAULT NULL
) RETURNS bigint
-- PL/pgSQL, not SQL: its INSERT is planned once per session, where a SQL function's is
-- planned again on every call (assess_customer logs every call: ~0.1 ms saved each).
-- The arguments are checked here, before the INSERT, so that a bad one is a clear error
-- (22023/22003) naming the argument (no EXCEPTION block: it would cost a subtransaction
-- per call). The check_offer trigger checks the same of every row written, as 23514.
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    logged bigint;
    inputs jsonb := COALESCE(($2).inputs, '{}'::pg_catalog.jsonb);
    churn jsonb := inputs OPERATOR(pg_catalog.->) 'will_churn';
    conf jsonb := inputs OPERATOR(pg_catalog.->) 'confidence';
    label text := inputs OPERATOR(pg_catalog.->>) 'sentiment';
    what text;
    given jsonb;
BEGIN
    -- NULL would log an offer of nothing (or fail on the table's NOT NULL): say which argument
    IF $1 IS NULL OR $2 IS NULL THEN
        RAISE EXCEPTION USING
            ERRCODE = '22004',
            MESSAGE = pg_catalog.format('churnml: %s must not be NULL',
                                        CASE WHEN $1 IS NULL THEN 'customer_key' ELSE 'recommendation' END),
            HINT = 'SELECT churnml.log_offer(key, r) FROM churnml.recommend_incentive(..., customer_key => key) r';
    END IF;
    -- one expression on the way in; which check failed is worked out only when one did
    IF NOT ($1 OPERATOR(pg_catalog.~) '[^ \u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]'
            AND $1 OPERATOR(pg_catalog.!~) '[\u0001-\u001f\u007f-\u009f]'
            AND CASE pg_catalog.jsonb_typeof(churn)
                    WHEN 'number' THEN churn::pg_catalog.numeric OPERATOR(pg_catalog.>=) 0
                                       AND churn::pg_catalog.numeric OPERATOR(pg_catalog.<=) 1
                    WHEN 'null' THEN true ELSE churn IS NULL END
            AND CASE pg_catalog.jsonb_typeof(conf)
                    WHEN 'number' THEN conf::pg_catalog.numeric OPERATOR(pg_catalog.>=) 0
                                       AND conf::pg_catalog.numeric OPERATOR(pg_catalog.<=) 1
                    WHEN 'null' THEN true ELSE conf IS NULL END
            AND (label IS NULL OR label OPERATOR(pg_catalog.=) ANY (ARRAY['POSITIVE', 'NEGATIVE', 'NEUTRAL', 'MIXED']))
            AND COALESCE(($2).offer_value OPERATOR(pg_catalog.>=) 0
                         AND ($2).offer_value OPERATOR(pg_catalog.<) 'Infinity'::pg_catalog.numeric, true)
            AND COALESCE(($2).currency OPERATOR(pg_catalog.~) '^[A-Z]{3}$', true)
            AND (($2).experiment IS NULL) OPERATOR(pg_catalog.=) (($2).arm IS NULL)) THEN
        IF $1 OPERATOR(pg_catalog.!~) '[^ \u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]' THEN
            RAISE EXCEPTION USING
                ERRCODE = '22023',
                MESSAGE = 'churnml: customer_key must not be blank',
                DETAIL = 'It keys the customer''s experiment arm and the offer log.',
                HINT = 'Pass a stable key such as area_code || ''/'' || phone.';
        ELSIF $1 OPERATOR(pg_catalog.~) '[\u0001-\u001f\u007f-\u009f]' THEN
            RAISE EXCEPTION USING
                ERRCODE = '22023',
                MESSAGE = 'churnml: customer_key must not contain control characters',
                DETAIL = 'A customer key is printable text, such as area_code || ''/'' || phone.',
                HINT = 'Remove tabs, line breaks and other control characters from the key.';
        END IF;
        FOREACH what IN ARRAY ARRAY['will_churn', 'confidence'] LOOP
            given := inputs OPERATOR(pg_catalog.->) what;
            IF pg_catalog.jsonb_typeof(given) OPERATOR(pg_catalog.=) 'number' THEN
                IF NOT (given::pg_catalog.numeric OPERATOR(pg_catalog.>=) 0
                        AND given::pg_catalog.numeric OPERATOR(pg_catalog.<=) 1) THEN
                    RAISE EXCEPTION USING
                        ERRCODE = '22003',
                        MESSAGE = pg_catalog.format('churnml: %s must be between 0 and 1, not %s', what,
                                                    pg_catalog.left(given::pg_catalog.text, 30)),
                        DETAIL = pg_catalog.format('The recommendation''s inputs give %s; it is a probability: a '
                                                   'number from 0 to 1, or NULL when unknown.', what),
                        HINT = 'Log what churnml.recommend_incentive returned.';
                END IF;
            ELSIF pg_catalog.jsonb_typeof(given) OPERATOR(pg_catalog.<>) 'null' THEN
                RAISE EXCEPTION USING
                    ERRCODE = '22023',
                    MESSAGE = pg_catalog.format('churnml: %s must be a number, not a JSON %s', what,
                                                pg_catalog.jsonb_typeof(given)),
                    DETAIL = pg_catalog.format('The recommendation''s inputs give %s; it is a probability: a '
                                               'number from 0 to 1, or NULL when unknown.', what),
                    HINT = 'Log what churnml.recommend_incentive returned.';
            END IF;
        END LOOP;
        IF label IS NOT NULL
           AND NOT label OPERATOR(pg_catalog.=) ANY (ARRAY['POSITIVE', 'NEGATIVE', 'NEUTRAL', 'MIXED']) THEN
            RAISE EXCEPTION USING
                ERRCODE = '22023',
                MESSAGE = pg_catalog.format('churnml: sentiment must be POSITIVE, NEGATIVE, NEUTRAL or MIXED, not %s',
                                            pg_catalog.left(pg_catalog.to_json(label)::pg_catalog.text, 70)),
                DETAIL = 'The recommendation''s inputs give the sentiment; the offer log keeps the labels '
                         'churnml.detect_sentiment gives, upper-cased.',
                HINT = 'Log what churnml.recommend_incentive returned.';
        ELSIF NOT COALESCE(($2).offer_value OPERATOR(pg_catalog.>=) 0
                           AND ($2).offer_value OPERATOR(pg_catalog.<) 'Infinity'::pg_catalog.numeric, true) THEN
            RAISE EXCEPTION USING
                ERRCODE = '22023',
                MESSAGE = pg_catalog.format('churnml: offer_value must be a finite number >= 0, not %s',
                                            pg_catalog.left(($2).offer_value::pg_catalog.text, 30)),
                DETAIL = 'An offer_value is what the offer costs, or NULL when it is unpriced.',
                HINT = 'Log what churnml.recommend_incentive returned.';
        ELSIF NOT COALESCE(($2).currency OPERATOR(pg_catalog.~) '^[A-Z]{3}$', true) THEN
            RAISE EXCEPTION USING
                ERRCODE = '22023',
                MESSAGE = pg_catalog.format('churnml: currency must be three capital letters, not %s',
                                            pg_catalog.left(pg_catalog.to_json(($2).currency)::pg_catalog.text, 30)),
                DETAIL = 'A currency is an ISO 4217 code such as USD or EUR.',
                HINT = 'Log what churnml.recommend_incentive returned.';
        END IF;
        RAISE EXCEPTION USING
            ERRCODE = '22023',
            MESSAGE = 'churnml: experiment and arm must both be given or both be NULL',
            DETAIL = 'An offer made by an experiment names the experiment and the arm the customer was given.',
            HINT = 'Log what churnml.recommend_incentive returned.';
    END IF;
    INSERT INTO churnml.offer_log (customer_key, rule_set, rule_id, rule_name, experiment, arm, offer, offer_value,
                                   currency, model_id, will_churn, sentiment, confidence, inputs, reason)
    VALUES ($1, ($2).rule_set, ($2).rule_id, ($2).rule_name, ($2).experiment, ($2).arm, ($2).offer, ($2).offer_value,
            ($2).currency, $3,
            CASE pg_catalog.jsonb_typeof(churn) WHEN 'number' THEN churn::pg_catalog.float8 END,
            label,
            -- real: a confidence below its smallest value (~1e-45) is stored as 0
            CASE pg_catalog.jsonb_typeof(conf) WHEN 'number' THEN
                CASE WHEN conf::pg_catalog.numeric OPERATOR(pg_catalog.<) 1e-44 THEN 0
                     ELSE conf::pg_catalog.float4 END END,
            inputs, ($2).reason)
    RETURNING churnml.offer_log.id INTO logged;
    RETURN logged;
END
$$;
COMMENT ON FUNCTION churnml.log_offer(text, churnml.incentive, bigint) IS
'Record an offer made to customer_key: SELECT churnml.log_offer(key, r, model_id) FROM churnml.recommend_incentive(..., customer_key => key) r. Returns the offer id (for churnml.record_outcome). Checks its arguments first, as recommend_incentive does (a blank key or one with control characters, a sentiment label other than the four, will_churn or confidence outside 0..1, a negative offer_value, a currency that is not three capital letters: 22023 / 22003); the offer must be what its rule or experiment arm offers (23514).';

CREATE OR REPLACE FUNCTION churnml.record_outcome(
    offer_id bigint, outcome text, recorded_at timestamptz DEFAULT pg_catalog.now(), note text DEFAULT NULL
) RETURNS bigint
LANGUAGE plpython3u VOLATILE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS $$
import churnml.sql_api.incentives as api
return api.record_outcome(plpy, '0.3.0', offer_id, None, outcome, recorded_at, note)
$$;
COMMENT ON FUNCTION churnml.record_outcome(bigint, text, timestamptz, text) IS
'Record what happened after offer offer_id: ''retained'' or ''churned'' (replaces an earlier outcome of that offer). Returns the offer id.';

CREATE OR REPLACE FUNCTION churnml.record_outcome(
    customer_key text, outcome text, recorded_at timestamptz DEFAULT pg_catalog.now(), note text DEFAULT NULL
) RETURNS bigint
LANGUAGE plpython3u VOLATILE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS $$
import churnml.sql_api.incentives as api
return api.record_outcome(plpy, '0.3.0', None, customer_key, outcome, recorded_at, note)
$$;
COMMENT ON FUNCTION churnml.record_outcome(text, text, timestamptz, text) IS
'Record ''retained'' or ''churned'' for the latest offer made to customer_key at or before recorded_at. Returns that offer''s id.';

-- ---------------------------------------------------------------------------
-- Evaluating.
CREATE OR REPLACE FUNCTION churnml.experiment_results(experiment text, control_arm text DEFAULT NULL)
RETURNS TABLE (arm text, offer text, offers bigint, outcomes_known bigint, retained bigint, retention_rate float8,
               total_cost numeric, is_control boolean, uplift float8, uplift_ci_low float8, uplift_ci_high float8)
LANGUAGE plpython3u STABLE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS $$
import churnml.sql_api.incentives as api
return api.experiment_results(plpy, '0.3.0', experiment, control_arm)
$$;
COMMENT ON FUNCTION churnml.experiment_results(text, text) IS
'Arms of an experiment side by side from the offer log: offers, outcomes known, retained, retention rate (retained / outcomes known), total cost (sum of offer_value), and the uplift in retention rate over the control arm (control_arm, else the experiment''s, else the first arm by name) with a 95% normal-approximation confidence interval.';

CREATE OR REPLACE FUNCTION churnml.rule_set_cost(
    rule_set text,
    retained_value numeric,
    save_rate float8,
    model text DEFAULT 'churn',
    acceptance_rate float8 DEFAULT 1.0,
    sentiment_mix jsonb DEFAULT '{"NEUTRAL": 1}',
    confidence float8 DEFAULT 0.9,
    as_of timestamptz DEFAULT pg_catalog.now()
) RETURNS TABLE (rule_name text, offer text, customers numeric, churners numeric, incentive_cost numeric,
                 expected_saves numeric, saved_value numeric, net_value numeric, unpriced numeric)
LANGUAGE plpython3u STABLE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS $$
import churnml.sql_api.incentives as api
return api.rule_set_cost(plpy, '0.3.0', rule_set, retained_value, save_rate, model, acceptance_rate,
                         sentiment_mix, confidence, as_of)
$$;
COMMENT ON FUNCTION churnml.rule_set_cost(text, numeric, float8, text, float8, jsonb, float8, timestamptz) IS
'Estimated cost and saving of a rule set on the held-out test rows of a model (a deployed name, the name of models not deployed: the latest, said in a NOTICE; or an id), one row per rule plus "(no match)" and "(total)". will_churn = each row''s held-out probability; sentiment follows sentiment_mix (shares), with the given confidence; customer fields are unknown (NULL). A priced offer costs acceptance_rate x offer_value and keeps save_rate of the churners offered it, each worth retained_value; experiment rules count each arm by weight. Counts (customers, churners, expected_saves, unpriced) are weighted sums rounded to 6 decimals, without trailing zeros (176, 52.5), money to cents.';

-- ---------------------------------------------------------------------------
-- Column grants: ids, builtin, condition_ast (the trigger's) and the audit columns are not
-- the caller's to write (see the top of this file).
GRANT SELECT ON churnml.incentive_inputs, churnml.experiments, churnml.incentive_rules TO churnml_user;
GRANT INSERT (name, type, description), UPDATE (name, type, description) ON churnml.incentive_inputs
    TO churnml_admin;
GRANT INSERT (name, seed, description, control_arm, started_at, stopped_at),
      UPDATE (name, seed, description, control_arm, started_at, stopped_at)
    ON churnml.experiments TO churnml_admin;
GRANT INSERT (rule_set, priority, name, condition, offer, offer_value, currency, active_from, active_until, arms,
              experiment, reason, enabled),
      UPDATE (rule_set, priority, name, condition, offer, offer_value, currency, active_from, active_until, arms,
              experiment, reason, enabled)
    ON churnml.incentive_rules TO churnml_admin;
GRANT DELETE ON churnml.incentive_inputs, churnml.experiments, churnml.incentive_rules TO churnml_admin;
GRANT USAGE ON SEQUENCE churnml.incentive_rules_id_seq TO churnml_admin;
GRANT SELECT ON churnml.offer_log TO churnml_user;
GRANT INSERT (customer_key, rule_set, rule_id, rule_name, experiment, arm, offer, offer_value, currency, model_id,
              will_churn, sentiment, confidence, inputs, reason)
    ON churnml.offer_log TO churnml_user;
GRANT DELETE ON churnml.offer_log TO churnml_admin;
GRANT USAGE ON SEQUENCE churnml.offer_log_id_seq TO churnml_user;
GRANT SELECT ON churnml.offer_outcomes TO churnml_user;
GRANT INSERT (offer_id, outcome, recorded_at, note), UPDATE (outcome, recorded_at, note)
    ON churnml.offer_outcomes TO churnml_admin;
GRANT DELETE ON churnml.offer_outcomes TO churnml_admin;

GRANT EXECUTE ON FUNCTION
    churnml.recommend_incentive(float8, text, float8, jsonb, text, text, timestamptz),
    churnml.check_condition(text),
    churnml.log_offer(text, churnml.incentive, bigint),
    churnml.experiment_results(text, text),
    churnml.rule_set_cost(text, numeric, float8, text, float8, jsonb, float8, timestamptz)
TO churnml_user;
GRANT EXECUTE ON FUNCTION
    churnml.record_outcome(bigint, text, timestamptz, text),
    churnml.record_outcome(text, text, timestamptz, text)
TO churnml_admin;

-- ---- sql/400_call_center.sql ----
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
return api.assess(plpy, '0.3.0', area_code, phone, message, log_offer, engine)
$$;
COMMENT ON FUNCTION churnml.assess_customer(bigint, text, text, boolean, text) IS
'The call-center answer for one customer: their row (as jsonb), the churn probability from the deployed model and whether it is above the deployed cutoff, the sentiment of `message` (or, when NULL, of their latest stored message), the incentive Marketing''s rules recommend with its reason, rule and experiment arm, and the model''s top reasons for this customer. The message is data, never SQL. Only with log_offer => true is the recommendation written to churnml.offer_log (offer_id, for record_outcome and experiment_results; NULL otherwise): reading is never writing, so a BI refresh or a repeated look-up logs nothing. An unknown customer is an error (SQLSTATE P0002). Tables and model come from churnml.call_center_settings.';

GRANT EXECUTE ON FUNCTION churnml.assess_customer(bigint, text, text, boolean, text) TO churnml_user;

-- ---- sql/410_dashboards.sql ----
-- Dashboards and BI tools: every customer's churn risk in one view, and the
-- call-center answer with plain column types for JDBC/ODBC clients.
--
-- The extension cannot name the customer table at CREATE EXTENSION time (it is
-- configured in churnml.call_center_settings), so the view reads it through a
-- PL/Python function: bulk scoring in C, a matrix at a time, each batch packed into one
-- row of bytea columns and unpacked in C, as churnml.score's batches are; TreeSHAP in C
-- too, but only for queries that read the explanation columns. STABLE (it reads the
-- deployed model), PARALLEL UNSAFE (SPI), run with the caller's privileges on the
-- customer table.

-- The view calls it without arguments: search_path's default, evaluated where the view
-- is read, is the reader's path (the view runs with its reader's rights).
-- ROWS: a batch is 5,000 customers; without it the planner guesses 1,000 x 1,000 rows and
-- compiles every dashboard query with JIT (~0.2 s) for nothing.
CREATE OR REPLACE FUNCTION churnml._customer_risk_batches(
    batch_size int DEFAULT 5000,
    search_path text DEFAULT pg_catalog.current_setting('search_path')
) RETURNS TABLE (keys bytea, probabilities bytea, bands bytea, matrix bytea,
                 threshold float8, model text, model_id bigint)
LANGUAGE plpython3u STABLE PARALLEL UNSAFE ROWS 20
SET search_path = pg_catalog, pg_temp
AS $$
import churnml.sql_api.dashboards as api
return api.customer_risk_batches(plpy, '0.3.0', batch_size, search_path)
$$;
COMMENT ON FUNCTION churnml._customer_risk_batches(int, text) IS
'Internal: every customer of the call-center customer table scored, one row per batch, its columns packed as churnml._unpack_risk reads them, with the batch''s encoded feature matrix (native float8s, row by row) for churnml._risk_explanations; what churnml.customer_risk unnests.';

CREATE OR REPLACE FUNCTION churnml._risk_explanations(model_id bigint, matrix bytea,
                                           OUT features text[], OUT reasons bytea, OUT contributions bytea)
LANGUAGE plpython3u STABLE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS $$
import churnml.sql_api.dashboards as api
return api.risk_explanations(plpy, '0.3.0', model_id, matrix)
$$;
COMMENT ON FUNCTION churnml._risk_explanations(bigint, bytea) IS
'Internal: the top positive reason (TreeSHAP, as explain_churn) of every customer of one batch of churnml._customer_risk_batches, computed only when a query reads customer_risk''s top_reason or top_reason_contribution: the model''s features, and per customer (native float8s, NaN = none positive) the 1-based position of its top reason among them and that reason''s contribution.';

CREATE OR REPLACE FUNCTION churnml._unpack_risk(keys bytea, probabilities bytea, bands bytea)
RETURNS TABLE (customer_key text, will_churn float8, risk_band text)
LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE ROWS 5000
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'churnml_unpack_batch';
COMMENT ON FUNCTION churnml._unpack_risk(bytea, bytea, bytea) IS
'Internal (what customer_risk calls, in C, the same function as _unpack_scores): one row per customer of a batch from _customer_risk_batches. probabilities = float8 values in native byte order (NaN reads as NULL); keys and bands = one UTF-8 value per customer, each followed by a zero byte, the single byte 0xFF for NULL. Sizes and UTF-8 are checked (22023, 22021).';

CREATE OR REPLACE FUNCTION churnml._float8_at(packed bytea, n bigint) RETURNS float8
LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'churnml_float8_at';
COMMENT ON FUNCTION churnml._float8_at(bytea, bigint) IS
'Internal (what customer_risk calls, in C): the n-th (1-based) of a bytea of native float8s, NaN as NULL; 22023 when n is outside them.';

-- The explanations are a column of the batch subquery (OFFSET 0 keeps it a subquery): when
-- a query reads neither top_reason nor top_reason_contribution, PostgreSQL drops that unused
-- column and churnml._risk_explanations never runs. The latest sentiment is a lookup per
-- customer in the select list for the same reason.
CREATE OR REPLACE VIEW churnml.customer_risk WITH (security_invoker = true) AS
SELECT u.customer_key,
       u.will_churn,
       u.will_churn OPERATOR(pg_catalog.>) b.threshold AS churn_flag,
       u.risk_band,
       b.threshold,
       ((b.e).features)[churnml._float8_at((b.e).reasons, u.n)::pg_catalog.int4] AS top_reason,
       churnml._float8_at((b.e).contributions, u.n) AS top_reason_contribution,
       (SELECT l.sentiment FROM churnml.offer_log AS l
        WHERE l.customer_key OPERATOR(pg_catalog.=) u.customer_key AND l.sentiment IS NOT NULL
        ORDER BY l.offered_at DESC, l.id DESC LIMIT 1) AS sentiment,
       (SELECT l.confidence FROM churnml.offer_log AS l
        WHERE l.customer_key OPERATOR(pg_catalog.=) u.customer_key AND l.sentiment IS NOT NULL
        ORDER BY l.offered_at DESC, l.id DESC LIMIT 1) AS confidence,
       (SELECT l.offered_at FROM churnml.offer_log AS l
        WHERE l.customer_key OPERATOR(pg_catalog.=) u.customer_key AND l.sentiment IS NOT NULL
        ORDER BY l.offered_at DESC, l.id DESC LIMIT 1) AS sentiment_at,
       b.model,
       b.model_id
FROM (SELECT r.keys, r.probabilities, r.bands, r.threshold, r.model, r.model_id,
             churnml._risk_explanations(r.model_id, r.matrix) AS e
      FROM churnml._customer_risk_batches() AS r
      OFFSET 0) AS b
CROSS JOIN LATERAL churnml._unpack_risk(b.keys, b.probabilities, b.bands) WITH ORDINALITY
    AS u (customer_key, will_churn, risk_band, n);
COMMENT ON VIEW churnml.customer_risk IS
'One row per customer of the call-center customer table (churnml.call_center_config) for dashboards: customer_key (key1/key2, as assess_customer), will_churn from the deployed model, churn_flag and risk_band against the deployment''s threshold (high: will_churn > threshold, i.e. churn_flag; medium: > threshold/2; low: the rest), top_reason = the feature with the largest positive TreeSHAP contribution (as explain_churn; NULL when none is positive) and that contribution, the latest sentiment/confidence/time recorded for the customer in churnml.offer_log (NULL if never assessed with a sentiment), and the model name and id. Computed on every read (bulk scoring in C), and a query pays only for the columns it reads: the explanations (TreeSHAP, most of the work) only when it reads top_reason or top_reason_contribution, the offer-log lookups only when it reads sentiment, confidence or sentiment_at. For 10,000 customers about 0.3 s without explanations; materialise it for heavy dashboards. Reads the customer table with the caller''s privileges. Never writes.';

-- Without SET search_path, like churnml.assess_customer, which reads the caller's path.
CREATE OR REPLACE FUNCTION churnml.assess_customer_text(
    area_code bigint,
    phone text,
    message text DEFAULT NULL,
    log_offer boolean DEFAULT false,
    engine text DEFAULT pg_catalog.current_setting('churnml.sentiment_engine', true)
) RETURNS TABLE (
    customer_key text,
    customer text,
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
LANGUAGE sql VOLATILE PARALLEL UNSAFE
AS $$
SELECT a.customer_key, a.customer::pg_catalog.text, a.will_churn, a.churn_flag, a.sentiment, a.confidence,
       a.offer, a.offer_value, a.reason, a.rule_name, a.arm, a.experiment, a.top_reasons, a.model_id, a.offer_id
FROM churnml.assess_customer(area_code, phone, message, log_offer, engine) AS a
$$;
COMMENT ON FUNCTION churnml.assess_customer_text(bigint, text, text, boolean, text) IS
'assess_customer with only plain SQL types, for JDBC/ODBC and BI tools: the same columns, but `customer` is the customer row as JSON text instead of jsonb (which JDBC returns as org.postgresql.util.PGobject). Like assess_customer, writes the offer to churnml.offer_log only when log_offer is true: a BI refresh never writes.';

GRANT EXECUTE ON FUNCTION
    churnml._customer_risk_batches(int, text),
    churnml._risk_explanations(bigint, bytea),
    churnml._unpack_risk(bytea, bytea, bytea),
    churnml._float8_at(bytea, bigint),
    churnml.assess_customer_text(bigint, text, text, boolean, text)
TO churnml_user;
GRANT SELECT ON churnml.customer_risk TO churnml_user;

-- ---- sql/490_storage_locations.sql ----
-- Storage locations: where export_query, load_from_s3 and aws_s3 may read and write, and who
-- may — declared by an administrator and granted per role, in the spirit of Aurora's
-- per-feature IAM roles and Snowflake's storage integrations, but checked inside the
-- database. Without a grant, a loader reaches no object storage at all: the server's
-- credentials are not the caller's (docs/security.md, "Object storage").
--
-- A location is a name, a URI prefix in normal form (s3://bucket/ or s3://bucket/some/prefix/,
-- file:///directory/; always ending in "/", so prefix matching is on whole path segments) and
-- the name of a credential in the server's $PGDATA/churnml/s3.json. Credentials never appear in
-- SQL: only their names. Both tables are configuration tables (pg_extension_config_dump), so
-- pg_dump keeps their rows and pg_restore brings them back.

COMMENT ON TABLE churnml.storage_locations IS
'Where churnml may read and write object storage: each location is a name, a URI prefix in normal form (s3://bucket/, s3://bucket/some/prefix/ or file:///directory/, always ending in "/", lowercase scheme and bucket, no empty, "." or ".." segment, no percent-encoded ".", "/" or "\") and the name of a credential in the server''s $PGDATA/churnml/s3.json. Every URI an export or load touches is covered by the location with the longest matching prefix, on which the caller needs read (load, list) or write (export, overwrite): churnml.grant_storage. Written by churnml.create_storage_location and drop_storage_location (churnml_admin); readable by churnml_loader, so a refusal can name the location to ask for.';
COMMENT ON COLUMN churnml.storage_locations.credential IS
'The name of a credential in the server''s $PGDATA/churnml/s3.json ("credentials": {"default": {...}, ...}); the credential itself never appears in SQL. ''default'' is also churnml 0.2.0''s single credential and the server''s environment.';
COMMENT ON COLUMN churnml.storage_locations.sse IS
'Server-side encryption of every object churnml writes there: NULL (the bucket''s default), ''AES256'' (SSE-S3, keys the storage manages) or ''aws:kms'' (SSE-KMS, with kms_key_id or the account''s default KMS key). Reads need no setting: S3 decrypts for whoever may read.';
COMMENT ON COLUMN churnml.storage_locations.kms_key_id IS
'With sse ''aws:kms'': the KMS key id, alias or ARN the objects are encrypted with (NULL: the default KMS key). An identifier, not a secret; the credential must be allowed to use the key.';
COMMENT ON COLUMN churnml.storage_locations.created_by IS
'Who declared the location, set by the database (a trigger) for everyone but a superuser (whose pg_restore keeps the recorded value).';
COMMENT ON TABLE churnml.storage_grants IS
'Who may use which storage location: read (load_from_s3, table_import_from_s3, prefix listings, manifests and their parts) or write (export_query, query_export_to_s3, overwriting). A role has a grant made to it or to a role whose privileges it inherits. Written by churnml.grant_storage and revoke_storage (churnml_admin). Row-level security: members of churnml_admin see every row, anyone else only the grants that apply to them.';
COMMENT ON COLUMN churnml.storage_grants.grantee IS
'The role (regrole: pg_dump writes its name, so a restore needs the role to exist, as for GRANT). A dropped role''s grants stay, shown as its OID, and apply to nobody; revoke_storage removes them.';

CREATE OR REPLACE FUNCTION churnml._storage_audit() RETURNS trigger
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    -- A superuser's values stand (pg_restore brings back who declared or granted what, and when);
    -- anyone else is recorded as who they are, now, and cannot rewrite the record later.
    IF NOT coalesce((SELECT r.rolsuper FROM pg_catalog.pg_roles AS r
                     WHERE r.rolname OPERATOR(pg_catalog.=) CURRENT_USER), false) THEN
        IF TG_OP OPERATOR(pg_catalog.=) 'UPDATE' THEN
            NEW.created_by := OLD.created_by;
            NEW.created_at := OLD.created_at;
        ELSE
            NEW.created_by := CURRENT_USER;
            NEW.created_at := pg_catalog.now();
        END IF;
    END IF;
    RETURN NEW;
END
$$;
COMMENT ON FUNCTION churnml._storage_audit() IS
'Internal trigger: created_by and created_at of storage locations and grants are set by the database (the acting role and now; kept on UPDATE), except for a superuser, so that pg_restore keeps the recorded values.';
CREATE OR REPLACE TRIGGER audit BEFORE INSERT OR UPDATE ON churnml.storage_locations
    FOR EACH ROW EXECUTE FUNCTION churnml._storage_audit();
CREATE OR REPLACE TRIGGER audit BEFORE INSERT OR UPDATE ON churnml.storage_grants
    FOR EACH ROW EXECUTE FUNCTION churnml._storage_audit();

CREATE OR REPLACE VIEW churnml.storage_privileges WITH (security_invoker = true) AS
SELECT g.location, l.uri_prefix, l.credential, g.grantee::pg_catalog.text AS grantee, g.privilege,
       g.grantee::pg_catalog.oid OPERATOR(pg_catalog.=) ANY (ARRAY(
           SELECT r.oid FROM pg_catalog.pg_roles AS r WHERE pg_catalog.pg_has_role(r.oid, 'USAGE'))) AS applies_to_me,
       g.created_by AS granted_by, g.created_at AS granted_at
FROM churnml.storage_grants AS g
JOIN churnml.storage_locations AS l ON l.name OPERATOR(pg_catalog.=) g.location;
COMMENT ON VIEW churnml.storage_privileges IS
'The storage grants the reader can see, with each location''s prefix: for a loader, what it may use (applies_to_me: granted to it or to a role whose privileges it inherits); for a member of churnml_admin, who has what. Runs with the reader''s rights (security_invoker), so row-level security on churnml.storage_grants decides what it shows.';

CREATE OR REPLACE FUNCTION churnml.create_storage_location(
    name text,
    uri_prefix text,
    credential text DEFAULT 'default',
    description text DEFAULT NULL,
    if_not_exists boolean DEFAULT false,
    sse text DEFAULT NULL,
    kms_key_id text DEFAULT NULL
) RETURNS text
LANGUAGE plpython3u VOLATILE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS $$
import churnml.sql_api.storage as api
return api.create_location(plpy, '0.3.0', name, uri_prefix, credential, description, if_not_exists, sse,
                           kms_key_id)
$$;
COMMENT ON FUNCTION churnml.create_storage_location(text, text, text, text, boolean, text, text) IS
'Declare a storage location (churnml_admin): a name (lowercase letters, digits, _), a URI prefix (s3://bucket/, s3://bucket/some/prefix/, or file:///directory/ for the admin-only file:// URIs, still bound by file_root) and the name of the server-side credential it uses (default ''default''; credentials themselves are configured in $PGDATA/churnml/s3.json, never in SQL). The prefix is normalised (lowercase scheme and bucket, a trailing "/"; "..", "//" and percent-encoded separators refused). Grants nothing: see churnml.grant_storage. With if_not_exists, an existing location of that name is left as it is (a NOTICE says so). sse (''AES256'' for SSE-S3, ''aws:kms'' for SSE-KMS) and kms_key_id set the server-side encryption of every object churnml writes there. Returns the normalised prefix.';

CREATE OR REPLACE FUNCTION churnml.drop_storage_location(name text, if_exists boolean DEFAULT false) RETURNS void
LANGUAGE plpython3u VOLATILE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS $$
import churnml.sql_api.storage as api
return api.drop_location(plpy, '0.3.0', name, if_exists)
$$;
COMMENT ON FUNCTION churnml.drop_storage_location(text, boolean) IS
'Remove a storage location and every grant on it (churnml_admin). Objects in storage are not touched; exports and loads under its prefix are refused from then on (unless a shorter location covers them). With if_exists, a missing location is a NOTICE, not an error.';

CREATE OR REPLACE FUNCTION churnml.grant_storage(location text, privilege text, to_role regrole) RETURNS void
LANGUAGE plpython3u VOLATILE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS $$
import churnml.sql_api.storage as api
return api.grant(plpy, '0.3.0', location, privilege, to_role)
$$;
COMMENT ON FUNCTION churnml.grant_storage(text, text, regrole) IS
'Let a role (and every role that inherits its privileges) use a storage location (churnml_admin): privilege ''read'' (load_from_s3, table_import_from_s3, prefix listings, manifests), ''write'' (export_query, query_export_to_s3, overwrite) or both (''read, write'' or ''all''). The role still needs churnml_loader, and SELECT or INSERT on the tables. Granting again is no change.';

CREATE OR REPLACE FUNCTION churnml.revoke_storage(location text, privilege text, from_role regrole) RETURNS void
LANGUAGE plpython3u VOLATILE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS $$
import churnml.sql_api.storage as api
return api.revoke(plpy, '0.3.0', location, privilege, from_role)
$$;
COMMENT ON FUNCTION churnml.revoke_storage(text, text, regrole) IS
'Take back what churnml.grant_storage gave (churnml_admin): ''read'', ''write'', both or ''all''. Only the grant made to that role goes; a role may still have the privilege through another role it inherits from (churnml.storage_privileges shows it). Revoking what was not granted is no change.';

GRANT SELECT ON churnml.storage_locations, churnml.storage_grants, churnml.storage_privileges TO churnml_loader;
GRANT INSERT, UPDATE, DELETE ON churnml.storage_locations, churnml.storage_grants TO churnml_admin;
GRANT EXECUTE ON FUNCTION
    churnml.create_storage_location(text, text, text, text, boolean, text, text),
    churnml.drop_storage_location(text, boolean),
    churnml.grant_storage(text, text, regrole),
    churnml.revoke_storage(text, text, regrole)
TO churnml_admin;

-- ---- sql/500_loaders.sql ----
-- Object storage in and out: export a query's rows to S3 (or an S3-compatible server)
-- and load objects back into a table — SELECT INTO OUTFILE / LOAD DATA, from SQL.
-- Both run with the caller's own privileges; where S3 is and its credentials come
-- from the server's configuration (docs/loaders.md), never from arguments.

COMMENT ON SEQUENCE churnml.load_history_id_seq IS 'Ids of churnml.load_history (its serial column).';
COMMENT ON TABLE churnml.load_history IS
'One row per successful churnml.load_from_s3: the target table, the URI and mode, each object read (URI, ETag, bytes, and the SHA-256 its manifest gave), the row count, who loaded and when. Written in the loading transaction, so a load that is rolled back leaves no row.';
-- load_from_s3 runs as the caller, so the caller inserts; id, loaded_by and finished_at are
-- left out of the grant so that their defaults, not the caller, say who loaded and when.
GRANT SELECT, INSERT (target, uri, mode, format, objects, rows, started_at) ON churnml.load_history TO churnml_loader;
GRANT USAGE ON SEQUENCE churnml.load_history_id_seq TO churnml_loader;

-- The C half (extension/core/copy_spool.c): PostgreSQL's COPY to and from spool files,
-- temporary files of this backend. _copy_to_spool has no SET search_path: it parses and
-- runs the caller's query under the caller's search_path, as COPY would (export_query
-- sets that path around the call); it looks up nothing else.
CREATE OR REPLACE FUNCTION churnml._copy_to_spool(query text, format text, path text, options text[] DEFAULT '{}')
RETURNS TABLE (path text, rows bigint)
LANGUAGE c VOLATILE STRICT PARALLEL UNSAFE
AS 'MODULE_PATHNAME', 'churnml_copy_to_spool_options';
COMMENT ON FUNCTION churnml._copy_to_spool(text, text, text, text[]) IS
'Internal (what export_query calls, in C): COPY (query) TO a spool file made by _spool_file in this session (no other path), format csv, text or binary, with COPY''s defaults (the CSV is exactly COPY''s: values quoted only where needed, NULL unquoted and empty) unless options, flat (name, value) pairs of COPY''s options as values (''{delimiter,|,encoding,WIN1252,force_quote,a}''; force_quote NULL is FORCE_QUOTE *), say otherwise; COPY checks them. The query must be one SELECT and runs as the caller. Returns the file''s path and the row count; the file is removed when the transaction ends.';

CREATE OR REPLACE FUNCTION churnml._spool_file() RETURNS text
LANGUAGE c VOLATILE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'churnml_spool_file';
COMMENT ON FUNCTION churnml._spool_file() IS
'Internal (what load_from_s3 and export_query call, in C): a new, empty temporary file of this session, for the objects to load or for _copy_to_spool to write, removed when the transaction ends; returns its path.';

CREATE OR REPLACE FUNCTION churnml._copy_from_spool(
    target regclass, path text, format text, columns text[], sources text[], records bigint[], skipped bigint[],
    options text[] DEFAULT '{}'
) RETURNS bigint
LANGUAGE c VOLATILE STRICT PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'churnml_copy_from_spool_options';
COMMENT ON FUNCTION churnml._copy_from_spool(regclass, text, text, text[], text[], bigint[], bigint[], text[]) IS
'Internal (what load_from_s3 calls, in C): COPY target (columns) FROM a spool file made by _spool_file in this session (no other path), format csv, text or binary, with COPY''s other options given as values in options (flat (name, value) pairs, as for _copy_to_spool; COPY checks them). Checks INSERT on the columns and refuses row-level security, as COPY does. sources/records/skipped give each object''s record count and skipped header lines, so a bad record is reported as "<object> line N, column c" (22P02 etc., nothing loaded). Returns the rows loaded.';

CREATE OR REPLACE FUNCTION churnml._export_query(
    query text, uri text, format text, header boolean, manifest boolean, overwrite boolean, compression text,
    part_size bigint, options text, search_path text
) RETURNS TABLE (rows_uploaded bigint, files_uploaded int, bytes_uploaded bigint)
LANGUAGE plpython3u VOLATILE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS $$
import churnml.sql_api.loaders as api
return api.export_query(plpy, '0.3.0', query, uri, format, header, manifest, overwrite, compression,
                        part_size, options, search_path)
$$;
COMMENT ON FUNCTION churnml._export_query(text, text, text, boolean, boolean, boolean, text, bigint, text, text) IS
'Internal: what churnml.export_query (and aws_s3.query_export_to_s3) calls, with the caller''s search_path as the last argument.';

-- Without SET search_path, like churnml.train: the query runs with the caller's path,
-- which this body hands on (every name in it is schema-qualified).
CREATE OR REPLACE FUNCTION churnml.export_query(
    query text,
    uri text,
    format text DEFAULT 'csv',
    header boolean DEFAULT true,
    manifest boolean DEFAULT true,
    overwrite boolean DEFAULT false,
    compression text DEFAULT NULL,
    part_size bigint DEFAULT 268435456,
    options text DEFAULT NULL
) RETURNS TABLE (rows_uploaded bigint, files_uploaded int, bytes_uploaded bigint)
LANGUAGE sql VOLATILE PARALLEL UNSAFE
AS $$
SELECT * FROM churnml._export_query(query, uri, format, header, manifest, overwrite, compression, part_size,
                                    options, pg_catalog.current_setting('search_path'))
$$;
COMMENT ON FUNCTION churnml.export_query(text, text, text, boolean, boolean, boolean, text, bigint, text) IS
'Export the rows of a query to object storage, like SELECT INTO OUTFILE S3: format csv, text or binary (COPY''s formats, written by COPY itself: with COPY''s defaults the CSV is byte for byte that of COPY (query) TO ... (FORMAT csv), values quoted only where needed, NULL unquoted and empty, '''' as ""); header adds the column names, as COPY''s HEADER writes them (not with binary). options are COPY''s other options, as COPY takes them (''delimiter ''''|'''', null ''''NULL'''', quote, escape, force_quote (a, b) or *, encoding ''''WIN1252''''''): the objects are written in that encoding. The query runs as the caller. Results larger than part_size bytes are split into uri.part_00000, .part_00001, ...; compression ''gzip'' compresses each part (.gz). With manifest, uri.manifest (JSON: parts, sizes, rows, SHA-256) is written last, as the completion signal. An existing target is an error unless overwrite. On any failure the parts written are removed and no manifest is written. Returns rows, files and bytes uploaded (as Aurora''s aws_s3.query_export_to_s3).';

CREATE OR REPLACE FUNCTION churnml._load_from_s3(
    target regclass, uri text, mode text, format text, header boolean, ignore_lines int, columns text[],
    on_conflict text, options text, search_path text
) RETURNS bigint
LANGUAGE plpython3u VOLATILE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS $$
import churnml.sql_api.loaders as api
return api.load_from_s3(plpy, '0.3.0', target, uri, mode, format, header, ignore_lines, columns,
                        on_conflict, options, search_path)
$$;
COMMENT ON FUNCTION churnml._load_from_s3(regclass, text, text, text, boolean, int, text[], text, text, text) IS
'Internal: what churnml.load_from_s3 (and aws_s3.table_import_from_s3) calls, with the caller''s search_path as the last argument.';

-- Without SET search_path, like churnml.export_query.
CREATE OR REPLACE FUNCTION churnml.load_from_s3(
    target regclass,
    uri text,
    mode text DEFAULT 'file',
    format text DEFAULT 'csv',
    header boolean DEFAULT false,
    ignore_lines int DEFAULT 0,
    columns text[] DEFAULT NULL,
    on_conflict text DEFAULT 'error',
    options text DEFAULT NULL
) RETURNS bigint
LANGUAGE sql VOLATILE PARALLEL UNSAFE
AS $$
SELECT churnml._load_from_s3(target, uri, mode, format, header, ignore_lines, columns, on_conflict, options,
                             pg_catalog.current_setting('search_path'))
$$;
COMMENT ON FUNCTION churnml.load_from_s3(regclass, text, text, text, boolean, int, text[], text, text) IS
'Load objects into a table, like LOAD DATA FROM S3: mode ''file'' (one object), ''prefix'' (every object under the prefix, in key order) or ''manifest'' (the parts an export manifest lists, checked against their sizes and SHA-256). format csv, text or binary (COPY''s; loaded by COPY itself); header skips each object''s first line and ignore_lines skips more (csv and text); options are COPY''s other options, as COPY takes them (''delimiter ''''|'''', null ''''NULL'''', quote, escape, force_not_null (a), force_null (b), encoding ''''WIN1253'''', header match''): the objects are read in that encoding; columns names the target columns in file order (default: all insertable columns). on_conflict: ''error'', ''ignore'' (ON CONFLICT DO NOTHING) or ''replace'' (update the row with the same primary key). gzip objects are read transparently. All or nothing within the caller''s transaction: a bad row is an error naming the object, line and column, and nothing is loaded. Each load is recorded in churnml.load_history. Returns the number of rows loaded.';

GRANT EXECUTE ON FUNCTION
    churnml._copy_to_spool(text, text, text, text[]),
    churnml._spool_file(),
    churnml._copy_from_spool(regclass, text, text, text[], text[], bigint[], bigint[], text[]),
    churnml._export_query(text, text, text, boolean, boolean, boolean, text, bigint, text, text),
    churnml.export_query(text, text, text, boolean, boolean, boolean, text, bigint, text),
    churnml._load_from_s3(regclass, text, text, text, boolean, int, text[], text, text, text),
    churnml.load_from_s3(regclass, text, text, text, boolean, int, text[], text, text)
TO churnml_loader;

-- ---- sql/600_monitoring.sql ----
-- Drift monitoring: is the population a deployed model scores now still the one it was trained on?

COMMENT ON TABLE churnml.model_profiles IS
'The reference profile of each model, captured by churnml.train from the rows it trained on (or by churnml.capture_profile): per input feature the shares of its values in ten quantile bins (numbers), per value (categories, booleans) or by length (text), with its missing share; and the held-out rows'' scores in ten quantile bins. churnml.monitor compares a current population with it.';
COMMENT ON TABLE churnml.monitor_settings IS
'Per deployment name: the PSI at which churnml.monitor says warn and alert (defaults 0.1 and 0.25 while a name has no row) and how many rows one run reads at most (a larger source is sampled). Written by churnml.set_monitor_thresholds.';
COMMENT ON TABLE churnml.monitor_runs IS
'Every churnml.monitor run: the model, the source and how many of its rows were compared, the PSI of the score and of the feature that moved most, the status (ok, warn, alert), the features at or above warn (highest PSI first), and per feature its PSI, status and bin shares (reference and current). Query or plot it over run_at for trends.';
COMMENT ON SEQUENCE churnml.monitor_runs_id_seq IS 'Ids of churnml.monitor_runs (its identity column).';

-- Without SET search_path: the source resolves with the caller's path, and the body pins the
-- path itself once it has read it (as churnml.assess_customer; sql_api/monitoring.py).
CREATE OR REPLACE FUNCTION churnml.monitor(name text, source text, max_rows bigint DEFAULT NULL)
RETURNS churnml.monitor_runs
LANGUAGE plpython3u VOLATILE PARALLEL UNSAFE
AS $$
import churnml.sql_api.monitoring as api
return api.monitor(plpy, '0.3.0', name, source, max_rows)
$$;
COMMENT ON FUNCTION churnml.monitor(text, text, bigint) IS
'Compare the population in `source` (a table, view or query, resolved with the caller''s search_path) with the reference profile of the model `name` serves: the population stability index (PSI) of each input feature and of the score (the model''s probabilities for those rows against its held-out rows''), and a status: alert when the largest PSI is at or above the name''s alert_psi (default 0.25), warn at or above warn_psi (0.1), else ok. Reads at most `max_rows` rows (default: the name''s setting, else 100,000), a uniform sample of a larger source. The run is kept in churnml.monitor_runs and returned; a NOTICE names the features that moved most when it is not ok. Schedule it with pg_cron (docs/monitoring.md).';

CREATE OR REPLACE FUNCTION churnml.capture_profile(model text, source text, max_rows bigint DEFAULT NULL)
RETURNS churnml.model_profiles
LANGUAGE plpython3u VOLATILE PARALLEL UNSAFE
AS $$
import churnml.sql_api.monitoring as api
return api.capture_profile(plpy, '0.3.0', model, source, max_rows)
$$;
COMMENT ON FUNCTION churnml.capture_profile(text, text, bigint) IS
'Store the reference profile of a model (a deployed name, a trained-but-undeployed name: its latest model; or a model id) from `source`, the rows it was trained on (resolved with the caller''s search_path; at most `max_rows`, default 5,000,000, a uniform sample of more): for models trained before 0.3.0 or registered with churnml.register_model, which have none. The score reference is the model''s held-out scores when it has them, else its scores of those rows. Replaces a profile the model has.';

CREATE OR REPLACE FUNCTION churnml.set_monitor_thresholds(
    name text,
    warn_psi float8 DEFAULT 0.1,
    alert_psi float8 DEFAULT 0.25,
    max_rows bigint DEFAULT 100000
) RETURNS churnml.monitor_settings
LANGUAGE plpython3u VOLATILE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS $$
import churnml.sql_api.monitoring as api
return api.set_monitor_thresholds(plpy, '0.3.0', name, warn_psi, alert_psi, max_rows)
$$;
COMMENT ON FUNCTION churnml.set_monitor_thresholds(text, float8, float8, bigint) IS
'The PSI at which churnml.monitor says warn and alert for the deployment name `name`, and the most rows one run reads; kept in churnml.monitor_settings (DELETE its row to go back to the defaults 0.1, 0.25 and 100,000).';

CREATE OR REPLACE VIEW churnml.monitor_status AS
SELECT DISTINCT ON (r.name)
       r.name, r.model_id, r.status, r.score_psi, r.max_feature_psi, r.drifted_features, r.rows, r.source, r.run_at
FROM churnml.monitor_runs AS r
ORDER BY r.name, r.run_at DESC, r.id DESC;
COMMENT ON VIEW churnml.monitor_status IS
'The latest churnml.monitor run of each name: its status, score PSI, largest feature PSI and drifted features.';

GRANT SELECT ON churnml.model_profiles, churnml.monitor_settings, churnml.monitor_runs, churnml.monitor_status
    TO churnml_user;
-- The functions write with the caller's privileges: churnml_admin's, on the columns it may write.
-- No UPDATE: the functions replace a row (DELETE and INSERT), so who wrote it and when stay the database's.
GRANT INSERT (model_id, profile) ON churnml.model_profiles TO churnml_admin;
GRANT INSERT (name, warn_psi, alert_psi, max_rows) ON churnml.monitor_settings TO churnml_admin;
GRANT INSERT (name, model_id, source, rows, population, score_psi, max_feature_psi, status, drifted_features,
              features, score, warn_psi, alert_psi, seconds)
    ON churnml.monitor_runs TO churnml_admin;
GRANT DELETE ON churnml.model_profiles, churnml.monitor_settings, churnml.monitor_runs TO churnml_admin;
GRANT USAGE ON SEQUENCE churnml.monitor_runs_id_seq TO churnml_admin;
GRANT EXECUTE ON FUNCTION
    churnml.monitor(text, text, bigint),
    churnml.capture_profile(text, text, bigint),
    churnml.set_monitor_thresholds(text, float8, float8, bigint)
TO churnml_admin;

-- ---- sql/610_prediction_log.sql ----
-- Prediction logging, realized performance and shadow challengers (issue 23, items 3 and 5).
--
-- A deployment name logs a sampled fraction of its scoring calls when churnml.log_predictions
-- turns it on; the settings are read with the deployment, once per statement, so a name that
-- does not log pays nothing. The scoring functions are STABLE (their statements run read-only)
-- and their callers may not write the log, so a sampled call goes in through
-- churnml._log_prediction, VOLATILE and SECURITY DEFINER. Nothing is logged in parallel mode
-- (no statement may run there) or in a read-only transaction (a standby's included).
-- churnml.record_outcomes attaches outcomes later; churnml.realized_performance reports them;
-- a shadow model is scored beside the serving one on every logged call, and
-- churnml.promote_shadow deploys it when its realized AUC is better.

COMMENT ON TABLE churnml.prediction_logging IS
'Which deployment names log their scoring calls (churnml.log_predictions): sample_rate is the fraction of calls logged (0 = off), key_column the column of a will_churn row (or a feature of a typed function or invoke_endpoint) whose value is logged as the entity key. Read with the deployment once per statement.';
COMMENT ON TABLE churnml.shadow_models IS
'The challenger scored beside each name''s serving model on every logged call, logged with role shadow; the answers stay the serving model''s (churnml.start_shadow, stop_shadow, promote_shadow).';
COMMENT ON TABLE churnml.prediction_log IS
'Logged scoring calls: per call the serving model''s probability and the cutoff in force (role serving), and beside it the shadow model''s (role shadow, serving_id = the serving row of the same call). outcome (true = churned) and outcome_at are attached by churnml.record_outcomes. Written through churnml._log_prediction only.';
COMMENT ON COLUMN churnml.prediction_log.serving_id IS
'For a shadow row: the id of the serving row of the same call (promote_shadow compares the two models on exactly those calls); NULL for serving rows.';
COMMENT ON COLUMN churnml.prediction_log.logged_at IS
'When the call''s statement started (statement_timestamp()): realized_performance''s periods group by it.';
COMMENT ON SEQUENCE churnml.prediction_log_id_seq IS 'Ids of churnml.prediction_log (its identity column).';

CREATE OR REPLACE FUNCTION churnml._log_prediction(
    log_name text, serving_model bigint, cutoff float8, key text, serving_probability float8,
    shadow_model bigint DEFAULT NULL, shadow_probability float8 DEFAULT NULL
) RETURNS boolean
LANGUAGE plpython3u VOLATILE PARALLEL UNSAFE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
# Writes only the call churnml's scoring code is logging right now (monitoring/prediction_log.py): called
# from SQL by anyone else, it writes nothing and returns false. Logging never fails the call answered.
import churnml.monitoring.prediction_log as log
return log.write(plpy, (log_name, serving_model, cutoff, key, serving_probability, shadow_model, shadow_probability))
$$;
COMMENT ON FUNCTION churnml._log_prediction(text, bigint, float8, text, float8, bigint, float8) IS
'Internal: writes one sampled scoring call to churnml.prediction_log (what the STABLE scoring functions call, which may not write themselves). SECURITY DEFINER so that churnml_user''s calls are logged without churnml_user being able to write the log; it writes only the call churnml''s own scoring code is logging at that moment (called from SQL directly it writes nothing and returns false), and only what a name that logs would write (logging on, a model and cutoff the name has served, its current shadow). Not PARALLEL SAFE: nothing is logged in parallel mode.';

CREATE OR REPLACE FUNCTION churnml._outcome_label(value text) RETURNS boolean
LANGUAGE plpgsql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    RAISE EXCEPTION USING
        ERRCODE = '22023',
        MESSAGE = pg_catalog.format('churnml: the label %s is not an outcome',
                                    pg_catalog.quote_literal(pg_catalog.left(value, 40))),
        DETAIL = 'An outcome is true/false (true = churned), 1/0, or text: churned, true, t, yes, y, 1 or retained, '
                 'false, f, no, n, 0 (any case). NULL labels are skipped.',
        HINT = 'Pass a query that maps the label column to one of them; nothing was updated.';
END
$$;
COMMENT ON FUNCTION churnml._outcome_label(text) IS
'Internal: what record_outcomes evaluates for a label that is no outcome: 22023 naming it, so nothing is updated.';

CREATE OR REPLACE FUNCTION churnml.log_predictions(name text, sample_rate float8, key_column text DEFAULT NULL)
RETURNS churnml.prediction_logging
LANGUAGE plpython3u VOLATILE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS $$
import churnml.sql_api.realized as api
return api.log_predictions(plpy, '0.3.0', name, sample_rate, key_column)[0]
$$;
COMMENT ON FUNCTION churnml.log_predictions(text, float8, text) IS
'Log a sampled fraction (sample_rate, 0 = off, 1 = every call) of the scoring calls of deployment `name` to churnml.prediction_log, with the model, the cutoff in force, the probability and the entity key (key_column''s value in will_churn''s row, or in the features of a typed function or invoke_endpoint; assess_customer logs its customer key). Takes effect at every session''s next statement. Calls in parallel queries and read-only transactions are not logged.';

CREATE OR REPLACE FUNCTION churnml._record_outcomes(
    name text, source text, key_column text, label_column text, horizon interval, search_path text
) RETURNS TABLE (labelled_rows bigint, keys bigint, keys_matched bigint, predictions_updated bigint, positives bigint)
LANGUAGE plpython3u VOLATILE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS $$
import churnml.sql_api.realized as api
return api.record_outcomes(plpy, '0.3.0', name, source, key_column, label_column, horizon, search_path)
$$;
COMMENT ON FUNCTION churnml._record_outcomes(text, text, text, text, interval, text) IS
'Internal: what record_outcomes calls, with the caller''s search_path as the last argument.';

-- Without SET search_path: the source resolves with the caller's path, which this body
-- hands on (every name in it is schema-qualified, and it uses no operator).
CREATE OR REPLACE FUNCTION churnml.record_outcomes(
    name text, source text, key_column text, label_column text, horizon interval DEFAULT NULL
) RETURNS TABLE (labelled_rows bigint, keys bigint, keys_matched bigint, predictions_updated bigint, positives bigint)
LANGUAGE sql VOLATILE PARALLEL UNSAFE
AS $$
SELECT * FROM churnml._record_outcomes(name, source, key_column, label_column, horizon,
                                       pg_catalog.current_setting('search_path'))
$$;
COMMENT ON FUNCTION churnml.record_outcomes(text, text, text, text, interval) IS
'Attach true outcomes to the logged predictions of `name`: every logged call whose entity key equals key_column (cast to text) in `source` (a table, view or query, read with the caller''s privileges) and that has no outcome yet gets label_column''s value (boolean true = churned; 1/0; or text churned/retained, yes/no, true/false), the OR of a key''s labels; NULL keys and labels are skipped. With `horizon`, only calls logged within it before now. One statement: cancellable, and any label that is no outcome (22023) updates nothing. The offer log''s outcomes: source => ''SELECT o.customer_key, x.outcome FROM churnml.offer_log o JOIN churnml.offer_outcomes x ON x.offer_id = o.id''. Returns the counts.';

CREATE OR REPLACE FUNCTION churnml.realized_performance(
    name text, period text DEFAULT 'month', since timestamptz DEFAULT NULL
) RETURNS TABLE (period_start timestamptz, model_id bigint, role text, predictions bigint, outcomes bigint,
                 positives bigint, auc float8, brier float8, mean_predicted float8, observed_rate float8,
                 "precision" float8, recall float8, threshold float8)
LANGUAGE plpython3u STABLE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS $$
import churnml.sql_api.realized as api
return api.realized_performance(plpy, '0.3.0', name, period, since)
$$;
COMMENT ON FUNCTION churnml.realized_performance(text, text, timestamptz) IS
'How the logged predictions of `name` did, per period (hour, day, week, month, quarter, year, or all) and per model and role (serving, shadow), from `since`: calls logged, calls with outcomes, churned; on the calls with outcomes AUC (NULL unless both outcomes occur), Brier score, mean predicted probability against the observed churn rate (calibration), and precision and recall of each call''s answer at the cutoff in force when it was logged; threshold is the period''s latest cutoff.';

CREATE OR REPLACE FUNCTION churnml.start_shadow(name text, model_id bigint)
RETURNS TABLE (deployment text, serving_model_id bigint, shadow_model_id bigint, sample_rate float8)
LANGUAGE plpython3u VOLATILE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS $$
import churnml.sql_api.realized as api
return api.start_shadow(plpy, '0.3.0', name, model_id)
$$;
COMMENT ON FUNCTION churnml.start_shadow(text, bigint) IS
'Score model `model_id` (a churn model of the same name, not the one serving) beside the serving model of `name` on every logged call, logged with role shadow; the answers stay the serving model''s. Replaces an earlier shadow. Logging must be on (log_predictions) for anything to be scored.';

CREATE OR REPLACE FUNCTION churnml.stop_shadow(name text) RETURNS bigint
LANGUAGE plpython3u VOLATILE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS $$
import churnml.sql_api.realized as api
return api.stop_shadow(plpy, '0.3.0', name)
$$;
COMMENT ON FUNCTION churnml.stop_shadow(text) IS
'Stop scoring the shadow model of `name`; returns its id (NULL when there was none). Its logged calls stay.';

CREATE OR REPLACE FUNCTION churnml.promote_shadow(name text, min_gain float8 DEFAULT 0.01, min_outcomes bigint DEFAULT 200)
RETURNS TABLE (decision text, reason text, serving_model_id bigint, shadow_model_id bigint, serving_auc float8,
               shadow_auc float8, outcomes bigint, positives bigint, deployment_id bigint)
LANGUAGE plpython3u VOLATILE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS $$
import churnml.sql_api.realized as api
return api.promote_shadow(plpy, '0.3.0', name, min_gain, min_outcomes)
$$;
COMMENT ON FUNCTION churnml.promote_shadow(text, float8, bigint) IS
'Compare the serving and shadow models of `name` on the same logged calls that have outcomes (realized AUC); deploy the shadow (strategy shadow, a deployment event that rollback undoes, with deploy''s cutoff rules) only when at least min_outcomes such calls exist and its AUC is higher by at least min_gain, and then stop the shadow. Returns the decision (promoted or kept) and the reason.';

GRANT SELECT ON churnml.prediction_logging, churnml.shadow_models, churnml.prediction_log TO churnml_user;
GRANT UPDATE (outcome, outcome_at) ON churnml.prediction_log TO churnml_admin;
GRANT DELETE ON churnml.prediction_log TO churnml_admin;
GRANT INSERT (name, sample_rate, key_column), DELETE ON churnml.prediction_logging TO churnml_admin;
GRANT INSERT (name, model_id), UPDATE (model_id), DELETE ON churnml.shadow_models TO churnml_admin;
GRANT EXECUTE ON FUNCTION
    churnml._log_prediction(text, bigint, float8, text, float8, bigint, float8),
    churnml.realized_performance(text, text, timestamptz)
TO churnml_user;
GRANT EXECUTE ON FUNCTION
    churnml._outcome_label(text),
    churnml.log_predictions(text, float8, text),
    churnml._record_outcomes(text, text, text, text, interval, text),
    churnml.record_outcomes(text, text, text, text, interval),
    churnml.start_shadow(text, bigint),
    churnml.stop_shadow(text),
    churnml.promote_shadow(text, float8, bigint)
TO churnml_admin;

-- ---- sql/620_retraining.sql ----
-- Gated retraining (issue 23): churnml.retrain trains a challenger on fresh data with the
-- champion's spec and deploys it only if it beats the champion on the same held-out rows and
-- passes the guards; churnml.schedule_retrain runs it on pg_cron. Admin only; churnml_user
-- reads the history.

COMMENT ON TABLE churnml.retrain_policies IS
'Scheduled retraining, one policy per deployment name (churnml.schedule_retrain writes it, unschedule_retrain deletes it): the source of fresh data and the search_path it resolves with (a pg_cron job has no caller path of its own), the gate''s min_gain and min_auc, and the pg_cron job (cron.job) that runs churnml.run_scheduled_retrain(id) as scheduled_by.';
COMMENT ON TABLE churnml.retrain_history IS
'Every retrain, by hand (trigger manual) or by pg_cron (schedule): promoted (the challenger now serves), kept (the champion still serves; the challenger stays registered with parent_id = the champion) or failed (nothing was registered or deployed), the reason, both models'' AUC on the same evaluation rows (the challenger''s held-out rows of the fresh data) and details (guards, observed churn rate, mean scores, the error of a failure).';
COMMENT ON SEQUENCE churnml.retrain_policies_id_seq IS 'Ids of churnml.retrain_policies (its identity column).';
COMMENT ON SEQUENCE churnml.retrain_history_id_seq IS 'Ids of churnml.retrain_history (its identity column).';

-- The caller's search_path is what a source resolves with (as churnml.train): retrain and
-- schedule_retrain are SQL functions without a SET clause that hand it to their internal function.
CREATE OR REPLACE FUNCTION churnml._retrain(
    name text, source text, min_gain float8, min_auc float8, search_path text
) RETURNS churnml.retrain_history
LANGUAGE plpython3u VOLATILE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS $$
import churnml.sql_api.retraining as api
return api.retrain(plpy, '0.3.0', name, source, min_gain, min_auc, search_path)
$$;
COMMENT ON FUNCTION churnml._retrain(text, text, float8, float8, text) IS
'Internal: what churnml.retrain calls, with the caller''s search_path as the last argument.';

CREATE OR REPLACE FUNCTION churnml.retrain(
    name text,
    source text DEFAULT NULL,
    min_gain float8 DEFAULT NULL,
    min_auc float8 DEFAULT NULL
) RETURNS churnml.retrain_history
LANGUAGE sql VOLATILE PARALLEL UNSAFE
AS $$
SELECT churnml._retrain(name, source, min_gain, min_auc, pg_catalog.current_setting('search_path'))
$$;
COMMENT ON FUNCTION churnml.retrain(text, text, float8, float8) IS
'Retrain the model deployed as `name` on fresh data (`source`: a table, view or query resolved with the caller''s search_path; NULL: the scheduled policy''s source) with the champion''s spec (label, features, feature types, missing strategy, hyperparameters, split), score the champion on exactly the challenger''s held-out rows, and deploy the challenger only if its AUC beats the champion''s by min_gain (default: the policy''s, else 0.01) and it passes the guards: at least min_auc (default 0.6), scores not constant, mean score within a factor 2 of the observed churn rate, enough evaluation rows. The challenger stays registered (parent_id = the champion) either way. A data failure is recorded as failed with nothing left behind; a cancel cancels. Retrains of one name take turns. Returns the churnml.retrain_history row.';

CREATE OR REPLACE FUNCTION churnml.run_scheduled_retrain(policy_id bigint) RETURNS churnml.retrain_history
LANGUAGE plpython3u VOLATILE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS $$
import churnml.sql_api.retraining as api
return api.run_scheduled_retrain(plpy, '0.3.0', policy_id)
$$;
COMMENT ON FUNCTION churnml.run_scheduled_retrain(bigint) IS
'What a pg_cron job made by churnml.schedule_retrain runs: churnml.retrain of the policy''s name with the policy''s source, search_path, min_gain and min_auc, recorded with trigger schedule.';

CREATE OR REPLACE FUNCTION churnml._schedule_retrain(
    name text, schedule text, source text, min_gain float8, min_auc float8, search_path text
) RETURNS churnml.retrain_policies
LANGUAGE plpython3u VOLATILE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS $$
import churnml.sql_api.retraining as api
return api.schedule_retrain(plpy, '0.3.0', name, schedule, source, min_gain, min_auc, search_path)
$$;
COMMENT ON FUNCTION churnml._schedule_retrain(text, text, text, float8, float8, text) IS
'Internal: what churnml.schedule_retrain calls, with the caller''s search_path as the last argument.';

CREATE OR REPLACE FUNCTION churnml.schedule_retrain(
    name text,
    schedule text,
    source text,
    min_gain float8 DEFAULT 0.01,
    min_auc float8 DEFAULT 0.6
) RETURNS churnml.retrain_policies
LANGUAGE sql VOLATILE PARALLEL UNSAFE
AS $$
SELECT churnml._schedule_retrain(name, schedule, source, min_gain, min_auc,
                                 pg_catalog.current_setting('search_path'))
$$;
COMMENT ON FUNCTION churnml.schedule_retrain(text, text, text, float8, float8) IS
'Retrain the deployed model `name` on pg_cron''s `schedule` (five cron fields in GMT, e.g. ''0 3 * * 1'', or @daily): stores the policy (source, the caller''s search_path to resolve it with, min_gain, min_auc) in churnml.retrain_policies and creates or replaces the pg_cron job churnml-retrain-<name>, which runs SELECT churnml.run_scheduled_retrain(<policy id>) as the calling role. Needs pg_cron preloaded, cron.database_name = this database, CREATE EXTENSION pg_cron and USAGE on schema cron (else 55000 or 42501 saying what to set).';

CREATE OR REPLACE FUNCTION churnml.unschedule_retrain(name text) RETURNS churnml.retrain_policies
LANGUAGE plpython3u VOLATILE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS $$
import churnml.sql_api.retraining as api
return api.unschedule_retrain(plpy, '0.3.0', name)
$$;
COMMENT ON FUNCTION churnml.unschedule_retrain(text) IS
'Stop the scheduled retraining of `name`: removes its pg_cron job and its policy, and returns the policy removed (42704 when none is scheduled). Its history stays.';

GRANT EXECUTE ON FUNCTION
    churnml._retrain(text, text, float8, float8, text),
    churnml.retrain(text, text, float8, float8),
    churnml.run_scheduled_retrain(bigint),
    churnml._schedule_retrain(text, text, text, float8, float8, text),
    churnml.schedule_retrain(text, text, text, float8, float8),
    churnml.unschedule_retrain(text)
TO churnml_admin;

GRANT SELECT ON churnml.retrain_history TO churnml_user;
GRANT SELECT, DELETE ON churnml.retrain_policies TO churnml_admin;
-- Column grants leave out id and run_by: the row says who ran it, and a caller cannot write that.
GRANT INSERT (name, trigger, started_at, finished_at, status, champion_id, challenger_id, champion_auc,
              challenger_auc, evaluated_rows, reason, details)
    ON churnml.retrain_history TO churnml_admin;
GRANT INSERT (name, schedule, source, search_path, min_gain, min_auc, cron_job_id, cron_job_name),
      UPDATE (schedule, source, search_path, min_gain, min_auc, cron_job_id, cron_job_name, scheduled_by,
              scheduled_at)
    ON churnml.retrain_policies TO churnml_admin;
GRANT USAGE ON SEQUENCE churnml.retrain_history_id_seq, churnml.retrain_policies_id_seq TO churnml_admin;

-- ---- sql/999_privileges.sql ----
-- Nothing in churnml is executable by PUBLIC: each file grants its functions to
-- churnml_user or churnml_admin, and this last file takes PUBLIC's default away.
REVOKE ALL ON ALL FUNCTIONS IN SCHEMA churnml FROM PUBLIC;
REVOKE ALL ON SCHEMA churnml FROM PUBLIC;
