/* Staff payment endpoints under /api/admin (Apache authenticated them;
 * r->user names the staff member in refunds and audit entries): bookings,
 * the transaction ledger, refunds and manual payments. */
#include <stdlib.h>
#include <string.h>
#include <sodium.h>
#include <apr_strings.h>
#include <http_protocol.h>
#include "jklg_fields.h"
#include "jklg_json.h"
#include "jklg_money.h"
#include "jklg_policy.h"
#include "jklg_token.h"
#include "jklg_util.h"
#include "jklg_validate.h"
#include "mod_jklg.h"

#define IDEMPOTENCY_KEY_MAX 255
#define MANUAL_CANCEL_ROUNDS 3

/* The staff payment statements (sql/022_api_payments.sql, 014's booking). */
const jklg_statement_t jklg_staff_statements[] = {
    {"jklg_s_booking_create", JKLG_CALL_SQL("staff_booking_create",
     "p_customer_id => %s::uuid, p_customer_email => %s, p_reference => %s, "
     "p_description => %s, p_travel_start => %s::date, "
     "p_travel_end => %s::date, p_amount_total => %s::bigint, "
     "p_currency => %s, p_deposit => %s::bigint, "
     "p_balance_due_days => %s::int, p_policy => %s")},
    {"jklg_s_refund_open", JKLG_CALL_SQL("refund_open",
     "p_tx => %s::uuid, p_amount => %s::bigint, p_reason => %s, "
     "p_staff => %s, p_key => %s")},
    {"jklg_s_refund_settle", JKLG_CALL_SQL("refund_settle",
     "p_refund => %s::uuid, p_status => %s, p_ref => %s, p_staff => %s, "
     "p_error => %s")},
    {"jklg_s_manual", JKLG_CALL_SQL("manual_payment",
     "p_booking => %s::uuid, p_amount => %s::bigint, p_currency => %s, "
     "p_method => %s, p_note => %s, p_staff => %s, p_public_url => %s")},
    {NULL, NULL}
};

/* Staff booking answers beyond the common ones. */
static const jklg_outcome_map_t booking_outcomes[] = {
    {"no_customer", HTTP_NOT_FOUND, "not_found", "No such customer."},
    {"reference_taken", HTTP_CONFLICT, "conflict",
     "Not possible: this booking reference is taken."},
    {NULL, 0, NULL, NULL}
};

int jklg_staff_booking_create(jklg_req_t *req)
{
    static const char *const allowed[] = {
        "customer_id", "customer_email", "description", "travel_start",
        "travel_end", "amount_total", "currency", "reference", "schedule",
        "cancellation_policy", NULL};
    apr_pool_t *p = req->r->pool;
    const char *customer_id, *email, *description, *start, *end, *amount;
    const char *currency, *reference, *deposit, *due_days, *policy;
    jklg_check_t c;

    jklg_check_init(&c, p, req->body, allowed);
    customer_id = jklg_check_raw(&c, "customer_id", 0);
    email = jklg_check_email(&c, "customer_email", 0);
    if (!customer_id == !jklg_check_present(&c, "customer_email")) {
        jklg_check_fail(&c, "customer_id", "give customer_id or "
                        "customer_email, not both");
    }
    else if (customer_id && !jklg_is_uuid(customer_id)) {
        jklg_check_fail(&c, "customer_id", "must be a customer id");
    }
    description = jklg_check_text(&c, "description", JKLG_REQUIRED, 1, 500);
    start = jklg_check_date(&c, "travel_start");
    end = jklg_check_date(&c, "travel_end");
    if (start && end && strcmp(end, start) < 0) {
        jklg_check_fail(&c, "travel_end", "must not be before travel_start");
    }
    amount = jklg_check_amount(&c, "amount_total", JKLG_REQUIRED);
    currency = jklg_check_currency(&c, "currency");
    reference = jklg_check_text(&c, "reference", 0, 1, 40);
    deposit = jklg_check_schedule(&c, amount, &due_days);
    policy = jklg_check_text(&c, "cancellation_policy", JKLG_NULLABLE, 1, 64);
    if (!jklg_check_ok(&c)) {
        return jklg_reply_invalid(req, c.fields);
    }
    {
        const char *args[] = {customer_id, email,
                              reference ? reference : jklg_booking_reference(p),
                              description, start, end, amount, currency,
                              deposit, due_days, policy};
        return jklg_call_finish(req, "jklg_s_booking_create", 11, args,
                                booking_outcomes);
    }
}

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

/* A staff client's Idempotency-Key makes a double submit return the first
 * refund; reused for another transaction or amount it is refused (sql:
 * jklg_refund_open). Without one, a request while a refund of the
 * transaction is still pending (its outcome unknown after a timeout)
 * retries that refund instead of making a second one. A key that cannot
 * be stored as it was sent (over 255 bytes, not UTF-8, control
 * characters) is refused rather than ignored: ignoring it would turn a
 * double submit into two refunds. NULL after answering 422. */
static const char *refund_key(jklg_req_t *req, jklg_check_t *c)
{
    const char *key = apr_table_get(req->r->headers_in, "Idempotency-Key");

    if (!key || !*key) {
        return apr_pstrcat(req->r->pool, "auto:",
                           jklg_token_new(req->r->pool), NULL);
    }
    if (strcmp(jklg_header_text(req->r->pool, key, IDEMPOTENCY_KEY_MAX),
               key)) {
        jklg_check_fail(c, "Idempotency-Key", "must be 1 to 255 bytes of "
                        "UTF-8 text without control characters");
        return NULL;
    }
    return apr_pstrcat(req->r->pool, "staff:", key, NULL);
}

/* Calls the gateway for a pending refund and records the outcome. Only a
 * definite refusal (APR_EGENERAL) fails it; when the outcome is unknown
 * (timeout, 5xx) it stays pending, and asking again retries it under the
 * same gateway idempotency key. Never answers the client. */
apr_status_t jklg_refund_send_db(server_rec *s, jklg_db_t *db, apr_pool_t *p,
                                 const json_t *opened, const char *actor,
                                 jklg_refund_sent_t *sent)
{
    const jklg_server_conf_t *conf = jklg_conf(s);
    const jklg_gateway_t *gw = jklg_gateway_find(
        jklg_json_str(opened, "gateway"));
    const json_t *refund = json_object_get(opened, "refund");
    jklg_refund_req_t ask;
    jklg_refund_t out;
    jklg_result_t res;
    const char *status;
    apr_status_t rv;

    memset(&out, 0, sizeof(out));
    memset(sent, 0, sizeof(*sent));
    ask.refund_id = jklg_json_str(opened, "id");
    ask.transaction_id = jklg_json_str(refund, "transaction_id");
    ask.gateway_ref = jklg_json_str(opened, "gateway_ref");
    ask.amount = json_integer_value(json_object_get(opened, "amount"));
    ask.currency = jklg_json_str(opened, "currency");
    ask.reason = jklg_json_str(refund, "reason");
    rv = gw ? jklg_count_gateway(gw, gw->refund(jklg_gateway_conf(conf, gw),
                                                p, &ask, &out, &sent->err))
            : APR_ENOTIMPL;
    if (!gw) {
        sent->err = "no such gateway";
    }
    status = rv == APR_SUCCESS ? out.status
             : rv == APR_EGENERAL ? "failed" : "pending";
    {
        const char *args[] = {ask.refund_id, status, out.gateway_ref, actor,
                              sent->err};
        sent->db_rv = jklg_db_call(s, db, p, "jklg_s_refund_settle", 5, args,
                                   &res, &sent->db_err);
    }
    if (sent->db_rv == APR_SUCCESS && strcmp(res.outcome, "ok")) {
        sent->db_rv = APR_EGENERAL;
        sent->db_err = apr_psprintf(p, "refund %s: %s", ask.refund_id,
                                    res.outcome);
    }
    if (sent->db_rv == APR_SUCCESS) {
        sent->settled = jklg_db_result_json(p, &res);
    }
    return rv;
}

apr_status_t jklg_refund_send(jklg_req_t *req, const json_t *opened,
                              const char *actor, jklg_refund_sent_t *sent)
{
    if (!jklg_req_db(req)) {
        memset(sent, 0, sizeof(*sent));
        sent->db_rv = APR_ECONNRESET;
        sent->db_err = "the database cannot be reached";
        return APR_ECONNRESET;
    }
    return jklg_refund_send_db(req->r->server, &req->db, req->r->pool, opened,
                               actor, sent);
}

static int settle_refund(jklg_req_t *req, json_t *opened)
{
    jklg_refund_sent_t sent;
    apr_status_t rv = jklg_refund_send(req, opened, req->r->user, &sent);

    if (!sent.settled) {
        return jklg_reply_db_error(req, sent.db_rv, sent.db_err);
    }
    if (rv != APR_SUCCESS) {
        return jklg_reply_gateway_error(req, sent.err);
    }
    return jklg_reply(req, HTTP_ACCEPTED, sent.settled);
}

/* What opening a refund answers besides 'opened' (sql: jklg.refund_open);
 * the function words why it is not possible. */
static const jklg_outcome_map_t refund_outcomes[] = {
    {"existing", HTTP_ACCEPTED, NULL, NULL},
    {"over_refund", HTTP_CONFLICT, "conflict", NULL},
    {"conflict", HTTP_CONFLICT, "conflict", NULL},
    {NULL, 0, NULL, NULL}
};

int jklg_staff_refund(jklg_req_t *req)
{
    static const char *const allowed[] = {"amount", "reason", NULL};
    const char *id, *amount, *reason, *key;
    jklg_check_t c;
    jklg_result_t res;

    jklg_check_init(&c, req->r->pool, req->body, allowed);
    amount = jklg_check_amount(&c, "amount", 0);
    reason = jklg_check_text(&c, "reason", JKLG_NULLABLE, 0, 500);
    key = refund_key(req, &c);
    if (!(id = path_id(req))) {
        return OK;
    }
    if (!jklg_check_ok(&c)) {
        return jklg_reply_invalid(req, c.fields);
    }
    {
        const char *args[] = {id, amount, reason, req->r->user, key};
        if (!jklg_call(req, "jklg_s_refund_open", 5, args, &res)) {
            return OK;
        }
    }
    if (strcmp(res.outcome, "opened")) {
        return jklg_finish(req, &res, refund_outcomes);
    }
    /* New, or pending from an attempt whose outcome is unknown. */
    return settle_refund(req, jklg_result_json(req, &res));
}

/* What a manual payment answers besides 'created' and 'invalid' (another
 * currency than the booking's, in its fields). */
static const jklg_outcome_map_t manual_outcomes[] = {
    {"not_found", HTTP_NOT_FOUND, "not_found", "No such booking."},
    {"conflict", HTTP_CONFLICT, "conflict", NULL},
    {NULL, 0, NULL, NULL}
};

int jklg_staff_manual_payment(jklg_req_t *req)
{
    static const char *const allowed[] = {"booking_id", "amount", "currency",
                                          "method", "note", NULL};
    const char *booking, *amount, *currency, *method, *note;
    jklg_check_t c;
    jklg_result_t res;

    jklg_check_init(&c, req->r->pool, req->body, allowed);
    booking = jklg_check_raw(&c, "booking_id", JKLG_REQUIRED);
    amount = jklg_check_amount(&c, "amount", JKLG_REQUIRED);
    currency = jklg_check_currency(&c, "currency");
    method = jklg_check_raw(&c, "method", JKLG_REQUIRED);
    if (method && strcmp(method, "cash") && strcmp(method, "bank_transfer")) {
        jklg_check_fail(&c, "method", "must be cash or bank_transfer");
    }
    note = jklg_check_text(&c, "note", JKLG_NULLABLE, 0, 500);
    if (!jklg_check_ok(&c)) {
        return jklg_reply_invalid(req, c.fields);
    }
    if (!jklg_is_uuid(booking)) {   /* as for any id: simply not found */
        return jklg_reply_error(req, HTTP_NOT_FOUND, "not_found",
                                "No such booking.", NULL);
    }
    for (int round = 0; ; round++) {
        const char *args[] = {booking, amount, currency, method, note,
                              req->r->user, req->conf->public_url};
        json_t *tx;
        size_t i;

        if (!jklg_call(req, "jklg_s_manual", 7, args, &res)) {
            return OK;
        }
        if (strcmp(res.outcome, "cancel")) {
            return jklg_finish(req, &res, manual_outcomes);
        }
        /* Card payments the customer could still make for this balance
         * are canceled at their gateway first (or found paid), then the
         * database is asked again. */
        if (round == MANUAL_CANCEL_ROUNDS) {
            return jklg_reply_error(req, HTTP_CONFLICT, "conflict",
                                    "Not possible: card payments for this "
                                    "booking are changing; retry in a "
                                    "moment.", NULL);
        }
        json_array_foreach(json_object_get(jklg_result_json(req, &res),
                                           "cancel"), i, tx) {
            if (!jklg_payment_cancel(req, tx)) {
                return OK;
            }
        }
    }
}
