-- A migrated database filled to a big agency's size, to find the plans
-- that only go wrong with many rows (docs/testing.md, "At an agency's
-- size"). Run as a superuser on a migrated, EMPTY database:
--
--   psql -X -v ON_ERROR_STOP=1 -U postgres -d jklg -f scripts/seed_scale.sql
--   psql ... -v customers=10000 -f scripts/seed_scale.sql    (smaller)
--
-- Per customer (default 100,000 customers): 1.5 sessions, an address,
-- preferences, 2 bookings with 2 installments each, 4 transactions, 10
-- security events, 5 outbox mails (most sent), tokens of every kind
-- (spent or expired, but not yet old enough for the purges: the state of
-- a database whose housekeeping keeps up); per transaction a webhook event and an audit
-- row; 1 refund per 20 transactions; 0.5 staff audit rows per customer;
-- hourly reconciliation runs. password_hash is a placeholder: the scale
-- exerciser (scripts/scale_explain.py) calls the SQL functions, it does
-- not log in through the module.
--
-- Rows are inserted with session_replication_role = replica (no triggers,
-- no foreign key checks: the script builds consistent rows itself), then
-- the booking sums are set in one statement as the sync trigger would.
-- About 3 minutes on 2 cores at the default size.

\set ON_ERROR_STOP on
\if :{?customers}
\else
\set customers 100000
\endif

SET search_path = public;
SET client_min_messages = warning;
SET synchronous_commit = off;
SET maintenance_work_mem = '512MB';
SET work_mem = '64MB';

SELECT NOT EXISTS (SELECT 1 FROM customers) AS empty \gset
\if :empty
\else
\echo 'seed_scale: customers is not empty; seed a freshly migrated database'
\quit
\endif

SET session_replication_role = replica;

-- The customers in seeding order, with the numbers the other tables use.
CREATE TEMP TABLE sc AS
SELECT i, gen_random_uuid() AS id,
       now() - (random() * interval '1000 days') AS created
  FROM generate_series(1, :customers) AS i;
CREATE INDEX ON sc (i);
ANALYZE sc;

\echo customers
INSERT INTO customers (id, email, password_hash, first_name, last_name,
                       phone, email_verified_at, created_at, updated_at)
SELECT id, format('scale-%s@example.com', i),
       '$argon2id$v=19$m=65536,t=3,p=1$c2NhbGVzY2FsZXNjYWxl$'
       || 'AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA',
       (ARRAY['Ada','Bruno','Carla','Diogo','Eva','Filipa','Gil','Helena'])[1 + i % 8],
       (ARRAY['Silva','Santos','Ferreira','Pereira','Costa','Martins'])[1 + i % 6]
       || ' ' || i,
       CASE WHEN i % 3 = 0 THEN '+35121' || lpad((i % 10000000)::text, 7, '0') END,
       CASE WHEN i % 20 <> 0 THEN created + interval '1 hour' END,
       created, created
  FROM sc;

\echo sessions, addresses, preferences
INSERT INTO customer_sessions (customer_id, ip, user_agent, created_at,
                               last_seen_at, expires_at, device)
SELECT id, ('10.' || (i % 250) || '.' || (i / 250 % 250) || '.1')::inet,
       'Mozilla/5.0 (scale)', now() - interval '3 days', now() - interval '1 hour',
       now() + CASE WHEN k = 1 THEN interval '27 days' ELSE interval '-12 hours' END,
       'Firefox on Linux'
  FROM sc, generate_series(1, 2) AS k
 WHERE k = 1 OR i % 2 = 0;

INSERT INTO customer_addresses (customer_id, label, line1, city, postal_code,
                                country, is_default, created_at, updated_at)
SELECT id, 'Home', 'Rua Augusta ' || i, 'Lisboa', '1100-048', 'PT', true,
       created, created
  FROM sc;

INSERT INTO customer_preferences (customer_id, language, currency,
                                  marketing_emails, newsletter)
SELECT id, (ARRAY['en','pt','es','fr','de'])[1 + i % 5], 'eur',
       i % 4 = 0, i % 7 = 0
  FROM sc;

INSERT INTO cancellation_policies (name, tiers) VALUES
    ('flexible', '[{"days_before": 7, "fee_percent": 0}, {"days_before": 0, "fee_percent": 50}]'),
    ('standard', '[{"days_before": 30, "fee_percent": 10}, {"days_before": 0, "fee_percent": 100}]'),
    ('strict', '[{"days_before": 0, "fee_percent": 100}]');

-- Two bookings per customer: b = 2 * i - 1 + k. Half of them travelled
-- already, the other half leave within the next year.
\echo bookings and installments
CREATE TEMP TABLE sb AS
SELECT 2 * (i - 1) + k AS b, sc.i, sc.id AS customer_id,
       gen_random_uuid() AS id,
       (current_date + ((((i * 7 + k * 131) % 730) - 365) || ' days')::interval)::date
           AS travel_start,
       (100000 + (i * 37 + k * 11) % 400000)::bigint AS total,
       greatest(sc.created, now() - interval '400 days')
           + ((k * 13 + i) % 30) * interval '1 day' AS created
  FROM sc, generate_series(1, 2) AS k;
CREATE INDEX ON sb (b);
ANALYZE sb;

INSERT INTO bookings (id, reference, customer_id, description, travel_start,
                      travel_end, amount_total, currency, status,
                      created_at, updated_at, cancellation_policy,
                      cancellation_tiers, canceled_at, cancel_reason)
SELECT id, 'SCALE-' || b, customer_id, 'Lisbon and Porto, 7 nights',
       travel_start, travel_start + 7, total, 'eur',
       CASE WHEN b % 50 = 0 THEN 'canceled' ELSE 'confirmed' END,
       least(created, now()), least(created, now()),
       CASE WHEN b % 3 = 0 THEN 'standard' END,
       CASE WHEN b % 3 = 0 THEN
           '[{"days_before": 30, "fee_percent": 10}, {"days_before": 0, "fee_percent": 100}]'::jsonb END,
       CASE WHEN b % 50 = 0 THEN now() - interval '5 days' END,
       CASE WHEN b % 50 = 0 THEN 'customer asked' END
  FROM sb;

-- A deposit (30 %) and a balance 30 days before departure; paid when the
-- booking's transactions below succeeded.
CREATE TEMP TABLE si AS
SELECT sb.b, k, gen_random_uuid() AS id, sb.id AS booking_id,
       CASE WHEN k = 1 THEN sb.total * 3 / 10 ELSE sb.total - sb.total * 3 / 10 END
           AS amount,
       CASE WHEN k = 1 THEN sb.created::date ELSE sb.travel_start - 30 END
           AS due_date,
       sb.travel_start < current_date + 30 AS past_due,
       sb.created
  FROM sb, generate_series(1, 2) AS k;
CREATE INDEX ON si (b, k);
ANALYZE si;

-- Four transactions per customer, two per booking, one per installment:
-- succeeded when its installment is due, else a failed try; every 20th a
-- partial refund, every 997th balance not due yet still open
-- (requires_payment).
\echo transactions
CREATE TEMP TABLE st AS
SELECT si.b, si.k, gen_random_uuid() AS id, si.booking_id, si.id AS installment_id,
       si.amount,
       CASE WHEN si.b % 997 = 0 AND si.k = 2 AND NOT si.past_due
                THEN 'requires_payment'
            WHEN NOT si.past_due AND si.k = 2 THEN 'failed'
            WHEN si.b % 20 = 0 THEN 'partially_refunded'
            ELSE 'succeeded' END AS status,
       least(si.created + (si.k - 1) * interval '20 days',
             now() - interval '1 hour' - si.b * interval '1 second') AS created
  FROM si;
CREATE INDEX ON st (b, k);
ANALYZE st;

INSERT INTO transactions (id, booking_id, gateway, gateway_ref, amount,
                          amount_refunded, currency, status, failure_reason,
                          method, idempotency_key, created_at, updated_at,
                          installment_id)
SELECT id, booking_id, 'stripe', 'pi_scale_' || b || '_' || k, amount,
       CASE WHEN status = 'partially_refunded' THEN amount / 10 ELSE 0 END,
       'eur', status,
       CASE WHEN status = 'failed' THEN 'card_declined' END,
       'card', 'scale-' || b || '-' || k, created, created,
       installment_id
  FROM st;

INSERT INTO installments (id, booking_id, kind, amount, currency, due_date,
                          status, attempts, transaction_id, created_on,
                          created_at, updated_at)
SELECT si.id, si.booking_id, CASE WHEN si.k = 1 THEN 'deposit' ELSE 'balance' END,
       si.amount, 'eur', si.due_date,
       CASE WHEN st.status IN ('succeeded', 'partially_refunded') THEN 'paid'
            ELSE 'pending' END,
       CASE WHEN st.status = 'failed' THEN 1 ELSE 0 END,
       CASE WHEN st.status IN ('succeeded', 'partially_refunded') THEN st.id END,
       si.created::date, si.created, si.created
  FROM si JOIN st USING (b, k);

-- The sums the sync trigger keeps (sql/002), for every booking at once.
UPDATE bookings b
   SET amount_paid = s.paid, amount_refunded = s.refunded,
       payment_status = jklg_payment_status(b.amount_total, s.paid, s.refunded)
  FROM (SELECT booking_id, sum(amount)::bigint AS paid,
               sum(amount_refunded)::bigint AS refunded
          FROM transactions
         WHERE status IN ('succeeded', 'partially_refunded', 'refunded')
         GROUP BY booking_id) s
 WHERE b.id = s.booking_id;

\echo refunds, webhook events, audit
INSERT INTO refunds (transaction_id, amount, currency, status, gateway_ref,
                     reason, requested_by, idempotency_key, created_at,
                     updated_at)
SELECT id, amount / 10, 'eur', 'succeeded', 're_scale_' || b || '_' || k,
       'requested_by_customer', 'staff-scale', 'scale-refund-' || b || '-' || k,
       created + interval '2 days', created + interval '2 days'
  FROM st WHERE status = 'partially_refunded';

INSERT INTO payment_events (id, gateway, type, payload, transaction_id,
                            received_at, processed_at)
SELECT 'evt_scale_' || b || '_' || k, 'stripe',
       CASE status WHEN 'failed' THEN 'payment_intent.payment_failed'
                   WHEN 'requires_payment' THEN 'payment_intent.created'
                   ELSE 'payment_intent.succeeded' END,
       jsonb_build_object('id', 'evt_scale_' || b || '_' || k,
                          'data', jsonb_build_object('object', jsonb_build_object(
                              'id', 'pi_scale_' || b || '_' || k,
                              'amount', amount, 'currency', 'eur'))),
       id, created + interval '5 seconds', created + interval '6 seconds'
  FROM st;

INSERT INTO transaction_audit_logs (transaction_id, actor, event_id,
                                    old_status, new_status, created_at)
SELECT id, 'webhook', 'evt_scale_' || b || '_' || k, 'requires_payment', status,
       created + interval '6 seconds'
  FROM st WHERE status <> 'requires_payment';

INSERT INTO staff_audit (staff_user, action, customer_id, details, created_at)
SELECT 'staff-scale', (ARRAY['customer_view','resend_verification','revoke_sessions','booking_create'])[1 + i % 4],
       id, '{}'::jsonb, created + interval '1 day'
  FROM sc WHERE i % 2 = 0;

INSERT INTO reconciliation_runs (gateway, started_by, status, since,
                                 started_at, finished_at, checked, applied)
SELECT 'stripe', CASE WHEN h % 24 = 0 THEN 'staff-scale' END, 'succeeded',
       now() - (h + 1) * interval '1 hour' - interval '10 minutes',
       now() - h * interval '1 hour', now() - h * interval '1 hour' + interval '20 seconds',
       40, CASE WHEN h % 100 = 0 THEN 1 ELSE 0 END
  FROM generate_series(1, greatest(:customers / 20, 24)) AS h;

\echo security events
-- Ten per customer over the last year, most of them logins.
INSERT INTO security_events (customer_id, type, ip, user_agent, created_at, device)
SELECT id, (ARRAY['login','login','login','login','login','login_failed',
                  'login','new_device','password_changed','login'])[k],
       ('10.' || (i % 250) || '.' || (i / 250 % 250) || '.' || k)::inet,
       'Mozilla/5.0 (scale)', now() - ((i * 13 + k * 37) % 365) * interval '1 day'
                                     - k * interval '1 minute',
       'Firefox on Linux'
  FROM sc, generate_series(1, 10) AS k;

\echo email outbox
-- Five per customer within the last 29 days (jklg_purge deletes sent mails
-- after 30): sent (their data gone, sql/006), a few failed or still queued.
INSERT INTO email_outbox (template, recipient, data, status, attempts,
                          next_attempt_at, last_attempt_at, message_id,
                          created_at, sent_at, language, last_error)
SELECT (ARRAY['verify_email','payment_receipt','password_reset','new_device','balance_reminder'])[k],
       format('scale-%s@example.com', i),
       CASE WHEN s <> 'sent' THEN '{"first_name": "Ada"}'::jsonb END,
       s, CASE s WHEN 'failed' THEN 8 WHEN 'sent' THEN 1 ELSE 0 END,
       CASE s WHEN 'queued' THEN now() + interval '1 hour' ELSE t END,
       CASE WHEN s <> 'queued' THEN t END,
       CASE WHEN s = 'sent' THEN '<scale-' || i || '-' || k || '@example.com>' END,
       t, CASE WHEN s = 'sent' THEN t + interval '2 seconds' END, 'en',
       CASE WHEN s = 'failed' THEN '550 mailbox unavailable' END
  FROM (SELECT i, k, now() - ((i * 7 + k * 29) % 29) * interval '1 day'
                             - k * interval '1 hour' AS t,
               CASE WHEN (i + k) % 1000 = 0 THEN 'failed'
                    WHEN (i + k) % 2500 = 1 THEN 'queued'
                    ELSE 'sent' END AS s
          FROM generate_series(1, :customers) AS i,
               generate_series(1, 5) AS k) m;

\echo tokens, mfa, saved cards
INSERT INTO email_verification_tokens (customer_id, token_hash, expires_at,
                                       used_at, created_at)
SELECT id, sha256(('verify-' || i)::bytea),
       now() + CASE WHEN i % 20 = 0 THEN interval '12 hours' ELSE interval '-6 hours' END,
       CASE WHEN i % 20 <> 0 THEN now() - interval '29 hours' END,
       now() - interval '30 hours'
  FROM sc WHERE i % 20 IN (0, 1);

INSERT INTO password_reset_tokens (customer_id, token_hash, expires_at,
                                   used_at, created_at)
SELECT id, sha256(('reset-' || i)::bytea), now() - interval '6 hours',
       CASE WHEN i % 2 = 0 THEN now() - interval '7 hours' END,
       now() - interval '8 hours'
  FROM sc WHERE i % 5 = 0;

INSERT INTO secure_account_tokens (customer_id, token_hash, expires_at,
                                   used_at, created_at)
SELECT id, sha256(('secure-' || i)::bytea), now() - interval '6 hours', NULL,
       now() - interval '7 days'
  FROM sc WHERE i % 10 = 0;

INSERT INTO mfa_tokens (token_hash, customer_id, expires_at, used_at, ip,
                        user_agent, created_at)
SELECT sha256(('mfa-' || i)::bytea), id, now() - interval '1 day',
       now() - interval '1 day 4 minutes', '10.0.0.1', 'Mozilla/5.0 (scale)',
       now() - interval '1 day 5 minutes'
  FROM sc WHERE i % 20 = 0;

INSERT INTO email_changes (customer_id, old_email, new_email, confirm_hash,
                           confirm_expires_at, confirmed_at, revert_hash,
                           revert_expires_at, created_at)
SELECT id, format('old-scale-%s@example.com', i), format('scale-%s@example.com', i),
       sha256(('confirm-' || i)::bytea), now() - interval '4 days',
       now() - interval '5 days', sha256(('revert-' || i)::bytea),
       now() + interval '2 days', now() - interval '5 days'
  FROM sc WHERE i % 25 = 0;

INSERT INTO customer_mfa (customer_id, secret_enc, nonce, confirmed_at, created_at)
SELECT id, sha256(('secret-' || i)::bytea), substr(sha256(('nonce-' || i)::bytea), 1, 24),
       created + interval '2 days', created + interval '2 days'
  FROM sc WHERE i % 20 = 0;

INSERT INTO mfa_recovery_codes (customer_id, code_hash, used_at)
SELECT id, sha256(('code-' || i || '-' || k)::bytea),
       CASE WHEN k = 1 THEN now() - interval '30 days' END
  FROM sc, generate_series(1, 10) AS k WHERE i % 20 = 0;

INSERT INTO gateway_customers (customer_id, gateway, gateway_ref, created_at)
SELECT id, 'stripe', 'cus_scale_' || i, created FROM sc WHERE i % 3 = 0;

INSERT INTO payment_methods (customer_id, gateway, gateway_ref, brand, last4,
                             exp_month, exp_year, created_at, detached_at)
SELECT id, 'stripe', 'pm_scale_' || i, 'visa', lpad((i % 10000)::text, 4, '0'),
       1 + i % 12, 2027 + i % 5, created,
       CASE WHEN i % 9 = 0 THEN created + interval '30 days' END
  FROM sc WHERE i % 3 = 0;

SET session_replication_role = origin;

\echo vacuum analyze
VACUUM (ANALYZE);
