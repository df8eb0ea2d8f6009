/* Unit tests of jklg_router.c: method + path matching, {name} params,
 * the Allow header's method list. */
#include <string.h>
#include <apr_strings.h>
#include "suites.h"
#include "jklg_router.h"

/* Distinct addresses used as opaque targets. */
static const char T_HEALTH[] = "health";
static const char T_LIST[] = "list";
static const char T_CREATE[] = "create";
static const char T_ME[] = "me";
static const char T_ONE[] = "one";
static const char T_DELETE[] = "delete";
static const char T_NESTED[] = "nested";
static const char T_DEEP[] = "deep";

static jklg_router_t *router;

static void router_setup(void)
{
    test_pool_setup();
    router = jklg_router_create(test_pool);
    jklg_router_add(router, JKLG_GET, "/api/health", T_HEALTH);
    jklg_router_add(router, JKLG_GET, "/api/customers", T_LIST);
    jklg_router_add(router, JKLG_POST, "/api/customers", T_CREATE);
    jklg_router_add(router, JKLG_GET, "/api/customers/me", T_ME);
    jklg_router_add(router, JKLG_GET, "/api/customers/{id}", T_ONE);
    jklg_router_add(router, JKLG_DELETE, "/api/customers/{id}", T_DELETE);
    jklg_router_add(router, JKLG_PUT,
                    "/api/customers/{customer}/addresses/{address}",
                    T_NESTED);
}

static void router_teardown(void)
{
    router = NULL;
    test_pool_teardown();
}

static jklg_match_t match(int method, const char *path)
{
    jklg_match_t m;

    /* Poison first: the router must fill every member. */
    memset(&m, 0xA5, sizeof(m));
    jklg_router_match(router, method, path, test_pool, &m);
    return m;
}

START_TEST(exact_match)
{
    jklg_match_t m = match(JKLG_GET, "/api/health");

    ck_assert_ptr_eq(m.target, T_HEALTH);
    ck_assert_int_eq(m.allowed, JKLG_GET);
    ck_assert_ptr_nonnull(m.params);
    ck_assert(apr_is_empty_table(m.params));
}
END_TEST

START_TEST(method_selects_target)
{
    jklg_match_t get = match(JKLG_GET, "/api/customers");
    jklg_match_t post = match(JKLG_POST, "/api/customers");

    ck_assert_ptr_eq(get.target, T_LIST);
    ck_assert_ptr_eq(post.target, T_CREATE);
    ck_assert_int_eq(get.allowed, JKLG_GET | JKLG_POST);
    ck_assert_int_eq(post.allowed, JKLG_GET | JKLG_POST);
}
END_TEST

START_TEST(param_capture)
{
    jklg_match_t m = match(JKLG_GET, "/api/customers/c-123");

    ck_assert_ptr_eq(m.target, T_ONE);
    ck_assert_int_eq(m.allowed, JKLG_GET | JKLG_DELETE);
    ck_assert_str_eq(apr_table_get(m.params, "id"), "c-123");
    ck_assert_int_eq(apr_table_elts(m.params)->nelts, 1);

    m = match(JKLG_DELETE, "/api/customers/42");
    ck_assert_ptr_eq(m.target, T_DELETE);
    ck_assert_str_eq(apr_table_get(m.params, "id"), "42");
}
END_TEST

START_TEST(literal_added_first_wins)
{
    jklg_match_t m = match(JKLG_GET, "/api/customers/me");

    ck_assert_ptr_eq(m.target, T_ME);
    ck_assert(apr_is_empty_table(m.params));
    /* The {id} routes match this path too. */
    ck_assert_int_eq(m.allowed, JKLG_GET | JKLG_DELETE);
}
END_TEST

START_TEST(multiple_params)
{
    jklg_match_t m = match(JKLG_PUT, "/api/customers/c7/addresses/a9");

    ck_assert_ptr_eq(m.target, T_NESTED);
    ck_assert_int_eq(m.allowed, JKLG_PUT);
    ck_assert_str_eq(apr_table_get(m.params, "customer"), "c7");
    ck_assert_str_eq(apr_table_get(m.params, "address"), "a9");
    ck_assert_int_eq(apr_table_elts(m.params)->nelts, 2);
}
END_TEST

START_TEST(params_not_decoded_or_split)
{
    /* The segment value is passed as is; '/' always separates. */
    jklg_match_t m = match(JKLG_GET, "/api/customers/a%2Fb");

    ck_assert_ptr_eq(m.target, T_ONE);
    ck_assert_str_eq(apr_table_get(m.params, "id"), "a%2Fb");
}
END_TEST

START_TEST(trailing_slash_no_match)
{
    jklg_match_t m = match(JKLG_GET, "/api/health/");

    ck_assert_ptr_null(m.target);
    ck_assert_int_eq(m.allowed, 0);

    m = match(JKLG_GET, "/api/customers/");
    ck_assert_ptr_null(m.target);
    ck_assert_int_eq(m.allowed, 0);
    ck_assert(apr_is_empty_table(m.params));

    m = match(JKLG_GET, "/api/customers/c1/");
    ck_assert_ptr_null(m.target);
    ck_assert_int_eq(m.allowed, 0);
}
END_TEST

START_TEST(double_slash_no_match)
{
    jklg_match_t m = match(JKLG_GET, "/api//health");

    ck_assert_ptr_null(m.target);
    ck_assert_int_eq(m.allowed, 0);

    m = match(JKLG_GET, "//api/health");
    ck_assert_ptr_null(m.target);
    ck_assert_int_eq(m.allowed, 0);

    m = match(JKLG_PUT, "/api/customers//addresses/a1");
    ck_assert_ptr_null(m.target);
    ck_assert_int_eq(m.allowed, 0);
}
END_TEST

START_TEST(empty_segment_never_param)
{
    /* "/api/customers/" has an empty third segment: not an {id}. */
    jklg_match_t m = match(JKLG_DELETE, "/api/customers/");

    ck_assert_ptr_null(m.target);
    ck_assert_int_eq(m.allowed, 0);

    m = match(JKLG_PUT, "/api/customers/c1/addresses/");
    ck_assert_ptr_null(m.target);
    ck_assert_int_eq(m.allowed, 0);
    ck_assert(apr_is_empty_table(m.params));
}
END_TEST

START_TEST(unknown_path)
{
    static const char *const paths[] = {
        "/api/nothing", "/", "/api", "/api/health/x", "/API/health",
        "/api/healthz", "/api/customers/c1/addresses",
        "/api/customers/c1/addresses/a1/extra",
    };

    for (apr_size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
        jklg_match_t m = match(JKLG_GET, paths[i]);
        ck_assert_msg(m.target == NULL, "%s matched", paths[i]);
        ck_assert_msg(m.allowed == 0, "%s: allowed %d", paths[i], m.allowed);
        ck_assert_ptr_nonnull(m.params);
    }
}
END_TEST

START_TEST(malformed_paths)
{
    jklg_match_t m = match(JKLG_GET, "");

    ck_assert_ptr_null(m.target);
    ck_assert_int_eq(m.allowed, 0);
    ck_assert_ptr_nonnull(m.params);

    m = match(JKLG_GET, "api/health");
    ck_assert_ptr_null(m.target);
    ck_assert_int_eq(m.allowed, 0);
}
END_TEST

START_TEST(wrong_method)
{
    jklg_match_t m = match(JKLG_POST, "/api/health");

    ck_assert_ptr_null(m.target);
    ck_assert_int_eq(m.allowed, JKLG_GET);

    m = match(JKLG_PATCH, "/api/customers/c1");
    ck_assert_ptr_null(m.target);
    ck_assert_int_eq(m.allowed, JKLG_GET | JKLG_DELETE);
    ck_assert(apr_is_empty_table(m.params));

    m = match(JKLG_DELETE, "/api/customers");
    ck_assert_ptr_null(m.target);
    ck_assert_int_eq(m.allowed, JKLG_GET | JKLG_POST);

    m = match(JKLG_OPTIONS, "/api/customers");
    ck_assert_ptr_null(m.target);
    ck_assert_int_eq(m.allowed, JKLG_GET | JKLG_POST);

    /* Unknown method (bit 0) never matches anything. */
    m = match(0, "/api/customers");
    ck_assert_ptr_null(m.target);
    ck_assert_int_eq(m.allowed, JKLG_GET | JKLG_POST);
}
END_TEST

START_TEST(head_uses_get_routes)
{
    jklg_match_t m = match(JKLG_HEAD, "/api/health");

    ck_assert_ptr_eq(m.target, T_HEALTH);

    m = match(JKLG_HEAD, "/api/customers/c9");
    ck_assert_ptr_eq(m.target, T_ONE);
    ck_assert_str_eq(apr_table_get(m.params, "id"), "c9");

    /* No GET route: HEAD does not match. */
    m = match(JKLG_HEAD, "/api/customers/c7/addresses/a9");
    ck_assert_ptr_null(m.target);
    ck_assert_int_eq(m.allowed, JKLG_PUT);
}
END_TEST

START_TEST(empty_router)
{
    jklg_router_t *empty = jklg_router_create(test_pool);
    jklg_match_t m;

    jklg_router_match(empty, JKLG_GET, "/api/health", test_pool, &m);
    ck_assert_ptr_null(m.target);
    ck_assert_int_eq(m.allowed, 0);
    ck_assert_ptr_nonnull(m.params);
}
END_TEST

START_TEST(deep_paths)
{
    /* 12 segments: the most a route may have. */
    const char *twelve = "/a/b/c/d/e/f/g/h/i/j/k/{last}";
    jklg_match_t m;
    char *deep;

    jklg_router_add(router, JKLG_GET, twelve, T_DEEP);
    m = match(JKLG_GET, "/a/b/c/d/e/f/g/h/i/j/k/l");
    ck_assert_ptr_eq(m.target, T_DEEP);
    ck_assert_str_eq(apr_table_get(m.params, "last"), "l");

    /* One more segment: no match, no crash. */
    m = match(JKLG_GET, "/a/b/c/d/e/f/g/h/i/j/k/l/m");
    ck_assert_ptr_null(m.target);
    ck_assert_int_eq(m.allowed, 0);

    /* Thousands of segments. */
    deep = apr_palloc(test_pool, 2 * 5000 + 1);
    for (int i = 0; i < 5000; i++) {
        deep[2 * i] = '/';
        deep[2 * i + 1] = 'x';
    }
    deep[2 * 5000] = '\0';
    m = match(JKLG_GET, deep);
    ck_assert_ptr_null(m.target);
    ck_assert_int_eq(m.allowed, 0);

    /* Only slashes. */
    memset(deep, '/', 2 * 5000);
    m = match(JKLG_GET, deep);
    ck_assert_ptr_null(m.target);
    ck_assert_int_eq(m.allowed, 0);
}
END_TEST

START_TEST(method_bit)
{
    ck_assert_int_eq(jklg_method_bit("GET"), JKLG_GET);
    ck_assert_int_eq(jklg_method_bit("HEAD"), JKLG_HEAD);
    ck_assert_int_eq(jklg_method_bit("POST"), JKLG_POST);
    ck_assert_int_eq(jklg_method_bit("PUT"), JKLG_PUT);
    ck_assert_int_eq(jklg_method_bit("PATCH"), JKLG_PATCH);
    ck_assert_int_eq(jklg_method_bit("DELETE"), JKLG_DELETE);
    ck_assert_int_eq(jklg_method_bit("OPTIONS"), JKLG_OPTIONS);
    /* Methods are case-sensitive (RFC 9110). */
    ck_assert_int_eq(jklg_method_bit("get"), 0);
    ck_assert_int_eq(jklg_method_bit("TRACE"), 0);
    ck_assert_int_eq(jklg_method_bit("CONNECT"), 0);
    ck_assert_int_eq(jklg_method_bit("GETX"), 0);
    ck_assert_int_eq(jklg_method_bit("GE"), 0);
    ck_assert_int_eq(jklg_method_bit(""), 0);
}
END_TEST

START_TEST(methods_string)
{
    ck_assert_str_eq(jklg_methods_string(test_pool, JKLG_GET | JKLG_POST),
                     "GET, HEAD, POST");
    ck_assert_str_eq(jklg_methods_string(test_pool, JKLG_POST | JKLG_GET),
                     "GET, HEAD, POST");
    ck_assert_str_eq(jklg_methods_string(test_pool, JKLG_GET), "GET, HEAD");
    ck_assert_str_eq(jklg_methods_string(test_pool, JKLG_POST), "POST");
    ck_assert_str_eq(jklg_methods_string(test_pool, JKLG_DELETE | JKLG_PUT),
                     "PUT, DELETE");
    ck_assert_str_eq(jklg_methods_string(test_pool, JKLG_GET | JKLG_HEAD),
                     "GET, HEAD");
    ck_assert_str_eq(jklg_methods_string(test_pool,
                                         JKLG_GET | JKLG_POST | JKLG_PUT
                                         | JKLG_PATCH | JKLG_DELETE
                                         | JKLG_OPTIONS),
                     "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS");
    ck_assert_str_eq(jklg_methods_string(test_pool, 0), "");
}
END_TEST

START_TEST(allowed_feeds_methods_string)
{
    jklg_match_t m = match(JKLG_PATCH, "/api/customers/c1");

    ck_assert_str_eq(jklg_methods_string(test_pool, m.allowed),
                     "GET, HEAD, DELETE");
}
END_TEST

Suite *suite_router(void)
{
    Suite *s = suite_create("router");
    TCase *tc = tcase_create("core");

    tcase_add_checked_fixture(tc, router_setup, router_teardown);
    tcase_add_test(tc, exact_match);
    tcase_add_test(tc, method_selects_target);
    tcase_add_test(tc, param_capture);
    tcase_add_test(tc, literal_added_first_wins);
    tcase_add_test(tc, multiple_params);
    tcase_add_test(tc, params_not_decoded_or_split);
    tcase_add_test(tc, trailing_slash_no_match);
    tcase_add_test(tc, double_slash_no_match);
    tcase_add_test(tc, empty_segment_never_param);
    tcase_add_test(tc, unknown_path);
    tcase_add_test(tc, malformed_paths);
    tcase_add_test(tc, wrong_method);
    tcase_add_test(tc, head_uses_get_routes);
    tcase_add_test(tc, empty_router);
    tcase_add_test(tc, deep_paths);
    tcase_add_test(tc, method_bit);
    tcase_add_test(tc, methods_string);
    tcase_add_test(tc, allowed_feeds_methods_string);
    suite_add_tcase(s, tc);
    return s;
}
