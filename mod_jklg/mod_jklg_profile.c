/* Authenticated customer endpoints: /me, password change, sessions,
 * addresses, preferences. Each is one statement that checks the session
 * and does the work; a foreign or unknown id is simply not found. */
#include <string.h>
#include <apr_strings.h>
#include <http_protocol.h>
#include "jklg_json.h"
#include "jklg_validate.h"
#include "mod_jklg.h"

#define ADDRESS_LIMIT "50"

/* Authenticates, runs label, answers its body (second column) with
 * status, or 404 when the body is NULL. */
static int answer(jklg_req_t *req, const char *label, int nargs,
                  const char *const *args, int status)
{
    jklg_rows_t rows;
    const char *body;

    if (!jklg_req_auth(req)
        || !jklg_auth_query(req, label, nargs, args, &rows)) {
        return OK;
    }
    body = jklg_auth_value(&rows, 1);
    if (!body) {
        return jklg_reply_not_found(req);
    }
    return status == HTTP_NO_CONTENT ? jklg_reply(req, status, NULL)
                                     : jklg_reply_text(req, status, body);
}

/* The {id} of the route, or NULL after answering 404 for a non-id. */
static const char *path_id(jklg_req_t *req)
{
    const char *id = apr_table_get(req->params, "id");

    if (!jklg_is_uuid(id)) {
        if (jklg_req_auth(req)) {   /* strangers get 401, not 404 */
            jklg_reply_not_found(req);
        }
        return NULL;
    }
    return id;
}

int jklg_me_get(jklg_req_t *req)
{
    return answer(req, "jklg_c_me", 0, NULL, HTTP_OK);
}

int jklg_me_patch(jklg_req_t *req)
{
    static const char *const allowed[] = {"first_name", "last_name", "phone",
                                          NULL};
    jklg_check_t c;
    const char *first, *last, *phone;

    jklg_check_init(&c, req->r->pool, req->body, allowed);
    first = jklg_check_text(&c, "first_name", 0, 1, 100);
    last = jklg_check_text(&c, "last_name", 0, 1, 100);
    phone = jklg_check_phone(&c, "phone", JKLG_NULLABLE);
    if (!jklg_req_auth(req)) {
        return OK;
    }
    if (!jklg_check_ok(&c)) {
        return jklg_reply_invalid(req, c.fields);
    }
    {
        const char *args[] = {first, last,
                              jklg_check_present(&c, "phone") ? "t" : "f",
                              phone};
        return answer(req, "jklg_c_me_patch", 4, args, HTTP_OK);
    }
}

/* The current password's check and the new hash, in one hash slot taken
 * before the connection (jklg_auth_slot_take): *hash, or NULL after
 * answering. */
static const char *password_change_hash(jklg_req_t *req, jklg_check_t *c,
                                        const char *current,
                                        const char *wanted)
{
    const char *hash = NULL, *why;
    jklg_rows_t rows;

    if (!jklg_auth_query(req, "jklg_c_password_lookup", 0, NULL, &rows)) {
        return NULL;
    }
    if (jklg_auth_verify(req, jklg_auth_value(&rows, 1), current)
        == JKLG_PASSWORD_MISMATCH) {
        jklg_check_fail(c, "current_password", "is not correct");
    }
    else if ((why = jklg_password_policy(req->r->pool, wanted,
                                         jklg_auth_value(&rows, 2),
                                         jklg_conf_password_min(req->conf)))) {
        jklg_check_fail(c, "new_password", why);
    }
    if (!jklg_check_ok(c)) {
        jklg_reply_invalid(req, c->fields);
        return NULL;
    }
    if (jklg_auth_hash(req, wanted, &hash) != APR_SUCCESS) {
        jklg_reply_busy(req);
        return NULL;
    }
    return hash;
}

int jklg_me_password(jklg_req_t *req)
{
    static const char *const allowed[] = {"current_password", "new_password",
                                          NULL};
    jklg_check_t c;
    jklg_rows_t rows;
    const char *current, *wanted, *hash;

    jklg_check_init(&c, req->r->pool, req->body, allowed);
    current = jklg_check_raw(&c, "current_password", JKLG_REQUIRED);
    wanted = jklg_check_raw(&c, "new_password", JKLG_REQUIRED);
    if (!jklg_req_auth(req)) {
        return OK;
    }
    if (!jklg_check_ok(&c)) {
        return jklg_reply_invalid(req, c.fields);
    }
    if (jklg_rate_limited(req, "password_change", req->customer_id)) {
        return OK;
    }
    jklg_auth_slot_take(req);
    hash = password_change_hash(req, &c, current, wanted);
    jklg_auth_slot_give(req);
    if (!hash) {
        return OK;
    }
    {
        const char *args[] = {hash, req->session_id, apr_pstrcat(
                              req->r->pool, req->conf->public_url,
                              "/forgot-password", NULL)};
        if (!jklg_auth_query(req, "jklg_c_password_set", 3, args, &rows)) {
            return OK;
        }
    }
    if (jklg_auth_value(&rows, 1)) {
        jklg_mailer_push(req->r->server, jklg_auth_value(&rows, 1));
    }
    return jklg_reply(req, HTTP_OK, jklg_json_own(req->r->pool, json_pack(
                      "{s:s}", "message", "Your password has been changed; "
                      "your other sessions were signed out.")));
}

int jklg_me_sessions(jklg_req_t *req)
{
    /* The argument is read after authentication has set it. */
    return answer(req, "jklg_c_sessions", 1, &req->session_id, HTTP_OK);
}

int jklg_me_session_delete(jklg_req_t *req)
{
    const char *id = path_id(req);

    return id ? answer(req, "jklg_c_session_delete", 1, &id, HTTP_NO_CONTENT)
              : OK;
}

int jklg_me_addresses(jklg_req_t *req)
{
    return answer(req, "jklg_c_addresses", 0, NULL, HTTP_OK);
}

/* Copies a checked value, or an explicit null the client sent. */
static void put(json_t *out, const json_t *body, const char *key,
                const char *value)
{
    if (value) {
        json_object_set_new(out, key, json_string(value));
    }
    else if (json_is_null(json_object_get(body, key))) {
        json_object_set_new(out, key, json_null());
    }
}

/* Validated address members as a JSON object for jklg_address_save. */
static json_t *address_fields(jklg_check_t *c, int creating)
{
    static const char *const allowed[] = {"label", "line1", "line2", "city",
                                          "region", "postal_code", "country",
                                          "is_default", NULL};
    unsigned req = creating ? JKLG_REQUIRED : 0;
    json_t *out = jklg_json_own(c->p, json_object());
    int is_default;

    jklg_check_init(c, c->p, c->body, allowed);
    put(out, c->body, "label", jklg_check_text(c, "label", 0, 0, 50));
    put(out, c->body, "line1", jklg_check_text(c, "line1", req, 1, 200));
    put(out, c->body, "line2",
        jklg_check_text(c, "line2", JKLG_NULLABLE, 1, 200));
    put(out, c->body, "city", jklg_check_text(c, "city", req, 1, 100));
    put(out, c->body, "region",
        jklg_check_text(c, "region", JKLG_NULLABLE, 1, 100));
    put(out, c->body, "postal_code",
        jklg_check_text(c, "postal_code", req, 1, 20));
    put(out, c->body, "country", jklg_check_country(c, "country", req));
    if (jklg_check_bool(c, "is_default", 0, &is_default)) {
        json_object_set_new(out, "is_default", json_boolean(is_default));
    }
    return out;
}

static int save_address(jklg_req_t *req, const char *id, int status)
{
    jklg_check_t c;
    json_t *fields, *result;
    jklg_rows_t rows;

    c.p = req->r->pool;
    c.body = req->body;
    fields = address_fields(&c, id == NULL);
    if (!jklg_req_auth(req)) {
        return OK;
    }
    if (!jklg_check_ok(&c)) {
        return jklg_reply_invalid(req, c.fields);
    }
    {
        const char *args[] = {id, jklg_json_dump(req->r->pool, fields),
                              ADDRESS_LIMIT};
        if (!jklg_auth_query(req, "jklg_c_address_save", 3, args, &rows)) {
            return OK;
        }
    }
    result = jklg_json_own(req->r->pool,
                           json_loads(jklg_auth_value(&rows, 1)
                                      ? jklg_auth_value(&rows, 1) : "null",
                                      0, NULL));
    if (!json_is_object(result)) {
        return jklg_reply_not_found(req);
    }
    if (json_object_get(result, "limit")) {
        return jklg_reply_error(req, HTTP_CONFLICT, "conflict",
                                "You cannot store more than " ADDRESS_LIMIT
                                " addresses.", NULL);
    }
    return jklg_reply(req, status, result);
}

int jklg_me_address_create(jklg_req_t *req)
{
    return save_address(req, NULL, HTTP_CREATED);
}

int jklg_me_address_patch(jklg_req_t *req)
{
    const char *id = path_id(req);

    return id ? save_address(req, id, HTTP_OK) : OK;
}

int jklg_me_address_delete(jklg_req_t *req)
{
    const char *id = path_id(req);

    return id ? answer(req, "jklg_c_address_delete", 1, &id, HTTP_NO_CONTENT)
              : OK;
}

int jklg_me_preferences(jklg_req_t *req)
{
    return answer(req, "jklg_c_preferences", 0, NULL, HTTP_OK);
}

/* PUT replaces the whole resource: an absent member takes its default. */
int jklg_me_preferences_put(jklg_req_t *req)
{
    static const char *const allowed[] = {"language", "currency",
                                          "marketing_emails", "newsletter",
                                          NULL};
    jklg_check_t c;
    const char *language, *currency;
    int marketing = 0, newsletter = 0;

    jklg_check_init(&c, req->r->pool, req->body, allowed);
    language = jklg_check_language(&c, "language", 0);
    currency = jklg_check_currency_code(&c, "currency", 0);
    jklg_check_bool(&c, "marketing_emails", 0, &marketing);
    jklg_check_bool(&c, "newsletter", 0, &newsletter);
    if (!jklg_req_auth(req)) {
        return OK;
    }
    if (!jklg_check_ok(&c)) {
        return jklg_reply_invalid(req, c.fields);
    }
    {
        const char *args[] = {language ? language : "en",
                              currency ? currency : "eur",
                              marketing ? "t" : "f", newsletter ? "t" : "f"};
        return answer(req, "jklg_c_preferences_put", 4, args, HTTP_OK);
    }
}
