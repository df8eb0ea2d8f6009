/* jklg_rights: the erased customer's placeholder email and the staff
 * search text. */
#include <string.h>
#include "jklg_rights.h"
#include "jklg_util.h"
#include "suites.h"

static const unsigned char ZEROS[JKLG_ERASED_RANDOM_LEN];
static const unsigned char BYTES[JKLG_ERASED_RANDOM_LEN] = {
    0x00, 0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd,
    0xef, 0xfe, 0xdc, 0xba, 0x98, 0x76, 0x54, 0xff
};

START_TEST(erased_email_shape)
{
    const char *e = jklg_erased_email(test_pool, BYTES);

    ck_assert_str_eq(e, "erased+000123456789abcdeffedcba987654ff@invalid");
}
END_TEST

START_TEST(erased_email_from_random_only)
{
    const char *a = jklg_erased_email(test_pool, ZEROS);
    const char *b = jklg_erased_email(test_pool, BYTES);

    ck_assert_str_eq(a, "erased+00000000000000000000000000000000@invalid");
    ck_assert_str_ne(a, b);
}
END_TEST

/* What the customers.email CHECK asks: lowercase, trimmed, <= 254. */
START_TEST(erased_email_fits_the_column)
{
    const char *e = jklg_erased_email(test_pool, BYTES);

    ck_assert_uint_le(strlen(e), 254);
    for (const char *c = e; *c; c++) {
        ck_assert(!(*c >= 'A' && *c <= 'Z'));
        ck_assert(*c != ' ');
    }
}
END_TEST

/* Nobody can register a placeholder: the email check refuses a domain
 * without a dot, so an erased row's address never collides with one. */
START_TEST(erased_email_not_registrable)
{
    ck_assert_ptr_null(jklg_email_normalize(test_pool,
                       jklg_erased_email(test_pool, BYTES)));
}
END_TEST

START_TEST(is_erased_email)
{
    ck_assert(jklg_is_erased_email(jklg_erased_email(test_pool, BYTES)));
    ck_assert(!jklg_is_erased_email(NULL));
    ck_assert(!jklg_is_erased_email("ana@example.com"));
    ck_assert(!jklg_is_erased_email("erased+@invalid"));
    ck_assert(!jklg_is_erased_email(
        "erased+0000000000000000000000000000000G@invalid"));
    ck_assert(!jklg_is_erased_email(
        "erased+00000000000000000000000000000000@invalid.com"));
}
END_TEST

static const char *pattern(const char *q, const char **why)
{
    *why = NULL;
    return jklg_search_pattern(test_pool, q, why);
}

START_TEST(search_trims_and_lowercases)
{
    const char *why;

    ck_assert_str_eq(pattern("  Ana   SILVA\t ", &why), "ana silva");
    ck_assert_str_eq(pattern("Ana@Example.COM", &why), "ana@example.com");
}
END_TEST

START_TEST(search_escapes_like_wildcards)
{
    const char *why;

    ck_assert_str_eq(pattern("100%", &why), "100\\%");
    ck_assert_str_eq(pattern("a_b", &why), "a\\_b");
    ck_assert_str_eq(pattern("a\\b", &why), "a\\\\b");
    ck_assert_str_eq(pattern("%%%", &why), "\\%\\%\\%");
}
END_TEST

START_TEST(search_keeps_utf8)
{
    const char *why;

    /* Non-ASCII letters are lowercased by SQL, not here. */
    ck_assert_str_eq(pattern("\xc3\x89lodie", &why), "\xc3\x89lodie");
    ck_assert_str_eq(pattern("Jo\xc3\xa3o", &why), "jo\xc3\xa3o");
}
END_TEST

START_TEST(search_length_in_characters)
{
    const char *why;
    char longest[JKLG_SEARCH_MAX_CHARS + 2];

    ck_assert_ptr_null(pattern("ab", &why));
    ck_assert_ptr_nonnull(why);
    ck_assert_ptr_null(pattern("   ab   ", &why));
    ck_assert_ptr_null(pattern("", &why));
    /* Three characters, six bytes. */
    ck_assert_ptr_nonnull(pattern("\xc3\xa9\xc3\xa9\xc3\xa9", &why));
    memset(longest, 'a', JKLG_SEARCH_MAX_CHARS);
    longest[JKLG_SEARCH_MAX_CHARS] = '\0';
    ck_assert_ptr_nonnull(pattern(longest, &why));
    longest[JKLG_SEARCH_MAX_CHARS] = 'a';
    longest[JKLG_SEARCH_MAX_CHARS + 1] = '\0';
    ck_assert_ptr_null(pattern(longest, &why));
}
END_TEST

START_TEST(search_rejects_bad_text)
{
    const char *why;

    ck_assert_ptr_null(pattern(NULL, &why));
    ck_assert_ptr_null(pattern("ana\xff", &why));
    ck_assert_str_eq(why, "must be valid UTF-8 text");
    ck_assert_ptr_null(pattern("ana\x01silva", &why));
    ck_assert_str_eq(why, "must not contain control characters");
    ck_assert_ptr_null(pattern("ana\nsilva", &why));
    ck_assert_ptr_null(pattern("ana\x7fsilva", &why));
}
END_TEST

START_TEST(utf8_valid)
{
    ck_assert(jklg_utf8_valid(""));
    ck_assert(jklg_utf8_valid("plain"));
    ck_assert(jklg_utf8_valid("\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80"));
    ck_assert(!jklg_utf8_valid("\xc0\xaf"));             /* overlong */
    ck_assert(!jklg_utf8_valid("\xe0\x80\xaf"));         /* overlong */
    ck_assert(!jklg_utf8_valid("\xed\xa0\x80"));         /* surrogate */
    ck_assert(!jklg_utf8_valid("\xf4\x90\x80\x80"));     /* > U+10FFFF */
    ck_assert(!jklg_utf8_valid("\xc3"));                 /* cut */
    ck_assert(!jklg_utf8_valid("\x80"));                 /* stray */
}
END_TEST

Suite *suite_rights(void)
{
    Suite *s = suite_create("rights");
    TCase *tc = tcase_create("rights");

    tcase_add_checked_fixture(tc, test_pool_setup, test_pool_teardown);
    tcase_add_test(tc, erased_email_shape);
    tcase_add_test(tc, erased_email_from_random_only);
    tcase_add_test(tc, erased_email_fits_the_column);
    tcase_add_test(tc, erased_email_not_registrable);
    tcase_add_test(tc, is_erased_email);
    tcase_add_test(tc, search_trims_and_lowercases);
    tcase_add_test(tc, search_escapes_like_wildcards);
    tcase_add_test(tc, search_keeps_utf8);
    tcase_add_test(tc, search_length_in_characters);
    tcase_add_test(tc, search_rejects_bad_text);
    tcase_add_test(tc, utf8_valid);
    suite_add_tcase(s, tc);
    return s;
}
