-- Install only (see sql/README.md): CREATE EXTENSION runs this file, an update does not.
-- After a release, a change here needs its delta in sql/upgrades/.
-- Object storage in and out: export a query's rows to S3 (or an S3-compatible server)
-- and load objects back into a table — SELECT INTO OUTFILE / LOAD DATA, from SQL.
-- Both run with the caller's own privileges; where S3 is and its credentials come
-- from the server's configuration (docs/loaders.md), never from arguments.

CREATE TABLE churnml.load_history (
    id          bigserial PRIMARY KEY,
    target      text NOT NULL,
    uri         text NOT NULL,
    mode        text NOT NULL,
    format      text NOT NULL,
    objects     jsonb NOT NULL,
    rows        bigint NOT NULL,
    loaded_by   name NOT NULL DEFAULT current_user,
    started_at  timestamptz NOT NULL,
    finished_at timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp()
);
SELECT pg_catalog.pg_extension_config_dump('churnml.load_history', '');
SELECT pg_catalog.pg_extension_config_dump('churnml.load_history_id_seq', '');
