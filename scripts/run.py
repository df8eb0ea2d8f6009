#!/usr/bin/python3
"""`make run`: a working local mod_jklg in the foreground.

A private PostgreSQL cluster under var/pg (created and migrated on first
run, migrations applied on every run), Apache on 127.0.0.1:PORT with the
freshly built module, mail written to the spool var/mail, and a staff user
for /api/admin. Ctrl-C stops everything it started."""

import argparse
import hashlib
import os
import secrets
import signal
import stat
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from harness.httpd import Httpd, HttpdError  # noqa: E402
from harness.pg import PgCluster, PgError    # noqa: E402

STAFF_USER = "staff"

JKLG = """\
JKLGPublicURL http://127.0.0.1:{port}
JKLGJWTKey file:{jwt_key}
JKLGMailFrom "JKLG Travel <noreply@jklg.localhost>"
JKLGMailSpool "{spool}"
JKLGMailSweepInterval 5s
"""


def searchable_by_others(path):
    """Can the postgres and www-data users reach path?"""
    for parent in [path, *path.parents]:
        if parent.exists() and not parent.stat().st_mode & stat.S_IXOTH:
            return False
    return True


def state_dir():
    """var/ in the checkout. Under a private home (/root), PostgreSQL and
    Apache's children (other users) could not enter it: then var/ is a
    symlink to a directory under /var/tmp, so var/mail etc. still work."""
    var = REPO / "var"
    if os.geteuid() != 0 or searchable_by_others(REPO) or var.is_symlink():
        return var.resolve()
    digest = hashlib.sha1(str(REPO).encode()).hexdigest()[:10]
    elsewhere = Path("/var/tmp") / f"jklg-run-{digest}"
    elsewhere.mkdir(parents=True, exist_ok=True)
    if var.exists():
        sys.exit(f"make run: {REPO} is private to root, so var/ must move to "
                 f"{elsewhere}: remove {var} and run again")
    var.symlink_to(elsewhere)
    print(f"note: {REPO} is private to root; var/ -> {elsewhere}")
    return elsewhere


def secret_file(path):
    """A random JWT signing key, made once, readable by root only (Apache
    reads its configuration as root)."""
    if not path.exists():
        path.write_text(secrets.token_urlsafe(48) + "\n")
        path.chmod(0o600)
    return path


def staff_password(var):
    path = var / "staff-password"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(12) + "\n")
        path.chmod(0o600)
    return path.read_text().strip()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=8080)
    port = parser.parse_args().port

    var = state_dir()
    var.mkdir(parents=True, exist_ok=True)
    var.chmod(0o755)
    pg = PgCluster(var / "pg", persistent=True)
    pg.init()
    pg.start()
    try:
        pg.ensure_app_db()
        pg.migrate()
        httpd = Httpd(var / "httpd", pg.dbd_params(), jklg="", port=port,
                      staff=(STAFF_USER, staff_password(var)))
        (var / "httpd").mkdir(exist_ok=True)
        spool = httpd.child_writable(var / "mail")
        httpd.jklg = JKLG.format(port=port, spool=spool,
                                 jwt_key=secret_file(var / "jwt.key"))
        serve(httpd, pg, spool)
    finally:
        pg.stop()
        print("stopped PostgreSQL")


def serve(httpd, pg, spool):
    rc, out = httpd.config_test()
    if rc != 0:
        raise HttpdError(out)
    proc = httpd.run_foreground()
    print(f"""
mod_jklg is running (Ctrl-C stops everything):
  API          {httpd.url}/api   (health: {httpd.url}/api/health)
  staff        {httpd.staff[0]} / {httpd.staff[1]}   (Basic auth on /api/admin)
  mail         written to {spool}/*.eml (no SMTP configured)
  PostgreSQL   {pg.url()}
  logs         {httpd.error_log}, {httpd.base}/access.log
  config       {httpd.conf_file}
""", flush=True)
    try:
        proc.wait()
    except KeyboardInterrupt:
        proc.send_signal(signal.SIGTERM)   # apache2 -DFOREGROUND stops cleanly
        proc.wait()
        print("\nstopped Apache")


if __name__ == "__main__":
    try:
        main()
    except (PgError, HttpdError, subprocess.CalledProcessError) as e:
        print(f"make run: {e}", file=sys.stderr)
        sys.exit(1)
