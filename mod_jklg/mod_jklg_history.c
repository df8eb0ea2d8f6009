/* The customer's booking history: GET /me/bookings (newest first, keyset
 * pagination) and GET /me/bookings/{id} with its transactions. */
#include <apr_strings.h>
#include <apr_tables.h>
#include <http_protocol.h>
#include "jklg_validate.h"
#include "mod_jklg.h"

const jklg_statement_t jklg_history_statements[] = {
    {"jklg_me_bookings", JKLG_CALL_SQL("me_bookings", JKLG_AUTHED
     ", p_after_time => %s::timestamp, p_after_id => %s::uuid, "
     "p_limit => %s::int")},
    {"jklg_me_booking", JKLG_CALL_SQL("me_booking", JKLG_AUTHED
     ", p_id => %s::uuid")},
    {NULL, NULL}
};

int jklg_me_bookings(jklg_req_t *req)
{
    jklg_page_t page;

    if (!jklg_req_page(req, &page)) {
        return OK;
    }
    {
        const char *args[] = {page.time, page.id,
                              apr_ltoa(req->r->pool, page.limit)};
        return jklg_call_finish(req, "jklg_me_bookings", 3, args, NULL);
    }
}

int jklg_me_booking(jklg_req_t *req)
{
    const char *id = apr_table_get(req->params, "id");

    if (!jklg_is_uuid(id)) {
        return jklg_reply_not_found(req);
    }
    return jklg_call_finish(req, "jklg_me_booking", 1, &id, NULL);
}
