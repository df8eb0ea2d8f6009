-- The last account statements onto the jklg shape (issue 8): the login's
-- lookup and the password reset become jklg.* functions; the answer of the
-- flows that may mail ({message}, 202) and the verification link are
-- defined once, for the public flows and staff's resend alike; expired
-- pending MFA logins are purged with the other expired links.

-- The one answer of a flow that may queue mail: the same 202 {message}
-- whatever it found, so that no answer tells whether an address has an
-- account. p_mail is the mail queued, if any.
CREATE FUNCTION jklg.mail_sent(p_mail uuid)
    RETURNS jklg.outcome LANGUAGE sql STABLE SET search_path = public, pg_temp
AS $$
    SELECT jklg.answer('accepted', jsonb_build_object('message',
               'Check your inbox: we sent you an email with the next step.'),
               CASE WHEN p_mail IS NOT NULL THEN ARRAY[p_mail] END)
$$;

-- A new verification link for c: earlier links stop working, the new one
-- is good for 24 hours, and its mail is queued (the id returned). What
-- register, resend-verification and staff's resend all do.
CREATE FUNCTION jklg.verification_link(c customers, p_token_hash text,
                                       p_verify_url text)
    RETURNS uuid LANGUAGE plpgsql SET search_path = public, pg_temp
AS $$
DECLARE
    mail uuid;
BEGIN
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
    RETURN mail;
END
$$;

-- As in sql/018, with the answer of jklg.mail_sent.
CREATE OR REPLACE FUNCTION jklg.register(p_email text, p_password_hash text,
                                         p_first_name text, p_last_name text,
                                         p_phone text, p_token_hash text,
                                         p_verify_url text, p_login_url text,
                                         p_reset_url text)
    RETURNS jklg.outcome LANGUAGE plpgsql SET search_path = public, pg_temp
AS $$
DECLARE
    c customers;
    mail uuid;
BEGIN
    INSERT INTO customers (email, password_hash, first_name, last_name, phone)
    VALUES (p_email, p_password_hash, p_first_name, p_last_name, p_phone)
    ON CONFLICT (email) DO NOTHING
    RETURNING * INTO c;
    IF FOUND THEN
        RETURN jklg.mail_sent(jklg.verification_link(c, p_token_hash,
                                                     p_verify_url));
    END IF;
    SELECT * INTO c FROM customers WHERE email = p_email;
    IF NOT FOUND THEN
        RETURN jklg.mail_sent(NULL);        -- deleted meanwhile
    END IF;
    INSERT INTO email_outbox (template, recipient, data)
    VALUES ('account_exists', c.email,
            jsonb_build_object('first_name', c.first_name,
                               'login_url', p_login_url,
                               'reset_url', p_reset_url))
    RETURNING id INTO mail;
    RETURN jklg.mail_sent(mail);
END
$$;

-- A fresh link for an unverified address; earlier links stop working.
CREATE OR REPLACE FUNCTION jklg.resend_verification(p_email text,
                                                    p_token_hash text,
                                                    p_verify_url text)
    RETURNS jklg.outcome LANGUAGE plpgsql SET search_path = public, pg_temp
AS $$
DECLARE
    c customers;
BEGIN
    SELECT * INTO c FROM customers
     WHERE email = p_email AND email_verified_at IS NULL;
    IF NOT FOUND THEN
        RETURN jklg.mail_sent(NULL);
    END IF;
    RETURN jklg.mail_sent(jklg.verification_link(c, p_token_hash,
                                                 p_verify_url));
END
$$;

-- A reset link valid for an hour; earlier ones stay valid until used or
-- expired (a reset uses them all up).
CREATE OR REPLACE FUNCTION jklg.forgot_password(p_email text,
                                                p_token_hash text,
                                                p_reset_url text)
    RETURNS jklg.outcome LANGUAGE plpgsql SET search_path = public, pg_temp
AS $$
DECLARE
    c customers;
    mail uuid;
BEGIN
    SELECT * INTO c FROM customers WHERE email = p_email;
    IF NOT FOUND THEN
        RETURN jklg.mail_sent(NULL);
    END IF;
    INSERT INTO password_reset_tokens (customer_id, token_hash, expires_at)
    VALUES (c.id, decode(p_token_hash, 'hex'), now() + interval '1 hour');
    INSERT INTO email_outbox (template, recipient, data)
    VALUES ('password_reset', c.email,
            jsonb_build_object('first_name', c.first_name,
                               'reset_url', p_reset_url,
                               'expires_minutes', 60))
    RETURNING id INTO mail;
    RETURN jklg.mail_sent(mail);
END
$$;

-- Staff's resend (sql/015): the public resend's link, by id, audited;
-- 'conflict' when the address is verified already or erased.
CREATE OR REPLACE FUNCTION jklg.staff_customer_resend(p_staff text, p_id uuid,
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
    mail := jklg.verification_link(c, p_token_hash, p_verify_url);
    PERFORM jklg.staff_audit(p_staff, 'resend_verification', c.id, NULL);
    RETURN jklg.answer('accepted', jsonb_build_object('message',
                       'A new verification email is on its way.'),
                       ARRAY[mail]);
END
$$;

-- POST /login, before the password check: the account of an email and its
-- hash, or 'not_found' (the caller then spends a dummy hash, so that both
-- answers cost the same).
CREATE FUNCTION jklg.login_lookup(p_email text)
    RETURNS jklg.outcome LANGUAGE plpgsql SET search_path = public, pg_temp
AS $$
DECLARE
    c customers;
BEGIN
    SELECT * INTO c FROM customers WHERE email = p_email;
    IF NOT FOUND THEN
        RETURN jklg.answer('not_found');
    END IF;
    RETURN jklg.ok(jsonb_build_object(
        'customer_id', c.id, 'password_hash', c.password_hash,
        'email_verified', c.email_verified_at IS NOT NULL));
END
$$;

-- POST /reset-password, first step: whose live token this is (its email,
-- for the password policy), before a password hash is spent on it.
CREATE FUNCTION jklg.reset_lookup(p_token_hash text)
    RETURNS jklg.outcome LANGUAGE plpgsql SET search_path = public, pg_temp
AS $$
DECLARE
    found_email text;
BEGIN
    SELECT c.email INTO found_email FROM password_reset_tokens t
      JOIN customers c ON c.id = t.customer_id
     WHERE t.token_hash = decode(p_token_hash, 'hex') AND t.used_at IS NULL
       AND t.expires_at > now();
    IF NOT FOUND THEN
        RETURN jklg.answer('invalid_token');
    END IF;
    RETURN jklg.ok(jsonb_build_object('email', found_email));
END
$$;

-- Second step, with the new hash: uses the token, sets the password (and
-- verifies the address: the link came to it), uses up the customer's other
-- reset tokens, ends every session, records the event and mails the
-- owner. Whoever uses the token first wins: the UPDATE ... used_at IS NULL
-- makes a concurrent reset wait for the first, then find the token used
-- ('invalid_token').
CREATE FUNCTION jklg.reset_password(p_token_hash text, p_new_hash text,
                                    p_ip inet, p_user_agent text,
                                    p_forgot_url text)
    RETURNS jklg.outcome LANGUAGE plpgsql SET search_path = public, pg_temp
AS $$
DECLARE
    who uuid;
    c customers;
    mail uuid;
BEGIN
    UPDATE password_reset_tokens SET used_at = now()
     WHERE token_hash = decode(p_token_hash, 'hex') AND used_at IS NULL
       AND expires_at > now()
    RETURNING customer_id INTO who;
    IF NOT FOUND THEN
        RETURN jklg.answer('invalid_token');
    END IF;
    UPDATE customers SET password_hash = p_new_hash,
           email_verified_at = COALESCE(email_verified_at, now())
     WHERE id = who
    RETURNING * INTO c;
    IF NOT FOUND THEN
        RETURN jklg.answer('invalid_token');
    END IF;
    UPDATE password_reset_tokens SET used_at = now()
     WHERE customer_id = c.id AND used_at IS NULL;
    DELETE FROM customer_sessions WHERE customer_id = c.id;
    PERFORM jklg.security_event(c.id, 'password_reset', p_ip, p_user_agent);
    INSERT INTO email_outbox (template, recipient, data)
    VALUES ('password_changed', c.email,
            jsonb_build_object('first_name', c.first_name,
                               'changed_at', jklg_ts(now()),
                               'reset_url', p_forgot_url))
    RETURNING id INTO mail;
    RETURN jklg.ok(jsonb_build_object('message', 'Your password has been '
                   'changed. Please sign in again.'), ARRAY[mail]);
END
$$;

-- Housekeeping (sql/013), now with the pending MFA logins (sql/011) whose
-- five minutes ended more than a day ago: login_mfa_begin only cleared a
-- customer's own old ones, so an account that never logged in again kept
-- them for ever.
CREATE OR REPLACE FUNCTION jklg.purge_security_events(p_retention interval)
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
    total := total + n;
    DELETE FROM mfa_tokens WHERE expires_at < now() - interval '1 day';
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN total + n;
END
$$;
