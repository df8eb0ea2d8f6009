"""pytest fixtures: the SMTP stand-in, Apache with the module (against the
`pg` cluster), and a per-test check of the error log."""

import shutil
import tempfile
from pathlib import Path

import psycopg2
import pytest

from harness.httpd import Httpd, free_port, sanitizer_reports
from harness.smtp import SmtpStandin

STAFF = ("staff", "staff-password")
MAX_BODY = 4096

JWT_KEYS = {"k2": "second-test-signing-key-0123456789abcdefghij",
            "k1": "first-test-signing-key-0123456789abcdefghijk"}
# The key sealing TOTP secrets (JKLGMFAKey, base64 of 32 bytes) is written
# out in JKLG_CONF, so that the suites formatting JKLG_CONF themselves
# (test_jwt_eddsa.py, test_attack_frozen_db.py) get it without a new name.

JKLG_CONF = """\
JKLGPublicURL https://travel.test/
JKLGJWTKey k2 {jwt_k2}
JKLGJWTKey k1 {jwt_k1}
JKLGMFAKey bWZhLXRlc3Qta2V5LTAxMjM0NTY3ODlhYmNkZWYwMTI=
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

# Clients on loopback may name the client address (mod_remoteip), so tests
# can act from many addresses, as customers behind a proxy would.
REMOTE_IP = """\
LoadModule remoteip_module /usr/lib/apache2/modules/mod_remoteip.so
RemoteIPHeader X-Forwarded-For
RemoteIPInternalProxy 127.0.0.1
"""

# A second port whose /api/admin has no authentication at all: the module
# itself must refuse staff routes there (fail closed).
NO_AUTH_VHOST = """\
Listen 127.0.0.1:{port}
<VirtualHost 127.0.0.1:{port}>
    <Location /api/admin>
        AuthType None
        Require all granted
    </Location>
</VirtualHost>
"""


def jklg_directives(smtp, stripe_api, templates, more=""):
    """The suite server's JKLG* directives on these stand-ins, then `more`
    (later directives win): the configuration of another server like it."""
    return JKLG_CONF.format(smtp_port=smtp.port, jwt_k2=JWT_KEYS["k2"],
                            jwt_k1=JWT_KEYS["k1"], templates=templates,
                            max_body=MAX_BODY,
                            stripe_key=stripe_api.secret_key,
                            stripe_whsec=stripe_api.webhook_secret,
                            stripe_url=stripe_api.url) + more


@pytest.fixture(scope="session")
def workdir():
    path = Path(tempfile.mkdtemp(prefix="jklg-test-"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="session")
def smtp():
    standin = SmtpStandin(free_port())
    standin.start()
    yield standin
    standin.release.set()
    standin.stop()


@pytest.fixture(scope="session")
def server(pg, smtp, stripe_api, workdir):
    base = workdir / "httpd"
    base.mkdir()
    templates = base / "templates"
    templates.mkdir()
    no_auth_port = free_port()
    httpd = Httpd(base, pg.dbd_params(), staff=STAFF,
                  jklg=jklg_directives(smtp, stripe_api, templates),
                  extra=REMOTE_IP + NO_AUTH_VHOST.format(port=no_auth_port))
    httpd.templates = templates
    httpd.jwt_keys = JWT_KEYS
    httpd.issuer = "https://travel.test"
    httpd.no_auth_url = f"http://127.0.0.1:{no_auth_port}"
    httpd.start()
    stripe_api.webhook_url = httpd.url + "/api/payments/webhook"
    yield httpd
    httpd.stop()


@pytest.fixture
def allow_errors():
    """Regexes of error-log lines this test provokes on purpose."""
    return []


@pytest.fixture(autouse=True)
def error_log_clean(request, allow_errors):
    """Fails a test that made the server log an unexpected error."""
    if "server" not in request.fixturenames:
        yield
        return
    httpd = request.getfixturevalue("server")
    httpd.mark_log()
    yield
    errors = httpd.new_errors(allow_errors)
    assert not errors, "unexpected errors in the error log:\n" + "\n".join(errors)


def _new_reports(seen):
    new = {p: text for p, text in sanitizer_reports().items()
           if seen.get(p) != text}
    seen.update(new)
    return "\n".join(f"{p}:\n{text}" for p, text in new.items())


@pytest.fixture(scope="session", autouse=True)
def sanitizer_clean():
    """Under `make test SANITIZE=...`: fails the run on an AddressSanitizer
    or UBSan report from any Apache it started, including one written while
    a server stops at the end of the session (set up first, so torn down
    last). Reports found during a test fail that test (sanitizer_test_clean)."""
    seen = {}
    yield seen
    reports = _new_reports(seen)
    assert not reports, "sanitizer reports from Apache:\n" + reports


@pytest.fixture(autouse=True)
def sanitizer_test_clean(sanitizer_clean):
    """Fails a test during which (or just before which) a server wrote a
    sanitizer report."""
    yield
    reports = _new_reports(sanitizer_clean)
    assert not reports, "sanitizer reports from Apache:\n" + reports


@pytest.fixture
def db(pg):
    conn = psycopg2.connect(pg.url())
    conn.autocommit = True
    yield conn
    conn.close()


@pytest.fixture
def staff():
    return STAFF


@pytest.fixture
def mail(smtp):
    """The SMTP stand-in, emptied and accepting, for one test."""
    if not smtp.running:
        smtp.start()
    smtp.reset()
    yield smtp
    smtp.release.set()
    if not smtp.running:
        smtp.start()
    smtp.mode = "accept"
