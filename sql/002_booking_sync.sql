-- Keeps bookings.amount_paid / amount_refunded / payment_status equal to what
-- the booking's transactions say, whoever writes the transactions (webhook,
-- staff, a manual fix in psql), and refuses money in the wrong currency.
--
-- Trigger functions pin search_path at creation time: they run with the
-- privileges and settings of whoever wrote the row, and must resolve the same
-- tables under another role's search_path or a tool that empties it.

-- Shared by the bookings trigger below and available to the application, so
-- there is exactly one definition of the rules.
CREATE FUNCTION jklg_payment_status(amount_total bigint, amount_paid bigint,
                                    amount_refunded bigint) RETURNS text
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
AS $$
    SELECT CASE
        WHEN amount_refunded > 0 AND amount_refunded >= amount_paid THEN 'refunded'
        WHEN amount_refunded > 0 THEN 'partially_refunded'
        WHEN amount_paid >= amount_total THEN 'paid'
        WHEN amount_paid > 0 THEN 'partially_paid'
        ELSE 'unpaid'
    END
$$;

-- payment_status is derived on every write of a booking, so it also follows
-- a change of amount_total and cannot be set to something inconsistent.
CREATE FUNCTION jklg_bookings_derive_payment_status() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path FROM CURRENT
AS $$
BEGIN
    NEW.payment_status := jklg_payment_status(NEW.amount_total, NEW.amount_paid,
                                              NEW.amount_refunded);
    RETURN NEW;
END
$$;

CREATE TRIGGER bookings_derive_payment_status BEFORE INSERT OR UPDATE ON bookings
    FOR EACH ROW EXECUTE FUNCTION jklg_bookings_derive_payment_status();

CREATE FUNCTION jklg_recompute_booking(p_booking_id uuid) RETURNS void
    LANGUAGE plpgsql
    SET search_path FROM CURRENT
AS $$
BEGIN
    -- Take the booking's row lock before reading the transactions. Under READ
    -- COMMITTED the next statement then gets a fresh snapshot that includes
    -- every transaction committed by whoever held the lock before us, so two
    -- concurrent payments cannot each sum without the other and lose one.
    -- NO KEY UPDATE rather than UPDATE: the inserting statement's foreign key
    -- check already holds KEY SHARE on this row, and FOR UPDATE would conflict
    -- with a concurrent payer's KEY SHARE and deadlock the two.
    PERFORM 1 FROM bookings WHERE id = p_booking_id FOR NO KEY UPDATE;
    IF NOT FOUND THEN
        RETURN;
    END IF;

    UPDATE bookings b
       SET amount_paid = s.paid,
           amount_refunded = s.refunded
      FROM (SELECT coalesce(sum(t.amount), 0) AS paid,
                   coalesce(sum(t.amount_refunded), 0) AS refunded
              FROM transactions t
             WHERE t.booking_id = p_booking_id
               AND t.status IN ('succeeded', 'partially_refunded', 'refunded')) s
     WHERE b.id = p_booking_id
       AND (b.amount_paid, b.amount_refunded) IS DISTINCT FROM (s.paid, s.refunded);
END
$$;

CREATE FUNCTION jklg_transactions_sync_bookings() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path FROM CURRENT
AS $$
DECLARE
    touched uuid[] := '{}';
    booking uuid;
BEGIN
    -- Most updates (gateway_ref, failure_reason, disputed ...) cannot change
    -- the sums: skip the lock so they do not queue behind payments.
    IF TG_OP = 'UPDATE'
       AND NEW.booking_id = OLD.booking_id
       AND NEW.amount = OLD.amount
       AND NEW.amount_refunded = OLD.amount_refunded
       AND NEW.status = OLD.status THEN
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

CREATE TRIGGER transactions_sync_bookings
    AFTER INSERT OR UPDATE OR DELETE ON transactions
    FOR EACH ROW EXECUTE FUNCTION jklg_transactions_sync_bookings();

-- A payment in another currency would be summed as if it were the booking's
-- currency. Raised as check_violation with a constraint name, so the
-- application can map it like any other CHECK.
CREATE FUNCTION jklg_transactions_check_currency() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path FROM CURRENT
AS $$
DECLARE
    booking_currency char(3);
BEGIN
    SELECT currency INTO booking_currency FROM bookings WHERE id = NEW.booking_id;
    -- Not found: the foreign key (or row-level security) refuses the row.
    IF FOUND AND booking_currency <> NEW.currency THEN
        RAISE EXCEPTION 'transaction currency % does not match booking currency %',
                        NEW.currency, booking_currency
              USING ERRCODE = 'check_violation',
                    CONSTRAINT = 'transactions_currency_matches_booking',
                    TABLE = 'transactions';
    END IF;
    RETURN NEW;
END
$$;

CREATE TRIGGER transactions_check_currency
    BEFORE INSERT OR UPDATE OF booking_id, currency ON transactions
    FOR EACH ROW EXECUTE FUNCTION jklg_transactions_check_currency();

CREATE FUNCTION jklg_refunds_check_currency() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path FROM CURRENT
AS $$
DECLARE
    transaction_currency char(3);
BEGIN
    SELECT currency INTO transaction_currency FROM transactions
     WHERE id = NEW.transaction_id;
    IF FOUND AND transaction_currency <> NEW.currency THEN
        RAISE EXCEPTION 'refund currency % does not match transaction currency %',
                        NEW.currency, transaction_currency
              USING ERRCODE = 'check_violation',
                    CONSTRAINT = 'refunds_currency_matches_transaction',
                    TABLE = 'refunds';
    END IF;
    RETURN NEW;
END
$$;

CREATE TRIGGER refunds_check_currency
    BEFORE INSERT OR UPDATE OF transaction_id, currency ON refunds
    FOR EACH ROW EXECUTE FUNCTION jklg_refunds_check_currency();

-- The other half of the currency rule: once money is recorded against a
-- booking, its currency is fixed.
CREATE FUNCTION jklg_bookings_freeze_currency() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path FROM CURRENT
AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM transactions WHERE booking_id = NEW.id) THEN
        RAISE EXCEPTION 'booking % has transactions: its currency cannot change', NEW.id
              USING ERRCODE = 'check_violation',
                    CONSTRAINT = 'bookings_currency_fixed_by_transactions',
                    TABLE = 'bookings';
    END IF;
    RETURN NEW;
END
$$;

CREATE TRIGGER bookings_freeze_currency BEFORE UPDATE OF currency ON bookings
    FOR EACH ROW WHEN (OLD.currency IS DISTINCT FROM NEW.currency)
    EXECUTE FUNCTION jklg_bookings_freeze_currency();
