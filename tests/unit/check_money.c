/* Unit tests of jklg_money.c: currencies Stripe accepts, their exponents,
 * amount formatting across the whole int64 range, request amounts. */
#include <string.h>
#include "suites.h"
#include "jklg_money.h"

/* --- currencies ------------------------------------------------------- */

START_TEST(currency_valid_known)
{
    const char *ok[] = {"eur", "usd", "gbp", "jpy", "chf", "kwd", "bhd",
                        "xof", "zmw", "aed", "sek", NULL};

    for (const char **c = ok; *c; c++) {
        ck_assert_msg(jklg_currency_valid(*c), "%s refused", *c);
    }
}
END_TEST

START_TEST(currency_valid_rejects)
{
    const char *bad[] = {"", "eu", "euro", "EUR", "Eur", "xxx", "abc",
                         "eur ", " eur", "e1r", "btc", NULL};

    for (const char **c = bad; *c; c++) {
        ck_assert_msg(!jklg_currency_valid(*c), "'%s' accepted", *c);
    }
    ck_assert(!jklg_currency_valid(NULL));
}
END_TEST

START_TEST(currency_exponents)
{
    const char *zero[] = {"bif", "clp", "djf", "gnf", "jpy", "kmf", "krw",
                          "mga", "pyg", "rwf", "ugx", "vnd", "vuv", "xaf",
                          "xof", "xpf", NULL};
    const char *three[] = {"bhd", "jod", "kwd", "omr", "tnd", NULL};

    for (const char **c = zero; *c; c++) {
        ck_assert_msg(jklg_currency_exponent(*c) == 0, "%s", *c);
        ck_assert_msg(jklg_currency_valid(*c), "%s not valid", *c);
    }
    for (const char **c = three; *c; c++) {
        ck_assert_msg(jklg_currency_exponent(*c) == 3, "%s", *c);
        ck_assert_msg(jklg_currency_valid(*c), "%s not valid", *c);
    }
    ck_assert_int_eq(jklg_currency_exponent("eur"), 2);
    ck_assert_int_eq(jklg_currency_exponent("usd"), 2);
    ck_assert_int_eq(jklg_currency_exponent("JPY"), 0);
    ck_assert_int_eq(jklg_currency_exponent("xyz"), 2);
    ck_assert_int_eq(jklg_currency_exponent(NULL), 2);
    ck_assert_int_eq(jklg_currency_exponent("jpyx"), 2);
}
END_TEST

/* --- formatting ------------------------------------------------------- */

static void assert_format(apr_int64_t minor, const char *currency,
                          const char *expected)
{
    const char *got = jklg_money_format(test_pool, minor, currency);

    ck_assert_msg(strcmp(got, expected) == 0,
                  "%" APR_INT64_T_FMT " %s -> '%s', expected '%s'", minor,
                  currency ? currency : "(null)", got, expected);
}

START_TEST(format_two_decimals)
{
    assert_format(123450, "eur", "1,234.50 EUR");
    assert_format(0, "eur", "0.00 EUR");
    assert_format(5, "usd", "0.05 USD");
    assert_format(99, "usd", "0.99 USD");
    assert_format(100, "usd", "1.00 USD");
    assert_format(99999, "gbp", "999.99 GBP");
    assert_format(100000, "gbp", "1,000.00 GBP");
    assert_format(99999999, "eur", "999,999.99 EUR");
    assert_format(123456789012LL, "eur", "1,234,567,890.12 EUR");
}
END_TEST

START_TEST(format_zero_and_three_decimals)
{
    assert_format(1000, "jpy", "1,000 JPY");
    assert_format(999, "jpy", "999 JPY");
    assert_format(0, "krw", "0 KRW");
    assert_format(1234567, "krw", "1,234,567 KRW");
    assert_format(12345, "kwd", "12.345 KWD");
    assert_format(5, "bhd", "0.005 BHD");
    assert_format(1000000, "omr", "1,000.000 OMR");
}
END_TEST

START_TEST(format_negative)
{
    assert_format(-123450, "eur", "-1,234.50 EUR");
    assert_format(-5, "usd", "-0.05 USD");
    assert_format(-1000, "jpy", "-1,000 JPY");
    assert_format(-12345, "kwd", "-12.345 KWD");
}
END_TEST

START_TEST(format_int64_extremes)
{
    assert_format(APR_INT64_MAX, "eur", "92,233,720,368,547,758.07 EUR");
    assert_format(APR_INT64_MIN, "eur", "-92,233,720,368,547,758.08 EUR");
    assert_format(APR_INT64_MAX, "jpy", "9,223,372,036,854,775,807 JPY");
    assert_format(APR_INT64_MIN, "jpy", "-9,223,372,036,854,775,808 JPY");
    assert_format(APR_INT64_MIN, "kwd", "-9,223,372,036,854,775.808 KWD");
}
END_TEST

START_TEST(format_without_currency)
{
    assert_format(123450, NULL, "1,234.50");
}
END_TEST

/* --- request amounts -------------------------------------------------- */

static apr_status_t parse_text(const char *text, apr_int64_t *out)
{
    json_t *v = json_loads(text, JSON_DECODE_ANY, NULL);
    apr_status_t rv;

    ck_assert_msg(v != NULL, "test JSON '%s' does not parse", text);
    rv = jklg_money_parse_amount(v, out);
    json_decref(v);
    return rv;
}

START_TEST(amount_accepts_integers_in_range)
{
    apr_int64_t out = 0;

    ck_assert_int_eq(parse_text("1", &out), APR_SUCCESS);
    ck_assert(out == 1);
    ck_assert_int_eq(parse_text("123450", &out), APR_SUCCESS);
    ck_assert(out == 123450);
    ck_assert_int_eq(parse_text("99999999", &out), APR_SUCCESS);
    ck_assert(out == JKLG_AMOUNT_MAX);
}
END_TEST

START_TEST(amount_rejects_out_of_range)
{
    apr_int64_t out = 7;

    ck_assert_int_eq(parse_text("0", &out), APR_ERANGE);
    ck_assert_int_eq(parse_text("-1", &out), APR_ERANGE);
    ck_assert_int_eq(parse_text("100000000", &out), APR_ERANGE);
    ck_assert_int_eq(parse_text("99999999999", &out), APR_ERANGE);
    ck_assert_int_eq(parse_text("9223372036854775807", &out), APR_ERANGE);
    ck_assert(out == 7);
}
END_TEST

START_TEST(amount_rejects_other_types)
{
    const char *bad[] = {"12.0", "12.5", "1e3", "\"1000\"", "true", "false",
                         "null", "[1000]", "{\"amount\":1000}", NULL};
    apr_int64_t out = 7;

    for (const char **b = bad; *b; b++) {
        ck_assert_msg(parse_text(*b, &out) == APR_EINVAL, "%s accepted", *b);
    }
    ck_assert_int_eq(jklg_money_parse_amount(NULL, &out), APR_EINVAL);
    ck_assert(out == 7);
}
END_TEST

Suite *suite_money(void)
{
    Suite *s = suite_create("money");
    TCase *tc = tcase_create("core");

    tcase_add_checked_fixture(tc, test_pool_setup, test_pool_teardown);
    tcase_add_test(tc, currency_valid_known);
    tcase_add_test(tc, currency_valid_rejects);
    tcase_add_test(tc, currency_exponents);
    tcase_add_test(tc, format_two_decimals);
    tcase_add_test(tc, format_zero_and_three_decimals);
    tcase_add_test(tc, format_negative);
    tcase_add_test(tc, format_int64_extremes);
    tcase_add_test(tc, format_without_currency);
    tcase_add_test(tc, amount_accepts_integers_in_range);
    tcase_add_test(tc, amount_rejects_out_of_range);
    tcase_add_test(tc, amount_rejects_other_types);
    suite_add_tcase(s, tc);
    return s;
}
