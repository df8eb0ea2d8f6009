/* Unit tests of jklg_util.c: durations, sizes, integers, secrets, email
 * normalisation. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <apr_strings.h>
#include "suites.h"
#include "jklg_util.h"

/* --- durations -------------------------------------------------------- */

static void assert_duration(const char *s, apr_interval_time_t expected)
{
    apr_interval_time_t out = -1;

    ck_assert_msg(jklg_parse_duration(s, &out) == APR_SUCCESS,
                  "'%s' refused", s);
    ck_assert_msg(out == expected, "'%s' -> %" APR_INT64_T_FMT
                  ", expected %" APR_INT64_T_FMT, s, (apr_int64_t)out,
                  (apr_int64_t)expected);
}

static void assert_bad_duration(const char *s)
{
    apr_interval_time_t out = 12345;

    ck_assert_msg(jklg_parse_duration(s, &out) != APR_SUCCESS,
                  "'%s' accepted", s ? s : "(null)");
    ck_assert_msg(out == 12345, "'%s' wrote the output on failure",
                  s ? s : "(null)");
}

START_TEST(duration_units)
{
    assert_duration("3600", apr_time_from_sec(3600));
    assert_duration("1", apr_time_from_sec(1));
    assert_duration("500ms", 500 * 1000);
    assert_duration("1ms", 1000);
    assert_duration("30s", apr_time_from_sec(30));
    assert_duration("90m", apr_time_from_sec(90 * 60));
    assert_duration("12h", apr_time_from_sec(12 * 3600));
    assert_duration("7d", apr_time_from_sec(7 * 86400));
}
END_TEST

START_TEST(duration_large)
{
    /* 100000 days fits comfortably in microseconds. */
    assert_duration("100000d", (apr_interval_time_t)100000 * 86400
                               * APR_USEC_PER_SEC);
    /* The largest whole-second value that fits. */
    assert_duration("9223372036854s",
                    (apr_interval_time_t)9223372036854LL * APR_USEC_PER_SEC);
}
END_TEST

START_TEST(duration_rejects)
{
    static const char *const bad[] = {
        "", "0", "0s", "0ms", "-5", "-5s", "+5", " 5", "5 ", "5 s", "7x",
        "1.5h", "s", "ms", "h", "5S", "5H", "5sec", "5mss", "5hm", "0x10",
        "1e3", "5d5",
        "99999999999999999d",       /* overflows when multiplied */
        "9223372036855s",           /* just over INT64_MAX microseconds */
        "99999999999999999999",     /* does not even fit in 64 bits */
        "9223372036854775808ms",
    };

    for (apr_size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_bad_duration(bad[i]);
    }
    assert_bad_duration(NULL);
}
END_TEST

/* --- sizes ------------------------------------------------------------ */

static void assert_size(const char *s, apr_off_t expected)
{
    apr_off_t out = -1;

    ck_assert_msg(jklg_parse_size(s, &out) == APR_SUCCESS, "'%s' refused", s);
    ck_assert_msg(out == expected, "'%s' -> %" APR_OFF_T_FMT
                  ", expected %" APR_OFF_T_FMT, s, out, expected);
}

START_TEST(size_units)
{
    assert_size("65536", 65536);
    assert_size("1", 1);
    assert_size("64k", 65536);
    assert_size("64K", 65536);
    assert_size("1m", 1048576);
    assert_size("1M", 1048576);
    assert_size("10m", 10 * 1048576);
}
END_TEST

START_TEST(size_rejects)
{
    static const char *const bad[] = {
        "", "0", "0k", "64kb", "64KB", "-1", "x", "k", "+1", " 1", "1 ",
        "1.5m", "1g", "1mk", "64 k",
        "99999999999999999999",
        "9223372036854775807k",
    };

    for (apr_size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        apr_off_t out = 777;
        ck_assert_msg(jklg_parse_size(bad[i], &out) != APR_SUCCESS,
                      "'%s' accepted", bad[i]);
        ck_assert_msg(out == 777, "'%s' wrote the output on failure", bad[i]);
    }
    {
        apr_off_t out;
        ck_assert_int_ne(jklg_parse_size(NULL, &out), APR_SUCCESS);
    }
}
END_TEST

/* --- integers --------------------------------------------------------- */

START_TEST(int_bounds)
{
    long out = -1;

    ck_assert_int_eq(jklg_parse_int("5", 1, 10, &out), APR_SUCCESS);
    ck_assert_int_eq(out, 5);
    ck_assert_int_eq(jklg_parse_int("1", 1, 10, &out), APR_SUCCESS);
    ck_assert_int_eq(out, 1);
    ck_assert_int_eq(jklg_parse_int("10", 1, 10, &out), APR_SUCCESS);
    ck_assert_int_eq(out, 10);
    ck_assert_int_eq(jklg_parse_int("0", 0, 0, &out), APR_SUCCESS);
    ck_assert_int_eq(out, 0);

    out = 99;
    ck_assert_int_ne(jklg_parse_int("0", 1, 10, &out), APR_SUCCESS);
    ck_assert_int_ne(jklg_parse_int("11", 1, 10, &out), APR_SUCCESS);
    ck_assert_int_ne(jklg_parse_int("100", 1, 10, &out), APR_SUCCESS);
    ck_assert_int_eq(out, 99);
}
END_TEST

START_TEST(int_rejects)
{
    static const char *const bad[] = {
        "", "-1", "+1", " 1", "1 ", "1x", "x", "1.0", "0x5", "1e2",
        "99999999999999999999999",
    };
    long out = 99;

    for (apr_size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        ck_assert_msg(jklg_parse_int(bad[i], 0, 1000, &out) != APR_SUCCESS,
                      "'%s' accepted", bad[i]);
    }
    ck_assert_int_ne(jklg_parse_int(NULL, 0, 1000, &out), APR_SUCCESS);
    /* "-1" is refused even when the range would allow it: positive only. */
    ck_assert_int_ne(jklg_parse_int("-1", -10, 10, &out), APR_SUCCESS);
    ck_assert_int_eq(out, 99);
}
END_TEST

START_TEST(int_long_range)
{
    long out = 0;
    const char *max = apr_psprintf(test_pool, "%ld", (long)LONG_MAX);

    ck_assert_int_eq(jklg_parse_int(max, 0, LONG_MAX, &out), APR_SUCCESS);
    ck_assert(out == LONG_MAX);
    ck_assert_int_ne(jklg_parse_int(max, 0, LONG_MAX - 1, &out),
                     APR_SUCCESS);
}
END_TEST

/* --- secrets ---------------------------------------------------------- */

/* Writes content to a fresh temporary file and returns its path. */
static const char *temp_file(const char *content, apr_size_t len)
{
    char *path = apr_pstrdup(test_pool, "/tmp/jklg-secret-XXXXXX");
    int fd = mkstemp(path);

    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(write(fd, content, len), (ssize_t)len);
    close(fd);
    return path;
}

START_TEST(secret_plain)
{
    const char *out = NULL, *err = NULL;

    ck_assert_int_eq(jklg_resolve_secret(test_pool, "s3cr3t-value", &out,
                                         &err), APR_SUCCESS);
    ck_assert_str_eq(out, "s3cr3t-value");
    ck_assert_ptr_null(err);

    /* Prefixes must be exact. */
    ck_assert_int_eq(jklg_resolve_secret(test_pool, "FILE:/etc/passwd", &out,
                                         &err), APR_SUCCESS);
    ck_assert_str_eq(out, "FILE:/etc/passwd");
    ck_assert_int_eq(jklg_resolve_secret(test_pool, "envNAME", &out, &err),
                     APR_SUCCESS);
    ck_assert_str_eq(out, "envNAME");
}
END_TEST

START_TEST(secret_env_set)
{
    const char *out = NULL, *err = NULL;

    ck_assert_int_eq(setenv("JKLG_TEST_SECRET", "from-the-env", 1), 0);
    ck_assert_int_eq(jklg_resolve_secret(test_pool, "env:JKLG_TEST_SECRET",
                                         &out, &err), APR_SUCCESS);
    ck_assert_str_eq(out, "from-the-env");
    unsetenv("JKLG_TEST_SECRET");
}
END_TEST

START_TEST(secret_env_unset)
{
    const char *out = "untouched", *err = NULL;

    unsetenv("JKLG_TEST_SECRET_UNSET");
    ck_assert_int_ne(jklg_resolve_secret(test_pool,
                                         "env:JKLG_TEST_SECRET_UNSET",
                                         &out, &err), APR_SUCCESS);
    ck_assert_ptr_nonnull(err);
    ck_assert_msg(strstr(err, "JKLG_TEST_SECRET_UNSET") != NULL,
                  "error does not name the variable: %s", err);
    ck_assert_str_eq(out, "untouched");
}
END_TEST

START_TEST(secret_env_empty)
{
    const char *out = "untouched", *err = NULL;

    ck_assert_int_eq(setenv("JKLG_TEST_SECRET_EMPTY", "", 1), 0);
    ck_assert_int_ne(jklg_resolve_secret(test_pool,
                                         "env:JKLG_TEST_SECRET_EMPTY",
                                         &out, &err), APR_SUCCESS);
    ck_assert_ptr_nonnull(err);
    ck_assert_str_eq(out, "untouched");
    unsetenv("JKLG_TEST_SECRET_EMPTY");
}
END_TEST

START_TEST(secret_file_first_line)
{
    static const char content[] = "first-line-secret\nsecond line\n";
    const char *path = temp_file(content, sizeof(content) - 1);
    const char *out = NULL, *err = NULL;

    ck_assert_int_eq(jklg_resolve_secret(test_pool,
                                         apr_pstrcat(test_pool, "file:",
                                                     path, NULL),
                                         &out, &err), APR_SUCCESS);
    ck_assert_str_eq(out, "first-line-secret");
    unlink(path);
}
END_TEST

START_TEST(secret_file_trailing_newline)
{
    const char *out = NULL, *err = NULL;
    const char *lf = temp_file("pw-lf\n", 6);
    const char *crlf = temp_file("pw-crlf\r\n", 9);
    const char *none = temp_file("pw-none", 7);

    ck_assert_int_eq(jklg_resolve_secret(test_pool,
                                         apr_pstrcat(test_pool, "file:", lf,
                                                     NULL), &out, &err),
                     APR_SUCCESS);
    ck_assert_str_eq(out, "pw-lf");
    ck_assert_int_eq(jklg_resolve_secret(test_pool,
                                         apr_pstrcat(test_pool, "file:", crlf,
                                                     NULL), &out, &err),
                     APR_SUCCESS);
    ck_assert_str_eq(out, "pw-crlf");
    ck_assert_int_eq(jklg_resolve_secret(test_pool,
                                         apr_pstrcat(test_pool, "file:", none,
                                                     NULL), &out, &err),
                     APR_SUCCESS);
    ck_assert_str_eq(out, "pw-none");
    unlink(lf);
    unlink(crlf);
    unlink(none);
}
END_TEST

START_TEST(secret_file_missing)
{
    const char *path = "/tmp/jklg-no-such-dir/secret-that-is-not-there";
    const char *out = "untouched", *err = NULL;

    ck_assert_int_ne(jklg_resolve_secret(test_pool,
                                         apr_pstrcat(test_pool, "file:",
                                                     path, NULL),
                                         &out, &err), APR_SUCCESS);
    ck_assert_ptr_nonnull(err);
    ck_assert_msg(strlen(err) > 0, "empty error");
    ck_assert_msg(strstr(err, path) != NULL, "error does not name the file: %s",
                  err);
    ck_assert_str_eq(out, "untouched");
}
END_TEST

START_TEST(secret_file_empty_first_line)
{
    /* The secret is on line 2, which is not read; the error must not
     * show any of the file's content. */
    static const char content[] = "\nhunter2-do-not-leak\n";
    const char *path = temp_file(content, sizeof(content) - 1);
    const char *out = "untouched", *err = NULL;

    ck_assert_int_ne(jklg_resolve_secret(test_pool,
                                         apr_pstrcat(test_pool, "file:",
                                                     path, NULL),
                                         &out, &err), APR_SUCCESS);
    ck_assert_ptr_nonnull(err);
    ck_assert_msg(strstr(err, "hunter2") == NULL, "secret leaked: %s", err);
    ck_assert_str_eq(out, "untouched");
    unlink(path);
}
END_TEST

START_TEST(secret_file_empty)
{
    const char *path = temp_file("", 0);
    const char *out = "untouched", *err = NULL;

    ck_assert_int_ne(jklg_resolve_secret(test_pool,
                                         apr_pstrcat(test_pool, "file:",
                                                     path, NULL),
                                         &out, &err), APR_SUCCESS);
    ck_assert_ptr_nonnull(err);
    ck_assert_str_eq(out, "untouched");
    unlink(path);
}
END_TEST

START_TEST(secret_file_is_directory)
{
    const char *out = "untouched", *err = NULL;

    ck_assert_int_ne(jklg_resolve_secret(test_pool, "file:/tmp", &out, &err),
                     APR_SUCCESS);
    ck_assert_ptr_nonnull(err);
    ck_assert_str_eq(out, "untouched");
}
END_TEST

/* --- email ------------------------------------------------------------ */

static void assert_email(const char *raw, const char *expected)
{
    const char *got = jklg_email_normalize(test_pool, raw);

    ck_assert_msg(got != NULL, "'%s' refused", raw);
    ck_assert_msg(!strcmp(got, expected), "'%s' -> '%s', expected '%s'",
                  raw, got, expected);
}

static void assert_bad_email(const char *raw)
{
    const char *got = jklg_email_normalize(test_pool, raw);

    ck_assert_msg(got == NULL, "'%s' accepted as '%s'", raw, got);
}

START_TEST(email_normalizes)
{
    assert_email(" Foo@Example.COM ", "foo@example.com");
    assert_email("foo@example.com", "foo@example.com");
    assert_email("\t\r\n Foo@Example.com\r\n\t ", "foo@example.com");
}
END_TEST

START_TEST(email_accepts)
{
    assert_email("first.last+tag@example.com", "first.last+tag@example.com");
    assert_email("a+b+c@example.com", "a+b+c@example.com");
    assert_email("user@mail.sub.example.co.uk", "user@mail.sub.example.co.uk");
    assert_email("x@a-b.example", "x@a-b.example");
    assert_email("x@1.2.example", "x@1.2.example");
    assert_email("o'brien_99-x@example.org", "o'brien_99-x@example.org");
    assert_email("a@b.co", "a@b.co");
}
END_TEST

START_TEST(email_rejects_shape)
{
    static const char *const bad[] = {
        "", "   ", "foo.example.com", "@example.com", "foo@", "foo@@example.com",
        "a@b@example.com",
        ".foo@example.com", "foo.@example.com", "fo..o@example.com",
        "foo@localhost", "foo@example", "foo@.example.com",
        "foo@example.com.", "foo@example..com",
        "foo@-example.com", "foo@example-.com", "foo@sub.-x.com",
        "foo@sub.x-.com", "foo@example.-com", "foo@example.com-",
        "foo@exa_mple.com", "\"foo\"@example.com", "foo(c)@example.com",
        "foo@[127.0.0.1]",
    };

    for (apr_size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_bad_email(bad[i]);
    }
    ck_assert_ptr_null(jklg_email_normalize(test_pool, NULL));
}
END_TEST

START_TEST(email_rejects_header_breakers)
{
    static const char *const bad[] = {
        "foo\r\n@example.com", "foo@example.com\r\nBcc: x@evil.example",
        "foo@exam\nple.com", "foo\r@example.com", "foo@example\r.com",
        "foo bar@example.com", "foo@exam ple.com", "foo\t@example.com",
        "foo,bar@example.com", "foo@example.com,bar@example.com",
        "<foo@example.com>", "Foo <foo@example.com>", "foo@example.com>",
        "foo<@example.com", "foo;bar@example.com", "foo:bar@example.com",
        "foo@example.com;", "f\xc3\xb6o@example.com",
    };

    for (apr_size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_bad_email(bad[i]);
    }
}
END_TEST

static char *repeat(char c, int n)
{
    char *s = apr_palloc(test_pool, n + 1);

    memset(s, c, n);
    s[n] = '\0';
    return s;
}

START_TEST(email_local_part_length)
{
    const char *l64 = apr_pstrcat(test_pool, repeat('a', 64), "@example.com",
                                  NULL);
    const char *l65 = apr_pstrcat(test_pool, repeat('a', 65), "@example.com",
                                  NULL);

    assert_email(l64, l64);
    assert_bad_email(l65);
}
END_TEST

START_TEST(email_total_length)
{
    /* local (64) + '@' + domain (63 + '.' + 63 + '.' + 57 + ".com" = 189)
     * = 254 in total. */
    const char *domain254 = apr_pstrcat(test_pool, repeat('b', 63), ".",
                                        repeat('c', 63), ".", repeat('d', 57),
                                        ".com", NULL);
    const char *domain255 = apr_pstrcat(test_pool, repeat('b', 63), ".",
                                        repeat('c', 63), ".", repeat('d', 58),
                                        ".com", NULL);
    const char *ok = apr_pstrcat(test_pool, repeat('a', 64), "@", domain254,
                                 NULL);
    const char *too_long = apr_pstrcat(test_pool, repeat('a', 64), "@",
                                       domain255, NULL);

    ck_assert_uint_eq(strlen(ok), 254);
    ck_assert_uint_eq(strlen(too_long), 255);
    assert_email(ok, ok);
    /* Surrounding whitespace does not count. */
    assert_email(apr_pstrcat(test_pool, "  ", ok, "  ", NULL), ok);
    assert_bad_email(too_long);
    /* Very long input. */
    assert_bad_email(apr_pstrcat(test_pool, repeat('a', 10000), "@example.com",
                                 NULL));
}
END_TEST

START_TEST(email_label_length)
{
    const char *l63 = apr_pstrcat(test_pool, "x@", repeat('b', 63), ".com",
                                  NULL);
    const char *l64 = apr_pstrcat(test_pool, "x@", repeat('b', 64), ".com",
                                  NULL);

    assert_email(l63, l63);
    assert_bad_email(l64);
}
END_TEST

START_TEST(email_input_not_modified)
{
    char raw[] = " Foo@Example.COM ";

    assert_email(raw, "foo@example.com");
    ck_assert_str_eq(raw, " Foo@Example.COM ");
}
END_TEST

/* --- header values to store ------------------------------------------- */

#define FFFD "\xef\xbf\xbd"

static void assert_header(const char *in, apr_size_t max, const char *want)
{
    const char *out = jklg_header_text(test_pool, in, max);

    ck_assert_msg(!strcmp(out, want), "'%s' (max %d) -> '%s', not '%s'",
                  in ? in : "(null)", (int)max, out, want);
    ck_assert_uint_le(strlen(out), max);
}

START_TEST(header_text_valid_kept)
{
    assert_header("Mozilla/5.0 (X11; Linux x86_64) Firefox/128.0", 512,
                  "Mozilla/5.0 (X11; Linux x86_64) Firefox/128.0");
    assert_header("caf\xc3\xa9 \xe2\x9c\x88 \xf0\x9f\x8f\x96", 512,
                  "caf\xc3\xa9 \xe2\x9c\x88 \xf0\x9f\x8f\x96");
    assert_header("", 512, "");
    assert_header(NULL, 512, "");
}
END_TEST

START_TEST(header_text_invalid_replaced)
{
    /* Latin-1 "café", a lone 0xff, a stray continuation byte. */
    assert_header("caf\xe9", 512, "caf" FFFD);
    assert_header("\xff", 512, FFFD);
    assert_header("a\x80z", 512, "a" FFFD "z");
    /* A character cut short: one replacement for the whole stub. */
    assert_header("x\xe2\x9c", 512, "x" FFFD);
    assert_header("x\xf0\x9f\x8f", 512, "x" FFFD);
    assert_header("\xe2\x9cy", 512, FFFD "y");
    /* Overlong, surrogate, beyond U+10FFFF: PostgreSQL refuses them. */
    assert_header("\xc0\xaf", 512, FFFD FFFD);
    assert_header("\xe0\x80\xaf", 512, FFFD FFFD FFFD);
    assert_header("\xed\xa0\x80", 512, FFFD FFFD FFFD);
    assert_header("\xf4\x90\x80\x80", 512, FFFD FFFD FFFD FFFD);
    assert_header("\xf5\x80", 512, FFFD FFFD);
}
END_TEST

START_TEST(header_text_controls_dropped)
{
    assert_header("a\tb\r\nc\x1b[0m\x7f", 512, "abc[0m");
    /* C1 controls are valid UTF-8 but still controls. */
    assert_header("a\xc2\x85" "b\xc2\x9f" "c\xc2\xa0", 512,
                  "abc\xc2\xa0");
}
END_TEST

START_TEST(header_text_cut_on_character_boundary)
{
    assert_header("abcdef", 4, "abcd");
    /* "é" would end at byte 5: it is left out, not cut in two. */
    assert_header("abcd\xc3\xa9", 5, "abcd");
    assert_header("abcd\xc3\xa9", 6, "abcd\xc3\xa9");
    assert_header("ab\xf0\x9f\x8f\x96", 5, "ab");
    /* A replacement takes three bytes like any other character. */
    assert_header("ab\xff", 4, "ab");
    assert_header("ab\xff", 5, "ab" FFFD);
    /* A client's own cut at the limit: valid text of at most max bytes. */
    {
        char ua[601];
        memset(ua, 'a', 511);
        memcpy(ua + 511, "\xe2\x9c\x88", 3);
        ua[514] = '\0';
        ck_assert_uint_eq(strlen(jklg_header_text(test_pool, ua, 512)), 511);
    }
}
END_TEST

Suite *suite_util(void)
{
    Suite *s = suite_create("util");
    TCase *tc = tcase_create("core");

    tcase_add_checked_fixture(tc, test_pool_setup, test_pool_teardown);
    tcase_add_test(tc, duration_units);
    tcase_add_test(tc, duration_large);
    tcase_add_test(tc, duration_rejects);
    tcase_add_test(tc, size_units);
    tcase_add_test(tc, size_rejects);
    tcase_add_test(tc, int_bounds);
    tcase_add_test(tc, int_rejects);
    tcase_add_test(tc, int_long_range);
    tcase_add_test(tc, secret_plain);
    tcase_add_test(tc, secret_env_set);
    tcase_add_test(tc, secret_env_unset);
    tcase_add_test(tc, secret_env_empty);
    tcase_add_test(tc, secret_file_first_line);
    tcase_add_test(tc, secret_file_trailing_newline);
    tcase_add_test(tc, secret_file_missing);
    tcase_add_test(tc, secret_file_empty_first_line);
    tcase_add_test(tc, secret_file_empty);
    tcase_add_test(tc, secret_file_is_directory);
    tcase_add_test(tc, email_normalizes);
    tcase_add_test(tc, email_accepts);
    tcase_add_test(tc, email_rejects_shape);
    tcase_add_test(tc, email_rejects_header_breakers);
    tcase_add_test(tc, email_local_part_length);
    tcase_add_test(tc, email_total_length);
    tcase_add_test(tc, email_label_length);
    tcase_add_test(tc, email_input_not_modified);
    tcase_add_test(tc, header_text_valid_kept);
    tcase_add_test(tc, header_text_invalid_replaced);
    tcase_add_test(tc, header_text_controls_dropped);
    tcase_add_test(tc, header_text_cut_on_character_boundary);
    suite_add_tcase(s, tc);
    return s;
}
