/* Payment gateways: a table of function pointers per provider. Stripe and
 * manual (cash, bank transfer recorded by staff) implement it; a new
 * provider is one new file plus its line in jklg_gateways.c. Gateways never
 * see request_rec or the database: handlers own the transactions' rows and
 * pass gateways what they need. */
#ifndef JKLG_GATEWAY_H
#define JKLG_GATEWAY_H

#include <apr_pools.h>
#include <apr_tables.h>
#include <apr_time.h>

typedef struct {
    const char *secret_key;             /* Stripe: sk_...; NULL: not configured */
    const char *api_base;               /* https://api.stripe.com, no trailing / */
    apr_interval_time_t timeout;        /* bound on one logical call, retries included */
    apr_array_header_t *webhook_secrets;/* const char *; any may match */
    apr_interval_time_t webhook_tolerance;
} jklg_gateway_conf_t;

typedef struct {
    const char *transaction_id;         /* our row: the idempotency key derives from it */
    const char *booking_id;
    const char *booking_reference;
    apr_int64_t amount;                 /* minor units */
    const char *currency;               /* lowercase ISO 4217 */
} jklg_payment_req_t;

typedef struct {
    const char *gateway_ref;            /* pi_... (NULL for manual) */
    const char *client_secret;          /* for the customer's browser: never stored or logged */
    const char *status;                 /* our transaction status */
} jklg_payment_t;

typedef struct {
    const char *refund_id;              /* our refund row: the idempotency key derives from it */
    const char *transaction_id;
    const char *gateway_ref;            /* the transaction's pi_... */
    apr_int64_t amount;
    const char *currency;
    const char *reason;                 /* staff's free text, may be NULL */
} jklg_refund_req_t;

typedef struct {
    const char *gateway_ref;            /* re_... (NULL for manual) */
    const char *status;                 /* pending | succeeded | failed | canceled */
} jklg_refund_t;

typedef enum {
    JKLG_EVENT_IGNORED,                 /* recorded, no effect */
    JKLG_EVENT_PROCESSING,
    JKLG_EVENT_SUCCEEDED,
    JKLG_EVENT_FAILED,
    JKLG_EVENT_CANCELED,
    JKLG_EVENT_REFUNDED,                /* amount = cumulative amount refunded */
    JKLG_EVENT_DISPUTED
} jklg_event_kind_t;

typedef struct {
    const char *id;                     /* evt_... */
    const char *type;                   /* payment_intent.succeeded, ... */
    jklg_event_kind_t kind;
    const char *payment_ref;            /* pi_... the transaction's gateway_ref */
    const char *transaction_id;         /* metadata.transaction_id, if present */
    apr_int64_t amount;                 /* received (succeeded) or refunded so far */
    const char *currency;
    const char *failure_reason;         /* last_payment_error.message (failed) */
    apr_int64_t created;                /* event time, seconds */
} jklg_gateway_event_t;

typedef struct jklg_gateway_t {
    const char *name;
    /* Starts a payment. Failures: APR_EGENERAL (the gateway refused: a
     * definite no), APR_ECONNREFUSED (never reached it), APR_TIMEUP and
     * APR_INCOMPLETE (outcome unknown: it may have happened); *err is safe
     * to log (no keys, no client secret). The same for refund. */
    apr_status_t (*create_payment)(const jklg_gateway_conf_t *conf,
                                   apr_pool_t *p, const jklg_payment_req_t *req,
                                   jklg_payment_t *out, const char **err);
    apr_status_t (*refund)(const jklg_gateway_conf_t *conf, apr_pool_t *p,
                           const jklg_refund_req_t *req, jklg_refund_t *out,
                           const char **err);
    /* NULL for gateways without webhooks. APR_EINVAL when the signature
     * does not hold (bad, stale, malformed). */
    apr_status_t (*verify_webhook)(const jklg_gateway_conf_t *conf,
                                   apr_pool_t *p, const char *signature,
                                   const char *body, apr_size_t len,
                                   apr_time_t now, const char **err);
    apr_status_t (*parse_event)(const jklg_gateway_conf_t *conf,
                                apr_pool_t *p, const char *body,
                                apr_size_t len, jklg_gateway_event_t *ev,
                                const char **err);
    /* The client secret and status of a payment made earlier, so that the
     * customer gets the same intent again without its secret ever being
     * stored. `expected` holds its amount and currency. NULL for gateways
     * whose payments need nothing from the customer. */
    apr_status_t (*fetch_payment)(const jklg_gateway_conf_t *conf,
                                  apr_pool_t *p, const char *gateway_ref,
                                  const jklg_payment_req_t *expected,
                                  jklg_payment_t *out, const char **err);
    /* Cancels a payment that was replaced (the amount due changed), so
     * that an old client secret can no longer pay it. NULL when there is
     * nothing to cancel outside this system. */
    apr_status_t (*cancel_payment)(const jklg_gateway_conf_t *conf,
                                   apr_pool_t *p, const char *gateway_ref,
                                   const char **err);
} jklg_gateway_t;

/* jklg_gateways.c: the registry. NULL for unknown names. */
const jklg_gateway_t *jklg_gateway_find(const char *name);
/* NULL-terminated, in registration order. */
extern const jklg_gateway_t *const jklg_gateways[];

#endif
