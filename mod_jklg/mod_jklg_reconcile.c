/* Reconciliation with the payment gateways (issue 12): every
 * JKLGReconcileInterval, once across servers, each gateway that can list
 * its changes (list_changes) is asked for the events of a window, and
 * those we missed are applied through the webhook's own path
 * (jklg_event_apply, jklg.apply_event of sql/022 with the run; the runs
 * are sql/016_reconciliation.sql's). The scheduled run comes from the mail
 * sweep of mod_jklg_mailer.c; staff start one with
 * POST /api/admin/reconciliation/run, which runs it in the request and
 * answers the finished run. */
#include <stdlib.h>
#include <string.h>
#include <apr_strings.h>
#include <http_protocol.h>
#include "jklg_gateway.h"
#include "jklg_json.h"
#include "jklg_util.h"
#include "mod_jklg.h"

#define DEFAULT_INTERVAL apr_time_from_sec(15 * 60)
/* Events become listable a little after their creation time. */
#define OVERLAP_SECONDS "300"
/* The first run ever looks back this far (Stripe keeps 30 days). */
#define LOOKBACK_SECONDS "604800"
/* A run older than this died with its server: its claim is released. */
#define STALE_SECONDS "3600"
/* A bound on one run (10,000 events). Pages come newest first, so a run
 * stopping there has not seen the oldest ones: it fails, and the window
 * does not move on without them. */
#define MAX_PAGES 200

const jklg_statement_t jklg_reconcile_statements[] = {
    {"jklg_reconcile_start", JKLG_CALL_SQL("reconcile_start",
     "p_gateway => %s, p_staff => %s, p_interval => %s::int, "
     "p_overlap => %s::int, p_lookback => %s::int, p_stale => %s::int")},
    {"jklg_reconcile_finish", JKLG_CALL_SQL("reconcile_finish",
     "p_run => %s::uuid, p_error => %s")},
    {"jklg_staff_reconciliation", JKLG_CALL_SQL("staff_reconciliation_runs",
     "p_staff => %s, p_after_time => %s::timestamp, p_after_id => %s::uuid, "
     "p_limit => %s::int")},
    {NULL, NULL}
};

apr_interval_time_t jklg_conf_reconcile_interval(const jklg_server_conf_t *c)
{
    return c->reconcile_interval != JKLG_UNSET ? c->reconcile_interval
                                               : DEFAULT_INTERVAL;
}

const char *jklg_reconcile_set_interval(cmd_parms *cmd, void *dc,
                                        const char *arg)
{
    jklg_server_conf_t *c = ap_get_module_config(cmd->server->module_config,
                                                 &jklg_module);

    (void)dc;
    if (!strcasecmp(arg, "off")) {
        c->reconcile_interval = 0;
        return NULL;
    }
    if (jklg_parse_duration(arg, &c->reconcile_interval) != APR_SUCCESS
        || c->reconcile_interval < 0) {
        return apr_psprintf(cmd->pool, "JKLGReconcileInterval: '%s' is not "
                            "a duration (e.g. 15m) or off", arg);
    }
    return NULL;
}

typedef struct {
    server_rec *s;
    jklg_db_t *db;
    const jklg_gateway_t *gw;
    const char *run_id;
    const char *db_err;          /* set when the database failed */
} run_t;

/* Applies one page through the webhook's path (jklg_event_apply, with
 * the run: its checks and counters); APR_SUCCESS, or the database's
 * failure. */
static apr_status_t apply_page(run_t *run, apr_pool_t *p,
                               const jklg_gateway_changes_t *ch)
{
    for (int i = 0; i < ch->events->nelts; i++) {
        const jklg_gateway_event_t *ev = &APR_ARRAY_IDX(
            ch->events, i, jklg_gateway_event_t);
        const char *outcome;
        apr_status_t rv;

        if (ev->kind == JKLG_EVENT_IGNORED || !ev->id) {
            continue;
        }
        rv = jklg_event_apply(run->s, run->db, p, run->gw, ev,
                              APR_ARRAY_IDX(ch->payloads, i, const char *),
                              run->run_id, &outcome, &run->db_err);
        if (rv != APR_SUCCESS) {
            return rv;
        }
        if (!strcmp(outcome, "mismatch")) {
            ap_log_error(APLOG_MARK, APLOG_WARNING, 0, run->s, JKLGNO(02250)
                         "reconciliation: %s event %s differs from our "
                         "transaction: not applied, recorded on run %s",
                         run->gw->name, ev->id, run->run_id);
        }
    }
    return APR_SUCCESS;
}

/* Walks the window page by page; NULL, or why the run failed. Each page
 * is applied as it comes: a page that fails leaves the earlier ones
 * applied, and the next run, asking for the same window again, finds
 * their events stored (nothing twice). */
static const char *walk(run_t *run, apr_pool_t *p, apr_int64_t since)
{
    jklg_server_conf_t *conf = jklg_conf(run->s);
    const char *cursor = NULL, *err = NULL;
    apr_pool_t *page_pool;

    apr_pool_create(&page_pool, p);
    for (int n = 0; n < MAX_PAGES; n++) {
        jklg_gateway_changes_t ch;
        apr_status_t rv;

        apr_pool_clear(page_pool);
        /* Counted with the other gateway calls (jklg_gateway_calls_total). */
        rv = jklg_count_gateway(run->gw, run->gw->list_changes(
                 jklg_gateway_conf(conf, run->gw), page_pool, since, cursor,
                 &ch, &err));
        if (rv != APR_SUCCESS) {
            return apr_psprintf(p, "page %d: %s", n + 1,
                                err ? err : "gateway error");
        }
        if (apply_page(run, page_pool, &ch) != APR_SUCCESS) {
            return apr_psprintf(p, "database: %s", run->db_err);
        }
        if (!ch.has_more) {
            return NULL;
        }
        cursor = apr_pstrdup(p, ch.next);
    }
    return apr_psprintf(p, "more than %d pages of events in the window: "
                        "the oldest were not read", MAX_PAGES);
}

apr_status_t jklg_reconcile_run(server_rec *s, jklg_db_t *db, apr_pool_t *p,
                                const jklg_gateway_t *gw, const char *staff,
                                const char **outcome, json_t **result,
                                const char **err)
{
    jklg_server_conf_t *conf = jklg_conf(s);
    const char *failure;
    run_t run = {s, db, gw, NULL, NULL};
    jklg_result_t res;
    json_t *started;
    apr_status_t rv;

    *result = NULL;
    {
        const char *args[] = {
            gw->name, staff, apr_psprintf(p, "%" APR_TIME_T_FMT,
                apr_time_sec(jklg_conf_reconcile_interval(conf))),
            OVERLAP_SECONDS, LOOKBACK_SECONDS, STALE_SECONDS
        };
        rv = jklg_db_call(s, db, p, "jklg_reconcile_start", 6, args, &res,
                          err);
    }
    if (rv != APR_SUCCESS || strcmp(*outcome = res.outcome, "created")) {
        return rv;
    }
    started = jklg_db_result_json(p, &res);
    run.run_id = jklg_json_str(json_object_get(started, "run"), "id");
    if (!run.run_id
        || !json_is_integer(json_object_get(started, "since_epoch"))) {
        *err = "reconcile_start: no run";
        return APR_EGENERAL;
    }
    failure = walk(&run, p, json_integer_value(json_object_get(
                                started, "since_epoch")));
    if (failure) {
        ap_log_error(APLOG_MARK, APLOG_WARNING, 0, s, JKLGNO(02251)
                     "reconciliation run %s failed: %s", run.run_id, failure);
    }
    {
        const char *args[] = {run.run_id, failure};
        rv = jklg_db_call(s, db, p, "jklg_reconcile_finish", 2, args, &res,
                          err);
    }
    if (rv == APR_SUCCESS) {
        *result = jklg_db_result_json(p, &res);
        *outcome = "accepted";
    }
    return rv;
}

/* The gateways to reconcile: those that can list changes and are set up. */
static int reconcilable(const jklg_server_conf_t *conf,
                        const jklg_gateway_t *gw)
{
    return gw->list_changes
           && jklg_gateway_configured(gw, jklg_gateway_conf(conf, gw));
}

void jklg_reconcile_due(server_rec *s, jklg_db_t *db, apr_pool_t *p)
{
    jklg_server_conf_t *conf = jklg_conf(s);

    if (jklg_conf_reconcile_interval(conf) <= 0) {
        return;
    }
    for (const jklg_gateway_t *const *g = jklg_gateways; *g; g++) {
        const char *outcome = NULL, *err = NULL;
        json_t *result;

        if (!reconcilable(conf, *g)) {
            continue;
        }
        if (jklg_reconcile_run(s, db, p, *g, NULL, &outcome, &result, &err)
            != APR_SUCCESS) {
            ap_log_error(APLOG_MARK, APLOG_WARNING, 0, s, JKLGNO(02252)
                         "reconciliation: %s", err);
        }
        else if (result) {
            json_t *run = json_object_get(result, "run");
            ap_log_error(APLOG_MARK, APLOG_INFO, 0, s, JKLGNO(02253)
                         "reconciliation run %s %s: %" APR_INT64_T_FMT
                         " checked, %" APR_INT64_T_FMT " applied",
                         jklg_json_str(run, "id"), jklg_json_str(run,
                                                                 "status"),
                         (apr_int64_t)json_integer_value(
                             json_object_get(run, "checked")),
                         (apr_int64_t)json_integer_value(
                             json_object_get(run, "applied")));
        }
    }
}

int jklg_staff_reconciliation(jklg_req_t *req)
{
    jklg_page_t page;

    if (!jklg_req_page(req, &page)) {
        return OK;
    }
    {
        const char *args[] = {req->r->user, page.time, page.id,
                              apr_ltoa(req->r->pool, page.limit)};
        return jklg_call_finish(req, "jklg_staff_reconciliation", 4, args,
                                NULL);
    }
}

/* Runs in the request (synchronously): the answer is the finished run. */
int jklg_staff_reconciliation_run(jklg_req_t *req)
{
    const jklg_gateway_t *gw = NULL;
    const char *outcome = NULL, *err = NULL;
    json_t *result;

    for (const jklg_gateway_t *const *g = jklg_gateways; *g && !gw; g++) {
        if (reconcilable(req->conf, *g)) {
            gw = *g;
        }
    }
    if (!gw) {
        return jklg_reply_error(req, HTTP_SERVICE_UNAVAILABLE, "unavailable",
                                "No payment gateway to reconcile is "
                                "configured.", NULL);
    }
    if (!jklg_req_db(req)) {
        return jklg_reply_unavailable(req);
    }
    if (jklg_reconcile_run(req->r->server, &req->db, req->r->pool, gw,
                           req->r->user, &outcome, &result, &err)
        != APR_SUCCESS) {
        return jklg_reply_db_error(req, APR_EGENERAL, err);
    }
    if (!strcmp(outcome, "conflict")) {
        return jklg_reply_error(req, HTTP_CONFLICT, "conflict",
                                "A reconciliation run is under way.", NULL);
    }
    if (!result) {
        return jklg_reply_db_error(req, APR_EGENERAL, apr_psprintf(
                                   req->r->pool, "reconciliation: outcome "
                                   "'%s'", outcome));
    }
    return jklg_reply(req, HTTP_ACCEPTED, result);
}
