"""Configuration mistakes stop Apache at startup with a message that names
the directive (and the virtual host) and says what to write instead."""

import re
import subprocess

import pytest

from harness.httpd import MODULES_DIR, REPO_ROOT, HttpdError
from harness.server import minimal

# make_httpd (harness/fixtures_httpd.py) puts the spool in tmp_path.
GOOD = minimal("{spool}")


@pytest.mark.parametrize("directive, message", [
    ("JKLGMaxBody 7x", "JKLGMaxBody: '7x' is not a size"),
    ("JKLGMaxBody 0", "JKLGMaxBody: '0' is not a size"),
    ("JKLGPublicURL ftp://travel.test", "JKLGPublicURL: 'ftp://travel.test' is not an absolute http(s) URL"),
    ("JKLGPublicURL travel.test", "is not an absolute http(s) URL"),
    ("JKLGMailFrom nobody", "JKLGMailFrom: 'nobody' has no valid address"),
    ("JKLGMailSMTP http://mail.test", "JKLGMailSMTP: use JKLGMailSMTP smtp://"),
    ("JKLGMailSMTP smtp://mail.test user", "JKLGMailSMTP: use JKLGMailSMTP smtp://"),
    ("JKLGMailSMTP smtp://mail.test user env:JKLG_TEST_UNSET_VARIABLE",
     "JKLGMailSMTP: password: environment variable JKLG_TEST_UNSET_VARIABLE is not set"),
    ("JKLGMailSMTP smtp://mail.test user file:/nonexistent/secret",
     "JKLGMailSMTP: password: cannot open /nonexistent/secret"),
    ("JKLGMailSpool /nonexistent/spool", "JKLGMailSpool: '/nonexistent/spool' is not an existing directory"),
    ("JKLGMailTemplates /nonexistent/t", "JKLGMailTemplates: '/nonexistent/t' is not an existing directory"),
    ("JKLGMailThreads 0", "JKLGMailThreads: '0' is not a number between 1 and 64"),
    ("JKLGMailRetry 0 30s", "JKLGMailRetry: '0 30s' is not 'attempts first-delay'"),
    ("JKLGMailRetry 8 soon", "JKLGMailRetry: '8 soon' is not 'attempts first-delay'"),
    ("JKLGMailTimeout 5x", "JKLGMailTimeout: '5x' is not a duration"),
    ("JKLGMailSweepInterval -1", "JKLGMailSweepInterval: '-1' is not a duration"),
    ("JKLGAllowOrigin https://travel.test/app", "JKLGAllowOrigin: 'https://travel.test/app' is not an origin"),
    ("JKLGAllowOrigin *", "JKLGAllowOrigin: '*' is not an origin"),
    ("JKLGJWTKey k9 too-short", "JKLGJWTKey: the secret must be at least 32 bytes"),
    ("JKLGJWTKey k1 0123456789abcdef0123456789abcdefXX", "JKLGJWTKey: key id 'k1' is used twice"),
    ("JKLGJWTKey env:JKLG_TEST_UNSET_VARIABLE", "JKLGJWTKey: environment variable JKLG_TEST_UNSET_VARIABLE is not set"),
    ("JKLGTokenLifetime 7x", "JKLGTokenLifetime: '7x' is not a duration"),
    ("JKLGSecurityEventRetention 1y", "JKLGSecurityEventRetention: '1y' is not a duration"),
    ("JKLGPasswordMinLength 4", "JKLGPasswordMinLength: '4' is not a number between 8 and 128"),
    ("JKLGPasswordHash fast", "JKLGPasswordHash: 'fast' is not one of interactive, moderate, sensitive"),
    ("JKLGPasswordHashConcurrency 0", "JKLGPasswordHashConcurrency: '0' is not a number between 1 and 256"),
    ("JKLGStripeJSURL js.stripe.com/v3/", "JKLGStripeJSURL: 'js.stripe.com/v3/' is not an http(s) URL"),
    ("JKLGStripeJSURL ftp://js.test/v3/", "JKLGStripeJSURL: 'ftp://js.test/v3/' is not an http(s) URL"),
])
def test_bad_value_is_refused_with_the_fix(make_httpd, directive, message):
    rc, out = make_httpd(GOOD + directive + "\n").config_test()
    assert rc != 0
    assert message in out, out


def test_secret_value_never_echoed(make_httpd, tmp_path):
    rc, out = make_httpd(GOOD + "JKLGMailSMTP smtp://mail.test user s3cr3t-PASS x\n"
                         ).config_test()
    assert rc != 0 and "s3cr3t-PASS" not in out


@pytest.mark.parametrize("jklg, missing", [
    ('JKLGMailFrom "A <a@jklg.test>"\nJKLGMailSpool "{spool}"\n', "JKLGPublicURL"),
    ('JKLGPublicURL https://travel.test\nJKLGMailSpool "{spool}"\n', "JKLGMailFrom"),
    ('JKLGPublicURL https://travel.test\nJKLGMailFrom "A <a@jklg.test>"\n',
     "JKLGMailSMTP or JKLGMailSpool"),
    ('JKLGPublicURL https://travel.test\nJKLGMailFrom "A <a@jklg.test>"\n'
     'JKLGMailSpool "{spool}"\n', "JKLGJWTKey"),
])
def test_missing_required_directive_stops_startup(make_httpd, jklg, missing):
    httpd = make_httpd(jklg)
    with pytest.raises(HttpdError) as failure:
        httpd.start()
    text = str(failure.value)
    assert f"lacks {missing}" in text, text
    assert "virtual host 127.0.0.1" in text       # names the vhost


def test_gateway_refuses_its_configuration_at_startup(make_httpd):
    # The Stripe gateway checks its own settings (check_conf): a live
    # secret key with a test publishable key cannot take a payment.
    httpd = make_httpd(GOOD + "JKLGStripeSecretKey sk_live_jklg\n"
                              "JKLGStripePublishableKey pk_test_jklg\n")
    with pytest.raises(HttpdError) as failure:
        httpd.start()
    text = str(failure.value)
    assert ("JKLGStripePublishableKey: a pk_test_ key with a sk_live_ "
            "JKLGStripeSecretKey") in text, text
    assert "virtual host 127.0.0.1" in text
    assert "sk_live_jklg" not in text               # never the key itself


def test_vhost_value_checked_and_main_settings_inherited(make_httpd, free_port_pair):
    port = free_port_pair
    vhost = (f"Listen 127.0.0.1:{port}\n<VirtualHost 127.0.0.1:{port}>\n"
             f"    ServerName booking.travel.test\n"
             f"    JKLGPublicURL ftp-less.invalid\n</VirtualHost>\n")
    rc, out = make_httpd(GOOD, extra=vhost).config_test()
    assert rc != 0 and "JKLGPublicURL" in out
    # A vhost that only inherits the main server's settings is complete.
    vhost = (f"Listen 127.0.0.1:{port}\n<VirtualHost 127.0.0.1:{port}>\n"
             f"    ServerName booking.travel.test\n</VirtualHost>\n")
    httpd = make_httpd(GOOD, extra=vhost)
    httpd.start()


def test_vhost_without_required_directive_is_named(make_httpd, free_port_pair):
    port = free_port_pair
    # The main server does not use the module; the vhost does, partially.
    vhost = (f"Listen 127.0.0.1:{port}\n<VirtualHost 127.0.0.1:{port}>\n"
             f"    ServerName booking.travel.test\n"
             f"    JKLGPublicURL https://travel.test\n</VirtualHost>\n")
    httpd = make_httpd("", extra=vhost)
    with pytest.raises(HttpdError) as failure:
        httpd.start()
    text = str(failure.value)
    assert "virtual host booking.travel.test" in text and "lacks JKLGMailFrom" in text


def test_module_loaded_but_unused_starts(make_httpd):
    make_httpd("").start()


@pytest.fixture
def free_port_pair():
    from harness.httpd import free_port
    return free_port()


PLACEHOLDER = re.compile(r"(?<![A-Za-z0-9])CHANGE(?![A-Za-z0-9])")
SSL_BLOCK = re.compile(r"<IfModule ssl_module>.*?</IfModule>", re.S)


def shipped_example(tmp_path, tls, text=None):
    """conf/jklg.conf (or text) as an operator gets it, its placeholders
    left in, with the files it reads made in tmp_path: key files and, for
    tls, a real certificate pair in place of the Let's Encrypt paths."""
    key = tmp_path / "jwt.key"
    key.write_text("k" * 48 + "\n")
    for name, value in (("stripe.key", "sk_live_example"),
                        ("whsec.key", "whsec_example"),
                        ("mfa.key", "bWZhLWtleS1vZi10aGUtZXhhbXBsZS0wMTIzNDU2Nzg=")):
        (tmp_path / name).write_text(value + "\n")
    if text is None:
        text = (REPO_ROOT / "conf" / "jklg.conf").read_text()
    if tls:     # mod_ssl loaded: its lines are checked against a real pair
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048",
                        "-nodes", "-days", "1", "-subj", "/CN=api.test",
                        "-keyout", str(tmp_path / "privkey.pem"),
                        "-out", str(tmp_path / "fullchain.pem")],
                       check=True, capture_output=True)
        text = text.replace("/etc/letsencrypt/live/api.CHANGE.example",
                            str(tmp_path))
    return (text.replace("/etc/apache2/jklg-jwt-2026.key", str(key))
            .replace("/etc/apache2/jklg-stripe.key",
                     str(tmp_path / "stripe.key"))
            .replace("/etc/apache2/jklg-whsec.key",
                     str(tmp_path / "whsec.key"))
            .replace("/etc/apache2/jklg-mfa.key", str(tmp_path / "mfa.key"))
            .replace("/usr/share/jklg/web", str(REPO_ROOT / "web"))
            .replace("/usr/share/jklg/jklg-web.conf",
                     str(REPO_ROOT / "conf" / "jklg-web.conf")))


def fill_placeholders(text):
    """What the operator does: a value of their own for each CHANGE."""
    text = (text.replace("password=CHANGE", "password=unused")
            .replace("pk_live_CHANGE", "pk_live_example"))
    return PLACEHOLDER.sub("travel", text)


def example_httpd(make_httpd, example, tls):
    # mod_reqtimeout, mod_alias, mod_headers and mod_mime loaded, as on
    # Debian with `a2enmod jklg`, so that the example's RequestReadTimeout,
    # the port-80 Redirect and the pages' snippet are checked too (its TLS
    # lines are inside <IfModule ssl_module>).
    return make_httpd("", extra=f'LoadModule reqtimeout_module '
                                f'{MODULES_DIR}/mod_reqtimeout.so\n'
                                f'LoadModule alias_module '
                                f'{MODULES_DIR}/mod_alias.so\n'
                                f'LoadModule headers_module '
                                f'{MODULES_DIR}/mod_headers.so\n'
                                f'LoadModule mime_module '
                                f'{MODULES_DIR}/mod_mime.so\n'
                                + (f'LoadModule ssl_module '
                                   f'{MODULES_DIR}/mod_ssl.so\n'
                                   if tls else '')
                                + f'Include "{example}"\n')


@pytest.mark.parametrize("tls", [False, True])
def test_shipped_example_vhost_is_valid(make_httpd, tmp_path, tls):
    example = tmp_path / "example.conf"
    example.write_text(fill_placeholders(shipped_example(tmp_path, tls)))
    assert not PLACEHOLDER.search(example.read_text())
    httpd = example_httpd(make_httpd, example, tls)
    rc, out = httpd.config_test(env={"JKLG_SMTP_PASSWORD": "example"})
    assert rc == 0, out
    assert "JKLG0180" not in out
    rc, out = httpd.config_test()
    assert rc != 0 and "JKLG_SMTP_PASSWORD is not set" in out


def placeholder_lines(text):
    """(line number, directive) of each line of text holding the word."""
    return [(n, line.split()[0])
            for n, line in enumerate(text.splitlines(), 1)
            if line.strip() and not line.lstrip().startswith("#")
            and PLACEHOLDER.search(line)]


@pytest.mark.parametrize("tls", [False, True])
def test_shipped_example_with_placeholders_left_is_refused(make_httpd,
                                                           tmp_path, tls):
    text = shipped_example(tmp_path, tls)
    example = tmp_path / "example.conf"
    example.write_text(text)
    # Every directive line of the example that holds the word, but those
    # inside <IfModule ssl_module> when mod_ssl is not loaded: Apache never
    # reads them then.
    expected = placeholder_lines(text if tls else SSL_BLOCK.sub(
        lambda m: "\n" * m.group(0).count("\n"), text))
    assert {d for _, d in expected} >= {
        "DBDParams", "ServerName", "Redirect", "JKLGPublicURL",
        "JKLGMailFrom", "JKLGMailSMTP", "JKLGStripePublishableKey",
        "JKLGAllowOrigin"}
    httpd = example_httpd(make_httpd, example, tls)
    rc, out = httpd.config_test(env={"JKLG_SMTP_PASSWORD": "example"})
    assert rc != 0, out
    for n, directive in expected:
        assert (f"JKLG01800: {directive} on line {n} of {example} still "
                f"holds the placeholder CHANGE") in out, out
    assert out.count("JKLG01800") == len(expected), out
    assert "DBDParams on line" in out and "CHANGE in password=:" in out
    assert f"JKLG01801: {len(expected)} values of the example" in out
    assert "SSLCertificate" not in out     # outside tls: never read


def test_placeholder_refused_at_start_too(make_httpd):
    httpd = make_httpd(GOOD + "JKLGStripePublishableKey pk_test_CHANGE\n")
    with pytest.raises(HttpdError) as failure:
        httpd.start()
    text = str(failure.value)
    assert "JKLG01800: JKLGStripePublishableKey on line" in text, text
    assert not httpd.pid()


def test_placeholder_in_database_password_never_echoes_it(make_httpd):
    dbd = ('DBDParams "host=127.0.0.1 port=1 dbname=none user=none '
           'password=s3cr3t-PASS/CHANGE"\n')
    rc, out = make_httpd(GOOD + dbd).config_test()
    assert rc != 0
    assert "DBDParams on line" in out and "CHANGE in password=:" in out, out
    assert "s3cr3t-PASS" not in out


def test_placeholder_only_as_a_word_and_where_the_module_looks(
        make_httpd, tmp_path):
    # The word inside real values is no placeholder.
    real = ('DBDParams "host=127.0.0.1 port=1 dbname=none user=none '
            'password=EXCHANGE-CHANGED"\n'
            "JKLGAllowOrigin https://change.travel.test\n"
            "ServerAdmin ops@Change.travel.test\n")
    rc, out = make_httpd(GOOD + real).config_test()
    assert rc == 0, out
    # Another site's file, without the module's directives, is its own
    # business; the module's own file and DBDParams anywhere are checked.
    other = tmp_path / "other-site.conf"
    other.write_text("ServerAdmin CHANGE@travel.test\n")
    rc, out = make_httpd(GOOD, extra=f'Include "{other}"\n').config_test()
    assert rc == 0, out
    httpd = make_httpd(GOOD + "ServerAdmin CHANGE@travel.test\n")
    rc, out = httpd.config_test()
    assert rc != 0
    assert "ServerAdmin on line" in out and f"of {httpd.conf_file}" in out
    other.write_text('DBDParams "host=127.0.0.1 password=CHANGE"\n')
    rc, out = make_httpd(GOOD, extra=f'Include "{other}"\n').config_test()
    assert rc != 0
    assert f"DBDParams on line 1 of {other}" in out, out


def test_readme_vhost_snippet_refused_until_filled(make_httpd, tmp_path):
    readme = (REPO_ROOT / "README.md").read_text()
    snippet = re.search(r"```apache\n(.*?)```", readme, re.S).group(1)
    text = shipped_example(tmp_path, False, snippet)
    expected = placeholder_lines(text)
    assert {d for _, d in expected} >= {"DBDParams", "JKLGPublicURL",
                                        "JKLGStripePublishableKey"}
    conf = tmp_path / "readme.conf"
    conf.write_text(text)
    httpd = make_httpd("", extra=f'Include "{conf}"\n')
    rc, out = httpd.config_test(env={"JKLG_SMTP_PASSWORD": "example"})
    assert rc != 0
    for n, directive in expected:
        assert f"JKLG01800: {directive} on line {n} of {conf} " in out, out
    conf.write_text(fill_placeholders(text))
    rc, out = httpd.config_test(env={"JKLG_SMTP_PASSWORD": "example"})
    assert rc == 0, out
