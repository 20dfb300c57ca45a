-- churnml 0.2.0 -> 0.3.0: what an update cannot get by re-running the 0.3.0 install
-- script's functions, views, comments and grants (see extension/tools/build_upgrades.py).

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
ALTER TABLE churnml.offer_log
    ADD CONSTRAINT offer_log_customer_key_check CHECK (customer_key <> '') NOT VALID,
    ADD CONSTRAINT offer_log_offer_value_check CHECK (offer_value >= 0) NOT VALID,
    ADD CONSTRAINT offer_log_currency_check CHECK (currency ~ '^[A-Z]{3}$') NOT VALID;
DO $validate$
DECLARE
    c record;
    bad text;
BEGIN
    FOR c IN SELECT * FROM (VALUES
        ('deployments', 'deployments_name_check',
         'SELECT pg_catalog.string_agg(pg_catalog.format(''%s (%L)'', id, name), '', '' ORDER BY id) FROM '
         'churnml.deployments WHERE NOT name OPERATOR(pg_catalog.~) ''^[A-Za-z_][A-Za-z0-9_.-]{0,62}$'''),
        ('offer_log', 'offer_log_customer_key_check',
         'SELECT pg_catalog.string_agg(id::pg_catalog.text, '', '' ORDER BY id) FROM churnml.offer_log '
         'WHERE customer_key OPERATOR(pg_catalog.=) '''''),
        ('offer_log', 'offer_log_offer_value_check',
         'SELECT pg_catalog.string_agg(id::pg_catalog.text, '', '' ORDER BY id) FROM churnml.offer_log '
         'WHERE offer_value OPERATOR(pg_catalog.<) 0'),
        ('offer_log', 'offer_log_currency_check',
         'SELECT pg_catalog.string_agg(id::pg_catalog.text, '', '' ORDER BY id) FROM churnml.offer_log '
         'WHERE NOT currency OPERATOR(pg_catalog.~) ''^[A-Z]{3}$''')
    ) AS v (tab, con, offenders) LOOP
        EXECUTE c.offenders INTO bad;
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
-- script then re-creates them identically.
CREATE FUNCTION churnml._offer_log_check() RETURNS trigger
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    rule_set text;
    rule_name text;
    rule_experiment text;
    has_arm boolean;
    problem text;
    detail text;
BEGIN
    IF NEW.rule_id IS NOT NULL THEN
        -- one index probe: the rule's names, its experiment, and whether the arm is one of its arms
        SELECT r.rule_set, r.name, r.experiment,
               r.arms OPERATOR(pg_catalog.@>)
                   pg_catalog.jsonb_build_array(pg_catalog.jsonb_build_object('arm', NEW.arm))
          INTO rule_set, rule_name, rule_experiment, has_arm
        FROM churnml.incentive_rules AS r WHERE r.id OPERATOR(pg_catalog.=) NEW.rule_id;
        IF NOT FOUND THEN
            problem := pg_catalog.format('rule %s does not exist', NEW.rule_id);
        ELSE
            -- what the rule is called comes from the rule
            IF NEW.rule_set IS NULL THEN
                NEW.rule_set := rule_set;
            END IF;
            IF NEW.rule_name IS NULL THEN
                NEW.rule_name := rule_name;
            END IF;
        END IF;
        IF problem IS NOT NULL THEN
            NULL;  -- reported below
        ELSIF NEW.rule_set IS DISTINCT FROM rule_set OR NEW.rule_name IS DISTINCT FROM rule_name THEN
            problem := pg_catalog.format('rule %s is "%s" of rule set "%s", not "%s" of "%s"', NEW.rule_id,
                                         rule_name, rule_set, NEW.rule_name, NEW.rule_set);
        ELSIF NEW.experiment IS NULL THEN
            RETURN NEW;
        ELSIF NEW.experiment IS DISTINCT FROM rule_experiment THEN
            problem := pg_catalog.format('rule %s does not run experiment "%s"', NEW.rule_id, NEW.experiment);
        ELSIF NOT has_arm THEN
            problem := pg_catalog.format('"%s" is not an arm of experiment "%s"', NEW.arm, NEW.experiment);
        ELSE
            RETURN NEW;
        END IF;
    ELSIF NEW.experiment IS NULL THEN
        RETURN NEW;
    ELSIF NOT EXISTS (
            SELECT FROM churnml.incentive_rules AS r
            WHERE r.experiment OPERATOR(pg_catalog.=) NEW.experiment
              AND r.arms OPERATOR(pg_catalog.@>)
                  pg_catalog.jsonb_build_array(pg_catalog.jsonb_build_object('arm', NEW.arm))) THEN
        problem := pg_catalog.format('"%s" is not an arm of experiment "%s"', NEW.arm, NEW.experiment);
    ELSE
        RETURN NEW;
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
            MESSAGE = pg_catalog.format('churnml: experiment "%s" does not exist', NEW.experiment),
            HINT = 'SELECT name FROM churnml.experiments lists them.';
    END IF;
    IF NEW.experiment IS NOT NULL THEN
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
DROP VIEW churnml.customer_risk;
DROP FUNCTION churnml._customer_risk_batches(int, text, float8);
DROP FUNCTION churnml.train(text, text, text, text[], text[], jsonb, jsonb, jsonb, text, float8, float8, int, boolean,
                            bigint, text);
DROP FUNCTION churnml.train_sentiment(text, text, text, text, int, boolean, text);
DROP FUNCTION churnml.churn_flag(float8, text, float8);
DROP FUNCTION churnml._explain_json(text, text, int, float8);
DROP FUNCTION churnml.score(text, text, text, int, text);
DROP FUNCTION churnml._score_batches(text, text, text, int, text, float8);
DROP FUNCTION churnml.recommend_incentive(float8, text, float8, jsonb, text, text, timestamptz, float8);
DROP FUNCTION churnml.assess_customer_text(bigint, text, text, boolean, text, text);
DROP FUNCTION churnml.assess_customer(bigint, text, text, boolean, text, text, float8);


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
DROP FUNCTION churnml.export_query(text, text, text, boolean, boolean, boolean, text, bigint, text);
DROP FUNCTION churnml.load_from_s3(regclass, text, text, text, boolean, int, text[], text, text);
