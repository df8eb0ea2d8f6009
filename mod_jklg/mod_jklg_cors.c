/* CORS: the headers every answer carries for an allowed Origin
 * (JKLGAllowOrigin), and OPTIONS, a preflight or a plain Allow. */
#include <string.h>
#include <apr_strings.h>
#include <httpd.h>
#include <http_protocol.h>
#include "jklg_router.h"
#include "mod_jklg.h"

#define PREFLIGHT_MAX_AGE "600"

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

void jklg_cors_headers(jklg_req_t *req)
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
int jklg_cors_options(jklg_req_t *req, int allowed)
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
