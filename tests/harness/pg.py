"""A private PostgreSQL cluster for the test suite and for `make run`.

Everything lives under one base directory: the data directory, the server
log and the unix socket. The server listens on 127.0.0.1 only, with trust
authentication, so clients just name a role.

PostgreSQL refuses to run as root: when the harness runs as root, every
server binary runs as the `postgres` user through `runuser`, and the base
directory is handed to that user.
"""

import glob
import os
import pwd
import re
import socket
import subprocess
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
SERVER_USER = "postgres"
START_TIMEOUT = 60


class PgError(RuntimeError):
    pass


def _newest_bin_dir():
    dirs = glob.glob("/usr/lib/postgresql/*/bin")
    versions = [d for d in dirs if re.fullmatch(r"\d+(\.\d+)?", Path(d).parent.name)]
    if not versions:
        raise PgError("no PostgreSQL server found under /usr/lib/postgresql "
                      "(apt-get install postgresql)")
    return max(versions, key=lambda d: float(Path(d).parent.name))


def _free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _clean_env():
    """The caller's PGHOST, PGOPTIONS ... must not redirect or alter our
    connections."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    env["LC_ALL"] = "C.UTF-8"
    return env


class PgCluster:
    def __init__(self, base_dir, port=None, persistent=False):
        self.base_dir = Path(base_dir).resolve()
        self.data_dir = self.base_dir / "data"
        self.log_file = self.base_dir / "postgres.log"
        self.port = port
        self._port_chosen = port is None
        self.persistent = persistent
        self.bin_dir = Path(_newest_bin_dir())
        self.as_root = os.geteuid() == 0

    # -- running things -------------------------------------------------

    def _server_cmd(self, binary, *args):
        cmd = [str(self.bin_dir / binary), *args]
        if self.as_root:
            cmd = ["runuser", "-u", SERVER_USER, "--", *cmd]
        return cmd

    def _run(self, cmd, what, input=None, check=True):
        proc = subprocess.run(cmd, input=input, capture_output=True, text=True,
                              cwd=self.base_dir, env=_clean_env())
        if check and proc.returncode != 0:
            raise PgError(f"{what} failed (exit {proc.returncode}):\n"
                          f"{proc.stdout}{proc.stderr}{self._log_tail()}")
        return proc

    def _log_tail(self, lines=30):
        try:
            tail = self.log_file.read_text(errors="replace").splitlines()[-lines:]
        except OSError:
            return ""
        return f"\n--- tail of {self.log_file} ---\n" + "\n".join(tail)

    # -- lifecycle ------------------------------------------------------

    def init(self):
        self.base_dir.mkdir(parents=True, exist_ok=True)
        if self.as_root:
            self._hand_base_dir_to_server_user()
        if (self.data_dir / "PG_VERSION").exists():
            return
        self._run(self._server_cmd(
            "initdb", "-D", str(self.data_dir), "-U", "postgres",
            "--auth=trust", "-E", "UTF8", "--locale=C.UTF-8"), "initdb")
        settings = [
            "listen_addresses = '127.0.0.1'",
            f"unix_socket_directories = '{self.base_dir}'",
            "max_connections = 200",
            "log_min_messages = warning",
            "log_line_prefix = '%m [%p] %q%u@%d '",
        ]
        if not self.persistent:
            # A test cluster is thrown away: durability only costs time.
            settings += ["fsync = off", "synchronous_commit = off",
                         "full_page_writes = off"]
        with open(self.data_dir / "postgresql.conf", "a") as conf:
            conf.write("\n# mod_jklg harness\n" + "\n".join(settings) + "\n")

    def _hand_base_dir_to_server_user(self):
        pw = pwd.getpwnam(SERVER_USER)
        os.chown(self.base_dir, pw.pw_uid, pw.pw_gid)
        probe = subprocess.run(["runuser", "-u", SERVER_USER, "--", "test", "-w",
                                str(self.base_dir)], cwd="/")
        if probe.returncode != 0:
            raise PgError(f"user {SERVER_USER} cannot write to {self.base_dir}: "
                          "every parent directory must be searchable by it "
                          "(e.g. chmod 0755)")

    def is_running(self):
        if not (self.data_dir / "PG_VERSION").exists():
            return False
        proc = self._run(self._server_cmd("pg_ctl", "status", "-D", str(self.data_dir)),
                         "pg_ctl status", check=False)
        return proc.returncode == 0

    def _running_port(self):
        """The port of an already running server (line 4 of postmaster.pid)."""
        lines = (self.data_dir / "postmaster.pid").read_text().splitlines()
        return int(lines[3])

    def start(self):
        if self.is_running():
            self.port = self._running_port()
            return
        attempts = 3 if self._port_chosen else 1
        for attempt in range(attempts):
            if self.port is None or attempt > 0:
                self.port = _free_port()
            proc = self._run(self._server_cmd(
                "pg_ctl", "start", "-D", str(self.data_dir), "-l", str(self.log_file),
                "-w", "-t", str(START_TIMEOUT), "-o", f"-p {self.port}"),
                "pg_ctl start", check=False)
            if proc.returncode == 0:
                self._wait_ready()
                return
            # Another process may have taken the free port we picked.
            if "could not bind" not in self._log_tail():
                break
        raise PgError(f"PostgreSQL did not start on 127.0.0.1:{self.port}:\n"
                      f"{proc.stdout}{proc.stderr}{self._log_tail()}")

    def _wait_ready(self):
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            proc = subprocess.run(
                [str(self.bin_dir / "pg_isready"), "-q", "-h", "127.0.0.1",
                 "-p", str(self.port), "-U", "postgres", "-d", "postgres"],
                env=_clean_env())
            if proc.returncode == 0:
                return
            if time.monotonic() > deadline:
                raise PgError(f"PostgreSQL on port {self.port} not ready after "
                              f"{START_TIMEOUT}s{self._log_tail()}")
            time.sleep(0.1)

    def stop(self, mode="fast"):
        if not self.is_running():
            return
        self._run(self._server_cmd("pg_ctl", "stop", "-D", str(self.data_dir),
                                   "-m", mode, "-w", "-t", str(START_TIMEOUT)),
                  "pg_ctl stop")

    def restart(self):
        self.stop()
        self.start()

    # -- databases ------------------------------------------------------

    def ensure_app_db(self, role="jklg", db="jklg"):
        """Creates the LOGIN role and a database it owns, unless they exist.
        Owning the database makes the role own its public schema (PG 15+),
        so migrations run as that role and it owns every table."""
        sql = (
            "SELECT format('CREATE ROLE %I LOGIN', :'role') "
            " WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = :'role') \\gexec\n"
            "SELECT format('CREATE DATABASE %I OWNER %I', :'db', :'role') "
            " WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = :'db') \\gexec\n"
        )
        self._run([*self._psql_cmd("postgres", "postgres"), "-v", f"role={role}",
                   "-v", f"db={db}", "-f", "-"], "creating role and database",
                  input=sql)

    def url(self, role="jklg", db="jklg"):
        return f"postgresql://{role}@127.0.0.1:{self.port}/{db}"

    def dbd_params(self, role="jklg", db="jklg"):
        return (f"host=127.0.0.1 port={self.port} dbname={db} user={role} "
                "connect_timeout=3 keepalives=1 keepalives_idle=30 "
                "options='-c statement_timeout=10000'")

    def _psql_cmd(self, role, db):
        return [str(self.bin_dir / "psql"), "-X", "-A", "-t", "-v", "ON_ERROR_STOP=1",
                "-h", "127.0.0.1", "-p", str(self.port), "-U", role, "-d", db]

    def psql(self, sql, role="postgres", db="jklg", check=True):
        """Runs sql (one or more statements) and returns psql's output.
        With check=False a failure does not raise: the error text is
        appended to the returned output instead."""
        proc = subprocess.run([*self._psql_cmd(role, db), "-f", "-"], input=sql,
                              capture_output=True, text=True, env=_clean_env())
        if proc.returncode != 0:
            if check:
                raise PgError(f"psql as {role} on {db} failed (exit {proc.returncode}):\n"
                              f"{proc.stdout}{proc.stderr}")
            return proc.stdout + proc.stderr
        return proc.stdout

    def migrate(self, url=None):
        """Applies sql/ through `make migrate`, as an operator would; returns
        its output ("applied NNN_name" lines or "schema up to date")."""
        proc = subprocess.run(
            ["make", "-s", "-C", str(REPO_ROOT), "migrate",
             f"DATABASE_URL={url or self.url()}"],
            capture_output=True, text=True, env=_clean_env())
        if proc.returncode != 0:
            raise PgError(f"make migrate failed (exit {proc.returncode}):\n"
                          f"{proc.stdout}{proc.stderr}")
        return proc.stdout
