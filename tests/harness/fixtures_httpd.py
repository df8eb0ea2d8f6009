"""pytest fixtures: the SMTP stand-in, Apache with the module (against the
`pg` cluster), and a per-test check of the error log."""

import shutil
import tempfile
from pathlib import Path

import psycopg2
import pytest

from harness.httpd import free_port, sanitizer_reports
from harness.server import (DBD_NONE, JWT_KEYS, STAFF, directives,
                            own_server, templates_dir)
from harness.smtp import SmtpStandin

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
    templates = templates_dir(base)
    no_auth_port = free_port()
    httpd = own_server(base, pg.dbd_params(),
                       directives(smtp, stripe_api, templates),
                       extra=NO_AUTH_VHOST.format(port=no_auth_port))
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
def make_httpd(tmp_path):
    """make(jklg, extra=""): an Httpd in tmp_path on no database, for
    configuration tests; "{spool}" in jklg becomes tmp_path. Every server
    made is stopped after the test."""
    tmp_path.chmod(0o755)
    made = []

    def make(jklg, extra=""):
        httpd = own_server(tmp_path, DBD_NONE, jklg.format(spool=tmp_path),
                           extra=extra, remote_ip=False)
        made.append(httpd)
        return httpd
    yield make
    for httpd in made:
        httpd.stop()


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
