"""Without SMTP, mail goes to the spool directory, one complete .eml file
per message, written atomically."""

import email
import email.policy
import time

import pytest
import requests

from harness.httpd import child_writable
from harness.server import minimal, own_server, serving



@pytest.fixture(scope="module")
def spool_server(pg, workdir):
    # Its own database: an outbox belongs to one mail configuration.
    pg.ensure_app_db(db="jklg_spool")
    pg.migrate(pg.url(db="jklg_spool"))
    base = workdir / "httpd-spool"
    spool = child_writable(base / "mail")
    conf = minimal(spool, public_url="http://127.0.0.1:8080",
                   jwt_keys=[(None, "spool-key-0123456789abcdef0123456789")],
                   mail_from='"Spool Travel <mail@spool.test>"',
                   more="JKLGMailSweepInterval 1s\n")
    httpd = own_server(base, pg.dbd_params(db="jklg_spool"), conf,
                       remote_ip=False)
    httpd.spool = spool
    with serving(httpd):
        yield httpd


def wait_files(directory, count, timeout=20):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        files = sorted(directory.glob("*.eml"))
        if len(files) >= count:
            return files
        time.sleep(0.05)
    return sorted(directory.glob("*.eml"))


def test_spool_receives_a_complete_message(spool_server, staff):
    resp = requests.post(f"{spool_server.url}/api/admin/email/test",
                         auth=staff, json={"to": "reader@spool.test"})
    assert resp.status_code == 202, resp.text
    [path] = wait_files(spool_server.spool, 1)
    raw = path.read_bytes()
    assert b"\r\n" in raw
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    assert msg["To"] == "reader@spool.test"
    assert msg["From"] == "Spool Travel <mail@spool.test>"
    assert msg["Subject"] == "Test email from Spool Travel"
    assert msg.get_content_type() == "multipart/alternative"
    types = [p.get_content_type() for p in msg.iter_parts()]
    assert types == ["text/plain", "text/html"]
    # Readable as is: a developer copies links straight from the file.
    assert b"http://127.0.0.1:8080" in raw
    assert not list(spool_server.spool.glob(".*")), "temporary files left"

    status = requests.get(f"{spool_server.url}/api/admin/email/status",
                          auth=staff).json()
    assert status["transport"] == "spool" and status["reachable"] is True
    assert status["sent_last_hour"] == 1
