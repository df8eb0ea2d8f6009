/* Unit tests of jklg_db_guard.c: one taker at a time, waits bounded by
 * the pool's progress, fail fast after a timeout, one probe per interval,
 * and recovery on any answer. */
#include <apr_time.h>
#include "suites.h"
#include "jklg_db.h"

#define MS(n) apr_time_from_msec(n)

static int changes, last_down;

static void count_change(void *baton, int down)
{
    changes++;
    last_down = down;
}

static jklg_db_guard_t *guard_for_test(apr_interval_time_t probe_interval)
{
    jklg_db_guard_t *g = NULL;

    changes = 0;
    last_down = -1;
    ck_assert_int_eq(jklg_db_guard_create(&g, test_pool, probe_interval,
                                          count_change, NULL), APR_SUCCESS);
    return g;
}

START_TEST(one_taker_at_a_time_then_timeup_without_progress)
{
    jklg_db_guard_t *g = guard_for_test(MS(100));
    apr_time_t start;

    ck_assert_int_eq(jklg_db_guard_enter(g, MS(50), MS(50)), APR_SUCCESS);
    start = apr_time_now();
    ck_assert_int_eq(jklg_db_guard_enter(g, MS(50), MS(50)), APR_TIMEUP);
    ck_assert(apr_time_now() - start >= MS(45));
    ck_assert(!jklg_db_guard_down(g));
    jklg_db_guard_leave(g);
    ck_assert_int_eq(jklg_db_guard_enter(g, MS(50), MS(50)), APR_SUCCESS);
    jklg_db_guard_leave(g);
}
END_TEST

START_TEST(a_timeout_fails_fast_until_one_probe)
{
    jklg_db_guard_t *g = guard_for_test(MS(100));

    jklg_db_guard_report(g, APR_TIMEUP);
    ck_assert(jklg_db_guard_down(g));
    ck_assert_int_eq(changes, 1);
    ck_assert_int_eq(last_down, 1);
    /* Within the interval: at once, without waiting. */
    ck_assert_int_eq(jklg_db_guard_enter(g, MS(1000), MS(500)), APR_EAGAIN);
    apr_sleep(MS(120));
    /* One probe; the others still fail fast while it runs ... */
    ck_assert_int_eq(jklg_db_guard_enter(g, MS(1000), MS(500)), APR_SUCCESS);
    jklg_db_guard_leave(g);
    ck_assert_int_eq(jklg_db_guard_enter(g, MS(1000), MS(500)), APR_EAGAIN);
    /* ... and a probe that times out starts a new interval. */
    jklg_db_guard_report(g, APR_TIMEUP);
    ck_assert_int_eq(changes, 1);
    ck_assert_int_eq(jklg_db_guard_enter(g, MS(1000), MS(500)), APR_EAGAIN);
}
END_TEST

START_TEST(any_answer_ends_the_outage)
{
    jklg_db_guard_t *g = guard_for_test(MS(100));

    jklg_db_guard_report(g, APR_TIMEUP);
    /* A refused connection is an answer too: nothing to wait for. */
    jklg_db_guard_report(g, APR_ECONNRESET);
    ck_assert(!jklg_db_guard_down(g));
    ck_assert_int_eq(changes, 2);
    ck_assert_int_eq(last_down, 0);
    ck_assert_int_eq(jklg_db_guard_enter(g, MS(50), MS(50)), APR_SUCCESS);
    jklg_db_guard_leave(g);
    /* Answers while up change nothing. */
    jklg_db_guard_report(g, APR_SUCCESS);
    ck_assert_int_eq(changes, 2);
}
END_TEST

Suite *suite_db_guard(void)
{
    Suite *s = suite_create("db_guard");
    TCase *tc = tcase_create("guard");

    tcase_add_checked_fixture(tc, test_pool_setup, test_pool_teardown);
    tcase_add_test(tc, one_taker_at_a_time_then_timeup_without_progress);
    tcase_add_test(tc, a_timeout_fails_fast_until_one_probe);
    tcase_add_test(tc, any_answer_ends_the_outage);
    suite_add_tcase(s, tc);
    return s;
}
