"""A private PostgreSQL cluster for the demo and the tests: `churnml db ...`.

State lives in one directory, CHURNML_HOME (default /var/lib/churnml as root,
~/.local/share/churnml otherwise):

    pgdata/            the cluster (owned by the server's OS user)
    run/               the Unix socket directory (mode 700)
    log/postgresql.log the server log
    password           the superuser's password for TCP connections (mode 600)

The server listens on 127.0.0.1 only, on a free port chosen at first start and
kept while it stays free. As root it runs as the `postgres` OS user (initdb refuses
root). Its environment carries PYTHONPATH naming the churnml runtime: that is the
only way the backend finds churnml's Python, and no SQL user can change it.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import pwd
import secrets
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

from churnml_client import install_info

DEFAULT_DATABASE = "telco"
# pg_cron's database when `churnml db start` names none (the tests' server): pg_cron reads its
# jobs from one database, fixed at server start (cron.database_name), so it must exist.
CRON_DATABASE_WITHOUT_DEMO = "churnml_cron"
SUPERUSER = "postgres"
# Unix socket paths are limited to 107 bytes; leave room for "/.s.PGSQL.NNNNN".
MAX_SOCKET_DIR = 90


class ServerError(RuntimeError):
    """Something the user must fix; the message says what."""


def default_home() -> Path:
    env = os.environ.get("CHURNML_HOME")
    if env:
        return Path(env).absolute()
    if os.geteuid() == 0:
        return Path("/var/lib/churnml")
    data = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(data) / "churnml"


@dataclass
class EmbeddedServer:
    home: Path
    info: install_info.InstallInfo

    @classmethod
    def from_environment(cls, home: Path | None = None) -> EmbeddedServer:
        return cls(home=home or default_home(), info=install_info.read())

    # ---- layout -------------------------------------------------------------------
    @property
    def datadir(self) -> Path:
        return self.home / "pgdata"

    @property
    def socket_dir(self) -> Path:
        return self.home / "run"

    @property
    def logfile(self) -> Path:
        return self.home / "log" / "postgresql.log"

    @property
    def password_file(self) -> Path:
        return self.home / "password"

    @property
    def conf_file(self) -> Path:
        return self.datadir / "churnml.conf"

    @property
    def os_user(self) -> str:
        return "postgres" if os.geteuid() == 0 else pwd.getpwuid(os.geteuid()).pw_name

    def _bin(self, name: str) -> str:
        return str(Path(self.info.pg_bindir) / name)

    # ---- running commands as the server's OS user ----------------------------------
    def _server_env(self) -> dict[str, str]:
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "LANG": "C.UTF-8",
            "LC_ALL": "C.UTF-8",
            "PYTHONPATH": self.info.runtime_site,
            # No model hub is reachable: models ship inside packages.
            "HF_HUB_OFFLINE": "1",
            "TRANSFORMERS_OFFLINE": "1",
            "TOKENIZERS_PARALLELISM": "false",
        }
        return env

    def _as_server_user(self, argv: list[str], *, check: bool = True, capture: bool = True,
                        timeout: float = 120) -> subprocess.CompletedProcess[str]:
        env_args = [f"{k}={v}" for k, v in self._server_env().items()]
        if os.geteuid() == 0:
            cmd = ["runuser", "-u", self.os_user, "--", "env", "-i", *env_args, *argv]
        else:
            cmd = ["env", "-i", *env_args, *argv]
        # cwd: the server user may not be able to read the caller's directory.
        result = subprocess.run(cmd, cwd=self.home, capture_output=capture, text=True, timeout=timeout,
                                check=False)
        if check and result.returncode != 0:
            raise ServerError(f"{Path(argv[0]).name} failed ({result.returncode}):\n"
                              f"{(result.stderr or '')}{(result.stdout or '')}".rstrip())
        return result

    # ---- lifecycle --------------------------------------------------------------------
    def initialized(self) -> bool:
        return (self.datadir / "PG_VERSION").exists()

    def _prepare_home(self) -> None:
        if len(str(self.socket_dir)) > MAX_SOCKET_DIR:
            raise ServerError(f"CHURNML_HOME {self.home} is too long for a Unix socket path; choose a shorter one")
        for path in (self.home, self.socket_dir, self.logfile.parent):
            path.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            entry = pwd.getpwnam(self.os_user)
            for path in (self.home, self.socket_dir, self.logfile.parent):
                os.chown(path, entry.pw_uid, entry.pw_gid)
        self.home.chmod(0o711)  # the server user traverses; nobody lists it
        self.socket_dir.chmod(0o700)
        probe = self._as_server_user(["test", "-w", str(self.home)], check=False)
        if probe.returncode != 0:
            raise ServerError(
                f"the server's OS user '{self.os_user}' cannot write {self.home}; "
                "set CHURNML_HOME to a directory it can reach (not under /root)"
            )

    def init(self) -> None:
        self._prepare_home()
        if self.initialized():
            return
        password = secrets.token_urlsafe(18)
        pwfile = self.home / ".initdb-pw"
        pwfile.write_text(password + "\n", encoding="utf-8")
        if os.geteuid() == 0:
            entry = pwd.getpwnam(self.os_user)
            os.chown(pwfile, entry.pw_uid, entry.pw_gid)
        pwfile.chmod(0o600)
        try:
            print(f"==> initdb {self.datadir}", flush=True)
            self._as_server_user([
                self._bin("initdb"), "-D", str(self.datadir), "-U", SUPERUSER, "--encoding=UTF8",
                "--locale=C.UTF-8", "--auth-local=trust", "--auth-host=scram-sha-256",
                f"--pwfile={pwfile}",
            ])
        finally:
            pwfile.unlink(missing_ok=True)
        self.password_file.write_text(password + "\n", encoding="utf-8")
        self.password_file.chmod(0o600)
        with open(self.datadir / "postgresql.conf", "a", encoding="utf-8") as conf:
            conf.write("\n# churnml embedded server settings\ninclude_if_exists = 'churnml.conf'\n")
        self._write_conf(free_port())

    def _write_conf(self, port: int) -> None:
        text = (
            "# Written by `churnml db`; edits are kept unless the port must change.\n"
            "listen_addresses = '127.0.0.1'\n"
            f"port = {port}\n"
            f"unix_socket_directories = '{self.socket_dir}'\n"
            "unix_socket_permissions = 0700\n"
            "track_functions = all\n"
            "shared_buffers = 256MB\n"
            "max_connections = 100\n"
            "logging_collector = off\n"
            "log_line_prefix = '%m [%p] %q%u@%d '\n"
            "fsync = on\n"
        )
        if self.conf_file.exists():
            lines = [ln for ln in self.conf_file.read_text(encoding="utf-8").splitlines()
                     if not ln.startswith("port = ")]
            text = "\n".join([*lines, f"port = {port}"]) + "\n"
        tmp = self.conf_file.with_suffix(".tmp")
        tmp.write_text(text, encoding="utf-8")
        if os.geteuid() == 0:
            entry = pwd.getpwnam(self.os_user)
            os.chown(tmp, entry.pw_uid, entry.pw_gid)
        tmp.replace(self.conf_file)

    @property
    def port(self) -> int:
        for line in self.conf_file.read_text(encoding="utf-8").splitlines():
            if line.startswith("port = "):
                return int(line.split("=", 1)[1])
        raise ServerError(f"no port in {self.conf_file}")

    @property
    def password(self) -> str:
        return self.password_file.read_text(encoding="utf-8").strip()

    def running_pid(self) -> int | None:
        """The postmaster's pid if this cluster is running, else None."""
        if not self.initialized():
            return None
        result = self._as_server_user([self._bin("pg_ctl"), "status", "-D", str(self.datadir)], check=False)
        if result.returncode != 0:
            return None
        pid = _pid_from_pidfile(self.datadir / "postmaster.pid")
        return pid

    def _clear_stale_pidfile(self) -> None:
        """After a crash the pid file may name a dead process or a reused pid."""
        pidfile = self.datadir / "postmaster.pid"
        pid = _pid_from_pidfile(pidfile)
        if pid is None:
            return
        if _is_postmaster_of(pid, self.datadir):
            return
        print(f"==> removing stale {pidfile} (pid {pid} is not this cluster's server)", flush=True)
        pidfile.unlink(missing_ok=True)

    def start(self, database: str = DEFAULT_DATABASE, *, ensure_extension: bool = True,
              recreate_extension: bool = False) -> None:
        if not self.initialized():
            self.init()
        else:
            self._prepare_home()
        conf_changed = self._ensure_cron_conf(database or CRON_DATABASE_WITHOUT_DEMO)
        if self.running_pid() is not None and conf_changed:
            print("==> pg_cron is configured but not loaded by the running server: restart it (churnml db stop; "
                  "churnml db start) for scheduled retraining", flush=True)
        if self.running_pid() is None:
            self._clear_stale_pidfile()
            if not port_is_free(self.port):
                new_port = free_port()
                print(f"==> port {self.port} is taken; using {new_port}", flush=True)
                self._write_conf(new_port)
            print(f"==> starting PostgreSQL on 127.0.0.1:{self.port} (data {self.datadir})", flush=True)
            self._start_server()
        if database:
            self.ensure_database(database, ensure_extension=ensure_extension, recreate_extension=recreate_extension)
        self.ensure_cron()

    # ---- pg_cron (scheduled retraining) ---------------------------------------------------
    def _pg_cron_installed(self) -> bool:
        libdir = subprocess.run([self.info.pg_config, "--pkglibdir"], check=True, capture_output=True,
                                text=True).stdout.strip()
        return (Path(libdir) / "pg_cron.so").exists()

    def _ensure_cron_conf(self, database: str) -> bool:
        """pg_cron preloaded, reading its jobs from `database` and running them in background workers
        (no password for the job's role); appended once to churnml.conf, kept afterwards (a changed
        cron.database_name stays as edited). True when the file changed."""
        if not self._pg_cron_installed():
            return False
        lines = self.conf_file.read_text(encoding="utf-8").splitlines()
        if any(line.startswith("cron.database_name") for line in lines):
            return False
        # cron.max_running_jobs stays below max_worker_processes, so parallel queries keep workers too
        lines += [
            "# pg_cron runs churnml.schedule_retrain's jobs (docs/retraining.md)",
            "shared_preload_libraries = 'pg_cron'",
            f"cron.database_name = '{database}'",
            "cron.use_background_workers = on",
            "cron.max_running_jobs = 4",
            "max_worker_processes = 16",
        ]
        tmp = self.conf_file.with_suffix(".tmp")
        tmp.write_text("\n".join(lines) + "\n", encoding="utf-8")
        if os.geteuid() == 0:
            entry = pwd.getpwnam(self.os_user)
            os.chown(tmp, entry.pw_uid, entry.pw_gid)
        tmp.replace(self.conf_file)
        return True

    @property
    def cron_database(self) -> str | None:
        """The database pg_cron reads its jobs from (cron.database_name in churnml.conf), if configured."""
        for line in self.conf_file.read_text(encoding="utf-8").splitlines():
            if line.startswith("cron.database_name"):
                return line.split("=", 1)[1].strip().strip("'")
        return None

    def ensure_cron(self) -> None:
        """When the running server loads pg_cron: its database exists, CREATE EXTENSION pg_cron ran there, and
        churnml_admin may use schema cron (a role of the cluster: created here if churnml is not yet)."""
        import psycopg
        from psycopg import sql

        database = self.cron_database
        if database is None:
            return
        with psycopg.connect(self.url("postgres"), autocommit=True) as conn:
            row = conn.execute("SELECT current_setting('shared_preload_libraries'), pg_is_in_recovery()").fetchone()
            if row is None or "pg_cron" not in row[0] or row[1]:
                return  # not loaded; or a standby, which runs no jobs and takes its catalog from the primary
            if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (database,)).fetchone():
                print(f"==> creating database {database} (pg_cron's)", flush=True)
                conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(database)))
            conn.execute("""DO $$ BEGIN
                IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'churnml_admin') THEN
                    CREATE ROLE churnml_admin NOLOGIN;
                END IF; END $$""")
        with psycopg.connect(self.url(database), autocommit=True) as conn:
            if not conn.execute("SELECT 1 FROM pg_extension WHERE extname = 'pg_cron'").fetchone():
                print(f"==> CREATE EXTENSION pg_cron in {database}", flush=True)
                conn.execute("CREATE EXTENSION pg_cron")
            conn.execute("GRANT USAGE ON SCHEMA cron TO churnml_admin")

    def _start_server(self) -> None:
        # A backend orphaned by a killed postmaster holds the shared memory for a moment.
        for attempt in range(10):
            result = self._as_server_user([
                self._bin("pg_ctl"), "start", "-D", str(self.datadir), "-l", str(self.logfile), "-w", "-t", "60",
            ], check=False)
            if result.returncode == 0:
                return
            log_tail = self.log_tail()
            if "pre-existing shared memory block" in log_tail and attempt < 9:
                time.sleep(1)
                continue
            raise ServerError(f"could not start PostgreSQL:\n{result.stdout}{result.stderr}\n{log_tail}")

    def stop(self) -> bool:
        if self.running_pid() is None:
            return False
        self._as_server_user([self._bin("pg_ctl"), "stop", "-D", str(self.datadir), "-m", "fast", "-w", "-t", "60"])
        return True

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.logfile.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])
        except FileNotFoundError:
            return ""

    # ---- connections ---------------------------------------------------------------
    def url(self, database: str = DEFAULT_DATABASE) -> str:
        return (f"postgresql://{SUPERUSER}:{quote(self.password, safe='')}@127.0.0.1:{self.port}/"
                f"{quote(database, safe='')}")

    def libpq_env(self, database: str = DEFAULT_DATABASE) -> dict[str, str]:
        """Environment for libpq clients: keeps the password out of argv."""
        return {"PGHOST": "127.0.0.1", "PGPORT": str(self.port), "PGUSER": SUPERUSER,
                "PGPASSWORD": self.password, "PGDATABASE": database}

    def ensure_database(self, database: str, *, ensure_extension: bool = True,
                        recreate_extension: bool = False) -> None:
        import psycopg
        from psycopg import sql

        with psycopg.connect(self.url("postgres"), autocommit=True) as conn:
            exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (database,)).fetchone()
            if not exists:
                print(f"==> creating database {database}", flush=True)
                conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(database)))
        if not ensure_extension:
            return
        with psycopg.connect(self.url(database), autocommit=True) as conn:
            row = conn.execute("SELECT extversion FROM pg_extension WHERE extname = 'churnml'").fetchone()
            if row is None:
                print(f"==> CREATE EXTENSION churnml in {database}", flush=True)
                conn.execute("CREATE EXTENSION churnml CASCADE")
            elif row[0] != self.info.version:
                print(f"==> ALTER EXTENSION churnml UPDATE ({row[0]} -> {self.info.version})", flush=True)
                conn.execute("ALTER EXTENSION churnml UPDATE")
            elif self._installed_build_id() not in (None, _database_build_id(conn)):
                # Same version, other SQL: a development build of this version was installed
                # over the one this database was created from. This is the private demo and
                # development server, so re-create the extension rather than run stale SQL,
                # but never over models, deployments, offers or settings without being asked.
                held = _extension_contents(conn)
                if held and not recreate_extension:
                    raise ServerError(
                        f"churnml {row[0]} in database {database} comes from an earlier build of this version, and "
                        f"re-creating the extension (DROP EXTENSION churnml CASCADE) would drop {', '.join(held)}. "
                        f"Keep them: `churnml db start` with the build they were made with; drop them: `churnml db "
                        f"start --recreate-extension`")
                print(f"==> churnml {row[0]} in {database} comes from an earlier build: re-creating the extension "
                      "(DROP EXTENSION churnml CASCADE; CREATE EXTENSION churnml)"
                      + (f", dropping {', '.join(held)}" if held else ""), flush=True)
                with conn.transaction():
                    conn.execute("DROP EXTENSION churnml CASCADE")
                    conn.execute("CREATE EXTENSION churnml CASCADE")

    def _installed_build_id(self) -> str | None:
        """The build id in the installed extension script's header, if it has one."""
        sharedir = subprocess.run([self.info.pg_config, "--sharedir"], check=True, capture_output=True,
                                  text=True).stdout.strip()
        script = Path(sharedir) / "extension" / f"churnml--{self.info.version}.sql"
        try:
            with script.open(encoding="utf-8") as lines:
                for line in itertools.islice(lines, 5):
                    if line.startswith("-- build id: "):
                        return line.split(":", 1)[1].strip()
        except OSError:
            return None
        return None

    def psql(self, args: list[str], database: str = DEFAULT_DATABASE) -> int:
        env = {**os.environ, **self.libpq_env(database)}
        psql = self._bin("psql") if Path(self._bin("psql")).exists() else (shutil.which("psql") or "psql")
        return subprocess.run([psql, *args], env=env, check=False).returncode


# What DROP EXTENSION churnml CASCADE would take with it: (what, table, which rows are the user's)
_CONTENTS = (
    ("models", "churnml.models", "true"),
    ("deployments", "churnml.deployments", "true"),
    ("offers", "churnml.offer_log", "true"),
    ("business costs", "churnml.business_costs", "true"),
    ("storage locations", "churnml.storage_locations", "true"),
    ("retrain runs", "churnml.retrain_history", "true"),
    ("retrain schedules", "churnml.retrain_policies", "true"),
    ("own incentive rules", "churnml.incentive_rules", "NOT builtin"),
    ("own experiments", "churnml.experiments", "NOT builtin"),
)


def _extension_contents(conn: Any) -> list[str]:
    """'3 models', '5 deployments', ...: the rows of churnml's tables that are the user's."""
    from psycopg import sql

    held = []
    for what, table, which in _CONTENTS:
        if conn.execute("SELECT to_regclass(%s) IS NOT NULL", (table,)).fetchone()[0]:
            schema, name = table.split(".")
            count = conn.execute(sql.SQL("SELECT count(*) FROM {} WHERE {}").format(
                sql.Identifier(schema, name), sql.SQL(which))).fetchone()[0]
            if count:
                held.append(f"{count:,} {what}")
    return held


def _pid_from_pidfile(pidfile: Path) -> int | None:
    try:
        first = pidfile.read_text(encoding="utf-8").splitlines()[0]
        return int(first.strip())
    except (FileNotFoundError, IndexError, ValueError, PermissionError):
        return None


def _is_postmaster_of(pid: int, datadir: Path) -> bool:
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return False
    names = [part.decode(errors="replace") for part in cmdline if part]
    return bool(names) and Path(names[0]).name in ("postgres", "postmaster") and str(datadir) in names


def port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        with contextlib.suppress(OSError):
            sock.bind(("127.0.0.1", port))
            return True
    return False


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _database_build_id(conn: Any) -> str | None:
    """The build id of the churnml SQL a database was created from (None before build ids existed)."""
    import psycopg

    try:
        with conn.transaction():
            return conn.execute("SELECT churnml._build_id()").fetchone()[0]
    except psycopg.errors.UndefinedFunction:
        return None
