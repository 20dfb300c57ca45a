"""Scoring speed, first-call latency and backend memory for a deployed churn model.

Model: the walkthrough's 11 features, 150 trees of depth 4 (no early stopping).
Baselines, measured in the same run:
- per row: a PL/Python function that calls xgboost's inplace_predict once per row
  (what scoring through xgboost per row costs inside the backend);
- bulk score-and-store: an external psycopg client that fetches the rows, predicts
  with xgboost (the same model) and writes the scores back with COPY;
- first call: the first call of a PL/Python no-op in a fresh connection;
- memory: a backend that has run a PL/Python no-op.
"""

from __future__ import annotations

import time

import numpy as np
import psycopg

from bench.run import Context, Result, ensure_customers, proc_status_mb, timed

# the walkthrough's 11 model inputs, int_plan_no computed the way its SQL helper did
FEATURES = ("acc_length, vmail_msg, day_mins, day_calls, eve_mins, night_mins, night_calls, int_calls, "
            "int_charge, cust_service_calls, (int_plan = 'no')::int AS int_plan_no")
SOURCE = f"SELECT area_code || '/' || phone AS id, {FEATURES} FROM customers"
TRAIN_SOURCE = f"SELECT churn, {FEATURES} FROM customers"
TYPED_CALL = ("will_churn(acc_length, vmail_msg, day_mins, day_calls, eve_mins, night_mins, night_calls, "
              "int_calls, int_charge, cust_service_calls, (int_plan = 'no')::int)")

BASELINE_FUNCTION = """
CREATE OR REPLACE FUNCTION bench_xgb_per_row(a float8[]) RETURNS float8 LANGUAGE plpython3u STABLE AS $$
if 'booster' not in GD:
    import numpy, xgboost
    raw = plpy.execute("SELECT a.artifact FROM churnml.model_artifacts a JOIN churnml.current_deployments d "
                       "ON d.model_id = a.model_id WHERE d.name = 'bench'")[0]['artifact']
    b = xgboost.Booster()
    b.load_model(bytearray(raw))
    b.set_param({'nthread': 1})
    GD['booster'] = b
    GD['np'] = numpy
return float(GD['booster'].inplace_predict(GD['np'].array([a], dtype='float32'))[0])
$$;
CREATE OR REPLACE FUNCTION bench_noop(a float8) RETURNS float8 LANGUAGE plpython3u STABLE AS $$ return a $$;
"""


def _prepare(url: str, customers: int) -> None:
    with psycopg.connect(url) as conn:
        ensure_customers(conn, customers)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("SELECT churnml.train('bench', %s, 'churn', hyperparams => %s, deploy => true)",
                     (TRAIN_SOURCE, '{"num_boost_round": 150, "early_stopping_rounds": 0, "max_depth": 4}'))
        conn.execute("SELECT churnml.create_model_function('will_churn', 'bench')")
        conn.execute("CREATE EXTENSION IF NOT EXISTS churnml_aws")
        conn.execute(BASELINE_FUNCTION)
        conn.execute("DROP TABLE IF EXISTS scores_db, scores_client")
        conn.execute("CREATE TABLE scores_db (id text, probability float8)")
        conn.execute("CREATE TABLE scores_client (id text, probability float8)")


def _rate(url: str, query: str, rows: int) -> float:
    with psycopg.connect(url) as conn:
        conn.execute(f"SELECT {TYPED_CALL} FROM customers LIMIT 1")  # warm: model loaded
        return rows / timed(lambda: conn.execute(query).fetchone())


def _client_score_and_store(url: str) -> float:
    """The external-service baseline: fetch, predict with xgboost, COPY back."""
    import xgboost as xgb

    from churnml.training.feature_spec import FeatureSpec

    with psycopg.connect(url) as conn:
        artifact, spec_json = conn.execute(
            "SELECT a.artifact, m.feature_spec FROM churnml.models m JOIN churnml.model_artifacts a "
            "ON a.model_id = m.id JOIN churnml.current_deployments d ON d.model_id = m.id "
            "WHERE d.name = 'bench'").fetchone()
        booster = xgb.Booster()
        booster.load_model(bytearray(artifact))
        booster.set_param({"nthread": 1})
        spec = FeatureSpec.from_dict(spec_json)
        conn.execute("TRUNCATE scores_client")
        start = time.perf_counter()
        cur = conn.execute(SOURCE)
        names = [d.name for d in cur.description]
        rows = cur.fetchall()
        columns = {n: [r[i] for r in rows] for i, n in enumerate(names)}
        matrix, _ = spec.transform(columns)
        probabilities = booster.inplace_predict(matrix)
        with conn.cursor().copy("COPY scores_client (id, probability) FROM STDIN") as copy:
            for key, p in zip(columns["id"], probabilities.tolist(), strict=True):
                copy.write_row((key, p))
        conn.commit()
        return len(rows) / (time.perf_counter() - start)


def _db_score_and_store(url: str, n: int) -> float:
    with psycopg.connect(url) as conn:
        conn.execute("TRUNCATE scores_db")
        seconds = timed(lambda: conn.execute(
            "INSERT INTO scores_db SELECT key, probability FROM churnml.score(%s, 'id', 'bench')", (SOURCE,)))
        conn.commit()
        return n / seconds


def _first_call(url: str, query: str) -> float:
    with psycopg.connect(url) as conn:
        return timed(lambda: conn.execute(query).fetchone())


def _rss_mb(url: str, query: str) -> float:
    with psycopg.connect(url) as conn:
        pid = conn.execute("SELECT pg_backend_pid()").fetchone()[0]
        conn.execute(query).fetchall()
        return proc_status_mb(pid, "VmRSS")


def run(ctx: Context) -> list[Result]:
    bulk_n = 100_000 if ctx.quick else 1_000_000
    row_n = 50_000 if ctx.quick else 200_000
    url = ctx.server_url("bench_scoring")
    _prepare(url, bulk_n)
    results: list[Result] = []

    per_row_query = f"SELECT sum({TYPED_CALL}) FROM (SELECT * FROM customers LIMIT {row_n}) AS customers"
    baseline_query = ("SELECT sum(bench_xgb_per_row(ARRAY[acc_length, vmail_msg, day_mins, day_calls, eve_mins, "
                      "night_mins, night_calls, int_calls, int_charge, cust_service_calls, "
                      "(int_plan = 'no')::int]::float8[])) FROM (SELECT * FROM customers LIMIT 5000) AS c")
    base, _ = ctx.median_of(lambda: _rate(url, baseline_query, 5000))
    typed, runs = ctx.median_of(lambda: _rate(url, per_row_query, row_n))
    results.append(Result(name="will_churn(11 typed args), per row", unit="rows/s", median=typed, runs=runs,
                          baseline="xgboost inplace_predict per row in PL/Python", baseline_median=base,
                          target="≥ 50,000 rows/s"))
    row_form = f"SELECT sum(churnml.will_churn(c, 'bench')) FROM (SELECT {FEATURES} FROM customers LIMIT {row_n}) AS c"
    rows_median, runs = ctx.median_of(lambda: _rate(url, row_form, row_n))
    results.append(Result(name="will_churn(row), per row", unit="rows/s", median=rows_median, runs=runs,
                          baseline="xgboost inplace_predict per row in PL/Python", baseline_median=base,
                          target="(generic row form; typed function is the fast path)"))

    aws_query = (f"SELECT sum(aws_sagemaker.invoke_endpoint('bench', NULL, acc_length, vmail_msg, day_mins, day_calls, "
                 f"eve_mins, night_mins, night_calls, int_calls, int_charge, cust_service_calls, "
                 f"(int_plan = 'no')::int)::float8) FROM (SELECT * FROM customers LIMIT {row_n}) AS c")
    aws, runs = ctx.median_of(lambda: _rate(url, aws_query, row_n))
    results.append(Result(name="aws_sagemaker.invoke_endpoint (churnml_aws), per row", unit="rows/s", median=aws,
                          runs=runs, baseline="will_churn(11 typed args) per row", baseline_median=typed,
                          target="(Aurora compatibility; the typed function is the fast path)"))

    client, _ = ctx.median_of(lambda: _client_score_and_store(url))
    bulk, runs = ctx.median_of(lambda: _db_score_and_store(url, bulk_n))
    results.append(Result(name=f"score-and-store {bulk_n:,} rows (churnml.score → INSERT)", unit="rows/s",
                          median=bulk, runs=runs,
                          baseline="psycopg client: fetch, xgboost predict, COPY back", baseline_median=client,
                          target="≥ 300,000 rows/s and ≥ 2x the client"))

    first_query = f"SELECT {TYPED_CALL} FROM customers LIMIT 1"
    noop_first, _ = ctx.median_of(lambda: _first_call(url, "SELECT bench_noop(1)"))
    first, runs = ctx.median_of(lambda: _first_call(url, first_query))
    results.append(Result(name="first will_churn call in a fresh connection", unit="s", median=first, runs=runs,
                          baseline="first PL/Python no-op call", baseline_median=noop_first,
                          higher_is_better=False, target="≤ 0.3 s"))

    noop_rss, _ = ctx.median_of(lambda: _rss_mb(url, "SELECT bench_noop(1)"))
    rss, runs = ctx.median_of(lambda: _rss_mb(url, f"SELECT {TYPED_CALL} FROM customers LIMIT 1000"))
    results.append(Result(name="backend RSS with the model loaded", unit="MB", median=rss, runs=runs,
                          baseline="backend after a PL/Python no-op", baseline_median=noop_rss,
                          higher_is_better=False, target="≤ 120 MB"))

    with psycopg.connect(url) as conn:
        db = dict(conn.execute("SELECT id, probability FROM scores_db").fetchall())
        cl = dict(conn.execute("SELECT id, probability FROM scores_client").fetchall())
    diff = max(abs(db[k] - cl[k]) for k in cl)
    results[2].extra["max_abs_diff_vs_xgboost"] = float(np.float64(diff))
    return results
