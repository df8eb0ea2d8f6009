"""The one way to configure an Apache for a test: the suite's server
(fixtures_httpd.server) and every test that needs a server of its own.

- directives(): the suite server's JKLG* directives on the session's SMTP
  and Stripe stand-ins, with named overrides (JWT keys, dropped
  directives, JKLG* settings such as rate limits, more text at the end).
- minimal(): the few directives a server needs without PostgreSQL, SMTP or
  Stripe (start-up checks, the spool), for tests of the configuration.
- own_server(): an Httpd (not started) in a directory of its own, with the
  staff password file and, unless told otherwise, mod_remoteip so tests can
  act from many client addresses; MPM, mod_dbd and other httpd settings go
  in `extra` (after the harness's own, so they win).
- serving(): starts servers and stops them however the test ends.

Later directives win, so an override appended to the standard set takes
effect without editing it."""

import contextlib
from pathlib import Path

from harness.httpd import Httpd

STAFF = ("staff", "staff-password")
MAX_BODY = 4096

JWT_KEYS = {"k2": "second-test-signing-key-0123456789abcdefghij",
            "k1": "first-test-signing-key-0123456789abcdefghijk"}
# The suite's signing keys in order (the first one signs): tokens from the
# `server` fixture are valid on every server configured with them.
SUITE_JWT = (("k2", JWT_KEYS["k2"]), ("k1", JWT_KEYS["k1"]))

# For servers that must not reach a database (start-up checks).
DBD_NONE = "host=127.0.0.1 port=1 dbname=none user=none connect_timeout=1"

# The key sealing TOTP secrets (JKLGMFAKey, base64 of 32 bytes) is part of
# the standard set; directives(without=("JKLGMFAKey",)) leaves it out.
STANDARD = """\
JKLGPublicURL https://travel.test/
{jwt_keys}JKLGMFAKey bWZhLXRlc3Qta2V5LTAxMjM0NTY3ODlhYmNkZWYwMTI=
JKLGPasswordHashConcurrency 2
JKLGMailFrom "JKLG Travel <noreply@jklg.test>"
JKLGMailSMTP smtp://127.0.0.1:{smtp_port}
JKLGMailTemplates "{templates}"
JKLGMailRetry 5 500ms
JKLGMailTimeout 5s
JKLGMailSweepInterval 1s
JKLGMaxBody {max_body}
JKLGAllowOrigin https://www.travel.test https://admin.travel.test
JKLGStripeSecretKey {stripe_key}
JKLGStripePublishableKey pk_test_jklg
JKLGStripeWebhookSecret whsec_old_rotated_away_secret {stripe_whsec}
JKLGStripeAPIBase {stripe_url}
JKLGStripeTimeout 3s
JKLGReconcileInterval off
"""

MAIL_FROM = '"JKLG Travel <noreply@jklg.test>"'
# The key of minimal(): any 32 bytes; configuration tests never sign.
MINIMAL_JWT = (("k1", "0123456789abcdef0123456789abcdef"),)

# Clients on loopback may name the client address (mod_remoteip), so tests
# can act from many addresses, as customers behind a proxy would.
REMOTE_IP = """\
LoadModule remoteip_module /usr/lib/apache2/modules/mod_remoteip.so
RemoteIPHeader X-Forwarded-For
RemoteIPInternalProxy 127.0.0.1
"""


def jwt_lines(keys):
    """JKLGJWTKey lines for (kid, key) pairs; kid None: the one-argument
    form (a single key without an id)."""
    return "".join(f"JKLGJWTKey {key}\n" if kid is None
                   else f"JKLGJWTKey {kid} {key}\n" for kid, key in keys)


def settings(**values):
    """JKLG* directive lines from keyword arguments, in the order given:
    settings(JKLGReconcileInterval="2s") -> 'JKLGReconcileInterval 2s\\n'."""
    return "".join(f"{name} {value}\n" for name, value in values.items())


def rate_limits(limits):
    """JKLGRateLimit lines from {rule: "count window"}."""
    return "".join(f"JKLGRateLimit {rule} {spec}\n"
                   for rule, spec in limits.items())


def directives(smtp, stripe_api, templates, *, jwt_keys=SUITE_JWT,
               without=(), limits=None, more="", **named):
    """The suite server's JKLG* directives on these stand-ins. Overrides:
    jwt_keys replaces the signing keys; `without` drops the lines of these
    directives; then, appended in this order (later directives win):
    `named` JKLG* settings (JKLGReconcileInterval="2s"), `limits`
    ({rule: "count window"}) and `more` (any text)."""
    text = STANDARD.format(smtp_port=smtp.port, jwt_keys=jwt_lines(jwt_keys),
                           templates=templates, max_body=MAX_BODY,
                           stripe_key=stripe_api.secret_key,
                           stripe_whsec=stripe_api.webhook_secret,
                           stripe_url=stripe_api.url)
    if without:
        text = "".join(line + "\n" for line in text.splitlines()
                       if line.split(" ", 1)[0] not in without)
    return text + settings(**named) + rate_limits(limits or {}) + more


def minimal(spool, *, public_url="https://travel.test",
            jwt_keys=MINIMAL_JWT, mail_from=MAIL_FROM, more=""):
    """The directives a server needs with no SMTP relay (mail goes to the
    spool directory) and no Stripe, then `more`. `spool` may be the text
    "{spool}" for a template formatted later."""
    return (f"JKLGPublicURL {public_url}\n" + jwt_lines(jwt_keys)
            + f"JKLGMailFrom {mail_from}\n"
            f'JKLGMailSpool "{spool}"\n' + more)


def own_server(base, dbd_params, jklg="", *, extra="", remote_ip=True,
               staff=STAFF, port=None):
    """An Httpd (not started) in base (created, readable by the server's
    children) on dbd_params, with the JKLG* directives `jklg` (directives()
    or minimal()) and `extra` httpd configuration after mod_remoteip's."""
    base = Path(base)
    base.mkdir(parents=True, exist_ok=True)
    base.chmod(0o755)
    return Httpd(base, dbd_params, jklg, port=port, staff=staff,
                 extra=(REMOTE_IP if remote_ip else "") + extra)


def templates_dir(base):
    """base/templates, created: a server's own mail template overrides."""
    path = Path(base) / "templates"
    path.mkdir(parents=True, exist_ok=True)
    return path


@contextlib.contextmanager
def serving(*servers):
    """Starts the servers in order; stops every one (started or not) when
    the block ends, also when a start fails."""
    try:
        for httpd in servers:
            httpd.start()
        yield servers[0] if len(servers) == 1 else list(servers)
    finally:
        for httpd in servers:
            httpd.stop()
