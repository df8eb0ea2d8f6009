/* The guard of one connection pool in one process (jklg_db.h).
 *
 * mod_dbd builds connections under its pool's lock and, at DBDMax, waits
 * for a free one without any limit; libpq's connect_timeout bounds one
 * connect, not the queue of threads behind it. So one caller at a time
 * takes a connection, and the others wait for their turn until the
 * database counts as unreachable, which releases them all at once, or
 * until a patience passes without progress (a connection handed out, an
 * answer from the database). And once the database did not answer in time, callers fail fast: one
 * probe per interval finds out when it answers again.
 *
 * Every request passes here two or three times, nearly always while the
 * database answers and nobody waits: that case is a few atomic operations
 * (busy, down, progress, waiters), without the lock, which only waiters
 * and changes of state (down <-> up) take. The atomics are sequentially
 * consistent, so that a leaver that frees the turn either is seen by a
 * waiter's next look at busy or sees that waiter counted, and then wakes
 * it under the lock (see guard_leave). */
#include <apr_thread_mutex.h>
#include <apr_thread_cond.h>
#include "jklg_db.h"

#define LOAD(x) __atomic_load_n(&(x), __ATOMIC_SEQ_CST)
#define STORE(x, v) __atomic_store_n(&(x), (v), __ATOMIC_SEQ_CST)

struct jklg_db_guard_t {
    apr_thread_mutex_t *lock;   /* waiters, and changes of down */
    apr_thread_cond_t *turn;
    int busy;                   /* a caller is taking a connection */
    int waiters;                /* callers in the slow path of enter */
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

/* Takes the turn if nobody has it. */
static int take_turn(jklg_db_guard_t *g)
{
    int free_turn = 0;

    return __atomic_compare_exchange_n(&g->busy, &free_turn, 1, 0,
                                       __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
}

/* Under the lock, while the database is down: APR_EAGAIN to fail fast,
 * or APR_SUCCESS (with the turn) for the one probe, which has probe_time
 * before another caller may probe. */
static apr_status_t probe_or_fail_fast(jklg_db_guard_t *g,
                                       apr_interval_time_t probe_time)
{
    apr_time_t now = apr_time_now();

    if (now < g->next_probe || !take_turn(g)) {
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

    /* The common case: up, and nobody taking a connection. */
    if (!LOAD(g->down) && take_turn(g)) {
        return APR_SUCCESS;
    }
    apr_thread_mutex_lock(g->lock);
    STORE(g->waiters, LOAD(g->waiters) + 1);
    for (;;) {
        apr_interval_time_t left;
        apr_time_t progress;

        /* Also whoever was waiting for its turn when it went down. */
        if (LOAD(g->down)) {
            rv = probe_or_fail_fast(g, probe_time);
            break;
        }
        if (take_turn(g)) {
            rv = APR_SUCCESS;
            break;
        }
        progress = LOAD(g->progress);
        left = (progress > since ? progress : since) + patience
               - apr_time_now();
        if (left <= 0) {
            rv = APR_TIMEUP;
            break;
        }
        apr_thread_cond_timedwait(g->turn, g->lock, left);
    }
    STORE(g->waiters, LOAD(g->waiters) - 1);
    apr_thread_mutex_unlock(g->lock);
    return rv;
}

void jklg_db_guard_leave(jklg_db_guard_t *g)
{
    STORE(g->progress, apr_time_now());
    STORE(g->busy, 0);
    /* A waiter counted itself before it last looked at busy: it either
     * saw the turn free, or holds the lock until its wait begins, so this
     * signal cannot get lost. */
    if (LOAD(g->waiters)) {
        apr_thread_mutex_lock(g->lock);
        apr_thread_cond_signal(g->turn);
        apr_thread_mutex_unlock(g->lock);
    }
}

void jklg_db_guard_report(jklg_db_guard_t *g, apr_status_t outcome)
{
    int was_down;

    if (!g) {
        return;
    }
    /* An answer while up, the common case, only counts as progress. */
    if (outcome != APR_TIMEUP && !LOAD(g->down)) {
        STORE(g->progress, apr_time_now());
        return;
    }
    apr_thread_mutex_lock(g->lock);
    was_down = LOAD(g->down);
    if (outcome == APR_TIMEUP) {
        g->next_probe = apr_time_now() + g->probe_interval;
        STORE(g->down, 1);
        /* Waiters for the turn learn it now, not at their deadline. */
        apr_thread_cond_broadcast(g->turn);
    }
    else {
        STORE(g->down, 0);
        STORE(g->progress, apr_time_now());
    }
    if (was_down != LOAD(g->down) && g->notify) {
        g->notify(g->baton, LOAD(g->down));
    }
    apr_thread_mutex_unlock(g->lock);
}

int jklg_db_guard_down(jklg_db_guard_t *g)
{
    return LOAD(g->down);
}
