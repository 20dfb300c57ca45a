"""Every churnml call that can run long stops when asked, within about a second.

For each call (a batch of texts, training, bulk scoring, the dashboard view, explanations)
and each way of asking (statement_timeout, pg_cancel_backend from another session,
pg_terminate_backend), the test starts work that runs for many seconds when left alone,
asks it to stop after ASK_AFTER seconds, and measures how long it took to stop. The
delays are printed (run with -s to see them) and must stay under LATE_S. A call that
finished before it was asked to stop fails the test: it would prove nothing.
Also: what was stopped left nothing behind, and the next call in the session works.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator

import psycopg
import pytest

from tests.sql.stop_requests import ASK_AFTER, report, run_until_asked, stop_request

# "Within about a second": the longest uninterruptible step is one pass of the sentiment
# encoder (~0.3 s) or one boosting round; 1.5 s leaves room for a loaded 2-core machine.
LATE_S = 1.5

COMPLAINT = ("I have been on hold for forty minutes twice this week and nobody has fixed the double charge "
             "on my bill")

# name -> (statement, prepared in the database by `slow_db`); each runs far longer than ASK_AFTER
CALLS = {
    "detect_sentiment_batch": f"SELECT count(*) FROM churnml.detect_sentiment_batch("
                              f"array_fill('{COMPLAINT}'::text, ARRAY[20000]))",
    "sentiment_summary": f"SELECT * FROM churnml.sentiment_summary(array_fill('{COMPLAINT}'::text, ARRAY[20000]))",
    "embed_batch": f"SELECT count(*) FROM churnml.embed_batch(array_fill('{COMPLAINT}'::text, ARRAY[20000]))",
    "train (boosting)": "SELECT churnml.train('slow_trees', 'customers', 'churn', exclude => ARRAY['phone'], "
                        "hyperparams => '{\"num_boost_round\": 10000, \"early_stopping_rounds\": 0, "
                        "\"max_depth\": 12, \"eta\": 0.001}')",
    "train (text embedding)": "SELECT churnml.train('slow_text', 'messages_wide', 'churn')",
    "train_sentiment": "SELECT churnml.train_sentiment('slow_tone', 'labelled', 'message', 'label')",
    "score": "SELECT count(*) FROM churnml.score('SELECT c.* FROM customers c, generate_series(1, 2000) g')",
    "customer_risk": "SELECT count(*) FROM churnml.customer_risk",
    # OFFSET 0 keeps the 200,000 rows apart, so each is explained (not each customer once)
    "explain_churn": "SELECT count(*) FROM (SELECT c.* FROM customers c, generate_series(1, 100) g OFFSET 0) AS c, "
                     "churnml.explain_churn(c) AS e",
}


@pytest.fixture(scope="module")
def slow_db(make_telco: Callable[..., str]) -> str:
    url = make_telco("interrupts", 2000, 17)
    with psycopg.connect(url, autocommit=True) as conn:
        # a text column the encoder must embed for every customer (several texts each)
        conn.execute("CREATE TABLE messages_wide AS SELECT c.*, repeat(c.phone || ' ' || c.state || ' ', 40) "
                     "AS note FROM customers c, generate_series(1, 5) g")
        conn.execute(f"CREATE TABLE labelled AS SELECT '{COMPLAINT} ' || g AS message, "
                     "(ARRAY['POSITIVE', 'NEGATIVE', 'NEUTRAL'])[g % 3 + 1] AS label "
                     "FROM generate_series(1, 30000) g")
        # the dashboard view reads the configured customer table: make it large
        conn.execute("CREATE VIEW many_customers AS SELECT c.* FROM customers c, generate_series(1, 200) g")
        conn.execute("INSERT INTO churnml.call_center_settings (customer_table) VALUES ('public.many_customers')")
    return url


@pytest.fixture
def session(slow_db: str) -> Iterator[psycopg.Connection]:
    with psycopg.connect(slow_db, autocommit=True) as conn:
        # load the models first: the cold start is its own test below
        conn.execute("SELECT churnml.detect_sentiment('warm up'), churnml.embed('warm up')")
        conn.execute("SELECT churnml.will_churn(c) FROM customers c LIMIT 1")
        yield conn


@pytest.mark.slow
@pytest.mark.parametrize("name", list(CALLS))
def test_statement_timeout(session: psycopg.Connection, name: str) -> None:
    session.execute(f"SET statement_timeout = '{int(ASK_AFTER * 1000)}ms'")
    error, delay = run_until_asked(session, CALLS[name], lambda: None)
    report(name, "statement_timeout", delay)
    assert error.sqlstate == "57014", error
    assert "statement timeout" in str(error)
    assert delay < LATE_S
    session.execute("SET statement_timeout = 0")
    # nothing left behind: the session works, and a stopped training stored no model
    assert session.execute("SELECT count(*) FROM churnml.models WHERE name LIKE 'slow%'").fetchone()[0] == 0
    assert session.execute("SELECT churnml.detect_sentiment_label('thanks, all good now', engine => 'lexicon')"
                           ).fetchone()[0] == "POSITIVE"


@pytest.mark.slow
@pytest.mark.parametrize("name", ["detect_sentiment_batch", "embed_batch", "train (boosting)",
                                  "train (text embedding)", "train_sentiment", "score", "customer_risk"])
def test_pg_cancel_backend(session: psycopg.Connection, slow_db: str, name: str) -> None:
    error, delay = run_until_asked(session, CALLS[name], stop_request(session, slow_db, "pg_cancel_backend"))
    report(name, "pg_cancel_backend", delay)
    assert error.sqlstate == "57014", error
    assert "user request" in str(error)
    assert delay < LATE_S
    assert session.execute("SELECT 1").fetchone() == (1,)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["sentiment_summary", "embed_batch", "train (boosting)", "train_sentiment"])
def test_pg_terminate_backend(slow_db: str, name: str) -> None:
    conn = psycopg.connect(slow_db, autocommit=True)
    conn.execute("SELECT churnml.detect_sentiment('warm up'), churnml.embed('warm up')")
    pid = conn.info.backend_pid

    def terminate() -> None:
        with psycopg.connect(slow_db, autocommit=True) as other:
            other.execute("SELECT pg_terminate_backend(%s)", [pid])

    try:
        error, delay = run_until_asked(conn, CALLS[name], terminate)
    finally:
        conn.close()
    report(name, "pg_terminate_backend", delay)
    assert isinstance(error, psycopg.OperationalError), error
    assert delay < LATE_S
    with psycopg.connect(slow_db, autocommit=True) as other:
        deadline = time.monotonic() + 5
        while other.execute("SELECT count(*) FROM pg_stat_activity WHERE pid = %s", [pid]).fetchone()[0]:
            assert time.monotonic() < deadline, "the terminated backend is still there"
            time.sleep(0.05)


@pytest.fixture(scope="module")
def big_model(slow_db: str) -> tuple[str, bytes]:
    """The review's model 'fz': four complete depth-16 trees (524,284 nodes), deployed; and the UBJSON of a
    six-tree one (27 MB) to register."""
    from tests.big_models import full_trees_ubj

    with psycopg.connect(slow_db, autocommit=True) as conn:
        spec = conn.execute("SELECT m.feature_spec::text FROM churnml.models m JOIN churnml.current_deployments d "
                            "ON d.model_id = m.id WHERE d.name = 'churn'").fetchone()[0]
        n_features = len(json.loads(spec)["output_names"])
        conn.execute("SELECT churnml.register_model('fz', %s::bytea, %s::jsonb, '{}', '{}', deploy => true)",
                     (full_trees_ubj(4, 16, n_features), spec))
    return spec, full_trees_ubj(6, 16, n_features)


BIG_CALLS = {
    "model_trees": ("SELECT length(churnml.model_trees('fz')::text)", False),
    "feature_importance": ("SELECT count(*) FROM churnml.feature_importance('fz')", False),
    "register_model": ("SELECT churnml.register_model('fz6', %s::bytea, %s::jsonb, '{}', '{}')", True),
}


@pytest.mark.slow
@pytest.mark.parametrize("how", ["statement_timeout", "pg_cancel_backend"])
@pytest.mark.parametrize("name", list(BIG_CALLS))
def test_big_model_calls_stop_when_asked(slow_db: str, big_model: tuple[str, bytes], name: str, how: str) -> None:
    """The review: over a valid big model, model_trees stopped 7.8 s after the request (and printed 570 MB),
    feature_importance 1.9 s, register_model of a 27 MB UBJSON model 4.8 s."""
    spec, ubj = big_model
    statement, with_model = BIG_CALLS[name]
    with psycopg.connect(slow_db, autocommit=True) as conn:
        conn.execute("SET ROLE churnml_admin" if with_model else "SET ROLE churnml_user")
        error, delay = run_until_asked(conn, statement, stop_request(conn, slow_db, how),
                                       (ubj, spec) if with_model else None)
        report(name + " (big model)", how, delay)
        assert error.sqlstate == "57014", error
        assert delay < LATE_S
        conn.execute("SET statement_timeout = 0")
        assert conn.execute("SELECT count(*) FROM churnml.models WHERE name = 'fz6'").fetchone()[0] == 0


def test_model_trees_output_is_bounded(slow_db: str, big_model: tuple[str, bytes]) -> None:
    with psycopg.connect(slow_db, autocommit=True) as conn:
        conn.execute("SET ROLE churnml_user")
        trees = conn.execute("SELECT churnml.model_trees('fz')").fetchone()[0]
        assert trees["trees"] == 4 and trees["depths"] == [16] * 4
        assert trees["first_tree_nodes"] == 131071 and trees["first_tree_nodes_shown"] == 1023
        assert trees["first_tree_text"].endswith("(130048 of the tree's 131071 nodes not shown: model_trees shows "
                                                 "the first 1023, breadth first)")
        assert len(trees["first_tree_text"]) < 200_000
        assert conn.execute("SELECT count(*) FROM churnml.feature_importance('fz')").fetchone()[0] > 0


@pytest.mark.slow
def test_a_cold_encoder_load_honours_the_timeout_and_goes_on(slow_db: str) -> None:
    """The first embed in a backend imports torch and loads the float32 model (seconds);
    a timeout during the load ends the statement at once, and the next call gets the model."""
    with psycopg.connect(slow_db, autocommit=True) as conn:
        conn.execute("SET statement_timeout = '300ms'")
        started = time.monotonic()
        with pytest.raises(psycopg.errors.QueryCanceled):
            conn.execute("SELECT churnml.embed('cold start')")
        late = time.monotonic() - started - 0.3
        report("embed (cold load)", "statement_timeout", late)
        # Importing torch's libraries holds Python's lock for up to ~0.9 s at a time on a quiet
        # machine (~1.1 s late measured), longer when other work shares the cores (2.3 s at a
        # load of 5 on 2 cores): this one step gets a wider bound than LATE_S.
        assert late < 3.0
        conn.execute("SET statement_timeout = 0")
        vector = conn.execute("SELECT churnml.embed('cold start')").fetchone()[0]
        assert len(vector) == 384


def test_batch_limits_refuse_oversized_requests_before_any_work(slow_db: str) -> None:
    with psycopg.connect(slow_db, autocommit=True) as conn:
        conn.execute("SET ROLE churnml_user")
        for call in ("churnml.detect_sentiment_batch(array_fill('x'::text, ARRAY[100001]))",
                     "churnml.embed_batch(array_fill('x'::text, ARRAY[100001]))",
                     "churnml.sentiment_summary(array_fill('x'::text, ARRAY[100001]))"):
            started = time.monotonic()
            with pytest.raises(psycopg.errors.ProgramLimitExceeded) as refused:
                conn.execute(f"SELECT * FROM {call}")
            assert time.monotonic() - started < 1.0
            assert refused.value.diag.message_primary == ("churnml: input_texts has 100001 elements, more than one "
                                                          "call takes")
            assert refused.value.diag.message_detail == "churnml.max_batch_texts is 100000."
            assert "churnml.max_batch_texts" in (refused.value.diag.message_hint or "")
        with pytest.raises(psycopg.errors.ProgramLimitExceeded) as too_big:
            conn.execute("SELECT count(*) FROM churnml.embed_batch(array_fill(repeat('x', 1000000), ARRAY[70]))")
        assert "70 elements" not in too_big.value.diag.message_primary
        assert too_big.value.diag.message_detail == "churnml.max_batch_size is 64.0 MB."
        # a churnml_user cannot lift the limits for itself ...
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("SET churnml.max_batch_texts = 1000000")
        conn.execute("RESET ROLE")


def _peak_mb(conn: psycopg.Connection) -> float:
    pid = conn.info.backend_pid
    with open(f"/proc/{pid}/status", encoding="utf-8") as status:
        return int(next(ln for ln in status if ln.startswith("VmHWM:")).split()[1]) / 1024


@pytest.mark.parametrize(("call", "what", "array"), [
    # ~200 MB of text: over churnml.max_batch_size
    ("SELECT count(*) FROM churnml.detect_sentiment_batch({array}, engine => 'lexicon')", "input_texts",
     "array_fill(repeat('a', 2000), ARRAY[99999])"),
    ("SELECT count(*) FROM churnml.embed_batch({array})", "input_texts", "array_fill(repeat('a', 2000), ARRAY[99999])"),
    # 20 million timestamps (160 MB) beside one text
    ("SELECT * FROM churnml.sentiment_summary(ARRAY['a'], {array})", "times", "array_fill(now(), ARRAY[20000000])"),
    # more elements than a model has features
    ("SELECT churnml.predict(1, {array}, ARRAY['no'])", "numbers", "array_fill(1.0::float8, ARRAY[200000])"),
    ("SELECT churnml.predict(1, ARRAY[1.0], {array})", "texts", "array_fill('no'::text, ARRAY[200000])"),
])
def test_arrays_are_checked_before_python_copies_them(slow_db: str, call: str, what: str, array: str) -> None:
    """The arrays a churnml_user passes are checked in C before PL/Python turns them into Python objects
    (several times their size): the call's peak memory is that of building the array in SQL, give or take."""
    peaks = []
    for statement in (f"SELECT cardinality({array})", call.format(array=array)):
        with psycopg.connect(slow_db, autocommit=True) as conn:
            conn.execute("SET ROLE churnml_user")
            conn.execute("SELECT churnml.detect_sentiment('warm up', engine => 'lexicon')")
            before = _peak_mb(conn)
            started = time.monotonic()
            try:
                conn.execute(statement)
            except psycopg.errors.ProgramLimitExceeded as refused:
                assert refused.diag.message_primary.startswith(f"churnml: {what} "), refused.diag.message_primary
                assert time.monotonic() - started < 2.0
            else:
                assert statement.startswith("SELECT cardinality"), f"{statement} was not refused"
            peaks.append(_peak_mb(conn) - before)
    print(f"\n  {what}: building the array alone grew the backend {peaks[0]:.0f} MB, the refused call "
          f"{peaks[1]:.0f} MB", end="")
    assert peaks[1] < 1.1 * peaks[0] + 40


def test_a_limit_set_before_the_library_loads_is_not_honoured(make_database: Callable[..., str]) -> None:
    """A churnml_user's SET before churnml.so defines the parameter is only a placeholder:
    loading the library drops it, as PostgreSQL does for any superuser-only parameter."""
    url = make_database("limits")
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("SET ROLE churnml_user")
        conn.execute("SET churnml.max_batch_texts = 5")  # placeholder: churnml.so not loaded yet
        rows = conn.execute("SELECT count(*) FROM churnml.detect_sentiment_batch("
                            "array_fill('fine'::text, ARRAY[10]), engine => 'lexicon')").fetchone()[0]
        assert rows == 10
        assert conn.execute("SHOW churnml.max_batch_texts").fetchone()[0] == "100000"


def test_a_superuser_can_change_the_limits(slow_db: str) -> None:
    with psycopg.connect(slow_db, autocommit=True) as conn:
        conn.execute("SET churnml.max_batch_texts = 3")
        with pytest.raises(psycopg.errors.ProgramLimitExceeded):
            conn.execute("SELECT count(*) FROM churnml.detect_sentiment_batch("
                         "array_fill('fine'::text, ARRAY[4]), engine => 'lexicon')")
        assert conn.execute("SELECT count(*) FROM churnml.detect_sentiment_batch("
                            "array_fill('fine'::text, ARRAY[3]), engine => 'lexicon')").fetchone()[0] == 3
        conn.execute("SET churnml.max_batch_size = '1kB'")
        with pytest.raises(psycopg.errors.ProgramLimitExceeded):
            conn.execute("SELECT * FROM churnml.sentiment_summary(ARRAY[repeat('fine ', 300)], engine => 'lexicon')")
