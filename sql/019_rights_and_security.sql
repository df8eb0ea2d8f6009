-- Data rights (sql/015) meet account security (sql/011, sql/013) and travel
-- payments (sql/014), which were written side by side: an erasure also
-- forgets saved cards, the second factor,
-- the secure-account links, the email changes (both addresses) and the
-- browser family of the security events; a login racing an erasure finds
-- the customer erased and opens no session. And emails in the customer's
-- language (sql/012) reach the new address of an email change too: its
-- confirm mail names the customer, whom the address does not yet find.

CREATE OR REPLACE FUNCTION jklg.customer_erase(p_customer uuid, p_placeholder text)
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
                  AND b.status <> 'canceled'
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
    UPDATE security_events SET ip = NULL, user_agent = NULL, device = NULL
     WHERE customer_id = c.id;
    DELETE FROM secure_account_tokens WHERE customer_id = c.id;
    DELETE FROM email_changes WHERE customer_id = c.id;
    DELETE FROM mfa_tokens WHERE customer_id = c.id;
    DELETE FROM mfa_recovery_codes WHERE customer_id = c.id;
    DELETE FROM customer_mfa WHERE customer_id = c.id;
    -- Saved cards (sql/014): their record here goes; the card itself is
    -- the gateway's (docs/data-rights.md).
    DELETE FROM payment_methods WHERE customer_id = c.id;
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

CREATE OR REPLACE FUNCTION jklg.login_session(p_customer uuid, p_new_hash text,
                                   p_ip inet, p_user_agent text,
                                   p_device text, p_lifetime interval,
                                   p_secure_hash text, p_secure_url text)
    RETURNS jklg.outcome LANGUAGE plpgsql SET search_path = public, pg_temp
AS $$
DECLARE
    c customers;
    s customer_sessions;
    first_sign_in boolean;
    known boolean;
    mail uuid;
BEGIN
    -- The row lock orders concurrent logins of one account (the second
    -- sees the first's session and events) and a login with an erasure
    -- (which it then finds done: no session).
    UPDATE customers SET password_hash = COALESCE(p_new_hash, password_hash)
     WHERE id = p_customer AND erased_at IS NULL
    RETURNING * INTO c;
    IF NOT FOUND THEN
        RETURN jklg.answer('not_found');
    END IF;
    first_sign_in := NOT EXISTS (SELECT 1 FROM security_events
                                  WHERE customer_id = c.id AND type = 'login')
                     AND NOT EXISTS (SELECT 1 FROM customer_sessions
                                      WHERE customer_id = c.id);
    known := jklg.device_known(c.id, p_ip, p_device);
    INSERT INTO customer_sessions (customer_id, ip, user_agent, device,
                                   expires_at)
    VALUES (c.id, p_ip, p_user_agent, p_device, now() + p_lifetime)
    RETURNING * INTO s;
    -- Not through jklg.security_event: the login row also keeps the device.
    INSERT INTO security_events (customer_id, type, ip, user_agent, device)
    VALUES (c.id, 'login', p_ip, p_user_agent, p_device);
    IF NOT first_sign_in AND NOT known THEN
        PERFORM jklg.security_event(c.id, 'new_device', p_ip, p_user_agent);
        INSERT INTO secure_account_tokens (customer_id, token_hash,
                                           expires_at)
        VALUES (c.id, decode(p_secure_hash, 'hex'), now() + interval '7 days');
        INSERT INTO email_outbox (template, recipient, data)
        VALUES ('new_sign_in', c.email,
                jsonb_build_object('first_name', c.first_name,
                                   'signed_in_at', jklg_ts(now()),
                                   'ip', host(p_ip), 'browser', p_device,
                                   'secure_url', p_secure_url,
                                   'expires_days', 7))
        RETURNING id INTO mail;
    END IF;
    RETURN jklg.ok(jsonb_build_object(
        'session_id', s.id,
        'iat', extract(epoch FROM s.created_at)::bigint,
        'exp', extract(epoch FROM s.expires_at)::bigint,
        'expires_at', jklg_ts(s.expires_at),
        'answer', jsonb_build_object('session', jklg_session_json(s, s.id),
                                     'customer', jklg_customer_json(c))),
        CASE WHEN mail IS NOT NULL THEN ARRAY[mail] END);
END
$$;

CREATE OR REPLACE FUNCTION jklg.me_email_change(p_session uuid, p_customer uuid,
                                     p_new_email text,
                                     p_confirm_hash text, p_confirm_url text,
                                     p_revert_hash text, p_revert_url text)
    RETURNS jklg.outcome LANGUAGE plpgsql SET search_path = public, pg_temp
AS $$
DECLARE
    c customers;
    confirm_mail uuid;
    notice_mail uuid;
BEGIN
    SELECT * INTO c FROM customers
     WHERE id = jklg_session_customer(p_session, p_customer)
       FOR UPDATE;
    IF NOT FOUND THEN
        RETURN jklg.answer('unauthorized');
    END IF;
    IF c.email = p_new_email THEN
        RETURN jklg.answer('invalid', jsonb_build_object('fields',
                           jsonb_build_object('new_email',
                                              'is already your address')));
    END IF;
    UPDATE email_changes SET canceled_at = now()
     WHERE customer_id = c.id AND confirmed_at IS NULL
       AND canceled_at IS NULL;
    IF NOT EXISTS (SELECT 1 FROM customers WHERE email = p_new_email) THEN
        INSERT INTO email_changes (customer_id, old_email, new_email,
                                   confirm_hash, confirm_expires_at,
                                   revert_hash, revert_expires_at)
        VALUES (c.id, c.email, p_new_email, decode(p_confirm_hash, 'hex'),
                now() + interval '24 hours', decode(p_revert_hash, 'hex'),
                now() + interval '7 days');
        INSERT INTO email_outbox (template, recipient, data)
        VALUES ('email_change_confirm', p_new_email,
                jsonb_build_object('customer_id', c.id,
                                   'first_name', c.first_name,
                                   'new_email', p_new_email,
                                   'confirm_url', p_confirm_url,
                                   'expires_hours', 24))
        RETURNING id INTO confirm_mail;
        INSERT INTO email_outbox (template, recipient, data)
        VALUES ('email_change_notice', c.email,
                jsonb_build_object('first_name', c.first_name,
                                   'new_email', p_new_email,
                                   'requested_at', jklg_ts(now()),
                                   'revert_url', p_revert_url,
                                   'expires_days', 7))
        RETURNING id INTO notice_mail;
    END IF;
    RETURN jklg.answer('accepted', jsonb_build_object('message',
                       'If the new address can be used, we sent it a link '
                       'to confirm the change.'),
                       CASE WHEN confirm_mail IS NOT NULL
                            THEN ARRAY[confirm_mail, notice_mail] END);
END
$$;
