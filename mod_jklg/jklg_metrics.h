/* Prometheus metrics shared by every child process of one server: a flat
 * block of 64-bit counters, placed by the caller in memory the children
 * share (anonymous shared memory made before they fork), updated with
 * atomic adds and rendered in Prometheus' text format on a scrape. The
 * layout is fixed when the block is made: one slot per route, plus one
 * for requests that matched none. */
#ifndef JKLG_METRICS_H
#define JKLG_METRICS_H

#include <apr_pools.h>
#include <apr_time.h>

typedef struct jklg_metrics_t jklg_metrics_t;

/* Outcomes of a webhook delivery. */
typedef enum {
    JKLG_WEBHOOK_APPLIED,
    JKLG_WEBHOOK_DUPLICATE,
    JKLG_WEBHOOK_INVALID_SIGNATURE,
    JKLG_WEBHOOK_INVALID_EVENT,
    JKLG_WEBHOOK_ERROR,
    JKLG_WEBHOOK_OUTCOMES
} jklg_webhook_outcome_t;

/* What the routes and gateways are called, for rendering: routes[i] is
 * the path pattern of route slot i, methods[i] its method ("GET"); the
 * slot after the last route counts unmatched requests ("other"). */
typedef struct {
    const char *const *routes;
    const char *const *methods;
    int nroutes;
    const char *const *gateways;
    int ngateways;
} jklg_metrics_names_t;

/* Gauges read from the database at scrape time (every server's outbox). */
typedef struct {
    apr_int64_t queued, sending, sent, failed;
    apr_int64_t oldest_age;         /* seconds; 0 when nothing is queued */
    int known;                      /* 0: the database did not answer */
} jklg_metrics_outbox_t;

/* Bytes needed for nroutes routes (plus "other") and ngateways gateways. */
apr_size_t jklg_metrics_size(int nroutes, int ngateways);

/* Lays out and zeroes a block of jklg_metrics_size() bytes. */
jklg_metrics_t *jklg_metrics_init(void *mem, int nroutes, int ngateways);

/* One answered request: route slot (nroutes for unmatched), the request
 * method ("GET"...), status and time taken. Out-of-range values are
 * counted as "other". NULL m: metrics are off, nothing happens. */
void jklg_metrics_request(jklg_metrics_t *m, int route, const char *method,
                          int status, apr_interval_time_t took);

/* type: the event type, NULL when not known (bad signature). */
void jklg_metrics_webhook(jklg_metrics_t *m, const char *type,
                          jklg_webhook_outcome_t outcome);

/* One database call applied events webhook deliveries brought together
 * (mod_jklg_webhook.c). */
void jklg_metrics_webhook_batch(jklg_metrics_t *m, int events);

/* One call to gateway slot g with its result (APR_SUCCESS, APR_EGENERAL
 * for a refusal, APR_TIMEUP/APR_INCOMPLETE unknown, APR_ECONNREFUSED). */
void jklg_metrics_gateway(jklg_metrics_t *m, int g, apr_status_t rv);

void jklg_metrics_db_acquire_failed(jklg_metrics_t *m);

/* +1 when a request starts waiting for a password-hash slot, -1 when it
 * gets one. */
void jklg_metrics_hash_waiting(jklg_metrics_t *m, int delta);

/* The exposition text (text/plain; version=0.0.4). */
const char *jklg_metrics_render(apr_pool_t *p, const jklg_metrics_t *m,
                                const jklg_metrics_names_t *names,
                                const jklg_metrics_outbox_t *outbox);

#endif
