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
return api.retrain(plpy, '@EXTVERSION@', name, source, min_gain, min_auc, search_path)
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
return api.run_scheduled_retrain(plpy, '@EXTVERSION@', policy_id)
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
return api.schedule_retrain(plpy, '@EXTVERSION@', name, schedule, source, min_gain, min_auc, search_path)
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
return api.unschedule_retrain(plpy, '@EXTVERSION@', name)
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
