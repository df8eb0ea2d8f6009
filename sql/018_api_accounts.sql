-- The unauthenticated account flows that queue mail (register, verify,
-- resend verification, forgot password) as jklg.* endpoint functions (the
-- shape of sql/009). Their answers never tell whether an email has an
-- account: each is 'accepted' whatever it found, and only the mail differs.

-- A new address gets the account, a verification token and its mail; a
-- known one only the account_exists notice.
CREATE FUNCTION jklg.register(p_email text, p_password_hash text,
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
        INSERT INTO email_verification_tokens (customer_id, token_hash,
                                               expires_at)
        VALUES (c.id, decode(p_token_hash, 'hex'), now() + interval '24 hours');
        INSERT INTO email_outbox (template, recipient, data)
        VALUES ('verification', c.email,
                jsonb_build_object('first_name', c.first_name,
                                   'verify_url', p_verify_url,
                                   'expires_hours', 24))
        RETURNING id INTO mail;
    ELSE
        SELECT * INTO c FROM customers WHERE email = p_email;
        IF NOT FOUND THEN
            RETURN jklg.answer('accepted');     -- deleted meanwhile
        END IF;
        INSERT INTO email_outbox (template, recipient, data)
        VALUES ('account_exists', c.email,
                jsonb_build_object('first_name', c.first_name,
                                   'login_url', p_login_url,
                                   'reset_url', p_reset_url))
        RETURNING id INTO mail;
    END IF;
    RETURN jklg.answer('accepted', NULL, ARRAY[mail]);
END
$$;

-- Uses the token and every other open one of the account; the address is
-- verified once, whichever token did it.
CREATE FUNCTION jklg.verify_email(p_token_hash text)
    RETURNS jklg.outcome LANGUAGE plpgsql SET search_path = public, pg_temp
AS $$
DECLARE
    who uuid;
    c customers;
BEGIN
    UPDATE email_verification_tokens SET used_at = now()
     WHERE token_hash = decode(p_token_hash, 'hex') AND used_at IS NULL
       AND expires_at > now()
    RETURNING customer_id INTO who;
    IF NOT FOUND THEN
        RETURN jklg.answer('invalid_token');
    END IF;
    UPDATE email_verification_tokens SET used_at = now()
     WHERE customer_id = who AND used_at IS NULL;
    UPDATE customers SET email_verified_at = COALESCE(email_verified_at, now())
     WHERE id = who
    RETURNING * INTO c;
    RETURN jklg.ok(jsonb_build_object('customer', jklg_customer_json(c)));
END
$$;

-- A fresh link for an unverified address; earlier links stop working.
CREATE FUNCTION jklg.resend_verification(p_email text, p_token_hash text,
                                         p_verify_url text)
    RETURNS jklg.outcome LANGUAGE plpgsql SET search_path = public, pg_temp
AS $$
DECLARE
    c customers;
    mail uuid;
BEGIN
    SELECT * INTO c FROM customers
     WHERE email = p_email AND email_verified_at IS NULL;
    IF NOT FOUND THEN
        RETURN jklg.answer('accepted');
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
    RETURN jklg.answer('accepted', NULL, ARRAY[mail]);
END
$$;

-- A reset link valid for an hour; earlier ones stay valid until used or
-- expired (a reset uses them all up).
CREATE FUNCTION jklg.forgot_password(p_email text, p_token_hash text,
                                     p_reset_url text)
    RETURNS jklg.outcome LANGUAGE plpgsql SET search_path = public, pg_temp
AS $$
DECLARE
    c customers;
    mail uuid;
BEGIN
    SELECT * INTO c FROM customers WHERE email = p_email;
    IF NOT FOUND THEN
        RETURN jklg.answer('accepted');
    END IF;
    INSERT INTO password_reset_tokens (customer_id, token_hash, expires_at)
    VALUES (c.id, decode(p_token_hash, 'hex'), now() + interval '1 hour');
    INSERT INTO email_outbox (template, recipient, data)
    VALUES ('password_reset', c.email,
            jsonb_build_object('first_name', c.first_name,
                               'reset_url', p_reset_url,
                               'expires_minutes', 60))
    RETURNING id INTO mail;
    RETURN jklg.answer('accepted', NULL, ARRAY[mail]);
END
$$;
