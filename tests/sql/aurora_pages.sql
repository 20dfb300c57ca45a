-- Every SQL statement (and psql command) of AWS's three Aurora PostgreSQL pages on Aurora ML,
-- as printed there, for tests/sql/test_aurora_pages.py, which runs them in psql against churnml
-- and checks each outcome below; docs/from-aurora.md lists them with their status.
--
-- Source: https://github.com/awsdocs/amazon-aurora-user-guide, commit 287c604,
--   doc_source/postgresql-ml.md, doc_source/postgresql-s3-export.md and
--   doc_source/USER_PostgreSQL.S3Import.md.
-- Only the sample code is copied (without psql's prompts and the output AWS shows); the pages'
-- prose is not. The sample code is under the licence of LICENSE-SAMPLECODE of that repository:
--
--   Copyright 2018 Amazon.com, Inc. or its affiliates. All Rights Reserved.
--
--   Permission is hereby granted, free of charge, to any person obtaining a copy of this
--   software and associated documentation files (the "Software"), to deal in the Software
--   without restriction, including without limitation the rights to use, copy, modify,
--   merge, publish, distribute, sublicense, and/or sell copies of the Software, and to
--   permit persons to whom the Software is furnished to do so.
--
--   THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR IMPLIED,
--   INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY, FITNESS FOR A
--   PARTICULAR PURPOSE AND NONINFRINGEMENT. IN NO EVENT SHALL THE AUTHORS OR COPYRIGHT
--   HOLDERS BE LIABLE FOR ANY CLAIM, DAMAGES OR OTHER LIABILITY, WHETHER IN AN ACTION
--   OF CONTRACT, TORT OR OTHERWISE, ARISING FROM, OUT OF OR IN CONNECTION WITH THE
--   SOFTWARE OR THE USE OR OTHER DEALINGS IN THE SOFTWARE.
--
-- Format. `-- @page FILE` starts a page; each page runs in one psql session of its own database
-- (churnml installed, as a DBA does first). `-- @setup` ... `-- @end` is what the page assumes
-- and does not show: the reader's own tables and S3 objects' tables, and the DBA's storage
-- locations instead of Aurora's IAM role. `-- #N section` starts statement N, then:
--   -- @expect runs                      it runs (no error)
--   -- @expect differs: why              it runs; its result is not Aurora's, for that reason
--   -- @expect fails SQLSTATE: why       it fails with that SQLSTATE, for that documented reason
--   -- @expect xfail BRANCH: why         it should run and does once that branch is merged
--   -- @shows TEXT                       TEXT appears in its output (repeatable)
--   -- @sub OLD => NEW                   a migrating user's substitution (a bucket or name)
--   -- @as-written fails SQLSTATE: why   without the substitutions it fails so (checked too)
-- The statement follows, verbatim, up to the next `-- #` or `-- @page`. The buckets the pages
-- name (sample-bucket, docs-lab-store-for-rpg) exist in the test's S3 server; only names S3
-- no longer allows (sampleBucket, myS3Bucket) and placeholders are substituted.

-- @page postgresql-ml.md
-- @setup
CREATE TABLE support (feedback text);
INSERT INTO support VALUES ('Thank you for the excellent customer support!'),
    ('The latest version of this product stinks!'), ('Your support team is just awesome! I am blown away.'),
    ('Your product is too complex, but your support is great.'), ('Your support tech helped me in fifteen minutes.'),
    ('My problem was never resolved!'), ('When will the new version of this product be released?'),
    ('I cannot stand that chatbot.'), ('Your support tech talked down to me.'),
    ('It took me way too long to get a real person.');
CREATE TABLE clinician_notes (french_notes text, sentiment varchar, confidence real);
INSERT INTO clinician_notes (french_notes) VALUES ('Le patient va beaucoup mieux.');
CREATE SCHEMA ts;
CREATE TABLE ts.r (id int, description text, score real);
INSERT INTO ts.r VALUES (1, 'The latest version of this product stinks!', NULL);
CREATE TABLE yourtable (id int, description text);
INSERT INTO yourtable VALUES (1, 'Thank you for the excellent customer support!');
-- The reader's own batch-mode function that #9 explains (its body is checked when called: the
-- aws_comprehend schema comes with #1).
SET check_function_bodies = off;
CREATE FUNCTION anomaly_score(description text) RETURNS real LANGUAGE sql PARALLEL SAFE COST 5000
AS $$ SELECT (aws_comprehend.detect_sentiment(description, 'en')).confidence $$;
RESET check_function_bodies;
-- @end

-- #1 Installing the Aurora machine learning extension
-- @expect runs
-- @shows NOTICE:  installing required extension "aws_commons"
CREATE EXTENSION IF NOT EXISTS aws_ml CASCADE;

-- #2 Example: A simple query using Amazon Comprehend functions
-- @expect differs: churnml's own sentiment model gives other confidences (and may give other labels) than Amazon Comprehend
-- @shows (10 rows)
SELECT feedback, s.sentiment,s.confidence 
    FROM support,aws_comprehend.detect_sentiment(feedback, 'en') s 
    ORDER BY s.confidence DESC;

-- #3 Materializing sentiment for French notes
-- @expect fails 22023: churnml's sentiment model reads English only; Amazon Comprehend reads French
UPDATE clinician_notes
SET sentiment = (aws_comprehend.detect_sentiment (french_notes, 'fr')).sentiment,
    confidence = (aws_comprehend.detect_sentiment (french_notes, 'fr')).confidence
WHERE
    clinician_notes.french_notes IS NOT NULL AND
    LENGTH(TRIM(clinician_notes.french_notes)) > 0 AND
    clinician_notes.sentiment IS NULL;

-- #4 Creating a user-defined function to invoke a SageMaker model
-- @expect runs
CREATE FUNCTION classify_event (IN arg1 INT, IN arg2 DATE, OUT category INT)
AS $$
    SELECT aws_sagemaker.invoke_endpoint (
        'sagemaker_model_endpoint_name', NULL,
        arg1, arg2                        -- model inputs are separate arguments
        )::INT                            -- cast the output to INT
$$ LANGUAGE SQL PARALLEL SAFE COST 5000;

-- #5 Passing an array as input to a SageMaker model
-- @expect runs
CREATE FUNCTION regression_model (params REAL[], OUT estimate REAL)
AS $$
    SELECT aws_sagemaker.invoke_endpoint (
      'sagemaker_model_endpoint_name',
      NULL,
      params                            
      )::REAL
$$ LANGUAGE SQL PARALLEL SAFE COST 5000;

-- #6 Specifying batch size when invoking a SageMaker model
-- @expect runs
CREATE FUNCTION classify_event (
    IN event_type INT, IN event_day DATE, IN amount REAL, -- model inputs
    max_rows_per_batch INT DEFAULT NULL,  -- optional batch size limit
    OUT category INT)                     -- model output
AS $$
    SELECT aws_sagemaker.invoke_endpoint (
        'sagemaker_model_endpoint_name', max_rows_per_batch,
        event_type, event_day, COALESCE(amount, 0.0)
        )::INT              -- casts output to type INT
$$ LANGUAGE SQL PARALLEL SAFE COST 5000;

-- #7 Invoking a SageMaker model that has multiple outputs (the type)
-- @expect runs
CREATE TYPE company_forecasts AS ( 
    six_month_estimated_return real,
    one_year_bankruptcy_probability float);

-- #8 Invoking a SageMaker model that has multiple outputs (the function)
-- @expect runs
CREATE FUNCTION analyze_company (
    IN free_cash_flow NUMERIC(18, 6),
    IN debt NUMERIC(18,6),
    IN max_rows_per_batch INT DEFAULT NULL,
    OUT prediction company_forecasts) 
AS $$
    SELECT (aws_sagemaker.invoke_endpoint('endpt_name',
       max_rows_per_batch,free_cash_flow, debt))::company_forecasts;                                                                                                                  
$$ LANGUAGE SQL PARALLEL SAFE COST 5000;

-- #9 Function migration from the SELECT statement to the FROM clause
-- @expect differs: churnml scores inside the backend, so there is no batch and no Function Scan; the plan is PostgreSQL's own
EXPLAIN (VERBOSE, COSTS false) 
SELECT anomaly_score(ts.R.description) from ts.R;

-- #10 Turning batch mode off
-- @expect fails 42704: apg_enable_function_migration is a setting of Aurora's query planner, which PostgreSQL does not have (churnml has no batch mode to turn off)
SET apg_enable_function_migration = false;

-- #11 Verifying batch-mode execution
-- @expect differs: no "Batch Processing" section: churnml does not batch
-- @sub user-defined-function() => anomaly_score('I cannot stand that chatbot.')
EXPLAIN ANALYZE SELECT user-defined-function();

-- #12 Improving response times with parallel query processing (the setting)
-- @expect runs
SET max_parallel_workers_per_gather to 4;

-- #13 Improving response times with parallel query processing (the table)
-- @expect runs
ALTER TABLE yourTable SET (parallel_workers = 4);

-- #14 Improving response times with parallel query processing (the query)
-- @expect fails 42601: the page's query has an unbalanced parenthesis, and its EXPLAIN option hashes is Aurora's only
EXPLAIN (verbose, analyze, buffers, hashes) 
SELECT aws_comprehend.detect_sentiment(description, 'en')).*
FROM yourTable
WHERE id < 100;

-- #15 Monitoring Aurora machine learning
-- @expect runs
SELECT * FROM pg_stat_user_functions 
    WHERE schemaname 
    LIKE 'aws_%';

-- #16 Clearing the statistics
-- @expect runs
SELECT pg_stat_reset();

-- #17 The functions that call invoke_endpoint
-- @expect runs
-- @shows classify_event
SELECT proname FROM pg_proc WHERE prosrc LIKE '%invoke_endpoint%';

-- @page postgresql-s3-export.md
-- @setup
SELECT churnml.create_storage_location('sample_bucket', 's3://sample-bucket/') \g /dev/null
CREATE TABLE basic_test (id int, note text);
INSERT INTO basic_test VALUES (1, 'a'), (2, 'b: c');
-- @end

-- #1 Installing the aws_s3 extension
-- @expect runs
-- @shows NOTICE:  installing required extension "aws_commons"
CREATE EXTENSION aws_s3 CASCADE;

-- #2 Verifying the installation
-- @expect differs: it also lists churnml, churnml_aws and plpython3u, and churnml's versions
-- @shows aws_commons | 0.3.0   | public
\dx

-- #3 Specifying the Amazon S3 file path to export to
-- @expect runs
SELECT aws_commons.create_s3_uri(
   'sample-bucket',
   'sample-filepath',
   'us-west-2'
) AS s3_uri_1 \gset

-- #4 Prerequisites (the table)
-- @expect runs
CREATE TABLE sample_table (bid bigint PRIMARY KEY, name varchar(80));

-- #5 Prerequisites (the rows)
-- @expect runs
INSERT INTO sample_table (bid,name) VALUES (1, 'Monday'), (2,'Tuesday'), (3, 'Wednesday');

-- #6 Calling aws_s3.query_export_to_s3 (the S3 location again)
-- @expect runs
SELECT aws_commons.create_s3_uri(
   'sample-bucket',
   'sample-filepath',
   'us-west-2'
) AS s3_uri_1 \gset

-- #7 Calling aws_s3.query_export_to_s3
-- @expect runs
-- @shows (1 row)
SELECT * FROM aws_s3.query_export_to_s3('SELECT * FROM sample_table', :'s3_uri_1');

-- #8 Calling aws_s3.query_export_to_s3 with options
-- @expect runs
SELECT * FROM aws_s3.query_export_to_s3('SELECT * FROM sample_table', :'s3_uri_1', options :='format text');

-- #9 The S3 location inline
-- @expect runs
SELECT * from aws_s3.query_export_to_s3('select * from sample_table', 
   aws_commons.create_s3_uri('sample-bucket', 'sample-filepath', 'us-west-2') 
);

-- #10 Exporting to a CSV file that uses a custom delimiter
-- @expect runs
SELECT * from aws_s3.query_export_to_s3('select * from basic_test', :'s3_uri_1', options :='format csv, delimiter $$:$$');

-- #11 Exporting to a binary file with encoding
-- @expect runs
SELECT * from aws_s3.query_export_to_s3('select * from basic_test', :'s3_uri_1', options :='format binary, encoding WIN1253');

-- #12 Examples (bucket and path)
-- @expect runs
SELECT * from aws_s3.query_export_to_s3('select * from sample_table', 'sample-bucket', 'sample-filepath');

-- #13 Examples (with a region)
-- @expect runs
SELECT * from aws_s3.query_export_to_s3('select * from sample_table', 'sample-bucket', 'sample-filepath','us-west-2');

-- #14 Examples (with options)
-- @expect runs
SELECT * from aws_s3.query_export_to_s3('select * from sample_table', 'sample-bucket', 'sample-filepath','us-west-2','format text');

-- @page USER_PostgreSQL.S3Import.md
-- @setup
SELECT churnml.create_storage_location('docs_lab', 's3://docs-lab-store-for-rpg/') \g /dev/null
SELECT churnml.create_storage_location('samplebucket', 's3://samplebucket/') \g /dev/null
SELECT churnml.create_storage_location('mys3bucket', 's3://mys3bucket/') \g /dev/null
CREATE TABLE test_table (a text, b text);
-- What psql's \gset would have stored from aws_commons.create_aws_credentials on Aurora (#6): churnml
-- refuses that call, so the variable is set here and #7 is the page's call as Aurora runs it.
\set creds '(sample_access_key,sample_secret_key,)'
-- @end

-- #1 Installing the aws_s3 extension
-- @expect runs
-- @shows NOTICE:  installing required extension "aws_commons"
CREATE EXTENSION aws_s3 CASCADE;

-- #2 Verifying the installation
-- @expect differs: it also lists churnml, churnml_aws and plpython3u, and churnml's versions
-- @shows aws_s3      | 0.3.0   | public
\dx

-- #3 The table to import into
-- @expect runs
CREATE TABLE t1 
    (col1 varchar(80), 
    col2 varchar(80), 
    col3 varchar(80));

-- #4 The S3 location
-- @expect runs
SELECT aws_commons.create_s3_uri(
   'docs-lab-store-for-rpg',
   'versions_and_jdks_listing.csv',
   'us-west-1'
) AS s3_uri \gset

-- #5 Using security credentials (the credentials)
-- @expect fails 0A000: churnml takes no credentials as SQL arguments; the DBA configures them once on the server
SELECT aws_commons.create_aws_credentials(
   'sample_access_key', 'sample_secret_key', '')
AS creds \gset

-- #6 Using security credentials (the import)
-- @expect fails 0A000: the credentials form is refused, never run with the server's credentials instead
SELECT aws_s3.table_import_from_s3(
   't', '', '(format csv)',
   :'s3_uri', 
   :'creds'
);

-- #7 Using security credentials (inline)
-- @expect fails 0A000: churnml takes no credentials as SQL arguments
SELECT aws_s3.table_import_from_s3(
   't', '', '(format csv)',
   :'s3_uri', 
   aws_commons.create_aws_credentials('sample_access_key', 'sample_secret_key', '')
);

-- #8 Importing data from Amazon S3
-- @expect runs
-- @shows 3 rows imported into relation "t1" from file versions_and_jdks_listing.csv of
SELECT aws_s3.table_import_from_s3(
   't1',
   '', 
   '(format csv)',
   :'s3_uri'
);

-- #9 Importing a file that uses a custom delimiter (the table)
-- @expect runs
CREATE TABLE test (a text, b text, c text, d text, e text);

-- #10 Importing a file that uses a custom delimiter
-- @expect runs
-- @sub 'sampleBucket' => 'samplebucket'
SELECT aws_s3.table_import_from_s3(
   'test',
   'a,b,d,e',
   'DELIMITER ''|''', 
   aws_commons.create_s3_uri('sampleBucket', 'pipeDelimitedSampleFile', 'us-east-2')
);

-- #11 The imported rows
-- @expect runs
SELECT * FROM test;

-- #12 Importing a compressed (gzip) file (the table)
-- @expect runs
CREATE TABLE test_gzip(id int, a text, b text, c text, d text);

-- #13 Importing a compressed (gzip) file
-- @expect runs
-- @shows 2 rows imported into relation "test_gzip" from file test-data.gz of
-- @sub 'myS3Bucket' => 'mys3bucket'
-- @as-written fails 22023: S3 has refused upper-case letters in bucket names since 2018, and so does churnml
SELECT aws_s3.table_import_from_s3(
 'test_gzip', '', '(format csv)',
 'myS3Bucket', 'test-data.gz', 'us-east-2'
);

-- #14 Importing an encoded file
-- @expect runs
-- @sub 'sampleBucket' => 'samplebucket'
SELECT aws_s3.table_import_from_s3(
 'test_table', '', 'encoding ''WIN1252''',
 aws_commons.create_s3_uri('sampleBucket', 'SampleFile', 'us-east-2')
);
