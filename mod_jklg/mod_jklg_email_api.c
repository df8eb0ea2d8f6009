/* Staff endpoints of the email service: /api/admin/email/{test,status,batch}.
 * None of them talks SMTP on the request path except the status probe,
 * which staff call on purpose and which is bounded by a short timeout. */
#include <string.h>
#include <unistd.h>
#include <apr_strings.h>
#include <httpd.h>
#include <http_protocol.h>
#include "jklg_json.h"
#include "jklg_mail.h"
#include "jklg_template.h"
#include "jklg_util.h"
#include "mod_jklg.h"

#define BATCH_MAX 1000
#define PROBE_TIMEOUT apr_time_from_sec(5)

int jklg_email_test(jklg_req_t *req)
{
    static const char *const allowed[] = {"to", NULL};
    request_rec *r = req->r;
    json_t *fields = jklg_json_own(r->pool, json_object());
    const char *to, *id, *err;
    json_t *data;
    apr_status_t rv;

    jklg_json_reject_unknown(req->body, allowed, fields);
    to = jklg_email_normalize(r->pool, jklg_json_str(req->body, "to"));
    if (!to) {
        json_object_set_new(fields, "to",
                            json_string("must be a valid email address"));
    }
    if (json_object_size(fields)) {
        return jklg_reply_invalid(req, fields);
    }
    if (!jklg_req_db(req)) {
        return jklg_reply_unavailable(req);
    }
    data = jklg_json_own(r->pool, json_pack("{s:s, s:s}",
                         "sent_at", jklg_rfc3339_now(r->pool),
                         "requested_by", r->user));
    rv = jklg_outbox_enqueue(&req->db, r->pool, "test", to, data, &id, &err);
    if (rv != APR_SUCCESS) {
        return jklg_reply_db_error(req, rv, err);
    }
    jklg_mailer_push(r->server, id);
    return jklg_reply(req, HTTP_ACCEPTED, jklg_json_own(r->pool,
                      json_pack("{s:s, s:s}", "message",
                                "A test email is queued for delivery.",
                                "id", id)));
}

static int transport_reachable(jklg_req_t *req)
{
    const jklg_outbox_conf_t *o = req->conf->outbox;
    jklg_smtp_t probe;
    const char *err;

    if (!o->smtp.url) {
        return access(o->spool_dir, W_OK | X_OK) == 0;
    }
    probe = o->smtp;
    if (probe.timeout > PROBE_TIMEOUT) {
        probe.timeout = PROBE_TIMEOUT;
    }
    if (jklg_mail_probe_smtp(&probe, req->r->pool, &err) != APR_SUCCESS) {
        ap_log_rerror(APLOG_MARK, APLOG_WARNING, 0, req->r, JKLGNO(00401)
                      "mail status: SMTP not reachable: %s", err);
        return 0;
    }
    return 1;
}

int jklg_email_status(jklg_req_t *req)
{
    request_rec *r = req->r;
    jklg_outbox_counts_t counts;
    const char *err;
    apr_status_t rv;
    json_t *body;

    if (!jklg_req_db(req)) {
        return jklg_reply_unavailable(req);
    }
    rv = jklg_outbox_counts(&req->db, r->pool, &counts, &err);
    if (rv != APR_SUCCESS) {
        return jklg_reply_db_error(req, rv, err);
    }
    body = json_pack("{s:s, s:b, s:I, s:I, s:I}",
                     "transport", req->conf->outbox->smtp.url ? "smtp"
                                                              : "spool",
                     "reachable", transport_reachable(req),
                     "queued", (json_int_t)counts.queued,
                     "failed", (json_int_t)counts.failed,
                     "sent_last_hour", (json_int_t)counts.sent_last_hour);
    return jklg_reply(req, HTTP_OK, jklg_json_own(r->pool, body));
}

/* Validates recipients and returns them with normalised emails, or NULL
 * with the problems in fields. */
static json_t *batch_recipients(apr_pool_t *p, json_t *list, json_t *fields)
{
    static const char *const allowed[] = {"email", "data", NULL};
    json_t *out = jklg_json_own(p, json_array());
    json_t *item;
    size_t i;

    if (!json_is_array(list) || json_array_size(list) == 0
        || json_array_size(list) > BATCH_MAX) {
        json_object_set_new(fields, "recipients", json_sprintf(
            "must be an array of 1 to %d {email, data} objects", BATCH_MAX));
        return NULL;
    }
    json_array_foreach(list, i, item) {
        const char *key = apr_psprintf(p, "recipients[%" APR_SIZE_T_FMT "]", i);
        json_t *bad = json_object();
        const char *email = jklg_email_normalize(p, jklg_json_str(item,
                                                                  "email"));
        json_t *data = json_object_get(item, "data");

        if (!json_is_object(item)) {
            json_object_set_new(fields, key, json_string("must be an object"));
            json_decref(bad);
            continue;
        }
        jklg_json_reject_unknown(item, allowed, bad);
        if (!email) {
            json_object_set_new(bad, "email",
                                json_string("must be a valid email address"));
        }
        if (data && !json_is_object(data)) {
            json_object_set_new(bad, "data", json_string("must be an object"));
        }
        if (json_object_size(bad)) {
            const char *k;
            json_t *v;
            json_object_foreach(bad, k, v) {
                json_object_set(fields, apr_pstrcat(p, key, ".", k, NULL), v);
            }
        }
        else {
            json_array_append_new(out, json_pack("{s:s, s:o}", "email", email,
                                  "data", data ? json_incref(data)
                                               : json_object()));
        }
        json_decref(bad);
    }
    return json_object_size(fields) ? NULL : out;
}

int jklg_email_batch(jklg_req_t *req)
{
    static const char *const allowed[] = {"template", "recipients", "data",
                                          NULL};
    request_rec *r = req->r;
    json_t *fields = jklg_json_own(r->pool, json_object());
    const char *name = jklg_json_str(req->body, "template");
    json_t *data = json_object_get(req->body, "data");
    json_t *recipients;
    apr_array_header_t *ids;
    const char *err;
    apr_status_t rv;

    jklg_json_reject_unknown(req->body, allowed, fields);
    if (!name || !jklg_template_known(name)) {
        json_object_set_new(fields, "template", json_sprintf(
            "must be one of the known templates (see docs/email.md)"));
    }
    if (data && !json_is_object(data)) {
        json_object_set_new(fields, "data", json_string("must be an object"));
    }
    recipients = batch_recipients(r->pool,
                                  json_object_get(req->body, "recipients"),
                                  fields);
    if (json_object_size(fields)) {
        return jklg_reply_invalid(req, fields);
    }
    if (!jklg_req_db(req)) {
        return jklg_reply_unavailable(req);
    }
    rv = jklg_outbox_enqueue_batch(&req->db, r->pool, name, recipients,
                                   data ? data : jklg_json_own(r->pool,
                                                               json_object()),
                                   &ids, &err);
    if (rv != APR_SUCCESS) {
        return jklg_reply_db_error(req, rv, err);
    }
    for (int i = 0; i < ids->nelts; i++) {
        jklg_mailer_push(r->server, APR_ARRAY_IDX(ids, i, const char *));
    }
    return jklg_reply(req, HTTP_ACCEPTED, jklg_json_own(r->pool,
                      json_pack("{s:i}", "queued", ids->nelts)));
}
