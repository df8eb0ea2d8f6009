-- 024: the session check runs once per call, never once per customer row.
--
-- jklg_session_customer() is VOLATILE (it refreshes last_seen_at), so in
-- "WHERE id = jklg_session_customer(...)" PostgreSQL may not use the
-- customers primary key: it scanned the whole table and called the check
-- for every row until one matched. At 50,000 customers GET /me took
-- 0.6 s for a customer stored late in the table. As an uncorrelated
-- scalar subquery the check is an InitPlan: evaluated once, its value
-- then an index condition. Bodies as before otherwise (pg_get_functiondef
-- of 009, 011, 013 and 019, with only that expression changed).

CREATE OR REPLACE FUNCTION jklg.me_get(p_session uuid, p_customer uuid)
 RETURNS jklg.outcome
 LANGUAGE plpgsql
 SET search_path TO 'public', 'pg_temp'
AS $function$
DECLARE
    c customers;
BEGIN
    SELECT * INTO c FROM customers
     WHERE id = (SELECT jklg_session_customer(p_session, p_customer));
    IF NOT FOUND THEN
        RETURN jklg.answer('unauthorized');
    END IF;
    RETURN jklg.ok(jsonb_build_object('customer', jklg_customer_json(c)));
END
$function$

;

CREATE OR REPLACE FUNCTION jklg.me_patch(p_session uuid, p_customer uuid, p_fields jsonb)
 RETURNS jklg.outcome
 LANGUAGE plpgsql
 SET search_path TO 'public', 'pg_temp'
AS $function$
DECLARE
    c customers;
BEGIN
    UPDATE customers SET
        first_name = COALESCE(p_fields->>'first_name', first_name),
        last_name = COALESCE(p_fields->>'last_name', last_name),
        phone = CASE WHEN p_fields ? 'phone' THEN p_fields->>'phone'
                     ELSE phone END
     WHERE id = (SELECT jklg_session_customer(p_session, p_customer))
    RETURNING * INTO c;
    IF NOT FOUND THEN
        RETURN jklg.answer('unauthorized');
    END IF;
    RETURN jklg.ok(jsonb_build_object('customer', jklg_customer_json(c)));
END
$function$

;

CREATE OR REPLACE FUNCTION jklg.me_password_lookup(p_session uuid, p_customer uuid)
 RETURNS jklg.outcome
 LANGUAGE plpgsql
 SET search_path TO 'public', 'pg_temp'
AS $function$
DECLARE
    c customers;
BEGIN
    SELECT * INTO c FROM customers
     WHERE id = (SELECT jklg_session_customer(p_session, p_customer));
    IF NOT FOUND THEN
        RETURN jklg.answer('unauthorized');
    END IF;
    RETURN jklg.ok(jsonb_build_object('password_hash', c.password_hash,
                                      'email', c.email));
END
$function$

;

CREATE OR REPLACE FUNCTION jklg.me_mfa_totp_start(p_session uuid, p_customer uuid, p_secret_enc text, p_nonce text)
 RETURNS jklg.outcome
 LANGUAGE plpgsql
 SET search_path TO 'public', 'pg_temp'
AS $function$
DECLARE
    c customers;
BEGIN
    SELECT * INTO c FROM customers
     WHERE id = (SELECT jklg_session_customer(p_session, p_customer));
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
$function$

;

CREATE OR REPLACE FUNCTION jklg.me_mfa_totp_lookup(p_session uuid, p_customer uuid)
 RETURNS jklg.outcome
 LANGUAGE plpgsql
 SET search_path TO 'public', 'pg_temp'
AS $function$
DECLARE
    c customers;
    m customer_mfa;
BEGIN
    SELECT * INTO c FROM customers
     WHERE id = (SELECT jklg_session_customer(p_session, p_customer));
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
$function$

;

CREATE OR REPLACE FUNCTION jklg.me_password_set(p_session uuid, p_customer uuid, p_hash text, p_reset_url text, p_ip inet DEFAULT NULL::inet, p_user_agent text DEFAULT NULL::text)
 RETURNS jklg.outcome
 LANGUAGE plpgsql
 SET search_path TO 'public', 'pg_temp'
AS $function$
DECLARE
    c customers;
    mail uuid;
BEGIN
    UPDATE customers SET password_hash = p_hash
     WHERE id = (SELECT jklg_session_customer(p_session, p_customer))
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
$function$

;

CREATE OR REPLACE FUNCTION jklg.me_email_change(p_session uuid, p_customer uuid, p_new_email text, p_confirm_hash text, p_confirm_url text, p_revert_hash text, p_revert_url text)
 RETURNS jklg.outcome
 LANGUAGE plpgsql
 SET search_path TO 'public', 'pg_temp'
AS $function$
DECLARE
    c customers;
    confirm_mail uuid;
    notice_mail uuid;
BEGIN
    SELECT * INTO c FROM customers
     WHERE id = (SELECT jklg_session_customer(p_session, p_customer))
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
$function$

;
