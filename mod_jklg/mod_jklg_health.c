/* GET /api/health: one pooled connection and one cheap query, so load
 * balancers can poll it every second. Only the database decides 503: a
 * mail outage must not take the server out of rotation. */
#include <httpd.h>
#include <http_protocol.h>
#include "jklg_json.h"
#include "mod_jklg.h"

/* One check per gateway that has a configuration, under its name: whether
 * it can take payments. Not a reason for 503: the database decides. */
static void gateway_checks(jklg_req_t *req, json_t *checks)
{
    for (int i = 0; jklg_gateways[i]; i++) {
        const jklg_gateway_t *gw = jklg_gateways[i];

        if (gw->configured) {
            json_object_set_new(checks, gw->name, json_string(
                gw->configured(jklg_gateway_conf(req->conf, gw))
                ? "configured" : "not_configured"));
        }
    }
}

int jklg_health_get(jklg_req_t *req)
{
    request_rec *r = req->r;
    int backlogged = 0;
    const char *err;
    json_t *body;
    int up = jklg_req_db(req);

    if (up && jklg_outbox_backlogged(&req->db, r->pool, &backlogged, &err)
              != APR_SUCCESS) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, JKLGNO(00301)
                      "health: %s", err);
        up = 0;
    }
    if (!up) {
        body = jklg_json_error(r->pool, "unavailable",
                               "The database is unreachable.", NULL);
        json_object_set_new(body, "status", json_string("unavailable"));
        json_object_set_new(body, "checks",
                            json_pack("{s:s}", "database", "unavailable"));
        apr_table_setn(r->err_headers_out, "Retry-After", "5");
        return jklg_reply(req, HTTP_SERVICE_UNAVAILABLE, body);
    }
    body = json_pack("{s:s, s:{s:s, s:s}, s:s}",
                     "status", "ok",
                     "checks",
                     "database", "ok",
                     "mail", backlogged ? "delayed" : "ok",
                     "version", JKLG_VERSION);
    gateway_checks(req, json_object_get(body, "checks"));
    return jklg_reply(req, HTTP_OK, jklg_json_own(r->pool, body));
}
