-- Travel payments (issue 10): payment schedules (deposit now, balance
-- before departure), cancellation policies copied onto each booking, and
-- the customer's and staff's cancellation with refunds.

-- ---------------------------------------------------------------------------
-- The contract spells a cancelled booking "canceled", as it does for
-- transactions and installments: one spelling everywhere.
ALTER TABLE bookings DROP CONSTRAINT bookings_status_check;
UPDATE bookings SET status = 'canceled' WHERE status = 'cancelled';
ALTER TABLE bookings ADD CONSTRAINT bookings_status_check
    CHECK (status IN ('pending', 'confirmed', 'canceled'));

-- ---------------------------------------------------------------------------
-- "Today" of schedules and cancellations, in UTC. TEST ONLY: a row in
-- test_clock moves it, so the suite can stand days before departure
-- without sleeping. Production never writes that table; docs/payments.md
-- says so, and the health of a deployment does not depend on it.
CREATE TABLE test_clock (
    only_row boolean PRIMARY KEY DEFAULT true CHECK (only_row),
    today    date NOT NULL
);

CREATE FUNCTION jklg.today() RETURNS date
    LANGUAGE sql STABLE SET search_path = public, pg_temp
AS $$
    SELECT COALESCE((SELECT today FROM test_clock),
                    (now() AT TIME ZONE 'UTC')::date)
$$;

-- ---------------------------------------------------------------------------
-- Cancellation policies: named tier lists, staff-defined. A booking keeps
-- a copy of the tiers it was sold under (bookings.cancellation_tiers), so
-- changing a policy never changes what an existing customer gets back.
CREATE TABLE cancellation_policies (
    name       text PRIMARY KEY CHECK (name ~ '^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$'),
    tiers      jsonb NOT NULL CHECK (jsonb_typeof(tiers) = 'array'),
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);

ALTER TABLE bookings
    ADD COLUMN cancellation_policy text,
    ADD COLUMN cancellation_tiers jsonb,
    ADD COLUMN canceled_at timestamptz,
    ADD COLUMN cancel_reason text;

-- ---------------------------------------------------------------------------
-- Installments: what is due when. Every booking has at least one; a paid
-- installment names the payment that paid it.
CREATE TABLE installments (
    id             uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    booking_id     uuid NOT NULL REFERENCES bookings ON DELETE RESTRICT,
    kind           text NOT NULL CHECK (kind IN ('deposit', 'balance', 'full')),
    amount         bigint NOT NULL CHECK (amount > 0),
    currency       char(3) NOT NULL CHECK (currency ~ '^[a-z]{3}$'),
    due_date       date NOT NULL,
    status         text NOT NULL DEFAULT 'pending'
                   CHECK (status IN ('pending', 'paid', 'failed', 'canceled')),
    attempts       int NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    transaction_id uuid REFERENCES transactions ON DELETE RESTRICT,
    -- The day it was scheduled, by the schedules' clock.
    created_on     date NOT NULL DEFAULT jklg.today(),
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX installments_booking_idx ON installments (booking_id, due_date);
CREATE INDEX installments_open_due_idx ON installments (due_date)
    WHERE status IN ('pending', 'failed');
CREATE TRIGGER installments_touch_updated_at BEFORE UPDATE ON installments
    FOR EACH ROW EXECUTE FUNCTION jklg_touch_updated_at();

ALTER TABLE installments ENABLE ROW LEVEL SECURITY;
CREATE POLICY installments_read_own ON installments FOR SELECT
    USING (booking_id IN (SELECT b.id FROM bookings b
                           WHERE b.customer_id = jklg_customer_id()));

-- The installment a card payment was made for (NULL: a payment of the
-- outstanding balance, e.g. cash recorded by staff).
ALTER TABLE transactions ADD COLUMN installment_id uuid
    REFERENCES installments ON DELETE RESTRICT;
CREATE INDEX transactions_installment_idx ON transactions (installment_id)
    WHERE installment_id IS NOT NULL;

-- Backfill: what existing bookings owe is due at once, as before.
INSERT INTO installments (booking_id, kind, amount, currency, due_date,
                          status)
SELECT b.id, 'full', b.amount_total, b.currency,
       (b.created_at AT TIME ZONE 'UTC')::date,
       CASE WHEN b.status = 'canceled' THEN 'canceled'
            WHEN b.amount_paid >= b.amount_total THEN 'paid'
            ELSE 'pending' END
  FROM bookings b;

-- ---------------------------------------------------------------------------
-- Saved cards: the gateway's customer made for ours (once), and the
-- payment methods kept on it for off-session charges of the balance.
ALTER TABLE transactions ADD COLUMN save_method boolean NOT NULL DEFAULT false;
-- The balance job: the day it may try again after a soft decline, and a
-- lease so that one server charges an installment at a time.
ALTER TABLE installments
    ADD COLUMN next_attempt_on date,
    ADD COLUMN claimed_until timestamptz;

CREATE TABLE gateway_customers (
    customer_id uuid NOT NULL REFERENCES customers ON DELETE CASCADE,
    gateway     text NOT NULL,
    gateway_ref text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (customer_id, gateway),
    UNIQUE (gateway, gateway_ref)
);

CREATE TABLE payment_methods (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    customer_id uuid NOT NULL REFERENCES customers ON DELETE CASCADE,
    gateway     text NOT NULL,
    gateway_ref text NOT NULL,
    brand       text NOT NULL,
    last4       text NOT NULL CHECK (last4 ~ '^[0-9]{4}$'),
    exp_month   int NOT NULL,
    exp_year    int NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    detached_at timestamptz,
    UNIQUE (gateway, gateway_ref)
);
CREATE INDEX payment_methods_customer_idx ON payment_methods (customer_id)
    WHERE detached_at IS NULL;

ALTER TABLE gateway_customers ENABLE ROW LEVEL SECURITY;
CREATE POLICY gateway_customers_read_own ON gateway_customers FOR SELECT
    USING (customer_id = jklg_customer_id());
ALTER TABLE payment_methods ENABLE ROW LEVEL SECURITY;
CREATE POLICY payment_methods_read_own ON payment_methods FOR SELECT
    USING (customer_id = jklg_customer_id());

-- Installment order: by due date, the deposit (or full) before the balance.
CREATE FUNCTION jklg_installment_rank(i installments) RETURNS int
    LANGUAGE sql IMMUTABLE
AS $$ SELECT CASE i.kind WHEN 'balance' THEN 1 ELSE 0 END $$;

CREATE FUNCTION jklg_installment_json(i installments) RETURNS jsonb
    LANGUAGE sql STABLE
AS $$
    SELECT jsonb_build_object(
        'id', i.id, 'kind', i.kind, 'amount', i.amount,
        'due_date', jklg_date(i.due_date), 'status', i.status,
        'attempts', i.attempts)
$$;

CREATE OR REPLACE FUNCTION jklg_booking_json(b bookings) RETURNS jsonb
    LANGUAGE sql STABLE
AS $$
    SELECT jsonb_build_object(
        'id', b.id, 'reference', b.reference, 'description', b.description,
        'travel_start', jklg_date(b.travel_start),
        'travel_end', jklg_date(b.travel_end),
        'amount_total', b.amount_total, 'amount_paid', b.amount_paid,
        'amount_refunded', b.amount_refunded, 'currency', b.currency,
        'status', b.status, 'payment_status', b.payment_status,
        'schedule', COALESCE((SELECT jsonb_agg(jklg_installment_json(i)
                                  ORDER BY i.due_date,
                                           jklg_installment_rank(i),
                                           i.created_at, i.id)
                                FROM installments i
                               WHERE i.booking_id = b.id), '[]'::jsonb),
        'cancellation_policy', b.cancellation_policy,
        'created_at', jklg_ts(b.created_at))
$$;

-- A succeeded payment pays its installment, then any further open ones
-- (in order) that the booking's payments now cover: cash recorded by staff
-- or a payment of the whole balance pays installments too, so the next
-- intent never asks for money already received.
CREATE FUNCTION jklg_installments_on_payment() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path FROM CURRENT
AS $$
DECLARE
    i installments;
    paid bigint;
    covered bigint;
BEGIN
    IF NEW.status <> 'succeeded'
       OR (TG_OP = 'UPDATE' AND OLD.status = 'succeeded') THEN
        RETURN NULL;
    END IF;
    UPDATE installments SET status = 'paid', transaction_id = NEW.id
     WHERE id = NEW.installment_id AND status IN ('pending', 'failed');
    SELECT amount_paid INTO paid FROM bookings WHERE id = NEW.booking_id;
    FOR i IN SELECT * FROM installments o
              WHERE o.booking_id = NEW.booking_id
                AND o.status IN ('pending', 'failed')
              ORDER BY o.due_date, jklg_installment_rank(o), o.created_at,
                       o.id
    LOOP
        SELECT COALESCE(sum(amount), 0) INTO covered FROM installments
         WHERE booking_id = NEW.booking_id AND status = 'paid';
        EXIT WHEN covered + i.amount > paid;
        UPDATE installments SET status = 'paid', transaction_id = NEW.id
         WHERE id = i.id;
    END LOOP;
    RETURN NULL;
END
$$;

-- Named to fire after transactions_sync_bookings (AFTER triggers run in
-- name order), so the booking's amount_paid already counts this payment.
CREATE TRIGGER transactions_tie_installments
    AFTER INSERT OR UPDATE OF status ON transactions
    FOR EACH ROW EXECUTE FUNCTION jklg_installments_on_payment();

-- ---------------------------------------------------------------------------
-- Staff POST /api/admin/bookings. The module has validated the fields and
-- computed the deposit (p_deposit NULL: no schedule, due in full). The
-- balance is due p_balance_due_days before departure; a booking made
-- after that day is due in full.
CREATE FUNCTION jklg.staff_booking_create(p_customer_id uuid,
                                          p_customer_email text,
                                          p_reference text,
                                          p_description text,
                                          p_travel_start date,
                                          p_travel_end date,
                                          p_amount_total bigint,
                                          p_currency text,
                                          p_deposit bigint,
                                          p_balance_due_days int,
                                          p_policy text)
    RETURNS jklg.outcome LANGUAGE plpgsql SET search_path = public, pg_temp
AS $$
DECLARE
    customer uuid;
    tiers jsonb;
    b bookings;
    today date := jklg.today();
    balance_due date := p_travel_start - COALESCE(p_balance_due_days, 42);
BEGIN
    SELECT id INTO customer FROM customers
     WHERE id = p_customer_id OR email = p_customer_email LIMIT 1;
    IF NOT FOUND THEN
        RETURN jklg.answer('no_customer');
    END IF;
    IF p_policy IS NOT NULL THEN
        SELECT p.tiers INTO tiers FROM cancellation_policies p
         WHERE p.name = p_policy;
        IF NOT FOUND THEN
            RETURN jklg.answer('invalid', jsonb_build_object('fields',
                jsonb_build_object('cancellation_policy',
                                   'must name an existing cancellation '
                                   'policy')));
        END IF;
    END IF;
    INSERT INTO bookings (reference, customer_id, description, travel_start,
                          travel_end, amount_total, currency,
                          cancellation_policy, cancellation_tiers)
    VALUES (p_reference, customer, p_description, p_travel_start,
            p_travel_end, p_amount_total, p_currency, p_policy, tiers)
    ON CONFLICT (reference) DO NOTHING
    RETURNING * INTO b;
    IF NOT FOUND THEN
        RETURN jklg.answer('reference_taken');
    END IF;
    IF p_deposit IS NULL OR balance_due < today THEN
        INSERT INTO installments (booking_id, kind, amount, currency,
                                  due_date)
        VALUES (b.id, 'full', b.amount_total, b.currency, today);
    ELSE
        INSERT INTO installments (booking_id, kind, amount, currency,
                                  due_date)
        VALUES (b.id, 'deposit', p_deposit, b.currency, today),
               (b.id, 'balance', b.amount_total - p_deposit, b.currency,
                balance_due);
    END IF;
    RETURN jklg.answer('created',
                       jsonb_build_object('booking', jklg_booking_json(b)));
END
$$;

-- ---------------------------------------------------------------------------
-- POST /api/payments/intents, first half: under a lock on the booking,
-- choose the installment (the named one, else the earliest open one) and
-- find the open intent for it or create its transaction row. The amount
-- is the installment's, capped by what the booking still owes. Outcomes:
-- not_found, conflict (booking canceled), installment_paid, paid,
-- processing, or ok {id, created, gateway_ref, amount, currency,
-- reference, installment_id, replaced_refs} as jklg_intent_open answered.
CREATE FUNCTION jklg.intent_open(p_session uuid, p_customer uuid,
                                 p_booking uuid, p_installment uuid,
                                 p_gateway text, p_save boolean)
    RETURNS jklg.outcome LANGUAGE plpgsql SET search_path = public, pg_temp
AS $$
DECLARE
    b bookings;
    i installments;
    t transactions;
    stale transactions;
    in_flight bigint;
    amount bigint;
    created boolean := false;
    replaced text[] := '{}';
BEGIN
    IF jklg_session_customer(p_session, p_customer) IS NULL THEN
        RETURN jklg.answer('unauthorized');
    END IF;
    SELECT * INTO b FROM bookings
     WHERE id = p_booking AND customer_id = p_customer FOR NO KEY UPDATE;
    IF NOT FOUND THEN
        RETURN jklg.answer('not_found');
    END IF;
    IF b.status = 'canceled' THEN
        RETURN jklg.answer('conflict');
    END IF;
    SELECT COALESCE(sum(x.amount), 0) INTO in_flight FROM transactions x
     WHERE x.booking_id = b.id AND x.status = 'processing';
    IF p_installment IS NOT NULL THEN
        SELECT * INTO i FROM installments
         WHERE id = p_installment AND booking_id = b.id;
        IF NOT FOUND THEN
            RETURN jklg.answer('not_found');
        END IF;
        IF i.status = 'paid' THEN
            RETURN jklg.answer('installment_paid');
        END IF;
        IF i.status = 'canceled' THEN
            RETURN jklg.answer('conflict');
        END IF;
    ELSE
        -- An installment whose payment is processing is not asked again.
        SELECT * INTO i FROM installments o
         WHERE o.booking_id = b.id AND o.status IN ('pending', 'failed')
           AND NOT EXISTS (SELECT 1 FROM transactions x
                            WHERE x.installment_id = o.id
                              AND x.status = 'processing')
         ORDER BY o.due_date, jklg_installment_rank(o), o.created_at, o.id
         LIMIT 1;
    END IF;
    amount := least(i.amount, b.amount_total - b.amount_paid - in_flight);
    IF i.id IS NULL OR amount <= 0 THEN
        RETURN jklg.answer(CASE WHEN in_flight > 0 THEN 'processing'
                                ELSE 'paid' END);
    END IF;
    IF EXISTS (SELECT 1 FROM transactions x
                WHERE x.installment_id = i.id AND x.status = 'processing') THEN
        RETURN jklg.answer('processing');
    END IF;
    -- Reuse the newest open intent for exactly this installment and
    -- amount; every other open one is canceled, so no old client secret
    -- can pay twice.
    FOR stale IN
        SELECT * FROM transactions x
         WHERE x.booking_id = b.id AND x.gateway = p_gateway
           AND (x.status = 'requires_payment'
                OR (x.status = 'failed' AND x.gateway_ref IS NOT NULL))
         ORDER BY x.created_at DESC, x.id DESC
    LOOP
        IF t.id IS NULL AND stale.amount = amount
           AND stale.installment_id IS NOT DISTINCT FROM i.id
           AND stale.save_method = p_save THEN
            t := stale;
            CONTINUE;
        END IF;
        UPDATE transactions SET status = 'canceled' WHERE id = stale.id;
        PERFORM jklg_audit(stale.id, 'system', NULL, stale.status, 'canceled',
                           jsonb_build_object('reason',
                                              'replaced by a new intent'));
        IF stale.gateway_ref IS NOT NULL THEN
            replaced := replaced || stale.gateway_ref;
        END IF;
    END LOOP;
    IF t.id IS NULL THEN
        INSERT INTO transactions (booking_id, gateway, amount, currency,
                                  status, method, installment_id,
                                  save_method)
        VALUES (b.id, p_gateway, amount, b.currency, 'requires_payment',
                'card', i.id, p_save)
        RETURNING * INTO t;
        created := true;
        PERFORM jklg_audit(t.id, 'customer:' || p_customer, NULL, NULL,
                           'requires_payment',
                           jsonb_build_object('amount', amount,
                                              'installment_id', i.id,
                                              'kind', i.kind));
    END IF;
    RETURN jklg.ok(jsonb_build_object(
        'id', t.id, 'created', created,
        'gateway_ref', t.gateway_ref, 'amount', t.amount,
        'currency', t.currency, 'reference', b.reference,
        'booking_id', b.id, 'installment_id', i.id,
        'replaced_refs', to_jsonb(replaced),
        'save', t.save_method, 'customer_id', p_customer,
        'customer_email', (SELECT email FROM customers WHERE id = p_customer),
        'customer_ref', (SELECT g.gateway_ref FROM gateway_customers g
                          WHERE g.customer_id = p_customer
                            AND g.gateway = p_gateway)));
END
$$;

-- ---------------------------------------------------------------------------
-- Cancellation policies. The module checks and orders the tiers
-- (jklg_policy.c) before it stores them; the id orders the list.
ALTER TABLE cancellation_policies
    ADD COLUMN id uuid NOT NULL UNIQUE DEFAULT gen_random_uuid();

CREATE FUNCTION jklg_policy_json(p cancellation_policies) RETURNS jsonb
    LANGUAGE sql STABLE
AS $$
    SELECT jsonb_build_object('name', p.name, 'tiers', p.tiers,
                              'updated_at', jklg_ts(p.updated_at))
$$;

-- PUT /api/admin/cancellation-policies/{name}: creates or replaces. The
-- bookings sold under the old tiers keep their copy.
CREATE FUNCTION jklg.staff_policy_put(p_name text, p_tiers jsonb)
    RETURNS jklg.outcome LANGUAGE plpgsql SET search_path = public, pg_temp
AS $$
DECLARE
    p cancellation_policies;
BEGIN
    INSERT INTO cancellation_policies (name, tiers) VALUES (p_name, p_tiers)
    ON CONFLICT (name) DO UPDATE SET tiers = EXCLUDED.tiers, updated_at = now()
    RETURNING * INTO p;
    RETURN jklg.ok(jsonb_build_object('policy', jklg_policy_json(p)));
END
$$;

-- GET /api/admin/cancellation-policies: newest first, keyset pages.
CREATE FUNCTION jklg.staff_policies(p_after_time timestamp, p_after_id uuid,
                                    p_limit int)
    RETURNS jklg.outcome LANGUAGE sql SET search_path = public, pg_temp
AS $$
    SELECT jklg.ok((
        SELECT jklg.page(array_agg(jklg_policy_json(x.p)
                                   ORDER BY x.at DESC, x.id DESC),
                         array_agg(x.at ORDER BY x.at DESC, x.id DESC),
                         array_agg(x.id ORDER BY x.at DESC, x.id DESC),
                         p_limit)
          FROM (SELECT p, p.created_at AS at, p.id FROM cancellation_policies p
                 WHERE p_after_time IS NULL
                    OR (p.created_at, p.id)
                       < (p_after_time AT TIME ZONE 'UTC', p_after_id)
                 ORDER BY p.created_at DESC, p.id DESC
                 LIMIT p_limit + 1) x))
$$;

-- ---------------------------------------------------------------------------
-- Cancellation. What the refund depends on, for the module to compute
-- (jklg_policy.c): the booking's copy of its tiers, the days left before
-- departure and the money it holds (paid minus refunded, refunds still
-- pending included).
CREATE FUNCTION jklg_cancellation_facts(b bookings) RETURNS jsonb
    LANGUAGE sql STABLE SET search_path = public, pg_temp
AS $$
    SELECT jsonb_build_object(
        'booking_id', b.id, 'status', b.status, 'currency', b.currency,
        'days_left', b.travel_start - jklg.today(),
        'tiers', COALESCE(b.cancellation_tiers, '[]'::jsonb),
        'paid_net', b.amount_paid - b.amount_refunded
                    - (SELECT COALESCE(sum(r.amount), 0)
                         FROM refunds r JOIN transactions t
                              ON t.id = r.transaction_id
                        WHERE t.booking_id = b.id AND r.status = 'pending'))
$$;

CREATE FUNCTION jklg.booking_cancellation(p_session uuid, p_customer uuid,
                                          p_id uuid)
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
    RETURN jklg.ok(jklg_cancellation_facts(b));
END
$$;

CREATE FUNCTION jklg.staff_booking_cancellation(p_id uuid)
    RETURNS jklg.outcome LANGUAGE plpgsql SET search_path = public, pg_temp
AS $$
DECLARE
    b bookings;
BEGIN
    SELECT * INTO b FROM bookings WHERE id = p_id;
    IF NOT FOUND THEN
        RETURN jklg.answer('not_found');
    END IF;
    RETURN jklg.ok(jklg_cancellation_facts(b));
END
$$;

-- Cancels booking b (locked by the caller) refunding p_refund: open
-- installments are canceled, open intents canceled (those the gateway
-- knows are returned in "cancel", for the module to cancel there too), and
-- refunds opened on the payments that took the money, newest first,
-- across several if needed, each under the key cancel:<booking>:<tx> so a
-- retry never refunds twice. The cancellation email is queued. Returns
-- {"opened": [jklg_refund_open-like objects], "cancel": [...]} and the
-- email.
CREATE FUNCTION jklg_booking_cancel(b bookings, p_refund bigint,
                                    p_fee bigint, p_actor text,
                                    p_reason text, p_public_url text)
    RETURNS jklg.outcome LANGUAGE plpgsql SET search_path = public, pg_temp
AS $$
DECLARE
    t transactions;
    f refunds;
    opened jsonb := '[]';
    to_cancel jsonb := '[]';
    left_over bigint := p_refund;
    refundable bigint;
    amount bigint;
    mail uuid;
BEGIN
    UPDATE bookings SET status = 'canceled', canceled_at = now(),
           cancel_reason = p_reason
     WHERE id = b.id;
    UPDATE installments SET status = 'canceled'
     WHERE booking_id = b.id AND status IN ('pending', 'failed');
    FOR t IN SELECT * FROM transactions
              WHERE booking_id = b.id AND status = 'requires_payment'
                 OR (booking_id = b.id AND status = 'failed'
                     AND gateway_ref IS NOT NULL)
              FOR UPDATE
    LOOP
        UPDATE transactions SET status = 'canceled' WHERE id = t.id;
        PERFORM jklg_audit(t.id, p_actor, NULL, t.status, 'canceled',
                           jsonb_build_object('reason', 'booking canceled'));
        IF t.gateway_ref IS NOT NULL THEN
            to_cancel := to_cancel || jsonb_build_object(
                'id', t.id, 'gateway', t.gateway,
                'gateway_ref', t.gateway_ref);
        END IF;
    END LOOP;
    FOR t IN SELECT * FROM transactions
              WHERE booking_id = b.id
                AND status IN ('succeeded', 'partially_refunded')
              ORDER BY created_at DESC, id DESC
              FOR UPDATE
    LOOP
        PERFORM jklg_audit(t.id, p_actor, NULL, t.status, t.status,
                           jsonb_build_object('booking_canceled', b.id,
                                              'reason', p_reason,
                                              'refund', p_refund));
        CONTINUE WHEN left_over <= 0 OR t.disputed;
        refundable := t.amount - t.amount_refunded
                      - (SELECT COALESCE(sum(r.amount), 0) FROM refunds r
                          WHERE r.transaction_id = t.id
                            AND r.status = 'pending');
        CONTINUE WHEN refundable <= 0;
        amount := least(left_over, refundable);
        INSERT INTO refunds (transaction_id, amount, currency, status, reason,
                             requested_by, idempotency_key)
        VALUES (t.id, amount, t.currency, 'pending',
                COALESCE('cancellation: ' || p_reason, 'cancellation'),
                p_actor, 'cancel:' || b.id || ':' || t.id)
        RETURNING * INTO f;
        PERFORM jklg_audit(t.id, p_actor, NULL, t.status, t.status,
                           jsonb_build_object('refund_requested', f.id,
                                              'amount', amount));
        opened := opened || jsonb_build_object(
            'refund', jklg_refund_json(f), 'id', f.id, 'existing', false,
            'gateway', t.gateway, 'gateway_ref', t.gateway_ref,
            'amount', amount, 'currency', t.currency);
        left_over := left_over - amount;
    END LOOP;
    INSERT INTO email_outbox (template, recipient, data, dedupe_key)
    SELECT 'cancellation', c.email, jsonb_build_object(
               'first_name', c.first_name, 'booking_reference', b.reference,
               'description', b.description,
               'travel_start', jklg_date(b.travel_start),
               'refund_amount', jklg_money(p_refund - left_over, b.currency),
               'fee', jklg_money(p_fee, b.currency),
               'booking_url', p_public_url || '/booking/' || b.id),
           'cancellation:' || b.id
      FROM customers c WHERE c.id = b.customer_id
    ON CONFLICT (dedupe_key) DO NOTHING
    RETURNING id INTO mail;
    RETURN jklg.ok(jsonb_build_object('booking_id', b.id, 'opened', opened,
                                      'cancel', to_cancel,
                                      'unrefunded', left_over),
                   CASE WHEN mail IS NOT NULL THEN ARRAY[mail] END);
END
$$;

-- Customer cancel: p_paid_net and p_days_left are the facts the module's
-- preview (and so p_refund) was computed from; if either moved since
-- (a payment arrived, midnight passed), 'policy_changed'.
CREATE FUNCTION jklg.booking_cancel(p_session uuid, p_customer uuid,
                                    p_id uuid, p_paid_net bigint,
                                    p_days_left int, p_refund bigint,
                                    p_fee bigint, p_public_url text)
    RETURNS jklg.outcome LANGUAGE plpgsql SET search_path = public, pg_temp
AS $$
DECLARE
    b bookings;
    facts jsonb;
BEGIN
    IF jklg_session_customer(p_session, p_customer) IS NULL THEN
        RETURN jklg.answer('unauthorized');
    END IF;
    SELECT * INTO b FROM bookings
     WHERE id = p_id AND customer_id = p_customer FOR NO KEY UPDATE;
    IF NOT FOUND THEN
        RETURN jklg.answer('not_found');
    END IF;
    facts := jklg_cancellation_facts(b);
    IF b.status = 'canceled' OR (facts->>'days_left')::int < 0 THEN
        RETURN jklg.answer('conflict');
    END IF;
    IF (facts->>'paid_net')::bigint <> p_paid_net
       OR (facts->>'days_left')::int <> p_days_left
       OR EXISTS (SELECT 1 FROM transactions
                   WHERE booking_id = b.id AND status = 'processing') THEN
        RETURN jklg.answer('policy_changed');
    END IF;
    RETURN jklg_booking_cancel(b, p_refund, p_fee, 'customer:' || p_customer,
                               NULL, p_public_url);
END
$$;

-- Staff cancel, with the policy's refund or an override (at most what
-- the booking holds).
CREATE FUNCTION jklg.staff_booking_cancel(p_id uuid, p_paid_net bigint,
                                          p_days_left int, p_refund bigint,
                                          p_fee bigint, p_override bigint,
                                          p_staff text, p_reason text,
                                          p_public_url text)
    RETURNS jklg.outcome LANGUAGE plpgsql SET search_path = public, pg_temp
AS $$
DECLARE
    b bookings;
    facts jsonb;
BEGIN
    SELECT * INTO b FROM bookings WHERE id = p_id FOR NO KEY UPDATE;
    IF NOT FOUND THEN
        RETURN jklg.answer('not_found');
    END IF;
    IF b.status = 'canceled' THEN
        RETURN jklg.answer('conflict');
    END IF;
    facts := jklg_cancellation_facts(b);
    IF EXISTS (SELECT 1 FROM transactions
                WHERE booking_id = b.id AND status = 'processing') THEN
        RETURN jklg.answer('processing');
    END IF;
    IF p_override IS NOT NULL
       AND p_override > (facts->>'paid_net')::bigint THEN
        RETURN jklg.answer('invalid', jsonb_build_object('fields',
            jsonb_build_object('refund_amount', format(
                'must be at most what the booking holds (%s)',
                facts->>'paid_net'))));
    END IF;
    IF p_override IS NULL
       AND ((facts->>'paid_net')::bigint <> p_paid_net
            OR (facts->>'days_left')::int <> p_days_left) THEN
        RETURN jklg.answer('policy_changed');
    END IF;
    RETURN jklg_booking_cancel(b, COALESCE(p_override, p_refund),
                               CASE WHEN p_override IS NULL THEN p_fee
                                    ELSE 0 END,
                               'staff:' || p_staff, p_reason, p_public_url);
END
$$;

-- The booking as it is now (after the refunds were sent).
CREATE FUNCTION jklg.staff_booking_get(p_id uuid)
    RETURNS jklg.outcome LANGUAGE sql SET search_path = public, pg_temp
AS $$
    SELECT CASE WHEN b.id IS NULL THEN jklg.answer('not_found')
                ELSE jklg.ok(jsonb_build_object('booking',
                                                jklg_booking_json(b))) END
      FROM (SELECT NULL) x LEFT JOIN bookings b ON b.id = p_id
$$;

-- A payment that arrives for a canceled booking (its intent was being
-- confirmed while the customer canceled) is refunded in full through the
-- over-payment path, as money the booking does not keep.
CREATE OR REPLACE FUNCTION jklg_overpayment_refund(p_tx uuid) RETURNS jsonb
    LANGUAGE plpgsql
AS $$
DECLARE
    t transactions;
    b bookings;
    f refunds;
    pending bigint;
    excess bigint;
    amount bigint;
BEGIN
    SELECT * INTO t FROM transactions WHERE id = p_tx;
    IF NOT FOUND OR t.status <> 'succeeded' THEN
        RETURN NULL;
    END IF;
    SELECT * INTO b FROM bookings WHERE id = t.booking_id FOR NO KEY UPDATE;
    IF b.status = 'canceled' THEN
        excess := t.amount - t.amount_refunded
                  - (SELECT COALESCE(sum(r.amount), 0) FROM refunds r
                      WHERE r.transaction_id = t.id AND r.status = 'pending');
    ELSE
        SELECT COALESCE(sum(r.amount), 0) INTO pending
          FROM refunds r JOIN transactions x ON x.id = r.transaction_id
         WHERE x.booking_id = b.id AND r.status = 'pending';
        excess := b.amount_paid - b.amount_refunded - pending - b.amount_total;
    END IF;
    IF excess <= 0 THEN
        RETURN NULL;
    END IF;
    amount := least(excess, t.amount - t.amount_refunded);
    IF t.gateway = 'manual' OR t.disputed THEN
        PERFORM jklg_audit(p_tx, 'system', NULL, t.status, t.status,
                           jsonb_build_object('overpayment', excess,
                                              'action', 'staff to refund'));
        RETURN jsonb_build_object('flagged', excess);
    END IF;
    INSERT INTO refunds (transaction_id, amount, currency, status, reason,
                         requested_by, idempotency_key)
    VALUES (p_tx, amount, t.currency, 'pending',
            CASE WHEN b.status = 'canceled'
                 THEN 'payment for a canceled booking'
                 ELSE 'over-payment: the booking was already paid' END,
            'system', 'overpayment:' || p_tx)
    ON CONFLICT (idempotency_key) DO NOTHING
    RETURNING * INTO f;
    IF NOT FOUND THEN
        RETURN NULL;
    END IF;
    PERFORM jklg_audit(p_tx, 'system', NULL, t.status, t.status,
                       jsonb_build_object('overpayment', excess,
                                          'refund_requested', f.id,
                                          'amount', amount));
    RETURN jsonb_build_object('refund', jklg_refund_json(f), 'id', f.id,
                              'existing', false, 'gateway', t.gateway,
                              'gateway_ref', t.gateway_ref, 'amount', amount,
                              'currency', t.currency, 'overpayment', excess);
END
$$;

-- ---------------------------------------------------------------------------
-- Saved cards.
CREATE FUNCTION jklg_payment_method_json(m payment_methods) RETURNS jsonb
    LANGUAGE sql STABLE
AS $$
    SELECT jsonb_build_object('id', m.id, 'brand', m.brand, 'last4', m.last4,
                              'exp_month', m.exp_month,
                              'exp_year', m.exp_year,
                              'created_at', jklg_ts(m.created_at))
$$;

-- The gateway's customer made for ours: the first stored wins, so two
-- requests that made one each (the gateway's idempotency key makes it the
-- same one anyway) agree.
CREATE FUNCTION jklg.gateway_customer_save(p_session uuid, p_customer uuid,
                                           p_gateway text, p_ref text)
    RETURNS jklg.outcome LANGUAGE plpgsql SET search_path = public, pg_temp
AS $$
BEGIN
    IF jklg_session_customer(p_session, p_customer) IS NULL THEN
        RETURN jklg.answer('unauthorized');
    END IF;
    INSERT INTO gateway_customers (customer_id, gateway, gateway_ref)
    VALUES (p_customer, p_gateway, p_ref)
    ON CONFLICT (customer_id, gateway) DO NOTHING;
    RETURN jklg.ok(jsonb_build_object('customer_ref', (
        SELECT gateway_ref FROM gateway_customers
         WHERE customer_id = p_customer AND gateway = p_gateway)));
END
$$;

CREATE FUNCTION jklg.me_payment_methods(p_session uuid, p_customer uuid)
    RETURNS jklg.outcome LANGUAGE plpgsql SET search_path = public, pg_temp
AS $$
BEGIN
    IF jklg_session_customer(p_session, p_customer) IS NULL THEN
        RETURN jklg.answer('unauthorized');
    END IF;
    RETURN jklg.ok(jsonb_build_object('data', COALESCE(
        (SELECT jsonb_agg(jklg_payment_method_json(m)
                          ORDER BY m.created_at DESC, m.id DESC)
           FROM payment_methods m
          WHERE m.customer_id = p_customer AND m.detached_at IS NULL),
        '[]'::jsonb), 'next_cursor', NULL));
END
$$;

-- DELETE /me/payment-methods/{id}: first what to detach at the gateway,
-- then (p_done) forgotten here.
CREATE FUNCTION jklg.me_payment_method_delete(p_session uuid,
                                              p_customer uuid, p_id uuid,
                                              p_done boolean)
    RETURNS jklg.outcome LANGUAGE plpgsql SET search_path = public, pg_temp
AS $$
DECLARE
    m payment_methods;
BEGIN
    IF jklg_session_customer(p_session, p_customer) IS NULL THEN
        RETURN jklg.answer('unauthorized');
    END IF;
    SELECT * INTO m FROM payment_methods
     WHERE id = p_id AND customer_id = p_customer AND detached_at IS NULL;
    IF NOT FOUND THEN
        RETURN jklg.answer('not_found');
    END IF;
    IF NOT p_done THEN
        RETURN jklg.ok(jsonb_build_object('gateway', m.gateway,
                                          'gateway_ref', m.gateway_ref));
    END IF;
    UPDATE payment_methods SET detached_at = now() WHERE id = m.id;
    RETURN jklg.answer('deleted');
END
$$;

-- Webhook: a succeeded payment made to keep its card names the customer
-- whose card it is (or 'none').
CREATE FUNCTION jklg.method_to_save(p_gateway text, p_payment_ref text,
                                    p_method_ref text)
    RETURNS jklg.outcome LANGUAGE sql SET search_path = public, pg_temp
AS $$
    SELECT COALESCE((
        SELECT jklg.ok(jsonb_build_object('customer_id', b.customer_id))
          FROM transactions t JOIN bookings b ON b.id = t.booking_id
         WHERE t.gateway = p_gateway AND t.gateway_ref = p_payment_ref
           AND t.save_method AND t.status = 'succeeded'
           AND NOT EXISTS (SELECT 1 FROM payment_methods m
                            WHERE m.gateway = p_gateway
                              AND m.gateway_ref = p_method_ref)),
        jklg.answer('none'))
$$;

CREATE FUNCTION jklg.method_save(p_customer uuid, p_gateway text,
                                 p_ref text, p_brand text, p_last4 text,
                                 p_exp_month int, p_exp_year int)
    RETURNS jklg.outcome LANGUAGE plpgsql SET search_path = public, pg_temp
AS $$
BEGIN
    INSERT INTO payment_methods (customer_id, gateway, gateway_ref, brand,
                                 last4, exp_month, exp_year)
    VALUES (p_customer, p_gateway, p_ref, p_brand, p_last4, p_exp_month,
            p_exp_year)
    ON CONFLICT (gateway, gateway_ref) DO NOTHING;
    RETURN jklg.ok(NULL);
END
$$;

-- ---------------------------------------------------------------------------
-- The balance job, run by every server's housekeeping sweep: reminders,
-- then a claim of due balances (FOR UPDATE SKIP LOCKED and a lease, so
-- one server charges an installment at a time), answered to the module,
-- which charges them off-session and settles each. An attempt whose
-- outcome is unknown (timeout) keeps its transaction and attempt number,
-- so the retry sends the same idempotency key: one charge at the gateway.
CREATE FUNCTION jklg.balance_due(p_lease_seconds int, p_max_attempts int,
                                 p_limit int, p_public_url text)
    RETURNS jklg.outcome LANGUAGE plpgsql SET search_path = public, pg_temp
AS $$
DECLARE
    today date := jklg.today();
    i installments;
    b bookings;
    t transactions;
    m payment_methods;
    attempt int;
    items jsonb := '[]';
    mails uuid[];
BEGIN
    -- A reminder 7 days before each due date, once (its dedupe key), for
    -- installments made at least that long before they are due.
    WITH r AS (
        INSERT INTO email_outbox (template, recipient, data, dedupe_key)
        SELECT 'payment_reminder', c.email, jsonb_build_object(
                   'first_name', c.first_name,
                   'booking_reference', bk.reference,
                   'amount', jklg_money(x.amount, x.currency),
                   'due_date', jklg_date(x.due_date),
                   'saved_card', EXISTS (
                       SELECT 1 FROM payment_methods pm
                        WHERE pm.customer_id = c.id
                          AND pm.detached_at IS NULL),
                   'pay_url', p_public_url || '/booking/' || bk.id || '/pay'),
               'reminder:' || x.id
          FROM installments x JOIN bookings bk ON bk.id = x.booking_id
          JOIN customers c ON c.id = bk.customer_id
         WHERE x.status = 'pending' AND bk.status <> 'canceled'
           AND x.due_date - 7 <= today AND x.due_date >= today
           AND x.created_on <= x.due_date - 7
        ON CONFLICT (dedupe_key) DO NOTHING
        RETURNING id)
    SELECT array_agg(id) INTO mails FROM r;

    FOR i IN SELECT x.* FROM installments x
               JOIN bookings bk ON bk.id = x.booking_id
              WHERE x.kind = 'balance' AND x.status = 'pending'
                AND x.due_date <= today AND bk.status <> 'canceled'
                AND (x.next_attempt_on IS NULL OR x.next_attempt_on <= today)
                AND (x.claimed_until IS NULL OR x.claimed_until < now())
                AND EXISTS (SELECT 1 FROM payment_methods pm
                             WHERE pm.customer_id = bk.customer_id
                               AND pm.detached_at IS NULL)
              ORDER BY x.due_date, x.id
              LIMIT p_limit
              FOR UPDATE OF x SKIP LOCKED
    LOOP
        SELECT * INTO b FROM bookings WHERE id = i.booking_id;
        SELECT * INTO m FROM payment_methods
         WHERE customer_id = b.customer_id AND detached_at IS NULL
         ORDER BY created_at DESC, id DESC LIMIT 1;
        -- The attempt whose outcome is unknown is retried as it was.
        SELECT * INTO t FROM transactions
         WHERE installment_id = i.id AND method = 'off_session'
           AND status = 'requires_payment'
         ORDER BY created_at DESC LIMIT 1;
        IF FOUND THEN
            attempt := i.attempts;
        ELSE
            CONTINUE WHEN i.attempts >= p_max_attempts;
            attempt := i.attempts + 1;
            UPDATE installments SET attempts = attempt WHERE id = i.id;
            INSERT INTO transactions (booking_id, gateway, amount, currency,
                                      status, method, installment_id,
                                      idempotency_key)
            VALUES (b.id, m.gateway, i.amount, i.currency,
                    'requires_payment', 'off_session', i.id,
                    'offsession:' || i.id || ':' || attempt)
            RETURNING * INTO t;
            PERFORM jklg_audit(t.id, 'system', NULL, NULL, 'requires_payment',
                               jsonb_build_object('off_session_attempt',
                                                  attempt,
                                                  'installment_id', i.id));
        END IF;
        UPDATE installments
           SET claimed_until = now() + make_interval(secs => p_lease_seconds)
         WHERE id = i.id;
        items := items || jsonb_build_object(
            'transaction_id', t.id, 'installment_id', i.id,
            'attempt', attempt, 'amount', t.amount, 'currency', t.currency,
            'reference', b.reference, 'gateway', t.gateway,
            'customer_ref', (SELECT g.gateway_ref FROM gateway_customers g
                              WHERE g.customer_id = b.customer_id
                                AND g.gateway = m.gateway),
            'method_ref', m.gateway_ref);
    END LOOP;
    RETURN jklg.ok(jsonb_build_object('data', items), mails);
END
$$;

-- The gateway's answer to one off-session attempt. p_outcome: succeeded,
-- processing, declined (p_soft: worth another try tomorrow, while attempts
-- last) or unknown (retried at the next sweep under the same key). A
-- declined last attempt, a hard decline or authentication_required fails
-- the installment and emails the customer the link to pay.
CREATE FUNCTION jklg.balance_settle(p_tx uuid, p_ref text, p_outcome text,
                                    p_decline text, p_soft boolean,
                                    p_max_attempts int, p_public_url text)
    RETURNS jklg.outcome LANGUAGE plpgsql SET search_path = public, pg_temp
AS $$
DECLARE
    t transactions;
    i installments;
    emails uuid[] := '{}';
    mail uuid;
BEGIN
    SELECT * INTO t FROM transactions WHERE id = p_tx;
    SELECT * INTO i FROM installments WHERE id = t.installment_id FOR UPDATE;
    IF p_ref IS NOT NULL THEN
        UPDATE transactions SET gateway_ref = COALESCE(gateway_ref, p_ref)
         WHERE id = t.id;
    END IF;
    IF p_outcome = 'unknown' THEN
        PERFORM jklg_audit(t.id, 'system', NULL, t.status, t.status,
                           jsonb_build_object('off_session_attempt',
                                              i.attempts, 'outcome',
                                              'unknown: retried with the '
                                              'same key'));
    ELSIF p_outcome IN ('succeeded', 'processing') THEN
        emails := jklg_tx_move(t.id, p_outcome, 'system', NULL, NULL,
                               p_public_url);
    ELSE
        emails := jklg_tx_move(t.id, 'failed', 'system', NULL,
                               'off-session charge declined: '
                               || COALESCE(p_decline, 'unknown'),
                               p_public_url);
        IF p_soft AND i.attempts < p_max_attempts THEN
            UPDATE installments SET next_attempt_on = jklg.today() + 1
             WHERE id = i.id;
        ELSE
            UPDATE installments SET status = 'failed'
             WHERE id = i.id AND status = 'pending';
            INSERT INTO email_outbox (template, recipient, data, dedupe_key)
            SELECT 'payment_action', c.email, jsonb_build_object(
                       'first_name', c.first_name,
                       'booking_reference', b.reference,
                       'amount', jklg_money(i.amount, i.currency),
                       'reason', CASE WHEN p_decline = 'authentication_required'
                                      THEN 'your bank asks you to confirm '
                                           'the payment'
                                      ELSE 'your card was declined' END,
                       'pay_url', p_public_url || '/booking/' || b.id
                                  || '/pay'),
                   'balance_failed:' || i.id || ':' || i.attempts
              FROM bookings b JOIN customers c ON c.id = b.customer_id
             WHERE b.id = i.booking_id
            ON CONFLICT (dedupe_key) DO NOTHING
            RETURNING id INTO mail;
            IF mail IS NOT NULL THEN
                emails := emails || mail;
            END IF;
        END IF;
        PERFORM jklg_audit(t.id, 'system', NULL, 'failed', 'failed',
                           jsonb_build_object('off_session_attempt',
                                              i.attempts, 'decline',
                                              p_decline, 'retry', p_soft
                                              AND i.attempts
                                                  < p_max_attempts));
    END IF;
    UPDATE installments SET claimed_until = NULL WHERE id = i.id;
    RETURN jklg.ok(NULL, emails);
END
$$;
