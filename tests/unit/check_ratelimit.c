/* Unit tests of jklg_ratelimit.c: client address keys (IPv6 per /64,
 * IPv4-mapped as IPv4), fixed windows, counter ids. */
#include <string.h>
#include "suites.h"
#include "jklg_ratelimit.h"

static void assert_key(const char *ip, const char *expected)
{
    const char *key = jklg_ratelimit_key_addr(test_pool, ip);

    ck_assert_msg(!strcmp(key, expected), "'%s' -> '%s', expected '%s'",
                  ip ? ip : "(null)", key, expected);
}

START_TEST(key_ipv4_is_the_address)
{
    assert_key("203.0.113.7", "203.0.113.7");
    assert_key("10.0.0.1", "10.0.0.1");
    assert_key("0.0.0.0", "0.0.0.0");
}
END_TEST

START_TEST(key_ipv6_is_its_64)
{
    assert_key("2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64");
    assert_key("2001:db8:1:2::1", "2001:db8:1:2::/64");
    assert_key("2001:db8:1:2:ffff:ffff:ffff:ffff", "2001:db8:1:2::/64");
    assert_key("2001:0DB8:0001:0002:abcd::", "2001:db8:1:2::/64");
    assert_key("2001:db8::1", "2001:db8::/64");
    assert_key("::1", "::/64");
}
END_TEST

START_TEST(key_ipv6_neighbour_64s_differ)
{
    /* The last bit of the prefix decides. */
    assert_key("2001:db8:1:3::1", "2001:db8:1:3::/64");
    ck_assert_str_ne(jklg_ratelimit_key_addr(test_pool, "2001:db8:1:2::1"),
                     jklg_ratelimit_key_addr(test_pool, "2001:db8:1:3::1"));
}
END_TEST

START_TEST(key_ipv4_mapped_is_the_ipv4)
{
    assert_key("::ffff:203.0.113.7", "203.0.113.7");
    assert_key("::FFFF:cb00:7107", "203.0.113.7");
    /* Only the mapped form: IPv4-compatible and NAT64 addresses are IPv6. */
    assert_key("::203.0.113.7", "::/64");
    assert_key("64:ff9b::203.0.113.7", "64:ff9b::/64");
}
END_TEST

START_TEST(key_zone_is_ignored)
{
    assert_key("fe80::1%eth0", "fe80::/64");
    assert_key("fe80::2%2", "fe80::/64");
}
END_TEST

START_TEST(key_other_text_is_itself)
{
    assert_key(NULL, "");
    assert_key("", "");
    assert_key("unix:/run/sock", "unix:/run/sock");
    assert_key("203.0.113.256", "203.0.113.256");
    assert_key("2001:db8::1::2", "2001:db8::1::2");
    assert_key("%eth0", "%eth0");
}
END_TEST

START_TEST(key_input_not_modified)
{
    char ip[] = "2001:db8:1:2:3:4:5:6%eth0";

    jklg_ratelimit_key_addr(test_pool, ip);
    ck_assert_str_eq(ip, "2001:db8:1:2:3:4:5:6%eth0");
}
END_TEST

#define SEC APR_USEC_PER_SEC

START_TEST(window_bounds)
{
    jklg_ratelimit_window_t w;
    apr_interval_time_t len = apr_time_from_sec(900);

    /* The first microsecond of a window: a whole window to wait. */
    jklg_ratelimit_window(7 * len, len, &w);
    ck_assert_int_eq(w.index, 7);
    ck_assert_int_eq(w.end, 8 * len);
    ck_assert_int_eq(w.retry_after, 900);
    /* Its last microsecond: still one second, never 0. */
    jklg_ratelimit_window(8 * len - 1, len, &w);
    ck_assert_int_eq(w.index, 7);
    ck_assert_int_eq(w.end, 8 * len);
    ck_assert_int_eq(w.retry_after, 1);
    /* Part seconds round up. */
    jklg_ratelimit_window(7 * len + 300 * SEC + 1, len, &w);
    ck_assert_int_eq(w.retry_after, 600);
    jklg_ratelimit_window(7 * len + 300 * SEC, len, &w);
    ck_assert_int_eq(w.retry_after, 600);
}
END_TEST

START_TEST(window_of_today)
{
    jklg_ratelimit_window_t w;
    apr_time_t now = apr_time_now();
    apr_interval_time_t len = apr_time_from_sec(3600);

    jklg_ratelimit_window(now, len, &w);
    ck_assert(w.end > now && w.end - now <= len);
    ck_assert_int_eq(w.end % len, 0);
    ck_assert(w.retry_after >= 1 && w.retry_after <= 3600);
}
END_TEST

START_TEST(window_sub_second_length)
{
    jklg_ratelimit_window_t w;

    jklg_ratelimit_window(apr_time_from_sec(10) + 1, 1500 * 1000, &w);
    ck_assert_int_eq(w.index, 6);
    ck_assert_int_eq(w.end, 10500 * 1000);
    ck_assert_int_eq(w.retry_after, 1);
}
END_TEST

static int same_id(const char *rule1, const char *key1, apr_int64_t len1,
                   apr_int64_t i1, const char *rule2, const char *key2,
                   apr_int64_t len2, apr_int64_t i2)
{
    unsigned char a[JKLG_RATELIMIT_ID_LEN], b[JKLG_RATELIMIT_ID_LEN];

    jklg_ratelimit_counter_id(a, rule1, key1, len1, i1);
    jklg_ratelimit_counter_id(b, rule2, key2, len2, i2);
    return !memcmp(a, b, sizeof(a));
}

START_TEST(counter_id_separates)
{
    ck_assert(same_id("login_ip", "10.0.0.1", 900, 7,
                      "login_ip", "10.0.0.1", 900, 7));
    ck_assert(!same_id("login_ip", "10.0.0.1", 900, 7,
                       "register_ip", "10.0.0.1", 900, 7));
    ck_assert(!same_id("login_ip", "10.0.0.1", 900, 7,
                       "login_ip", "10.0.0.2", 900, 7));
    ck_assert(!same_id("login_ip", "10.0.0.1", 900, 7,
                       "login_ip", "10.0.0.1", 600, 7));
    ck_assert(!same_id("login_ip", "10.0.0.1", 900, 7,
                       "login_ip", "10.0.0.1", 900, 8));
    /* The separators keep rule and key apart. */
    ck_assert(!same_id("ab", "c", 900, 7, "a", "bc", 900, 7));
}
END_TEST

Suite *suite_ratelimit(void)
{
    Suite *s = suite_create("ratelimit");
    TCase *tc = tcase_create("core");

    tcase_add_checked_fixture(tc, test_pool_setup, test_pool_teardown);
    tcase_add_test(tc, key_ipv4_is_the_address);
    tcase_add_test(tc, key_ipv6_is_its_64);
    tcase_add_test(tc, key_ipv6_neighbour_64s_differ);
    tcase_add_test(tc, key_ipv4_mapped_is_the_ipv4);
    tcase_add_test(tc, key_zone_is_ignored);
    tcase_add_test(tc, key_other_text_is_itself);
    tcase_add_test(tc, key_input_not_modified);
    tcase_add_test(tc, window_bounds);
    tcase_add_test(tc, window_of_today);
    tcase_add_test(tc, window_sub_second_length);
    tcase_add_test(tc, counter_id_separates);
    suite_add_tcase(s, tc);
    return s;
}
