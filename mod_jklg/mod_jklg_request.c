/* The content handler: routing, the staff gate, CORS, reading JSON bodies
 * within JKLGMaxBody, and writing JSON and error envelopes. */
#include <string.h>
#include <apr_strings.h>
#include <httpd.h>
#include <http_protocol.h>
#include <http_request.h>
#include <apr_dbd.h>
#include <mod_dbd.h>
#include <util_script.h>
#include "jklg_json.h"
#include "jklg_util.h"
#include "jklg_validate.h"
#include "mod_jklg.h"

#define ADMIN_PREFIX "/api/admin/"
#define RETRY_AFTER_DB "5"
#define PREFLIGHT_MAX_AGE "600"
#define RAW_BODY_MIN (1024 * 1024)
#define CHUNKED_FIRST 8192

static jklg_router_t *router;

/* Keyset pagination of lists (?limit=, ?cursor=). */
#define LIMIT_DEFAULT 20
#define LIMIT_MAX 100

int jklg_req_page(jklg_req_t *req, jklg_page_t *page)
{
    apr_table_t *args = jklg_req_args(req);
    const char *limit = apr_table_get(args, "limit");
    const char *cursor = apr_table_get(args, "cursor");
    json_t *fields = jklg_json_own(req->r->pool, json_object());

    page->limit = LIMIT_DEFAULT;
    page->time = page->id = NULL;
    if (limit && jklg_parse_int(limit, 1, LIMIT_MAX, &page->limit)
                 != APR_SUCCESS) {
        json_object_set_new(fields, "limit", json_string(
                            "must be a number from 1 to 100"));
    }
    if (cursor && !jklg_cursor_parse(req->r->pool, cursor, &page->time,
                                     &page->id)) {
        json_object_set_new(fields, "cursor", json_string(
                            "is not a cursor from this list"));
    }
    if (json_object_size(fields)) {
        jklg_reply_invalid(req, fields);
        return 0;
    }
    return 1;
}


void jklg_routes_init(apr_pool_t *p)
{
    router = jklg_router_create(p);
    for (const jklg_endpoint_t *e = jklg_endpoints; e->pattern; e++) {
        jklg_router_add(router, e->method, e->pattern, e);
    }
}

int jklg_reply(jklg_req_t *req, int status, json_t *body)
{
    request_rec *r = req->r;

    r->status = status;
    if (status == HTTP_NO_CONTENT || !body) {
        return OK;
    }
    ap_set_content_type(r, "application/json; charset=utf-8");
    ap_rputs(jklg_json_dump(r->pool, body), r);
    return OK;
}

int jklg_reply_text(jklg_req_t *req, int status, const char *json)
{
    req->r->status = status;
    ap_set_content_type(req->r, "application/json; charset=utf-8");
    ap_rputs(json, req->r);
    return OK;
}

int jklg_reply_not_found(jklg_req_t *req)
{
    return jklg_reply_error(req, HTTP_NOT_FOUND, "not_found",
                            "No such resource.", NULL);
}

int jklg_reply_invalid(jklg_req_t *req, json_t *fields)
{
    return jklg_reply_error(req, HTTP_UNPROCESSABLE_ENTITY,
                            "validation_failed", "Some fields are invalid.",
                            fields);
}

int jklg_rate_limited(jklg_req_t *req, const char *rule, const char *key)
{
    long wait = jklg_ratelimit_hit(req->r, rule, key);

    if (wait <= 0) {
        return 0;
    }
    apr_table_setn(req->r->err_headers_out, "Retry-After",
                   apr_ltoa(req->r->pool, wait));
    jklg_reply_error(req, HTTP_TOO_MANY_REQUESTS, "rate_limited",
                     "Too many requests, please retry later.", NULL);
    return 1;
}

apr_table_t *jklg_req_args(jklg_req_t *req)
{
    apr_table_t *args = NULL;

    ap_args_to_table(req->r, &args);
    return args ? args : apr_table_make(req->r->pool, 1);
}

int jklg_reply_error(jklg_req_t *req, int status, const char *code,
                     const char *message, json_t *fields)
{
    if (status == HTTP_UNAUTHORIZED) {
        apr_table_setn(req->r->err_headers_out, "WWW-Authenticate", "Bearer");
    }
    return jklg_reply(req, status,
                      jklg_json_error(req->r->pool, code, message, fields));
}

int jklg_reply_db_error(jklg_req_t *req, apr_status_t rv, const char *err)
{
    ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, req->r, JKLGNO(00101)
                  "database: %s", err);
    if (rv == APR_ECONNRESET || rv == APR_TIMEUP) {
        return jklg_reply_unavailable(req);
    }
    return jklg_reply_error(req, HTTP_INTERNAL_SERVER_ERROR, "internal",
                            "An internal error occurred.", NULL);
}

int jklg_req_db(jklg_req_t *req)
{
    ap_dbd_t *dbd;
    const char *err;
    apr_status_t rv;

    /* A request keeps its connection (ap_dbd_acquire) until it ends; its
     * second phase (after a gateway call, a password hash) must not queue
     * for the pool's turn behind threads that wait for that connection. */
    if (req->db.handle) {
        return 1;
    }
    rv = jklg_db_take(req->r->server, req->r, req->r->pool, &dbd, &req->db,
                      &err);
    if (rv != APR_SUCCESS) {
        jklg_count_db_acquire_failure();
        /* Failing fast is logged once, when it starts. */
        ap_log_rerror(APLOG_MARK, rv == APR_EAGAIN ? APLOG_DEBUG : APLOG_ERR,
                      0, req->r, JKLGNO(00102) "database: %s", err);
        return 0;
    }
    return 1;
}

int jklg_reply_unavailable(jklg_req_t *req)
{
    apr_table_setn(req->r->err_headers_out, "Retry-After", RETRY_AFTER_DB);
    return jklg_reply_error(req, HTTP_SERVICE_UNAVAILABLE, "unavailable",
                            "The service is temporarily unavailable, "
                            "please retry shortly.", NULL);
}

int jklg_reply_busy(jklg_req_t *req)
{
    apr_table_setn(req->r->err_headers_out, "Retry-After", RETRY_AFTER_DB);
    return jklg_reply_error(req, HTTP_SERVICE_UNAVAILABLE, "unavailable",
                            "The service is busy, please retry.", NULL);
}

static const char *allowed_origin(jklg_req_t *req)
{
    const char *origin = apr_table_get(req->r->headers_in, "Origin");
    apr_array_header_t *list = req->conf->allow_origins;

    if (!origin || !list) {
        return NULL;
    }
    for (int i = 0; i < list->nelts; i++) {
        if (!strcasecmp(origin, APR_ARRAY_IDX(list, i, const char *))) {
            return origin;
        }
    }
    return NULL;
}

static void add_cors_headers(jklg_req_t *req)
{
    const char *origin = allowed_origin(req);

    apr_table_mergen(req->r->err_headers_out, "Vary", "Origin");
    if (origin) {
        apr_table_setn(req->r->err_headers_out,
                       "Access-Control-Allow-Origin", origin);
        apr_table_setn(req->r->err_headers_out,
                       "Access-Control-Expose-Headers", "Retry-After");
    }
}

/* OPTIONS: a CORS preflight when it asks for a method, else plain Allow. */
static int answer_options(jklg_req_t *req, int allowed)
{
    request_rec *r = req->r;
    const char *methods = apr_pstrcat(r->pool,
                                      jklg_methods_string(r->pool, allowed),
                                      ", OPTIONS", NULL);

    apr_table_setn(r->err_headers_out, "Allow", methods);
    if (allowed_origin(req)
        && apr_table_get(r->headers_in, "Access-Control-Request-Method")) {
        apr_table_setn(r->err_headers_out, "Access-Control-Allow-Methods",
                       methods);
        apr_table_setn(r->err_headers_out, "Access-Control-Allow-Headers",
                       "Authorization, Content-Type, Idempotency-Key");
        apr_table_setn(r->err_headers_out, "Access-Control-Max-Age",
                       PREFLIGHT_MAX_AGE);
    }
    return jklg_reply(req, HTTP_NO_CONTENT, NULL);
}

static int is_json_content_type(const char *ct)
{
    apr_size_t n = sizeof("application/json") - 1;

    return ct && !strncasecmp(ct, "application/json", n)
           && (ct[n] == '\0' || ct[n] == ';' || ct[n] == ' ');
}

static int refuse_too_large(jklg_req_t *req, apr_off_t limit)
{
    /* The rest of the body stays unread: the connection cannot be reused. */
    req->r->connection->keepalive = AP_CONN_CLOSE;
    return jklg_reply_error(req, HTTP_REQUEST_ENTITY_TOO_LARGE,
                            "payload_too_large",
                            apr_psprintf(req->r->pool, "The request body is "
                                         "larger than %" APR_OFF_T_FMT
                                         " bytes.", limit), NULL);
}

/* The readers below return 1 to go on, or answer the client and return 0. */

/* Reads at most limit bytes; Content-Length is checked before reading and
 * chunked bodies while reading, so nothing over the limit is buffered. The
 * buffer fits Content-Length, or grows with a chunked body. */
static int read_body(jklg_req_t *req, apr_off_t limit, char **buf,
                     apr_size_t *len)
{
    request_rec *r = req->r;
    apr_size_t total = 0, size;
    int chunked;
    long n;
    int rc;

    *len = 0;
    rc = ap_setup_client_block(r, REQUEST_CHUNKED_DECHUNK);
    if (rc == HTTP_REQUEST_ENTITY_TOO_LARGE || r->remaining > limit) {
        refuse_too_large(req, limit);
        return 0;
    }
    if (rc != OK) {
        jklg_reply_error(req, HTTP_BAD_REQUEST, "invalid_json",
                         "The request body could not be read.", NULL);
        return 0;
    }
    chunked = r->remaining <= 0;
    size = chunked ? CHUNKED_FIRST : (apr_size_t)r->remaining;
    *buf = apr_palloc(r->pool, size + 1);
    if (ap_should_client_block(r)) {
        while ((n = ap_get_client_block(r, *buf + total, size - total)) > 0) {
            total += n;
            if ((apr_off_t)total > limit) {
                refuse_too_large(req, limit);
                return 0;
            }
            if (total == size && chunked) {
                char *bigger = apr_palloc(r->pool, 2 * size + 1);
                memcpy(bigger, *buf, total);
                *buf = bigger;
                size *= 2;
            }
        }
        if (n < 0) {
            jklg_reply_error(req, HTTP_BAD_REQUEST, "invalid_json",
                             "The request body could not be read.", NULL);
            return 0;
        }
    }
    (*buf)[total] = '\0';
    *len = total;
    return 1;
}

static int has_body(request_rec *r)
{
    const char *cl = apr_table_get(r->headers_in, "Content-Length");

    return apr_table_get(r->headers_in, "Transfer-Encoding")
           || (cl && strcmp(cl, "0"));
}

static int read_raw_body(jklg_req_t *req)
{
    char *buf = NULL;

    /* Gateways send events of their own size, pretty-printed; a small
     * JKLGMaxBody for clients must not make them bounce. */
    apr_off_t limit = jklg_conf_max_body(req->conf);

    if (!read_body(req, limit > RAW_BODY_MIN ? limit : RAW_BODY_MIN, &buf,
                   &req->raw_len)) {
        return 0;
    }
    req->raw = buf;
    return 1;
}

static int read_json_body(jklg_req_t *req)
{
    request_rec *r = req->r;
    const char *why;
    char *buf = NULL;
    apr_size_t len;

    if (has_body(r)
        && !is_json_content_type(apr_table_get(r->headers_in,
                                               "Content-Type"))) {
        r->connection->keepalive = AP_CONN_CLOSE;   /* body unread */
        jklg_reply_error(req, HTTP_UNSUPPORTED_MEDIA_TYPE,
                         "unsupported_media_type",
                         "Send the body as application/json.", NULL);
        return 0;
    }
    if (!read_body(req, jklg_conf_max_body(req->conf), &buf, &len)) {
        return 0;
    }
    req->body = jklg_json_parse_object(r->pool, buf, len, &why);
    if (!req->body) {
        jklg_reply_error(req, HTTP_BAD_REQUEST, "invalid_json", why, NULL);
        return 0;
    }
    return 1;
}

/* A body nobody asked for (a bodiless route, or an answer before any
 * reading: 404, 405, the staff gate) is not read, however long the client
 * says it is or takes to send it: the connection closes after the answer
 * instead, and ap_discard_request_body then returns at once. Set before
 * anything is written, so the answer says "Connection: close". */
static void refuse_unread_body(request_rec *r, const jklg_endpoint_t *e)
{
    if (has_body(r) && !(e && (e->flags & (JKLG_BODY | JKLG_RAW_BODY)))) {
        r->connection->keepalive = AP_CONN_CLOSE;
    }
}

static int refuse_staff(jklg_req_t *req)
{
    return jklg_reply_error(req, HTTP_FORBIDDEN, "forbidden",
                            "Staff authentication is required.", NULL);
}

/* The route's requirements (after its body is read, so that a malformed
 * body is a 400 for anyone): 1 when met, else 0 after answering. */
static int require(jklg_req_t *req, const jklg_endpoint_t *endpoint)
{
    if ((endpoint->flags & JKLG_STAFF) && !req->r->user) {
        refuse_staff(req);
        return 0;
    }
    return !(endpoint->flags & JKLG_AUTH) || jklg_req_auth(req);
}

static int dispatch(jklg_req_t *req)
{
    request_rec *r = req->r;
    int method = jklg_method_bit(r->method);
    const jklg_endpoint_t *endpoint;
    jklg_match_t m;
    int rc;

    jklg_router_match(router, method, r->uri, r->pool, &m);
    refuse_unread_body(r, m.target);
    /* A forgotten Require in <Location /api/admin> must fail closed. */
    if (!strncmp(r->uri, ADMIN_PREFIX, sizeof(ADMIN_PREFIX) - 1)) {
        apr_table_setn(r->err_headers_out, "Cache-Control", "no-store");
        if (!r->user && method != JKLG_OPTIONS) {
            refuse_unread_body(r, NULL);
            return refuse_staff(req);
        }
    }
    if (!m.allowed) {
        return jklg_reply_not_found(req);
    }
    if (method == JKLG_OPTIONS) {
        return answer_options(req, m.allowed);
    }
    if (!m.target) {
        apr_table_setn(r->err_headers_out, "Allow",
                       jklg_methods_string(r->pool, m.allowed));
        return jklg_reply_error(req, HTTP_METHOD_NOT_ALLOWED,
                                "method_not_allowed",
                                apr_psprintf(r->pool, "%s is not allowed "
                                             "here.", r->method), NULL);
    }
    endpoint = m.target;
    req->endpoint = endpoint;
    req->params = m.params;
    if (endpoint->flags & JKLG_BODY) {
        if (!read_json_body(req)) {
            return OK;
        }
    }
    else if (endpoint->flags & JKLG_RAW_BODY) {
        if (!read_raw_body(req)) {
            return OK;
        }
    }
    else if ((rc = ap_discard_request_body(r)) != OK) {
        return rc;
    }
    return require(req, endpoint) ? endpoint->handler(req) : OK;
}

int jklg_handler(request_rec *r)
{
    jklg_req_t req;
    int rc;

    if (!r->handler || strcmp(r->handler, "jklg")) {
        return DECLINED;
    }
    memset(&req, 0, sizeof(req));
    req.r = r;
    req.conf = jklg_conf(r->server);
    if (!req.conf->outbox) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, JKLGNO(00104)
                      "SetHandler jklg in a virtual host without JKLG "
                      "directives (JKLGPublicURL, JKLGMailFrom, ...)");
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    add_cors_headers(&req);
    rc = dispatch(&req);
    jklg_count_request(r, req.endpoint, rc == OK ? r->status : rc);
    return rc;
}
