/* Each child process delivers mail from its own APR thread pool: requests
 * push the id of the outbox row they just committed, and a periodic sweep
 * per virtual host picks up whatever is due (retries, rows left by a crash
 * or an outage, rows pushed to a child that went away). The pool lives in
 * the child's pool, so a graceful restart joins its threads; what they did
 * not finish stays in the outbox. */
#include <stdlib.h>
#include <string.h>
#include <apr_strings.h>
#include <apr_thread_pool.h>
#include <apr_dbd.h>
#include <mod_dbd.h>
#include "mod_jklg.h"

#define SWEEP_BATCH 50
#define FIRST_SWEEP apr_time_from_sec(1)
/* A claim must outlast one SMTP attempt, or another worker sends it too. */
#define LEASE_MARGIN apr_time_from_sec(60)
/* Retries fire a little after the row is due, never just before. */
#define RETRY_SLACK apr_time_from_msec(200)
#define UUID_LEN 36

typedef struct {
    server_rec *s;
    char id[UUID_LEN + 1];
} mail_task_t;

static apr_thread_pool_t *mail_threads;

static void *deliver_task(apr_thread_t *thread, void *data);

/* A pool with its own allocator: tasks run on many threads at once. */
static apr_pool_t *task_pool(void)
{
    apr_pool_t *p = NULL;

    apr_pool_create_unmanaged_ex(&p, NULL, NULL);
    return p;
}

static int open_db(apr_pool_t *p, server_rec *s, ap_dbd_t **dbd,
                   jklg_db_t *db)
{
    const char *err;
    apr_status_t rv = jklg_db_take(s, NULL, p, dbd, db, &err);

    if (rv != APR_SUCCESS) {
        /* While the database does not answer, the sweep keeps probing. */
        ap_log_error(APLOG_MARK, rv == APR_EAGAIN ? APLOG_DEBUG
                                                  : APLOG_WARNING,
                     0, s, JKLGNO(00201) "mail: %s, will retry", err);
        return 0;
    }
    return 1;
}

static void schedule(mail_task_t *task, apr_interval_time_t delay)
{
    apr_status_t rv = delay > 0
        ? apr_thread_pool_schedule(mail_threads, deliver_task, task, delay,
                                   NULL)
        : apr_thread_pool_push(mail_threads, deliver_task, task,
                               APR_THREAD_TASK_PRIORITY_NORMAL, NULL);

    if (rv != APR_SUCCESS) {
        /* The sweep will find the row. */
        ap_log_error(APLOG_MARK, APLOG_WARNING, rv, task->s, JKLGNO(00203)
                     "mail: could not queue %s for delivery", task->id);
        free(task);
    }
}

static void log_delivery(server_rec *s, const char *id,
                         const jklg_delivery_result_t *res)
{
    switch (res->outcome) {
    case JKLG_DELIVERY_SENT:
        ap_log_error(APLOG_MARK, APLOG_INFO, 0, s, JKLGNO(00204)
                     "mail: %s sent", id);
        break;
    case JKLG_DELIVERY_RETRY:
        ap_log_error(APLOG_MARK, APLOG_WARNING, 0, s, JKLGNO(00205)
                     "mail: %s not sent (%s), retry in %" APR_TIME_T_FMT "s",
                     id, res->error, apr_time_sec(res->retry_in));
        break;
    case JKLG_DELIVERY_FAILED:
        ap_log_error(APLOG_MARK, APLOG_ERR, 0, s, JKLGNO(00206)
                     "mail: %s failed for good (%s)", id, res->error);
        break;
    case JKLG_DELIVERY_NONE:
        break;
    }
}

static void *deliver_task(apr_thread_t *thread, void *data)
{
    mail_task_t *task = data;
    jklg_server_conf_t *conf = jklg_conf(task->s);
    apr_pool_t *p = task_pool();
    jklg_delivery_result_t res;
    ap_dbd_t *dbd;
    jklg_db_t db;
    const char *err;
    apr_status_t rv;

    memset(&res, 0, sizeof(res));
    if (open_db(p, task->s, &dbd, &db)) {
        rv = jklg_outbox_deliver(&db, p, conf->outbox, task->id,
                                 conf->outbox->smtp.timeout + LEASE_MARGIN,
                                 &res, &err);
        ap_dbd_close(task->s, dbd);
        if (rv != APR_SUCCESS) {
            ap_log_error(APLOG_MARK, APLOG_WARNING, rv, task->s,
                         JKLGNO(00207) "mail: %s: %s", task->id, err);
        }
        log_delivery(task->s, task->id, &res);
    }
    apr_pool_destroy(p);
    if (res.outcome == JKLG_DELIVERY_RETRY) {
        schedule(task, res.retry_in + RETRY_SLACK);
    }
    else {
        free(task);
    }
    return NULL;
}

void jklg_mailer_push(server_rec *s, const char *id)
{
    mail_task_t *task;

    if (!mail_threads || strlen(id) != UUID_LEN) {
        return;
    }
    task = malloc(sizeof(*task));
    if (!task) {
        return;
    }
    task->s = s;
    memcpy(task->id, id, UUID_LEN + 1);
    schedule(task, 0);
}

static void *sweep_task(apr_thread_t *thread, void *data)
{
    server_rec *s = data;
    apr_pool_t *p = task_pool();
    apr_array_header_t *ids = NULL;
    ap_dbd_t *dbd;
    jklg_db_t db;
    const char *err;

    if (open_db(p, s, &dbd, &db)) {
        if (jklg_outbox_due(&db, p, SWEEP_BATCH, &ids, &err) != APR_SUCCESS) {
            ap_log_error(APLOG_MARK, APLOG_WARNING, 0, s, JKLGNO(00208)
                         "mail sweep: %s", err);
        }
        ap_dbd_close(s, dbd);
    }
    for (int i = 0; ids && i < ids->nelts; i++) {
        jklg_mailer_push(s, APR_ARRAY_IDX(ids, i, const char *));
    }
    apr_pool_destroy(p);
    apr_thread_pool_schedule(mail_threads, sweep_task, s,
                             jklg_conf_mail_sweep(jklg_conf(s)), NULL);
    return NULL;
}

void jklg_mailer_child_init(apr_pool_t *pchild, server_rec *s)
{
    apr_size_t threads = 0;
    apr_status_t rv;

    for (server_rec *sp = s; sp; sp = sp->next) {
        jklg_server_conf_t *c = jklg_conf(sp);
        if (c->outbox && (apr_size_t)jklg_conf_mail_threads(c) > threads) {
            threads = jklg_conf_mail_threads(c);
        }
    }
    if (!threads) {
        return;
    }
    /* Destroyed with pchild: the pool's cleanup joins the threads. */
    rv = apr_thread_pool_create(&mail_threads, 1, threads, pchild);
    if (rv != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_CRIT, rv, s, JKLGNO(00209)
                     "mail: cannot start the mail threads; mail stays in "
                     "the outbox until another process sends it");
        mail_threads = NULL;
        return;
    }
    for (server_rec *sp = s; sp; sp = sp->next) {
        if (jklg_conf(sp)->outbox) {
            apr_thread_pool_schedule(mail_threads, sweep_task, sp,
                                     FIRST_SWEEP, NULL);
        }
    }
}
