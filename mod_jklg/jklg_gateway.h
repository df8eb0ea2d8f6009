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
    /* Saved cards (issue 10): the gateway's customer the payment is for
     * (NULL: none) and whether the card is to be kept for off-session
     * charges later. */
    const char *customer_ref;
    int save_method;
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
    const char *method_ref;             /* the payment method used (succeeded), or NULL */
    apr_int64_t created;                /* event time, seconds */
} jklg_gateway_event_t;

/* Saved cards and off-session charges (issue 10). */
typedef struct {
    const char *customer_id;            /* ours: the idempotency key derives from it */
    const char *email;
} jklg_customer_req_t;

typedef struct {
    const char *gateway_ref;            /* pm_... */
    const char *customer_ref;           /* attached to, or NULL */
    const char *brand;                  /* visa, mastercard, ... */
    const char *last4;
    int exp_month;
    int exp_year;
} jklg_method_t;

typedef struct {
    const char *transaction_id;         /* our row, in the gateway's metadata */
    const char *idempotency_key;        /* installment and attempt: a retry is the same charge */
    const char *booking_reference;
    apr_int64_t amount;
    const char *currency;
    const char *customer_ref;
    const char *method_ref;
} jklg_offsession_req_t;

typedef struct {
    const char *gateway_ref;            /* the payment made, also when declined */
    const char *status;                 /* our transaction status (APR_SUCCESS) */
    const char *decline;                /* APR_EGENERAL: authentication_required or
                                         * the bank's decline code, NULL if unknown */
} jklg_offsession_t;
/* One page of what changed at the gateway (reconciliation): the events
 * its webhooks carry, each as parse_event reads it and with its JSON (the
 * body a webhook would have had), oldest first within the page. */
typedef struct {
    apr_array_header_t *events;         /* jklg_gateway_event_t */
    apr_array_header_t *payloads;       /* const char *, same order */
    int has_more;                       /* older pages follow */
    const char *next;                   /* the cursor for the next page */
} jklg_gateway_changes_t;

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
    /* Saved cards (issue 10); NULL for gateways that keep no cards.
     * create_customer makes the gateway's customer for ours (idempotent
     * on our id) and gives its id in *ref. */
    apr_status_t (*create_customer)(const jklg_gateway_conf_t *conf,
                                    apr_pool_t *p,
                                    const jklg_customer_req_t *req,
                                    const char **ref, const char **err);
    /* A payment method's card details (brand, last 4, expiry). */
    apr_status_t (*fetch_method)(const jklg_gateway_conf_t *conf,
                                 apr_pool_t *p, const char *gateway_ref,
                                 jklg_method_t *out, const char **err);
    /* Charges a saved method without the customer. APR_EGENERAL with
     * out->decline set: the bank said no or wants the customer
     * (authentication_required); timeouts as for create_payment. */
    apr_status_t (*charge_off_session)(const jklg_gateway_conf_t *conf,
                                       apr_pool_t *p,
                                       const jklg_offsession_req_t *req,
                                       jklg_offsession_t *out,
                                       const char **err);
    /* Forgets a saved method at the gateway. */
    apr_status_t (*detach_method)(const jklg_gateway_conf_t *conf,
                                  apr_pool_t *p, const char *gateway_ref,
                                  const char **err);
    /* Reconciliation: one page of the events created at or after `since`
     * (seconds), after `cursor` (NULL: the first page). Errors as for
     * create_payment: a failed page is asked for again by the next run.
     * NULL for gateways that nobody outside can change. */
    apr_status_t (*list_changes)(const jklg_gateway_conf_t *conf,
                                 apr_pool_t *p, apr_int64_t since,
                                 const char *cursor,
                                 jklg_gateway_changes_t *out,
                                 const char **err);
} jklg_gateway_t;

/* jklg_gateways.c: the registry. NULL for unknown names. */
const jklg_gateway_t *jklg_gateway_find(const char *name);
/* NULL-terminated, in registration order. */
extern const jklg_gateway_t *const jklg_gateways[];

#endif
