/* /api/payments: configuration, the customer's intents and transactions,
 * and the events of the gateway webhook (mod_jklg_webhook.c) and
 * reconciliation. The database decides amounts and states (see
 * sql/005_payments.sql); gateways are called between two short database
 * transactions, never inside one. */
#include <stdlib.h>
#include <string.h>
#include <apr_strings.h>
#include <http_protocol.h>
#include "jklg_json.h"
#include "jklg_validate.h"
#include "mod_jklg.h"

/* Waiting for a concurrent request to create the same intent. */
#define AWAIT_STEP apr_time_from_msec(100)
#define AWAIT_MARGIN apr_time_from_sec(2)

int jklg_reply_gateway_error(jklg_req_t *req, const char *err)
{
    ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, req->r, JKLGNO(00601)
                  "payment gateway: %s", err);
    return jklg_reply_error(req, HTTP_BAD_GATEWAY, "gateway_error",
                            "The payment provider could not complete the "
                            "request; please try again.", NULL);
}

/* The payment statements, next to their handlers (sql/022_api_payments.sql
 * and 014's jklg.intent_open). */
const jklg_statement_t jklg_payment_statements[] = {
    {"jklg_p_intent_open", JKLG_CALL_SQL("intent_open", JKLG_AUTHED
     ", p_booking => %s::uuid, p_installment => %s::uuid, p_gateway => %s, "
     "p_save => %s::boolean")},
    {"jklg_p_intent_settle", JKLG_CALL_SQL("intent_settle",
     "p_tx => %s::uuid, p_ref => %s, p_status => %s, p_error => %s, "
     "p_public_url => %s")},
    {"jklg_p_intent_peek", JKLG_CALL_SQL("intent_peek", "p_tx => %s::uuid")},
    /* The webhook's (p_run NULL) and reconciliation's. */
    {"jklg_p_event", JKLG_CALL_SQL("apply_event",
     "p_id => %s, p_gateway => %s, p_type => %s, p_payload => %s::jsonb, "
     "p_kind => %s, p_ref => %s, p_tx => %s, p_amount => %s::bigint, "
     "p_reason => %s, p_method_ref => %s, p_public_url => %s, "
     "p_run => %s::uuid, p_currency => %s")},
    /* The card a payment was made to keep (sql/014). */
    {"jklg_w_method_save", JKLG_CALL_SQL("method_save",
     "p_customer => %s::uuid, p_gateway => %s, p_ref => %s, p_brand => %s, "
     "p_last4 => %s, p_exp_month => %s::int, p_exp_year => %s::int")},
    {NULL, NULL}
};

/* The gateways that can take payments, and what browsers need of each
 * (the gateway adds its own members, e.g. a publishable key). */
int jklg_payments_config(jklg_req_t *req)
{
    const jklg_server_conf_t *c = req->conf;
    json_t *body = jklg_json_own(req->r->pool, json_object());
    json_t *gateways = json_array();

    for (int i = 0; jklg_gateways[i]; i++) {
        const jklg_gateway_t *gw = jklg_gateways[i];
        const void *conf = jklg_gateway_conf(c, gw);

        if (jklg_gateway_configured(gw, conf)) {
            json_array_append_new(gateways, json_string(gw->name));
        }
        if (gw->public_conf) {
            gw->public_conf(conf, body);
        }
    }
    json_object_set_new(body, "gateways", gateways);
    json_object_set_new(body, "currency", json_string(
                        c->currency ? c->currency : JKLG_DEFAULT_CURRENCY));
    return jklg_reply(req, HTTP_OK, body);
}

/* Sends the over-payment refund a success opened in the database (the
 * "overpayment" member of jklg.apply_event's and jklg.intent_settle's
 * answers), logging the outcome for staff. */
static void send_overpayment(server_rec *s, jklg_db_t *db, apr_pool_t *p,
                             const json_t *opened)
{
    const json_t *refund = json_object_get(opened, "refund");
    jklg_refund_sent_t sent;
    apr_status_t rv;

    if (!json_is_object(opened)) {
        return;
    }
    if (!refund) {
        ap_log_error(APLOG_MARK, APLOG_ERR, 0, s, JKLGNO(00604)
                     "a booking is over-paid by %" JSON_INTEGER_FORMAT
                     " through a payment its gateway cannot refund: staff "
                     "must refund it (see the transaction's audit log)",
                     json_integer_value(json_object_get(opened, "flagged")));
        return;
    }
    rv = jklg_refund_send_db(s, db, p, opened, "system", &sent);
    if (rv != APR_SUCCESS || !sent.settled) {
        ap_log_error(APLOG_MARK, APLOG_ERR, rv, s, JKLGNO(00605)
                     "over-payment refund %s of transaction %s not sent "
                     "(%s%s): staff must retry it", jklg_json_str(opened, "id"),
                     jklg_json_str(refund, "transaction_id"),
                     sent.err ? sent.err : "", sent.db_err ? sent.db_err : "");
        return;
    }
    ap_log_error(APLOG_MARK, APLOG_WARNING, 0, s, JKLGNO(00606)
                 "transaction %s over-paid its booking: refund %s of %"
                 JSON_INTEGER_FORMAT " sent", jklg_json_str(refund,
                                                            "transaction_id"),
                 jklg_json_str(opened, "id"),
                 json_integer_value(json_object_get(opened, "amount")));
}

/* Records what the gateway said of transaction tx (ref NULL: it failed);
 * any over-payment refund the success opened is sent on. The
 * transaction's answer {"transaction"}, or NULL after answering. */
static json_t *record_intent(jklg_req_t *req, const char *tx,
                             const char *ref, const char *status,
                             const char *error)
{
    const char *args[] = {tx, ref, status, error, req->conf->public_url};
    jklg_result_t res;
    json_t *settled;

    if (!jklg_call_module(req, "jklg_p_intent_settle", 5, args, &res)) {
        return NULL;
    }
    if (strcmp(res.outcome, "ok")
        || !(settled = jklg_result_json(req, &res))) {
        jklg_finish(req, &res, NULL);
        return NULL;
    }
    send_overpayment(req->r->server, &req->db, req->r->pool,
                     json_object_get(settled, "overpayment"));
    json_object_del(settled, "overpayment");
    return settled;
}

int jklg_payment_cancel(jklg_req_t *req, const json_t *tx)
{
    const jklg_gateway_t *gw = jklg_gateway_find(jklg_json_str(tx, "gateway"));
    const char *ref = jklg_json_str(tx, "gateway_ref");
    const char *status = "canceled", *err = "no such gateway";
    jklg_payment_req_t expected;
    jklg_payment_t now;
    apr_status_t rv = APR_ENOTIMPL;

    if (gw && gw->cancel_payment) {
        rv = jklg_count_gateway(gw, gw->cancel_payment(
            jklg_gateway_conf(req->conf, gw), req->r->pool, ref, &err));
    }
    if (gw && gw->fetch_payment && rv != APR_SUCCESS) {
        /* Refused: it may have been paid meanwhile; the gateway says. */
        memset(&expected, 0, sizeof(expected));
        expected.transaction_id = jklg_json_str(tx, "id");
        expected.amount = json_integer_value(json_object_get(tx, "amount"));
        expected.currency = jklg_json_str(tx, "currency");
        rv = jklg_count_gateway(gw, gw->fetch_payment(
            jklg_gateway_conf(req->conf, gw), req->r->pool, ref, &expected,
            &now, &err));
        status = now.status;
    }
    if (rv != APR_SUCCESS) {
        jklg_reply_gateway_error(req, err);
        return 0;
    }
    return record_intent(req, jklg_json_str(tx, "id"), ref, status, NULL)
           != NULL;
}

/* Asks the gateway for the intent of transaction `opened` (new: create,
 * idempotent on the transaction id; known: fetch its client secret) and
 * records the answer. */
static int settle_intent(jklg_req_t *req, const jklg_gateway_t *gw,
                         json_t *opened)
{
    apr_pool_t *p = req->r->pool;
    const char *tx = jklg_json_str(opened, "id");
    const char *ref = jklg_json_str(opened, "gateway_ref");
    const void *conf = jklg_gateway_conf(req->conf, gw);
    jklg_payment_req_t pay;
    jklg_payment_t out;
    const char *err = NULL, *now;
    json_t *settled;
    apr_status_t rv;

    memset(&out, 0, sizeof(out));
    memset(&pay, 0, sizeof(pay));
    pay.transaction_id = tx;
    pay.booking_id = jklg_json_str(opened, "booking_id");
    pay.booking_reference = jklg_json_str(opened, "reference");
    pay.amount = json_integer_value(json_object_get(opened, "amount"));
    pay.currency = jklg_json_str(opened, "currency");
    pay.save_method = json_is_true(json_object_get(opened, "save"));
    pay.customer_ref = pay.save_method ? jklg_json_str(opened, "customer_ref")
                                       : NULL;
    rv = jklg_count_gateway(gw, ref
        ? gw->fetch_payment(conf, p, ref, &pay, &out, &err)
        : gw->create_payment(conf, p, &pay, &out, &err));
    settled = record_intent(req, tx,
                            rv == APR_SUCCESS ? out.gateway_ref : NULL,
                            out.status, rv == APR_SUCCESS ? NULL
                            : "the payment provider failed");
    if (!settled) {
        return OK;
    }
    if (rv != APR_SUCCESS || !out.client_secret) {
        return jklg_reply_gateway_error(req, err ? err : "no client secret");
    }
    now = jklg_json_str(json_object_get(settled, "transaction"), "status");
    if (!strcmp(out.status, "requires_payment") && now
        && !strcmp(now, "canceled")) {
        /* Superseded while the gateway made it (staff recorded a payment):
         * it must not stay payable there. */
        if (gw->cancel_payment
            && jklg_count_gateway(gw, gw->cancel_payment(
                   conf, p, out.gateway_ref, &err))
               != APR_SUCCESS) {
            ap_log_rerror(APLOG_MARK, APLOG_WARNING, 0, req->r,
                          JKLGNO(00607) "could not cancel superseded "
                          "payment %s: %s", out.gateway_ref, err);
        }
        return jklg_reply_error(req, HTTP_CONFLICT, "conflict",
                                "The amount due for this booking changed; "
                                "please reload the booking.", NULL);
    }
    if (strcmp(out.status, "requires_payment")) {
        /* Paid, processing or canceled already: nothing to pay here. */
        return jklg_reply_error(req, HTTP_CONFLICT, "conflict",
                                "This payment is already being processed or "
                                "closed; please reload the booking.", NULL);
    }
    json_object_set_new(settled, "client_secret",
                        json_string(out.client_secret));
    return jklg_reply(req, json_is_true(json_object_get(opened, "created"))
                           ? HTTP_CREATED : HTTP_OK, settled);
}

/* The intent of `opened` is being created by another request (a double
 * click while the gateway is slow): rather than race it under the same
 * idempotency key, wait until it records the gateway's id, then answer
 * that same intent. A row older than one gateway call was left by a
 * request that died: this one takes over, under the same key. 1 to go on,
 * 0 after answering. */
static int await_creation(jklg_req_t *req, const jklg_gateway_t *gw,
                          json_t *opened)
{
    apr_interval_time_t call = jklg_gateway_call_timeout(
        gw, jklg_gateway_conf(req->conf, gw));
    apr_time_t deadline = apr_time_now() + call + AWAIT_MARGIN;
    const char *id = jklg_json_str(opened, "id");
    const char *status;
    jklg_result_t res;
    json_t *tx;

    while (apr_time_now() < deadline) {
        if (!jklg_call_module(req, "jklg_p_intent_peek", 1, &id, &res)) {
            return 0;
        }
        if (strcmp(res.outcome, "ok")) {
            break;
        }
        tx = jklg_result_json(req, &res);
        if (jklg_json_str(tx, "gateway_ref")) {
            json_object_set_new(opened, "gateway_ref", json_string(
                jklg_json_str(tx, "gateway_ref")));
            return 1;
        }
        status = jklg_json_str(tx, "status");
        if (status && !strcmp(status, "canceled")) {
            jklg_reply_error(req, HTTP_CONFLICT, "conflict",
                             "The amount due for this booking changed; "
                             "please reload the booking.", NULL);
            return 0;
        }
        if (!status || strcmp(status, "requires_payment")) {
            jklg_reply_gateway_error(req, "the request creating this "
                                     "payment failed");
            return 0;
        }
        if (apr_time_from_sec(json_integer_value(json_object_get(tx, "age")))
            > call + AWAIT_MARGIN) {
            break;
        }
        apr_sleep(AWAIT_STEP);
    }
    return 1;
}

/* Intents replaced by this one are canceled at the gateway, so that an
 * old client secret cannot pay them. Best effort: if one was paid
 * meanwhile, its webhook still records the money. */
static void cancel_replaced(jklg_req_t *req, const jklg_gateway_t *gw,
                            const json_t *refs)
{
    const char *err = NULL;
    json_t *ref;
    size_t i;

    json_array_foreach(refs, i, ref) {
        if (gw->cancel_payment
            && jklg_count_gateway(gw, gw->cancel_payment(
                   jklg_gateway_conf(req->conf, gw), req->r->pool,
                   json_string_value(ref),
                   &err)) != APR_SUCCESS) {
            ap_log_rerror(APLOG_MARK, APLOG_WARNING, 0, req->r, JKLGNO(00603)
                          "could not cancel replaced payment %s: %s",
                          json_string_value(ref), err);
        }
    }
}

/* What opening an intent may answer besides ok (sql: jklg.intent_open). */
static const jklg_outcome_map_t intent_outcomes[] = {
    {"paid", HTTP_CONFLICT, "booking_already_paid",
     "This booking is already paid."},
    {"installment_paid", HTTP_CONFLICT, "conflict",
     "This installment is already paid."},
    {"processing", HTTP_CONFLICT, "conflict",
     "A payment for this booking is being processed."},
    {"conflict", HTTP_CONFLICT, "conflict",
     "This booking cannot be paid: it is canceled."},
    {NULL, 0, NULL, NULL}
};

int jklg_payment_intent(jklg_req_t *req)
{
    static const char *const allowed[] = {"booking_id", "installment_id",
                                          "save_payment_method", NULL};
    const jklg_gateway_t *gw = jklg_gateway_online();
    const char *booking, *installment;
    jklg_check_t c;
    jklg_result_t res;
    json_t *opened;
    int save = 0;

    jklg_check_init(&c, req->r->pool, req->body, allowed);
    booking = jklg_check_raw(&c, "booking_id", JKLG_REQUIRED);
    installment = jklg_check_raw(&c, "installment_id", JKLG_NULLABLE);
    jklg_check_bool(&c, "save_payment_method", 0, &save);
    if (!jklg_check_ok(&c)) {
        return jklg_reply_invalid(req, c.fields);
    }
    if (!jklg_is_uuid(booking) || (installment && !jklg_is_uuid(installment))) {
        return jklg_reply_not_found(req);
    }
    if (!gw || !jklg_gateway_configured(gw, jklg_gateway_conf(req->conf,
                                                              gw))) {
        return jklg_reply_error(req, HTTP_SERVICE_UNAVAILABLE, "unavailable",
                                "Payments are not configured.", NULL);
    }
    {
        const char *args[] = {booking, installment, gw->name,
                              save ? "true" : "false"};
        if (!jklg_call(req, "jklg_p_intent_open", 4, args, &res)) {
            return OK;
        }
    }
    if (strcmp(res.outcome, "ok")) {
        return jklg_finish(req, &res, intent_outcomes);
    }
    opened = jklg_result_json(req, &res);
    if (save && !jklg_travel_customer_ref(req, gw, opened)) {
        return OK;
    }
    cancel_replaced(req, gw, json_object_get(opened, "replaced_refs"));
    if (!json_is_true(json_object_get(opened, "created"))
        && !jklg_json_str(opened, "gateway_ref")
        && !await_creation(req, gw, opened)) {
        return OK;
    }
    return settle_intent(req, gw, opened);
}

/* The words jklg.apply_event knows. */
static const char *const event_kinds[] = {
    [JKLG_EVENT_IGNORED] = "ignored",
    [JKLG_EVENT_PROCESSING] = "processing",
    [JKLG_EVENT_SUCCEEDED] = "succeeded",
    [JKLG_EVENT_FAILED] = "failed",
    [JKLG_EVENT_CANCELED] = "canceled",
    [JKLG_EVENT_REFUNDED] = "refunded",
    [JKLG_EVENT_DISPUTED] = "disputed",
};

/* A succeeded payment made with save_payment_method: its card, fetched
 * from the gateway, is kept for the customer the database named. A card
 * not kept is logged (the balance is then paid through the emailed link);
 * the next delivery of the event tries again. */
static void save_card(server_rec *s, jklg_db_t *db, apr_pool_t *p,
                      const jklg_gateway_t *gw, const jklg_gateway_event_t *ev,
                      const char *customer)
{
    const jklg_server_conf_t *conf = jklg_conf(s);
    const char *err = NULL;
    jklg_result_t res;
    jklg_method_t m;
    apr_status_t rv;

    if (!gw->fetch_method) {
        return;
    }
    rv = jklg_count_gateway(gw, gw->fetch_method(jklg_gateway_conf(conf, gw),
                                                 p, ev->method_ref, &m, &err));
    if (rv != APR_SUCCESS || !m.customer_ref) {
        ap_log_error(APLOG_MARK, APLOG_WARNING, rv, s, JKLGNO(02103)
                     "payment %s: card %s not saved (%s)", ev->payment_ref,
                     ev->method_ref, err ? err : "not attached to the "
                     "customer");
        return;
    }
    {
        const char *args[] = {customer, gw->name, m.gateway_ref, m.brand,
                              m.last4, apr_itoa(p, m.exp_month),
                              apr_itoa(p, m.exp_year)};
        rv = jklg_db_call(s, db, p, "jklg_w_method_save", 7, args, &res,
                          &err);
    }
    if (rv != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_WARNING, rv, s, JKLGNO(02320)
                     "payment %s: card %s not saved: %s", ev->payment_ref,
                     ev->method_ref, err);
    }
}

const char *jklg_event_kind_word(jklg_event_kind_t kind)
{
    return event_kinds[kind];
}

apr_status_t jklg_event_call(server_rec *s, jklg_db_t *db, apr_pool_t *p,
                             const jklg_gateway_t *gw,
                             const jklg_gateway_event_t *ev,
                             const char *payload, const char *run,
                             jklg_result_t *res, const char **err)
{
    const char *args[] = {
        ev->id, gw->name, ev->type, payload, event_kinds[ev->kind],
        ev->payment_ref, ev->transaction_id,
        apr_psprintf(p, "%" APR_INT64_T_FMT, ev->amount), ev->failure_reason,
        ev->method_ref, jklg_conf(s)->public_url, run, ev->currency
    };

    return jklg_db_call(s, db, p, "jklg_p_event", 13, args, res, err);
}

void jklg_event_follow_up(server_rec *s, jklg_db_t *db, apr_pool_t *p,
                          const jklg_gateway_t *gw,
                          const jklg_gateway_event_t *ev, const char *body)
{
    json_t *after;

    /* Most events leave nothing to do: no body, nothing to parse. */
    if (!body || !(after = jklg_json_own(p, json_loads(body, 0, NULL)))) {
        return;
    }
    send_overpayment(s, db, p, json_object_get(after, "overpayment"));
    if (jklg_json_str(after, "save_card_for") && ev->method_ref) {
        save_card(s, db, p, gw, ev, jklg_json_str(after, "save_card_for"));
    }
}

apr_status_t jklg_event_apply(server_rec *s, jklg_db_t *db, apr_pool_t *p,
                              const jklg_gateway_t *gw,
                              const jklg_gateway_event_t *ev,
                              const char *payload, const char *run,
                              const char **outcome, const char **err)
{
    jklg_result_t res;
    apr_status_t rv = jklg_event_call(s, db, p, gw, ev, payload, run, &res,
                                      err);

    if (rv == APR_SUCCESS) {
        *outcome = res.outcome;
        jklg_event_follow_up(s, db, p, gw, ev, res.body);
    }
    return rv;
}
