-- Account security (issue 11): security events written with the change
-- they record, new-device alerts with a "secure my account" link, the safe
-- email change (confirm at the new address, revert from the old one), and
-- the retention of security events.

-- The browser family of a sign-in (Firefox, Chrome, Edge, Safari, Opera,
-- curl, other), derived from the User-Agent by the module
-- (jklg_browser_family): with the IP prefix it names a "device".
ALTER TABLE security_events ADD COLUMN device text;
ALTER TABLE customer_sessions ADD COLUMN device text;

-- One-click "not you? secure my account" links of new-sign-in mails.
CREATE TABLE secure_account_tokens (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    customer_id uuid NOT NULL REFERENCES customers ON DELETE CASCADE,
    token_hash  bytea NOT NULL UNIQUE CHECK (octet_length(token_hash) = 32),
    expires_at  timestamptz NOT NULL,
    used_at     timestamptz,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX secure_account_tokens_customer_idx
    ON secure_account_tokens (customer_id);
CREATE INDEX secure_account_tokens_expires_idx
    ON secure_account_tokens (expires_at);

-- One row per requested email change, with both of its links: confirm
-- (sent to the new address, 24 hours) and revert (sent to the old one,
-- 7 days). Only the SHA-256 of each token is kept.
CREATE TABLE email_changes (
    id                uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    customer_id       uuid NOT NULL REFERENCES customers ON DELETE CASCADE,
    old_email         text NOT NULL,
    new_email         text NOT NULL,
    confirm_hash      bytea NOT NULL UNIQUE
                      CHECK (octet_length(confirm_hash) = 32),
    confirm_expires_at timestamptz NOT NULL,
    confirmed_at      timestamptz,
    revert_hash       bytea NOT NULL UNIQUE
                      CHECK (octet_length(revert_hash) = 32),
    revert_expires_at timestamptz NOT NULL,
    reverted_at       timestamptz,
    -- Set when the confirm link can no longer be used although it was not
    -- (a newer request, a revert, a secure-account).
    canceled_at       timestamptz,
    created_at        timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX email_changes_customer_idx ON email_changes (customer_id);
CREATE INDEX email_changes_expires_idx ON email_changes (revert_expires_at);

-- The network a device is known by: /24 for IPv4, /64 for IPv6.
CREATE FUNCTION jklg.ip_prefix(p_ip inet) RETURNS cidr
    LANGUAGE sql IMMUTABLE SET search_path = public, pg_temp
AS $$
    SELECT network(set_masklen(p_ip, CASE WHEN family(p_ip) = 4 THEN 24
                                          ELSE 64 END))
$$;

-- Whether a sign-in or a session of the last 90 days came from the same
-- IP prefix with the same browser family.
CREATE FUNCTION jklg.device_known(p_customer uuid, p_ip inet, p_device text)
    RETURNS boolean LANGUAGE sql STABLE SET search_path = public, pg_temp
AS $$
    SELECT EXISTS (SELECT 1 FROM security_events e
                    WHERE e.customer_id = p_customer AND e.type = 'login'
                      AND e.created_at > now() - interval '90 days'
                      AND e.device = p_device
                      AND jklg.ip_prefix(e.ip) = jklg.ip_prefix(p_ip))
        OR EXISTS (SELECT 1 FROM customer_sessions s
                    WHERE s.customer_id = p_customer
                      AND s.created_at > now() - interval '90 days'
                      AND s.device = p_device
                      AND jklg.ip_prefix(s.ip) = jklg.ip_prefix(p_ip))
$$;

-- The session of a successful login (the password, and any second factor,
-- checked by the caller): upgrades the password hash when asked, opens the
-- session, records the login and, from a device not seen for 90 days,
-- records new_device and mails a "new sign-in" notice with a one-click
-- secure-account link (p_secure_hash is the SHA-256 of the link's token,
-- p_secure_url the link). The very first sign-in of an account has nothing
-- to compare with and sends no notice. The body carries what the token is
-- made of (session_id, iat, exp, expires_at) and the answer's members
-- (answer: {session, customer}).
CREATE FUNCTION jklg.login_session(p_customer uuid, p_new_hash text,
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
    -- The row lock orders concurrent logins of one account: the second
    -- sees the first's session and events.
    UPDATE customers SET password_hash = COALESCE(p_new_hash, password_hash)
     WHERE id = p_customer
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

-- A wrong password for an existing account.
CREATE FUNCTION jklg.login_failed(p_customer uuid, p_ip inet,
                                  p_user_agent text)
    RETURNS jklg.outcome LANGUAGE plpgsql SET search_path = public, pg_temp
AS $$
BEGIN
    PERFORM jklg.security_event(p_customer, 'login_failed', p_ip,
                                p_user_agent);
    RETURN jklg.answer('ok');
END
$$;

-- GET /me/security-events: newest first, keyset pagination.
CREATE FUNCTION jklg.me_security_events(p_session uuid, p_customer uuid,
                                        p_after_time timestamp,
                                        p_after_id uuid, p_limit int)
    RETURNS jklg.outcome LANGUAGE plpgsql SET search_path = public, pg_temp
AS $$
BEGIN
    IF jklg_session_customer(p_session, p_customer) IS NULL THEN
        RETURN jklg.answer('unauthorized');
    END IF;
    RETURN jklg.ok((
        SELECT jklg.page(array_agg(jklg.security_event_json(p.e)
                                   ORDER BY p.at DESC, p.id DESC),
                         array_agg(p.at ORDER BY p.at DESC, p.id DESC),
                         array_agg(p.id ORDER BY p.at DESC, p.id DESC),
                         p_limit)
          FROM (SELECT e, e.created_at AS at, e.id FROM security_events e
                 WHERE e.customer_id = p_customer
                   AND (p_after_time IS NULL
                        OR (e.created_at, e.id)
                           < (p_after_time AT TIME ZONE 'UTC', p_after_id))
                 ORDER BY e.created_at DESC, e.id DESC
                 LIMIT p_limit + 1) p));
END
$$;

-- Password change (sql/009) and session revocation now record an event
-- with the request's address and agent: new parameters, so new functions.
DROP FUNCTION jklg.me_password_set(uuid, uuid, text, text);
CREATE FUNCTION jklg.me_password_set(p_session uuid, p_customer uuid,
                                     p_hash text, p_reset_url text,
                                     p_ip inet DEFAULT NULL,
                                     p_user_agent text DEFAULT NULL)
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
    PERFORM jklg.security_event(c.id, 'password_changed', p_ip, p_user_agent);
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

DROP FUNCTION jklg.me_session_delete(uuid, uuid, uuid);
CREATE FUNCTION jklg.me_session_delete(p_session uuid, p_customer uuid,
                                       p_id uuid, p_ip inet DEFAULT NULL,
                                       p_user_agent text DEFAULT NULL)
    RETURNS jklg.outcome LANGUAGE plpgsql SET search_path = public, pg_temp
AS $$
BEGIN
    IF jklg_session_customer(p_session, p_customer) IS NULL THEN
        RETURN jklg.answer('unauthorized');
    END IF;
    DELETE FROM customer_sessions WHERE id = p_id AND customer_id = p_customer;
    IF NOT FOUND THEN
        RETURN jklg.answer('not_found');
    END IF;
    PERFORM jklg.security_event(p_customer, 'session_revoked', p_ip,
                                p_user_agent);
    RETURN jklg.answer('deleted');
END
$$;

-- Ends every session of an account and every way back in that does not
-- need the password: reset, verification and secure-account links, a
-- pending email change, and MFA login tokens when that table exists.
-- Records session_revoked.
CREATE FUNCTION jklg.revoke_access(p_customer uuid, p_ip inet,
                                   p_user_agent text)
    RETURNS void LANGUAGE plpgsql SET search_path = public, pg_temp
AS $$
BEGIN
    DELETE FROM customer_sessions WHERE customer_id = p_customer;
    UPDATE password_reset_tokens SET used_at = now()
     WHERE customer_id = p_customer AND used_at IS NULL;
    UPDATE email_verification_tokens SET used_at = now()
     WHERE customer_id = p_customer AND used_at IS NULL;
    UPDATE secure_account_tokens SET used_at = now()
     WHERE customer_id = p_customer AND used_at IS NULL;
    UPDATE email_changes SET canceled_at = now()
     WHERE customer_id = p_customer AND confirmed_at IS NULL
       AND canceled_at IS NULL;
    -- The MFA work (issue 11) keeps its pending logins in mfa_tokens.
    IF to_regclass('public.mfa_tokens') IS NOT NULL THEN
        EXECUTE 'DELETE FROM public.mfa_tokens WHERE customer_id = $1'
          USING p_customer;
    END IF;
    PERFORM jklg.security_event(p_customer, 'session_revoked', p_ip,
                                p_user_agent);
END
$$;

-- POST /secure-account {token}: the link of a new-sign-in mail. Revokes
-- access (jklg.revoke_access) and mails a fresh password reset link
-- (p_reset_hash, p_reset_url: made by the caller like forgot-password's).
CREATE FUNCTION jklg.secure_account(p_token_hash text, p_reset_hash text,
                                    p_reset_url text, p_ip inet,
                                    p_user_agent text)
    RETURNS jklg.outcome LANGUAGE plpgsql SET search_path = public, pg_temp
AS $$
DECLARE
    who uuid;
    c customers;
    mail uuid;
BEGIN
    -- Single use: the first caller's UPDATE wins, a second finds used_at.
    UPDATE secure_account_tokens SET used_at = now()
     WHERE token_hash = decode(p_token_hash, 'hex') AND used_at IS NULL
       AND expires_at > now()
    RETURNING customer_id INTO who;
    IF NOT FOUND THEN
        RETURN jklg.answer('invalid_token');
    END IF;
    SELECT * INTO c FROM customers WHERE id = who;
    PERFORM jklg.revoke_access(c.id, p_ip, p_user_agent);
    INSERT INTO password_reset_tokens (customer_id, token_hash, expires_at)
    VALUES (c.id, decode(p_reset_hash, 'hex'), now() + interval '1 hour');
    INSERT INTO email_outbox (template, recipient, data)
    VALUES ('password_reset', c.email,
            jsonb_build_object('first_name', c.first_name,
                               'reset_url', p_reset_url,
                               'expires_minutes', 60))
    RETURNING id INTO mail;
    RETURN jklg.ok(jsonb_build_object('message', 'Your account is secured: '
                   'every session was signed out. We sent you a link to '
                   'choose a new password.'), ARRAY[mail]);
END
$$;

-- POST /me/email (the password checked by the caller): an address free
-- for the taking gets the confirm link and the old address a notice with
-- the revert link; an address already registered gets nothing, and the
-- answer is the same, so it tells nobody whether the address has an
-- account. A newer request cancels the confirm link of an older one.
CREATE FUNCTION jklg.me_email_change(p_session uuid, p_customer uuid,
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
                jsonb_build_object('first_name', c.first_name,
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

-- POST /confirm-email-change {token}: the new address becomes the
-- account's (and counts as verified). An address registered meanwhile is
-- a conflict, and the link stays unused.
CREATE FUNCTION jklg.confirm_email_change(p_token_hash text, p_ip inet,
                                          p_user_agent text)
    RETURNS jklg.outcome LANGUAGE plpgsql SET search_path = public, pg_temp
AS $$
DECLARE
    ch email_changes;
BEGIN
    SELECT * INTO ch FROM email_changes
     WHERE confirm_hash = decode(p_token_hash, 'hex')
       AND confirmed_at IS NULL AND canceled_at IS NULL
       AND confirm_expires_at > now()
       FOR UPDATE;
    IF NOT FOUND THEN
        RETURN jklg.answer('invalid_token');
    END IF;
    IF EXISTS (SELECT 1 FROM customers WHERE email = ch.new_email) THEN
        RETURN jklg.answer('conflict');
    END IF;
    BEGIN
        UPDATE customers SET email = ch.new_email,
               email_verified_at = COALESCE(email_verified_at, now()),
               updated_at = now()
         WHERE id = ch.customer_id;
    EXCEPTION WHEN unique_violation THEN
        RETURN jklg.answer('conflict');     -- registered a moment ago
    END;
    UPDATE email_changes SET confirmed_at = now() WHERE id = ch.id;
    PERFORM jklg.security_event(ch.customer_id, 'email_changed', p_ip,
                                p_user_agent);
    RETURN jklg.ok(jsonb_build_object('message',
                   'Your email address has been changed.'));
END
$$;

-- POST /revert-email-change {token}: the old address's way back. Restores
-- the old address when the change went through (else cancels the pending
-- one), and revokes every session and way back in (jklg.revoke_access):
-- whoever asked for the change may hold one.
CREATE FUNCTION jklg.revert_email_change(p_token_hash text, p_ip inet,
                                         p_user_agent text)
    RETURNS jklg.outcome LANGUAGE plpgsql SET search_path = public, pg_temp
AS $$
DECLARE
    ch email_changes;
    c customers;
BEGIN
    SELECT * INTO ch FROM email_changes
     WHERE revert_hash = decode(p_token_hash, 'hex') AND reverted_at IS NULL
       AND revert_expires_at > now()
       FOR UPDATE;
    IF NOT FOUND THEN
        RETURN jklg.answer('invalid_token');
    END IF;
    SELECT * INTO c FROM customers WHERE id = ch.customer_id FOR UPDATE;
    IF c.email <> ch.old_email THEN
        IF EXISTS (SELECT 1 FROM customers WHERE email = ch.old_email) THEN
            RETURN jklg.answer('conflict');
        END IF;
        UPDATE customers SET email = ch.old_email, updated_at = now()
         WHERE id = c.id;
        PERFORM jklg.security_event(c.id, 'email_changed', p_ip,
                                    p_user_agent);
    END IF;
    UPDATE email_changes SET reverted_at = now() WHERE id = ch.id;
    PERFORM jklg.revoke_access(c.id, p_ip, p_user_agent);
    RETURN jklg.ok(jsonb_build_object('message', 'The email change was '
                   'undone and every session was signed out. If you did not '
                   'ask for it, change your password.'));
END
$$;

-- Housekeeping (the mail sweep, next to jklg_purge): security events older
-- than JKLGSecurityEventRetention, and links of this file a day past their
-- expiry. Returns how many rows went.
CREATE FUNCTION jklg.purge_security_events(p_retention interval)
    RETURNS bigint LANGUAGE plpgsql SET search_path = public, pg_temp
AS $$
DECLARE
    n bigint;
    total bigint := 0;
BEGIN
    DELETE FROM security_events WHERE created_at < now() - p_retention;
    GET DIAGNOSTICS n = ROW_COUNT;
    total := total + n;
    DELETE FROM secure_account_tokens
     WHERE expires_at < now() - interval '1 day';
    GET DIAGNOSTICS n = ROW_COUNT;
    total := total + n;
    DELETE FROM email_changes
     WHERE revert_expires_at < now() - interval '1 day';
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN total + n;
END
$$;
