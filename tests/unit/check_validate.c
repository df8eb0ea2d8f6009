/* jklg_validate: body field checks, ids, dates. */
#include <string.h>
#include <apr_strings.h>
#include "jklg_token.h"
#include "jklg_validate.h"
#include "suites.h"

static json_t *body;

static jklg_check_t check_of(const char *json, const char *const *allowed)
{
    jklg_check_t c;

    body = json_loads(json, 0, NULL);
    ck_assert_ptr_nonnull(body);
    jklg_check_init(&c, test_pool, body, allowed);
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

START_TEST(unknown_members_are_problems)
{
    static const char *const allowed[] = {"first_name", NULL};
    jklg_check_t c = check_of("{\"first_name\": \"Ana\", \"role\": \"admin\","
                              " \"id\": 1}", allowed);

    ck_assert_str_eq(problem(&c, "role"), "unknown field");
    ck_assert_str_eq(problem(&c, "id"), "unknown field");
    ck_assert_ptr_null(problem(&c, "first_name"));
    ck_assert(!jklg_check_ok(&c));
}
END_TEST

START_TEST(text_is_trimmed_and_bounded_in_characters)
{
    jklg_check_t c = check_of("{\"a\": \"  Ana  \", \"b\": \"\", \"c\": 5,"
                              " \"d\": null, \"e\": \"\\u00e9\\u00e9\\u00e9\","
                              " \"f\": \"x\\ty\"}", NULL);

    ck_assert_str_eq(jklg_check_text(&c, "a", JKLG_REQUIRED, 1, 3), "Ana");
    ck_assert_ptr_null(jklg_check_text(&c, "b", JKLG_REQUIRED, 1, 10));
    ck_assert_str_eq(problem(&c, "b"), "must be 1 to 10 characters");
    ck_assert_ptr_null(jklg_check_text(&c, "c", 0, 1, 10));
    ck_assert_str_eq(problem(&c, "c"), "must be a string");
    ck_assert_ptr_null(jklg_check_text(&c, "d", JKLG_NULLABLE, 1, 10));
    ck_assert_ptr_null(problem(&c, "d"));
    /* three characters in six bytes */
    ck_assert_str_eq(jklg_check_text(&c, "e", 0, 3, 3),
                     "\xc3\xa9\xc3\xa9\xc3\xa9");
    ck_assert_ptr_null(jklg_check_text(&c, "f", 0, 1, 10));
    ck_assert_str_eq(problem(&c, "f"), "must not contain control characters");
    ck_assert_ptr_null(jklg_check_text(&c, "missing", JKLG_REQUIRED, 1, 3));
    ck_assert_str_eq(problem(&c, "missing"), "is required");
}
END_TEST

START_TEST(null_is_refused_unless_nullable)
{
    jklg_check_t c = check_of("{\"a\": null}", NULL);

    ck_assert_ptr_null(jklg_check_text(&c, "a", 0, 0, 5));
    ck_assert_str_eq(problem(&c, "a"), "must not be null");
}
END_TEST

START_TEST(email_is_normalised)
{
    jklg_check_t c = check_of("{\"a\": \" Ana@Example.COM \", \"b\": \"x\"}",
                              NULL);

    ck_assert_str_eq(jklg_check_email(&c, "a", JKLG_REQUIRED),
                     "ana@example.com");
    ck_assert_ptr_null(jklg_check_email(&c, "b", JKLG_REQUIRED));
    ck_assert_str_eq(problem(&c, "b"), "must be a valid email address");
}
END_TEST

START_TEST(booleans_only)
{
    jklg_check_t c = check_of("{\"a\": true, \"b\": \"true\", \"c\": 0}",
                              NULL);
    int v = -1;

    ck_assert_int_eq(jklg_check_bool(&c, "a", 0, &v), 1);
    ck_assert_int_eq(v, 1);
    ck_assert_int_eq(jklg_check_bool(&c, "b", 0, &v), 0);
    ck_assert_int_eq(jklg_check_bool(&c, "c", 0, &v), 0);
    ck_assert_str_eq(problem(&c, "b"), "must be true or false");
    ck_assert_int_eq(jklg_check_bool(&c, "absent", 0, &v), 0);
    ck_assert_ptr_null(problem(&c, "absent"));
}
END_TEST

START_TEST(phones)
{
    jklg_check_t c = check_of("{\"ok\": \"+351 912 345 678\", "
                              "\"paren\": \"(21) 555-0100\", "
                              "\"plus_inside\": \"12+345678\", "
                              "\"letters\": \"call me now\", "
                              "\"short\": \"+1 23\"}", NULL);

    ck_assert_str_eq(jklg_check_phone(&c, "ok", 0), "+351 912 345 678");
    ck_assert_str_eq(jklg_check_phone(&c, "paren", 0), "(21) 555-0100");
    ck_assert_ptr_null(jklg_check_phone(&c, "plus_inside", 0));
    ck_assert_ptr_null(jklg_check_phone(&c, "letters", 0));
    ck_assert_ptr_null(jklg_check_phone(&c, "short", 0));
}
END_TEST

START_TEST(country_language_currency)
{
    jklg_check_t c = check_of("{\"c1\": \"pt\", \"c2\": \"PRT\", "
                              "\"c3\": \"P1\", \"l1\": \"pt-BR\", "
                              "\"l2\": \"en\", \"l3\": \"english\", "
                              "\"l4\": \"pt_BR\", \"l5\": \"e\", "
                              "\"m1\": \"EUR\", \"m2\": \"eu\"}", NULL);

    ck_assert_str_eq(jklg_check_country(&c, "c1", 0), "PT");
    ck_assert_ptr_null(jklg_check_country(&c, "c2", 0));
    ck_assert_ptr_null(jklg_check_country(&c, "c3", 0));
    ck_assert_str_eq(jklg_check_language(&c, "l1", 0), "pt-BR");
    ck_assert_str_eq(jklg_check_language(&c, "l2", 0), "en");
    ck_assert_ptr_null(jklg_check_language(&c, "l3", 0));
    ck_assert_ptr_null(jklg_check_language(&c, "l4", 0));
    ck_assert_ptr_null(jklg_check_language(&c, "l5", 0));
    ck_assert_str_eq(jklg_check_currency_code(&c, "m1", 0), "eur");
    ck_assert_ptr_null(jklg_check_currency_code(&c, "m2", 0));
}
END_TEST

START_TEST(uuids)
{
    ck_assert(jklg_is_uuid("6b2efa8b-1f62-4fff-9a62-25006222a965"));
    ck_assert(jklg_is_uuid("6B2EFA8B-1F62-4FFF-9A62-25006222A965"));
    ck_assert(!jklg_is_uuid("6b2efa8b1f624fff9a6225006222a965"));
    ck_assert(!jklg_is_uuid("6b2efa8b-1f62-4fff-9a62-25006222a96"));
    ck_assert(!jklg_is_uuid("6b2efa8b-1f62-4fff-9a62-25006222a965x"));
    ck_assert(!jklg_is_uuid("6b2efa8g-1f62-4fff-9a62-25006222a965"));
    ck_assert(!jklg_is_uuid("not-a-uuid"));
    ck_assert(!jklg_is_uuid(""));
    ck_assert(!jklg_is_uuid(NULL));
}
END_TEST

START_TEST(dates_are_real_days)
{
    ck_assert(jklg_is_date("2027-05-01"));
    ck_assert(jklg_is_date("2028-02-29"));
    ck_assert(jklg_is_date("2000-02-29"));
    ck_assert(!jklg_is_date("2027-02-29"));
    ck_assert(!jklg_is_date("1900-02-29"));
    ck_assert(!jklg_is_date("2027-04-31"));
    ck_assert(!jklg_is_date("2027-13-01"));
    ck_assert(!jklg_is_date("2027-00-10"));
    ck_assert(!jklg_is_date("2027-5-1"));
    ck_assert(!jklg_is_date("2027-05-01T00:00:00Z"));
    ck_assert(!jklg_is_date(NULL));
}
END_TEST

START_TEST(timestamps)
{
    ck_assert(jklg_is_timestamp("2026-11-24"));
    ck_assert(jklg_is_timestamp("2026-11-24T10:00:00Z"));
    ck_assert(jklg_is_timestamp("2026-11-24T10:00:00.123456Z"));
    ck_assert(jklg_is_timestamp("2026-11-24T10:00:00+01:00"));
    ck_assert(jklg_is_timestamp("2026-11-24t10:00:00-05:30"));
    ck_assert(!jklg_is_timestamp("2026-11-24T10:00:00"));
    ck_assert(!jklg_is_timestamp("2026-11-24T24:00:00Z"));
    ck_assert(!jklg_is_timestamp("2026-11-24T10:60:00Z"));
    ck_assert(!jklg_is_timestamp("2026-11-24T10:00:00.Z"));
    ck_assert(!jklg_is_timestamp("2026-11-24T10:00:00+1:00"));
    ck_assert(!jklg_is_timestamp("2026-11-24T10:00:00Z junk"));
    ck_assert(!jklg_is_timestamp("yesterday"));
}
END_TEST

START_TEST(transaction_statuses)
{
    ck_assert(jklg_is_transaction_status("succeeded"));
    ck_assert(jklg_is_transaction_status("partially_refunded"));
    ck_assert(jklg_is_transaction_status("requires_payment"));
    ck_assert(!jklg_is_transaction_status("cancelled"));
    ck_assert(!jklg_is_transaction_status("SUCCEEDED"));
    ck_assert(!jklg_is_transaction_status(""));
    ck_assert(!jklg_is_transaction_status(NULL));
}
END_TEST

START_TEST(utf8_code_points)
{
    ck_assert_uint_eq(jklg_utf8_chars(""), 0);
    ck_assert_uint_eq(jklg_utf8_chars("abc"), 3);
    ck_assert_uint_eq(jklg_utf8_chars("\xc3\xa9t\xc3\xa9"), 3);
    ck_assert_uint_eq(jklg_utf8_chars("\xe2\x9c\x88"), 1);
    ck_assert_uint_eq(jklg_utf8_chars("\xf0\x9f\x8f\x96"), 1);
}
END_TEST

#define CURSOR_ID "8dd41fcc-5f0e-4a3b-9a37-2b6a0c1e4d55"

static const char *cursor_of(const char *text)
{
    return jklg_b64url_encode(test_pool, (const unsigned char *)text,
                              strlen(text));
}

static int cursor_ok(const char *text)
{
    const char *time = NULL, *id = NULL;

    return jklg_cursor_parse(test_pool, cursor_of(text), &time, &id);
}

START_TEST(cursors_made_by_sql_parse)
{
    const char *time = NULL, *id = NULL;

    ck_assert(jklg_cursor_parse(test_pool,
                  cursor_of("2026-11-24T10:00:00.123456|" CURSOR_ID),
                  &time, &id));
    ck_assert_str_eq(time, "2026-11-24T10:00:00.123456");
    ck_assert_str_eq(id, CURSOR_ID);
    ck_assert(cursor_ok("2028-02-29T23:59:59.999999|" CURSOR_ID));
    ck_assert(cursor_ok("2000-02-29T00:00:00.000000|" CURSOR_ID));
}
END_TEST

START_TEST(cursors_with_impossible_dates_refused)
{
    const char *bad[] = {
        "2026-13-01T10:00:00.000000|", "2026-00-01T10:00:00.000000|",
        "2026-02-30T10:00:00.000000|", "2027-02-29T10:00:00.000000|",
        "1900-02-29T10:00:00.000000|", "2026-04-31T10:00:00.000000|",
        "2026-01-00T10:00:00.000000|", "0000-01-01T10:00:00.000000|",
        "2026-11-24T25:00:00.000000|", "2026-11-24T24:00:00.000000|",
        "2026-11-24T10:60:00.000000|", "2026-11-24T10:00:60.000000|",
        "2026-11-24T10:00:99.000000|", NULL
    };

    for (const char **b = bad; *b; b++) {
        ck_assert_msg(!cursor_ok(apr_pstrcat(test_pool, *b, CURSOR_ID, NULL)),
                      "'%s' accepted", *b);
    }
}
END_TEST

START_TEST(cursors_of_other_shapes_refused)
{
    const char *time = NULL, *id = NULL;
    const char *bad[] = {
        "2026-11-24 10:00:00.123456|" CURSOR_ID,
        "2026-11-24T10:00:00,123456|" CURSOR_ID,
        "2026-11-24T10:00:00.12345a|" CURSOR_ID,
        "2026-11-24T10-00-00.123456|" CURSOR_ID,
        "2026/11/24T10:00:00.123456|" CURSOR_ID,
        "+026-11-24T10:00:00.123456|" CURSOR_ID,
        "2026-11-24T10:00:00.123456:" CURSOR_ID,
        "2026-11-24T10:00:00.123456|8dd41fcc-5f0e-4a3b-9a37-2b6a0c1e4d5g",
        "2026-11-24T10:00:00.123456|------------------------------------",
        "2026-11-24T10:00:00.123456|" CURSOR_ID "0",
        "2026-11-24T10:00:00.12345|" CURSOR_ID,
        "", NULL
    };

    for (const char **b = bad; *b; b++) {
        ck_assert_msg(!cursor_ok(*b), "'%s' accepted", *b);
    }
    ck_assert(!jklg_cursor_parse(test_pool, "garbage!", &time, &id));
    ck_assert(!jklg_cursor_parse(test_pool, NULL, &time, &id));
    ck_assert_ptr_null(time);
    ck_assert_ptr_null(id);
}
END_TEST

Suite *suite_validate(void)
{
    Suite *s = suite_create("validate");
    TCase *tc = tcase_create("core");

    tcase_add_checked_fixture(tc, test_pool_setup, teardown);
    tcase_add_test(tc, unknown_members_are_problems);
    tcase_add_test(tc, text_is_trimmed_and_bounded_in_characters);
    tcase_add_test(tc, null_is_refused_unless_nullable);
    tcase_add_test(tc, email_is_normalised);
    tcase_add_test(tc, booleans_only);
    tcase_add_test(tc, phones);
    tcase_add_test(tc, country_language_currency);
    tcase_add_test(tc, uuids);
    tcase_add_test(tc, dates_are_real_days);
    tcase_add_test(tc, timestamps);
    tcase_add_test(tc, transaction_statuses);
    tcase_add_test(tc, utf8_code_points);
    tcase_add_test(tc, cursors_made_by_sql_parse);
    tcase_add_test(tc, cursors_with_impossible_dates_refused);
    tcase_add_test(tc, cursors_of_other_shapes_refused);
    suite_add_tcase(s, tc);
    return s;
}
