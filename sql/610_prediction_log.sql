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
return api.log_predictions(plpy, '@EXTVERSION@', name, sample_rate, key_column)[0]
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
return api.record_outcomes(plpy, '@EXTVERSION@', name, source, key_column, label_column, horizon, search_path)
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
return api.realized_performance(plpy, '@EXTVERSION@', name, period, since)
$$;
COMMENT ON FUNCTION churnml.realized_performance(text, text, timestamptz) IS
'How the logged predictions of `name` did, per period (hour, day, week, month, quarter, year, or all) and per model and role (serving, shadow), from `since`: calls logged, calls with outcomes, churned; on the calls with outcomes AUC (NULL unless both outcomes occur), Brier score, mean predicted probability against the observed churn rate (calibration), and precision and recall of each call''s answer at the cutoff in force when it was logged; threshold is the period''s latest cutoff.';

CREATE OR REPLACE FUNCTION churnml.start_shadow(name text, model_id bigint)
RETURNS TABLE (deployment text, serving_model_id bigint, shadow_model_id bigint, sample_rate float8)
LANGUAGE plpython3u VOLATILE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS $$
import churnml.sql_api.realized as api
return api.start_shadow(plpy, '@EXTVERSION@', name, model_id)
$$;
COMMENT ON FUNCTION churnml.start_shadow(text, bigint) IS
'Score model `model_id` (a churn model of the same name, not the one serving) beside the serving model of `name` on every logged call, logged with role shadow; the answers stay the serving model''s. Replaces an earlier shadow. Logging must be on (log_predictions) for anything to be scored.';

CREATE OR REPLACE FUNCTION churnml.stop_shadow(name text) RETURNS bigint
LANGUAGE plpython3u VOLATILE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS $$
import churnml.sql_api.realized as api
return api.stop_shadow(plpy, '@EXTVERSION@', name)
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
return api.promote_shadow(plpy, '@EXTVERSION@', name, min_gain, min_outcomes)
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
