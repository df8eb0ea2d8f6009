"""Reading GET /api/admin/metrics (docs/operations.md, "Metrics")."""

import re

from harness.payments import Staff

# Label values may hold braces themselves: route="/api/x/{id}".
SAMPLE = re.compile(r'^(jklg_[a-z_]+)(\{(?:[a-z_]+="[^"]*",?)+\})? '
                    r'(-?[0-9.e+]+)$')


def scrape(server):
    resp = Staff(server).get("/metrics")
    assert resp.status_code == 200, resp.text
    assert resp.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    return resp.text


def samples(text):
    """{(name, labels): value} of every sample line; every other line
    must be a HELP or TYPE comment."""
    out = {}
    for line in text.splitlines():
        if line.startswith("# HELP jklg_") or line.startswith("# TYPE jklg_"):
            continue
        m = SAMPLE.match(line)
        assert m, f"not a Prometheus sample: {line!r}"
        out[(m.group(1), m.group(2) or "")] = float(m.group(3))
    return out


def value(text, name, labels=""):
    return samples(text).get((name, labels), 0.0)
