-- Money hardening: no double payment through a manual payment beside an
-- open card payment, over-payments refunded instead of absorbed, and
-- row-level security that lets a customer's role read its money but never
-- write it.

-- ---------------------------------------------------------------------------
-- Booking status: what counts is the money kept. An over-payment refunded
-- back to the booking's total leaves it paid, not "partially refunded".
CREATE OR REPLACE FUNCTION jklg_payment_status(amount_total bigint,
                                               amount_paid bigint,
                                               amount_refunded bigint)
    RETURNS text LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
AS $$
    SELECT CASE
        WHEN amount_refunded > 0 AND amount_refunded >= amount_paid THEN 'refunded'
        WHEN amount_paid - amount_refunded >= amount_total THEN 'paid'
        WHEN amount_refunded > 0 THEN 'partially_refunded'
        WHEN amount_paid > 0 THEN 'partially_paid'
        ELSE 'unpaid'
    END
$$;

-- ---------------------------------------------------------------------------
-- Over-payment: money that arrives after the booking was paid by other means
-- (a card payment on an intent canceled for a cash payment, a late
-- bank debit). Called after every success. What the booking holds beyond
-- its total is refunded from this payment through its gateway: a refund row
-- (pending, requested by "system", one per payment by its key) that the
-- caller sends to the gateway like a staff refund. A payment its gateway
-- cannot refund (manual) is flagged in the audit log for staff. Returns the
-- opened refund as jklg_refund_open does, {"flagged": excess}, or NULL.
CREATE FUNCTION jklg_overpayment_refund(p_tx uuid) RETURNS jsonb
    LANGUAGE plpgsql
AS $$
DECLARE
    t transactions;
    b bookings;
    f refunds;
    pending bigint;
    excess bigint;
    amount bigint;
BEGIN
    SELECT * INTO t FROM transactions WHERE id = p_tx;
    IF NOT FOUND OR t.status <> 'succeeded' THEN
        RETURN NULL;
    END IF;
    SELECT * INTO b FROM bookings WHERE id = t.booking_id FOR NO KEY UPDATE;
    SELECT COALESCE(sum(r.amount), 0) INTO pending
      FROM refunds r JOIN transactions x ON x.id = r.transaction_id
     WHERE x.booking_id = b.id AND r.status = 'pending';
    excess := b.amount_paid - b.amount_refunded - pending - b.amount_total;
    IF excess <= 0 THEN
        RETURN NULL;
    END IF;
    amount := least(excess, t.amount - t.amount_refunded);
    IF t.gateway = 'manual' OR t.disputed THEN
        PERFORM jklg_audit(p_tx, 'system', NULL, t.status, t.status,
                           jsonb_build_object('overpayment', excess,
                                              'action', 'staff to refund'));
        RETURN jsonb_build_object('flagged', excess);
    END IF;
    INSERT INTO refunds (transaction_id, amount, currency, status, reason,
                         requested_by, idempotency_key)
    VALUES (p_tx, amount, t.currency, 'pending',
            'over-payment: the booking was already paid', 'system',
            'overpayment:' || p_tx)
    ON CONFLICT (idempotency_key) DO NOTHING
    RETURNING * INTO f;
    IF NOT FOUND THEN
        RETURN NULL;
    END IF;
    PERFORM jklg_audit(p_tx, 'system', NULL, t.status, t.status,
                       jsonb_build_object('overpayment', excess,
                                          'refund_requested', f.id,
                                          'amount', amount));
    RETURN jsonb_build_object('refund', jklg_refund_json(f), 'id', f.id,
                              'existing', false, 'gateway', t.gateway,
                              'gateway_ref', t.gateway_ref, 'amount', amount,
                              'currency', t.currency, 'overpayment', excess);
END
$$;

-- The audit actor of a refund's outcome: the staff member, or the module
-- itself for over-payment refunds.
CREATE OR REPLACE FUNCTION jklg_refund_settle(p_refund uuid, p_status text,
                                              p_ref text, p_staff text,
                                              p_error text)
    RETURNS jsonb LANGUAGE plpgsql
AS $$
DECLARE
    f refunds;
    actor text := CASE WHEN p_staff = 'system' THEN 'system'
                       ELSE 'staff:' || p_staff END;
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
                                 actor, NULL);
    ELSIF p_status = 'failed' THEN
        PERFORM jklg_audit(f.transaction_id, actor, NULL, t.status, t.status,
                           jsonb_build_object('refund_failed', f.id,
                                              'error', p_error))
           FROM transactions t WHERE t.id = f.transaction_id;
    END IF;
    RETURN jsonb_build_object('refund', jklg_refund_json(f));
END
$$;

-- ---------------------------------------------------------------------------
-- Cash or bank transfer recorded by staff, aware of card payments:
-- - one still processing: refused, its outcome decides what is due;
-- - open intents the gateway knows (gateway_ref set): nothing is written,
--   {"cancel": [{id, gateway, gateway_ref, amount, currency}]} asks the
--   caller to cancel them at the gateway (and record that) and call again,
--   so a customer cannot pay the same balance by card afterwards;
-- - open intents still being created (no gateway_ref yet) are canceled
--   here; the request creating one cancels it at the gateway when it sees
--   the row canceled.
-- Returns {"not_found"}, {"currency": expected}, {"conflict": why},
-- {"cancel": [...]}, or {"transaction": ..., "emails": [...]}.
CREATE OR REPLACE FUNCTION jklg_manual_payment(p_booking uuid,
                                               p_amount bigint,
                                               p_currency text,
                                               p_method text, p_note text,
                                               p_staff text,
                                               p_public_url text)
    RETURNS jsonb LANGUAGE plpgsql
AS $$
DECLARE
    b bookings;
    t transactions;
    emails uuid[];
    in_flight bigint;
    to_cancel jsonb;
BEGIN
    SELECT * INTO b FROM bookings WHERE id = p_booking FOR NO KEY UPDATE;
    IF NOT FOUND THEN
        RETURN jsonb_build_object('not_found', true);
    END IF;
    IF b.currency <> p_currency THEN
        RETURN jsonb_build_object('currency', b.currency);
    END IF;
    SELECT COALESCE(sum(amount), 0) INTO in_flight FROM transactions
     WHERE booking_id = b.id AND status = 'processing';
    IF in_flight > 0 THEN
        RETURN jsonb_build_object('conflict', format(
            'a payment of %s is being processed for this booking; record '
            'this one once its outcome is known', in_flight));
    END IF;
    SELECT jsonb_agg(jsonb_build_object('id', id, 'gateway', gateway,
                                        'gateway_ref', gateway_ref,
                                        'amount', amount,
                                        'currency', currency))
      INTO to_cancel FROM transactions
     WHERE booking_id = b.id AND gateway <> 'manual'
       AND gateway_ref IS NOT NULL
       AND (status = 'requires_payment' OR status = 'failed');
    IF to_cancel IS NOT NULL THEN
        RETURN jsonb_build_object('cancel', to_cancel);
    END IF;
    IF p_amount > b.amount_total - b.amount_paid THEN
        RETURN jsonb_build_object('conflict', format(
            'the outstanding balance is %s', b.amount_total - b.amount_paid));
    END IF;
    FOR t IN UPDATE transactions SET status = 'canceled'
              WHERE booking_id = b.id AND gateway <> 'manual'
                AND gateway_ref IS NULL AND status = 'requires_payment'
             RETURNING *
    LOOP
        PERFORM jklg_audit(t.id, 'staff:' || p_staff, NULL,
                           'requires_payment', 'canceled',
                           jsonb_build_object('reason', 'superseded by a '
                                              'manual payment'));
    END LOOP;
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

-- ---------------------------------------------------------------------------
-- Row-level security per command. A role acting as a customer (any role
-- but the owner, after SET jklg.customer_id) reads the customer's own rows
-- and writes only what the API lets a customer write: its name and phone,
-- its addresses and preferences, and signing out its sessions. Money
-- (bookings, transactions, refunds, audit) and verification are read-only
-- there: only the module, as the owner, changes them.
DROP POLICY customers_own_rows ON customers;
DROP POLICY customer_sessions_own_rows ON customer_sessions;
DROP POLICY email_verification_tokens_own_rows ON email_verification_tokens;
DROP POLICY password_reset_tokens_own_rows ON password_reset_tokens;
DROP POLICY customer_addresses_own_rows ON customer_addresses;
DROP POLICY customer_preferences_own_rows ON customer_preferences;
DROP POLICY bookings_own_rows ON bookings;
DROP POLICY transactions_own_rows ON transactions;
DROP POLICY refunds_own_rows ON refunds;
DROP POLICY transaction_audit_logs_own_rows ON transaction_audit_logs;

CREATE POLICY customers_read_own ON customers FOR SELECT
    USING (id = jklg_customer_id());
CREATE POLICY customers_update_own ON customers FOR UPDATE
    USING (id = jklg_customer_id()) WITH CHECK (id = jklg_customer_id());

CREATE POLICY customer_sessions_read_own ON customer_sessions FOR SELECT
    USING (customer_id = jklg_customer_id());
CREATE POLICY customer_sessions_sign_out_own ON customer_sessions FOR DELETE
    USING (customer_id = jklg_customer_id());

-- One-time tokens have no policy: no customer role sees even their hashes.

CREATE POLICY customer_addresses_own_rows ON customer_addresses
    USING (customer_id = jklg_customer_id())
    WITH CHECK (customer_id = jklg_customer_id());

CREATE POLICY customer_preferences_read_own ON customer_preferences FOR SELECT
    USING (customer_id = jklg_customer_id());
CREATE POLICY customer_preferences_insert_own ON customer_preferences
    FOR INSERT WITH CHECK (customer_id = jklg_customer_id());
CREATE POLICY customer_preferences_update_own ON customer_preferences
    FOR UPDATE USING (customer_id = jklg_customer_id())
    WITH CHECK (customer_id = jklg_customer_id());

CREATE POLICY bookings_read_own ON bookings FOR SELECT
    USING (customer_id = jklg_customer_id());

-- Payment rows carry no customer_id: ownership follows the booking (the
-- subqueries are themselves filtered by the bookings policy).
CREATE POLICY transactions_read_own ON transactions FOR SELECT
    USING (booking_id IN (SELECT b.id FROM bookings b
                           WHERE b.customer_id = jklg_customer_id()));
CREATE POLICY refunds_read_own ON refunds FOR SELECT
    USING (transaction_id IN (SELECT t.id FROM transactions t
                                JOIN bookings b ON b.id = t.booking_id
                               WHERE b.customer_id = jklg_customer_id()));
CREATE POLICY transaction_audit_logs_read_own ON transaction_audit_logs
    FOR SELECT
    USING (transaction_id IN (SELECT t.id FROM transactions t
                                JOIN bookings b ON b.id = t.booking_id
                               WHERE b.customer_id = jklg_customer_id()));

-- Policies choose rows, not columns: a customer's own row may be updated,
-- but its email, password hash and verification only by the owner (the
-- module's register, verify, reset and password functions).
-- row_security_active is true exactly for the roles the policies bind.
CREATE FUNCTION jklg_customers_guard_columns() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path FROM CURRENT
AS $$
BEGIN
    IF row_security_active(TG_RELID)
       AND (NEW.id, NEW.email, NEW.password_hash, NEW.email_verified_at,
            NEW.created_at)
           IS DISTINCT FROM (OLD.id, OLD.email, OLD.password_hash,
                             OLD.email_verified_at, OLD.created_at) THEN
        RAISE EXCEPTION 'only first_name, last_name and phone of a customer '
                        'can be changed by this role'
              USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN NEW;
END
$$;

CREATE TRIGGER customers_guard_columns BEFORE UPDATE ON customers
    FOR EACH ROW EXECUTE FUNCTION jklg_customers_guard_columns();
