"""What `make install` recorded for the CLI: which PostgreSQL, which runtime.

Stored as JSON in the environment that holds the `churnml` command
(`<venv>/share/churnml/install.json`), so the CLI starts servers with the same
binaries and runtime the extension was installed for.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

INFO_PATH = Path(sys.prefix) / "share" / "churnml" / "install.json"


@dataclass(frozen=True)
class InstallInfo:
    version: str
    pg_config: str
    pg_bindir: str
    runtime_site: str


def read() -> InstallInfo:
    try:
        data = json.loads(INFO_PATH.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SystemExit(f"churnml: {INFO_PATH} not found; run `make install` in the churnml source tree") from None
    return InstallInfo(**data)


def write(pg_config: str, runtime_site: str, version: str) -> InstallInfo:
    bindir = subprocess.run([pg_config, "--bindir"], check=True, capture_output=True, text=True).stdout.strip()
    info = InstallInfo(version=version, pg_config=pg_config, pg_bindir=bindir, runtime_site=runtime_site)
    INFO_PATH.parent.mkdir(parents=True, exist_ok=True)
    INFO_PATH.write_text(json.dumps(asdict(info), indent=2) + "\n", encoding="utf-8")
    return info


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m churnml_client.install_info")
    parser.add_argument("action", choices=["write", "show"])
    parser.add_argument("--pg-config")
    parser.add_argument("--runtime-site")
    parser.add_argument("--version")
    args = parser.parse_args(argv)
    if args.action == "write":
        write(args.pg_config, args.runtime_site, args.version)
    else:
        print(json.dumps(asdict(read()), indent=2))


if __name__ == "__main__":
    main()
