"""Rate limit configuration: JKLGRateLimit values are checked when the
configuration is read, JKLGRateLimitCache names a loaded mod_socache
provider and is server-wide, and the default cache (shmcb) is required only
when the module is in use."""

import time

import pytest

from harness import httpd as harness
from harness.httpd import HttpdError, free_port
from harness.server import minimal

# make_httpd (harness/fixtures_httpd.py) puts the spool in tmp_path.
GOOD = minimal("{spool}")


def start(httpd):
    """Starts and waits for the pid file: the port listens before the
    detached server writes it, and stop() needs it."""
    httpd.start()
    deadline = time.monotonic() + 10
    while httpd.pid() is None and time.monotonic() < deadline:
        time.sleep(0.05)


def vhost(body):
    port = free_port()
    return (f"Listen 127.0.0.1:{port}\n<VirtualHost 127.0.0.1:{port}>\n"
            f"    ServerName booking.travel.test\n{body}</VirtualHost>\n")


@pytest.mark.parametrize("directive, message", [
    ("JKLGRateLimit logon 10 15m",
     "JKLGRateLimit: 'logon' is not a rate limit name, use one of login, login_ip, "
     "login_email, register_email, register_ip, resend_email, resend_ip, "
     "forgot_email, forgot_ip, verify_ip, reset_ip, password_change"),
    ("JKLGRateLimit login 0 15m",
     "JKLGRateLimit login: '0' is not a count between 1 and 1000000"),
    ("JKLGRateLimit login 1000001 15m",
     "JKLGRateLimit login: '1000001' is not a count between 1 and 1000000"),
    ("JKLGRateLimit login ten 15m", "JKLGRateLimit login: 'ten' is not a count"),
    ("JKLGRateLimit verify_ip 30 0",
     "JKLGRateLimit verify_ip: '0' is not a window between 1s and 1d, "
     "use e.g. 60, 15m, 1h"),
    ("JKLGRateLimit verify_ip 30 7x",
     "JKLGRateLimit verify_ip: '7x' is not a window between 1s and 1d"),
    ("JKLGRateLimit verify_ip 30 2d",
     "JKLGRateLimit verify_ip: '2d' is not a window between 1s and 1d"),
    ("JKLGRateLimit verify_ip 30 500ms",
     "JKLGRateLimit verify_ip: '500ms' is not a window between 1s and 1d"),
    ("JKLGRateLimit login 10", "JKLGRateLimit takes three arguments"),
    ("JKLGRateLimitCache nosuch",
     "JKLGRateLimitCache: no cache provider 'nosuch' is loaded: load "
     "mod_socache_nosuch first (Debian: a2enmod socache_nosuch"),
    ("JKLGRateLimitCache nosuch:host:6379",
     "JKLGRateLimitCache: no cache provider 'nosuch' is loaded"),
    ("JKLGRateLimitCache shmcb:jklg-rl(100)",
     "JKLGRateLimitCache: 'shmcb:jklg-rl(100)': Invalid argument: size has "
     "to be >= 8192 bytes"),
])
def test_bad_value_is_refused_with_the_fix(make_httpd, directive, message):
    rc, out = make_httpd(GOOD + directive + "\n").config_test()
    assert rc != 0
    assert message in out, out


def test_cache_is_refused_inside_a_virtual_host(make_httpd):
    rc, out = make_httpd(GOOD, extra=vhost(
        "    JKLGRateLimitCache shmcb\n")).config_test()
    assert rc != 0
    assert ("JKLGRateLimitCache cannot occur within <VirtualHost> section: "
            "one cache serves every virtual host, set it in the main server "
            "configuration") in out, out


def test_bad_value_in_a_virtual_host_is_refused(make_httpd):
    rc, out = make_httpd(GOOD, extra=vhost(
        "    JKLGRateLimit login_email 100 1w\n")).config_test()
    assert rc != 0 and "JKLGRateLimit login_email: '1w'" in out, out


def test_good_values_start(make_httpd):
    limits = ("JKLGRateLimitCache shmcb:jklg-rl(1048576)\n"
              "JKLGRateLimit login 10 15m\n"
              "JKLGRateLimit login_email 1000000 1d\n"
              "JKLGRateLimit verify_ip 1 1s\n"
              "JKLGRateLimit verify_ip 3 1500ms\n"
              "JKLGRateLimit password_change 5 3600\n")
    httpd = make_httpd(GOOD + limits,
                       extra=vhost("    JKLGRateLimit register_ip 60 5m\n"))
    rc, out = httpd.config_test()
    assert rc == 0, out
    start(httpd)
    assert not httpd.new_errors(), httpd.new_log()


def test_other_providers_are_accepted(make_httpd, monkeypatch):
    monkeypatch.setattr(harness, "BASE_MODULES",
                        harness.BASE_MODULES + ["socache_dbm"])
    httpd = make_httpd(GOOD + "JKLGRateLimitCache dbm:jklg-ratelimit.db\n")
    rc, out = httpd.config_test()
    assert rc == 0, out
    start(httpd)


@pytest.fixture
def without_shmcb(monkeypatch):
    monkeypatch.setattr(harness, "BASE_MODULES",
                        [m for m in harness.BASE_MODULES
                         if m != "socache_shmcb"])


def test_default_cache_needs_mod_socache_shmcb(make_httpd, without_shmcb):
    httpd = make_httpd(GOOD)
    with pytest.raises(HttpdError) as failure:
        start(httpd)
    text = str(failure.value)
    assert ("mod_jklg: rate limits need a shared cache, no cache provider "
            "'shmcb' is loaded: load mod_socache_shmcb first") in text, text
    assert "JKLGRateLimitCache" in text


def test_unused_module_needs_no_cache(make_httpd, without_shmcb):
    start(make_httpd(""))
