"""The server side's object-storage settings: one file in the data directory, set by the DBA.

`$PGDATA/churnml/s3.json` holds **named credentials** — each an endpoint, a region and
keys (the keys of churnml_loaders.s3_config.S3Config) — and, optionally, `file_root`:
the one directory under which `file://` URIs may point (for members of churnml_admin
only):

    {"credentials": {"default":   {"endpoint_url": "...", "access_key_id": "...", ...},
                     "marketing": {"region": "eu-west-1", "access_key_id": "...", ...}},
     "file_root": "/srv/exports"}

A storage location (churnml.storage_locations) names the credential it uses; SQL only
ever sees these names. The file of churnml 0.2.0, one credential's keys at the top
level, is the credential named `default`; so is the server process's environment
(AWS_ACCESS_KEY_ID, ..., CHURNML_S3_ENDPOINT_URL) when there is no file at all. Only
someone who can write the data directory can change it, no SQL role can read it, and
nothing from it but a credential's name reaches a SQL argument, pg_stat_activity or
the log. Backends read it at each call: a change needs no restart.
"""

from __future__ import annotations

import json
import os
import re
import stat
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from churnml_loaders.errors import InsufficientPrivilege, InvalidParameter, UndefinedObject
from churnml_loaders.s3_config import MAX_CONFIG_BYTES, S3Config

DEFAULT_CREDENTIAL = "default"
# What churnml.storage_locations.credential accepts, checked here too for the file's names.
CREDENTIAL_NAME = re.compile(r"[A-Za-z0-9_.-]{1,64}")
CONFIG_HINT = ("An administrator writes $PGDATA/churnml/s3.json (see docs/loaders.md), or sets "
               "AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and CHURNML_S3_ENDPOINT_URL in the server's environment.")


@dataclass(frozen=True)
class ServerConfig:
    credentials: Mapping[str, S3Config] = field(repr=False)
    file_root: PurePosixPath | None
    source: str

    def credential(self, name: str, *, location: str | None = None) -> S3Config:
        """The named credential; a location naming one the server does not have is 42704."""
        found = self.credentials.get(name)
        if found is None:
            where = f" of storage location \"{location}\"" if location else ""
            known = ", ".join(sorted(self.credentials)) or "none"
            raise UndefinedObject(
                f"credential \"{name}\"{where} is not configured on this server",
                detail=f"The server's storage configuration ({self.source}) has these credentials: {known}.",
                hint=f"An administrator adds \"{name}\" under \"credentials\" in $PGDATA/churnml/s3.json "
                     "(docs/loaders.md), or points the location at another credential.")
        return found

    @property
    def s3(self) -> S3Config:
        """The `default` credential (what churnml 0.2.0 had as its only one)."""
        return self.credential(DEFAULT_CREDENTIAL)


def config_path() -> Path:
    # a backend's working directory is the data directory
    return Path(os.getcwd()) / "churnml" / "s3.json"


def load() -> ServerConfig:
    path = config_path()
    if not path.exists():
        return ServerConfig({DEFAULT_CREDENTIAL: S3Config.from_environment()}, None, "the server's environment")
    info = path.stat()
    if info.st_mode & stat.S_IROTH:
        raise InsufficientPrivilege(f"{path} is readable by every user of the machine",
                                    detail="It holds the credentials of object storage.",
                                    hint=f"It holds credentials: chmod 600 {path}")
    if info.st_size > MAX_CONFIG_BYTES:
        raise InvalidParameter(f"{path} is too large to be a churnml configuration",
                               detail=f"It has {info.st_size} bytes; at most {MAX_CONFIG_BYTES} are read.",
                               hint=CONFIG_HINT)
    try:
        values = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        # the reason only: the text around a JSON error could be a secret
        raise InvalidParameter(f"cannot read {path}", detail=_reason(exc), hint=CONFIG_HINT) from None
    if not isinstance(values, dict):
        raise InvalidParameter(f"{path} is not a JSON object", detail="The file must hold one JSON object.",
                               hint=CONFIG_HINT)
    return parse(values, source=str(path))


def _reason(exc: BaseException) -> str:
    if isinstance(exc, json.JSONDecodeError):
        return f"It is not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}."
    if isinstance(exc, UnicodeDecodeError):
        return "It is not UTF-8 text."
    if isinstance(exc, OSError):
        return f"{exc.strerror or 'It cannot be read'}."
    return "It cannot be parsed."


def parse(values: dict[str, Any], *, source: str) -> ServerConfig:
    """The file's object: named credentials (or 0.2.0's one credential at the top level) and file_root."""
    values = dict(values)
    root = values.pop("file_root", None)
    if root is not None and (not isinstance(root, str) or not root.startswith("/")):
        raise InvalidParameter(f"file_root in {source} must be an absolute directory path",
                               detail=f"It is {type(root).__name__ if not isinstance(root, str) else 'relative'}.",
                               hint=CONFIG_HINT)
    named = values.pop("credentials", None)
    if named is None:
        credentials = {DEFAULT_CREDENTIAL: S3Config.from_mapping(values, source=source)}
    else:
        if values:
            raise InvalidParameter(f"{source} mixes \"credentials\" with top-level credential keys",
                                   detail=f"Top-level keys besides credentials and file_root: "
                                          f"{', '.join(sorted(values))}.",
                                   hint="Move them into a credential under \"credentials\", e.g. \"default\".")
        if not isinstance(named, dict) or not named:
            raise InvalidParameter(f"\"credentials\" in {source} must be a non-empty JSON object",
                                   detail="It maps each credential's name to its endpoint, region and keys.",
                                   hint=CONFIG_HINT)
        credentials = {}
        for name, entry in named.items():
            if not CREDENTIAL_NAME.fullmatch(name):
                raise InvalidParameter(f"invalid credential name in {source}",
                                       detail="A name is 1 to 64 letters, digits, '_', '.' or '-'.",
                                       hint=CONFIG_HINT)
            if not isinstance(entry, dict):
                raise InvalidParameter(f"credential \"{name}\" in {source} must be a JSON object",
                                       detail=f"It is a {type(entry).__name__}.", hint=CONFIG_HINT)
            credentials[name] = S3Config.from_mapping(entry, source=f"{source} (credential \"{name}\")")
    return ServerConfig(credentials, PurePosixPath(os.path.realpath(root)) if root else None, source)


def file_path(config: ServerConfig, path: PurePosixPath) -> Path:
    """The real path of a file:// URI, which must lie under the configured file_root."""
    if config.file_root is None:
        raise InsufficientPrivilege("file:// URIs are not enabled on this server",
                                    detail="The server's storage configuration sets no file_root.",
                                    hint='Set "file_root" in $PGDATA/churnml/s3.json to the one directory they '
                                         "may use, or use an s3:// URI.")
    real = PurePosixPath(os.path.realpath(str(path)))
    if real != config.file_root and config.file_root not in real.parents:
        raise InsufficientPrivilege(f"{path} is outside the directory file:// URIs may use",
                                    detail=f"file_root is {config.file_root}.",
                                    hint="Use a path under file_root (symbolic links are resolved first).")
    return Path(str(real))


def _credential_values(config: S3Config) -> dict[str, object]:
    values: dict[str, object] = {"endpoint_url": config.endpoint_url, "region": config.region,
                                 "access_key_id": config.access_key_id,
                                 "secret_access_key": config.secret_access_key}
    if config.session_token:
        values["session_token"] = config.session_token
    return values


def write_file(datadir: Path, config: S3Config, file_root: str | None = None,
               others: Mapping[str, S3Config] | None = None) -> Path:
    """The DBA's step, for a server whose data directory this process can write (e.g. the embedded one).

    Writes $PGDATA/churnml/s3.json, mode 600, owned like the data directory, so only the
    server's OS user reads it: `config` as the credential named `default`, and `others`
    by their names. Backends read it on each call: no restart needed.
    """
    credentials = {DEFAULT_CREDENTIAL: _credential_values(config)}
    for name, other in (others or {}).items():
        credentials[name] = _credential_values(other)
    values: dict[str, object] = {"credentials": credentials}
    if file_root:
        values["file_root"] = file_root
    path = Path(datadir) / "churnml" / "s3.json"
    path.parent.mkdir(mode=0o700, exist_ok=True)
    partial = path.with_suffix(".json.partial")
    partial.unlink(missing_ok=True)
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)  # never briefly readable by others
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(json.dumps(values, indent=2) + "\n")
    if os.geteuid() == 0:
        owner = Path(datadir).stat().st_uid
        os.chown(path.parent, owner, -1)
        os.chown(partial, owner, -1)
    partial.replace(path)
    return path
