/* POST /api/payments/webhook: the gateway's signed events, applied in
 * batches. Each delivery is verified and parsed by its own thread, then
 * joins this child's batch (jklg_batch.c): the events that arrive together
 * are applied by one call of jklg.apply_events (sql/028), in one database
 * transaction, and each delivery is answered once that transaction has
 * committed, so that a 200 still means "stored and applied". What an
 * applied event leaves to do (an over-payment's refund, a card to keep) is
 * done by its own thread afterwards.
 *
 * Why: an event costs the database little next to the statement, round
 * trip and commit around it, and a backend per waiting delivery made
 * PostgreSQL spend three times as long per event under load
 * (docs/testing.md, "Webhook batches"). A lone event is applied as before,
 * through jklg.apply_event; a batch the database refuses (a deadlock with
 * another child's batch, an event it cannot store) is applied again event
 * by event, so that one bad event fails alone. */
#include <stdlib.h>
#include <string.h>
#include <apr_strings.h>
#include <http_protocol.h>
#include "jklg_batch.h"
#include "jklg_json.h"
#include "mod_jklg.h"

/* Deliveries one batch takes at most: more than a child's threads wait
 * only while a batch runs long. Bounds the statement's size (a webhook
 * body may reach 1 MiB, Stripe's events are a few KB). */
#define BATCH_MAX 32

const jklg_statement_t jklg_webhook_statements[] = {
    {"jklg_p_events", "SELECT n, outcome, body, emails FROM "
     "jklg.apply_events(p_gateway => %s, p_public_url => %s, "
     "p_events => %s::jsonb)"},
    {NULL, NULL}
};

/* One delivery in a batch: what its thread brings, and what the batch
 * leaves for it. The leader writes the results into the owner's pool
 * while the owner waits for them (jklg_batch_join), so one thread at a
 * time uses that pool. */
typedef struct {
    const jklg_gateway_event_t *ev;
    const char *payload;
    apr_pool_t *pool;
    apr_status_t rv;            /* APR_EAGAIN: no database connection */
    const char *outcome;
    const char *body;           /* the follow-up's, or NULL */
    const char *err;            /* for the log */
} delivery_t;

typedef struct {
    jklg_req_t *req;            /* the leader's: its connection */
    const jklg_gateway_t *gw;
} leader_t;

void jklg_webhook_child_init(apr_pool_t *pchild, server_rec *s)
{
    for (server_rec *sp = s; sp; sp = sp->next) {
        jklg_server_conf_t *c = jklg_conf(sp);
        apr_status_t rv;

        if (!c->outbox || c->event_batch) {
            continue;
        }
        rv = jklg_batch_create(&c->event_batch, pchild, BATCH_MAX);
        if (rv != APR_SUCCESS) {
            ap_log_error(APLOG_MARK, APLOG_CRIT, rv, sp, JKLGNO(02400)
                         "webhook: cannot create the event batch; events "
                         "are applied one by one");
        }
    }
}

static void settle(delivery_t *d, apr_status_t rv, const char *outcome,
                   const char *body, const char *err)
{
    d->rv = rv;
    d->outcome = outcome ? apr_pstrdup(d->pool, outcome) : NULL;
    d->body = body ? apr_pstrdup(d->pool, body) : NULL;
    d->err = err ? apr_pstrdup(d->pool, err) : NULL;
}

/* Through jklg.apply_event, as a lone event. */
static void apply_one(const leader_t *l, delivery_t *d)
{
    server_rec *s = l->req->r->server;
    jklg_result_t res;
    const char *err = NULL;
    apr_status_t rv = jklg_event_call(s, &l->req->db, l->req->r->pool, l->gw,
                                      d->ev, d->payload, NULL, &res, &err);

    settle(d, rv, rv == APR_SUCCESS ? res.outcome : NULL,
           rv == APR_SUCCESS ? res.body : NULL, err);
}

static int put(json_t *o, const char *key, const char *value)
{
    return !value || json_object_set_new(o, key, json_string(value)) == 0;
}

/* jklg.apply_events' array: each event's fields, and its payload as the
 * gateway sent it (valid JSON: parse_event read it). NULL when a field is
 * not valid text, which only the lone path then reports. */
static const char *events_json(apr_pool_t *p, jklg_batch_item_t **items,
                               int n)
{
    apr_array_header_t *parts = apr_array_make(p, 2 * n + 1,
                                               sizeof(const char *));

    for (int i = 0; i < n; i++) {
        const delivery_t *d = items[i]->data;
        const jklg_gateway_event_t *ev = d->ev;
        json_t *o = jklg_json_own(p, json_object());
        char *fields;

        if (!put(o, "id", ev->id) || !put(o, "type", ev->type)
            || !put(o, "kind", jklg_event_kind_word(ev->kind))
            || !put(o, "ref", ev->payment_ref)
            || !put(o, "tx", ev->transaction_id)
            || !put(o, "amount", apr_psprintf(p, "%" APR_INT64_T_FMT,
                                              ev->amount))
            || !put(o, "reason", ev->failure_reason)
            || !put(o, "method_ref", ev->method_ref)
            || !(fields = json_dumps(o, JSON_COMPACT))) {
            return NULL;
        }
        /* {"id":...} becomes {"id":...,"payload":<the body>} */
        fields[strlen(fields) - 1] = '\0';
        APR_ARRAY_PUSH(parts, const char *) = apr_pstrcat(
            p, i ? "," : "[", fields, ",\"payload\":", d->payload, "}", NULL);
        free(fields);
    }
    APR_ARRAY_PUSH(parts, const char *) = "]";
    return apr_array_pstrcat(p, parts, 0);
}

/* Through jklg.apply_events: 1 when every delivery has its row (one each:
 * a delivery answered twice is refused, as a missing one is). */
static int apply_together(const leader_t *l, jklg_batch_item_t **items,
                          int n, apr_status_t *rv, const char **err)
{
    server_rec *s = l->req->r->server;
    apr_pool_t *p = l->req->r->pool;
    const char *events = events_json(p, items, n);
    const char *args[] = {l->gw->name, jklg_conf(s)->public_url, events};
    jklg_rows_t rows;

    *rv = APR_SUCCESS;
    if (!events) {
        return 0;
    }
    *rv = jklg_db_query(&l->req->db, p, "jklg_p_events", 3, args, &rows, err);
    if (*rv != APR_SUCCESS || rows.nrows != n || rows.ncols != 4) {
        return 0;
    }
    for (int i = 0; i < n; i++) {
        const char *const *row = rows.rows[i];
        int at = row[0] ? atoi(row[0]) - 1 : -1;

        if (at < 0 || at >= n || !row[1]
            || ((const delivery_t *)items[at]->data)->outcome) {
            return 0;
        }
        jklg_emails_queued(s, p, row[3]);
        settle(items[at]->data, APR_SUCCESS, row[1], row[2], NULL);
    }
    return 1;
}

/* The batch run of jklg_batch_join, by the leader's thread. */
static void apply_batch(void *baton, jklg_batch_item_t **items, int n)
{
    const leader_t *l = baton;
    apr_status_t rv = APR_SUCCESS;
    const char *err = NULL;

    if (!jklg_req_db(l->req)) {
        for (int i = 0; i < n; i++) {
            settle(items[i]->data, APR_EAGAIN, NULL, NULL, NULL);
        }
        return;
    }
    jklg_count_webhook_batch(n);
    if (n > 1 && apply_together(l, items, n, &rv, &err)) {
        return;
    }
    if (rv == APR_TIMEUP || rv == APR_ECONNRESET) {
        /* The database did not answer: each delivery is retried by the
         * gateway, not by us against a database that is not there. */
        for (int i = 0; i < n; i++) {
            settle(items[i]->data, rv, NULL, NULL, err);
        }
        return;
    }
    if (n > 1) {
        ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, l->req->r, JKLGNO(02401)
                      "webhook: a batch of %d events was refused (%s); "
                      "applying them one by one", n, err ? err : "no rows");
    }
    for (int i = 0; i < n; i++) {
        apply_one(l, items[i]->data);
    }
}

static void apply(jklg_req_t *req, const jklg_gateway_t *gw,
                  delivery_t *d)
{
    jklg_batch_t *batch = req->conf->event_batch;
    leader_t l = {req, gw};
    jklg_batch_item_t item = {.data = d};

    if (!batch || jklg_batch_join(batch, &item, req->r->pool, apply_batch,
                                  &l) != APR_SUCCESS) {
        jklg_batch_item_t *alone[] = {&item};

        apply_batch(&l, alone, 1);
    }
}

static int reply_bad_signature(jklg_req_t *req, const char *why)
{
    ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, req->r, JKLGNO(00602)
                  "webhook refused: %s", why);
    return jklg_reply_error(req, HTTP_BAD_REQUEST, "invalid_signature",
                            "The webhook signature is not valid.", NULL);
}

/* Verified over the raw body, then stored, applied, audited and its
 * emails queued in one database transaction (its batch's): a redelivery
 * stops at the stored event id, a database failure stores nothing (503:
 * retried). */
int jklg_payment_webhook(jklg_req_t *req)
{
    const jklg_gateway_t *gw = jklg_gateway_webhooks();
    const void *conf = gw ? jklg_gateway_conf(req->conf, gw) : NULL;
    const char *sig = gw ? apr_table_get(req->r->headers_in,
                                         gw->signature_header) : NULL;
    jklg_gateway_event_t ev;
    const char *err = gw ? "no signature" : "no gateway takes webhooks";
    delivery_t d = {0};

    if (!sig || gw->verify_webhook(conf, req->r->pool, sig, req->raw,
                                   req->raw_len, apr_time_now(), &err)
                != APR_SUCCESS) {
        jklg_count_webhook(NULL, JKLG_WEBHOOK_INVALID_SIGNATURE);
        return reply_bad_signature(req, err);
    }
    if (gw->parse_event(conf, req->r->pool, req->raw,
                        req->raw_len, &ev, &err) != APR_SUCCESS) {
        jklg_count_webhook(NULL, JKLG_WEBHOOK_INVALID_EVENT);
        return jklg_reply_error(req, HTTP_BAD_REQUEST, "invalid_json",
                                "The body is not an event.", NULL);
    }
    d.ev = &ev;
    d.payload = apr_pstrmemdup(req->r->pool, req->raw, req->raw_len);
    d.pool = req->r->pool;
    apply(req, gw, &d);
    if (d.rv == APR_EAGAIN) {
        jklg_count_webhook(ev.type, JKLG_WEBHOOK_ERROR);
        return jklg_reply_unavailable(req);
    }
    if (d.rv != APR_SUCCESS) {
        jklg_count_webhook(ev.type, JKLG_WEBHOOK_ERROR);
        return jklg_reply_db_error(req, d.rv, d.err);
    }
    if (d.body && jklg_req_db(req)) {
        jklg_event_follow_up(req->r->server, &req->db, req->r->pool, gw, &ev,
                             d.body);
    }
    else if (d.body) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, req->r, JKLGNO(02402)
                      "webhook: event %s applied, but what it leaves to do "
                      "(an over-payment's refund, a card to keep: %s) was "
                      "not done: no database connection", ev.id, d.body);
    }
    jklg_count_webhook(ev.type, strcmp(d.outcome, "duplicate")
                                ? JKLG_WEBHOOK_APPLIED
                                : JKLG_WEBHOOK_DUPLICATE);
    return jklg_reply_text(req, HTTP_OK, "{\"received\":true}");
}
