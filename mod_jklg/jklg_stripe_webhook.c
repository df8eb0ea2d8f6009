/* Stripe's webhooks: the Stripe-Signature header checked against the raw
 * body (docs/stripe.md), and events read into what the module applies.
 * Pure: no HTTP, no database, so that unit tests reach every branch
 * (tests/unit/check_stripe.c). */
#include <string.h>
#include <apr_strings.h>
#include <jansson.h>
#include <sodium.h>
#include "jklg_json.h"
#include "jklg_stripe.h"
#include "jklg_validate.h"

#define SIG_HEADER_MAX 4096
/* Seconds until the year 33658 (leading zeros not counted): enough, and
 * apr_time_from_sec cannot overflow. */
#define SIG_T_DIGITS_MAX 12

/* ---- webhook signatures ------------------------------------------------ */

static int blank(char c)
{
    return c == ' ' || c == '\t';
}

/* The official libraries read t as an integer and sign its decimal form:
 * blanks around it, a '+' and leading zeros are accepted, and t_text is
 * that canonical form, not the header's text. */
static apr_status_t sig_timestamp(apr_pool_t *p, const char *v, apr_size_t n,
                                  jklg_stripe_sig_t *out)
{
    const char *end = v + n;
    apr_size_t digits;

    if (out->t_text != NULL) {
        return APR_EINVAL;      /* libraries disagree on which t wins */
    }
    while (v < end && blank(*v)) {
        v++;
    }
    while (end > v && blank(end[-1])) {
        end--;
    }
    if (v < end && *v == '+') {
        v++;
    }
    if (v == end) {
        return APR_EINVAL;
    }
    for (const char *c = v; c < end; c++) {
        if (*c < '0' || *c > '9') {
            return APR_EINVAL;
        }
    }
    while (end - v > 1 && *v == '0') {
        v++;
    }
    digits = (apr_size_t)(end - v);
    if (digits > SIG_T_DIGITS_MAX) {
        return APR_EINVAL;
    }
    out->t = apr_strtoi64(apr_pstrmemdup(p, v, digits), NULL, 10);
    out->t_text = apr_psprintf(p, "%" APR_INT64_T_FMT, out->t);
    return APR_SUCCESS;
}

/* A v1 that is not 64 hex digits cannot match; like Stripe's libraries,
 * it is skipped so that another v1 of the header still can. */
static void sig_v1(const char *v, apr_size_t n, jklg_stripe_sig_t *out)
{
    unsigned char sig[JKLG_STRIPE_SIG_LEN];
    size_t bin_len = 0;

    if (n != 2 * JKLG_STRIPE_SIG_LEN
        || sodium_hex2bin(sig, sizeof(sig), v, n, NULL, &bin_len, NULL) != 0
        || bin_len != JKLG_STRIPE_SIG_LEN) {
        return;
    }
    memcpy(apr_array_push(out->v1), sig, sizeof(sig));
}

/* One "scheme=value" element of the header. Keys are compared exactly
 * (" v1" is not v1); empty elements and unknown schemes (v0, schemes to
 * come) are skipped; a t or v1 without '=' is refused, as Stripe's Python
 * library does. */
static apr_status_t sig_element(apr_pool_t *p, const char *s, apr_size_t n,
                                jklg_stripe_sig_t *out)
{
    const char *eq = memchr(s, '=', n);
    apr_size_t klen = eq ? (apr_size_t)(eq - s) : n;

    if (klen == 1 && s[0] == 't') {
        return eq ? sig_timestamp(p, eq + 1, n - klen - 1, out) : APR_EINVAL;
    }
    if (klen == 2 && memcmp(s, "v1", 2) == 0) {
        if (!eq) {
            return APR_EINVAL;
        }
        sig_v1(eq + 1, n - klen - 1, out);
    }
    return APR_SUCCESS;
}

apr_status_t jklg_stripe_parse_signature(apr_pool_t *p, const char *header,
                                         jklg_stripe_sig_t *out)
{
    const char *s, *end;
    apr_status_t rv;

    memset(out, 0, sizeof(*out));
    out->v1 = apr_array_make(p, 2, JKLG_STRIPE_SIG_LEN);
    if (header == NULL || *header == '\0' || strlen(header) > SIG_HEADER_MAX
        || !jklg_stripe_text_ok(header)) {
        return APR_EINVAL;
    }
    for (s = header; ; s = end + 1) {
        end = s + strcspn(s, ",");
        if ((rv = sig_element(p, s, (apr_size_t)(end - s), out))
            != APR_SUCCESS) {
            return rv;
        }
        if (*end == '\0') {
            break;
        }
    }
    return out->t_text && out->v1->nelts > 0 ? APR_SUCCESS : APR_EINVAL;
}

void jklg_stripe_hmac(unsigned char out[JKLG_STRIPE_SIG_LEN],
                      const char *secret, const char *t_text,
                      const char *body, apr_size_t len)
{
    crypto_auth_hmacsha256_state st;

    crypto_auth_hmacsha256_init(&st, (const unsigned char *)secret,
                                strlen(secret));
    crypto_auth_hmacsha256_update(&st, (const unsigned char *)t_text,
                                  strlen(t_text));
    crypto_auth_hmacsha256_update(&st, (const unsigned char *)".", 1);
    if (len > 0) {
        crypto_auth_hmacsha256_update(&st, (const unsigned char *)body, len);
    }
    crypto_auth_hmacsha256_final(&st, out);
    sodium_memzero(&st, sizeof(st));
}

const char *jklg_stripe_sign(apr_pool_t *p, const char *secret,
                             apr_int64_t t, const char *body, apr_size_t len)
{
    unsigned char mac[JKLG_STRIPE_SIG_LEN];
    char hex[2 * JKLG_STRIPE_SIG_LEN + 1];
    const char *t_text = apr_psprintf(p, "%" APR_INT64_T_FMT, t);

    jklg_stripe_hmac(mac, secret, t_text, body, len);
    sodium_bin2hex(hex, sizeof(hex), mac, sizeof(mac));
    return apr_pstrcat(p, "t=", t_text, ",v1=", hex, NULL);
}

/* Any v1 of the header against any configured secret (rotation: Stripe
 * signs with every secret that is live during a roll). */
static int signature_matches(const apr_array_header_t *secrets,
                             const jklg_stripe_sig_t *sig,
                             const char *body, apr_size_t len)
{
    unsigned char expected[JKLG_STRIPE_SIG_LEN];
    int match = 0;

    for (int i = 0; i < secrets->nelts && !match; i++) {
        const char *secret = APR_ARRAY_IDX(secrets, i, const char *);

        if (secret == NULL || *secret == '\0') {
            continue;
        }
        jklg_stripe_hmac(expected, secret, sig->t_text, body, len);
        for (int j = 0; j < sig->v1->nelts && !match; j++) {
            const unsigned char *given = (const unsigned char *)sig->v1->elts
                                         + j * JKLG_STRIPE_SIG_LEN;
            match = sodium_memcmp(expected, given, JKLG_STRIPE_SIG_LEN) == 0;
        }
    }
    sodium_memzero(expected, sizeof(expected));
    return match;
}

/* Both directions: a timestamp from the future is as suspect as an old
 * one, and a replay window is only a window if it is closed at both
 * ends. */
static int timestamp_fresh(apr_int64_t t, apr_time_t now,
                           apr_interval_time_t tolerance)
{
    apr_interval_time_t skew = now - apr_time_from_sec(t);

    if (skew < 0) {
        skew = -skew;
    }
    return tolerance >= 0 && skew <= tolerance;
}

apr_status_t jklg_stripe_verify_webhook(const jklg_stripe_conf_t *conf,
                                        apr_pool_t *p, const char *signature,
                                        const char *body, apr_size_t len,
                                        apr_time_t now, const char **err)
{
    jklg_stripe_sig_t sig;

    *err = NULL;
    if (conf == NULL || conf->webhook_secrets == NULL
        || conf->webhook_secrets->nelts == 0) {
        *err = "stripe: no webhook secret configured";
        return APR_ENOTIMPL;
    }
    if (jklg_stripe_parse_signature(p, signature, &sig) != APR_SUCCESS) {
        *err = "stripe: malformed Stripe-Signature header";
        return APR_EINVAL;
    }
    if (!signature_matches(conf->webhook_secrets, &sig, body, len)) {
        *err = "stripe: no v1 signature matches the body";
        return APR_EINVAL;
    }
    if (!timestamp_fresh(sig.t, now, conf->webhook_tolerance)) {
        *err = "stripe: signature timestamp outside the tolerance";
        return APR_EINVAL;
    }
    return APR_SUCCESS;
}

/* ---- events ------------------------------------------------------------- */

static const struct {
    const char *type;
    jklg_event_kind_t kind;
} EVENT_KINDS[] = {
    {"payment_intent.processing", JKLG_EVENT_PROCESSING},
    {"payment_intent.succeeded", JKLG_EVENT_SUCCEEDED},
    {"payment_intent.payment_failed", JKLG_EVENT_FAILED},
    {"payment_intent.canceled", JKLG_EVENT_CANCELED},
    {"charge.refunded", JKLG_EVENT_REFUNDED},
    {"charge.dispute.created", JKLG_EVENT_DISPUTED},
    {NULL, JKLG_EVENT_IGNORED}
};

static jklg_event_kind_t event_kind(const char *type)
{
    int i;

    for (i = 0; EVENT_KINDS[i].type; i++) {
        if (strcmp(EVENT_KINDS[i].type, type) == 0) {
            break;
        }
    }
    return EVENT_KINDS[i].kind;
}

/* Amounts that move money must be there; for the others 0 will do. */
static apr_status_t event_amount(const json_t *obj, const char *key,
                                 int required, apr_int64_t *out)
{
    const json_t *a = json_object_get(obj, key);

    if (json_is_integer(a) && json_integer_value(a) >= 0) {
        *out = (apr_int64_t)json_integer_value(a);
        return APR_SUCCESS;
    }
    return required ? APR_EINVAL : APR_SUCCESS;
}

static apr_status_t payment_intent_event(apr_pool_t *p, const json_t *pi,
                                         jklg_gateway_event_t *ev)
{
    int succeeded = ev->kind == JKLG_EVENT_SUCCEEDED;

    ev->payment_ref = jklg_stripe_str(p, pi, "id");
    if (ev->payment_ref == NULL) {
        return APR_EINVAL;
    }
    if (succeeded) {
        ev->method_ref = jklg_stripe_str(p, pi, "payment_method");
        if (ev->method_ref && !jklg_stripe_id_ok(ev->method_ref)) {
            ev->method_ref = NULL;
        }
    }
    if (ev->kind == JKLG_EVENT_FAILED) {
        const char *why = jklg_json_str(json_object_get(pi,
                                                        "last_payment_error"),
                                        "message");
        ev->failure_reason = why ? jklg_stripe_truncate(p, why, 500) : NULL;
    }
    return event_amount(pi, succeeded ? "amount_received" : "amount",
                        succeeded, &ev->amount);
}

/* Refunds and disputes point at the charge's PaymentIntent. A charge made
 * without one was not made by this module: nothing to apply. */
static apr_status_t charge_event(apr_pool_t *p, const json_t *obj,
                                 const char *amount_key,
                                 jklg_gateway_event_t *ev)
{
    ev->payment_ref = jklg_stripe_str(p, obj, "payment_intent");
    if (ev->payment_ref == NULL) {
        ev->kind = JKLG_EVENT_IGNORED;
        return APR_SUCCESS;
    }
    return event_amount(obj, amount_key, 1, &ev->amount);
}

static apr_status_t event_object(apr_pool_t *p, const json_t *obj,
                                 jklg_gateway_event_t *ev)
{
    ev->currency = jklg_stripe_str(p, obj, "currency");
    ev->transaction_id = jklg_stripe_str(p, json_object_get(obj, "metadata"),
                                  "transaction_id");
    /* Metadata is anyone's to write (a payment made in the dashboard):
     * an id that is not ours is no id. */
    if (!jklg_is_uuid(ev->transaction_id)) {
        ev->transaction_id = NULL;
    }
    switch (ev->kind) {
    case JKLG_EVENT_PROCESSING:
    case JKLG_EVENT_SUCCEEDED:
    case JKLG_EVENT_FAILED:
    case JKLG_EVENT_CANCELED:
        return payment_intent_event(p, obj, ev);
    case JKLG_EVENT_REFUNDED:
        return charge_event(p, obj, "amount_refunded", ev);
    case JKLG_EVENT_DISPUTED:
        return charge_event(p, obj, "amount", ev);
    default:
        return APR_SUCCESS;
    }
}

static void event_reset_ignored(jklg_gateway_event_t *ev)
{
    const char *id = ev->id, *type = ev->type;
    apr_int64_t created = ev->created;

    memset(ev, 0, sizeof(*ev));
    ev->id = id;
    ev->type = type;
    ev->created = created;
    ev->kind = JKLG_EVENT_IGNORED;
}

apr_status_t jklg_stripe_parse_event(apr_pool_t *p, const char *body,
                                     apr_size_t len, jklg_gateway_event_t *ev,
                                     const char **err)
{
    json_t *j = jklg_stripe_load_object(p, body, len);
    json_t *obj = json_object_get(json_object_get(j, "data"), "object");
    json_t *created = json_object_get(j, "created");

    *err = NULL;
    memset(ev, 0, sizeof(*ev));
    ev->id = jklg_stripe_str(p, j, "id");
    ev->type = jklg_stripe_str(p, j, "type");
    if (ev->id == NULL || ev->type == NULL || !json_is_object(obj)) {
        *err = "stripe: event is not a JSON object with id, type and "
               "data.object";
        return APR_EINVAL;
    }
    ev->created = json_is_integer(created) ? json_integer_value(created) : 0;
    ev->kind = event_kind(ev->type);
    if (ev->kind == JKLG_EVENT_IGNORED) {
        return APR_SUCCESS;
    }
    if (event_object(p, obj, ev) != APR_SUCCESS) {
        *err = apr_psprintf(p, "stripe: %s event without its payment id or "
                            "amount", ev->type);
        return APR_EINVAL;
    }
    if (ev->kind == JKLG_EVENT_IGNORED) {
        event_reset_ignored(ev);
    }
    return APR_SUCCESS;
}
