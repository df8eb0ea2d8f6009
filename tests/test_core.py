"""The module's core behaviour over HTTP: routing, the error envelope,
request bodies, the staff gate, CORS and health."""

import json
import socket

import requests

JSON = {"Content-Type": "application/json"}


def assert_error(resp, status, code):
    assert resp.status_code == status, resp.text
    assert resp.headers["Content-Type"] == "application/json; charset=utf-8"
    body = resp.json()
    assert set(body) >= {"error"}
    assert body["error"]["code"] == code
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    return body["error"]


def test_health_reports_database_ok(server):
    resp = requests.get(f"{server.url}/api/health")
    assert resp.status_code == 200
    assert resp.headers["Content-Type"] == "application/json; charset=utf-8"
    body = resp.json()
    assert body["status"] == "ok"
    assert body["checks"]["database"] == "ok"
    assert body["checks"]["mail"] in ("ok", "delayed")
    assert body["version"]


def test_unknown_route_is_404(server):
    assert_error(requests.get(f"{server.url}/api/nope"), 404, "not_found")
    assert_error(requests.get(f"{server.url}/api/health/"), 404, "not_found")
    assert_error(requests.get(f"{server.url}/api"), 404, "not_found")


def test_wrong_method_is_405_with_allow(server):
    resp = requests.post(f"{server.url}/api/health", json={})
    assert_error(resp, 405, "method_not_allowed")
    assert resp.headers["Allow"] == "GET, HEAD"
    resp = requests.get(f"{server.url}/api/admin/email/test", auth=("staff", "staff-password"))
    assert_error(resp, 405, "method_not_allowed")
    assert resp.headers["Allow"] == "POST"


def test_head_answers_like_get_without_body(server):
    resp = requests.head(f"{server.url}/api/health")
    assert resp.status_code == 200
    assert resp.content == b""


def test_body_must_be_json(server, staff):
    url = f"{server.url}/api/admin/email/test"
    resp = requests.post(url, data="to=a@b.example", auth=staff,
                         headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert_error(resp, 415, "unsupported_media_type")
    resp = requests.post(url, data='{"to": "a@b.example"}', auth=staff)
    assert_error(resp, 415, "unsupported_media_type")


def test_json_with_charset_is_accepted(server, staff, mail):
    resp = requests.post(f"{server.url}/api/admin/email/test", auth=staff,
                         data=json.dumps({"to": "charset@jklg.test"}),
                         headers={"Content-Type": "application/json; charset=utf-8"})
    assert resp.status_code == 202, resp.text
    assert mail.wait_for("charset@jklg.test")


def test_invalid_json_is_400(server, staff):
    url = f"{server.url}/api/admin/email/test"
    for body in ['{"to": ', "[1, 2]", '"text"', "", "nul\x00l",
                 '{"to": "a@b.example", "to": "c@d.example"}',
                 b'{"to": "\xff\xfe@b.example"}']:
        resp = requests.post(url, data=body, headers=JSON, auth=staff)
        assert_error(resp, 400, "invalid_json")


def test_duplicate_keys_are_rejected_not_last_wins(server, staff, db):
    with db.cursor() as cur:
        cur.execute("SELECT count(*) FROM email_outbox")
        before = cur.fetchone()[0]
    resp = requests.post(f"{server.url}/api/admin/email/test", auth=staff, headers=JSON,
                         data='{"to": "x@jklg.test", "to": "y@jklg.test"}')
    err = assert_error(resp, 400, "invalid_json")
    assert "duplicate" in err["message"]
    with db.cursor() as cur:
        cur.execute("SELECT count(*) FROM email_outbox")
        assert cur.fetchone()[0] == before


def test_body_over_limit_is_413_by_content_length(server, staff):
    body = json.dumps({"to": "a@b.example", "pad": "x" * 5000})
    resp = requests.post(f"{server.url}/api/admin/email/test", data=body,
                         headers=JSON, auth=staff)
    assert_error(resp, 413, "payload_too_large")


def test_chunked_body_over_limit_is_413(server, staff):
    def chunks():
        yield b'{"to": "a@b.example", "pad": "'
        for _ in range(100):
            yield b"x" * 1000
        yield b'"}'
    resp = requests.post(f"{server.url}/api/admin/email/test", data=chunks(),
                         headers=JSON, auth=staff)
    assert_error(resp, 413, "payload_too_large")


def test_huge_declared_body_is_refused_before_reading(server, staff):
    # Declares 1 GiB and sends nothing: an answer proves nothing was awaited.
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as s:
        s.sendall(b"POST /api/admin/email/test HTTP/1.1\r\nHost: x\r\n"
                  b"Authorization: Basic c3RhZmY6c3RhZmYtcGFzc3dvcmQ=\r\n"
                  b"Content-Type: application/json\r\n"
                  b"Content-Length: 1073741824\r\n\r\n")
        head = s.recv(4096).decode()
    assert head.startswith("HTTP/1.1 413"), head
    assert "payload_too_large" in head


def test_unknown_and_invalid_fields_are_422(server, staff):
    resp = requests.post(f"{server.url}/api/admin/email/test", auth=staff,
                         json={"to": "not-an-email", "role": "admin"})
    err = assert_error(resp, 422, "validation_failed")
    assert err["fields"] == {"to": "must be a valid email address",
                             "role": "unknown field"}


def test_admin_requires_apache_authentication(server, allow_errors):
    allow_errors.append(r"AH01617: user staff: authentication failure")
    resp = requests.get(f"{server.url}/api/admin/email/status")
    assert resp.status_code == 401     # Apache's own AuthType Basic
    resp = requests.get(f"{server.url}/api/admin/email/status",
                        auth=("staff", "wrong"))
    assert resp.status_code == 401


def test_admin_without_any_auth_config_fails_closed(server):
    # This port's /api/admin has "Require all granted": no r->user.
    for path in ("/api/admin/email/status", "/api/admin/no-such-thing"):
        assert_error(requests.get(server.no_auth_url + path), 403, "forbidden")
    assert_error(requests.post(server.no_auth_url + "/api/admin/email/test",
                               json={"to": "a@b.example"}), 403, "forbidden")
    # Public routes still work there.
    assert requests.get(server.no_auth_url + "/api/health").status_code == 200


def test_cors_allowed_origin(server):
    resp = requests.get(f"{server.url}/api/health",
                        headers={"Origin": "https://www.travel.test"})
    assert resp.headers["Access-Control-Allow-Origin"] == "https://www.travel.test"
    assert "Origin" in resp.headers["Vary"]
    # Errors carry it too, or browsers hide them from the front end.
    resp = requests.get(f"{server.url}/api/nope",
                        headers={"Origin": "https://admin.travel.test"})
    assert resp.headers["Access-Control-Allow-Origin"] == "https://admin.travel.test"


def test_cors_other_origin_gets_no_grant(server):
    resp = requests.get(f"{server.url}/api/health",
                        headers={"Origin": "https://evil.example"})
    assert "Access-Control-Allow-Origin" not in resp.headers


def test_cors_preflight(server):
    resp = requests.options(f"{server.url}/api/admin/email/test", headers={
        "Origin": "https://admin.travel.test",
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization, content-type"})
    assert resp.status_code == 204
    assert resp.headers["Access-Control-Allow-Origin"] == "https://admin.travel.test"
    assert "POST" in resp.headers["Access-Control-Allow-Methods"]
    assert "Authorization" in resp.headers["Access-Control-Allow-Headers"]
    resp = requests.options(f"{server.url}/api/health", headers={
        "Origin": "https://evil.example", "Access-Control-Request-Method": "GET"})
    assert resp.status_code == 204
    assert "Access-Control-Allow-Origin" not in resp.headers
    assert "Access-Control-Allow-Methods" not in resp.headers
    assert_error(requests.options(f"{server.url}/api/nope"), 404, "not_found")
