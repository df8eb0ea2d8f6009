/* Data rights and staff customer tools (issue 12): the customer's export
 * (GET /me/export) and erasure (DELETE /me), and /api/admin/customers
 * (search, one customer, resend verification, revoke sessions, unlock,
 * erase). The SQL is in sql/015_data_rights.sql; the table map in
 * docs/data-rights.md. */
#include <string.h>
#include <apr_general.h>
#include <apr_strings.h>
#include <http_protocol.h>
#include "jklg_json.h"
#include "jklg_ratelimit.h"
#include "jklg_rights.h"
#include "jklg_token.h"
#include "jklg_validate.h"
#include "mod_jklg.h"

/* The newest rows of each list the export carries; a longer list says
 * "truncated": true. Bounds the document (and the memory building it)
 * for a customer with a long history. */
#define EXPORT_CAP "10000"
#define EXPORT_FILE "attachment; filename=\"jklg-export.json\""

const jklg_statement_t jklg_rights_statements[] = {
    {"jklg_me_export", JKLG_CALL_SQL("me_export", JKLG_AUTHED
     ", p_cap => %s::int")},
    {"jklg_me_erase", JKLG_CALL_SQL("me_erase", JKLG_AUTHED
     ", p_placeholder => %s")},
    {"jklg_staff_customers", JKLG_CALL_SQL("staff_customers",
     "p_staff => %s, p_q => %s, p_after_time => %s::timestamp, "
     "p_after_id => %s::uuid, p_limit => %s::int")},
    {"jklg_staff_customer", JKLG_CALL_SQL("staff_customer",
     "p_staff => %s, p_id => %s::uuid")},
    {"jklg_staff_customer_resend", JKLG_CALL_SQL("staff_customer_resend",
     "p_staff => %s, p_id => %s::uuid, p_token_hash => %s, "
     "p_verify_url => %s")},
    {"jklg_staff_customer_revoke", JKLG_CALL_SQL("staff_customer_revoke",
     "p_staff => %s, p_id => %s::uuid")},
    {"jklg_staff_customer_unlock", JKLG_CALL_SQL("staff_customer_unlock",
     "p_staff => %s, p_id => %s::uuid")},
    {"jklg_staff_customer_erase", JKLG_CALL_SQL("staff_customer_erase",
     "p_staff => %s, p_id => %s::uuid, p_placeholder => %s")},
    {NULL, NULL}
};

static const jklg_outcome_map_t erase_outcomes[] = {
    {"conflict", HTTP_CONFLICT, "conflict",
     "The personal data cannot be erased while money is in flight: a "
     "booking whose travel has not ended, or a pending refund."},
    {NULL, 0, NULL, NULL}
};

static const jklg_outcome_map_t resend_outcomes[] = {
    {"conflict", HTTP_CONFLICT, "conflict",
     "This customer's email address is verified already, or erased."},
    {NULL, 0, NULL, NULL}
};

/* A fresh placeholder email, or NULL when the system has no randomness
 * (answered). */
static const char *placeholder(jklg_req_t *req)
{
    unsigned char rnd[JKLG_ERASED_RANDOM_LEN];

    if (apr_generate_random_bytes(rnd, sizeof(rnd)) != APR_SUCCESS) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, req->r, JKLGNO(02200)
                      "no random bytes for an erased customer's placeholder");
        jklg_reply_error(req, HTTP_INTERNAL_SERVER_ERROR, "internal",
                         "An internal error occurred.", NULL);
        return NULL;
    }
    return jklg_erased_email(req->r->pool, rnd);
}

/* ------------------------------------------------------------- customer */

int jklg_me_export(jklg_req_t *req)
{
    const char *cap = EXPORT_CAP;
    jklg_result_t res;

    if (!jklg_call(req, "jklg_me_export", 1, &cap, &res)) {
        return OK;
    }
    if (!strcmp(res.outcome, "ok")) {
        apr_table_setn(req->r->headers_out, "Content-Disposition",
                       EXPORT_FILE);
    }
    return jklg_finish(req, &res, NULL);
}

/* The password asked again, checked in one hash slot taken before the
 * connection (as the password change does): 1 when it is right, else 0
 * after answering (401 invalid_credentials, or the lookup's failure). */
static int password_confirmed(jklg_req_t *req, const char *password)
{
    jklg_password_result_t match = JKLG_PASSWORD_MISMATCH;
    jklg_result_t res;
    int answered = 0;

    jklg_auth_slot_take(req);
    if (!jklg_call(req, "jklg_me_password_lookup", 0, NULL, &res)) {
        answered = 1;
    }
    else if (strcmp(res.outcome, "ok")) {
        jklg_finish(req, &res, NULL);
        answered = 1;
    }
    else {
        match = jklg_auth_verify(req, jklg_json_str(jklg_result_json(req,
                                 &res), "password_hash"), password);
    }
    jklg_auth_slot_give(req);
    if (answered) {
        return 0;
    }
    if (match == JKLG_PASSWORD_MISMATCH) {
        jklg_reply_error(req, HTTP_UNAUTHORIZED, "invalid_credentials",
                         "The password is not correct.", NULL);
        return 0;
    }
    return 1;
}

int jklg_me_erase(jklg_req_t *req)
{
    static const char *const allowed[] = {"password", NULL};
    const char *password, *email;
    jklg_check_t c;

    jklg_check_init(&c, req->r->pool, req->body, allowed);
    password = jklg_check_raw(&c, "password", JKLG_REQUIRED);
    if (!jklg_check_ok(&c)) {
        return jklg_reply_invalid(req, c.fields);
    }
    /* Guessing the password here counts like guessing it at a change. */
    if (jklg_rate_limited(req, "password_change", req->customer_id)
        || !password_confirmed(req, password)
        || !(email = placeholder(req))) {
        return OK;
    }
    return jklg_call_finish(req, "jklg_me_erase", 1, &email, erase_outcomes);
}

/* ---------------------------------------------------------------- staff */

/* The {id} of the route, or NULL after answering 404 for a non-id. */
static const char *staff_id(jklg_req_t *req)
{
    const char *id = apr_table_get(req->params, "id");

    if (!jklg_is_uuid(id)) {
        jklg_reply_not_found(req);
        return NULL;
    }
    return id;
}

/* The value of ?name= as a form decodes it ("+" is a space, which
 * ap_args_to_table leaves as it is); NULL when absent. *bad when it holds
 * a broken escape or an escaped NUL. */
static char *query_value(request_rec *r, const char *name, int *bad)
{
    apr_size_t len = strlen(name);
    char *args, *pair, *state, *value;

    *bad = 0;
    if (!r->args) {
        return NULL;
    }
    args = apr_pstrdup(r->pool, r->args);
    for (pair = apr_strtok(args, "&", &state); pair;
         pair = apr_strtok(NULL, "&", &state)) {
        if (strncmp(pair, name, len) || pair[len] != '=') {
            continue;
        }
        value = pair + len + 1;
        if (ap_strcasestr(value, "%00") || ap_unescape_urlencoded(value)) {
            *bad = 1;
            return NULL;
        }
        return value;
    }
    return NULL;
}

int jklg_staff_customers(jklg_req_t *req)
{
    int bad;
    const char *q = query_value(req->r, "q", &bad);
    const char *pattern = NULL, *why = "must be valid UTF-8 text";
    jklg_page_t page;

    if (bad || (q && !(pattern = jklg_search_pattern(req->r->pool, q,
                                                      &why)))) {
        return jklg_reply_invalid(req, jklg_json_own(req->r->pool,
                                  json_pack("{s:s}", "q", why)));
    }
    if (!jklg_req_page(req, &page)) {
        return OK;
    }
    {
        const char *args[] = {req->r->user, pattern, page.time, page.id,
                              apr_ltoa(req->r->pool, page.limit)};
        return jklg_call_finish(req, "jklg_staff_customers", 5, args, NULL);
    }
}

int jklg_staff_customer(jklg_req_t *req)
{
    const char *id = staff_id(req);

    if (!id) {
        return OK;
    }
    {
        const char *args[] = {req->r->user, id};
        return jklg_call_finish(req, "jklg_staff_customer", 2, args, NULL);
    }
}

int jklg_staff_customer_resend(jklg_req_t *req)
{
    const char *id = staff_id(req);
    const char *token, *hash;

    if (!id) {
        return OK;
    }
    token = jklg_token_new(req->r->pool);
    if (jklg_token_hash(req->r->pool, token, &hash) != APR_SUCCESS) {
        return jklg_reply_error(req, HTTP_INTERNAL_SERVER_ERROR, "internal",
                                "An internal error occurred.", NULL);
    }
    {
        const char *args[] = {req->r->user, id, hash,
                              apr_pstrcat(req->r->pool,
                                          req->conf->public_url,
                                          "/verify-email?token=", token,
                                          NULL)};
        return jklg_call_finish(req, "jklg_staff_customer_resend", 4, args,
                                resend_outcomes);
    }
}

int jklg_staff_customer_revoke(jklg_req_t *req)
{
    const char *id = staff_id(req);

    if (!id) {
        return OK;
    }
    {
        const char *args[] = {req->r->user, id};
        return jklg_call_finish(req, "jklg_staff_customer_revoke", 2, args,
                                NULL);
    }
}

/* Clears the counters of the customer's login limits for the current
 * window: login_email (its email) and "login" (each recent address with
 * its email). login_ip counts an address for everyone behind it, not this
 * customer, and stays. */
static void clear_login_limits(jklg_req_t *req, const json_t *found)
{
    const char *email = jklg_json_str(found, "email");
    const json_t *ips = json_object_get(found, "ips");
    apr_status_t rv = APR_SUCCESS, one;
    size_t i;
    json_t *ip;

    if (!email) {
        return;
    }
    rv = jklg_ratelimit_reset(req->r, "login_email", email);
    json_array_foreach(ips, i, ip) {
        if (json_is_string(ip)) {
            one = jklg_ratelimit_reset(req->r, "login", apr_pstrcat(
                      req->r->pool, jklg_ratelimit_key_addr(req->r->pool,
                      json_string_value(ip)), " ", email, NULL));
            rv = rv != APR_SUCCESS ? rv : one;
        }
    }
    if (rv != APR_SUCCESS) {
        ap_log_rerror(APLOG_MARK, APLOG_WARNING, rv, req->r, JKLGNO(02201)
                      "unlock: a login limit of a customer could not be "
                      "cleared: the rate limit cache failed");
    }
}

int jklg_staff_customer_unlock(jklg_req_t *req)
{
    const char *id = staff_id(req);
    jklg_result_t res;

    if (!id) {
        return OK;
    }
    {
        const char *args[] = {req->r->user, id};
        if (!jklg_call(req, "jklg_staff_customer_unlock", 2, args, &res)) {
            return OK;
        }
    }
    if (strcmp(res.outcome, "ok")) {
        return jklg_finish(req, &res, NULL);
    }
    clear_login_limits(req, jklg_result_json(req, &res));
    return jklg_reply(req, HTTP_NO_CONTENT, NULL);
}

int jklg_staff_customer_erase(jklg_req_t *req)
{
    const char *id = staff_id(req), *email;

    if (!id || !(email = placeholder(req))) {
        return OK;
    }
    {
        const char *args[] = {req->r->user, id, email};
        return jklg_call_finish(req, "jklg_staff_customer_erase", 3, args,
                                erase_outcomes);
    }
}
