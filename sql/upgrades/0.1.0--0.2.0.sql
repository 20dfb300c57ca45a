-- churnml 0.1.0 -> 0.2.0: what an update cannot get by re-running the 0.2.0 install
-- script's re-runnable files (functions, views, triggers, comments, grants; see sql/README.md).

-- churnml.models: a registered model keeps its id, kind, checksum, format and feature spec
-- (churnml.predict is IMMUTABLE on that promise). The trigger function is created here so
-- the trigger can name it; the replayed install script then re-creates it identically.
CREATE FUNCTION churnml._models_keep_identity() RETURNS trigger
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
CREATE TRIGGER keep_identity BEFORE UPDATE ON churnml.models
    FOR EACH ROW EXECUTE FUNCTION churnml._models_keep_identity();

-- churnml._score_batches returns its batches as bytea for churnml._unpack_scores (C)
-- instead of JSON and comma-separated text: a new result type, so drop the old one.
DROP FUNCTION churnml._score_batches(text, text, text, int, text, float8);
