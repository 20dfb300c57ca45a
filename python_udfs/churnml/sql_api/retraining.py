"""SQL area: gated retraining, by hand (churnml.retrain) and on pg_cron (churnml.schedule_retrain)."""

from __future__ import annotations

from typing import Any

from churnml import progress
from churnml.errors import NullValueNotAllowed, UndefinedObject
from churnml.spi import Plpy
from churnml.sql_api.entry import entry


@entry
@progress.tracked("retrain", "waiting for other retrains of the name")
def retrain(plpy: Plpy, name: str | None, source: str | None, min_gain: float | None, min_auc: float | None,
            search_path: str | None) -> dict[str, Any]:
    from churnml.monitoring import retraining

    return retraining.run(plpy, name, source, min_gain, min_auc, search_path, "manual")


@entry
@progress.tracked("retrain", "waiting for other retrains of the name")
def run_scheduled_retrain(plpy: Plpy, policy_id: int | None) -> dict[str, Any]:
    from churnml.monitoring import retraining

    if policy_id is None:
        raise NullValueNotAllowed("policy_id must not be NULL",
                                  hint="pg_cron's job passes the id of a churnml.retrain_policies row.")
    policy = retraining.policy_by_id(plpy, policy_id)
    if policy is None:
        raise UndefinedObject(
            f"retrain policy {policy_id} does not exist",
            detail="Its retraining was unscheduled, but a pg_cron job still calls it.",
            hint=f"Remove the pg_cron job whose command calls run_scheduled_retrain({int(policy_id)}): its owner "
                 "runs cron.unschedule with the job's id (cron.job lists the jobs).")
    return retraining.run(plpy, policy.name, None, None, None, None, "schedule", policy)


@entry
def schedule_retrain(plpy: Plpy, name: str | None, schedule: str | None, source: str | None,
                     min_gain: float | None, min_auc: float | None, search_path: str | None) -> dict[str, Any]:
    from churnml.monitoring import retrain_schedule

    return retrain_schedule.schedule(plpy, name, schedule, source, min_gain, min_auc, search_path)


@entry
def unschedule_retrain(plpy: Plpy, name: str | None) -> dict[str, Any]:
    from churnml.monitoring import retrain_schedule

    return retrain_schedule.unschedule(plpy, name)
