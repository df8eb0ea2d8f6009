-- Row-level security, ready to enable for roles other than the owner.
--
-- mod_jklg connects as the tables' owner, and RLS is ENABLEd, not FORCEd:
-- the owner is unaffected and the module scopes its queries itself. These
-- policies are for any other role given access to the data: Supabase's
-- anon/authenticated roles, a reporting role, a support tool. Such a role
-- sees and changes only the rows of the customer named by
--
--     SET jklg.customer_id = '<customer uuid>';   -- or SET LOCAL, set_config()
--
-- and nothing at all when the setting is unset or empty. The setting is not
-- a credential (any session may SET it): only give these roles to code that
-- sets it from an authenticated identity, e.g. a PostgREST pre-request
-- function that copies it from the verified JWT.
--
-- Grants still decide which statements a role may run; the policies decide
-- which rows. A role that writes transactions also needs SELECT and UPDATE
-- on bookings, because the booking sync trigger runs with its privileges.

-- NULLIF: after RESET the setting reads as '', and ''::uuid would raise an
-- error instead of matching nothing.
CREATE FUNCTION jklg_customer_id() RETURNS uuid
    LANGUAGE sql STABLE PARALLEL SAFE
AS $$
    SELECT NULLIF(current_setting('jklg.customer_id', true), '')::uuid
$$;

ALTER TABLE customers ENABLE ROW LEVEL SECURITY;
CREATE POLICY customers_own_rows ON customers
    USING (id = jklg_customer_id())
    WITH CHECK (id = jklg_customer_id());

ALTER TABLE customer_sessions ENABLE ROW LEVEL SECURITY;
CREATE POLICY customer_sessions_own_rows ON customer_sessions
    USING (customer_id = jklg_customer_id())
    WITH CHECK (customer_id = jklg_customer_id());

ALTER TABLE email_verification_tokens ENABLE ROW LEVEL SECURITY;
CREATE POLICY email_verification_tokens_own_rows ON email_verification_tokens
    USING (customer_id = jklg_customer_id())
    WITH CHECK (customer_id = jklg_customer_id());

ALTER TABLE password_reset_tokens ENABLE ROW LEVEL SECURITY;
CREATE POLICY password_reset_tokens_own_rows ON password_reset_tokens
    USING (customer_id = jklg_customer_id())
    WITH CHECK (customer_id = jklg_customer_id());

ALTER TABLE customer_addresses ENABLE ROW LEVEL SECURITY;
CREATE POLICY customer_addresses_own_rows ON customer_addresses
    USING (customer_id = jklg_customer_id())
    WITH CHECK (customer_id = jklg_customer_id());

ALTER TABLE customer_preferences ENABLE ROW LEVEL SECURITY;
CREATE POLICY customer_preferences_own_rows ON customer_preferences
    USING (customer_id = jklg_customer_id())
    WITH CHECK (customer_id = jklg_customer_id());

ALTER TABLE bookings ENABLE ROW LEVEL SECURITY;
CREATE POLICY bookings_own_rows ON bookings
    USING (customer_id = jklg_customer_id())
    WITH CHECK (customer_id = jklg_customer_id());

-- Payment rows carry no customer_id: ownership follows the booking. The
-- subqueries are themselves filtered by the bookings policy.
ALTER TABLE transactions ENABLE ROW LEVEL SECURITY;
CREATE POLICY transactions_own_rows ON transactions
    USING (booking_id IN (SELECT b.id FROM bookings b
                           WHERE b.customer_id = jklg_customer_id()))
    WITH CHECK (booking_id IN (SELECT b.id FROM bookings b
                                WHERE b.customer_id = jklg_customer_id()));

ALTER TABLE refunds ENABLE ROW LEVEL SECURITY;
CREATE POLICY refunds_own_rows ON refunds
    USING (transaction_id IN (SELECT t.id FROM transactions t
                                JOIN bookings b ON b.id = t.booking_id
                               WHERE b.customer_id = jklg_customer_id()))
    WITH CHECK (transaction_id IN (SELECT t.id FROM transactions t
                                     JOIN bookings b ON b.id = t.booking_id
                                    WHERE b.customer_id = jklg_customer_id()));

ALTER TABLE transaction_audit_logs ENABLE ROW LEVEL SECURITY;
CREATE POLICY transaction_audit_logs_own_rows ON transaction_audit_logs
    USING (transaction_id IN (SELECT t.id FROM transactions t
                                JOIN bookings b ON b.id = t.booking_id
                               WHERE b.customer_id = jklg_customer_id()))
    WITH CHECK (transaction_id IN (SELECT t.id FROM transactions t
                                     JOIN bookings b ON b.id = t.booking_id
                                    WHERE b.customer_id = jklg_customer_id()));

-- Not any customer's to see: raw gateway payloads and queued mail (which
-- holds live one-time tokens). RLS without a policy hides every row from
-- every role but the owner, e.g. from Supabase's default grants.
ALTER TABLE payment_events ENABLE ROW LEVEL SECURITY;
ALTER TABLE email_outbox ENABLE ROW LEVEL SECURITY;
