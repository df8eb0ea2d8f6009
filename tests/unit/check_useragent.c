/* Unit tests of jklg_useragent.c: browser families of real User-Agent
 * headers, where each browser also names the ones it is built on. */
#include <string.h>
#include "suites.h"
#include "jklg_useragent.h"

typedef struct {
    const char *ua;
    const char *family;
} ua_case_t;

static const ua_case_t cases[] = {
    {"Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 "
     "Firefox/128.0", "Firefox"},
    {"Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) "
     "AppleWebKit/605.1.15 (KHTML, like Gecko) FxiOS/127.0 Mobile/15E148 "
     "Safari/605.1.15", "Firefox"},
    {"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 "
     "(KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36", "Chrome"},
    {"Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) "
     "AppleWebKit/605.1.15 (KHTML, like Gecko) CriOS/126.0.6478.54 "
     "Mobile/15E148 Safari/604.1", "Chrome"},
    {"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 "
     "(KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36 Edg/126.0.0.0",
     "Edge"},
    {"Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like "
     "Gecko) Chrome/126.0.0.0 Mobile Safari/537.36 EdgA/126.0.0.0", "Edge"},
    {"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 "
     "(KHTML, like Gecko) Chrome/70.0.3538.102 Safari/537.36 "
     "Edge/18.19582", "Edge"},
    {"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 "
     "(KHTML, like Gecko) Chrome/125.0.0.0 Safari/537.36 OPR/111.0.0.0",
     "Opera"},
    {"Opera/9.80 (Windows NT 6.1; U; en) Presto/2.10.289 Version/12.02",
     "Opera"},
    {"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 "
     "(KHTML, like Gecko) Version/17.5 Safari/605.1.15", "Safari"},
    {"Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) "
     "AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 "
     "Safari/604.1", "Safari"},
    {"curl/8.5.0", "curl"},
    {"CURL/7.0", "curl"},
    {"python-requests/2.31.0", "other"},
    {"jklg-tests/1a2b3c4d", "other"},
    {"Wget/1.21", "other"},
    /* curl named elsewhere is not curl itself */
    {"my-app (uses curl/8.0)", "other"},
    {"", "other"},
    {NULL, "other"},
};

START_TEST(families)
{
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        ck_assert_msg(!strcmp(jklg_browser_family(cases[i].ua),
                              cases[i].family),
                      "'%s': %s, want %s",
                      cases[i].ua ? cases[i].ua : "(null)",
                      jklg_browser_family(cases[i].ua), cases[i].family);
    }
}
END_TEST

/* A new browser version or OS is the same family: no alert for updates. */
START_TEST(versions_do_not_matter)
{
    ck_assert_str_eq(jklg_browser_family("Mozilla/5.0 (Windows NT 10.0; "
                     "rv:115.0) Gecko/20100101 Firefox/115.0"),
                     jklg_browser_family("Mozilla/5.0 (Macintosh; Intel Mac "
                     "OS X 14.5; rv:128.0) Gecko/20100101 Firefox/128.0"));
}
END_TEST

Suite *suite_useragent(void)
{
    Suite *s = suite_create("useragent");
    TCase *tc = tcase_create("core");

    tcase_add_test(tc, families);
    tcase_add_test(tc, versions_do_not_matter);
    suite_add_tcase(s, tc);
    return s;
}
