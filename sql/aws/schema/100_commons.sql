-- Install only (see sql/README.md): CREATE EXTENSION runs this file, an update does not.
-- After a release, a change here needs its delta in sql/aws/upgrades/.
-- S3 locations, as Aurora spells them.

CREATE TYPE aws_commons._s3_uri_1 AS (bucket text, file_path text, region text);

CREATE TYPE aws_commons._aws_credentials_1 AS (access_key text, secret_key text, session_token text);
