"""Prediction logging: a sampled fraction of a deployment's scoring calls, written to churnml.prediction_log.

What it costs when a name does not log: nothing measurable. The settings come with the
deployment, in the statement that looks the deployment up once per statement
(registry.current_deployment, also in parallel workers); `logging_of` makes them None when the
name does not log, and the scoring functions test that one attribute per call.

When a call is sampled, the row goes in through churnml._log_prediction, a VOLATILE SECURITY
DEFINER function: the scoring functions are STABLE (a STABLE function's statements run
read-only, and may not INSERT), and their callers (churnml_user) may not write the log
themselves. Three kinds of call are never logged, because nothing can be written there:
- parallel mode (a parallel worker, or the leader of a parallel query): no plpy statement may run;
- a read-only transaction (BEGIN READ ONLY, default_transaction_read_only, a hot standby);
- a statement that fails later: its log rows roll back with it, as every write does.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from churnml import server
from churnml.spi import Plpy, prepared

if TYPE_CHECKING:
    from churnml.registry import Deployment
    from churnml.scoring.model_cache import Serving


@dataclass(frozen=True)
class Logging:
    """A deployment name's logging settings, as read with its deployment."""

    rate: float  # 0 < rate <= 1
    key_column: str | None
    shadow_model_id: int | None
    shadow_sha256: str | None


def logging_of(deployment: Deployment) -> Logging | None:
    """The name's settings, or None when it logs nothing (no row, or sample_rate 0)."""
    if not deployment.log_rate > 0.0:
        return None
    return Logging(rate=min(deployment.log_rate, 1.0), key_column=deployment.log_key,
                   shadow_model_id=deployment.shadow_model_id, shadow_sha256=deployment.shadow_sha256)


# Each backend samples on its own; seeded from the OS, so sessions do not sample alike.
_SAMPLER = random.Random()


def seed(value: int | None) -> None:
    """Seed this backend's sampler (unit tests; None reseeds from the OS)."""
    _SAMPLER.seed(value)


def sampled(logging: Logging) -> bool:
    return logging.rate >= 1.0 or _SAMPLER.random() < logging.rate


def writable() -> bool:
    """Whether this call may write the log: not in parallel mode (no plpy statement may run) and not in a
    read-only transaction (a standby's, or BEGIN READ ONLY), where the INSERT would fail the caller's query."""
    return not server.in_parallel_mode() and server.setting("transaction_read_only") != "on"


def entity_key(value: Any) -> str | None:
    """A key column's value as its SQL text form (what record_outcomes compares with key_column::text):
    integers and text as they are, booleans as true/false; other values as their JSON."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str | int):
        return str(value)
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() and abs(value) < 2**53 else repr(value)
    if isinstance(value, dict | list):
        return json.dumps(value, separators=(",", ":"))
    return str(value)




def log_call(plpy: Plpy, name: str, serving: Serving, probability: float, key: Any,
             features: Callable[[], Mapping[str, Any]]) -> None:
    """Log one sampled scoring call of `name` (and its shadow's score beside it). The caller samples
    first (`sampled`), so that an unsampled call builds nothing.

    `features` gives the call's input values by feature name, for the shadow model; it is only
    called when a shadow runs, so a call without one builds nothing."""
    logging = serving.logging
    if logging is None or not writable():
        return
    shadow_id, shadow_probability = None, None
    if logging.shadow_model_id is not None:
        from churnml.monitoring import shadow

        shadow_probability = shadow.score(plpy, name, logging, features())
        if shadow_probability is not None:
            shadow_id = logging.shadow_model_id
    plan = prepared(plpy, "log_prediction", "SELECT churnml._log_prediction($1, $2, $3, $4, $5, $6, $7)",
                    ["pg_catalog.text", "pg_catalog.int8", "pg_catalog.float8", "pg_catalog.text",
                     "pg_catalog.float8", "pg_catalog.int8", "pg_catalog.float8"])
    call = (name, serving.model.model_id, float(serving.threshold), entity_key(key), float(probability),
            shadow_id, shadow_probability)
    _PENDING[:] = [call]
    try:
        plpy.execute(plan, list(call))
    finally:
        _PENDING.clear()


# The call log_call is writing, claimed by churnml._log_prediction (which runs in this backend's one
# Python interpreter): the definer function writes a row only when churnml's own scoring code is
# writing exactly that row, so a churnml_user calling it from SQL cannot forge log rows (say, shadow
# probabilities that make promote_shadow deploy a worse model). Only Python can set it, and churnml_user
# cannot run Python (plpython3u is untrusted).
_PENDING: list[tuple[Any, ...]] = []


def claimed(call: tuple[Any, ...]) -> bool:
    """Whether `call` (churnml._log_prediction's arguments) is the one log_call is writing now."""
    return bool(_PENDING) and _PENDING[0] == call


def write(plpy: Plpy, call: tuple[Any, ...]) -> bool:
    """churnml._log_prediction's body (SECURITY DEFINER): the serving row, and the shadow's beside it, when
    log_call is writing exactly this call and the name logs, has served that model at that cutoff and has
    that shadow now; else nothing (false): logging never fails the call being answered."""
    if not claimed(call):
        return False
    _PENDING.clear()
    name, model_id, cutoff, key, probability, shadow_id, shadow_probability = call
    serving = prepared(plpy, "log_serving_row", """
        INSERT INTO churnml.prediction_log (name, model_id, role, entity_key, probability, threshold)
        SELECT $1, $2, 'serving', $4, $5, $3
        WHERE $5 OPERATOR(pg_catalog.>=) 0 AND $5 OPERATOR(pg_catalog.<=) 1
          AND EXISTS (SELECT FROM churnml.prediction_logging AS l
                      WHERE l.name OPERATOR(pg_catalog.=) $1 AND l.sample_rate OPERATOR(pg_catalog.>) 0)
          AND EXISTS (SELECT FROM churnml.deployments AS d
                      WHERE d.name OPERATOR(pg_catalog.=) $1 AND d.model_id OPERATOR(pg_catalog.=) $2
                        AND d.threshold OPERATOR(pg_catalog.=) $3)
        RETURNING id""", ["pg_catalog.text", "pg_catalog.int8", "pg_catalog.float8", "pg_catalog.text",
                          "pg_catalog.float8"])
    rows = plpy.execute(serving, [name, model_id, cutoff, key, probability])
    if not rows:
        return False
    if shadow_id is not None:
        shadow = prepared(plpy, "log_shadow_row", """
            INSERT INTO churnml.prediction_log (name, model_id, role, entity_key, probability, threshold, serving_id)
            SELECT $1, $2, 'shadow', $4, $5, $3, $6
            WHERE $5 OPERATOR(pg_catalog.>=) 0 AND $5 OPERATOR(pg_catalog.<=) 1
              AND EXISTS (SELECT FROM churnml.shadow_models AS s
                          WHERE s.name OPERATOR(pg_catalog.=) $1 AND s.model_id OPERATOR(pg_catalog.=) $2)""",
            ["pg_catalog.text", "pg_catalog.int8", "pg_catalog.float8", "pg_catalog.text", "pg_catalog.float8",
             "pg_catalog.int8"])
        plpy.execute(shadow, [name, shadow_id, cutoff, key, shadow_probability, rows[0]["id"]])
    return True


def row_key(logging: Logging | None, row: Mapping[str, Any], plpy: Plpy | None = None) -> Any:
    """The key column's value in a row (None when the name logs no key or the row lacks the column: then a
    WARNING, once per statement, since such calls can never get an outcome)."""
    if logging is None or logging.key_column is None:
        return None
    if logging.key_column not in row and plpy is not None:
        statement = server.statement_start()
        if _WARNED.get(logging.key_column) != statement or statement is None:
            _WARNED[logging.key_column] = statement
            plpy.warning(f'churnml: the scored rows have no column "{logging.key_column}", the key logging was '
                         "turned on with: their calls are logged without a key, and no outcome can reach them")
    return row.get(logging.key_column)


_WARNED: dict[str, int | None] = {}  # key column -> the statement that was last warned about it
