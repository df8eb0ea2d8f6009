-- Payments: the state machine of transactions, webhook events applied
-- exactly once, intents, refunds and manual payments. Each function is one
-- call, so each runs in one database transaction: a failure leaves nothing
-- half done, and a webhook answered 503 stored nothing.

-- A new gateway is one C file and its registration line: the name is
-- checked for shape, not against a list.
ALTER TABLE transactions DROP CONSTRAINT transactions_gateway_check;
ALTER TABLE transactions ADD CONSTRAINT transactions_gateway_name
    CHECK (gateway ~ '^[a-z][a-z0-9_]{1,31}$');

-- At most one open intent per booking and gateway: concurrent "pay now"
-- clicks share it instead of charging twice.
CREATE UNIQUE INDEX transactions_one_open_idx ON transactions (booking_id, gateway)
    WHERE status = 'requires_payment';

-- Money in emails: the module formats {"minor", "currency"} objects for the
-- currency's exponent when it renders a template.
CREATE FUNCTION jklg_money(amount bigint, currency text) RETURNS jsonb
    LANGUAGE sql IMMUTABLE
AS $$ SELECT jsonb_build_object('minor', amount, 'currency', currency) $$;

CREATE FUNCTION jklg_refund_json(f refunds) RETURNS jsonb
    LANGUAGE sql STABLE
AS $$
    SELECT jsonb_build_object(
        'id', f.id, 'transaction_id', f.transaction_id, 'amount', f.amount,
        'currency', f.currency, 'status', f.status,
        'gateway_ref', f.gateway_ref, 'reason', f.reason,
        'requested_by', f.requested_by, 'created_at', jklg_ts(f.created_at))
$$;

CREATE FUNCTION jklg_audit_json(l transaction_audit_logs) RETURNS jsonb
    LANGUAGE sql STABLE
AS $$
    SELECT jsonb_build_object(
        'id', l.id, 'actor', l.actor, 'event_id', l.event_id,
        'old_status', l.old_status, 'new_status', l.new_status,
        'details', l.details, 'created_at', jklg_ts(l.created_at))
$$;

-- States only move forward. failed -> processing/succeeded: the customer
-- tried again on the same intent. canceled -> processing/succeeded: money
-- that arrives is recorded even on an intent we had replaced (the gateway
-- refuses to take money on intents it canceled itself).
CREATE FUNCTION jklg_tx_may_move(old_status text, new_status text)
    RETURNS boolean LANGUAGE sql IMMUTABLE
AS $$
    SELECT CASE old_status
        WHEN 'requires_payment' THEN new_status IN ('processing', 'succeeded',
                                                    'failed', 'canceled')
        WHEN 'processing' THEN new_status IN ('succeeded', 'failed', 'canceled')
        WHEN 'failed' THEN new_status IN ('processing', 'succeeded', 'canceled')
        WHEN 'canceled' THEN new_status IN ('processing', 'succeeded')
        WHEN 'succeeded' THEN new_status IN ('partially_refunded', 'refunded')
        WHEN 'partially_refunded' THEN new_status = 'refunded'
        ELSE false
    END
$$;

CREATE FUNCTION jklg_audit(p_tx uuid, p_actor text, p_event text,
                           p_old text, p_new text, p_details jsonb)
    RETURNS void LANGUAGE sql
AS $$
    INSERT INTO transaction_audit_logs (transaction_id, actor, event_id,
                                        old_status, new_status, details)
    VALUES (p_tx, p_actor, p_event, p_old, p_new, COALESCE(p_details, '{}'))
$$;

-- The emails a succeeded payment owes: its receipt, and the booking's
-- confirmation once the booking is paid. Unique dedupe keys make each
-- exactly once however often the cause is replayed. Returns the new rows.
CREATE FUNCTION jklg_payment_emails(p_tx uuid, p_public_url text)
    RETURNS SETOF uuid LANGUAGE sql
AS $$
    WITH t AS (SELECT * FROM transactions WHERE id = p_tx),
    b AS (SELECT b.* FROM bookings b JOIN t ON t.booking_id = b.id),
    c AS (SELECT c.* FROM customers c JOIN b ON b.customer_id = c.id)
    INSERT INTO email_outbox (template, recipient, data, dedupe_key)
    SELECT 'payment_receipt', c.email, jsonb_build_object(
               'first_name', c.first_name, 'booking_reference', b.reference,
               'amount', jklg_money(t.amount, t.currency),
               'payment_method', CASE t.gateway WHEN 'stripe' THEN 'card'
                                 ELSE replace(COALESCE(t.method, t.gateway),
                                              '_', ' ') END,
               'transaction_id', t.id, 'paid_at', jklg_ts(now()),
               'amount_paid', jklg_money(b.amount_paid, b.currency),
               'amount_outstanding', jklg_money(
                   greatest(b.amount_total - b.amount_paid, 0), b.currency)),
           'payment_receipt:' || t.id
      FROM t, b, c WHERE t.status = 'succeeded'
    UNION ALL
    SELECT 'booking_confirmation', c.email, jsonb_build_object(
               'first_name', c.first_name, 'booking_reference', b.reference,
               'description', b.description,
               'travel_start', jklg_date(b.travel_start),
               'travel_end', jklg_date(b.travel_end),
               'amount_total', jklg_money(b.amount_total, b.currency),
               'booking_url', p_public_url || '/bookings/' || b.id),
           'booking_confirmation:' || b.id
      FROM b, c WHERE b.amount_paid >= b.amount_total
    ON CONFLICT (dedupe_key) DO NOTHING
    RETURNING id
$$;

-- Moves a transaction to p_new if the state machine allows it, audits it,
-- and queues what a success owes. Returns the emails queued.
CREATE FUNCTION jklg_tx_move(p_tx uuid, p_new text, p_actor text,
                             p_event text, p_reason text, p_public_url text)
    RETURNS uuid[] LANGUAGE plpgsql
AS $$
DECLARE
    old_status text;
BEGIN
    SELECT status INTO old_status FROM transactions WHERE id = p_tx FOR UPDATE;
    IF NOT jklg_tx_may_move(old_status, p_new) THEN
        RETURN '{}';
    END IF;
    UPDATE transactions SET status = p_new,
           failure_reason = CASE WHEN p_new = 'failed' THEN p_reason
                                 ELSE failure_reason END
     WHERE id = p_tx;
    PERFORM jklg_audit(p_tx, p_actor, p_event, old_status, p_new,
                       CASE WHEN p_reason IS NOT NULL
                            THEN jsonb_build_object('reason', p_reason) END);
    IF p_new = 'succeeded' THEN
        -- Fully paid: the booking is confirmed, as its email says.
        UPDATE bookings b SET status = 'confirmed'
          FROM transactions t
         WHERE t.id = p_tx AND b.id = t.booking_id AND b.status = 'pending'
           AND b.amount_paid >= b.amount_total;
        RETURN ARRAY(SELECT jklg_payment_emails(p_tx, p_public_url));
    END IF;
    RETURN '{}';
END
$$;

-- Refunded money only grows: from our own refund call or from Stripe's
-- cumulative charge.refunded, whichever is larger.
CREATE FUNCTION jklg_tx_refunded(p_tx uuid, p_total bigint, p_actor text,
                                 p_event text)
    RETURNS void LANGUAGE plpgsql
AS $$
DECLARE
    t transactions;
    new_refunded bigint;
    new_status text;
BEGIN
    SELECT * INTO t FROM transactions WHERE id = p_tx FOR UPDATE;
    new_refunded := least(greatest(t.amount_refunded, p_total), t.amount);
    IF new_refunded = t.amount_refunded
       OR t.status NOT IN ('succeeded', 'partially_refunded') THEN
        RETURN;
    END IF;
    new_status := CASE WHEN new_refunded >= t.amount THEN 'refunded'
                       ELSE 'partially_refunded' END;
    UPDATE transactions SET amount_refunded = new_refunded, status = new_status
     WHERE id = p_tx;
    -- Refunds Stripe answered "pending" are done once its total covers
    -- them (oldest first), or they would still hold back what is left.
    UPDATE refunds r SET status = 'succeeded'
      FROM (SELECT id, sum(amount) OVER (ORDER BY created_at, id) AS upto
              FROM refunds WHERE transaction_id = p_tx
               AND status = 'pending') p
     WHERE r.id = p.id
       AND p.upto <= new_refunded - (SELECT COALESCE(sum(amount), 0)
                                       FROM refunds
                                      WHERE transaction_id = p_tx
                                        AND status = 'succeeded');
    PERFORM jklg_audit(p_tx, p_actor, p_event, t.status, new_status,
                       jsonb_build_object('amount_refunded', new_refunded));
END
$$;

-- Applies one verified gateway event, exactly once. Returns
-- {"duplicate": true} for a redelivery, else {"transaction_id": ...|null,
-- "emails": [outbox ids]}.
CREATE FUNCTION jklg_apply_event(p_id text, p_gateway text, p_type text,
                                 p_payload jsonb, p_kind text, p_ref text,
                                 p_tx text, p_amount bigint, p_reason text,
                                 p_public_url text)
    RETURNS jsonb LANGUAGE plpgsql
AS $$
DECLARE
    tx uuid;
    actor text := p_gateway || ':' || p_id;
    emails uuid[] := '{}';
BEGIN
    -- A PaymentIntent's client secret may pay it: kept nowhere.
    INSERT INTO payment_events (id, gateway, type, payload)
    VALUES (p_id, p_gateway, p_type,
            p_payload #- '{data,object,client_secret}')
    ON CONFLICT (id) DO NOTHING;
    IF NOT FOUND THEN
        RETURN jsonb_build_object('duplicate', true);
    END IF;

    IF p_ref IS NOT NULL THEN
        SELECT id INTO tx FROM transactions
         WHERE gateway = p_gateway AND gateway_ref = p_ref;
    END IF;
    -- The event may beat our own write of the intent's id.
    IF tx IS NULL AND p_tx ~ '^[0-9a-f-]{36}$' THEN
        UPDATE transactions SET gateway_ref = p_ref
         WHERE id = p_tx::uuid AND gateway = p_gateway AND gateway_ref IS NULL
        RETURNING id INTO tx;
    END IF;

    IF tx IS NOT NULL THEN
        CASE p_kind
        WHEN 'processing', 'succeeded', 'failed', 'canceled' THEN
            emails := jklg_tx_move(tx, p_kind, actor, p_id, p_reason,
                                   p_public_url);
        WHEN 'refunded' THEN
            -- A refund proves the payment succeeded, even if that event
            -- has not arrived yet.
            emails := jklg_tx_move(tx, 'succeeded', actor, p_id, NULL,
                                   p_public_url);
            PERFORM jklg_tx_refunded(tx, p_amount, actor, p_id);
        WHEN 'disputed' THEN
            UPDATE transactions SET disputed = true
             WHERE id = tx AND NOT disputed;
            IF FOUND THEN
                PERFORM jklg_audit(tx, actor, p_id, status, status,
                                   jsonb_build_object('disputed', true,
                                                      'amount', p_amount))
                   FROM transactions WHERE id = tx;
            END IF;
        ELSE
            NULL;
        END CASE;
    END IF;

    UPDATE payment_events SET transaction_id = tx, processed_at = now()
     WHERE id = p_id;
    RETURN jsonb_build_object('transaction_id', tx, 'emails', to_jsonb(emails));
END
$$;

-- First half of "pay this booking": under a lock on the booking, find the
-- open intent for the amount due or create its transaction row. Open means
-- payable at the gateway: requires_payment, or failed with a gateway id (a
-- declined card leaves the intent payable). The amount due leaves out
-- payments still processing. Returns {"not_found"}, {"paid"},
-- {"processing"}, or {"id", "created", "gateway_ref", "amount",
-- "currency", "reference", "replaced_refs"}: gateway ids of open intents
-- this one replaces, for the caller to cancel at the gateway.
CREATE FUNCTION jklg_intent_open(p_customer uuid, p_booking uuid,
                                 p_gateway text)
    RETURNS jsonb LANGUAGE plpgsql
AS $$
DECLARE
    b bookings;
    t transactions;
    stale transactions;
    in_flight bigint;
    outstanding bigint;
    replaced text[] := '{}';
BEGIN
    SELECT * INTO b FROM bookings
     WHERE id = p_booking AND customer_id = p_customer FOR NO KEY UPDATE;
    IF NOT FOUND THEN
        RETURN jsonb_build_object('not_found', true);
    END IF;
    SELECT COALESCE(sum(amount), 0) INTO in_flight FROM transactions
     WHERE booking_id = b.id AND status = 'processing';
    outstanding := b.amount_total - b.amount_paid - in_flight;
    IF outstanding <= 0 THEN
        RETURN jsonb_build_object(CASE WHEN in_flight > 0 THEN 'processing'
                                       ELSE 'paid' END, true);
    END IF;
    -- Reuse the newest open intent for exactly this amount; every other
    -- open one is canceled, so no old client secret can pay twice.
    FOR stale IN
        SELECT * FROM transactions
         WHERE booking_id = b.id AND gateway = p_gateway
           AND (status = 'requires_payment'
                OR (status = 'failed' AND gateway_ref IS NOT NULL))
         ORDER BY created_at DESC, id DESC
    LOOP
        IF t.id IS NULL AND stale.amount = outstanding THEN
            t := stale;
            CONTINUE;
        END IF;
        UPDATE transactions SET status = 'canceled' WHERE id = stale.id;
        PERFORM jklg_audit(stale.id, 'system', NULL, stale.status, 'canceled',
                           jsonb_build_object('reason',
                                              'replaced by a new intent'));
        IF stale.gateway_ref IS NOT NULL THEN
            replaced := replaced || stale.gateway_ref;
        END IF;
    END LOOP;
    IF t.id IS NULL THEN
        INSERT INTO transactions (booking_id, gateway, amount, currency,
                                  status, method)
        VALUES (b.id, p_gateway, outstanding, b.currency, 'requires_payment',
                'card')
        RETURNING * INTO t;
        PERFORM jklg_audit(t.id, 'customer:' || p_customer, NULL, NULL,
                           'requires_payment',
                           jsonb_build_object('amount', outstanding));
        RETURN jsonb_build_object('id', t.id, 'created', true,
                                  'gateway_ref', NULL, 'amount', t.amount,
                                  'currency', t.currency,
                                  'reference', b.reference,
                                  'replaced_refs', to_jsonb(replaced));
    END IF;
    RETURN jsonb_build_object('id', t.id, 'created', false,
                              'gateway_ref', t.gateway_ref,
                              'amount', t.amount, 'currency', t.currency,
                              'reference', b.reference,
                              'replaced_refs', to_jsonb(replaced));
END
$$;

-- Second half: the gateway answered. p_ref NULL means it failed: the
-- transaction is closed as failed so nothing looks live. A status beyond
-- requires_payment (an intent paid or canceled at the gateway whose
-- webhook is late or lost) moves the transaction as its event would.
CREATE FUNCTION jklg_intent_settle(p_tx uuid, p_ref text, p_status text,
                                   p_error text, p_public_url text)
    RETURNS jsonb LANGUAGE plpgsql
AS $$
DECLARE
    t transactions;
    emails uuid[] := '{}';
BEGIN
    IF p_ref IS NULL THEN
        UPDATE transactions SET status = 'failed', failure_reason = p_error
         WHERE id = p_tx AND status = 'requires_payment' AND gateway_ref IS NULL
        RETURNING * INTO t;
        IF FOUND THEN
            PERFORM jklg_audit(p_tx, 'system', NULL, 'requires_payment',
                               'failed',
                               jsonb_build_object('reason', p_error));
        END IF;
    ELSE
        UPDATE transactions SET gateway_ref = COALESCE(gateway_ref, p_ref)
         WHERE id = p_tx;
        IF p_status IN ('processing', 'succeeded', 'canceled') THEN
            emails := jklg_tx_move(p_tx, p_status, 'system', NULL, NULL,
                                   p_public_url);
        END IF;
    END IF;
    SELECT * INTO t FROM transactions WHERE id = p_tx;
    RETURN jsonb_build_object('transaction', jklg_transaction_json(t),
                              'emails', to_jsonb(emails));
END
$$;

-- Staff refund, first half: checks what is refundable, then records the
-- refund as pending (or returns the one made with the same key, or the
-- pending one a keyless retry means). Returns {"not_found"},
-- {"conflict": why}, or {"refund": ..., "id", "existing", "gateway",
-- "gateway_ref", "amount", "currency"}.
CREATE FUNCTION jklg_refund_open(p_tx uuid, p_amount bigint, p_reason text,
                                 p_staff text, p_key text)
    RETURNS jsonb LANGUAGE plpgsql
AS $$
DECLARE
    t transactions;
    f refunds;
    pending bigint;
    left_over bigint;
    amount bigint;
BEGIN
    SELECT * INTO t FROM transactions WHERE id = p_tx FOR UPDATE;
    IF NOT FOUND THEN
        RETURN jsonb_build_object('not_found', true);
    END IF;
    SELECT * INTO f FROM refunds
     WHERE transaction_id = p_tx AND idempotency_key = p_key;
    IF FOUND THEN
        RETURN jsonb_build_object('refund', jklg_refund_json(f), 'id', f.id,
                                  'existing', true, 'gateway', t.gateway,
                                  'gateway_ref', t.gateway_ref,
                                  'amount', f.amount, 'currency', f.currency);
    END IF;
    -- Without a key of the client's, a refund whose outcome is unknown (a
    -- timeout) is what a retry means: retry that one, never a second.
    IF p_key LIKE 'auto:%' THEN
        SELECT * INTO f FROM refunds
         WHERE transaction_id = p_tx AND status = 'pending'
         ORDER BY created_at, id LIMIT 1;
        IF FOUND THEN
            IF p_amount IS NOT NULL AND p_amount <> f.amount THEN
                RETURN jsonb_build_object('conflict', format(
                    'a refund of %s is still pending; retry it first',
                    f.amount));
            END IF;
            RETURN jsonb_build_object('refund', jklg_refund_json(f),
                                      'id', f.id, 'existing', true,
                                      'gateway', t.gateway,
                                      'gateway_ref', t.gateway_ref,
                                      'amount', f.amount,
                                      'currency', f.currency);
        END IF;
    END IF;
    IF t.status NOT IN ('succeeded', 'partially_refunded') THEN
        RETURN jsonb_build_object('conflict',
                                  'only a succeeded payment can be refunded');
    END IF;
    IF t.disputed THEN
        RETURN jsonb_build_object('conflict',
                                  'the payment is disputed; refunds go '
                                  'through the dispute');
    END IF;
    SELECT COALESCE(sum(r.amount), 0) INTO pending FROM refunds r
     WHERE r.transaction_id = p_tx AND r.status = 'pending';
    left_over := t.amount - t.amount_refunded - pending;
    amount := COALESCE(p_amount, left_over);
    IF left_over <= 0 THEN
        RETURN jsonb_build_object('conflict', 'nothing is left to refund');
    END IF;
    IF amount > left_over THEN
        RETURN jsonb_build_object('conflict', format(
            'at most %s can be refunded', left_over));
    END IF;
    INSERT INTO refunds (transaction_id, amount, currency, status, reason,
                         requested_by, idempotency_key)
    VALUES (p_tx, amount, t.currency, 'pending', p_reason, p_staff, p_key)
    RETURNING * INTO f;
    PERFORM jklg_audit(p_tx, 'staff:' || p_staff, NULL, t.status, t.status,
                       jsonb_build_object('refund_requested', f.id,
                                          'amount', amount,
                                          'reason', p_reason));
    RETURN jsonb_build_object('refund', jklg_refund_json(f), 'id', f.id,
                              'existing', false, 'gateway', t.gateway,
                              'gateway_ref', t.gateway_ref, 'amount', amount,
                              'currency', t.currency);
END
$$;

-- Second half: the gateway's answer. A succeeded refund counts at once.
CREATE FUNCTION jklg_refund_settle(p_refund uuid, p_status text, p_ref text,
                                   p_staff text, p_error text)
    RETURNS jsonb LANGUAGE plpgsql
AS $$
DECLARE
    f refunds;
BEGIN
    -- Only a pending refund moves: a late answer never undoes what
    -- Stripe's webhook already settled.
    UPDATE refunds SET status = CASE WHEN status = 'pending' THEN p_status
                                     ELSE status END,
           gateway_ref = COALESCE(gateway_ref, p_ref)
     WHERE id = p_refund RETURNING * INTO f;
    IF p_status = 'succeeded' THEN
        PERFORM jklg_tx_refunded(f.transaction_id,
                                 (SELECT COALESCE(sum(amount), 0)::bigint
                                    FROM refunds
                                   WHERE transaction_id = f.transaction_id
                                     AND status = 'succeeded'),
                                 'staff:' || p_staff, NULL);
    ELSIF p_status = 'failed' THEN
        PERFORM jklg_audit(f.transaction_id, 'staff:' || p_staff, NULL,
                           t.status, t.status,
                           jsonb_build_object('refund_failed', f.id,
                                              'error', p_error))
           FROM transactions t WHERE t.id = f.transaction_id;
    END IF;
    RETURN jsonb_build_object('refund', jklg_refund_json(f));
END
$$;

-- Cash or bank transfer recorded by staff: succeeded at once.
-- Returns {"not_found"}, {"currency": expected}, {"conflict": why} or
-- {"transaction": ..., "emails": [...]}.
CREATE FUNCTION jklg_manual_payment(p_booking uuid, p_amount bigint,
                                    p_currency text, p_method text,
                                    p_note text, p_staff text,
                                    p_public_url text)
    RETURNS jsonb LANGUAGE plpgsql
AS $$
DECLARE
    b bookings;
    t transactions;
    emails uuid[];
BEGIN
    SELECT * INTO b FROM bookings WHERE id = p_booking FOR NO KEY UPDATE;
    IF NOT FOUND THEN
        RETURN jsonb_build_object('not_found', true);
    END IF;
    IF b.currency <> p_currency THEN
        RETURN jsonb_build_object('currency', b.currency);
    END IF;
    IF p_amount > b.amount_total - b.amount_paid THEN
        RETURN jsonb_build_object('conflict', format(
            'the outstanding balance is %s', b.amount_total - b.amount_paid));
    END IF;
    INSERT INTO transactions (booking_id, gateway, amount, currency, status,
                              method, note)
    VALUES (b.id, 'manual', p_amount, p_currency, 'requires_payment',
            p_method, p_note)
    RETURNING * INTO t;
    PERFORM jklg_audit(t.id, 'staff:' || p_staff, NULL, NULL,
                       'requires_payment',
                       jsonb_build_object('method', p_method, 'note', p_note));
    emails := jklg_tx_move(t.id, 'succeeded', 'staff:' || p_staff, NULL, NULL,
                           p_public_url);
    SELECT * INTO t FROM transactions WHERE id = t.id;
    RETURN jsonb_build_object('transaction', jklg_transaction_json(t),
                              'emails', to_jsonb(emails));
END
$$;
