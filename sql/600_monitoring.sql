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
return api.monitor(plpy, '@EXTVERSION@', name, source, max_rows)
$$;
COMMENT ON FUNCTION churnml.monitor(text, text, bigint) IS
'Compare the population in `source` (a table, view or query, resolved with the caller''s search_path) with the reference profile of the model `name` serves: the population stability index (PSI) of each input feature and of the score (the model''s probabilities for those rows against its held-out rows''), and a status: alert when the largest PSI is at or above the name''s alert_psi (default 0.25), warn at or above warn_psi (0.1), else ok. Reads at most `max_rows` rows (default: the name''s setting, else 100,000), a uniform sample of a larger source. The run is kept in churnml.monitor_runs and returned; a NOTICE names the features that moved most when it is not ok. Schedule it with pg_cron (docs/monitoring.md).';

CREATE OR REPLACE FUNCTION churnml.capture_profile(model text, source text, max_rows bigint DEFAULT NULL)
RETURNS churnml.model_profiles
LANGUAGE plpython3u VOLATILE PARALLEL UNSAFE
AS $$
import churnml.sql_api.monitoring as api
return api.capture_profile(plpy, '@EXTVERSION@', model, source, max_rows)
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
return api.set_monitor_thresholds(plpy, '@EXTVERSION@', name, warn_psi, alert_psi, max_rows)
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
