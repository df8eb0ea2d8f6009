/* Customer authentication: the bearer token's signature is checked here,
 * in C; its session is checked by the database in the same call that does
 * the endpoint's work (JKLG_AUTHED, mod_jklg_call.c). Also the per-process
 * gate that bounds concurrent password hashes, and the JWKS. */
#include <string.h>
#include <apr_strings.h>
#include <http_protocol.h>
#include "jklg_json.h"
#include "jklg_jwt.h"
#include "jklg_validate.h"
#include "mod_jklg.h"

static jklg_gate_t *hash_gate;

/* Verified bearer tokens, per process (jklg_jwt_verify_cached): a
 * customer's requests repeat one token. About 200 bytes a slot. */
#define JWT_CACHE_SLOTS 4096
static jklg_jwt_cache_t *jwt_cache;

/* The gate, with the queue in front of it counted for /metrics. */
static void enter_hash_gate(void)
{
    jklg_count_hash_waiting(+1);
    jklg_gate_enter(hash_gate);
    jklg_count_hash_waiting(-1);
}

void jklg_auth_child_init(apr_pool_t *pchild, server_rec *s)
{
    int limit = 0;

    for (server_rec *sp = s; sp; sp = sp->next) {
        jklg_server_conf_t *c = jklg_conf(sp);
        if (c->outbox && jklg_conf_pwhash_concurrency(c) > limit) {
            limit = jklg_conf_pwhash_concurrency(c);
        }
    }
    if (jklg_jwt_cache_create(&jwt_cache, pchild, JWT_CACHE_SLOTS)
        != APR_SUCCESS) {
        jwt_cache = NULL;   /* every token is verified in full */
    }
    if (limit && jklg_gate_create(&hash_gate, limit, pchild) != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_CRIT, 0, s, JKLGNO(00501)
                     "cannot create the password hash gate");
        hash_gate = NULL;
    }
}

void jklg_auth_slot_take(jklg_req_t *req)
{
    if (req->hash_slots++ == 0) {
        enter_hash_gate();
    }
}

void jklg_auth_slot_give(jklg_req_t *req)
{
    if (--req->hash_slots == 0) {
        jklg_gate_leave(hash_gate);
    }
}

apr_status_t jklg_auth_hash(jklg_req_t *req, const char *password,
                            const char **hash)
{
    apr_status_t rv;

    jklg_auth_slot_take(req);
    rv = jklg_password_hash(req->r->pool, password,
                            jklg_conf_pwhash_level(req->conf), hash);
    jklg_auth_slot_give(req);
    return rv;
}

jklg_password_result_t jklg_auth_verify(jklg_req_t *req, const char *hash,
                                        const char *password)
{
    jklg_pwhash_level_t level = jklg_conf_pwhash_level(req->conf);
    jklg_password_result_t result = JKLG_PASSWORD_MISMATCH;

    jklg_auth_slot_take(req);
    if (hash) {
        result = jklg_password_verify(hash, password, level);
    }
    else {
        jklg_password_dummy_verify(password, level);
    }
    jklg_auth_slot_give(req);
    return result;
}

int jklg_reply_unauthorized(jklg_req_t *req)
{
    return jklg_reply_error(req, HTTP_UNAUTHORIZED, "unauthorized",
                            "A valid access token is required.", NULL);
}

static const char *bearer_token(request_rec *r)
{
    const char *h = apr_table_get(r->headers_in, "Authorization");

    if (!h || strncasecmp(h, "Bearer ", 7)) {
        return NULL;
    }
    h += 7;
    while (*h == ' ') {
        h++;
    }
    return *h ? h : NULL;
}

int jklg_req_auth(jklg_req_t *req)
{
    request_rec *r = req->r;
    jklg_server_conf_t *c = req->conf;
    const char *token = bearer_token(r);
    jklg_jwt_claims_t claims;
    const char *why = "no bearer token";

    if (req->customer_id) {
        return 1;   /* already verified for this request */
    }
    apr_table_setn(r->err_headers_out, "Cache-Control", "no-store");
    if (token && jklg_jwt_verify_cached(jwt_cache, r->pool, token,
                                 (const jklg_jwt_key_t *)c->jwt_keys->elts,
                                 c->jwt_keys->nelts, c->public_url,
                                 apr_time_sec(r->request_time), &claims,
                                 &why) == APR_SUCCESS) {
        if (jklg_is_uuid(claims.sub) && jklg_is_uuid(claims.sid)) {
            req->customer_id = claims.sub;
            req->session_id = claims.sid;
            return 1;
        }
        why = "sub or sid is not an id";
    }
    ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, JKLGNO(00502)
                  "bearer token refused: %s", why);
    jklg_reply_unauthorized(req);
    return 0;
}

/* GET /api/.well-known/jwks.json: the public half of every Ed25519 key,
 * so that the agency's other services verify customer tokens without a
 * shared secret. HS256 keys are secrets and never appear. Public and
 * identical for everyone, so caches may keep it a while; a new key is
 * announced by configuring it (as a later, verify-only key) at least this
 * long before it signs. */
int jklg_jwks_get(jklg_req_t *req)
{
    const apr_array_header_t *keys = req->conf->jwt_keys;
    json_t *list = json_array();
    json_t *jwk;

    for (int i = 0; keys && i < keys->nelts; i++) {
        jwk = jklg_jwt_public_jwk(req->r->pool,
                                  &APR_ARRAY_IDX(keys, i, jklg_jwt_key_t));
        if (jwk) {
            json_array_append(list, jwk);
        }
    }
    apr_table_setn(req->r->headers_out, "Cache-Control",
                   "public, max-age=" APR_STRINGIFY(JKLG_JWKS_MAX_AGE));
    return jklg_reply(req, HTTP_OK, jklg_json_own(req->r->pool,
                      json_pack("{s:o}", "keys", list)));
}
