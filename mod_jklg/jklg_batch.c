/* Group commit (jklg_batch.h). The queue is a list under one mutex; each
 * waiting thread sleeps on its item's own condition, signalled when its
 * item is done or handed the lead, so that the end of a batch wakes the
 * threads it concerns and not every waiting one. Invariant: "leading" is
 * set exactly while the queue is not empty or a batch runs, so an item
 * queued behind an empty queue leads at once, and one queued behind
 * others is taken by a batch or handed the lead. */
#include <apr_thread_mutex.h>
#include <apr_thread_cond.h>
#include "jklg_batch.h"

struct jklg_batch_t {
    apr_thread_mutex_t *lock;
    jklg_batch_item_t *head, *tail;
    jklg_batch_item_t **taken;     /* the running batch: max slots */
    int max;
    int leading;
};

apr_status_t jklg_batch_create(jklg_batch_t **batch, apr_pool_t *p, int max)
{
    jklg_batch_t *b = apr_pcalloc(p, sizeof(*b));
    apr_status_t rv;

    b->max = max > 0 ? max : 1;
    b->taken = apr_pcalloc(p, b->max * sizeof(*b->taken));
    rv = apr_thread_mutex_create(&b->lock, APR_THREAD_MUTEX_DEFAULT, p);
    *batch = rv == APR_SUCCESS ? b : NULL;
    return rv;
}

/* Under the lock: up to max items off the head of the queue. */
static int take(jklg_batch_t *b)
{
    int n = 0;

    while (b->head && n < b->max) {
        b->taken[n++] = b->head;
        b->head = b->head->next;
    }
    if (!b->head) {
        b->tail = NULL;
    }
    return n;
}

/* Under the lock. */
static void wake(jklg_batch_item_t *item)
{
    apr_thread_cond_signal(item->wake);
}

apr_status_t jklg_batch_join(jklg_batch_t *b, jklg_batch_item_t *item,
                             apr_pool_t *p, jklg_batch_run_fn *run,
                             void *baton)
{
    apr_status_t rv = apr_thread_cond_create(&item->wake, p);
    int n;

    if (rv != APR_SUCCESS) {
        return rv;
    }
    item->next = NULL;
    item->done = item->lead = 0;
    apr_thread_mutex_lock(b->lock);
    if (b->tail) {
        b->tail->next = item;
    }
    else {
        b->head = item;
    }
    b->tail = item;
    if (!b->leading) {
        b->leading = item->lead = 1;
    }
    while (!item->done && !item->lead) {
        apr_thread_cond_wait(item->wake, b->lock);
    }
    if (item->done) {
        apr_thread_mutex_unlock(b->lock);
        return APR_SUCCESS;
    }
    /* Leading: this item is the queue's head (it was queued alone, or is
     * the oldest when handed the lead), so the batch holds it first. */
    n = take(b);
    apr_thread_mutex_unlock(b->lock);
    run(baton, b->taken, n);
    apr_thread_mutex_lock(b->lock);
    for (int i = 0; i < n; i++) {
        b->taken[i]->done = 1;
        wake(b->taken[i]);
    }
    if (b->head) {
        b->head->lead = 1;
        wake(b->head);
    }
    else {
        b->leading = 0;
    }
    apr_thread_mutex_unlock(b->lock);
    return APR_SUCCESS;
}
