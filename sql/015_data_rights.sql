-- Data rights (issue 12): the customer's export and erasure, and the staff
-- customer tools (search, one customer's view, resend verification, revoke
-- sessions, unlock, erase), each staff action audited.
--
-- Erasure keeps the customers row (bookings and transactions reference it
-- and must be kept for the accounts) but replaces everything personal in
-- it: names emptied, phone cleared, the email replaced by a random
-- placeholder 'erased+<32 hex>@invalid' made by the module
-- (jklg_erased_email), the password hash made unusable. docs/data-rights.md
-- has the table map: what is exported, erased, kept, and why.

-- ---------------------------------------------------------------------------
-- Columns, tables, indexes.

ALTER TABLE customers ADD COLUMN erased_at timestamptz;

-- Mail is linked to a customer by its recipient (the outbox has no
-- customer id): the export lists it and erasure rewrites it.
CREATE INDEX email_outbox_recipient_idx ON email_outbox (recipient);

-- Who did what to which customer, from /api/admin/customers. Kept like the
-- transaction audit: customers are never deleted, only erased.
CREATE TABLE staff_audit (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    staff_user  text NOT NULL,
    action      text NOT NULL,
    -- NULL for a search (no one customer).
    customer_id uuid REFERENCES customers ON DELETE RESTRICT,
    details     jsonb NOT NULL DEFAULT '{}',
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX staff_audit_customer_idx ON staff_audit (customer_id, created_at);
-- Staff's record, not the customer's: no policy, so no customer role sees it.
ALTER TABLE staff_audit ENABLE ROW LEVEL SECURITY;

-- Staff search. A trigram GIN index on one lowercase "email first last"
-- text answers "contains" (LIKE '%q%') for emails and names alike, where a
-- text_pattern_ops btree would only answer prefixes ("silva" must find
-- "Ana Silva"). pg_trgm is a trusted extension (PostgreSQL 13+): the
-- database owner may create it; where it already lives in another schema
-- (Supabase: extensions), the operator class is named from there.
CREATE EXTENSION IF NOT EXISTS pg_trgm;

DO $$
DECLARE
    ns text;
BEGIN
    SELECT n.nspname INTO ns FROM pg_extension e
      JOIN pg_namespace n ON n.oid = e.extnamespace
     WHERE e.extname = 'pg_trgm';
    EXECUTE format('CREATE INDEX customers_search_trgm_idx ON customers '
                   'USING gin ((email || '' '' || lower(first_name) || '' '' '
                   '|| lower(last_name)) %I.gin_trgm_ops)', ns);
END
$$;
-- The unfiltered staff list, newest first.
CREATE INDEX customers_created_idx ON customers (created_at DESC, id DESC);

-- Policies choose rows, not columns (007): a customer role may not un-erase
-- its row either.
CREATE OR REPLACE FUNCTION jklg_customers_guard_columns() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path FROM CURRENT
AS $$
BEGIN
    IF row_security_active(TG_RELID)
       AND (NEW.id, NEW.email, NEW.password_hash, NEW.email_verified_at,
            NEW.created_at, NEW.erased_at)
           IS DISTINCT FROM (OLD.id, OLD.email, OLD.password_hash,
                             OLD.email_verified_at, OLD.created_at,
                             OLD.erased_at) THEN
        RAISE EXCEPTION 'only first_name, last_name and phone of a customer '
                        'can be changed by this role'
              USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN NEW;
END
$$;

-- ---------------------------------------------------------------------------
-- Export: one document, built here in one statement's call.

-- The newest p_cap items of a list (items in order, one more than p_cap
-- asked for): {"data": [...], "truncated": bool}.
CREATE FUNCTION jklg.export_list(p_items jsonb[], p_cap int) RETURNS jsonb
    LANGUAGE sql IMMUTABLE
AS $$
    SELECT jsonb_build_object(
        'data', COALESCE(to_jsonb(p_items[1:p_cap]), '[]'::jsonb),
        'truncated', COALESCE(cardinality(p_items), 0) > p_cap)
$$;

-- An outbox row as the customer sees it: what was sent and when, never its
-- data (which held one-time links) nor the delivery internals. The subject
-- is rendered at send time and not stored: null.
CREATE FUNCTION jklg.export_email_json(m email_outbox) RETURNS jsonb
    LANGUAGE sql STABLE SET search_path = public, pg_temp
AS $$
    SELECT jsonb_build_object('id', m.id, 'template', m.template,
                              'subject', NULL, 'status', m.status,
                              'created_at', jklg_ts(m.created_at),
                              'sent_at', jklg_ts(m.sent_at))
$$;

-- Everything stored about one customer (p_customer), each list capped at
-- its newest p_cap rows; p_session is marked "current" among the sessions.
-- No password hash, token (hash) or mail data leaves.
CREATE FUNCTION jklg.customer_export(p_customer uuid, p_session uuid,
                                     p_cap int)
    RETURNS jsonb LANGUAGE plpgsql STABLE SET search_path = public, pg_temp
AS $$
DECLARE
    c customers;
    p customer_preferences;
BEGIN
    SELECT * INTO c FROM customers WHERE id = p_customer;
    SELECT * INTO p FROM customer_preferences WHERE customer_id = p_customer;
    RETURN jsonb_build_object(
        'customer', jklg_customer_json(c)
                    || jsonb_build_object('erased_at', jklg_ts(c.erased_at)),
        'preferences', jklg.preferences_json(p)->'preferences',
        'addresses', (SELECT jklg.export_list(array_agg(x.j), p_cap)
            FROM (SELECT jklg_address_json(a) AS j FROM customer_addresses a
                   WHERE a.customer_id = p_customer
                   ORDER BY a.created_at DESC, a.id DESC
                   LIMIT p_cap + 1) x),
        'sessions', (SELECT jklg.export_list(array_agg(x.j), p_cap)
            FROM (SELECT jklg_session_json(s, p_session) AS j
                    FROM customer_sessions s
                   WHERE s.customer_id = p_customer
                   ORDER BY s.created_at DESC, s.id DESC
                   LIMIT p_cap + 1) x),
        'bookings', (SELECT jklg.export_list(array_agg(x.j), p_cap)
            FROM (SELECT jklg_booking_json(b) AS j FROM bookings b
                   WHERE b.customer_id = p_customer
                   ORDER BY b.created_at DESC, b.id DESC
                   LIMIT p_cap + 1) x),
        'transactions', (SELECT jklg.export_list(array_agg(x.j), p_cap)
            FROM (SELECT jklg_transaction_json(t) AS j FROM transactions t
                    JOIN bookings b ON b.id = t.booking_id
                   WHERE b.customer_id = p_customer
                   ORDER BY t.created_at DESC, t.id DESC
                   LIMIT p_cap + 1) x),
        'security_events', (SELECT jklg.export_list(array_agg(x.j), p_cap)
            FROM (SELECT jklg.security_event_json(e) AS j
                    FROM security_events e
                   WHERE e.customer_id = p_customer
                   ORDER BY e.created_at DESC, e.id DESC
                   LIMIT p_cap + 1) x),
        'emails', (SELECT jklg.export_list(array_agg(x.j), p_cap)
            FROM (SELECT jklg.export_email_json(m) AS j FROM email_outbox m
                   WHERE m.recipient = c.email
                   ORDER BY m.created_at DESC, m.id DESC
                   LIMIT p_cap + 1) x));
END
$$;

CREATE FUNCTION jklg.me_export(p_session uuid, p_customer uuid, p_cap int)
    RETURNS jklg.outcome LANGUAGE plpgsql SET search_path = public, pg_temp
AS $$
BEGIN
    IF jklg_session_customer(p_session, p_customer) IS NULL THEN
        RETURN jklg.answer('unauthorized');
    END IF;
    RETURN jklg.ok(jklg.customer_export(p_customer, p_session, p_cap));
END
$$;

-- ---------------------------------------------------------------------------
-- Erasure.

-- Erases one customer's personal data: 'accepted', 'conflict' (money in
-- flight: a booking not cancelled whose travel has not ended, or a pending
-- refund), 'not_found'. The row lock serialises it with a login (whose
-- session insert waits, then finds erased_at set: jklg_c_login) and with
-- a second erasure. Erasing an erased customer changes nothing more.
CREATE FUNCTION jklg.customer_erase(p_customer uuid, p_placeholder text)
    RETURNS text LANGUAGE plpgsql SET search_path = public, pg_temp
AS $$
DECLARE
    c customers;
BEGIN
    SELECT * INTO c FROM customers WHERE id = p_customer FOR UPDATE;
    IF NOT FOUND THEN
        RETURN 'not_found';
    END IF;
    IF c.erased_at IS NOT NULL THEN
        RETURN 'accepted';
    END IF;
    IF EXISTS (SELECT 1 FROM bookings b
                WHERE b.customer_id = c.id
                  AND b.status NOT IN ('cancelled', 'canceled')
                  AND b.travel_end >= (now() AT TIME ZONE 'UTC')::date)
       OR EXISTS (SELECT 1 FROM refunds r
                    JOIN transactions t ON t.id = r.transaction_id
                    JOIN bookings b ON b.id = t.booking_id
                   WHERE b.customer_id = c.id AND r.status = 'pending') THEN
        RETURN 'conflict';
    END IF;
    DELETE FROM customer_sessions WHERE customer_id = c.id;
    DELETE FROM email_verification_tokens WHERE customer_id = c.id;
    DELETE FROM password_reset_tokens WHERE customer_id = c.id;
    DELETE FROM customer_addresses WHERE customer_id = c.id;
    DELETE FROM customer_preferences WHERE customer_id = c.id;
    UPDATE security_events SET ip = NULL, user_agent = NULL
     WHERE customer_id = c.id;
    -- Mail to the address: its record stays (template, dates) under the
    -- placeholder; what is still queued is not sent.
    UPDATE email_outbox SET recipient = p_placeholder, data = NULL,
           status = CASE WHEN status IN ('queued', 'sending') THEN 'failed'
                         ELSE status END,
           last_error = CASE WHEN status IN ('queued', 'sending')
                             THEN 'recipient erased' ELSE last_error END
     WHERE recipient = c.email;
    -- '!' is no hash any verifier accepts: no password opens it.
    UPDATE customers SET email = p_placeholder, first_name = '',
           last_name = '', phone = NULL, password_hash = '!erased',
           erased_at = now()
     WHERE id = c.id;
    RETURN 'accepted';
END
$$;

CREATE FUNCTION jklg.me_erase(p_session uuid, p_customer uuid,
                              p_placeholder text)
    RETURNS jklg.outcome LANGUAGE plpgsql SET search_path = public, pg_temp
AS $$
DECLARE
    outcome text;
BEGIN
    IF jklg_session_customer(p_session, p_customer) IS NULL THEN
        RETURN jklg.answer('unauthorized');
    END IF;
    outcome := jklg.customer_erase(p_customer, p_placeholder);
    RETURN jklg.answer(outcome, CASE WHEN outcome = 'accepted' THEN
        jsonb_build_object('message', 'Your personal data has been erased '
                           'and your account closed.') END);
END
$$;

-- ---------------------------------------------------------------------------
-- Staff customer tools. p_staff is the Apache user; every action writes
-- staff_audit in the same transaction.

CREATE FUNCTION jklg.staff_customer_json(c customers) RETURNS jsonb
    LANGUAGE sql STABLE SET search_path = public, pg_temp
AS $$
    SELECT jklg_customer_json(c)
           || jsonb_build_object('erased_at', jklg_ts(c.erased_at))
$$;

-- Search (p_q: LIKE wildcards escaped by jklg_search_pattern; lowercased
-- here, as the index text is) or every customer, newest first, keyset
-- pagination. Dynamic SQL: the statement is planned with the values known
-- on every call. A cached generic plan cannot tell a rare text (the trigram
-- index, a few ms at 100,000 customers) from a common one (walking
-- customers_created_idx until a page is full) and took 200 ms for a rare
-- one (docs/staff.md, "Search").
-- Audited as 'search' with the number of customers shown, not the text
-- (it may be an address that an erasure must be able to forget).
CREATE FUNCTION jklg.staff_customers(p_staff text, p_q text,
                                     p_after_time timestamp,
                                     p_after_id uuid, p_limit int)
    RETURNS jklg.outcome LANGUAGE plpgsql SET search_path = public, pg_temp
AS $$
DECLARE
    found jsonb;
BEGIN
    EXECUTE $sql$
        SELECT jklg.page(array_agg(jklg.staff_customer_json(p.c)
                                   ORDER BY p.at DESC, p.id DESC),
                         array_agg(p.at ORDER BY p.at DESC, p.id DESC),
                         array_agg(p.id ORDER BY p.at DESC, p.id DESC), $4)
          FROM (SELECT c, c.created_at AS at, c.id FROM customers c
                 WHERE ($1::text IS NULL
                        OR (c.email || ' ' || lower(c.first_name) || ' '
                            || lower(c.last_name)) LIKE '%' || $1 || '%')
                   AND ($2::timestamp IS NULL
                        OR (c.created_at, c.id)
                           < ($2 AT TIME ZONE 'UTC', $3::uuid))
                 ORDER BY c.created_at DESC, c.id DESC
                 LIMIT $4 + 1) p
    $sql$ INTO found USING lower(p_q), p_after_time, p_after_id, p_limit;
    PERFORM jklg.staff_audit(p_staff, 'search', NULL, jsonb_build_object(
        'filtered', p_q IS NOT NULL,
        'shown', jsonb_array_length(found->'data')));
    RETURN jklg.ok(found);
END
$$;

-- One customer: profile, live sessions, the newest 100 bookings and
-- security events (staff's transaction list has the rest by customer_id).
-- Audited as 'view': who looked at whose personal data.
CREATE FUNCTION jklg.staff_customer(p_staff text, p_id uuid)
    RETURNS jklg.outcome LANGUAGE plpgsql SET search_path = public, pg_temp
AS $$
DECLARE
    c customers;
BEGIN
    SELECT * INTO c FROM customers WHERE id = p_id;
    IF NOT FOUND THEN
        RETURN jklg.answer('not_found');
    END IF;
    PERFORM jklg.staff_audit(p_staff, 'view', c.id, NULL);
    RETURN jklg.ok(jsonb_build_object(
        'customer', jklg.staff_customer_json(c),
        'sessions', COALESCE((SELECT jsonb_agg(jklg_session_json(s, NULL)
                                               - 'current'
                                               ORDER BY s.created_at DESC,
                                                        s.id DESC)
                                FROM customer_sessions s
                               WHERE s.customer_id = c.id
                                 AND s.expires_at > now()), '[]'::jsonb),
        'bookings', COALESCE((SELECT jsonb_agg(jklg_booking_json(x.b)
                                               ORDER BY x.at DESC, x.id DESC)
                                FROM (SELECT b, b.created_at AS at, b.id
                                        FROM bookings b
                                       WHERE b.customer_id = c.id
                                       ORDER BY b.created_at DESC, b.id DESC
                                       LIMIT 100) x), '[]'::jsonb),
        'security_events', COALESCE((SELECT jsonb_agg(
                                         jklg.security_event_json(x.e)
                                         ORDER BY x.at DESC, x.id DESC)
                                       FROM (SELECT e, e.created_at AS at,
                                                    e.id
                                               FROM security_events e
                                              WHERE e.customer_id = c.id
                                              ORDER BY e.created_at DESC,
                                                       e.id DESC
                                              LIMIT 100) x), '[]'::jsonb)));
END
$$;

CREATE FUNCTION jklg.staff_audit(p_staff text, p_action text,
                                 p_customer uuid, p_details jsonb)
    RETURNS void LANGUAGE sql SET search_path = public, pg_temp
AS $$
    INSERT INTO staff_audit (staff_user, action, customer_id, details)
    VALUES (p_staff, p_action, p_customer, COALESCE(p_details, '{}'))
$$;

-- A new verification link (earlier ones stop working), like the public
-- resend; 'conflict' when the address is verified already or erased.
CREATE FUNCTION jklg.staff_customer_resend(p_staff text, p_id uuid,
                                           p_token_hash text,
                                           p_verify_url text)
    RETURNS jklg.outcome LANGUAGE plpgsql SET search_path = public, pg_temp
AS $$
DECLARE
    c customers;
    mail uuid;
BEGIN
    SELECT * INTO c FROM customers WHERE id = p_id FOR UPDATE;
    IF NOT FOUND THEN
        RETURN jklg.answer('not_found');
    END IF;
    IF c.email_verified_at IS NOT NULL OR c.erased_at IS NOT NULL THEN
        RETURN jklg.answer('conflict');
    END IF;
    UPDATE email_verification_tokens SET used_at = now()
     WHERE customer_id = c.id AND used_at IS NULL;
    INSERT INTO email_verification_tokens (customer_id, token_hash, expires_at)
    VALUES (c.id, decode(p_token_hash, 'hex'), now() + interval '24 hours');
    INSERT INTO email_outbox (template, recipient, data)
    VALUES ('verification', c.email,
            jsonb_build_object('first_name', c.first_name,
                               'verify_url', p_verify_url,
                               'expires_hours', 24))
    RETURNING id INTO mail;
    PERFORM jklg.staff_audit(p_staff, 'resend_verification', c.id, NULL);
    RETURN jklg.answer('accepted', jsonb_build_object('message',
                       'A new verification email is on its way.'),
                       ARRAY[mail]);
END
$$;

CREATE FUNCTION jklg.staff_customer_revoke(p_staff text, p_id uuid)
    RETURNS jklg.outcome LANGUAGE plpgsql SET search_path = public, pg_temp
AS $$
DECLARE
    n bigint;
BEGIN
    PERFORM 1 FROM customers WHERE id = p_id FOR NO KEY UPDATE;
    IF NOT FOUND THEN
        RETURN jklg.answer('not_found');
    END IF;
    DELETE FROM customer_sessions WHERE customer_id = p_id;
    GET DIAGNOSTICS n = ROW_COUNT;
    IF n > 0 THEN
        PERFORM jklg.security_event(p_id, 'session_revoked');
    END IF;
    PERFORM jklg.staff_audit(p_staff, 'revoke_sessions', p_id,
                             jsonb_build_object('sessions', n));
    RETURN jklg.answer('deleted');
END
$$;

-- What the module's login limits are keyed by for this customer: its email
-- (login_email, and "login" per address) and the addresses it signed in or
-- failed from lately. The module clears those counters.
CREATE FUNCTION jklg.staff_customer_unlock(p_staff text, p_id uuid)
    RETURNS jklg.outcome LANGUAGE plpgsql SET search_path = public, pg_temp
AS $$
DECLARE
    c customers;
    ips jsonb;
BEGIN
    SELECT * INTO c FROM customers WHERE id = p_id;
    IF NOT FOUND THEN
        RETURN jklg.answer('not_found');
    END IF;
    SELECT COALESCE(jsonb_agg(DISTINCT host(x.ip)), '[]'::jsonb) INTO ips
      FROM (SELECT e.ip FROM security_events e
             WHERE e.customer_id = c.id AND e.ip IS NOT NULL
               AND e.created_at > now() - interval '1 day'
            UNION
            SELECT s.ip FROM customer_sessions s
             WHERE s.customer_id = c.id AND s.ip IS NOT NULL
               AND s.last_seen_at > now() - interval '1 day') x;
    PERFORM jklg.staff_audit(p_staff, 'unlock', c.id,
                             jsonb_build_object('addresses',
                                                jsonb_array_length(ips)));
    RETURN jklg.ok(jsonb_build_object('email', c.email, 'ips', ips));
END
$$;

CREATE FUNCTION jklg.staff_customer_erase(p_staff text, p_id uuid,
                                          p_placeholder text)
    RETURNS jklg.outcome LANGUAGE plpgsql SET search_path = public, pg_temp
AS $$
DECLARE
    outcome text := jklg.customer_erase(p_id, p_placeholder);
BEGIN
    IF outcome = 'accepted' THEN
        PERFORM jklg.staff_audit(p_staff, 'erase', p_id, NULL);
        RETURN jklg.answer('accepted', jsonb_build_object('message',
                           'The customer''s personal data has been erased.'));
    END IF;
    RETURN jklg.answer(outcome);
END
$$;
