/* Unit tests of jklg_batch.c: a lone item runs at once in its own thread;
 * items of many threads are each run exactly once, by batches led by one
 * of their own items and never larger than the maximum; waiting threads
 * return only when their item is done. */
#include <apr_atomic.h>
#include <apr_portable.h>
#include <apr_thread_proc.h>
#include <apr_time.h>
#include "suites.h"
#include "jklg_batch.h"

#define THREADS 8
#define JOINS 50

typedef struct {
    apr_os_thread_t ran_by;     /* the thread whose run did it */
    int runs;                   /* times run: must end at 1 */
} work_t;

typedef struct {
    jklg_batch_t *batch;
    apr_uint32_t batches, items, largest, wrong_leader, not_done;
    apr_interval_time_t pause;  /* per batch, so that others queue */
    int max;
} shared_t;

typedef struct {
    shared_t *sh;
    work_t *mine;               /* the leader's own item's data */
} baton_t;

static void run(void *baton, jklg_batch_item_t **items, int n)
{
    baton_t *b = baton;
    shared_t *sh = b->sh;

    apr_atomic_inc32(&sh->batches);
    apr_atomic_add32(&sh->items, n);
    if (items[0]->data != b->mine) {
        apr_atomic_inc32(&sh->wrong_leader);
    }
    if ((apr_uint32_t)n > apr_atomic_read32(&sh->largest)) {
        apr_atomic_set32(&sh->largest, n);
    }
    if (sh->pause) {
        apr_sleep(sh->pause);
    }
    for (int i = 0; i < n; i++) {
        work_t *w = items[i]->data;

        w->runs++;
        w->ran_by = apr_os_thread_current();
    }
}

static void join_once(shared_t *sh)
{
    work_t w = {0};
    jklg_batch_item_t item = {.data = &w};
    baton_t b = {sh, &w};
    apr_pool_t *p;

    apr_pool_create(&p, NULL);
    if (jklg_batch_join(sh->batch, &item, p, run, &b) != APR_SUCCESS
        || !item.done || w.runs != 1) {
        apr_atomic_inc32(&sh->not_done);
    }
    apr_pool_destroy(p);
}

/* Returns rather than calling apr_thread_exit: pthread_exit leaves the
 * stack of the waits poisoned for AddressSanitizer, which then reports
 * its own clean-up of the thread. */
static void *APR_THREAD_FUNC joiner(apr_thread_t *t, void *data)
{
    for (int i = 0; i < JOINS; i++) {
        join_once(data);
    }
    return NULL;
}

static void join_from_threads(shared_t *sh)
{
    apr_thread_t *t[THREADS];
    apr_status_t rv;

    ck_assert_int_eq(jklg_batch_create(&sh->batch, test_pool, sh->max),
                     APR_SUCCESS);
    for (int i = 0; i < THREADS; i++) {
        ck_assert_int_eq(apr_thread_create(&t[i], NULL, joiner, sh,
                                           test_pool), APR_SUCCESS);
    }
    for (int i = 0; i < THREADS; i++) {
        apr_thread_join(&rv, t[i]);
    }
}

START_TEST(a_lone_item_runs_at_once_in_its_own_thread)
{
    jklg_batch_t *batch;
    shared_t sh = {0};
    work_t w = {0};
    jklg_batch_item_t item = {.data = &w};
    baton_t b = {&sh, &w};

    ck_assert_int_eq(jklg_batch_create(&batch, test_pool, 4), APR_SUCCESS);
    for (int i = 0; i < 3; i++) {
        w.runs = 0;
        ck_assert_int_eq(jklg_batch_join(batch, &item, test_pool, run, &b),
                         APR_SUCCESS);
        ck_assert(item.done);
        ck_assert_int_eq(w.runs, 1);
        ck_assert(apr_os_thread_equal(w.ran_by, apr_os_thread_current()));
    }
    ck_assert_uint_eq(sh.batches, 3);
    ck_assert_uint_eq(sh.largest, 1);
    ck_assert_uint_eq(sh.wrong_leader, 0);
}
END_TEST

START_TEST(every_item_of_many_threads_runs_once_in_batches)
{
    shared_t sh = {.pause = apr_time_from_msec(2), .max = 64};

    join_from_threads(&sh);
    ck_assert_uint_eq(sh.not_done, 0);
    ck_assert_uint_eq(sh.items, THREADS * JOINS);
    ck_assert_uint_eq(sh.wrong_leader, 0);
    /* The others queued while a batch slept: batches were shared. */
    ck_assert_uint_gt(sh.largest, 1);
    ck_assert_uint_lt(sh.batches, THREADS * JOINS);
}
END_TEST

START_TEST(no_batch_is_larger_than_the_maximum)
{
    shared_t sh = {.pause = apr_time_from_msec(2), .max = 3};

    join_from_threads(&sh);
    ck_assert_uint_eq(sh.not_done, 0);
    ck_assert_uint_eq(sh.items, THREADS * JOINS);
    ck_assert_uint_eq(sh.largest, 3);
    ck_assert_uint_eq(sh.wrong_leader, 0);
}
END_TEST

START_TEST(without_pauses_nothing_is_lost)
{
    shared_t sh = {.max = 16};

    join_from_threads(&sh);
    ck_assert_uint_eq(sh.not_done, 0);
    ck_assert_uint_eq(sh.items, THREADS * JOINS);
    ck_assert_uint_eq(sh.wrong_leader, 0);
}
END_TEST

Suite *suite_batch(void)
{
    Suite *s = suite_create("batch");
    TCase *tc = tcase_create("core");

    tcase_add_checked_fixture(tc, test_pool_setup, test_pool_teardown);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, a_lone_item_runs_at_once_in_its_own_thread);
    tcase_add_test(tc, every_item_of_many_threads_runs_once_in_batches);
    tcase_add_test(tc, no_batch_is_larger_than_the_maximum);
    tcase_add_test(tc, without_pauses_nothing_is_lost);
    suite_add_tcase(s, tc);
    return s;
}
