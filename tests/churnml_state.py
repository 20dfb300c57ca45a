"""A database holding every kind of state churnml keeps, and how to compare two of them:
for the tests that show state survives pg_dump/pg_restore and ALTER EXTENSION UPDATE."""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg import sql

SCORES = "SELECT area_code, phone, churnml.will_churn(c) FROM customers c ORDER BY area_code, phone"


def typed_scores(conn: psycopg.Connection) -> list[tuple[Any, ...]]:
    """Scores through the typed function create_model_function made, its arguments taken by name."""
    names = conn.execute("SELECT proargnames FROM pg_proc WHERE oid = 'public.will_churn_typed'::regproc"
                         ).fetchone()[0]
    args = sql.SQL(", ").join(sql.Identifier(n) for n in names if n != "_statement")
    return conn.execute(sql.SQL("SELECT area_code, phone, public.will_churn_typed({}) FROM customers "
                                "ORDER BY area_code, phone").format(args)).fetchall()


def populate(url: str, customers: int = 800) -> None:
    """Customers, two models (one deployed, with a rollback in the history and a threshold), a typed
    function, an experiment with a rule, an edited built-in rule, a custom rule input, changed
    settings, offers with outcomes, and churnml_aws."""
    from churnml_client import datagen

    with psycopg.connect(url) as conn:
        datagen.load(conn, customers, 11, progress=False)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("SELECT churnml.train('churn', 'customers', 'churn', exclude => ARRAY['phone'], deploy => true)")
        second = conn.execute("SELECT churnml.train('churn', 'customers', 'churn', exclude => ARRAY['phone'], "
                              "hyperparams => '{\"max_depth\": 3}', seed => 5)").fetchone()[0]
        conn.execute("SELECT churnml.deploy('churn', %s, threshold => 0.35)", (second,))
        conn.execute("SELECT churnml.rollback('churn')")
        conn.execute("SELECT churnml.create_model_function('will_churn_typed', model => 'churn')")
        conn.execute("INSERT INTO churnml.experiments (name, seed, control_arm) VALUES ('upgrade_exp', 's1', 'a')")
        conn.execute("INSERT INTO churnml.incentive_rules (priority, name, condition, offer, offer_value, arms, "
                     "experiment, reason) VALUES (5, 'angry_regulars', 'will_churn > 0.0 AND cust_service_calls > 3', "
                     "'call_back', 10, '[{\"arm\": \"a\", \"offer\": \"call back\", \"offer_value\": 0, "
                     "\"weight\": 1}, "
                     "{\"arm\": \"b\", \"offer\": \"$10 credit\", \"offer_value\": 10, \"weight\": 1}]', "
                     "'upgrade_exp', 'many service calls')")
        conn.execute("UPDATE churnml.incentive_rules SET offer_value = offer_value + 1 WHERE builtin AND priority = "
                     "(SELECT min(priority) FROM churnml.incentive_rules WHERE builtin)")
        conn.execute("UPDATE churnml.call_center_settings SET top_reasons = 4")
        conn.execute("INSERT INTO churnml.incentive_inputs (name, type, description) "
                     "VALUES ('tenure_years', 'numeric', 'years as a customer')")
        offers = conn.execute("SELECT a.offer_id FROM customers c, churnml.assess_customer(c.area_code, c.phone, "
                              "'You charged me twice!', log_offer => true, engine => 'lexicon') a "
                              "ORDER BY c.area_code, c.phone LIMIT 20"
                              ).fetchall()
        for (offer_id,) in offers[:10]:
            if offer_id is not None:
                conn.execute("SELECT churnml.record_outcome(%s, 'retained')", (offer_id,))
        conn.execute("CREATE EXTENSION churnml_aws")


# Tables whose rows must be kept, compared whole (text form, ordered). Built-in rule inputs
# are re-created by CREATE EXTENSION (pg_dump keeps only the user's), so their time is not kept.
KEPT_TABLES = {
    # churnml.models without the columns 0.3.0 moved to churnml.model_artifacts (checked there, and by the scores)
    "models": "(t.id, t.name, t.kind, t.algorithm, t.artifact_format, t.artifact_sha256, t.feature_spec, t.params, "
              "t.metrics, t.training, t.parent_id, t.created_by, t.created_at)::text",
    # deployments: 0.2.0's columns (0.3.0 adds cutoff_source and restores, NULL for the rows before it)
    "deployments": "(id, name, model_id, threshold, strategy, metrics, deployed_by, deployed_at)::text",
    "incentive_rules": "t::text", "experiments": "t::text",
    "incentive_inputs": "(name, type, description, builtin, CASE WHEN NOT builtin THEN created_at END)::text",
    "offer_log": "t::text", "offer_outcomes": "t::text", "call_center_settings": "t::text",
    "load_history": "t::text",
}


def kept_rows(conn: psycopg.Connection) -> dict[str, list[str]]:
    return {table: [r[0] for r in conn.execute(
        sql.SQL("SELECT {} AS r FROM churnml.{} t ORDER BY r").format(sql.SQL(expr), sql.Identifier(table))
    ).fetchall()] for table, expr in KEPT_TABLES.items()}
