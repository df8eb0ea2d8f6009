#!/usr/bin/python3
"""`make run`: a working local mod_jklg in the foreground.

A private PostgreSQL cluster under var/pg (created and migrated on first
run, migrations applied on every run), Apache on 127.0.0.1:PORT with the
freshly built module and the customer pages of web/ (conf/jklg-web.conf),
mail written to the spool var/mail, and a staff user for /api/admin.
Ctrl-C stops everything it started."""

import argparse
import base64
import hashlib
import os
import secrets
import shutil
import signal
import socket
import stat
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from harness.httpd import MODULES_DIR, Httpd, HttpdError  # noqa: E402
from harness.pg import PgCluster, PgError    # noqa: E402
from harness.stripe import StripeStandin     # noqa: E402

STAFF_USER = "staff"

JKLG = """\
JKLGPublicURL http://127.0.0.1:{port}
JKLGJWTKey file:{jwt_key}
JKLGMFAKey file:{mfa_key}
JKLGMailFrom "JKLG Travel <noreply@jklg.localhost>"
JKLGMailSpool "{spool}"
JKLGMailSweepInterval 5s
JKLGStripeSecretKey {stripe_key}
JKLGStripePublishableKey {stripe_publishable}
JKLGStripeWebhookSecret {stripe_webhook_secret}
JKLGStripeAPIBase {stripe_api}
{stripe_js}"""

# The customer pages of this checkout, as the example vhost serves the
# installed ones (docs/web.md); with the stand-in, its Stripe.js.
WEB = """\
LoadModule alias_module {modules}/mod_alias.so
LoadModule headers_module {modules}/mod_headers.so
LoadModule mime_module {modules}/mod_mime.so
TypesConfig /etc/mime.types
Define JKLG_WEB_ROOT "{web}"
{stripe_origin}Include "{conf}"
"""

# The stand-in's port follows PORT, so two checkouts can run side by side:
# 8080 -> 12111 (the default the README's walk-through uses).
STANDIN_OFFSET = 12111 - 8080


def stripe_settings(port):
    """Real Stripe (test mode) when JKLG_STRIPE_SECRET_KEY and
    JKLG_STRIPE_WEBHOOK_SECRET are set, else the local stand-in, which
    sends signed webhooks to this instance itself."""
    key = os.environ.get("JKLG_STRIPE_SECRET_KEY")
    if key:
        return None, dict(
            stripe_key=key,
            stripe_publishable=os.environ.get("JKLG_STRIPE_PUBLISHABLE_KEY",
                                              "pk_test_unset"),
            stripe_webhook_secret=os.environ["JKLG_STRIPE_WEBHOOK_SECRET"],
            stripe_api="https://api.stripe.com", stripe_js="")
    standin = StripeStandin(port=free_or_exit(port + STANDIN_OFFSET,
                                              "the Stripe stand-in"))
    standin.start()
    standin.webhook_url = f"http://127.0.0.1:{port}/api/payments/webhook"
    return standin, dict(stripe_key=standin.secret_key,
                         stripe_publishable="pk_test_local_standin",
                         stripe_webhook_secret=standin.webhook_secret,
                         stripe_api=standin.url,
                         stripe_js=f"JKLGStripeJSURL {standin.url}/v3/\n")


def free_or_exit(port, what):
    """port, if nothing listens on it; else a clear message and exit."""
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            sys.exit(f"make run: port {port} ({what}) is in use, by another "
                     f"`make run` or another program; choose another with "
                     f"PORT=... make run")
    return port


def running(pid_file):
    """Is the process named on the first line of pid_file alive?"""
    try:
        os.kill(int(pid_file.read_text().split()[0]), 0)
        return True
    except (OSError, ValueError, IndexError):
        return False


def reset():
    """Removes everything `make run` keeps (database, mail, keys, logs),
    also when var/ is a link to a directory elsewhere."""
    var = REPO / "var"
    target = var.resolve()
    for pid_file in (target / "httpd" / "httpd.pid",
                     target / "pg" / "data" / "postmaster.pid"):
        if running(pid_file):
            sys.exit("make reset: `make run` is still running; stop it first")
    shutil.rmtree(target, ignore_errors=True)
    if var.is_symlink():
        var.unlink()
    print(f"make reset: removed {target}"
          + (f" and the link {var}" if target != var else ""))


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


def web_root(var):
    """web/ of the checkout; a fresh copy under var/ when Apache's children
    could not read the checkout (a private home)."""
    web = REPO / "web"
    if os.geteuid() != 0 or searchable_by_others(web):
        return web
    copy = var / "web"
    shutil.rmtree(copy, ignore_errors=True)
    shutil.copytree(web, copy)
    for path in [copy, *copy.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)
    return copy


def secret_file(path):
    """A random JWT signing key, made once, readable by root only (Apache
    reads its configuration as root)."""
    if not path.exists():
        path.write_text(secrets.token_urlsafe(48) + "\n")
        path.chmod(0o600)
    return path


def mfa_key_file(path):
    """The key sealing TOTP secrets: 32 random bytes as base64, made once
    and kept, since secrets sealed under a lost key cannot be opened."""
    if not path.exists():
        path.write_text(base64.b64encode(secrets.token_bytes(32)).decode()
                        + "\n")
        path.chmod(0o600)
    return path


def staff_password(var):
    path = var / "staff-password"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(12) + "\n")
        path.chmod(0o600)
    return path.read_text().strip()


def stop_on_signals():
    """Ctrl-C, kill and a closed terminal all end in the same clean stop.
    SIGINT is set explicitly: a shell starting us in the background would
    have left it ignored."""
    def interrupt(signum, frame):
        raise KeyboardInterrupt
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, interrupt)


def main():
    stop_on_signals()
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--reset", action="store_true",
                        help="remove all state of make run and exit")
    args = parser.parse_args()
    if args.reset:
        return reset()
    port = free_or_exit(args.port, "Apache")

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
        standin, stripe = stripe_settings(port)
        try:
            httpd.jklg = JKLG.format(port=port, spool=spool,
                                     jwt_key=secret_file(var / "jwt.key"),
                                     mfa_key=mfa_key_file(var / "mfa.key"),
                                     **stripe)
            httpd.extra = WEB.format(
                modules=MODULES_DIR, web=web_root(var),
                conf=REPO / "conf" / "jklg-web.conf",
                stripe_origin=(f"Define JKLG_STRIPE_JS_ORIGIN {standin.url}\n"
                               if standin else ""))
            serve(httpd, pg, spool, standin)
        finally:
            if standin:
                standin.stop()
                print("stopped the Stripe stand-in")
    finally:
        pg.stop()
        print("stopped PostgreSQL")


def serve(httpd, pg, spool, standin):
    rc, out = httpd.config_test()
    if rc != 0:
        raise HttpdError(out)
    httpd.stop()        # a leftover of ours (killed run), by its pid file
    proc = httpd.run_foreground()
    if not httpd.wait_listening():
        proc.terminate()
        raise HttpdError(f"Apache did not start; see {httpd.error_log}")
    print(f"""
mod_jklg is running (Ctrl-C stops everything):
  pages        {httpd.url}/signup   (walk-through: README.md)
  API          {httpd.url}/api   (health: {httpd.url}/api/health)
  staff        {httpd.staff[0]} / {httpd.staff[1]}   (Basic auth on /api/admin)
  mail         written to {spool}/*.eml (no SMTP configured)
  Stripe       {stripe_line(standin)}
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


def stripe_line(standin):
    if not standin:
        return ("real Stripe (test mode key from JKLG_STRIPE_SECRET_KEY); "
                "forward webhooks with `stripe listen --forward-to "
                "127.0.0.1:PORT/api/payments/webhook`")
    return (f"local stand-in at {standin.url} (no real key configured); "
            f"pay an intent with: curl -X POST "
            f"{standin.url}/_standin/payment_intents/<pi_...>/confirm")


if __name__ == "__main__":
    try:
        main()
    except (PgError, HttpdError, subprocess.CalledProcessError) as e:
        print(f"make run: {e}", file=sys.stderr)
        sys.exit(1)
