-- 026: the balance job skips a booking the customer is paying.
--
-- The one open intent per booking and gateway (transactions_one_open_idx)
-- made the job's INSERT fail when the customer had opened an intent on the
-- booking (the pay page) by the time its balance fell due: the error
-- rolled back the whole run, so no customer's balance was charged until
-- that intent closed. Such a booking is now skipped for this sweep (the
-- customer is paying it; a later sweep charges it if they do not), and a
-- race with a customer opening one at that moment is skipped the same way.
-- Body of sql/025 otherwise.

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
            -- The customer is paying this booking (an intent they opened
            -- is open): a charge beside it would break the one open
            -- intent per booking and gateway. Skip it until a later sweep
            -- instead of failing the whole run, every customer's balance
            -- with it.
            CONTINUE WHEN EXISTS (
                SELECT 1 FROM transactions o
                 WHERE o.booking_id = b.id AND o.gateway = m.gateway
                   AND o.status = 'requires_payment');
            attempt := i.attempts + 1;
            BEGIN
                UPDATE installments SET attempts = attempt WHERE id = i.id;
                INSERT INTO transactions (booking_id, gateway, amount,
                                          currency, status, method,
                                          installment_id, idempotency_key)
                VALUES (b.id, m.gateway, i.amount, i.currency,
                        'requires_payment', 'off_session', i.id,
                        'offsession:' || i.id || ':' || attempt)
                RETURNING * INTO t;
            EXCEPTION WHEN unique_violation THEN
                -- The customer opened one since the check: the same.
                CONTINUE;
            END;
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
