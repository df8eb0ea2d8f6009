/* Unit tests of jklg_policy.c: deposit rounding, tier checks, the tier a
 * number of days picks, refunds. */
#include <string.h>
#include "suites.h"
#include "jklg_money.h"
#include "jklg_policy.h"

START_TEST(deposit_rounds_half_up)
{
    ck_assert(jklg_policy_deposit(120000, 20) == 24000);
    ck_assert(jklg_policy_deposit(1001, 50) == 501);    /* 500.5 -> 501 */
    ck_assert(jklg_policy_deposit(1003, 50) == 502);    /* 501.5 -> 502 */
    ck_assert(jklg_policy_deposit(999, 33) == 330);     /* 329.67 -> 330 */
    ck_assert(jklg_policy_deposit(1010, 15) == 152);    /* 151.5 -> 152 */
    ck_assert(jklg_policy_deposit(1009, 15) == 151);    /* 151.35 -> 151 */
    ck_assert(jklg_policy_deposit(3, 1) == 0);
    ck_assert(jklg_policy_deposit(50, 1) == 1);         /* 0.5 -> 1 */
    ck_assert(jklg_policy_deposit(JKLG_AMOUNT_MAX, 99)
              == (JKLG_AMOUNT_MAX * 99LL + 50) / 100);
}
END_TEST

START_TEST(refund_floors_then_takes_fee)
{
    ck_assert(jklg_policy_refund(100000, 100, 0) == 100000);
    ck_assert(jklg_policy_refund(100000, 50, 2500) == 47500);
    ck_assert(jklg_policy_refund(999, 50, 0) == 499);   /* 499.5 floors */
    ck_assert(jklg_policy_refund(1, 99, 0) == 0);
    ck_assert(jklg_policy_refund(10000, 10, 5000) == 0); /* never negative */
    ck_assert(jklg_policy_refund(10000, 0, 0) == 0);
    ck_assert(jklg_policy_refund(0, 100, 0) == 0);
    ck_assert(jklg_policy_refund(-5, 100, 0) == 0);
    ck_assert(jklg_policy_refund(JKLG_AMOUNT_MAX, 33, 1)
              == JKLG_AMOUNT_MAX * 33LL / 100 - 1);
}
END_TEST

static int parse(const char *text, jklg_tier_t *t, int *n, const char **key,
                 const char **why)
{
    json_t *v = json_loads(text, 0, NULL);

    ck_assert_msg(v != NULL, "%s", text);
    *why = jklg_policy_parse(test_pool, v, t, n, key);
    json_decref(v);
    return *why == NULL;
}

START_TEST(parse_accepts_tiers)
{
    jklg_tier_t t[JKLG_POLICY_MAX_TIERS];
    const char *key, *why;
    int n;

    ck_assert(parse("[{\"min_days_before\": 60, \"refund_percent\": 100, "
                    "\"fee\": 0}, {\"min_days_before\": 30, "
                    "\"refund_percent\": 50, \"fee\": 2500}, "
                    "{\"min_days_before\": 0, \"refund_percent\": 0, "
                    "\"fee\": 0}]", t, &n, &key, &why));
    ck_assert_int_eq(n, 3);
    ck_assert_int_eq(t[1].min_days_before, 30);
    ck_assert_int_eq(t[1].refund_percent, 50);
    ck_assert(t[1].fee == 2500);
    ck_assert(key == NULL);
}
END_TEST

START_TEST(parse_refuses_bad_tiers)
{
    static const struct {
        const char *json, *key;
    } bad[] = {
        {"[]", "tiers"},
        {"{}", "tiers"},
        {"[1]", "tiers[0]"},
        {"[{\"min_days_before\": 1, \"refund_percent\": 101, \"fee\": 0}]",
         "tiers[0].refund_percent"},
        {"[{\"min_days_before\": 1, \"refund_percent\": -1, \"fee\": 0}]",
         "tiers[0].refund_percent"},
        {"[{\"min_days_before\": 1, \"refund_percent\": 50.5, \"fee\": 0}]",
         "tiers[0].refund_percent"},
        {"[{\"min_days_before\": 1, \"refund_percent\": 50, \"fee\": -1}]",
         "tiers[0].fee"},
        {"[{\"min_days_before\": -1, \"refund_percent\": 50, \"fee\": 0}]",
         "tiers[0].min_days_before"},
        {"[{\"refund_percent\": 50, \"fee\": 0}]", "tiers[0].min_days_before"},
        {"[{\"min_days_before\": 1, \"refund_percent\": 50, \"fee\": 0, "
         "\"x\": 1}]", "tiers[0].x"},
        {"[{\"min_days_before\": 30, \"refund_percent\": 50, \"fee\": 0}, "
         "{\"min_days_before\": 30, \"refund_percent\": 10, \"fee\": 0}]",
         "tiers[1].min_days_before"},
    };
    jklg_tier_t t[JKLG_POLICY_MAX_TIERS];
    const char *key, *why;
    int n;

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        ck_assert_msg(!parse(bad[i].json, t, &n, &key, &why), "%s",
                      bad[i].json);
        ck_assert_str_eq(key, bad[i].key);
        ck_assert(why && *why);
    }
}
END_TEST

START_TEST(parse_refuses_too_many)
{
    jklg_tier_t t[JKLG_POLICY_MAX_TIERS];
    json_t *v = json_array();
    const char *key, *why;
    int n;

    for (int i = 0; i <= JKLG_POLICY_MAX_TIERS; i++) {
        json_array_append_new(v, json_pack("{s:i, s:i, s:i}",
                                           "min_days_before", i,
                                           "refund_percent", 10, "fee", 0));
    }
    why = jklg_policy_parse(test_pool, v, t, &n, &key);
    json_decref(v);
    ck_assert(why != NULL);
    ck_assert_str_eq(key, "tiers");
}
END_TEST

START_TEST(pick_highest_tier_not_above_days_left)
{
    jklg_tier_t t[] = {{30, 50, 2500}, {60, 100, 0}, {7, 10, 0}};

    ck_assert_int_eq(jklg_policy_pick(t, 3, 90), 1);
    ck_assert_int_eq(jklg_policy_pick(t, 3, 60), 1);
    ck_assert_int_eq(jklg_policy_pick(t, 3, 59), 0);
    ck_assert_int_eq(jklg_policy_pick(t, 3, 30), 0);
    ck_assert_int_eq(jklg_policy_pick(t, 3, 8), 2);
    ck_assert_int_eq(jklg_policy_pick(t, 3, 7), 2);
    ck_assert_int_eq(jklg_policy_pick(t, 3, 6), -1);
    ck_assert_int_eq(jklg_policy_pick(t, 3, -1), -1);
    ck_assert_int_eq(jklg_policy_pick(t, 0, 100), -1);
}
END_TEST

START_TEST(declines_soft_or_hard)
{
    ck_assert(jklg_policy_decline_soft(NULL));
    ck_assert(jklg_policy_decline_soft("insufficient_funds"));
    ck_assert(jklg_policy_decline_soft("generic_decline"));
    ck_assert(jklg_policy_decline_soft("try_again_later"));
    ck_assert(!jklg_policy_decline_soft("authentication_required"));
    ck_assert(!jklg_policy_decline_soft("stolen_card"));
    ck_assert(!jklg_policy_decline_soft("expired_card"));
    ck_assert(!jklg_policy_decline_soft("lost_card"));
    ck_assert(!jklg_policy_decline_soft("card_declined_but_unknown"));
}
END_TEST

Suite *suite_policy(void)
{
    Suite *s = suite_create("policy");
    TCase *tc = tcase_create("core");

    tcase_add_checked_fixture(tc, test_pool_setup, test_pool_teardown);
    tcase_add_test(tc, deposit_rounds_half_up);
    tcase_add_test(tc, refund_floors_then_takes_fee);
    tcase_add_test(tc, parse_accepts_tiers);
    tcase_add_test(tc, parse_refuses_bad_tiers);
    tcase_add_test(tc, parse_refuses_too_many);
    tcase_add_test(tc, pick_highest_tier_not_above_days_left);
    tcase_add_test(tc, declines_soft_or_hard);
    suite_add_tcase(s, tc);
    return s;
}
