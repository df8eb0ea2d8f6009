-- 025: what only shows at an agency's size (scripts/seed_scale.sql:
-- 100,000 customers, 400,000 transactions, 500,000 mails; figures in
-- docs/testing.md, "At an agency's size"). Bodies are pg_get_functiondef
-- of the current ones with only the change named.

-- GET /api/admin/transactions took 9 to 15 s. As a LANGUAGE sql function
-- (not inlinable: it returns a composite) its query was planned once,
-- without the arguments' values, so "(p_status IS NULL OR t.status =
-- p_status)" and the other optional filters could not use an index: a
-- sequential scan of transactions joined to every booking. PL/pgSQL plans
-- the same query with the values of the call (a custom plan, every call:
-- a generic one would be the old plan again), so a filter given becomes an
-- index condition and one left NULL disappears.
CREATE OR REPLACE FUNCTION jklg.staff_transactions(p_status text, p_booking uuid, p_customer uuid, p_since timestamp with time zone, p_until timestamp with time zone, p_after_time timestamp without time zone, p_after_id uuid, p_limit integer)
 RETURNS jklg.outcome
 LANGUAGE plpgsql
 STABLE
 SET search_path TO 'public', 'pg_temp'
 SET plan_cache_mode TO 'force_custom_plan'
AS $function$
BEGIN
    RETURN jklg.ok((
        SELECT jklg.page(array_agg(jklg_transaction_json(p.t)
                                   ORDER BY p.at DESC, p.id DESC),
                         array_agg(p.at ORDER BY p.at DESC, p.id DESC),
                         array_agg(p.id ORDER BY p.at DESC, p.id DESC), p_limit)
          FROM (SELECT t, t.created_at AS at, t.id FROM transactions t
                  JOIN bookings b ON b.id = t.booking_id
                 WHERE (p_status IS NULL OR t.status = p_status)
                   AND (p_booking IS NULL OR t.booking_id = p_booking)
                   AND (p_customer IS NULL OR b.customer_id = p_customer)
                   AND (p_since IS NULL OR t.created_at >= p_since)
                   AND (p_until IS NULL OR t.created_at < p_until)
                   AND (p_after_time IS NULL
                        OR (t.created_at, t.id)
                           < (p_after_time AT TIME ZONE 'UTC', p_after_id))
                 ORDER BY t.created_at DESC, t.id DESC
                 LIMIT p_limit + 1) p));
END
$function$
;

-- The balance job's reminders: "x.due_date - 7 <= today" cannot bound an
-- index scan, so every pending installment due from today on (half the
-- table) was read and joined to its booking: 3.5 s per run at 400,000
-- installments. The same days as a range on due_date read one week.
CREATE OR REPLACE FUNCTION jklg.balance_due(p_lease_seconds integer, p_max_attempts integer, p_limit integer, p_public_url text)
 RETURNS jklg.outcome
 LANGUAGE plpgsql
 SET search_path TO 'public', 'pg_temp'
AS $function$
DECLARE
    today date := jklg.today();
    i installments;
    b bookings;
    t transactions;
    m payment_methods;
    attempt int;
    items jsonb := '[]';
    mails uuid[];
BEGIN
    -- A reminder 7 days before each due date, once (its dedupe key), for
    -- installments made at least that long before they are due.
    WITH r AS (
        INSERT INTO email_outbox (template, recipient, data, dedupe_key)
        SELECT 'payment_reminder', c.email, jsonb_build_object(
                   'first_name', c.first_name,
                   'booking_reference', bk.reference,
                   'amount', jklg_money(x.amount, x.currency),
                   'due_date', jklg_date(x.due_date),
                   'saved_card', EXISTS (
                       SELECT 1 FROM payment_methods pm
                        WHERE pm.customer_id = c.id
                          AND pm.detached_at IS NULL),
                   'pay_url', p_public_url || '/booking/' || bk.id || '/pay'),
               'reminder:' || x.id
          FROM installments x JOIN bookings bk ON bk.id = x.booking_id
          JOIN customers c ON c.id = bk.customer_id
         WHERE x.status = 'pending' AND bk.status <> 'canceled'
           AND x.due_date BETWEEN today AND today + 7
           AND x.created_on <= x.due_date - 7
        ON CONFLICT (dedupe_key) DO NOTHING
        RETURNING id)
    SELECT array_agg(id) INTO mails FROM r;

    FOR i IN SELECT x.* FROM installments x
               JOIN bookings bk ON bk.id = x.booking_id
              WHERE x.kind = 'balance' AND x.status = 'pending'
                AND x.due_date <= today AND bk.status <> 'canceled'
                AND (x.next_attempt_on IS NULL OR x.next_attempt_on <= today)
                AND (x.claimed_until IS NULL OR x.claimed_until < now())
                AND EXISTS (SELECT 1 FROM payment_methods pm
                             WHERE pm.customer_id = bk.customer_id
                               AND pm.detached_at IS NULL)
              ORDER BY x.due_date, x.id
              LIMIT p_limit
              FOR UPDATE OF x SKIP LOCKED
    LOOP
        SELECT * INTO b FROM bookings WHERE id = i.booking_id;
        SELECT * INTO m FROM payment_methods
         WHERE customer_id = b.customer_id AND detached_at IS NULL
         ORDER BY created_at DESC, id DESC LIMIT 1;
        -- The attempt whose outcome is unknown is retried as it was.
        SELECT * INTO t FROM transactions
         WHERE installment_id = i.id AND method = 'off_session'
           AND status = 'requires_payment'
         ORDER BY created_at DESC LIMIT 1;
        IF FOUND THEN
            attempt := i.attempts;
        ELSE
            CONTINUE WHEN i.attempts >= p_max_attempts;
            attempt := i.attempts + 1;
            UPDATE installments SET attempts = attempt WHERE id = i.id;
            INSERT INTO transactions (booking_id, gateway, amount, currency,
                                      status, method, installment_id,
                                      idempotency_key)
            VALUES (b.id, m.gateway, i.amount, i.currency,
                    'requires_payment', 'off_session', i.id,
                    'offsession:' || i.id || ':' || attempt)
            RETURNING * INTO t;
            PERFORM jklg_audit(t.id, 'system', NULL, NULL, 'requires_payment',
                               jsonb_build_object('off_session_attempt',
                                                  attempt,
                                                  'installment_id', i.id));
        END IF;
        UPDATE installments
           SET claimed_until = now() + make_interval(secs => p_lease_seconds)
         WHERE id = i.id;
        items := items || jsonb_build_object(
            'transaction_id', t.id, 'installment_id', i.id,
            'attempt', attempt, 'amount', t.amount, 'currency', t.currency,
            'reference', b.reference, 'gateway', t.gateway,
            'customer_ref', (SELECT g.gateway_ref FROM gateway_customers g
                              WHERE g.customer_id = b.customer_id
                                AND g.gateway = m.gateway),
            'method_ref', m.gateway_ref);
    END LOOP;
    RETURN jklg.ok(jsonb_build_object('data', items), mails);
END
$function$
;

-- Erasure deletes a customer's saved cards (and deleting a customer
-- cascades to them): the only index on payment_methods.customer_id is
-- partial (detached_at IS NULL), which neither can use, so each scanned
-- the whole table.
CREATE INDEX payment_methods_customer_all_idx
    ON payment_methods (customer_id);

-- reconcile_start's "max(started_at) of this gateway's succeeded runs"
-- scanned every run (24 a day per gateway, kept forever).
CREATE INDEX reconciliation_runs_succeeded_idx
    ON reconciliation_runs (gateway, started_at)
    WHERE status = 'succeeded';
