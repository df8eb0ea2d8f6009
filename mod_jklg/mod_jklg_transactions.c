/* Reading transactions: the customer's own (GET /api/payments/transactions
 * and /{id}) and every one for staff, with filters (GET
 * /api/admin/transactions and /{id} with its audit log and refunds). */
#include <apr_strings.h>
#include <apr_tables.h>
#include <http_protocol.h>
#include "jklg_json.h"
#include "jklg_validate.h"
#include "mod_jklg.h"

#define PAGE_PARAMS \
    "p_after_time => %s::timestamp, p_after_id => %s::uuid, p_limit => %s::int"

const jklg_statement_t jklg_transaction_statements[] = {
    {"jklg_me_transactions", JKLG_CALL_SQL("me_transactions", JKLG_AUTHED
     ", " PAGE_PARAMS)},
    {"jklg_me_transaction", JKLG_CALL_SQL("me_transaction", JKLG_AUTHED
     ", p_id => %s::uuid")},
    {"jklg_staff_transactions", JKLG_CALL_SQL("staff_transactions",
     "p_status => %s, p_booking => %s::uuid, p_customer => %s::uuid, "
     "p_since => %s::timestamptz, p_until => %s::timestamptz, " PAGE_PARAMS)},
    {"jklg_staff_transaction", JKLG_CALL_SQL("staff_transaction",
     "p_id => %s::uuid")},
    {NULL, NULL}
};

/* The {id} of the route if it is an id, else NULL after answering 404. */
static const char *path_id(jklg_req_t *req)
{
    const char *id = apr_table_get(req->params, "id");

    if (!jklg_is_uuid(id)) {
        jklg_reply_not_found(req);
        return NULL;
    }
    return id;
}

int jklg_payment_transactions(jklg_req_t *req)
{
    jklg_page_t page;

    if (!jklg_req_page(req, &page)) {
        return OK;
    }
    {
        const char *args[] = {page.time, page.id,
                              apr_ltoa(req->r->pool, page.limit)};
        return jklg_call_finish(req, "jklg_me_transactions", 3, args, NULL);
    }
}

int jklg_payment_transaction(jklg_req_t *req)
{
    const char *id = path_id(req);

    return id ? jklg_call_finish(req, "jklg_me_transaction", 1, &id, NULL)
              : OK;
}

/* ?status=&booking_id=&customer_id=&since=&until=: NULL when absent;
 * problems go to fields. */
static const char *filter(apr_table_t *args, const char *key,
                          int (*valid)(const char *), json_t *fields,
                          const char *message)
{
    const char *v = apr_table_get(args, key);

    if (v && !valid(v)) {
        json_object_set_new(fields, key, json_string(message));
        return NULL;
    }
    return v;
}

int jklg_staff_transactions(jklg_req_t *req)
{
    apr_table_t *args = jklg_req_args(req);
    json_t *fields = jklg_json_own(req->r->pool, json_object());
    const char *status, *booking, *customer, *since, *until;
    jklg_page_t page;

    status = filter(args, "status", jklg_is_transaction_status, fields,
                    "must be a transaction status");
    booking = filter(args, "booking_id", jklg_is_uuid, fields,
                     "must be a booking id");
    customer = filter(args, "customer_id", jklg_is_uuid, fields,
                      "must be a customer id");
    since = filter(args, "since", jklg_is_timestamp, fields,
                   "must be a date or an RFC 3339 time");
    until = filter(args, "until", jklg_is_timestamp, fields,
                   "must be a date or an RFC 3339 time");
    if (json_object_size(fields)) {
        return jklg_reply_invalid(req, fields);
    }
    if (!jklg_req_page(req, &page)) {
        return OK;
    }
    {
        const char *a[] = {status, booking, customer, since, until,
                           page.time, page.id,
                           apr_ltoa(req->r->pool, page.limit)};
        return jklg_call_finish(req, "jklg_staff_transactions", 8, a, NULL);
    }
}

int jklg_staff_transaction(jklg_req_t *req)
{
    const char *id = path_id(req);

    return id ? jklg_call_finish(req, "jklg_staff_transaction", 1, &id, NULL)
              : OK;
}
