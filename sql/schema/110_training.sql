-- Install only (see sql/README.md): CREATE EXTENSION runs this file, an update does not.
-- After a release, a change here needs its delta in sql/upgrades/.
CREATE TYPE churnml.deployment AS (
    deployment_id bigint,
    name text,
    model_id bigint,
    threshold float8,
    strategy text
);
