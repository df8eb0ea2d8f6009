#include <string.h>
#include <apr_strings.h>
#include <apr_errno.h>
#include <apr_tables.h>
#include "jklg_metrics.h"

/* Label values are fixed lists, so the number of series is bounded
 * whatever clients send: anything else is counted as "other". */
static const char *const methods[] = {
    "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "other"
};
#define METHODS (int)(sizeof(methods) / sizeof(*methods))

static const int statuses[] = {
    200, 201, 202, 204, 304, 400, 401, 403, 404, 405, 409, 413, 415, 422,
    429, 500, 502, 503
};
#define STATUSES (int)(sizeof(statuses) / sizeof(*statuses) + 1)

/* Upper bounds in seconds; a last bucket is +Inf. Labels are written
 * out: APR's %g drops the leading zero that Prometheus' le expects. */
static const struct {
    double seconds;
    const char *le;
} buckets[] = {
    {0.005, "0.005"}, {0.01, "0.01"}, {0.025, "0.025"}, {0.05, "0.05"},
    {0.1, "0.1"}, {0.25, "0.25"}, {0.5, "0.5"}, {1, "1"}, {2.5, "2.5"},
    {5, "5"}, {10, "10"}
};
#define BUCKETS (int)(sizeof(buckets) / sizeof(*buckets) + 1)
#define HISTOGRAM (BUCKETS + 1)     /* the buckets, then the sum in us */

static const char *const webhook_types[] = {
    "payment_intent.processing", "payment_intent.succeeded",
    "payment_intent.payment_failed", "payment_intent.canceled",
    "charge.refunded", "charge.dispute.created", "other", "unknown"
};
#define WEBHOOK_TYPES (int)(sizeof(webhook_types) / sizeof(*webhook_types))
#define WEBHOOK_OTHER (WEBHOOK_TYPES - 2)
#define WEBHOOK_UNKNOWN (WEBHOOK_TYPES - 1)

static const char *const webhook_outcomes[JKLG_WEBHOOK_OUTCOMES] = {
    "applied", "duplicate", "invalid_signature", "invalid_event", "error"
};

static const char *const gateway_outcomes[] = {
    "ok", "refused", "unknown", "unreachable", "error"
};
#define GATEWAY_OUTCOMES \
    (int)(sizeof(gateway_outcomes) / sizeof(*gateway_outcomes))

struct jklg_metrics_t {
    int nroutes;                    /* plus one slot for "other" */
    int ngateways;
    apr_uint64_t db_acquire_failures;
    apr_int64_t hash_waiting;
    apr_uint64_t webhooks[WEBHOOK_TYPES][JKLG_WEBHOOK_OUTCOMES];
    apr_uint64_t webhook_batches;   /* database calls applying events */
    apr_uint64_t webhook_batched;   /* events they applied */
    /* requests[route][method][status], then histograms[route][HISTOGRAM],
     * then gateways[gateway][outcome]. */
    apr_uint64_t counters[];
};

static apr_size_t request_cells(int nroutes)
{
    return (apr_size_t)(nroutes + 1) * METHODS * STATUSES;
}

static apr_size_t histogram_cells(int nroutes)
{
    return (apr_size_t)(nroutes + 1) * HISTOGRAM;
}

apr_size_t jklg_metrics_size(int nroutes, int ngateways)
{
    return sizeof(jklg_metrics_t)
           + sizeof(apr_uint64_t) * (request_cells(nroutes)
                                     + histogram_cells(nroutes)
                                     + (apr_size_t)ngateways
                                       * GATEWAY_OUTCOMES);
}

jklg_metrics_t *jklg_metrics_init(void *mem, int nroutes, int ngateways)
{
    jklg_metrics_t *m = mem;

    memset(m, 0, jklg_metrics_size(nroutes, ngateways));
    m->nroutes = nroutes;
    m->ngateways = ngateways;
    return m;
}

static apr_uint64_t *requests(const jklg_metrics_t *m, int route, int method,
                              int status)
{
    return (apr_uint64_t *)m->counters
           + ((apr_size_t)route * METHODS + method) * STATUSES + status;
}

static apr_uint64_t *histogram(const jklg_metrics_t *m, int route)
{
    return (apr_uint64_t *)m->counters + request_cells(m->nroutes)
           + (apr_size_t)route * HISTOGRAM;
}

static apr_uint64_t *gateway(const jklg_metrics_t *m, int g, int outcome)
{
    return (apr_uint64_t *)m->counters + request_cells(m->nroutes)
           + histogram_cells(m->nroutes)
           + (apr_size_t)g * GATEWAY_OUTCOMES + outcome;
}

static void add(apr_uint64_t *cell, apr_uint64_t n)
{
    __atomic_fetch_add(cell, n, __ATOMIC_RELAXED);
}

static apr_uint64_t get(const apr_uint64_t *cell)
{
    return __atomic_load_n(cell, __ATOMIC_RELAXED);
}

static int method_slot(const char *method)
{
    for (int i = 0; method && i < METHODS - 1; i++) {
        if (!strcmp(method, methods[i])) {
            return i;
        }
    }
    return METHODS - 1;
}

static int status_slot(int status)
{
    for (int i = 0; i < STATUSES - 1; i++) {
        if (statuses[i] == status) {
            return i;
        }
    }
    return STATUSES - 1;
}

static int bucket_slot(apr_interval_time_t took)
{
    double seconds = (double)took / APR_USEC_PER_SEC;

    for (int i = 0; i < BUCKETS - 1; i++) {
        if (seconds <= buckets[i].seconds) {
            return i;
        }
    }
    return BUCKETS - 1;
}

void jklg_metrics_request(jklg_metrics_t *m, int route, const char *method,
                          int status, apr_interval_time_t took)
{
    apr_uint64_t *h;

    if (!m) {
        return;
    }
    if (route < 0 || route > m->nroutes) {
        route = m->nroutes;
    }
    if (took < 0) {
        took = 0;
    }
    add(requests(m, route, method_slot(method), status_slot(status)), 1);
    h = histogram(m, route);
    add(&h[bucket_slot(took)], 1);
    add(&h[BUCKETS], (apr_uint64_t)took);
}

static int webhook_type_slot(const char *type)
{
    if (!type) {
        return WEBHOOK_UNKNOWN;
    }
    for (int i = 0; i < WEBHOOK_OTHER; i++) {
        if (!strcmp(type, webhook_types[i])) {
            return i;
        }
    }
    return WEBHOOK_OTHER;
}

void jklg_metrics_webhook(jklg_metrics_t *m, const char *type,
                          jklg_webhook_outcome_t outcome)
{
    if (m && outcome < JKLG_WEBHOOK_OUTCOMES) {
        add(&m->webhooks[webhook_type_slot(type)][outcome], 1);
    }
}

void jklg_metrics_webhook_batch(jklg_metrics_t *m, int events)
{
    if (m && events > 0) {
        add(&m->webhook_batches, 1);
        add(&m->webhook_batched, (apr_uint64_t)events);
    }
}

static int gateway_outcome_slot(apr_status_t rv)
{
    switch (rv) {
    case APR_SUCCESS:
        return 0;
    case APR_EGENERAL:
        return 1;
    case APR_TIMEUP:
    case APR_INCOMPLETE:
        return 2;
    case APR_ECONNREFUSED:
        return 3;
    default:
        return 4;
    }
}

void jklg_metrics_gateway(jklg_metrics_t *m, int g, apr_status_t rv)
{
    if (m && g >= 0 && g < m->ngateways) {
        add(gateway(m, g, gateway_outcome_slot(rv)), 1);
    }
}

void jklg_metrics_db_acquire_failed(jklg_metrics_t *m)
{
    if (m) {
        add(&m->db_acquire_failures, 1);
    }
}

void jklg_metrics_hash_waiting(jklg_metrics_t *m, int delta)
{
    if (m) {
        __atomic_fetch_add(&m->hash_waiting, delta, __ATOMIC_RELAXED);
    }
}

/* ---- rendering ---------------------------------------------------------- */

static void header(apr_array_header_t *out, const char *name,
                   const char *type, const char *help)
{
    APR_ARRAY_PUSH(out, const char *) = apr_psprintf(
        out->pool, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void line(apr_array_header_t *out, const char *text)
{
    APR_ARRAY_PUSH(out, const char *) = text;
}

static const char *route_name(const jklg_metrics_names_t *names, int r)
{
    return r < names->nroutes ? names->routes[r] : "other";
}

static const char *status_name(apr_pool_t *p, int s)
{
    return s < STATUSES - 1 ? apr_itoa(p, statuses[s]) : "other";
}

static void render_requests(apr_array_header_t *out, const jklg_metrics_t *m,
                            const jklg_metrics_names_t *names)
{
    apr_pool_t *p = out->pool;

    header(out, "jklg_http_requests_total", "counter",
           "HTTP requests answered by the module, by route, method and "
           "status.");
    for (int r = 0; r <= m->nroutes; r++) {
        for (int k = 0; k < METHODS; k++) {
            for (int s = 0; s < STATUSES; s++) {
                apr_uint64_t n = get(requests(m, r, k, s));
                if (n) {
                    line(out, apr_psprintf(p, "jklg_http_requests_total"
                         "{route=\"%s\",method=\"%s\",status=\"%s\"} %"
                         APR_UINT64_T_FMT "\n", route_name(names, r),
                         methods[k], status_name(p, s), n));
                }
            }
        }
    }
}

static void render_histograms(apr_array_header_t *out,
                              const jklg_metrics_t *m,
                              const jklg_metrics_names_t *names)
{
    apr_pool_t *p = out->pool;
    const char *name = "jklg_http_request_duration_seconds";

    header(out, name, "histogram", "Time from the request line to the "
           "module's answer, by route.");
    for (int r = 0; r <= m->nroutes; r++) {
        const apr_uint64_t *h = histogram(m, r);
        apr_uint64_t total = 0;

        for (int b = 0; b < BUCKETS; b++) {
            total += get(&h[b]);
        }
        if (!total) {
            continue;
        }
        total = 0;
        for (int b = 0; b < BUCKETS; b++) {
            total += get(&h[b]);
            line(out, apr_psprintf(p, "%s_bucket{route=\"%s\",le=\"%s\"} %"
                 APR_UINT64_T_FMT "\n", name, route_name(names, r),
                 b < BUCKETS - 1 ? buckets[b].le : "+Inf", total));
        }
        line(out, apr_psprintf(p, "%s_sum{route=\"%s\"} %.6f\n", name,
             route_name(names, r), (double)get(&h[BUCKETS]) / 1e6));
        line(out, apr_psprintf(p, "%s_count{route=\"%s\"} %" APR_UINT64_T_FMT
             "\n", name, route_name(names, r), total));
    }
}

static void render_webhooks(apr_array_header_t *out, const jklg_metrics_t *m)
{
    header(out, "jklg_webhook_events_total", "counter",
           "Webhook deliveries by event type and outcome.");
    for (int t = 0; t < WEBHOOK_TYPES; t++) {
        for (int o = 0; o < JKLG_WEBHOOK_OUTCOMES; o++) {
            apr_uint64_t n = get(&m->webhooks[t][o]);
            if (n) {
                line(out, apr_psprintf(out->pool, "jklg_webhook_events_total"
                     "{type=\"%s\",outcome=\"%s\"} %" APR_UINT64_T_FMT "\n",
                     webhook_types[t], webhook_outcomes[o], n));
            }
        }
    }
    header(out, "jklg_webhook_batches_total", "counter",
           "Database calls that applied webhook events; events over calls "
           "is the mean batch.");
    line(out, apr_psprintf(out->pool, "jklg_webhook_batches_total %"
         APR_UINT64_T_FMT "\n", get(&m->webhook_batches)));
    header(out, "jklg_webhook_batch_events_total", "counter",
           "Webhook events applied by those calls.");
    line(out, apr_psprintf(out->pool, "jklg_webhook_batch_events_total %"
         APR_UINT64_T_FMT "\n", get(&m->webhook_batched)));
}

static void render_gateways(apr_array_header_t *out, const jklg_metrics_t *m,
                            const jklg_metrics_names_t *names)
{
    header(out, "jklg_gateway_calls_total", "counter",
           "Calls to payment gateways by outcome (unknown: timed out or "
           "5xx, the call may have happened).");
    for (int g = 0; g < m->ngateways && g < names->ngateways; g++) {
        for (int o = 0; o < GATEWAY_OUTCOMES; o++) {
            apr_uint64_t n = get(gateway(m, g, o));
            if (n) {
                line(out, apr_psprintf(out->pool, "jklg_gateway_calls_total"
                     "{gateway=\"%s\",outcome=\"%s\"} %" APR_UINT64_T_FMT
                     "\n", names->gateways[g], gateway_outcomes[o], n));
            }
        }
    }
}

static void render_outbox(apr_array_header_t *out,
                          const jklg_metrics_outbox_t *o)
{
    apr_pool_t *p = out->pool;

    if (!o || !o->known) {
        return;
    }
    header(out, "jklg_outbox_messages", "gauge",
           "Messages in the email outbox (all servers) by state.");
    line(out, apr_psprintf(p, "jklg_outbox_messages{state=\"queued\"} %"
         APR_INT64_T_FMT "\njklg_outbox_messages{state=\"sending\"} %"
         APR_INT64_T_FMT "\njklg_outbox_messages{state=\"sent\"} %"
         APR_INT64_T_FMT "\njklg_outbox_messages{state=\"failed\"} %"
         APR_INT64_T_FMT "\n", o->queued, o->sending, o->sent, o->failed));
    header(out, "jklg_outbox_oldest_age_seconds", "gauge",
           "Age of the oldest message waiting to be sent; 0 when none.");
    line(out, apr_psprintf(p, "jklg_outbox_oldest_age_seconds %"
         APR_INT64_T_FMT "\n", o->oldest_age));
}

const char *jklg_metrics_render(apr_pool_t *p, const jklg_metrics_t *m,
                                const jklg_metrics_names_t *names,
                                const jklg_metrics_outbox_t *outbox)
{
    apr_array_header_t *out = apr_array_make(p, 64, sizeof(const char *));
    apr_int64_t waiting = __atomic_load_n(&m->hash_waiting,
                                          __ATOMIC_RELAXED);

    render_requests(out, m, names);
    render_histograms(out, m, names);
    render_webhooks(out, m);
    render_gateways(out, m, names);
    render_outbox(out, outbox);
    header(out, "jklg_db_acquire_failures_total", "counter",
           "Requests that got no database connection.");
    line(out, apr_psprintf(p, "jklg_db_acquire_failures_total %"
         APR_UINT64_T_FMT "\n", get(&m->db_acquire_failures)));
    header(out, "jklg_password_hash_waiting", "gauge",
           "Requests waiting for a password hashing slot.");
    line(out, apr_psprintf(p, "jklg_password_hash_waiting %" APR_INT64_T_FMT
         "\n", waiting > 0 ? waiting : 0));
    return apr_array_pstrcat(p, out, 0);
}
