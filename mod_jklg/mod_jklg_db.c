/* Taking a pooled connection, for requests and for the mail threads
 * alike, behind each server's guard (jklg_db_guard.c): one taker at a
 * time, and none while the database is known not to answer, except one
 * probe per second. */
#include <string.h>
#include <apr_strings.h>
#include <http_request.h>
#include "mod_jklg.h"

#define PROBE_INTERVAL apr_time_from_sec(1)
/* A connect that fails this slowly ran into connect_timeout (at least 2 s
 * in libpq): the server is there but does not answer. A refused or reset
 * connection fails in milliseconds and costs nothing to try again. */
#define SLOW_FAILURE apr_time_from_sec(1)

static void log_change(void *baton, int down)
{
    server_rec *s = baton;

    if (down) {
        ap_log_error(APLOG_MARK, APLOG_ERR, 0, s, JKLGNO(00901)
                     "database: no answer within %" APR_TIME_T_FMT " ms; "
                     "answering 503 at once until a probe (one a second) "
                     "gets one", apr_time_as_msec(jklg_conf_db_timeout(
                                                  jklg_conf(s))));
    }
    else {
        ap_log_error(APLOG_MARK, APLOG_NOTICE, 0, s, JKLGNO(00902)
                     "database: answering again");
    }
}

void jklg_db_child_init(apr_pool_t *pchild, server_rec *s)
{
    for (server_rec *sp = s; sp; sp = sp->next) {
        jklg_server_conf_t *c = jklg_conf(sp);
        apr_status_t rv;

        if (!c->outbox) {
            continue;
        }
        rv = jklg_db_guard_create(&c->db_guard, pchild, PROBE_INTERVAL,
                                  log_change, sp);
        if (rv != APR_SUCCESS) {
            ap_log_error(APLOG_MARK, APLOG_CRIT, rv, sp, JKLGNO(00903)
                         "database: cannot create the connection guard; "
                         "waits for the database are not bounded");
        }
    }
}

/* ap_dbd_acquire (a request's connection, released with its pool) or
 * ap_dbd_open (a background thread's, closed by the caller). */
static ap_dbd_t *take(server_rec *s, request_rec *r, apr_pool_t *p)
{
    return r ? ap_dbd_acquire(r) : ap_dbd_open(p, s);
}

/* How a failure to get a usable connection counts; told to the guard
 * before the next caller gets its turn, so that it fails fast instead of
 * trying the same connect. */
static apr_status_t refused(jklg_db_guard_t *guard, apr_time_t start,
                            apr_interval_time_t timeout)
{
    apr_interval_time_t took = apr_time_now() - start;
    apr_status_t rv = took >= SLOW_FAILURE || took >= timeout
                      ? APR_TIMEUP : APR_ECONNRESET;

    if (guard) {
        jklg_db_guard_report(guard, rv);
    }
    return rv;
}

static void leave(jklg_db_guard_t *guard)
{
    if (guard) {
        jklg_db_guard_leave(guard);
    }
}

apr_status_t jklg_db_take(server_rec *s, request_rec *r, apr_pool_t *p,
                          ap_dbd_t **dbd, jklg_db_t *db, const char **err)
{
    jklg_server_conf_t *c = jklg_conf(s);
    jklg_db_guard_t *guard = c->db_guard;
    apr_interval_time_t timeout = jklg_conf_db_timeout(c);
    apr_time_t start = apr_time_now();
    apr_status_t rv = APR_SUCCESS;

    *dbd = NULL;
    if (guard) {
        /* Waiting for the turn ends when the database counts as
         * unreachable (the turn's holder or a statement timed out), and
         * at the latest after Apache's Timeout: a pool kept busy by a
         * database that answers, or a cold pool building connections one
         * by one on a loaded machine, is a capacity matter, as it always
         * was, not an outage. */
        rv = jklg_db_guard_enter(guard, s->timeout, timeout);
    }
    if (rv == APR_EAGAIN) {
        *err = "the database is not answering (503 at once until it does)";
        return rv;
    }
    if (rv != APR_SUCCESS) {
        *err = apr_psprintf(p, "no connection from the pool for %"
                            APR_TIME_T_FMT " s (Timeout; DBDMax reached?)",
                            apr_time_sec(s->timeout));
        return rv;
    }
    *dbd = take(s, r, p);
    if (!*dbd) {
        *err = "no database connection (see mod_dbd's messages)";
        rv = refused(guard, start, timeout);
        leave(guard);
        return rv;
    }
    jklg_db_from_dbd(db, *dbd);
    db->guard = guard;
    db->timeout = timeout;
    rv = jklg_db_ready(db, err);
    if (rv != APR_SUCCESS) {
        rv = refused(guard, start, timeout);
        leave(guard);
        if (!r) {
            ap_dbd_close(s, *dbd);
        }
        memset(db, 0, sizeof(*db));
        *dbd = NULL;
        return rv;
    }
    leave(guard);
    return APR_SUCCESS;
}

int jklg_req_db(jklg_req_t *req)
{
    ap_dbd_t *dbd;
    const char *err;
    apr_status_t rv;

    /* A request keeps its connection (ap_dbd_acquire) until it ends; its
     * second phase (after a gateway call, a password hash) must not queue
     * for the pool's turn behind threads that wait for that connection. */
    if (req->db.handle) {
        return 1;
    }
    rv = jklg_db_take(req->r->server, req->r, req->r->pool, &dbd, &req->db,
                      &err);
    if (rv != APR_SUCCESS) {
        jklg_count_db_acquire_failure();
        /* Failing fast is logged once, when it starts. */
        ap_log_rerror(APLOG_MARK, rv == APR_EAGAIN ? APLOG_DEBUG : APLOG_ERR,
                      0, req->r, JKLGNO(00102) "database: %s", err);
        return 0;
    }
    return 1;
}
