"""Who may do what: churnml's roles as real, non-superuser login roles.

One login role per group — churnml_user, churnml_admin, churnml_loader — and one
with none of them, each connecting with its own password. The table CASES is the
whole per-role matrix: every statement either succeeds for a role (or fails past
the privilege check with the SQLSTATE the case names) or fails with 42501. Every
statement runs in a transaction that is rolled back, so the cases do not depend
on each other's writes. The catalog tests check the rules that make the matrix
hold for objects it does not call: no PUBLIC privilege, search_path pinned, no
SECURITY DEFINER (but the one listed), a COMMENT on everything — for every member of churnml and
churnml_aws and for the functions churnml.create_model_function makes.
"""

from __future__ import annotations

import os
import re
import secrets
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import psycopg
import pytest
from psycopg import sql

from churnml_loaders.s3_client import S3Client
from churnml_loaders.s3_config import S3Config
from tests.conftest import TEST_HOME
from tests.sql.conftest import declare_storage, telco_with_aws, writable_directory

if TYPE_CHECKING:
    from churnml_client.embedded_pg import EmbeddedServer

BUCKET = "churnml"
PASSWORD = f"pw-{secrets.token_hex(8)}"
PINNED = "search_path=pg_catalog, pg_temp"
GROUPS = {"user": "churnml_user", "admin": "churnml_admin", "loader": "churnml_loader", "none": None}
# The only SECURITY DEFINER functions churnml may have, each with the reason.
SECURITY_DEFINER_ALLOWED: dict[str, str] = {
    "churnml._log_prediction(text,bigint,double precision,text,double precision,bigint,double precision)":
        "the STABLE scoring functions' one write: a sampled call into churnml.prediction_log, which their callers "
        "(churnml_user) may not write; it writes only the call churnml's own scoring code is logging at that moment "
        "(from SQL directly: nothing), and only what a name that logs would (tests/sql/test_realized.py)",
}
# Functions without the pinned search_path, each with the reason. Only C functions that
# look up no names qualify: the SET clause would protect nothing and costs a GUC save and
# restore on every call (bulk scoring calls this once per row: 1.6 s -> 2.1 s a million rows).
UNPINNED_ALLOWED: dict[str, str] = {
    'churnml._pack_float8("any")': "C, per row, reads only its float8 arguments",
    "churnml._copy_to_spool(text,text,text,text[])":
        "C, runs the caller's query under the caller's search_path, as COPY does",
}
# SQL functions whose one-line body hands the caller's search_path to an internal function
# (every name in it schema-qualified, no operator): a SET clause would hide that path.
CALLER_PATH = "SQL, hands pg_catalog.current_setting('search_path') on to its internal function"
UNPINNED_ALLOWED.update({
    "churnml.predict(bigint,double precision[],text[])":
        "C, checks its arrays and calls churnml._predict, found by its qualified name once per call site",
    "churnml.train(text,text,text,text[],text[],jsonb,jsonb,jsonb,text,double precision,double precision,"
    "integer,boolean,bigint)": CALLER_PATH,
    "churnml.train_sentiment(text,text,text,text,integer,boolean)": CALLER_PATH,
    "churnml.retrain(text,text,double precision,double precision)": CALLER_PATH,
    "churnml.schedule_retrain(text,text,text,double precision,double precision)": CALLER_PATH,
    "churnml.score(text,text,text,integer)": CALLER_PATH,
    "churnml.record_outcomes(text,text,text,text,interval)": CALLER_PATH,
    "churnml.assess_customer(bigint,text,text,boolean,text)":
        "PL/Python, the call center's hot path: finds the settings' tables with the caller's path, then pins it "
        "itself (a SQL wrapper handing the path on cost ~30 us a call)",
    "churnml.assess_customer_text(bigint,text,text,boolean,text)":
        "SQL, hands the caller's search_path on to churnml.assess_customer (every name schema-qualified)",
    "churnml.monitor(text,text,bigint)":
        "PL/Python: resolves the source with the caller's path, then pins the path itself (as assess_customer)",
    "churnml.capture_profile(text,text,bigint)":
        "PL/Python: resolves the source with the caller's path, then pins the path itself (as assess_customer)",
    "churnml.export_query(text,text,text,boolean,boolean,boolean,text,bigint,text)": CALLER_PATH,
    "churnml.load_from_s3(regclass,text,text,text,boolean,integer,text[],text,text)": CALLER_PATH,
    "aws_s3.query_export_to_s3(text,aws_commons._s3_uri_1,text)": CALLER_PATH,
    "aws_s3.query_export_to_s3(text,text,text,text,text)": CALLER_PATH,
    "aws_s3.table_import_from_s3(text,text,text,aws_commons._s3_uri_1)": CALLER_PATH,
    "aws_s3.table_import_from_s3(text,text,text,text,text,text)": CALLER_PATH,
})

USER = frozenset({"user", "admin"})  # churnml_admin is a member of churnml_user
ADMIN = frozenset({"admin"})
LOADER = frozenset({"loader", "admin"})  # and of churnml_loader
NOBODY: frozenset[str] = frozenset()  # superusers only


@dataclass(frozen=True)
class Case:
    what: str
    statement: str  # {{name}} is replaced from the context (see `context`)
    allowed: frozenset[str]
    sqlstate: str | None = None  # what an allowed role gets: None = success, else an error past the ACL check


CASES = [
    # --- scoring: churnml_user
    Case("will_churn(row)", "SELECT churnml.will_churn(c) FROM public.customers AS c LIMIT 3", USER),
    Case("typed function from create_model_function",
         "SELECT priv_fn.will_churn_typed({{typed_args}}) FROM public.customers AS c LIMIT 3", USER),
    Case("churn_flag", "SELECT churnml.churn_flag(0.7)", USER),
    Case("score (bulk)", "SELECT count(*) FROM churnml.score('public.customers', 'phone')", USER),
    Case("explain_churn", "SELECT e.* FROM public.customers AS c CROSS JOIN LATERAL churnml.explain_churn(c) AS e "
                          "LIMIT 5", USER),
    Case("_score_json (what will_churn calls)", "SELECT churnml._score_json('churn', '{}')", USER, "42703"),
    Case("feature_importance", "SELECT * FROM churnml.feature_importance('churn')", USER),
    Case("threshold_costs", "SELECT count(*) FROM churnml.threshold_costs('churn', 50, 500)", USER),
    Case("optimal_threshold", "SELECT * FROM churnml.optimal_threshold('churn', 50, 500, 50)", USER),
    Case("model_trees", "SELECT churnml.model_trees('churn')", USER),
    Case("top_features", "SELECT churnml.top_features('churn', 3)", USER),
    Case("compare_models", "SELECT count(*) FROM churnml.compare_models('churn')", USER),
    Case("SELECT models", "SELECT count(*) FROM churnml.models", USER),
    Case("SELECT model_artifacts", "SELECT count(artifact) FROM churnml.model_artifacts", USER),
    Case("UPDATE model_artifacts", "UPDATE churnml.model_artifacts SET artifact = artifact WHERE model_id < 0", ADMIN),
    Case("UPDATE model_artifacts model_id", "UPDATE churnml.model_artifacts SET model_id = 0 WHERE model_id < 0",
         NOBODY),
    Case("SELECT deployments", "SELECT count(*) FROM churnml.deployments", USER),
    Case("view current_deployments", "SELECT * FROM churnml.current_deployments", USER),
    Case("view model_summary", "SELECT * FROM churnml.model_summary", USER),
    Case("version", "SELECT churnml.version()", USER),
    # --- sentiment and text: churnml_user
    Case("detect_sentiment (lexicon)", "SELECT * FROM churnml.detect_sentiment('You charged me twice!', 'en', "
                                       "'lexicon')", USER),
    Case("detect_sentiment (encoder)", "SELECT * FROM churnml.detect_sentiment('You charged me twice!', 'en', "
                                       "'encoder')", USER),
    Case("detect_sentiment_label", "SELECT churnml.detect_sentiment_label('great', 'en', 'lexicon')", USER),
    Case("detect_sentiment_confidence", "SELECT churnml.detect_sentiment_confidence('great', 'en', 'lexicon')",
         USER),
    Case("sentiment_scores", "SELECT * FROM churnml.sentiment_scores('great', 'en', 'lexicon')", USER),
    Case("detect_sentiment_batch", "SELECT * FROM churnml.detect_sentiment_batch(ARRAY['great', 'awful'], 'en', "
                                   "'lexicon')", USER),
    Case("sentiment_summary", "SELECT * FROM churnml.sentiment_summary(ARRAY['great', 'awful'], NULL, 'en', "
                              "'lexicon')", USER),
    Case("embed", "SELECT pg_catalog.array_length(churnml.embed('hello'), 1)", USER),
    Case("embed_batch", "SELECT count(*) FROM churnml.embed_batch(ARRAY['hello', 'bye'])", USER),
    Case("first_sentence", "SELECT churnml.first_sentence('Hi there. Bye.')", USER),
    # --- incentives: churnml_user reads rules and recommends, logs offers
    Case("recommend_incentive", "SELECT * FROM churnml.recommend_incentive(0.9, 'NEGATIVE', 0.95, "
                                "customer_key => 'priv/1')", USER),
    Case("check_condition", "SELECT churnml.check_condition('will_churn > 0.5')", USER),
    Case("log_offer", "SELECT churnml.log_offer('priv/1', r) FROM churnml.recommend_incentive(0.9, 'NEGATIVE', "
                      "0.95, customer_key => 'priv/1') AS r", USER),
    Case("INSERT offer_log", "INSERT INTO churnml.offer_log (customer_key) VALUES ('priv/2')", USER),
    Case("experiment_results", "SELECT * FROM churnml.experiment_results('negative_medium_risk_credit')", USER),
    Case("rule_set_cost", "SELECT * FROM churnml.rule_set_cost('default', 100, 0.3)", USER),
    Case("SELECT incentive_rules", "SELECT count(*) FROM churnml.incentive_rules", USER),
    Case("SELECT incentive_inputs", "SELECT count(*) FROM churnml.incentive_inputs", USER),
    Case("SELECT experiments", "SELECT count(*) FROM churnml.experiments", USER),
    Case("SELECT offer_log", "SELECT count(*) FROM churnml.offer_log", USER),
    Case("SELECT offer_outcomes", "SELECT count(*) FROM churnml.offer_outcomes", USER),
    Case("offer_log_id_seq", "SELECT pg_catalog.nextval('churnml.offer_log_id_seq')", USER),
    # --- the call center and dashboards: churnml_user
    Case("assess_customer (writes the offer log)",
         "SELECT offer_id FROM churnml.assess_customer({{area_code}}, '{{phone}}', 'You morons!', log_offer => true)",
         USER),
    Case("assess_customer (reads only)",
         "SELECT offer_id FROM churnml.assess_customer({{area_code}}, '{{phone}}', 'You morons!')", USER),
    Case("assess_customer_text", "SELECT * FROM churnml.assess_customer_text({{area_code}}, '{{phone}}', 'Thanks!', "
                                 "false, 'lexicon')", USER),
    Case("view customer_risk", "SELECT count(*) FROM churnml.customer_risk", USER),
    Case("view customer_risk's explanations", "SELECT count(top_reason) FROM churnml.customer_risk", USER),
    Case("view progress", "SELECT count(*) FROM churnml.progress", USER | LOADER),
    Case("_progress_file", "SELECT churnml._progress_file()", USER | LOADER),
    Case("_customer_risk_batches", "SELECT count(*) FROM churnml._customer_risk_batches()", USER),
    Case("view call_center_config", "SELECT * FROM churnml.call_center_config", USER),
    Case("SELECT call_center_settings", "SELECT count(*) FROM churnml.call_center_settings", USER),
    # --- Aurora's names (churnml_aws): churnml_user scores and detects sentiment
    Case("aws_comprehend.detect_sentiment", "SELECT * FROM aws_comprehend.detect_sentiment('great', 'en')", USER),
    Case("aws_comprehend_detect_sentiment (MySQL form)",
         "SELECT public.aws_comprehend_detect_sentiment('great', 'en')", USER),
    Case("aws_comprehend_detect_sentiment_confidence",
         "SELECT public.aws_comprehend_detect_sentiment_confidence('great', 'en')", USER),
    Case("aws_sagemaker.invoke_endpoint",
         "SELECT aws_sagemaker.invoke_endpoint('churn', NULL, {{typed_args}}) FROM public.customers AS c LIMIT 3",
         USER),
    # --- training, deploys, thresholds: churnml_admin
    Case("train", "SELECT churnml.train('priv_model', 'public.customers', 'churn', exclude => ARRAY['phone'], "
                  "hyperparams => '{\"num_boost_round\": 5}')", ADMIN),
    Case("train_sentiment", "SELECT churnml.train_sentiment('priv_sentiment', 'public.priv_labelled', 'message', "
                            "'label')", ADMIN),
    Case("deploy", "SELECT * FROM churnml.deploy('churn', {{model_id}})", ADMIN),
    Case("rollback", "SELECT * FROM churnml.rollback('churn')", ADMIN),
    Case("set_threshold", "SELECT * FROM churnml.set_threshold('churn', 0.4)", ADMIN),
    Case("set_business_costs", "SELECT * FROM churnml.set_business_costs('priv_costs', 50, 500)", ADMIN),
    Case("monitor", "SELECT status FROM churnml.monitor('churn', 'public.customers')", ADMIN),
    Case("capture_profile", "SELECT model_id FROM churnml.capture_profile('churn', 'public.customers')", ADMIN),
    Case("set_monitor_thresholds", "SELECT * FROM churnml.set_monitor_thresholds('churn', 0.2, 0.3)", ADMIN),
    Case("read monitor_runs", "SELECT count(*) FROM churnml.monitor_runs", USER),
    Case("read monitor_status", "SELECT count(*) FROM churnml.monitor_status", USER),
    Case("read model_profiles", "SELECT count(*) FROM churnml.model_profiles", USER),
    Case("INSERT monitor_runs with run_by", "INSERT INTO churnml.monitor_runs (name, model_id, source, rows, "
                                            "population, max_feature_psi, status, features, warn_psi, alert_psi, "
                                            "seconds, run_by) VALUES ('churn', {{model_id}}, 's', 0, 0, 0, 'ok', "
                                            "'[]', 0.1, 0.25, 0, 'x')", NOBODY),
    # --- gated retraining (issue 23): admins retrain and schedule, users read the history
    Case("retrain", "SELECT status FROM churnml.retrain('churn', 'public.customers')", ADMIN),
    Case("retrain without a source or policy", "SELECT churnml.retrain('churn')", ADMIN, "22004"),
    Case("schedule_retrain (pg_cron lives in another database)",
         "SELECT churnml.schedule_retrain('churn', '0 3 * * 1', 'public.customers')", ADMIN, "55000"),
    Case("unschedule_retrain", "SELECT churnml.unschedule_retrain('churn')", ADMIN, "42704"),
    Case("run_scheduled_retrain", "SELECT churnml.run_scheduled_retrain(-1)", ADMIN, "42704"),
    Case("SELECT retrain_history", "SELECT count(*) FROM churnml.retrain_history", USER),
    Case("SELECT retrain_policies", "SELECT count(*) FROM churnml.retrain_policies", ADMIN),
    Case("SELECT business_costs", "SELECT count(*) FROM churnml.business_costs", USER),
    Case("DELETE business_costs", "DELETE FROM churnml.business_costs WHERE name = 'nobody'", ADMIN),
    Case("create_model_function", "SELECT churnml.create_model_function('will_churn_tmp', 'churn', 'priv_fn')",
         ADMIN),
    Case("UPDATE models", "UPDATE churnml.models SET params = params WHERE id < 0", ADMIN),
    Case("DELETE deployments", "DELETE FROM churnml.deployments WHERE id < 0", ADMIN),
    Case("models_id_seq", "SELECT pg_catalog.nextval('churnml.models_id_seq')", ADMIN),
    Case("runtime_info", "SELECT churnml.runtime_info()", ADMIN),
    # --- rules, inputs, experiments, outcomes: churnml_admin
    Case("INSERT incentive_rules", "INSERT INTO churnml.incentive_rules (rule_set, priority, name, condition, offer) "
                                   "VALUES ('priv', 1, 'priv_rule', 'will_churn > 0.5', 'a call')", ADMIN),
    Case("UPDATE incentive_rules", "UPDATE churnml.incentive_rules SET enabled = true WHERE name = 'no_incentive'",
         ADMIN),
    Case("DELETE incentive_rules", "DELETE FROM churnml.incentive_rules WHERE NOT builtin", ADMIN),
    Case("INSERT incentive_inputs", "INSERT INTO churnml.incentive_inputs (name, type) VALUES ('priv_input', "
                                    "'numeric')", ADMIN),
    Case("INSERT experiments", "INSERT INTO churnml.experiments (name) VALUES ('priv_experiment')", ADMIN),
    Case("record_outcome", "SELECT churnml.record_outcome({{offer_id}}::bigint, 'retained')", ADMIN),
    Case("INSERT offer_outcomes", "INSERT INTO churnml.offer_outcomes (offer_id, outcome) VALUES ({{offer_id}}, "
                                  "'churned')", ADMIN),
    Case("DELETE offer_log", "DELETE FROM churnml.offer_log WHERE id < 0", ADMIN),
    # --- settings: churnml_admin
    Case("INSERT call_center_settings", "INSERT INTO churnml.call_center_settings (top_reasons) VALUES (5)", ADMIN),
    Case("UPDATE call_center_settings", "UPDATE churnml.call_center_settings SET top_reasons = 5", ADMIN),
    Case("DELETE call_center_settings", "DELETE FROM churnml.call_center_settings", ADMIN),
    # --- object storage: churnml_loader (file:// only for churnml_admin)
    Case("export_query to s3", "SELECT * FROM churnml.export_query('SELECT 1 AS one', "
                               "'s3://churnml/priv/matrix/{{role}}', overwrite => true)", LOADER),
    Case("load_from_s3", "SELECT churnml.load_from_s3('public.priv_landing', 's3://churnml/priv/seed.csv', "
                         "header => true)", LOADER),
    Case("SELECT load_history", "SELECT count(*) FROM churnml.load_history", LOADER),
    Case("export_query to file://", "SELECT * FROM churnml.export_query('SELECT 1 AS one', "
                                    "'file://{{files}}/matrix-{{role}}.csv', overwrite => true)", ADMIN),
    Case("aws_commons.create_s3_uri", "SELECT aws_commons.create_s3_uri('churnml', 'x.csv', 'us-east-1')", LOADER),
    Case("aws_commons.create_aws_credentials (always refused)",
         "SELECT aws_commons.create_aws_credentials('AKIA', 'secret', '')", LOADER, "0A000"),
    Case("aws_s3.query_export_to_s3", "SELECT * FROM aws_s3.query_export_to_s3('SELECT 1 AS one', 'churnml', "
                                      "'priv/matrix-aws-{{role}}.csv')", LOADER),
    Case("aws_s3.table_import_from_s3", "SELECT aws_s3.table_import_from_s3('public.priv_landing', '', "
                                        "'(format csv, header true)', 'churnml', 'priv/seed.csv', 'us-east-1')",
         LOADER),
    Case("aws_s3.table_import_from_s3 (s3_uri)",
         "SELECT aws_s3.table_import_from_s3('public.priv_landing', '', '(format csv, header true)', "
         "aws_commons.create_s3_uri('churnml', 'priv/seed.csv', 'us-east-1'))", LOADER),
    Case("aws_s3.table_import_from_s3 with credentials (always refused)",
         "SELECT aws_s3.table_import_from_s3('public.priv_landing', '', '', 'churnml', 'priv/seed.csv', "
         "'us-east-1', 'AKIA', 'secret', '')", LOADER, "0A000"),
    # --- storage locations: churnml_admin declares and grants, churnml_loader sees the locations and its grants
    Case("create_storage_location", "SELECT churnml.create_storage_location('priv_{{role}}', "
                                    "'s3://churnml/priv-locations/{{role}}/')", ADMIN),
    Case("drop_storage_location", "SELECT churnml.drop_storage_location('test_files')", ADMIN),
    Case("grant_storage", "SELECT churnml.grant_storage('test_bucket', 'read', 'churnml_user')", ADMIN),
    Case("revoke_storage", "SELECT churnml.revoke_storage('test_bucket', 'read', 'churnml_loader')", ADMIN),
    Case("INSERT storage_grants", "INSERT INTO churnml.storage_grants (location, grantee, privilege) "
                                  "VALUES ('test_bucket', 'churnml_user', 'read')", ADMIN),
    Case("UPDATE storage_locations", "UPDATE churnml.storage_locations SET description = 'x'", ADMIN),
    Case("SELECT storage_locations", "SELECT count(*) FROM churnml.storage_locations", LOADER),
    Case("SELECT storage_grants", "SELECT count(*) FROM churnml.storage_grants", LOADER),
    Case("view storage_privileges", "SELECT count(*) FROM churnml.storage_privileges", LOADER),
    # --- nobody but a superuser
    Case("_build_id", "SELECT churnml._build_id()", NOBODY),
    # records are the database's (issue 19): ids, builtin and audit columns are not granted
    Case("INSERT offer_log with offered_by", "INSERT INTO churnml.offer_log (customer_key, offered_by) "
                                             "VALUES ('priv/3', 'someone_else')", NOBODY),
    Case("INSERT offer_log with offered_at", "INSERT INTO churnml.offer_log (customer_key, offered_at) "
                                             "VALUES ('priv/3', now() - interval '1 year')", NOBODY),
    Case("INSERT offer_log with an id", "INSERT INTO churnml.offer_log (id, customer_key) VALUES (999999, 'priv/3')",
         NOBODY),
    Case("INSERT offer_log with a negative offer_value",
         "INSERT INTO churnml.offer_log (customer_key, offer_value) VALUES ('priv/3', -1)", USER, "23514"),
    Case("INSERT offer_log with an unknown arm", "INSERT INTO churnml.offer_log (customer_key, experiment, arm) "
                                                 "VALUES ('priv/3', 'negative_medium_risk_credit', 'Z')",
         USER, "23514"),
    Case("INSERT builtin incentive_rules", "INSERT INTO churnml.incentive_rules (rule_set, priority, name, condition, "
                                           "offer, builtin) VALUES ('priv', 1, 'forever', 'TRUE', 'x', true)", NOBODY),
    Case("INSERT incentive_rules with a builtin rule's id",
         "INSERT INTO churnml.incentive_rules (id, rule_set, priority, name, condition, offer) "
         "VALUES (3, 'default', 30, 'negative_high_risk', 'TRUE', '$1000 credit')", NOBODY),
    Case("UPDATE incentive_rules builtin", "UPDATE churnml.incentive_rules SET builtin = false", NOBODY),
    Case("UPDATE incentive_rules updated_by", "UPDATE churnml.incentive_rules SET updated_by = 'x'", NOBODY),
    Case("INSERT builtin experiments", "INSERT INTO churnml.experiments (name, builtin) VALUES ('forever', true)",
         NOBODY),
    Case("INSERT models with created_by", "INSERT INTO churnml.models (name, artifact_format, "
                                          "artifact_sha256, feature_spec, created_by) SELECT 'x', "
                                          "artifact_format, artifact_sha256, feature_spec, 'x' FROM churnml.models "
                                          "LIMIT 1", NOBODY),
    Case("INSERT deployments with a crafted name", "INSERT INTO churnml.deployments (name, model_id, strategy) "
                                                   "VALUES ('x$churnml$; --', {{model_id}}, 'specific')",
         ADMIN, "23514"),
    Case("UPDATE deployments deployed_by", "UPDATE churnml.deployments SET deployed_by = 'x'", NOBODY),
    Case("UPDATE offer_outcomes recorded_by", "UPDATE churnml.offer_outcomes SET recorded_by = 'x'", NOBODY),
    Case("UPDATE call_center_settings updated_by", "UPDATE churnml.call_center_settings SET updated_by = 'x'",
         NOBODY),
    Case("INSERT load_history with loaded_by", "INSERT INTO churnml.load_history (target, uri, mode, format, "
                                               "objects, rows, started_at, loaded_by) VALUES ('t', 'u', 'file', "
                                               "'csv', '[]', 0, now(), 'x')", NOBODY),
    Case("INSERT load_history", "INSERT INTO churnml.load_history (target, uri, mode, format, objects, rows, "
                                "started_at) VALUES ('t', 'u', 'file', 'csv', '[]', 0, now())", LOADER),
    Case("record_outcome by customer key", "SELECT churnml.record_outcome('priv/0', 'retained')", ADMIN),
    Case("UPDATE offer_log (append-only)", "UPDATE churnml.offer_log SET reason = 'x' WHERE id < 0", NOBODY),
    Case("TRUNCATE offer_log", "TRUNCATE churnml.offer_log", NOBODY),
    Case("UPDATE load_history", "UPDATE churnml.load_history SET rows = 0 WHERE id < 0", NOBODY),
    Case("TRUNCATE models", "TRUNCATE churnml.models CASCADE", NOBODY),
    # --- prediction logging, realized performance, shadow: churnml_user reads, churnml_admin sets
    Case("realized_performance", "SELECT * FROM churnml.realized_performance('churn')", USER, "42704"),
    Case("SELECT prediction_log", "SELECT count(*) FROM churnml.prediction_log", USER),
    Case("SELECT prediction_logging", "SELECT count(*) FROM churnml.prediction_logging", USER),
    Case("SELECT shadow_models", "SELECT count(*) FROM churnml.shadow_models", USER),
    Case("_log_prediction (what the scoring functions call)",
         "SELECT churnml._log_prediction('churn', {{model_id}}, 0.5, 'k', 0.5)", USER),
    Case("INSERT prediction_log", "INSERT INTO churnml.prediction_log (name, model_id, role, probability, threshold) "
                                  "VALUES ('churn', 1, 'serving', 0.5, 0.5)", NOBODY),
    Case("UPDATE prediction_log probability", "UPDATE churnml.prediction_log SET probability = 0", NOBODY),
    Case("log_predictions", "SELECT churnml.log_predictions('churn', 0.1, 'phone')", ADMIN),
    Case("record_outcomes", "SELECT * FROM churnml.record_outcomes('churn', 'public.customers', 'phone', 'churn')",
         ADMIN, "42704"),
    Case("start_shadow", "SELECT * FROM churnml.start_shadow('churn', 0)", ADMIN, "42704"),
    Case("stop_shadow", "SELECT churnml.stop_shadow('churn')", ADMIN),
    Case("promote_shadow", "SELECT * FROM churnml.promote_shadow('churn')", ADMIN, "55000"),
]

LABELLED = """CREATE TABLE public.priv_labelled AS
    SELECT * FROM (VALUES
      ('the bill is wrong again', 'negative'), ('I was charged twice this month', 'negative'),
      ('my calls keep dropping', 'negative'), ('nobody answered my ticket', 'negative'),
      ('the data plan is too slow', 'negative'), ('you overcharged me for roaming', 'negative'),
      ('great service, thank you', 'positive'), ('the new plan is excellent', 'positive'),
      ('very happy with the coverage', 'positive'), ('support fixed it fast, thanks', 'positive'),
      ('love the unlimited minutes', 'positive'), ('best carrier I have had', 'positive'),
      ('what are your opening hours', 'neutral'), ('how do I change my address', 'neutral'),
      ('when is my bill due', 'neutral'), ('can I add a line', 'neutral'),
      ('where is the nearest store', 'neutral'), ('what is my account number', 'neutral'))
    AS t(message, label), generate_series(1, 2)"""


def role_url(url: str, role: str, password: str) -> str:
    parts = urlsplit(url)
    return parts._replace(netloc=f"{role}:{password}@{parts.hostname}:{parts.port}").geturl()


@pytest.fixture(scope="module")
def files_dir() -> Iterator[Path]:
    """This module's own file_root (overrides tests/sql/conftest.py's, shared by other modules)."""
    with writable_directory(Path(f"{TEST_HOME}-privileges-files")) as path:
        yield path


@pytest.fixture(scope="module")
def telco(make_telco: Callable[..., str], configured: S3Config, files_dir: Path) -> str:
    return declare_storage(telco_with_aws(make_telco, "privileges", 600, 17), files_dir)


@pytest.fixture(scope="module")
def roles(telco: str) -> Iterator[dict[str, str]]:
    """Login roles (key -> name), with what the application's DBA would grant them on its own tables."""
    suffix = secrets.token_hex(4)
    names = {key: f"cm_priv_{key}_{suffix}" for key in GROUPS}
    with psycopg.connect(telco, autocommit=True) as conn:
        for key, name in names.items():
            conn.execute(sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(
                sql.Identifier(name), sql.Literal(PASSWORD)))
            if GROUPS[key]:
                conn.execute(sql.SQL("GRANT {} TO {}").format(sql.Identifier(GROUPS[key]), sql.Identifier(name)))
        everyone = sql.SQL(", ").join(sql.Identifier(n) for n in names.values())
        # Application tables: every role may read them (and fill the landing table), so a 42501 below is churnml's.
        conn.execute(LABELLED)
        conn.execute("CREATE TABLE public.priv_landing (one int, two text)")
        conn.execute(sql.SQL("GRANT SELECT ON public.customers, public.customer_message, public.priv_labelled "
                             "TO {}").format(everyone))
        conn.execute(sql.SQL("GRANT SELECT, INSERT ON public.priv_landing TO {}").format(everyone))
        # Where typed functions live: the admin creates them, everyone may look them up.
        conn.execute("CREATE SCHEMA priv_fn")
        conn.execute(sql.SQL("GRANT USAGE ON SCHEMA priv_fn TO {}").format(everyone))
        conn.execute(sql.SQL("GRANT CREATE ON SCHEMA priv_fn TO {}").format(sql.Identifier(names["admin"])))
    try:
        yield names
    finally:
        with psycopg.connect(telco, autocommit=True) as conn:
            for name in names.values():
                conn.execute(sql.SQL("DROP OWNED BY {}").format(sql.Identifier(name)))
                conn.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(name)))


@pytest.fixture(scope="module")
def sessions(telco: str, roles: dict[str, str]) -> Iterator[dict[str, psycopg.Connection]]:
    """One connection per role, each logged in with its own password (no SET ROLE)."""
    connections = {key: psycopg.connect(role_url(telco, name, PASSWORD)) for key, name in roles.items()}
    try:
        yield connections
    finally:
        for connection in connections.values():
            connection.close()


@pytest.fixture(scope="module")
def context(telco: str, configured: S3Config, files_dir: Path, sessions: dict[str, psycopg.Connection],
            ) -> dict[str, str]:
    """What the cases refer to: a typed function made by the admin, a customer, a logged offer, a seed object."""
    with psycopg.connect(telco, autocommit=True) as conn:
        model_id, spec = conn.execute(
            "SELECT m.id, m.feature_spec FROM churnml.models AS m JOIN churnml.current_deployments AS d "
            "ON d.model_id = m.id WHERE d.name = 'churn'").fetchone()
        # an earlier deployment of another model, for rollback
        other = conn.execute("SELECT churnml.train('churn', 'customers', 'churn', exclude => ARRAY['phone'], "
                             "hyperparams => '{\"num_boost_round\": 5}')").fetchone()[0]
        conn.execute("SELECT churnml.deploy('churn', %s)", (other,))
        conn.execute("SELECT churnml.deploy('churn', %s)", (model_id,))
        area_code, phone = conn.execute("SELECT area_code, phone FROM customers ORDER BY area_code, phone LIMIT 1"
                                        ).fetchone()
        offer_id = conn.execute("SELECT churnml.log_offer('priv/0', r) FROM churnml.recommend_incentive("
                                "0.9, 'NEGATIVE', 0.95, customer_key => 'priv/0') AS r").fetchone()[0]
    admin = sessions["admin"]
    signature = admin.execute("SELECT churnml.create_model_function('will_churn_typed', 'churn', 'priv_fn')"
                              ).fetchone()[0]
    admin.commit()
    with S3Client(configured) as client:
        client.put_object(BUCKET, "priv/seed.csv", b"one,two\n1,a\n2,b\n")
    return {
        "typed_args": ", ".join(f"c.{quote_ident(f['name'])}" for f in spec["features"]),
        "model_id": str(model_id), "area_code": str(area_code), "phone": phone, "offer_id": str(offer_id),
        "files": str(files_dir), "signature": signature,
    }


def quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def render(statement: str, values: dict[str, str]) -> str:
    return re.sub(r"\{\{(\w+)\}\}", lambda m: values[m.group(1)], statement)


def attempt(conn: psycopg.Connection, statement: str) -> str | None:
    """None when the statement succeeds, else its SQLSTATE; always rolled back."""
    try:
        cursor = conn.execute(statement)
        if cursor.description is not None:
            cursor.fetchall()
    except psycopg.Error as exc:
        return exc.sqlstate or f"? {exc}"
    finally:
        conn.rollback()
    return None


@pytest.mark.parametrize("case", CASES, ids=[c.what for c in CASES])
def test_role_matrix(case: Case, sessions: dict[str, psycopg.Connection], context: dict[str, str]) -> None:
    """Each role gets exactly its part: the allowed roles succeed (or fail past the ACL), the others get 42501."""
    wrong = []
    for role, conn in sessions.items():
        expected = case.sqlstate if role in case.allowed else "42501"
        got = attempt(conn, render(case.statement, {**context, "role": role}))
        if got != expected:
            wrong.append(f"{role}: expected {expected or 'success'}, got {got or 'success'}")
    assert not wrong, f"{case.what}: " + "; ".join(wrong)


def test_matrix_covers_every_role_and_group() -> None:
    """The matrix exercises each group's grants and each role is refused something."""
    assert {role for case in CASES for role in case.allowed} == {"user", "admin", "loader"}
    for role in GROUPS:
        assert any(role not in case.allowed for case in CASES), role


# --------------------------------------------------------------------------- the catalog

MEMBERS = """
    SELECT e.extname, d.classid::pg_catalog.regclass::text AS catalog, d.objid
    FROM pg_catalog.pg_depend AS d JOIN pg_catalog.pg_extension AS e ON e.oid = d.refobjid
    WHERE d.refclassid = 'pg_catalog.pg_extension'::pg_catalog.regclass AND d.deptype = 'e'
      AND e.extname IN ('churnml', 'churnml_aws')"""

FUNCTIONS = f"""
    SELECT m.extname, p.oid::pg_catalog.regprocedure::text, p.prokind::text, p.prosecdef, p.proconfig,
           pg_catalog.obj_description(p.oid, 'pg_proc'),
           EXISTS (SELECT FROM pg_catalog.aclexplode(coalesce(p.proacl, pg_catalog.acldefault('f', p.proowner))) AS a
                   WHERE a.grantee = 0) AS public_execute,
           ARRAY(SELECT DISTINCT a.grantee::pg_catalog.regrole::text
                 FROM pg_catalog.aclexplode(coalesce(p.proacl, pg_catalog.acldefault('f', p.proowner))) AS a
                 WHERE a.grantee <> 0 AND a.grantee <> p.proowner ORDER BY 1) AS grantees
    FROM ({MEMBERS}) AS m JOIN pg_catalog.pg_proc AS p ON p.oid = m.objid
    WHERE m.catalog = 'pg_proc'"""

RELATIONS = f"""
    SELECT m.extname, c.oid, c.oid::pg_catalog.regclass::text, c.relkind::text,
           pg_catalog.obj_description(c.oid, 'pg_class'),
           EXISTS (SELECT FROM pg_catalog.aclexplode(coalesce(c.relacl, pg_catalog.acldefault(
                       CASE WHEN c.relkind = 'S' THEN 's' ELSE 'r' END::"char", c.relowner))) AS a
                   WHERE a.grantee = 0) AS public_any,
           coalesce('security_invoker=true' = ANY (c.reloptions), false) AS invoker
    FROM ({MEMBERS}) AS m JOIN pg_catalog.pg_class AS c ON c.oid = m.objid
    WHERE m.catalog = 'pg_class' AND c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f')"""


def test_every_function_pinned_no_public_no_security_definer_commented(telco: str) -> None:
    with psycopg.connect(telco) as conn:
        functions = conn.execute(FUNCTIONS).fetchall()
    names = {f[1] for f in functions}
    assert {"churnml.will_churn(anyelement,text)", "churnml.train(text,text,text,text[],text[],jsonb,jsonb,jsonb,"
            "text,double precision,double precision,integer,boolean,bigint)",
            'aws_sagemaker.invoke_endpoint(character varying,integer,"any")',
            "aws_comprehend_detect_sentiment(text,text,integer)"} <= names
    assert len(functions) >= 55, "the enumeration lost members"
    problems = []
    for _extension, name, kind, secdef, config, comment, public, grantees in functions:
        if public:
            problems.append(f"{name}: PUBLIC may execute it")
        if config != [PINNED] and not (name in UNPINNED_ALLOWED and config is None):
            problems.append(f"{name}: proconfig is {config}, not [{PINNED!r}]")
        if secdef and name not in SECURITY_DEFINER_ALLOWED:
            problems.append(f"{name}: SECURITY DEFINER")
        if not (comment or "").strip():
            problems.append(f"{name}: no COMMENT")
        if not set(grantees) <= {"churnml_user", "churnml_admin", "churnml_loader"}:
            problems.append(f"{name}: EXECUTE granted to {grantees}")
        assert kind in ("f", "p", "a", "w"), name
    assert not problems, "\n".join(problems)


def test_every_relation_no_public_commented_and_views_leak_nothing(telco: str) -> None:
    """Tables, views and sequences: no PUBLIC privilege, a COMMENT; a view that runs with its owner's
    rights (not security_invoker) only reads relations every role that may read the view may read too."""
    with psycopg.connect(telco) as conn:
        relations = conn.execute(RELATIONS).fetchall()
        kinds = {r[3] for r in relations}
        assert {"r", "v", "S"} <= kinds and len(relations) >= 18
        problems = []
        for _extension, oid, name, kind, comment, public, invoker in relations:
            if public:
                problems.append(f"{name}: PUBLIC has a privilege")
            if not (comment or "").strip():
                problems.append(f"{name} ({kind}): no COMMENT")
            if kind != "v" or invoker:
                continue
            read = [r[0] for r in conn.execute("""
                SELECT DISTINCT d.refobjid::pg_catalog.regclass::text
                FROM pg_catalog.pg_rewrite AS w
                JOIN pg_catalog.pg_depend AS d ON d.classid = 'pg_catalog.pg_rewrite'::pg_catalog.regclass
                     AND d.objid = w.oid AND d.refclassid = 'pg_catalog.pg_class'::pg_catalog.regclass
                WHERE w.ev_class = %s AND d.refobjid <> %s""", (oid, oid))]
            assert read, name
            for group in ("churnml_user", "churnml_admin", "churnml_loader"):
                if not conn.execute("SELECT has_table_privilege(%s, %s::oid, 'SELECT')", (group, oid)).fetchone()[0]:
                    continue
                for relation in read:
                    if not conn.execute("SELECT has_table_privilege(%s, %s, 'SELECT')", (group, relation)
                                        ).fetchone()[0]:
                        problems.append(f"view {name} lets {group} read {relation}, which it may not")
        schemas = conn.execute("""
            SELECT n.nspname FROM pg_catalog.pg_namespace AS n
            WHERE (n.nspname = 'churnml' OR n.oid IN (SELECT objid FROM pg_catalog.pg_depend
                   WHERE classid = 'pg_catalog.pg_namespace'::pg_catalog.regclass AND deptype = 'e'))
              AND EXISTS (SELECT FROM pg_catalog.aclexplode(coalesce(n.nspacl, pg_catalog.acldefault('n', n.nspowner)))
                          AS a WHERE a.grantee = 0)""").fetchall()
        problems += [f"schema {s[0]}: PUBLIC has a privilege" for s in schemas]
    assert not problems, "\n".join(problems)


def test_types_are_commented(telco: str) -> None:
    with psycopg.connect(telco) as conn:
        missing = conn.execute(f"""
            SELECT t.oid::pg_catalog.regtype::text FROM ({MEMBERS}) AS m JOIN pg_catalog.pg_type AS t
            ON t.oid = m.objid WHERE m.catalog = 'pg_type'
            AND coalesce(pg_catalog.obj_description(t.oid, 'pg_type'), '') = ''""").fetchall()
    assert missing == []


def test_functions_made_by_create_model_function_follow_the_rules(telco: str, context: dict[str, str]) -> None:
    with psycopg.connect(telco) as conn:
        row = conn.execute("""
            SELECT p.prosecdef, p.proconfig, p.proowner::pg_catalog.regrole::text,
                   pg_catalog.obj_description(p.oid, 'pg_proc'),
                   has_function_privilege('public', p.oid, 'EXECUTE'),
                   has_function_privilege('churnml_user', p.oid, 'EXECUTE'),
                   has_function_privilege('churnml_loader', p.oid, 'EXECUTE')
            FROM pg_catalog.pg_proc AS p WHERE p.oid = %s::regprocedure""", (context["signature"],)).fetchone()
    secdef, config, owner, comment, public, user, loader = row
    assert not secdef and config == [PINNED]
    assert owner.startswith("cm_priv_admin_")  # made by the admin's own login, as the admin
    assert comment and "create_model_function" in comment
    assert (public, user, loader) == (False, True, False)


def test_typed_functions_made_by_an_admin_score_like_will_churn(telco: str, roles: dict[str, str],
                                                                sessions: dict[str, psycopg.Connection],
                                                                context: dict[str, str]) -> None:
    """PL/Python is untrusted, so a non-superuser admin's typed function is SQL over churnml._score_json:
    the same probabilities as will_churn(row), also past json_build_object's 50 pairs (a 60-feature model)."""
    user, admin = sessions["user"], sessions["admin"]
    try:
        same = user.execute("SELECT count(*), count(*) FILTER (WHERE priv_fn.will_churn_typed("
                            f"{context['typed_args']}) = churnml.will_churn(c)) FROM public.customers AS c").fetchone()
        assert same == (600, 600)
    finally:
        user.rollback()
    columns = [f"f{i}" for i in range(60)]
    with psycopg.connect(telco, autocommit=True) as conn:
        conn.execute(f"CREATE TABLE public.priv_wide AS SELECT i % 2 = 0 AS churn, "
                     f"{', '.join(f'((i * {k + 7}) % 13)::float8 AS {c}' for k, c in enumerate(columns))} "
                     "FROM generate_series(1, 200) AS i")
        conn.execute(sql.SQL("GRANT SELECT ON public.priv_wide TO {}").format(sql.Identifier(roles["user"])))
        conn.execute("SELECT churnml.train('priv_wide', 'public.priv_wide', 'churn', "
                     "hyperparams => '{\"num_boost_round\": 5}', deploy => true)")
    signature = admin.execute("SELECT churnml.create_model_function('will_churn_wide', 'priv_wide', 'priv_fn')"
                              ).fetchone()[0]
    admin.commit()
    with psycopg.connect(telco) as conn:
        language = conn.execute("SELECT l.lanname FROM pg_proc AS p JOIN pg_language AS l ON l.oid = p.prolang "
                                "WHERE p.oid = %s::regprocedure", (signature,)).fetchone()[0]
    assert language == "sql" and signature.count("double precision") == 60 and signature.endswith("double precision)")
    try:
        pairs = user.execute(f"SELECT priv_fn.will_churn_wide({', '.join('w.' + c for c in columns)}), "
                             "churnml.will_churn(w, 'priv_wide') FROM public.priv_wide AS w").fetchall()
    finally:
        user.rollback()
    assert len(pairs) == 200 and all(typed == row for typed, row in pairs)
    assert len({typed for typed, _ in pairs}) > 1


# --------------------------------------------------------------------------- loaders run as the caller


def test_export_needs_select_and_load_needs_insert(telco: str, configured: S3Config, roles: dict[str, str],
                                                  sessions: dict[str, psycopg.Connection]) -> None:
    """export_query / aws_s3.query_export_to_s3 read with the caller's rights, load_from_s3 /
    aws_s3.table_import_from_s3 insert with them: being a loader (or an admin) grants no table access.
    Nothing reaches S3 and no load is recorded when the privilege is missing."""
    with psycopg.connect(telco, autocommit=True) as conn:
        conn.execute("CREATE TABLE public.priv_secret (card text)")
        conn.execute("INSERT INTO public.priv_secret VALUES ('4111-1111-1111-1111')")
        conn.execute("CREATE TABLE public.priv_readonly (one int, two text)")
        conn.execute("CREATE TABLE public.priv_columns (one int, two text)")
        for key in ("loader", "admin"):
            name = sql.Identifier(roles[key])
            conn.execute(sql.SQL("GRANT SELECT ON public.priv_readonly TO {}").format(name))
            conn.execute(sql.SQL("GRANT SELECT (one), INSERT (one) ON public.priv_columns TO {}").format(name))
        history = conn.execute("SELECT count(*) FROM churnml.load_history").fetchone()[0]
    with S3Client(configured) as client:
        client.put_object(BUCKET, "priv/one.csv", b"1\n2\n3\n")
    denied = [
        "SELECT * FROM churnml.export_query('SELECT * FROM public.priv_secret', 's3://churnml/priv/denied/a')",
        "SELECT * FROM aws_s3.query_export_to_s3('SELECT card FROM public.priv_secret', 'churnml', "
        "'priv/denied/b.csv')",
        "SELECT * FROM churnml.export_query('SELECT * FROM public.priv_columns', 's3://churnml/priv/denied/c')",
        "SELECT churnml.load_from_s3('public.priv_readonly', 's3://churnml/priv/seed.csv', header => true)",
        "SELECT aws_s3.table_import_from_s3('public.priv_readonly', '', '(format csv, header true)', 'churnml', "
        "'priv/seed.csv', 'us-east-1')",
        "SELECT churnml.load_from_s3('public.priv_columns', 's3://churnml/priv/seed.csv', header => true)",
    ]
    for key in ("loader", "admin"):
        conn = sessions[key]
        for statement in denied:
            assert attempt(conn, statement) == "42501", (key, statement)
        # what the grants do allow: the granted column, out and in
        assert attempt(conn, "SELECT * FROM churnml.export_query('SELECT one FROM public.priv_columns', "
                             f"'s3://churnml/priv/allowed/{key}', overwrite => true)") is None
        assert attempt(conn, "SELECT churnml.load_from_s3('public.priv_columns', 's3://churnml/priv/one.csv', "
                             "columns => ARRAY['one'])") is None
    with S3Client(configured) as client:
        assert [o.key for o in client.list_objects(BUCKET, "priv/denied/")] == []
    with psycopg.connect(telco) as conn:
        assert conn.execute("SELECT count(*) FROM public.priv_readonly").fetchone()[0] == 0
        assert conn.execute("SELECT count(*) FROM public.priv_columns").fetchone()[0] == 0  # rolled back
        assert conn.execute("SELECT count(*) FROM churnml.load_history").fetchone()[0] == history


def test_roles_are_not_superusers_and_cannot_reach_untrusted_languages(telco: str, roles: dict[str, str],
                                                                       sessions: dict[str, psycopg.Connection]
                                                                       ) -> None:
    """The matrix means something only for ordinary roles; none of them may write PL/Python itself."""
    with psycopg.connect(telco) as conn:
        flags = conn.execute("SELECT rolname, rolsuper, rolcreaterole, rolbypassrls FROM pg_roles "
                             "WHERE rolname = ANY(%s)", (list(roles.values()),)).fetchall()
    assert len(flags) == 4 and not any(f[1] or f[2] or f[3] for f in flags)
    for key, conn in sessions.items():
        sqlstate = attempt(conn, "CREATE FUNCTION pg_temp.py() RETURNS int LANGUAGE plpython3u AS 'return 1'")
        assert sqlstate == "42501", key
        assert attempt(conn, "DO $$ plpy.notice('hi') $$ LANGUAGE plpython3u") == "42501", key


# Arguments that name a server-side credential (a key of "credentials" in $PGDATA/churnml/s3.json): a
# name, never the credential itself, which stays out of SQL.
CREDENTIAL_NAMES = {"churnml.create_storage_location(text,text,text,text,boolean,text,text)"}


def test_credentials_are_never_arguments(telco: str) -> None:
    """No churnml or churnml_aws function takes a credential, except Aurora's credential forms, which
    exist only to refuse (0A000) so that a secret never reaches logs or pg_stat_activity. A storage
    location names its credential; that name is refused (22023) unless it is a plain name."""
    with psycopg.connect(telco, autocommit=True) as conn:
        rows = conn.execute(f"""
            SELECT p.oid::pg_catalog.regprocedure::text,
                   'SELECT ' || p.oid::pg_catalog.regproc::text || '(' || (
                       SELECT string_agg('NULL::' || pg_catalog.format_type(t, NULL), ', ' ORDER BY i)
                       FROM unnest(p.proargtypes::oid[]) WITH ORDINALITY AS u(t, i)) || ')'
            FROM ({MEMBERS}) AS m JOIN pg_catalog.pg_proc AS p ON p.oid = m.objid
            WHERE m.catalog = 'pg_proc' AND EXISTS (
                SELECT FROM unnest(coalesce(p.proargnames, '{{}}')) AS a(name)
                WHERE a.name ~* '(secret|password|passwd|access_key|token|credential)')""").fetchall()
        for signature, call in rows:
            if signature in CREDENTIAL_NAMES:
                with pytest.raises(psycopg.Error) as info:
                    conn.execute("SELECT churnml.create_storage_location('leak', 's3://churnml/leak/', "
                                 "'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY')")
                assert info.value.sqlstate == "22023" and "wJalr" not in str(info.value), signature
                continue
            with pytest.raises(psycopg.Error) as info:
                conn.execute(call)
            assert info.value.sqlstate == "0A000", signature
            assert "credentials" in info.value.diag.message_primary
    assert {r[0] for r in rows} == CREDENTIAL_NAMES | {
        "aws_commons.create_aws_credentials(text,text,text)",
        "aws_s3.table_import_from_s3(text,text,text,aws_commons._s3_uri_1,aws_commons._aws_credentials_1)",
        "aws_s3.table_import_from_s3(text,text,text,text,text,text,text,text,text)",
    }


def test_world_readable_s3_config_is_refused(telco: str, server_url: str, configured: S3Config,
                                             sessions: dict[str, psycopg.Connection]) -> None:
    """$PGDATA/churnml/s3.json holds the secret key: a file every OS user may read is refused (42501)."""
    with psycopg.connect(server_url) as conn:
        path = Path(conn.execute("SHOW data_directory").fetchone()[0]) / "churnml" / "s3.json"
    if not os.access(path, os.W_OK):
        pytest.skip(f"cannot change the mode of {path}")
    mode = path.stat().st_mode & 0o777
    assert mode & 0o077 == 0, oct(mode)  # as write_file leaves it: the server's OS user only
    path.chmod(0o644)
    try:
        loader = sessions["loader"]
        try:
            with pytest.raises(psycopg.Error) as info:
                loader.execute("SELECT * FROM churnml.export_query('SELECT 1 AS one', 's3://churnml/priv/mode')")
        finally:
            loader.rollback()
        assert info.value.sqlstate == "42501" and "chmod 600" in (info.value.diag.message_hint or "")
    finally:
        path.chmod(mode)


def test_the_secret_key_never_reaches_the_server_log(embedded_server: EmbeddedServer, configured: S3Config,
                                                     sessions: dict[str, psycopg.Connection]) -> None:
    """After every statement above — refusals, S3 errors and loads included — the server log holds neither
    the secret key nor the session token (no function takes them, and errors never print them)."""
    loader = sessions["loader"]
    try:  # one more failure that talks to S3: a missing object
        assert attempt(loader, "SELECT churnml.load_from_s3('public.priv_landing', 's3://churnml/priv/none.csv')")
    finally:
        loader.rollback()
    log = embedded_server.logfile.read_text(encoding="utf-8", errors="replace")
    assert "priv/none.csv" in log  # the log is the one this server writes
    for secret in configured.secrets():
        assert len(secret) >= 8 and secret not in log

