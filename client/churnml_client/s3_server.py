"""A local S3-compatible server for the demo and the tests: `churnml s3 ...`.

It runs `moto_server` (the `moto[server]` package) on 127.0.0.1, on a free port
picked at first start and kept while it stays free. State lives in
`$CHURNML_HOME/s3/` (the same home as `churnml db`):

    moto_server.pid   the server's pid
    port              its port
    moto_server.log   its log
    config.json       endpoint + credentials for `churnml export/load` (mode 600)

moto keeps objects in memory: stopping the server forgets every bucket.

Credentials are checked. moto accepts anything until told otherwise, so `start`
creates an IAM user with an access key and an inline policy allowing s3:*, then
switches moto's IAM authentication on (its /moto-api/reset-auth endpoint, the
runtime form of INITIAL_NO_AUTH_ACTION_COUNT). From then on, a request signed with
another key gets InvalidAccessKeyId and one signed with the wrong secret
SignatureDoesNotMatch, as from AWS. `start` also creates the bucket `churnml`.
"""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlencode

from churnml_client.embedded_pg import ServerError, default_home, free_port, port_is_free
from churnml_loaders.s3_client import S3Client, signed_headers_for
from churnml_loaders.s3_config import S3Config, write_config_file

DEFAULT_BUCKET = "churnml"
IAM_USER = "churnml"
REGION = "us-east-1"
# Only for the setup calls made before authentication is switched on; moto ignores them.
_SETUP_CONFIG_KEYS = {"access_key_id": "churnml-setup", "secret_access_key": "churnml-setup"}
_S3_ALL = json.dumps({"Version": "2012-10-17",
                      "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]})


def moto_server_binary() -> str:
    beside = Path(sys.executable).parent / "moto_server"
    if beside.exists():
        return str(beside)
    found = shutil.which("moto_server")
    if found:
        return found
    raise ServerError("moto_server is not installed; run `make install` (or "
                      ".venv/bin/pip install -c requirements/constraints.txt 'moto[server]')")


@dataclass
class LocalS3Server:
    home: Path  # $CHURNML_HOME/s3

    @classmethod
    def from_environment(cls, home: Path | None = None) -> LocalS3Server:
        """`home` is a CHURNML_HOME; the server's state goes into its s3/ directory."""
        return cls((home or default_home()) / "s3")

    # ---- layout -------------------------------------------------------------------------
    @property
    def pidfile(self) -> Path:
        return self.home / "moto_server.pid"

    @property
    def portfile(self) -> Path:
        return self.home / "port"

    @property
    def logfile(self) -> Path:
        return self.home / "moto_server.log"

    @property
    def config_file(self) -> Path:
        return self.home / "config.json"

    @property
    def port(self) -> int | None:
        try:
            return int(self.portfile.read_text(encoding="utf-8").strip())
        except (FileNotFoundError, ValueError):
            return None

    def url(self) -> str:
        port = self.port
        if port is None:
            raise ServerError("no local S3 server yet; run `churnml s3 start`")
        return f"http://127.0.0.1:{port}"

    # ---- state --------------------------------------------------------------------------
    def running_pid(self) -> int | None:
        """The server's pid if it runs; a pid file naming another (or no) process is stale."""
        try:
            pid = int(self.pidfile.read_text(encoding="utf-8").strip())
        except (FileNotFoundError, ValueError):
            return None
        return pid if _is_moto_server(pid, self.port) else None

    def config(self) -> S3Config:
        return S3Config.from_file(self.config_file)

    # ---- lifecycle ------------------------------------------------------------------------
    def start(self) -> S3Config:
        """Start the server unless it runs; return the configuration clients should use."""
        if self.running_pid() is not None and self.config_file.exists():
            return self.config()
        self.stop()  # a server without its config (or a stale pid file): start clean
        self.home.mkdir(parents=True, exist_ok=True)
        self.home.chmod(0o700)
        port = self.port
        if port is None or not port_is_free(port):
            port = free_port()
        self.portfile.write_text(f"{port}\n", encoding="utf-8")
        with open(self.logfile, "ab") as log:
            process = subprocess.Popen(
                [moto_server_binary(), "-H", "127.0.0.1", "-p", str(port)],
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, cwd=self.home,
                env=_server_env(), start_new_session=True,  # outlives the `churnml s3 start` that made it
            )
        self.pidfile.write_text(f"{process.pid}\n", encoding="utf-8")
        try:
            self._wait_ready(process, port)
            config = self._set_up_credentials(port)
            with S3Client(config) as client:
                client.create_bucket(DEFAULT_BUCKET)  # also proves the new credentials work
        except BaseException:
            self.stop()
            raise
        write_config_file(config, self.config_file)
        return config

    def _wait_ready(self, process: subprocess.Popen[bytes], port: int, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise ServerError(f"moto_server exited with status {process.returncode}:\n{self.log_tail()}")
            with contextlib.suppress(OSError, http.client.HTTPException):
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
                try:
                    conn.request("GET", "/moto-api/data.json")
                    if conn.getresponse().status == 200:
                        return
                finally:
                    conn.close()
            time.sleep(0.1)
        raise ServerError(f"moto_server did not answer on 127.0.0.1:{port} within {timeout:.0f} s:\n{self.log_tail()}")

    def _set_up_credentials(self, port: int) -> S3Config:
        endpoint = f"http://127.0.0.1:{port}"
        setup = S3Config(endpoint_url=endpoint, region=REGION, source="the setup", **_SETUP_CONFIG_KEYS)
        _iam(setup, "CreateUser", UserName=IAM_USER)
        _iam(setup, "PutUserPolicy", UserName=IAM_USER, PolicyName="churnml-s3-all", PolicyDocument=_S3_ALL)
        key = _iam(setup, "CreateAccessKey", UserName=IAM_USER)
        access_key_id = _find(key, "AccessKeyId")
        secret = _find(key, "SecretAccessKey")
        # From here on moto checks every request's signature and the user's policy.
        _post(port, "/moto-api/reset-auth", b"0")
        return S3Config(endpoint_url=endpoint, region=REGION, access_key_id=access_key_id, secret_access_key=secret,
                        source=f"file \"{self.config_file}\"")

    def stop(self) -> bool:
        pid = self.running_pid()
        stopped = False
        if pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
            deadline = time.monotonic() + 10
            while _alive(pid) and time.monotonic() < deadline:
                time.sleep(0.05)
            if _alive(pid):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            stopped = True
        self.pidfile.unlink(missing_ok=True)
        # Its credentials died with it (moto keeps everything in memory).
        self.config_file.unlink(missing_ok=True)
        return stopped

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.logfile.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])
        except FileNotFoundError:
            return ""


def _server_env() -> dict[str, str]:
    # No AWS credentials of the caller's reach the server; it needs none.
    return {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie (our own child in tests) is dead for our purposes.
    with contextlib.suppress(OSError):
        if Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1].startswith("Z"):
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, os.WNOHANG)
            return False
    return True


def _is_moto_server(pid: int, port: int | None) -> bool:
    try:
        args = [a.decode(errors="replace") for a in Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0") if a]
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return False
    return (any(Path(a).name == "moto_server" for a in args) and port is not None and str(port) in args
            and _alive(pid))


def _post(port: int, path: str, body: bytes) -> bytes:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("POST", path, body=body)
        response = conn.getresponse()
        data = response.read()
        if response.status != 200:
            raise ServerError(f"moto_server answered {response.status} to POST {path}: {data[:200]!r}")
        return data
    finally:
        conn.close()


def _iam(config: S3Config, action: str, **params: str) -> ET.Element:
    """One IAM query-API call, signed (moto routes requests by the service in the signature's scope)."""
    body = urlencode({"Action": action, "Version": "2010-05-08", **params}).encode()
    headers = signed_headers_for(config, method="POST", host=config.endpoint.split("://", 1)[1], canonical_uri="/",
                                 query=(), headers={"content-type": "application/x-www-form-urlencoded"},
                                 payload_hash=hashlib.sha256(body).hexdigest(), now=datetime.now(UTC),
                                 service="iam")
    host, _, port = config.endpoint.split("://", 1)[1].partition(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=10)
    try:
        conn.request("POST", "/", body=body, headers=headers)
        response = conn.getresponse()
        data = response.read()
    finally:
        conn.close()
    if response.status != 200:
        raise ServerError(f"moto_server refused IAM {action} ({response.status})")
    return ET.fromstring(data)  # noqa: S314


def _find(root: ET.Element, name: str) -> str:
    for element in root.iter():
        if element.tag.rsplit("}", 1)[-1] == name and element.text:
            return element.text
    raise ServerError(f"moto_server's answer has no {name}")
