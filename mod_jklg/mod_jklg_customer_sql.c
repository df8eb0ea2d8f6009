/* SQL of the unauthenticated account flows (register, verify, login,
 * reset). They have not moved to jklg.* functions yet (issue 8): the
 * authenticated customer endpoints have, next to their handlers in
 * mod_jklg_profile.c. */
#include <stddef.h>
#include "mod_jklg.h"

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
     "  COALESCE(%s, c.password_hash) WHERE c.id = %s::uuid "
     /* 015: the row lock orders a login with an erasure; an erased
      * customer gets no session. */
     "  AND c.erased_at IS NULL RETURNING c), "
     "s AS (INSERT INTO customer_sessions (customer_id, ip, user_agent, "
     "  expires_at) SELECT (c.c).id, %s::inet, %s, now() + %s::interval "
     "  FROM c RETURNING customer_sessions AS s) "
     "SELECT (s.s).id, extract(epoch FROM (s.s).created_at)::bigint, "
     "  extract(epoch FROM (s.s).expires_at)::bigint, "
     "  jklg_ts((s.s).expires_at), "
     "  jsonb_build_object('session', jklg_session_json(s.s, (s.s).id), "
     "    'customer', jklg_customer_json(c.c))::text FROM s, c"},
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
    {NULL, NULL}
};
