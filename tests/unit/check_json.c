/* Unit tests of jklg_json.c: request body parsing, the error envelope,
 * helpers, and pool ownership of jansson values. */
#include <ctype.h>
#include <string.h>
#include <apr_strings.h>
#include "suites.h"
#include "jklg_json.h"

/* Parses a NUL-terminated body; *why is reset to NULL first so that a
 * stale reason cannot make a test pass. */
static json_t *parse(const char *body, const char **why)
{
    *why = NULL;
    return jklg_json_parse_object(test_pool, body, strlen(body), why);
}

static void assert_rejected(const char *body, apr_size_t len)
{
    const char *why = NULL;
    json_t *j = jklg_json_parse_object(test_pool, body, len, &why);

    ck_assert_msg(j == NULL, "body accepted: %.*s", (int)len, body);
    ck_assert_ptr_nonnull(why);
    ck_assert_msg(strlen(why) > 0, "empty reason for: %.*s", (int)len, body);
}

/* --- parse_object --------------------------------------------------- */

START_TEST(parse_accepts_object)
{
    const char *why;
    json_t *j = parse("{\"email\":\"a@b.example\",\"amount\":42,"
                      "\"nested\":{\"x\":[1,2]}}", &why);

    ck_assert_ptr_nonnull(j);
    ck_assert_ptr_null(why);
    ck_assert(json_is_object(j));
    ck_assert_int_eq(json_object_size(j), 3);
    ck_assert_str_eq(jklg_json_str(j, "email"), "a@b.example");
    ck_assert_int_eq(json_integer_value(json_object_get(j, "amount")), 42);
}
END_TEST

START_TEST(parse_accepts_empty_object_and_whitespace)
{
    const char *why;
    json_t *j = parse("  \n{ }\r\n ", &why);

    ck_assert_ptr_nonnull(j);
    ck_assert(json_is_object(j));
    ck_assert_int_eq(json_object_size(j), 0);
}
END_TEST

START_TEST(parse_accepts_utf8)
{
    const char *why;
    /* "Zoë – 東京" in UTF-8, and an escaped astral character. */
    json_t *j = parse("{\"name\":\"Zo\xc3\xab \xe2\x80\x93 \xe6\x9d\xb1\xe4\xba\xac\","
                      "\"emoji\":\"\\ud83d\\ude00\"}", &why);

    ck_assert_ptr_nonnull(j);
    ck_assert_str_eq(jklg_json_str(j, "name"),
                     "Zo\xc3\xab \xe2\x80\x93 \xe6\x9d\xb1\xe4\xba\xac");
    ck_assert_str_eq(jklg_json_str(j, "emoji"), "\xf0\x9f\x98\x80");
}
END_TEST

START_TEST(parse_uses_len_not_nul)
{
    /* Only the first len bytes are the body. */
    const char *buf = "{\"a\":1}trailing garbage";
    const char *why = NULL;
    json_t *j = jklg_json_parse_object(test_pool, buf, 7, &why);

    ck_assert_ptr_nonnull(j);
    ck_assert_int_eq(json_integer_value(json_object_get(j, "a")), 1);
}
END_TEST

START_TEST(parse_rejects_empty_body)
{
    const char *why = NULL;

    ck_assert_ptr_null(jklg_json_parse_object(test_pool, "", 0, &why));
    ck_assert_ptr_nonnull(why);
    ck_assert_str_eq(why, "request body is empty, expected a JSON object");
    assert_rejected("   ", 3);
}
END_TEST

START_TEST(parse_rejects_invalid_json)
{
    const char *why;

    ck_assert_ptr_null(parse("{\"a\":", &why));
    ck_assert_ptr_nonnull(why);
    ck_assert_msg(strstr(why, "not valid JSON") != NULL, "why: %s", why);

    assert_rejected("{a:1}", 5);
    assert_rejected("{\"a\":1,}", 8);
    assert_rejected("{'a':1}", 7);
    assert_rejected("{\"a\":1}{\"b\":2}", 14);
    assert_rejected("{\"a\":1} x", 9);
    assert_rejected("{\"a\":NaN}", 9);
}
END_TEST

START_TEST(parse_rejects_non_objects)
{
    assert_rejected("[]", 2);
    assert_rejected("[{\"a\":1}]", 9);
    assert_rejected("\"string\"", 8);
    assert_rejected("42", 2);
    assert_rejected("true", 4);
    assert_rejected("null", 4);
}
END_TEST

START_TEST(parse_rejects_duplicate_keys)
{
    const char *why;

    ck_assert_ptr_null(parse("{\"amount\":1,\"amount\":9999}", &why));
    ck_assert_ptr_nonnull(why);
    ck_assert_msg(strlen(why) > 0, "empty reason");
    /* Also when nested. */
    assert_rejected("{\"a\":{\"k\":1,\"k\":2}}", 19);
}
END_TEST

START_TEST(parse_rejects_nul_in_strings)
{
    const char *body = "{\"a\":\"x\0y\"}";

    assert_rejected("{\"a\":\"a\\u0000b\"}", 16);
    assert_rejected("{\"a\\u0000b\":1}", 14);
    /* A raw NUL byte inside the body. */
    assert_rejected(body, 11);
}
END_TEST

START_TEST(parse_rejects_invalid_utf8)
{
    assert_rejected("{\"a\":\"\xff\"}", 9);
    assert_rejected("{\"a\":\"\xc3\"}", 9);          /* truncated sequence */
    assert_rejected("{\"a\":\"\xc0\xaf\"}", 10);     /* overlong '/' */
    assert_rejected("{\"a\":\"\xed\xa0\x80\"}", 11); /* UTF-16 surrogate */
    assert_rejected("{\"\xfe\":1}", 8);              /* in a key */
    assert_rejected("{\"a\":\"\\ud800\"}", 14);      /* lone surrogate escape */
}
END_TEST

/* --- error envelope --------------------------------------------------- */

START_TEST(error_envelope_shape)
{
    json_t *e = jklg_json_error(test_pool, "invalid_request", "bad input",
                                NULL);
    json_t *inner;

    ck_assert_ptr_nonnull(e);
    ck_assert(json_is_object(e));
    ck_assert_int_eq(json_object_size(e), 1);
    inner = json_object_get(e, "error");
    ck_assert(json_is_object(inner));
    ck_assert_int_eq(json_object_size(inner), 2);
    ck_assert_str_eq(jklg_json_str(inner, "code"), "invalid_request");
    ck_assert_str_eq(jklg_json_str(inner, "message"), "bad input");
    ck_assert_str_eq(jklg_json_dump(test_pool, e),
                     "{\"error\":{\"code\":\"invalid_request\","
                     "\"message\":\"bad input\"}}");
}
END_TEST

START_TEST(error_envelope_with_fields)
{
    json_t *fields = jklg_json_own(test_pool, json_object());
    json_t *e, *inner, *f;

    json_object_set_new(fields, "email", json_string("is required"));
    json_object_set_new(fields, "amount", json_string("must be positive"));
    e = jklg_json_error(test_pool, "validation_failed", "invalid fields",
                        fields);
    ck_assert_ptr_nonnull(e);
    inner = json_object_get(e, "error");
    ck_assert_int_eq(json_object_size(inner), 3);
    ck_assert_str_eq(jklg_json_str(inner, "code"), "validation_failed");
    ck_assert_str_eq(jklg_json_str(inner, "message"), "invalid fields");
    f = json_object_get(inner, "fields");
    ck_assert(json_is_object(f));
    ck_assert_int_eq(json_object_size(f), 2);
    ck_assert_str_eq(jklg_json_str(f, "email"), "is required");
    ck_assert_str_eq(jklg_json_str(f, "amount"), "must be positive");
    ck_assert_str_eq(jklg_json_dump(test_pool, e),
                     "{\"error\":{\"code\":\"validation_failed\","
                     "\"message\":\"invalid fields\",\"fields\":"
                     "{\"email\":\"is required\","
                     "\"amount\":\"must be positive\"}}}");
}
END_TEST

START_TEST(error_envelope_empty_fields_left_out)
{
    json_t *fields = jklg_json_own(test_pool, json_object());
    json_t *e = jklg_json_error(test_pool, "not_found", "no such thing",
                                fields);
    json_t *inner = json_object_get(e, "error");

    ck_assert_int_eq(json_object_size(inner), 2);
    ck_assert_ptr_null(json_object_get(inner, "fields"));
    ck_assert_str_eq(jklg_json_dump(test_pool, e),
                     "{\"error\":{\"code\":\"not_found\","
                     "\"message\":\"no such thing\"}}");
}
END_TEST

START_TEST(error_envelope_escapes)
{
    json_t *e = jklg_json_error(test_pool, "x", "say \"hi\"\n", NULL);

    ck_assert_str_eq(jklg_json_dump(test_pool, e),
                     "{\"error\":{\"code\":\"x\","
                     "\"message\":\"say \\\"hi\\\"\\n\"}}");
}
END_TEST

/* --- helpers ---------------------------------------------------------- */

START_TEST(json_str_member)
{
    json_t *o = jklg_json_own(test_pool,
                              json_pack("{s:s, s:i, s:n, s:s}", "name", "Ann",
                                        "age", 7, "nothing", "empty", ""));

    ck_assert_str_eq(jklg_json_str(o, "name"), "Ann");
    ck_assert_str_eq(jklg_json_str(o, "empty"), "");
    ck_assert_ptr_null(jklg_json_str(o, "age"));       /* not a string */
    ck_assert_ptr_null(jklg_json_str(o, "nothing"));   /* null */
    ck_assert_ptr_null(jklg_json_str(o, "missing"));
    ck_assert_ptr_null(jklg_json_str(NULL, "name"));
}
END_TEST

START_TEST(reject_unknown_counts)
{
    static const char *const allowed[] = {"email", "password", NULL};
    json_t *o = jklg_json_own(test_pool,
                              json_pack("{s:s, s:s, s:b, s:i}",
                                        "email", "a@b.example",
                                        "password", "pw",
                                        "admin", 1, "role", 3));
    json_t *fields = jklg_json_own(test_pool, json_object());

    ck_assert_int_eq(jklg_json_reject_unknown(o, allowed, fields), 2);
    ck_assert_int_eq(json_object_size(fields), 2);
    ck_assert_str_eq(jklg_json_str(fields, "admin"), "unknown field");
    ck_assert_str_eq(jklg_json_str(fields, "role"), "unknown field");
    ck_assert_ptr_null(json_object_get(fields, "email"));
    ck_assert_ptr_null(json_object_get(fields, "password"));
}
END_TEST

START_TEST(reject_unknown_none)
{
    static const char *const allowed[] = {"email", "password", NULL};
    json_t *o = jklg_json_own(test_pool,
                              json_pack("{s:s}", "email", "a@b.example"));
    json_t *empty = jklg_json_own(test_pool, json_object());
    json_t *fields = jklg_json_own(test_pool, json_object());

    ck_assert_int_eq(jklg_json_reject_unknown(o, allowed, fields), 0);
    ck_assert_int_eq(jklg_json_reject_unknown(empty, allowed, fields), 0);
    ck_assert_int_eq(json_object_size(fields), 0);
}
END_TEST

START_TEST(reject_unknown_keeps_existing_fields)
{
    static const char *const none[] = {NULL};
    json_t *o = jklg_json_own(test_pool, json_pack("{s:i}", "x", 1));
    json_t *fields = jklg_json_own(test_pool,
                                   json_pack("{s:s}", "email", "is required"));

    /* Nothing allowed: every member is unknown; fields already there stay. */
    ck_assert_int_eq(jklg_json_reject_unknown(o, none, fields), 1);
    ck_assert_int_eq(json_object_size(fields), 2);
    ck_assert_str_eq(jklg_json_str(fields, "email"), "is required");
    ck_assert_str_eq(jklg_json_str(fields, "x"), "unknown field");
}
END_TEST

START_TEST(reject_unknown_exact_names)
{
    static const char *const allowed[] = {"email", NULL};
    json_t *o = jklg_json_own(test_pool,
                              json_pack("{s:i, s:i, s:i}", "emai", 1,
                                        "email2", 2, "Email", 3));
    json_t *fields = jklg_json_own(test_pool, json_object());

    ck_assert_int_eq(jklg_json_reject_unknown(o, allowed, fields), 3);
    ck_assert_str_eq(jklg_json_str(fields, "emai"), "unknown field");
    ck_assert_str_eq(jklg_json_str(fields, "email2"), "unknown field");
    ck_assert_str_eq(jklg_json_str(fields, "Email"), "unknown field");
}
END_TEST

START_TEST(rfc3339_now_format)
{
    const char *s = jklg_rfc3339_now(test_pool);
    /* YYYY-MM-DDTHH:MM:SSZ */
    static const char pattern[] = "dddd-dd-ddTdd:dd:ddZ";
    int year, month, day, hour, minute, second;

    ck_assert_ptr_nonnull(s);
    ck_assert_uint_eq(strlen(s), 20);
    for (int i = 0; i < 20; i++) {
        if (pattern[i] == 'd') {
            ck_assert_msg(isdigit((unsigned char)s[i]), "%s: pos %d", s, i);
        }
        else {
            ck_assert_msg(s[i] == pattern[i], "%s: pos %d", s, i);
        }
    }
    ck_assert_int_eq(sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2dZ", &year, &month,
                            &day, &hour, &minute, &second), 6);
    ck_assert_int_ge(year, 2024);
    ck_assert_int_ge(month, 1);
    ck_assert_int_le(month, 12);
    ck_assert_int_ge(day, 1);
    ck_assert_int_le(day, 31);
    ck_assert_int_le(hour, 23);
    ck_assert_int_le(minute, 59);
    ck_assert_int_le(second, 60);
}
END_TEST

START_TEST(rfc3339_now_is_utc_now)
{
    apr_time_exp_t t;
    apr_time_t before = apr_time_now(), after;
    const char *s = jklg_rfc3339_now(test_pool);
    char lo[21], hi[21];

    after = apr_time_now();
    apr_time_exp_gmt(&t, before);
    apr_snprintf(lo, sizeof(lo), "%04d-%02d-%02dT%02d:%02d:%02dZ",
                 t.tm_year + 1900, t.tm_mon + 1, t.tm_mday, t.tm_hour,
                 t.tm_min, t.tm_sec);
    apr_time_exp_gmt(&t, after);
    apr_snprintf(hi, sizeof(hi), "%04d-%02d-%02dT%02d:%02d:%02dZ",
                 t.tm_year + 1900, t.tm_mon + 1, t.tm_mday, t.tm_hour,
                 t.tm_min, t.tm_sec);
    /* Same-width strings of this shape sort chronologically. */
    ck_assert_msg(strcmp(lo, s) <= 0 && strcmp(s, hi) <= 0,
                  "%s not within [%s, %s]", s, lo, hi);
}
END_TEST

/* --- ownership -------------------------------------------------------- */

START_TEST(own_releases_on_pool_destroy)
{
    apr_pool_t *sub;
    json_t *j = json_object();

    apr_pool_create(&sub, test_pool);
    json_incref(j);                     /* our witness reference */
    ck_assert_uint_eq(j->refcount, 2);
    ck_assert_ptr_eq(jklg_json_own(sub, j), j);
    ck_assert_uint_eq(j->refcount, 2);  /* owning does not add one */
    apr_pool_clear(sub);
    ck_assert_uint_eq(j->refcount, 1);  /* the pool's reference is gone */
    apr_pool_destroy(sub);
    ck_assert_uint_eq(j->refcount, 1);  /* and only released once */
    json_decref(j);
}
END_TEST

START_TEST(own_null_stays_null)
{
    ck_assert_ptr_null(jklg_json_own(test_pool, NULL));
}
END_TEST

START_TEST(parse_result_owned_by_pool)
{
    apr_pool_t *sub;
    const char *body = "{\"a\":[1,2,3]}";
    const char *why = NULL;
    json_t *j;

    apr_pool_create(&sub, test_pool);
    j = jklg_json_parse_object(sub, body, strlen(body), &why);
    ck_assert_ptr_nonnull(j);
    json_incref(j);
    ck_assert_uint_eq(j->refcount, 2);
    apr_pool_destroy(sub);
    ck_assert_uint_eq(j->refcount, 1);
    json_decref(j);
}
END_TEST

START_TEST(rejected_non_object_released)
{
    /* A parsed array that is refused is released with the pool (no leak,
     * no double free on destroy), and the reason says what was wrong. */
    apr_pool_t *sub;
    const char *why = NULL;

    apr_pool_create(&sub, test_pool);
    ck_assert_ptr_null(jklg_json_parse_object(sub, "[1]", 3, &why));
    ck_assert_ptr_nonnull(why);
    ck_assert_str_eq(why, "request body must be a JSON object");
    apr_pool_destroy(sub);
}
END_TEST

START_TEST(error_envelope_owned_by_pool)
{
    apr_pool_t *sub;
    json_t *fields = json_pack("{s:s}", "email", "is required");
    json_t *e;

    apr_pool_create(&sub, test_pool);
    e = jklg_json_error(sub, "c", "m", fields);
    ck_assert_ptr_nonnull(e);
    json_incref(e);
    ck_assert_uint_eq(e->refcount, 2);
    /* The caller keeps its own reference to fields. */
    ck_assert_uint_eq(fields->refcount, 2);
    apr_pool_destroy(sub);
    ck_assert_uint_eq(e->refcount, 1);
    json_decref(e);
    ck_assert_uint_eq(fields->refcount, 1);
    json_decref(fields);
}
END_TEST

START_TEST(dump_compact)
{
    json_t *o = jklg_json_own(test_pool,
                              json_pack("{s:i, s:[s, b]}", "a", 1,
                                        "b", "x", 0));
    json_t *s = jklg_json_own(test_pool, json_string("plain"));

    ck_assert_str_eq(jklg_json_dump(test_pool, o),
                     "{\"a\":1,\"b\":[\"x\",false]}");
    /* Any value, not only containers. */
    ck_assert_str_eq(jklg_json_dump(test_pool, s), "\"plain\"");
}
END_TEST

Suite *suite_json(void)
{
    Suite *s = suite_create("json");
    TCase *tc = tcase_create("core");

    tcase_add_checked_fixture(tc, test_pool_setup, test_pool_teardown);
    tcase_add_test(tc, parse_accepts_object);
    tcase_add_test(tc, parse_accepts_empty_object_and_whitespace);
    tcase_add_test(tc, parse_accepts_utf8);
    tcase_add_test(tc, parse_uses_len_not_nul);
    tcase_add_test(tc, parse_rejects_empty_body);
    tcase_add_test(tc, parse_rejects_invalid_json);
    tcase_add_test(tc, parse_rejects_non_objects);
    tcase_add_test(tc, parse_rejects_duplicate_keys);
    tcase_add_test(tc, parse_rejects_nul_in_strings);
    tcase_add_test(tc, parse_rejects_invalid_utf8);
    tcase_add_test(tc, error_envelope_shape);
    tcase_add_test(tc, error_envelope_with_fields);
    tcase_add_test(tc, error_envelope_empty_fields_left_out);
    tcase_add_test(tc, error_envelope_escapes);
    tcase_add_test(tc, json_str_member);
    tcase_add_test(tc, reject_unknown_counts);
    tcase_add_test(tc, reject_unknown_none);
    tcase_add_test(tc, reject_unknown_keeps_existing_fields);
    tcase_add_test(tc, reject_unknown_exact_names);
    tcase_add_test(tc, rfc3339_now_format);
    tcase_add_test(tc, rfc3339_now_is_utc_now);
    tcase_add_test(tc, own_releases_on_pool_destroy);
    tcase_add_test(tc, own_null_stays_null);
    tcase_add_test(tc, parse_result_owned_by_pool);
    tcase_add_test(tc, rejected_non_object_released);
    tcase_add_test(tc, error_envelope_owned_by_pool);
    tcase_add_test(tc, dump_compact);
    suite_add_tcase(s, tc);
    return s;
}
