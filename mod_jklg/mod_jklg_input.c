/* What a request brings: its body (a JSON object, or the raw bytes a
 * gateway signed) read within JKLGMaxBody, its query string, and a list's
 * page (?limit=, ?cursor=). Readers return 1 to go on, or answer the
 * client and return 0. */
#include <string.h>
#include <apr_strings.h>
#include <httpd.h>
#include <http_protocol.h>
#include <util_script.h>
#include "jklg_json.h"
#include "jklg_util.h"
#include "jklg_validate.h"
#include "mod_jklg.h"

#define RAW_BODY_MIN (1024 * 1024)
#define CHUNKED_FIRST 8192

/* Keyset pagination of lists (?limit=, ?cursor=). */
#define LIMIT_DEFAULT 20
#define LIMIT_MAX 100

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

int jklg_req_has_body(request_rec *r)
{
    const char *cl = apr_table_get(r->headers_in, "Content-Length");

    return apr_table_get(r->headers_in, "Transfer-Encoding")
           || (cl && strcmp(cl, "0"));
}

int jklg_req_read_raw(jklg_req_t *req)
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

int jklg_req_read_json(jklg_req_t *req)
{
    request_rec *r = req->r;
    const char *why;
    char *buf = NULL;
    apr_size_t len;

    if (jklg_req_has_body(r)
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

apr_table_t *jklg_req_args(jklg_req_t *req)
{
    apr_table_t *args = NULL;

    ap_args_to_table(req->r, &args);
    return args ? args : apr_table_make(req->r->pool, 1);
}
