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


@dataclass(frozen=True)
class Realized:
    """One period of one model's realized performance (churnml.realized_performance)."""

    period_start: datetime | None
    model_id: int
    role: str  # serving | shadow
    outcomes: int
    auc: float | None
    test_auc: float | None  # what the model's held-out rows promised


def realized(conn: psycopg.Connection, name: str | None, period: str = "day") -> list[Realized]:
    """Realized performance of the name's logged calls with outcomes, per `period` and model, oldest first."""
    if name is None:
        return []
    # realized_performance refuses a name that never logged (it says how to start): nothing to plot then
    if not (conn.execute("SELECT EXISTS (SELECT FROM churnml.prediction_log WHERE name = %s AND outcome IS NOT NULL)",
                         (name,)).fetchone() or (False,))[0]:
        return []
    rows = conn.execute("""
        SELECT p.period_start, p.model_id, p.role, p.outcomes, p.auc, s.test_auc
        FROM churnml.realized_performance(%s, %s) AS p
        LEFT JOIN churnml.model_summary AS s ON s.id = p.model_id
        WHERE p.outcomes > 0 ORDER BY p.period_start, p.model_id, p.role""", (name, period)).fetchall()
    return [Realized(period_start=r[0], model_id=int(r[1]), role=r[2], outcomes=int(r[3]), auc=r[4],
                     test_auc=r[5]) for r in rows]


def retrain_history(conn: psycopg.Connection, name: str | None, limit: int = 20) -> list[dict[str, object]]:
    """The name's latest retrain runs (churnml.retrain_history), newest first."""
    if name is None:
        return []
    cur = conn.execute("""
        SELECT started_at, trigger, status, champion_id, challenger_id, champion_auc, challenger_auc, reason
        FROM churnml.retrain_history WHERE name = %s ORDER BY id DESC LIMIT %s""", (name, limit))
    names = [d.name for d in cur.description or []]
    return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]
