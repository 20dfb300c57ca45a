-- Object storage in and out: export a query's rows to S3 (or an S3-compatible server)
-- and load objects back into a table — SELECT INTO OUTFILE / LOAD DATA, from SQL.
-- Both run with the caller's own privileges; where S3 is and its credentials come
-- from the server's configuration (docs/loaders.md), never from arguments.

COMMENT ON SEQUENCE churnml.load_history_id_seq IS 'Ids of churnml.load_history (its serial column).';
COMMENT ON TABLE churnml.load_history IS
'One row per successful churnml.load_from_s3: the target table, the URI and mode, each object read (URI, ETag, bytes, and the SHA-256 its manifest gave), the row count, who loaded and when. Written in the loading transaction, so a load that is rolled back leaves no row.';
-- load_from_s3 runs as the caller, so the caller inserts; id, loaded_by and finished_at are
-- left out of the grant so that their defaults, not the caller, say who loaded and when.
GRANT SELECT, INSERT (target, uri, mode, format, objects, rows, started_at) ON churnml.load_history TO churnml_loader;
GRANT USAGE ON SEQUENCE churnml.load_history_id_seq TO churnml_loader;

-- The C half (extension/core/copy_spool.c): PostgreSQL's COPY to and from spool files,
-- temporary files of this backend. _copy_to_spool has no SET search_path: it parses and
-- runs the caller's query under the caller's search_path, as COPY would (export_query
-- sets that path around the call); it looks up nothing else.
CREATE OR REPLACE FUNCTION churnml._copy_to_spool(query text, format text, path text, options text[] DEFAULT '{}')
RETURNS TABLE (path text, rows bigint)
LANGUAGE c VOLATILE STRICT PARALLEL UNSAFE
AS 'MODULE_PATHNAME', 'churnml_copy_to_spool_options';
COMMENT ON FUNCTION churnml._copy_to_spool(text, text, text, text[]) IS
'Internal (what export_query calls, in C): COPY (query) TO a spool file made by _spool_file in this session (no other path), format csv, text or binary, with COPY''s defaults (the CSV is exactly COPY''s: values quoted only where needed, NULL unquoted and empty) unless options, flat (name, value) pairs of COPY''s options as values (''{delimiter,|,encoding,WIN1252,force_quote,a}''; force_quote NULL is FORCE_QUOTE *), say otherwise; COPY checks them. The query must be one SELECT and runs as the caller. Returns the file''s path and the row count; the file is removed when the transaction ends.';

CREATE OR REPLACE FUNCTION churnml._spool_file() RETURNS text
LANGUAGE c VOLATILE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'churnml_spool_file';
COMMENT ON FUNCTION churnml._spool_file() IS
'Internal (what load_from_s3 and export_query call, in C): a new, empty temporary file of this session, for the objects to load or for _copy_to_spool to write, removed when the transaction ends; returns its path.';

CREATE OR REPLACE FUNCTION churnml._copy_from_spool(
    target regclass, path text, format text, columns text[], sources text[], records bigint[], skipped bigint[],
    options text[] DEFAULT '{}'
) RETURNS bigint
LANGUAGE c VOLATILE STRICT PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'churnml_copy_from_spool_options';
COMMENT ON FUNCTION churnml._copy_from_spool(regclass, text, text, text[], text[], bigint[], bigint[], text[]) IS
'Internal (what load_from_s3 calls, in C): COPY target (columns) FROM a spool file made by _spool_file in this session (no other path), format csv, text or binary, with COPY''s other options given as values in options (flat (name, value) pairs, as for _copy_to_spool; COPY checks them). Checks INSERT on the columns and refuses row-level security, as COPY does. sources/records/skipped give each object''s record count and skipped header lines, so a bad record is reported as "<object> line N, column c" (22P02 etc., nothing loaded). Returns the rows loaded.';

CREATE OR REPLACE FUNCTION churnml._export_query(
    query text, uri text, format text, header boolean, manifest boolean, overwrite boolean, compression text,
    part_size bigint, options text, search_path text
) RETURNS TABLE (rows_uploaded bigint, files_uploaded int, bytes_uploaded bigint)
LANGUAGE plpython3u VOLATILE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS $$
import churnml.sql_api.loaders as api
return api.export_query(plpy, '@EXTVERSION@', query, uri, format, header, manifest, overwrite, compression,
                        part_size, options, search_path)
$$;
COMMENT ON FUNCTION churnml._export_query(text, text, text, boolean, boolean, boolean, text, bigint, text, text) IS
'Internal: what churnml.export_query (and aws_s3.query_export_to_s3) calls, with the caller''s search_path as the last argument.';

-- Without SET search_path, like churnml.train: the query runs with the caller's path,
-- which this body hands on (every name in it is schema-qualified).
CREATE OR REPLACE FUNCTION churnml.export_query(
    query text,
    uri text,
    format text DEFAULT 'csv',
    header boolean DEFAULT true,
    manifest boolean DEFAULT true,
    overwrite boolean DEFAULT false,
    compression text DEFAULT NULL,
    part_size bigint DEFAULT 268435456,
    options text DEFAULT NULL
) RETURNS TABLE (rows_uploaded bigint, files_uploaded int, bytes_uploaded bigint)
LANGUAGE sql VOLATILE PARALLEL UNSAFE
AS $$
SELECT * FROM churnml._export_query(query, uri, format, header, manifest, overwrite, compression, part_size,
                                    options, pg_catalog.current_setting('search_path'))
$$;
COMMENT ON FUNCTION churnml.export_query(text, text, text, boolean, boolean, boolean, text, bigint, text) IS
'Export the rows of a query to object storage, like SELECT INTO OUTFILE S3: format csv, text or binary (COPY''s formats, written by COPY itself: with COPY''s defaults the CSV is byte for byte that of COPY (query) TO ... (FORMAT csv), values quoted only where needed, NULL unquoted and empty, '''' as ""); header adds the column names, as COPY''s HEADER writes them (not with binary). options are COPY''s other options, as COPY takes them (''delimiter ''''|'''', null ''''NULL'''', quote, escape, force_quote (a, b) or *, encoding ''''WIN1252''''''): the objects are written in that encoding. The query runs as the caller. Results larger than part_size bytes are split into uri.part_00000, .part_00001, ...; compression ''gzip'' compresses each part (.gz). With manifest, uri.manifest (JSON: parts, sizes, rows, SHA-256) is written last, as the completion signal. An existing target is an error unless overwrite. On any failure the parts written are removed and no manifest is written. Returns rows, files and bytes uploaded (as Aurora''s aws_s3.query_export_to_s3).';

CREATE OR REPLACE FUNCTION churnml._load_from_s3(
    target regclass, uri text, mode text, format text, header boolean, ignore_lines int, columns text[],
    on_conflict text, options text, search_path text
) RETURNS bigint
LANGUAGE plpython3u VOLATILE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS $$
import churnml.sql_api.loaders as api
return api.load_from_s3(plpy, '@EXTVERSION@', target, uri, mode, format, header, ignore_lines, columns,
                        on_conflict, options, search_path)
$$;
COMMENT ON FUNCTION churnml._load_from_s3(regclass, text, text, text, boolean, int, text[], text, text, text) IS
'Internal: what churnml.load_from_s3 (and aws_s3.table_import_from_s3) calls, with the caller''s search_path as the last argument.';

-- Without SET search_path, like churnml.export_query.
CREATE OR REPLACE FUNCTION churnml.load_from_s3(
    target regclass,
    uri text,
    mode text DEFAULT 'file',
    format text DEFAULT 'csv',
    header boolean DEFAULT false,
    ignore_lines int DEFAULT 0,
    columns text[] DEFAULT NULL,
    on_conflict text DEFAULT 'error',
    options text DEFAULT NULL
) RETURNS bigint
LANGUAGE sql VOLATILE PARALLEL UNSAFE
AS $$
SELECT churnml._load_from_s3(target, uri, mode, format, header, ignore_lines, columns, on_conflict, options,
                             pg_catalog.current_setting('search_path'))
$$;
COMMENT ON FUNCTION churnml.load_from_s3(regclass, text, text, text, boolean, int, text[], text, text) IS
'Load objects into a table, like LOAD DATA FROM S3: mode ''file'' (one object), ''prefix'' (every object under the prefix, in key order) or ''manifest'' (the parts an export manifest lists, checked against their sizes and SHA-256). format csv, text or binary (COPY''s; loaded by COPY itself); header skips each object''s first line and ignore_lines skips more (csv and text); options are COPY''s other options, as COPY takes them (''delimiter ''''|'''', null ''''NULL'''', quote, escape, force_not_null (a), force_null (b), encoding ''''WIN1253'''', header match''): the objects are read in that encoding; columns names the target columns in file order (default: all insertable columns). on_conflict: ''error'', ''ignore'' (ON CONFLICT DO NOTHING) or ''replace'' (update the row with the same primary key). gzip objects are read transparently. All or nothing within the caller''s transaction: a bad row is an error naming the object, line and column, and nothing is loaded. Each load is recorded in churnml.load_history. Returns the number of rows loaded.';

GRANT EXECUTE ON FUNCTION
    churnml._copy_to_spool(text, text, text, text[]),
    churnml._spool_file(),
    churnml._copy_from_spool(regclass, text, text, text[], text[], bigint[], bigint[], text[]),
    churnml._export_query(text, text, text, boolean, boolean, boolean, text, bigint, text, text),
    churnml.export_query(text, text, text, boolean, boolean, boolean, text, bigint, text),
    churnml._load_from_s3(regclass, text, text, text, boolean, int, text[], text, text, text),
    churnml.load_from_s3(regclass, text, text, text, boolean, int, text[], text, text)
TO churnml_loader;
