"""Facts about the Python runtime inside the backend, and the checks made on it.

`check_install` runs inside CREATE EXTENSION: if the backend cannot import what
churnml needs, the extension is not created and the error names the fix.
`require_version` runs at every UDF entry: a backend that loaded churnml's Python
before an upgrade must not mix old code with new SQL definitions.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
from typing import Any

from churnml.errors import RuntimeMissing, VersionMismatch
from churnml.version import VERSION

# Imported for real at CREATE EXTENSION (each is fast enough, < ~1.5 s together).
IMPORT_CHECKED = ("numpy", "scipy", "sklearn", "xgboost", "vaderSentiment")
# Located and version-checked, not imported: importing transformers costs ~5 s,
# which CREATE EXTENSION should not pay; the sentiment functions import them, and the
# loaders botocore (~0.15 s) at their first S3 call.
LOCATE_CHECKED = ("torch", "sentence_transformers", "botocore")
# distribution names for version reporting
DISTRIBUTIONS = {
    "numpy": "numpy",
    "scipy": "scipy",
    "sklearn": "scikit-learn",
    "xgboost": "xgboost-cpu",
    "vaderSentiment": "vaderSentiment",
    "torch": "torch",
    "sentence_transformers": "sentence-transformers",
    "botocore": "botocore",
}


def _release(version: str) -> tuple[int, ...] | None:
    parts = version.split(".")
    return tuple(int(p) for p in parts) if all(p.isdigit() for p in parts) else None


def require_version(expected: str) -> None:
    """Fail if the churnml code loaded in this backend is not `expected`."""
    if expected == VERSION:
        return
    sql, code = _release(expected), _release(VERSION)
    if sql is not None and code is not None and sql < code:
        # The server runs a newer runtime than this database's definitions: the DBA
        # installed a release and restarted but has not updated this database yet.
        raise VersionMismatch(
            f"the installed extension churnml is version {expected} but the server runs churnml {VERSION}",
            detail=f"This database's churnml definitions are older than the Python runtime the server loads "
                   f"(PYTHONPATH names the {VERSION} runtime).",
            hint="Run ALTER EXTENSION churnml UPDATE in this database (and ALTER EXTENSION churnml_aws UPDATE "
                 "where that is installed); see docs/install.md, \"Upgrading\".",
        )
    raise VersionMismatch(
        f"the Python code loaded in this session is version {VERSION} "
        f"but the installed extension is {expected}",
        detail="The extension was created or updated after this session first used churnml.",
        hint=(
            "Reconnect. If it persists, the server's PYTHONPATH still names the runtime of "
            f"version {VERSION}: point it at the {expected} runtime and restart the server."
        ),
    )


def _distribution_version(module: str) -> str | None:
    # Imported here: importlib.metadata costs ~25 ms, which every session's first churnml call paid.
    import importlib.metadata

    try:
        return importlib.metadata.version(DISTRIBUTIONS.get(module, module))
    except importlib.metadata.PackageNotFoundError:
        return None


def check_install(runtime_hint: str) -> dict[str, str]:
    """Verify the runtime can serve churnml; return module -> version."""
    versions: dict[str, str] = {}
    problems: list[str] = []
    for module in IMPORT_CHECKED:
        try:
            importlib.import_module(module)
        except Exception as exc:  # noqa: BLE001 - any import failure is reported, not just ImportError
            problems.append(f"{module}: {type(exc).__name__}: {exc}")
            continue
        versions[module] = _distribution_version(module) or "unknown"
    for module in LOCATE_CHECKED:
        if importlib.util.find_spec(module) is None:
            problems.append(f"{module}: not found")
            continue
        versions[module] = _distribution_version(module) or "unknown"
    if problems:
        raise RuntimeMissing(
            "churnml's Python runtime is incomplete in this server",
            detail="Cannot import: " + "; ".join(problems) + f". Python is {sys.version.split()[0]}.",
            hint=runtime_hint,
        )
    return versions


def runtime_info() -> dict[str, Any]:
    """What a DBA wants to see when something is off."""
    loaded = {m: _distribution_version(m) for m in DISTRIBUTIONS}
    return {
        "churnml_version": VERSION,
        "python_version": sys.version.split()[0],
        "python_executable": sys.executable,
        "pythonpath": os.environ.get("PYTHONPATH", ""),
        "churnml_path": os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
        "packages": loaded,
        "pid": os.getpid(),
    }
