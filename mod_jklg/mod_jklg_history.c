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

int jklg_me_bookings(jklg_req_t *req)
{
    apr_pool_t *p = req->r->pool;
    jklg_rows_t rows;
    jklg_page_t page;

    if (!jklg_req_auth(req) || !jklg_req_page(req, &page)) {
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
