"""Debian's apache2 with the freshly built module, a generated config and a
free loopback port, for the test suite and for `make run`."""

import os
import pwd
import re
import signal
import socket
import subprocess
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
# The Makefile exports these (see `SANITIZE` there): the module it built,
# the sanitizer flags, and the ASan runtime to preload into apache2.
MODULE = Path(os.environ.get("JKLG_MODULE")
              or REPO_ROOT / "build" / "mod_jklg.so")
SANITIZE = os.environ.get("JKLG_SANITIZE", "")
SANITIZE_PRELOAD = os.environ.get("JKLG_SANITIZE_PRELOAD", "")
APACHE = "/usr/sbin/apache2"
MODULES_DIR = "/usr/lib/apache2/modules"
CHILD_USER = "www-data"     # when started as root
START_TIMEOUT = 30

BASE_MODULES = ["mpm_event", "authz_core", "authn_core", "authn_file",
                "auth_basic", "authz_user", "dbd", "socache_shmcb"]

CONF_TEMPLATE = """\
ServerRoot "{base}"
PidFile "{base}/httpd.pid"
DefaultRuntimeDir "{base}/run"
Mutex file:{base}/run default
ServerName 127.0.0.1
Listen 127.0.0.1:{port}
{user_group}
{load_modules}
LoadModule jklg_module "{module}"

ErrorLog "{base}/error.log"
LogLevel warn jklg:info
LogFormat "%h %u \\"%r\\" %>s %b %Dus" short
CustomLog "{base}/access.log" short

StartServers 2
# Twice MaxRequestWorkers / ThreadsPerChild: the event MPM keeps the slots of
# children that are finishing gracefully (after idle scale-down, a child
# still serving a request held by a frozen database), and with no spare
# slot it logs AH03490 "scoreboard is full" instead of starting a child.
ServerLimit 8
ThreadsPerChild 16
MaxRequestWorkers 64
MinSpareThreads 8
MaxSpareThreads 32
KeepAliveTimeout 5
Timeout 30

DBDriver pgsql
DBDParams "{dbd_params}"
DBDMin 0
DBDKeep 4
DBDMax 16
DBDExptime 60

{jklg}

<Location /api>
    SetHandler jklg
</Location>
<Location /api/admin>
    AuthType Basic
    AuthName "JKLG staff"
    AuthBasicProvider file
    AuthUserFile "{base}/staff.htpasswd"
    # CORS preflights carry no credentials; the module answers them.
    <RequireAny>
        Require method OPTIONS
        Require valid-user
    </RequireAny>
</Location>
{extra}
"""


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _as_root():
    return os.geteuid() == 0


class HttpdError(RuntimeError):
    pass


def child_writable(path):
    """Make path a directory the server's children can write."""
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    if _as_root():
        pw = pwd.getpwnam(CHILD_USER)
        os.chown(path, pw.pw_uid, pw.pw_gid)
    return path


def sanitizer_env(log_dir):
    """Environment for apache2 running a sanitized module. Debian's apache2
    is not instrumented, so the ASan runtime is preloaded (it must be the
    first library in the process). Reports go to files, one per process
    (prefix.PID), since httpd's stderr is gone once it daemonizes; the
    harness fails a test that made one. Leak checking is off: httpd
    exits without freeing its pools, which would all read as leaks."""
    if not SANITIZE:
        return {}
    env = {"ASAN_OPTIONS": ":".join([
               "detect_leaks=0", "abort_on_error=0", "halt_on_error=1",
               "print_legend=0", f"log_path={log_dir}/asan"]),
           "UBSAN_OPTIONS": ":".join([
               "print_stacktrace=1", "halt_on_error=0",
               f"log_path={log_dir}/ubsan"])}
    if SANITIZE_PRELOAD:
        env["LD_PRELOAD"] = SANITIZE_PRELOAD
    return env


class Httpd:
    """jklg: the JKLG* directives (text); extra: more config at the end."""

    # Every server started in this process, for sanitizer_reports().
    started = []

    def __init__(self, base_dir, dbd_params, jklg, extra="", port=None,
                 staff=("staff", "staff-password")):
        self.base = Path(base_dir).resolve()
        self.port = port or free_port()
        self.dbd_params = dbd_params
        self.jklg = jklg
        self.extra = extra
        self.staff = staff
        self.conf_file = self.base / "httpd.conf"
        self.error_log = self.base / "error.log"
        self.sanitizer_dir = self.base / "sanitizer"
        self._log_mark = 0

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

    def child_writable(self, path):
        """child_writable(path), for scripts holding a server."""
        return child_writable(path)

    def write_config(self):
        (self.base / "run").mkdir(parents=True, exist_ok=True)
        self._write_htpasswd()
        user_group = (f"User {CHILD_USER}\nGroup {CHILD_USER}"
                      if _as_root() else "")
        load = "\n".join(f"LoadModule {m}_module {MODULES_DIR}/mod_{m}.so"
                         for m in BASE_MODULES)
        self.conf_file.write_text(CONF_TEMPLATE.format(
            base=self.base, port=self.port, user_group=user_group,
            load_modules=load, module=MODULE, dbd_params=self.dbd_params,
            jklg=self.jklg, extra=self.extra))

    def _write_htpasswd(self):
        user, password = self.staff
        out = subprocess.run(["htpasswd", "-nbB", user, password],
                             check=True, capture_output=True, text=True)
        path = self.base / "staff.htpasswd"
        path.write_text(out.stdout)
        os.chmod(path, 0o644)

    def _env(self, env):
        """env plus, under SANITIZE, what the sanitizer runtime needs."""
        if SANITIZE:
            child_writable(self.sanitizer_dir)
            if self not in Httpd.started:
                Httpd.started.append(self)
        return {**env, **sanitizer_env(self.sanitizer_dir)}

    def _apache(self, *args, env=None):
        return subprocess.run([APACHE, "-d", str(self.base), "-f",
                               str(self.conf_file), *args],
                              capture_output=True, text=True,
                              env=self._env({"PATH": os.environ.get("PATH", ""),
                                             "LANG": "C", **(env or {})}))

    def start(self):
        """Starts the server; HttpdError with its messages when it refuses."""
        if not MODULE.exists():
            raise HttpdError(f"{MODULE} is not built (run make)")
        self.write_config()
        self.mark_log()
        res = self._apache("-k", "start")
        if res.returncode != 0 or not self.wait_listening():
            raise HttpdError(f"apache2 did not start (rc={res.returncode})\n"
                             f"{res.stdout}{res.stderr}{self.new_log()}")

    def run_foreground(self):
        """For `make run`: apache2 -X-less foreground, until interrupted."""
        self.write_config()
        return subprocess.Popen([APACHE, "-d", str(self.base), "-f",
                                 str(self.conf_file), "-DFOREGROUND"],
                                env=self._env(dict(os.environ)))

    def wait_listening(self):
        """The port answers and the pid file exists (written a little
        after the socket is bound), so that stop() finds the server."""
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), 0.5):
                    if self.pid():
                        return True
            except OSError:
                pass
            time.sleep(0.05)
        return False

    def pid(self):
        try:
            return int((self.base / "httpd.pid").read_text())
        except (OSError, ValueError):
            return None

    def stop(self):
        pid = self.pid()
        if not pid:
            return
        self._apache("-k", "stop")
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.05)
        os.kill(pid, signal.SIGKILL)

    def graceful(self):
        self.mark_log()
        self._apache("-k", "graceful")
        time.sleep(1)

    def config_test(self, env=None):
        """apache2 -t: (returncode, output)."""
        self.write_config()
        res = self._apache("-t", env=env)
        return res.returncode, res.stdout + res.stderr

    # Error log inspection: tests look only at what was written since
    # their mark.
    def mark_log(self):
        self._log_mark = (self.error_log.stat().st_size
                          if self.error_log.exists() else 0)

    def new_log(self):
        if not self.error_log.exists():
            return ""
        with open(self.error_log, "rb") as f:
            f.seek(self._log_mark)
            return f.read().decode("utf-8", "replace")

    def new_errors(self, allowed=()):
        """Lines at level error or worse since the mark, less `allowed`
        (regexes)."""
        lines = []
        for line in self.new_log().splitlines():
            if not re.search(r"\[[a-z_]*:(error|crit|alert|emerg)\]", line):
                continue
            if any(re.search(a, line) for a in allowed):
                continue
            lines.append(line)
        return lines


# What a sanitizer writes to stderr (so to the error log) rather than to
# its log_path: gcc's UBSan runtime beside ASan does.
SANITIZER_LINE = re.compile(r"runtime error:|Sanitizer|^\s+#\d+ 0x")


def sanitizer_reports():
    """{path: text} of every sanitizer report written so far by the servers
    this process started: their report files and the sanitizer lines of
    their error logs (empty without SANITIZE)."""
    reports = {}
    for httpd in Httpd.started:
        if httpd.sanitizer_dir.is_dir():
            for path in sorted(httpd.sanitizer_dir.iterdir()):
                reports[path] = path.read_text(errors="replace")
        if httpd.error_log.exists():
            lines = [line for line in httpd.error_log.read_text(
                         errors="replace").splitlines()
                     if SANITIZER_LINE.search(line)]
            if lines:
                reports[httpd.error_log] = "\n".join(lines)
    return reports
