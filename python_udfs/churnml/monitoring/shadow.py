"""The shadow challenger: a second model scored beside a name's serving model on every logged call.

Its answer is only logged (role 'shadow'), never returned: the caller gets the serving model's
answer whatever the shadow does. So a shadow that cannot score a call (its features are not all in
the call, its artifact fails its checksum) costs that call its shadow row and one WARNING per
statement, never the call itself. churnml.promote_shadow compares the two models' realized AUC
on the calls both scored that have outcomes (churnml.monitoring.realized).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from churnml import server
from churnml.errors import ChurnmlError, sql_literal
from churnml.monitoring.prediction_log import Logging
from churnml.spi import Plpy

# name -> the statement (server.statement_start) that was last warned about its shadow
_warned: dict[str, int | None] = {}


def score(plpy: Plpy, name: str, logging: Logging, features: Mapping[str, Any]) -> float | None:
    """The shadow model's probability for a call's features, or None (warned once a statement)."""
    from churnml.scoring import model_cache

    assert logging.shadow_model_id is not None and logging.shadow_sha256 is not None  # the caller checked
    try:
        loaded = model_cache.model(plpy, logging.shadow_model_id, logging.shadow_sha256)
        missing = [n for n in loaded.input_names if n not in features]
        if missing:
            _warn(plpy, name, logging.shadow_model_id,
                  f'the call has no value for its feature "{missing[0]}"')
            return None
        return float(loaded.score_values([features[n] for n in loaded.input_names]))
    except ChurnmlError as exc:
        _warn(plpy, name, logging.shadow_model_id, exc.message)
        return None


def _warn(plpy: Plpy, name: str, model_id: int, why: str) -> None:
    statement = server.statement_start()
    if statement is not None and _warned.get(name) == statement:
        return
    _warned[name] = statement
    plpy.warning(f'churnml: shadow model {model_id} of "{name}" could not score a call: {why}',
                 detail="The serving model's answer is unchanged; this call has no shadow row in "
                        "churnml.prediction_log.",
                 hint=f"churnml.stop_shadow({sql_literal(name)}) stops the shadow; a shadow needs the serving model's "
                      "features (or, for will_churn(row), columns of the row).")
