/* The Stripe gateway, in three files by job: jklg_gateway_stripe.c (its
 * configuration, directives and the operations of jklg_gateway_t),
 * jklg_stripe_api.c (the REST client: forms, retries, idempotency keys,
 * error texts) and jklg_stripe_webhook.c (signatures and events, pure).
 * This header is theirs and the unit tests'; nothing else includes it
 * but jklg_gateways.h, for the directives. */
#ifndef JKLG_STRIPE_H
#define JKLG_STRIPE_H

#include <apr_pools.h>
#include <apr_tables.h>
#include <apr_time.h>
#include <curl/curl.h>
#include <jansson.h>
#include "jklg_gateway.h"

/* Pinned so that a change of the account's default API version in the
 * Stripe dashboard cannot change the shapes this code parses. */
#define JKLG_STRIPE_API_VERSION "2024-06-20"
#define JKLG_STRIPE_API_BASE "https://api.stripe.com"
#define JKLG_STRIPE_JS_URL "https://js.stripe.com/v3/"
#define JKLG_STRIPE_TIMEOUT apr_time_from_sec(30)
#define JKLG_STRIPE_WEBHOOK_TOLERANCE apr_time_from_sec(300)
#define JKLG_STRIPE_MAX_ATTEMPTS 3
/* Stripe's limit on one metadata value, in characters. */
#define JKLG_STRIPE_METADATA_MAX 500

extern const jklg_gateway_t jklg_gateway_stripe;

/* ---- configuration ------------------------------------------------------ */

/* The gateway's configuration (its directives below). Timeouts are -1
 * until set; check_conf applies the defaults. Zeroed, it is a gateway
 * without keys: every call answers APR_ENOTIMPL. */
typedef struct {
    const char *secret_key;             /* sk_...; NULL: not configured */
    const char *publishable_key;        /* pk_..., for Stripe.js */
    const char *api_base;               /* no trailing /; NULL: Stripe's */
    const char *js_url;                 /* where the pages load Stripe.js */
    apr_interval_time_t timeout;        /* one call, retries included */
    apr_array_header_t *webhook_secrets;/* const char *; any may match */
    apr_interval_time_t webhook_tolerance;
} jklg_stripe_conf_t;

/* The directives, X(gateway, name, how, setter, help) each, how being
 * TAKE1 or ITERATE: the glue's static command table lists them through
 * jklg_gateways.h, and jklg_gateway_stripe.c's settings table takes the
 * setters from the same lines. */
#define JKLG_STRIPE_DIRECTIVES(X) \
    X(jklg_gateway_stripe, "JKLGStripeSecretKey", TAKE1, set_secret_key, \
      "Stripe secret key sk_... (payments are off without it)") \
    X(jklg_gateway_stripe, "JKLGStripePublishableKey", TAKE1, \
      set_publishable_key, "Stripe publishable key pk_... for Stripe.js") \
    X(jklg_gateway_stripe, "JKLGStripeWebhookSecret", ITERATE, \
      add_webhook_secret, "Webhook signing secrets whsec_...; any may match") \
    X(jklg_gateway_stripe, "JKLGStripeAPIBase", TAKE1, set_api_base, \
      "Stripe API URL (default https://api.stripe.com)") \
    X(jklg_gateway_stripe, "JKLGStripeJSURL", TAKE1, set_js_url, \
      "Stripe.js URL the pages load (default https://js.stripe.com/v3/)") \
    X(jklg_gateway_stripe, "JKLGStripeTimeout", TAKE1, set_timeout, \
      "Bound on one Stripe call with its retries (default 30s)") \
    X(jklg_gateway_stripe, "JKLGStripeWebhookTolerance", TAKE1, \
      set_webhook_tolerance, "Largest webhook clock difference (default 300s)")

/* ---- webhook signatures ------------------------------------------------ */

#define JKLG_STRIPE_SIG_LEN 32

/* A parsed Stripe-Signature header. t_text is the decimal form of t,
 * which is what Stripe signed and what its libraries verify against. */
typedef struct {
    const char *t_text;
    apr_int64_t t;
    apr_array_header_t *v1;     /* unsigned char[JKLG_STRIPE_SIG_LEN] each */
} jklg_stripe_sig_t;

/* "t=<digits>,v1=<64 hex>[,v1=...][,v0=...][,<scheme>=...]", read as
 * Stripe's own libraries read it (docs/stripe.md): exactly one t (blanks
 * around its value, '+' and leading zeros allowed), at least one v1 of 64
 * hex digits; malformed v1s, empty elements and other schemes are
 * skipped. APR_EINVAL otherwise. */
apr_status_t jklg_stripe_parse_signature(apr_pool_t *p, const char *header,
                                         jklg_stripe_sig_t *out);

/* HMAC-SHA256 keyed with the whole whsec_... string over
 * t_text + "." + body. */
void jklg_stripe_hmac(unsigned char out[JKLG_STRIPE_SIG_LEN],
                      const char *secret, const char *t_text,
                      const char *body, apr_size_t len);

/* "t=<t>,v1=<hex>": what Stripe would send for this body; for tests and
 * for stand-ins that post signed events. */
const char *jklg_stripe_sign(apr_pool_t *p, const char *secret,
                             apr_int64_t t, const char *body,
                             apr_size_t len);

/* jklg_stripe_verify_webhook is the gateway's verify_webhook, over the
 * configured secrets and tolerance (APR_ENOTIMPL without secrets);
 * jklg_stripe_parse_event its parse_event, which needs no
 * configuration. */
apr_status_t jklg_stripe_verify_webhook(const jklg_stripe_conf_t *conf,
                                        apr_pool_t *p, const char *signature,
                                        const char *body, apr_size_t len,
                                        apr_time_t now, const char **err);
apr_status_t jklg_stripe_parse_event(apr_pool_t *p, const char *body,
                                     apr_size_t len, jklg_gateway_event_t *ev,
                                     const char **err);

/* ---- requests ----------------------------------------------------------- */

/* One application/x-www-form-urlencoded pair, key and value escaped (every
 * byte but A-Z a-z 0-9 - . _ ~ becomes %XX). */
const char *jklg_stripe_form_pair(apr_pool_t *p, const char *key,
                                  const char *value);

/* At most max UTF-8 characters of s (never cuts a character in two). */
const char *jklg_stripe_truncate(apr_pool_t *p, const char *s,
                                 apr_size_t max);

/* ---- responses ---------------------------------------------------------- */

/* PaymentIntent status -> our transaction status; NULL when unknown. */
const char *jklg_stripe_payment_status(const char *stripe_status);

/* Refund status -> pending | succeeded | failed | canceled; NULL when
 * unknown. */
const char *jklg_stripe_refund_status(const char *stripe_status);

/* Stripe-Should-Retry header: 1 true, 0 false, -1 absent (or garbage). */
#define JKLG_STRIPE_HINT_NONE (-1)

/* Whether an attempt that ended with rc (and, when rc is CURLE_OK, HTTP
 * status with Stripe's hint) is worth repeating with the same
 * Idempotency-Key. */
int jklg_stripe_retryable(CURLcode rc, long status, int hint);

/* Pause before attempt n+1 after attempt n (0-based) failed:
 * 250 ms * 2^n * (0.5 + fraction / 2), fraction in [0, 1], at most 2 s. */
apr_interval_time_t jklg_stripe_backoff(int n, double fraction);

/* "stripe: card_declined (402)", "stripe: card_declined/insufficient_funds
 * (402)", "stripe: HTTP 500 after 3 attempts". Only Stripe's codes are
 * used, never its message (which may quote parts of the request), and
 * only characters [a-z0-9_] of them. */
const char *jklg_stripe_error_text(apr_pool_t *p, long status,
                                   const char *body, apr_size_t len,
                                   int attempts);

/* ---- the REST client (jklg_stripe_api.c) -------------------------------- */

typedef struct {
    const char *path;                   /* /v1/... */
    const char *form;                   /* NULL: a GET */
    const char *idempotency_key;        /* NULL for GETs */
} jklg_stripe_call_t;

typedef struct {
    CURLcode rc;
    long status;
    int hint;                           /* Stripe-Should-Retry */
    int attempts;
    apr_pool_t *p;
    char *body;
    apr_size_t len;
    apr_size_t cap;
    char errbuf[CURL_ERROR_SIZE];
} jklg_stripe_reply_t;

/* One logical call (POST with a form, GET without): up to
 * JKLG_STRIPE_MAX_ATTEMPTS attempts with the same Idempotency-Key, all
 * within the configured timeout. APR_EGENERAL: Stripe said no (4xx);
 * APR_ECONNREFUSED: never reached; APR_TIMEUP, APR_INCOMPLETE: unknown. */
apr_status_t jklg_stripe_call(const jklg_stripe_conf_t *conf, apr_pool_t *p,
                              const jklg_stripe_call_t *call,
                              jklg_stripe_reply_t *r, const char **err);

/* APR_ENOTIMPL without a secret key, APR_EINVAL for one that could not
 * go into a header. */
apr_status_t jklg_stripe_check_configured(const jklg_stripe_conf_t *conf,
                                          const char **err);

/* Appends key=value to a form, nothing when value is NULL. */
void jklg_stripe_form_add(apr_array_header_t *form, const char *key,
                          const char *value);
const char *jklg_stripe_amount(apr_pool_t *p, apr_int64_t amount);

/* The JSON object of a reply, or NULL; a member's non-empty string
 * copied into p, or NULL. */
json_t *jklg_stripe_load_object(apr_pool_t *p, const char *body,
                                apr_size_t len);
const char *jklg_stripe_str(apr_pool_t *p, const json_t *obj,
                            const char *key);

/* No control bytes but tabs: what may go into a header. */
int jklg_stripe_text_ok(const char *s);
/* Non-empty and jklg_stripe_text_ok. */
int jklg_stripe_header_safe(const char *s);
/* Stripe ids are [A-Za-z0-9_]: anything else cannot go into a path. */
int jklg_stripe_id_ok(const char *id);

#endif
