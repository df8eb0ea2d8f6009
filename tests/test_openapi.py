"""docs/openapi.yaml: it lists exactly the module's routes, it is a valid
document, the contract check refuses what it should, and the committed
Postman collection is generated from it. (Every other test checks the
responses it receives against it: harness/openapi_check.py.)"""

import importlib.util
import json
import re
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
import requests
from jsonschema import Draft202012Validator

from harness.server import MAX_BODY
from harness.openapi_check import DOCUMENT, Contract

ROOT = Path(__file__).resolve().parents[1]


def routes_table(flag=None):
    """(METHOD, path) of every row of mod_jklg_routes.c, macros expanded;
    with flag, only the rows that have it (JKLG_BODY, JKLG_AUTH ...)."""
    text = (ROOT / "mod_jklg" / "mod_jklg_routes.c").read_text()
    prefixes = dict(re.findall(r'#define (\w+) "([^"]+)"', text))
    rows = set()
    for method, prefix, path, flags in re.findall(
            r'\{JKLG_(\w+),\s*(?:(\w+) )?"([^"]+)",\s*\w+,\s*([^}]+)\}', text):
        if flag is None or flag in re.findall(r"JKLG_\w+", flags):
            rows.add((method, prefixes.get(prefix, "") + path))
    return rows


def test_document_lists_every_route_and_no_other():
    contract = Contract()
    documented = {(method, template) for _, template, ops in contract.routes
                  for method in ops}
    assert routes_table() == documented


def test_every_schema_is_valid_and_every_ref_resolves():
    contract = Contract()
    for name, schema in contract.doc["components"]["schemas"].items():
        Draft202012Validator.check_schema(schema)

    def refs(node):
        if isinstance(node, dict):
            if "$ref" in node:
                yield node["$ref"]
            for value in node.values():
                yield from refs(value)
        elif isinstance(node, list):
            for value in node:
                yield from refs(value)
    for ref in refs(contract.doc):
        contract.resolver.resolve(ref)


def fake(method, path, status, body=None, headers=None, ctype=None):
    request = requests.Request(method, "http://127.0.0.1:1" + path).prepare()
    response = requests.Response()
    response.status_code = status
    response._content = b"" if body is None else json.dumps(body).encode()
    if body is not None:
        response.headers["Content-Type"] = (
            ctype or "application/json; charset=utf-8")
    response.headers.update(headers or {})
    return request, response


PREFERENCES = {"preferences": {"language": "en", "currency": "eur",
                               "marketing_emails": False, "newsletter": False}}


def check(*args, **kwargs):
    contract = Contract()
    request, response = fake(*args, **kwargs)
    contract.check(request, response, False)
    return contract.failures


def test_check_accepts_a_documented_response():
    assert check("GET", "/api/customers/me/preferences", 200,
                 PREFERENCES) == []


def test_check_refuses_an_undocumented_field():
    body = {"preferences": dict(PREFERENCES["preferences"], theme="dark")}
    failures = check("GET", "/api/customers/me/preferences", 200, body)
    assert len(failures) == 1
    assert "GET /api/customers/me/preferences -> 200" in failures[0]
    assert "'theme' was unexpected" in failures[0]


def test_check_refuses_an_undocumented_status():
    failures = check("GET", "/api/customers/me/preferences", 409,
                     {"error": {"code": "conflict", "message": "No."}})
    assert "status not documented" in failures[0]


def test_check_refuses_a_code_of_another_status():
    failures = check("POST", "/api/customers/register", 422,
                     {"error": {"code": "conflict", "message": "No.",
                                "fields": {"email": "taken"}}})
    assert "/error/code" in failures[0] or "error/code" in failures[0]


def test_check_matches_path_templates_and_general_rules():
    address = "/api/customers/me/addresses/0c7b1f9e-0000-4000-8000-000000000000"
    assert check("DELETE", address, 204) == []
    assert check("GET", address, 405,
                 {"error": {"code": "method_not_allowed", "message": "No."}},
                 headers={"Allow": "PATCH, DELETE"}) == []
    assert "required header Allow" in check(
        "GET", address, 405,
        {"error": {"code": "method_not_allowed", "message": "No."}})[0]
    assert check("GET", "/api/nothing", 404,
                 {"error": {"code": "not_found", "message": "No."}}) == []


def test_check_leaves_out_what_the_module_does_not_answer():
    contract = Contract()
    for args in (("GET", "/v1/payment_intents", 500, {"x": 1}),
                 ("GET", "/api/admin/metrics", 401, None)):
        request, response = fake(*args)
        if args[2] == 401:
            response.headers["Content-Type"] = "text/html; charset=iso-8859-1"
            response._content = b"<html>401</html>"
        contract.check(request, response, False)
    assert contract.failures == []


def test_route_index_is_generated_from_the_code():
    proc = subprocess.run([sys.executable, str(ROOT / "scripts" / "route_index.py")],
                          capture_output=True, text=True, check=True)
    committed = (ROOT / "docs" / "routes.md").read_text()
    assert committed == proc.stdout, (
        "docs/routes.md is stale: run "
        "scripts/route_index.py > docs/routes.md")
    listed = set(re.findall(r"^\| (\w+) \| `([^`]+)`", committed, re.M))
    assert listed == routes_table()


def test_customer_and_staff_routes_carry_their_requirement():
    """The dispatcher checks JKLG_AUTH and JKLG_STAFF before a handler:
    every staff path must carry the flag, and so must every /me path."""
    staff = routes_table("JKLG_STAFF")
    customer = routes_table("JKLG_AUTH")
    for route in routes_table():
        if route[1].startswith("/api/admin/"):
            assert route in staff, route
        if route[1].startswith("/api/customers/me"):
            assert route in customer, route


def test_postman_collection_is_generated_from_the_document():
    spec = importlib.util.spec_from_file_location(
        "openapi_to_postman", ROOT / "scripts" / "openapi_to_postman.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    committed = (ROOT / "docs" / "jklg.postman_collection.json").read_text()
    assert committed == module.render(DOCUMENT), (
        "docs/jklg.postman_collection.json is stale: run "
        "scripts/openapi_to_postman.py > docs/jklg.postman_collection.json")
    collection = json.loads(committed)
    assert collection["info"]["schema"].endswith("/v2.1.0/collection.json")
    requests_in = [i for folder in collection["item"] for i in folder["item"]]
    assert len(requests_in) == len(routes_table())
    assert {v["key"] for v in collection["variable"]} >= {
        "baseUrl", "token", "staffUser", "staffPassword"}


BODY_ROUTES = sorted(routes_table("JKLG_BODY"))


@pytest.mark.parametrize("method,template", BODY_ROUTES,
                         ids=[f"{m} {p}" for m, p in BODY_ROUTES])
def test_every_body_route_refuses_bad_bodies(server, staff, method, template):
    """400, 415 and 413 come before any handler, whatever the route: sent to
    every route that reads a JSON body, so the contract check sees each
    documented one (and the answers change nothing: the ids are random)."""
    url = server.url + template.replace("{id}", str(uuid.uuid4()))
    auth = staff if template.startswith("/api/admin/") else None
    # Its own client address: refused bodies must not use anyone's limits.
    headers = {"X-Forwarded-For": "198.51.100.77"}
    cases = [(b"{not json", "application/json", 400, "invalid_json"),
             (b"[1, 2]", "application/json", 400, "invalid_json"),
             (b"{}", "text/plain", 415, "unsupported_media_type"),
             (b'{"pad": "' + b"x" * (MAX_BODY + 100) + b'"}',
              "application/json", 413, "payload_too_large")]
    for body, ctype, status, code in cases:
        resp = requests.request(method, url, data=body, auth=auth,
                                headers=dict(headers, **{"Content-Type": ctype}))
        assert resp.status_code == status, (body[:20], resp.text)
        assert resp.json()["error"]["code"] == code
