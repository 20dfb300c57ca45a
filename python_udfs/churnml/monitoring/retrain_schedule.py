"""Scheduled retraining on pg_cron: churnml.schedule_retrain and churnml.unschedule_retrain.

A policy (churnml.retrain_policies) holds what a scheduled run needs and a cron job has no way
to give: the source and the search_path it resolves with (a job's session has no caller), and
the gate's margins. The job's command is `SELECT churnml.run_scheduled_retrain(<policy id>)`,
built from an integer only: no name, source or schedule is ever formatted into SQL text.

pg_cron reads its jobs from one database (cron.database_name) and runs each as the role that
scheduled it (cron.job.username), so churnml must be installed in that database and the admin
who schedules owns the job; with cron.use_background_workers = on the job needs no password.
"""

from __future__ import annotations

import re
from typing import Any

from churnml import registry
from churnml.errors import (
    InsufficientPrivilege,
    InvalidParameter,
    NullValueNotAllowed,
    ObjectNotInPrerequisiteState,
    UndefinedObject,
    spi_error_fields,
    sql_literal,
)
from churnml.monitoring import retrain_gate
from churnml.spi import Plpy, prepared

MAX_SCHEDULE_LENGTH = 100
SETUP_HINT = ("In postgresql.conf: shared_preload_libraries = 'pg_cron', cron.database_name = '{db}' and "
              "cron.use_background_workers = on; restart the server; then, as a superuser in {db}: "
              "CREATE EXTENSION pg_cron; GRANT USAGE ON SCHEMA cron TO churnml_admin; (docs/retraining.md)")


def job_name(name: str) -> str:
    return f"churnml-retrain-{name}"


def job_command(policy_id: int) -> str:
    # an integer only: nothing the caller wrote reaches the command's text
    return f"SELECT churnml.run_scheduled_retrain({int(policy_id)})"


def _cron_state(plpy: Plpy) -> dict[str, Any]:
    # pg_cron's settings, and shared_preload_libraries, are for superusers and pg_read_all_settings only;
    # anyone sees its launcher in pg_stat_activity, connected to the database it reads jobs from
    return dict(plpy.execute(prepared(plpy, "cron_state", """
        SELECT pg_catalog.current_database() AS db,
               CASE WHEN pg_catalog.pg_has_role(CURRENT_USER, 'pg_read_all_settings', 'USAGE')
                    THEN pg_catalog.current_setting('shared_preload_libraries') END AS preload,
               CASE WHEN pg_catalog.pg_has_role(CURRENT_USER, 'pg_read_all_settings', 'USAGE')
                    THEN pg_catalog.current_setting('cron.database_name', true) END AS cron_db,
               (SELECT datname FROM pg_catalog.pg_stat_activity
                WHERE backend_type OPERATOR(pg_catalog.=) 'pg_cron launcher' LIMIT 1) AS launcher_db,
               EXISTS (SELECT FROM pg_catalog.pg_extension WHERE extname OPERATOR(pg_catalog.=) 'pg_cron')
                   AS installed,
               pg_catalog.has_schema_privilege(
                   (SELECT oid FROM pg_catalog.pg_namespace WHERE nspname OPERATOR(pg_catalog.=) 'cron'),
                   'USAGE') AS usage""", []))[0])


def _preloaded(preload: str | None) -> bool:
    return any(part.strip().strip('"') == "pg_cron" for part in (preload or "").split(","))


def require_cron(plpy: Plpy) -> None:
    """pg_cron loaded, its extension in this database, and its schema usable by the caller; else a 55000
    (42501 for the grant) saying exactly what to configure."""
    state = _cron_state(plpy)
    db = state["db"]
    hint = SETUP_HINT.format(db=db)
    # a role without pg_read_all_settings cannot read shared_preload_libraries nor see the launcher's
    # row: then only "not in this database" is known, and cron.schedule's own error says the rest
    if state["preload"] is not None and not _preloaded(state["preload"]):
        raise not_loaded(f"shared_preload_libraries is {state['preload']!r}", hint)
    if not state["installed"]:
        cron_db = state["cron_db"] or state["launcher_db"]
        if cron_db and cron_db != db:
            raise ObjectNotInPrerequisiteState(
                f'pg_cron schedules jobs from database "{cron_db}", not "{db}"',
                detail="pg_cron reads its jobs from the one database named by cron.database_name, and churnml's "
                       "scheduled retrain runs where churnml and its models are.",
                hint=hint)
        raise ObjectNotInPrerequisiteState(
            "the pg_cron extension is not created in this database",
            detail=f'CREATE EXTENSION pg_cron has not been run in "{db}"' + (
                "." if cron_db else ", or the server does not load pg_cron."), hint=hint)
    if not state["usage"]:
        raise InsufficientPrivilege("permission denied for schema cron",
                                    detail="Scheduling a retrain creates a pg_cron job as the calling role.",
                                    hint="As a superuser: GRANT USAGE ON SCHEMA cron TO churnml_admin;")


def not_loaded(what: str, hint: str) -> ObjectNotInPrerequisiteState:
    return ObjectNotInPrerequisiteState(
        "pg_cron is not loaded: scheduled retraining needs it",
        detail=f"{what}; pg_cron runs jobs only when the server loads it at start.", hint=hint)


def _check_schedule(schedule: str | None) -> str:
    if schedule is None:
        raise NullValueNotAllowed("schedule must not be NULL",
                                  hint="Pass a cron schedule, e.g. '0 3 * * 1' (Mondays at 03:00 GMT) or '@daily'.")
    text = schedule.strip()
    if not text or len(text) > MAX_SCHEDULE_LENGTH or not text.isprintable():
        shown = text if len(text) <= 40 else text[:37] + "…"
        raise InvalidParameter(f"invalid schedule {sql_literal(shown)}" if text else "schedule must not be empty",
                               detail=f"A schedule is one line of at most {MAX_SCHEDULE_LENGTH} characters.",
                               hint="Pass a cron schedule, e.g. '0 3 * * 1' (Mondays at 03:00 GMT) or '@daily'.")
    fields = text.split()
    if not (len(fields) == 1 and fields[0].lower() in CRON_KEYWORDS) and not (
            len(fields) == 5 and all(CRON_FIELD.fullmatch(f) for f in fields)):
        # pg_cron 1.4 ignores what follows five fields ('0 3 * * 1 junk' would be stored as it is)
        shown = text if len(text) <= 40 else text[:37] + "…"
        raise InvalidParameter(f"invalid schedule {sql_literal(shown)}",
                               detail="A schedule is five cron fields (minute hour day-of-month month day-of-week) of "
                                      "digits, names, * , / and -, or one of @hourly, @daily, @weekly, @monthly, "
                                      "@yearly.",
                               hint="Five cron fields (minute hour day-of-month month day-of-week, in GMT), e.g. "
                                    "'0 3 * * 1', or @hourly, @daily, @weekly, @monthly.")
    return text


CRON_KEYWORDS = ("@hourly", "@daily", "@weekly", "@monthly", "@yearly", "@annually")
CRON_FIELD = re.compile(r"[0-9A-Za-z*,/-]{1,64}")


def _check_not_temporary(plpy: Plpy, from_item: str, description: str) -> None:
    """A scheduled job runs in a session of its own, which cannot see the scheduling session's temporary tables."""
    from churnml.source_data import names_relation

    if not names_relation(from_item, description):
        return  # a query: resolved when the job runs
    rows = plpy.execute(prepared(plpy, "source_persistence", """
        SELECT c.relpersistence::pg_catalog.text AS p FROM pg_catalog.pg_class AS c
        WHERE c.oid OPERATOR(pg_catalog.=) pg_catalog.to_regclass($1)""", ["pg_catalog.text"]), [description])
    if rows and rows[0]["p"] == "t":
        raise InvalidParameter(f"source {sql_literal(description)} is a temporary table",
                               detail="The scheduled job runs in a session of its own, which cannot see this "
                                      "session's temporary tables.",
                               hint="Schedule a retrain on a table or view every session can see.")


def schedule(plpy: Plpy, name: str | None, schedule_text: str | None, source: str | None, min_gain: float | None,
             min_auc: float | None, search_path: str | None) -> dict[str, Any]:
    from churnml.source_data import caller_search_path, resolve_source

    name = registry.check_model_name(name)
    text = _check_schedule(schedule_text)
    if source is None or not source.strip():
        raise NullValueNotAllowed("source must name the fresh data: a table or view, or a query",
                                  hint="e.g. churnml.schedule_retrain('churn', '0 3 * * 1', 'customers_recent').")
    gain = retrain_gate.checked_margin(min_gain, "min_gain", retrain_gate.DEFAULT_MIN_GAIN)
    least = retrain_gate.checked_margin(min_auc, "min_auc", retrain_gate.DEFAULT_MIN_AUC)
    registry.current_deployment(plpy, name)  # 55000: only a deployed name has a champion to challenge
    with caller_search_path(plpy, search_path):
        from_item, description = resolve_source(plpy, source)  # a misspelt table is an error now, not at 3 a.m.
        _check_not_temporary(plpy, from_item, description)
    require_cron(plpy)
    owner = _job_owner(plpy, name)
    if owner is not None and owner[1] is not None and not owner[2]:
        raise InsufficientPrivilege(
            f'the retrain job of "{name}" belongs to role "{owner[1]}"',
            detail="pg_cron runs a job as the role that scheduled it, and only that role or a superuser may change it.",
            hint=f'As "{owner[1]}" (or a superuser): SELECT churnml.unschedule_retrain({sql_literal(name)}); then '
                 "schedule it again.")
    if owner is not None and owner[0] is not None and owner[1] != _current_user(plpy):
        _drop_job(plpy, owner[0])  # a superuser rescheduling another role's job: one job per name stays
    policy = plpy.execute(prepared(plpy, "retrain_policy_upsert", """
        INSERT INTO churnml.retrain_policies (name, schedule, source, search_path, min_gain, min_auc)
        VALUES ($1, $2, $3, $4, $5, $6)
        ON CONFLICT (name) DO UPDATE SET schedule = EXCLUDED.schedule, source = EXCLUDED.source,
            search_path = EXCLUDED.search_path, min_gain = EXCLUDED.min_gain, min_auc = EXCLUDED.min_auc,
            scheduled_by = EXCLUDED.scheduled_by, scheduled_at = EXCLUDED.scheduled_at  -- their defaults: who, now
        RETURNING id""",
        ["pg_catalog.text", "pg_catalog.text", "pg_catalog.text", "pg_catalog.text", "pg_catalog.float8",
         "pg_catalog.float8"]), [name, text, source.strip(), search_path or "pg_catalog, pg_temp", gain, least])
    policy_id = int(policy[0]["id"])
    try:
        job = plpy.execute(prepared(plpy, "cron_schedule", "SELECT cron.schedule($1, $2, $3) AS jobid",
                                    ["pg_catalog.text", "pg_catalog.text", "pg_catalog.text"]),
                           [job_name(name), text, job_command(policy_id)])
    except plpy.SPIError as exc:
        sqlstate, message, _, _ = spi_error_fields(exc)
        if "shared_preload_libraries" in message:  # pg_cron's library refuses to load late (XX000)
            raise not_loaded("pg_cron can only be loaded via shared_preload_libraries",
                             SETUP_HINT.format(db=_cron_state(plpy)["db"])) from None
        if sqlstate != "22023":  # pg_cron's "invalid schedule: ..."
            raise
        raise InvalidParameter(f"invalid schedule {sql_literal(text)}", detail=f"pg_cron said: {message}.",
                               hint="Five cron fields (minute hour day-of-month month day-of-week, in GMT), e.g. "
                                    "'0 3 * * 1', or @hourly, @daily, @weekly, @monthly.") from None
    row = plpy.execute(prepared(plpy, "retrain_policy_job", """
        UPDATE churnml.retrain_policies SET (cron_job_id, cron_job_name) = ($2, $3)
        WHERE id OPERATOR(pg_catalog.=) $1 RETURNING *""", ["bigint", "bigint", "pg_catalog.text"]),
        [policy_id, int(job[0]["jobid"]), job_name(name)])[0]
    plpy.notice(f"churnml.schedule_retrain: {name}: pg_cron job {job[0]['jobid']} runs "
                f"churnml.run_scheduled_retrain({policy_id}) at {text!r} as {row['scheduled_by']}")
    return dict(row)


def _job_owner(plpy: Plpy, name: str) -> tuple[int | None, str | None, bool] | None:
    """(job id, the role that owns it, whether the caller may change it) of `name`'s policy; None without one."""
    rows = plpy.execute(prepared(plpy, "retrain_policy_owner", """
        SELECT cron_job_id, scheduled_by::pg_catalog.text AS owner,
               scheduled_by OPERATOR(pg_catalog.=) CURRENT_USER OR
               (SELECT rolsuper FROM pg_catalog.pg_roles WHERE rolname OPERATOR(pg_catalog.=) CURRENT_USER) AS mine
        FROM churnml.retrain_policies WHERE name OPERATOR(pg_catalog.=) $1""", ["pg_catalog.text"]), [name])
    if not rows:
        return None
    row = rows[0]
    return (None if row["cron_job_id"] is None else int(row["cron_job_id"]), row["owner"], bool(row["mine"]))


def _current_user(plpy: Plpy) -> str:
    return str(plpy.execute(prepared(plpy, "retrain_current_user", "SELECT CURRENT_USER::pg_catalog.text AS u",
                                     []))[0]["u"])


def _drop_job(plpy: Plpy, job_id: int) -> None:
    """Remove pg_cron job `job_id` if it is still there (cron.job shows the caller's jobs, a superuser all)."""
    exists = plpy.execute(prepared(plpy, "cron_job_exists",
                                   "SELECT 1 FROM cron.job WHERE jobid OPERATOR(pg_catalog.=) $1", ["bigint"]),
                          [job_id])
    if exists:
        plpy.execute(prepared(plpy, "cron_unschedule", "SELECT cron.unschedule($1)", ["bigint"]), [job_id])


def unschedule(plpy: Plpy, name: str | None) -> dict[str, Any]:
    name = registry.check_model_name(name)
    owner = _job_owner(plpy, name)
    if owner is None:
        raise UndefinedObject(f'no retraining is scheduled for "{name}"',
                              hint="SELECT name, schedule FROM churnml.retrain_policies lists the scheduled ones.")
    job_id, role, mine = owner
    if not mine:
        raise InsufficientPrivilege(
            f'the retrain job of "{name}" belongs to role "{role}"',
            detail="pg_cron lets only the role that scheduled a job, or a superuser, remove it.",
            hint=f'As "{role}" or a superuser: SELECT churnml.unschedule_retrain({sql_literal(name)});')
    state = _cron_state(plpy)
    if job_id is not None and state["installed"]:
        if not state["usage"]:
            require_cron(plpy)  # 42501 with the grant to run
        _drop_job(plpy, job_id)
    elif job_id is not None:
        plpy.notice(f"churnml.unschedule_retrain: pg_cron is not installed here; job {job_id} went with it")
    row = plpy.execute(prepared(plpy, "retrain_policy_delete", """
        DELETE FROM churnml.retrain_policies WHERE name OPERATOR(pg_catalog.=) $1 RETURNING *""",
        ["pg_catalog.text"]), [name])[0]
    return dict(row)
