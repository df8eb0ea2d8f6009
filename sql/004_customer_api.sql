-- The API's JSON shapes and the session check, built where the data is: an
-- endpoint is then one statement whose result is the response body, and the
-- session is checked in the same round trip as the work it guards.

CREATE FUNCTION jklg_date(d date) RETURNS text
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
AS $$ SELECT to_char(d, 'YYYY-MM-DD') $$;

CREATE FUNCTION jklg_customer_json(c customers) RETURNS jsonb
    LANGUAGE sql STABLE
AS $$
    SELECT jsonb_build_object(
        'id', c.id, 'email', c.email,
        'first_name', c.first_name, 'last_name', c.last_name,
        'phone', c.phone, 'email_verified', c.email_verified_at IS NOT NULL,
        'created_at', jklg_ts(c.created_at))
$$;

CREATE FUNCTION jklg_session_json(s customer_sessions, current_id uuid)
    RETURNS jsonb LANGUAGE sql STABLE
AS $$
    SELECT jsonb_build_object(
        'id', s.id, 'ip', host(s.ip), 'user_agent', s.user_agent,
        'created_at', jklg_ts(s.created_at),
        'last_seen_at', jklg_ts(s.last_seen_at),
        'expires_at', jklg_ts(s.expires_at),
        'current', s.id = current_id)
$$;

CREATE FUNCTION jklg_address_json(a customer_addresses) RETURNS jsonb
    LANGUAGE sql STABLE
AS $$
    SELECT jsonb_build_object(
        'id', a.id, 'label', a.label, 'line1', a.line1, 'line2', a.line2,
        'city', a.city, 'region', a.region, 'postal_code', a.postal_code,
        'country', a.country, 'is_default', a.is_default,
        'created_at', jklg_ts(a.created_at))
$$;

CREATE FUNCTION jklg_booking_json(b bookings) RETURNS jsonb
    LANGUAGE sql STABLE
AS $$
    SELECT jsonb_build_object(
        'id', b.id, 'reference', b.reference, 'description', b.description,
        'travel_start', jklg_date(b.travel_start),
        'travel_end', jklg_date(b.travel_end),
        'amount_total', b.amount_total, 'amount_paid', b.amount_paid,
        'amount_refunded', b.amount_refunded, 'currency', b.currency,
        'status', b.status, 'payment_status', b.payment_status,
        'created_at', jklg_ts(b.created_at))
$$;

CREATE FUNCTION jklg_transaction_json(t transactions) RETURNS jsonb
    LANGUAGE sql STABLE
AS $$
    SELECT jsonb_build_object(
        'id', t.id, 'booking_id', t.booking_id, 'gateway', t.gateway,
        'gateway_ref', t.gateway_ref, 'amount', t.amount,
        'amount_refunded', t.amount_refunded, 'currency', t.currency,
        'status', t.status, 'failure_reason', t.failure_reason,
        'created_at', jklg_ts(t.created_at),
        'updated_at', jklg_ts(t.updated_at))
$$;

-- Keyset cursor of list pages: opaque to clients, base64url of
-- "created_at with microseconds|id". The module decodes and checks it.
CREATE FUNCTION jklg_cursor(created_at timestamptz, id uuid) RETURNS text
    LANGUAGE sql IMMUTABLE STRICT
AS $$
    SELECT rtrim(translate(encode(convert_to(
               to_char(created_at AT TIME ZONE 'UTC',
                       'YYYY-MM-DD"T"HH24:MI:SS.US') || '|' || id, 'UTF8'),
               'base64'), E'+/\n', '-_'), '=')
$$;

-- The customer of a live session, or NULL: the check every authenticated
-- request runs. last_seen_at is written at most once a minute, so reads do
-- not each turn into a write.
CREATE FUNCTION jklg_session_customer(p_session uuid, p_customer uuid)
    RETURNS uuid LANGUAGE plpgsql
AS $$
DECLARE
    seen timestamptz;
BEGIN
    SELECT last_seen_at INTO seen FROM customer_sessions
     WHERE id = p_session AND customer_id = p_customer AND expires_at > now();
    IF NOT FOUND THEN
        RETURN NULL;
    END IF;
    IF seen < now() - interval '60 seconds' THEN
        UPDATE customer_sessions SET last_seen_at = now() WHERE id = p_session;
    END IF;
    RETURN p_customer;
END
$$;

-- Creates (p_id NULL) or changes an address from validated fields. Returns
-- {"address": ...}, {"limit": n} when the customer has too many, or NULL
-- when p_id is not theirs. Serialised per customer, so "at most one
-- default" and the limit hold under concurrent requests.
CREATE FUNCTION jklg_address_save(p_customer uuid, p_id uuid, p jsonb,
                                  p_limit int)
    RETURNS jsonb LANGUAGE plpgsql
AS $$
DECLARE
    a customer_addresses;
BEGIN
    PERFORM 1 FROM customers WHERE id = p_customer FOR NO KEY UPDATE;
    IF p_id IS NULL
       AND (SELECT count(*) FROM customer_addresses
             WHERE customer_id = p_customer) >= p_limit THEN
        RETURN jsonb_build_object('limit', p_limit);
    END IF;
    IF p_id IS NOT NULL AND NOT EXISTS (
           SELECT 1 FROM customer_addresses
            WHERE id = p_id AND customer_id = p_customer) THEN
        RETURN NULL;
    END IF;
    IF (p->>'is_default')::boolean THEN
        UPDATE customer_addresses SET is_default = false
         WHERE customer_id = p_customer AND is_default
           AND id IS DISTINCT FROM p_id;
    END IF;
    IF p_id IS NULL THEN
        INSERT INTO customer_addresses (customer_id, label, line1, line2, city,
                                        region, postal_code, country,
                                        is_default)
        VALUES (p_customer, COALESCE(p->>'label', ''), p->>'line1',
                p->>'line2', p->>'city', p->>'region', p->>'postal_code',
                p->>'country', COALESCE((p->>'is_default')::boolean, false))
        RETURNING * INTO a;
    ELSE
        UPDATE customer_addresses SET
            label = CASE WHEN p ? 'label' THEN p->>'label' ELSE label END,
            line1 = CASE WHEN p ? 'line1' THEN p->>'line1' ELSE line1 END,
            line2 = CASE WHEN p ? 'line2' THEN p->>'line2' ELSE line2 END,
            city = CASE WHEN p ? 'city' THEN p->>'city' ELSE city END,
            region = CASE WHEN p ? 'region' THEN p->>'region' ELSE region END,
            postal_code = CASE WHEN p ? 'postal_code' THEN p->>'postal_code'
                               ELSE postal_code END,
            country = CASE WHEN p ? 'country' THEN p->>'country'
                           ELSE country END,
            is_default = CASE WHEN p ? 'is_default'
                              THEN (p->>'is_default')::boolean
                              ELSE is_default END
         WHERE id = p_id AND customer_id = p_customer
        RETURNING * INTO a;
    END IF;
    RETURN jsonb_build_object('address', jklg_address_json(a));
END
$$;
