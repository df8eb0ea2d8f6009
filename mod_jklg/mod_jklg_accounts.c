/* Unauthenticated account flows: register, verify-email, resend, login,
 * forgot and reset password. Answers never tell whether an email has an
 * account. One-time tokens leave here only inside emails. Each step is a
 * call of a jklg.* function (sql/018, sql/021) through jklg_call; password
 * hashes are spent here, between two calls, outside any transaction. */
#include <string.h>
#include <apr_strings.h>
#include <http_protocol.h>
#include "jklg_json.h"
#include "jklg_jwt.h"
#include "jklg_token.h"
#include "jklg_useragent.h"
#include "jklg_validate.h"
#include "mod_jklg.h"

static const char *client_ip(jklg_req_t *req)
{
    return req->r->useragent_ip;
}

/* Per-IP rules count the client's address, IPv6 clients per /64. */
static const char *ip_key(jklg_req_t *req)
{
    return jklg_ratelimit_key_ip(req->r);
}

static int reply_invalid_token(jklg_req_t *req)
{
    return jklg_reply_error(req, HTTP_BAD_REQUEST, "invalid_token",
                            "This link is invalid or has expired.", NULL);
}

#define REQUEST_AGENT "p_ip => %s::inet, p_user_agent => %s"

/* register, resend and forgot answer jklg.mail_sent's 202 {message}
 * whatever they found; only the mail differs. */
const jklg_statement_t jklg_account_statements[] = {
    {"jklg_register", JKLG_CALL_SQL("register", "p_email => %s, "
     "p_password_hash => %s, p_first_name => %s, p_last_name => %s, "
     "p_phone => %s, p_token_hash => %s, p_verify_url => %s, "
     "p_login_url => %s, p_reset_url => %s")},
    {"jklg_verify_email", JKLG_CALL_SQL("verify_email", "p_token_hash => %s")},
    {"jklg_resend_verification", JKLG_CALL_SQL("resend_verification",
     "p_email => %s, p_token_hash => %s, p_verify_url => %s")},
    {"jklg_forgot_password", JKLG_CALL_SQL("forgot_password",
     "p_email => %s, p_token_hash => %s, p_reset_url => %s")},
    {"jklg_reset_lookup", JKLG_CALL_SQL("reset_lookup", "p_token_hash => %s")},
    {"jklg_reset_password", JKLG_CALL_SQL("reset_password",
     "p_token_hash => %s, p_new_hash => %s, " REQUEST_AGENT
     ", p_forgot_url => %s")},
    {"jklg_login_lookup", JKLG_CALL_SQL("login_lookup", "p_email => %s")},
    {"jklg_login_failed", JKLG_CALL_SQL("login_failed",
     "p_customer => %s::uuid, " REQUEST_AGENT)},
    /* The session of a login (sql/013, sql/019): its events and the
     * new-device notice are written with it. */
    {"jklg_login_session", JKLG_CALL_SQL("login_session",
     "p_customer => %s::uuid, p_new_hash => %s, " REQUEST_AGENT
     ", p_device => %s, p_lifetime => %s::interval, "
     "p_secure_hash => %s, p_secure_url => %s")},
    {NULL, NULL}
};

static const jklg_outcome_map_t account_outcomes[] = {
    {"invalid_token", HTTP_BAD_REQUEST, "invalid_token",
     "This link is invalid or has expired."},
    {NULL, 0, NULL, NULL}
};

static const char *front_url(jklg_req_t *req, const char *path)
{
    return apr_pstrcat(req->r->pool, req->conf->public_url, path, NULL);
}

/* A new token and its hash, or 0 after answering. */
static int new_token(jklg_req_t *req, const char **token, const char **hash)
{
    *token = jklg_token_new(req->r->pool);
    if (jklg_token_hash(req->r->pool, *token, hash) != APR_SUCCESS) {
        jklg_reply_error(req, HTTP_INTERNAL_SERVER_ERROR, "internal",
                         "An internal error occurred.", NULL);
        return 0;
    }
    return 1;
}

static void check_new_password(jklg_req_t *req, jklg_check_t *c,
                               const char *key, const char *password,
                               const char *email)
{
    const char *why;

    if (password) {
        why = jklg_password_policy(req->r->pool, password, email ? email : "",
                                   jklg_conf_password_min(req->conf));
        if (why) {
            jklg_check_fail(c, key, why);
        }
    }
}

int jklg_customer_register(jklg_req_t *req)
{
    static const char *const allowed[] = {"email", "password", "first_name",
                                          "last_name", "phone", NULL};
    jklg_check_t c;
    const char *email, *password, *first, *last, *phone, *hash, *token;
    const char *token_hash;

    jklg_check_init(&c, req->r->pool, req->body, allowed);
    email = jklg_check_email(&c, "email", JKLG_REQUIRED);
    password = jklg_check_raw(&c, "password", JKLG_REQUIRED);
    first = jklg_check_text(&c, "first_name", JKLG_REQUIRED, 1, 100);
    last = jklg_check_text(&c, "last_name", JKLG_REQUIRED, 1, 100);
    phone = jklg_check_phone(&c, "phone", JKLG_NULLABLE);
    check_new_password(req, &c, "password", password, email);
    if (!jklg_check_ok(&c)) {
        return jklg_reply_invalid(req, c.fields);
    }
    if (jklg_rate_limited(req, "register_ip", ip_key(req))
        || jklg_rate_limited(req, "register_email", email)) {
        return OK;
    }
    /* Hashed for known emails too: both answers cost the same. */
    if (jklg_auth_hash(req, password, &hash) != APR_SUCCESS) {
        return jklg_reply_busy(req);
    }
    if (!new_token(req, &token, &token_hash)) {
        return OK;
    }
    {
        const char *args[] = {
            email, hash, first, last, phone, token_hash,
            apr_pstrcat(req->r->pool, front_url(req, "/verify-email?token="),
                        token, NULL),
            front_url(req, "/login"), front_url(req, "/forgot-password")
        };
        return jklg_call_finish(req, "jklg_register", 9, args,
                                account_outcomes);
    }
}

/* The token member as its hash, or 0 after answering. */
static int token_hash_of(jklg_req_t *req, jklg_check_t *c,
                         const char **hash)
{
    const char *token = jklg_check_raw(c, "token", JKLG_REQUIRED);

    if (!token) {
        return 1;   /* reported in fields */
    }
    if (jklg_token_hash(req->r->pool, token, hash) != APR_SUCCESS) {
        reply_invalid_token(req);
        return 0;
    }
    return 1;
}

int jklg_customer_verify_email(jklg_req_t *req)
{
    static const char *const allowed[] = {"token", NULL};
    const char *hash = NULL;
    jklg_check_t c;

    jklg_check_init(&c, req->r->pool, req->body, allowed);
    if (jklg_rate_limited(req, "verify_ip", ip_key(req))
        || !token_hash_of(req, &c, &hash)) {
        return OK;
    }
    if (!jklg_check_ok(&c)) {
        return jklg_reply_invalid(req, c.fields);
    }
    return jklg_call_finish(req, "jklg_verify_email", 1, &hash,
                            account_outcomes);
}

/* {email} bodies of resend-verification and forgot-password. */
static const char *email_only(jklg_req_t *req)
{
    static const char *const allowed[] = {"email", NULL};
    jklg_check_t c;
    const char *email;

    jklg_check_init(&c, req->r->pool, req->body, allowed);
    email = jklg_check_email(&c, "email", JKLG_REQUIRED);
    if (!jklg_check_ok(&c)) {
        jklg_reply_invalid(req, c.fields);
        return NULL;
    }
    return email;
}

int jklg_customer_resend(jklg_req_t *req)
{
    const char *email = email_only(req);
    const char *token, *hash;

    if (!email || jklg_rate_limited(req, "resend_ip", ip_key(req))
        || jklg_rate_limited(req, "resend_email", email)
        || !new_token(req, &token, &hash)) {
        return OK;
    }
    {
        const char *args[] = {email, hash, apr_pstrcat(req->r->pool,
                              front_url(req, "/verify-email?token="), token,
                              NULL)};
        return jklg_call_finish(req, "jklg_resend_verification", 3, args,
                                account_outcomes);
    }
}

int jklg_customer_forgot(jklg_req_t *req)
{
    const char *email = email_only(req);
    const char *token, *hash;

    if (!email || jklg_rate_limited(req, "forgot_ip", ip_key(req))
        || jklg_rate_limited(req, "forgot_email", email)
        || !new_token(req, &token, &hash)) {
        return OK;
    }
    {
        const char *args[] = {email, hash, apr_pstrcat(req->r->pool,
                              front_url(req, "/reset-password/"), token,
                              NULL)};
        return jklg_call_finish(req, "jklg_forgot_password", 3, args,
                                account_outcomes);
    }
}

/* Whose token it is, the policy check and the new hash, in one hash slot
 * taken before the connection (jklg_auth_slot_take): *new_hash, or NULL
 * after answering. No hash is spent on a dead token. */
static const char *reset_hash(jklg_req_t *req, jklg_check_t *c,
                              const char *hash, const char *password)
{
    const char *new_hash = NULL;
    jklg_result_t res;

    if (!jklg_call(req, "jklg_reset_lookup", 1, &hash, &res)) {
        return NULL;
    }
    if (strcmp(res.outcome, "ok")) {
        jklg_finish(req, &res, account_outcomes);   /* invalid_token */
        return NULL;
    }
    check_new_password(req, c, "password", password,
                       jklg_json_str(jklg_result_json(req, &res), "email"));
    if (!jklg_check_ok(c)) {
        jklg_reply_invalid(req, c->fields);
        return NULL;
    }
    if (jklg_auth_hash(req, password, &new_hash) != APR_SUCCESS) {
        jklg_reply_busy(req);
        return NULL;
    }
    return new_hash;
}

int jklg_customer_reset(jklg_req_t *req)
{
    static const char *const allowed[] = {"token", "password", NULL};
    const char *hash = NULL, *password, *new_hash;
    jklg_check_t c;

    jklg_check_init(&c, req->r->pool, req->body, allowed);
    password = jklg_check_raw(&c, "password", JKLG_REQUIRED);
    if (jklg_rate_limited(req, "reset_ip", ip_key(req))
        || !token_hash_of(req, &c, &hash)) {
        return OK;
    }
    if (!jklg_check_ok(&c)) {
        return jklg_reply_invalid(req, c.fields);
    }
    jklg_auth_slot_take(req);
    new_hash = reset_hash(req, &c, hash, password);
    jklg_auth_slot_give(req);
    if (!new_hash) {
        return OK;
    }
    /* invalid_token again when the token was used meanwhile */
    {
        const char *args[] = {hash, new_hash, client_ip(req),
                              jklg_req_user_agent(req),
                              front_url(req, "/forgot-password")};
        return jklg_call_finish(req, "jklg_reset_password", 5, args,
                                account_outcomes);
    }
}

static int reply_bad_credentials(jklg_req_t *req)
{
    return jklg_reply_error(req, HTTP_UNAUTHORIZED, "invalid_credentials",
                            "The email or password is not correct.", NULL);
}

/* The login response: the answer of jklg.login_session plus a signed
 * token made of its session. */
static int reply_login(jklg_req_t *req, const char *customer_id,
                       jklg_result_t *res)
{
    apr_pool_t *p = req->r->pool;
    jklg_jwt_claims_t claims;
    json_t *made = jklg_result_json(req, res);
    json_t *body = json_object_get(made, "answer");
    const jklg_jwt_key_t *key = (const jklg_jwt_key_t *)
                                req->conf->jwt_keys->elts;

    if (!json_is_object(body) || !jklg_json_str(made, "session_id")) {
        return jklg_reply_error(req, HTTP_INTERNAL_SERVER_ERROR, "internal",
                                "An internal error occurred.", NULL);
    }
    claims.iss = req->conf->public_url;
    claims.sub = customer_id;
    claims.sid = jklg_json_str(made, "session_id");
    claims.iat = (apr_int64_t)json_integer_value(json_object_get(made, "iat"));
    claims.exp = (apr_int64_t)json_integer_value(json_object_get(made, "exp"));
    json_object_set_new(body, "token",
                        json_string(jklg_jwt_sign(p, key, &claims)));
    json_object_set_new(body, "token_type", json_string("Bearer"));
    json_object_set_new(body, "expires_at",
                        json_string(jklg_json_str(made, "expires_at")));
    return jklg_reply(req, HTTP_OK, body);
}

static const char *interval_of(apr_pool_t *p, apr_interval_time_t t)
{
    return apr_psprintf(p, "%" APR_INT64_T_FMT " seconds",
                        (apr_int64_t)apr_time_sec(t));
}

/* login_ip first: an address over its limit costs no hash and no
 * database work, and counts against nobody's login_email. Every attempt
 * counts, before the password is checked: a correct guess is refused
 * too, so spraying passwords cannot learn from the limit. */
static int login_limited(jklg_req_t *req, const char *email)
{
    return jklg_rate_limited(req, "login_ip", ip_key(req))
           || jklg_rate_limited(req, "login", apr_pstrcat(req->r->pool,
                                ip_key(req), " ", email, NULL))
           || jklg_rate_limited(req, "login_email", email);
}

/* The lookup (jklg.login_lookup) and the password check, in one hash
 * slot taken before the connection (jklg_auth_slot_take). An unknown
 * email ('not_found') spends the dummy hash: both answers cost the same.
 * *account is the account found, or NULL; *new_hash a fresh hash when a
 * verified customer's is outdated. 1, or 0 after answering. */
static int check_login(jklg_req_t *req, const char *email,
                       const char *password, const json_t **account,
                       jklg_password_result_t *result, const char **new_hash)
{
    jklg_result_t res;
    int ok;

    *account = NULL;
    jklg_auth_slot_take(req);
    ok = jklg_call(req, "jklg_login_lookup", 1, &email, &res);
    if (ok) {
        if (!strcmp(res.outcome, "ok")) {
            *account = jklg_result_json(req, &res);
        }
        *result = jklg_auth_verify(req, jklg_json_str(*account,
                                   "password_hash"), password);
        if (*result == JKLG_PASSWORD_OK_REHASH
            && json_is_true(json_object_get(*account, "email_verified"))
            && jklg_auth_hash(req, password, new_hash) != APR_SUCCESS) {
            *new_hash = NULL;   /* keep the old hash; upgrade next time */
        }
    }
    jklg_auth_slot_give(req);
    return ok;
}

/* Records a wrong password for an existing account (security events):
 * 1, or 0 after answering the database's failure (as the lookup just
 * before it would have). */
static int login_failed(jklg_req_t *req, const char *customer_id)
{
    const char *args[] = {customer_id, client_ip(req),
                          jklg_req_user_agent(req)};
    jklg_result_t res;

    return !customer_id
           || jklg_call(req, "jklg_login_failed", 3, args, &res);
}

/* Opens the session of a customer whose password (and any second factor)
 * was checked: jklg.login_session records the login and, for a device
 * not seen lately, mails a new-sign-in notice whose secure-account link
 * carries the token made here. */
int jklg_login_session(jklg_req_t *req, const char *customer_id,
                       const char *new_hash)
{
    apr_pool_t *p = req->r->pool;
    const char *ua = jklg_req_user_agent(req), *token, *hash;
    jklg_result_t res;

    if (!new_token(req, &token, &hash)) {
        return OK;
    }
    {
        const char *args[] = {customer_id, new_hash, client_ip(req), ua,
                              jklg_browser_family(ua),
                              interval_of(p, jklg_conf_token_lifetime(
                                  req->conf)),
                              hash,
                              apr_pstrcat(p, front_url(req,
                                          "/secure-account?token="), token,
                                          NULL)};
        if (!jklg_call(req, "jklg_login_session", 8, args, &res)) {
            return OK;
        }
    }
    if (strcmp(res.outcome, "ok")) {
        return reply_bad_credentials(req);  /* deleted meanwhile */
    }
    return reply_login(req, customer_id, &res);
}

int jklg_customer_login(jklg_req_t *req)
{
    static const char *const allowed[] = {"email", "password", NULL};
    apr_pool_t *p = req->r->pool;
    const char *email, *password, *new_hash = NULL, *customer_id;
    jklg_password_result_t result = JKLG_PASSWORD_MISMATCH;
    const json_t *account;
    jklg_check_t c;

    apr_table_setn(req->r->err_headers_out, "Cache-Control", "no-store");
    jklg_check_init(&c, p, req->body, allowed);
    email = jklg_check_email(&c, "email", JKLG_REQUIRED);
    password = jklg_check_raw(&c, "password", JKLG_REQUIRED);
    if (!jklg_check_ok(&c)) {
        return jklg_reply_invalid(req, c.fields);
    }
    if (login_limited(req, email)
        || !check_login(req, email, password, &account, &result,
                        &new_hash)) {
        return OK;
    }
    customer_id = jklg_json_str(account, "customer_id");
    if (result == JKLG_PASSWORD_MISMATCH) {
        return login_failed(req, customer_id) ? reply_bad_credentials(req)
                                              : OK;
    }
    if (!json_is_true(json_object_get(account, "email_verified"))) {
        return jklg_reply_error(req, HTTP_FORBIDDEN, "email_not_verified",
                                "Please confirm your email address first: "
                                "we sent you a link.", NULL);
    }
    /* An account with a second factor gets an mfa_token, no session. */
    if (!jklg_login_mfa_gate(req, customer_id, new_hash)) {
        return OK;
    }
    return jklg_login_session(req, customer_id, new_hash);
}
