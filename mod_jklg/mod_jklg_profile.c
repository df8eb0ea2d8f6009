/* Authenticated customer endpoints: /me, password change, sessions,
 * addresses, preferences. Each is one call of a jklg.* function
 * (sql/009_api_shape.sql) that checks the session and does the work; a
 * foreign or unknown id is simply not found. The routes carry JKLG_AUTH,
 * so the token is verified before a handler runs. */
#include <string.h>
#include <apr_strings.h>
#include <http_protocol.h>
#include "jklg_json.h"
#include "jklg_validate.h"
#include "mod_jklg.h"

#define ADDRESS_LIMIT "50"

const jklg_statement_t jklg_profile_statements[] = {
    {"jklg_me_get", JKLG_CALL_SQL("me_get", JKLG_AUTHED)},
    {"jklg_me_patch", JKLG_CALL_SQL("me_patch", JKLG_AUTHED
     ", p_fields => %s::jsonb")},
    {"jklg_me_password_lookup", JKLG_CALL_SQL("me_password_lookup",
     JKLG_AUTHED)},
    {"jklg_me_password_set", JKLG_CALL_SQL("me_password_set", JKLG_AUTHED
     ", p_hash => %s, p_reset_url => %s, p_ip => %s::inet, "
     "p_user_agent => %s")},
    {"jklg_me_sessions", JKLG_CALL_SQL("me_sessions", JKLG_AUTHED)},
    {"jklg_me_session_delete", JKLG_CALL_SQL("me_session_delete",
     JKLG_AUTHED ", p_id => %s::uuid, p_ip => %s::inet, "
     "p_user_agent => %s")},
    {"jklg_logout", JKLG_CALL_SQL("logout", JKLG_AUTHED)},
    {"jklg_me_addresses", JKLG_CALL_SQL("me_addresses", JKLG_AUTHED)},
    {"jklg_me_address_save", JKLG_CALL_SQL("me_address_save", JKLG_AUTHED
     ", p_id => %s::uuid, p_fields => %s::jsonb, p_limit => %s::int")},
    {"jklg_me_address_delete", JKLG_CALL_SQL("me_address_delete",
     JKLG_AUTHED ", p_id => %s::uuid")},
    {"jklg_me_preferences", JKLG_CALL_SQL("me_preferences", JKLG_AUTHED)},
    {"jklg_me_preferences_put", JKLG_CALL_SQL("me_preferences_put",
     JKLG_AUTHED ", p_language => %s, p_currency => %s, "
     "p_marketing_emails => %s::boolean, p_newsletter => %s::boolean")},
    {NULL, NULL}
};

static const jklg_outcome_map_t profile_outcomes[] = {
    {"address_limit", HTTP_CONFLICT, "conflict",
     "You cannot store more than " ADDRESS_LIMIT " addresses."},
    {NULL, 0, NULL, NULL}
};

/* The {id} of the route, or NULL after answering 404 for a non-id. */
static const char *path_id(jklg_req_t *req)
{
    const char *id = apr_table_get(req->params, "id");

    if (!jklg_is_uuid(id)) {
        jklg_reply_not_found(req);
        return NULL;
    }
    return id;
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

int jklg_me_get(jklg_req_t *req)
{
    return jklg_call_finish(req, "jklg_me_get", 0, NULL, profile_outcomes);
}

int jklg_me_patch(jklg_req_t *req)
{
    static const char *const allowed[] = {"first_name", "last_name", "phone",
                                          NULL};
    json_t *fields = jklg_json_own(req->r->pool, json_object());
    const char *args[1];
    jklg_check_t c;

    jklg_check_init(&c, req->r->pool, req->body, allowed);
    put(fields, req->body, "first_name",
        jklg_check_text(&c, "first_name", 0, 1, 100));
    put(fields, req->body, "last_name",
        jklg_check_text(&c, "last_name", 0, 1, 100));
    put(fields, req->body, "phone",
        jklg_check_phone(&c, "phone", JKLG_NULLABLE));
    if (!jklg_check_ok(&c)) {
        return jklg_reply_invalid(req, c.fields);
    }
    args[0] = jklg_json_dump(req->r->pool, fields);
    return jklg_call_finish(req, "jklg_me_patch", 1, args, profile_outcomes);
}

/* The current password's check and the new hash, in one hash slot taken
 * before the connection (jklg_auth_slot_take): *hash, or NULL after
 * answering. */
static const char *password_change_hash(jklg_req_t *req, jklg_check_t *c,
                                        const char *current,
                                        const char *wanted)
{
    const char *hash = NULL, *why;
    jklg_result_t res;
    json_t *found;

    if (!jklg_call(req, "jklg_me_password_lookup", 0, NULL, &res)) {
        return NULL;
    }
    if (strcmp(res.outcome, "ok")) {
        jklg_finish(req, &res, profile_outcomes);
        return NULL;
    }
    found = jklg_result_json(req, &res);
    if (jklg_auth_verify(req, jklg_json_str(found, "password_hash"), current)
        == JKLG_PASSWORD_MISMATCH) {
        jklg_check_fail(c, "current_password", "is not correct");
    }
    else if ((why = jklg_password_policy(req->r->pool, wanted,
                                         jklg_json_str(found, "email"),
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
    const char *current, *wanted, *hash;

    jklg_check_init(&c, req->r->pool, req->body, allowed);
    current = jklg_check_raw(&c, "current_password", JKLG_REQUIRED);
    wanted = jklg_check_raw(&c, "new_password", JKLG_REQUIRED);
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
        const char *args[] = {hash, apr_pstrcat(req->r->pool,
                              req->conf->public_url, "/forgot-password",
                              NULL), req->r->useragent_ip,
                              jklg_req_user_agent(req)};
        return jklg_call_finish(req, "jklg_me_password_set", 4, args,
                                profile_outcomes);
    }
}

int jklg_me_sessions(jklg_req_t *req)
{
    return jklg_call_finish(req, "jklg_me_sessions", 0, NULL,
                            profile_outcomes);
}

int jklg_me_session_delete(jklg_req_t *req)
{
    const char *id = path_id(req);
    const char *args[3];

    if (!id) {
        return OK;
    }
    args[0] = id;
    args[1] = req->r->useragent_ip;
    args[2] = jklg_req_user_agent(req);
    return jklg_call_finish(req, "jklg_me_session_delete", 3, args,
                            profile_outcomes);
}

int jklg_customer_logout(jklg_req_t *req)
{
    return jklg_call_finish(req, "jklg_logout", 0, NULL, profile_outcomes);
}

int jklg_me_addresses(jklg_req_t *req)
{
    return jklg_call_finish(req, "jklg_me_addresses", 0, NULL,
                            profile_outcomes);
}

/* Validated address members as a JSON object for jklg.me_address_save. */
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

static int save_address(jklg_req_t *req, const char *id)
{
    jklg_check_t c;
    json_t *fields;

    c.p = req->r->pool;
    c.body = req->body;
    fields = address_fields(&c, id == NULL);
    if (!jklg_check_ok(&c)) {
        return jklg_reply_invalid(req, c.fields);
    }
    {
        const char *args[] = {id, jklg_json_dump(req->r->pool, fields),
                              ADDRESS_LIMIT};
        return jklg_call_finish(req, "jklg_me_address_save", 3, args,
                                profile_outcomes);
    }
}

int jklg_me_address_create(jklg_req_t *req)
{
    return save_address(req, NULL);
}

int jklg_me_address_patch(jklg_req_t *req)
{
    const char *id = path_id(req);

    return id ? save_address(req, id) : OK;
}

int jklg_me_address_delete(jklg_req_t *req)
{
    const char *id = path_id(req);

    return id ? jklg_call_finish(req, "jklg_me_address_delete", 1, &id,
                                 profile_outcomes)
              : OK;
}

int jklg_me_preferences(jklg_req_t *req)
{
    return jklg_call_finish(req, "jklg_me_preferences", 0, NULL,
                            profile_outcomes);
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
    if (!jklg_check_ok(&c)) {
        return jklg_reply_invalid(req, c.fields);
    }
    {
        const char *args[] = {language ? language : "en",
                              currency ? currency : "eur",
                              marketing ? "t" : "f", newsletter ? "t" : "f"};
        return jklg_call_finish(req, "jklg_me_preferences_put", 4, args,
                                profile_outcomes);
    }
}
