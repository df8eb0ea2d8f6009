/* The guard of one connection pool in one process (jklg_db.h).
 *
 * mod_dbd builds connections under its pool's lock and, at DBDMax, waits
 * for a free one without any limit; libpq's connect_timeout bounds one
 * connect, not the queue of threads behind it. So one caller at a time
 * takes a connection, and the others wait for their turn until the
 * database counts as unreachable, which releases them all at once, or
 * until a patience passes without progress (a connection handed out, an
 * answer from the database). And once the database did not answer in time, callers fail fast: one
 * probe per interval finds out when it answers again. */
#include <apr_thread_mutex.h>
#include <apr_thread_cond.h>
#include "jklg_db.h"

struct jklg_db_guard_t {
    apr_thread_mutex_t *lock;
    apr_thread_cond_t *turn;
    int busy;                   /* a caller is taking a connection */
    apr_time_t progress;        /* last connection handed out, or answer */
    int down;                   /* the database did not answer in time */
    apr_time_t next_probe;      /* while down: when a caller may try */
    apr_interval_time_t probe_interval;
    jklg_db_guard_notify_fn *notify;
    void *baton;
};

apr_status_t jklg_db_guard_create(jklg_db_guard_t **guard, apr_pool_t *p,
                                  apr_interval_time_t probe_interval,
                                  jklg_db_guard_notify_fn *notify,
                                  void *baton)
{
    jklg_db_guard_t *g = apr_pcalloc(p, sizeof(*g));
    apr_status_t rv;

    rv = apr_thread_mutex_create(&g->lock, APR_THREAD_MUTEX_DEFAULT, p);
    if (rv == APR_SUCCESS) {
        rv = apr_thread_cond_create(&g->turn, p);
    }
    g->probe_interval = probe_interval;
    g->notify = notify;
    g->baton = baton;
    *guard = rv == APR_SUCCESS ? g : NULL;
    return rv;
}

/* Under the lock, while the database is down: APR_EAGAIN to fail fast,
 * or APR_SUCCESS for the one probe, which has probe_time before another
 * caller may probe. */
static apr_status_t probe_or_fail_fast(jklg_db_guard_t *g,
                                       apr_interval_time_t probe_time)
{
    apr_time_t now = apr_time_now();

    if (g->busy || now < g->next_probe) {
        return APR_EAGAIN;
    }
    g->next_probe = now + probe_time;
    return APR_SUCCESS;
}

apr_status_t jklg_db_guard_enter(jklg_db_guard_t *g,
                                 apr_interval_time_t patience,
                                 apr_interval_time_t probe_time)
{
    apr_time_t since = apr_time_now();
    apr_status_t rv;

    apr_thread_mutex_lock(g->lock);
    for (;;) {
        apr_interval_time_t left;

        /* Also whoever was waiting for its turn when it went down. */
        if (g->down) {
            rv = probe_or_fail_fast(g, probe_time);
            break;
        }
        if (!g->busy) {
            rv = APR_SUCCESS;
            break;
        }
        left = (g->progress > since ? g->progress : since) + patience
               - apr_time_now();
        if (left <= 0) {
            rv = APR_TIMEUP;
            break;
        }
        apr_thread_cond_timedwait(g->turn, g->lock, left);
    }
    if (rv == APR_SUCCESS) {
        g->busy = 1;
    }
    apr_thread_mutex_unlock(g->lock);
    return rv;
}

void jklg_db_guard_leave(jklg_db_guard_t *g)
{
    apr_thread_mutex_lock(g->lock);
    g->busy = 0;
    g->progress = apr_time_now();
    apr_thread_cond_signal(g->turn);
    apr_thread_mutex_unlock(g->lock);
}

void jklg_db_guard_report(jklg_db_guard_t *g, apr_status_t outcome)
{
    int was_down;

    if (!g) {
        return;
    }
    apr_thread_mutex_lock(g->lock);
    was_down = g->down;
    if (outcome == APR_TIMEUP) {
        g->down = 1;
        g->next_probe = apr_time_now() + g->probe_interval;
        /* Waiters for the turn learn it now, not at their deadline. */
        apr_thread_cond_broadcast(g->turn);
    }
    else {
        g->down = 0;
        g->progress = apr_time_now();
    }
    if (was_down != g->down && g->notify) {
        g->notify(g->baton, g->down);
    }
    apr_thread_mutex_unlock(g->lock);
}

int jklg_db_guard_down(jklg_db_guard_t *g)
{
    int down;

    apr_thread_mutex_lock(g->lock);
    down = g->down;
    apr_thread_mutex_unlock(g->lock);
    return down;
}
