"""Sentiment, embeddings and text features from SQL, on the real server."""

from __future__ import annotations

from collections.abc import Callable

import psycopg
import pytest

WALKTHROUGH = [
    ("Thank you very much for resolving the issues with my bill!", "POSITIVE"),
    ("I don't understand how I paid for 100 minutes and got only 90, you are ripping me off!", "NEGATIVE"),
    ("You morons! You charged me extra again!", "NEGATIVE"),
    ("How do I dial Morocco?", "NEUTRAL"),
]


@pytest.fixture(scope="module")
def telco(make_telco: Callable[..., str]) -> str:
    return make_telco("sentiment", 3000, 4)


def test_detect_sentiment_contract(telco: str) -> None:
    with psycopg.connect(telco, autocommit=True) as conn:
        for text, label in WALKTHROUGH:
            sentiment, confidence = conn.execute("SELECT * FROM churnml.detect_sentiment(%s)", (text,)).fetchone()
            assert sentiment == label, text
            assert 0.5 < confidence <= 1.0
            assert conn.execute("SELECT churnml.detect_sentiment_label(%s)", (text,)).fetchone()[0] == label
            scalar = conn.execute("SELECT churnml.detect_sentiment_confidence(%s)", (text,)).fetchone()[0]
            assert abs(scalar - confidence) < 1e-6
            scores = conn.execute("SELECT * FROM churnml.sentiment_scores(%s)", (text,)).fetchone()
            assert abs(sum(scores) - 1) < 1e-5
        mixed = conn.execute("SELECT sentiment FROM churnml.detect_sentiment("
                             "'I love the coverage but the bill is way too high')").fetchone()[0]
        assert mixed == "MIXED"
        assert conn.execute("SELECT * FROM churnml.detect_sentiment(NULL)").fetchone() == (None, None)
        assert conn.execute("SELECT * FROM churnml.detect_sentiment('   ')").fetchone() == ("NEUTRAL", 1.0)


def test_engines_setting_and_errors(telco: str) -> None:
    with psycopg.connect(telco, autocommit=True) as conn:
        text = WALKTHROUGH[1][0]
        # VADER reads this complaint (no angry word but "ripping") differently from the encoder
        lexicon = conn.execute("SELECT sentiment FROM churnml.detect_sentiment(%s, 'en', 'lexicon')",
                               (text,)).fetchone()[0]
        conn.execute("SET churnml.sentiment_engine = 'lexicon'")
        assert conn.execute("SELECT sentiment FROM churnml.detect_sentiment(%s)", (text,)).fetchone()[0] == lexicon
        conn.execute("RESET churnml.sentiment_engine")
        assert conn.execute("SELECT sentiment FROM churnml.detect_sentiment(%s)", (text,)).fetchone()[0] == "NEGATIVE"
        with pytest.raises(psycopg.Error) as info:
            conn.execute("SELECT churnml.detect_sentiment('bonjour', 'fr')")
        assert info.value.diag.sqlstate == "22023" and "en" in (info.value.diag.message_detail or "")
        with pytest.raises(psycopg.Error) as info:
            conn.execute("SELECT churnml.detect_sentiment('hi', 'en', 'no_such_engine')")
        assert info.value.diag.sqlstate == "22023" and "encoder" in (info.value.diag.message_detail or "")
        # a 1 MB message does not hurt the server and answers like its first 5,000 characters
        big = conn.execute("SELECT churnml.detect_sentiment_label(repeat('The bill is wrong. ', 55000))"
                           ).fetchone()[0]
        assert big == "NEGATIVE"
        assert conn.execute("SELECT 1").fetchone()[0] == 1


def test_per_row_calls_answer_like_the_batch_and_keep_checking(telco: str) -> None:
    """One call per row takes the fast path (checks remembered per session); same answers."""
    with psycopg.connect(telco, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT m.message, s.sentiment, s.confidence FROM "
            "(SELECT message FROM customer_message ORDER BY message LIMIT 300) m, "
            "churnml.detect_sentiment(m.message, 'en', 'lexicon') s").fetchall()
        batch = conn.execute("SELECT sentiment, confidence FROM churnml.detect_sentiment_batch(%s, 'en', 'lexicon') "
                             "ORDER BY ordinality", ([r[0] for r in rows],)).fetchall()
        assert [(sentiment, confidence) for _, sentiment, confidence in rows] == batch
        assert {sentiment for _, sentiment, _ in rows} >= {"POSITIVE", "NEGATIVE", "NEUTRAL"}
        for _ in range(2):  # a failed check is not remembered
            with pytest.raises(psycopg.Error) as info:
                conn.execute("SELECT churnml.detect_sentiment('bonjour', 'fr', 'lexicon')")
            assert info.value.diag.sqlstate == "22023"
            with pytest.raises(psycopg.Error) as info:
                conn.execute("SELECT churnml.detect_sentiment('hello', NULL, 'lexicon')")
            assert info.value.diag.sqlstate == "22004"


def test_batch_summary_first_sentence_and_embeddings(telco: str) -> None:
    with psycopg.connect(telco, autocommit=True) as conn:
        rows = conn.execute("SELECT ordinality, sentiment FROM churnml.detect_sentiment_batch(%s)",
                            ([t for t, _ in WALKTHROUGH] + [None],)).fetchall()
        assert rows == [(i + 1, label) for i, (_, label) in enumerate(WALKTHROUGH)] + [(5, None)]
        summary = conn.execute(
            "SELECT (churnml.sentiment_summary(array_agg(message ORDER BY calltime), "
            "array_agg(calltime ORDER BY calltime))).* FROM customer_message "
            "WHERE (area_code, phone) = (415, '358-1921')").fetchone()
        assert summary[0] == 3 and summary[1] == "NEUTRAL"  # latest: "How do I dial Morocco?"
        assert summary[5] < 0  # the worst message is a complaint
        assert conn.execute("SELECT churnml.first_sentence('Why so slow? I waited an hour.')").fetchone()[0] \
            == "Why so slow?"
        embedding = conn.execute("SELECT churnml.embed('hello world')").fetchone()[0]
        assert len(embedding) == 384 and abs(sum(v * v for v in embedding) - 1) < 1e-4
        batch = conn.execute("SELECT ordinality, embedding FROM churnml.embed_batch(ARRAY['hello world', NULL])"
                             ).fetchall()
        assert batch[0][0] == 1 and max(abs(a - b) for a, b in zip(batch[0][1], embedding, strict=True)) < 1e-5
        assert batch[1] == (2, None)


def test_tabular_scoring_never_imports_torch(telco: str) -> None:
    with psycopg.connect(telco, autocommit=True) as conn:
        conn.execute("SELECT churnml.will_churn(c) FROM customers c LIMIT 10").fetchall()
        conn.execute("SELECT churnml.detect_sentiment('fine', 'en', 'lexicon')").fetchall()
        loaded = conn.execute("""
            DO $$
            import sys
            if 'torch' in sys.modules or 'sentence_transformers' in sys.modules:
                plpy.error('torch was imported')
            $$ LANGUAGE plpython3u""")
        assert loaded is not None


def test_custom_sentiment_model_trains_deploys_and_rolls_back(telco: str) -> None:
    with psycopg.connect(telco, autocommit=True) as conn:
        conn.execute("""CREATE TABLE labelled AS
            SELECT * FROM (VALUES
              ('the bill is wrong again', 'negative'), ('I was charged twice this month', 'negative'),
              ('my calls keep dropping', 'NEGATIVE'), ('nobody answered my ticket', 'negative'),
              ('the data plan is too slow', 'negative'), ('you overcharged me for roaming', 'negative'),
              ('great service, thank you', 'positive'), ('the new plan is excellent', 'positive'),
              ('very happy with the coverage', 'positive'), ('support fixed it fast, thanks', 'positive'),
              ('love the unlimited minutes', 'positive'), ('best carrier I have had', 'positive'),
              ('what are your opening hours', 'neutral'), ('how do I change my address', 'neutral'),
              ('when is my bill due', 'neutral'), ('can I add a line', 'neutral'),
              ('where is the nearest store', 'neutral'), ('what is my account number', 'neutral'))
            AS t(message, label), generate_series(1, 3)""")
        model = conn.execute("SELECT churnml.train_sentiment('my_sentiment', 'labelled', 'message', 'label', "
                             "deploy => true)").fetchone()[0]
        kind, metrics = conn.execute("SELECT kind, metrics FROM churnml.models WHERE id = %s", (model,)).fetchone()
        assert kind == "sentiment" and "accuracy" in metrics["test"]
        label = conn.execute("SELECT sentiment FROM churnml.detect_sentiment('I was overcharged again', 'en', "
                             "'my_sentiment')").fetchone()[0]
        assert label == "NEGATIVE"
        second = conn.execute("SELECT churnml.train_sentiment('my_sentiment', 'labelled', 'message', 'label', "
                              "seed => 7)").fetchone()[0]
        conn.execute("SELECT churnml.deploy('my_sentiment', %s)", (second,))
        conn.execute("SELECT churnml.rollback('my_sentiment')")
        assert conn.execute("SELECT model_id FROM churnml.current_deployments WHERE name = 'my_sentiment'"
                            ).fetchone()[0] == model
        with pytest.raises(psycopg.Error) as info:  # a name keeps one kind of model
            conn.execute("SELECT churnml.train('my_sentiment', 'customers', 'churn', exclude => ARRAY['phone'])")
        assert info.value.diag.sqlstate == "42710"


@pytest.mark.slow
def test_transcript_text_as_a_churn_feature(telco: str) -> None:
    """The SageMaker walkthrough: the same customer, a negative call transcript, a higher probability."""
    source = """SELECT c.cust_service_calls, c.acc_length, c.int_plan, c.churn, t.transcript
                FROM customers c JOIN LATERAL (
                    SELECT transcript FROM call_transcript ct
                    WHERE ct.area_code = c.area_code AND ct.phone = c.phone
                    ORDER BY calltime DESC LIMIT 1) t ON true"""
    with psycopg.connect(telco, autocommit=True) as conn:
        model = conn.execute("SELECT churnml.train('churn_text', %s, 'churn', deploy => true)", (source,)
                             ).fetchone()[0]
        groups = conn.execute("SELECT jsonb_agg(f->>'group') FROM churnml.models m, "
                              "jsonb_array_elements(m.feature_spec->'features') f WHERE m.id = %s",
                              (model,)).fetchone()[0]
        assert "text" in groups
        happy, unhappy = (conn.execute(
            "SELECT churnml.will_churn(t, 'churn_text') FROM (SELECT 1::float8 AS cust_service_calls, "
            "100::float8 AS acc_length, 'no'::text AS int_plan, %s::text AS transcript) t", (text,)).fetchone()[0]
            for text in (
                "Customer: I've been dealing with TelCom for three months now and I am quite happy with your service.",
                "Customer: I have been using your service for 6 months and I am disappointed in your customer "
                "service. Agent: I am sorry to hear that."))
        assert unhappy > happy
        # explanations embed the text feature too
        reasons = conn.execute(
            "SELECT e.feature FROM (SELECT 1::float8 AS cust_service_calls, 100::float8 AS acc_length, "
            "'no'::text AS int_plan, 'Customer: I am disappointed.'::text AS transcript) t, "
            "churnml.explain_churn(t, 10, 'churn_text') e").fetchall()
        assert "transcript" in [r[0] for r in reasons]
