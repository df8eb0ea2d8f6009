/* GET /api/admin/metrics and the counters behind it. One block of
 * counters per server generation, in anonymous shared memory made in
 * post_config, so every child process of this Apache adds to the same
 * numbers; a scrape reads them and asks the database for the outbox (which
 * every server shares). Counting is a few atomic adds per request. */
#include <apr_shm.h>
#include <apr_strings.h>
#include <http_protocol.h>
#include "jklg_metrics.h"
#include "mod_jklg.h"

static jklg_metrics_t *metrics;
static jklg_metrics_names_t names;

/* Each status through its own partial index (sql/006): counted with
 * FILTERs over the whole table, a scrape read every row kept, 1.5 s at
 * 500,000 mails (docs/testing.md, "At an agency's size"). */
const jklg_statement_t jklg_metrics_statements[] = {
    {"jklg_m_outbox",
     "SELECT count(*) FILTER (WHERE status = 'queued'), "
     "count(*) FILTER (WHERE status = 'sending'), "
     "(SELECT count(*) FROM email_outbox WHERE status = 'sent'), "
     "(SELECT count(*) FROM email_outbox WHERE status = 'failed'), "
     "COALESCE(extract(epoch FROM now() - min(created_at)), 0)::bigint "
     "FROM email_outbox WHERE status IN ('queued', 'sending')"},
    {NULL, NULL}
};

static const char *method_name(int bit)
{
    switch (bit) {
    case JKLG_GET: return "GET";
    case JKLG_POST: return "POST";
    case JKLG_PUT: return "PUT";
    case JKLG_PATCH: return "PATCH";
    case JKLG_DELETE: return "DELETE";
    default: return "other";
    }
}

int jklg_metrics_post_config(apr_pool_t *pconf, server_rec *s)
{
    const char **routes, **methods;
    apr_shm_t *shm;
    apr_status_t rv;
    int nroutes = 0, ngateways = 0;

    while (jklg_endpoints[nroutes].pattern) {
        nroutes++;
    }
    while (jklg_gateways[ngateways]) {
        ngateways++;
    }
    routes = apr_palloc(pconf, sizeof(*routes) * nroutes);
    methods = apr_palloc(pconf, sizeof(*methods) * nroutes);
    for (int i = 0; i < nroutes; i++) {
        routes[i] = jklg_endpoints[i].pattern;
        methods[i] = method_name(jklg_endpoints[i].method);
    }
    names.routes = routes;
    names.methods = methods;
    names.nroutes = nroutes;
    names.gateways = apr_palloc(pconf, sizeof(char *) * ngateways);
    for (int g = 0; g < ngateways; g++) {
        ((const char **)names.gateways)[g] = jklg_gateways[g]->name;
    }
    names.ngateways = ngateways;
    /* Anonymous: inherited by the children forked after this; gone with
     * pconf at the next restart, which starts the counters again. */
    rv = apr_shm_create(&shm, jklg_metrics_size(nroutes, ngateways), NULL,
                        pconf);
    if (rv != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_ERR, rv, s, JKLGNO(00801)
                     "cannot create shared memory for metrics; "
                     "/api/admin/metrics will answer 503");
        metrics = NULL;
        return OK;
    }
    metrics = jklg_metrics_init(apr_shm_baseaddr_get(shm), nroutes,
                                ngateways);
    return OK;
}

void jklg_count_request(request_rec *r, const jklg_endpoint_t *endpoint,
                        int status)
{
    jklg_metrics_request(metrics, endpoint ? (int)(endpoint - jklg_endpoints)
                                           : names.nroutes,
                         r->method, status, apr_time_now() - r->request_time);
}

void jklg_count_webhook_batch(int events)
{
    jklg_metrics_webhook_batch(metrics, events);
}

void jklg_count_webhook(const char *type, jklg_webhook_outcome_t outcome)
{
    jklg_metrics_webhook(metrics, type, outcome);
}

apr_status_t jklg_count_gateway(const jklg_gateway_t *gw, apr_status_t rv)
{
    for (int g = 0; gw && jklg_gateways[g]; g++) {
        if (jklg_gateways[g] == gw) {
            jklg_metrics_gateway(metrics, g, rv);
        }
    }
    return rv;
}

void jklg_count_db_acquire_failure(void)
{
    jklg_metrics_db_acquire_failed(metrics);
}

void jklg_count_hash_waiting(int delta)
{
    jklg_metrics_hash_waiting(metrics, delta);
}

static void outbox_gauges(jklg_req_t *req, jklg_metrics_outbox_t *o)
{
    jklg_rows_t rows;
    const char *err;

    memset(o, 0, sizeof(*o));
    if (!jklg_req_db(req)
        || jklg_db_query(&req->db, req->r->pool, "jklg_m_outbox", 0, NULL,
                         &rows, &err) != APR_SUCCESS
        || rows.nrows != 1) {
        return;     /* the database's own series say why */
    }
    o->queued = apr_atoi64(rows.rows[0][0]);
    o->sending = apr_atoi64(rows.rows[0][1]);
    o->sent = apr_atoi64(rows.rows[0][2]);
    o->failed = apr_atoi64(rows.rows[0][3]);
    o->oldest_age = apr_atoi64(rows.rows[0][4]);
    o->known = 1;
}

int jklg_staff_metrics(jklg_req_t *req)
{
    jklg_metrics_outbox_t outbox;

    if (!metrics) {
        return jklg_reply_unavailable(req);
    }
    outbox_gauges(req, &outbox);
    req->r->status = HTTP_OK;
    ap_set_content_type(req->r, "text/plain; version=0.0.4; charset=utf-8");
    ap_rputs(jklg_metrics_render(req->r->pool, metrics, &names, &outbox),
             req->r);
    return OK;
}
