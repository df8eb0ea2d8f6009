/* Declarations shared by the httpd glue files (mod_jklg*.c). The core
 * (jklg_*.c) never includes this. */
#ifndef MOD_JKLG_H
#define MOD_JKLG_H

#include <httpd.h>
#include <http_config.h>
#include <http_log.h>
#include <jansson.h>
#include "jklg_gateway.h"
#include "jklg_metrics.h"
#include "jklg_db.h"     /* apr_dbd.h must come before mod_dbd.h */
#include <mod_dbd.h>
#include "jklg_outbox.h"
#include "jklg_password.h"
#include "jklg_router.h"

#ifndef JKLG_MODULE_RECORD
APLOG_USE_MODULE(jklg);
#endif
extern module AP_MODULE_DECLARE_DATA jklg_module;

#define JKLG_UNSET (-1)

/* Error log tag: JKLGNO(00101) -> "JKLG00101: ". */
#define JKLGNO(n) "JKLG" #n ": "

typedef struct {
    int used;                       /* any JKLG directive here or inherited */
    const char *public_url;
    apr_off_t max_body;
    apr_array_header_t *allow_origins;  /* const char *; NULL: inherit */
    const char *mail_from;
    const char *smtp_url;
    const char *smtp_user;
    const char *smtp_password;
    const char *mail_spool;
    const char *mail_templates;
    int mail_threads;
    int mail_max_attempts;
    apr_interval_time_t mail_retry_base;
    apr_interval_time_t mail_timeout;
    apr_interval_time_t mail_sweep;
    apr_array_header_t *jwt_keys;   /* jklg_jwt_key_t; the first signs */
    apr_interval_time_t token_lifetime;
    int password_min;
    int pwhash_level;               /* jklg_pwhash_level_t or JKLG_UNSET */
    int pwhash_concurrency;
    struct jklg_ratelimits_t *ratelimits;  /* NULL: defaults */
    const char *stripe_secret_key;
    const char *stripe_publishable_key;
    const char *stripe_api_base;
    apr_interval_time_t stripe_timeout;
    apr_array_header_t *stripe_webhook_secrets;   /* const char * */
    apr_interval_time_t stripe_webhook_tolerance;
    const char *stripe_js_url;      /* where the pages load Stripe.js */
    const char *currency;
    jklg_outbox_conf_t *outbox;     /* derived in post_config */
    jklg_gateway_conf_t *stripe;    /* derived in post_config */
    apr_interval_time_t db_timeout;
    jklg_db_guard_t *db_guard;      /* per child, made in child_init */
    apr_interval_time_t security_retention; /* JKLGSecurityEventRetention */
    apr_interval_time_t reconcile_interval; /* JKLGReconcileInterval; 0: off */
    const unsigned char *mfa_key;   /* JKLGMFAKey, 32 bytes, or NULL */
} jklg_server_conf_t;

/* Defaults, applied by the getters in mod_jklg_config.c. */
#define JKLG_DEFAULT_MAX_BODY      (64 * 1024)
#define JKLG_JWKS_MAX_AGE          300     /* seconds caches keep the JWKS */
#define JKLG_DEFAULT_MAIL_THREADS  2
#define JKLG_DEFAULT_MAIL_ATTEMPTS 8
#define JKLG_DEFAULT_MAIL_RETRY    apr_time_from_sec(30)
#define JKLG_DEFAULT_MAIL_TIMEOUT  apr_time_from_sec(30)
#define JKLG_DEFAULT_MAIL_SWEEP    apr_time_from_sec(30)
#define JKLG_MAIL_RETRY_CAP        apr_time_from_sec(3600)
#define JKLG_DEFAULT_TOKEN_LIFETIME apr_time_from_sec(7 * 86400)
#define JKLG_DEFAULT_PASSWORD_MIN  10
#define JKLG_DEFAULT_STRIPE_API    "https://api.stripe.com"
#define JKLG_DEFAULT_STRIPE_TIMEOUT apr_time_from_sec(30)
#define JKLG_DEFAULT_WEBHOOK_TOLERANCE apr_time_from_sec(300)
#define JKLG_DEFAULT_CURRENCY      "eur"
#define JKLG_DEFAULT_STRIPE_JS_URL "https://js.stripe.com/v3/"
#define JKLG_DEFAULT_DB_TIMEOUT    apr_time_from_sec(5)
#define JKLG_DEFAULT_SECURITY_RETENTION apr_time_from_sec(365 * 86400)

extern const command_rec jklg_directives[];
void *jklg_create_server_conf(apr_pool_t *p, server_rec *s);
void *jklg_merge_server_conf(apr_pool_t *p, void *basev, void *addv);
jklg_server_conf_t *jklg_conf(const server_rec *s);
apr_off_t jklg_conf_max_body(const jklg_server_conf_t *c);
int jklg_conf_mail_threads(const jklg_server_conf_t *c);
apr_interval_time_t jklg_conf_mail_sweep(const jklg_server_conf_t *c);
apr_interval_time_t jklg_conf_mail_timeout(const jklg_server_conf_t *c);
apr_interval_time_t jklg_conf_token_lifetime(const jklg_server_conf_t *c);
/* JKLGDatabaseTimeout: the longest wait for one statement, or for a
 * connection from a pool that makes no progress. */
apr_interval_time_t jklg_conf_db_timeout(const jklg_server_conf_t *c);
int jklg_conf_password_min(const jklg_server_conf_t *c);
jklg_pwhash_level_t jklg_conf_pwhash_level(const jklg_server_conf_t *c);
/* JKLGPasswordHashConcurrency, default the number of CPUs. */
int jklg_conf_pwhash_concurrency(const jklg_server_conf_t *c);
/* Refuses a server whose configuration is incomplete; NULL when fine. */
const char *jklg_conf_check(apr_pool_t *p, server_rec *s);
/* mod_jklg_placeholders.c: check_config hook refusing the placeholder
 * CHANGE left in the configuration (also under apache2ctl configtest). */
int jklg_placeholders_check_config(apr_pool_t *pconf, apr_pool_t *plog,
                                   apr_pool_t *ptemp, server_rec *s);

/* One request being served. */
typedef struct {
    request_rec *r;
    jklg_server_conf_t *conf;
    apr_table_t *params;            /* {id} segments of the route */
    json_t *body;                   /* parsed JSON object, or NULL */
    jklg_db_t db;                   /* valid after jklg_req_db() */
    const char *raw;                /* JKLG_RAW_BODY routes: the body */
    apr_size_t raw_len;
    const struct jklg_endpoint_t *endpoint;  /* the route, once matched */
    const char *customer_id;        /* after jklg_req_auth() */
    const char *session_id;
    int hash_slots;                 /* jklg_auth_slot_take() depth */
} jklg_req_t;

typedef int (*jklg_handler_fn)(jklg_req_t *req);

/* What a route requires, checked by the dispatcher before its handler
 * runs, so that no handler can forget it. */
enum {
    JKLG_BODY = 1 << 0,             /* route takes a JSON object body */
    JKLG_RAW_BODY = 1 << 1,         /* route takes the bytes (signatures) */
    JKLG_AUTH = 1 << 2,             /* a customer's bearer token (401) */
    JKLG_STAFF = 1 << 3             /* a user authenticated by Apache (403) */
};

typedef struct jklg_endpoint_t {
    int method;
    const char *pattern;
    jklg_handler_fn handler;
    unsigned flags;
} jklg_endpoint_t;

/* mod_jklg_statements.c: every statement, prepared through mod_dbd. */
extern const jklg_statement_t *const jklg_statement_sets[];
extern const jklg_statement_t jklg_customer_statements[];
extern const jklg_statement_t jklg_payment_statements[];
extern const jklg_statement_t jklg_profile_statements[];
extern const jklg_statement_t jklg_history_statements[];
extern const jklg_statement_t jklg_transaction_statements[];
extern const jklg_statement_t jklg_account_statements[];
extern const jklg_statement_t jklg_travel_statements[];
/* Fills db from mod_dbd's connection. */
void jklg_db_from_dbd(jklg_db_t *db, const ap_dbd_t *dbd);

/* mod_jklg_metrics.c: counters shared by the children of this server. */
extern const jklg_statement_t jklg_metrics_statements[];
int jklg_metrics_post_config(apr_pool_t *pconf, server_rec *s);
/* endpoint NULL: the request matched no route (404, 405, OPTIONS). */
void jklg_count_request(request_rec *r, const jklg_endpoint_t *endpoint,
                        int status);
void jklg_count_webhook(const char *type, jklg_webhook_outcome_t outcome);
/* Counts one call of gw and returns its result unchanged. */
apr_status_t jklg_count_gateway(const jklg_gateway_t *gw, apr_status_t rv);
void jklg_count_db_acquire_failure(void);
void jklg_count_hash_waiting(int delta);
int jklg_staff_metrics(jklg_req_t *req);
/* mod_jklg_db.c: a pooled connection within JKLGDatabaseTimeout. */
void jklg_db_child_init(apr_pool_t *pchild, server_rec *s);
/* With r: the request's connection (ap_dbd_acquire), else a background
 * thread's (ap_dbd_open; the caller closes it), and fills db. APR_EAGAIN: the database is known not to
 * answer (failing fast); APR_TIMEUP: no connection in time; APR_ECONNRESET:
 * none to be had. *err for the error log. */
apr_status_t jklg_db_take(server_rec *s, request_rec *r, apr_pool_t *p,
                          ap_dbd_t **dbd, jklg_db_t *db, const char **err);

/* mod_jklg_security.c: security events, email change, secure-account. */
extern const jklg_statement_t jklg_security_statements[];
int jklg_me_security_events(jklg_req_t *req);
int jklg_me_email_change(jklg_req_t *req);
int jklg_confirm_email_change(jklg_req_t *req);
int jklg_revert_email_change(jklg_req_t *req);
int jklg_secure_account(jklg_req_t *req);
/* The request's User-Agent as stored (valid UTF-8, at most 512 bytes). */
const char *jklg_req_user_agent(jklg_req_t *req);
/* JKLGSecurityEventRetention, default 365 days. */
apr_interval_time_t jklg_conf_security_retention(const jklg_server_conf_t *c);
/* Housekeeping: deletes security events older than the retention and
 * expired links of sql/013; logs what it did. */
void jklg_security_purge(server_rec *s, jklg_db_t *db, apr_pool_t *p);

/* mod_jklg_call.c: the one way a handler runs its SQL and finishes. A
 * call is a statement "SELECT outcome, body, emails FROM jklg.fn(...)"
 * (JKLG_CALL_SQL); on a JKLG_AUTH route the session and the customer of
 * the token come first (JKLG_AUTHED), and the function answers the outcome
 * "unauthorized" when the session is not live. */
#define JKLG_CALL_SQL(fn, params) \
    "SELECT outcome, body::text, array_to_string(emails, ' ') " \
    "FROM jklg." fn "(" params ")"
#define JKLG_AUTHED "p_session => %s::uuid, p_customer => %s::uuid"

/* How an area answers an outcome: status, and for errors the envelope's
 * code and message (the body's "fields" become the error's fields). A
 * NULL code answers the body. Ends with {NULL}. */
typedef struct {
    const char *outcome;
    int status;
    const char *code;
    const char *message;
} jklg_outcome_map_t;

typedef struct {
    const char *outcome;
    const char *body;               /* JSON text, or NULL */
    json_t *json;                   /* body parsed, by jklg_result_json */
} jklg_result_t;

/* Runs a call, hands the mails it queued to the mail threads: 1 with res,
 * or 0 after answering the database's failure (503, 500). */
int jklg_call(jklg_req_t *req, const char *label, int nargs,
              const char *const *args, jklg_result_t *res);
/* The body as JSON (parsed once, owned by the request), or NULL. */
json_t *jklg_result_json(jklg_req_t *req, const jklg_result_t *res);
/* Answers res as map says, else as the common outcomes say (ok 200,
 * created 201, accepted 202, deleted 204, unauthorized 401, not_found 404,
 * conflict 409, invalid 422); an unknown outcome is a logged 500. */
int jklg_finish(jklg_req_t *req, const jklg_result_t *res,
                const jklg_outcome_map_t *map);
/* Both; always OK for the handler to return. */
int jklg_call_finish(jklg_req_t *req, const char *label, int nargs,
                     const char *const *args, const jklg_outcome_map_t *map);

/* mod_jklg_routes.c */
extern const jklg_endpoint_t jklg_endpoints[];

/* mod_jklg_request.c */
int jklg_handler(request_rec *r);
void jklg_routes_init(apr_pool_t *p);
int jklg_reply(jklg_req_t *req, int status, json_t *body);
int jklg_reply_error(jklg_req_t *req, int status, const char *code,
                     const char *message, json_t *fields);
/* Logs err, answers 503 when the database is unreachable, else 500. */
int jklg_reply_db_error(jklg_req_t *req, apr_status_t rv, const char *err);
/* 503 unavailable with Retry-After. */
int jklg_reply_unavailable(jklg_req_t *req);
/* 503 when hashing a password failed (memory): worth a retry, so it says
 * when, like every 503 of the contract. */
int jklg_reply_busy(jklg_req_t *req);
/* Acquires the request's pooled connection into req->db: 1 on success,
 * 0 when the database is unreachable (logged; the caller answers). */
int jklg_req_db(jklg_req_t *req);

/* mod_jklg_mailer.c */
void jklg_mailer_child_init(apr_pool_t *pchild, server_rec *s);
/* Hands a queued outbox row to this child's mail threads. Never blocks. */
void jklg_mailer_push(server_rec *s, const char *id);

/* mod_jklg_ratelimit.c: JKLGRateLimit, JKLGRateLimitCache, counters. */
const char *jklg_ratelimit_set(cmd_parms *cmd, void *dc, const char *name,
                               const char *count, const char *window);
const char *jklg_ratelimit_set_cache(cmd_parms *cmd, void *dc,
                                     const char *arg);
struct jklg_ratelimits_t *jklg_ratelimit_merge(apr_pool_t *p,
                                               struct jklg_ratelimits_t *base,
                                               struct jklg_ratelimits_t *add);
int jklg_ratelimit_pre_config(apr_pool_t *pconf);
int jklg_ratelimit_post_config(apr_pool_t *pconf, apr_pool_t *ptemp,
                               server_rec *s);
void jklg_ratelimit_child_init(apr_pool_t *pchild, server_rec *s);
/* Counts one attempt of rule (a name from docs/customers.md) for key: 0
 * when allowed, else the seconds until the window ends (Retry-After).
 * Allows, with a warning, when the cache fails. */
long jklg_ratelimit_hit(request_rec *r, const char *rule, const char *key);
/* The key of every per-IP rule: the client address as mod_remoteip sets
 * it, IPv6 per /64 (jklg_ratelimit_key_addr). */
const char *jklg_ratelimit_key_ip(request_rec *r);

/* Writes a JSON text built elsewhere (by SQL) as the response body. */
int jklg_reply_text(jklg_req_t *req, int status, const char *json);
/* 404 not_found: unknown, foreign and malformed ids alike. */
int jklg_reply_not_found(jklg_req_t *req);
/* 422 validation_failed with fields. */
int jklg_reply_invalid(jklg_req_t *req, json_t *fields);
/* 429 rate_limited with Retry-After: 1 when rule's window for key is
 * full (answered), else 0. */
int jklg_rate_limited(jklg_req_t *req, const char *rule, const char *key);
/* A page of a list: ?limit= (1..100, default 20) and ?cursor= (made by
 * jklg_cursor() in SQL: "created_at|id", base64url). */
typedef struct {
    long limit;
    const char *time;           /* NULL: first page */
    const char *id;
} jklg_page_t;
/* Reads ?limit= and ?cursor=: 1, or 0 after answering 422. */
int jklg_req_page(jklg_req_t *req, jklg_page_t *page);

/* The request's query string as a table (NULL-safe). */
apr_table_t *jklg_req_args(jklg_req_t *req);

/* mod_jklg_auth.c */
void jklg_auth_child_init(apr_pool_t *pchild, server_rec *s);
/* Verifies the bearer token's signature and claims: 1, or answers 401 and
 * returns 0. Sets Cache-Control: no-store either way. */
int jklg_req_auth(jklg_req_t *req);
/* Runs an authenticated statement: args follow the session id and the
 * customer id; its first column says whether the session is live. 1 with
 * rows, or 0 after answering (401, 503, 500). */
int jklg_auth_query(jklg_req_t *req, const char *label, int nargs,
                    const char *const *args, jklg_rows_t *rows);
/* Column col of the first row, or NULL. */
const char *jklg_auth_value(const jklg_rows_t *rows, int col);
int jklg_reply_unauthorized(jklg_req_t *req);
/* Password hashing and checking within the per-process gate. A NULL hash
 * spends a dummy verification (unknown emails cost the same). */
/* A slot of the gate held across a stretch of work: hashes inside it do
 * not queue again. A handler that needs both a hash and the database
 * takes the slot before its connection: requests waiting for the gate
 * then hold no pooled connection, and no request waits for a slot while
 * holding a connection that a slot's holder waits for. Every take has its
 * give. */
void jklg_auth_slot_take(jklg_req_t *req);
void jklg_auth_slot_give(jklg_req_t *req);
apr_status_t jklg_auth_hash(jklg_req_t *req, const char *password,
                            const char **hash);
jklg_password_result_t jklg_auth_verify(jklg_req_t *req, const char *hash,
                                        const char *password);

/* Handlers. */
int jklg_health_get(jklg_req_t *req);
int jklg_jwks_get(jklg_req_t *req);
int jklg_email_test(jklg_req_t *req);
int jklg_email_status(jklg_req_t *req);
int jklg_email_batch(jklg_req_t *req);
int jklg_customer_register(jklg_req_t *req);
int jklg_customer_verify_email(jklg_req_t *req);
int jklg_customer_resend(jklg_req_t *req);
int jklg_customer_login(jklg_req_t *req);
int jklg_customer_logout(jklg_req_t *req);
int jklg_customer_forgot(jklg_req_t *req);
int jklg_customer_reset(jklg_req_t *req);
int jklg_me_get(jklg_req_t *req);
int jklg_me_patch(jklg_req_t *req);
int jklg_me_password(jklg_req_t *req);
int jklg_me_sessions(jklg_req_t *req);
int jklg_me_session_delete(jklg_req_t *req);
int jklg_me_addresses(jklg_req_t *req);
int jklg_me_address_create(jklg_req_t *req);
int jklg_me_address_patch(jklg_req_t *req);
int jklg_me_address_delete(jklg_req_t *req);
int jklg_me_preferences(jklg_req_t *req);
int jklg_me_preferences_put(jklg_req_t *req);
int jklg_me_bookings(jklg_req_t *req);
int jklg_me_booking(jklg_req_t *req);
int jklg_payments_config(jklg_req_t *req);
int jklg_payment_intent(jklg_req_t *req);
int jklg_payment_webhook(jklg_req_t *req);
int jklg_payment_transactions(jklg_req_t *req);
int jklg_payment_transaction(jklg_req_t *req);
int jklg_staff_booking_create(jklg_req_t *req);
/* mod_jklg_travel.c: cancellation policies and cancellation (issue 10). */
int jklg_staff_policy_put(jklg_req_t *req);
int jklg_staff_policies(jklg_req_t *req);
int jklg_staff_booking_cancel(jklg_req_t *req);
int jklg_me_booking_cancellation(jklg_req_t *req);
int jklg_me_booking_cancel(jklg_req_t *req);
int jklg_me_payment_methods(jklg_req_t *req);
int jklg_me_payment_method_delete(jklg_req_t *req);
/* The gateway's customer of the intent `opened` (made once, stored) into
 * its customer_ref: 1, or 0 after answering. */
int jklg_travel_customer_ref(jklg_req_t *req, const jklg_gateway_t *gw,
                             json_t *opened);
/* After a webhook event was applied: keeps the card of a payment made
 * with save_payment_method. Never answers. */
void jklg_travel_event(jklg_req_t *req, const jklg_gateway_t *gw,
                       const jklg_gateway_event_t *ev);
/* mod_jklg_balance.c: the off-session balance job, run by the
 * housekeeping sweep on a background connection. */
extern const jklg_statement_t jklg_balance_statements[];
void jklg_balance_sweep(server_rec *s, jklg_db_t *db, apr_pool_t *p);
int jklg_staff_transactions(jklg_req_t *req);
int jklg_staff_transaction(jklg_req_t *req);
int jklg_staff_refund(jklg_req_t *req);
int jklg_staff_manual_payment(jklg_req_t *req);

/* mod_jklg_staff.c: refunds, shared with the over-payment refunds. */
typedef struct {
    json_t *settled;                /* {"refund": ...} recorded, or NULL */
    apr_status_t db_rv;             /* when the recording failed */
    const char *db_err;
    const char *err;                /* the gateway's failure, for the log */
} jklg_refund_sent_t;
apr_status_t jklg_refund_send(jklg_req_t *req, const json_t *opened,
                              const char *actor, jklg_refund_sent_t *sent);

/* mod_jklg_payments.c: shared with the staff endpoints. */
int jklg_reply_gateway_error(jklg_req_t *req, const char *err);
/* Runs a statement whose value is one JSON object; NULL after answering
 * a database error. */
json_t *jklg_run_json(jklg_req_t *req, const char *label, int nargs,
                      const char *const *args);
/* Hands the outbox ids of a JSON array to the mail threads. */
void jklg_push_emails(jklg_req_t *req, const json_t *ids);
/* Sends the over-payment refund a payment's success opened (the
 * "overpayment" member of the settle and event answers), logging the
 * outcome for staff; never answers the client. */
void jklg_refund_overpayment(jklg_req_t *req, const json_t *answer);
/* Cancels the gateway's payment of an open transaction {id, gateway,
 * gateway_ref, amount, currency} and records what the gateway says it
 * became: canceled, or paid meanwhile. 1 when recorded, 0 after answering
 * the gateway's (502) or the database's failure. */
int jklg_payment_cancel(jklg_req_t *req, const json_t *tx);


/* mod_jklg_mfa.c: TOTP second factor (docs/customers.md, "Two-factor
 * authentication"). */
extern const jklg_statement_t jklg_mfa_statements[];
/* JKLGMFAKey file:/path|env:NAME|<base64 of 32 bytes>. */
const char *jklg_mfa_set_key(cmd_parms *cmd, void *dc, const char *arg);
/* After a correct password: 1 when the account has no second factor (the
 * caller creates the session), else 0 after answering (401 mfa_required
 * with an mfa_token, or an error). */
int jklg_login_mfa_gate(jklg_req_t *req, const char *customer_id,
                        const char *new_hash);
int jklg_me_mfa_totp_start(jklg_req_t *req);
int jklg_me_mfa_totp_confirm(jklg_req_t *req);
int jklg_me_mfa_totp_delete(jklg_req_t *req);
int jklg_customer_login_mfa(jklg_req_t *req);
/* mod_jklg_accounts.c: creates the session and answers the login (the
 * body of POST /login), for both the password and the second factor. */
int jklg_login_session(jklg_req_t *req, const char *customer_id,
                       const char *new_hash);
/* mod_jklg_rights.c: data rights and staff customer tools (issue 12). */
extern const jklg_statement_t jklg_rights_statements[];
int jklg_me_export(jklg_req_t *req);
int jklg_me_erase(jklg_req_t *req);
int jklg_staff_customers(jklg_req_t *req);
int jklg_staff_customer(jklg_req_t *req);
int jklg_staff_customer_resend(jklg_req_t *req);
int jklg_staff_customer_revoke(jklg_req_t *req);
int jklg_staff_customer_unlock(jklg_req_t *req);
int jklg_staff_customer_erase(jklg_req_t *req);
/* mod_jklg_reconcile.c: reconciliation with the gateways (issue 12). */
extern const jklg_statement_t jklg_reconcile_statements[];
int jklg_staff_reconciliation(jklg_req_t *req);
int jklg_staff_reconciliation_run(jklg_req_t *req);
/* JKLGReconcileInterval, default 15m; 0 (off) disables the job. */
apr_interval_time_t jklg_conf_reconcile_interval(const jklg_server_conf_t *c);
const char *jklg_reconcile_set_interval(cmd_parms *cmd, void *dc,
                                        const char *arg);
/* From the housekeeping sweep: runs when due (the database decides, once
 * across servers); logs what it did. */
void jklg_reconcile_due(server_rec *s, jklg_db_t *db, apr_pool_t *p);
/* One run for gw (staff: the user starting it, or NULL for the schedule).
 * outcome: "accepted" with *result {run}, or "conflict" / "not_due" with
 * *result NULL. Fails only when the database does (err). */
struct jklg_gateway_t;
apr_status_t jklg_reconcile_run(server_rec *s, jklg_db_t *db, apr_pool_t *p,
                                const struct jklg_gateway_t *gw,
                                const char *staff, const char **outcome,
                                json_t **result, const char **err);
/* mod_jklg_ratelimit.c: forgets the current window's count of rule for
 * key (staff unlock); APR_SUCCESS also when nothing was counted. */
apr_status_t jklg_ratelimit_reset(request_rec *r, const char *rule,
                                  const char *key);

#endif
