/* The content handler: routes a request to its endpoint, enforces what
 * the route requires (its body, a customer's token, a staff user) and
 * counts the answer. */
#include <string.h>
#include <apr_strings.h>
#include <httpd.h>
#include <http_protocol.h>
#include <http_request.h>
#include "jklg_router.h"
#include "mod_jklg.h"

#define ADMIN_PREFIX "/api/admin/"

static jklg_router_t *router;

void jklg_routes_init(apr_pool_t *p)
{
    router = jklg_router_create(p);
    for (const jklg_endpoint_t *e = jklg_endpoints; e->pattern; e++) {
        jklg_router_add(router, e->method, e->pattern, e);
    }
}

/* A body nobody asked for (a bodiless route, or an answer before any
 * reading: 404, 405, the staff gate) is not read, however long the client
 * says it is or takes to send it: the connection closes after the answer
 * instead, and ap_discard_request_body then returns at once. Set before
 * anything is written, so the answer says "Connection: close". */
static void refuse_unread_body(request_rec *r, const jklg_endpoint_t *e)
{
    if (jklg_req_has_body(r)
        && !(e && (e->flags & (JKLG_BODY | JKLG_RAW_BODY)))) {
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
        return jklg_cors_options(req, m.allowed);
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
        if (!jklg_req_read_json(req)) {
            return OK;
        }
    }
    else if (endpoint->flags & JKLG_RAW_BODY) {
        if (!jklg_req_read_raw(req)) {
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
    jklg_cors_headers(&req);
    rc = dispatch(&req);
    jklg_count_request(r, req.endpoint, rc == OK ? r->status : rc);
    return rc;
}
