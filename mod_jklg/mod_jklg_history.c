/* The customer's booking history: GET /me/bookings (newest first, keyset
 * pagination) and GET /me/bookings/{id} with its transactions. */
#include <apr_tables.h>
#include <http_protocol.h>
#include "jklg_validate.h"
#include "mod_jklg.h"

int jklg_me_bookings(jklg_req_t *req)
{
    return jklg_auth_list(req, "jklg_c_bookings");
}

int jklg_me_booking(jklg_req_t *req)
{
    const char *id = apr_table_get(req->params, "id");
    jklg_rows_t rows;

    if (!jklg_req_auth(req)) {
        return OK;
    }
    if (!jklg_is_uuid(id)) {
        return jklg_reply_not_found(req);
    }
    if (!jklg_auth_query(req, "jklg_c_booking", 1, &id, &rows)) {
        return OK;
    }
    return jklg_auth_value(&rows, 1)
           ? jklg_reply_text(req, HTTP_OK, jklg_auth_value(&rows, 1))
           : jklg_reply_not_found(req);
}
