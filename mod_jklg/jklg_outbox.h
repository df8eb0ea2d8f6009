/* The durable email outbox: rows are inserted in the same transaction as
 * the change that causes them; a worker claims one row at a time, renders
 * and delivers it, then marks it sent or schedules a retry. Claims are
 * leases (locked_until), so a crashed worker's rows come back by themselves,
 * and use SKIP LOCKED, so many servers can share one outbox. */
#ifndef JKLG_OUTBOX_H
#define JKLG_OUTBOX_H

#include <apr_pools.h>
#include <apr_time.h>
#include <jansson.h>
#include "jklg_db.h"
#include "jklg_mail.h"

/* The outbox's statements, for the module's list. */
extern const jklg_statement_t jklg_outbox_statements[];

typedef struct {
    const char *from;               /* JKLGMailFrom */
    const char *public_url;         /* JKLGPublicURL, for template links */
    jklg_smtp_t smtp;               /* smtp.url NULL: write to spool_dir */
    const char *spool_dir;
    const char *templates_dir;      /* overrides, may be NULL */
    int max_attempts;
    apr_interval_time_t retry_base; /* first retry delay, doubled each time */
    apr_interval_time_t retry_cap;
} jklg_outbox_conf_t;

typedef enum {
    JKLG_DELIVERY_NONE,     /* nothing to do: not due, or claimed elsewhere */
    JKLG_DELIVERY_SENT,
    JKLG_DELIVERY_RETRY,    /* retry_in says when */
    JKLG_DELIVERY_FAILED    /* gave up after max_attempts */
} jklg_delivery_t;

typedef struct {
    jklg_delivery_t outcome;
    apr_interval_time_t retry_in;
    const char *error;      /* why the attempt failed, safe to log */
} jklg_delivery_result_t;

typedef struct {
    long queued;            /* queued or being sent */
    long failed;
    long sent_last_hour;
} jklg_outbox_counts_t;

/* Delay before retry number `attempt` (1 = after the first failure):
 * base * 2^(attempt-1), never more than cap. */
apr_interval_time_t jklg_outbox_backoff(int attempt, apr_interval_time_t base,
                                        apr_interval_time_t cap);

/* Variables every template gets unless the row's data sets them:
 * public_url, agency_name (display name of From), support_email. */
json_t *jklg_outbox_default_vars(apr_pool_t *p, const jklg_outbox_conf_t *c);

/* Replaces each {"minor", "currency"} member of vars by the formatted
 * amount ("1,234.50 EUR"). */
void jklg_outbox_format_money(apr_pool_t *p, json_t *vars);

/* Queues one message; *id receives the row id. */
apr_status_t jklg_outbox_enqueue(jklg_db_t *db, apr_pool_t *p,
                                 const char *template_name,
                                 const char *recipient, json_t *data,
                                 const char **id, const char **err);

/* Queues one message per element of recipients ([{email, data}], emails
 * already normalised), each with `data` overlaid by its own. *ids is an
 * array of const char *. */
apr_status_t jklg_outbox_enqueue_batch(jklg_db_t *db, apr_pool_t *p,
                                       const char *template_name,
                                       json_t *recipients, json_t *data,
                                       apr_array_header_t **ids,
                                       const char **err);

/* Ids of rows due now (queued and due, or with a lapsed lease). */
apr_status_t jklg_outbox_due(jklg_db_t *db, apr_pool_t *p, int limit,
                             apr_array_header_t **ids, const char **err);

/* Claims row `id` if it is due, delivers it, records the outcome.
 * lease bounds how long the claim holds if this process dies meanwhile. */
apr_status_t jklg_outbox_deliver(jklg_db_t *db, apr_pool_t *p,
                                 const jklg_outbox_conf_t *conf,
                                 const char *id, apr_interval_time_t lease,
                                 jklg_delivery_result_t *result,
                                 const char **err);

apr_status_t jklg_outbox_counts(jklg_db_t *db, apr_pool_t *p,
                                jklg_outbox_counts_t *counts,
                                const char **err);

/* Non-zero when some message waits longer than `late` past its due time:
 * mail is not getting through. */
apr_status_t jklg_outbox_backlogged(jklg_db_t *db, apr_pool_t *p,
                                    int *backlogged, const char **err);

/* Deletes what only history keeps: expired sessions and one-time tokens,
 * old sent and failed mail (sql/006_housekeeping.sql). */
apr_status_t jklg_outbox_purge(jklg_db_t *db, apr_pool_t *p, long *purged,
                               const char **err);

#endif
