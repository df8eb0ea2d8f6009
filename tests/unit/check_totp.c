/* Unit tests of jklg_totp.c: RFC 4226 Appendix D and RFC 6238 Appendix B
 * vectors, the ±1 step window and replay refusal, base32, the otpauth URL,
 * recovery codes, the JKLGMFAKey formats and sealing secrets. */
#include <ctype.h>
#include <string.h>
#include <apr_strings.h>
#include <sodium.h>
#include "suites.h"
#include "jklg_totp.h"

/* The RFC's shared secret, ASCII "12345678901234567890" (SHA-1 seed). */
#define RFC_SEED "12345678901234567890"
#define SEED ((const unsigned char *)RFC_SEED)
#define SEED_LEN 20
#define SEED_B32 "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"

/* --- RFC 4226 Appendix D: HOTP, 6 digits, counters 0..9 --------------- */

START_TEST(hotp_rfc4226_vectors)
{
    static const char *const want[] = {
        "755224", "287082", "359152", "969429", "338314",
        "254676", "287922", "162583", "399871", "520489"
    };

    for (int i = 0; i < 10; i++) {
        ck_assert_str_eq(jklg_hotp_code(test_pool, SEED, SEED_LEN, i, 6),
                         want[i]);
    }
}
END_TEST

/* --- RFC 6238 Appendix B: TOTP, SHA-1, 30 s, 8 digits ----------------- */

static const struct {
    apr_int64_t time;
    const char *code8;
} totp_vectors[] = {
    {59LL, "94287082"},
    {1111111109LL, "07081804"},
    {1111111111LL, "14050471"},
    {1234567890LL, "89005924"},
    {2000000000LL, "69279037"},
    {20000000000LL, "65353130"},
};

START_TEST(totp_rfc6238_vectors)
{
    for (size_t i = 0; i < sizeof(totp_vectors) / sizeof(totp_vectors[0]);
         i++) {
        apr_int64_t step = jklg_totp_step(totp_vectors[i].time);
        ck_assert_str_eq(jklg_hotp_code(test_pool, SEED, SEED_LEN, step, 8),
                         totp_vectors[i].code8);
        /* 6 digits are the same number modulo 10^6: its last six. */
        ck_assert_str_eq(jklg_hotp_code(test_pool, SEED, SEED_LEN, step, 6),
                         totp_vectors[i].code8 + 2);
    }
}
END_TEST

START_TEST(totp_steps)
{
    ck_assert_int_eq(jklg_totp_step(0), 0);
    ck_assert_int_eq(jklg_totp_step(29), 0);
    ck_assert_int_eq(jklg_totp_step(30), 1);
    ck_assert_int_eq(jklg_totp_step(59), 1);
    ck_assert_int_eq(jklg_totp_step(1111111109LL), 0x23523EC);
    ck_assert_int_eq(jklg_totp_step(20000000000LL), 0x27BC86AA);
}
END_TEST

/* --- verify: window, replay, malformed codes -------------------------- */

static const char *code_at(apr_int64_t step)
{
    return jklg_hotp_code(test_pool, SEED, SEED_LEN, step, 6);
}

START_TEST(verify_accepts_the_window)
{
    apr_int64_t now = 1234567890LL, step = jklg_totp_step(now);

    ck_assert_int_eq(jklg_totp_verify(SEED, SEED_LEN, "005924", now, -1),
                     step);
    ck_assert_int_eq(jklg_totp_verify(SEED, SEED_LEN, code_at(step - 1), now,
                                      -1), step - 1);
    ck_assert_int_eq(jklg_totp_verify(SEED, SEED_LEN, code_at(step + 1), now,
                                      -1), step + 1);
    ck_assert_int_eq(jklg_totp_verify(SEED, SEED_LEN, code_at(step - 2), now,
                                      -1), -1);
    ck_assert_int_eq(jklg_totp_verify(SEED, SEED_LEN, code_at(step + 2), now,
                                      -1), -1);
}
END_TEST

START_TEST(verify_refuses_replay)
{
    apr_int64_t now = 1234567890LL, step = jklg_totp_step(now);

    /* The code of a step already used, or older, is refused... */
    ck_assert_int_eq(jklg_totp_verify(SEED, SEED_LEN, code_at(step), now,
                                      step), -1);
    ck_assert_int_eq(jklg_totp_verify(SEED, SEED_LEN, code_at(step - 1), now,
                                      step), -1);
    ck_assert_int_eq(jklg_totp_verify(SEED, SEED_LEN, code_at(step), now,
                                      step + 1), -1);
    /* ...a later one in the window is not. */
    ck_assert_int_eq(jklg_totp_verify(SEED, SEED_LEN, code_at(step + 1), now,
                                      step), step + 1);
    ck_assert_int_eq(jklg_totp_verify(SEED, SEED_LEN, code_at(step), now,
                                      step - 1), step);
}
END_TEST

START_TEST(verify_refuses_malformed)
{
    apr_int64_t now = 1234567890LL;

    ck_assert_int_eq(jklg_totp_verify(SEED, SEED_LEN, NULL, now, -1), -1);
    ck_assert_int_eq(jklg_totp_verify(SEED, SEED_LEN, "", now, -1), -1);
    ck_assert_int_eq(jklg_totp_verify(SEED, SEED_LEN, "05924", now, -1), -1);
    ck_assert_int_eq(jklg_totp_verify(SEED, SEED_LEN, "0059240", now, -1),
                     -1);
    ck_assert_int_eq(jklg_totp_verify(SEED, SEED_LEN, "89005924", now, -1),
                     -1);
    ck_assert_int_eq(jklg_totp_verify(SEED, SEED_LEN, " 05924", now, -1),
                     -1);
    ck_assert_int_eq(jklg_totp_verify(SEED, SEED_LEN, "00592a", now, -1),
                     -1);
    /* Another secret's code. */
    ck_assert_int_eq(jklg_totp_verify((const unsigned char *)
                                      "12345678901234567891", SEED_LEN,
                                      "005924", now, -1), -1);
}
END_TEST

/* --- base32 ----------------------------------------------------------- */

START_TEST(base32_rfc4648_vectors)
{
    static const char *const plain[] = {"", "f", "fo", "foo", "foob",
                                        "fooba", "foobar"};
    static const char *const enc[] = {"", "MY", "MZXQ", "MZXW6", "MZXW6YQ",
                                      "MZXW6YTB", "MZXW6YTBOI"};
    apr_size_t len;
    unsigned char *bin;

    for (int i = 0; i < 7; i++) {
        ck_assert_str_eq(jklg_base32_encode(test_pool, (const unsigned char *)
                                            plain[i], strlen(plain[i])),
                         enc[i]);
        bin = jklg_base32_decode(test_pool, enc[i], &len);
        ck_assert_ptr_nonnull(bin);
        ck_assert_uint_eq(len, strlen(plain[i]));
        ck_assert(!memcmp(bin, plain[i], len));
    }
    ck_assert_str_eq(jklg_base32_encode(test_pool, SEED, SEED_LEN), SEED_B32);
}
END_TEST

START_TEST(base32_decode_is_forgiving_but_not_lax)
{
    apr_size_t len = 99;
    unsigned char *bin;

    bin = jklg_base32_decode(test_pool, "mzxw 6ytb oi======", &len);
    ck_assert_ptr_nonnull(bin);
    ck_assert_uint_eq(len, 6);
    ck_assert(!memcmp(bin, "foobar", 6));
    ck_assert_ptr_null(jklg_base32_decode(test_pool, "MZXW1", &len));
    ck_assert_ptr_null(jklg_base32_decode(test_pool, "MZ=XW", &len));
    ck_assert_ptr_null(jklg_base32_decode(test_pool, NULL, &len));
}
END_TEST

/* --- otpauth URL ------------------------------------------------------- */

START_TEST(otpauth_url_is_encoded)
{
    ck_assert_str_eq(jklg_totp_url(test_pool, "JKLG Travel", "ana+1@x.test",
                                   SEED_B32),
                     "otpauth://totp/JKLG%20Travel:ana%2B1%40x.test?secret="
                     SEED_B32 "&issuer=JKLG%20Travel&algorithm=SHA1"
                     "&digits=6&period=30");
    ck_assert_str_eq(jklg_totp_url(test_pool, "a:b&c", "u", "AB"),
                     "otpauth://totp/a%3Ab%26c:u?secret=AB&issuer=a%3Ab%26c"
                     "&algorithm=SHA1&digits=6&period=30");
}
END_TEST

/* --- recovery codes ---------------------------------------------------- */

START_TEST(recovery_codes)
{
    const char *a = jklg_recovery_code_new(test_pool);
    const char *b = jklg_recovery_code_new(test_pool);
    const char *h = jklg_recovery_code_hash(test_pool, a);
    char *upper = apr_pstrdup(test_pool, a);

    ck_assert_uint_eq(strlen(a), 19);
    ck_assert_str_ne(a, b);
    ck_assert_ptr_nonnull(h);
    ck_assert_uint_eq(strlen(h), 64);
    ck_assert_str_ne(h, jklg_recovery_code_hash(test_pool, b));
    /* What a person types: upper case, no dashes, spaces. */
    for (char *c = upper; *c; c++) {
        *c = (char)(*c == '-' ? ' ' : toupper((unsigned char)*c));
    }
    ck_assert_str_eq(jklg_recovery_code_hash(test_pool, upper), h);
    /* Known hash: sha256(b"abcdefghijklmnop") from /usr/bin/python3. */
    ck_assert_str_eq(jklg_recovery_code_hash(test_pool, "abcd-efgh-ijkl-mnop"),
                     "f39dac6cbaba535e2c207cd0cd8f1549"
                     "74223c848f727f98b3564cea569b41cf");
    ck_assert_ptr_null(jklg_recovery_code_hash(test_pool, "abcd-efgh-ijkl"));
    ck_assert_ptr_null(jklg_recovery_code_hash(test_pool,
                                               "abcd-efgh-ijkl-mnop-q"));
    ck_assert_ptr_null(jklg_recovery_code_hash(test_pool,
                                               "abcd-efgh-ijkl-mno1"));
    ck_assert_ptr_null(jklg_recovery_code_hash(test_pool, ""));
    ck_assert_ptr_null(jklg_recovery_code_hash(test_pool, NULL));
}
END_TEST

/* --- JKLGMFAKey and sealing ---------------------------------------------- */

START_TEST(key_parse_formats)
{
    unsigned char raw[JKLG_MFA_KEY_BYTES];
    char b64[sodium_base64_ENCODED_LEN(JKLG_MFA_KEY_BYTES,
                                       sodium_base64_VARIANT_ORIGINAL)];
    const char *err = NULL, *text;
    unsigned char *key;

    randombytes_buf(raw, sizeof(raw));
    key = jklg_mfa_key_parse(test_pool, (const char *)raw, sizeof(raw), &err);
    ck_assert_ptr_nonnull(key);
    ck_assert(!memcmp(key, raw, sizeof(raw)));
    sodium_bin2base64(b64, sizeof(b64), raw, sizeof(raw),
                      sodium_base64_VARIANT_ORIGINAL);
    text = apr_pstrcat(test_pool, " ", b64, "\n", NULL);
    key = jklg_mfa_key_parse(test_pool, text, strlen(text), &err);
    ck_assert_ptr_nonnull(key);
    ck_assert(!memcmp(key, raw, sizeof(raw)));

    /* 31 or 33 bytes, base64 of 16 bytes, not base64. */
    ck_assert_ptr_null(jklg_mfa_key_parse(test_pool, (const char *)raw, 31,
                                          &err));
    ck_assert_ptr_nonnull(strstr(err, "32 bytes"));
    ck_assert_ptr_null(jklg_mfa_key_parse(test_pool,
                       "0123456789abcdef0123456789abcdef!", 33, &err));
    ck_assert_ptr_null(jklg_mfa_key_parse(test_pool,
                       "MDEyMzQ1Njc4OWFiY2RlZg==", 24, &err));
    ck_assert_ptr_null(jklg_mfa_key_parse(test_pool, "", 0, &err));
}
END_TEST

START_TEST(seal_and_open)
{
    unsigned char key[JKLG_MFA_KEY_BYTES], other[JKLG_MFA_KEY_BYTES];
    const char *box, *nonce, *box2, *nonce2;
    unsigned char *secret;
    apr_size_t len = 0;
    char *tampered;

    randombytes_buf(key, sizeof(key));
    randombytes_buf(other, sizeof(other));
    jklg_mfa_seal(test_pool, key, SEED, SEED_LEN, &box, &nonce);
    ck_assert_ptr_null(strstr(box, "3132333435"));   /* not the plain hex */
    secret = jklg_mfa_open(test_pool, key, box, nonce, &len);
    ck_assert_ptr_nonnull(secret);
    ck_assert_uint_eq(len, SEED_LEN);
    ck_assert(!memcmp(secret, SEED, SEED_LEN));

    /* Fresh nonce each time. */
    jklg_mfa_seal(test_pool, key, SEED, SEED_LEN, &box2, &nonce2);
    ck_assert_str_ne(nonce, nonce2);
    ck_assert_str_ne(box, box2);

    ck_assert_ptr_null(jklg_mfa_open(test_pool, other, box, nonce, &len));
    ck_assert_ptr_null(jklg_mfa_open(test_pool, key, box, nonce2, &len));
    tampered = apr_pstrdup(test_pool, box);
    tampered[0] = tampered[0] == '0' ? '1' : '0';
    ck_assert_ptr_null(jklg_mfa_open(test_pool, key, tampered, nonce, &len));
    ck_assert_ptr_null(jklg_mfa_open(test_pool, key, "zz", nonce, &len));
    ck_assert_ptr_null(jklg_mfa_open(test_pool, key, NULL, nonce, &len));
    ck_assert_ptr_null(jklg_mfa_open(test_pool, key, box, "00", &len));
}
END_TEST

Suite *suite_totp(void)
{
    Suite *s = suite_create("totp");
    TCase *tc = tcase_create("core");

    tcase_add_checked_fixture(tc, test_pool_setup, test_pool_teardown);
    tcase_add_test(tc, hotp_rfc4226_vectors);
    tcase_add_test(tc, totp_rfc6238_vectors);
    tcase_add_test(tc, totp_steps);
    tcase_add_test(tc, verify_accepts_the_window);
    tcase_add_test(tc, verify_refuses_replay);
    tcase_add_test(tc, verify_refuses_malformed);
    tcase_add_test(tc, base32_rfc4648_vectors);
    tcase_add_test(tc, base32_decode_is_forgiving_but_not_lax);
    tcase_add_test(tc, otpauth_url_is_encoded);
    tcase_add_test(tc, recovery_codes);
    tcase_add_test(tc, key_parse_formats);
    tcase_add_test(tc, seal_and_open);
    suite_add_tcase(s, tc);
    return s;
}
