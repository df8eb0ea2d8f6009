-- mod_jklg core schema.
--
-- Applied by scripts/migrate.sh inside one transaction: no BEGIN/COMMIT here.
-- Plain SQL without extensions or superuser-only statements, so the same file
-- applies to a self-hosted PostgreSQL (13+) and to Supabase.
--
-- Money is always a bigint in the currency's minor unit beside a lowercase
-- ISO 4217 code, exactly as the API and Stripe carry it: no floats, no
-- conversion at the edges.

-- RFC 3339 in UTC with second precision, the only timestamp format the API
-- emits. Safe to declare IMMUTABLE: the zone is pinned to UTC and the format
-- has no locale-dependent fields, so the session's TimeZone and lc_time never
-- change the result (which also lets it be inlined and used in indexes).
CREATE FUNCTION jklg_ts(t timestamptz) RETURNS text
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
AS $$
    SELECT to_char(t AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"')
$$;

-- One trigger function instead of trusting every UPDATE statement in the C
-- code to remember the column.
CREATE FUNCTION jklg_touch_updated_at() RETURNS trigger
    LANGUAGE plpgsql
AS $$
BEGIN
    NEW.updated_at := now();
    RETURN NEW;
END
$$;

CREATE TABLE customers (
    id                uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    -- The application trims and lowercases before it writes, so a plain
    -- UNIQUE gives case-insensitive uniqueness without citext or an
    -- expression index; the CHECK catches a writer that forgot.
    email             text NOT NULL UNIQUE
                      CHECK (length(email) <= 254 AND email = lower(btrim(email))),
    password_hash     text NOT NULL,
    first_name        text NOT NULL,
    last_name         text NOT NULL,
    phone             text,
    email_verified_at timestamptz,
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now()
);

-- Sessions make a JWT revocable: every authenticated request checks that its
-- session row still exists and has not expired.
CREATE TABLE customer_sessions (
    id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    customer_id  uuid NOT NULL REFERENCES customers ON DELETE CASCADE,
    ip           inet,
    user_agent   text,
    created_at   timestamptz NOT NULL DEFAULT now(),
    last_seen_at timestamptz NOT NULL DEFAULT now(),
    expires_at   timestamptz NOT NULL
);
CREATE INDEX customer_sessions_customer_id_idx ON customer_sessions (customer_id);
-- For purging expired sessions without a sequential scan.
CREATE INDEX customer_sessions_expires_at_idx ON customer_sessions (expires_at);

-- Only the SHA-256 of a one-time token is kept, so a leaked database (or
-- backup) cannot be used to verify an address or take over an account.
CREATE TABLE email_verification_tokens (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    customer_id uuid NOT NULL REFERENCES customers ON DELETE CASCADE,
    token_hash  bytea NOT NULL UNIQUE CHECK (octet_length(token_hash) = 32),
    expires_at  timestamptz NOT NULL,
    used_at     timestamptz,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX email_verification_tokens_customer_id_idx
    ON email_verification_tokens (customer_id);

CREATE TABLE password_reset_tokens (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    customer_id uuid NOT NULL REFERENCES customers ON DELETE CASCADE,
    token_hash  bytea NOT NULL UNIQUE CHECK (octet_length(token_hash) = 32),
    expires_at  timestamptz NOT NULL,
    used_at     timestamptz,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX password_reset_tokens_customer_id_idx
    ON password_reset_tokens (customer_id);

CREATE TABLE customer_addresses (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    customer_id uuid NOT NULL REFERENCES customers ON DELETE CASCADE,
    -- The API always returns a string for label, so '' rather than NULL.
    label       text NOT NULL DEFAULT '',
    line1       text NOT NULL,
    line2       text,
    city        text NOT NULL,
    region      text,
    postal_code text NOT NULL,
    country     char(2) NOT NULL CHECK (country ~ '^[A-Z]{2}$'),
    is_default  boolean NOT NULL DEFAULT false,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX customer_addresses_customer_id_idx ON customer_addresses (customer_id);
-- "At most one default" holds even under concurrent requests; setting a new
-- default must clear the old one first, in the same transaction.
CREATE UNIQUE INDEX customer_addresses_one_default_idx
    ON customer_addresses (customer_id) WHERE is_default;

-- A missing row means "all defaults": the API answers with these values
-- without having to create the row at registration.
CREATE TABLE customer_preferences (
    customer_id      uuid PRIMARY KEY REFERENCES customers ON DELETE CASCADE,
    language         text NOT NULL DEFAULT 'en'
                     CHECK (language ~ '^[A-Za-z]{2,8}(-[A-Za-z0-9]{1,8})*$'),
    currency         char(3) NOT NULL DEFAULT 'eur' CHECK (currency ~ '^[a-z]{3}$'),
    marketing_emails boolean NOT NULL DEFAULT false,
    newsletter       boolean NOT NULL DEFAULT false,
    updated_at       timestamptz NOT NULL DEFAULT now()
);

-- amount_paid, amount_refunded and payment_status are derived from the
-- booking's transactions by triggers (002_booking_sync.sql): the application
-- never writes them, so they cannot drift from the ledger.
CREATE TABLE bookings (
    id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    reference       text NOT NULL UNIQUE,
    -- RESTRICT: a customer with bookings has a payment history that must be
    -- kept; deleting such an account is an explicit, deliberate process.
    customer_id     uuid NOT NULL REFERENCES customers ON DELETE RESTRICT,
    description     text NOT NULL,
    travel_start    date NOT NULL,
    travel_end      date NOT NULL,
    amount_total    bigint NOT NULL CHECK (amount_total > 0),
    amount_paid     bigint NOT NULL DEFAULT 0 CHECK (amount_paid >= 0),
    amount_refunded bigint NOT NULL DEFAULT 0 CHECK (amount_refunded >= 0),
    currency        char(3) NOT NULL CHECK (currency ~ '^[a-z]{3}$'),
    status          text NOT NULL DEFAULT 'pending'
                    CHECK (status IN ('pending', 'confirmed', 'cancelled')),
    payment_status  text NOT NULL DEFAULT 'unpaid'
                    CHECK (payment_status IN ('unpaid', 'partially_paid', 'paid',
                                              'partially_refunded', 'refunded')),
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    CHECK (travel_end >= travel_start)
);
-- Serves the booking history, newest first, with a (created_at, id) keyset
-- cursor; id breaks ties between bookings created in the same transaction.
CREATE INDEX bookings_customer_history_idx
    ON bookings (customer_id, created_at DESC, id DESC);

CREATE TABLE transactions (
    id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    -- RESTRICT: money moved; the record outlives any clean-up of bookings.
    booking_id      uuid NOT NULL REFERENCES bookings ON DELETE RESTRICT,
    gateway         text NOT NULL CHECK (gateway IN ('stripe', 'manual')),
    -- The gateway's own id (PaymentIntent pi_...); NULL until the gateway
    -- has answered, so a failed create leaves no fake reference behind.
    gateway_ref     text,
    amount          bigint NOT NULL CHECK (amount > 0),
    amount_refunded bigint NOT NULL DEFAULT 0
                    CHECK (amount_refunded >= 0 AND amount_refunded <= amount),
    currency        char(3) NOT NULL CHECK (currency ~ '^[a-z]{3}$'),
    status          text NOT NULL
                    CHECK (status IN ('requires_payment', 'processing', 'succeeded',
                                      'failed', 'canceled',
                                      'partially_refunded', 'refunded')),
    failure_reason  text,
    disputed        boolean NOT NULL DEFAULT false,
    method          text,
    note            text,
    -- Makes a retried create (client or staff double-submit) return the
    -- first transaction instead of charging twice.
    idempotency_key text UNIQUE,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    -- Also the webhook's lookup path (gateway, pi_...).
    UNIQUE (gateway, gateway_ref)
);
CREATE INDEX transactions_booking_id_idx ON transactions (booking_id);
CREATE INDEX transactions_status_created_idx ON transactions (status, created_at DESC);
CREATE INDEX transactions_created_idx ON transactions (created_at DESC);

CREATE TABLE refunds (
    id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    transaction_id  uuid NOT NULL REFERENCES transactions ON DELETE RESTRICT,
    amount          bigint NOT NULL CHECK (amount > 0),
    currency        char(3) NOT NULL CHECK (currency ~ '^[a-z]{3}$'),
    status          text NOT NULL DEFAULT 'pending'
                    CHECK (status IN ('pending', 'succeeded', 'failed', 'canceled')),
    gateway_ref     text UNIQUE,
    reason          text,
    requested_by    text NOT NULL,
    -- NOT NULL: every refund is staff-initiated and must be safe to retry.
    idempotency_key text NOT NULL UNIQUE,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX refunds_transaction_id_idx ON refunds (transaction_id);

-- Append-only history of every state change of a transaction: who (actor)
-- or which gateway event caused it. A bigint identity keeps insertion order
-- even when two rows share a created_at.
CREATE TABLE transaction_audit_logs (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    transaction_id uuid NOT NULL REFERENCES transactions ON DELETE RESTRICT,
    actor          text NOT NULL,
    event_id       text,
    old_status     text,
    new_status     text NOT NULL,
    details        jsonb NOT NULL DEFAULT '{}',
    created_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX transaction_audit_logs_transaction_idx
    ON transaction_audit_logs (transaction_id, created_at);

-- The primary key on the gateway's event id is the webhook de-duplication:
-- a redelivered event fails its INSERT and the handler stops there, on any
-- number of servers.
CREATE TABLE payment_events (
    id             text PRIMARY KEY,
    gateway        text NOT NULL,
    type           text NOT NULL,
    payload        jsonb NOT NULL,
    transaction_id uuid REFERENCES transactions ON DELETE SET NULL,
    received_at    timestamptz NOT NULL DEFAULT now(),
    processed_at   timestamptz
);
CREATE INDEX payment_events_transaction_id_idx ON payment_events (transaction_id);

-- Transactional outbox: a row is written in the same transaction as the
-- change that causes the email, so mail is neither lost on rollback nor sent
-- for a change that never committed. Workers claim rows with
-- FOR UPDATE SKIP LOCKED plus a lease (locked_until, claim_token), so several
-- servers can share it and a crashed worker's rows are picked up again.
CREATE TABLE email_outbox (
    id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    template        text NOT NULL,
    -- No CR/LF: the value ends up in an SMTP envelope and a header.
    recipient       text NOT NULL
                    CHECK (length(recipient) <= 254 AND recipient !~ '[\r\n]'),
    -- Set to NULL once sent: it may hold links with live one-time tokens.
    data            jsonb,
    status          text NOT NULL DEFAULT 'queued'
                    CHECK (status IN ('queued', 'sending', 'sent', 'failed')),
    attempts        int NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    locked_until    timestamptz,
    claim_token     uuid,
    last_error      text,
    last_attempt_at timestamptz,
    message_id      text,
    -- e.g. 'receipt:<transaction id>': a replayed webhook cannot send a
    -- second receipt because the second INSERT ... ON CONFLICT does nothing.
    dedupe_key      text UNIQUE,
    created_at      timestamptz NOT NULL DEFAULT now(),
    sent_at         timestamptz
);
-- The claim/sweep path and the "queued" count: only live rows are indexed,
-- so the index stays small however much history accumulates.
CREATE INDEX email_outbox_due_idx ON email_outbox (next_attempt_at)
    WHERE status IN ('queued', 'sending');
-- "sent in the last hour" for /api/admin/email/status.
CREATE INDEX email_outbox_sent_idx ON email_outbox (sent_at) WHERE status = 'sent';
CREATE INDEX email_outbox_failed_idx ON email_outbox (status) WHERE status = 'failed';

CREATE TRIGGER customers_touch_updated_at BEFORE UPDATE ON customers
    FOR EACH ROW EXECUTE FUNCTION jklg_touch_updated_at();
CREATE TRIGGER customer_addresses_touch_updated_at BEFORE UPDATE ON customer_addresses
    FOR EACH ROW EXECUTE FUNCTION jklg_touch_updated_at();
CREATE TRIGGER customer_preferences_touch_updated_at BEFORE UPDATE ON customer_preferences
    FOR EACH ROW EXECUTE FUNCTION jklg_touch_updated_at();
CREATE TRIGGER bookings_touch_updated_at BEFORE UPDATE ON bookings
    FOR EACH ROW EXECUTE FUNCTION jklg_touch_updated_at();
CREATE TRIGGER transactions_touch_updated_at BEFORE UPDATE ON transactions
    FOR EACH ROW EXECUTE FUNCTION jklg_touch_updated_at();
CREATE TRIGGER refunds_touch_updated_at BEFORE UPDATE ON refunds
    FOR EACH ROW EXECUTE FUNCTION jklg_touch_updated_at();
