"""GET /api/admin/metrics (docs/operations.md, "Metrics"): Prometheus text
format, staff only, counters summed over every child process of the
server, the outbox read from the database."""

import re

import requests

from harness.metrics import samples, scrape, value
from harness.payments import (confirm_and_deliver,
                              customer_with_booking, deliver, open_intent)

METRICS = "/api/admin/metrics"


HEALTH_200 = '{route="/api/health",method="GET",status="200"}'


def test_metrics_is_staff_only(server):
    resp = requests.get(server.no_auth_url + METRICS, timeout=10)
    assert resp.status_code == 403
    assert resp.json()["error"]["code"] == "forbidden"
    resp = requests.get(server.url + METRICS, timeout=10)
    assert resp.status_code == 401         # Apache's own Basic auth


def test_every_line_is_a_sample_or_a_comment(server):
    text = scrape(server)
    s = samples(text)
    for name in ("jklg_db_acquire_failures_total",
                 "jklg_password_hash_waiting",
                 "jklg_outbox_oldest_age_seconds"):
        assert (name, "") in s, name
    for state in ("queued", "sending", "sent", "failed"):
        assert ("jklg_outbox_messages", f'{{state="{state}"}}') in s
    for kind in ("jklg_http_requests_total counter",
                 "jklg_http_request_duration_seconds histogram",
                 "jklg_webhook_events_total counter",
                 "jklg_gateway_calls_total counter"):
        assert f"# TYPE {kind}" in text


def test_requests_are_counted_across_children(server):
    before = value(scrape(server), "jklg_http_requests_total", HEALTH_200)
    # A new connection each: the children of the server share the load.
    for _ in range(30):
        assert requests.get(server.url + "/api/health", timeout=10,
                            headers={"Connection": "close"}).status_code == 200
    after = value(scrape(server), "jklg_http_requests_total", HEALTH_200)
    assert after - before == 30


def test_statuses_and_unmatched_routes(server):
    before = scrape(server)
    requests.get(server.url + "/api/no/such/route", timeout=10)
    requests.delete(server.url + "/api/health", timeout=10)
    requests.post(server.url + "/api/customers/login", data="{", timeout=10,
                  headers={"Content-Type": "application/json"})
    after = scrape(server)
    for labels in ('{route="other",method="GET",status="404"}',
                   '{route="other",method="DELETE",status="405"}',
                   '{route="/api/customers/login",method="POST",'
                   'status="400"}'):
        assert value(after, "jklg_http_requests_total", labels) - \
            value(before, "jklg_http_requests_total", labels) == 1, labels


def test_latency_histogram_is_consistent(server):
    requests.get(server.url + "/api/health", timeout=10)
    s = samples(scrape(server))
    route = '/api/health'
    buckets = sorted(((float("inf") if labels.endswith('le="+Inf"}') else
                       float(re.search(r'le="([^"]+)"', labels).group(1)), v)
                      for (name, labels), v in s.items()
                      if name == "jklg_http_request_duration_seconds_bucket"
                      and f'route="{route}"' in labels))
    counts = [v for _, v in buckets]
    assert counts == sorted(counts), buckets          # cumulative
    total = s[("jklg_http_request_duration_seconds_count",
               f'{{route="{route}"}}')]
    assert counts[-1] == total and total >= 1
    assert s[("jklg_http_request_duration_seconds_sum",
              f'{{route="{route}"}}')] > 0


def test_outbox_gauges_follow_the_database(server, db):
    with db.cursor() as cur:
        cur.execute("INSERT INTO email_outbox (template, recipient, status,"
                    " created_at, next_attempt_at) VALUES ('verification',"
                    " 'metrics@example.com', 'failed', now() - interval"
                    " '1 hour', now() + interval '1 day') RETURNING id")
        row = cur.fetchone()[0]
    try:
        before = value(scrape(server), "jklg_outbox_messages",
                       '{state="failed"}')
        cur = db.cursor()
        cur.execute("SELECT count(*) FROM email_outbox WHERE status = 'failed'")
        assert before == cur.fetchone()[0] >= 1
    finally:
        with db.cursor() as cur:
            cur.execute("DELETE FROM email_outbox WHERE id = %s", (row,))


def test_webhooks_and_gateway_calls_are_counted(server, mail, stripe):
    before = scrape(server)
    account, client, staff, booking = customer_with_booking(server, mail)
    tx, _ = open_intent(client, booking["id"])           # one create call
    event = confirm_and_deliver(stripe, tx["gateway_ref"])
    deliver(stripe, event)                               # again: duplicate
    requests.post(stripe.webhook_url, data=b'{"id": "evt_x"}', timeout=10,
                  headers={"Content-Type": "application/json",
                           "Stripe-Signature": "t=1,v1=00"})
    after = scrape(server)

    def delta(name, labels):
        return value(after, name, labels) - value(before, name, labels)

    succeeded = 'type="payment_intent.succeeded"'
    assert delta("jklg_webhook_events_total",
                 f'{{{succeeded},outcome="applied"}}') == 1
    assert delta("jklg_webhook_events_total",
                 f'{{{succeeded},outcome="duplicate"}}') == 1
    assert delta("jklg_webhook_events_total",
                 '{type="unknown",outcome="invalid_signature"}') == 1
    assert delta("jklg_gateway_calls_total",
                 '{gateway="stripe",outcome="ok"}') >= 1
