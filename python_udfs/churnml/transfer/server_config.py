"""The server side's object-storage settings: one file in the data directory, set by the DBA.

`$PGDATA/churnml/s3.json` holds the endpoint, region and credentials (the keys of
churnml_loaders.s3_config.S3Config) and, optionally, `file_root`: the one directory
under which `file://` URIs may point (for members of churnml_admin only). Only
someone who can write the data directory can change it, no SQL role can read it,
and nothing from it reaches a SQL argument, pg_stat_activity or the log. Without
the file, the server process's environment (AWS_ACCESS_KEY_ID, ...,
CHURNML_S3_ENDPOINT_URL) is used, as for the CLI.
"""

from __future__ import annotations

import json
import os
import stat
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from churnml.errors import InsufficientPrivilege, InvalidParameter
from churnml_loaders.s3_config import MAX_CONFIG_BYTES, S3Config

CONFIG_HINT = ("An administrator writes $PGDATA/churnml/s3.json (see docs/loaders.md), or sets "
               "AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and CHURNML_S3_ENDPOINT_URL in the server's environment.")


@dataclass(frozen=True)
class ServerConfig:
    s3: S3Config
    file_root: PurePosixPath | None
    source: str


def config_path() -> Path:
    # a backend's working directory is the data directory
    return Path(os.getcwd()) / "churnml" / "s3.json"


def load() -> ServerConfig:
    path = config_path()
    if not path.exists():
        return ServerConfig(S3Config.from_environment(), None, "the server's environment")
    info = path.stat()
    if info.st_mode & stat.S_IROTH:
        raise InsufficientPrivilege(f"{path} is readable by every user of the machine",
                                    hint=f"It holds credentials: chmod 600 {path}")
    if info.st_size > MAX_CONFIG_BYTES:
        raise InvalidParameter(f"{path} is too large to be a churnml configuration", hint=CONFIG_HINT)
    try:
        values = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise InvalidParameter(f"cannot read {path}", detail=type(exc).__name__, hint=CONFIG_HINT) from None
    if not isinstance(values, dict):
        raise InvalidParameter(f"{path} is not a JSON object", hint=CONFIG_HINT)
    root = values.pop("file_root", None)
    if root is not None and (not isinstance(root, str) or not root.startswith("/")):
        raise InvalidParameter(f"file_root in {path} must be an absolute directory path", hint=CONFIG_HINT)
    return ServerConfig(S3Config.from_mapping(values, source=str(path)),
                        PurePosixPath(os.path.realpath(root)) if root else None, str(path))


def file_path(config: ServerConfig, path: PurePosixPath) -> Path:
    """The real path of a file:// URI, which must lie under the configured file_root."""
    if config.file_root is None:
        raise InsufficientPrivilege("file:// URIs are not enabled on this server",
                                    hint='Set "file_root" in $PGDATA/churnml/s3.json to the one directory they '
                                         "may use, or use an s3:// URI.")
    real = PurePosixPath(os.path.realpath(str(path)))
    if real != config.file_root and config.file_root not in real.parents:
        raise InsufficientPrivilege(f"{path} is outside the directory file:// URIs may use",
                                    detail=f"file_root is {config.file_root}.")
    return Path(str(real))


def write_file(datadir: Path, config: S3Config, file_root: str | None = None) -> Path:
    """The DBA's step, for a server whose data directory this process can write (e.g. the embedded one).

    Writes $PGDATA/churnml/s3.json, mode 600, owned like the data directory, so only the
    server's OS user reads it. Backends read it on each call: no restart needed.
    """
    values: dict[str, object] = {"endpoint_url": config.endpoint_url, "region": config.region,
                                 "access_key_id": config.access_key_id,
                                 "secret_access_key": config.secret_access_key}
    if config.session_token:
        values["session_token"] = config.session_token
    if file_root:
        values["file_root"] = file_root
    path = Path(datadir) / "churnml" / "s3.json"
    path.parent.mkdir(mode=0o700, exist_ok=True)
    partial = path.with_suffix(".json.partial")
    partial.write_text(json.dumps(values, indent=2) + "\n", encoding="utf-8")
    partial.chmod(0o600)
    if os.geteuid() == 0:
        owner = Path(datadir).stat().st_uid
        os.chown(path.parent, owner, -1)
        os.chown(partial, owner, -1)
    partial.replace(path)
    return path
