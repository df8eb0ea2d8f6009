/* Writing answers: JSON bodies, the error envelope of the contract and
 * the errors every area shares (404, 422, 429, 503, database failures). */
#include <apr_strings.h>
#include <httpd.h>
#include <http_protocol.h>
#include "jklg_json.h"
#include "mod_jklg.h"

#define RETRY_AFTER_DB "5"

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
