/* Unit tests of the pure parts of jklg_outbox.c: retry backoff and the
 * default template variables. Delivery needs a database and is covered by
 * the HTTP suite. */
#include <limits.h>
#include <string.h>
#include "suites.h"
#include "jklg_outbox.h"
#include "jklg_json.h"

#define SEC(n) apr_time_from_sec(n)

static void assert_backoff(int attempt, apr_interval_time_t base,
                           apr_interval_time_t cap,
                           apr_interval_time_t expected)
{
    apr_interval_time_t got = jklg_outbox_backoff(attempt, base, cap);

    ck_assert_msg(got == expected, "backoff(%d, %" APR_INT64_T_FMT ", %"
                  APR_INT64_T_FMT ") = %" APR_INT64_T_FMT ", expected %"
                  APR_INT64_T_FMT, attempt, (apr_int64_t)base,
                  (apr_int64_t)cap, (apr_int64_t)got, (apr_int64_t)expected);
}

START_TEST(backoff_doubles)
{
    assert_backoff(1, SEC(30), SEC(3600), SEC(30));
    assert_backoff(2, SEC(30), SEC(3600), SEC(60));
    assert_backoff(3, SEC(30), SEC(3600), SEC(120));
    assert_backoff(4, SEC(30), SEC(3600), SEC(240));
    assert_backoff(5, SEC(30), SEC(3600), SEC(480));
    assert_backoff(6, SEC(30), SEC(3600), SEC(960));
    assert_backoff(7, SEC(30), SEC(3600), SEC(1920));
}
END_TEST

START_TEST(backoff_capped)
{
    assert_backoff(8, SEC(30), SEC(3600), SEC(3600));   /* 3840 s > cap */
    assert_backoff(9, SEC(30), SEC(3600), SEC(3600));
    assert_backoff(20, SEC(30), SEC(3600), SEC(3600));
    assert_backoff(64, SEC(30), SEC(3600), SEC(3600));
    assert_backoff(1000, SEC(30), SEC(3600), SEC(3600));
    assert_backoff(INT_MAX, SEC(30), SEC(3600), SEC(3600));
}
END_TEST

START_TEST(backoff_exact_cap)
{
    /* Reaching the cap exactly is not exceeding it. */
    assert_backoff(3, SEC(900), SEC(3600), SEC(3600));
    assert_backoff(4, SEC(900), SEC(3600), SEC(3600));
    /* A base above the cap is capped from the first retry on. */
    assert_backoff(1, SEC(7200), SEC(3600), SEC(3600));
}
END_TEST

START_TEST(backoff_large_cap_no_overflow)
{
    /* A cap of 30 days: 30 s * 2^16 = 22.75 days, * 2^17 > 30 days. */
    assert_backoff(17, SEC(30), SEC(30 * 86400), SEC(30) << 16);
    assert_backoff(18, SEC(30), SEC(30 * 86400), SEC(30 * 86400));
    assert_backoff(1000, SEC(30), SEC(30 * 86400), SEC(30 * 86400));
    /* Milliseconds base. */
    assert_backoff(1, 500 * 1000, SEC(10), 500 * 1000);
    assert_backoff(5, 500 * 1000, SEC(10), SEC(8));
    assert_backoff(6, 500 * 1000, SEC(10), SEC(10));
}
END_TEST

START_TEST(backoff_first_attempt_floor)
{
    /* Attempt numbers below 1 do not shrink the delay below base. */
    assert_backoff(0, SEC(30), SEC(3600), SEC(30));
    assert_backoff(-3, SEC(30), SEC(3600), SEC(30));
}
END_TEST

/* --- default variables ------------------------------------------------ */

static json_t *defaults(const char *from, const char *public_url)
{
    jklg_outbox_conf_t conf;
    json_t *vars;

    memset(&conf, 0, sizeof(conf));
    conf.from = from;
    conf.public_url = public_url;
    vars = jklg_outbox_default_vars(test_pool, &conf);
    ck_assert_ptr_nonnull(vars);
    ck_assert(json_is_object(vars));
    return vars;
}

START_TEST(default_vars_named_from)
{
    json_t *v = defaults("JKLG Travel <noreply@jklg.example>",
                         "https://travel.jklg.example");

    ck_assert_int_eq(json_object_size(v), 3);
    ck_assert_str_eq(jklg_json_str(v, "agency_name"), "JKLG Travel");
    ck_assert_str_eq(jklg_json_str(v, "support_email"), "noreply@jklg.example");
    ck_assert_str_eq(jklg_json_str(v, "public_url"),
                     "https://travel.jklg.example");
}
END_TEST

START_TEST(default_vars_quoted_name)
{
    json_t *v = defaults("\"JKLG Travel\" <a@b.example>",
                         "https://x.example/base/");

    ck_assert_str_eq(jklg_json_str(v, "agency_name"), "JKLG Travel");
    ck_assert_str_eq(jklg_json_str(v, "support_email"), "a@b.example");
    ck_assert_str_eq(jklg_json_str(v, "public_url"), "https://x.example/base/");
}
END_TEST

START_TEST(default_vars_bare_address)
{
    json_t *v = defaults("noreply@jklg.example", "http://localhost:8080");

    ck_assert_int_eq(json_object_size(v), 3);
    ck_assert_str_eq(jklg_json_str(v, "agency_name"), "");
    ck_assert_str_eq(jklg_json_str(v, "support_email"), "noreply@jklg.example");
    ck_assert_str_eq(jklg_json_str(v, "public_url"), "http://localhost:8080");
}
END_TEST

START_TEST(default_vars_angle_only)
{
    json_t *v = defaults("<noreply@jklg.example>", "https://x.example");

    ck_assert_str_eq(jklg_json_str(v, "agency_name"), "");
    ck_assert_str_eq(jklg_json_str(v, "support_email"), "noreply@jklg.example");
}
END_TEST

START_TEST(default_vars_extra_spaces)
{
    json_t *v = defaults("  JKLG Travel   <noreply@jklg.example>",
                         "https://x.example");

    ck_assert_str_eq(jklg_json_str(v, "agency_name"), "JKLG Travel");
    ck_assert_str_eq(jklg_json_str(v, "support_email"), "noreply@jklg.example");
}
END_TEST

START_TEST(default_vars_angle_in_name)
{
    /* A quoted display name may contain '<'; the address is in the last
     * angle brackets (as jklg_mail_address reads it), and the display name
     * is everything before them. */
    json_t *v = defaults("\"Sales <EU>\" <sales@jklg.example>",
                         "https://x.example");

    ck_assert_str_eq(jklg_json_str(v, "support_email"), "sales@jklg.example");
    ck_assert_str_eq(jklg_json_str(v, "agency_name"), "Sales <EU>");
}
END_TEST

START_TEST(default_vars_fresh_object)
{
    /* Each call gives an independent object the caller may overlay. */
    json_t *a = defaults("A <a@x.example>", "https://x.example");
    json_t *b = defaults("A <a@x.example>", "https://x.example");

    ck_assert_ptr_ne(a, b);
    json_object_set_new(a, "agency_name", json_string("Changed"));
    ck_assert_str_eq(jklg_json_str(b, "agency_name"), "A");
}
END_TEST

START_TEST(default_vars_owned_by_pool)
{
    apr_pool_t *sub;
    jklg_outbox_conf_t conf;
    json_t *v;

    memset(&conf, 0, sizeof(conf));
    conf.from = "JKLG Travel <noreply@jklg.example>";
    conf.public_url = "https://x.example";
    apr_pool_create(&sub, test_pool);
    v = jklg_outbox_default_vars(sub, &conf);
    ck_assert_ptr_nonnull(v);
    json_incref(v);
    ck_assert_uint_eq(v->refcount, 2);
    apr_pool_destroy(sub);
    ck_assert_uint_eq(v->refcount, 1);
    /* Strings were copied into the object, not borrowed from the pool. */
    ck_assert_str_eq(jklg_json_str(v, "agency_name"), "JKLG Travel");
    ck_assert_str_eq(jklg_json_str(v, "support_email"), "noreply@jklg.example");
    json_decref(v);
}
END_TEST

Suite *suite_outbox(void)
{
    Suite *s = suite_create("outbox");
    TCase *tc = tcase_create("core");

    tcase_add_checked_fixture(tc, test_pool_setup, test_pool_teardown);
    tcase_add_test(tc, backoff_doubles);
    tcase_add_test(tc, backoff_capped);
    tcase_add_test(tc, backoff_exact_cap);
    tcase_add_test(tc, backoff_large_cap_no_overflow);
    tcase_add_test(tc, backoff_first_attempt_floor);
    tcase_add_test(tc, default_vars_named_from);
    tcase_add_test(tc, default_vars_quoted_name);
    tcase_add_test(tc, default_vars_bare_address);
    tcase_add_test(tc, default_vars_angle_only);
    tcase_add_test(tc, default_vars_extra_spaces);
    tcase_add_test(tc, default_vars_angle_in_name);
    tcase_add_test(tc, default_vars_fresh_object);
    tcase_add_test(tc, default_vars_owned_by_pool);
    suite_add_tcase(s, tc);
    return s;
}
