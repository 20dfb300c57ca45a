"""pg_dump/pg_restore of a database using churnml keeps every kind of state, and the
restored database scores identically and goes on working (sequences included)."""

from __future__ import annotations

from collections.abc import Callable

import psycopg
import pytest

from tests.churnml_state import SCORES, kept_rows, populate, typed_scores
from tests.conftest import dump_and_restore

DEPLOYED = "SELECT name, model_id, threshold FROM churnml.current_deployments ORDER BY name"
CALL = ("SELECT a.will_churn, a.sentiment, a.offer, a.top_reasons::text FROM customers c, "
        "churnml.assess_customer(c.area_code, c.phone, 'You charged me twice!', log_offer => false, "
        "engine => 'lexicon') a ORDER BY c.area_code, c.phone LIMIT 25")


@pytest.mark.slow
def test_dump_and_restore_keeps_models_rules_offers_and_settings(make_database: Callable[..., str]) -> None:
    source = make_database("survive", extension=False)
    with psycopg.connect(source, autocommit=True) as conn:
        conn.execute("CREATE EXTENSION churnml CASCADE")
    populate(source, customers=600)
    with psycopg.connect(source) as conn:
        scores, typed = conn.execute(SCORES).fetchall(), typed_scores(conn)
        rows, deployed, calls = kept_rows(conn), conn.execute(DEPLOYED).fetchall(), conn.execute(CALL).fetchall()
        max_offer = conn.execute("SELECT max(id) FROM churnml.offer_log").fetchone()[0]
    assert rows["offer_outcomes"] and rows["models"] and max_offer

    target = make_database("restored", extension=False)
    restored = dump_and_restore(source, target)
    assert restored.returncode == 0, restored.stderr.decode(errors="replace")

    with psycopg.connect(target, autocommit=True) as conn:
        assert kept_rows(conn) == rows  # models (artifacts, checksums), deployments, rules, experiments, offers, ...
        assert conn.execute(DEPLOYED).fetchall() == deployed
        assert conn.execute(SCORES).fetchall() == scores
        assert typed_scores(conn) == typed
        assert conn.execute(CALL).fetchall() == calls
        # the restored database goes on: new offers continue the sequence, rules still validate
        new_offer = conn.execute("SELECT a.offer_id FROM customers c, churnml.assess_customer(c.area_code, c.phone, "
                                 "'Thanks', log_offer => true, engine => 'lexicon') a LIMIT 1").fetchone()[0]
        assert new_offer > max_offer
        with pytest.raises(psycopg.errors.InvalidParameterValue):
            conn.execute("UPDATE churnml.incentive_rules SET condition = 'pg_sleep(1) > 0' "
                         "WHERE name = 'angry_regulars'")
        # and EXECUTE is still not PUBLIC's (pg_dump keeps the extension's ACLs)
        public = conn.execute(
            "SELECT count(*) FROM pg_proc p JOIN pg_depend d ON d.objid = p.oid AND d.deptype = 'e' "
            "JOIN pg_extension e ON e.oid = d.refobjid AND e.extname IN ('churnml', 'churnml_aws') "
            "WHERE has_function_privilege('public', p.oid, 'EXECUTE')").fetchone()[0]
        assert public == 0
