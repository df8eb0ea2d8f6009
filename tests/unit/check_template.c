/* Email templates: the renderer, the built-ins and the override directory. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <apr_strings.h>
#include <apr_file_io.h>
#include <jansson.h>

#include "suites.h"
#include "jklg_template.h"

static json_t *vars;

static void vars_setup(void)
{
    test_pool_setup();
    vars = json_object();
}

static void vars_teardown(void)
{
    json_decref(vars);
    vars = NULL;
    test_pool_teardown();
}

static const char *expand(const char *tmpl, int html)
{
    return jklg_template_expand(test_pool, tmpl, vars, html);
}

/* A fresh directory removed with the test pool (flat: tests make no
 * subdirectories other than the ones they remove themselves). */
static apr_status_t remove_dir(void *data)
{
    const char *dir = data;
    apr_dir_t *d;
    apr_finfo_t fi;
    apr_pool_t *p;

    apr_pool_create(&p, NULL);
    if (apr_dir_open(&d, dir, p) == APR_SUCCESS) {
        while (apr_dir_read(&fi, APR_FINFO_NAME | APR_FINFO_TYPE, d)
               == APR_SUCCESS) {
            const char *path = apr_pstrcat(p, dir, "/", fi.name, NULL);

            if (fi.filetype == APR_DIR) {
                apr_dir_remove(path, p);
            }
            else {
                apr_file_remove(path, p);
            }
        }
        apr_dir_close(d);
    }
    apr_dir_remove(dir, p);
    apr_pool_destroy(p);
    return APR_SUCCESS;
}

static const char *make_temp_dir(void)
{
    char *dir = apr_pstrdup(test_pool, "/tmp/jklg-template-test-XXXXXX");

    ck_assert_ptr_nonnull(mkdtemp(dir));
    apr_pool_cleanup_register(test_pool, dir, remove_dir,
                              apr_pool_cleanup_null);
    return dir;
}

static void write_file(const char *dir, const char *name, const char *data,
                       apr_size_t len)
{
    apr_file_t *f;
    const char *path = apr_pstrcat(test_pool, dir, "/", name, NULL);

    ck_assert_int_eq(apr_file_open(&f, path, APR_FOPEN_CREATE | APR_FOPEN_WRITE
                                   | APR_FOPEN_TRUNCATE, APR_FPROT_OS_DEFAULT,
                                   test_pool), APR_SUCCESS);
    ck_assert_int_eq(apr_file_write_full(f, data, len, NULL), APR_SUCCESS);
    apr_file_close(f);
}

START_TEST(html_escape_each_special_character)
{
    ck_assert_str_eq(jklg_html_escape(test_pool, "&"), "&amp;");
    ck_assert_str_eq(jklg_html_escape(test_pool, "<"), "&lt;");
    ck_assert_str_eq(jklg_html_escape(test_pool, ">"), "&gt;");
    ck_assert_str_eq(jklg_html_escape(test_pool, "\""), "&quot;");
    ck_assert_str_eq(jklg_html_escape(test_pool, "'"), "&#39;");
    ck_assert_str_eq(jklg_html_escape(test_pool, "a<b>&'c\"d"),
                     "a&lt;b&gt;&amp;&#39;c&quot;d");
    ck_assert_str_eq(jklg_html_escape(test_pool, "plain é"), "plain é");
    ck_assert_str_eq(jklg_html_escape(test_pool, ""), "");
}
END_TEST

START_TEST(values_escaped_in_html_not_in_text)
{
    json_object_set_new(vars, "v", json_string("<script>alert('x')</script> & \"q\""));
    ck_assert_str_eq(expand("<p>{{v}}</p>", 1),
                     "<p>&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; "
                     "&amp; &quot;q&quot;</p>");
    ck_assert_str_eq(expand("<p>{{v}}</p>", 0),
                     "<p><script>alert('x')</script> & \"q\"</p>");
}
END_TEST

START_TEST(template_text_itself_not_escaped)
{
    ck_assert_str_eq(expand("<a href=\"x\">&amp;</a>", 1),
                     "<a href=\"x\">&amp;</a>");
}
END_TEST

START_TEST(unknown_and_non_scalar_values_render_empty)
{
    json_object_set_new(vars, "t", json_true());
    json_object_set_new(vars, "f", json_false());
    json_object_set_new(vars, "n", json_null());
    json_object_set_new(vars, "o", json_pack("{s:s}", "a", "b"));
    json_object_set_new(vars, "a", json_pack("[i]", 1));
    ck_assert_str_eq(expand("[{{missing}}][{{t}}][{{f}}][{{n}}][{{o}}][{{a}}]", 0),
                     "[][][][][][]");
    ck_assert_str_eq(jklg_template_expand(test_pool, "a{{x}}b", NULL, 1), "ab");
}
END_TEST

START_TEST(numbers_formatted)
{
    json_object_set_new(vars, "i", json_integer(42));
    json_object_set_new(vars, "neg", json_integer(-7));
    json_object_set_new(vars, "big", json_integer(9007199254740993LL));
    json_object_set_new(vars, "half", json_real(12.5));
    json_object_set_new(vars, "tenth", json_real(0.1));
    json_object_set_new(vars, "whole", json_real(3.0));
    ck_assert_str_eq(expand("{{i}} {{neg}} {{big}}", 0),
                     "42 -7 9007199254740993");
    ck_assert_str_eq(expand("{{half}} {{tenth}} {{whole}}", 0), "12.5 0.1 3");
}
END_TEST

START_TEST(values_never_rescanned)
{
    json_object_set_new(vars, "a", json_string("{{b}}"));
    json_object_set_new(vars, "b", json_string("SECRET"));
    ck_assert_str_eq(expand("x{{a}}y", 0), "x{{b}}y");
    ck_assert_str_eq(expand("x{{a}}y", 1), "x{{b}}y");
}
END_TEST

START_TEST(placeholder_syntax)
{
    json_object_set_new(vars, "name", json_string("Anna"));
    json_object_set_new(vars, "first_name2", json_string("B"));
    ck_assert_str_eq(expand("{{name}}", 0), "Anna");
    ck_assert_str_eq(expand("{{ name }}|{{name  }}|{{  name}}", 0),
                     "Anna|Anna|Anna");
    ck_assert_str_eq(expand("{{first_name2}}", 0), "B");
    ck_assert_str_eq(expand("{{{name}}}", 0), "{Anna}");
    ck_assert_str_eq(expand("{{na me}} {{}} {{ }} {{na-me}}", 0),
                     "{{na me}} {{}} {{ }} {{na-me}}");
    ck_assert_str_eq(expand("}} { } {name}", 0), "}} { } {name}");
    ck_assert_str_eq(expand("", 0), "");
}
END_TEST

START_TEST(unterminated_braces_stay_literal)
{
    json_object_set_new(vars, "name", json_string("Anna"));
    ck_assert_str_eq(expand("Hello {{name", 0), "Hello {{name");
    ck_assert_str_eq(expand("Hello {{name}", 0), "Hello {{name}");
    ck_assert_str_eq(expand("{{", 0), "{{");
    ck_assert_str_eq(expand("a {{ b {{name}} c", 0), "a {{ b Anna c");
    ck_assert_str_eq(expand("{{name}} {{", 1), "Anna {{");
}
END_TEST

START_TEST(known_names)
{
    const char *const *n = jklg_template_names();
    int count = 0;

    for (; *n; n++) {
        ck_assert(jklg_template_known(*n));
        count++;
    }
    ck_assert_int_eq(count, 13);
    ck_assert(jklg_template_known("verification"));
    ck_assert(jklg_template_known("payment_receipt"));
    ck_assert(!jklg_template_known("../verification"));
    ck_assert(!jklg_template_known("Verification"));
    ck_assert(!jklg_template_known(""));
    ck_assert(!jklg_template_known(NULL));
}
END_TEST

static json_t *realistic_vars(void)
{
    return json_pack("{s:s, s:s, s:s, s:s, s:s, s:i, s:s, s:i, s:s, s:s,"
                     " s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s,"
                     " s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:i, s:s, s:s,"
                     " s:s, s:s, s:s, s:s, s:s, s:s, s:s}",
                     "first_name", "Zoë",
                     "public_url", "https://travel.example",
                     "agency_name", "Sunny Trips & Co",
                     "support_email", "help@travel.example",
                     "verify_url", "https://travel.example/verify-email?token=Vt0k&x=1",
                     "expires_hours", 24,
                     "reset_url", "https://travel.example/reset-password/Rt0k",
                     "expires_minutes", 60,
                     "booking_reference", "JK-2026-0042",
                     "description", "Lisbon, 5 nights <sea view>",
                     "travel_start", "2026-11-24",
                     "travel_end", "2026-11-29",
                     "amount_total", "1,234.50 EUR",
                     "booking_url", "https://travel.example/bookings/0042",
                     "amount", "500.00 EUR",
                     "payment_method", "Visa ending 4242",
                     "transaction_id", "pi_3Pabc",
                     "paid_at", "2026-11-24 10:00 UTC",
                     "amount_paid", "500.00 EUR",
                     "amount_outstanding", "734.50 EUR",
                     "login_url", "https://travel.example/login",
                     "changed_at", "2026-11-24 10:05 UTC",
                     "sent_at", "2026-11-24 10:10 UTC",
                     "signed_in_at", "2026-11-24 10:15 UTC",
                     "ip", "203.0.113.9",
                     "browser", "Firefox",
                     "secure_url", "https://travel.example/secure-account?token=St0k",
                     "expires_days", 7,
                     "new_email", "new@travel.example",
                     "confirm_url", "https://travel.example/confirm-email-change?token=Ct0k",
                     "revert_url", "https://travel.example/revert-email-change?token=Xt0k",
                     "requested_at", "2026-11-24 10:20 UTC",
                     "refund_amount", "987.65 EUR",
                     "fee", "25.00 EUR",
                     "due_date", "2027-03-20",
                     "pay_url", "https://travel.example/booking/42/pay",
                     "reason", "your card was declined");
}

/* A value each template must show in both text and html, so that a
 * template that lost its link or its amount fails here. */
static const struct {
    const char *name;
    const char *text_has;
    const char *html_has;
} must_show[] = {
    {"verification", "verify-email?token=Vt0k&x=1",
     "href=\"https://travel.example/verify-email?token=Vt0k&amp;x=1\""},
    {"password_reset", "reset-password/Rt0k", "reset-password/Rt0k"},
    {"booking_confirmation", "1,234.50 EUR", "&lt;sea view&gt;"},
    {"payment_receipt", "734.50 EUR", "pi_3Pabc"},
    {"account_exists", "https://travel.example/login", "reset-password/Rt0k"},
    {"password_changed", "2026-11-24 10:05 UTC", "reset-password/Rt0k"},
    {"test", "2026-11-24 10:10 UTC", "2026-11-24 10:10 UTC"},
    {"new_sign_in", "secure-account?token=St0k", "203.0.113.9"},
    {"email_change_confirm", "confirm-email-change?token=Ct0k",
     "new@travel.example"},
    {"email_change_notice", "revert-email-change?token=Xt0k",
     "new@travel.example"},
    {"cancellation", "987.65 EUR", "25.00 EUR"},
    {"payment_reminder", "2027-03-20", "booking/42/pay"},
    {"payment_action", "your card was declined", "booking/42/pay"},
};

START_TEST(every_template_renders)
{
    json_t *v = realistic_vars();
    const char *const *n;
    size_t i;

    ck_assert_ptr_nonnull(v);
    for (n = jklg_template_names(); *n; n++) {
        jklg_rendered_t out;
        const char *err = NULL;

        ck_assert_int_eq(jklg_template_render(test_pool, NULL, *n, v, &out,
                                              &err), APR_SUCCESS);
        ck_assert_ptr_null(err);
        ck_assert_msg(strlen(out.subject) > 5, "%s: empty subject", *n);
        ck_assert_msg(strpbrk(out.subject, "\r\n\t") == NULL,
                      "%s: subject has a line break", *n);
        ck_assert_msg(strlen(out.text) > 50, "%s: empty text", *n);
        ck_assert_msg(strstr(out.html, "<html") != NULL, "%s: no html", *n);
        ck_assert_msg(strstr(out.text, "{{") == NULL
                      && strstr(out.html, "{{") == NULL
                      && strstr(out.subject, "{{") == NULL,
                      "%s: placeholder left", *n);
        ck_assert_msg(strstr(out.html, "Sunny Trips &amp; Co") != NULL,
                      "%s: agency name not escaped in html", *n);
        ck_assert_msg(strstr(out.html, "<img") == NULL
                      && strstr(out.html, "<script") == NULL
                      && strstr(out.html, "<link") == NULL,
                      "%s: external resources in html", *n);
    }
    for (i = 0; i < sizeof(must_show) / sizeof(must_show[0]); i++) {
        jklg_rendered_t out;
        const char *err;

        ck_assert_int_eq(jklg_template_render(test_pool, NULL,
                                              must_show[i].name, v, &out,
                                              &err), APR_SUCCESS);
        ck_assert_msg(strstr(out.text, must_show[i].text_has) != NULL,
                      "%s text lacks %s", must_show[i].name,
                      must_show[i].text_has);
        ck_assert_msg(strstr(out.html, must_show[i].html_has) != NULL,
                      "%s html lacks %s", must_show[i].name,
                      must_show[i].html_has);
    }
    json_decref(v);
}
END_TEST

/* The variables docs/email-templates.md promises; a placeholder outside
 * these in a built-in is a typo that would render empty. */
static const char *const common_vars[] = {
    "first_name", "public_url", "agency_name", "support_email", NULL
};
static const struct {
    const char *name;
    const char *vars[8];
} documented[] = {
    {"verification", {"verify_url", "expires_hours", NULL}},
    {"password_reset", {"reset_url", "expires_minutes", NULL}},
    {"booking_confirmation", {"booking_reference", "description",
     "travel_start", "travel_end", "amount_total", "booking_url", NULL}},
    {"payment_receipt", {"booking_reference", "amount", "payment_method",
     "transaction_id", "paid_at", "amount_paid", "amount_outstanding"}},
    {"account_exists", {"login_url", "reset_url", NULL}},
    {"password_changed", {"changed_at", "reset_url", NULL}},
    {"test", {"sent_at", NULL}},
    {"new_sign_in", {"signed_in_at", "ip", "browser", "secure_url",
     "expires_days", NULL}},
    {"email_change_confirm", {"new_email", "confirm_url", "expires_hours",
     NULL}},
    {"email_change_notice", {"new_email", "requested_at", "revert_url",
     "expires_days", NULL}},
    {"cancellation", {"booking_reference", "description", "travel_start",
     "refund_amount", "fee", "booking_url", NULL}},
    {"payment_reminder", {"booking_reference", "amount", "due_date",
     "pay_url", NULL}},
    {"payment_action", {"booking_reference", "amount", "reason", "pay_url",
     NULL}},
};

static int is_documented(const char *tmpl, const char *var)
{
    size_t i, j;

    for (i = 0; common_vars[i]; i++) {
        if (strcmp(common_vars[i], var) == 0) {
            return 1;
        }
    }
    for (i = 0; i < sizeof(documented) / sizeof(documented[0]); i++) {
        if (strcmp(documented[i].name, tmpl) != 0) {
            continue;
        }
        for (j = 0; j < 8 && documented[i].vars[j]; j++) {
            if (strcmp(documented[i].vars[j], var) == 0) {
                return 1;
            }
        }
    }
    return 0;
}

START_TEST(builtins_use_documented_variables_only)
{
    const jklg_template_builtin_t *b;
    int parts = 0;

    for (b = jklg_templates_builtin; b->name; b++) {
        const char *c = b->data;

        ck_assert(jklg_template_known(b->name));
        ck_assert_uint_eq(strlen(b->data), b->len);
        while ((c = strstr(c, "{{")) != NULL) {
            const char *end = strstr(c, "}}");
            char *var;

            ck_assert_ptr_nonnull(end);
            var = apr_pstrmemdup(test_pool, c + 2, (apr_size_t)(end - c - 2));
            ck_assert_msg(is_documented(b->name, var),
                          "%s.%s uses undocumented {{%s}}", b->name, b->part,
                          var);
            c = end + 2;
        }
        /* Translations: tests/unit/check_i18n.c checks each en part has
         * one in every language, with the same placeholders. */
        parts += strcmp(b->lang, "en") == 0;
    }
    ck_assert_int_eq(parts, 13 * 3);
}
END_TEST

START_TEST(subject_line_breaks_become_spaces)
{
    jklg_rendered_t out;
    const char *err;

    json_object_set_new(vars, "agency_name",
                        json_string("Evil\r\nBcc: victim@example.org\tX"));
    ck_assert_int_eq(jklg_template_render(test_pool, NULL, "test", vars, &out,
                                          &err), APR_SUCCESS);
    ck_assert_str_eq(out.subject,
                     "Test email from Evil  Bcc: victim@example.org X");
    /* The same value keeps its line break in the text part. */
    ck_assert_ptr_nonnull(strstr(out.text, "Evil\r\nBcc"));
}
END_TEST

START_TEST(override_wins_for_one_part_only)
{
    const char *dir = make_temp_dir();
    jklg_rendered_t out, builtin;
    const char *err;

    json_object_set_new(vars, "first_name", json_string("Anna"));
    json_object_set_new(vars, "verify_url", json_string("https://x/v?t=1"));
    write_file(dir, "verification.txt", "Custom for {{first_name}}: {{verify_url}}\n",
               strlen("Custom for {{first_name}}: {{verify_url}}\n"));
    /* Another template's file must not leak into this one. */
    write_file(dir, "password_reset.html", "<p>other</p>", 12);

    ck_assert_int_eq(jklg_template_render(test_pool, dir, "verification", vars,
                                          &out, &err), APR_SUCCESS);
    ck_assert_int_eq(jklg_template_render(test_pool, NULL, "verification",
                                          vars, &builtin, &err), APR_SUCCESS);
    ck_assert_str_eq(out.text, "Custom for Anna: https://x/v?t=1\n");
    ck_assert_str_eq(out.html, builtin.html);
    ck_assert_str_eq(out.subject, builtin.subject);
}
END_TEST

START_TEST(override_subject_trailing_newline_dropped)
{
    const char *dir = make_temp_dir();
    jklg_rendered_t out;
    const char *err;

    json_object_set_new(vars, "booking_reference", json_string("JK-1"));
    write_file(dir, "payment_receipt.subject", "Paid: {{booking_reference}}\r\n",
               strlen("Paid: {{booking_reference}}\r\n"));
    ck_assert_int_eq(jklg_template_render(test_pool, dir, "payment_receipt",
                                          vars, &out, &err), APR_SUCCESS);
    ck_assert_str_eq(out.subject, "Paid: JK-1");
}
END_TEST

START_TEST(override_that_cannot_be_used_is_an_error)
{
    const char *dir = make_temp_dir();
    jklg_rendered_t out;
    const char *err = NULL;
    char *big;

    ck_assert_int_eq(apr_dir_make(apr_pstrcat(test_pool, dir, "/test.html",
                                              NULL),
                                  APR_FPROT_OS_DEFAULT, test_pool),
                     APR_SUCCESS);
    ck_assert_int_ne(jklg_template_render(test_pool, dir, "test", vars, &out,
                                          &err), APR_SUCCESS);
    ck_assert_ptr_nonnull(err);
    ck_assert_ptr_nonnull(strstr(err, "test.html"));
    ck_assert_ptr_nonnull(strstr(err, "not a regular file"));

    big = apr_palloc(test_pool, 300 * 1024);
    memset(big, 'x', 300 * 1024);
    write_file(dir, "verification.txt", big, 300 * 1024);
    err = NULL;
    ck_assert_int_ne(jklg_template_render(test_pool, dir, "verification", vars,
                                          &out, &err), APR_SUCCESS);
    ck_assert_ptr_nonnull(err);
    ck_assert_ptr_nonnull(strstr(err, "larger than"));
}
END_TEST

START_TEST(missing_override_dir_falls_back_to_builtin)
{
    jklg_rendered_t out;
    const char *err;

    ck_assert_int_eq(jklg_template_render(test_pool, "/nonexistent/jklg-dir",
                                          "test", vars, &out, &err),
                     APR_SUCCESS);
    ck_assert_ptr_nonnull(strstr(out.subject, "Test email"));
    ck_assert_int_eq(jklg_template_render(test_pool, "", "test", vars, &out,
                                          &err), APR_SUCCESS);
}
END_TEST

START_TEST(unknown_template_is_an_error)
{
    jklg_rendered_t out;
    const char *err = NULL;

    ck_assert_int_eq(jklg_template_render(test_pool, NULL, "newsletter", vars,
                                          &out, &err), APR_EINVAL);
    ck_assert_ptr_nonnull(err);
    ck_assert_ptr_nonnull(strstr(err, "newsletter"));
    err = NULL;
    ck_assert_int_eq(jklg_template_render(test_pool, "/tmp", "../etc/passwd",
                                          vars, &out, &err), APR_EINVAL);
    ck_assert_ptr_nonnull(err);
}
END_TEST

Suite *suite_template(void)
{
    Suite *s = suite_create("template");
    TCase *expand_tc = tcase_create("expand");
    TCase *render_tc = tcase_create("render");

    tcase_add_checked_fixture(expand_tc, vars_setup, vars_teardown);
    tcase_add_test(expand_tc, html_escape_each_special_character);
    tcase_add_test(expand_tc, values_escaped_in_html_not_in_text);
    tcase_add_test(expand_tc, template_text_itself_not_escaped);
    tcase_add_test(expand_tc, unknown_and_non_scalar_values_render_empty);
    tcase_add_test(expand_tc, numbers_formatted);
    tcase_add_test(expand_tc, values_never_rescanned);
    tcase_add_test(expand_tc, placeholder_syntax);
    tcase_add_test(expand_tc, unterminated_braces_stay_literal);
    suite_add_tcase(s, expand_tc);

    tcase_add_checked_fixture(render_tc, vars_setup, vars_teardown);
    tcase_add_test(render_tc, known_names);
    tcase_add_test(render_tc, every_template_renders);
    tcase_add_test(render_tc, builtins_use_documented_variables_only);
    tcase_add_test(render_tc, subject_line_breaks_become_spaces);
    tcase_add_test(render_tc, override_wins_for_one_part_only);
    tcase_add_test(render_tc, override_subject_trailing_newline_dropped);
    tcase_add_test(render_tc, override_that_cannot_be_used_is_an_error);
    tcase_add_test(render_tc, missing_override_dir_falls_back_to_builtin);
    tcase_add_test(render_tc, unknown_template_is_an_error);
    suite_add_tcase(s, render_tc);
    return s;
}
