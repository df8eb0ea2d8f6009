/* What runs beside the requests: the statements prepared on every
 * connection, taking a connection, the mail threads, the housekeeping
 * sweep and the jobs it runs, and the counters of /metrics. */
#ifndef MOD_JKLG_BACKGROUND_H
#define MOD_JKLG_BACKGROUND_H

#include "jklg_db.h"     /* apr_dbd.h must come before mod_dbd.h */
#include <mod_dbd.h>
#include "jklg_metrics.h"
#include "mod_jklg_request.h"

/* mod_jklg_statements.c: every statement, prepared through mod_dbd. */
extern const jklg_statement_t *const jklg_statement_sets[];
extern const jklg_statement_t jklg_payment_statements[];
extern const jklg_statement_t jklg_staff_statements[];
extern const jklg_statement_t jklg_profile_statements[];
extern const jklg_statement_t jklg_history_statements[];
extern const jklg_statement_t jklg_transaction_statements[];
extern const jklg_statement_t jklg_account_statements[];
extern const jklg_statement_t jklg_travel_statements[];
/* Fills db from mod_dbd's connection. */
void jklg_db_from_dbd(jklg_db_t *db, const ap_dbd_t *dbd);

/* mod_jklg_db.c: a pooled connection within JKLGDatabaseTimeout. */
void jklg_db_child_init(apr_pool_t *pchild, server_rec *s);
/* With r: the request's connection (ap_dbd_acquire), else a background
 * thread's (ap_dbd_open; the caller closes it), and fills db. APR_EAGAIN: the database is known not to
 * answer (failing fast); APR_TIMEUP: no connection in time; APR_ECONNRESET:
 * none to be had. *err for the error log. */
apr_status_t jklg_db_take(server_rec *s, request_rec *r, apr_pool_t *p,
                          ap_dbd_t **dbd, jklg_db_t *db, const char **err);

/* mod_jklg_mailer.c */
void jklg_mailer_child_init(apr_pool_t *pchild, server_rec *s);
/* Hands a queued outbox row to this child's mail threads. Never blocks. */
void jklg_mailer_push(server_rec *s, const char *id);

/* mod_jklg_webhook.c: this child's batch of webhook events, per server. */
extern const jklg_statement_t jklg_webhook_statements[];
void jklg_webhook_child_init(apr_pool_t *pchild, server_rec *s);

/* mod_jklg_housekeeping.c: one sweep thread per child runs the jobs
 * below now and then; each job decides in the database whether it is
 * due, so that several children and servers do it once. */
void jklg_housekeeping_child_init(apr_pool_t *pchild, server_rec *s);
/* Housekeeping: deletes security events older than the retention and
 * expired links of sql/013 and pending MFA logins (sql/021); logs what it
 * did. */
void jklg_security_purge(server_rec *s, jklg_db_t *db, apr_pool_t *p);
/* mod_jklg_balance.c: the off-session balance job, run by the
 * housekeeping sweep on a background connection. */
extern const jklg_statement_t jklg_balance_statements[];
void jklg_balance_sweep(server_rec *s, jklg_db_t *db, apr_pool_t *p);
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

/* mod_jklg_metrics.c: counters shared by the children of this server. */
extern const jklg_statement_t jklg_metrics_statements[];
int jklg_metrics_post_config(apr_pool_t *pconf, server_rec *s);
/* endpoint NULL: the request matched no route (404, 405, OPTIONS). */
void jklg_count_request(request_rec *r, const jklg_endpoint_t *endpoint,
                        int status);
void jklg_count_webhook(const char *type, jklg_webhook_outcome_t outcome);
void jklg_count_webhook_batch(int events);
/* Counts one call of gw and returns its result unchanged. */
apr_status_t jklg_count_gateway(const jklg_gateway_t *gw, apr_status_t rv);
void jklg_count_db_acquire_failure(void);
void jklg_count_hash_waiting(int delta);

#endif
