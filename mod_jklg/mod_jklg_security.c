/* Account security (issue 11): the customer's security events, the safe
 * email change (confirm at the new address, revert from the old one), the
 * "not you? secure my account" link of new-sign-in mails, and the
 * retention of security events. The SQL is in sql/013_account_security.sql;
 * the events of login, password and session changes are written by those
 * endpoints' own functions, in the same transaction as the change. The
 * retention's purge also deletes expired links: secure-account, email
 * change and pending MFA logins (sql/021). */
#include <string.h>
#include <apr_strings.h>
#include <http_protocol.h>
#include "jklg_json.h"
#include "jklg_token.h"
#include "jklg_util.h"
#include "jklg_validate.h"
#include "mod_jklg.h"

#define USER_AGENT_MAX 512
#define REQUEST_AGENT "p_ip => %s::inet, p_user_agent => %s"

const jklg_statement_t jklg_security_statements[] = {
    {"jklg_me_security_events", JKLG_CALL_SQL("me_security_events",
     JKLG_AUTHED ", p_after_time => %s::timestamp, p_after_id => %s::uuid, "
     "p_limit => %s::int")},
    {"jklg_me_email_change", JKLG_CALL_SQL("me_email_change", JKLG_AUTHED
     ", p_new_email => %s, p_confirm_hash => %s, p_confirm_url => %s, "
     "p_revert_hash => %s, p_revert_url => %s")},
    {"jklg_confirm_email_change", JKLG_CALL_SQL("confirm_email_change",
     "p_token_hash => %s, " REQUEST_AGENT)},
    {"jklg_revert_email_change", JKLG_CALL_SQL("revert_email_change",
     "p_token_hash => %s, " REQUEST_AGENT)},
    {"jklg_secure_account", JKLG_CALL_SQL("secure_account",
     "p_token_hash => %s, p_reset_hash => %s, p_reset_url => %s, "
     REQUEST_AGENT)},
    {"jklg_purge_security_events",
     "SELECT jklg.purge_security_events(p_retention => %s::interval)"},
    {NULL, NULL}
};

static const jklg_outcome_map_t security_outcomes[] = {
    {"invalid_token", HTTP_BAD_REQUEST, "invalid_token",
     "This link is invalid or has expired."},
    {"conflict", HTTP_CONFLICT, "conflict",
     "That email address is already registered to another account."},
    {NULL, 0, NULL, NULL}
};

const char *jklg_req_user_agent(jklg_req_t *req)
{
    return jklg_header_text(req->r->pool,
                            apr_table_get(req->r->headers_in, "User-Agent"),
                            USER_AGENT_MAX);
}

static const char *front_url(jklg_req_t *req, const char *path,
                             const char *token)
{
    return apr_pstrcat(req->r->pool, req->conf->public_url, path, token,
                       NULL);
}

static int reply_internal(jklg_req_t *req)
{
    return jklg_reply_error(req, HTTP_INTERNAL_SERVER_ERROR, "internal",
                            "An internal error occurred.", NULL);
}

/* A new one-time token and its hash, or 0 after answering. */
static int new_token(jklg_req_t *req, const char **token, const char **hash)
{
    *token = jklg_token_new(req->r->pool);
    if (jklg_token_hash(req->r->pool, *token, hash) != APR_SUCCESS) {
        reply_internal(req);
        return 0;
    }
    return 1;
}

int jklg_me_security_events(jklg_req_t *req)
{
    jklg_page_t page;

    if (!jklg_req_page(req, &page)) {
        return OK;
    }
    {
        const char *args[] = {page.time, page.id,
                              apr_ltoa(req->r->pool, page.limit)};
        return jklg_call_finish(req, "jklg_me_security_events", 3, args,
                                security_outcomes);
    }
}

/* The password asked again, checked in a hash slot taken before the
 * connection (jklg_auth_slot_take): 1 when it is right, else 0 after
 * answering (401 invalid_credentials, or the lookup's failure). */
static int password_again(jklg_req_t *req, const char *password)
{
    jklg_password_result_t result = JKLG_PASSWORD_MISMATCH;
    jklg_result_t res;
    int answered = 0;

    jklg_auth_slot_take(req);
    if (!jklg_call(req, "jklg_me_password_lookup", 0, NULL, &res)) {
        answered = 1;
    }
    else if (strcmp(res.outcome, "ok")) {
        jklg_finish(req, &res, security_outcomes);
        answered = 1;
    }
    else {
        result = jklg_auth_verify(req, jklg_json_str(jklg_result_json(req,
                                  &res), "password_hash"), password);
    }
    jklg_auth_slot_give(req);
    if (answered) {
        return 0;
    }
    if (result == JKLG_PASSWORD_MISMATCH) {
        jklg_reply_error(req, HTTP_UNAUTHORIZED, "invalid_credentials",
                         "The password is not correct.", NULL);
        return 0;
    }
    return 1;
}

/* POST /me/email {new_email, password}: 202 whether or not the address is
 * free (jklg.me_email_change sends the links only when it is). Password
 * checks share the password_change rate limit with POST /me/password. */
int jklg_me_email_change(jklg_req_t *req)
{
    static const char *const allowed[] = {"new_email", "password", NULL};
    const char *email, *password, *confirm, *confirm_hash, *revert;
    const char *revert_hash;
    jklg_check_t c;

    jklg_check_init(&c, req->r->pool, req->body, allowed);
    email = jklg_check_email(&c, "new_email", JKLG_REQUIRED);
    password = jklg_check_raw(&c, "password", JKLG_REQUIRED);
    if (!jklg_check_ok(&c)) {
        return jklg_reply_invalid(req, c.fields);
    }
    if (jklg_rate_limited(req, "password_change", req->customer_id)
        || !password_again(req, password)
        || !new_token(req, &confirm, &confirm_hash)
        || !new_token(req, &revert, &revert_hash)) {
        return OK;
    }
    {
        const char *args[] = {email, confirm_hash,
                              front_url(req, "/confirm-email-change?token=",
                                        confirm),
                              revert_hash,
                              front_url(req, "/revert-email-change?token=",
                                        revert)};
        return jklg_call_finish(req, "jklg_me_email_change", 5, args,
                                security_outcomes);
    }
}

/* The {token} body of the link endpoints as the token's hash: 1, or 0
 * after answering (422 without a token, 400 for one that cannot exist). */
static int link_token(jklg_req_t *req, const char **hash)
{
    static const char *const allowed[] = {"token", NULL};
    const char *token;
    jklg_check_t c;

    jklg_check_init(&c, req->r->pool, req->body, allowed);
    token = jklg_check_raw(&c, "token", JKLG_REQUIRED);
    if (!jklg_check_ok(&c)) {
        jklg_reply_invalid(req, c.fields);
        return 0;
    }
    if (jklg_token_hash(req->r->pool, token, hash) != APR_SUCCESS) {
        jklg_reply_error(req, HTTP_BAD_REQUEST, "invalid_token",
                         "This link is invalid or has expired.", NULL);
        return 0;
    }
    return 1;
}

/* Confirm and revert: the link's token, the request's address and agent
 * for the security event. Counted by the verify_ip rate limit. */
static int email_link(jklg_req_t *req, const char *label)
{
    const char *hash;

    if (jklg_rate_limited(req, "verify_ip",
                          jklg_ratelimit_key_ip(req->r))
        || !link_token(req, &hash)) {
        return OK;
    }
    {
        const char *args[] = {hash, req->r->useragent_ip,
                              jklg_req_user_agent(req)};
        return jklg_call_finish(req, label, 3, args, security_outcomes);
    }
}

int jklg_confirm_email_change(jklg_req_t *req)
{
    return email_link(req, "jklg_confirm_email_change");
}

int jklg_revert_email_change(jklg_req_t *req)
{
    return email_link(req, "jklg_revert_email_change");
}

/* POST /secure-account {token}: revokes every session and way back in,
 * and mails a password reset link made here like forgot-password's. */
int jklg_secure_account(jklg_req_t *req)
{
    const char *hash, *reset, *reset_hash;

    if (jklg_rate_limited(req, "verify_ip", jklg_ratelimit_key_ip(req->r))
        || !link_token(req, &hash) || !new_token(req, &reset, &reset_hash)) {
        return OK;
    }
    {
        const char *args[] = {hash, reset_hash,
                              front_url(req, "/reset-password/", reset),
                              req->r->useragent_ip, jklg_req_user_agent(req)};
        return jklg_call_finish(req, "jklg_secure_account", 5, args,
                                security_outcomes);
    }
}

apr_interval_time_t jklg_conf_security_retention(const jklg_server_conf_t *c)
{
    return c->security_retention != JKLG_UNSET
           ? c->security_retention : JKLG_DEFAULT_SECURITY_RETENTION;
}

void jklg_security_purge(server_rec *s, jklg_db_t *db, apr_pool_t *p)
{
    const char *arg = apr_psprintf(p, "%" APR_INT64_T_FMT " seconds",
                                   (apr_int64_t)apr_time_sec(
                                       jklg_conf_security_retention(
                                           jklg_conf(s))));
    const char *err, *n;
    jklg_rows_t rows;

    if (jklg_db_query(db, p, "jklg_purge_security_events", 1, &arg, &rows,
                      &err) != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_WARNING, 0, s, JKLGNO(02051)
                     "housekeeping: security events: %s", err);
    }
    else if ((n = jklg_db_value(&rows)) && strcmp(n, "0")) {
        ap_log_error(APLOG_MARK, APLOG_INFO, 0, s, JKLGNO(02052)
                     "housekeeping: %s old security events and links "
                     "deleted", n);
    }
}
