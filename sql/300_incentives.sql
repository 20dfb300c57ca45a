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
return api.check_rule(plpy, '@EXTVERSION@', TD)
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
return api.check_experiment(plpy, '@EXTVERSION@', TD)
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
return api.check_input(plpy, '@EXTVERSION@', TD)
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
return api.recommend_incentive(plpy, '@EXTVERSION@', will_churn, sentiment, confidence, customer, customer_key,
                               rule_set, as_of)
$$;
COMMENT ON FUNCTION churnml.recommend_incentive(float8, text, float8, jsonb, text, text, timestamptz) IS
'The incentive Marketing''s rules give a customer: the first enabled rule of rule_set, by priority, active at as_of, whose condition is TRUE for these inputs (customer: JSON of further inputs by name, e.g. to_jsonb(c)). A rule running an experiment picks the arm from sha256(seed:experiment:customer_key), so it needs customer_key. No matching rule: offer and rule_name are NULL. Reads rules once per statement; never writes (log with churnml.log_offer).';

CREATE OR REPLACE FUNCTION churnml.check_condition(condition text) RETURNS jsonb
LANGUAGE plpython3u STABLE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS $$
import churnml.sql_api.incentives as api
return api.check_condition(plpy, '@EXTVERSION@', condition)
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
return api.record_outcome(plpy, '@EXTVERSION@', offer_id, None, outcome, recorded_at, note)
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
return api.record_outcome(plpy, '@EXTVERSION@', None, customer_key, outcome, recorded_at, note)
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
return api.experiment_results(plpy, '@EXTVERSION@', experiment, control_arm)
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
return api.rule_set_cost(plpy, '@EXTVERSION@', rule_set, retained_value, save_rate, model, acceptance_rate,
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
