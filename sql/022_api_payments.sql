-- Payments and staff writes onto the endpoint shape of sql/009 (issue 8):
-- the functions of 005/007/008 that answered ad-hoc JSON with flags in the
-- body ("duplicate", "not_found", "conflict", "currency", "cancel") become
-- jklg.* functions answering a jklg.outcome: a word, the body, and the
-- mails queued. What they do is unchanged, but for three things:
-- - applying an event opens the over-payment refund a success makes in the
--   same function (the module used to wrap the call in SQL of its own), and
--   names the customer whose card a succeeded payment keeps (a second round
--   trip of the webhook before);
-- - the webhook and reconciliation apply events through the same function
--   (p_run: the reconciliation run, which adds its checks and counters);
-- - an event of a kind that changes nothing costs one INSERT of its id, and
--   an applied event is written once (linked and processed on insert).

-- ---------------------------------------------------------------------------
-- Speed (issue 8). A LANGUAGE sql function that cannot be inlined (an
-- INSERT) is parsed and planned again at every call; the audit row every
-- state change writes cost twice its INSERT that way (pg_stat_statements
-- of a webhook event, docs/testing.md). plpgsql keeps the plan.
CREATE OR REPLACE FUNCTION jklg_audit(p_tx uuid, p_actor text, p_event text,
                                      p_old text, p_new text, p_details jsonb)
    RETURNS void LANGUAGE plpgsql
AS $$
BEGIN
    INSERT INTO transaction_audit_logs (transaction_id, actor, event_id,
                                        old_status, new_status, details)
    VALUES (p_tx, p_actor, p_event, p_old, p_new, COALESCE(p_details, '{}'));
END
$$;

-- A trigger whose function returns at once for most rows still costs its
-- call (and the search_path it sets). The conditions under which they act
-- move into WHEN clauses, so a move to processing or failed calls neither
-- (the functions keep their own checks). Names keep the firing order:
-- sync, then its update twin, then installments (AFTER triggers fire in
-- name order).
DROP TRIGGER transactions_sync_bookings ON transactions;
CREATE TRIGGER transactions_sync_bookings
    AFTER INSERT OR DELETE ON transactions
    FOR EACH ROW EXECUTE FUNCTION jklg_transactions_sync_bookings();
CREATE TRIGGER transactions_sync_bookings_update
    AFTER UPDATE ON transactions
    FOR EACH ROW
    WHEN (NEW.booking_id IS DISTINCT FROM OLD.booking_id
          OR ((jklg_tx_counts(NEW.status) OR jklg_tx_counts(OLD.status))
              AND (NEW.amount IS DISTINCT FROM OLD.amount
                   OR NEW.amount_refunded IS DISTINCT FROM OLD.amount_refunded
                   OR NEW.status IS DISTINCT FROM OLD.status)))
    EXECUTE FUNCTION jklg_transactions_sync_bookings();
DROP TRIGGER transactions_tie_installments ON transactions;
CREATE TRIGGER transactions_tie_installments
    AFTER INSERT OR UPDATE OF status ON transactions
    FOR EACH ROW WHEN (NEW.status = 'succeeded')
    EXECUTE FUNCTION jklg_installments_on_payment();

-- ---------------------------------------------------------------------------
-- Events.

-- The customer whose card a succeeded payment made "to keep its card" keeps
-- (the card is fetched from the gateway and saved by the module), or NULL.
CREATE FUNCTION jklg_card_to_save(p_tx uuid, p_gateway text,
                                  p_method_ref text)
    RETURNS uuid LANGUAGE plpgsql STABLE SET search_path = public, pg_temp
AS $$
BEGIN
    -- plpgsql rather than sql: a SET clause keeps an sql function from
    -- being inlined, and then it would be planned again at every call.
    RETURN (SELECT b.customer_id
              FROM transactions t JOIN bookings b ON b.id = t.booking_id
             WHERE t.id = p_tx AND t.save_method AND t.status = 'succeeded'
               AND NOT EXISTS (SELECT 1 FROM payment_methods m
                                WHERE m.gateway = p_gateway
                                  AND m.gateway_ref = p_method_ref));
END
$$;

-- Applies one verified gateway event, exactly once (the event id is the
-- key). Outcomes: 'ok' (stored, and applied to its transaction if one is
-- ours), 'duplicate' (stored already: nothing changes; a succeeded payment
-- whose card is still to keep says so again, so a redelivery retries a
-- card the gateway failed to give), 'mismatch' (reconciliation only: a
-- success for another amount or currency than ours, recorded on the run,
-- not applied). Body: NULL, or what the module does next: send the
-- over-payment refund a success opened ("overpayment":
-- jklg_overpayment_refund's {"refund", ...} or {"flagged": excess}), save
-- the card ("save_card_for": the customer). NULL when there is nothing to
-- do, so that the usual event costs the module no JSON to read. p_run: the reconciliation run applying it (NULL for
-- the webhook); p_currency is checked then.
CREATE FUNCTION jklg.apply_event(p_id text, p_gateway text, p_type text,
                                 p_payload jsonb, p_kind text, p_ref text,
                                 p_tx text, p_amount bigint, p_reason text,
                                 p_method_ref text, p_public_url text,
                                 p_run uuid DEFAULT NULL,
                                 p_currency text DEFAULT NULL)
    RETURNS jklg.outcome LANGUAGE plpgsql SET search_path = public, pg_temp
AS $$
DECLARE
    t transactions;
    tx uuid;
    actor text := p_gateway || ':' || p_id;
    emails uuid[] := '{}';
    over jsonb;
    save_for uuid;
BEGIN
    IF p_kind = 'ignored' THEN
        -- Nothing to link or move: the id is kept so a redelivery is known.
        INSERT INTO payment_events (id, gateway, type, payload, processed_at)
        VALUES (p_id, p_gateway, p_type,
                p_payload #- '{data,object,client_secret}', now())
        ON CONFLICT (id) DO NOTHING;
        RETURN jklg.answer(CASE WHEN FOUND THEN 'ok' ELSE 'duplicate' END);
    END IF;

    -- Locked at once: the event's foreign key and the move below then
    -- find the lock taken instead of each writing their own.
    IF p_ref IS NOT NULL THEN
        SELECT * INTO t FROM transactions
         WHERE gateway = p_gateway AND gateway_ref = p_ref FOR UPDATE;
        tx := t.id;
    END IF;

    IF p_run IS NOT NULL THEN
        UPDATE reconciliation_runs SET checked = checked + 1 WHERE id = p_run;
        IF tx IS NULL THEN
            SELECT * INTO t FROM transactions
             WHERE gateway = p_gateway AND gateway_ref IS NULL
               AND id = jklg_uuid_or_null(p_tx);
        END IF;
        IF NOT EXISTS (SELECT 1 FROM payment_events WHERE id = p_id)
           AND t.id IS NOT NULL AND p_kind = 'succeeded'
           AND (t.amount <> p_amount
                OR lower(t.currency) <> lower(COALESCE(p_currency,
                                                       t.currency))) THEN
            UPDATE reconciliation_runs
               SET mismatches = mismatches || jsonb_build_array(
                       jsonb_build_object(
                           'transaction_id', t.id, 'event_id', p_id,
                           'local_status', t.status, 'gateway_status', p_kind,
                           'local_amount', t.amount, 'currency', t.currency,
                           'gateway_amount', p_amount,
                           'gateway_currency', lower(COALESCE(p_currency,
                                                              t.currency))))
             WHERE id = p_run;
            RETURN jklg.answer('mismatch');
        END IF;
    END IF;

    -- The event may beat our own write of the intent's id (only a real
    -- UUID in the metadata links anything). A redelivery finds the id
    -- written the first time, so this changes nothing then.
    IF tx IS NULL AND jklg_uuid_or_null(p_tx) IS NOT NULL THEN
        UPDATE transactions SET gateway_ref = p_ref
         WHERE id = jklg_uuid_or_null(p_tx) AND gateway = p_gateway
           AND gateway_ref IS NULL
        RETURNING id INTO tx;
    END IF;

    -- A PaymentIntent's client secret may pay it: kept nowhere.
    INSERT INTO payment_events (id, gateway, type, payload, transaction_id,
                                processed_at)
    VALUES (p_id, p_gateway, p_type,
            p_payload #- '{data,object,client_secret}', tx, now())
    ON CONFLICT (id) DO NOTHING;
    IF NOT FOUND THEN
        IF p_kind = 'succeeded' AND p_method_ref IS NOT NULL THEN
            save_for := jklg_card_to_save(tx, p_gateway, p_method_ref);
        END IF;
        RETURN jklg.answer('duplicate', CASE WHEN save_for IS NOT NULL
            THEN jsonb_build_object('save_card_for', save_for) END);
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
        -- A success that queued its receipt may have paid a booking paid
        -- already (or canceled): the excess is refunded, opened here.
        IF cardinality(emails) > 0 THEN
            over := jklg_overpayment_refund(tx);
        END IF;
    END IF;

    IF p_run IS NOT NULL THEN
        UPDATE reconciliation_runs SET applied = applied + 1 WHERE id = p_run;
    END IF;
    IF p_kind = 'succeeded' AND p_method_ref IS NOT NULL THEN
        save_for := jklg_card_to_save(tx, p_gateway, p_method_ref);
    END IF;
    -- Built only when needed: jsonb_build_object is not immutable, so an
    -- SQL helper doing this would be planned again at every call.
    IF over IS NULL AND save_for IS NULL THEN
        RETURN jklg.answer('ok', NULL, emails);
    END IF;
    RETURN jklg.answer('ok',
        CASE WHEN over IS NULL THEN '{}'::jsonb
             ELSE jsonb_build_object('overpayment', over) END
        || CASE WHEN save_for IS NULL THEN '{}'::jsonb
                ELSE jsonb_build_object('save_card_for', save_for) END,
        emails);
END
$$;

-- ---------------------------------------------------------------------------
-- Intents (the first half, jklg.intent_open, is 014's).

-- A request creating this transaction's intent at the gateway: how far it
-- got. 'not_found', or 'ok' {gateway_ref, status, age} (seconds).
CREATE FUNCTION jklg.intent_peek(p_tx uuid)
    RETURNS jklg.outcome LANGUAGE sql STABLE SET search_path = public, pg_temp
AS $$
    SELECT COALESCE((
        SELECT jklg.ok(jsonb_build_object(
                   'gateway_ref', gateway_ref, 'status', status,
                   'age', extract(epoch FROM now() - created_at)::int))
          FROM transactions WHERE id = p_tx),
        jklg.answer('not_found'))
$$;

-- Second half: the gateway answered. p_ref NULL means it failed: the
-- transaction is closed as failed so nothing looks live. A status beyond
-- requires_payment (an intent paid or canceled at the gateway whose
-- webhook is late or lost) moves the transaction as its event would, and
-- a success that over-pays opens its refund. 'ok' {transaction,
-- overpayment?} (the module sends the refund and keeps it out of the
-- answer).
CREATE FUNCTION jklg.intent_settle(p_tx uuid, p_ref text, p_status text,
                                   p_error text, p_public_url text)
    RETURNS jklg.outcome LANGUAGE plpgsql SET search_path = public, pg_temp
AS $$
DECLARE
    t transactions;
    emails uuid[] := '{}';
    over jsonb;
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
        IF cardinality(emails) > 0 THEN
            over := jklg_overpayment_refund(p_tx);
        END IF;
    END IF;
    SELECT * INTO t FROM transactions WHERE id = p_tx;
    IF NOT FOUND THEN
        RETURN jklg.answer('not_found');
    END IF;
    RETURN jklg.ok(jsonb_build_object('transaction', jklg_transaction_json(t))
                   || CASE WHEN over IS NULL THEN '{}'::jsonb
                           ELSE jsonb_build_object('overpayment', over) END,
                   emails);
END
$$;

-- ---------------------------------------------------------------------------
-- Refunds.

-- The refund to send to the gateway (the module's jklg_refund_send).
CREATE FUNCTION jklg_refund_to_send(t transactions, f refunds)
    RETURNS jsonb LANGUAGE sql STABLE
AS $$
    SELECT jsonb_build_object('refund', jklg_refund_json(f), 'id', f.id,
                              'gateway', t.gateway,
                              'gateway_ref', t.gateway_ref,
                              'amount', f.amount, 'currency', f.currency)
$$;

-- 'conflict' with the reason in the words staff read.
CREATE FUNCTION jklg_not_possible(p_why text) RETURNS jklg.outcome
    LANGUAGE sql IMMUTABLE
AS $$
    SELECT jklg.answer('conflict', jsonb_build_object('message',
                       'Not possible: ' || p_why || '.'))
$$;

-- Staff refund, first half: checks what is refundable, then records the
-- refund as pending. Outcomes: 'opened' (new, or the pending one a retry
-- means: send it; body: jklg_refund_to_send), 'existing' (made with this
-- key and settled already: {"refund"}), 'not_found', 'over_refund' (more
-- than is left; {"message"}), 'conflict' ({"message"}: why not).
CREATE FUNCTION jklg.refund_open(p_tx uuid, p_amount bigint, p_reason text,
                                 p_staff text, p_key text)
    RETURNS jklg.outcome LANGUAGE plpgsql SET search_path = public, pg_temp
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
        RETURN jklg.answer('not_found');
    END IF;
    -- A key names one request: the same key for another transaction or
    -- another amount is a client's mistake, never the first refund.
    SELECT * INTO f FROM refunds WHERE idempotency_key = p_key;
    IF FOUND AND f.transaction_id <> p_tx THEN
        RETURN jklg_not_possible('this Idempotency-Key was used for a '
                                   'refund of another transaction');
    END IF;
    IF FOUND AND p_amount IS NOT NULL AND p_amount <> f.amount THEN
        RETURN jklg_not_possible(format(
            'this Idempotency-Key was used for a refund of %s', f.amount));
    END IF;
    -- Without a key of the client's, a refund whose outcome is unknown (a
    -- timeout) is what a retry means: retry that one, never a second.
    IF f.id IS NULL AND p_key LIKE 'auto:%' THEN
        SELECT * INTO f FROM refunds
         WHERE transaction_id = p_tx AND status = 'pending'
         ORDER BY created_at, id LIMIT 1;
        IF FOUND AND p_amount IS NOT NULL AND p_amount <> f.amount THEN
            RETURN jklg_not_possible(format(
                'a refund of %s is still pending; retry it first', f.amount));
        END IF;
    END IF;
    IF f.id IS NOT NULL THEN
        RETURN CASE WHEN f.status = 'pending'
                    THEN jklg.answer('opened', jklg_refund_to_send(t, f))
                    ELSE jklg.answer('existing', jsonb_build_object(
                             'refund', jklg_refund_json(f))) END;
    END IF;
    IF t.status NOT IN ('succeeded', 'partially_refunded') THEN
        RETURN jklg_not_possible('only a succeeded payment can be '
                                   'refunded');
    END IF;
    IF t.disputed THEN
        RETURN jklg_not_possible('the payment is disputed; refunds go '
                                   'through the dispute');
    END IF;
    SELECT COALESCE(sum(r.amount), 0) INTO pending FROM refunds r
     WHERE r.transaction_id = p_tx AND r.status = 'pending';
    left_over := t.amount - t.amount_refunded - pending;
    amount := COALESCE(p_amount, left_over);
    IF left_over <= 0 THEN
        RETURN jklg_not_possible('nothing is left to refund');
    END IF;
    IF amount > left_over THEN
        RETURN jklg.answer('over_refund', jsonb_build_object('message',
            format('Not possible: at most %s can be refunded.', left_over)));
    END IF;
    BEGIN
        INSERT INTO refunds (transaction_id, amount, currency, status,
                             reason, requested_by, idempotency_key)
        VALUES (p_tx, amount, t.currency, 'pending', p_reason, p_staff, p_key)
        RETURNING * INTO f;
    EXCEPTION WHEN unique_violation THEN
        -- The same key, at the same moment, on another transaction (this
        -- one is locked): the other request won it.
        RETURN jklg_not_possible('this Idempotency-Key was used for a '
                                   'refund of another transaction');
    END;
    PERFORM jklg_audit(p_tx, 'staff:' || p_staff, NULL, t.status, t.status,
                       jsonb_build_object('refund_requested', f.id,
                                          'amount', amount,
                                          'reason', p_reason));
    RETURN jklg.answer('opened', jklg_refund_to_send(t, f));
END
$$;

-- Second half: the gateway's answer. A succeeded refund counts at once;
-- only a pending refund moves, so a late answer never undoes what the
-- gateway's webhook settled. p_staff 'system': the module's own
-- over-payment refunds. 'ok' {"refund"}, or 'not_found'.
CREATE FUNCTION jklg.refund_settle(p_refund uuid, p_status text, p_ref text,
                                   p_staff text, p_error text)
    RETURNS jklg.outcome LANGUAGE plpgsql SET search_path = public, pg_temp
AS $$
DECLARE
    f refunds;
    actor text := CASE WHEN p_staff = 'system' THEN 'system'
                       ELSE 'staff:' || p_staff END;
BEGIN
    UPDATE refunds SET status = CASE WHEN status = 'pending' THEN p_status
                                     ELSE status END,
           gateway_ref = COALESCE(gateway_ref, p_ref)
     WHERE id = p_refund RETURNING * INTO f;
    IF NOT FOUND THEN
        RETURN jklg.answer('not_found');
    END IF;
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
    RETURN jklg.ok(jsonb_build_object('refund', jklg_refund_json(f)));
END
$$;

-- ---------------------------------------------------------------------------
-- Cash or bank transfer recorded by staff, aware of card payments (007):
-- - one still processing: refused ('conflict'), its outcome decides;
-- - open intents the gateway knows (gateway_ref set): nothing is written,
--   'cancel' {"cancel": [{id, gateway, gateway_ref, amount, currency}]}
--   asks the module to cancel them at the gateway (and record that) and
--   call again, so a customer cannot pay the same balance by card after;
-- - open intents still being created (no gateway_ref yet) are canceled
--   here; the request creating one cancels it at the gateway when it sees
--   the row canceled.
-- Else 'created' {"transaction"} with its mails; 'not_found', 'invalid'
-- (another currency than the booking's), 'conflict' {"message"}.
CREATE FUNCTION jklg.manual_payment(p_booking uuid, p_amount bigint,
                                    p_currency text, p_method text,
                                    p_note text, p_staff text,
                                    p_public_url text)
    RETURNS jklg.outcome LANGUAGE plpgsql SET search_path = public, pg_temp
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
        RETURN jklg.answer('not_found');
    END IF;
    IF b.currency <> p_currency THEN
        RETURN jklg.answer('invalid', jsonb_build_object('fields',
            jsonb_build_object('currency', format(
                'must be the booking''s currency (%s)', b.currency))));
    END IF;
    SELECT COALESCE(sum(amount), 0) INTO in_flight FROM transactions
     WHERE booking_id = b.id AND status = 'processing';
    IF in_flight > 0 THEN
        RETURN jklg_not_possible(format(
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
        RETURN jklg.answer('cancel', jsonb_build_object('cancel', to_cancel));
    END IF;
    IF p_amount > b.amount_total - b.amount_paid THEN
        RETURN jklg_not_possible(format(
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
    RETURN jklg.answer('created', jsonb_build_object(
        'transaction', jklg_transaction_json(t)), emails);
END
$$;

-- ---------------------------------------------------------------------------
-- The old entry points have no caller left (reconciliation applies events
-- through jklg.apply_event, p_run set).
DROP FUNCTION jklg.reconcile_apply(uuid, text, text, text, jsonb, text, text,
                                   text, bigint, text, text, text);
DROP FUNCTION jklg_apply_event(text, text, text, jsonb, text, text, text,
                               bigint, text, text);
DROP FUNCTION jklg_intent_settle(uuid, text, text, text, text);
DROP FUNCTION jklg_refund_open(uuid, bigint, text, text, text);
DROP FUNCTION jklg_refund_settle(uuid, text, text, text, text);
DROP FUNCTION jklg_manual_payment(uuid, bigint, text, text, text, text, text);
DROP FUNCTION jklg.method_to_save(text, text, text);
