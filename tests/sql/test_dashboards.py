"""churnml.customer_risk (the dashboard view) and assess_customer_text, against the real server."""

from __future__ import annotations

import uuid
from collections.abc import Callable

import psycopg
import pytest

from churnml.scoring.risk import risk_band, top_positive

COLUMNS = ["customer_key", "will_churn", "churn_flag", "risk_band", "threshold", "top_reason",
           "top_reason_contribution", "sentiment", "confidence", "sentiment_at", "model", "model_id"]


@pytest.fixture(scope="module")
def telco(make_telco: Callable[..., str]) -> str:
    return make_telco("dash", 2000, 7)


def test_risk_band_rule() -> None:
    assert [risk_band(p, 0.4) for p in (0.0, 0.2, 0.2000001, 0.4, 0.41, 1.0)] == \
        ["low", "low", "medium", "medium", "high", "high"]
    assert risk_band(None, 0.4) is None and risk_band(float("nan"), 0.4) is None
    assert risk_band(0.0, 0.0) == "low" and risk_band(1e-9, 0.0) == "high"
    assert top_positive([("a", -0.9), ("b", 0.5), ("c", 0.7)]) == ("b", 0.5)  # input is sorted by |value|
    assert top_positive([("a", -0.9), ("b", 0.0)]) == (None, None)


def test_columns_and_one_row_per_customer(telco: str) -> None:
    with psycopg.connect(telco, autocommit=True) as conn:
        cur = conn.execute("SELECT * FROM churnml.customer_risk")
        rows = cur.fetchall()
        assert [d.name for d in cur.description] == COLUMNS
        customers = conn.execute("SELECT area_code || '/' || phone FROM customers").fetchall()
        deployed = conn.execute("SELECT model_id, threshold FROM churnml.current_deployments "
                                "WHERE name = 'churn'").fetchone()
    assert sorted(r[0] for r in rows) == sorted(c[0] for c in customers)
    for row in rows:
        r = dict(zip(COLUMNS, row, strict=True))
        assert (r["model"], r["model_id"], r["threshold"]) == ("churn", *deployed)
        assert r["risk_band"] == risk_band(r["will_churn"], r["threshold"])
        assert r["churn_flag"] == (r["will_churn"] > r["threshold"])
        assert (r["top_reason"] is None) == (r["top_reason_contribution"] is None)
        assert r["top_reason_contribution"] is None or r["top_reason_contribution"] > 0
    assert {r[3] for r in rows} == {"low", "medium", "high"}


def test_values_equal_will_churn_and_explain_churn(telco: str) -> None:
    with psycopg.connect(telco, autocommit=True) as conn:
        # the riskiest and an arbitrary slice of the rest
        rows = conn.execute("""
            WITH r AS (SELECT * FROM churnml.customer_risk)
            SELECT r.customer_key, r.will_churn, r.top_reason, r.top_reason_contribution,
                   churnml.will_churn(c), churnml.churn_flag(churnml.will_churn(c)) = r.churn_flag,
                   (SELECT array_agg(e.feature ORDER BY ord) FROM churnml.explain_churn(c, 100)
                        WITH ORDINALITY AS e(feature, value, contribution, ord)),
                   (SELECT array_agg(e.contribution ORDER BY ord) FROM churnml.explain_churn(c, 100)
                        WITH ORDINALITY AS e(feature, value, contribution, ord))
            FROM r JOIN customers AS c ON r.customer_key = c.area_code || '/' || c.phone
            WHERE r.customer_key IN (SELECT customer_key FROM r ORDER BY will_churn DESC LIMIT 40)
               OR c.phone LIKE '%7'
            """).fetchall()
    assert len(rows) > 150
    for key, probability, reason, contribution, single, same_flag, features, contributions in rows:
        assert probability == single, key  # bit-identical: same encoding, same trees
        assert same_flag, key
        expected = top_positive(list(zip(features, contributions, strict=True)))
        assert reason == expected[0], key
        assert contribution == expected[1], key


def test_latest_sentiment_follows_assess_customer(telco: str) -> None:
    query = ("SELECT sentiment, confidence, sentiment_at FROM churnml.customer_risk WHERE customer_key = %s")
    with psycopg.connect(telco, autocommit=True) as conn:
        called, never = conn.execute("SELECT area_code, phone FROM customers ORDER BY phone LIMIT 2").fetchall()
        called_key, never_key = (f"{a}/{p}" for a, p in (called, never))
        assert conn.execute(query, (called_key,)).fetchone() == (None, None, None)
        angry = conn.execute("SELECT sentiment, confidence, offer_id FROM churnml.assess_customer(%s, %s, %s, "
                             "log_offer => true)",
                             (*called, "You morons! You charged me extra again!")).fetchone()
        assert angry[0] == "NEGATIVE"
        at = conn.execute("SELECT offered_at FROM churnml.offer_log WHERE id = %s", (angry[2],)).fetchone()[0]
        assert conn.execute(query, (called_key,)).fetchone() == ("NEGATIVE", angry[1], at)
        happy = conn.execute("SELECT sentiment, confidence, offer_id FROM churnml.assess_customer(%s, %s, %s, "
                             "log_offer => true)",
                             (*called, "Thank you very much for resolving the issues with my account")).fetchone()
        assert happy[0] == "POSITIVE"
        at = conn.execute("SELECT offered_at FROM churnml.offer_log WHERE id = %s", (happy[2],)).fetchone()[0]
        assert conn.execute(query, (called_key,)).fetchone() == ("POSITIVE", happy[1], at)
        # an unlogged call changes nothing; the other customer was never called
        conn.execute("SELECT * FROM churnml.assess_customer(%s, %s, 'You morons!', log_offer => false)", called)
        assert conn.execute(query, (called_key,)).fetchone()[0] == "POSITIVE"
        assert conn.execute(query, (never_key,)).fetchone() == (None, None, None)
        assert conn.execute("SELECT count(*) FROM churnml.customer_risk WHERE sentiment IS NOT NULL"
                            ).fetchone()[0] == conn.execute(
            "SELECT count(DISTINCT customer_key) FROM churnml.offer_log WHERE sentiment IS NOT NULL").fetchone()[0]


def test_threshold_change_shows_at_once(telco: str) -> None:
    with psycopg.connect(telco, autocommit=True) as conn:
        old = conn.execute("SELECT threshold FROM churnml.current_deployments WHERE name = 'churn'").fetchone()[0]
        try:
            conn.execute("SELECT * FROM churnml.set_threshold('churn', 0.9)")
            bands = conn.execute("SELECT risk_band, count(*), min(will_churn), max(will_churn) "
                                 "FROM churnml.customer_risk GROUP BY 1").fetchall()
            by_band = {b: (n, lo, hi) for b, n, lo, hi in bands}
            assert by_band["low"][2] <= 0.45 < by_band["medium"][1] <= by_band["medium"][2] <= 0.9
            assert "high" not in by_band or by_band["high"][1] > 0.9
        finally:
            conn.execute("SELECT * FROM churnml.set_threshold('churn', %s)", (old,))


def test_configured_table_and_errors(telco: str) -> None:
    with psycopg.connect(telco, autocommit=True) as conn:
        conn.execute("CREATE SCHEMA dash_crm")
        conn.execute("CREATE TABLE dash_crm.\"Clients\" AS SELECT area_code AS region, phone AS line, c.* "
                     "FROM customers c WHERE phone < '4'")
        try:
            conn.execute("INSERT INTO churnml.call_center_settings (customer_table, key_columns) "
                         "VALUES ('dash_crm.\"Clients\"', '{region,line}')")
            n, keys = conn.execute("SELECT count(*), count(DISTINCT customer_key) FROM churnml.customer_risk"
                                   ).fetchone()
            assert n == keys == conn.execute("SELECT count(*) FROM dash_crm.\"Clients\"").fetchone()[0]
            conn.execute("UPDATE churnml.call_center_settings SET customer_table = 'dash_crm.missing'")
            with pytest.raises(psycopg.Error) as info:
                conn.execute("SELECT * FROM churnml.customer_risk")
            assert info.value.diag.sqlstate == "42P01"
            assert info.value.diag.message_primary == ('churnml: customer_table "dash_crm.missing" of '
                                                       'churnml.call_center_settings does not exist')
            conn.execute("UPDATE churnml.call_center_settings SET customer_table = 'dash_crm.\"Clients\"', "
                         "key_columns = '{region,nope}'")
            with pytest.raises(psycopg.Error) as info:
                conn.execute("SELECT * FROM churnml.customer_risk")
            assert info.value.diag.sqlstate == "42703"
            assert info.value.diag.message_primary == ('churnml: customer_table "dash_crm.\"Clients\"" has no '
                                                       'column "nope" (key_columns of churnml.call_center_settings)')
            conn.execute("UPDATE churnml.call_center_settings SET customer_table = 'pg_catalog.pg_class', "
                         "key_columns = '{oid,relname}'")
            with pytest.raises(psycopg.Error) as info:  # a table without the model's features
                conn.execute("SELECT * FROM churnml.customer_risk")
            assert info.value.diag.sqlstate == "42703" and info.value.diag.message_hint
        finally:
            conn.execute("DELETE FROM churnml.call_center_settings")
            conn.execute("DROP SCHEMA dash_crm CASCADE")


def test_privileges(telco: str) -> None:
    suffix = uuid.uuid4().hex[:8]
    plain, user = f"dash_plain_{suffix}", f"dash_user_{suffix}"
    with psycopg.connect(telco, autocommit=True) as conn:
        conn.execute(f"CREATE ROLE {plain} NOLOGIN")
        conn.execute(f"CREATE ROLE {user} NOLOGIN IN ROLE churnml_user")
        conn.execute(f"GRANT SELECT ON customers TO {plain}")
        try:
            conn.execute(f"SET ROLE {plain}")
            for statement in ("SELECT * FROM churnml.customer_risk",
                              "SELECT * FROM churnml._customer_risk_batches()",
                              "SELECT * FROM churnml.assess_customer_text(408, '375-9999', 'hi', false)"):
                with pytest.raises(psycopg.Error) as info:
                    conn.execute(statement)
                assert info.value.diag.sqlstate == "42501", statement
            conn.execute(f"SET ROLE {user}")
            with pytest.raises(psycopg.Error) as info:  # the customer table is read with the caller's rights
                conn.execute("SELECT * FROM churnml.customer_risk")
            assert info.value.diag.sqlstate == "42501"
            conn.execute("RESET ROLE")
            conn.execute(f"GRANT SELECT ON customers TO {user}")
            conn.execute(f"SET ROLE {user}")
            assert conn.execute("SELECT count(*) FROM churnml.customer_risk").fetchone()[0] == 2000
        finally:
            conn.execute("RESET ROLE")
            for role in (plain, user):
                conn.execute(f"DROP OWNED BY {role}")
                conn.execute(f"DROP ROLE {role}")


def test_assess_customer_text_equals_assess_customer(telco: str) -> None:
    columns = ("customer_key, customer::text, will_churn, churn_flag, sentiment, confidence, offer, offer_value, "
               "reason, rule_name, arm, experiment, top_reasons, model_id, offer_id")
    with psycopg.connect(telco, autocommit=True) as conn:
        args = (408, "375-9999", "You morons! You charged me extra again!")
        text = conn.execute("SELECT * FROM churnml.assess_customer_text(%s, %s, %s, log_offer => false)",
                            args).fetchone()
        plain = conn.execute(f"SELECT {columns} FROM churnml.assess_customer(%s, %s, %s, log_offer => false)",
                             args).fetchone()
        kind = conn.execute("SELECT pg_typeof(customer)::text FROM churnml.assess_customer_text(%s, %s, %s, "
                            "log_offer => false)", args).fetchone()[0]
        with pytest.raises(psycopg.Error) as info:
            conn.execute("SELECT * FROM churnml.assess_customer_text(999, '000-0000', 'hello')")
    assert text == plain
    assert text[14] is None  # not logged
    assert kind == "text"
    assert info.value.diag.sqlstate == "P0002"


def test_explanations_and_sentiment_are_computed_only_when_read(telco: str) -> None:
    """A tile that reads neither pays for neither: PostgreSQL drops the unused subquery column, so the plan
    never calls _risk_explanations, and has no offer-log lookup."""
    with psycopg.connect(telco, autocommit=True) as conn:
        def plan(query: str) -> str:
            return "\n".join(r[0] for r in conn.execute(f"EXPLAIN (VERBOSE, COSTS OFF) {query}"))

        tile = plan("SELECT risk_band, count(*) FROM churnml.customer_risk GROUP BY 1")
        assert "_risk_explanations" not in tile and "offer_log" not in tile and "JIT" not in tile, tile
        reasons = plan("SELECT top_reason, count(*) FROM churnml.customer_risk GROUP BY 1")
        assert "_risk_explanations" in reasons and "offer_log" not in reasons, reasons
        sentiment = plan("SELECT sentiment, count(*) FROM churnml.customer_risk GROUP BY 1")
        assert "_risk_explanations" not in sentiment and "offer_log" in sentiment, sentiment
        # and what the tile counts is what the full view has
        tile_rows = dict(conn.execute("SELECT risk_band, count(*) FROM churnml.customer_risk GROUP BY 1").fetchall())
        full = dict(conn.execute("SELECT risk_band, count(*) FROM (SELECT * FROM churnml.customer_risk "
                                 "WHERE top_reason IS NOT NULL OR top_reason IS NULL) AS r GROUP BY 1").fetchall())
        assert tile_rows == full and sum(tile_rows.values()) > 0
