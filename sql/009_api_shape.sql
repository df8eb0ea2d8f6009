-- One SQL API per endpoint. The module calls functions of the jklg schema
-- only; each returns a jklg.outcome: what happened (a word the C side maps
-- to a status and an error code in one table per area), the response body,
-- and the outbox rows the change queued (handed to the mail threads).
-- Functions run with a fixed search_path so that a table of the same name
-- elsewhere cannot stand in, and only their owner (the role that applies
-- the migrations, which the module connects as) may execute them; a
-- deployment with a separate runtime role grants it explicitly
-- (docs/database.md).
CREATE SCHEMA jklg;
REVOKE ALL ON SCHEMA jklg FROM PUBLIC;
ALTER DEFAULT PRIVILEGES IN SCHEMA jklg REVOKE EXECUTE ON FUNCTIONS FROM PUBLIC;

CREATE TYPE jklg.outcome AS (outcome text, body jsonb, emails uuid[]);

-- The answers most functions give.
CREATE FUNCTION jklg.ok(p_body jsonb, p_emails uuid[] DEFAULT NULL)
    RETURNS jklg.outcome LANGUAGE sql IMMUTABLE
AS $$ SELECT ROW('ok', p_body, p_emails)::jklg.outcome $$;

CREATE FUNCTION jklg.answer(p_outcome text, p_body jsonb DEFAULT NULL,
                            p_emails uuid[] DEFAULT NULL)
    RETURNS jklg.outcome LANGUAGE sql IMMUTABLE
AS $$ SELECT ROW(p_outcome, p_body, p_emails)::jklg.outcome $$;

-- A page of a keyset-paginated list {data, next_cursor}: p_items (with
-- their times and ids) in list order, one more than p_limit when there is
-- a next page; the cursor points at the last item shown.
CREATE FUNCTION jklg.page(p_items jsonb[], p_times timestamptz[], p_ids uuid[],
                          p_limit int)
    RETURNS jsonb LANGUAGE sql IMMUTABLE
AS $$
    SELECT jsonb_build_object(
        'data', COALESCE(to_jsonb(p_items[1:p_limit]), '[]'::jsonb),
        'next_cursor', CASE WHEN cardinality(p_items) > p_limit
                            THEN jklg_cursor(p_times[p_limit], p_ids[p_limit])
                       END)
$$;

-- Profile: GET and PATCH /me.
CREATE FUNCTION jklg.me_get(p_session uuid, p_customer uuid)
    RETURNS jklg.outcome LANGUAGE plpgsql SET search_path = public, pg_temp
AS $$
DECLARE
    c customers;
BEGIN
    SELECT * INTO c FROM customers
     WHERE id = jklg_session_customer(p_session, p_customer);
    IF NOT FOUND THEN
        RETURN jklg.answer('unauthorized');
    END IF;
    RETURN jklg.ok(jsonb_build_object('customer', jklg_customer_json(c)));
END
$$;

-- Members absent from p_fields are left as they are; "phone": null clears.
CREATE FUNCTION jklg.me_patch(p_session uuid, p_customer uuid, p_fields jsonb)
    RETURNS jklg.outcome LANGUAGE plpgsql SET search_path = public, pg_temp
AS $$
DECLARE
    c customers;
BEGIN
    UPDATE customers SET
        first_name = COALESCE(p_fields->>'first_name', first_name),
        last_name = COALESCE(p_fields->>'last_name', last_name),
        phone = CASE WHEN p_fields ? 'phone' THEN p_fields->>'phone'
                     ELSE phone END
     WHERE id = jklg_session_customer(p_session, p_customer)
    RETURNING * INTO c;
    IF NOT FOUND THEN
        RETURN jklg.answer('unauthorized');
    END IF;
    RETURN jklg.ok(jsonb_build_object('customer', jklg_customer_json(c)));
END
$$;

-- Password change, in two steps around the hash (spent in C, outside any
-- transaction): what the check needs, then the change.
CREATE FUNCTION jklg.me_password_lookup(p_session uuid, p_customer uuid)
    RETURNS jklg.outcome LANGUAGE plpgsql SET search_path = public, pg_temp
AS $$
DECLARE
    c customers;
BEGIN
    SELECT * INTO c FROM customers
     WHERE id = jklg_session_customer(p_session, p_customer);
    IF NOT FOUND THEN
        RETURN jklg.answer('unauthorized');
    END IF;
    RETURN jklg.ok(jsonb_build_object('password_hash', c.password_hash,
                                      'email', c.email));
END
$$;

-- Signs out every other session and tells the owner by mail.
CREATE FUNCTION jklg.me_password_set(p_session uuid, p_customer uuid,
                                     p_hash text, p_reset_url text)
    RETURNS jklg.outcome LANGUAGE plpgsql SET search_path = public, pg_temp
AS $$
DECLARE
    c customers;
    mail uuid;
BEGIN
    UPDATE customers SET password_hash = p_hash
     WHERE id = jklg_session_customer(p_session, p_customer)
    RETURNING * INTO c;
    IF NOT FOUND THEN
        RETURN jklg.answer('unauthorized');
    END IF;
    DELETE FROM customer_sessions WHERE customer_id = c.id AND id <> p_session;
    INSERT INTO email_outbox (template, recipient, data)
    VALUES ('password_changed', c.email,
            jsonb_build_object('first_name', c.first_name,
                               'changed_at', jklg_ts(now()),
                               'reset_url', p_reset_url))
    RETURNING id INTO mail;
    RETURN jklg.ok(jsonb_build_object('message', 'Your password has been '
                   'changed; your other sessions were signed out.'),
                   ARRAY[mail]);
END
$$;

-- Sessions: list, and revoke one (the caller's own is logout).
CREATE FUNCTION jklg.me_sessions(p_session uuid, p_customer uuid)
    RETURNS jklg.outcome LANGUAGE plpgsql SET search_path = public, pg_temp
AS $$
BEGIN
    IF jklg_session_customer(p_session, p_customer) IS NULL THEN
        RETURN jklg.answer('unauthorized');
    END IF;
    RETURN jklg.ok(jsonb_build_object('data', COALESCE(
        (SELECT jsonb_agg(jklg_session_json(s, p_session)
                          ORDER BY s.created_at DESC, s.id DESC)
           FROM customer_sessions s
          WHERE s.customer_id = p_customer AND s.expires_at > now()),
        '[]'::jsonb)));
END
$$;

CREATE FUNCTION jklg.me_session_delete(p_session uuid, p_customer uuid,
                                       p_id uuid)
    RETURNS jklg.outcome LANGUAGE plpgsql SET search_path = public, pg_temp
AS $$
BEGIN
    IF jklg_session_customer(p_session, p_customer) IS NULL THEN
        RETURN jklg.answer('unauthorized');
    END IF;
    DELETE FROM customer_sessions WHERE id = p_id AND customer_id = p_customer;
    RETURN jklg.answer(CASE WHEN FOUND THEN 'deleted' ELSE 'not_found' END);
END
$$;

-- Logout: ends the caller's session; a dead one is already logged out.
CREATE FUNCTION jklg.logout(p_session uuid, p_customer uuid)
    RETURNS jklg.outcome LANGUAGE plpgsql SET search_path = public, pg_temp
AS $$
BEGIN
    IF jklg_session_customer(p_session, p_customer) IS NULL THEN
        RETURN jklg.answer('unauthorized');
    END IF;
    DELETE FROM customer_sessions WHERE id = p_session;
    RETURN jklg.answer('deleted');
END
$$;

-- Addresses.
CREATE FUNCTION jklg.me_addresses(p_session uuid, p_customer uuid)
    RETURNS jklg.outcome LANGUAGE plpgsql SET search_path = public, pg_temp
AS $$
BEGIN
    IF jklg_session_customer(p_session, p_customer) IS NULL THEN
        RETURN jklg.answer('unauthorized');
    END IF;
    RETURN jklg.ok(jsonb_build_object('data', COALESCE(
        (SELECT jsonb_agg(jklg_address_json(x) ORDER BY x.is_default DESC,
                          x.created_at DESC, x.id DESC)
           FROM customer_addresses x WHERE x.customer_id = p_customer),
        '[]'::jsonb)));
END
$$;

-- Creates (p_id NULL) or changes one from validated fields.
CREATE FUNCTION jklg.me_address_save(p_session uuid, p_customer uuid,
                                     p_id uuid, p_fields jsonb, p_limit int)
    RETURNS jklg.outcome LANGUAGE plpgsql SET search_path = public, pg_temp
AS $$
DECLARE
    saved jsonb;
BEGIN
    IF jklg_session_customer(p_session, p_customer) IS NULL THEN
        RETURN jklg.answer('unauthorized');
    END IF;
    saved := jklg_address_save(p_customer, p_id, p_fields, p_limit);
    IF saved IS NULL THEN
        RETURN jklg.answer('not_found');
    ELSIF saved ? 'limit' THEN
        RETURN jklg.answer('address_limit', saved);
    END IF;
    RETURN jklg.answer(CASE WHEN p_id IS NULL THEN 'created' ELSE 'ok' END,
                       saved);
END
$$;

CREATE FUNCTION jklg.me_address_delete(p_session uuid, p_customer uuid,
                                       p_id uuid)
    RETURNS jklg.outcome LANGUAGE plpgsql SET search_path = public, pg_temp
AS $$
BEGIN
    IF jklg_session_customer(p_session, p_customer) IS NULL THEN
        RETURN jklg.answer('unauthorized');
    END IF;
    DELETE FROM customer_addresses WHERE id = p_id AND customer_id = p_customer;
    RETURN jklg.answer(CASE WHEN FOUND THEN 'deleted' ELSE 'not_found' END);
END
$$;

-- Preferences: defaults until the customer saves some.
CREATE FUNCTION jklg.preferences_json(p customer_preferences) RETURNS jsonb
    LANGUAGE sql STABLE SET search_path = public, pg_temp
AS $$
    SELECT jsonb_build_object('preferences', jsonb_build_object(
        'language', COALESCE(p.language, 'en'),
        'currency', COALESCE(p.currency, 'eur'),
        'marketing_emails', COALESCE(p.marketing_emails, false),
        'newsletter', COALESCE(p.newsletter, false)))
$$;

CREATE FUNCTION jklg.me_preferences(p_session uuid, p_customer uuid)
    RETURNS jklg.outcome LANGUAGE plpgsql SET search_path = public, pg_temp
AS $$
DECLARE
    p customer_preferences;
BEGIN
    IF jklg_session_customer(p_session, p_customer) IS NULL THEN
        RETURN jklg.answer('unauthorized');
    END IF;
    SELECT * INTO p FROM customer_preferences WHERE customer_id = p_customer;
    RETURN jklg.ok(jklg.preferences_json(p));
END
$$;

-- PUT replaces the whole resource: the C side fills absent members with
-- their defaults.
CREATE FUNCTION jklg.me_preferences_put(p_session uuid, p_customer uuid,
                                        p_language text, p_currency text,
                                        p_marketing_emails boolean,
                                        p_newsletter boolean)
    RETURNS jklg.outcome LANGUAGE plpgsql SET search_path = public, pg_temp
AS $$
DECLARE
    p customer_preferences;
BEGIN
    IF jklg_session_customer(p_session, p_customer) IS NULL THEN
        RETURN jklg.answer('unauthorized');
    END IF;
    INSERT INTO customer_preferences (customer_id, language, currency,
                                      marketing_emails, newsletter)
    VALUES (p_customer, p_language, p_currency, p_marketing_emails,
            p_newsletter)
    ON CONFLICT (customer_id) DO UPDATE SET
        language = EXCLUDED.language, currency = EXCLUDED.currency,
        marketing_emails = EXCLUDED.marketing_emails,
        newsletter = EXCLUDED.newsletter, updated_at = now()
    RETURNING * INTO p;
    RETURN jklg.ok(jklg.preferences_json(p));
END
$$;

-- Bookings: newest first, keyset pagination after (p_after_time, p_after_id).
CREATE FUNCTION jklg.me_bookings(p_session uuid, p_customer uuid,
                                 p_after_time timestamp, p_after_id uuid,
                                 p_limit int)
    RETURNS jklg.outcome LANGUAGE plpgsql SET search_path = public, pg_temp
AS $$
BEGIN
    IF jklg_session_customer(p_session, p_customer) IS NULL THEN
        RETURN jklg.answer('unauthorized');
    END IF;
    RETURN jklg.ok((
        SELECT jklg.page(array_agg(jklg_booking_json(p.b) ORDER BY p.at DESC, p.id DESC),
                         array_agg(p.at ORDER BY p.at DESC, p.id DESC),
                         array_agg(p.id ORDER BY p.at DESC, p.id DESC), p_limit)
          FROM (SELECT b, b.created_at AS at, b.id FROM bookings b
                 WHERE b.customer_id = p_customer
                   AND (p_after_time IS NULL
                        OR (b.created_at, b.id)
                           < (p_after_time AT TIME ZONE 'UTC', p_after_id))
                 ORDER BY b.created_at DESC, b.id DESC
                 LIMIT p_limit + 1) p));
END
$$;

CREATE FUNCTION jklg.me_booking(p_session uuid, p_customer uuid, p_id uuid)
    RETURNS jklg.outcome LANGUAGE plpgsql SET search_path = public, pg_temp
AS $$
DECLARE
    b bookings;
BEGIN
    IF jklg_session_customer(p_session, p_customer) IS NULL THEN
        RETURN jklg.answer('unauthorized');
    END IF;
    SELECT * INTO b FROM bookings WHERE id = p_id AND customer_id = p_customer;
    IF NOT FOUND THEN
        RETURN jklg.answer('not_found');
    END IF;
    RETURN jklg.ok(jsonb_build_object('booking', jklg_booking_json(b),
        'transactions', COALESCE((SELECT jsonb_agg(jklg_transaction_json(t)
                                  ORDER BY t.created_at DESC, t.id DESC)
                                    FROM transactions t
                                   WHERE t.booking_id = b.id), '[]'::jsonb)));
END
$$;
