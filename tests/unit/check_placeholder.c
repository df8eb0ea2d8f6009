/* jklg_placeholder: the word CHANGE left in directives' arguments. */
#include <string.h>
#include "jklg_placeholder.h"
#include "suites.h"

static int found(const char *args)
{
    return jklg_placeholder_find(args) != NULL;
}

START_TEST(shipped_placeholders_are_found)
{
    const char *dbd = "\"host=127.0.0.1 dbname=jklg user=jklg password=CHANGE"
                      " connect_timeout=3\"";

    ck_assert_ptr_eq(jklg_placeholder_find(dbd), strstr(dbd, "CHANGE"));
    ck_assert(found("pk_live_CHANGE"));
    ck_assert(found("https://www.CHANGE.example"));
    ck_assert(found("\"JKLG Travel <noreply@CHANGE.example>\""));
    ck_assert(found("smtps://smtp.CHANGE.example:465 noreply@CHANGE.example"
                    " env:JKLG_SMTP_PASSWORD"));
    ck_assert(found("/etc/letsencrypt/live/api.CHANGE.example/privkey.pem"));
    ck_assert(found("CHANGE"));
    ck_assert(found("CHANGE_ME"));
    ck_assert(found("'CHANGE'"));
    ck_assert(found("a-CHANGE-b"));
}
END_TEST

START_TEST(real_values_are_not_refused)
{
    /* The token inside a longer word, or not in capitals. */
    ck_assert(!found("password=EXCHANGE2026"));
    ck_assert(!found("password=CHANGED"));
    ck_assert(!found("password=xCHANGE"));
    ck_assert(!found("pk_live_51HCHANGEab"));
    ck_assert(!found("https://change.travel.test"));
    ck_assert(!found("https://www.Change.example"));
    ck_assert(!found("CHANG"));
    ck_assert(!found("CHANGE7"));
    ck_assert(!found("9CHANGE"));
    ck_assert(!found(""));
    ck_assert(!found(NULL));
}
END_TEST

START_TEST(the_first_whole_word_is_returned)
{
    const char *args = "EXCHANGE CHANGED x=CHANGE y=CHANGE";

    ck_assert_ptr_eq(jklg_placeholder_find(args), strstr(args, "x=") + 2);
}
END_TEST

START_TEST(module_and_dbd_directives_are_checked_everywhere)
{
    ck_assert(jklg_placeholder_checked("JKLGPublicURL", 0));
    ck_assert(jklg_placeholder_checked("jklgmailfrom", 0));
    ck_assert(jklg_placeholder_checked("DBDParams", 0));
    ck_assert(jklg_placeholder_checked("dbdparams", 0));
    /* Others only in the module's own file. */
    ck_assert(!jklg_placeholder_checked("ServerName", 0));
    ck_assert(jklg_placeholder_checked("ServerName", 1));
    ck_assert(jklg_placeholder_checked("<VirtualHost", 1));
    ck_assert(!jklg_placeholder_checked(NULL, 1));
}
END_TEST

START_TEST(key_of_a_parameter_is_named)
{
    const char *dbd = "\"host=db user=jklg password=CHANGE keepalives=1\"";
    const char *quoted = "options='-c x=CHANGE'";
    const char *first = "\"password=CHANGE\"";

    ck_assert_str_eq(jklg_placeholder_key(test_pool, dbd,
                                          jklg_placeholder_find(dbd)),
                     "password");
    ck_assert_str_eq(jklg_placeholder_key(test_pool, first,
                                          jklg_placeholder_find(first)),
                     "password");
    /* Inside a quoted value: the innermost word's key. */
    ck_assert_str_eq(jklg_placeholder_key(test_pool, quoted,
                                          jklg_placeholder_find(quoted)),
                     "x");
}
END_TEST

START_TEST(no_key_and_never_a_value)
{
    const char *url = "https://www.CHANGE.example";
    const char *bare = "CHANGE";
    const char *secret = "password=s3cr3t=CHANGE";
    const char *odd = "pass/w0rd=CHANGE";
    const char *empty = "=CHANGE";

    ck_assert_ptr_null(jklg_placeholder_key(test_pool, url,
                                            jklg_placeholder_find(url)));
    ck_assert_ptr_null(jklg_placeholder_key(test_pool, bare,
                                            jklg_placeholder_find(bare)));
    /* The first '=' ends the key: the value before the token stays out. */
    ck_assert_str_eq(jklg_placeholder_key(test_pool, secret,
                                          jklg_placeholder_find(secret)),
                     "password");
    ck_assert_ptr_null(jklg_placeholder_key(test_pool, odd,
                                            jklg_placeholder_find(odd)));
    ck_assert_ptr_null(jklg_placeholder_key(test_pool, empty,
                                            jklg_placeholder_find(empty)));
    ck_assert_ptr_null(jklg_placeholder_key(test_pool, bare, NULL));
}
END_TEST

Suite *suite_placeholder(void)
{
    Suite *s = suite_create("placeholder");
    TCase *tc = tcase_create("core");

    tcase_add_checked_fixture(tc, test_pool_setup, test_pool_teardown);
    tcase_add_test(tc, shipped_placeholders_are_found);
    tcase_add_test(tc, real_values_are_not_refused);
    tcase_add_test(tc, the_first_whole_word_is_returned);
    tcase_add_test(tc, module_and_dbd_directives_are_checked_everywhere);
    tcase_add_test(tc, key_of_a_parameter_is_named);
    tcase_add_test(tc, no_key_and_never_a_value);
    suite_add_tcase(s, tc);
    return s;
}
