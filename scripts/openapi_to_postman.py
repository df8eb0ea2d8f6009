#!/usr/bin/python3
"""Generates the Postman collection (v2.1) from docs/openapi.yaml.

    scripts/openapi_to_postman.py [openapi.yaml] > docs/jklg.postman_collection.json

One folder per tag, one request per operation. Collection variables:
baseUrl, token (set by the login request's test script), staffUser,
staffPassword, id (path ids) and stripeSignature. Request bodies are
examples built from the schemas. The output is deterministic, so a test
can check that the committed collection is the document's
(tests/test_openapi.py)."""

import json
import sys
from pathlib import Path

import yaml

SCHEMA_URL = ("https://schema.getpostman.com/json/collection/v2.1.0/"
              "collection.json")
VARIABLES = [("baseUrl", "http://localhost:8080"), ("token", ""),
             ("staffUser", "staff"), ("staffPassword", ""),
             ("id", ""), ("stripeSignature", "t=0,v1=")]
# Example values for request fields, by name; others follow their type.
EXAMPLES = {
    "email": "ana@example.com", "customer_email": "ana@example.com",
    "to": "ops@travel.example", "password": "a long passphrase 42",
    "current_password": "a long passphrase 42",
    "new_password": "another long passphrase 43",
    "first_name": "Ana", "last_name": "Silva", "phone": "+351 912 345 678",
    "token": "TOKEN-FROM-THE-EMAIL", "label": "Home",
    "line1": "Rua Augusta 1", "line2": None, "city": "Lisboa",
    "region": None, "postal_code": "1100-048", "country": "PT",
    "language": "en", "currency": "eur", "description": "Lisbon, 4 nights",
    "travel_start": "2027-05-01", "travel_end": "2027-05-05",
    "amount_total": 123450, "amount": 20000, "reason": "one night less",
    "method": "bank_transfer", "note": "transfer ref 2027-0042",
    "template": "booking_confirmation", "booking_id": "{{id}}",
    "customer_id": "{{id}}", "id": "evt_...", "type": "payment_intent.succeeded",
}


class Document:
    def __init__(self, doc):
        self.doc = doc

    def deref(self, obj):
        while isinstance(obj, dict) and "$ref" in obj:
            node = self.doc
            for part in obj["$ref"].lstrip("#/").split("/"):
                node = node[part]
            obj = node
        return obj

    def merged(self, schema):
        """The schema with its $ref and allOf folded into one object."""
        schema = self.deref(schema)
        if "allOf" not in schema:
            return schema
        out = {k: v for k, v in schema.items() if k != "allOf"}
        for part in schema["allOf"]:
            part = self.merged(part)
            out.setdefault("properties", {}).update(part.get("properties", {}))
            out["required"] = out.get("required", []) + part.get("required", [])
        return out

    def example(self, schema, name=None):
        schema = self.merged(schema)
        if name in EXAMPLES:
            return EXAMPLES[name]
        if "default" in schema:
            return schema["default"]
        if "const" in schema:
            return schema["const"]
        if "enum" in schema:
            return schema["enum"][0]
        kind = schema.get("type", "object")
        if isinstance(kind, list):
            kind = kind[0]
        if kind == "object":
            props = schema.get("properties", {})
            required = schema.get("required", [])
            if "oneOf" in schema:  # the first alternative's members
                required = required + schema["oneOf"][0].get("required", [])
            keys = [k for k in props if k in required] or list(props)
            if "oneOf" in schema:
                others = {k for alt in schema["oneOf"][1:]
                          for k in alt.get("required", [])}
                keys = [k for k in keys if k not in others]
            return {k: self.example(props[k], k) for k in keys}
        if kind == "array":
            return [self.example(schema.get("items", {}))]
        if kind == "integer":
            return schema.get("minimum", 1)
        if kind == "boolean":
            return False
        return "string"


def auth_for(op):
    schemes = [name for req in op.get("security", []) for name in req]
    if "customerJwt" in schemes:
        return {"type": "bearer",
                "bearer": [{"key": "token", "value": "{{token}}",
                            "type": "string"}]}
    if "staffBasic" in schemes:
        return {"type": "basic",
                "basic": [{"key": "username", "value": "{{staffUser}}",
                           "type": "string"},
                          {"key": "password", "value": "{{staffPassword}}",
                           "type": "string"}]}
    return {"type": "noauth"}


def url_for(template, params):
    path = [(":" + seg[1:-1]) if seg.startswith("{") else seg
            for seg in template.strip("/").split("/")]
    query = [p for p in params if p["in"] == "query"]
    raw = "{{baseUrl}}/" + "/".join(path)
    url = {"raw": raw, "host": ["{{baseUrl}}"], "path": path}
    if query:
        url["query"] = [{"key": p["name"], "value": "", "disabled": True,
                         "description": p.get("description", "")}
                        for p in query]
        url["raw"] += "?" + "&".join(f"{p['name']}=" for p in query)
    variables = [{"key": p["name"], "value": "{{" + p["name"] + "}}"}
                 for p in params if p["in"] == "path"]
    if variables:
        url["variable"] = variables
    return url


def item_for(doc, template, path_item, method, op):
    params = [doc.deref(p) for p in path_item.get("parameters", [])
              + op.get("parameters", [])]
    headers = []
    request = {"method": method.upper(), "header": headers,
               "auth": auth_for(op), "url": url_for(template, params)}
    schemes = [n for req in op.get("security", []) for n in req]
    if "stripeSignature" in schemes:
        headers.append({"key": "Stripe-Signature",
                        "value": "{{stripeSignature}}"})
    for p in params:
        if p["in"] == "header":
            headers.append({"key": p["name"], "value": "", "disabled": True,
                            "description": p.get("description", "")})
    body = op.get("requestBody")
    if body:
        schema = body["content"]["application/json"]["schema"]
        headers.insert(0, {"key": "Content-Type", "value": "application/json"})
        request["body"] = {"mode": "raw",
                           "raw": json.dumps(doc.example(schema), indent=2),
                           "options": {"raw": {"language": "json"}}}
    description = op.get("description", "")
    statuses = ", ".join(op["responses"])
    request["description"] = (description + "\n\n" if description else "") \
        + f"Answers: {statuses}."
    item = {"name": f"{method.upper()} {template}"
                    + (f" — {op['summary']}" if op.get("summary") else ""),
            "request": request}
    if op.get("operationId") == "login":
        item["event"] = [{"listen": "test", "script": {"type": "text/javascript", "exec": [
            "if (pm.response.code === 200) {",
            "    pm.collectionVariables.set(\"token\", pm.response.json().token);",
            "}"]}}]
    return item


def collection(spec):
    doc = Document(spec)
    folders = {tag["name"]: [] for tag in spec.get("tags", [])}
    for template, path_item in spec["paths"].items():
        for method in ("get", "put", "post", "delete", "patch"):
            if method in path_item:
                op = path_item[method]
                tag = (op.get("tags") or ["other"])[0]
                folders.setdefault(tag, []).append(
                    item_for(doc, template, path_item, method, op))
    return {
        "info": {"name": spec["info"]["title"],
                 "description": "Generated from docs/openapi.yaml by "
                                "scripts/openapi_to_postman.py; do not edit.",
                 "schema": SCHEMA_URL,
                 "version": spec["info"]["version"]},
        "item": [{"name": name, "item": items}
                 for name, items in folders.items() if items],
        "variable": [{"key": k, "value": v, "type": "string"}
                     for k, v in VARIABLES],
    }


def render(path):
    spec = yaml.safe_load(Path(path).read_text())
    return json.dumps(collection(spec), indent=2, ensure_ascii=False) + "\n"


if __name__ == "__main__":
    default = Path(__file__).resolve().parents[1] / "docs" / "openapi.yaml"
    sys.stdout.write(render(sys.argv[1] if len(sys.argv) > 1 else default))
