"""Realized performance: how the logged predictions did once their outcomes arrived.

Everything is computed by the server in one statement each (the executor honours cancel and
statement_timeout, and its sorts and hashes spill to disk within work_mem), so a log of
millions of calls needs no Python loop. AUC is the Mann-Whitney statistic: the sum of the
positives' ranks among the labelled calls (ties at their average rank), less P(P+1)/2, over P*N.
"""

from __future__ import annotations

from dataclasses import dataclass

from churnml.errors import DatatypeMismatch, InvalidParameter
from churnml.training.sql_types import type_family

PERIODS = ("hour", "day", "week", "month", "quarter", "year", "all")

# One row per period, model and role. The period is date_trunc's (in the session's TimeZone);
# 'all' is one period from the first call logged. Precision and recall compare each call's
# probability with the cutoff logged with it (the deployment's cutoff at the time of the call:
# the answer churn_flag gave); `threshold` shows the period's latest cutoff.
PERFORMANCE = """
WITH logged AS (
    SELECT CASE WHEN $2 OPERATOR(pg_catalog.=) 'all' THEN NULL
                ELSE pg_catalog.date_trunc($2, l.logged_at) END AS period,
           l.model_id, l.role, l.probability, l.threshold, l.outcome, l.logged_at, l.id
    FROM churnml.prediction_log AS l
    WHERE l.name OPERATOR(pg_catalog.=) $1 AND ($3::pg_catalog.timestamptz IS NULL
                                                OR l.logged_at OPERATOR(pg_catalog.>=) $3)
), ranked AS (
    SELECT g.*,
           CASE WHEN g.outcome IS NOT NULL THEN
               pg_catalog.rank() OVER (PARTITION BY g.period, g.model_id, g.role, g.outcome IS NULL
                                       ORDER BY g.probability)
               OPERATOR(pg_catalog.+) ((pg_catalog.count(*) OVER (PARTITION BY g.period, g.model_id, g.role,
                                                                  g.outcome IS NULL, g.probability)
                                        OPERATOR(pg_catalog.-) 1)::pg_catalog.float8 OPERATOR(pg_catalog./) 2)
           END AS outcome_rank
    FROM logged AS g
), grouped AS (
    SELECT COALESCE(r.period, pg_catalog.min(r.logged_at)) AS period_start, r.model_id, r.role,
           pg_catalog.count(*) AS predictions,
           pg_catalog.count(r.outcome) AS outcomes,
           pg_catalog.count(*) FILTER (WHERE r.outcome) AS positives,
           pg_catalog.sum(r.outcome_rank) FILTER (WHERE r.outcome) AS positive_ranks,
           pg_catalog.avg((r.probability OPERATOR(pg_catalog.-)
                           CASE WHEN r.outcome THEN 1.0 ELSE 0.0 END::pg_catalog.float8)
                          OPERATOR(pg_catalog.^) 2::pg_catalog.float8) FILTER (WHERE r.outcome IS NOT NULL) AS brier,
           pg_catalog.avg(r.probability) FILTER (WHERE r.outcome IS NOT NULL) AS mean_predicted,
           pg_catalog.avg(CASE WHEN r.outcome THEN 1.0 ELSE 0.0 END::pg_catalog.float8)
               FILTER (WHERE r.outcome IS NOT NULL) AS observed_rate,
           pg_catalog.count(*) FILTER (WHERE r.outcome AND r.probability OPERATOR(pg_catalog.>) r.threshold) AS tp,
           pg_catalog.count(*) FILTER (WHERE NOT r.outcome AND r.probability OPERATOR(pg_catalog.>) r.threshold)
               AS fp,
           (pg_catalog.array_agg(r.threshold ORDER BY r.logged_at DESC, r.id DESC))[1] AS threshold
    FROM ranked AS r
    GROUP BY r.period, r.model_id, r.role
)
SELECT g.period_start, g.model_id, g.role, g.predictions, g.outcomes, g.positives,
       CASE WHEN g.positives OPERATOR(pg_catalog.>) 0 AND g.outcomes OPERATOR(pg_catalog.>) g.positives THEN
           (g.positive_ranks OPERATOR(pg_catalog.-)
            ((g.positives::pg_catalog.float8 OPERATOR(pg_catalog.*)
              (g.positives OPERATOR(pg_catalog.+) 1)::pg_catalog.float8) OPERATOR(pg_catalog./) 2))
           OPERATOR(pg_catalog./) (g.positives::pg_catalog.float8 OPERATOR(pg_catalog.*)
                                   (g.outcomes OPERATOR(pg_catalog.-) g.positives)::pg_catalog.float8)
       END AS auc,
       g.brier, g.mean_predicted, g.observed_rate,
       CASE WHEN g.tp OPERATOR(pg_catalog.+) g.fp OPERATOR(pg_catalog.>) 0 THEN
           g.tp::pg_catalog.float8 OPERATOR(pg_catalog./)
           (g.tp OPERATOR(pg_catalog.+) g.fp)::pg_catalog.float8 END AS precision,
       CASE WHEN g.positives OPERATOR(pg_catalog.>) 0 THEN
           g.tp::pg_catalog.float8 OPERATOR(pg_catalog./) g.positives::pg_catalog.float8 END AS recall,
       g.threshold
FROM grouped AS g
ORDER BY g.period_start, g.role, g.model_id"""

# The calls of `name` that its serving model $3 and its shadow $2 both scored and that have an outcome:
# how many, how many churned, and each model's AUC on exactly those calls.
PAIRED_AUC = """
WITH pairs AS (
    SELECT v.probability AS serving, s.probability AS shadow, v.outcome
    FROM churnml.prediction_log AS s
    JOIN churnml.prediction_log AS v ON v.id OPERATOR(pg_catalog.=) s.serving_id
    WHERE s.name OPERATOR(pg_catalog.=) $1 AND s.role OPERATOR(pg_catalog.=) 'shadow'
      AND s.model_id OPERATOR(pg_catalog.=) $2 AND v.model_id OPERATOR(pg_catalog.=) $3
      AND v.outcome IS NOT NULL
), ranked AS (
    SELECT p.outcome,
           pg_catalog.rank() OVER (ORDER BY p.serving) OPERATOR(pg_catalog.+)
               ((pg_catalog.count(*) OVER (PARTITION BY p.serving) OPERATOR(pg_catalog.-) 1)::pg_catalog.float8
                OPERATOR(pg_catalog./) 2) AS serving_rank,
           pg_catalog.rank() OVER (ORDER BY p.shadow) OPERATOR(pg_catalog.+)
               ((pg_catalog.count(*) OVER (PARTITION BY p.shadow) OPERATOR(pg_catalog.-) 1)::pg_catalog.float8
                OPERATOR(pg_catalog./) 2) AS shadow_rank
    FROM pairs AS p
), sums AS (
    SELECT pg_catalog.count(*) AS outcomes, pg_catalog.count(*) FILTER (WHERE r.outcome) AS positives,
           pg_catalog.sum(r.serving_rank) FILTER (WHERE r.outcome) AS serving_ranks,
           pg_catalog.sum(r.shadow_rank) FILTER (WHERE r.outcome) AS shadow_ranks
    FROM ranked AS r
)
SELECT s.outcomes, s.positives,
       CASE WHEN s.positives OPERATOR(pg_catalog.>) 0 AND s.outcomes OPERATOR(pg_catalog.>) s.positives THEN
           (s.serving_ranks OPERATOR(pg_catalog.-) ((s.positives::pg_catalog.float8 OPERATOR(pg_catalog.*)
            (s.positives OPERATOR(pg_catalog.+) 1)::pg_catalog.float8) OPERATOR(pg_catalog./) 2))
           OPERATOR(pg_catalog./) (s.positives::pg_catalog.float8 OPERATOR(pg_catalog.*)
                                   (s.outcomes OPERATOR(pg_catalog.-) s.positives)::pg_catalog.float8)
       END AS serving_auc,
       CASE WHEN s.positives OPERATOR(pg_catalog.>) 0 AND s.outcomes OPERATOR(pg_catalog.>) s.positives THEN
           (s.shadow_ranks OPERATOR(pg_catalog.-) ((s.positives::pg_catalog.float8 OPERATOR(pg_catalog.*)
            (s.positives OPERATOR(pg_catalog.+) 1)::pg_catalog.float8) OPERATOR(pg_catalog./) 2))
           OPERATOR(pg_catalog./) (s.positives::pg_catalog.float8 OPERATOR(pg_catalog.*)
                                   (s.outcomes OPERATOR(pg_catalog.-) s.positives)::pg_catalog.float8)
       END AS shadow_auc
FROM sums AS s"""


def check_period(period: str | None) -> str:
    if period is None:
        raise InvalidParameter("period must not be NULL", hint=f"Use one of {', '.join(PERIODS)}.")
    shown = period.strip().lower()
    if shown not in PERIODS:
        cut = period if len(period) <= 40 else period[:37] + "…"
        raise InvalidParameter(f'unknown period "{cut}"', hint=f"Use one of {', '.join(PERIODS)}.")
    return shown


# Outcome labels in a text column: what churned and what stayed (the offer log's outcomes included).
CHURNED = ("churned", "true", "t", "yes", "y", "1")
STAYED = ("retained", "false", "f", "no", "n", "0")


@dataclass(frozen=True)
class Label:
    """How a source's label column becomes the boolean outcome, as SQL over `s.<column>`."""

    expression: str


def label_expression(quoted: str, sql_type: str) -> Label:
    """SQL turning the label column (`quoted`, an identifier already quoted) into a boolean; any other value
    than the ones a label may have is 22023 naming it (churnml._outcome_label), before anything is updated."""
    column = f"s.{quoted}"
    family = type_family(sql_type)
    if family == "boolean":
        return Label(column)
    if family == "numeric":
        return Label(f"CASE WHEN {column} OPERATOR(pg_catalog.=) 1 THEN true "
                     f"WHEN {column} OPERATOR(pg_catalog.=) 0 THEN false "
                     f"ELSE churnml._outcome_label({column}::pg_catalog.text) END")
    if family in ("text", "other"):  # other: an enum or a domain, read as its text
        lowered = f"pg_catalog.lower(pg_catalog.btrim({column}::pg_catalog.text))"
        churned = ", ".join(f"'{v}'" for v in CHURNED)
        stayed = ", ".join(f"'{v}'" for v in STAYED)
        return Label(f"CASE WHEN {lowered} IN ({churned}) THEN true WHEN {lowered} IN ({stayed}) THEN false "
                     f"ELSE churnml._outcome_label({column}::pg_catalog.text) END")
    raise DatatypeMismatch(f"the label column is of type {sql_type}, which is not an outcome",
                           detail="An outcome is boolean (true = churned), 1/0, or text such as churned/retained or "
                                  "yes/no.",
                           hint="Pass a query that turns it into one, e.g. 'SELECT id, status = ''gone'' AS churned "
                                "FROM ...'.")
