"""A database outage: requests answer 503 with Retry-After while it lasts,
mail waits in the outbox, and everything recovers by itself afterwards,
including pooled connections that libpq silently reset (and that lost
their prepared statements)."""

import time

import requests

DB_ERRORS = [r"JKLG0010[123]", r"JKLG00301", r"dbd:error", r"AH00633",
             r"AH00629", r"AH00628", r"AH00632", r"AH00639", r"DBD"]


def statuses(url, n, auth=None):
    return [requests.get(url, auth=auth, timeout=20).status_code
            for _ in range(n)]


def test_database_down_then_back(server, pg, staff, mail, db, allow_errors):
    allow_errors.extend(DB_ERRORS)
    health = f"{server.url}/api/health"
    status = f"{server.url}/api/admin/email/status"
    # Warm up: every child holds pooled, prepared connections.
    assert set(statuses(health, 40)) == {200}
    db.close()

    pg.stop()
    try:
        resp = requests.get(health, timeout=20)
        assert resp.status_code == 503
        assert resp.headers["Retry-After"].isdigit()
        body = resp.json()
        assert body["error"]["code"] == "unavailable"
        assert body["checks"]["database"] == "unavailable"
        resp = requests.get(status, auth=staff, timeout=20)
        assert resp.status_code == 503
        assert resp.json()["error"]["code"] == "unavailable"
        assert "Retry-After" in resp.headers
        resp = requests.post(f"{server.url}/api/admin/email/test", auth=staff,
                             json={"to": "while-down@jklg.test"}, timeout=20)
        assert resp.status_code == 503
        # Nothing about the database leaks to clients.
        assert "pgsql" not in resp.text and "5432" not in resp.text
    finally:
        pg.start()

    # Each pooled connection may fail once (its socket died with the
    # server); none may fail for good, which is what a connection reset
    # without its prepared statements would do (500, not 503).
    seen, streak = [], 0
    deadline = time.monotonic() + 60
    while streak < 40 and time.monotonic() < deadline:
        code = requests.get(health, timeout=20).status_code
        seen.append(code)
        streak = streak + 1 if code == 200 else 0
    assert streak == 40, seen
    assert 500 not in seen, seen
    assert set(statuses(status, 20, auth=staff)) == {200}

    # And mail flows again.
    resp = requests.post(f"{server.url}/api/admin/email/test", auth=staff,
                         json={"to": "after-restart@jklg.test"})
    assert resp.status_code == 202
    assert len(mail.wait_for("after-restart@jklg.test")) == 1
