"""SQL area: the runtime (install check, version, diagnostics)."""

from __future__ import annotations

import json
from typing import Any

from churnml import runtime
from churnml.spi import Plpy
from churnml.sql_api.entry import entry


@entry
def check_install(plpy: Plpy, runtime_hint: str) -> None:
    versions = runtime.check_install(runtime_hint)
    plpy.debug("churnml runtime: " + json.dumps(versions, sort_keys=True))


@entry
def runtime_info(plpy: Plpy) -> str:
    return json.dumps(runtime.runtime_info(), sort_keys=True)


@entry
def progress(plpy: Plpy) -> list[dict[str, Any]]:
    """churnml.progress: the progress files in the server's pg_stat_tmp, as the caller may see them."""
    import os

    from churnml import progress as tracker
    from churnml import server

    data = server.setting("data_directory") or os.getcwd()  # a backend runs in its data directory
    return tracker.rows(plpy, os.path.join(data, "pg_stat_tmp"))
