"""The report's "In production" data: how the deployment name's population drifted (churnml.monitor_runs).

Read-only, parameterised queries over what churnml recorded; nothing is scored or retrained here.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import psycopg

MAX_RUNS = 200  # the latest runs plotted: a daily check covers more than half a year


@dataclass(frozen=True)
class MonitorRun:
    run_at: datetime
    model_id: int
    status: str
    score_psi: float | None
    features: dict[str, float]  # feature -> PSI
    warn_psi: float
    alert_psi: float


def monitor_runs(conn: psycopg.Connection, name: str | None) -> list[MonitorRun]:
    """The latest MAX_RUNS churnml.monitor runs of the deployment name, oldest first ([] when not deployed)."""
    if name is None:
        return []
    rows = conn.execute("""
        SELECT run_at, model_id, status, score_psi, features, warn_psi, alert_psi
        FROM (SELECT * FROM churnml.monitor_runs WHERE name = %s ORDER BY run_at DESC, id DESC LIMIT %s) AS r
        ORDER BY run_at, id""", (name, MAX_RUNS)).fetchall()
    return [MonitorRun(run_at=r[0], model_id=int(r[1]), status=r[2], score_psi=r[3],
                       features={f["feature"]: float(f["psi"]) for f in r[4] or []},
                       warn_psi=float(r[5]), alert_psi=float(r[6])) for r in rows]
