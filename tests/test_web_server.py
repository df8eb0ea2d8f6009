"""The customer pages as Apache serves them (conf/jklg-web.conf): every
contract path answers its page, pages are revalidated and carry the CSP,
versioned assets are cached for a year, the brand files are revalidated,
each page's JavaScript + CSS stays within the 60 KB budget, and
/api/payments/config names the Stripe.js to load. No browser here:
test_web_pages.py drives the pages in Chromium."""

import re
import subprocess
import sys

import pytest
import requests

from harness.web import (PAGES, WEB_ROOT, asset_urls, web,  # noqa: F401
                         web_httpd, web_log_clean)
from harness.httpd import REPO_ROOT

BUDGET = 60 * 1024
IMPORT = re.compile(r"""^\s*import\s[^'"]*['"](\.\.?/[^'"]+)['"]""", re.M)


def get(web, path, **kw):
    return requests.get(web.url + path, timeout=30, allow_redirects=False,
                        **kw)


def csp_directives(value):
    return {part.split()[0]: part.split()[1:]
            for part in (p.strip() for p in value.split(";")) if part}


@pytest.mark.parametrize("path,page", sorted(PAGES.items()))
def test_contract_path_answers_its_page(web, path, page):
    resp = get(web, path)
    assert resp.status_code == 200, (path, resp.status_code)
    assert resp.headers["Content-Type"] == "text/html; charset=utf-8"
    assert resp.content == (WEB_ROOT / page).read_bytes()
    assert resp.headers["Cache-Control"] == "no-cache"
    assert '<meta name="viewport" content="width=device-width, ' \
           'initial-scale=1">' in resp.text
    assert resp.headers["X-Content-Type-Options"] == "nosniff"
    assert resp.headers["Referrer-Policy"] == "no-referrer"


def test_csp_is_strict_and_allows_stripe(web, stripe_api):
    resp = get(web, "/booking/x/pay")
    csp = csp_directives(resp.headers["Content-Security-Policy"])
    assert csp["default-src"] == ["'self'"]
    assert csp["object-src"] == ["'none'"]
    assert csp["base-uri"] == ["'none'"]
    assert csp["frame-ancestors"] == ["'none'"]
    assert csp["style-src"] == ["'self'"]
    for directive in ("script-src", "style-src", "connect-src"):
        assert not {"'unsafe-inline'", "'unsafe-eval'", "*", "http:",
                    "https:"} & set(csp[directive]), directive
    # Stripe.js, its frames and its API; and the configured js_url origin.
    assert "https://js.stripe.com" in csp["script-src"]
    assert {"https://js.stripe.com", "https://hooks.stripe.com"} \
        <= set(csp["frame-src"])
    assert "https://api.stripe.com" in csp["connect-src"]
    for directive in ("script-src", "frame-src", "connect-src"):
        assert stripe_api.url in csp[directive]


def test_csp_defaults_to_stripe_alone(pg, smtp, stripe_api, tmp_path):
    """Without JKLG_STRIPE_JS_ORIGIN (production) the policy names Stripe's
    origins only."""
    httpd = web_httpd(tmp_path / "httpd", pg, smtp, stripe_api,
                      stripe_origin=None)
    httpd.start()
    try:
        resp = requests.get(httpd.url + "/booking/x/pay", timeout=30)
    finally:
        httpd.stop()
    csp = csp_directives(resp.headers["Content-Security-Policy"])
    assert csp["script-src"] == ["'self'", "https://js.stripe.com",
                                 "https://*.js.stripe.com",
                                 "https://js.stripe.com"]
    assert stripe_api.url not in resp.headers["Content-Security-Policy"]


def test_pages_load_assets_by_root_path_with_one_version(web):
    versions = set()
    for page in sorted(WEB_ROOT.glob("*.html")):
        html = page.read_text()
        urls = asset_urls(html)
        assert urls, page.name
        for url in urls:
            m = re.match(r"/assets/(v[0-9a-f]+|brand)/", url)
            assert m, url
            if m.group(1) != "brand":
                versions.add(m.group(1))
        # No third-party script or style: only Stripe.js, loaded by pay.js.
        assert not re.search(r'(?:href|src)="(?:https?:)?//', html), page.name
    assert len(versions) == 1, versions
    rc = subprocess.run([sys.executable, str(REPO_ROOT / "scripts" /
                                             "web_stamp.py"), "--check"],
                        capture_output=True, text=True)
    assert rc.returncode == 0, rc.stdout + rc.stderr


def test_versioned_assets_long_cached_brand_revalidated(web):
    html = get(web, "/login").text
    for url in asset_urls(html):
        resp = get(web, url)
        assert resp.status_code == 200, url
        if url.startswith("/assets/brand/"):
            assert resp.headers["Cache-Control"] == "no-cache", url
        else:
            assert resp.headers["Cache-Control"] == \
                "public, max-age=31536000, immutable", url
    js = get(web, re.search(r'src="(/assets/v[^"]+\.js)"', html).group(1))
    assert js.headers["Content-Type"].startswith("text/javascript")
    for name in ("brand.json", "logo.svg", "brand.css"):
        resp = get(web, "/assets/brand/" + name)
        assert resp.status_code == 200 and \
            resp.headers["Cache-Control"] == "no-cache", name


def test_unknown_paths_are_404_and_api_still_answers(web):
    assert get(web, "/booking/").status_code == 404
    assert get(web, "/booking/a/b/c").status_code == 404
    assert get(web, "/assets/v0/../../conf/jklg.conf").status_code in (400,
                                                                        404)
    assert get(web, "/").status_code == 302
    assert get(web, "/").headers["Location"].endswith("/customer-dashboard")
    assert get(web, "/api/health").status_code == 200


def test_payments_config_names_stripe_js(web, stripe_api):
    body = get(web, "/api/payments/config").json()
    assert body["js_url"] == stripe_api.url + "/v3/"
    js = requests.get(body["js_url"], timeout=30)
    assert js.status_code == 200 and "window.Stripe" in js.text


def largest_language_file():
    """app.js loads, besides en.js (a static import), the texts of the
    person's language with a dynamic import (docs/web.md, Languages): the
    budget counts the largest of those files, whichever a person gets."""
    others = [p for p in (WEB_ROOT / "assets" / "i18n").glob("*.js")
              if p.name != "en.js"]
    return max(others, key=lambda p: p.stat().st_size, default=None)


def page_weight(html):
    """Bytes of JavaScript and CSS one page loads (Stripe.js aside): its
    stylesheets and module scripts, their static imports, the English
    texts, which app.js always loads, and the largest other language file,
    which app.js loads for a person reading another language."""
    seen = set()
    total = 0
    todo = [WEB_ROOT / "assets" / (url.split("/", 3)[3]
                                   if not url.startswith("/assets/brand/")
                                   else url[len("/assets/"):])
            for url in asset_urls(html)]
    while todo:
        path = todo.pop().resolve()
        if path in seen:
            continue
        seen.add(path)
        text = path.read_text()
        total += len(text.encode())
        if path.suffix == ".js":
            todo += [path.parent / rel for rel in IMPORT.findall(text)]
        if path.name == "app.js" and largest_language_file():
            todo.append(largest_language_file())
    return total, seen


def test_each_page_within_60k_of_js_and_css(web, record_property):
    for page in sorted(WEB_ROOT.glob("*.html")):
        total, files = page_weight(page.read_text())
        names = {p.name for p in files}
        assert "app.js" in names and "en.js" in names and "site.css" in names
        assert largest_language_file().resolve() in files
        record_property(page.name, total)
        print(f"{page.name}: {total} bytes of JS+CSS in {len(files)} files")
        assert total <= BUDGET, (page.name, total)


def test_every_text_key_is_in_english(web):
    en = (WEB_ROOT / "assets" / "i18n" / "en.js").read_text()
    keys = set(re.findall(r"^\s*'([a-z0-9_]+\.[a-z0-9_]+)':", en, re.M))
    used = set()
    for page in WEB_ROOT.glob("*.html"):
        used |= set(re.findall(r'data-i18n(?:-[a-z-]+)?="([^"]+)"',
                               page.read_text()))
        used |= set(re.findall(r'data-title="([^"]+)"', page.read_text()))
    for js in (WEB_ROOT / "assets" / "js").glob("*.js"):
        used |= set(re.findall(r"\bt\('([a-z0-9_]+\.[a-z0-9_]+)'", js.read_text()))
    missing = used - keys
    assert not missing, missing
