"""Where S3 is and which credentials to use: `S3Config`.

Two sources, never mixed (credentials from two places would be a puzzle to debug):

* the environment: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN,
  AWS_REGION (or AWS_DEFAULT_REGION), CHURNML_S3_ENDPOINT_URL;
* a JSON file, e.g. the one `churnml s3 start` writes for the local server:

      {"endpoint_url": "http://127.0.0.1:9000", "region": "us-east-1",
       "access_key_id": "...", "secret_access_key": "...",
       "session_token": null, "addressing_style": "path"}

Without keys, the S3 client finds credentials the standard AWS way (churnml_loaders.s3_client):
the environment, the shared config and credentials files (with `"profile"`, a named
profile of them), web identity, container and instance metadata.
No repr, str or error message ever shows the secret key or the session token.
Standard library only: the backend reads its configuration before it needs S3.
"""

from __future__ import annotations

import json
import os
import re
import stat
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from churnml_loaders.errors import InvalidParameter

DEFAULT_REGION = "us-east-1"
MAX_CONFIG_BYTES = 64 * 1024
_FILE_KEYS = ("endpoint_url", "region", "access_key_id", "secret_access_key", "session_token", "profile",
              "addressing_style", "connect_timeout", "read_timeout")
_PROFILE = re.compile(r"[A-Za-z0-9_.@+-]{1,64}")


@dataclass(frozen=True)
class S3Config:
    """Everything the client needs to reach one S3-compatible endpoint.

    `endpoint_url` None means AWS itself (https://s3.<region>.amazonaws.com).
    Path-style addressing (http://host/bucket/key) is the default because
    S3-compatible servers (MinIO, moto, Ceph) expect it; AWS accepts it too.
    """

    endpoint_url: str | None = None
    region: str = DEFAULT_REGION
    access_key_id: str | None = None
    secret_access_key: str | None = field(default=None, repr=False)
    session_token: str | None = field(default=None, repr=False)
    profile: str | None = None  # a profile of ~/.aws/config and ~/.aws/credentials, for the credential chain
    addressing_style: Literal["path", "virtual"] = "path"
    connect_timeout: float = 10.0
    read_timeout: float = 120.0
    source: str = field(default="defaults", compare=False)

    def __post_init__(self) -> None:
        if self.endpoint_url is not None:
            try:
                parts = urlsplit(self.endpoint_url)
            except ValueError:
                parts = urlsplit("invalid:")
            if "@" in self.endpoint_url:
                # never echo it: the URL itself carries a secret
                raise InvalidParameter(f"the S3 endpoint URL in {self.source} contains credentials",
                                       hint="Put the keys in access_key_id / secret_access_key instead.")
            try:
                port_ok = parts.port is None or parts.port > 0
            except ValueError:
                port_ok = False
            if not port_ok or parts.scheme not in ("http", "https") or not parts.hostname:
                raise InvalidParameter(
                    f"invalid S3 endpoint URL \"{self.endpoint_url}\" in {self.source}",
                    hint="Give a URL like http://127.0.0.1:9000 or https://s3.example.com.",
                )
            if parts.query or parts.fragment or parts.path not in ("", "/"):
                raise InvalidParameter(f"invalid S3 endpoint URL \"{self.endpoint_url}\" in {self.source}",
                                       detail="An endpoint URL has no path, query or fragment.")
        if self.addressing_style not in ("path", "virtual"):
            raise InvalidParameter(f"invalid S3 addressing style \"{self.addressing_style}\" in {self.source}",
                                   hint="Use \"path\" or \"virtual\".")
        if not self.region or not all(c.isalnum() or c == "-" for c in self.region):
            raise InvalidParameter(f"invalid S3 region \"{self.region}\" in {self.source}")
        if self.profile is not None and (self.access_key_id or not _PROFILE.fullmatch(self.profile)):
            raise InvalidParameter(f"invalid S3 profile in {self.source}",
                                   detail="A profile is a name in the shared AWS config files, for a credential "
                                          "without access keys.",
                                   hint="Give either access_key_id and secret_access_key, or a profile name.")
        if bool(self.access_key_id) != bool(self.secret_access_key):
            raise InvalidParameter(f"incomplete S3 credentials in {self.source}",
                                   detail="An access key id needs its secret access key, and the other way round.")
        for name in ("connect_timeout", "read_timeout"):
            value = getattr(self, name)
            if not isinstance(value, int | float) or isinstance(value, bool) or value <= 0:
                raise InvalidParameter(f"invalid S3 {name.replace('_', ' ')} in {self.source}",
                                       detail="It must be a positive number of seconds.")

    # ---- derived --------------------------------------------------------------------
    @property
    def has_credentials(self) -> bool:
        return bool(self.access_key_id and self.secret_access_key)

    @property
    def endpoint(self) -> str:
        """The endpoint URL actually used (AWS's regional one when none is configured)."""
        return (self.endpoint_url or f"https://s3.{self.region}.amazonaws.com").rstrip("/")

    def secrets(self) -> tuple[str, ...]:
        """The values that must never appear in any text (used to redact)."""
        return tuple(s for s in (self.secret_access_key, self.session_token) if s)

    def __repr__(self) -> str:
        key = self.access_key_id
        shown_key = f"…{key[-4:]}" if key and len(key) > 8 else ("<set>" if key else None)
        return (f"S3Config(endpoint={self.endpoint!r}, region={self.region!r}, access_key_id={shown_key!r}, "
                f"secret_access_key={'<set>' if self.secret_access_key else None}, "
                f"session_token={'<set>' if self.session_token else None}, profile={self.profile!r}, "
                f"addressing_style={self.addressing_style!r}, source={self.source!r})")

    __str__ = __repr__

    # ---- sources --------------------------------------------------------------------
    @classmethod
    def from_mapping(cls, values: Mapping[str, Any], *, source: str) -> S3Config:
        """Build from a dict with the JSON file's keys; unknown keys are refused (they are typos)."""
        unknown = sorted(set(values) - set(_FILE_KEYS))
        if unknown:
            raise InvalidParameter(f"unknown key(s) in S3 configuration {source}: {', '.join(unknown)}",
                                   hint=f"Known keys: {', '.join(_FILE_KEYS)}.")
        kwargs: dict[str, Any] = {}
        for name in _FILE_KEYS:
            value = values.get(name)
            if value is None or value == "":
                continue
            if name in ("connect_timeout", "read_timeout"):
                if isinstance(value, bool) or not isinstance(value, int | float):
                    raise InvalidParameter(f"invalid S3 {name.replace('_', ' ')} in {source}",
                                           detail="It must be a number of seconds.")
                kwargs[name] = float(value)
            elif not isinstance(value, str):
                raise InvalidParameter(f"invalid value for \"{name}\" in S3 configuration {source}",
                                       detail=f"Expected a string, got {type(value).__name__}.")
            else:
                kwargs[name] = value
        return cls(**kwargs, source=source)

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> S3Config:
        """AWS_* variables and CHURNML_S3_ENDPOINT_URL (the same names the AWS CLI reads)."""
        env = os.environ if environ is None else environ
        return cls.from_mapping({
            "endpoint_url": env.get("CHURNML_S3_ENDPOINT_URL"),
            "region": env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION"),
            "access_key_id": env.get("AWS_ACCESS_KEY_ID"),
            "secret_access_key": env.get("AWS_SECRET_ACCESS_KEY"),
            "session_token": env.get("AWS_SESSION_TOKEN"),
        }, source="the environment")

    @classmethod
    def from_file(cls, path: str | os.PathLike[str], *, refuse_world_readable: bool = True) -> S3Config:
        """Read a JSON configuration file. A file others can read is refused: it holds a secret."""
        path = Path(path)
        source = f"file \"{path}\""
        try:
            info = path.stat()
            if refuse_world_readable and info.st_mode & (stat.S_IROTH | stat.S_IWOTH):
                raise InvalidParameter(f"S3 configuration {source} is readable or writable by every user",
                                       detail="It holds a secret access key.",
                                       hint=f"Run chmod 600 {path} (or 640 with a group that must read it).")
            if info.st_size > MAX_CONFIG_BYTES:
                raise InvalidParameter(f"S3 configuration {source} is too large ({info.st_size} bytes)")
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise InvalidParameter(f"S3 configuration {source} does not exist",
                                   hint="Start the local server with `churnml s3 start` (it writes one), "
                                        "or write the file, or set AWS_ACCESS_KEY_ID / "
                                        "AWS_SECRET_ACCESS_KEY.") from None
        except PermissionError:
            raise InvalidParameter(f"S3 configuration {source} cannot be read (permission denied)") from None
        except UnicodeDecodeError:
            raise InvalidParameter(f"S3 configuration {source} is not UTF-8 text") from None
        try:
            values = json.loads(text)
        except json.JSONDecodeError as exc:
            # the position only: the text around it could be the secret
            raise InvalidParameter(f"S3 configuration {source} is not valid JSON",
                                   detail=f"{exc.msg} at line {exc.lineno}, column {exc.colno}.") from None
        if not isinstance(values, dict):
            raise InvalidParameter(f"S3 configuration {source} must hold a JSON object")
        return cls.from_mapping(values, source=source)

    def to_json(self) -> str:
        """The file form (with the secret: write it with mode 600)."""
        values = {f.name: getattr(self, f.name) for f in fields(self) if f.name in _FILE_KEYS}
        return json.dumps(values, indent=2) + "\n"


def environment_has_credentials(environ: Mapping[str, str] | None = None) -> bool:
    env = os.environ if environ is None else environ
    return bool(env.get("AWS_ACCESS_KEY_ID"))


def write_config_file(config: S3Config, path: str | os.PathLike[str]) -> None:
    """Write `config` as JSON, mode 600 from the start (never briefly readable by others)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.unlink(missing_ok=True)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(config.to_json())
    tmp.replace(path)
