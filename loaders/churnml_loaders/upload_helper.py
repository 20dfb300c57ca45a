"""export_query's upload helper: a process that uploads the spool file while COPY is writing it.

    python -m churnml_loaders.upload_helper   (started by churnml_loaders.upload_process only)

Why a process, in the spirit of COPY TO PROGRAM: COPY runs in C inside one SPI call
and PL/Python holds the GIL all along, so a thread in the backend could not upload
meanwhile; a process can, on the other core. It uploads parts (ExportWriter: rows
never split across parts, multipart chunks of 8 MiB) as the spool file grows.

The conversation, one JSON object per line.
stdin, from the backend:
  1. the job: target, format, part size, the S3 settings and credentials (here and
     never in argv or the environment, which `ps` and /proc show to others);
  2. {"end": {"size": N, "rows": R}} once COPY has returned;
  3. {"commit": true} once the backend has seen {"uploaded": n} and is still willing:
     then the old export's leftovers are removed and the manifest written.
  End of input before the commit (the statement failed or was cancelled, or the
  backend died) undoes the export: the multipart upload in progress is aborted and
  every part written is deleted, as for any other failure.
stdout, to the backend: {"uploaded": n} when the parts are up; then one last line,
  {"ok": true, "rows", "files", "bytes", "peak_rss_kb"} or
  {"ok": false, "error": {"sqlstate", "message", "detail", "hint"}, "interrupts_backend": bool}.
  A failure of its own (S3 refused or went away) also interrupts the backend's statement
  with SIGINT after that line, as pg_cancel_backend would: COPY stops at once instead of
  spooling the rest of the rows for nothing, and the backend reports the helper's error.
"""

from __future__ import annotations

import base64
import json
import os
import resource
import signal
import sys
import time
from collections.abc import Iterator
from typing import Any

from churnml_loaders.copy_formats import BINARY_TRAILER, Framing
from churnml_loaders.copy_rows import DEFAULT_CSV, CsvDialect, copy_chunks
from churnml_loaders.errors import DataException, error_fields
from churnml_loaders.export_writer import ExportWriter
from churnml_loaders.manifest import AURORA_PG_PARTS, MYSQL_PARTS, Column, ManifestPart
from churnml_loaders.s3_client import Encryption, S3Client
from churnml_loaders.s3_config import S3Config
from churnml_loaders.spool_follow import Backend, ExportAbandoned, SpoolFollower
from churnml_loaders.uris import S3Uri

NAMINGS = {"mysql": MYSQL_PARTS, "aurora_pg": AURORA_PG_PARTS}


class _Stopped(BaseException):
    """SIGTERM: undo the export like any failure, then exit."""


def _on_sigterm(signum: int, frame: Any) -> None:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    raise _Stopped(f"signal {signum}")


def _say(message: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


def _counted(chunks: Iterator[tuple[memoryview, int]], backend: Backend) -> Iterator[tuple[memoryview, int]]:
    """The chunks, checked at the end against the row count COPY returned."""
    rows = 0
    for data, count in chunks:
        rows += count
        yield data, count
    assert backend.end is not None  # the follower returns b"" only after the end message
    if rows != backend.end.rows:
        raise DataException("the spool file does not hold the rows COPY wrote",
                            detail=f"COPY wrote {backend.end.rows} rows, {rows} were found.")


def export(job: dict[str, Any], backend: Backend) -> dict[str, Any]:
    """Upload the spool file as `job` says; the result line's fields."""
    config = S3Config.from_mapping(job["s3"], source=job["s3_source"])
    target = S3Uri(job["bucket"], job["key"])
    fmt = job["format"]
    follower = SpoolFollower(job["spool"], backend)
    dialect = CsvDialect(**job["csv_dialect"]) if job.get("csv_dialect") else DEFAULT_CSV
    binary_header, chunks = copy_chunks(follower.read, fmt, int(job["read_bytes"]), close=follower.close,
                                        dialect=dialect)
    if fmt == "binary":
        framing = Framing(preamble=binary_header, trailer=BINARY_TRAILER)
    else:
        framing = Framing(preamble=base64.b64decode(job["preamble"]))

    timings: dict[str, float] = {}

    def before_commit(parts: list[ManifestPart]) -> None:
        timings["uploaded"] = time.monotonic()
        _say({"uploaded": len(parts)})
        while not backend.committed:
            backend.next_message()
        # Past this point the export completes: a late SIGTERM must not leave a manifest without parts.
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        signal.signal(signal.SIGINT, signal.SIG_IGN)

    with S3Client(config, encryption=Encryption.of(job.get("sse"), job.get("kms_key_id"))) as client:
        writer = ExportWriter(client, target, fmt=fmt, header=bool(job["header"]),
                              columns=[Column(name, type_) for name, type_ in job["columns"]], gzip=bool(job["gzip"]),
                              part_size=int(job["part_size"]), write_manifest=bool(job["manifest"]),
                              overwrite=bool(job["overwrite"]), naming=NAMINGS[job["naming"]])
        writer.assume_prepared(job["existing"])
        result = writer.write(_counted(chunks, backend), framing=framing, before_commit=before_commit)
    finished = time.monotonic()
    # For the backend's debug log: how far behind COPY the uploads were, and what the end cost.
    return {"rows": result.rows, "files": len(result.parts), "bytes": result.bytes,
            "behind_at_end": follower.behind_at_end,
            "end_to_uploaded": round(timings["uploaded"] - (backend.end_at or finished), 3),
            "commit": round(finished - timings["uploaded"], 3)}


def _interrupt_backend(backend: Backend, job: dict[str, Any]) -> bool:
    """Cancel the backend's statement (SIGINT, as pg_cancel_backend) so that a COPY still running
    stops now rather than when it would have finished; the backend then reports this helper's
    error, which it has already been sent. Only the backend that started this process, still
    waiting for it (not one that gave up, nor whatever process has its pid after it exited)."""
    pid = job.get("backend_pid") if job else None
    if not isinstance(pid, int) or backend.eof or os.getppid() != pid:
        return False
    os.kill(pid, signal.SIGINT)
    return True


def main() -> int:
    signal.signal(signal.SIGTERM, _on_sigterm)
    for name in ("SIGHUP", "SIGUSR1", "SIGUSR2"):  # never the helper's business; their default ends a process
        signal.signal(getattr(signal, name), signal.SIG_IGN)
    backend = Backend(sys.stdin.fileno())
    job: dict[str, Any] = {}
    try:
        job = backend.next_message()
        outcome: dict[str, Any] = {"ok": True, **export(job, backend)}
    except BaseException as exc:  # noqa: BLE001 - every failure goes back to the backend as an error
        if not isinstance(exc, Exception):  # SIGINT or SIGTERM to the helper itself
            exc = DataException(f"the upload was stopped ({exc or type(exc).__name__})")
        sqlstate, message, detail, hint = error_fields(exc)
        outcome = {"ok": False, "error": {"sqlstate": sqlstate, "message": message, "detail": detail, "hint": hint}}
        # The backend may be deep in COPY: stop it, unless it is the one that stopped us.
        outcome["interrupts_backend"] = not isinstance(exc, ExportAbandoned) and not backend.eof
    usage = resource.getrusage(resource.RUSAGE_SELF)
    outcome["peak_rss_kb"] = usage.ru_maxrss
    outcome["cpu_seconds"] = round(usage.ru_utime + usage.ru_stime, 3)
    try:
        _say(outcome)  # first the reason, then the interrupt: the backend reads why once it is stopped
    except BrokenPipeError:  # the backend is gone: nobody to tell
        return 1
    if outcome.get("interrupts_backend"):
        _interrupt_backend(backend, job)
    return 0 if outcome["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
