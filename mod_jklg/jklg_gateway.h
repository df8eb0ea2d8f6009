/* Payment gateways: a table of function pointers per provider, which also
 * owns the provider's configuration, directives and checks. Stripe and
 * manual (cash, bank transfer recorded by staff) implement it; a new
 * provider is one new file plus its line in jklg_gateways.c (and
 * jklg_gateways.h for its directives): docs/payments.md, "Adding a
 * gateway". Gateways never see request_rec or the database: handlers own
 * the transactions' rows and pass gateways what they need. */
#ifndef JKLG_GATEWAY_H
#define JKLG_GATEWAY_H

#include <apr_pools.h>
#include <apr_tables.h>
#include <apr_time.h>
#include <jansson.h>

/* A gateway's configuration is its own: an opaque pointer that only its
 * file reads. The module keeps one per registered gateway and server
 * (jklg_gateway_conf() in mod_jklg_config.h) and hands it to every call. */

/* One directive of a gateway: its setter stores arg in the gateway's
 * configuration; an error (naming the directive) stops httpd at start.
 * The glue's command table lists the same directives through the
 * gateway's JKLG_<NAME>_DIRECTIVES macro (jklg_gateways.h). */
typedef struct {
    const char *directive;
    const char *(*set)(apr_pool_t *p, void *conf, const char *arg);
} jklg_gateway_setting_t;

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
    /* The payment method its receipts name ("card"); NULL: the word staff
     * gave the transaction, else the gateway's name. */
    const char *method;
    /* The request header carrying a webhook's signature; NULL without
     * webhooks. The gateway that has one owns /api/payments/webhook. */
    const char *signature_header;

    /* ---- configuration (all NULL for a gateway without any) ---- */
    const jklg_gateway_setting_t *settings;     /* {NULL} ends it */
    void *(*make_conf)(apr_pool_t *p);
    /* add's settings win over base's, as for every directive. */
    void *(*merge_conf)(apr_pool_t *p, const void *base, const void *add);
    /* At start-up, once per server: applies the defaults and refuses a
     * configuration that cannot work (the message names the directive);
     * NULL when fine. */
    const char *(*check_conf)(apr_pool_t *p, void *conf);
    /* Whether it can take payments (health, /api/payments/config). NULL:
     * always. */
    int (*configured)(const void *conf);
    /* Adds what browsers need of it to GET /api/payments/config (e.g. a
     * publishable key); never a secret. */
    void (*public_conf)(const void *conf, json_t *out);
    /* The bound on one call with its retries; NULL: calls do not wait. */
    apr_interval_time_t (*call_timeout)(const void *conf);

    /* ---- operations ---- */
    /* Starts a payment. Failures: APR_EGENERAL (the gateway refused: a
     * definite no), APR_ECONNREFUSED (never reached it), APR_TIMEUP and
     * APR_INCOMPLETE (outcome unknown: it may have happened); *err is safe
     * to log (no keys, no client secret). The same for refund. */
    apr_status_t (*create_payment)(const void *conf,
                                   apr_pool_t *p, const jklg_payment_req_t *req,
                                   jklg_payment_t *out, const char **err);
    apr_status_t (*refund)(const void *conf, apr_pool_t *p,
                           const jklg_refund_req_t *req, jklg_refund_t *out,
                           const char **err);
    /* NULL for gateways without webhooks. APR_EINVAL when the signature
     * does not hold (bad, stale, malformed). */
    apr_status_t (*verify_webhook)(const void *conf,
                                   apr_pool_t *p, const char *signature,
                                   const char *body, apr_size_t len,
                                   apr_time_t now, const char **err);
    apr_status_t (*parse_event)(const void *conf,
                                apr_pool_t *p, const char *body,
                                apr_size_t len, jklg_gateway_event_t *ev,
                                const char **err);
    /* The client secret and status of a payment made earlier, so that the
     * customer gets the same intent again without its secret ever being
     * stored. `expected` holds its amount and currency. NULL for gateways
     * whose payments need nothing from the customer. */
    apr_status_t (*fetch_payment)(const void *conf,
                                  apr_pool_t *p, const char *gateway_ref,
                                  const jklg_payment_req_t *expected,
                                  jklg_payment_t *out, const char **err);
    /* Cancels a payment that was replaced (the amount due changed), so
     * that an old client secret can no longer pay it. NULL when there is
     * nothing to cancel outside this system. */
    apr_status_t (*cancel_payment)(const void *conf,
                                   apr_pool_t *p, const char *gateway_ref,
                                   const char **err);
    /* Saved cards (issue 10); NULL for gateways that keep no cards.
     * create_customer makes the gateway's customer for ours (idempotent
     * on our id) and gives its id in *ref. */
    apr_status_t (*create_customer)(const void *conf,
                                    apr_pool_t *p,
                                    const jklg_customer_req_t *req,
                                    const char **ref, const char **err);
    /* A payment method's card details (brand, last 4, expiry). */
    apr_status_t (*fetch_method)(const void *conf,
                                 apr_pool_t *p, const char *gateway_ref,
                                 jklg_method_t *out, const char **err);
    /* Charges a saved method without the customer. APR_EGENERAL with
     * out->decline set: the bank said no or wants the customer
     * (authentication_required); timeouts as for create_payment. */
    apr_status_t (*charge_off_session)(const void *conf,
                                       apr_pool_t *p,
                                       const jklg_offsession_req_t *req,
                                       jklg_offsession_t *out,
                                       const char **err);
    /* Forgets a saved method at the gateway. */
    apr_status_t (*detach_method)(const void *conf,
                                  apr_pool_t *p, const char *gateway_ref,
                                  const char **err);
    /* Reconciliation: one page of the events created at or after `since`
     * (seconds), after `cursor` (NULL: the first page). Errors as for
     * create_payment: a failed page is asked for again by the next run.
     * NULL for gateways that nobody outside can change. */
    apr_status_t (*list_changes)(const void *conf,
                                 apr_pool_t *p, apr_int64_t since,
                                 const char *cursor,
                                 jklg_gateway_changes_t *out,
                                 const char **err);
} jklg_gateway_t;

/* jklg_gateways.c: the registry. NULL for unknown names. */
const jklg_gateway_t *jklg_gateway_find(const char *name);
/* NULL-terminated, in registration order. */
extern const jklg_gateway_t *const jklg_gateways[];
/* How many are registered, and gw's place among them (-1: not
 * registered): the index of its configuration. */
int jklg_gateway_count(void);
int jklg_gateway_index(const jklg_gateway_t *gw);
/* The gateway that verifies webhooks (owns /api/payments/webhook); NULL
 * when none does. */
const jklg_gateway_t *jklg_gateway_webhooks(void);
/* Customers' own payments go to the first gateway whose payments need
 * the customer (fetch_payment: a client secret); NULL when none is
 * registered. */
const jklg_gateway_t *jklg_gateway_online(void);
/* Whether gw can take payments with its configuration conf. */
int jklg_gateway_configured(const jklg_gateway_t *gw, const void *conf);
/* The bound on one of gw's calls: its own, or 30 s. */
apr_interval_time_t jklg_gateway_call_timeout(const jklg_gateway_t *gw,
                                              const void *conf);
/* The payment method a receipt names for every transaction of gateway
 * `name` ("card"); NULL when the transaction's own word stands (staff's
 * cash or bank transfer) or the name is not registered. */
const char *jklg_gateway_method(const char *name);

#endif
