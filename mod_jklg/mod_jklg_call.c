/* The one way a handler runs an endpoint's SQL and finishes: a call of a
 * jklg.* function (sql/009_api_shape.sql) that returns a typed outcome,
 * its queued mails handed to the mail threads, and the outcome mapped to
 * the answer by a table of the handler's area, then by the common one. */
#include <string.h>
#include <apr_strings.h>
#include <http_protocol.h>
#include "jklg_json.h"
#include "mod_jklg.h"

#define MAX_ARGS 24

/* What every area means by these words, unless its table says otherwise. */
static const jklg_outcome_map_t common_outcomes[] = {
    {"ok",           HTTP_OK,             NULL, NULL},
    {"created",      HTTP_CREATED,        NULL, NULL},
    {"accepted",     HTTP_ACCEPTED,       NULL, NULL},
    {"deleted",      HTTP_NO_CONTENT,     NULL, NULL},
    {"unauthorized", HTTP_UNAUTHORIZED,   "unauthorized",
     "A valid access token is required."},
    {"not_found",    HTTP_NOT_FOUND,      "not_found", "No such resource."},
    {"conflict",     HTTP_CONFLICT,       "conflict",
     "The resource is not in a state that allows this."},
    {"invalid",      HTTP_UNPROCESSABLE_ENTITY, "validation_failed",
     "Some fields are invalid."},
    {NULL, 0, NULL, NULL}
};

static const jklg_outcome_map_t *find_outcome(const jklg_outcome_map_t *map,
                                              const char *outcome)
{
    for (; map && map->outcome; map++) {
        if (!strcmp(map->outcome, outcome)) {
            return map;
        }
    }
    return NULL;
}

void jklg_emails_queued(server_rec *s, apr_pool_t *p, const char *ids)
{
    char *list, *state, *id;

    if (!ids || !*ids) {
        return;
    }
    list = apr_pstrdup(p, ids);
    for (id = apr_strtok(list, " ", &state); id;
         id = apr_strtok(NULL, " ", &state)) {
        jklg_mailer_push(s, id);
    }
}

apr_status_t jklg_db_call(server_rec *s, jklg_db_t *db, apr_pool_t *p,
                          const char *label, int nargs,
                          const char *const *args, jklg_result_t *res,
                          const char **err)
{
    jklg_rows_t rows;
    apr_status_t rv = jklg_db_query(db, p, label, nargs, args, &rows, err);

    memset(res, 0, sizeof(*res));
    if (rv == APR_SUCCESS && (rows.nrows != 1 || rows.ncols != 3
                              || !rows.rows[0][0])) {
        rv = APR_EGENERAL;
        *err = apr_psprintf(p, "%s: not a jklg.outcome", label);
    }
    if (rv != APR_SUCCESS) {
        return rv;
    }
    res->outcome = rows.rows[0][0];
    res->body = rows.rows[0][1];
    jklg_emails_queued(s, p, rows.rows[0][2]);
    return APR_SUCCESS;
}

json_t *jklg_db_result_json(apr_pool_t *p, jklg_result_t *res)
{
    if (!res->json && res->body) {
        res->json = jklg_json_own(p, json_loads(res->body, 0, NULL));
    }
    return res->json;
}

static int call(jklg_req_t *req, int authed, const char *label, int nargs,
                const char *const *args, jklg_result_t *res)
{
    const char *all[MAX_ARGS];
    int n = 0;
    const char *err;
    apr_status_t rv;

    memset(res, 0, sizeof(*res));
    if (authed) {
        all[n++] = req->session_id;
        all[n++] = req->customer_id;
    }
    if (n + nargs > MAX_ARGS) {
        jklg_reply_db_error(req, APR_EINVAL, apr_psprintf(req->r->pool,
                            "%s: too many arguments", label));
        return 0;
    }
    if (nargs > 0) {                /* args may be NULL then */
        memcpy(all + n, args, nargs * sizeof(*args));
    }
    if (!jklg_req_db(req)) {
        jklg_reply_unavailable(req);
        return 0;
    }
    rv = jklg_db_call(req->r->server, &req->db, req->r->pool, label,
                      n + nargs, all, res, &err);
    if (rv != APR_SUCCESS) {
        jklg_reply_db_error(req, rv, err);
        return 0;
    }
    return 1;
}

int jklg_call(jklg_req_t *req, const char *label, int nargs,
              const char *const *args, jklg_result_t *res)
{
    return call(req, req->endpoint && (req->endpoint->flags & JKLG_AUTH),
                label, nargs, args, res);
}

int jklg_call_module(jklg_req_t *req, const char *label, int nargs,
                     const char *const *args, jklg_result_t *res)
{
    return call(req, 0, label, nargs, args, res);
}

json_t *jklg_result_json(jklg_req_t *req, jklg_result_t *res)
{
    return jklg_db_result_json(req->r->pool, res);
}

int jklg_finish(jklg_req_t *req, jklg_result_t *res,
                const jklg_outcome_map_t *map)
{
    const jklg_outcome_map_t *m = find_outcome(map, res->outcome);

    if (!m) {
        m = find_outcome(common_outcomes, res->outcome);
    }
    if (!m) {
        return jklg_reply_db_error(req, APR_EGENERAL, apr_psprintf(
                                   req->r->pool, "unmapped outcome '%s' at "
                                   "%s", res->outcome, req->r->uri));
    }
    if (m->code) {
        json_t *body = jklg_result_json(req, res);
        json_t *fields = json_object_get(body, "fields");
        /* No message in the table: the function words it (e.g. why a
         * refund is not possible). */
        const char *message = m->message ? m->message
                              : jklg_json_str(body, "message");
        return jklg_reply_error(req, m->status, m->code,
                                message ? message : "Not possible.",
                                json_is_object(fields) ? fields : NULL);
    }
    if (m->status == HTTP_NO_CONTENT || !res->body) {
        return jklg_reply(req, m->status, NULL);
    }
    return res->json ? jklg_reply(req, m->status, res->json)
                     : jklg_reply_text(req, m->status, res->body);
}

int jklg_call_finish(jklg_req_t *req, const char *label, int nargs,
                     const char *const *args, const jklg_outcome_map_t *map)
{
    jklg_result_t res;

    return jklg_call(req, label, nargs, args, &res)
           ? jklg_finish(req, &res, map) : OK;
}
