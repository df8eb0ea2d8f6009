-- Second factor (TOTP, RFC 6238) with recovery codes, and the short-lived
-- token between the password and the code at login (docs/customers.md,
-- "Two-factor authentication"). The module computes and checks codes and
-- seals secrets (libsodium secretbox under JKLGMFAKey): the database sees
-- only ciphertext, hashes of recovery codes and of tokens, and the last
-- step accepted, so that a code is accepted once however many servers
-- answer.

-- One row per customer: pending (confirmed_at NULL) until a first code
-- confirms it. last_step: the newest time step accepted (replay).
CREATE TABLE customer_mfa (
    customer_id  uuid PRIMARY KEY REFERENCES customers ON DELETE CASCADE,
    secret_enc   bytea NOT NULL,
    nonce        bytea NOT NULL,
    confirmed_at timestamptz,
    last_step    bigint,
    created_at   timestamptz NOT NULL DEFAULT now()
);

-- SHA-256 of the 80-bit codes shown once at confirmation; single use.
CREATE TABLE mfa_recovery_codes (
    customer_id uuid NOT NULL REFERENCES customers ON DELETE CASCADE,
    code_hash   bytea NOT NULL,
    used_at     timestamptz,
    PRIMARY KEY (customer_id, code_hash)
);

-- Given by a correct password on an MFA account; spent by the code.
CREATE TABLE mfa_tokens (
    token_hash  bytea PRIMARY KEY,
    customer_id uuid NOT NULL REFERENCES customers ON DELETE CASCADE,
    expires_at  timestamptz NOT NULL,
    used_at     timestamptz,
    ip          inet,
    user_agent  text,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX mfa_tokens_customer_idx ON mfa_tokens (customer_id);

-- No policy: other roles (003_rls.sql) see none of these rows, not even
-- the customer's own. Secrets stay with the module.
ALTER TABLE customer_mfa ENABLE ROW LEVEL SECURITY;
ALTER TABLE mfa_recovery_codes ENABLE ROW LEVEL SECURITY;
ALTER TABLE mfa_tokens ENABLE ROW LEVEL SECURITY;

-- Accepts a time step for p_customer's confirmed secret (sealed with
-- p_nonce, so a secret replaced meanwhile does not count) only if it is
-- newer than every step accepted before: the row lock makes two requests
-- with one code take turns, and the second finds the step used.
CREATE FUNCTION jklg.mfa_take_step(p_customer uuid, p_nonce bytea,
                                   p_step bigint)
    RETURNS boolean LANGUAGE plpgsql SET search_path = public, pg_temp
AS $$
BEGIN
    UPDATE customer_mfa SET last_step = p_step
     WHERE customer_id = p_customer AND nonce = p_nonce
       AND confirmed_at IS NOT NULL
       AND (last_step IS NULL OR last_step < p_step);
    RETURN FOUND;
END
$$;

-- Spends a recovery code: of two requests with one code, exactly one finds
-- it unused (the second waits for the first's row lock, then re-checks).
CREATE FUNCTION jklg.mfa_take_recovery(p_customer uuid, p_hash bytea)
    RETURNS boolean LANGUAGE plpgsql SET search_path = public, pg_temp
AS $$
BEGIN
    UPDATE mfa_recovery_codes SET used_at = now()
     WHERE customer_id = p_customer AND code_hash = p_hash
       AND used_at IS NULL;
    RETURN FOUND;
END
$$;

-- Either: a recovery code's hash (hex) when given, else the step matched
-- for the secret sealed with p_nonce (hex).
CREATE FUNCTION jklg.mfa_take_code(p_customer uuid, p_nonce text,
                                   p_step bigint, p_recovery text)
    RETURNS boolean LANGUAGE plpgsql SET search_path = public, pg_temp
AS $$
BEGIN
    IF p_recovery IS NOT NULL THEN
        RETURN jklg.mfa_take_recovery(p_customer, decode(p_recovery, 'hex'));
    END IF;
    RETURN jklg.mfa_take_step(p_customer, decode(p_nonce, 'hex'), p_step);
END
$$;

-- The sealed secret for checking a code in the module.
CREATE FUNCTION jklg.mfa_secret_json(m customer_mfa) RETURNS jsonb
    LANGUAGE sql IMMUTABLE SET search_path = public, pg_temp
AS $$
    SELECT jsonb_build_object('secret_enc', encode(m.secret_enc, 'hex'),
                              'nonce', encode(m.nonce, 'hex'),
                              'last_step', m.last_step)
$$;

-- POST /me/mfa/totp: a new pending secret (replacing a pending one);
-- conflict when MFA is on. Answers the email for the otpauth:// URL.
CREATE FUNCTION jklg.me_mfa_totp_start(p_session uuid, p_customer uuid,
                                       p_secret_enc text, p_nonce text)
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
    INSERT INTO customer_mfa (customer_id, secret_enc, nonce)
    VALUES (c.id, decode(p_secret_enc, 'hex'), decode(p_nonce, 'hex'))
    ON CONFLICT (customer_id) DO UPDATE
       SET secret_enc = EXCLUDED.secret_enc, nonce = EXCLUDED.nonce,
           created_at = now(), last_step = NULL
     WHERE customer_mfa.confirmed_at IS NULL;
    IF NOT FOUND THEN
        RETURN jklg.answer('mfa_on');
    END IF;
    RETURN jklg.ok(jsonb_build_object('email', c.email));
END
$$;

-- The pending secret, for the module to check the confirming code.
CREATE FUNCTION jklg.me_mfa_totp_pending(p_session uuid, p_customer uuid)
    RETURNS jklg.outcome LANGUAGE plpgsql SET search_path = public, pg_temp
AS $$
DECLARE
    m customer_mfa;
BEGIN
    IF jklg_session_customer(p_session, p_customer) IS NULL THEN
        RETURN jklg.answer('unauthorized');
    END IF;
    SELECT * INTO m FROM customer_mfa
     WHERE customer_id = p_customer AND confirmed_at IS NULL;
    IF NOT FOUND THEN
        RETURN jklg.answer('mfa_not_pending');
    END IF;
    RETURN jklg.ok(jklg.mfa_secret_json(m));
END
$$;

-- POST /me/mfa/totp/confirm, after the module checked the code (p_step)
-- against the pending secret sealed with p_nonce: MFA on, the recovery
-- codes' hashes (hex) replace any older ones, and the event is recorded.
CREATE FUNCTION jklg.me_mfa_totp_confirm(p_session uuid, p_customer uuid,
                                         p_nonce text, p_step bigint,
                                         p_recovery text[], p_ip inet,
                                         p_user_agent text)
    RETURNS jklg.outcome LANGUAGE plpgsql SET search_path = public, pg_temp
AS $$
BEGIN
    IF jklg_session_customer(p_session, p_customer) IS NULL THEN
        RETURN jklg.answer('unauthorized');
    END IF;
    UPDATE customer_mfa SET confirmed_at = now(), last_step = p_step
     WHERE customer_id = p_customer AND nonce = decode(p_nonce, 'hex')
       AND confirmed_at IS NULL;
    IF NOT FOUND THEN
        RETURN jklg.answer('mfa_not_pending'); -- replaced or confirmed meanwhile
    END IF;
    DELETE FROM mfa_recovery_codes WHERE customer_id = p_customer;
    INSERT INTO mfa_recovery_codes (customer_id, code_hash)
    SELECT p_customer, decode(h, 'hex') FROM unnest(p_recovery) AS h;
    PERFORM jklg.security_event(p_customer, 'mfa_enabled', p_ip,
                                p_user_agent);
    RETURN jklg.ok(NULL);
END
$$;

-- DELETE /me/mfa/totp, first step: the password hash and the secret.
CREATE FUNCTION jklg.me_mfa_totp_lookup(p_session uuid, p_customer uuid)
    RETURNS jklg.outcome LANGUAGE plpgsql SET search_path = public, pg_temp
AS $$
DECLARE
    c customers;
    m customer_mfa;
BEGIN
    SELECT * INTO c FROM customers
     WHERE id = jklg_session_customer(p_session, p_customer);
    IF NOT FOUND THEN
        RETURN jklg.answer('unauthorized');
    END IF;
    SELECT * INTO m FROM customer_mfa
     WHERE customer_id = c.id AND confirmed_at IS NOT NULL;
    IF NOT FOUND THEN
        RETURN jklg.answer('mfa_off');
    END IF;
    RETURN jklg.ok(jklg.mfa_secret_json(m)
                   || jsonb_build_object('password_hash', c.password_hash));
END
$$;

-- Second step, after the password and the code (p_step) or recovery code
-- (p_recovery, a hash) were checked: MFA off, codes and pending login
-- tokens gone, the event recorded.
CREATE FUNCTION jklg.me_mfa_totp_disable(p_session uuid, p_customer uuid,
                                         p_nonce text, p_step bigint,
                                         p_recovery text, p_ip inet,
                                         p_user_agent text)
    RETURNS jklg.outcome LANGUAGE plpgsql SET search_path = public, pg_temp
AS $$
BEGIN
    IF jklg_session_customer(p_session, p_customer) IS NULL THEN
        RETURN jklg.answer('unauthorized');
    END IF;
    IF NOT jklg.mfa_take_code(p_customer, p_nonce, p_step, p_recovery) THEN
        RETURN jklg.answer('invalid_code');
    END IF;
    DELETE FROM customer_mfa WHERE customer_id = p_customer;
    DELETE FROM mfa_recovery_codes WHERE customer_id = p_customer;
    DELETE FROM mfa_tokens WHERE customer_id = p_customer;
    PERFORM jklg.security_event(p_customer, 'mfa_disabled', p_ip,
                                p_user_agent);
    RETURN jklg.answer('deleted');
END
$$;

-- Login, after a correct password: 'ok' (no body) when the account has no
-- second factor, so the caller creates the session; otherwise an
-- mfa_token (its hash) good for 5 minutes, and 'mfa_required'. An
-- upgraded password hash is kept here, as the session statement would.
CREATE FUNCTION jklg.login_mfa_begin(p_customer uuid, p_token_hash text,
                                     p_new_hash text, p_ip inet,
                                     p_user_agent text)
    RETURNS jklg.outcome LANGUAGE plpgsql SET search_path = public, pg_temp
AS $$
BEGIN
    PERFORM 1 FROM customer_mfa
     WHERE customer_id = p_customer AND confirmed_at IS NOT NULL;
    IF NOT FOUND THEN
        RETURN jklg.ok(NULL);
    END IF;
    IF p_new_hash IS NOT NULL THEN
        UPDATE customers SET password_hash = p_new_hash WHERE id = p_customer;
    END IF;
    -- Tokens are tiny and short-lived; a customer's old ones go here.
    DELETE FROM mfa_tokens
     WHERE customer_id = p_customer AND expires_at < now() - interval '1 day';
    INSERT INTO mfa_tokens (token_hash, customer_id, expires_at, ip,
                            user_agent)
    VALUES (decode(p_token_hash, 'hex'), p_customer,
            now() + interval '5 minutes', p_ip, p_user_agent);
    RETURN jklg.answer('mfa_required');
END
$$;

-- POST /login/mfa, first step: whose live token this is, and its secret.
CREATE FUNCTION jklg.login_mfa_lookup(p_token_hash text)
    RETURNS jklg.outcome LANGUAGE plpgsql SET search_path = public, pg_temp
AS $$
DECLARE
    m customer_mfa;
BEGIN
    SELECT f.* INTO m FROM mfa_tokens t
      JOIN customer_mfa f ON f.customer_id = t.customer_id
     WHERE t.token_hash = decode(p_token_hash, 'hex') AND t.used_at IS NULL
       AND t.expires_at > now() AND f.confirmed_at IS NOT NULL;
    IF NOT FOUND THEN
        RETURN jklg.answer('unauthorized');
    END IF;
    RETURN jklg.ok(jklg.mfa_secret_json(m)
                   || jsonb_build_object('customer_id', m.customer_id));
END
$$;

-- Second step, after the module matched the code to p_step (or hashed a
-- recovery code): spends the step or the code and the token together.
-- 'ok' with the customer, for the caller to create the session; a wrong,
-- replayed or used code leaves the token for another try.
CREATE FUNCTION jklg.login_mfa_finish(p_token_hash text, p_nonce text,
                                      p_step bigint, p_recovery text)
    RETURNS jklg.outcome LANGUAGE plpgsql SET search_path = public, pg_temp
AS $$
DECLARE
    t mfa_tokens;
BEGIN
    SELECT * INTO t FROM mfa_tokens
     WHERE token_hash = decode(p_token_hash, 'hex') AND used_at IS NULL
       AND expires_at > now()
       FOR UPDATE;
    IF NOT FOUND THEN
        RETURN jklg.answer('unauthorized');
    END IF;
    IF NOT jklg.mfa_take_code(t.customer_id, p_nonce, p_step,
                              p_recovery) THEN
        RETURN jklg.answer('invalid_code');
    END IF;
    UPDATE mfa_tokens SET used_at = now()
     WHERE token_hash = t.token_hash;
    RETURN jklg.ok(jsonb_build_object('customer_id', t.customer_id));
END
$$;
