"""Incentive rules, recommend_incentive, experiments, the offer log and rule-set costs
against the real server."""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterator
from decimal import Decimal
from urllib.parse import urlsplit

import psycopg
import pytest
from psycopg import sql

from tests.conftest import dump_and_restore
from tests.sql.stop_requests import ASK_AFTER, run_until_asked

EXPERIMENT = "negative_medium_risk_credit"
SEED = "churnml-walkthrough-rule-4"


@pytest.fixture(scope="module")
def db(make_database: Callable[..., str]) -> str:
    return make_database("incentives")


@pytest.fixture
def conn(db: str) -> Iterator[psycopg.Connection]:
    with psycopg.connect(db, autocommit=True) as connection:
        yield connection


@pytest.fixture(scope="module")
def roles(db: str) -> Callable[[str], str]:
    """Login roles cm_inc_user (churnml_user), cm_inc_admin (churnml_admin) and cm_inc_none (no churnml
    role); returns role -> URL."""
    with psycopg.connect(db, autocommit=True) as conn:
        for role, member in (("cm_inc_user", "churnml_user"), ("cm_inc_admin", "churnml_admin"),
                             ("cm_inc_none", None)):
            if conn.execute("SELECT FROM pg_roles WHERE rolname = %s", (role,)).fetchone():
                conn.execute(sql.SQL("DROP OWNED BY {}").format(sql.Identifier(role)))
            conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(role)))
            conn.execute(sql.SQL("CREATE ROLE {} LOGIN PASSWORD 'pw'").format(sql.Identifier(role)))
            if member:
                conn.execute(sql.SQL("GRANT {} TO {}").format(sql.Identifier(member), sql.Identifier(role)))
    parts = urlsplit(db)

    def as_role(role: str) -> str:
        return parts._replace(netloc=f"{role}:pw@{parts.hostname}:{parts.port}").geturl()

    return as_role


def recommend(conn: psycopg.Connection, will_churn: float | None, sentiment: str | None, confidence: float | None,
              customer: dict | None = None, key: str | None = None, rule_set: str = "default",
              as_of: str | None = None) -> dict:
    cur = conn.execute(
        "SELECT * FROM churnml.recommend_incentive(%s, %s, %s, %s::jsonb, customer_key => %s, rule_set => %s, "
        "as_of => coalesce(%s::timestamptz, now()))",
        (will_churn, sentiment, confidence, json.dumps(customer or {}), key, rule_set, as_of))
    names = [d.name for d in cur.description]
    return dict(zip(names, cur.fetchone(), strict=True))


# The walkthrough's table, one input per row (and the edges between rows).
WALKTHROUGH = [
    # will_churn, sentiment, confidence, customer, offer, rule, reason
    (0.30, "POSITIVE", 0.9, {}, "no incentive", "positive_low_risk",
     "Sentiment POSITIVE and will_churn<0.5: no incentive"),
    (0.50, "POSITIVE", 0.9, {}, "$5 credit", "positive_at_risk", "Sentiment POSITIVE and will_churn>=0.5: $5 credit"),
    (0.85, "NEGATIVE", 0.9, {}, "$25 credit", "negative_high_risk",
     "Sentiment NEGATIVE and will_churn>0.8: $25 credit"),
    (0.40, "NEGATIVE", 0.9, {}, "no incentive", "negative_low_risk",
     "Sentiment NEGATIVE and will_churn<=0.4: no incentive"),
    (0.90, "NEUTRAL", 0.9, {"cust_service_calls": 3, "int_plan": "yes"}, "1000 free international minutes",
     "service_calls_international",
     "Customer service calls>2 and an international plan: 1000 free international minutes"),
    (0.90, "NEUTRAL", 0.9, {"cust_service_calls": 2, "int_plan": "yes"}, "no incentive", "no_incentive",
     "No rule applies: no incentive"),
    (0.90, "NEUTRAL", 0.9, {"cust_service_calls": 5, "int_plan": "no"}, "no incentive", "no_incentive",
     "No rule applies: no incentive"),
    # low confidence falls through the sentiment rules, as in the walkthrough's if/elif chain
    (0.90, "NEGATIVE", 0.6, {"cust_service_calls": 4, "int_plan": "yes"}, "1000 free international minutes",
     "service_calls_international",
     "Customer service calls>2 and an international plan: 1000 free international minutes"),
    (0.20, "POSITIVE", 0.5, {}, "no incentive", "no_incentive", "No rule applies: no incentive"),
    # sentiment labels are compared upper-cased
    (0.85, "negative", 0.9, {}, "$25 credit", "negative_high_risk",
     "Sentiment NEGATIVE and will_churn>0.8: $25 credit"),
]


@pytest.mark.parametrize(("will_churn", "sentiment", "confidence", "customer", "offer", "rule", "reason"),
                         WALKTHROUGH)
def test_default_rules_reproduce_the_walkthrough(conn: psycopg.Connection, will_churn: float, sentiment: str,
                                                 confidence: float, customer: dict, offer: str, rule: str,
                                                 reason: str) -> None:
    got = recommend(conn, will_churn, sentiment, confidence, customer)
    assert (got["offer"], got["rule_name"], got["reason"]) == (offer, rule, reason)
    assert got["arm"] is None and got["experiment"] is None and got["rule_set"] == "default"
    assert got["inputs"]["will_churn"] == will_churn and got["inputs"]["sentiment"] == sentiment.upper()


def test_the_walkthrough_experiment_is_recorded_and_reproducible(conn: psycopg.Connection, db: str) -> None:
    a = recommend(conn, 0.6, "NEGATIVE", 0.9, key="415/358-1921")
    assert a["rule_name"] == "negative_medium_risk" and a["experiment"] == EXPERIMENT
    assert (a["arm"], a["offer"], a["offer_value"]) in (("A", "$15 credit", 15), ("B", "$5 credit", 5))
    assert a["reason"] == (f"Sentiment NEGATIVE and will_churn>0.4: {a['offer']} "
                           f"(experiment {EXPERIMENT}, arm {a['arm']})")
    # the same key gets the same arm, in this session and in another one
    assert recommend(conn, 0.7, "NEGATIVE", 0.95, key="415/358-1921")["arm"] == a["arm"]
    with psycopg.connect(db, autocommit=True) as other:
        assert recommend(other, 0.6, "NEGATIVE", 0.9, key="415/358-1921")["arm"] == a["arm"]
    # without a key the experiment cannot be reproducible: a clear error
    with pytest.raises(psycopg.errors.NullValueNotAllowed) as info:
        recommend(conn, 0.6, "NEGATIVE", 0.9)
    assert "customer_key" in info.value.diag.message_primary
    assert "customer_key =>" in info.value.diag.message_hint


def test_arm_proportions_over_10000_customers_and_the_documented_hash(conn: psycopg.Connection) -> None:
    rows = conn.execute(f"""
        SELECT r.arm, ('x' || substr(encode(sha256(convert_to('{SEED}' || ':' || r.experiment || ':' || 'cust-' || g,
                                                       'UTF8')), 'hex'), 1, 13))::bit(52)::bigint / 2^52 AS u
        FROM generate_series(1, 10000) AS g,
             churnml.recommend_incentive(0.6, 'NEGATIVE', 0.9, customer_key => 'cust-' || g) AS r""").fetchall()
    assert len(rows) == 10000
    # documented: arm A when u < 0.5, else B
    assert all((arm == "A") == (u < 0.5) for arm, u in rows)
    n_a = sum(1 for arm, _ in rows if arm == "A")
    sigma = math.sqrt(10000 * 0.5 * 0.5)
    assert abs(n_a - 5000) < 4 * sigma, n_a
    # again, in a new statement: the very same assignment
    again = conn.execute("""
        SELECT count(*) FILTER (WHERE r.arm = 'A') FROM generate_series(1, 10000) AS g,
             churnml.recommend_incentive(0.6, 'NEGATIVE', 0.9, customer_key => 'cust-' || g) AS r""").fetchone()[0]
    assert again == n_a


def test_unequal_weights_are_honoured(conn: psycopg.Connection) -> None:
    conn.execute("INSERT INTO churnml.experiments (name, seed) VALUES ('weights_test', 's1')")
    conn.execute("""INSERT INTO churnml.incentive_rules (rule_set, priority, name, condition, offer, offer_value,
                                                         arms, experiment, reason)
        VALUES ('weights', 1, 'split', 'TRUE', 'nothing', 0,
                '[{"arm": "big", "offer": "$10", "offer_value": 10, "weight": 7},
                  {"arm": "small", "offer": "$1", "offer_value": 1, "weight": 2},
                  {"arm": "none", "offer": "none", "offer_value": 0, "weight": 1}]', 'weights_test', '{arm}')""")
    counts = dict(conn.execute("""
        SELECT r.arm, count(*) FROM generate_series(1, 10000) AS g,
             churnml.recommend_incentive(NULL, NULL, NULL, customer_key => g::text, rule_set => 'weights') AS r
        GROUP BY 1""").fetchall())
    for arm, p in (("big", 0.7), ("small", 0.2), ("none", 0.1)):
        assert abs(counts[arm] - 10000 * p) < 4 * math.sqrt(10000 * p * (1 - p)), counts
    # stopped, the rule makes its own offer and no arm
    conn.execute("UPDATE churnml.experiments SET stopped_at = now() WHERE name = 'weights_test'")
    got = recommend(conn, None, None, None, key="1", rule_set="weights")
    assert (got["offer"], got["arm"], got["experiment"]) == ("nothing", None, None)
    got = recommend(conn, None, None, None, key="1", rule_set="weights", as_of="2000-01-01")
    assert got["offer"] == "nothing"  # not started yet in 2000


def test_priority_windows_enabled_and_no_match(conn: psycopg.Connection) -> None:
    conn.execute("""INSERT INTO churnml.incentive_rules (rule_set, priority, name, condition, offer, offer_value,
                                                         active_from, active_until, enabled, reason) VALUES
        ('prio', 30, 'third', 'will_churn > 0.1', 'c', 3, NULL, NULL, true, 'third {will_churn}'),
        ('prio', 10, 'first', 'will_churn > 0.9', 'a', 1, NULL, NULL, true, NULL),
        ('prio', 20, 'summer', 'will_churn > 0.5', 'b', 2, '2030-06-01', '2030-09-01', true, NULL),
        ('prio', 15, 'disabled', 'TRUE', 'x', 0, NULL, NULL, false, NULL)""")
    assert recommend(conn, 0.95, None, None, rule_set="prio")["rule_name"] == "first"
    assert recommend(conn, 0.6, None, None, rule_set="prio")["rule_name"] == "third"
    assert recommend(conn, 0.6, None, None, rule_set="prio", as_of="2030-07-01")["rule_name"] == "summer"
    assert recommend(conn, 0.6, None, None, rule_set="prio", as_of="2030-09-01")["rule_name"] == "third"
    assert recommend(conn, 0.25, None, None, rule_set="prio")["reason"] == "third 0.25"
    none = recommend(conn, 0.05, None, None, rule_set="prio")
    assert none["offer"] is None and none["rule_name"] is None and "no rule" in none["reason"]
    # NULL inputs: SQL three-valued logic, a NULL condition is not a match
    assert recommend(conn, None, None, None, rule_set="prio")["rule_name"] is None
    with pytest.raises(psycopg.errors.UndefinedObject) as info:
        recommend(conn, 0.5, None, None, rule_set="no_such_set")
    assert "default" in info.value.diag.message_detail


def test_customer_inputs_are_typed(conn: psycopg.Connection) -> None:
    # numbers given as text are accepted for numeric inputs; keys that are not inputs are ignored
    got = recommend(conn, 0.1, "NEUTRAL", 0.9, {"cust_service_calls": "4", "int_plan": "yes", "churn": True})
    assert got["rule_name"] == "service_calls_international"
    assert "churn" not in got["inputs"] and got["inputs"]["cust_service_calls"] == 4
    with pytest.raises(psycopg.errors.InvalidParameterValue) as info:
        recommend(conn, 0.1, "NEUTRAL", 0.9, {"cust_service_calls": "many"})
    assert '"cust_service_calls" must be numeric' in info.value.diag.message_primary
    with pytest.raises(psycopg.errors.InvalidParameterValue):
        conn.execute("SELECT churnml.recommend_incentive(0.1, 'NEUTRAL', 0.9, '[1, 2]')")
    # a whole customers row works as the customer object
    conn.execute("CREATE TABLE IF NOT EXISTS cust (area_code bigint, phone text, int_plan text, "
                 "cust_service_calls bigint, day_mins float8)")
    conn.execute("INSERT INTO cust VALUES (415, '358-1921', 'yes', 4, 120.5)")
    offer = conn.execute("SELECT (churnml.recommend_incentive(0.2, 'NEUTRAL', 0.9, to_jsonb(c))).offer "
                         "FROM cust c").fetchone()[0]
    assert offer == "1000 free international minutes"


INVALID = [
    ("pg_sleep(1) IS NULL", 'function call "pg_sleep" at position 1'),
    ("1; DROP TABLE x", '";" at position 2'),
    ("will_churn > (SELECT 1)", 'subquery "SELECT" at position 15'),
    ("unknown_col > 1", 'unknown input "unknown_col" at position 1'),
    ("will_churn::int > 1", 'cast "::" at position 11'),
    ("(will_churn > 1", '"(" at position 1 is never closed'),
    ("will_churn > 1)", '")" at position 15 has no matching'),
    ("sentiment > 0.5", 'operator ">" at position 11 cannot compare text with numeric'),
    ("will_churn", "the condition is numeric, not boolean"),
    ("will_churn > 0.5 -- and more", 'comment "--" at position 18'),
]


@pytest.mark.parametrize(("condition", "message"), INVALID)
def test_invalid_conditions_are_rejected_at_insert_and_update(conn: psycopg.Connection, condition: str,
                                                              message: str) -> None:
    with pytest.raises(psycopg.errors.InvalidParameterValue) as info:
        conn.execute("INSERT INTO churnml.incentive_rules (rule_set, priority, name, condition, offer) "
                     "VALUES ('bad', 1, 'bad', %s, 'x')", (condition,))
    assert message in info.value.diag.message_primary
    assert info.value.diag.message_primary.startswith('churnml: invalid condition of rule "bad": ')
    assert info.value.diag.message_detail.startswith("A condition may use only")
    with pytest.raises(psycopg.errors.InvalidParameterValue) as info:
        conn.execute("UPDATE churnml.incentive_rules SET condition = %s WHERE name = 'negative_high_risk'",
                     (condition,))
    assert message in info.value.diag.message_primary
    with pytest.raises(psycopg.errors.InvalidParameterValue) as info:
        conn.execute("SELECT churnml.check_condition(%s)", (condition,))
    assert message in info.value.diag.message_primary


def test_unknown_input_error_hints_the_known_ones(conn: psycopg.Connection) -> None:
    with pytest.raises(psycopg.errors.InvalidParameterValue) as info:
        conn.execute("SELECT churnml.check_condition('tenure > 12')")
    assert "cust_service_calls" in info.value.diag.message_hint
    # an admin adds the input, and it can be used at once (also in reasons)
    conn.execute("INSERT INTO churnml.incentive_inputs (name, type) VALUES ('tenure', 'numeric')")
    tree = conn.execute("SELECT churnml.check_condition('tenure > 12 AND NOT will_churn < 0.5')").fetchone()[0]
    assert tree["inputs"] == ["tenure", "will_churn"]
    assert tree["normalised"] == "((tenure > 12) AND (NOT (will_churn < 0.5)))"
    conn.execute("INSERT INTO churnml.incentive_rules (rule_set, priority, name, condition, offer, reason) "
                 "VALUES ('tenure', 1, 'loyal', 'tenure > 12', 'thanks', 'tenure {tenure}')")
    assert recommend(conn, 0.1, None, None, {"tenure": 13}, rule_set="tenure")["reason"] == "tenure 13"
    # ...and cannot be removed while a rule uses it
    with pytest.raises(psycopg.errors.DependentObjectsStillExist) as info:
        conn.execute("DELETE FROM churnml.incentive_inputs WHERE name = 'tenure'")
    assert '"loyal"' in info.value.diag.message_primary
    with pytest.raises(psycopg.errors.DependentObjectsStillExist):
        conn.execute("UPDATE churnml.incentive_inputs SET type = 'text' WHERE name = 'tenure'")
    # builtin inputs are fixed
    with pytest.raises(psycopg.errors.ObjectNotInPrerequisiteState):
        conn.execute("DELETE FROM churnml.incentive_inputs WHERE name = 'day_mins'")
    with pytest.raises(psycopg.errors.InvalidParameterValue):
        conn.execute("INSERT INTO churnml.incentive_inputs (name, type) VALUES ('select', 'numeric')")


def test_bad_arms_reasons_and_experiments_are_rejected(conn: psycopg.Connection) -> None:
    base = ("INSERT INTO churnml.incentive_rules (rule_set, priority, name, condition, offer, arms, experiment, "
            "reason) VALUES ('bad', 1, 'bad', 'TRUE', 'x', %s, %s, %s)")
    cases = [
        ('[{"arm": "A", "offer": "x", "weight": 1}]', None, None, "needs both arms and an experiment"),
        ('[{"arm": "A", "offer": "x", "weight": 0}]', EXPERIMENT, None, "at least one arm needs a weight"),
        ('[{"arm": "A", "offer": "x", "weight": 1, "colour": 2}]', EXPERIMENT, None, 'unknown key "colour"'),
        ('[{"arm": "A", "offer": "x", "weight": 1}, {"arm": "A", "offer": "y", "weight": 1}]', EXPERIMENT, None,
         'arm "A" is listed twice'),
        (None, None, "Sentiment {mood}", 'unknown placeholder "{mood}" at position 11'),
        (None, None, "{0.__class__}", '"{" at position 1 is not part of a {name} placeholder'),
    ]
    for arms, experiment, reason, message in cases:
        with pytest.raises(psycopg.errors.InvalidParameterValue) as info:
            conn.execute(base, (arms, experiment, reason))
        assert message in info.value.diag.message_primary, (arms, reason)
    with pytest.raises(psycopg.errors.ForeignKeyViolation):
        conn.execute(base, ('[{"arm": "A", "offer": "x", "weight": 1}]', "no_such_experiment", None))


def test_builtin_rows_are_disabled_not_deleted(conn: psycopg.Connection) -> None:
    with pytest.raises(psycopg.errors.ObjectNotInPrerequisiteState) as info:
        conn.execute("DELETE FROM churnml.incentive_rules WHERE name = 'no_incentive'")
    assert "enabled = false" in info.value.diag.message_hint
    with pytest.raises(psycopg.errors.ObjectNotInPrerequisiteState):
        conn.execute("DELETE FROM churnml.experiments WHERE name = %s", (EXPERIMENT,))


def test_only_the_admin_changes_rules(conn: psycopg.Connection, roles: Callable[[str], str]) -> None:
    with psycopg.connect(roles("cm_inc_user"), autocommit=True) as user:
        assert recommend(user, 0.85, "NEGATIVE", 0.9)["offer"] == "$25 credit"
        for statement in (
            "INSERT INTO churnml.incentive_rules (priority, name, condition, offer) VALUES (1, 'mine', 'TRUE', 'x')",
            "UPDATE churnml.incentive_rules SET offer_value = 100 WHERE name = 'negative_high_risk'",
            "DELETE FROM churnml.incentive_rules WHERE name = 'positive_low_risk'",
            "INSERT INTO churnml.incentive_inputs (name, type) VALUES ('mine', 'numeric')",
            "UPDATE churnml.experiments SET stopped_at = now()",
            "SELECT churnml.record_outcome(1, 'retained')",
            "UPDATE churnml.offer_log SET offer = 'free phone'",
        ):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                user.execute(statement)
        # the call center logs what it offers
        offer_id = user.execute("SELECT churnml.log_offer('415/358-1921', r) FROM "
                                "churnml.recommend_incentive(0.85, 'NEGATIVE', 0.9) r").fetchone()[0]
        assert user.execute("SELECT offered_by FROM churnml.offer_log WHERE id = %s", (offer_id,)).fetchone()[0] \
            == "cm_inc_user"
    with psycopg.connect(roles("cm_inc_admin"), autocommit=True) as admin:
        admin.execute("INSERT INTO churnml.incentive_rules (rule_set, priority, name, condition, offer) "
                      "VALUES ('admin_set', 1, 'mine', 'will_churn > 0.5', 'x')")
        admin.execute("UPDATE churnml.incentive_rules SET offer = 'y' WHERE rule_set = 'admin_set'")
        row = admin.execute("SELECT created_by, updated_by, updated_at IS NOT NULL FROM churnml.incentive_rules "
                            "WHERE rule_set = 'admin_set'").fetchone()
        assert row == ("cm_inc_admin", "cm_inc_admin", True)
        assert admin.execute("SELECT churnml.record_outcome(%s, 'retained')", (offer_id,)).fetchone()[0] == offer_id
        admin.execute("DELETE FROM churnml.incentive_rules WHERE rule_set = 'admin_set'")


def test_a_change_applies_to_another_sessions_next_statement(db: str) -> None:
    with psycopg.connect(db, autocommit=True) as caller, psycopg.connect(db, autocommit=True) as admin:
        assert recommend(caller, 0.85, "NEGATIVE", 0.9)["offer"] == "$25 credit"
        try:
            admin.execute("UPDATE churnml.incentive_rules SET offer = '$30 credit', offer_value = 30, "
                          "reason = 'Sentiment {sentiment} and will_churn>0.8: {offer}' "
                          "WHERE name = 'negative_high_risk'")
            got = recommend(caller, 0.85, "NEGATIVE", 0.9)
            assert (got["offer"], got["offer_value"], got["reason"]) == (
                "$30 credit", 30, "Sentiment NEGATIVE and will_churn>0.8: $30 credit")
            admin.execute("UPDATE churnml.incentive_rules SET enabled = false WHERE name = 'negative_high_risk'")
            assert recommend(caller, 0.85, "NEGATIVE", 0.9, key="k")["rule_name"] == "negative_medium_risk"
        finally:
            admin.execute("UPDATE churnml.incentive_rules SET offer = '$25 credit', offer_value = 25, enabled = true, "
                          "reason = 'Sentiment {sentiment} and will_churn>0.8: $25 credit' "
                          "WHERE name = 'negative_high_risk'")
        assert recommend(caller, 0.85, "NEGATIVE", 0.9)["offer"] == "$25 credit"


def test_offer_log_outcomes_and_experiment_results(conn: psycopg.Connection) -> None:
    conn.execute("INSERT INTO churnml.experiments (name, seed, control_arm) VALUES ('results_test', 'r', 'C')")
    conn.execute("""INSERT INTO churnml.incentive_rules (rule_set, priority, name, condition, offer, arms, experiment)
        VALUES ('results', 1, 'r', 'TRUE', 'x',
                '[{"arm": "C", "offer": "nothing", "offer_value": 0, "weight": 1},
                  {"arm": "T", "offer": "$10 credit", "offer_value": 10, "weight": 1},
                  {"arm": "U", "offer": "$20 credit", "offer_value": 20, "weight": 0}]', 'results_test')""")
    # a hand-made example: treatment T 10 offers, 8 outcomes, 6 retained; control C 10 offers, 10 outcomes, 4 retained
    log = ("SELECT churnml.log_offer(%s, ROW(%s, %s, 'hand-made', 'r', %s, 'results_test', NULL, 'results', 'USD', "
           "'{\"will_churn\": 0.6, \"sentiment\": \"NEGATIVE\", \"confidence\": 0.9}')::churnml.incentive, 7)")
    ids = {}
    for arm, offer, value in (("T", "$10 credit", 10), ("C", "nothing", 0)):
        ids[arm] = [conn.execute(log, (f"{arm}{i}", offer, value, arm)).fetchone()[0] for i in range(10)]
    for i, offer_id in enumerate(ids["T"][:8]):
        conn.execute("SELECT churnml.record_outcome(%s, %s)", (offer_id, "retained" if i < 6 else "churned"))
    for i, offer_id in enumerate(ids["C"][:9]):
        conn.execute("SELECT churnml.record_outcome(%s, %s)", (offer_id, "retained" if i < 4 else "churned"))
    # by customer key: the customer's latest offer
    assert conn.execute("SELECT churnml.record_outcome('C9', 'churned', note => 'by key')").fetchone()[0] \
        == ids["C"][9]
    row = conn.execute("SELECT will_churn, sentiment, confidence, model_id, rule_set, inputs ->> 'sentiment' "
                       "FROM churnml.offer_log WHERE id = %s", (ids["T"][0],)).fetchone()
    assert row == (0.6, "NEGATIVE", pytest.approx(0.9), 7, "results", "NEGATIVE")
    # recording again replaces the outcome
    conn.execute("SELECT churnml.record_outcome(%s, 'churned')", (ids["T"][0],))
    conn.execute("SELECT churnml.record_outcome(%s, 'retained')", (ids["T"][0],))
    results = {r[0]: r for r in conn.execute(
        "SELECT arm, offer, offers, outcomes_known, retained, retention_rate, total_cost, is_control, uplift, "
        "uplift_ci_low, uplift_ci_high FROM churnml.experiment_results('results_test')").fetchall()}
    assert set(results) == {"C", "T", "U"}
    t, c, u = results["T"], results["C"], results["U"]
    assert t[1:8] == ("$10 credit", 10, 8, 6, 0.75, Decimal(100), False)
    assert c[1:8] == ("nothing", 10, 10, 4, 0.4, Decimal(0), True) and c[8] is None
    assert u[2:5] == (0, 0, 0) and u[5] is None and u[8] is None
    se = math.sqrt(0.75 * 0.25 / 8 + 0.4 * 0.6 / 10)
    assert t[8] == pytest.approx(0.35)
    assert t[9] == pytest.approx(0.35 - 1.959964 * se, abs=1e-6)
    assert t[10] == pytest.approx(0.35 + 1.959964 * se, abs=1e-6)
    # another control, on request
    other = dict(conn.execute("SELECT arm, uplift FROM churnml.experiment_results('results_test', 'T')").fetchall())
    assert other["C"] == pytest.approx(-0.35) and other["T"] is None
    # errors
    for statement, error in (
        (f"SELECT churnml.record_outcome({ids['T'][0]}, 'stayed')", psycopg.errors.InvalidParameterValue),
        ("SELECT churnml.record_outcome(-1, 'retained')", psycopg.errors.UndefinedObject),
        ("SELECT churnml.record_outcome('nobody', 'retained')", psycopg.errors.UndefinedObject),
        (f"SELECT churnml.record_outcome({ids['T'][0]}, 'retained', now() - interval '1 day')",
         psycopg.errors.InvalidParameterValue),
        ("SELECT * FROM churnml.experiment_results('nope')", psycopg.errors.UndefinedObject),
        ("SELECT * FROM churnml.experiment_results('results_test', 'Z')", psycopg.errors.InvalidParameterValue),
    ):
        with pytest.raises(error):
            conn.execute(statement)
    # the seed of an experiment that assigned offers is fixed
    with pytest.raises(psycopg.errors.ObjectNotInPrerequisiteState):
        conn.execute("UPDATE churnml.experiments SET seed = 'other' WHERE name = 'results_test'")


def test_recommend_and_log_in_one_statement(conn: psycopg.Connection) -> None:
    """How the call-center function will use them: recommend (STABLE) and log (VOLATILE) together."""
    offer_id, arm = conn.execute("""
        SELECT churnml.log_offer('408/375-9999', r, NULL), r.arm
        FROM churnml.recommend_incentive(0.6, 'NEGATIVE', 0.93, '{"cust_service_calls": 1}',
                                         customer_key => '408/375-9999') AS r""").fetchone()
    row = conn.execute("SELECT customer_key, rule_name, experiment, arm, offer, inputs -> 'cust_service_calls', "
                       "confidence FROM churnml.offer_log WHERE id = %s", (offer_id,)).fetchone()
    assert row[:5] == ("408/375-9999", "negative_medium_risk", EXPERIMENT, arm, {"A": "$15 credit",
                                                                                  "B": "$5 credit"}[arm])
    assert row[5] == 1 and row[6] == pytest.approx(0.93)


def test_rule_set_cost_on_held_out_rows(conn: psycopg.Connection) -> None:
    # a registered model with hand-made held-out rows (the artifact is never read)
    model_id = conn.execute("""
        WITH m AS (INSERT INTO churnml.models (name, artifact_format, artifact_sha256, feature_spec)
                   VALUES ('cost_test', 'xgboost-json', encode(sha256('\\x00'::bytea), 'hex'), '{}') RETURNING id)
        INSERT INTO churnml.model_artifacts (model_id, artifact, holdout_labels, holdout_scores)
        SELECT id, '\\x00', ARRAY[true, false, true, false, true, false], ARRAY[0.9, 0.85, 0.6, 0.5, 0.2, 0.1]
        FROM m RETURNING model_id""").fetchone()[0]
    # counts and money are numeric (Decimal here), rounded: 0.375 customers stay 0.375
    rows = {r[0]: tuple(float(v) for v in r[1:]) for r in conn.execute(
        "SELECT rule_name, customers, churners, incentive_cost, expected_saves, saved_value, net_value, unpriced "
        "FROM churnml.rule_set_cost('default', retained_value => 500, save_rate => 0.5, model => %s, "
        "sentiment_mix => '{\"NEGATIVE\": 3, \"POSITIVE\": 1}', confidence => 0.9)", (str(model_id),)).fetchall()}
    # NEGATIVE (share 0.75): 0.9, 0.85 -> $25; 0.6, 0.5 -> arms $15/$5 (mean $10); 0.2, 0.1 -> nothing
    # POSITIVE (share 0.25): 0.9, 0.85, 0.6, 0.5 -> $5; 0.2, 0.1 -> nothing
    high = rows["negative_high_risk"]
    assert high[:5] == pytest.approx((1.5, 0.75, 0.75 * 2 * 25, 0.75 * 0.5, 0.75 * 0.5 * 500))
    medium = rows["negative_medium_risk"]
    assert medium[:4] == pytest.approx((1.5, 0.75, 0.75 * 2 * 10, 0.75 * 0.5))
    at_risk = rows["positive_at_risk"]
    assert at_risk[:4] == pytest.approx((1.0, 0.5, 0.25 * 4 * 5, 0.25 * 2 * 0.5))
    assert rows["positive_low_risk"][:3] == pytest.approx((0.5, 0.25, 0))
    assert rows["negative_low_risk"][:3] == pytest.approx((1.5, 0.75, 0))
    total = rows["(total)"]
    cost = 37.5 + 15 + 5
    saves = 0.375 + 0.375 + 0.25
    assert total[:6] == pytest.approx((6, 3, cost, saves, saves * 500, saves * 500 - cost))
    assert rows["service_calls_international"][0] == 0  # customer fields are unknown on held-out rows
    with pytest.raises(psycopg.errors.InvalidParameterValue):
        conn.execute("SELECT * FROM churnml.rule_set_cost('default', 500, 1.5, model => %s)", (str(model_id),))
    with pytest.raises(psycopg.errors.InvalidParameterValue):
        conn.execute("SELECT * FROM churnml.rule_set_cost('default', 500, 0.5, model => %s, "
                     "sentiment_mix => '{\"NEGATIVE\": -1}')", (str(model_id),))


def test_rules_survive_pg_dump_and_restore(db: str, make_database: Callable[..., str]) -> None:
    with psycopg.connect(db, autocommit=True) as conn:
        conn.execute("UPDATE churnml.incentive_rules SET offer_value = 20, enabled = false "
                     "WHERE name = 'positive_at_risk'")
        conn.execute("UPDATE churnml.experiments SET stopped_at = now() + interval '1 year' WHERE name = %s",
                      (EXPERIMENT,))
        conn.execute("INSERT INTO churnml.incentive_inputs (name, type) VALUES ('dumped_input', 'boolean') "
                     "ON CONFLICT DO NOTHING")
        conn.execute("INSERT INTO churnml.incentive_rules (rule_set, priority, name, condition, offer) "
                     "VALUES ('dumped', 1, 'kept', 'dumped_input AND will_churn > 0.2', 'kept')")
        conn.execute("SELECT churnml.log_offer('dump/1', r) FROM churnml.recommend_incentive(0.85, 'NEGATIVE', 0.9) r")
    target = make_database("restored", extension=False)
    restored = dump_and_restore(db, target)
    assert restored.returncode == 0, restored.stderr.decode()
    queries = [
        "SELECT id, rule_set, priority, name, condition, condition_ast, offer, offer_value, arms, experiment, reason, "
        "enabled, builtin, created_by, created_at, updated_by, updated_at FROM churnml.incentive_rules ORDER BY id",
        "SELECT * FROM churnml.experiments ORDER BY name",
        "SELECT name, type, description, builtin FROM churnml.incentive_inputs ORDER BY name",
        "SELECT * FROM churnml.offer_log ORDER BY id",
        "SELECT * FROM churnml.offer_outcomes ORDER BY offer_id",
    ]
    with psycopg.connect(db) as src, psycopg.connect(target) as dst:
        for query in queries:
            assert src.execute(query).fetchall() == dst.execute(query).fetchall(), query
        assert recommend(src, 0.6, "NEGATIVE", 0.9, key="k1") == recommend(dst, 0.6, "NEGATIVE", 0.9, key="k1")
        assert recommend(dst, 0.3, None, None, {"dumped_input": True}, rule_set="dumped")["offer"] == "kept"
    with psycopg.connect(db, autocommit=True) as conn:
        conn.execute("UPDATE churnml.incentive_rules SET offer_value = 5, enabled = true "
                     "WHERE name = 'positive_at_risk'")
        conn.execute("UPDATE churnml.experiments SET stopped_at = NULL WHERE name = %s", (EXPERIMENT,))


def test_recreating_the_extension_in_the_same_session(make_database: Callable[..., str]) -> None:
    """Cached plans and rules of a dropped extension are not used for the new one."""
    url = make_database("recreate")
    with psycopg.connect(url, autocommit=True) as conn:
        assert recommend(conn, 0.85, "NEGATIVE", 0.9)["offer"] == "$25 credit"
        conn.execute("DROP EXTENSION churnml CASCADE")
        conn.execute("CREATE EXTENSION churnml CASCADE")
        conn.execute("UPDATE churnml.incentive_rules SET offer = '$26 credit' WHERE name = 'negative_high_risk'")
        assert recommend(conn, 0.85, "NEGATIVE", 0.9)["offer"] == "$26 credit"
        with pytest.raises(psycopg.errors.InvalidParameterValue):
            conn.execute("UPDATE churnml.incentive_rules SET condition = 'nope' WHERE name = 'negative_high_risk'")



# --------------------------------------------------------------------------- issue 19: forgeable records

RECOMMENDED = ("SELECT churnml.log_offer(%s, r) FROM churnml.recommend_incentive(0.6, 'NEGATIVE', 0.93, "
               "customer_key => %s) AS r")
# Direct INSERTs a caller might try, each with what a churnml_user or churnml_admin gets: the
# column grants refuse naming an audit column or the id (42501), constraints and the trigger
# refuse the rest.
FORGERIES = [
    ("negative offer_value", "INSERT INTO churnml.offer_log (customer_key, offer, offer_value) "
                             "VALUES ('forge/1', 'x', -5)", "23514"),
    ("currency", "INSERT INTO churnml.offer_log (customer_key, offer, currency) VALUES ('forge/1', 'x', 'usd')",
     "23514"),
    ("blank customer key", "INSERT INTO churnml.offer_log (customer_key) VALUES ('')", "23514"),
    ("unknown experiment", "INSERT INTO churnml.offer_log (customer_key, experiment, arm) "
                           "VALUES ('forge/1', 'no_such_experiment', 'A')", "23503"),
    ("unknown arm", f"INSERT INTO churnml.offer_log (customer_key, experiment, arm) "
                    f"VALUES ('forge/1', '{EXPERIMENT}', 'Z')", "23514"),
    ("unknown rule id", "INSERT INTO churnml.offer_log (customer_key, rule_id) VALUES ('forge/1', 987654)", "23503"),
    ("rule id with another rule's name",
     "INSERT INTO churnml.offer_log (customer_key, rule_id, rule_name) SELECT 'forge/1', id, 'generous' "
     "FROM churnml.incentive_rules WHERE name = 'negative_high_risk'", "23514"),
    ("arm of another rule", f"INSERT INTO churnml.offer_log (customer_key, rule_id, experiment, arm) "
                            f"SELECT 'forge/1', id, '{EXPERIMENT}', 'A' FROM churnml.incentive_rules "
                            f"WHERE name = 'negative_high_risk'", "23514"),
    ("offered_by", "INSERT INTO churnml.offer_log (customer_key, offered_by) VALUES ('forge/1', 'someone_else')",
     "42501"),
    ("offered_at", "INSERT INTO churnml.offer_log (customer_key, offered_at) VALUES ('forge/1', now() - "
                   "interval '1 year')", "42501"),
    ("offer id", "INSERT INTO churnml.offer_log (id, customer_key) VALUES (987654321, 'forge/1')", "42501"),
    ("UPDATE an offer", "UPDATE churnml.offer_log SET offer_value = 1000", "42501"),
    # the security review of the release candidate: a rule-backed offer is the rule's offer
    ("the reviewer's $1000000 credit",
     "INSERT INTO churnml.offer_log (customer_key, rule_id, rule_set, rule_name, offer, offer_value, currency, "
     "will_churn, sentiment, confidence, reason) SELECT '408/375-9999', id, 'default', 'negative_high_risk', "
     "'$1000000 credit', 1000000, 'USD', 7.5, 'ECSTATIC', 'NaN', 'approved by CEO' FROM churnml.incentive_rules "
     "WHERE name = 'negative_high_risk'", "23514"),
    ("another offer under a rule", "INSERT INTO churnml.offer_log (customer_key, rule_id, offer) SELECT 'forge/1', id, "
                                   "'$1000000 credit' FROM churnml.incentive_rules WHERE name = 'negative_high_risk'",
     "23514"),
    ("another offer_value under a rule", "INSERT INTO churnml.offer_log (customer_key, rule_id, offer_value) SELECT "
                                         "'forge/1', id, 1000000 FROM churnml.incentive_rules "
                                         "WHERE name = 'negative_high_risk'", "23514"),
    ("another currency under a rule", "INSERT INTO churnml.offer_log (customer_key, rule_id, currency) SELECT "
                                      "'forge/1', id, 'EUR' FROM churnml.incentive_rules "
                                      "WHERE name = 'negative_high_risk'", "23514"),
    ("a price for an unpriced rule", "INSERT INTO churnml.offer_log (customer_key, rule_id, offer_value) SELECT "
                                     "'forge/1', id, 1 FROM churnml.incentive_rules "
                                     "WHERE name = 'service_calls_international'", "23514"),
    ("the reviewer's $999 arm", f"INSERT INTO churnml.offer_log (customer_key, rule_id, experiment, arm, offer, "
                                f"offer_value, currency) SELECT 'x1', id, '{EXPERIMENT}', 'A', '$999 credit', 999, "
                                f"'USD' FROM churnml.incentive_rules WHERE name = 'negative_medium_risk'", "23514"),
    ("another arm's offer", f"INSERT INTO churnml.offer_log (customer_key, rule_id, experiment, arm, offer, "
                            f"offer_value) SELECT 'x1', id, '{EXPERIMENT}', 'A', '$5 credit', 5 "
                            f"FROM churnml.incentive_rules WHERE name = 'negative_medium_risk'", "23514"),
    ("an arm's offer without its rule", f"INSERT INTO churnml.offer_log (customer_key, experiment, arm, offer, "
                                        f"offer_value) VALUES ('x1', '{EXPERIMENT}', 'A', '$999 credit', 999)",
     "23514"),
    ("will_churn 7.5", "INSERT INTO churnml.offer_log (customer_key, will_churn) VALUES ('forge/1', 7.5)", "23514"),
    ("will_churn NaN", "INSERT INTO churnml.offer_log (customer_key, will_churn) VALUES ('forge/1', 'NaN')", "23514"),
    ("will_churn -0.1", "INSERT INTO churnml.offer_log (customer_key, will_churn) VALUES ('forge/1', -0.1)", "23514"),
    ("confidence NaN", "INSERT INTO churnml.offer_log (customer_key, confidence) VALUES ('forge/1', 'NaN')", "23514"),
    ("confidence 2", "INSERT INTO churnml.offer_log (customer_key, confidence) VALUES ('forge/1', 2)", "23514"),
    ("sentiment ECSTATIC", "INSERT INTO churnml.offer_log (customer_key, sentiment) VALUES ('forge/1', 'ECSTATIC')",
     "23514"),
    ("sentiment in lower case", "INSERT INTO churnml.offer_log (customer_key, sentiment) VALUES ('forge/1', "
                                "'negative')", "23514"),
    ("a space as customer key", "INSERT INTO churnml.offer_log (customer_key) VALUES (' ')", "23514"),
    ("an ideographic space as customer key", "INSERT INTO churnml.offer_log (customer_key) VALUES (E'\\u3000 ')",
     "23514"),
    ("a control character as customer key", "INSERT INTO churnml.offer_log (customer_key) VALUES (E'\\x01')",
     "23514"),
    ("a line break in a customer key", "INSERT INTO churnml.offer_log (customer_key) VALUES (E'k\\n1')", "23514"),
    ("offer_value NaN", "INSERT INTO churnml.offer_log (customer_key, offer_value) VALUES ('forge/1', 'NaN')",
     "23514"),
    ("offer_value Infinity", "INSERT INTO churnml.offer_log (customer_key, offer_value) VALUES ('forge/1', "
                             "'Infinity')", "23514"),
]


def _sqlstate(conn: psycopg.Connection, statement: str) -> str | None:
    try:
        with conn.transaction():
            conn.execute(statement)
    except psycopg.Error as exc:
        return exc.sqlstate
    return None


@pytest.mark.parametrize("role", ["cm_inc_user", "cm_inc_admin", "cm_inc_none"])
def test_the_offer_log_cannot_be_forged(roles: Callable[[str], str], role: str) -> None:
    """The security review's forgeries, as each role: refused; what log_offer writes still goes in."""
    with psycopg.connect(roles(role), autocommit=True) as caller:
        got = {what: _sqlstate(caller, statement) for what, statement, _ in FORGERIES}
        expected = {what: "42501" if role == "cm_inc_none" else sqlstate for what, _, sqlstate in FORGERIES}
        assert got == expected
        if role == "cm_inc_none":
            assert _sqlstate(caller, RECOMMENDED % ("'forge/2'", "'forge/2'")) == "42501"
            return
        # the call center's way in: the database says who and when
        offer_id = caller.execute(RECOMMENDED, ("forge/2", "forge/2")).fetchone()[0]
        row = caller.execute("SELECT offered_by, offered_at > now() - interval '1 minute', rule_name, experiment, "
                             "arm IN ('A', 'B') FROM churnml.offer_log WHERE id = %s", (offer_id,)).fetchone()
        assert row == (role, True, "negative_medium_risk", EXPERIMENT, True)
        # a hand-made offer without a rule or experiment says what its writer says; an arm of an
        # experiment logged without its rule is that arm's offer (filled in when left out)
        caller.execute("INSERT INTO churnml.offer_log (customer_key, offer, offer_value, currency) "
                       "VALUES ('forge/3', 'call back', 0, 'EUR')")
        arm_offer = caller.execute("INSERT INTO churnml.offer_log (customer_key, experiment, arm) "
                                   "VALUES ('forge/3', %s, 'B') RETURNING offer, offer_value, currency",
                                   (EXPERIMENT,)).fetchone()
        assert arm_offer == ("$5 credit", 5, "USD")
        # rule_set and rule_name come from the rule when they are left out
        named = caller.execute("INSERT INTO churnml.offer_log (customer_key, rule_id) SELECT 'forge/4', id FROM "
                               "churnml.incentive_rules WHERE name = 'no_incentive' RETURNING rule_set, rule_name"
                               ).fetchone()
        assert named == ("default", "no_incentive")


def test_forgery_errors_say_what_is_wrong(roles: Callable[[str], str]) -> None:
    with psycopg.connect(roles("cm_inc_user"), autocommit=True) as user:
        with pytest.raises(psycopg.errors.CheckViolation) as info:
            user.execute("INSERT INTO churnml.offer_log (customer_key, experiment, arm) VALUES ('f/1', %s, 'Z')",
                         (EXPERIMENT,))
        diag = info.value.diag
        assert diag.message_primary == f'churnml: the offer does not match its rule: "Z" is not an arm of ' \
                                       f'experiment "{EXPERIMENT}"'
        assert diag.message_detail == "Its arms: A, B." and "churnml.log_offer" in diag.message_hint


def test_a_superuser_restores_offers_whose_rule_changed(conn: psycopg.Connection) -> None:
    """pg_restore (a superuser) re-inserts offers as they were logged, even if the rule changed since."""
    with conn.transaction(force_rollback=True):
        row = conn.execute(
            "INSERT INTO churnml.offer_log (customer_key, rule_id, rule_name, offered_by, offered_at) "
            "SELECT 'restored/1', id, 'renamed_since', 'someone', now() - interval '1 day' "
            "FROM churnml.incentive_rules WHERE name = 'negative_high_risk' "
            "RETURNING rule_name, offered_by, offered_at < now()").fetchone()
        assert row == ("renamed_since", "someone", True)


def test_outcomes_by_customer_key_need_exactly_one_open_offer(conn: psycopg.Connection,
                                                               roles: Callable[[str], str]) -> None:
    """A row logged later for the same key no longer captures the real offer's outcome."""
    with psycopg.connect(roles("cm_inc_user"), autocommit=True) as user, \
            psycopg.connect(roles("cm_inc_admin"), autocommit=True) as admin:
        real = user.execute(RECOMMENDED, ("victim/1", "victim/1")).fetchone()[0]
        fake = user.execute("INSERT INTO churnml.offer_log (customer_key, offer) VALUES ('victim/1', 'fake') "
                            "RETURNING id").fetchone()[0]
        with pytest.raises(psycopg.errors.CardinalityViolation) as info:
            admin.execute("SELECT churnml.record_outcome('victim/1', 'retained')")
        diag = info.value.diag
        assert diag.message_primary == 'churnml: customer "victim/1" has 2 open offers: pass the offer id'
        assert f"{fake}, {real} (latest first)" in diag.message_detail
        assert "record_outcome(offer_id, outcome)" in diag.message_hint
        assert admin.execute("SELECT count(*) FROM churnml.offer_outcomes WHERE offer_id IN (%s, %s)",
                             (real, fake)).fetchone()[0] == 0
        # by id it is unambiguous; then the one offer left open is the key's
        assert admin.execute("SELECT churnml.record_outcome(%s::bigint, 'retained')", (real,)).fetchone()[0] == real
        assert admin.execute("SELECT churnml.record_outcome('victim/1', 'churned')").fetchone()[0] == fake
        with pytest.raises(psycopg.errors.UndefinedObject) as info:
            admin.execute("SELECT churnml.record_outcome('victim/1', 'churned')")
        assert "no open offer" in info.value.diag.message_primary
        assert "offer's id" in info.value.diag.message_hint
        # recorded_by is the database's: an update is stamped, a forged one refused
        assert admin.execute("SELECT recorded_by FROM churnml.offer_outcomes WHERE offer_id = %s", (real,)
                             ).fetchone()[0] == "cm_inc_admin"
        assert _sqlstate(admin, f"UPDATE churnml.offer_outcomes SET recorded_by = 'someone' WHERE offer_id = {real}"
                         ) == "42501"
        assert _sqlstate(admin, f"INSERT INTO churnml.offer_outcomes (offer_id, outcome, recorded_by) "
                                f"VALUES ({real}, 'churned', 'someone')") == "42501"
        conn.execute("UPDATE churnml.offer_outcomes SET note = 'x' WHERE offer_id = %s", (real,))
        assert conn.execute("SELECT recorded_by = current_user FROM churnml.offer_outcomes WHERE offer_id = %s",
                            (real,)).fetchone()[0]
        # an outcome is recorded between its offer and now
        for when in ("now() + interval '1 day'", "now() - interval '1 day'"):
            with pytest.raises(psycopg.errors.InvalidParameterValue):
                admin.execute(f"UPDATE churnml.offer_outcomes SET recorded_at = {when} WHERE offer_id = {real}")


def test_builtin_rules_cannot_be_forged_or_overwritten(conn: psycopg.Connection,
                                                       roles: Callable[[str], str]) -> None:
    builtin_id, offer = conn.execute("SELECT id, offer FROM churnml.incentive_rules WHERE name = 'negative_high_risk'"
                                     ).fetchone()
    attempts = {
        "builtin rule": "INSERT INTO churnml.incentive_rules (rule_set, priority, name, condition, offer, builtin) "
                        "VALUES ('forged', 1, 'forever', 'TRUE', 'x', true)",
        "a builtin rule's id": f"INSERT INTO churnml.incentive_rules (id, rule_set, priority, name, condition, offer, "
                               f"builtin) VALUES ({builtin_id}, 'default', 30, 'negative_high_risk', 'TRUE', "
                               f"'$1000 credit', true)",
        "builtin experiment": "INSERT INTO churnml.experiments (name, builtin) VALUES ('forever', true)",
        "builtin flag": "UPDATE churnml.incentive_rules SET builtin = true WHERE NOT builtin",
        "created_by": "INSERT INTO churnml.incentive_rules (rule_set, priority, name, condition, offer, created_by) "
                      "VALUES ('forged', 1, 'mine', 'TRUE', 'x', 'someone')",
        "updated_by": "UPDATE churnml.incentive_rules SET updated_by = 'someone'",
        "experiment created_at": "INSERT INTO churnml.experiments (name, created_at) VALUES ('old', '2001-01-01')",
        "input builtin": "INSERT INTO churnml.incentive_inputs (name, type, builtin) VALUES ('forged', 'text', true)",
        "settings updated_by": "INSERT INTO churnml.call_center_settings (top_reasons, updated_by) VALUES (4, 'x')",
    }
    for role in ("cm_inc_admin", "cm_inc_user", "cm_inc_none"):
        with psycopg.connect(roles(role), autocommit=True) as caller:
            got = {what: _sqlstate(caller, statement) for what, statement in attempts.items()}
            assert got == dict.fromkeys(attempts, "42501"), role
    assert conn.execute("SELECT offer FROM churnml.incentive_rules WHERE id = %s", (builtin_id,)).fetchone()[0] \
        == offer
    # a role granted the whole table by a DBA meets the trigger: only a superuser writes builtin rows
    with psycopg.connect(roles("cm_inc_admin"), autocommit=True) as admin:
        conn.execute("GRANT INSERT ON churnml.incentive_rules, churnml.experiments TO cm_inc_admin")
        try:
            with pytest.raises(psycopg.errors.InsufficientPrivilege) as info:
                admin.execute(attempts["a builtin rule's id"])
            assert info.value.diag.message_primary.startswith("churnml: only churnml itself installs builtin rules")
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                admin.execute(attempts["builtin experiment"])
            # without builtin, a builtin rule's id is taken
            with pytest.raises(psycopg.errors.UniqueViolation):
                admin.execute(f"INSERT INTO churnml.incentive_rules (id, rule_set, priority, name, condition, offer) "
                              f"VALUES ({builtin_id}, 'forged', 1, 'x', 'TRUE', '$1000 credit')")
        finally:
            conn.execute("REVOKE INSERT ON churnml.incentive_rules, churnml.experiments FROM cm_inc_admin")
            conn.execute("GRANT INSERT (rule_set, priority, name, condition, offer, offer_value, currency, "
                         "active_from, active_until, arms, experiment, reason, enabled) ON churnml.incentive_rules "
                         "TO churnml_admin")
    assert conn.execute("SELECT offer, builtin FROM churnml.incentive_rules WHERE id = %s", (builtin_id,)
                        ).fetchone() == (offer, True)
    # the admin's own edits are stamped by the database
    with psycopg.connect(roles("cm_inc_admin"), autocommit=True) as admin:
        admin.execute("INSERT INTO churnml.call_center_settings (top_reasons) VALUES (3) ON CONFLICT (singleton) DO "
                      "UPDATE SET top_reasons = excluded.top_reasons")
        admin.execute("UPDATE churnml.call_center_settings SET top_reasons = 3")
        assert admin.execute("SELECT updated_by FROM churnml.call_center_settings").fetchone()[0] == "cm_inc_admin"
    conn.execute("DELETE FROM churnml.call_center_settings")


NUMBERS = [("NaN", "NaN"), ("Infinity", "Infinity"), ("-Infinity", "-Infinity"), ("-0.1", "-0.1"), ("1.5", "1.5"),
           ("1e300", "1e+300")]


@pytest.mark.parametrize(("value", "shown"), NUMBERS)
@pytest.mark.parametrize("argument", ["will_churn", "confidence"])
def test_recommend_incentive_refuses_numbers_out_of_range(conn: psycopg.Connection, argument: str, value: str,
                                                          shown: str) -> None:
    """recommend_incentive('NaN', ...) was a JSON ValueError; 1.5 or NaN silently matched no rule."""
    args = {"will_churn": "0.5", "confidence": "0.9", argument: value}
    with pytest.raises(psycopg.errors.NumericValueOutOfRange) as info:
        conn.execute("SELECT * FROM churnml.recommend_incentive(%s::float8, 'NEGATIVE', %s::float8, "
                     "customer_key => 'k')", (args["will_churn"], args["confidence"]))
    diag = info.value.diag
    assert diag.message_primary == f"churnml: {argument} must be between 0 and 1, not {shown}"
    assert diag.message_detail == f"{argument} is a probability: a number from 0 to 1, or NULL when unknown."


@pytest.mark.parametrize("label", ["BOGUS", "", "  ", "positive!", "NEG"])
def test_recommend_incentive_refuses_unknown_sentiment_labels(conn: psycopg.Connection, label: str) -> None:
    """An unknown label used to give "no incentive" silently."""
    with pytest.raises(psycopg.errors.InvalidParameterValue) as info:
        recommend(conn, 0.9, label, 0.9)
    diag = info.value.diag
    assert diag.message_primary.startswith("churnml: sentiment must be POSITIVE, NEGATIVE, NEUTRAL or MIXED, not ")
    assert diag.message_detail and diag.message_hint


def test_recommend_incentive_still_takes_nulls_and_any_case(conn: psycopg.Connection) -> None:
    assert recommend(conn, 0.85, " negative ", 0.9)["offer"] == "$25 credit"
    assert recommend(conn, None, None, None)["rule_name"] == "no_incentive"
    assert recommend(conn, 0, "MIXED", 1)["rule_name"] == "no_incentive"


@pytest.mark.parametrize(("statement", "error", "message"), [
    ("SELECT * FROM churnml.recommend_incentive(0.5, 'NEUTRAL', 0.9, '{\"day_mins\": 1e400}')",
     psycopg.errors.NumericValueOutOfRange, 'input "day_mins" is out of range'),
    ("SELECT * FROM churnml.recommend_incentive(0.5, 'NEUTRAL', 0.9, customer_key => '')",
     psycopg.errors.InvalidParameterValue, "customer_key must not be blank"),
    ("SELECT * FROM churnml.recommend_incentive(0.5, 'NEUTRAL', 0.9, '[1]')",
     psycopg.errors.InvalidParameterValue, "customer must be a JSON object"),
    ("SELECT * FROM churnml.rule_set_cost('default', 100, 0.3, sentiment_mix => '{\"BOGUS\": 1}')",
     psycopg.errors.InvalidParameterValue,
     'a sentiment_mix key must be POSITIVE, NEGATIVE, NEUTRAL or MIXED, not "BOGUS"'),
    ("SELECT * FROM churnml.rule_set_cost('default', 100, 0.3, confidence => 'NaN')",
     psycopg.errors.NumericValueOutOfRange, "confidence must be between 0 and 1, not NaN"),
    ("SELECT churnml.record_outcome(1::bigint, NULL)", psycopg.errors.InvalidParameterValue,
     "outcome must be 'retained' or 'churned', not NULL"),
    ("SELECT churnml.log_offer('k', NULL)", psycopg.errors.NullValueNotAllowed, "recommendation must not be NULL"),
    ("SELECT churnml.log_offer(NULL, r) FROM churnml.recommend_incentive(0.5, 'NEUTRAL', 0.9) r",
     psycopg.errors.NullValueNotAllowed, "customer_key must not be NULL"),
])
def test_incentive_functions_refuse_nonsense(conn: psycopg.Connection, statement: str, error: type,
                                             message: str) -> None:
    with pytest.raises(error) as info:
        conn.execute(statement)
    primary = info.value.diag.message_primary
    assert primary.startswith("churnml: ") and message in primary, primary
    text = primary.removeprefix("churnml: ")
    assert text[0].islower() or text[0] in "\"'", primary  # lowercase, never "ValueError: ..." or "spiexceptions."


def test_rules_and_experiments_with_offers_are_kept(conn: psycopg.Connection) -> None:
    """No foreign key (it would lock the rule row on every offer): the triggers refuse the delete instead."""
    conn.execute("INSERT INTO churnml.experiments (name, seed) VALUES ('kept_exp', 'k')")
    conn.execute("""INSERT INTO churnml.incentive_rules (rule_set, priority, name, condition, offer, arms, experiment)
        VALUES ('kept', 1, 'kept_rule', 'TRUE', 'x', '[{"arm": "A", "offer": "x", "weight": 1}]', 'kept_exp')""")
    conn.execute("SELECT churnml.log_offer('kept/1', r) FROM churnml.recommend_incentive(0.5, NULL, NULL, "
                 "customer_key => 'kept/1', rule_set => 'kept') r")
    with pytest.raises(psycopg.errors.ForeignKeyViolation) as info:
        conn.execute("DELETE FROM churnml.incentive_rules WHERE name = 'kept_rule'")
    assert info.value.diag.message_primary == 'churnml: rule "kept_rule" made offers and cannot be deleted'
    assert "enabled = false" in info.value.diag.message_hint
    conn.execute("UPDATE churnml.incentive_rules SET arms = NULL, experiment = NULL WHERE name = 'kept_rule'")
    with pytest.raises(psycopg.errors.ForeignKeyViolation):
        conn.execute("DELETE FROM churnml.experiments WHERE name = 'kept_exp'")
    conn.execute("DELETE FROM churnml.offer_log WHERE customer_key = 'kept/1'")
    conn.execute("DELETE FROM churnml.incentive_rules WHERE name = 'kept_rule'")
    conn.execute("DELETE FROM churnml.experiments WHERE name = 'kept_exp'")


# --------------------------------------------------------------------------- release-candidate review

def test_a_rule_backed_offer_is_what_the_rule_offers(conn: psycopg.Connection, roles: Callable[[str], str]) -> None:
    """The reviewer's forged $1000000 credit and $999 arm are refused with a DETAIL naming what the rule (or arm)
    offers; left out, the offer is filled in from the rule; experiment_results counts only real arm offers."""
    rule3, rule4 = (conn.execute("SELECT id FROM churnml.incentive_rules WHERE name = %s", (name,)).fetchone()[0]
                    for name in ("negative_high_risk", "negative_medium_risk"))
    before = conn.execute("SELECT arm, offers, total_cost FROM churnml.experiment_results(%s) ORDER BY arm",
                          (EXPERIMENT,)).fetchall()
    for role in ("cm_inc_user", "cm_inc_admin"):
        with psycopg.connect(roles(role), autocommit=True) as caller:
            with pytest.raises(psycopg.errors.CheckViolation) as info:
                caller.execute(
                    "INSERT INTO churnml.offer_log (customer_key, rule_id, rule_set, rule_name, offer, offer_value, "
                    "currency, will_churn, sentiment, confidence, reason) VALUES ('408/375-9999', %s, 'default', "
                    "'negative_high_risk', '$1000000 credit', 1000000, 'USD', 0.9, 'NEGATIVE', 0.9, "
                    "'approved by CEO')", (rule3,))
            diag = info.value.diag
            assert diag.message_primary == (f'churnml: the offer does not match its rule: rule {rule3} does not '
                                            f'offer "$1000000 credit" worth 1000000 USD')
            assert diag.message_detail.startswith(f'Rule {rule3} ("negative_high_risk") offers "$25 credit" worth '
                                                  f'25 USD.')
            assert "Failing row" not in diag.message_detail
            with pytest.raises(psycopg.errors.CheckViolation) as info:
                caller.execute("INSERT INTO churnml.offer_log (customer_key, rule_id, experiment, arm, offer, "
                               "offer_value, currency) VALUES ('x1', %s, %s, 'A', '$999 credit', 999, 'USD')",
                               (rule4, EXPERIMENT))
            assert info.value.diag.message_detail.startswith(
                f'Arm "A" of experiment "{EXPERIMENT}" (rule {rule4}) offers "$15 credit" worth 15 USD.')
            # a 1 MB offer is not repeated in the error
            with pytest.raises(psycopg.errors.CheckViolation) as info:
                caller.execute("INSERT INTO churnml.offer_log (customer_key, rule_id, offer) "
                               "VALUES ('x1', %s, repeat('x', 1000000))", (rule3,))
            assert len(info.value.diag.message_primary) < 200
            # the rule's offer goes in, given or filled in
            given = caller.execute("INSERT INTO churnml.offer_log (customer_key, rule_id, offer, offer_value, "
                                   "currency) VALUES ('rc/1', %s, '$25 credit', 25.00, 'USD') RETURNING offer_value",
                                   (rule3,)).fetchone()
            assert given == (Decimal("25.00"),)
            filled = caller.execute("INSERT INTO churnml.offer_log (customer_key, rule_id, experiment, arm) "
                                    "VALUES ('rc/1', %s, %s, 'B') RETURNING rule_name, offer, offer_value, currency",
                                    (rule4, EXPERIMENT)).fetchone()
            assert filled == ("negative_medium_risk", "$5 credit", 5, "USD")
            unpriced = caller.execute("INSERT INTO churnml.offer_log (customer_key, rule_id) SELECT 'rc/1', id FROM "
                                      "churnml.incentive_rules WHERE name = 'service_calls_international' "
                                      "RETURNING offer, offer_value").fetchone()
            assert unpriced == ("1000 free international minutes", None)
            # without a rule or an experiment, an offer is what its writer says
            assert caller.execute("INSERT INTO churnml.offer_log (customer_key, offer, offer_value, reason) VALUES "
                                  "('rc/1', 'a phone call from the manager', 40, 'by hand') RETURNING offer_value"
                                  ).fetchone() == (40,)
    after = {arm: (offers, cost) for arm, offers, cost in conn.execute(
        "SELECT arm, offers, total_cost FROM churnml.experiment_results(%s)", (EXPERIMENT,)).fetchall()}
    was = {arm: (offers, cost) for arm, offers, cost in before}
    assert after["B"] == (was["B"][0] + 2, was["B"][1] + 10) and after["A"] == was["A"]  # only the two $5 offers
    conn.execute("DELETE FROM churnml.offer_log WHERE customer_key = 'rc/1'")


@pytest.mark.parametrize(("recommendation", "sqlstate", "message"), [
    # the reviewer's reproduction: a CHECK violation showing the whole row, before
    ("row('x', -5, 'r', NULL, NULL, NULL, NULL, NULL, 'USD', '{}')", "22023",
     "offer_value must be a finite number >= 0, not -5"),
    ("row('x', 'NaN', 'r', NULL, NULL, NULL, NULL, NULL, 'USD', '{}')", "22023",
     "offer_value must be a finite number >= 0, not NaN"),
    ("row('x', 5, 'r', NULL, NULL, NULL, NULL, NULL, 'usd', '{}')", "22023",
     'currency must be three capital letters, not "usd"'),
    ("row('x', 5, 'r', NULL, 'A', NULL, NULL, NULL, 'USD', '{}')", "22023",
     "experiment and arm must both be given or both be NULL"),
    ("row('x', 5, 'r', NULL, NULL, NULL, NULL, NULL, 'USD', '{\"will_churn\": 7.5}')", "22003",
     "will_churn must be between 0 and 1, not 7.5"),
    ("row('x', 5, 'r', NULL, NULL, NULL, NULL, NULL, 'USD', '{\"confidence\": -1}')", "22003",
     "confidence must be between 0 and 1, not -1"),
    ("row('x', 5, 'r', NULL, NULL, NULL, NULL, NULL, 'USD', '{\"confidence\": \"high\"}')", "22023",
     "confidence must be a number, not a JSON string"),
    ("row('x', 5, 'r', NULL, NULL, NULL, NULL, NULL, 'USD', '{\"sentiment\": \"ECSTATIC\"}')", "22023",
     'sentiment must be POSITIVE, NEGATIVE, NEUTRAL or MIXED, not "ECSTATIC"'),
])
def test_log_offer_checks_its_arguments_first(roles: Callable[[str], str], recommendation: str, sqlstate: str,
                                              message: str) -> None:
    """A clean error of log_offer's own, never a CHECK violation with the whole row in its DETAIL."""
    with psycopg.connect(roles("cm_inc_user"), autocommit=True) as user:
        with pytest.raises(psycopg.Error) as info:
            user.execute(f"SELECT churnml.log_offer('k', {recommendation}::churnml.incentive)")
        diag = info.value.diag
        assert (diag.sqlstate, diag.message_primary) == (sqlstate, f"churnml: {message}")
        assert diag.message_detail and diag.message_detail[0].isupper() and "Failing row" not in diag.message_detail
        assert diag.message_hint


@pytest.mark.parametrize(("key", "message"), [
    (" ", "customer_key must not be blank"), ("\u3000\u00a0", "customer_key must not be blank"),
    ("\x01", "customer_key must not contain control characters"),
    ("408/375-9999\n", "customer_key must not contain control characters"),
    ("\t", "customer_key must not contain control characters"),
])
def test_customer_keys_are_checked_alike_everywhere(conn: psycopg.Connection, roles: Callable[[str], str], key: str,
                                                     message: str) -> None:
    """recommend_incentive, log_offer and the offer log refuse the same keys."""
    with psycopg.connect(roles("cm_inc_user"), autocommit=True) as user:
        with pytest.raises(psycopg.errors.InvalidParameterValue) as info:
            recommend(user, 0.5, "NEUTRAL", 0.9, key=key)
        assert info.value.diag.message_primary == f"churnml: {message}"
        with pytest.raises(psycopg.errors.InvalidParameterValue) as info:
            user.execute("SELECT churnml.log_offer(%s, r) FROM churnml.recommend_incentive(0.5, 'NEUTRAL', 0.9) r",
                         (key,))
        assert info.value.diag.message_primary == f"churnml: {message}"
        assert _sqlstate(user, f"INSERT INTO churnml.offer_log (customer_key) VALUES ({sql.Literal(key).as_string()})"
                         ) == "23514"
    # a key with inner spaces or non-ASCII letters is fine
    assert recommend(conn, 0.5, "NEUTRAL", 0.9, key="Zoë\u3000Müller 1")["rule_name"] == "no_incentive"


def test_log_offer_keeps_tiny_confidences(conn: psycopg.Connection) -> None:
    """A confidence below the smallest real (~1e-45) is stored as 0, not an underflow error."""
    offer_id = conn.execute("SELECT churnml.log_offer('tiny', r) FROM churnml.recommend_incentive(0.5, 'NEUTRAL', "
                            "1e-50) r").fetchone()[0]
    assert conn.execute("SELECT confidence FROM churnml.offer_log WHERE id = %s", (offer_id,)).fetchone() == (0.0,)
    conn.execute("DELETE FROM churnml.offer_log WHERE id = %s", (offer_id,))


RULE = ("INSERT INTO churnml.incentive_rules (rule_set, priority, name, condition, offer, reason) "
        "VALUES ('amplify', %s, %s, {condition}, {offer}, {reason})")


def test_reasons_cannot_amplify_input(roles: Callable[[str], str], conn: psycopg.Connection) -> None:
    """An admin's reason repeat('{state}', 70) and a user's 1,000,000-character state give a reason of at most
    1000 characters, each value cut at 100; a 2 MB customer object is refused before it is parsed."""
    with psycopg.connect(roles("cm_inc_admin"), autocommit=True) as admin:
        with pytest.raises(psycopg.errors.StringDataRightTruncation) as info:
            admin.execute(RULE.format(condition="'TRUE'", offer="'x'", reason="repeat('{state}', 500)"), (1, "amp"))
        assert info.value.diag.message_primary == ('churnml: the reason of rule "amp" is 3500 characters long, more '
                                                   'than 500')
        admin.execute(RULE.format(condition="'TRUE'", offer="'x'", reason="repeat('{state}', 70)"), (1, "amp"))
    try:
        with psycopg.connect(roles("cm_inc_user"), autocommit=True) as user:
            reason = user.execute("SELECT reason FROM churnml.recommend_incentive(0.5, 'NEGATIVE', 0.9, "
                                  "jsonb_build_object('state', repeat('x', 1000000)), rule_set => 'amplify')"
                                  ).fetchone()[0]
            assert len(reason) == 1000 and reason.endswith("\u2026")
            assert reason.startswith("x" * 99 + "\u2026" + "x" * 99 + "\u2026")
            short = user.execute("SELECT reason FROM churnml.recommend_incentive(0.5, 'NEGATIVE', 0.9, "
                                 "'{\"state\": \"KS\"}', rule_set => 'amplify')").fetchone()[0]
            assert short == "KS" * 70
            with pytest.raises(psycopg.errors.ProgramLimitExceeded) as info:
                user.execute("SELECT * FROM churnml.recommend_incentive(0.5, 'NEGATIVE', 0.9, "
                             "jsonb_build_object('state', repeat('x', 2000000)), rule_set => 'amplify')")
            diag = info.value.diag
            assert diag.message_primary == "churnml: customer is 1.9 MB of JSON, more than one call takes"
            assert diag.message_detail == "customer is at most 1.0 MB." and "to_jsonb(c) - " in diag.message_hint
            with pytest.raises(psycopg.errors.ProgramLimitExceeded):
                user.execute("SELECT * FROM churnml.rule_set_cost('default', 1, 0.5, sentiment_mix => "
                             "jsonb_build_object('NEUTRAL', 1, 'x', repeat('x', 2000000)))")
            # a number Python cannot read (more than 4300 digits) is out of range, not Python's own words
            with pytest.raises(psycopg.errors.NumericValueOutOfRange) as info:
                user.execute("SELECT * FROM churnml.recommend_incentive(0.5, 'NEGATIVE', 0.9, "
                             "('{\"day_mins\": 1' || repeat('0', 5000) || '}')::jsonb, rule_set => 'amplify')")
            assert info.value.diag.message_primary == "churnml: customer holds a number too large to read"
    finally:
        conn.execute("DELETE FROM churnml.incentive_rules WHERE rule_set = 'amplify'")


@pytest.mark.parametrize(("column", "value", "limit"), [
    ("offer", "repeat('x', 1000000)", 100),
    ("reason", "repeat('r', 140000)", 500),
    ("condition", "'will_churn >= 0' || repeat(' ', 5000)", 2000),
])
def test_rule_texts_have_length_limits(roles: Callable[[str], str], conn: psycopg.Connection, column: str,
                                       value: str, limit: int) -> None:
    """Checked by the rule trigger before anything is parsed (22001, naming the rule and the limit), and by
    CHECK constraints for anyone the trigger lets through."""
    values = {"condition": "'TRUE'", "offer": "'x'", "reason": "'r'", column: value}
    with psycopg.connect(roles("cm_inc_admin"), autocommit=True) as admin:
        with pytest.raises(psycopg.errors.StringDataRightTruncation) as info:
            admin.execute(RULE.format(**values), (1, "long"))
        diag = info.value.diag
        assert diag.message_primary.startswith(f'churnml: the {column} of rule "long" is ')
        assert diag.message_primary.endswith(f"characters long, more than {limit}")
        assert diag.message_detail == (f"A rule's {column} is at most {limit} characters"
                                       + (": it is returned and logged with every offer." if column != "condition"
                                          else "."))
        admin.execute(RULE.format(**values).replace(value, f"left({value}, {limit})"), (1, "long"))
        with pytest.raises(psycopg.errors.StringDataRightTruncation):
            admin.execute(f"UPDATE churnml.incentive_rules SET {column} = {column} || 'x' WHERE rule_set = 'amplify'")
    constraint = conn.execute("SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conname = %s",
                              (f"incentive_rules_{column}_length",)).fetchone()[0]
    assert f"<= {limit}" in constraint
    conn.execute("DELETE FROM churnml.incentive_rules WHERE rule_set = 'amplify'")
    with pytest.raises(psycopg.errors.StringDataRightTruncation):
        conn.execute("SELECT churnml.check_condition(repeat('TRUE AND ', 300) || 'TRUE')")


def test_arm_offers_have_a_length_limit(conn: psycopg.Connection) -> None:
    conn.execute("INSERT INTO churnml.experiments (name, seed) VALUES ('long_arm', 's') ON CONFLICT DO NOTHING")
    with pytest.raises(psycopg.errors.StringDataRightTruncation) as info:
        conn.execute("INSERT INTO churnml.incentive_rules (rule_set, priority, name, condition, offer, arms, "
                     "experiment) VALUES ('amplify', 1, 'arms', 'TRUE', 'x', jsonb_build_array(jsonb_build_object("
                     "'arm', 'A', 'offer', repeat('y', 101), 'weight', 1)), 'long_arm')")
    assert info.value.diag.message_primary == 'churnml: the offer of arm "A" is 101 characters long, more than 100'
    with pytest.raises(psycopg.errors.NumericValueOutOfRange):
        conn.execute("INSERT INTO churnml.incentive_rules (rule_set, priority, name, condition, offer, offer_value) "
                     "VALUES ('amplify', 1, 'nan', 'TRUE', 'x', 'NaN')")


HOLDOUT_MODEL = """
    WITH m AS (INSERT INTO churnml.models (name, artifact_format, artifact_sha256, feature_spec)
               VALUES (%s, 'xgboost-json', encode(sha256('\\x00'::bytea), 'hex'), '{}') RETURNING id)
    INSERT INTO churnml.model_artifacts (model_id, artifact, holdout_labels, holdout_scores)
    SELECT (SELECT id FROM m), '\\x00', array_agg(g %% 3 = 0), array_agg((g %% 1000) / 1000.0)
    FROM generate_series(1, %s) g
    RETURNING model_id"""


@pytest.mark.parametrize(("labels", "scores", "detail"), [
    ("{t,f,t,f}", "{0.1,0.2,0.3,0.4,0.5}", "It has 4 labels and 5 scores; each held-out row has one of each."),
    ("{t,f,t,f}", "{0.1,0.2,NaN,0.4}", "Held-out row 3 of 4 has the score NaN;"),
    ("{t,f,t,f}", "{0.1,0.2,1.5,0.4}", "Held-out row 3 of 4 has the score 1.5;"),
    ("{t,f,t,f}", "{0.1,NULL,0.3,0.4}", "Held-out row 2 of 4 has a NULL score;"),
    ("{t,NULL,t,f}", "{0.1,0.2,0.3,0.4}", "Held-out row 2 of 4 has a NULL label;"),
])
def test_damaged_holdout_rows_are_refused_alike(conn: psycopg.Connection, labels: str, scores: str,
                                               detail: str) -> None:
    """rule_set_cost took NaN scores that threshold_costs refused; mismatched arrays gave Python's zip() error."""
    model_id = conn.execute(HOLDOUT_MODEL, ("damaged_holdout", 10)).fetchone()[0]
    try:
        conn.execute("UPDATE churnml.model_artifacts SET holdout_labels = %s, holdout_scores = %s WHERE model_id = %s",
                     (labels, scores, model_id))
        for call in ("SELECT * FROM churnml.rule_set_cost('default', 500, 0.3, model => %s)",
                     "SELECT * FROM churnml.threshold_costs(%s, 1, 1, 1, 1)",
                     "SELECT * FROM churnml.optimal_threshold(%s, 1, 1, 1, 1)"):
            with pytest.raises(psycopg.errors.DataCorrupted) as info:
                conn.execute(call, (str(model_id),))
            diag = info.value.diag
            assert diag.message_primary == f"churnml: the held-out rows of model {model_id} are damaged", call
            assert diag.message_detail.startswith(detail) and "holdout_scores" in diag.message_hint
    finally:
        conn.execute("DELETE FROM churnml.models WHERE id = %s", (model_id,))


LATE_S = 1.5


@pytest.fixture(scope="module")
def slow_costs(db: str) -> Iterator[dict[str, str]]:
    """The reviewer's 5,001-rule set and a model with 3,000,000 held-out rows."""
    with psycopg.connect(db, autocommit=True) as conn:
        conn.execute("""
            INSERT INTO churnml.incentive_rules (rule_set, priority, name, condition, offer, offer_value, reason)
            SELECT 'big', i, 'r' || i, 'will_churn > 0.5 AND will_churn * ' || i || ' > 1e12 AND sentiment IN '
                   '(''NEGATIVE'', ''POSITIVE'')', 'x', 1, 'r {will_churn}'
            FROM generate_series(1, 5000) i""")
        conn.execute("INSERT INTO churnml.incentive_rules (rule_set, priority, name, condition, offer, offer_value) "
                     "VALUES ('big', 5001, 'everyone', 'TRUE', 'y', 0)")
        small = conn.execute(HOLDOUT_MODEL, ("cost_500", 500)).fetchone()[0]
        large = conn.execute(HOLDOUT_MODEL, ("cost_3m", 3_000_000)).fetchone()[0]
    mix = '{"NEGATIVE": 1, "POSITIVE": 1, "NEUTRAL": 1, "MIXED": 1}'
    yield {
        "5,001 rules": f"SELECT count(*) FROM churnml.rule_set_cost('big', 500, 0.3, model => '{small}', "
                       f"sentiment_mix => '{mix}')",
        "3,000,000 held-out rows": f"SELECT count(*) FROM churnml.rule_set_cost('default', 500, 0.3, "
                                   f"model => '{large}', sentiment_mix => '{mix}')",
    }
    with psycopg.connect(db, autocommit=True) as conn:
        conn.execute("DELETE FROM churnml.incentive_rules WHERE rule_set = 'big'")
        conn.execute("DELETE FROM churnml.models WHERE id IN (%s, %s)", (small, large))


@pytest.mark.slow
@pytest.mark.parametrize("how", ["statement_timeout", "pg_cancel_backend"])
@pytest.mark.parametrize("case", ["5,001 rules", "3,000,000 held-out rows"])
def test_rule_set_cost_stops_when_asked(db: str, slow_costs: dict[str, str], roles: Callable[[str], str],
                                        case: str, how: str) -> None:
    """rule_set_cost stopped 25.7 s after statement_timeout and 28.8 s after pg_cancel_backend; now within about
    a second (it checks for interrupts per held-out row and per rule it loads). Run with -s for the delays."""
    with psycopg.connect(roles("cm_inc_user"), autocommit=True) as session:
        pid = session.info.backend_pid

        def cancel() -> None:
            with psycopg.connect(db, autocommit=True) as other:
                other.execute("SELECT pg_cancel_backend(%s)", [pid])

        if how == "statement_timeout":
            session.execute(f"SET statement_timeout = '{int(ASK_AFTER * 1000)}ms'")
        error, delay = run_until_asked(session, slow_costs[case], cancel if how == "pg_cancel_backend" else
                                      lambda: None)
        print(f"\n  rule_set_cost, {case:<24} {how:<18} stopped {delay * 1000:6.0f} ms after the request", end="")
        assert error.sqlstate == "57014", error
        assert delay < LATE_S
        session.execute("SET statement_timeout = 0")
        assert recommend(session, 0.85, "NEGATIVE", 0.9)["offer"] == "$25 credit"
