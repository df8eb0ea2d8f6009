"""A database outage: requests answer 503 with Retry-After while it lasts,
mail waits in the outbox, and everything recovers by itself afterwards,
including pooled connections that libpq silently reset (and that lost
their prepared statements)."""

from concurrent.futures import ThreadPoolExecutor

import requests

DB_ERRORS = [r"JKLG0010[123]", r"JKLG00301", r"dbd:error", r"AH00633",
             r"AH00629", r"AH00628", r"AH00632", r"AH00639", r"DBD"]


def statuses(url, n, auth=None, parallel=8):
    """n GETs, `parallel` at a time, so that every child opens several
    pooled connections."""
    def get(_):
        return requests.get(url, auth=auth, timeout=20).status_code
    with ThreadPoolExecutor(parallel) as pool:
        return list(pool.map(get, range(n)))


def test_database_down_then_back(server, pg, staff, mail, db, allow_errors):
    allow_errors.extend(DB_ERRORS)
    health = f"{server.url}/api/health"
    status = f"{server.url}/api/admin/email/status"
    # Warm up: every child holds pooled, prepared connections.
    assert set(statuses(health, 200)) == {200}
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

    # The server is back: every pooled connection, in every child, died
    # with the old server, yet no request may fail now. Not once (a dead
    # connection noticed only by its next query: 503), not for good (a
    # connection reset without its prepared statements: 500).
    seen = statuses(health, 200) + statuses(status, 40, auth=staff)
    assert set(seen) == {200}, seen

    # And mail flows again.
    resp = requests.post(f"{server.url}/api/admin/email/test", auth=staff,
                         json={"to": "after-restart@jklg.test"})
    assert resp.status_code == 202
    assert len(mail.wait_for("after-restart@jklg.test")) == 1
