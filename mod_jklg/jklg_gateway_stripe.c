/* The Stripe gateway: its configuration and directives, and the
 * operations of jklg_gateway_t over Stripe's REST API (PaymentIntents,
 * refunds, saved cards, the events list). The HTTP client is
 * jklg_stripe_api.c, webhooks jklg_stripe_webhook.c. */
#include <stdlib.h>
#include <string.h>
#include <apr_strings.h>
#include <apr_uri.h>
#include <jansson.h>
#include "jklg_json.h"
#include "jklg_stripe.h"
#include "jklg_util.h"

/* ---- payments and refunds ----------------------------------------------- */

static const char *payment_form(apr_pool_t *p, const jklg_payment_req_t *req)
{
    apr_array_header_t *f = apr_array_make(p, 8, sizeof(const char *));

    jklg_stripe_form_add(f, "amount", jklg_stripe_amount(p, req->amount));
    jklg_stripe_form_add(f, "currency", req->currency);
    jklg_stripe_form_add(f, "automatic_payment_methods[enabled]", "true");
    jklg_stripe_form_add(f, "metadata[transaction_id]", req->transaction_id);
    jklg_stripe_form_add(f, "metadata[booking_id]", req->booking_id);
    jklg_stripe_form_add(f, "metadata[booking_reference]",
                         req->booking_reference);
    if (req->booking_reference) {
        jklg_stripe_form_add(f, "description", apr_pstrcat(p, "Booking ",
                                               req->booking_reference, NULL));
    }
    /* Keeps the card on the customer for the balance (off-session). */
    if (req->customer_ref) {
        jklg_stripe_form_add(f, "customer", req->customer_ref);
        if (req->save_method) {
            jklg_stripe_form_add(f, "setup_future_usage", "off_session");
        }
    }
    return apr_array_pstrcat(p, f, '&');
}

/* Stripe's own `reason` is an enum (duplicate, fraudulent,
 * requested_by_customer) with consequences (fraudulent blocks the card):
 * staff's words go to metadata only. */
static const char *refund_form(apr_pool_t *p, const jklg_refund_req_t *req)
{
    apr_array_header_t *f = apr_array_make(p, 8, sizeof(const char *));

    jklg_stripe_form_add(f, "payment_intent", req->gateway_ref);
    if (req->amount > 0) {
        jklg_stripe_form_add(f, "amount", jklg_stripe_amount(p, req->amount));
    }
    jklg_stripe_form_add(f, "metadata[refund_id]", req->refund_id);
    jklg_stripe_form_add(f, "metadata[transaction_id]", req->transaction_id);
    if (req->reason && *req->reason) {
        jklg_stripe_form_add(f, "metadata[reason]",
                 jklg_stripe_truncate(p, req->reason,
                                      JKLG_STRIPE_METADATA_MAX));
    }
    return apr_array_pstrcat(p, f, '&');
}

/* A reused Idempotency-Key with other parameters is refused by Stripe;
 * this catches a stand-in or proxy that answers for another object. */
static int same_money(const json_t *obj, apr_int64_t amount,
                      const char *currency)
{
    const json_t *a = json_object_get(obj, "amount");
    const char *c = jklg_json_str(obj, "currency");

    if (a && (!json_is_integer(a) || json_integer_value(a) != amount)) {
        return 0;
    }
    return c == NULL || currency == NULL || strcasecmp(c, currency) == 0;
}

/* The reply is Stripe's answer to an Idempotency-Key: when it is not the
 * PaymentIntent asked for, nothing of it may reach the caller. */
static apr_status_t parse_payment_intent(apr_pool_t *p,
                                         const jklg_stripe_reply_t *r,
                                         const jklg_payment_req_t *req,
                                         jklg_payment_t *out,
                                         const char **err)
{
    json_t *pi = jklg_stripe_load_object(p, r->body, r->len);
    const char *status = jklg_stripe_payment_status(jklg_json_str(pi,
                                                                  "status"));

    out->gateway_ref = jklg_stripe_str(p, pi, "id");
    out->client_secret = jklg_stripe_str(p, pi, "client_secret");
    out->status = status;
    if (!out->gateway_ref || !out->client_secret || !status) {
        *err = "stripe: unexpected PaymentIntent in the response";
    }
    else if (!same_money(pi, req->amount, req->currency)) {
        *err = "stripe: PaymentIntent amount or currency differs from the "
               "request";
    }
    else {
        return APR_SUCCESS;
    }
    memset(out, 0, sizeof(*out));
    return APR_EGENERAL;
}

static apr_status_t stripe_create_payment(const void *conf,
                                          apr_pool_t *p,
                                          const jklg_payment_req_t *req,
                                          jklg_payment_t *out,
                                          const char **err)
{
    jklg_stripe_call_t call;
    jklg_stripe_reply_t reply;
    apr_status_t rv;

    *err = NULL;
    memset(out, 0, sizeof(*out));
    if ((rv = jklg_stripe_check_configured(conf, err)) != APR_SUCCESS) {
        return rv;
    }
    if (!jklg_stripe_header_safe(req->transaction_id) || req->amount <= 0
        || req->currency == NULL) {
        *err = "stripe: payment request without transaction id, amount or "
               "currency";
        return APR_EINVAL;
    }
    call.path = "/v1/payment_intents";
    call.form = payment_form(p, req);
    call.idempotency_key = apr_pstrcat(p, "jklg-pi-", req->transaction_id,
                                       NULL);
    rv = jklg_stripe_call(conf, p, &call, &reply, err);
    if (rv == APR_SUCCESS) {
        rv = parse_payment_intent(p, &reply, req, out, err);
    }
    return rv;
}

static apr_status_t stripe_fetch_payment(const void *conf,
                                         apr_pool_t *p,
                                         const char *gateway_ref,
                                         const jklg_payment_req_t *expected,
                                         jklg_payment_t *out,
                                         const char **err)
{
    jklg_stripe_call_t call;
    jklg_stripe_reply_t reply;
    apr_status_t rv;

    *err = NULL;
    memset(out, 0, sizeof(*out));
    if ((rv = jklg_stripe_check_configured(conf, err)) != APR_SUCCESS) {
        return rv;
    }
    if (!jklg_stripe_id_ok(gateway_ref)) {
        *err = "stripe: not a PaymentIntent id";
        return APR_EINVAL;
    }
    memset(&call, 0, sizeof(call));
    call.path = apr_pstrcat(p, "/v1/payment_intents/", gateway_ref, NULL);
    rv = jklg_stripe_call(conf, p, &call, &reply, err);
    if (rv == APR_SUCCESS) {
        rv = parse_payment_intent(p, &reply, expected, out, err);
    }
    return rv;
}

static apr_status_t stripe_cancel_payment(const void *conf,
                                          apr_pool_t *p,
                                          const char *gateway_ref,
                                          const char **err)
{
    jklg_stripe_call_t call;
    jklg_stripe_reply_t reply;
    apr_status_t rv;

    *err = NULL;
    if ((rv = jklg_stripe_check_configured(conf, err)) != APR_SUCCESS) {
        return rv;
    }
    if (!jklg_stripe_id_ok(gateway_ref)) {
        *err = "stripe: not a PaymentIntent id";
        return APR_EINVAL;
    }
    memset(&call, 0, sizeof(call));
    call.path = apr_pstrcat(p, "/v1/payment_intents/", gateway_ref, "/cancel",
                            NULL);
    call.form = "cancellation_reason=abandoned";
    call.idempotency_key = apr_pstrcat(p, "jklg-pc-", gateway_ref, NULL);
    return jklg_stripe_call(conf, p, &call, &reply, err);
}

static apr_status_t parse_refund(apr_pool_t *p, const jklg_stripe_reply_t *r,
                                 const jklg_refund_req_t *req,
                                 jklg_refund_t *out, const char **err)
{
    json_t *re = jklg_stripe_load_object(p, r->body, r->len);

    out->gateway_ref = jklg_stripe_str(p, re, "id");
    out->status = jklg_stripe_refund_status(jklg_json_str(re, "status"));
    if (!out->gateway_ref || !out->status) {
        *err = "stripe: unexpected Refund in the response";
    }
    else if (req->amount > 0
             && !same_money(re, req->amount, req->currency)) {
        *err = "stripe: Refund amount or currency differs from the request";
    }
    else {
        return APR_SUCCESS;
    }
    memset(out, 0, sizeof(*out));
    return APR_EGENERAL;
}

static apr_status_t stripe_refund(const void *conf,
                                  apr_pool_t *p, const jklg_refund_req_t *req,
                                  jklg_refund_t *out, const char **err)
{
    jklg_stripe_call_t call;
    jklg_stripe_reply_t reply;
    apr_status_t rv;

    *err = NULL;
    memset(out, 0, sizeof(*out));
    if ((rv = jklg_stripe_check_configured(conf, err)) != APR_SUCCESS) {
        return rv;
    }
    if (!jklg_stripe_header_safe(req->refund_id) || req->gateway_ref == NULL
        || *req->gateway_ref == '\0') {
        *err = "stripe: refund request without refund id or PaymentIntent";
        return APR_EINVAL;
    }
    call.path = "/v1/refunds";
    call.form = refund_form(p, req);
    call.idempotency_key = apr_pstrcat(p, "jklg-re-", req->refund_id, NULL);
    rv = jklg_stripe_call(conf, p, &call, &reply, err);
    if (rv == APR_SUCCESS) {
        rv = parse_refund(p, &reply, req, out, err);
    }
    return rv;
}

/* ---- saved cards and off-session charges (issue 10) --------------------- */

static apr_status_t stripe_create_customer(const void *conf,
                                           apr_pool_t *p,
                                           const jklg_customer_req_t *req,
                                           const char **ref, const char **err)
{
    apr_array_header_t *f = apr_array_make(p, 4, sizeof(const char *));
    jklg_stripe_call_t call;
    jklg_stripe_reply_t reply;
    apr_status_t rv;

    *err = NULL;
    *ref = NULL;
    if ((rv = jklg_stripe_check_configured(conf, err)) != APR_SUCCESS) {
        return rv;
    }
    if (!jklg_stripe_header_safe(req->customer_id)) {
        *err = "stripe: customer request without our customer id";
        return APR_EINVAL;
    }
    jklg_stripe_form_add(f, "email", req->email);
    jklg_stripe_form_add(f, "metadata[customer_id]", req->customer_id);
    call.path = "/v1/customers";
    call.form = apr_array_pstrcat(p, f, '&');
    call.idempotency_key = apr_pstrcat(p, "jklg-cus-", req->customer_id,
                                       NULL);
    rv = jklg_stripe_call(conf, p, &call, &reply, err);
    if (rv == APR_SUCCESS) {
        *ref = jklg_stripe_str(p, jklg_stripe_load_object(p, reply.body,
                                                          reply.len), "id");
        if (!jklg_stripe_id_ok(*ref)) {
            *ref = NULL;
            *err = "stripe: unexpected Customer in the response";
            rv = APR_EGENERAL;
        }
    }
    return rv;
}

static int int_member(const json_t *obj, const char *key)
{
    const json_t *v = json_object_get(obj, key);

    return json_is_integer(v) ? (int)json_integer_value(v) : 0;
}

static apr_status_t stripe_fetch_method(const void *conf,
                                        apr_pool_t *p,
                                        const char *gateway_ref,
                                        jklg_method_t *out, const char **err)
{
    jklg_stripe_call_t call;
    jklg_stripe_reply_t reply;
    json_t *pm, *card;
    apr_status_t rv;

    *err = NULL;
    memset(out, 0, sizeof(*out));
    if ((rv = jklg_stripe_check_configured(conf, err)) != APR_SUCCESS) {
        return rv;
    }
    if (!jklg_stripe_id_ok(gateway_ref)) {
        *err = "stripe: not a PaymentMethod id";
        return APR_EINVAL;
    }
    memset(&call, 0, sizeof(call));
    call.path = apr_pstrcat(p, "/v1/payment_methods/", gateway_ref, NULL);
    if ((rv = jklg_stripe_call(conf, p, &call, &reply, err)) != APR_SUCCESS) {
        return rv;
    }
    pm = jklg_stripe_load_object(p, reply.body, reply.len);
    card = json_object_get(pm, "card");
    out->gateway_ref = jklg_stripe_str(p, pm, "id");
    out->customer_ref = jklg_stripe_str(p, pm, "customer");
    out->brand = jklg_stripe_str(p, card, "brand");
    out->last4 = jklg_stripe_str(p, card, "last4");
    out->exp_month = int_member(card, "exp_month");
    out->exp_year = int_member(card, "exp_year");
    if (!out->gateway_ref || strcmp(out->gateway_ref, gateway_ref)
        || !out->brand || !out->last4 || strlen(out->last4) != 4) {
        memset(out, 0, sizeof(*out));
        *err = "stripe: unexpected PaymentMethod in the response";
        return APR_EGENERAL;
    }
    out->brand = jklg_stripe_truncate(p, out->brand, 32);
    return APR_SUCCESS;
}

static const char *offsession_form(apr_pool_t *p,
                                   const jklg_offsession_req_t *req)
{
    apr_array_header_t *f = apr_array_make(p, 10, sizeof(const char *));

    jklg_stripe_form_add(f, "amount", jklg_stripe_amount(p, req->amount));
    jklg_stripe_form_add(f, "currency", req->currency);
    jklg_stripe_form_add(f, "customer", req->customer_ref);
    jklg_stripe_form_add(f, "payment_method", req->method_ref);
    jklg_stripe_form_add(f, "off_session", "true");
    jklg_stripe_form_add(f, "confirm", "true");
    jklg_stripe_form_add(f, "metadata[transaction_id]", req->transaction_id);
    jklg_stripe_form_add(f, "metadata[booking_reference]",
                         req->booking_reference);
    if (req->booking_reference) {
        jklg_stripe_form_add(f, "description", apr_pstrcat(p, "Booking ",
                                               req->booking_reference,
                                               " (balance)", NULL));
    }
    return apr_array_pstrcat(p, f, '&');
}

/* A card error (402) names the intent it left behind and why. */
static void card_error(apr_pool_t *p, const jklg_stripe_reply_t *r,
                       jklg_offsession_t *out)
{
    json_t *e = json_object_get(jklg_stripe_load_object(p, r->body, r->len),
                                "error");
    const char *code = jklg_json_str(e, "code");
    const char *decline = jklg_json_str(e, "decline_code");

    out->gateway_ref = jklg_stripe_str(p, json_object_get(e, "payment_intent"),
                                "id");
    if (out->gateway_ref && !jklg_stripe_id_ok(out->gateway_ref)) {
        out->gateway_ref = NULL;
    }
    if (code && !strcmp(code, "authentication_required")) {
        out->decline = "authentication_required";
    }
    else if (decline && jklg_stripe_id_ok(decline)) {
        out->decline = apr_pstrdup(p, decline);
    }
    else if (code && jklg_stripe_id_ok(code)) {
        out->decline = apr_pstrdup(p, code);
    }
}

static apr_status_t stripe_charge_off_session(
    const void *conf, apr_pool_t *p,
    const jklg_offsession_req_t *req, jklg_offsession_t *out,
    const char **err)
{
    jklg_stripe_call_t call;
    jklg_stripe_reply_t reply;
    jklg_payment_req_t expected;
    jklg_payment_t pi;
    apr_status_t rv;

    *err = NULL;
    memset(out, 0, sizeof(*out));
    if ((rv = jklg_stripe_check_configured(conf, err)) != APR_SUCCESS) {
        return rv;
    }
    if (!jklg_stripe_header_safe(req->idempotency_key)
        || !jklg_stripe_id_ok(req->customer_ref)
        || !jklg_stripe_id_ok(req->method_ref) || req->amount <= 0
        || req->currency == NULL) {
        *err = "stripe: off-session charge without key, customer, method, "
               "amount or currency";
        return APR_EINVAL;
    }
    call.path = "/v1/payment_intents";
    call.form = offsession_form(p, req);
    call.idempotency_key = apr_pstrcat(p, "jklg-off-", req->idempotency_key,
                                       NULL);
    rv = jklg_stripe_call(conf, p, &call, &reply, err);
    if (rv == APR_EGENERAL && reply.status == 402) {
        card_error(p, &reply, out);
        return rv;
    }
    if (rv != APR_SUCCESS) {
        return rv;
    }
    memset(&expected, 0, sizeof(expected));
    expected.amount = req->amount;
    expected.currency = req->currency;
    /* An off-session intent has a client secret too; it is not kept. */
    rv = parse_payment_intent(p, &reply, &expected, &pi, err);
    out->gateway_ref = pi.gateway_ref;
    out->status = pi.status;
    return rv;
}

static apr_status_t stripe_detach_method(const void *conf,
                                         apr_pool_t *p,
                                         const char *gateway_ref,
                                         const char **err)
{
    jklg_stripe_call_t call;
    jklg_stripe_reply_t reply;
    apr_status_t rv;

    *err = NULL;
    if ((rv = jklg_stripe_check_configured(conf, err)) != APR_SUCCESS) {
        return rv;
    }
    if (!jklg_stripe_id_ok(gateway_ref)) {
        *err = "stripe: not a PaymentMethod id";
        return APR_EINVAL;
    }
    memset(&call, 0, sizeof(call));
    call.path = apr_pstrcat(p, "/v1/payment_methods/", gateway_ref,
                            "/detach", NULL);
    call.form = "";
    call.idempotency_key = apr_pstrcat(p, "jklg-pmd-", gateway_ref, NULL);
    return jklg_stripe_call(conf, p, &call, &reply, err);
}

/* ---- reconciliation ----------------------------------------------------- */

/* Events rather than lists of PaymentIntents and Refunds: a list filtered
 * by `created` misses an old PaymentIntent that succeeded today, while its
 * payment_intent.succeeded event is new; and an event carries the id its
 * webhook carries, so applying it is the webhook's exactly-once path with
 * the same key. 50 a page keeps a page of charges with their refund lists
 * well under REPLY_MAX. */
#define EVENTS_PAGE 50

static apr_status_t stripe_list_changes(const void *conf,
                                        apr_pool_t *p, apr_int64_t since,
                                        const char *cursor,
                                        jklg_gateway_changes_t *out,
                                        const char **err)
{
    jklg_stripe_call_t call;
    jklg_stripe_reply_t reply;
    apr_status_t rv;
    json_t *page, *data;

    *err = NULL;
    memset(out, 0, sizeof(*out));
    if ((rv = jklg_stripe_check_configured(conf, err)) != APR_SUCCESS) {
        return rv;
    }
    if (cursor && !jklg_stripe_id_ok(cursor)) {
        *err = "stripe: not an event id";
        return APR_EINVAL;
    }
    memset(&call, 0, sizeof(call));
    call.path = apr_psprintf(p, "/v1/events?created%%5Bgte%%5D=%"
                             APR_INT64_T_FMT "&limit=%d%s%s", since,
                             EVENTS_PAGE, cursor ? "&starting_after=" : "",
                             cursor ? cursor : "");
    if ((rv = jklg_stripe_call(conf, p, &call, &reply, err)) != APR_SUCCESS) {
        return rv;
    }
    page = jklg_stripe_load_object(p, reply.body, reply.len);
    data = json_object_get(page, "data");
    if (!json_is_array(data)) {
        *err = "stripe: the events list has no data";
        return APR_EGENERAL;
    }
    out->events = apr_array_make(p, (int)json_array_size(data) + 1,
                                 sizeof(jklg_gateway_event_t));
    out->payloads = apr_array_make(p, (int)json_array_size(data) + 1,
                                   sizeof(const char *));
    out->has_more = json_is_true(json_object_get(page, "has_more"));
    /* Stripe lists newest first; the page is applied oldest first. */
    for (size_t i = json_array_size(data); i-- > 0;) {
        json_t *evt = json_array_get(data, i);
        char *text = json_dumps(evt, JSON_COMPACT);
        jklg_gateway_event_t ev;
        const char *why, *body;

        if (out->next == NULL) {
            out->next = jklg_stripe_str(p, json_array_get(data,
                                                   json_array_size(data) - 1),
                                 "id");
        }
        if (text == NULL) {
            return APR_ENOMEM;
        }
        body = apr_pstrdup(p, text);
        free(text);
        APR_ARRAY_PUSH(out->payloads, const char *) = body;
        if (jklg_stripe_parse_event(p, body, strlen(body), &ev, &why)
            != APR_SUCCESS) {
            /* Malformed: what its webhook would have refused. */
            ev.kind = JKLG_EVENT_IGNORED;
        }
        APR_ARRAY_PUSH(out->events, jklg_gateway_event_t) = ev;
    }
    if (out->has_more && out->next == NULL) {
        *err = "stripe: the events list says more, without a last id";
        return APR_EGENERAL;
    }
    return APR_SUCCESS;
}

/* ---- configuration ------------------------------------------------------ */

static void *stripe_make_conf(apr_pool_t *p)
{
    jklg_stripe_conf_t *c = apr_pcalloc(p, sizeof(*c));

    c->timeout = -1;
    c->webhook_tolerance = -1;
    return c;
}

#define PICK(field) (add->field != -1 ? add->field : base->field)
#define PICK_PTR(field) (add->field ? add->field : base->field)

static void *stripe_merge_conf(apr_pool_t *p, const void *basev,
                               const void *addv)
{
    const jklg_stripe_conf_t *base = basev, *add = addv;
    jklg_stripe_conf_t *c = apr_pcalloc(p, sizeof(*c));

    c->secret_key = PICK_PTR(secret_key);
    c->publishable_key = PICK_PTR(publishable_key);
    c->api_base = PICK_PTR(api_base);
    c->js_url = PICK_PTR(js_url);
    c->timeout = PICK(timeout);
    c->webhook_secrets = PICK_PTR(webhook_secrets);
    c->webhook_tolerance = PICK(webhook_tolerance);
    return c;
}

/* "sk_test_..." -> "test": the mode a key belongs to, NULL if unknown. */
static const char *key_mode(apr_pool_t *p, const char *key)
{
    const char *mode = key ? strchr(key, '_') : NULL;
    const char *end = mode ? strchr(mode + 1, '_') : NULL;

    return end ? apr_pstrmemdup(p, mode + 1, (apr_size_t)(end - mode - 1))
               : NULL;
}

/* The defaults, and one refusal: keys of two modes (a live secret key
 * with a test publishable key) take payments nobody can complete. */
static const char *stripe_check_conf(apr_pool_t *p, void *conf)
{
    jklg_stripe_conf_t *c = conf;
    const char *secret = key_mode(p, c->secret_key);
    const char *publishable = key_mode(p, c->publishable_key);

    if (!c->api_base) {
        c->api_base = JKLG_STRIPE_API_BASE;
    }
    if (!c->js_url) {
        c->js_url = JKLG_STRIPE_JS_URL;
    }
    if (c->timeout == -1) {
        c->timeout = JKLG_STRIPE_TIMEOUT;
    }
    if (c->webhook_tolerance == -1) {
        c->webhook_tolerance = JKLG_STRIPE_WEBHOOK_TOLERANCE;
    }
    if (!c->webhook_secrets) {
        c->webhook_secrets = apr_array_make(p, 1, sizeof(const char *));
    }
    if (secret && publishable && strcmp(secret, publishable)) {
        return apr_psprintf(p, "JKLGStripePublishableKey: a pk_%s_ key "
                            "with a sk_%s_ JKLGStripeSecretKey; use the "
                            "keys of one mode (test or live)", publishable,
                            secret);
    }
    return NULL;
}

static int stripe_configured(const void *conf)
{
    const jklg_stripe_conf_t *c = conf;

    return c && c->secret_key != NULL;
}

/* What Stripe.js needs in the browser: the publishable key (null until
 * set) and where to load it from. */
static void stripe_public_conf(const void *conf, json_t *out)
{
    const jklg_stripe_conf_t *c = conf;

    json_object_set_new(out, "publishable_key", c->publishable_key
                        ? json_string(c->publishable_key) : json_null());
    json_object_set_new(out, "js_url", json_string(c->js_url ? c->js_url
                                                   : JKLG_STRIPE_JS_URL));
}

static apr_interval_time_t stripe_call_timeout(const void *conf)
{
    const jklg_stripe_conf_t *c = conf;

    return c && c->timeout > 0 ? c->timeout : JKLG_STRIPE_TIMEOUT;
}

/* ---- directives (JKLG_STRIPE_DIRECTIVES in jklg_stripe.h) --------------- */

static const char *secret_arg(apr_pool_t *p, const char *name,
                              const char *spec, const char *prefix,
                              const char **out)
{
    const char *err;

    if (jklg_resolve_secret(p, spec, out, &err) != APR_SUCCESS) {
        return apr_psprintf(p, "%s: %s", name, err);
    }
    if (strncmp(*out, prefix, strlen(prefix))) {
        return apr_psprintf(p, "%s: the value must start with %s "
                            "(from the Stripe dashboard)", name, prefix);
    }
    return NULL;
}

static const char *set_secret_key(apr_pool_t *p, void *conf, const char *arg)
{
    return secret_arg(p, "JKLGStripeSecretKey", arg, "sk_",
                      &((jklg_stripe_conf_t *)conf)->secret_key);
}

static const char *set_publishable_key(apr_pool_t *p, void *conf,
                                       const char *arg)
{
    return secret_arg(p, "JKLGStripePublishableKey", arg, "pk_",
                      &((jklg_stripe_conf_t *)conf)->publishable_key);
}

static const char *add_webhook_secret(apr_pool_t *p, void *conf,
                                      const char *arg)
{
    jklg_stripe_conf_t *c = conf;
    const char *secret, *err;

    err = secret_arg(p, "JKLGStripeWebhookSecret", arg, "whsec_", &secret);
    if (err) {
        return err;
    }
    if (!c->webhook_secrets) {
        c->webhook_secrets = apr_array_make(p, 2, sizeof(const char *));
    }
    APR_ARRAY_PUSH(c->webhook_secrets, const char *) = secret;
    return NULL;
}

/* NULL when arg is not an absolute http(s) URL. */
static char *http_url(apr_pool_t *p, const char *arg)
{
    apr_uri_t uri;
    char *url = apr_pstrdup(p, arg);

    if (apr_uri_parse(p, url, &uri) != APR_SUCCESS || !uri.hostname
        || !uri.scheme || (strcmp(uri.scheme, "https")
                           && strcmp(uri.scheme, "http"))) {
        return NULL;
    }
    return apr_pstrdup(p, arg);
}

static const char *set_api_base(apr_pool_t *p, void *conf, const char *arg)
{
    char *url = http_url(p, arg);
    apr_size_t len = url ? strlen(url) : 0;

    if (url == NULL) {
        return apr_psprintf(p, "JKLGStripeAPIBase: '%s' is not an http(s) "
                            "URL, use e.g. https://api.stripe.com", arg);
    }
    while (len > 0 && url[len - 1] == '/') {
        url[--len] = '\0';
    }
    ((jklg_stripe_conf_t *)conf)->api_base = url;
    return NULL;
}

/* The pages load Stripe.js from here (a stand-in's copy in tests and in
 * `make run`); it reaches browsers as js_url and the CSP must allow it. */
static const char *set_js_url(apr_pool_t *p, void *conf, const char *arg)
{
    char *url = http_url(p, arg);

    if (url == NULL) {
        return apr_psprintf(p, "JKLGStripeJSURL: '%s' is not an http(s) "
                            "URL, use e.g. https://js.stripe.com/v3/", arg);
    }
    ((jklg_stripe_conf_t *)conf)->js_url = url;
    return NULL;
}

static const char *duration_arg(apr_pool_t *p, const char *name,
                                const char *arg, apr_interval_time_t *out)
{
    if (jklg_parse_duration(arg, out) != APR_SUCCESS) {
        return apr_psprintf(p, "%s: '%s' is not a duration, use e.g. 30, "
                            "500ms, 30s, 5m", name, arg);
    }
    return NULL;
}

static const char *set_timeout(apr_pool_t *p, void *conf, const char *arg)
{
    return duration_arg(p, "JKLGStripeTimeout", arg,
                        &((jklg_stripe_conf_t *)conf)->timeout);
}

static const char *set_webhook_tolerance(apr_pool_t *p, void *conf,
                                         const char *arg)
{
    return duration_arg(p, "JKLGStripeWebhookTolerance", arg,
                        &((jklg_stripe_conf_t *)conf)->webhook_tolerance);
}

#define SETTING(gw, name, how, setter, help) {name, setter},

static const jklg_gateway_setting_t stripe_settings[] = {
    JKLG_STRIPE_DIRECTIVES(SETTING)
    {NULL, NULL}
};

/* ---- the gateway -------------------------------------------------------- */

static apr_status_t stripe_verify_webhook(const void *conf, apr_pool_t *p,
                                          const char *signature,
                                          const char *body, apr_size_t len,
                                          apr_time_t now, const char **err)
{
    return jklg_stripe_verify_webhook(conf, p, signature, body, len, now,
                                      err);
}

static apr_status_t stripe_parse_event(const void *conf, apr_pool_t *p,
                                       const char *body, apr_size_t len,
                                       jklg_gateway_event_t *ev,
                                       const char **err)
{
    (void)conf;                 /* events need no configuration */
    return jklg_stripe_parse_event(p, body, len, ev, err);
}

const jklg_gateway_t jklg_gateway_stripe = {
    .name = "stripe",
    .method = "card",
    .signature_header = "Stripe-Signature",
    .settings = stripe_settings,
    .make_conf = stripe_make_conf,
    .merge_conf = stripe_merge_conf,
    .check_conf = stripe_check_conf,
    .configured = stripe_configured,
    .public_conf = stripe_public_conf,
    .call_timeout = stripe_call_timeout,
    .create_payment = stripe_create_payment,
    .refund = stripe_refund,
    .verify_webhook = stripe_verify_webhook,
    .parse_event = stripe_parse_event,
    .fetch_payment = stripe_fetch_payment,
    .cancel_payment = stripe_cancel_payment,
    .create_customer = stripe_create_customer,
    .fetch_method = stripe_fetch_method,
    .charge_off_session = stripe_charge_off_session,
    .detach_method = stripe_detach_method,
    .list_changes = stripe_list_changes,
};
