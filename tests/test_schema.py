"""The database schema against a real PostgreSQL: migrations, constraints,
the booking sync trigger (including under concurrency) and row-level
security. Every test makes its own rows, so order does not matter."""

import re
import shutil
import subprocess
import threading
import uuid
from pathlib import Path

import psycopg2
import psycopg2.errors
import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
MIGRATE = REPO_ROOT / "scripts" / "migrate.sh"
MIGRATIONS = sorted(p.stem for p in (REPO_ROOT / "sql").glob("[0-9][0-9][0-9]_*.sql"))


# -- helpers -----------------------------------------------------------------

@pytest.fixture
def cur(pg):
    """A cursor on an autocommit connection as the schema owner (as the
    module connects)."""
    conn = psycopg2.connect(pg.url())
    conn.autocommit = True
    with conn.cursor() as cursor:
        yield cursor
    conn.close()


def unique(prefix):
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def new_customer(cur):
    cur.execute(
        "INSERT INTO customers (email, password_hash, first_name, last_name)"
        " VALUES (%s, 'hash', 'Ada', 'Lovelace') RETURNING id",
        (unique("c") + "@example.com",))
    return cur.fetchone()[0]


def new_booking(cur, customer_id=None, total=10000, currency="eur"):
    cur.execute(
        "INSERT INTO bookings (reference, customer_id, description, travel_start,"
        " travel_end, amount_total, currency)"
        " VALUES (%s, %s, 'Lisbon, 3 nights', '2026-12-01', '2026-12-04', %s, %s)"
        " RETURNING id",
        (unique("B"), customer_id or new_customer(cur), total, currency))
    return cur.fetchone()[0]


def new_transaction(cur, booking_id, amount, status="succeeded", currency="eur",
                    amount_refunded=0):
    cur.execute(
        "INSERT INTO transactions (booking_id, gateway, amount, amount_refunded,"
        " currency, status) VALUES (%s, 'manual', %s, %s, %s, %s) RETURNING id",
        (booking_id, amount, amount_refunded, currency, status))
    return cur.fetchone()[0]


def booking_state(cur, booking_id):
    cur.execute("SELECT amount_paid, amount_refunded, payment_status FROM bookings"
                " WHERE id = %s", (booking_id,))
    return cur.fetchone()


def fresh_database(pg):
    name = "jklg_" + uuid.uuid4().hex[:10]
    pg.psql(f'CREATE DATABASE "{name}" OWNER jklg', db="postgres")
    return name


def run_migrate(url, script=MIGRATE):
    return subprocess.run(["sh", str(script), url], capture_output=True, text=True)


# -- migrations --------------------------------------------------------------

def test_second_migrate_applies_nothing(pg, cur):
    assert pg.migrate().strip() == "schema up to date"
    cur.execute("SELECT version FROM schema_migrations ORDER BY version")
    assert [row[0] for row in cur.fetchall()] == MIGRATIONS


def test_concurrent_migrate_runs_apply_each_migration_once(pg):
    db = fresh_database(pg)
    url = pg.url(db=db)
    runs = [subprocess.Popen(["sh", str(MIGRATE), url], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True) for _ in range(4)]
    outputs = [run.communicate() for run in runs]
    for run, (out, err) in zip(runs, outputs):
        assert run.returncode == 0, out + err
        assert err == ""
    applied = sorted(line.split()[1] for out, _ in outputs
                     for line in out.splitlines() if line.startswith("applied "))
    assert applied == MIGRATIONS
    assert pg.psql("SELECT count(*) FROM schema_migrations", db=db).strip() \
        == str(len(MIGRATIONS))


def test_failing_migration_leaves_nothing_behind(pg, tmp_path):
    (tmp_path / "scripts").mkdir()
    shutil.copy(MIGRATE, tmp_path / "scripts")
    shutil.copytree(REPO_ROOT / "sql", tmp_path / "sql")
    broken = f"{int(MIGRATIONS[-1][:3]) + 1:03d}_broken"
    (tmp_path / "sql" / f"{broken}.sql").write_text(
        "CREATE TABLE half_done (id int);\nSELECT 1 / 0;\n")
    db = fresh_database(pg)

    for _ in range(2):
        result = run_migrate(pg.url(db=db), tmp_path / "scripts" / "migrate.sh")
        assert result.returncode != 0
        assert "division by zero" in result.stderr
    assert pg.psql("SELECT to_regclass('half_done') IS NULL", db=db).strip() == "t"
    recorded = pg.psql("SELECT version FROM schema_migrations ORDER BY 1", db=db)
    assert recorded.split() == MIGRATIONS


def test_migrate_refuses_a_migration_with_its_own_transaction(pg, tmp_path):
    (tmp_path / "scripts").mkdir()
    shutil.copy(MIGRATE, tmp_path / "scripts")
    (tmp_path / "sql").mkdir()
    (tmp_path / "sql" / "001_tx.sql").write_text("BEGIN;\nCREATE TABLE t (id int);\nCOMMIT;\n")
    result = run_migrate(pg.url(db=fresh_database(pg)), tmp_path / "scripts" / "migrate.sh")
    assert result.returncode != 0
    assert "must not contain BEGIN/COMMIT" in result.stderr


# -- constraints -------------------------------------------------------------

BOOKING_SQL = (
    "INSERT INTO bookings (reference, customer_id, description, travel_start, travel_end,"
    " amount_total, currency, status) VALUES (%(ref)s, %(customer)s, 'x', %(start)s,"
    " %(end)s, %(total)s, %(currency)s, %(status)s)")
BOOKING_OK = dict(start="2026-01-01", end="2026-01-02", total=100, currency="eur",
                  status="pending")

TX_SQL = (
    "INSERT INTO transactions (booking_id, gateway, amount, amount_refunded, currency,"
    " status) VALUES (%(booking)s, %(gateway)s, %(amount)s, %(refunded)s, %(currency)s,"
    " %(status)s)")
TX_OK = dict(gateway="stripe", amount=100, refunded=0, currency="eur", status="succeeded")

ADDRESS_SQL = (
    "INSERT INTO customer_addresses (customer_id, line1, city, postal_code, country,"
    " is_default) VALUES (%(customer)s, '1 Rua Augusta', 'Lisboa', '1100-053',"
    " %(country)s, %(default)s)")

REFUSED = [
    ("booking zero total", BOOKING_SQL, {**BOOKING_OK, "total": 0}, "CheckViolation"),
    ("booking negative total", BOOKING_SQL, {**BOOKING_OK, "total": -1}, "CheckViolation"),
    ("booking currency EUR", BOOKING_SQL, {**BOOKING_OK, "currency": "EUR"}, "CheckViolation"),
    ("booking currency eu", BOOKING_SQL, {**BOOKING_OK, "currency": "eu"}, "CheckViolation"),
    ("booking bad status", BOOKING_SQL, {**BOOKING_OK, "status": "shipped"}, "CheckViolation"),
    ("booking ends before start", BOOKING_SQL,
     {**BOOKING_OK, "start": "2026-01-02", "end": "2026-01-01"}, "CheckViolation"),
    ("transaction zero amount", TX_SQL, {**TX_OK, "amount": 0}, "CheckViolation"),
    ("transaction negative amount", TX_SQL, {**TX_OK, "amount": -100}, "CheckViolation"),
    ("transaction currency EUR", TX_SQL, {**TX_OK, "currency": "EUR"}, "CheckViolation"),
    ("transaction currency eu", TX_SQL, {**TX_OK, "currency": "eu"}, "CheckViolation"),
    ("transaction bad status", TX_SQL, {**TX_OK, "status": "paid"}, "CheckViolation"),
    # Gateway names are checked for shape (a new gateway needs no migration).
    ("transaction bad gateway", TX_SQL, {**TX_OK, "gateway": "Pay Pal"}, "CheckViolation"),
    ("transaction refunded more than amount", TX_SQL, {**TX_OK, "refunded": 101},
     "CheckViolation"),
    ("transaction negative refunded", TX_SQL, {**TX_OK, "refunded": -1}, "CheckViolation"),
    ("second default address",
     ADDRESS_SQL + ", (%(customer)s, '2 Rua Augusta', 'Lisboa', '1100-053', 'PT', true)",
     {"country": "PT", "default": True}, "UniqueViolation"),
    ("lowercase country", ADDRESS_SQL, {"country": "pt", "default": False}, "CheckViolation"),
    ("uppercase email",
     "INSERT INTO customers (email, password_hash, first_name, last_name)"
     " VALUES (%(email)s, 'h', 'A', 'B')", {"email": "Ada@Example.com"}, "CheckViolation"),
    ("untrimmed email",
     "INSERT INTO customers (email, password_hash, first_name, last_name)"
     " VALUES (%(email)s, 'h', 'A', 'B')", {"email": " ada@example.com"}, "CheckViolation"),
    ("email over 254 characters",
     "INSERT INTO customers (email, password_hash, first_name, last_name)"
     " VALUES (%(email)s, 'h', 'A', 'B')", {"email": "a" * 243 + "@example.com"},
     "CheckViolation"),
    ("token hash not 32 bytes",
     "INSERT INTO password_reset_tokens (customer_id, token_hash, expires_at)"
     " VALUES (%(customer)s, '\\x00ff'::bytea, now())", {}, "CheckViolation"),
    ("preferences currency EUR",
     "INSERT INTO customer_preferences (customer_id, currency)"
     " VALUES (%(customer)s, 'EUR')", {}, "CheckViolation"),
    ("outbox recipient with CRLF",
     "INSERT INTO email_outbox (template, recipient)"
     " VALUES ('receipt', E'a@example.com\\r\\nBcc: x@example.com')", {}, "CheckViolation"),
    ("outbox bad status",
     "INSERT INTO email_outbox (template, recipient, status)"
     " VALUES ('receipt', 'a@example.com', 'lost')", {}, "CheckViolation"),
    ("refund zero amount",
     "INSERT INTO refunds (transaction_id, amount, currency, requested_by, idempotency_key)"
     " VALUES (%(tx)s, 0, 'eur', 'staff:alice', %(ref)s)", {}, "CheckViolation"),
    ("duplicate gateway reference",
     "INSERT INTO transactions (booking_id, gateway, gateway_ref, amount, currency, status)"
     " VALUES (%(booking)s, 'stripe', %(ref)s, 100, 'eur', 'processing'),"
     "        (%(booking)s, 'stripe', %(ref)s, 100, 'eur', 'processing')", {},
     "UniqueViolation"),
]


@pytest.mark.parametrize("sql,params,error", [r[1:] for r in REFUSED],
                         ids=[r[0] for r in REFUSED])
def test_constraint_refuses(cur, sql, params, error):
    customer = new_customer(cur)
    booking = new_booking(cur, customer)
    tx = new_transaction(cur, booking, 100)
    params = {"customer": customer, "booking": booking, "tx": tx, "ref": unique("r"),
              **params}
    with pytest.raises(getattr(psycopg2.errors, error)):
        cur.execute(sql, params)


def test_one_default_address_per_customer_but_many_customers(cur):
    for _ in range(2):
        customer = new_customer(cur)
        cur.execute(ADDRESS_SQL, {"customer": customer, "country": "PT", "default": True})
        cur.execute(ADDRESS_SQL, {"customer": customer, "country": "PT", "default": False})


def test_email_outbox_columns_are_the_agreed_ones(cur):
    cur.execute("SELECT column_name FROM information_schema.columns"
                " WHERE table_name = 'email_outbox' ORDER BY ordinal_position")
    assert [row[0] for row in cur.fetchall()] == [
        "id", "template", "recipient", "data", "status", "attempts", "next_attempt_at",
        "locked_until", "claim_token", "last_error", "last_attempt_at", "message_id",
        "dedupe_key", "created_at", "sent_at", "language"]


def test_outbox_dedupe_key_makes_an_email_exactly_once(cur):
    key = "receipt:" + str(uuid.uuid4())
    for _ in range(2):
        cur.execute("INSERT INTO email_outbox (template, recipient, data, dedupe_key)"
                    " VALUES ('payment_receipt', 'a@example.com', '{}', %s)"
                    " ON CONFLICT (dedupe_key) DO NOTHING", (key,))
    cur.execute("SELECT status, attempts FROM email_outbox WHERE dedupe_key = %s", (key,))
    assert cur.fetchall() == [("queued", 0)]


def test_jklg_ts_is_rfc3339_utc_whatever_the_session_time_zone(cur):
    cur.execute("SET TimeZone = 'America/New_York'")
    cur.execute("SELECT jklg_ts('2026-11-24 11:00:00.987654+01'), jklg_ts(NULL)")
    assert cur.fetchone() == ("2026-11-24T10:00:00Z", None)


def test_updated_at_follows_changes(cur):
    customer = new_customer(cur)
    cur.execute("UPDATE customers SET updated_at = '2000-01-01', phone = '+351 1'"
                " WHERE id = %s RETURNING updated_at = now()", (customer,))
    assert cur.fetchone()[0] is True


# -- booking sync ------------------------------------------------------------

def test_payments_move_booking_from_partially_paid_to_paid(cur):
    booking = new_booking(cur, total=10000)
    assert booking_state(cur, booking) == (0, 0, "unpaid")
    new_transaction(cur, booking, 4000)
    assert booking_state(cur, booking) == (4000, 0, "partially_paid")
    new_transaction(cur, booking, 6000)
    assert booking_state(cur, booking) == (10000, 0, "paid")


def test_refunds_move_booking_to_partially_refunded_then_refunded(cur):
    booking = new_booking(cur, total=10000)
    tx = new_transaction(cur, booking, 10000)
    cur.execute("UPDATE transactions SET amount_refunded = 2500,"
                " status = 'partially_refunded' WHERE id = %s", (tx,))
    assert booking_state(cur, booking) == (10000, 2500, "partially_refunded")
    cur.execute("UPDATE transactions SET amount_refunded = 10000, status = 'refunded'"
                " WHERE id = %s", (tx,))
    assert booking_state(cur, booking) == (10000, 10000, "refunded")


def test_unsettled_transactions_do_not_count(cur):
    booking = new_booking(cur, total=10000)
    for status in ("requires_payment", "processing", "failed", "canceled"):
        new_transaction(cur, booking, 5000, status=status)
    assert booking_state(cur, booking) == (0, 0, "unpaid")
    cur.execute("UPDATE transactions SET status = 'succeeded'"
                " WHERE booking_id = %s AND status = 'processing'", (booking,))
    assert booking_state(cur, booking) == (5000, 0, "partially_paid")


def test_booking_sync_trigger_names_the_statuses_that_count(cur):
    """sql/028 wrote jklg_tx_counts' statuses into the trigger's WHEN (a
    function there is parsed at every UPDATE): the two lists agree."""
    cur.execute("SELECT pg_get_triggerdef(oid) FROM pg_trigger "
                "WHERE tgname = 'transactions_sync_bookings_update'")
    [(definition,)] = cur.fetchall()
    assert "jklg_tx_counts" not in definition
    cur.execute("SELECT pg_get_constraintdef(oid) FROM pg_constraint "
                "WHERE conrelid = 'transactions'::regclass AND contype = 'c' "
                "AND pg_get_constraintdef(oid) LIKE '%requires_payment%'")
    [(check,)] = cur.fetchall()
    statuses = re.findall(r"'([a-z_]+)'::text", check)
    assert "processing" in statuses and "refunded" in statuses
    counted = set()
    for status in statuses:
        cur.execute("SELECT jklg_tx_counts(%s)", (status,))
        if cur.fetchone()[0]:
            counted.add(status)
    when = definition.split("WHEN", 1)[1].split("EXECUTE", 1)[0]
    for clause in re.findall(r"(new|old)\.status = ANY \(ARRAY\[([^]]*)\]",
                             when):
        assert set(re.findall(r"'([a-z_]+)'", clause[1])) == counted, when
    assert len(re.findall(r"status = ANY", when)) == 2, when


def test_deleting_a_transaction_recomputes(cur):
    booking = new_booking(cur, total=10000)
    tx = new_transaction(cur, booking, 10000)
    assert booking_state(cur, booking)[2] == "paid"
    cur.execute("DELETE FROM transactions WHERE id = %s", (tx,))
    assert booking_state(cur, booking) == (0, 0, "unpaid")


def test_moving_a_transaction_recomputes_both_bookings(cur):
    customer = new_customer(cur)
    first, second = new_booking(cur, customer), new_booking(cur, customer)
    tx = new_transaction(cur, first, 10000)
    cur.execute("UPDATE transactions SET booking_id = %s WHERE id = %s", (second, tx))
    assert booking_state(cur, first) == (0, 0, "unpaid")
    assert booking_state(cur, second) == (10000, 0, "paid")


def test_payment_status_follows_amount_total_and_cannot_be_forced(cur):
    booking = new_booking(cur, total=10000)
    new_transaction(cur, booking, 5000)
    cur.execute("UPDATE bookings SET payment_status = 'paid' WHERE id = %s", (booking,))
    assert booking_state(cur, booking)[2] == "partially_paid"
    cur.execute("UPDATE bookings SET amount_total = 5000 WHERE id = %s", (booking,))
    assert booking_state(cur, booking)[2] == "paid"


def test_concurrent_payments_are_all_counted(pg, cur):
    threads = 12
    total = sum(range(1, threads + 1)) * 100
    booking = new_booking(cur, total=total)
    start = threading.Barrier(threads)
    errors = []

    def pay(amount):
        conn = psycopg2.connect(pg.url())
        try:
            with conn, conn.cursor() as c:
                start.wait()
                c.execute("INSERT INTO transactions (booking_id, gateway, amount,"
                          " currency, status) VALUES (%s, 'manual', %s, 'eur',"
                          " 'succeeded')", (booking, amount))
                # Hold the transaction open so the others overlap with it.
                c.execute("SELECT pg_sleep(0.05)")
        except Exception as e:  # reported below, with the thread's result
            errors.append(e)
        finally:
            conn.close()

    workers = [threading.Thread(target=pay, args=(i * 100,))
               for i in range(1, threads + 1)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    assert errors == []
    assert booking_state(cur, booking) == (total, 0, "paid")


# -- currency ----------------------------------------------------------------

def test_transaction_currency_must_match_booking(cur):
    customer = new_customer(cur)
    eur, usd = new_booking(cur, customer), new_booking(cur, customer, currency="usd")
    with pytest.raises(psycopg2.errors.CheckViolation) as refused:
        new_transaction(cur, eur, 100, currency="usd")
    assert refused.value.diag.constraint_name == "transactions_currency_matches_booking"

    tx = new_transaction(cur, eur, 100)
    with pytest.raises(psycopg2.errors.CheckViolation):
        cur.execute("UPDATE transactions SET booking_id = %s WHERE id = %s", (usd, tx))
    with pytest.raises(psycopg2.errors.CheckViolation):
        cur.execute("UPDATE bookings SET currency = 'usd' WHERE id = %s", (eur,))
    with pytest.raises(psycopg2.errors.CheckViolation):
        cur.execute("INSERT INTO refunds (transaction_id, amount, currency, requested_by,"
                    " idempotency_key) VALUES (%s, 50, 'usd', 'staff:alice', %s)",
                    (tx, unique("idem")))


# -- row-level security ------------------------------------------------------

RLS_ROLE = "jklg_rls_probe"


@pytest.fixture(scope="module")
def rls_role(pg):
    """A role that is not the owner, with ordinary table privileges: what a
    Supabase or reporting role would be given."""
    pg.psql(f"""
        SELECT 'CREATE ROLE {RLS_ROLE} LOGIN'
         WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{RLS_ROLE}') \\gexec
        GRANT USAGE ON SCHEMA public TO {RLS_ROLE};
        GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {RLS_ROLE};
    """)
    return RLS_ROLE


@pytest.fixture
def two_customers(cur):
    """Customers A and B, each with a booking, a payment, an address, a
    session and preferences."""
    data = {}
    for name in ("A", "B"):
        customer = new_customer(cur)
        booking = new_booking(cur, customer)
        tx = new_transaction(cur, booking, 1000)
        cur.execute("INSERT INTO customer_addresses (customer_id, line1, city, postal_code,"
                    " country) VALUES (%s, 'l1', 'Lisboa', '1100', 'PT') RETURNING id",
                    (customer,))
        address = cur.fetchone()[0]
        cur.execute("INSERT INTO customer_sessions (customer_id, expires_at)"
                    " VALUES (%s, now() + interval '1 day') RETURNING id", (customer,))
        session = cur.fetchone()[0]
        cur.execute("INSERT INTO customer_preferences (customer_id) VALUES (%s)", (customer,))
        data[name] = dict(customers=customer, bookings=booking, transactions=tx,
                          customer_addresses=address, customer_sessions=session)
    return data


def as_role(pg, role, sql, customer=None, check=True):
    """Runs sql as role in a fresh psql session, optionally after
    SET jklg.customer_id; returns the output lines without the SET tag."""
    prefix = f"SET jklg.customer_id = '{customer}';\n" if customer is not None else ""
    out = pg.psql(prefix + sql, role=role, check=check)
    lines = out.splitlines()
    if customer is not None and lines and lines[0] == "SET":
        lines = lines[1:]
    return lines


ID_COLUMN = {"customers": "id", "bookings": "id", "transactions": "id",
             "customer_addresses": "id", "customer_sessions": "id",
             "customer_preferences": "customer_id"}


@pytest.mark.parametrize("table", list(ID_COLUMN))
def test_rls_customer_sees_only_own_rows(pg, rls_role, two_customers, table):
    a = two_customers["A"]
    seen = as_role(pg, rls_role, f"SELECT {ID_COLUMN[table]} FROM {table};",
                   customer=a["customers"])
    expected = a["customers"] if table == "customer_preferences" else a[table]
    assert seen == [expected]


def test_rls_cannot_change_other_customers_rows(pg, cur, rls_role, two_customers):
    a, b = two_customers["A"], two_customers["B"]
    out = as_role(pg, rls_role, f"""
        UPDATE customers SET first_name = 'Mallory' WHERE id = '{b["customers"]}';
        UPDATE bookings SET description = 'x' WHERE id = '{b["bookings"]}';
        UPDATE transactions SET note = 'x' WHERE id = '{b["transactions"]}';
        DELETE FROM customer_addresses WHERE id = '{b["customer_addresses"]}';
        DELETE FROM customer_sessions WHERE customer_id = '{b["customers"]}';
        UPDATE customers SET first_name = 'Alice' WHERE id = '{a["customers"]}';
    """, customer=a["customers"])
    assert out == ["UPDATE 0", "UPDATE 0", "UPDATE 0", "DELETE 0", "DELETE 0", "UPDATE 1"]
    cur.execute("SELECT first_name FROM customers WHERE id = %s", (b["customers"],))
    assert cur.fetchone()[0] == "Ada"
    cur.execute("SELECT count(*) FROM customer_addresses WHERE customer_id = %s",
                (b["customers"],))
    assert cur.fetchone()[0] == 1


@pytest.mark.parametrize("table,sql", [
    ("customer_addresses",
     "INSERT INTO customer_addresses (customer_id, line1, city, postal_code, country)"
     " VALUES ('{customers}', 'l1', 'Lisboa', '1100', 'PT')"),
    ("bookings",
     "INSERT INTO bookings (reference, customer_id, description, travel_start, travel_end,"
     " amount_total, currency) VALUES ('{ref}', '{customers}', 'x', '2026-01-01',"
     " '2026-01-02', 100, 'eur')"),
    ("transactions",
     "INSERT INTO transactions (booking_id, gateway, amount, currency, status)"
     " VALUES ('{bookings}', 'manual', 100, 'eur', 'succeeded')"),
    ("customer_sessions",
     "INSERT INTO customer_sessions (customer_id, expires_at) VALUES ('{customers}', now())"),
])
def test_rls_cannot_insert_rows_for_another_customer(pg, rls_role, two_customers, table, sql):
    a, b = two_customers["A"], two_customers["B"]
    out = as_role(pg, rls_role, sql.format(ref=unique("B"), **b) + ";",
                  customer=a["customers"], check=False)
    assert f'new row violates row-level security policy for table "{table}"' \
        in "\n".join(out)


@pytest.mark.parametrize("setting", [None, ""])
def test_rls_without_a_customer_sees_nothing(pg, rls_role, two_customers, setting):
    counts = as_role(pg, rls_role, "\n".join(
        f"SELECT count(*) FROM {table};" for table in
        ("customers", "customer_sessions", "email_verification_tokens",
         "password_reset_tokens", "customer_addresses", "customer_preferences",
         "bookings", "transactions", "refunds", "transaction_audit_logs")),
        customer=setting)
    assert counts == ["0"] * 10


def test_rls_hides_outbox_and_payment_events_from_everyone_but_the_owner(
        pg, cur, rls_role, two_customers):
    # Sent already: a queued row of an unknown template would be swept by
    # whichever server runs next and fail there.
    cur.execute("INSERT INTO email_outbox (template, recipient, status, sent_at)"
                " VALUES ('t', 'a@example.com', 'sent', now())")
    cur.execute("INSERT INTO payment_events (id, gateway, type, payload)"
                " VALUES (%s, 'stripe', 'payment_intent.succeeded', '{}')", (unique("evt"),))
    counts = as_role(pg, rls_role, "SELECT count(*) FROM email_outbox;"
                                   "SELECT count(*) FROM payment_events;",
                     customer=two_customers["A"]["customers"])
    assert counts == ["0", "0"]


def test_owner_is_not_restricted_by_rls(pg, two_customers):
    ids = ", ".join(f"'{two_customers[n]['customers']}'" for n in ("A", "B"))
    out = as_role(pg, "jklg", f"SELECT count(*) FROM customers WHERE id IN ({ids});"
                              f"SELECT count(*) FROM bookings WHERE customer_id IN ({ids});")
    assert out == ["2", "2"]
