-- The booking sync trigger (sql/002) locked the booking and summed its
-- transactions on every status change. Only succeeded, partially refunded
-- and refunded transactions count towards the sums, so a change that
-- neither enters nor leaves that set (an intent opened, requires_payment ->
-- processing -> failed or canceled) cannot move them: skip the lock and the
-- sums for it. That was most of a webhook's database time (docs/testing.md).

CREATE FUNCTION jklg_tx_counts(p_status text) RETURNS boolean
    LANGUAGE sql IMMUTABLE
AS $$ SELECT p_status IN ('succeeded', 'partially_refunded', 'refunded') $$;

CREATE OR REPLACE FUNCTION jklg_transactions_sync_bookings() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path FROM CURRENT
AS $$
DECLARE
    touched uuid[] := '{}';
    booking uuid;
BEGIN
    IF TG_OP = 'INSERT' AND NOT jklg_tx_counts(NEW.status)
       OR TG_OP = 'DELETE' AND NOT jklg_tx_counts(OLD.status) THEN
        RETURN NULL;
    END IF;
    -- Most updates (gateway_ref, failure_reason, disputed, a move between
    -- uncounted states ...) cannot change the sums: skip the lock so they
    -- do not queue behind payments.
    IF TG_OP = 'UPDATE' AND NEW.booking_id = OLD.booking_id
       AND (NOT jklg_tx_counts(NEW.status) AND NOT jklg_tx_counts(OLD.status)
            OR NEW.amount = OLD.amount
               AND NEW.amount_refunded = OLD.amount_refunded
               AND NEW.status = OLD.status) THEN
        RETURN NULL;
    END IF;

    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        touched := touched || OLD.booking_id;
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        touched := touched || NEW.booking_id;
    END IF;

    -- Lock in a fixed order, so moving transactions between two bookings in
    -- opposite directions at once cannot deadlock.
    FOR booking IN SELECT DISTINCT u FROM unnest(touched) AS u ORDER BY u LOOP
        PERFORM jklg_recompute_booking(booking);
    END LOOP;
    RETURN NULL;
END
$$;
