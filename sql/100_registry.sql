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
