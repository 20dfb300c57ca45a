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
