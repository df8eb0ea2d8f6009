/* The customer's booking history: GET /me/bookings (newest first, keyset
 * pagination) and GET /me/bookings/{id} with its transactions. */
#include <string.h>
#include <apr_strings.h>
#include <http_protocol.h>
#include "jklg_json.h"
#include "jklg_token.h"
#include "jklg_util.h"
#include "jklg_validate.h"
#include "mod_jklg.h"

#define LIMIT_DEFAULT 20
#define LIMIT_MAX 100
#define CURSOR_TIME_LEN 26      /* 2026-11-24T10:00:00.123456 */

typedef struct {
    long limit;
    const char *time;           /* NULL: first page */
    const char *id;
} page_t;

/* Splits a cursor made by jklg_cursor() in SQL; 0 when it is not one. */
static int parse_cursor(apr_pool_t *p, const char *cursor, page_t *page)
{
    apr_size_t len;
    unsigned char *raw = jklg_b64url_decode(p, cursor, &len);
    char *text, *bar;

    if (!raw || len != CURSOR_TIME_LEN + 1 + 36) {
        return 0;
    }
    text = apr_pstrmemdup(p, (const char *)raw, len);
    bar = text + CURSOR_TIME_LEN;
    if (*bar != '|' || !jklg_is_uuid(bar + 1) || text[10] != 'T'
        || text[19] != '.') {
        return 0;
    }
    *bar = '\0';
    for (int i = 0; i < CURSOR_TIME_LEN; i++) {
        if (i != 4 && i != 7 && i != 10 && i != 13 && i != 16 && i != 19
            && (text[i] < '0' || text[i] > '9')) {
            return 0;
        }
    }
    page->time = text;
    page->id = bar + 1;
    return 1;
}

/* ?limit= and ?cursor=, or 0 after answering 422. */
static int page_args(jklg_req_t *req, page_t *page)
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
    if (cursor && !parse_cursor(req->r->pool, cursor, page)) {
        json_object_set_new(fields, "cursor", json_string(
                            "is not a cursor from this list"));
    }
    if (json_object_size(fields)) {
        jklg_reply_invalid(req, fields);
        return 0;
    }
    return 1;
}

int jklg_me_bookings(jklg_req_t *req)
{
    apr_pool_t *p = req->r->pool;
    jklg_rows_t rows;
    page_t page;

    if (!jklg_req_auth(req) || !page_args(req, &page)) {
        return OK;
    }
    {
        const char *limit = apr_ltoa(p, page.limit);
        const char *args[] = {page.time, page.time, page.id,
                              apr_ltoa(p, page.limit + 1), limit, limit};
        if (!jklg_auth_query(req, "jklg_c_bookings", 6, args, &rows)) {
            return OK;
        }
    }
    return jklg_reply_text(req, HTTP_OK, jklg_auth_value(&rows, 1));
}

int jklg_me_booking(jklg_req_t *req)
{
    const char *id = apr_table_get(req->params, "id");
    jklg_rows_t rows;

    if (!jklg_req_auth(req)) {
        return OK;
    }
    if (!jklg_is_uuid(id)
        || !jklg_auth_query(req, "jklg_c_booking", 1, &id, &rows)) {
        return jklg_is_uuid(id) ? OK
               : jklg_reply_error(req, HTTP_NOT_FOUND, "not_found",
                                  "No such resource.", NULL);
    }
    if (!jklg_auth_value(&rows, 1)) {
        return jklg_reply_error(req, HTTP_NOT_FOUND, "not_found",
                                "No such resource.", NULL);
    }
    return jklg_reply_text(req, HTTP_OK, jklg_auth_value(&rows, 1));
}
