"""Rows that only history keeps alive are deleted by the module itself:
each child purges on its first mail sweep and then about once an hour."""

import time


def count(db, sql, *args):
    with db.cursor() as cur:
        cur.execute(sql, args)
        return cur.fetchone()[0]


def test_new_children_purge_expired_rows(server, db):
    with db.cursor() as cur:
        cur.execute("INSERT INTO customers (email, password_hash, first_name,"
                    " last_name) VALUES ('purge@jklg.test', 'x', 'P', 'G')"
                    " RETURNING id")
        customer = cur.fetchone()[0]
        cur.execute("INSERT INTO customer_sessions (customer_id, expires_at)"
                    " VALUES (%s, now() - interval '2 days'),"
                    "        (%s, now() + interval '2 days')",
                    (customer, customer))
        cur.execute("INSERT INTO password_reset_tokens (customer_id,"
                    " token_hash, expires_at) VALUES (%s,"
                    " decode(repeat('ab', 32), 'hex'),"
                    " now() - interval '2 days')", (customer,))
        # Pending MFA logins (sql/011): expired two days ago, and live.
        cur.execute("INSERT INTO mfa_tokens (token_hash, customer_id,"
                    " expires_at) VALUES (decode(repeat('cd', 32), 'hex'),"
                    " %s, now() - interval '2 days'),"
                    " (decode(repeat('ef', 32), 'hex'), %s,"
                    " now() + interval '5 minutes')", (customer, customer))
        cur.execute("INSERT INTO email_outbox (template, recipient, status,"
                    " sent_at) VALUES ('test', 'old@jklg.test', 'sent',"
                    " now() - interval '31 days'), ('test', 'new@jklg.test',"
                    " 'sent', now())")
    server.graceful()           # new children: their first sweep purges
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and count(
            db, "SELECT count(*) FROM customer_sessions"
                " WHERE customer_id = %s", customer) > 1:
        time.sleep(0.2)
    # The links' purge follows the outbox's in the same sweep.
    while time.monotonic() < deadline and count(
            db, "SELECT count(*) FROM mfa_tokens WHERE customer_id = %s",
            customer) > 1:
        time.sleep(0.2)
    assert count(db, "SELECT count(*) FROM mfa_tokens WHERE customer_id = %s"
                     " AND expires_at > now()", customer) == 1
    assert count(db, "SELECT count(*) FROM mfa_tokens"
                     " WHERE customer_id = %s", customer) == 1
    assert count(db, "SELECT count(*) FROM customer_sessions"
                     " WHERE customer_id = %s AND expires_at > now()",
                 customer) == 1
    assert count(db, "SELECT count(*) FROM customer_sessions"
                     " WHERE customer_id = %s", customer) == 1
    assert count(db, "SELECT count(*) FROM password_reset_tokens"
                     " WHERE customer_id = %s", customer) == 0
    assert count(db, "SELECT count(*) FROM email_outbox"
                     " WHERE recipient = 'old@jklg.test'") == 0
    assert count(db, "SELECT count(*) FROM email_outbox"
                     " WHERE recipient = 'new@jklg.test'") == 1
