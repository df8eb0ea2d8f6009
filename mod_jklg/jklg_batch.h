/* Group commit: work that many threads of a process bring at once is done
 * in batches. The first thread to arrive leads: it runs everything queued
 * (up to a maximum) in one go, while the threads arriving meanwhile queue
 * for the next batch; then it hands the lead to the oldest of them. Each
 * thread returns only once its own item is done, by itself or by another
 * leader, so a caller's contract is that of doing the work alone.
 *
 * Why: a database statement, round trip and commit per batch instead of
 * per item (webhook events, mod_jklg_webhook.c). With nothing else
 * queued a batch holds the caller's item alone, and costs one mutex. */
#ifndef JKLG_BATCH_H
#define JKLG_BATCH_H

#include <apr_pools.h>
#include <apr_thread_cond.h>

typedef struct jklg_batch_t jklg_batch_t;

typedef struct jklg_batch_item_t {
    struct jklg_batch_item_t *next;   /* the queue's */
    void *data;                       /* the caller's: input and results */
    apr_thread_cond_t *wake;          /* its thread waits on it alone */
    int done;
    int lead;
} jklg_batch_item_t;

/* Runs one batch: items[0..n-1], n >= 1, items[0] the leader's own; baton
 * is the leader's. Called without the lock held; it sets the results in
 * each item's data, which their threads read once it returns. */
typedef void jklg_batch_run_fn(void *baton, jklg_batch_item_t **items,
                               int n);

/* max: the most items one batch takes (>= 1). */
apr_status_t jklg_batch_create(jklg_batch_t **batch, apr_pool_t *p, int max);

/* Queues item (its data set; this call sets the rest) and returns when
 * it is done. run and baton are used if this thread leads; p is the
 * caller's, for the condition its thread waits on. Fails, with the item
 * not queued, only when that condition cannot be made. */
apr_status_t jklg_batch_join(jklg_batch_t *batch, jklg_batch_item_t *item,
                             apr_pool_t *p, jklg_batch_run_fn *run,
                             void *baton);

#endif
