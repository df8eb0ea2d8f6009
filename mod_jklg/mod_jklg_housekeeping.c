/* Housekeeping: one thread per child that now and then purges what has
 * expired, runs the balance job and starts reconciliation when it is
 * due. Each job decides in the database whether there is work (leases,
 * advisory locks, due dates), so several children and servers doing the
 * same sweep do each thing once. Its own thread, so that a slow gateway
 * during reconciliation never holds up the mail. */
#include <apr_thread_pool.h>
#include "mod_jklg.h"

#define FIRST_SWEEP apr_time_from_sec(1)
#define PURGE_EVERY apr_time_from_sec(3600)

static apr_thread_pool_t *sweeper;
/* When this process last purged; only the one sweep thread touches it,
 * and a purge done by another process as well costs one cheap query. */
static apr_time_t last_purge;

static void purge_now_and_then(server_rec *s, jklg_db_t *db, apr_pool_t *p)
{
    apr_time_t now = apr_time_now();
    const char *err;
    long purged = 0;

    if (now - last_purge < PURGE_EVERY) {
        return;
    }
    last_purge = now;
    if (jklg_outbox_purge(db, p, &purged, &err) != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_WARNING, 0, s, JKLGNO(00210)
                     "housekeeping: %s", err);
    }
    else if (purged) {
        ap_log_error(APLOG_MARK, APLOG_INFO, 0, s, JKLGNO(00211)
                     "housekeeping: %ld expired rows deleted", purged);
    }
    jklg_security_purge(s, db, p);
}

static void *sweep_task(apr_thread_t *thread, void *data)
{
    server_rec *s = data;
    apr_pool_t *p = NULL;
    ap_dbd_t *dbd;
    jklg_db_t db;
    const char *err;
    apr_status_t rv;

    (void)thread;
    apr_pool_create_unmanaged_ex(&p, NULL, NULL);
    rv = jklg_db_take(s, NULL, p, &dbd, &db, &err);
    if (rv == APR_SUCCESS) {
        purge_now_and_then(s, &db, p);
        jklg_balance_sweep(s, &db, p);
        jklg_reconcile_due(s, &db, p);
        ap_dbd_close(s, dbd);
    }
    else {
        /* While the database does not answer, the next sweep tries again;
         * the mail threads already say so loudly. */
        ap_log_error(APLOG_MARK, APLOG_DEBUG, rv, s, JKLGNO(00212)
                     "housekeeping: %s, will retry", err);
    }
    apr_pool_destroy(p);
    apr_thread_pool_schedule(sweeper, sweep_task, s,
                             jklg_conf_mail_sweep(jklg_conf(s)), NULL);
    return NULL;
}

void jklg_housekeeping_child_init(apr_pool_t *pchild, server_rec *s)
{
    int configured = 0;
    apr_status_t rv;

    for (server_rec *sp = s; sp; sp = sp->next) {
        configured |= jklg_conf(sp)->outbox != NULL;
    }
    if (!configured) {
        return;
    }
    /* Destroyed with pchild: the pool's cleanup joins the thread. */
    rv = apr_thread_pool_create(&sweeper, 1, 1, pchild);
    if (rv != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_CRIT, rv, s, JKLGNO(00213)
                     "housekeeping: cannot start its thread; other "
                     "processes purge and run the jobs");
        sweeper = NULL;
        return;
    }
    for (server_rec *sp = s; sp; sp = sp->next) {
        if (jklg_conf(sp)->outbox) {
            apr_thread_pool_schedule(sweeper, sweep_task, sp, FIRST_SWEEP,
                                     NULL);
        }
    }
}
