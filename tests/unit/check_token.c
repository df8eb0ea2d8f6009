/* Unit tests of jklg_token.c: base64url in both directions (strict on
 * input), one-time tokens and their stored hashes. */
#include <string.h>
#include <apr_hash.h>
#include <apr_strings.h>
#include "suites.h"
#include "jklg_token.h"

#define B64URL_ALPHABET \
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"

/* Bytes 0x00..0x1f; hash from /usr/bin/python3:
 * hashlib.sha256(bytes(range(32))).hexdigest() */
#define SEQ_TOKEN "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8"
#define SEQ_HASH \
    "630dcd2966c4336691125448bbb25b4ff412a49c732db2c8abc1b8581bd710dd"

static void assert_hash_refused(const char *token)
{
    const char *hex = "untouched";

    ck_assert_msg(jklg_token_hash(test_pool, token, &hex) == APR_EINVAL,
                  "'%s' accepted", token ? token : "(null)");
    ck_assert_str_eq(hex, "untouched");
}

static void assert_decode_refused(const char *s)
{
    apr_size_t len = 12345;

    ck_assert_msg(jklg_b64url_decode(test_pool, s, &len) == NULL,
                  "'%s' decoded", s ? s : "(null)");
    ck_assert_uint_eq(len, 12345);
}

/* --- base64url -------------------------------------------------------- */

START_TEST(b64url_encode_vectors)
{
    static const unsigned char urlsafe[] = { 0xfb, 0xff };

    /* RFC 4648 section 10, without padding. */
    ck_assert_str_eq(jklg_b64url_encode(test_pool, (const unsigned char *)"",
                                        0), "");
    ck_assert_str_eq(jklg_b64url_encode(test_pool,
                                        (const unsigned char *)"f", 1), "Zg");
    ck_assert_str_eq(jklg_b64url_encode(test_pool,
                                        (const unsigned char *)"fo", 2),
                     "Zm8");
    ck_assert_str_eq(jklg_b64url_encode(test_pool,
                                        (const unsigned char *)"foobar", 6),
                     "Zm9vYmFy");
    /* The URL-safe alphabet, where standard base64 would give "+/8=". */
    ck_assert_str_eq(jklg_b64url_encode(test_pool, urlsafe, 2), "-_8");
}
END_TEST

START_TEST(b64url_decode_round_trip)
{
    unsigned char bin[256];
    unsigned char *back;
    apr_size_t len;

    for (int i = 0; i < 256; i++) {
        bin[i] = (unsigned char)(255 - i);
    }
    for (apr_size_t n = 0; n <= sizeof(bin); n++) {
        const char *s = jklg_b64url_encode(test_pool, bin, n);

        back = jklg_b64url_decode(test_pool, s, &len);
        ck_assert_msg(back != NULL, "length %d did not decode", (int)n);
        ck_assert_uint_eq(len, n);
        ck_assert_int_eq(memcmp(back, bin, n), 0);
    }
}
END_TEST

START_TEST(b64url_decode_terminates_text)
{
    apr_size_t len;
    unsigned char *bin = jklg_b64url_decode(test_pool, "Zm9vYmE", &len);

    ck_assert_ptr_nonnull(bin);
    ck_assert_uint_eq(len, 5);
    ck_assert_str_eq((const char *)bin, "fooba");
}
END_TEST

START_TEST(b64url_decode_rejects)
{
    static const char *const bad[] = {
        "Zh",           /* "Zg" with a stray low bit: decodes to "f" too */
        "Zm9=",         /* stray bits in the last of three characters */
        "Zg==",         /* padding */
        "Zm8=",
        "Z",            /* a lone character encodes no whole byte */
        "Zm9vY",
        "+_8", "-/8",   /* the standard alphabet */
        " Zm9v", "Zm9v ", "Zm 9v", "Zm9v\n", "Zm9v\t", "\r\nZm9v",
        "Zm9v.", "Zm9v!", "Zm\xc3\xa9v",
    };

    for (apr_size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_decode_refused(bad[i]);
    }
    assert_decode_refused(NULL);
}
END_TEST

/* Every byte value, as the first of four characters: exactly the 64 of
 * the URL-safe alphabet decode, each to its own 6 bits. */
START_TEST(b64url_decode_every_byte)
{
    int accepted = 0;

    for (int c = 1; c < 256; c++) {
        char s[5] = {(char)c, 'A', 'A', 'A', '\0'};
        const char *at = strchr(B64URL_ALPHABET, c);
        apr_size_t len = 0;
        unsigned char *bin = jklg_b64url_decode(test_pool, s, &len);

        if (at) {
            ck_assert_msg(bin != NULL, "byte %d refused", c);
            ck_assert_uint_eq(len, 3);
            ck_assert_int_eq(bin[0] >> 2, (int)(at - B64URL_ALPHABET));
            accepted++;
        }
        else {
            ck_assert_msg(bin == NULL, "byte %d decoded", c);
        }
    }
    ck_assert_int_eq(accepted, 64);
}
END_TEST

/* --- one-time tokens -------------------------------------------------- */

START_TEST(token_new_shape)
{
    const char *t = jklg_token_new(test_pool);
    apr_size_t len;

    ck_assert_uint_eq(strlen(t), 43);
    ck_assert_uint_eq(strspn(t, B64URL_ALPHABET), 43);
    ck_assert_ptr_nonnull(jklg_b64url_decode(test_pool, t, &len));
    ck_assert_uint_eq(len, JKLG_TOKEN_BYTES);
}
END_TEST

START_TEST(token_new_unique)
{
    apr_hash_t *seen = apr_hash_make(test_pool);

    for (int i = 0; i < 1000; i++) {
        const char *t = jklg_token_new(test_pool);

        ck_assert_uint_eq(strlen(t), 43);
        ck_assert_msg(apr_hash_get(seen, t, APR_HASH_KEY_STRING) == NULL,
                      "token repeated after %d draws", i);
        apr_hash_set(seen, t, APR_HASH_KEY_STRING, t);
    }
    ck_assert_uint_eq(apr_hash_count(seen), 1000);
}
END_TEST

START_TEST(token_hash_known_vector)
{
    const char *hex = NULL;

    ck_assert_int_eq(jklg_token_hash(test_pool, SEQ_TOKEN, &hex),
                     APR_SUCCESS);
    ck_assert_str_eq(hex, SEQ_HASH);
}
END_TEST

START_TEST(token_hash_of_new_token)
{
    const char *hex = NULL;

    ck_assert_int_eq(jklg_token_hash(test_pool, jklg_token_new(test_pool),
                                     &hex), APR_SUCCESS);
    ck_assert_uint_eq(strlen(hex), 64);
    ck_assert_uint_eq(strspn(hex, "0123456789abcdef"), 64);
}
END_TEST

START_TEST(token_hash_rejects)
{
    char *s;

    assert_hash_refused(NULL);
    assert_hash_refused("");
    assert_hash_refused(apr_pstrndup(test_pool, SEQ_TOKEN, 42));
    assert_hash_refused(apr_pstrcat(test_pool, SEQ_TOKEN, "A", NULL));
    assert_hash_refused(apr_pstrcat(test_pool, SEQ_TOKEN, "=", NULL));
    /* 44 characters of padded standard base64 for the same bytes. */
    assert_hash_refused("AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=");
    /* Last character '8' (111100) -> '9' (111101): same 32 bytes if the
     * stray low bits were ignored. */
    s = apr_pstrdup(test_pool, SEQ_TOKEN);
    s[42] = '9';
    assert_hash_refused(s);
    s[42] = '+';
    assert_hash_refused(s);
    s = apr_pstrdup(test_pool, SEQ_TOKEN);
    s[0] = '/';
    assert_hash_refused(s);
    s[0] = ' ';
    assert_hash_refused(s);
    s[0] = '.';
    assert_hash_refused(s);
    /* 43 characters, one of them whitespace. */
    assert_hash_refused(apr_pstrcat(test_pool, " ",
                                    apr_pstrndup(test_pool, SEQ_TOKEN, 42),
                                    NULL));
}
END_TEST

Suite *suite_token(void)
{
    Suite *s = suite_create("token");
    TCase *tc = tcase_create("token");

    tcase_add_checked_fixture(tc, test_pool_setup, test_pool_teardown);
    tcase_add_test(tc, b64url_encode_vectors);
    tcase_add_test(tc, b64url_decode_round_trip);
    tcase_add_test(tc, b64url_decode_terminates_text);
    tcase_add_test(tc, b64url_decode_rejects);
    tcase_add_test(tc, b64url_decode_every_byte);
    tcase_add_test(tc, token_new_shape);
    tcase_add_test(tc, token_new_unique);
    tcase_add_test(tc, token_hash_known_vector);
    tcase_add_test(tc, token_hash_of_new_token);
    tcase_add_test(tc, token_hash_rejects);
    suite_add_tcase(s, tc);
    return s;
}
