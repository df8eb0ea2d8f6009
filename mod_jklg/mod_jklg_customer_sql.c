/* SQL of the customer endpoints. Authenticated statements start with the
 * session check, jklg_session_customer(sid, sub), and return whether it
 * held as their first column, so that checking the session never costs a
 * round trip of its own. Most return the response body, built by the
 * jklg_*_json functions of sql/004_customer_api.sql. */
#include <stddef.h>
#include "mod_jklg.h"

#define AUTH "WITH a AS (SELECT jklg_session_customer(%s::uuid, %s::uuid) AS cid) "
#define AUTHED "(SELECT cid FROM a) IS NOT NULL"

const jklg_statement_t jklg_customer_statements[] = {
    /* email, hash, first, last, phone, token hash, verify url, login url,
     * forgot url. New address: account + token + verification email;
     * known address: only the account_exists notice. */
    {"jklg_c_register",
     "WITH existing AS (SELECT id, first_name FROM customers WHERE email = %s), "
     "created AS (INSERT INTO customers (email, password_hash, first_name, "
     "  last_name, phone) SELECT %s, %s, %s, %s, %s "
     "  WHERE NOT EXISTS (SELECT 1 FROM existing) "
     "  ON CONFLICT (email) DO NOTHING RETURNING id, email, first_name), "
     "token AS (INSERT INTO email_verification_tokens (customer_id, "
     "  token_hash, expires_at) SELECT id, decode(%s, 'hex'), "
     "  now() + interval '24 hours' FROM created) "
     "INSERT INTO email_outbox (template, recipient, data) "
     "SELECT 'verification', email, jsonb_build_object('first_name', "
     "  first_name, 'verify_url', %s::text, 'expires_hours', 24) FROM created "
     "UNION ALL "
     "SELECT 'account_exists', %s, jsonb_build_object('first_name', "
     "  first_name, 'login_url', %s::text, 'reset_url', %s::text) "
     "FROM existing RETURNING id"},
    /* token hash (twice) */
    {"jklg_c_verify",
     "WITH t AS (UPDATE email_verification_tokens SET used_at = now() "
     "  WHERE token_hash = decode(%s, 'hex') AND used_at IS NULL "
     "  AND expires_at > now() RETURNING customer_id), "
     "others AS (UPDATE email_verification_tokens SET used_at = now() "
     "  WHERE customer_id IN (SELECT customer_id FROM t) AND used_at IS NULL "
     "  AND token_hash <> decode(%s, 'hex')), "
     "c AS (UPDATE customers c SET email_verified_at = "
     "  COALESCE(c.email_verified_at, now()) "
     "  WHERE c.id IN (SELECT customer_id FROM t) RETURNING c) "
     "SELECT jsonb_build_object('customer', jklg_customer_json(c.c))::text "
     "FROM c"},
    /* email, token hash, verify url */
    {"jklg_c_resend",
     "WITH c AS (SELECT id, email, first_name FROM customers "
     "  WHERE email = %s AND email_verified_at IS NULL), "
     "old AS (UPDATE email_verification_tokens SET used_at = now() "
     "  WHERE customer_id IN (SELECT id FROM c) AND used_at IS NULL), "
     "t AS (INSERT INTO email_verification_tokens (customer_id, token_hash, "
     "  expires_at) SELECT id, decode(%s, 'hex'), "
     "  now() + interval '24 hours' FROM c) "
     "INSERT INTO email_outbox (template, recipient, data) "
     "SELECT 'verification', email, jsonb_build_object('first_name', "
     "  first_name, 'verify_url', %s::text, 'expires_hours', 24) FROM c "
     "RETURNING id"},
    /* email */
    {"jklg_c_login_lookup",
     "SELECT id, password_hash, email_verified_at IS NOT NULL "
     "FROM customers WHERE email = %s"},
    /* new hash or NULL, customer id, ip, user agent, lifetime */
    {"jklg_c_login",
     "WITH c AS (UPDATE customers c SET password_hash = "
     "  COALESCE(%s, c.password_hash) WHERE c.id = %s::uuid RETURNING c), "
     "s AS (INSERT INTO customer_sessions (customer_id, ip, user_agent, "
     "  expires_at) SELECT (c.c).id, %s::inet, %s, now() + %s::interval "
     "  FROM c RETURNING customer_sessions AS s) "
     "SELECT (s.s).id, extract(epoch FROM (s.s).created_at)::bigint, "
     "  extract(epoch FROM (s.s).expires_at)::bigint, "
     "  jklg_ts((s.s).expires_at), "
     "  jsonb_build_object('session', jklg_session_json(s.s, (s.s).id), "
     "    'customer', jklg_customer_json(c.c))::text FROM s, c"},
    /* the session to end (the caller's) */
    {"jklg_c_logout",
     AUTH ", d AS (DELETE FROM customer_sessions WHERE id = %s::uuid "
     "AND customer_id = (SELECT cid FROM a) RETURNING id) "
     "SELECT " AUTHED ", (SELECT id FROM d)"},
    /* email, token hash, reset url */
    {"jklg_c_forgot",
     "WITH c AS (SELECT id, email, first_name FROM customers WHERE email = %s), "
     "t AS (INSERT INTO password_reset_tokens (customer_id, token_hash, "
     "  expires_at) SELECT id, decode(%s, 'hex'), now() + interval '1 hour' "
     "  FROM c) "
     "INSERT INTO email_outbox (template, recipient, data) "
     "SELECT 'password_reset', email, jsonb_build_object('first_name', "
     "  first_name, 'reset_url', %s::text, 'expires_minutes', 60) FROM c "
     "RETURNING id"},
    /* token hash: whose account, before a password hash is spent on it */
    {"jklg_c_reset_lookup",
     "SELECT c.email FROM password_reset_tokens t "
     "JOIN customers c ON c.id = t.customer_id "
     "WHERE t.token_hash = decode(%s, 'hex') AND t.used_at IS NULL "
     "AND t.expires_at > now()"},
    /* token hash, new hash, token hash, forgot url. Whoever uses the token
     * first wins: the UPDATE ... used_at IS NULL serialises them. */
    {"jklg_c_reset",
     "WITH t AS (UPDATE password_reset_tokens SET used_at = now() "
     "  WHERE token_hash = decode(%s, 'hex') AND used_at IS NULL "
     "  AND expires_at > now() RETURNING customer_id), "
     "c AS (UPDATE customers SET password_hash = %s, "
     "  email_verified_at = COALESCE(email_verified_at, now()) "
     "  WHERE id = (SELECT customer_id FROM t) "
     "  RETURNING id, email, first_name), "
     "others AS (UPDATE password_reset_tokens SET used_at = now() "
     "  WHERE customer_id = (SELECT id FROM c) AND used_at IS NULL "
     "  AND token_hash <> decode(%s, 'hex')), "
     "s AS (DELETE FROM customer_sessions "
     "  WHERE customer_id = (SELECT id FROM c)) "
     "INSERT INTO email_outbox (template, recipient, data) "
     "SELECT 'password_changed', email, jsonb_build_object('first_name', "
     "  first_name, 'changed_at', jklg_ts(now()), 'reset_url', %s::text) "
     "FROM c RETURNING id"},
    {"jklg_c_me",
     AUTH "SELECT " AUTHED ", (SELECT jsonb_build_object('customer', "
     "jklg_customer_json(c))::text FROM customers c "
     "WHERE c.id = (SELECT cid FROM a))"},
    /* first, last (NULL: unchanged), phone given (bool), phone */
    {"jklg_c_me_patch",
     AUTH ", c AS (UPDATE customers c SET "
     "first_name = COALESCE(%s, c.first_name), "
     "last_name = COALESCE(%s, c.last_name), "
     "phone = CASE WHEN %s::boolean THEN %s ELSE c.phone END "
     "WHERE c.id = (SELECT cid FROM a) RETURNING c) "
     "SELECT " AUTHED ", (SELECT jsonb_build_object('customer', "
     "jklg_customer_json(c.c))::text FROM c)"},
    {"jklg_c_password_lookup",
     AUTH "SELECT " AUTHED ", c.password_hash, c.email FROM a "
     "LEFT JOIN customers c ON c.id = a.cid"},
    /* new hash, current session, forgot url */
    {"jklg_c_password_set",
     AUTH ", c AS (UPDATE customers SET password_hash = %s "
     "  WHERE id = (SELECT cid FROM a) RETURNING id, email, first_name), "
     "s AS (DELETE FROM customer_sessions WHERE customer_id = "
     "  (SELECT id FROM c) AND id <> %s::uuid), "
     "m AS (INSERT INTO email_outbox (template, recipient, data) "
     "  SELECT 'password_changed', email, jsonb_build_object('first_name', "
     "  first_name, 'changed_at', jklg_ts(now()), 'reset_url', %s::text) "
     "  FROM c RETURNING id) "
     "SELECT " AUTHED ", (SELECT id FROM m)"},
    /* current session */
    {"jklg_c_sessions",
     AUTH "SELECT " AUTHED ", jsonb_build_object('data', COALESCE("
     "(SELECT jsonb_agg(jklg_session_json(s, %s::uuid) ORDER BY "
     "s.created_at DESC, s.id DESC) FROM customer_sessions s "
     "WHERE s.customer_id = (SELECT cid FROM a) AND s.expires_at > now()), "
     "'[]'::jsonb))::text"},
    /* session to revoke */
    {"jklg_c_session_delete",
     AUTH ", d AS (DELETE FROM customer_sessions WHERE id = %s::uuid "
     "AND customer_id = (SELECT cid FROM a) RETURNING id) "
     "SELECT " AUTHED ", (SELECT id FROM d)"},
    {"jklg_c_addresses",
     AUTH "SELECT " AUTHED ", jsonb_build_object('data', COALESCE("
     "(SELECT jsonb_agg(jklg_address_json(x) ORDER BY x.is_default DESC, "
     "x.created_at DESC, x.id DESC) FROM customer_addresses x "
     "WHERE x.customer_id = (SELECT cid FROM a)), '[]'::jsonb))::text"},
    /* address id or NULL, fields, limit */
    {"jklg_c_address_save",
     AUTH "SELECT " AUTHED ", CASE WHEN (SELECT cid FROM a) IS NOT NULL THEN "
     "jklg_address_save((SELECT cid FROM a), %s::uuid, %s::jsonb, %s::int)"
     "::text END"},
    {"jklg_c_address_delete",
     AUTH ", d AS (DELETE FROM customer_addresses WHERE id = %s::uuid "
     "AND customer_id = (SELECT cid FROM a) RETURNING id) "
     "SELECT " AUTHED ", (SELECT id FROM d)"},
    {"jklg_c_preferences",
     AUTH "SELECT " AUTHED ", jsonb_build_object('preferences', "
     "jsonb_build_object('language', COALESCE(p.language, 'en'), "
     "'currency', COALESCE(p.currency, 'eur'), "
     "'marketing_emails', COALESCE(p.marketing_emails, false), "
     "'newsletter', COALESCE(p.newsletter, false)))::text "
     "FROM a LEFT JOIN customer_preferences p ON p.customer_id = a.cid"},
    /* language, currency, marketing_emails, newsletter */
    {"jklg_c_preferences_put",
     AUTH ", p AS (INSERT INTO customer_preferences (customer_id, language, "
     "currency, marketing_emails, newsletter) SELECT cid, %s, %s, "
     "%s::boolean, %s::boolean FROM a WHERE cid IS NOT NULL "
     "ON CONFLICT (customer_id) DO UPDATE SET language = EXCLUDED.language, "
     "currency = EXCLUDED.currency, "
     "marketing_emails = EXCLUDED.marketing_emails, "
     "newsletter = EXCLUDED.newsletter, updated_at = now() RETURNING *) "
     "SELECT " AUTHED ", (SELECT jsonb_build_object('preferences', "
     "jsonb_build_object('language', language, 'currency', currency, "
     "'marketing_emails', marketing_emails, 'newsletter', newsletter))::text "
     "FROM p)"},
    /* cursor time or NULL, cursor time, cursor id, limit + 1, limit, limit */
    {"jklg_c_bookings",
     AUTH ", page AS (SELECT b AS bk, b.created_at AS ts, b.id AS id "
     "FROM bookings b WHERE b.customer_id = (SELECT cid FROM a) "
     "AND (%s::text IS NULL OR (b.created_at, b.id) < "
     "((%s::timestamp AT TIME ZONE 'UTC'), %s::uuid)) "
     "ORDER BY b.created_at DESC, b.id DESC LIMIT %s::int), "
     "shown AS (SELECT * FROM page ORDER BY ts DESC, id DESC LIMIT %s::int) "
     "SELECT " AUTHED ", jsonb_build_object('data', COALESCE((SELECT "
     "jsonb_agg(jklg_booking_json(bk) ORDER BY ts DESC, id DESC) FROM shown), "
     "'[]'::jsonb), 'next_cursor', CASE WHEN (SELECT count(*) FROM page) > "
     "%s::int THEN (SELECT jklg_cursor(ts, id) FROM shown "
     "ORDER BY ts, id LIMIT 1) END)::text"},
    /* booking id */
    {"jklg_c_booking",
     AUTH "SELECT " AUTHED ", (SELECT jsonb_build_object('booking', "
     "jklg_booking_json(b), 'transactions', COALESCE((SELECT jsonb_agg("
     "jklg_transaction_json(t) ORDER BY t.created_at DESC, t.id DESC) "
     "FROM transactions t WHERE t.booking_id = b.id), '[]'::jsonb))::text "
     "FROM bookings b WHERE b.id = %s::uuid "
     "AND b.customer_id = (SELECT cid FROM a))"},
    {NULL, NULL}
};
