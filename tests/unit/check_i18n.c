/* Emails in the customer's language: choosing the language from a BCP 47
 * tag, money and dates per language, the translated built-ins, and the
 * order in which per-language overrides and built-ins are looked up. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <apr_strings.h>
#include <apr_file_io.h>
#include <jansson.h>

#include "suites.h"
#include "jklg_i18n.h"
#include "jklg_template.h"

#define NBSP "\xc2\xa0"
#define EURO "\xe2\x82\xac"

/* -- choosing a language ------------------------------------------------ */

START_TEST(primary_subtag)
{
    ck_assert_str_eq(jklg_lang_primary(test_pool, "pt"), "pt");
    ck_assert_str_eq(jklg_lang_primary(test_pool, "pt-BR"), "pt");
    ck_assert_str_eq(jklg_lang_primary(test_pool, "FR-ca"), "fr");
    ck_assert_str_eq(jklg_lang_primary(test_pool, "zh-Hant-TW"), "zh");
    ck_assert_str_eq(jklg_lang_primary(test_pool, "gsw"), "gsw");
    ck_assert_str_eq(jklg_lang_primary(test_pool, "de-1996"), "de");
}
END_TEST

START_TEST(primary_subtag_refuses_what_is_not_a_tag)
{
    /* Each of these would be unsafe or meaningless as a directory name. */
    const char *bad[] = {"", "e", "../en", "en/..", "de/x", "en-", "en--US",
                         "en_US", "en US", "en\n", "abcdefghi", "en-abcdefghi",
                         "\xc3\xa9n", "1en", "-en", ".", "en-US-"};

    ck_assert_ptr_null(jklg_lang_primary(test_pool, NULL));
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        ck_assert_msg(jklg_lang_primary(test_pool, bad[i]) == NULL,
                      "'%s' accepted", bad[i]);
    }
}
END_TEST

START_TEST(pick_maps_tags_to_builtin_languages)
{
    ck_assert_str_eq(jklg_lang_pick(test_pool, "pt-BR"), "pt");
    ck_assert_str_eq(jklg_lang_pick(test_pool, "pt-PT"), "pt");
    ck_assert_str_eq(jklg_lang_pick(test_pool, "fr-CA"), "fr");
    ck_assert_str_eq(jklg_lang_pick(test_pool, "es-419"), "es");
    ck_assert_str_eq(jklg_lang_pick(test_pool, "DE"), "de");
    ck_assert_str_eq(jklg_lang_pick(test_pool, "en-GB"), "en");
    ck_assert_str_eq(jklg_lang_pick(test_pool, "xx"), "en");
    ck_assert_str_eq(jklg_lang_pick(test_pool, "it"), "en");
    ck_assert_str_eq(jklg_lang_pick(test_pool, NULL), "en");
    ck_assert_str_eq(jklg_lang_pick(test_pool, "../pt"), "en");
}
END_TEST

START_TEST(builtin_languages)
{
    const char *const *l = jklg_lang_builtins();
    int n = 0;

    for (; *l; l++, n++) {
        ck_assert(jklg_lang_is_builtin(*l));
    }
    ck_assert_int_eq(n, 5);
    ck_assert(!jklg_lang_is_builtin("pt-BR"));
    ck_assert(!jklg_lang_is_builtin("EN"));
    ck_assert(!jklg_lang_is_builtin(NULL));
}
END_TEST

/* -- money -------------------------------------------------------------- */

static void assert_money(apr_int64_t minor, const char *currency,
                         const char *lang, const char *want)
{
    const char *got = jklg_money_format_lang(test_pool, minor, currency, lang);

    ck_assert_msg(strcmp(got, want) == 0, "%s %s: got '%s', want '%s'",
                  lang ? lang : "(null)", currency ? currency : "(null)",
                  got, want);
}

START_TEST(money_per_language)
{
    assert_money(123456, "eur", "en", "1,234.56 EUR");
    assert_money(123456, "eur", "pt", "1.234,56" NBSP EURO);
    assert_money(123456, "eur", "es", "1.234,56" NBSP EURO);
    assert_money(123456, "eur", "de", "1.234,56" NBSP EURO);
    assert_money(123456, "eur", "fr", "1" NBSP "234,56" NBSP EURO);
    assert_money(5, "eur", "de", "0,05" NBSP EURO);
    assert_money(99999999, "gbp", "pt", "999.999,99" NBSP "\xc2\xa3");
    assert_money(123456789012LL, "usd", "fr",
                 "1" NBSP "234" NBSP "567" NBSP "890,12" NBSP "USD");
    assert_money(-123450, "eur", "es", "-1.234,50" NBSP EURO);
}
END_TEST

START_TEST(money_keeps_each_currency_decimals)
{
    assert_money(1000, "jpy", "de", "1.000" NBSP "JPY");
    assert_money(12345, "kwd", "fr", "12,345" NBSP "KWD");
    assert_money(1000, "jpy", "en", "1,000 JPY");
    assert_money(APR_INT64_MIN, "eur", "de",
                 "-92.233.720.368.547.758,08" NBSP EURO);
}
END_TEST

START_TEST(money_unknown_language_is_en)
{
    assert_money(123456, "eur", "xx", "1,234.56 EUR");
    assert_money(123456, "eur", NULL, "1,234.56 EUR");
    assert_money(123456, "eur", "pt-BR", "1,234.56 EUR");   /* not picked */
    assert_money(123456, NULL, "de", "1.234,56");
}
END_TEST

/* -- dates -------------------------------------------------------------- */

static void assert_date(const char *iso, const char *lang, const char *want)
{
    const char *got = jklg_date_format_lang(test_pool, iso, lang);

    ck_assert_msg(got && strcmp(got, want) == 0, "%s %s: got '%s', want '%s'",
                  lang, iso, got ? got : "(null)", want);
}

START_TEST(dates_per_language)
{
    assert_date("2026-12-01", "en", "1 December 2026");
    assert_date("2026-12-01", "pt", "1 de dezembro de 2026");
    assert_date("2026-12-01", "es", "1 de diciembre de 2026");
    assert_date("2026-12-01", "fr", "1er d\xc3\xa9" "cembre 2026");
    assert_date("2026-12-01", "de", "1. Dezember 2026");
    assert_date("2027-03-15", "fr", "15 mars 2027");
    assert_date("2027-03-15", "de", "15. M\xc3\xa4rz 2027");
    assert_date("2027-03-15", "pt", "15 de mar\xc3\xa7o de 2027");
    assert_date("2027-08-09", "fr", "9 ao\xc3\xbbt 2027");
    assert_date("2027-09-30", "es", "30 de septiembre de 2027");
    assert_date("2027-01-02", "xx", "2 January 2027");
    assert_date("2027-01-02", NULL, "2 January 2027");
}
END_TEST

START_TEST(timestamps_per_language)
{
    assert_date("2026-11-24T10:05:59Z", "en", "24 November 2026, 10:05 UTC");
    assert_date("2026-11-24T10:05:59Z", "pt",
                "24 de novembro de 2026, 10:05 UTC");
    assert_date("2026-11-24T10:05:59Z", "es",
                "24 de noviembre de 2026, 10:05 UTC");
    assert_date("2026-11-01T00:00:00Z", "fr",
                "1er novembre 2026 \xc3\xa0 00:00 UTC");
    assert_date("2026-11-24T23:59:60Z", "de",
                "24. November 2026, 23:59 UTC");
}
END_TEST

START_TEST(dates_only_exact_and_real)
{
    const char *bad[] = {"", "2026-12-1", "2026-12-01 ", " 2026-12-01",
                         "2026/12/01", "2026-13-01", "2026-00-10",
                         "2026-12-00", "2026-11-31", "2026-02-29",
                         "1900-02-29", "2026-12-01T10:00:00",
                         "2026-12-01T10:00Z", "2026-12-01T24:00:00Z",
                         "2026-12-01T10:60:00Z", "2026-12-01t10:00:00Z",
                         "2026-12-01T10:00:00+01", "JK-2026-0042",
                         "2026-12-01T10:00:00.5Z", "+026-12-01",
                         "2026-12-0a"};

    ck_assert_ptr_null(jklg_date_format_lang(test_pool, NULL, "en"));
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        ck_assert_msg(jklg_date_format_lang(test_pool, bad[i], "de") == NULL,
                      "'%s' taken for a date", bad[i]);
    }
    assert_date("2024-02-29", "en", "29 February 2024");
    assert_date("2000-02-29", "de", "29. Februar 2000");
}
END_TEST

START_TEST(localize_vars_rewrites_money_and_dates_only)
{
    json_t *v = json_pack("{s:{s:i, s:s}, s:s, s:s, s:s, s:i, s:{s:i},"
                          " s:{s:s, s:s}, s:s}",
                          "amount", "minor", 123450, "currency", "eur",
                          "paid_at", "2026-12-01T10:00:00Z",
                          "travel_start", "2027-05-01",
                          "booking_reference", "JK-2026-0042",
                          "expires_hours", 24,
                          "no_currency", "minor", 5,
                          "string_minor", "minor", "5", "currency", "eur",
                          "first_name", "Zo\xc3\xab");

    jklg_i18n_localize_vars(test_pool, v, "pt");
    ck_assert_str_eq(json_string_value(json_object_get(v, "amount")),
                     "1.234,50" NBSP EURO);
    ck_assert_str_eq(json_string_value(json_object_get(v, "paid_at")),
                     "1 de dezembro de 2026, 10:00 UTC");
    ck_assert_str_eq(json_string_value(json_object_get(v, "travel_start")),
                     "1 de maio de 2027");
    ck_assert_str_eq(json_string_value(json_object_get(v,
                                                       "booking_reference")),
                     "JK-2026-0042");
    ck_assert_str_eq(json_string_value(json_object_get(v, "first_name")),
                     "Zo\xc3\xab");
    ck_assert_int_eq(json_integer_value(json_object_get(v, "expires_hours")),
                     24);
    ck_assert(json_is_object(json_object_get(v, "no_currency")));
    ck_assert(json_is_object(json_object_get(v, "string_minor")));
    json_decref(v);

    v = json_pack("{s:{s:i, s:s}}", "amount", "minor", 123450,
                  "currency", "eur");
    jklg_i18n_localize_vars(test_pool, v, "en");
    ck_assert_str_eq(json_string_value(json_object_get(v, "amount")),
                     "1,234.50 EUR");
    json_decref(v);
}
END_TEST

START_TEST(payment_methods_translated)
{
    json_t *v = json_pack("{s:s, s:s}", "payment_method", "bank transfer",
                          "description", "card");

    ck_assert_str_eq(jklg_payment_method_lang("card", "pt"),
                     "cart\xc3\xa3o");
    ck_assert_str_eq(jklg_payment_method_lang("cash", "fr"),
                     "esp\xc3\xa8" "ces");
    ck_assert_str_eq(jklg_payment_method_lang("card", "de"), "Karte");
    ck_assert_str_eq(jklg_payment_method_lang("card", "en"), "card");
    ck_assert_str_eq(jklg_payment_method_lang("card", "xx"), "card");
    ck_assert_str_eq(jklg_payment_method_lang("paypal", "es"), "paypal");
    ck_assert_ptr_null(jklg_payment_method_lang(NULL, "es"));
    jklg_i18n_localize_vars(test_pool, v, "es");
    ck_assert_str_eq(json_string_value(json_object_get(v, "payment_method")),
                     "transferencia bancaria");
    /* Only the payment_method variable: a trip called "card" stays. */
    ck_assert_str_eq(json_string_value(json_object_get(v, "description")),
                     "card");
    json_decref(v);
}
END_TEST

/* -- the translated built-ins ------------------------------------------ */

static const jklg_template_builtin_t *find_builtin(const char *lang,
                                                   const char *name,
                                                   const char *part)
{
    const jklg_template_builtin_t *b;

    for (b = jklg_templates_builtin; b->name; b++) {
        if (!strcmp(b->lang, lang) && !strcmp(b->name, name)
            && !strcmp(b->part, part)) {
            return b;
        }
    }
    return NULL;
}

/* The placeholders of a part, sorted and joined: "{{a}}{{b}}". Repeats
 * count once (a translation may say a name once more or less often). */
static const char *placeholders(const char *s)
{
    json_t *seen = json_object();
    const char *key, *c = s, *result;
    json_t *value;
    void *tmp;
    char *joined = apr_pstrdup(test_pool, "");
    const char **keys;
    size_t n = 0, i, j;

    while ((c = strstr(c, "{{")) != NULL) {
        const char *end = strstr(c, "}}");

        ck_assert_ptr_nonnull(end);
        json_object_set_new(seen, apr_pstrmemdup(test_pool, c + 2,
                                                 (apr_size_t)(end - c - 2)),
                            json_true());
        c = end + 2;
    }
    keys = apr_palloc(test_pool, (json_object_size(seen) + 1) * sizeof(*keys));
    json_object_foreach_safe(seen, tmp, key, value) {
        keys[n++] = apr_pstrdup(test_pool, key);
    }
    for (i = 1; i < n; i++) {
        for (j = i; j > 0 && strcmp(keys[j - 1], keys[j]) > 0; j--) {
            const char *t = keys[j];
            keys[j] = keys[j - 1];
            keys[j - 1] = t;
        }
    }
    for (i = 0; i < n; i++) {
        joined = apr_pstrcat(test_pool, joined, "{{", keys[i], "}}", NULL);
    }
    result = joined;
    json_decref(seen);
    return result;
}

START_TEST(every_template_in_every_language_with_the_same_placeholders)
{
    static const char *const parts[] = {"subject", "txt", "html"};
    const char *const *name, *const *lang;

    for (name = jklg_template_names(); *name; name++) {
        for (lang = jklg_lang_builtins(); *lang; lang++) {
            for (size_t i = 0; i < 3; i++) {
                const jklg_template_builtin_t *en, *tr;

                en = find_builtin("en", *name, parts[i]);
                tr = find_builtin(*lang, *name, parts[i]);
                ck_assert_msg(en != NULL, "no built-in %s.%s", *name,
                              parts[i]);
                ck_assert_msg(tr != NULL,
                              "no built-in mod_jklg/templates/%s/%s.%s",
                              *lang, *name, parts[i]);
                ck_assert_msg(!strcmp(placeholders(en->data),
                                      placeholders(tr->data)),
                              "%s/%s.%s has %s, en has %s", *lang, *name,
                              parts[i], placeholders(tr->data),
                              placeholders(en->data));
                if (strcmp(*lang, "en") != 0) {
                    ck_assert_msg(strcmp(en->data, tr->data) != 0,
                                  "%s/%s.%s is the en text", *lang, *name,
                                  parts[i]);
                }
            }
        }
    }
}
END_TEST

START_TEST(html_declares_its_language)
{
    const jklg_template_builtin_t *b;

    for (b = jklg_templates_builtin; b->name; b++) {
        if (strcmp(b->part, "html") == 0) {
            const char *want = apr_psprintf(test_pool, "<html lang=\"%s\">",
                                            b->lang);
            ck_assert_msg(strstr(b->data, want) != NULL, "%s/%s.html lacks %s",
                          b->lang, b->name, want);
        }
    }
}
END_TEST

/* -- rendering in a language and the override order -------------------- */

static json_t *vars;

static void render_setup(void)
{
    test_pool_setup();
    vars = json_pack("{s:s, s:s, s:s, s:i, s:s}", "first_name", "Ana",
                     "agency_name", "Sunny Trips",
                     "verify_url", "https://travel.example/verify-email?token=T",
                     "expires_hours", 24,
                     "support_email", "help@travel.example");
}

static void render_teardown(void)
{
    json_decref(vars);
    vars = NULL;
    test_pool_teardown();
}

/* Runs while test_pool is being destroyed, so it allocates nothing from
 * it. The name comes from mkdtemp: no quoting issues. */
static apr_status_t remove_tree(void *data)
{
    char cmd[128];

    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", (const char *)data);
    return system(cmd) == 0 ? APR_SUCCESS : APR_EGENERAL;
}

/* A fresh override directory; removed (with its language subdirectories)
 * when the test ends. */
static const char *make_dir(void)
{
    char *dir = apr_pstrdup(test_pool, "/tmp/jklg-i18n-test-XXXXXX");

    ck_assert_ptr_nonnull(mkdtemp(dir));
    apr_pool_cleanup_register(test_pool, dir, remove_tree,
                              apr_pool_cleanup_null);
    return dir;
}

static void put(const char *dir, const char *rel, const char *data)
{
    const char *path = apr_pstrcat(test_pool, dir, "/", rel, NULL);
    const char *slash = strrchr(path, '/');
    apr_file_t *f;

    apr_dir_make_recursive(apr_pstrmemdup(test_pool, path, slash - path),
                           APR_FPROT_OS_DEFAULT, test_pool);
    ck_assert_int_eq(apr_file_open(&f, path, APR_FOPEN_CREATE | APR_FOPEN_WRITE
                                   | APR_FOPEN_TRUNCATE, APR_FPROT_OS_DEFAULT,
                                   test_pool), APR_SUCCESS);
    ck_assert_int_eq(apr_file_write_full(f, data, strlen(data), NULL),
                     APR_SUCCESS);
    apr_file_close(f);
}

static jklg_rendered_t render(const char *dir, const char *lang)
{
    jklg_rendered_t out;
    const char *err = NULL;

    ck_assert_int_eq(jklg_template_render_lang(test_pool, dir, "verification",
                                               lang, vars, &out, &err),
                     APR_SUCCESS);
    ck_assert_ptr_null(err);
    return out;
}

START_TEST(builtin_in_the_customers_language)
{
    ck_assert_str_eq(render(NULL, "pt-BR").subject,
                     "Confirme seu endere\xc3\xa7o de e-mail em Sunny Trips");
    ck_assert_str_eq(render(NULL, "fr-CA").subject,
                     "Confirmez votre adresse e-mail pour Sunny Trips");
    ck_assert_str_eq(render(NULL, "es").subject,
                     "Confirme su direcci\xc3\xb3n de correo electr\xc3\xb3nico"
                     " en Sunny Trips");
    ck_assert_str_eq(render(NULL, "de").subject,
                     "Best\xc3\xa4tigen Sie Ihre E-Mail-Adresse f\xc3\xbcr "
                     "Sunny Trips");
    ck_assert_ptr_nonnull(strstr(render(NULL, "de").text, "Hallo Ana,"));
    ck_assert_ptr_nonnull(strstr(render(NULL, "pt").html, "<html lang=\"pt\">"));
    /* Unknown, absent and malformed tags: en, the same as the old call. */
    ck_assert_str_eq(render(NULL, "xx").subject,
                     "Confirm your email address for Sunny Trips");
    ck_assert_str_eq(render(NULL, NULL).text, render(NULL, "en").text);
    ck_assert_str_eq(render(NULL, "../fr").subject,
                     "Confirm your email address for Sunny Trips");
}
END_TEST

START_TEST(override_order)
{
    const char *dir = make_dir();

    /* 3. Unprefixed overrides are the default language's: en customers
     * get them, a pt customer keeps the pt built-in rather than English. */
    put(dir, "verification.subject", "EN root {{first_name}}\n");
    ck_assert_str_eq(render(dir, "en").subject, "EN root Ana");
    ck_assert_str_eq(render(dir, NULL).subject, "EN root Ana");
    ck_assert_str_eq(render(dir, "xx").subject, "EN root Ana");
    ck_assert_str_eq(render(dir, "pt").subject,
                     "Confirme seu endere\xc3\xa7o de e-mail em Sunny Trips");

    /* 1. An override in the language wins over its built-in, per part. */
    put(dir, "pt/verification.subject", "PT override {{first_name}}\n");
    ck_assert_str_eq(render(dir, "pt-BR").subject, "PT override Ana");
    ck_assert_ptr_nonnull(strstr(render(dir, "pt-BR").text, "Ol\xc3\xa1 Ana,"));
    ck_assert_str_eq(render(dir, "fr").subject,
                     "Confirmez votre adresse e-mail pour Sunny Trips");

    /* en/ wins over the unprefixed file for en. */
    put(dir, "en/verification.subject", "EN dir {{first_name}}\n");
    ck_assert_str_eq(render(dir, "en-GB").subject, "EN dir Ana");
    ck_assert_str_eq(render(dir, "xx").subject, "EN root Ana");

    /* A language without built-ins, added by the agency: its files are
     * used, the rest comes from the en chain. */
    put(dir, "it/verification.subject", "Conferma il tuo indirizzo\n");
    ck_assert_str_eq(render(dir, "it-IT").subject,
                     "Conferma il tuo indirizzo");
    ck_assert_ptr_nonnull(strstr(render(dir, "it").text, "Hello Ana,"));
}
END_TEST

START_TEST(language_override_that_cannot_be_used_is_an_error)
{
    const char *dir = make_dir();
    jklg_rendered_t out;
    const char *err = NULL;

    ck_assert_int_eq(apr_dir_make_recursive(
                         apr_pstrcat(test_pool, dir, "/de/verification.html",
                                     NULL),
                         APR_FPROT_OS_DEFAULT, test_pool), APR_SUCCESS);
    ck_assert_int_ne(jklg_template_render_lang(test_pool, dir, "verification",
                                               "de-AT", vars, &out, &err),
                     APR_SUCCESS);
    ck_assert_ptr_nonnull(err);
    ck_assert_ptr_nonnull(strstr(err, "/de/verification.html"));
    /* Other languages are not affected by the broken de file. */
    render(dir, "fr");
}
END_TEST

START_TEST(language_name_that_is_a_file_is_ignored)
{
    const char *dir = make_dir();

    /* dir/es is a file, so dir/es/verification.* cannot exist: built-in. */
    put(dir, "es", "not a directory");
    ck_assert_ptr_nonnull(strstr(render(dir, "es").text, "Hola Ana:"));
}
END_TEST

Suite *suite_i18n(void)
{
    Suite *s = suite_create("i18n");
    TCase *pick = tcase_create("pick");
    TCase *format = tcase_create("format");
    TCase *builtins = tcase_create("builtins");
    TCase *render_tc = tcase_create("render");

    tcase_add_checked_fixture(pick, test_pool_setup, test_pool_teardown);
    tcase_add_test(pick, primary_subtag);
    tcase_add_test(pick, primary_subtag_refuses_what_is_not_a_tag);
    tcase_add_test(pick, pick_maps_tags_to_builtin_languages);
    tcase_add_test(pick, builtin_languages);
    suite_add_tcase(s, pick);

    tcase_add_checked_fixture(format, test_pool_setup, test_pool_teardown);
    tcase_add_test(format, money_per_language);
    tcase_add_test(format, money_keeps_each_currency_decimals);
    tcase_add_test(format, money_unknown_language_is_en);
    tcase_add_test(format, dates_per_language);
    tcase_add_test(format, timestamps_per_language);
    tcase_add_test(format, dates_only_exact_and_real);
    tcase_add_test(format, localize_vars_rewrites_money_and_dates_only);
    tcase_add_test(format, payment_methods_translated);
    suite_add_tcase(s, format);

    tcase_add_checked_fixture(builtins, test_pool_setup, test_pool_teardown);
    tcase_add_test(builtins,
                   every_template_in_every_language_with_the_same_placeholders);
    tcase_add_test(builtins, html_declares_its_language);
    suite_add_tcase(s, builtins);

    tcase_add_checked_fixture(render_tc, render_setup, render_teardown);
    tcase_add_test(render_tc, builtin_in_the_customers_language);
    tcase_add_test(render_tc, override_order);
    tcase_add_test(render_tc, language_override_that_cannot_be_used_is_an_error);
    tcase_add_test(render_tc, language_name_that_is_a_file_is_ignored);
    suite_add_tcase(s, render_tc);
    return s;
}
