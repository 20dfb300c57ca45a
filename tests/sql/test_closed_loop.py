"""The whole loop of issue 23 on simulated months with known drift (churnml data generate --months):
a champion trained on month 1; no alert on the undrifted month 2; an alert naming the charges on
month 3 (the price rise); a challenger that is no better, and one that is worse, refused; then the
real pg_cron runs the scheduled retrain on month 4 (the competitor changed who churns), the
challenger beats the stale champion on month 4's held-out rows and is promoted."""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import psycopg
import pytest
from psycopg import sql
from psycopg.rows import dict_row

CUSTOMERS, SEED, MONTHS = 4000, 42, 4
CHARGES = {"day_charge", "eve_charge", "night_charge", "int_charge"}
PASSWORD = f"pw-{secrets.token_hex(8)}"
CRON_WAIT_SECONDS = 150  # pg_cron 1.4.2 schedules by the minute


@pytest.fixture(scope="module")
def months(cron_db_url: str) -> Iterator[str]:
    """pg_cron's database with the simulated months (views loop_month_1..4 without the month column), a
    champion "loop" trained on month 1 and deployed, and a login role of churnml_admin; its URL."""
    from churnml_client import datagen

    with psycopg.connect(cron_db_url, autocommit=True) as conn:  # an earlier run's views would hold the tables
        conn.execute("DROP VIEW IF EXISTS loop_noise, loop_month_1, loop_month_2, loop_month_3, loop_month_4")
    with psycopg.connect(cron_db_url) as conn:
        datagen.load(conn, CUSTOMERS, SEED, progress=False, replace=True)
        datagen.load_months(conn, CUSTOMERS, SEED, MONTHS, datagen.parse_drift("price_rise:3,competitor:4", MONTHS)[0],
                            progress=False, replace=True)
    role = f"cm_loop_{secrets.token_hex(4)}"
    with psycopg.connect(cron_db_url, autocommit=True) as conn:
        columns = [r[0] for r in conn.execute(
            "SELECT attname FROM pg_attribute WHERE attrelid = 'public.customer_months'::regclass AND attnum > 0 "
            "AND NOT attisdropped AND attname <> 'month' ORDER BY attnum")]
        for month in range(1, MONTHS + 1):
            conn.execute(sql.SQL("CREATE OR REPLACE VIEW {} AS SELECT {} FROM public.customer_months WHERE month = {}")
                         .format(sql.Identifier(f"loop_month_{month}"),
                                 sql.SQL(", ").join(sql.Identifier(c) for c in columns), sql.Literal(month)))
        # a month-4 population whose labels are noise: what a broken label feed would give a challenger
        conn.execute("CREATE OR REPLACE VIEW loop_noise AS SELECT m.*, (hashtext(m.phone) % 7 = 0) AS noisy_churn "
                     "FROM loop_month_4 AS m")
        conn.execute(sql.SQL("CREATE ROLE {} LOGIN PASSWORD {} IN ROLE churnml_admin").format(
            sql.Identifier(role), sql.Literal(PASSWORD)))
        conn.execute(sql.SQL("GRANT SELECT ON public.customer_months, loop_month_1, loop_month_2, loop_month_3, "
                             "loop_month_4, loop_noise TO {}").format(sql.Identifier(role)))
        conn.execute("DELETE FROM churnml.deployments WHERE name = 'loop'")
    parts = urlsplit(cron_db_url)
    url = parts._replace(netloc=f"{role}:{PASSWORD}@{parts.hostname}:{parts.port}").geturl()
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("SELECT churnml.train('loop', 'loop_month_1', 'churn', exclude => ARRAY['phone'], "
                     "deploy => true)")
    try:
        yield url
    finally:
        with psycopg.connect(cron_db_url, autocommit=True) as conn:
            conn.execute("SELECT cron.unschedule(jobid) FROM cron.job WHERE username = %s", (role,))
            conn.execute(sql.SQL("DROP OWNED BY {}").format(sql.Identifier(role)))
            conn.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(role)))


def one(conn: psycopg.Connection, query: str, params: tuple[Any, ...] = ()) -> dict[str, Any]:
    row = conn.cursor(row_factory=dict_row).execute(query, params).fetchone()
    assert row is not None
    return row


def serving(conn: psycopg.Connection) -> int:
    return int(one(conn, "SELECT model_id FROM churnml.current_deployments WHERE name = 'loop'")["model_id"])


def test_no_alert_on_the_undrifted_month(months: str) -> None:
    with psycopg.connect(months, autocommit=True) as conn:
        run = one(conn, "SELECT * FROM churnml.monitor('loop', 'loop_month_2')")
    assert run["status"] == "ok" and run["drifted_features"] == [], run["features"][:3]
    assert run["max_feature_psi"] < 0.05 and run["score_psi"] < 0.1


def test_the_price_rise_alerts_and_names_the_charges(months: str) -> None:
    with psycopg.connect(months, autocommit=True) as conn:
        run = one(conn, "SELECT * FROM churnml.monitor('loop', 'loop_month_3')")
    assert run["status"] == "alert"
    assert set(run["drifted_features"]) == CHARGES  # minutes, calls and plans did not move
    assert all(f["psi"] < 0.05 for f in run["features"] if f["feature"] not in CHARGES)


def test_a_challenger_that_is_no_better_is_refused(months: str) -> None:
    """The price rise moves the charges but not who churns: a model of month 3 is not clearly better."""
    with psycopg.connect(months, autocommit=True) as conn:
        before = serving(conn)
        run = one(conn, "SELECT * FROM churnml.retrain('loop', 'loop_month_3', min_gain => 0.02)")
        assert run["status"] == "kept" and run["details"]["failed_guard"] == "min_gain", run["reason"]
        assert serving(conn) == before and run["challenger_id"] is not None


def test_a_worse_challenger_is_refused(months: str) -> None:
    with psycopg.connect(months, autocommit=True) as conn:
        before = serving(conn)
        # the champion's recipe reads the label "churn": give it the noisy labels under that name
        conn.execute("CREATE TEMP VIEW noisy AS SELECT state, acc_length, area_code, phone, int_plan, vmail_plan, "
                     "vmail_msg, day_mins, day_calls, day_charge, eve_mins, eve_calls, eve_charge, night_mins, "
                     "night_calls, night_charge, int_mins, int_calls, int_charge, cust_service_calls, "
                     "noisy_churn AS churn FROM loop_noise")
        run = one(conn, "SELECT * FROM churnml.retrain('loop', 'noisy')")
        assert run["status"] == "kept", run["reason"]
        assert run["challenger_auc"] < 0.7 and serving(conn) == before


def test_pg_cron_retrains_on_the_new_month_and_promotes_the_better_challenger(months: str) -> None:
    with psycopg.connect(months, autocommit=True) as conn:
        stale = serving(conn)
        assert one(conn, "SELECT status FROM churnml.monitor('loop', 'loop_month_4')")["status"] == "alert"
        policy = one(conn, "SELECT * FROM churnml.schedule_retrain('loop', '* * * * *', 'loop_month_4', "
                           "min_gain => 0.02)")
        try:
            deadline = time.monotonic() + CRON_WAIT_SECONDS
            run = None
            while run is None and time.monotonic() < deadline:
                run = conn.cursor(row_factory=dict_row).execute(
                    "SELECT * FROM churnml.retrain_history WHERE name = 'loop' AND trigger = 'schedule' "
                    "ORDER BY id LIMIT 1").fetchone()
                if run is None:
                    time.sleep(2)
            assert run is not None, "pg_cron did not run the job: " + repr(conn.execute(
                "SELECT status, return_message FROM cron.job_run_details ORDER BY runid DESC LIMIT 3").fetchall())
        finally:
            conn.execute("SELECT churnml.unschedule_retrain('loop')")
        assert run["status"] == "promoted", run["reason"]
        assert run["champion_id"] == stale and serving(conn) == run["challenger_id"]
        # the competitor changed who churns: the stale champion ranks month 4's customers clearly worse
        assert run["challenger_auc"] > run["champion_auc"] + 0.05, run
        assert run["champion_auc"] < 0.9 < run["challenger_auc"]
        assert policy["cron_job_id"] is not None
        assert conn.execute("SELECT count(*) FROM cron.job WHERE jobid = %s", (policy["cron_job_id"],)
                            ).fetchone()[0] == 0
