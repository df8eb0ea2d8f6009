/* jklg_fields: the money and travel fields staff send. */
#include <string.h>
#include "jklg_fields.h"
#include "jklg_money.h"
#include "suites.h"

static const char *const ANY[] = {"amount", "currency", "date", "schedule",
                                  "amount_total", NULL};
static json_t *body;

static jklg_check_t check_of(const char *json)
{
    jklg_check_t c;

    body = json_loads(json, 0, NULL);
    ck_assert_ptr_nonnull(body);
    jklg_check_init(&c, test_pool, body, ANY);
    return c;
}

static const char *problem(const jklg_check_t *c, const char *key)
{
    return json_string_value(json_object_get(c->fields, key));
}

static void teardown(void)
{
    json_decref(body);
    body = NULL;
    test_pool_teardown();
}

START_TEST(amount_is_positive_minor_units)
{
    jklg_check_t c = check_of("{\"amount\": 12345}");

    ck_assert_str_eq(jklg_check_amount(&c, "amount", JKLG_REQUIRED), "12345");
    ck_assert(jklg_check_ok(&c));
    json_decref(body);

    c = check_of("{\"amount\": 0}");
    ck_assert_ptr_null(jklg_check_amount(&c, "amount", JKLG_REQUIRED));
    ck_assert_ptr_nonnull(problem(&c, "amount"));
    json_decref(body);

    c = check_of("{\"amount\": 12.5}");
    ck_assert_ptr_null(jklg_check_amount(&c, "amount", 0));
    ck_assert_ptr_nonnull(problem(&c, "amount"));
    json_decref(body);

    c = check_of("{\"amount\": \"100\"}");
    ck_assert_ptr_null(jklg_check_amount(&c, "amount", 0));
    ck_assert_ptr_nonnull(problem(&c, "amount"));
    json_decref(body);

    c = check_of("{\"amount\": 100000000}");
    ck_assert_ptr_null(jklg_check_amount(&c, "amount", 0));
    ck_assert_ptr_nonnull(problem(&c, "amount"));
}
END_TEST

START_TEST(absent_amount_only_a_problem_when_required)
{
    jklg_check_t c = check_of("{}");

    ck_assert_ptr_null(jklg_check_amount(&c, "amount", 0));
    ck_assert(jklg_check_ok(&c));
    ck_assert_ptr_null(jklg_check_amount(&c, "amount", JKLG_REQUIRED));
    ck_assert_str_eq(problem(&c, "amount"), "is required");
}
END_TEST

START_TEST(currency_is_a_lowercase_code_gateways_take)
{
    jklg_check_t c = check_of("{\"currency\": \"eur\"}");

    ck_assert_str_eq(jklg_check_currency(&c, "currency"), "eur");
    ck_assert(jklg_check_ok(&c));
    json_decref(body);

    c = check_of("{\"currency\": \"EUR\"}");
    ck_assert_ptr_null(jklg_check_currency(&c, "currency"));
    ck_assert_ptr_nonnull(problem(&c, "currency"));
    json_decref(body);

    c = check_of("{\"currency\": \"xyz\"}");
    ck_assert_ptr_null(jklg_check_currency(&c, "currency"));
    ck_assert_ptr_nonnull(problem(&c, "currency"));
    json_decref(body);

    c = check_of("{}");
    ck_assert_ptr_null(jklg_check_currency(&c, "currency"));
    ck_assert_str_eq(problem(&c, "currency"), "is required");
}
END_TEST

START_TEST(date_is_a_real_day)
{
    jklg_check_t c = check_of("{\"date\": \"2028-02-29\"}");

    ck_assert_str_eq(jklg_check_date(&c, "date"), "2028-02-29");
    json_decref(body);

    c = check_of("{\"date\": \"2027-02-29\"}");
    ck_assert_ptr_null(jklg_check_date(&c, "date"));
    ck_assert_ptr_nonnull(problem(&c, "date"));
    json_decref(body);

    c = check_of("{\"date\": \"2027-03-01T00:00:00Z\"}");
    ck_assert_ptr_null(jklg_check_date(&c, "date"));
    ck_assert_ptr_nonnull(problem(&c, "date"));
}
END_TEST

START_TEST(reference_has_no_look_alikes)
{
    for (int i = 0; i < 200; i++) {
        const char *ref = jklg_booking_reference(test_pool);

        ck_assert_uint_eq(strlen(ref), 11);
        ck_assert(!strncmp(ref, "JK-", 3));
        ck_assert_uint_eq(strspn(ref + 3, "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"),
                          8);
    }
}
END_TEST

START_TEST(schedule_by_percent_rounds_half_up)
{
    jklg_check_t c = check_of("{\"schedule\": {\"deposit_percent\": 15, "
                              "\"balance_due_days\": 30}}");
    const char *days;

    /* 15 % of 1,003 = 150.45 -> 150; of 1,010 = 151.5 -> 152 */
    ck_assert_str_eq(jklg_check_schedule(&c, "1003", &days), "150");
    ck_assert_str_eq(days, "30");
    ck_assert_str_eq(jklg_check_schedule(&c, "1010", &days), "152");
    ck_assert(jklg_check_ok(&c));
}
END_TEST

START_TEST(schedule_refusals_name_the_member)
{
    static const struct {
        const char *json;
        const char *total;
        const char *field;
    } bad[] = {
        {"{\"schedule\": 5}", "1000", "schedule"},
        {"{\"schedule\": {\"deposit_amount\": 100, \"deposit_percent\": 10,"
         " \"balance_due_days\": 1}}", "1000", "schedule.deposit_amount"},
        {"{\"schedule\": {\"balance_due_days\": 1}}", "1000",
         "schedule.deposit_amount"},
        {"{\"schedule\": {\"deposit_amount\": 1000, \"balance_due_days\": 1}}",
         "1000", "schedule.deposit_amount"},
        {"{\"schedule\": {\"deposit_percent\": 100, \"balance_due_days\": 1}}",
         "1000", "schedule.deposit_percent"},
        {"{\"schedule\": {\"deposit_percent\": 1, \"balance_due_days\": 1}}",
         "10", "schedule.deposit_percent"},
        {"{\"schedule\": {\"deposit_amount\": 10, \"balance_due_days\": -1}}",
         "1000", "schedule.balance_due_days"},
        {"{\"schedule\": {\"deposit_amount\": 10, \"balance_due_days\": 1,"
         " \"extra\": 1}}", "1000", "schedule.extra"},
    };

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        jklg_check_t c = check_of(bad[i].json);
        const char *days;

        jklg_check_schedule(&c, bad[i].total, &days);
        ck_assert_msg(problem(&c, bad[i].field) != NULL, "case %zu: %s", i,
                      bad[i].json);
        json_decref(body);
        body = NULL;
    }
}
END_TEST

START_TEST(no_schedule_is_no_deposit)
{
    jklg_check_t c = check_of("{\"schedule\": null}");
    const char *days = "x";

    ck_assert_ptr_null(jklg_check_schedule(&c, "1000", &days));
    ck_assert_ptr_null(days);
    ck_assert(jklg_check_ok(&c));
}
END_TEST

Suite *suite_fields(void)
{
    Suite *s = suite_create("fields");
    TCase *tc = tcase_create("core");

    tcase_add_checked_fixture(tc, test_pool_setup, teardown);
    tcase_add_test(tc, amount_is_positive_minor_units);
    tcase_add_test(tc, absent_amount_only_a_problem_when_required);
    tcase_add_test(tc, currency_is_a_lowercase_code_gateways_take);
    tcase_add_test(tc, date_is_a_real_day);
    tcase_add_test(tc, reference_has_no_look_alikes);
    tcase_add_test(tc, schedule_by_percent_rounds_half_up);
    tcase_add_test(tc, schedule_refusals_name_the_member);
    tcase_add_test(tc, no_schedule_is_no_deposit);
    suite_add_tcase(s, tc);
    return s;
}
