/* The Stripe gateway's pure parts, apart from its HTTP client so that unit
 * tests can reach them: webhook signatures, the request form encoding,
 * status mapping, the retry policy and safe error texts. The gateway
 * itself is jklg_gateway_stripe (jklg_gateway.h). */
#ifndef JKLG_STRIPE_H
#define JKLG_STRIPE_H

#include <apr_pools.h>
#include <apr_tables.h>
#include <apr_time.h>
#include <curl/curl.h>
#include "jklg_gateway.h"

/* Pinned so that a change of the account's default API version in the
 * Stripe dashboard cannot change the shapes this code parses. */
#define JKLG_STRIPE_API_VERSION "2024-06-20"
#define JKLG_STRIPE_API_BASE "https://api.stripe.com"
#define JKLG_STRIPE_MAX_ATTEMPTS 3
/* Stripe's limit on one metadata value, in characters. */
#define JKLG_STRIPE_METADATA_MAX 500

extern const jklg_gateway_t jklg_gateway_stripe;

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

#endif
