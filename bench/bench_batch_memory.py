"""Peak memory of the batch calls a churnml_user can make: embed_batch and detect_sentiment_batch.

For each function and each size (1,000, 10,000 and 100,000 distinct ~100-character
complaints; --quick stops at 10,000) a fresh backend first answers a one-text call (so the
engine is loaded), then runs the batch; reported: the backend's peak RSS (VmHWM from
/proc) after the batch, against the baseline of the same backend's RSS after the
one-text call, in the same run. Growth is what the batch itself costs: the input array,
the engine's working memory per chunk, the compact results and the rows handed to the
server (which spills them to disk past work_mem). With bounded chunks it grows with the
input (~200 bytes a text here, before the server's own copies) and the results
(embed_batch: 1.5 kB of float32 a text), not ~16 kB a text as Python floats did.
The texts are distinct, so no engine can answer from a cache of identical texts.
"""

from __future__ import annotations

import psycopg

from bench.run import Context, Result, proc_status_mb

COMPLAINT = "I was charged twice this month and waited forty minutes on hold, fix my bill now or I leave, call "
CALLS = {
    "embed_batch": "SELECT count(embedding) FROM churnml.embed_batch(%s)",
    "detect_sentiment_batch": "SELECT count(sentiment) FROM churnml.detect_sentiment_batch(%s)",
}
WARM_UP = {
    "embed_batch": "SELECT churnml.embed('warm up')",
    "detect_sentiment_batch": "SELECT churnml.detect_sentiment('warm up')",
}


def _peak(url: str, function: str, n: int) -> tuple[float, float]:
    """(RSS after the one-text call, peak RSS after the batch) of one fresh backend, in MB."""
    texts = [f"{COMPLAINT}{i}" for i in range(n)]
    with psycopg.connect(url, autocommit=True) as conn:
        pid = conn.info.backend_pid
        conn.execute(WARM_UP[function])
        warm = proc_status_mb(pid, "VmRSS")
        counted = conn.execute(CALLS[function], (texts,)).fetchone()[0]
        assert counted == n, (function, counted, n)
        return warm, proc_status_mb(pid, "VmHWM")


def run(ctx: Context) -> list[Result]:
    url = ctx.server_url("bench_batch_memory")
    sizes = (1_000, 10_000) if ctx.quick else (1_000, 10_000, 100_000)
    results = []
    for function in CALLS:
        for n in sizes:
            runs = 1 if n >= 100_000 else min(ctx.runs, 2)  # RSS barely varies; 100k texts take minutes
            measured = [_peak(url, function, n) for _ in range(runs)]
            peaks = sorted(p for _, p in measured)
            warms = sorted(w for w, _ in measured)
            peak, warm = peaks[len(peaks) // 2], warms[len(warms) // 2]
            results.append(Result(
                name=f"{function}: peak backend RSS, {n:,} texts",
                unit="MB",
                median=peak,
                runs=peaks,
                baseline="the same backend after a one-text call",
                baseline_median=warm,
                higher_is_better=False,
                target="bounded: grows with the input, not ~16 kB a text",
                notes=f"growth {peak - warm:.0f} MB = {(peak - warm) * 1024 * 1024 / n:,.0f} bytes a text",
            ))
    return results
