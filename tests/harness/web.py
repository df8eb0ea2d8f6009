"""The customer pages' server for test_web_*.py: Apache with the module and
conf/jklg-web.conf serving web/ of this checkout, on the suite's PostgreSQL,
SMTP stand-in and Stripe stand-in (whose Stripe.js it loads), with
JKLGPublicURL pointing at itself so that emailed links open its pages."""

import re

import pytest

from harness.httpd import MODULES_DIR, REPO_ROOT, free_port
from harness.server import directives, own_server, templates_dir

WEB_ROOT = REPO_ROOT / "web"
WEB_CONF = REPO_ROOT / "conf" / "jklg-web.conf"

# Every path of the contract's page list, with the file that answers it.
PAGES = {
    "/signup": "signup.html",
    "/login": "login.html",
    "/verify-email?token=abc": "verify-email.html",
    "/forgot-password": "forgot-password.html",
    "/reset-password/abc": "reset-password.html",
    "/customer-dashboard": "customer-dashboard.html",
    "/booking/00000000-0000-4000-8000-000000000000": "booking.html",
    "/booking/00000000-0000-4000-8000-000000000000/pay": "pay.html",
    "/order-confirmation?booking=00000000-0000-4000-8000-000000000000":
        "order-confirmation.html",
    "/secure-account?token=abc": "secure-account.html",
    "/confirm-email-change?token=abc": "confirm-email-change.html",
    "/revert-email-change?token=abc": "revert-email-change.html",
}

WEB_EXTRA = """\
LoadModule alias_module {modules}/mod_alias.so
LoadModule headers_module {modules}/mod_headers.so
LoadModule mime_module {modules}/mod_mime.so
TypesConfig /etc/mime.types
Define JKLG_WEB_ROOT "{web}"
{stripe_origin}Include "{conf}"
"""


def web_httpd(base, pg, smtp, stripe_api, stripe_origin=True):
    """An Httpd (not started) serving pages and API on one origin; the
    CSP allows the stand-in's origin unless stripe_origin is None."""
    port = free_port()
    conf = directives(smtp, stripe_api, templates_dir(base),
                      JKLGPublicURL=f"http://127.0.0.1:{port}",
                      JKLGStripeJSURL=f"{stripe_api.url}/v3/")
    origin = (f"Define JKLG_STRIPE_JS_ORIGIN {stripe_api.url}\n"
              if stripe_origin else "")
    return own_server(base, pg.dbd_params(), conf, port=port,
                      remote_ip=False,
                      extra=WEB_EXTRA.format(modules=MODULES_DIR, web=WEB_ROOT,
                                             conf=WEB_CONF,
                                             stripe_origin=origin))


@pytest.fixture(scope="module")
def web(pg, smtp, stripe_api, workdir):
    """The pages' server for one test module. Stripe's webhooks go to it
    while the module runs (it shares the suite's database)."""
    base = workdir / f"web-{len(list(workdir.glob('web-*')))}"
    httpd = web_httpd(base, pg, smtp, stripe_api)
    httpd.start()
    before = stripe_api.webhook_url
    stripe_api.webhook_url = httpd.url + "/api/payments/webhook"
    yield httpd
    stripe_api.webhook_url = before
    httpd.stop()


@pytest.fixture(autouse=True)
def web_log_clean(request):
    """Fails a test that made the pages' server log an error."""
    if "web" not in request.fixturenames:
        yield
        return
    httpd = request.getfixturevalue("web")
    httpd.mark_log()
    yield
    errors = httpd.new_errors()
    assert not errors, "errors in the error log:\n" + "\n".join(errors)


def asset_urls(html):
    """The /assets/... URLs a page loads (stylesheets and scripts)."""
    return re.findall(r'(?:href|src)="(/assets/[^"]+)"', html)


def verify_link(text, base):
    m = re.search(re.escape(base) + r"/verify-email\?token=[A-Za-z0-9_-]+", text)
    return m.group(0) if m else None
