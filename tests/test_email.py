"""The email service end to end: outbox → mail threads → a real SMTP
conversation with the stand-in, retries through an outage, templates,
escaping, overrides, batches and the status endpoint."""

import time

import pytest
import requests

FROM = "JKLG Travel <noreply@jklg.test>"


def send_test(server, staff, to):
    resp = requests.post(f"{server.url}/api/admin/email/test", auth=staff,
                         json={"to": to})
    assert resp.status_code == 202, resp.text
    body = resp.json()
    assert body["message"]
    return body["id"]


def outbox_row(db, row_id):
    with db.cursor() as cur:
        cur.execute("SELECT status, attempts, last_error, data, message_id "
                    "FROM email_outbox WHERE id = %s", (row_id,))
        return cur.fetchone()


def wait_row(db, row_id, predicate, timeout=30):
    deadline = time.monotonic() + timeout
    row = outbox_row(db, row_id)
    while not predicate(row) and time.monotonic() < deadline:
        time.sleep(0.05)
        row = outbox_row(db, row_id)
    return row


def parts(msg):
    return {p.get_content_type(): p.get_content() for p in msg.iter_parts()}


def batch(server, staff, **body):
    return requests.post(f"{server.url}/api/admin/email/batch", auth=staff,
                         json=body)


def test_test_email_arrives_as_multipart_alternative(server, staff, mail, db):
    row_id = send_test(server, staff, "Ops@JKLG.test ")
    [(mail_from, rcpts, msg)] = mail.wait_for("ops@jklg.test")
    assert mail_from == "noreply@jklg.test"
    assert rcpts == ["ops@jklg.test"]
    assert msg.get_content_type() == "multipart/alternative"
    assert msg["From"] == FROM
    assert msg["To"] == "ops@jklg.test"
    assert msg["Subject"] == "Test email from JKLG Travel"
    assert msg["Date"] and msg["Message-ID"].endswith("@jklg.test>")
    body = parts(msg)
    assert set(body) == {"text/plain", "text/html"}
    assert "https://travel.test" in body["text/plain"]
    assert "<html" in body["text/html"].lower()
    status, attempts, last_error, data, message_id = wait_row(
        db, row_id, lambda r: r[0] == "sent")
    assert (status, attempts, last_error, data) == ("sent", 1, None, None)
    assert message_id == msg["Message-ID"] == f"<{row_id}@jklg.test>"


def test_request_never_waits_on_smtp(server, staff, mail):
    # The stand-in holds its DATA reply until released: were the request
    # waiting on SMTP, it could not answer before the release below.
    mail.mode = "stall"
    send_test(server, staff, "stalled@jklg.test")
    health = requests.get(f"{server.url}/api/health", timeout=10)
    assert health.status_code == 200
    assert mail.received("stalled@jklg.test") == []
    mail.release.set()
    assert len(mail.wait_for("stalled@jklg.test")) == 1


def test_smtp_outage_loses_nothing_and_sends_once(server, staff, mail, db):
    mail.stop()
    row_id = send_test(server, staff, "outage@jklg.test")
    row = wait_row(db, row_id, lambda r: r[1] >= 2 and r[0] == "queued")
    assert row[0] == "queued" and row[1] >= 2
    assert row[2]                                   # the last error is kept
    assert requests.get(f"{server.url}/api/health").status_code == 200
    mail.start()
    assert len(mail.wait_for("outage@jklg.test")) == 1
    row = wait_row(db, row_id, lambda r: r[0] == "sent")
    assert row[0] == "sent" and row[2] is None
    time.sleep(2.5)                                 # two sweeps later ...
    assert len(mail.received("outage@jklg.test")) == 1


def test_refused_mail_ends_failed_with_last_error(server, staff, mail, db,
                                                  allow_errors):
    allow_errors.append(r"JKLG00206: mail: \S+ failed for good")
    mail.mode = "refuse"
    row_id = send_test(server, staff, "refused@jklg.test")
    status, attempts, last_error, data, _ = wait_row(
        db, row_id, lambda r: r[0] == "failed", timeout=40)
    assert status == "failed"
    assert attempts == 5                            # JKLGMailRetry 5 500ms
    assert "451" in last_error or "RCPT" in last_error, last_error
    assert data is None                 # may have held a one-time link
    assert mail.refused == 5


def test_sweep_picks_up_rows_left_behind(server, mail, db):
    with db.cursor() as cur:
        # Queued by another server that died before handing it over ...
        cur.execute("INSERT INTO email_outbox (template, recipient, data) "
                    "VALUES ('test', 'orphan@jklg.test', '{}') RETURNING id")
        orphan = cur.fetchone()[0]
        # ... and one claimed by a worker that crashed mid-send.
        cur.execute("INSERT INTO email_outbox (template, recipient, data, "
                    "status, attempts, claim_token, locked_until) VALUES "
                    "('test', 'crashed@jklg.test', '{}', 'sending', 1, "
                    "gen_random_uuid(), now() - interval '1 second') "
                    "RETURNING id")
        crashed = cur.fetchone()[0]
    assert len(mail.wait_for("orphan@jklg.test")) == 1
    assert len(mail.wait_for("crashed@jklg.test")) == 1
    assert wait_row(db, orphan, lambda r: r[0] == "sent")[0] == "sent"
    assert wait_row(db, crashed, lambda r: r[0] == "sent")[1] == 2


def test_live_lease_is_not_stolen(server, mail, db):
    with db.cursor() as cur:
        cur.execute("INSERT INTO email_outbox (template, recipient, data, "
                    "status, attempts, claim_token, locked_until) VALUES "
                    "('test', 'leased@jklg.test', '{}', 'sending', 1, "
                    "gen_random_uuid(), now() + interval '1 hour') "
                    "RETURNING id")
        leased = cur.fetchone()[0]
    time.sleep(2.5)                                 # two sweeps
    assert mail.received("leased@jklg.test") == []
    assert outbox_row(db, leased)[0] == "sending"
    with db.cursor() as cur:
        cur.execute("DELETE FROM email_outbox WHERE id = %s", (leased,))


def test_html_values_are_escaped_text_values_are_not(server, staff, mail):
    name = "<b>Ann & \"Bo\" 'C'</b>"
    resp = batch(server, staff, template="verification", data={
        "verify_url": "https://travel.test/verify-email?token=a&b=<c>",
        "expires_hours": 24},
        recipients=[{"email": "escape@jklg.test", "data": {"first_name": name}}])
    assert resp.status_code == 202, resp.text
    [(_, _, msg)] = mail.wait_for("escape@jklg.test")
    body = parts(msg)
    html, text = body["text/html"], body["text/plain"]
    assert "<b>Ann" not in html
    assert "&lt;b&gt;Ann &amp; &quot;Bo&quot; &#39;C&#39;&lt;/b&gt;" in html \
        or "&lt;b&gt;Ann &amp; &quot;Bo&quot; &#x27;C&#x27;&lt;/b&gt;" in html
    assert "token=a&amp;b=&lt;c&gt;" in html
    assert name in text
    assert "https://travel.test/verify-email?token=a&b=<c>" in text


@pytest.fixture
def override(server):
    written = []

    def write(name, content):
        path = server.templates / name
        path.write_text(content, encoding="utf-8")
        path.chmod(0o644)
        written.append(path)
    yield write
    for path in written:
        path.unlink()


def test_operator_override_by_file_name(server, staff, mail, override):
    override("test.subject", "Réservation confirmée ✈ {{agency_name}}")
    override("test.txt", "Overridden text for {{support_email}}\n")
    send_test(server, staff, "override@jklg.test")
    [(_, _, msg)] = mail.wait_for("override@jklg.test")
    assert msg["Subject"] == "Réservation confirmée ✈ JKLG Travel"
    body = parts(msg)
    assert body["text/plain"].strip() == "Overridden text for noreply@jklg.test"
    assert "<html" in body["text/html"].lower()     # not overridden: built in


def test_batch_queues_one_message_per_recipient(server, staff, mail):
    resp = batch(server, staff, template="booking_confirmation",
                 data={"booking_reference": "JK-1001", "description": "Lisbon"},
                 recipients=[
                     {"email": "b1@jklg.test", "data": {"first_name": "Ana"}},
                     {"email": "B2@jklg.test",
                      "data": {"first_name": "Ben", "description": "Porto"}},
                     {"email": "b3@jklg.test"}])
    assert resp.status_code == 202, resp.text
    assert resp.json() == {"queued": 3}
    texts = {}
    for to in ("b1@jklg.test", "b2@jklg.test", "b3@jklg.test"):
        [(_, _, msg)] = mail.wait_for(to)
        texts[to] = parts(msg)["text/plain"]
    assert "Ana" in texts["b1@jklg.test"] and "Lisbon" in texts["b1@jklg.test"]
    assert "Ben" in texts["b2@jklg.test"] and "Porto" in texts["b2@jklg.test"]
    assert "JK-1001" in texts["b3@jklg.test"]


def test_batch_validation(server, staff, db):
    with db.cursor() as cur:
        cur.execute("SELECT count(*) FROM email_outbox")
        before = cur.fetchone()[0]
    cases = [
        (dict(template="nope", recipients=[{"email": "a@jklg.test"}]),
         {"template"}),
        (dict(template="test", recipients=[]), {"recipients"}),
        (dict(template="test", recipients="a@jklg.test"), {"recipients"}),
        (dict(template="test", recipients=[{"email": "a@jklg.test"},
                                           {"email": "bad"}, 5]),
         {"recipients[1].email", "recipients[2]"}),
        (dict(template="test", recipients=[{"email": "a@jklg.test",
                                            "data": [], "x": 1}]),
         {"recipients[0].data", "recipients[0].x"}),
        (dict(template="test", recipients=[{"email": "a@jklg.test"}],
              data="x", extra=1), {"data", "extra"}),
        (dict(template="test",
              recipients=[{"email": f"r{i}@jklg.test"} for i in range(1001)]),
         None),
    ]
    for body, fields in cases:
        resp = batch(server, staff, **body)
        if fields is None:      # too large for JKLGMaxBody in this config
            assert resp.status_code in (413, 422), resp.text
            continue
        assert resp.status_code == 422, resp.text
        err = resp.json()["error"]
        assert err["code"] == "validation_failed"
        assert set(err["fields"]) == fields, err
    with db.cursor() as cur:
        cur.execute("SELECT count(*) FROM email_outbox")
        assert cur.fetchone()[0] == before


def test_status_counts_match_the_outbox(server, staff, mail, db):
    resp = requests.get(f"{server.url}/api/admin/email/status", auth=staff)
    assert resp.status_code == 200
    body = resp.json()
    with db.cursor() as cur:
        cur.execute("SELECT count(*) FILTER (WHERE status IN ('queued','sending')),"
                    " count(*) FILTER (WHERE status = 'failed'),"
                    " count(*) FILTER (WHERE status = 'sent' AND"
                    "   sent_at > now() - interval '1 hour') FROM email_outbox")
        queued, failed, sent = cur.fetchone()
    assert body == {"transport": "smtp", "reachable": True, "queued": queued,
                    "failed": failed, "sent_last_hour": sent}
    assert failed >= 1 and sent >= 1        # earlier tests in this module
    mail.stop()
    resp = requests.get(f"{server.url}/api/admin/email/status", auth=staff)
    assert resp.status_code == 200 and resp.json()["reachable"] is False


def test_graceful_restart_loses_no_mail(server, staff, mail, db):
    mail.stop()
    row_id = send_test(server, staff, "graceful@jklg.test")
    wait_row(db, row_id, lambda r: r[1] >= 1)
    server.graceful()               # children join their mail threads
    assert requests.get(f"{server.url}/api/health").status_code == 200
    mail.start()
    assert len(mail.wait_for("graceful@jklg.test")) == 1
    assert wait_row(db, row_id, lambda r: r[0] == "sent")[0] == "sent"
