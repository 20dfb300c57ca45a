"""Arguments are checked before expensive work, and errors say what is wrong in PostgreSQL's terms.

Regression tests for what an outside review found: `train` validated the model name and
parent_id only after training (52 s wasted) and then printed the whole model row,
artifact included, in DETAIL; a misspelt table was a syntax error; messages began with
`spiexceptions.X:`; a NULL model name read as "None"; churn_flag('Infinity') was true.
"""

from __future__ import annotations

from collections.abc import Callable

import psycopg
import pytest

# "Before work" is shown by what was read, not by time (a loaded machine makes any time bound
# flaky): the scans of these tables counted by pg_stat_xact_all_tables around the refused call.
_SCANS = ("SELECT COALESCE(sum(seq_scan + COALESCE(idx_scan, 0)), 0)::bigint FROM pg_catalog.pg_stat_xact_all_tables "
          "WHERE relid = ANY (%s::pg_catalog.regclass[])")


@pytest.fixture(scope="module")
def telco(make_telco: Callable[..., str]) -> str:
    url = make_telco("checks", 2000, 23)
    with psycopg.connect(url, autocommit=True) as conn:
        # labelled messages whose columns are not called message and label
        conn.execute("CREATE TABLE short_names AS SELECT 'fine, thanks ' || g AS m, 'POSITIVE' AS l "
                     "FROM generate_series(1, 30) g")
    return url


def _refused(conn: psycopg.Connection, statement: str, params: tuple | None = None,
             unread: tuple[str, ...] = ()) -> tuple[psycopg.Error, int]:
    """The error `statement` raises, and how often it scanned the `unread` tables (in one
    transaction, the statement in a savepoint: an aborted subtransaction's scans still count)."""
    with conn.transaction():
        before = conn.execute(_SCANS, (list(unread),)).fetchone()[0]
        with pytest.raises(psycopg.Error) as raised, conn.transaction():
            conn.execute(statement, params)
        scans = conn.execute(_SCANS, (list(unread),)).fetchone()[0] - before
    return raised.value, scans


def test_the_scan_count_sees_reads(telco: str) -> None:
    """The proof the checks below rely on: a statement that reads the table and then fails is counted."""
    with psycopg.connect(telco, autocommit=True) as conn:
        _, scans = _refused(conn, "SELECT count(*) / 0 FROM customers", unread=("customers",))
        assert scans == 1


def _clean(error: psycopg.Error) -> None:
    """A message in PostgreSQL's style: no Python class name, no internals, no row dump."""
    message = error.diag.message_primary or ""
    assert not message.startswith(("spiexceptions", "plpy", "churnml: spiexceptions")), message
    assert "Error:" not in message and "Traceback" not in message, message
    detail = error.diag.message_detail or ""
    assert "Failing row contains" not in detail and "\\x7b" not in detail, detail
    assert len(detail) < 600, detail


# statements that must be refused before any data is read or any model trained
BEFORE_TRAINING = [
    ("SELECT churnml.train('x y', 'customers', 'churn')", "22023", 'invalid model name "x y"'),
    ("SELECT churnml.train(repeat('x', 64), 'customers', 'churn')", "22023", "invalid model name"),
    ("SELECT churnml.train(NULL, 'customers', 'churn')", "22004", "a model needs a name"),
    ("SELECT churnml.train('churn2', 'customers', 'churn', parent_id => 424242)", "42704",
     "parent model 424242 does not exist"),
    ("SELECT churnml.train('churn2', 'customers', 'churn', test_fraction => 'NaN')", "22023",
     "invalid split fractions"),
    ("SELECT churnml.train('churn2', 'customers', 'churn', test_fraction => 0.6, validation_fraction => 0.5)",
     "22023", "invalid split fractions"),
    ("SELECT churnml.train('churn2', 'customers', NULL)", "22004", "label must name the column"),
    ("SELECT churnml.train('churn2', 'custmers', 'churn')", "42P01", 'relation "custmers" does not exist'),
    ("SELECT churnml.train_sentiment('tone 2', 'customer_message', 'message', 'label')", "22023",
     'invalid model name "tone 2"'),
    ("SELECT churnml.train_sentiment('tone2', 'labelled_messages', 'message', 'label')", "42P01",
     'relation "labelled_messages" does not exist'),
    # the outside review's list (0.3.0): every argument is checked before the source is read
    ("SELECT churnml.train('t1', 'customers', 'churn', exclude => ARRAY['phone'], search => '{\"trials\": 1000000}')",
     "22023", "invalid search trials: 1000000"),
    ("SELECT churnml.train('t1', 'customers', 'churn', search => '{\"space\": {\"bogus\": [1, 2]}}')", "22023",
     'unknown hyperparameter "bogus"'),
    ("SELECT churnml.train('t1', 'customers', 'churn', search => '{\"space\": {\"max_depth\": [2, 1000]}}')",
     "22023", 'invalid value for hyperparameter "max_depth": 1000'),
    ("SELECT churnml.train('t1', 'customers', 'churn', search => '[1,2]')", "22023", "search must be a JSON object"),
    ("SELECT churnml.train('t1', 'customers', 'churn', missing => 'bogus')", "22023", "invalid missing: 'bogus'"),
    ("SELECT churnml.train('t1', 'customers', 'churn', feature_types => '{\"state\": \"bogus\"}')", "22023",
     'invalid feature type for "state"'),
    ("SELECT churnml.train('t1', 'customers', 'churn', seed => -1)", "22023", "invalid seed: -1"),
    ("SELECT churnml.train('t1', 'customers', 'churn', hyperparams => '{\"eta\": 1e400}')", "22023",
     'invalid value for hyperparameter "eta": an integer of 401 digits'),
    ("SELECT churnml.train('t1', 'customers', 'churn', hyperparams => '{\"eta\": 1e5000}')", "22023",
     "hyperparams holds a number churnml cannot read"),
    ("SELECT churnml.train('t1', 'customers', 'churn', features => ARRAY['state', NULL])", "22023",
     "features must list column names"),
    ("SELECT churnml.train('t1', 'customers', 'churn', features => ARRAY['state', 'nope'])", "42703",
     'column "nope" named in features does not exist in the source'),
    ("SELECT churnml.train('t1', 'customers', 'churn', exclude => ARRAY['nope'])", "42703",
     'column "nope" named in exclude does not exist in the source'),
    ("SELECT churnml.train('t1', 'customers', 'churn', feature_types => '{\"nope\": \"numeric\"}')", "42703",
     'column "nope" named in feature_types does not exist in the source'),
    ("SELECT churnml.train('t1', 'customers', 'nope')", "42704", 'label column "nope" is not in the source'),
    ("SELECT churnml.train('t1', 'customers', 'churn', feature_types => '{\"state\": \"numeric\"}')", "42804",
     'column "state" of type text cannot be a numeric feature'),
    ("SELECT churnml.train('t1', 'SELECT *, now() AS seen FROM customers', 'churn')", "42804",
     'column "seen" of type timestamp with time zone cannot be used as a feature'),
    ("SELECT churnml.train_sentiment('tone2', 'customer_message', 'message', 'label', seed => -1)", "22023",
     "invalid seed: -1"),
    ("SELECT churnml.train_sentiment('tone2', 'short_names', 'message', 'label')", "42703",
     'column "message" is not in the source'),
    ("SELECT churnml.train_sentiment('tone2', 'short_names', 'm', 'label')", "42703",
     'column "label" is not in the source'),
    ("SELECT churnml.train_sentiment('churn', 'short_names', 'm', 'l')", "42710",
     '"churn" already names churn models'),
]


@pytest.mark.parametrize(("statement", "sqlstate", "message"), BEFORE_TRAINING)
def test_training_checks_its_arguments_first(telco: str, statement: str, sqlstate: str, message: str) -> None:
    with psycopg.connect(telco, autocommit=True) as conn:
        notices: list[str] = []
        conn.add_notice_handler(lambda diag: notices.append(diag.message_primary or ""))
        error, scans = _refused(conn, statement, unread=("customers",))
        assert error.sqlstate == sqlstate, str(error)
        assert message in (error.diag.message_primary or ""), error.diag.message_primary
        assert scans == 0
        if sqlstate != "42P01":  # refused before the source was even looked at
            assert not any("reading" in n or "embedding" in n for n in notices), notices
        _clean(error)
        assert conn.execute("SELECT count(*) FROM churnml.models").fetchone()[0] == 1


def test_refusals_name_the_allowed_values(telco: str) -> None:
    """The review's eta 1e400 was 22003 "numeric value out of range in churnml" / "Int too large to convert to
    float.": now the parameter and its range; an unknown column lists the source's columns."""
    with psycopg.connect(telco, autocommit=True) as conn:
        error, _ = _refused(conn, "SELECT churnml.train('t1', 'customers', 'churn', hyperparams => "
                                  "'{\"eta\": 1e400}')")
        assert error.diag.message_detail == "eta must be a number in (0, 1]."
        error, _ = _refused(conn, "SELECT churnml.train_sentiment('tone2', 'short_names', 'message', 'label')")
        assert error.diag.message_detail == "The source's columns are: m, l."
        error, _ = _refused(conn, "SELECT churnml.train('t1', 'customers', 'churn', features => ARRAY['nope'])")
        assert "Available: state, acc_length" in error.diag.message_detail


USER_ERRORS = [
    ("SELECT * FROM churnml.score('custmers')", "42P01", 'churnml: relation "custmers" does not exist'),
    ("SELECT * FROM churnml.score('NaN')", "42P01", 'churnml: relation "NaN" does not exist'),
    ("SELECT * FROM churnml.score('SELECT nope FROM customers')", "42703", 'column "nope" does not exist'),
    ("SELECT * FROM churnml.score('SELECT * FROM customers WHERE')", "42601", "syntax error"),
    ("SELECT churnml.will_churn(c, NULL) FROM customers c LIMIT 1", "22004", "model name must not be NULL"),
    ("SELECT churnml.churn_flag('Infinity')", "22003", "probability must be between 0 and 1"),
    ("SELECT churnml.churn_flag(-1)", "22003", "probability must be between 0 and 1"),
    ("SELECT churnml.churn_flag('NaN')", "22003", "probability must be between 0 and 1"),
    # the review: DETAIL "Maximum recursion depth exceeded while decoding a JSON array..."
    ("SELECT churnml._score_json('churn', repeat('[', 100000), 0)", "54001", "row_json is nested too deeply"),
]


@pytest.mark.parametrize(("statement", "sqlstate", "message"), USER_ERRORS)
def test_user_errors_are_specific(telco: str, statement: str, sqlstate: str, message: str) -> None:
    with psycopg.connect(telco, autocommit=True) as conn:
        conn.execute("GRANT SELECT ON customers TO churnml_user")
        conn.execute("SET ROLE churnml_user")
        error, _ = _refused(conn, statement)
        assert error.sqlstate == sqlstate, str(error)
        assert message in (error.diag.message_primary or ""), error.diag.message_primary
        assert "recursion" not in (error.diag.message_detail or "").lower()
        _clean(error)


def test_compare_models_is_bounded(telco: str) -> None:
    """The review: compare_models(VARIADIC array_fill('churn', ARRAY[10000])) took 14.9 s and 2 GB (an artifact
    loaded per name). Now at most 64 names (54000 before any work), each model read once, without its artifact."""
    with psycopg.connect(telco, autocommit=True) as conn:
        conn.execute("GRANT SELECT ON customers TO churnml_user")
        conn.execute("SET ROLE churnml_user")
        error, scans = _refused(
            conn, "SELECT count(*) FROM churnml.compare_models(VARIADIC array_fill('churn'::text, ARRAY[10000]))",
            unread=("churnml.models", "churnml.model_artifacts", "churnml.deployments"))
        assert error.sqlstate == "54000"
        assert error.diag.message_primary == "churnml: compare_models compares at most 64 models, not 10000"
        assert "model_summary" in (error.diag.message_hint or "")
        assert scans == 0
        _clean(error)
        model_id = conn.execute("SELECT model_id FROM churnml.current_deployments WHERE name = 'churn'").fetchone()[0]
        names = ["churn", str(model_id)] * 32
        rows = conn.execute("SELECT split, metric, model_ids, \"values\" FROM churnml.compare_models(VARIADIC %s)",
                            (names,)).fetchall()
        assert len(rows) == 22
        for _, _, ids, values in rows:
            assert ids == [model_id] * 64
            assert len(set(values)) == 1 and values[0] is not None


def test_errors_of_statements_churnml_runs_keep_their_fields(telco: str) -> None:
    """An error inside a statement churnml runs for the caller (here a division by zero in the caller's own
    source query) keeps SQLSTATE, message, detail and hint, without PL/Python's class name."""
    with psycopg.connect(telco, autocommit=True) as conn:
        error, _ = _refused(conn, "SELECT * FROM churnml.score('SELECT c.*, 1 / 0 AS boom FROM customers c')")
        assert error.sqlstate == "22012"
        assert error.diag.message_primary == "churnml: division by zero"
        _clean(error)
