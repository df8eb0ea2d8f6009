-- Bad input answers 4xx and changes nothing (issue 7).
--
-- jklg_apply_event: a signed event's metadata.transaction_id is anyone's to
-- write. 005 let "------------------------------------" through its regex
-- to a ::uuid cast that failed the whole event (500, retried by Stripe
-- forever). Now an id that is not a UUID links nothing; the event is still
-- recorded. The module drops such ids before they get here too.
--
-- jklg_refund_open: a staff Idempotency-Key is looked up alone, not per
-- transaction. Reused for another transaction, or with another amount, it
-- answers {"conflict"} (409) instead of failing the unique index (500,
-- with the key in the log).
--
-- Both functions are 005's but for the lines whose comments say 008.

CREATE FUNCTION jklg_uuid_or_null(p text) RETURNS uuid
    LANGUAGE sql IMMUTABLE
AS $$
    SELECT CASE WHEN p ~* ('^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-'
                           '[0-9a-f]{4}-[0-9a-f]{12}$')
                THEN p::uuid END
$$;

-- Applies one verified gateway event, exactly once. Returns
-- {"duplicate": true} for a redelivery, else {"transaction_id": ...|null,
-- "emails": [outbox ids]}.
CREATE OR REPLACE FUNCTION jklg_apply_event(
    p_id text, p_gateway text, p_type text, p_payload jsonb, p_kind text,
    p_ref text, p_tx text, p_amount bigint, p_reason text,
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
    -- The event may beat our own write of the intent's id. (008: only a
    -- real UUID; anything else in the metadata links nothing.)
    IF tx IS NULL AND jklg_uuid_or_null(p_tx) IS NOT NULL THEN
        UPDATE transactions SET gateway_ref = p_ref
         WHERE id = jklg_uuid_or_null(p_tx) AND gateway = p_gateway
           AND gateway_ref IS NULL
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

-- Staff refund, first half: checks what is refundable, then records the
-- refund as pending (or returns the one made with the same key, or the
-- pending one a keyless retry means). Returns {"not_found"},
-- {"conflict": why}, or {"refund": ..., "id", "existing", "gateway",
-- "gateway_ref", "amount", "currency"}.
CREATE OR REPLACE FUNCTION jklg_refund_open(
    p_tx uuid, p_amount bigint, p_reason text, p_staff text, p_key text)
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
    -- 008: a key names one request: the same key for another transaction or
    -- another amount is a client's mistake, never the first refund.
    SELECT * INTO f FROM refunds WHERE idempotency_key = p_key;
    IF FOUND AND f.transaction_id <> p_tx THEN
        RETURN jsonb_build_object('conflict',
            'this Idempotency-Key was used for a refund of another '
            'transaction');
    END IF;
    IF FOUND AND p_amount IS NOT NULL AND p_amount <> f.amount THEN
        RETURN jsonb_build_object('conflict', format(
            'this Idempotency-Key was used for a refund of %s', f.amount));
    END IF;
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
    BEGIN
        INSERT INTO refunds (transaction_id, amount, currency, status,
                             reason, requested_by, idempotency_key)
        VALUES (p_tx, amount, t.currency, 'pending', p_reason, p_staff, p_key)
        RETURNING * INTO f;
    EXCEPTION WHEN unique_violation THEN
        -- 008: the same key, at the same moment, on another transaction (this
        -- one is locked): the other request won it.
        RETURN jsonb_build_object('conflict',
            'this Idempotency-Key was used for a refund of another '
            'transaction');
    END;
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
