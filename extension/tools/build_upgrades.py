#!/usr/bin/env python3
"""Build an extension's upgrade scripts: one direct script from every earlier release.

    build_upgrades.py EXTENSION VERSION INSTALL_SCRIPT DELTA_DIR OUT_DIR

Every SQL function body carries the extension's version (the runtime refuses to mix
code and definitions of different versions), so an update must re-create every
function. Writing that by hand for each release would be error-prone; instead an
upgrade script is built from two parts:

1. the hand-written deltas `DELTA_DIR/<from>--<to>.sql`, chained from an earlier
   release to VERSION: what cannot simply be re-run — new or altered tables, types,
   triggers and indexes, new built-in rows, and DROPs of objects removed or whose
   signature or result type changed (CREATE OR REPLACE cannot change those);
2. the replayable statements of the new install script, made idempotent: every
   function, procedure and view as CREATE OR REPLACE, every COMMENT, GRANT and REVOKE,
   and the DO blocks (which the install scripts keep idempotent: the runtime check
   and the role creation).

For each release R with a chain of deltas R -> ... -> VERSION it writes
`OUT_DIR/EXTENSION--R--VERSION.sql`, so PostgreSQL updates in one step from any of
them. tests/extension/test_upgrade.py checks that an updated database has exactly the
catalog of a fresh install. Standard library only: it runs before any venv exists.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

DELTA_NAME = re.compile(r"^(?P<old>\d+\.\d+\.\d+)--(?P<new>\d+\.\d+\.\d+)\.sql$")
_ROUTINE = re.compile(r"^CREATE\s+(?:OR\s+REPLACE\s+)?(FUNCTION|PROCEDURE|VIEW)\b", re.IGNORECASE)
_KEPT = re.compile(r"^(?:COMMENT\s+ON|GRANT|REVOKE|DO)\b", re.IGNORECASE)
_DOLLAR_TAG = re.compile(r"\$(?:[A-Za-z_][A-Za-z_0-9]*)?\$")


def split_statements(script: str) -> list[str]:
    """The script's SQL statements (without their `;`), skipping comments and psql
    meta-command lines; aware of quotes, quoted identifiers and dollar quoting."""
    statements: list[str] = []
    current: list[str] = []
    i, n = 0, len(script)
    while i < n:
        ch = script[i]
        at_statement_start = not "".join(current).strip()
        if ch == "\\" and at_statement_start:  # psql meta-command: the rest of the line
            end = script.find("\n", i)
            i = n if end < 0 else end + 1
            continue
        if script.startswith("--", i):
            end = script.find("\n", i)
            i = n if end < 0 else end + 1
            current.append("\n")
            continue
        if script.startswith("/*", i):
            depth, j = 1, i + 2
            while j < n and depth:
                if script.startswith("/*", j):
                    depth, j = depth + 1, j + 2
                elif script.startswith("*/", j):
                    depth, j = depth - 1, j + 2
                else:
                    j += 1
            current.append(" ")
            i = j
            continue
        if ch in ("'", '"'):
            j = i + 1
            while j < n:
                if script[j] == ch:
                    if j + 1 < n and script[j + 1] == ch:  # doubled quote
                        j += 2
                        continue
                    break
                j += 1
            current.append(script[i:j + 1])
            i = j + 1
            continue
        if ch == "$":
            tag = _DOLLAR_TAG.match(script, i)
            if tag and not (i and (script[i - 1].isalnum() or script[i - 1] == "_")):
                end = script.find(tag.group(), tag.end())
                if end < 0:
                    raise ValueError(f"unterminated dollar quote {tag.group()} at offset {i}")
                stop = end + len(tag.group())
                current.append(script[i:stop])
                i = stop
                continue
        if ch == ";":
            text = "".join(current).strip()
            if text:
                statements.append(text)
            current = []
            i += 1
            continue
        current.append(ch)
        i += 1
    if "".join(current).strip():
        raise ValueError("the script ends inside a statement (missing `;`)")
    return statements


def replayable(statement: str) -> str | None:
    """The statement as it is re-run by an upgrade, or None if an upgrade leaves it to the deltas."""
    routine = _ROUTINE.match(statement)
    if routine:
        return f"CREATE OR REPLACE {routine.group(1).upper()}{statement[routine.end():]}"
    if _KEPT.match(statement):
        return statement
    return None


def delta_chain(delta_dir: Path, target: str) -> dict[str, list[Path]]:
    """For every release with a path of deltas to `target`: the deltas in order."""
    steps: dict[str, tuple[str, Path]] = {}
    for path in sorted(delta_dir.glob("*.sql")) if delta_dir.is_dir() else []:
        match = DELTA_NAME.match(path.name)
        if not match:
            raise ValueError(f"{path}: an upgrade delta is named <from>--<to>.sql")
        if match["old"] in steps:
            raise ValueError(f"{path}: a second delta from {match['old']}")
        steps[match["old"]] = (match["new"], path)
    chains: dict[str, list[Path]] = {}
    for start in steps:
        version, chain = start, []
        while version != target and version in steps and len(chain) <= len(steps):
            version, path = steps[version]
            chain.append(path)
        if version == target:
            chains[start] = chain
    return chains


def build(extension: str, version: str, install_script: Path, delta_dir: Path, out_dir: Path) -> list[Path]:
    install = install_script.read_text(encoding="utf-8")
    replay = [r for r in (replayable(s) for s in split_statements(install)) if r is not None]
    written: list[Path] = []
    for old, chain in sorted(delta_chain(delta_dir, version).items()):
        out = out_dir / f"{extension}--{old}--{version}.sql"
        parts = [
            f"-- {extension} upgrade {old} -> {version}, built by make from "
            + ", ".join(str(p) for p in chain) + f" and the {version} install script: edit those, not this.",
        ]
        parts.append(f"\\echo Use \"ALTER EXTENSION {extension} UPDATE\" to load this file. \\quit")
        for path in chain:
            parts.append(f"\n-- ---- {path} (hand-written delta) ----\n")
            parts.append(path.read_text(encoding="utf-8").replace("@EXTVERSION@", version))
        parts.append(f"\n-- ---- replayed from the {version} install script ----\n")
        parts.extend(f"{statement};\n" for statement in replay)
        out.write_text("\n".join(parts), encoding="utf-8")
        written.append(out)
    for stale in out_dir.glob(f"{extension}--*--*.sql"):  # scripts to an earlier version
        if stale not in written:
            stale.unlink()
    return written


def main(argv: list[str]) -> int:
    if len(argv) != 6:
        print(__doc__, file=sys.stderr)
        return 2
    extension, version, install_script, delta_dir, out_dir = argv[1:]
    for path in build(extension, version, Path(install_script), Path(delta_dir), Path(out_dir)):
        print(f"==> built {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
