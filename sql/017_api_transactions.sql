-- Transactions, read by the customer (their own) and by staff (all, with
-- filters), as jklg.* endpoint functions (the shape of sql/009).

-- The customer's payments, newest first, keyset pagination.
CREATE FUNCTION jklg.me_transactions(p_session uuid, p_customer uuid,
                                     p_after_time timestamp, p_after_id uuid,
                                     p_limit int)
    RETURNS jklg.outcome LANGUAGE plpgsql SET search_path = public, pg_temp
AS $$
BEGIN
    IF jklg_session_customer(p_session, p_customer) IS NULL THEN
        RETURN jklg.answer('unauthorized');
    END IF;
    RETURN jklg.ok((
        SELECT jklg.page(array_agg(jklg_transaction_json(p.t)
                                   ORDER BY p.at DESC, p.id DESC),
                         array_agg(p.at ORDER BY p.at DESC, p.id DESC),
                         array_agg(p.id ORDER BY p.at DESC, p.id DESC), p_limit)
          FROM (SELECT t, t.created_at AS at, t.id FROM transactions t
                  JOIN bookings b ON b.id = t.booking_id
                 WHERE b.customer_id = p_customer
                   AND (p_after_time IS NULL
                        OR (t.created_at, t.id)
                           < (p_after_time AT TIME ZONE 'UTC', p_after_id))
                 ORDER BY t.created_at DESC, t.id DESC
                 LIMIT p_limit + 1) p));
END
$$;

CREATE FUNCTION jklg.me_transaction(p_session uuid, p_customer uuid,
                                    p_id uuid)
    RETURNS jklg.outcome LANGUAGE plpgsql SET search_path = public, pg_temp
AS $$
DECLARE
    t transactions;
BEGIN
    IF jklg_session_customer(p_session, p_customer) IS NULL THEN
        RETURN jklg.answer('unauthorized');
    END IF;
    SELECT tx.* INTO t FROM transactions tx
      JOIN bookings b ON b.id = tx.booking_id
     WHERE tx.id = p_id AND b.customer_id = p_customer;
    IF NOT FOUND THEN
        RETURN jklg.answer('not_found');
    END IF;
    RETURN jklg.ok(jsonb_build_object('transaction', jklg_transaction_json(t)));
END
$$;

-- Staff: every transaction, each filter ignored when NULL.
CREATE FUNCTION jklg.staff_transactions(p_status text, p_booking uuid,
                                        p_customer uuid,
                                        p_since timestamptz,
                                        p_until timestamptz,
                                        p_after_time timestamp,
                                        p_after_id uuid, p_limit int)
    RETURNS jklg.outcome LANGUAGE sql STABLE
    SET search_path = public, pg_temp
AS $$
    SELECT jklg.ok((
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
                 LIMIT p_limit + 1) p))
$$;

-- Staff: one transaction with its audit log and refunds.
CREATE FUNCTION jklg.staff_transaction(p_id uuid)
    RETURNS jklg.outcome LANGUAGE plpgsql STABLE
    SET search_path = public, pg_temp
AS $$
DECLARE
    t transactions;
BEGIN
    SELECT * INTO t FROM transactions WHERE id = p_id;
    IF NOT FOUND THEN
        RETURN jklg.answer('not_found');
    END IF;
    RETURN jklg.ok(jsonb_build_object(
        'transaction', jklg_transaction_json(t),
        'audit_log', COALESCE((SELECT jsonb_agg(jklg_audit_json(l) ORDER BY l.id)
                                 FROM transaction_audit_logs l
                                WHERE l.transaction_id = t.id), '[]'::jsonb),
        'refunds', COALESCE((SELECT jsonb_agg(jklg_refund_json(f)
                                              ORDER BY f.created_at, f.id)
                               FROM refunds f WHERE f.transaction_id = t.id),
                            '[]'::jsonb)));
END
$$;
