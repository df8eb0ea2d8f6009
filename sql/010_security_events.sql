-- Security events: what happened to an account's access, written in the
-- same transaction as the change, listed to the customer
-- (GET /me/security-events) and to staff. Kept for a configured period and
-- purged by housekeeping.
CREATE TABLE security_events (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    customer_id uuid NOT NULL REFERENCES customers ON DELETE CASCADE,
    type        text NOT NULL CHECK (type IN (
                    'login', 'login_failed', 'password_changed',
                    'password_reset', 'email_changed', 'mfa_enabled',
                    'mfa_disabled', 'session_revoked', 'new_device')),
    ip          inet,
    user_agent  text,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX security_events_customer_idx
    ON security_events (customer_id, created_at DESC, id DESC);
CREATE INDEX security_events_created_idx ON security_events (created_at);

ALTER TABLE security_events ENABLE ROW LEVEL SECURITY;
CREATE POLICY security_events_own_rows ON security_events FOR SELECT
    USING (customer_id = jklg_customer_id());

-- Records one event; every writer goes through here, so the shape stays one.
CREATE FUNCTION jklg.security_event(p_customer uuid, p_type text,
                                    p_ip inet DEFAULT NULL,
                                    p_user_agent text DEFAULT NULL)
    RETURNS void LANGUAGE sql SET search_path = public, pg_temp
AS $$
    INSERT INTO security_events (customer_id, type, ip, user_agent)
    VALUES (p_customer, p_type, p_ip, p_user_agent)
$$;

CREATE FUNCTION jklg.security_event_json(e security_events) RETURNS jsonb
    LANGUAGE sql STABLE SET search_path = public, pg_temp
AS $$
    SELECT jsonb_build_object('id', e.id, 'type', e.type,
                              'ip', host(e.ip), 'user_agent', e.user_agent,
                              'created_at', jklg_ts(e.created_at))
$$;
