/* Two-factor authentication with TOTP (docs/customers.md, "Two-factor
 * authentication"): enrolment, confirmation with recovery codes, disabling,
 * and the second step of login. Codes are computed and secrets sealed here
 * (jklg_totp.c, JKLGMFAKey); the jklg.* functions of sql/011_mfa.sql spend
 * steps, recovery codes and mfa_tokens atomically, so a code is accepted
 * once across every server. */
#include <string.h>
#include <apr_atomic.h>
#include <apr_env.h>
#include <apr_file_io.h>
#include <apr_strings.h>
#include <apr_uri.h>
#include <http_protocol.h>
#include <sodium.h>
#include "jklg_json.h"
#include "jklg_token.h"
#include "jklg_totp.h"
#include "jklg_util.h"
#include "jklg_validate.h"
#include "mod_jklg.h"

#define USER_AGENT_MAX 512
#define KEY_FILE_MAX 4096
#define INVALID_CODE "The code is not correct, or was already used."
#define CODE_SOURCE "p_nonce => %s, p_step => %s::bigint, p_recovery => %s"

const jklg_statement_t jklg_mfa_statements[] = {
    {"jklg_me_mfa_totp_start", JKLG_CALL_SQL("me_mfa_totp_start", JKLG_AUTHED
     ", p_secret_enc => %s, p_nonce => %s")},
    {"jklg_me_mfa_totp_pending", JKLG_CALL_SQL("me_mfa_totp_pending",
     JKLG_AUTHED)},
    {"jklg_me_mfa_totp_confirm", JKLG_CALL_SQL("me_mfa_totp_confirm",
     JKLG_AUTHED ", p_nonce => %s, p_step => %s::bigint, "
     "p_recovery => %s::text[], p_ip => %s::inet, p_user_agent => %s")},
    {"jklg_me_mfa_totp_lookup", JKLG_CALL_SQL("me_mfa_totp_lookup",
     JKLG_AUTHED)},
    {"jklg_me_mfa_totp_disable", JKLG_CALL_SQL("me_mfa_totp_disable",
     JKLG_AUTHED ", " CODE_SOURCE ", p_ip => %s::inet, p_user_agent => %s")},
    {"jklg_login_mfa_begin", JKLG_CALL_SQL("login_mfa_begin",
     "p_customer => %s::uuid, p_token_hash => %s, p_new_hash => %s, "
     "p_ip => %s::inet, p_user_agent => %s")},
    {"jklg_login_mfa_lookup", JKLG_CALL_SQL("login_mfa_lookup",
     "p_token_hash => %s")},
    {"jklg_login_mfa_finish", JKLG_CALL_SQL("login_mfa_finish",
     "p_token_hash => %s, " CODE_SOURCE)},
    {NULL, NULL}
};

static const jklg_outcome_map_t mfa_outcomes[] = {
    {"invalid_code", HTTP_BAD_REQUEST, "invalid_code", INVALID_CODE},
    {"mfa_on", HTTP_CONFLICT, "conflict",
     "Two-factor authentication is already on; turn it off first."},
    {"mfa_off", HTTP_CONFLICT, "conflict",
     "Two-factor authentication is not on."},
    {"mfa_not_pending", HTTP_CONFLICT, "conflict",
     "There is no two-factor setup to confirm; start a new one."},
    {NULL, 0, NULL, NULL}
};

/* --- JKLGMFAKey ------------------------------------------------------- */

static const char *read_key_file(apr_pool_t *p, const char *path,
                                 char **text, apr_size_t *len)
{
    apr_file_t *f;
    apr_status_t rv;
    char *buf = apr_palloc(p, KEY_FILE_MAX + 1);

    if (apr_file_open(&f, path, APR_FOPEN_READ, 0, p) != APR_SUCCESS) {
        return apr_psprintf(p, "cannot open %s", path);
    }
    rv = apr_file_read_full(f, buf, KEY_FILE_MAX + 1, len);
    apr_file_close(f);
    if (rv != APR_SUCCESS && rv != APR_EOF) {
        return apr_psprintf(p, "cannot read %s", path);
    }
    if (*len > KEY_FILE_MAX) {
        return apr_psprintf(p, "%s is far larger than a key", path);
    }
    *text = buf;
    return NULL;
}

const char *jklg_mfa_set_key(cmd_parms *cmd, void *dc, const char *arg)
{
    jklg_server_conf_t *c = jklg_conf(cmd->server);
    const char *err = NULL;
    char *text = NULL, *value;
    apr_size_t len = 0;

    if (sodium_init() < 0) {
        return "JKLGMFAKey: libsodium failed to initialise";
    }
    if (!strncmp(arg, "file:", 5)) {
        err = read_key_file(cmd->temp_pool, arg + 5, &text, &len);
    }
    else if (!strncmp(arg, "env:", 4)) {
        if (apr_env_get(&value, arg + 4, cmd->temp_pool) != APR_SUCCESS
            || !*value) {
            err = apr_psprintf(cmd->pool, "environment variable %s is not "
                               "set", arg + 4);
        }
        else {
            text = apr_pstrdup(cmd->temp_pool, value);
            len = strlen(text);
        }
    }
    else {
        text = apr_pstrdup(cmd->temp_pool, arg);
        len = strlen(text);
    }
    if (!err) {
        c->mfa_key = jklg_mfa_key_parse(cmd->pool, text, len, &err);
        sodium_memzero(text, len);
    }
    c->used = 1;
    return err ? apr_psprintf(cmd->pool, "JKLGMFAKey %s: %s",
                              !strncmp(arg, "file:", 5)
                              || !strncmp(arg, "env:", 4) ? arg : "(inline)",
                              err)
               : NULL;
}

/* --- helpers ---------------------------------------------------------- */

/* Without JKLGMFAKey no secret can be sealed or opened: said once per
 * process in the log, and to every client that asks. A generated key
 * would lose every secret at the next restart. */
static int reply_not_configured(jklg_req_t *req)
{
    static volatile apr_uint32_t logged;

    if (!apr_atomic_xchg32(&logged, 1)) {
        ap_log_rerror(APLOG_MARK, APLOG_WARNING, 0, req->r, JKLGNO(02000)
                      "two-factor authentication is not configured: set "
                      "JKLGMFAKey (docs/configuration.md)");
    }
    return jklg_reply_error(req, HTTP_SERVICE_UNAVAILABLE, "unavailable",
                            "Two-factor authentication is not configured on "
                            "this server.", NULL);
}

static int reply_invalid_code(jklg_req_t *req)
{
    return jklg_reply_error(req, HTTP_BAD_REQUEST, "invalid_code",
                            INVALID_CODE, NULL);
}

static int reply_internal(jklg_req_t *req)
{
    return jklg_reply_error(req, HTTP_INTERNAL_SERVER_ERROR, "internal",
                            "An internal error occurred.", NULL);
}

static const char *user_agent(jklg_req_t *req)
{
    return jklg_header_text(req->r->pool,
                            apr_table_get(req->r->headers_in, "User-Agent"),
                            USER_AGENT_MAX);
}

static const char *step_text(apr_pool_t *p, apr_int64_t step)
{
    return apr_psprintf(p, "%" APR_INT64_T_FMT, step);
}

/* The name authenticator apps show: the agency's (JKLGMailFrom's display
 * name), else the host of JKLGPublicURL. */
static const char *issuer(jklg_req_t *req)
{
    const char *from = req->conf->mail_from, *lt;
    const char *name, *end;
    apr_uri_t uri;

    if (from && (lt = strchr(from, '<'))) {
        for (name = from; *name == ' ' || *name == '"'; name++) {
        }
        for (end = lt; end > name && (end[-1] == ' ' || end[-1] == '"');
             end--) {
        }
        if (end > name) {
            return apr_pstrndup(req->r->pool, name, end - name);
        }
    }
    if (apr_uri_parse(req->r->pool, req->conf->public_url, &uri)
        == APR_SUCCESS && uri.hostname) {
        return uri.hostname;
    }
    return "JKLG";
}

/* The TOTP secret of a lookup's body, or NULL after answering: a secret
 * that does not open was sealed under another key (JKLGMFAKey changed). */
static unsigned char *open_secret(jklg_req_t *req, const json_t *found,
                                  apr_size_t *len)
{
    unsigned char *secret = jklg_mfa_open(req->r->pool, req->conf->mfa_key,
                                          jklg_json_str(found, "secret_enc"),
                                          jklg_json_str(found, "nonce"), len);

    if (!secret) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, req->r, JKLGNO(02001)
                      "a TOTP secret does not open with JKLGMFAKey: was "
                      "the key changed? (customer %s)",
                      req->customer_id ? req->customer_id
                                       : jklg_json_str(found, "customer_id"));
        reply_internal(req);
    }
    return secret;
}

/* The step a code matches for the secret of found (newer than its
 * last_step), -1 for a wrong or replayed code, -2 after answering. */
static apr_int64_t code_step(jklg_req_t *req, const json_t *found,
                             const char *code)
{
    json_t *last = json_object_get(found, "last_step");
    unsigned char *secret;
    apr_size_t len = 0;
    apr_int64_t step;

    if (!(secret = open_secret(req, found, &len))) {
        return -2;
    }
    step = jklg_totp_verify(secret, len, code,
                            apr_time_sec(apr_time_now()),
                            json_is_integer(last)
                            ? (apr_int64_t)json_integer_value(last) : -1);
    sodium_memzero(secret, len);
    return step;
}

/* One of "code" and "recovery_code", as the checks of c record. */
static void check_code_source(jklg_check_t *c, const char **code,
                              const char **recovery)
{
    *code = jklg_check_raw(c, "code", 0);
    *recovery = jklg_check_raw(c, "recovery_code", 0);
    if (jklg_check_ok(c) && !*code == !*recovery) {
        jklg_check_fail(c, *code ? "recovery_code" : "code",
                        *code ? "give either code or recovery_code"
                              : "is required (or recovery_code)");
    }
}

/* The SQL arguments nonce, step, recovery hash for a code or a recovery
 * code: 1, 0 after answering (wrong code: 400). */
static int code_args(jklg_req_t *req, const json_t *found, const char *code,
                     const char *recovery, const char **args)
{
    apr_int64_t step;

    args[0] = jklg_json_str(found, "nonce");
    args[1] = NULL;
    args[2] = NULL;
    if (recovery) {
        args[2] = jklg_recovery_code_hash(req->r->pool, recovery);
        if (!args[2]) {
            reply_invalid_code(req);
            return 0;
        }
        return 1;
    }
    if (!req->conf->mfa_key) {
        reply_not_configured(req);
        return 0;
    }
    step = code_step(req, found, code);
    if (step == -1) {
        reply_invalid_code(req);
    }
    if (step < 0) {
        return 0;
    }
    args[1] = step_text(req->r->pool, step);
    return 1;
}

/* --- enrolment -------------------------------------------------------- */

int jklg_me_mfa_totp_start(jklg_req_t *req)
{
    apr_pool_t *p = req->r->pool;
    unsigned char secret[JKLG_TOTP_SECRET_BYTES];
    const char *args[2], *b32;
    jklg_result_t res;
    json_t *body;

    if (!req->conf->mfa_key) {
        return reply_not_configured(req);
    }
    randombytes_buf(secret, sizeof(secret));
    jklg_mfa_seal(p, req->conf->mfa_key, secret, sizeof(secret), &args[0],
                  &args[1]);
    b32 = jklg_base32_encode(p, secret, sizeof(secret));
    sodium_memzero(secret, sizeof(secret));
    if (!jklg_call(req, "jklg_me_mfa_totp_start", 2, args, &res)) {
        return OK;
    }
    if (strcmp(res.outcome, "ok")) {
        return jklg_finish(req, &res, mfa_outcomes);
    }
    body = jklg_json_own(p, json_pack("{s:s, s:s}", "secret", b32,
                                      "otpauth_url", jklg_totp_url(p,
                                      issuer(req), jklg_json_str(
                                      jklg_result_json(req, &res), "email"),
                                      b32)));
    return jklg_reply(req, HTTP_OK, body);
}

/* Ten fresh codes into *codes (a JSON array for the answer) and their
 * hashes as a PostgreSQL text[] literal. */
static const char *new_recovery_codes(apr_pool_t *p, json_t *codes)
{
    const char *list = "{";

    for (int i = 0; i < JKLG_RECOVERY_CODES; i++) {
        const char *code = jklg_recovery_code_new(p);
        json_array_append_new(codes, json_string(code));
        list = apr_pstrcat(p, list, i ? "," : "",
                           jklg_recovery_code_hash(p, code), NULL);
    }
    return apr_pstrcat(p, list, "}", NULL);
}

int jklg_me_mfa_totp_confirm(jklg_req_t *req)
{
    static const char *const allowed[] = {"code", NULL};
    apr_pool_t *p = req->r->pool;
    const char *code, *args[5];
    jklg_result_t res;
    jklg_check_t c;
    json_t *found, *codes;
    apr_int64_t step;

    jklg_check_init(&c, p, req->body, allowed);
    code = jklg_check_raw(&c, "code", JKLG_REQUIRED);
    if (!jklg_check_ok(&c)) {
        return jklg_reply_invalid(req, c.fields);
    }
    if (!req->conf->mfa_key) {
        return reply_not_configured(req);
    }
    if (!jklg_call(req, "jklg_me_mfa_totp_pending", 0, NULL, &res)) {
        return OK;
    }
    if (strcmp(res.outcome, "ok")) {
        return jklg_finish(req, &res, mfa_outcomes);
    }
    found = jklg_result_json(req, &res);
    step = code_step(req, found, code);
    if (step == -1) {
        return reply_invalid_code(req);
    }
    if (step < 0) {
        return OK;
    }
    codes = jklg_json_own(p, json_array());
    args[0] = jklg_json_str(found, "nonce");
    args[1] = step_text(p, step);
    args[2] = new_recovery_codes(p, codes);
    args[3] = req->r->useragent_ip;
    args[4] = user_agent(req);
    if (!jklg_call(req, "jklg_me_mfa_totp_confirm", 5, args, &res)) {
        return OK;
    }
    if (strcmp(res.outcome, "ok")) {
        return jklg_finish(req, &res, mfa_outcomes);
    }
    /* Shown this once; only their hashes are kept. */
    return jklg_reply(req, HTTP_OK, jklg_json_own(p, json_pack(
                      "{s:O}", "recovery_codes", codes)));
}

/* The password's check against the lookup, in one hash slot taken before
 * the connection: the lookup's body, or NULL after answering. */
static json_t *disable_lookup(jklg_req_t *req, const char *password)
{
    jklg_result_t res;
    json_t *found = NULL;

    jklg_auth_slot_take(req);
    if (jklg_call(req, "jklg_me_mfa_totp_lookup", 0, NULL, &res)) {
        if (strcmp(res.outcome, "ok")) {
            jklg_finish(req, &res, mfa_outcomes);
        }
        else if (jklg_auth_verify(req, jklg_json_str(found =
                                  jklg_result_json(req, &res),
                                  "password_hash"), password)
                 == JKLG_PASSWORD_MISMATCH) {
            jklg_reply_error(req, HTTP_UNAUTHORIZED, "invalid_credentials",
                             "The password is not correct.", NULL);
            found = NULL;
        }
    }
    jklg_auth_slot_give(req);
    return found;
}

int jklg_me_mfa_totp_delete(jklg_req_t *req)
{
    static const char *const allowed[] = {"password", "code",
                                          "recovery_code", NULL};
    const char *password, *code, *recovery, *args[5];
    jklg_check_t c;
    json_t *found;

    jklg_check_init(&c, req->r->pool, req->body, allowed);
    password = jklg_check_raw(&c, "password", JKLG_REQUIRED);
    check_code_source(&c, &code, &recovery);
    if (!jklg_check_ok(&c)) {
        return jklg_reply_invalid(req, c.fields);
    }
    if (jklg_rate_limited(req, "mfa", req->customer_id)
        || !(found = disable_lookup(req, password))
        || !code_args(req, found, code, recovery, args)) {
        return OK;
    }
    args[3] = req->r->useragent_ip;
    args[4] = user_agent(req);
    return jklg_call_finish(req, "jklg_me_mfa_totp_disable", 5, args,
                            mfa_outcomes);
}

/* --- login -------------------------------------------------------------- */

int jklg_login_mfa_gate(jklg_req_t *req, const char *customer_id,
                        const char *new_hash)
{
    apr_pool_t *p = req->r->pool;
    const char *token = jklg_token_new(p), *args[5];
    jklg_result_t res;
    json_t *body;

    if (jklg_token_hash(p, token, &args[1]) != APR_SUCCESS) {
        reply_internal(req);
        return 0;
    }
    args[0] = customer_id;
    args[2] = new_hash;
    args[3] = req->r->useragent_ip;
    args[4] = user_agent(req);
    if (!jklg_call(req, "jklg_login_mfa_begin", 5, args, &res)) {
        return 0;
    }
    if (!strcmp(res.outcome, "ok")) {
        return 1;
    }
    if (strcmp(res.outcome, "mfa_required")) {
        jklg_finish(req, &res, mfa_outcomes);
        return 0;
    }
    /* The token beside the error: no session exists yet. */
    body = jklg_json_error(p, "mfa_required", "Enter the code from your "
                           "authenticator app, or a recovery code.", NULL);
    json_object_set_new(body, "mfa_token", json_string(token));
    apr_table_setn(req->r->err_headers_out, "WWW-Authenticate", "Bearer");
    jklg_reply(req, HTTP_UNAUTHORIZED, body);
    return 0;
}

int jklg_customer_login_mfa(jklg_req_t *req)
{
    static const char *const allowed[] = {"mfa_token", "code",
                                          "recovery_code", NULL};
    apr_pool_t *p = req->r->pool;
    const char *token, *code, *recovery, *hash, *args[4];
    jklg_result_t res;
    jklg_check_t c;
    json_t *found;

    apr_table_setn(req->r->err_headers_out, "Cache-Control", "no-store");
    jklg_check_init(&c, p, req->body, allowed);
    token = jklg_check_raw(&c, "mfa_token", JKLG_REQUIRED);
    check_code_source(&c, &code, &recovery);
    if (!jklg_check_ok(&c)) {
        return jklg_reply_invalid(req, c.fields);
    }
    /* A token that cannot exist is as unknown as an expired one. */
    if (jklg_token_hash(p, token, &hash) != APR_SUCCESS) {
        return jklg_reply_unauthorized(req);
    }
    if (!jklg_call(req, "jklg_login_mfa_lookup", 1, &hash, &res)) {
        return OK;
    }
    if (strcmp(res.outcome, "ok")) {
        return jklg_finish(req, &res, mfa_outcomes);
    }
    found = jklg_result_json(req, &res);
    /* Every attempt counts against the account, the right one too. */
    if (jklg_rate_limited(req, "mfa", jklg_json_str(found, "customer_id"))
        || !code_args(req, found, code, recovery, args + 1)) {
        return OK;
    }
    args[0] = hash;
    if (!jklg_call(req, "jklg_login_mfa_finish", 4, args, &res)) {
        return OK;
    }
    if (strcmp(res.outcome, "ok")) {
        return jklg_finish(req, &res, mfa_outcomes);
    }
    return jklg_login_session(req, jklg_json_str(jklg_result_json(req, &res),
                                                 "customer_id"), NULL);
}
