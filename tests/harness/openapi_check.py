"""The contract check: every response the HTTP suite receives from the
module through `requests` is checked against docs/openapi.yaml.

`requests.Session.send` is wrapped once per session (every `requests.get`,
`requests.post` and Session goes through it, each redirect hop too). A
response is matched to its operation by method and path template; its
status must be documented for that operation, its headers marked required
must be there, and a JSON body must validate (Draft 2020-12, `$ref`s
resolved against the whole document). Failures are collected, not raised
inside requests: the autouse fixture `openapi_clean` fails the test during
which they happened, naming the operation, the status and the error.

Out of scope (counted as skipped, listed in the summary):
- requests outside `/api` (the Stripe stand-in's `/v1/...`, web pages);
- Apache's own answers, not the module's: an HTML body with a status the
  module never produces that way (401 from `AuthType Basic` in front of
  `/api/admin`, 400/408/413/414/431/501 from the protocol layer);
- bodies of streamed responses (`stream=True`): the status is checked;
- `text/plain` bodies (metrics): the content type is checked, not the text.

The rules that hold for paths and methods the document does not list
(its `info.description`) are checked too: unknown path 404, known path
and other method 405 with `Allow`, OPTIONS 204, `/api/admin` without a
user 403, HEAD like GET without a body.

The terminal summary (and `openapi-coverage.txt` in pytest's base temp
directory) lists the (operation, status) pairs validated and the
documented pairs no test exercised."""

import json
import re
import threading
from collections import Counter
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import requests
import yaml
from jsonschema import Draft202012Validator, FormatChecker, RefResolver

DOCUMENT = Path(__file__).resolve().parents[2] / "docs" / "openapi.yaml"
METHODS = ("get", "put", "post", "delete", "patch")
# Statuses for which Apache (not the module) answers with its own HTML page.
APACHE_STATUSES = {400, 401, 408, 413, 414, 431, 501}


class Contract:
    """The document, its operations and what was seen during the run."""

    def __init__(self, path=DOCUMENT):
        self.doc = yaml.safe_load(path.read_text())
        self.resolver = RefResolver("", self.doc)
        self.routes = []
        for template, item in self.doc["paths"].items():
            pattern = re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(template))
            ops = {m.upper(): item[m] for m in METHODS if m in item}
            self.routes.append((re.compile(pattern + r"\Z"), template, ops))
        self.lock = threading.Lock()
        self.failures = []
        self.seen = Counter()
        self.skipped = Counter()
        self._validators = {}

    def documented(self):
        """Every (operation, status) pair the document lists."""
        pairs = []
        for _, template, ops in self.routes:
            for method, op in ops.items():
                for status in op["responses"]:
                    pairs.append((f"{method} {template}", str(status)))
        return pairs

    def deref(self, obj):
        while isinstance(obj, dict) and "$ref" in obj and len(obj) == 1:
            _, obj = self.resolver.resolve(obj["$ref"])
        return obj

    def validator(self, schema):
        key = json.dumps(schema, sort_keys=True)
        if key not in self._validators:
            self._validators[key] = Draft202012Validator(
                schema, resolver=self.resolver, format_checker=FormatChecker())
        return self._validators[key]

    # The operation, and what a response outside the listed operations
    # must be (the document's general rules).
    def expect(self, method, path):
        admin = path == "/api/admin" or path.startswith("/api/admin/")
        for pattern, template, ops in self.routes:
            if not pattern.match(path):
                continue
            if method in ops:
                return f"{method} {template}", ops[method], None
            if method == "HEAD" and "GET" in ops:
                return f"HEAD {template}", ops["GET"], "head"
            if method == "OPTIONS":
                return f"OPTIONS {template}", None, "options"
            return f"{method} {template} (not allowed)", None, (
                "admin_405" if admin else "405")
        name = f"{method} (unknown path under /api)"
        return name, None, ("admin_404" if admin else "404")

    def record(self, name, status, problem=None):
        with self.lock:
            if problem:
                self.failures.append(f"{name} -> {status}: {problem}")
            else:
                self.seen[(name, str(status))] += 1

    def skip(self, why):
        with self.lock:
            self.skipped[why] += 1

    def check(self, request, response, streamed):
        url = urlsplit(request.url)
        path = url.path
        if not (path == "/api" or path.startswith("/api/")):
            return
        status = response.status_code
        ctype = response.headers.get("Content-Type", "")
        if ctype.startswith("text/html") and status in APACHE_STATUSES:
            self.skip(f"Apache's own {status} page")
            return
        method = request.method.upper()
        name, op, rule = self.expect(method, path)
        problem = self._problem(op, rule, status, response, streamed,
                                method == "HEAD")
        self.record(name, status, problem)

    def _problem(self, op, rule, status, response, streamed, head):
        responses = self.doc["components"]["responses"]
        if op is not None:
            spec = op["responses"].get(str(status))
            if spec is None:
                return ("status not documented for this operation "
                        f"(documented: {', '.join(op['responses'])})")
            spec = self.deref(spec)
        elif rule == "options":
            return None if status == 204 else "OPTIONS must answer 204"
        else:
            allowed = {"404": {404: "NotFound"},
                       "405": {405: "MethodNotAllowed"},
                       "admin_404": {403: "Forbidden", 404: "NotFound"},
                       "admin_405": {403: "Forbidden",
                                     405: "MethodNotAllowed"}}[rule]
            if status not in allowed:
                return (f"the document's general rules allow only "
                        f"{sorted(allowed)} here")
            spec = responses[allowed[status]]
        return (self._headers_problem(spec, response)
                or self._body_problem(spec, response, streamed or head))

    def _headers_problem(self, spec, response):
        for header, hspec in (spec.get("headers") or {}).items():
            hspec = self.deref(hspec)
            value = response.headers.get(header)
            if value is None:
                if hspec.get("required"):
                    return f"required header {header} missing"
                continue
            schema = hspec.get("schema", {})
            if "const" in schema and value != schema["const"]:
                return f"header {header}: {value!r}, documented {schema['const']!r}"
            if schema.get("type") == "integer" and not value.isdigit():
                return f"header {header}: {value!r} is not an integer"
        return None

    def _body_problem(self, spec, response, skip_body):
        content = spec.get("content")
        ctype = response.headers.get("Content-Type", "")
        if not content:
            if skip_body:
                return None
            if response.content:
                return f"no body documented, got {len(response.content)} bytes"
            return None
        media = ctype.split(";")[0].strip().lower()
        documented = {k.split(";")[0].strip(): v for k, v in content.items()}
        if media not in documented:
            return (f"Content-Type {ctype!r} not documented "
                    f"({', '.join(content)})")
        if media == "application/json" and "charset=utf-8" not in \
                ctype.replace(" ", "").lower():
            return f"Content-Type {ctype!r} lacks charset=utf-8"
        if skip_body or media != "application/json":
            return None
        try:
            body = json.loads(response.content)
        except ValueError as exc:
            return f"body is not JSON: {exc}"
        errors = sorted(self.validator(documented[media]["schema"])
                        .iter_errors(body), key=lambda e: list(e.path))
        if not errors:
            return None
        best = errors[0]
        where = "/".join(str(p) for p in best.absolute_path) or "(body)"
        return (f"body does not match the document at {where}: "
                f"{best.message}\n    body: {response.text[:500]}")


CONTRACT = None
_original_send = requests.Session.send


def _checked_send(session, request, **kwargs):
    response = _original_send(session, request, **kwargs)
    try:
        CONTRACT.check(request, response, kwargs.get("stream", False))
    except Exception as exc:  # a bug here must not pass for a module bug
        CONTRACT.record(request.method, response.status_code,
                        f"contract check crashed: {exc!r}")
    return response


def pytest_configure(config):
    global CONTRACT
    CONTRACT = Contract()
    requests.Session.send = _checked_send


def pytest_unconfigure(config):
    requests.Session.send = _original_send


@pytest.fixture(autouse=True)
def openapi_clean():
    """Fails a test that received a response the document does not allow."""
    yield
    with CONTRACT.lock:
        failures = CONTRACT.failures[:]
        CONTRACT.failures.clear()
    assert not failures, ("responses that do not match docs/openapi.yaml:\n"
                          + "\n".join(failures))


def coverage_report(contract):
    """One line per operation: the statuses validated and the documented
    ones no test exercised; then the general rules and the skipped."""
    documented = contract.documented()
    seen = contract.seen
    hit = [p for p in documented if p in seen]
    lines = [f"{sum(seen.values())} responses validated; documented "
             f"(operation, status) pairs exercised: {len(hit)} of "
             f"{len(documented)}"]
    ops = {}
    for name, status in documented:
        ops.setdefault(name, []).append(status)
    for name, statuses in ops.items():
        done = [s for s in statuses if (name, s) in seen]
        todo = [s for s in statuses if (name, s) not in seen]
        lines.append(f"  {name:48} validated: {' '.join(done) or '-'}"
                     f"  | not exercised: {' '.join(todo) or '-'}")
    other = sorted(p for p in seen if p[0] not in ops)
    if other:
        lines.append("general rules (unlisted paths and methods, HEAD, "
                     "OPTIONS):")
        lines += [f"  {name} {status}: {seen[(name, status)]}"
                  for name, status in other]
    if contract.skipped:
        lines.append("out of scope (not the module's answer):")
        lines += [f"  {why}: {n}" for why, n in sorted(contract.skipped.items())]
    return "\n".join(lines)


def pytest_terminal_summary(terminalreporter, config):
    if CONTRACT is None or not CONTRACT.seen:
        return
    report = coverage_report(CONTRACT)
    try:
        base = config._tmp_path_factory.getbasetemp()
        (base / "openapi-coverage.txt").write_text(report + "\n")
        where = f" (also in {base / 'openapi-coverage.txt'})"
    except Exception:  # no tmp dir: the terminal is enough
        where = ""
    terminalreporter.section("OpenAPI contract coverage" + where)
    terminalreporter.write_line(report)
