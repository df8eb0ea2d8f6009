"""Plans that only go wrong at an agency's size (sql/025, docs/testing.md
"At an agency's size"). The suite's tables hold a handful of rows, so
timing proves nothing here: each test reads the plan PostgreSQL chose
(auto_explain's nested plans, sent to this client as notices, or EXPLAIN)
with sequential scans disabled, and asserts that the statement reaches its
rows through an index bounded by its own arguments. Each fails against the
statement or schema before sql/025."""

import collections
import json
import sys
import uuid
from pathlib import Path

import psycopg2
import pytest

from test_schema import cur, new_booking, new_customer, new_transaction  # noqa: F401

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "scripts"))
import scale_explain  # noqa: E402


@pytest.fixture
def su(pg):
    """A superuser's connection: auto_explain and the planner switches
    need one; the tables' owner's rows are all visible to it as to the
    module (RLS is not forced)."""
    conn = psycopg2.connect(pg.url(role="postgres"))
    conn.autocommit = True
    conn.notices = collections.deque()
    yield conn
    conn.close()


def nodes(plan):
    """Every node of a JSON plan tree, subplans included."""
    yield plan
    for child in plan.get("Plans", []):
        yield from nodes(child)


def nested_plans(su, sql, params=()):
    """[(query text, [plan nodes])] of every statement sql ran, nested ones
    included, planned with sequential scans disabled; rolled back."""
    with su.cursor() as c:
        c.execute("LOAD 'auto_explain'")
        c.execute("BEGIN")
        for setting in ("auto_explain.log_min_duration = 0",
                        "auto_explain.log_nested_statements = on",
                        "auto_explain.log_format = json",
                        "auto_explain.log_level = notice",
                        "client_min_messages = notice",
                        "enable_seqscan = off"):
            c.execute("SET LOCAL " + setting)
        su.notices.clear()
        c.execute(sql, params)
        c.execute("ROLLBACK")
    plans = []
    for notice in su.notices:
        if "plan:" not in notice:
            continue
        doc = json.loads(notice.split("plan:", 1)[1])
        plans.append((doc["Query Text"], list(nodes(doc["Plan"]))))
    return plans


def explain(su, sql, params=()):
    """The plan nodes of one statement, with sequential scans disabled."""
    with su.cursor() as c:
        c.execute("BEGIN")
        c.execute("SET LOCAL enable_seqscan = off")
        c.execute("EXPLAIN (FORMAT JSON) " + sql, params)
        plan = c.fetchone()[0][0]["Plan"]
        c.execute("ROLLBACK")
    return list(nodes(plan))


def scans_of(plans, table, text=None):
    """The scan nodes on table, of the statements whose text contains text."""
    return [n for query, ns in plans if text is None or text in query
            for n in ns if n.get("Relation Name") == table]


CONDITIONS = ("Index Cond", "Filter", "Recheck Cond", "Join Filter", "Hash Cond")


def conditions(plans, text):
    """The conditions of every node of the statements containing text."""
    return " ".join(n.get(k, "") for query, ns in plans if text in query
                    for n in ns for k in CONDITIONS)


def test_staff_transactions_plans_with_the_filters_given(cur, su):
    # As a LANGUAGE sql function its query was planned without the values:
    # "(p_booking IS NULL OR t.booking_id = p_booking)" bound no index, and
    # GET /api/admin/transactions read every transaction (9-15 s at
    # 400,000). Planned with the call's values, a filter left NULL is gone
    # and one given is a condition on its value, which an index can bound.
    customer = new_customer(cur)
    booking = new_booking(cur, customer)
    new_transaction(cur, booking, 1000)
    call = ("SELECT outcome FROM jklg.staff_transactions(p_status => NULL,"
            " p_booking => %(b)s, p_customer => %(c)s, p_since => NULL,"
            " p_until => NULL, p_after_time => NULL, p_after_id => NULL,"
            " p_limit => 20)")
    for _ in range(7):      # past the plan cache's five custom plans
        by_booking = conditions(nested_plans(su, call, {"b": booking, "c": None}),
                                "FROM transactions t")
        assert str(booking) in by_booking and "IS NULL" not in by_booking, \
            by_booking
    by_customer = conditions(nested_plans(su, call, {"b": None, "c": customer}),
                             "FROM transactions t")
    assert str(customer) in by_customer and "IS NULL" not in by_customer, \
        by_customer


def test_staff_transactions_still_pages_and_filters(cur):
    customer = new_customer(cur)
    booking = new_booking(cur, customer)
    ids = [new_transaction(cur, booking, 100 + k) for k in range(3)]
    other = new_transaction(cur, new_booking(cur), 500)
    cur.execute("SELECT outcome, body FROM jklg.staff_transactions("
                "p_status => NULL, p_booking => NULL, p_customer => %s,"
                " p_since => NULL, p_until => NULL, p_after_time => NULL,"
                " p_after_id => NULL, p_limit => 2)", (customer,))
    outcome, body = cur.fetchone()
    assert outcome == "ok"
    assert len(body["data"]) == 2 and body["next_cursor"]
    got = {t["id"] for t in body["data"]}
    assert got <= {str(i) for i in ids} and str(other) not in got


def test_balance_reminders_read_one_week_of_due_dates(su):
    # "x.due_date - 7 <= today" bound no index: the reminder query read
    # every pending installment due from today on (3.5 s at 400,000).
    plans = nested_plans(su, "SELECT outcome FROM jklg.balance_due(300, 3, 20,"
                             " 'https://agency.example.com')")
    # An index scan, or a bitmap scan (its Bitmap Index Scan node names
    # the index, not the table), once the suite has stored more rows.
    scans = [n for query, ns in plans if "payment_reminder" in query
             for n in ns if n.get("Relation Name") == "installments"
             or n.get("Index Name", "").startswith("installments_")]
    assert scans, plans
    conds = " ".join(n.get(k, "") for n in scans
                     for k in ("Index Cond", "Recheck Cond"))
    assert "due_date >=" in conds and "due_date <=" in conds, scans


def test_metrics_count_the_outbox_through_its_partial_indexes(su):
    # Counted with FILTERs over the whole table, every scrape of
    # /api/admin/metrics read every mail kept (1.5 s at 500,000).
    sql = dict(scale_explain.statements())["jklg_m_outbox"]
    plan = explain(su, sql)
    assert not [n for n in plan if n["Node Type"] == "Seq Scan"], plan
    with su.cursor() as c:
        c.execute("SELECT indexrelid::regclass::text, indpred IS NOT NULL"
                  " FROM pg_index WHERE indrelid = 'email_outbox'::regclass")
        partial = dict(c.fetchall())
    used = [n["Index Name"] for n in plan if n.get("Index Name") in partial]
    assert used and all(partial[name] for name in used), used


def test_metrics_outbox_counts_are_still_right(cur, su):
    sql = dict(scale_explain.statements())["jklg_m_outbox"]
    with su.cursor() as c:
        c.execute("BEGIN")
        c.execute("DELETE FROM email_outbox")
        c.execute("INSERT INTO email_outbox (template, recipient, status,"
                  " created_at) VALUES ('t', 'a@example.com', 'queued',"
                  " now() - interval '100 seconds'), ('t', 'b@example.com',"
                  " 'sending', now()), ('t', 'c@example.com', 'sent', now()),"
                  " ('t', 'd@example.com', 'sent', now() - interval '1 day'),"
                  " ('t', 'e@example.com', 'failed', now() - interval '1 week')")
        c.execute(sql)
        queued, sending, sent, failed, oldest = c.fetchone()
        c.execute("ROLLBACK")
    assert (queued, sending, sent, failed) == (1, 1, 2, 1)
    assert 100 <= oldest < 200


def test_erasure_deletes_saved_cards_through_an_index(su):
    # The only index on payment_methods.customer_id was partial (cards not
    # detached): erasure's DELETE and the cascade from customers scanned
    # every saved card.
    scans = [n for n in explain(su, "DELETE FROM payment_methods"
                                    " WHERE customer_id = %s",
                                (str(uuid.uuid4()),))
             if n.get("Relation Name") == "payment_methods"]
    assert scans and all(n["Node Type"] != "Seq Scan" for n in scans), scans


def test_reconciliation_finds_the_last_run_of_its_gateway_by_index(su):
    # max(started_at) of the gateway's succeeded runs walked every run
    # (24 a day, kept forever) filtering on gateway and status.
    plans = nested_plans(su, "SELECT outcome FROM jklg.reconcile_start("
                             "p_gateway => 'scale_test', p_staff => 'staff',"
                             " p_interval => 3600, p_overlap => 300,"
                             " p_lookback => 86400, p_stale => 900)")
    scans = scans_of(plans, "reconciliation_runs", "max(started_at)")
    assert scans, plans
    assert all("gateway" in n.get("Index Cond", "") for n in scans), scans
