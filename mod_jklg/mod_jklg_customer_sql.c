/* SQL of the unauthenticated account flows (register, verify, login,
 * reset). They have not moved to jklg.* functions yet (issue 8): the
 * authenticated customer endpoints have, next to their handlers in
 * mod_jklg_profile.c. */
#include <stddef.h>
#include "mod_jklg.h"

const jklg_statement_t jklg_customer_statements[] = {
    /* email */
    {"jklg_c_login_lookup",
     "SELECT id, password_hash, email_verified_at IS NOT NULL "
     "FROM customers WHERE email = %s"},
    /* The session of a login (sql/013_account_security.sql): its events
     * and the new-device notice are written with it. */
    {"jklg_login_session", JKLG_CALL_SQL("login_session",
     "p_customer => %s::uuid, p_new_hash => %s, p_ip => %s::inet, "
     "p_user_agent => %s, p_device => %s, p_lifetime => %s::interval, "
     "p_secure_hash => %s, p_secure_url => %s")},
    {"jklg_login_failed", JKLG_CALL_SQL("login_failed",
     "p_customer => %s::uuid, p_ip => %s::inet, p_user_agent => %s")},
    /* token hash: whose account, before a password hash is spent on it */
    {"jklg_c_reset_lookup",
     "SELECT c.email FROM password_reset_tokens t "
     "JOIN customers c ON c.id = t.customer_id "
     "WHERE t.token_hash = decode(%s, 'hex') AND t.used_at IS NULL "
     "AND t.expires_at > now()"},
    /* token hash, new hash, token hash, ip, user agent, forgot url.
     * Whoever uses the token first wins: the UPDATE ... used_at IS NULL
     * serialises them. */
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
     "  WHERE customer_id = (SELECT id FROM c)), "
     "ev AS (INSERT INTO security_events (customer_id, type, ip, "
     "  user_agent) SELECT id, 'password_reset', %s::inet, %s FROM c) "
     "INSERT INTO email_outbox (template, recipient, data) "
     "SELECT 'password_changed', email, jsonb_build_object('first_name', "
     "  first_name, 'changed_at', jklg_ts(now()), 'reset_url', %s::text) "
     "FROM c RETURNING id"},
    {NULL, NULL}
};
