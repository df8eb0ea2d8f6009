/* Travel payments (issue 10): staff cancellation policies, the customer's
 * cancellation preview and cancel, and the staff cancel. The database
 * gives the facts (the booking's copy of its tiers, days left, money held:
 * sql/014_travel_payments.sql); the refund is computed here by the core
 * (jklg_policy.c), and the cancel call checks under the booking's lock
 * that the facts it was computed from still hold. Refunds then go out
 * through the existing refund path (jklg_refund_send), newest payment
 * first, each under its own idempotency key. */
#include <stdlib.h>
#include <string.h>
#include <apr_lib.h>
#include <apr_strings.h>
#include <http_protocol.h>
#include "jklg_json.h"
#include "jklg_money.h"
#include "jklg_policy.h"
#include "jklg_validate.h"
#include "mod_jklg.h"

#define POLICY_NAME_MAX 64

const jklg_statement_t jklg_travel_statements[] = {
    {"jklg_s_policy_put", JKLG_CALL_SQL("staff_policy_put",
     "p_name => %s, p_tiers => %s::jsonb")},
    {"jklg_s_policies", JKLG_CALL_SQL("staff_policies",
     "p_after_time => %s::timestamp, p_after_id => %s::uuid, "
     "p_limit => %s::int")},
    {"jklg_me_cancellation", JKLG_CALL_SQL("booking_cancellation",
     JKLG_AUTHED ", p_id => %s::uuid")},
    {"jklg_me_cancel", JKLG_CALL_SQL("booking_cancel", JKLG_AUTHED
     ", p_id => %s::uuid, p_paid_net => %s::bigint, "
     "p_days_left => %s::int, p_refund => %s::bigint, p_fee => %s::bigint, "
     "p_public_url => %s")},
    {"jklg_s_cancellation", JKLG_CALL_SQL("staff_booking_cancellation",
     "p_id => %s::uuid")},
    {"jklg_s_cancel", JKLG_CALL_SQL("staff_booking_cancel",
     "p_id => %s::uuid, p_paid_net => %s::bigint, p_days_left => %s::int, "
     "p_refund => %s::bigint, p_fee => %s::bigint, "
     "p_override => %s::bigint, p_staff => %s, p_reason => %s, "
     "p_public_url => %s")},
    {"jklg_s_booking_get", JKLG_CALL_SQL("staff_booking_get",
     "p_id => %s::uuid")},
    {"jklg_me_gateway_customer", JKLG_CALL_SQL("gateway_customer_save",
     JKLG_AUTHED ", p_gateway => %s, p_ref => %s")},
    {"jklg_me_methods", JKLG_CALL_SQL("me_payment_methods", JKLG_AUTHED)},
    {"jklg_me_method_delete", JKLG_CALL_SQL("me_payment_method_delete",
     JKLG_AUTHED ", p_id => %s::uuid, p_done => %s::boolean")},
    {NULL, NULL}
};

static const jklg_outcome_map_t cancel_outcomes[] = {
    {"policy_changed", HTTP_CONFLICT, "policy_changed",
     "The refund for this cancellation has changed; please look at the "
     "new amount and confirm again."},
    {"conflict", HTTP_CONFLICT, "conflict",
     "This booking can no longer be canceled: it is canceled already or "
     "travel has started."},
    {"processing", HTTP_CONFLICT, "conflict",
     "A payment for this booking is being processed; cancel once its "
     "outcome is known."},
    {NULL, 0, NULL, NULL}
};

/* What the customer would get back today. */
typedef struct {
    apr_int64_t refund;
    apr_int64_t fee;
    apr_int64_t paid_net;
    long days_left;
    json_t *tier;                       /* the tier object, or null */
    int cancellable;
    const char *reason;                 /* why not cancellable, or NULL */
    const char *currency;
} preview_t;

/* The preview of the facts jklg_cancellation_facts gave. 0 when they
 * cannot be read (the stored tiers are not what this module wrote). */
static int preview_of(apr_pool_t *p, const json_t *facts, preview_t *out)
{
    jklg_tier_t tiers[JKLG_POLICY_MAX_TIERS];
    const json_t *stored = json_object_get(facts, "tiers");
    const char *key, *why;
    int n = 0, pick;

    memset(out, 0, sizeof(*out));
    out->paid_net = json_integer_value(json_object_get(facts, "paid_net"));
    out->days_left = (long)json_integer_value(json_object_get(facts,
                                                              "days_left"));
    out->currency = jklg_json_str(facts, "currency");
    out->tier = json_null();
    if (json_array_size(stored) > 0) {
        why = jklg_policy_parse(p, stored, tiers, &n, &key);
        if (why) {
            return 0;
        }
    }
    if (!strcmp(jklg_json_str(facts, "status"), "canceled")) {
        out->reason = "The booking is already canceled.";
        return 1;
    }
    if (out->days_left < 0) {
        out->reason = "Travel has started.";
        return 1;
    }
    out->cancellable = 1;
    pick = jklg_policy_pick(tiers, n, out->days_left);
    if (pick >= 0) {
        out->fee = tiers[pick].fee;
        out->refund = jklg_policy_refund(out->paid_net,
                                         tiers[pick].refund_percent,
                                         tiers[pick].fee);
        out->tier = json_pack("{s:i, s:i, s:I}", "min_days_before",
                              tiers[pick].min_days_before, "refund_percent",
                              tiers[pick].refund_percent, "fee",
                              (json_int_t)tiers[pick].fee);
    }
    jklg_json_own(p, out->tier);
    return 1;
}

static json_t *preview_json(apr_pool_t *p, const preview_t *v)
{
    return jklg_json_own(p, json_pack("{s:I, s:I, s:s, s:O, s:b, s:s?}",
                         "refund_amount", (json_int_t)v->refund,
                         "fee", (json_int_t)v->fee,
                         "currency", v->currency,
                         "tier", v->tier,
                         "cancellable", v->cancellable,
                         "reason", v->reason));
}

/* The facts of booking id (customer or staff flavour, as the route
 * says) into v: 1, or 0 after answering. */
static int load_preview(jklg_req_t *req, const char *label, const char *id,
                        preview_t *v)
{
    jklg_result_t res;

    if (!jklg_call(req, label, 1, &id, &res)) {
        return 0;
    }
    if (strcmp(res.outcome, "ok")) {
        jklg_finish(req, &res, cancel_outcomes);
        return 0;
    }
    if (!preview_of(req->r->pool, jklg_result_json(req, &res), v)) {
        jklg_reply_db_error(req, APR_EGENERAL, apr_psprintf(req->r->pool,
                            "booking %s: stored cancellation tiers are not "
                            "valid", id));
        return 0;
    }
    return 1;
}

static const char *path_id(jklg_req_t *req)
{
    const char *id = apr_table_get(req->params, "id");

    if (!jklg_is_uuid(id)) {
        jklg_reply_not_found(req);
        return NULL;
    }
    return id;
}

/* A whole number of minor units, 0 or more, as text (NULL: absent or
 * failed). */
static const char *check_minor(jklg_check_t *c, const char *key,
                               unsigned flags)
{
    const json_t *v = json_object_get(c->body, key);

    if (!v) {
        if (flags & JKLG_REQUIRED) {
            jklg_check_fail(c, key, "is required");
        }
        return NULL;
    }
    if (!json_is_integer(v) || json_integer_value(v) < 0
        || json_integer_value(v) > JKLG_AMOUNT_MAX) {
        jklg_check_fail(c, key, "must be a whole number of the currency's "
                        "smallest unit (cents), 0 or more");
        return NULL;
    }
    return apr_psprintf(c->p, "%" APR_INT64_T_FMT,
                        (apr_int64_t)json_integer_value(v));
}

static const char *i64(apr_pool_t *p, apr_int64_t v)
{
    return apr_psprintf(p, "%" APR_INT64_T_FMT, v);
}

/* ------------------------------------------------------------- policies */

static int policy_name_ok(const char *name)
{
    size_t n = name ? strlen(name) : 0;

    if (n == 0 || n > POLICY_NAME_MAX || !apr_isalnum(name[0])) {
        return 0;
    }
    for (size_t i = 0; i < n; i++) {
        if (!apr_isalnum(name[i]) && !strchr("_.-", name[i])) {
            return 0;
        }
    }
    return 1;
}

int jklg_staff_policy_put(jklg_req_t *req)
{
    static const char *const allowed[] = {"tiers", NULL};
    const char *name = apr_table_get(req->params, "name");
    jklg_tier_t tiers[JKLG_POLICY_MAX_TIERS];
    const char *key, *why;
    json_t *stored;
    jklg_check_t c;
    int n;

    jklg_check_init(&c, req->r->pool, req->body, allowed);
    if (!policy_name_ok(name)) {
        jklg_check_fail(&c, "name", "must be 1 to 64 letters, digits, '_', "
                        "'.' or '-', starting with a letter or digit");
    }
    if (!json_object_get(req->body, "tiers")) {
        jklg_check_fail(&c, "tiers", "is required");
    }
    else if ((why = jklg_policy_parse(req->r->pool,
                                      json_object_get(req->body, "tiers"),
                                      tiers, &n, &key))) {
        jklg_check_fail(&c, key, why);
    }
    if (!jklg_check_ok(&c)) {
        return jklg_reply_invalid(req, c.fields);
    }
    /* Stored as checked, highest min_days_before first. */
    stored = jklg_json_own(req->r->pool, json_array());
    for (int done = 0; done < n; done++) {
        int best = -1;
        for (int i = 0; i < n; i++) {
            if (tiers[i].min_days_before >= 0
                && (best < 0 || tiers[i].min_days_before
                                > tiers[best].min_days_before)) {
                best = i;
            }
        }
        json_array_append_new(stored, json_pack(
            "{s:i, s:i, s:I}", "min_days_before", tiers[best].min_days_before,
            "refund_percent", tiers[best].refund_percent,
            "fee", (json_int_t)tiers[best].fee));
        tiers[best].min_days_before = -1;
    }
    {
        const char *args[] = {name, jklg_json_dump(req->r->pool, stored)};
        return jklg_call_finish(req, "jklg_s_policy_put", 2, args, NULL);
    }
}

int jklg_staff_policies(jklg_req_t *req)
{
    jklg_page_t page;

    if (!jklg_req_page(req, &page)) {
        return OK;
    }
    {
        const char *args[] = {page.time, page.id,
                              apr_ltoa(req->r->pool, page.limit)};
        return jklg_call_finish(req, "jklg_s_policies", 3, args, NULL);
    }
}

/* --------------------------------------------------------- cancellation */

int jklg_me_booking_cancellation(jklg_req_t *req)
{
    const char *id = path_id(req);
    preview_t v;

    if (!id || !load_preview(req, "jklg_me_cancellation", id, &v)) {
        return OK;
    }
    return jklg_reply(req, HTTP_OK, preview_json(req->r->pool, &v));
}

/* Intents the cancel closed that the gateway knows: canceled there too,
 * so that no old client secret can pay them. Best effort: should one be
 * paid at that very moment, its webhook records the money and the
 * over-payment path refunds it in full (the booking is canceled). */
static void cancel_open_intents(jklg_req_t *req, const json_t *list)
{
    const json_t *tx;
    const char *err = NULL;
    size_t i;

    json_array_foreach(list, i, tx) {
        const jklg_gateway_t *gw = jklg_gateway_find(jklg_json_str(tx,
                                                                   "gateway"));
        if (gw && gw->cancel_payment
            && jklg_count_gateway(gw, gw->cancel_payment(
                   jklg_gateway_conf(req->conf, gw), req->r->pool,
                   jklg_json_str(tx, "gateway_ref"), &err)) != APR_SUCCESS) {
            ap_log_rerror(APLOG_MARK, APLOG_WARNING, 0, req->r,
                          JKLGNO(02101) "booking canceled: could not cancel "
                          "open payment %s at its gateway: %s",
                          jklg_json_str(tx, "gateway_ref"), err);
        }
    }
}

/* Sends the refunds the cancel opened, newest payment first; a refund
 * whose outcome is unknown stays pending (staff retry it with the refund
 * endpoint, under the same key). The refunds as they are now. */
static json_t *send_refunds(jklg_req_t *req, const json_t *opened,
                            const char *actor)
{
    json_t *out = jklg_json_own(req->r->pool, json_array());
    const json_t *one;
    size_t i;

    json_array_foreach(opened, i, one) {
        jklg_refund_sent_t sent;
        apr_status_t rv = jklg_refund_send(req, one, actor, &sent);
        const json_t *now = json_object_get(sent.settled, "refund");

        if (rv != APR_SUCCESS || !now) {
            ap_log_rerror(APLOG_MARK, APLOG_ERR, rv, req->r, JKLGNO(02102)
                          "cancellation refund %s not completed (%s%s): it "
                          "stays pending for staff to retry",
                          jklg_json_str(one, "id"), sent.err ? sent.err : "",
                          sent.db_err ? sent.db_err : "");
        }
        json_array_append(out, (json_t *)(now ? now
                                          : json_object_get(one, "refund")));
    }
    return out;
}

/* After the cancel committed: gateway work, then 202 {booking, refunds}
 * with the booking read again (its refunded amount moved). */
static int finish_cancel(jklg_req_t *req, jklg_result_t *done,
                         const char *id, const char *get_label,
                         const char *actor)
{
    json_t *body = jklg_result_json(req, done);
    json_t *refunds, *booking;
    jklg_result_t res;

    cancel_open_intents(req, json_object_get(body, "cancel"));
    refunds = send_refunds(req, json_object_get(body, "opened"), actor);
    if (!jklg_call(req, get_label, 1, &id, &res)) {
        return OK;
    }
    booking = json_object_get(jklg_result_json(req, &res), "booking");
    return jklg_reply(req, HTTP_ACCEPTED, jklg_json_own(req->r->pool,
                      json_pack("{s:O, s:O}", "booking", booking,
                                "refunds", refunds)));
}

int jklg_me_booking_cancel(jklg_req_t *req)
{
    static const char *const allowed[] = {"expected_refund_amount", NULL};
    apr_pool_t *p = req->r->pool;
    const char *id, *expected;
    jklg_result_t res;
    jklg_check_t c;
    preview_t v;

    jklg_check_init(&c, p, req->body, allowed);
    expected = check_minor(&c, "expected_refund_amount", JKLG_REQUIRED);
    if (!(id = path_id(req))) {
        return OK;
    }
    if (!jklg_check_ok(&c)) {
        return jklg_reply_invalid(req, c.fields);
    }
    if (!load_preview(req, "jklg_me_cancellation", id, &v)) {
        return OK;
    }
    if (!v.cancellable) {
        return jklg_reply_error(req, HTTP_CONFLICT, "conflict", v.reason,
                                NULL);
    }
    if (apr_atoi64(expected) != v.refund) {
        res.outcome = "policy_changed";
        res.body = NULL;
        res.json = NULL;
        return jklg_finish(req, &res, cancel_outcomes);
    }
    {
        const char *args[] = {id, i64(p, v.paid_net),
                              apr_ltoa(p, v.days_left), i64(p, v.refund),
                              i64(p, v.fee), req->conf->public_url};
        if (!jklg_call(req, "jklg_me_cancel", 6, args, &res)) {
            return OK;
        }
    }
    if (strcmp(res.outcome, "ok")) {
        return jklg_finish(req, &res, cancel_outcomes);
    }
    return finish_cancel(req, &res, id, "jklg_me_booking", "system");
}

int jklg_staff_booking_cancel(jklg_req_t *req)
{
    static const char *const allowed[] = {"refund_amount", "reason", NULL};
    apr_pool_t *p = req->r->pool;
    const char *id, *amount, *reason;
    jklg_result_t res;
    jklg_check_t c;
    preview_t v;

    jklg_check_init(&c, p, req->body, allowed);
    amount = check_minor(&c, "refund_amount", 0);
    reason = jklg_check_text(&c, "reason", JKLG_REQUIRED, 1, 500);
    if (!(id = path_id(req))) {
        return OK;
    }
    if (!jklg_check_ok(&c)) {
        return jklg_reply_invalid(req, c.fields);
    }
    if (!load_preview(req, "jklg_s_cancellation", id, &v)) {
        return OK;
    }
    {
        const char *args[] = {id, i64(p, v.paid_net),
                              apr_ltoa(p, v.days_left), i64(p, v.refund),
                              i64(p, v.fee), amount, req->r->user, reason,
                              req->conf->public_url};
        if (!jklg_call(req, "jklg_s_cancel", 9, args, &res)) {
            return OK;
        }
    }
    if (strcmp(res.outcome, "ok")) {
        return jklg_finish(req, &res, cancel_outcomes);
    }
    return finish_cancel(req, &res, id, "jklg_s_booking_get", req->r->user);
}

/* ----------------------------------------------------------- saved cards */

int jklg_travel_customer_ref(jklg_req_t *req, const jklg_gateway_t *gw,
                             json_t *opened)
{
    jklg_customer_req_t ask;
    const char *ref = NULL, *err = NULL;
    jklg_result_t res;
    apr_status_t rv;

    if (jklg_json_str(opened, "customer_ref")) {
        return 1;
    }
    if (!gw->create_customer) {
        /* A gateway that keeps no cards: the payment is made without. */
        json_object_set_new(opened, "save", json_false());
        return 1;
    }
    ask.customer_id = jklg_json_str(opened, "customer_id");
    ask.email = jklg_json_str(opened, "customer_email");
    rv = jklg_count_gateway(gw, gw->create_customer(
             jklg_gateway_conf(req->conf, gw), req->r->pool, &ask, &ref,
             &err));
    if (rv != APR_SUCCESS) {
        jklg_reply_gateway_error(req, err);
        return 0;
    }
    {
        const char *args[] = {gw->name, ref};
        if (!jklg_call(req, "jklg_me_gateway_customer", 2, args, &res)) {
            return 0;
        }
    }
    if (strcmp(res.outcome, "ok")) {
        jklg_finish(req, &res, NULL);
        return 0;
    }
    json_object_set_new(opened, "customer_ref", json_string(jklg_json_str(
        jklg_result_json(req, &res), "customer_ref")));
    return 1;
}

int jklg_me_payment_methods(jklg_req_t *req)
{
    return jklg_call_finish(req, "jklg_me_methods", 0, NULL, NULL);
}

/* Detached at the gateway first: a card forgotten here but still on the
 * gateway's customer could be charged by anyone with the dashboard. A
 * method the gateway no longer has attached (refused) is forgotten too. */
int jklg_me_payment_method_delete(jklg_req_t *req)
{
    const char *id = path_id(req);
    const jklg_gateway_t *gw;
    const char *err = NULL;
    jklg_result_t res;
    json_t *found;
    apr_status_t rv;

    if (!id) {
        return OK;
    }
    {
        const char *args[] = {id, "false"};
        if (!jklg_call(req, "jklg_me_method_delete", 2, args, &res)) {
            return OK;
        }
    }
    if (strcmp(res.outcome, "ok")) {
        return jklg_finish(req, &res, NULL);
    }
    found = jklg_result_json(req, &res);
    gw = jklg_gateway_find(jklg_json_str(found, "gateway"));
    if (gw && gw->detach_method) {
        rv = jklg_count_gateway(gw, gw->detach_method(
            jklg_gateway_conf(req->conf, gw), req->r->pool,
            jklg_json_str(found, "gateway_ref"), &err));
        if (rv != APR_SUCCESS && rv != APR_EGENERAL) {
            return jklg_reply_gateway_error(req, err);
        }
    }
    {
        const char *args[] = {id, "true"};
        return jklg_call_finish(req, "jklg_me_method_delete", 2, args, NULL);
    }
}
