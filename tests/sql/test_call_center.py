"""assess_customer: the one-call call-center answer, its offer log, and hostile messages."""

from __future__ import annotations

from collections.abc import Callable

import psycopg
import pytest

HOSTILE = [
    "'; DROP TABLE customers; --",
    "$$; SELECT pg_sleep(10); $$",
    "Robert'); DELETE FROM churnml.offer_log; --",
    "back\\slash \\' and \"quotes\" ; semicolons;",
    "$churnml$ $body$ E'\\x00' ::regclass",
]


@pytest.fixture(scope="module")
def telco(make_telco: Callable[..., str]) -> str:
    return make_telco("callcenter", 3000, 6)


def test_walkthrough_calls(telco: str) -> None:
    calls = [(408, "375-9999", "You morons! You charged me extra again!"),
             (415, "358-1921", "How do I dial Morocco?"),
             (415, "329-6603", "Thank you very much for resolving the issues with my account")]
    with psycopg.connect(telco, autocommit=True) as conn:
        answers = [conn.execute(
            "SELECT customer_key, customer->>'state', will_churn, sentiment, confidence, offer, reason, rule_name, "
            "top_reasons, offer_id, model_id FROM churnml.assess_customer(%s, %s, %s, log_offer => true)",
            call).fetchone()
            for call in calls]
        logged = conn.execute("SELECT customer_key, sentiment, offer, model_id FROM churnml.offer_log "
                              "WHERE id = ANY(%s) ORDER BY id", ([a[9] for a in answers],)).fetchall()
    angry, morocco, thanks = answers
    assert angry[3] == "NEGATIVE" and angry[2] > thanks[2]  # a high-risk profile against a happy one
    assert morocco[3] == "NEUTRAL"
    assert thanks[3] == "POSITIVE" and thanks[5] == "no incentive"
    for answer in answers:
        assert answer[6] and answer[7] and answer[8]  # reason, rule and top reasons
    assert [(r[0], r[1], r[2]) for r in logged] == [(a[0], a[3], a[5]) for a in answers]
    assert all(r[3] == answers[0][10] for r in logged)


def test_messages_are_data_never_sql(telco: str) -> None:
    with psycopg.connect(telco, autocommit=True) as conn:
        before = conn.execute("SELECT count(*) FROM customers").fetchone()[0]
        for message in HOSTILE:
            row = conn.execute("SELECT sentiment, offer FROM churnml.assess_customer(415, '358-1921', %s, "
                               "log_offer => true)", (message,)).fetchone()
            assert row[0] in ("POSITIVE", "NEGATIVE", "NEUTRAL", "MIXED")
            logged = conn.execute("SELECT inputs FROM churnml.offer_log ORDER BY id DESC LIMIT 1").fetchone()[0]
            assert logged is not None
        assert conn.execute("SELECT count(*) FROM customers").fetchone()[0] == before
        assert conn.execute("SELECT to_regclass('public.customers') IS NOT NULL").fetchone()[0]


def test_options_unknown_customer_and_settings(telco: str) -> None:
    with psycopg.connect(telco, autocommit=True) as conn:
        count = conn.execute("SELECT count(*) FROM churnml.offer_log").fetchone()[0]
        row = conn.execute("SELECT sentiment, offer_id FROM churnml.assess_customer(415, '358-1921', NULL, "
                           "log_offer => false)").fetchone()
        assert row[1] is None and row[0] is not None  # latest stored message used, nothing logged
        assert conn.execute("SELECT count(*) FROM churnml.offer_log").fetchone()[0] == count
        # the default reads only (a BI refresh, a repeated look-up): no offer id, nothing logged
        for log_offer in ("", ", log_offer => NULL"):
            row = conn.execute("SELECT offer, offer_id FROM churnml.assess_customer(415, '358-1921', 'Hi'"
                               f"{log_offer})").fetchone()
            assert row[0] is not None and row[1] is None, log_offer
        row = conn.execute("SELECT offer_id FROM churnml.assess_customer_text(415, '358-1921', 'Hi')").fetchone()
        assert row[0] is None
        assert conn.execute("SELECT count(*) FROM churnml.offer_log").fetchone()[0] == count
        logged = conn.execute("SELECT offer_id FROM churnml.assess_customer(415, '358-1921', 'Hi', "
                              "log_offer => true)").fetchone()[0]
        assert conn.execute("SELECT count(*) FROM churnml.offer_log WHERE id = %s", (logged,)).fetchone()[0] == 1
        with pytest.raises(psycopg.Error) as info:
            conn.execute("SELECT * FROM churnml.assess_customer(999, '000-0000', 'hello')")
        assert info.value.diag.sqlstate == "P0002" and "not found" in info.value.diag.message_primary
        # the tables are configurable: a copy of the customers under other names
        conn.execute("CREATE SCHEMA crm")
        conn.execute("CREATE TABLE crm.clients AS SELECT area_code AS region, phone AS line, c.* "
                     "FROM customers c")
        conn.execute("INSERT INTO churnml.call_center_settings (customer_table, key_columns, message_table) "
                     "VALUES ('crm.clients', '{region,line}', 'crm.none')")
        try:
            row = conn.execute("SELECT customer_key, sentiment FROM churnml.assess_customer(408, '375-9999')"
                               ).fetchone()
            assert row == ("408/375-9999", None)  # no message store: sentiment unknown, still answered
        finally:
            conn.execute("DELETE FROM churnml.call_center_settings")  # back to the defaults


# The reviewer's reproductions: a wrong setting was 42704 (not 42P01), 42602 "invalid name syntax" without
# the setting, or silently no sentiment. Now each is an error naming the setting, from assess_customer and
# (for the customer table) customer_risk alike, checked before any lookup.
SETTINGS_ERRORS = [
    ("customer_table = 'nosuch'", "42P01",
     'customer_table "nosuch" of churnml.call_center_settings does not exist', True),
    ("customer_table = 'crm2.nosuch'", "42P01",
     'customer_table "crm2.nosuch" of churnml.call_center_settings does not exist', True),
    ("customer_table = 'no such table'", "42602",
     'customer_table "no such table" of churnml.call_center_settings is not a valid table name', True),
    ("customer_table = 'churnml.offer_log_id_seq'", "42809",
     'customer_table "churnml.offer_log_id_seq" of churnml.call_center_settings is a sequence, not a table or view',
     True),
    ("key_columns = '{area_code,fone}'", "42703",
     'customer_table "public.customers" has no column "fone" (key_columns of churnml.call_center_settings)', True),
    ("message_column = 'msg'", "42703",
     'message_table "public.customer_message" has no column "msg" (message_column of churnml.call_center_settings)',
     False),
    ("time_column = 'sent_at'", "42703",
     'message_table "public.customer_message" has no column "sent_at" (time_column of churnml.call_center_settings)',
     False),
    ("message_table = 'no such table'", "42602",
     'message_table "no such table" of churnml.call_center_settings is not a valid table name', False),
    ("message_table = 'churnml.offer_log_id_seq'", "42809",
     'message_table "churnml.offer_log_id_seq" of churnml.call_center_settings is a sequence, not a table or view',
     False),
]


@pytest.mark.parametrize(("setting", "sqlstate", "message", "dashboard_too"), SETTINGS_ERRORS)
def test_wrong_settings_are_errors_naming_the_setting(telco: str, setting: str, sqlstate: str, message: str,
                                                      dashboard_too: bool) -> None:
    with psycopg.connect(telco, autocommit=True) as conn:
        conn.execute("INSERT INTO churnml.call_center_settings DEFAULT VALUES")
        count = conn.execute("SELECT count(*) FROM churnml.offer_log").fetchone()[0]
        try:
            conn.execute(f"UPDATE churnml.call_center_settings SET {setting}")
            calls = ["SELECT * FROM churnml.assess_customer(408, '375-9999')"]  # reads the latest message
            if dashboard_too:
                calls += ["SELECT * FROM churnml.assess_customer(408, '375-9999', 'You charged me twice!')",
                          "SELECT count(*) FROM churnml.customer_risk"]
            else:  # the message table is read only when no message is given
                assert conn.execute("SELECT sentiment FROM churnml.assess_customer(408, '375-9999', 'You charged me "
                                    "twice!', log_offer => false)").fetchone()[0] == "NEGATIVE"
            for call in calls:
                with pytest.raises(psycopg.Error) as info:
                    conn.execute(call)
                diag = info.value.diag
                assert (diag.sqlstate, diag.message_primary) == (sqlstate, f"churnml: {message}"), call
                assert "churnml.call_center_settings" in diag.message_hint
            assert conn.execute("SELECT count(*) FROM churnml.offer_log").fetchone()[0] == count  # nothing logged
        finally:
            conn.execute("DELETE FROM churnml.call_center_settings")


def test_a_message_table_that_does_not_exist_still_means_no_sentiment(telco: str) -> None:
    """Documented: without a message store, assess_customer answers with sentiment NULL (as a churnml_user)."""
    with psycopg.connect(telco, autocommit=True) as conn:
        conn.execute("INSERT INTO churnml.call_center_settings (message_table) VALUES ('public.no_messages')")
        conn.execute("DROP ROLE IF EXISTS cc_user")
        conn.execute("CREATE ROLE cc_user IN ROLE churnml_user")
        conn.execute("GRANT SELECT ON customers TO cc_user")
        try:
            conn.execute("SET ROLE cc_user")
            row = conn.execute("SELECT sentiment, will_churn IS NOT NULL FROM churnml.assess_customer(408, '375-9999', "
                               "log_offer => false)").fetchone()
            assert row == (None, True)
        finally:
            conn.execute("RESET ROLE")
            conn.execute("DELETE FROM churnml.call_center_settings")
            conn.execute("DROP OWNED BY cc_user")
            conn.execute("DROP ROLE cc_user")
