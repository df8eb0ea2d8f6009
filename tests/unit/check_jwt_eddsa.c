/* Unit tests of jklg_jwt.c's EdDSA side: RFC 8037's vector, Ed25519 key
 * files, the JWK of the public key, rotation between HS256 and EdDSA, and
 * the bad-token matrix for EdDSA (the algorithm-confusion attack first).
 * Hostile tokens are signed here with libsodium directly, so that a
 * correct signature never hides the check under test. */
#include <string.h>
#include <sodium.h>
#include <apr_strings.h>
#include "suites.h"
#include "jklg_jwt.h"
#include "jklg_token.h"

#define ISS "https://agency.example"
#define NOW ((apr_int64_t)1700000100)
#define HS_KEY "another-key-for-the-rotation-tests-0123456789"

/* RFC 8037, Appendix A.1 (the key) and A.4 (the signed JWS). */
#define RFC_D "nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A"
#define RFC_X "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"
#define RFC_INPUT "eyJhbGciOiJFZERTQSJ9.RXhhbXBsZSBvZiBFZDI1NTE5IHNpZ25pbmc"
#define RFC_SIG "hgyY0il_MGCjP0JzlnLWG1PPOt7-09PGcvMg3AIbQR6dWbhijcNR4ki4iylGjg5BhVsPt9g7sVvpAr_MuM0KAg"
/* The same key as `openssl pkey` writes it (PKCS#8, RFC 8410). */
#define RFC_PEM "-----BEGIN PRIVATE KEY-----\n" \
    "MC4CAQAwBQYDK2VwBCIEIJ1hsZ3v/VpguoRK9JLsLMREScVpezJpGXA7rAMcrn9g\n" \
    "-----END PRIVATE KEY-----\n"
/* hashlib.sha256(x).hexdigest()[:16] */
#define RFC_DERIVED_KID "21fe31dfa154a261"
/* Keys of other types, from `openssl genpkey`. */
#define X25519_PEM "-----BEGIN PRIVATE KEY-----\n" \
    "MC4CAQAwBQYDK2VuBCIEILhH+DI3wnJQ8fdnlJhQRx8ueXSZgQHemvDlQFUhar9W\n" \
    "-----END PRIVATE KEY-----\n"
#define P256_PEM "-----BEGIN PRIVATE KEY-----\n" \
    "MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgm+Ccu5smvBC/z6D+\n" \
    "wmx865TBOP1VxfDjqYpK6HCzfkuhRANCAASg6iSjRwEuEk6BxzAzWz6HMehkC5Tv\n" \
    "CBDBzNEnmxtiBUQrNh5CEz9dLE1ubrwDKhIqh3t9/F+ADWq2SjSD8v1D\n" \
    "-----END PRIVATE KEY-----\n"

#define ED_HDR "{\"alg\":\"EdDSA\",\"typ\":\"JWT\",\"kid\":\"e1\"}"
#define CLAIMS "{\"iss\":\"" ISS "\",\"sub\":\"cus_42\",\"sid\":\"ses_7\"," \
               "\"iat\":1700000000,\"exp\":1700604800}"

static const jklg_jwt_claims_t claims = {
    ISS, "cus_42", "ses_7", 1700000000, 1700604800
};

/* keys[0]: Ed25519 "e1" (RFC 8037's key), keys[1]: HS256 "h1". */
static jklg_jwt_key_t keys[2];

static const unsigned char *rfc_seed(void)
{
    apr_size_t len;
    unsigned char *d = jklg_b64url_decode(test_pool, RFC_D, &len);

    ck_assert_int_eq(len, JKLG_JWT_ED25519_SEED);
    return d;
}

static void setup(void)
{
    test_pool_setup();
    memset(keys, 0, sizeof(keys));
    jklg_jwt_ed25519_key(test_pool, "e1", rfc_seed(), &keys[0]);
    keys[1].kid = "h1";
    keys[1].key = (const unsigned char *)HS_KEY;
    keys[1].key_len = sizeof(HS_KEY) - 1;
}

static const char *b64(const char *s)
{
    return jklg_b64url_encode(test_pool, (const unsigned char *)s, strlen(s));
}

/* header.payload signed with Ed25519 by libsodium itself. */
static const char *ed_sign(const unsigned char *sk, const char *header,
                           const char *payload)
{
    unsigned char sig[crypto_sign_BYTES];
    const char *input = apr_pstrcat(test_pool, b64(header), ".", b64(payload),
                                    NULL);

    crypto_sign_detached(sig, NULL, (const unsigned char *)input,
                         strlen(input), sk);
    return apr_pstrcat(test_pool, input, ".",
                       jklg_b64url_encode(test_pool, sig, sizeof(sig)), NULL);
}

/* header.payload MACed with HMAC-SHA-256 under any key bytes. */
static const char *hs_sign(const unsigned char *key, apr_size_t key_len,
                           const char *header, const char *payload)
{
    crypto_auth_hmacsha256_state st;
    unsigned char mac[crypto_auth_hmacsha256_BYTES];
    const char *input = apr_pstrcat(test_pool, b64(header), ".", b64(payload),
                                    NULL);

    crypto_auth_hmacsha256_init(&st, key, key_len);
    crypto_auth_hmacsha256_update(&st, (const unsigned char *)input,
                                  strlen(input));
    crypto_auth_hmacsha256_final(&st, mac);
    return apr_pstrcat(test_pool, input, ".",
                       jklg_b64url_encode(test_pool, mac, sizeof(mac)), NULL);
}

static const char *with_signature(const char *token, const char *sig)
{
    const char *dot = strrchr(token, '.');

    return apr_pstrcat(test_pool,
                       apr_pstrmemdup(test_pool, token, dot - token + 1),
                       sig, NULL);
}

static void assert_refused(const char *token, const char *reason)
{
    jklg_jwt_claims_t out = { "untouched", NULL, NULL, 0, 0 };
    const char *why = NULL;

    ck_assert_msg(jklg_jwt_verify(test_pool, token, keys, 2, ISS, NOW, &out,
                                  &why) == APR_EINVAL,
                  "accepted: %s", token);
    ck_assert_msg(why && strstr(why, reason),
                  "refused for '%s', expected '%s'", why, reason);
    ck_assert_str_eq(out.iss, "untouched");
}

static void assert_accepted(const char *token)
{
    jklg_jwt_claims_t out;
    const char *why = "unset";

    ck_assert_msg(jklg_jwt_verify(test_pool, token, keys, 2, ISS, NOW, &out,
                                  &why) == APR_SUCCESS,
                  "refused (%s): %s", why, token);
    ck_assert_str_eq(out.sub, "cus_42");
    ck_assert_str_eq(out.sid, "ses_7");
}

/* --- RFC 8037 and signing --------------------------------------------- */

START_TEST(rfc8037_vector)
{
    const char *altered = "eyJhbGciOiJFZERTQSJ9.RXhhbXBsZSBvZiBFZDI1NTE5IHNpZ25pbmd";

    ck_assert_str_eq(jklg_b64url_encode(test_pool, keys[0].public_key,
                                        JKLG_JWT_ED25519_PUBLIC), RFC_X);
    ck_assert_str_eq(jklg_jwt_signature(test_pool, &keys[0], RFC_INPUT,
                                        strlen(RFC_INPUT)), RFC_SIG);
    ck_assert_ptr_null(jklg_jwt_signature_check(test_pool, &keys[0],
                                                RFC_INPUT, strlen(RFC_INPUT),
                                                RFC_SIG));
    ck_assert_str_eq(jklg_jwt_signature_check(test_pool, &keys[0], altered,
                                              strlen(altered), RFC_SIG),
                     "bad signature");
}
END_TEST

START_TEST(eddsa_sign_verify_round_trip)
{
    const char *token = jklg_jwt_sign(test_pool, &keys[0], &claims);
    const char *dot;

    ck_assert_ptr_nonnull(token);
    dot = strchr(token, '.');
    ck_assert_str_eq(apr_pstrmemdup(test_pool, token, dot - token),
                     b64(ED_HDR));
    /* Ed25519 is deterministic: the same as libsodium signing it alone. */
    ck_assert_str_eq(token, ed_sign(keys[0].key, ED_HDR, CLAIMS));
    assert_accepted(token);
}
END_TEST

START_TEST(rotation_between_kinds)
{
    jklg_jwt_key_t verify_only[2];
    jklg_jwt_claims_t out;

    /* Either kind verifies while both are configured. */
    assert_accepted(jklg_jwt_sign(test_pool, &keys[1], &claims));
    assert_accepted(jklg_jwt_sign(test_pool, &keys[0], &claims));
    /* An Ed25519 key needs only its public half to verify, and without
     * its secret half it cannot sign. */
    verify_only[0] = keys[1];
    verify_only[1] = keys[0];
    verify_only[1].key = NULL;
    verify_only[1].key_len = 0;
    ck_assert_ptr_null(jklg_jwt_sign(test_pool, &verify_only[1], &claims));
    ck_assert_int_eq(jklg_jwt_verify(test_pool,
                                     jklg_jwt_sign(test_pool, &keys[0],
                                                   &claims),
                                     verify_only, 2, ISS, NOW, &out, NULL),
                     APR_SUCCESS);
}
END_TEST

START_TEST(public_jwk)
{
    json_t *jwk = jklg_jwt_public_jwk(test_pool, &keys[0]);

    ck_assert_ptr_nonnull(jwk);
    ck_assert_int_eq(json_object_size(jwk), 6);
    ck_assert_str_eq(json_string_value(json_object_get(jwk, "kty")), "OKP");
    ck_assert_str_eq(json_string_value(json_object_get(jwk, "crv")),
                     "Ed25519");
    ck_assert_str_eq(json_string_value(json_object_get(jwk, "x")), RFC_X);
    ck_assert_str_eq(json_string_value(json_object_get(jwk, "kid")), "e1");
    ck_assert_str_eq(json_string_value(json_object_get(jwk, "use")), "sig");
    ck_assert_str_eq(json_string_value(json_object_get(jwk, "alg")), "EdDSA");
    /* An HS256 secret is never published. */
    ck_assert_ptr_null(jklg_jwt_public_jwk(test_pool, &keys[1]));
}
END_TEST

START_TEST(derived_kid_is_of_public_key)
{
    jklg_jwt_key_t k;

    jklg_jwt_ed25519_key(test_pool, NULL, rfc_seed(), &k);
    ck_assert_str_eq(k.kid, RFC_DERIVED_KID);
}
END_TEST

/* --- the bad-token matrix, EdDSA --------------------------------------- */

START_TEST(refuse_hs256_with_ed25519_kid)
{
    const char *hdr = "{\"alg\":\"HS256\",\"typ\":\"JWT\",\"kid\":\"e1\"}";
    const char *x = RFC_X;

    /* The confusion attack: the public key, as bytes or as published in
     * the JWKS, used as an HMAC secret. */
    assert_refused(hs_sign(keys[0].public_key, JKLG_JWT_ED25519_PUBLIC, hdr,
                           CLAIMS), "alg is not the algorithm");
    assert_refused(hs_sign((const unsigned char *)x, strlen(x), hdr, CLAIMS),
                   "alg is not the algorithm");
    /* And the other way round: EdDSA naming the HS256 key. */
    assert_refused(ed_sign(keys[0].key,
                           "{\"alg\":\"EdDSA\",\"typ\":\"JWT\",\"kid\":\"h1\"}",
                           CLAIMS), "alg is not the algorithm");
}
END_TEST

START_TEST(refuse_eddsa_wrong_signature)
{
    unsigned char seed[JKLG_JWT_ED25519_SEED];
    jklg_jwt_key_t other;

    /* Another Ed25519 key under our kid. */
    memset(seed, 7, sizeof(seed));
    jklg_jwt_ed25519_key(test_pool, "e1", seed, &other);
    assert_refused(jklg_jwt_sign(test_pool, &other, &claims),
                   "bad signature");
    /* Our signature over other claims. */
    assert_refused(with_signature(ed_sign(keys[0].key, ED_HDR,
                                          "{\"sub\":\"cus_43\"}"),
                                  strrchr(jklg_jwt_sign(test_pool, &keys[0],
                                                        &claims), '.') + 1),
                   "bad signature");
}
END_TEST

START_TEST(refuse_eddsa_truncated)
{
    const char *token = jklg_jwt_sign(test_pool, &keys[0], &claims);
    apr_size_t len = strlen(token);

    assert_refused(apr_pstrmemdup(test_pool, token, len - 1), "signature");
    assert_refused(apr_pstrmemdup(test_pool, token, len - 4), "signature");
    assert_refused(apr_pstrmemdup(test_pool, token, len - 6), "64 bytes");
    assert_refused(apr_pstrmemdup(test_pool, token, strrchr(token, '.')
                                  - token + 1), "64 bytes");
    assert_refused(apr_pstrmemdup(test_pool, token, strrchr(token, '.')
                                  - token), "three parts");
}
END_TEST

START_TEST(refuse_eddsa_alg_none_and_unknown_kid)
{
    const char *none = "{\"alg\":\"none\",\"typ\":\"JWT\",\"kid\":\"e1\"}";

    assert_refused(apr_pstrcat(test_pool, b64(none), ".", b64(CLAIMS), ".",
                               NULL), "alg");
    assert_refused(ed_sign(keys[0].key, none, CLAIMS), "alg");
    assert_refused(ed_sign(keys[0].key,
                           "{\"alg\":\"eddsa\",\"typ\":\"JWT\",\"kid\":\"e1\"}",
                           CLAIMS), "alg");
    assert_refused(ed_sign(keys[0].key,
                           "{\"alg\":\"Ed25519\",\"typ\":\"JWT\",\"kid\":\"e1\"}",
                           CLAIMS), "alg");
    assert_refused(ed_sign(keys[0].key,
                           "{\"alg\":\"EdDSA\",\"typ\":\"JWT\",\"kid\":\"e9\"}",
                           CLAIMS), "unknown kid");
    assert_refused(ed_sign(keys[0].key, "{\"alg\":\"EdDSA\",\"typ\":\"JWT\"}",
                           CLAIMS), "missing kid");
}
END_TEST

START_TEST(refuse_eddsa_wrong_length_signature)
{
    const char *token = jklg_jwt_sign(test_pool, &keys[0], &claims);
    unsigned char sig[crypto_sign_BYTES + 1];

    memset(sig, 1, sizeof(sig));
    /* An HMAC's 32 bytes, 63 and 65. */
    assert_refused(with_signature(token, jklg_b64url_encode(test_pool, sig,
                                                            32)), "64 bytes");
    assert_refused(with_signature(token, jklg_b64url_encode(test_pool, sig,
                                                            63)), "64 bytes");
    assert_refused(with_signature(token, jklg_b64url_encode(test_pool, sig,
                                                            65)), "64 bytes");
}
END_TEST

START_TEST(refuse_eddsa_non_canonical_base64url)
{
    const char *token = jklg_jwt_sign(test_pool, &keys[0], &claims);
    const char *sig = strrchr(token, '.') + 1;
    char *stray = apr_pstrdup(test_pool, sig);
    char *std = apr_pstrdup(test_pool, sig);
    const char *last;

    /* 64 bytes end in 2 spare bits: 'A' -> 'B' sets one of them. */
    last = stray + strlen(stray) - 1;
    ck_assert_msg(strchr("AQgw", *last), "unexpected final char %c", *last);
    stray[strlen(stray) - 1] = *last == 'A' ? 'B' : *last + 1;
    assert_refused(with_signature(token, stray), "base64url");
    assert_refused(with_signature(token, apr_pstrcat(test_pool, sig, "==",
                                                     NULL)), "base64url");
    for (char *c = std; *c; c++) {
        *c = *c == '-' ? '+' : *c == '_' ? '/' : *c;
    }
    if (strcmp(std, sig)) {
        assert_refused(with_signature(token, std), "base64url");
    }
}
END_TEST

/* S + L is the same point equation's other spelling: RFC 8032 requires
 * S < L, and accepting both would make signatures malleable. */
START_TEST(refuse_eddsa_non_canonical_s)
{
    static const unsigned char l[32] = {
        0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58,
        0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde, 0x14,
        0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10
    };
    const char *token = jklg_jwt_sign(test_pool, &keys[0], &claims);
    apr_size_t len;
    unsigned char *sig = jklg_b64url_decode(test_pool,
                                            strrchr(token, '.') + 1, &len);
    unsigned int carry = 0;

    ck_assert_int_eq(len, crypto_sign_BYTES);
    for (int i = 0; i < 32; i++) {
        carry += sig[32 + i] + l[i];
        sig[32 + i] = carry & 0xff;
        carry >>= 8;
    }
    assert_refused(with_signature(token, jklg_b64url_encode(test_pool, sig,
                                                            len)),
                   "bad signature");
}
END_TEST

/* --- key files ---------------------------------------------------------- */

static void assert_parsed(const char *text)
{
    unsigned char seed[JKLG_JWT_ED25519_SEED];
    const char *why = "unset";

    ck_assert_msg(jklg_jwt_ed25519_parse(test_pool, text, strlen(text), seed,
                                         &why) == APR_SUCCESS,
                  "refused (%s): %s", why, text);
    ck_assert_ptr_null(why);
    ck_assert_mem_eq(seed, rfc_seed(), sizeof(seed));
}

static void assert_unparsed(const char *text, const char *reason)
{
    unsigned char seed[JKLG_JWT_ED25519_SEED];
    const char *why = NULL;

    ck_assert_msg(jklg_jwt_ed25519_parse(test_pool, text, strlen(text), seed,
                                         &why) == APR_EINVAL,
                  "accepted: %s", text);
    ck_assert_msg(why && strstr(why, reason),
                  "refused for '%s', expected '%s'", why, reason);
    /* The reason never quotes the key. */
    ck_assert_ptr_null(strstr(why, "MC4C"));
    ck_assert_ptr_null(strstr(why, RFC_D));
}

START_TEST(parse_accepted_forms)
{
    assert_parsed(RFC_PEM);
    assert_parsed("\n  " RFC_PEM "\n\n");
    assert_parsed("-----BEGIN PRIVATE KEY-----\r\n"
                  "MC4CAQAwBQYDK2VwBCIEIJ1hsZ3v/VpguoRK9JLsLMREScVpezJpGXA7rAMcrn9g"
                  "\r\n-----END PRIVATE KEY-----\r\n");
    assert_parsed(RFC_D);
    assert_parsed(RFC_D "\n");
}
END_TEST

START_TEST(parse_refused_forms)
{
    assert_unparsed("", "empty");
    assert_unparsed(" \n\t", "empty");
    /* Wrong size: 31 and 33 bytes, an HS256-style secret. */
    assert_unparsed("nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyufw", "32 bytes");
    assert_unparsed(RFC_D "AA", "neither");
    assert_unparsed("this-is-a-long-hs256-secret-not-a-key!!", "neither");
    assert_unparsed(RFC_D "=", "neither");
    /* Wrong type. */
    assert_unparsed(X25519_PEM, "not hold an Ed25519 key");
    assert_unparsed(P256_PEM, "not hold an Ed25519 key");
    assert_unparsed("-----BEGIN ENCRYPTED PRIVATE KEY-----\nMIGb\n"
                    "-----END ENCRYPTED PRIVATE KEY-----\n",
                    "not an unencrypted PRIVATE KEY");
    assert_unparsed("-----BEGIN PUBLIC KEY-----\n"
                    "MCowBQYDK2VwAyEA11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=\n"
                    "-----END PUBLIC KEY-----\n",
                    "not an unencrypted PRIVATE KEY");
    /* Broken PEM. */
    assert_unparsed("-----BEGIN PRIVATE KEY-----\n"
                    "MC4CAQAwBQYDK2VwBCIEIJ1hsZ3v/VpguoRK9JLsLMREScVpezJpGXA7rAMcrn9g\n",
                    "does not end");
    assert_unparsed("-----BEGIN PRIVATE KEY-----\n"
                    "MC4CAQAwBQYDK2VwBCIEIJ1hsZ3v/Vpgu*RK9JLsLMREScVpezJpGXA7rAMcrn9g\n"
                    "-----END PRIVATE KEY-----\n", "not base64");
    /* A truncated Ed25519 PKCS#8 (the last seed bytes lost). */
    assert_unparsed("-----BEGIN PRIVATE KEY-----\n"
                    "MC4CAQAwBQYDK2VwBCIEIJ1hsZ3v/VpguoRK9JLsLMREScVpezJpGXA7\n"
                    "-----END PRIVATE KEY-----\n", "48-byte PKCS#8");
}
END_TEST

Suite *suite_jwt_eddsa(void)
{
    Suite *s = suite_create("jwt_eddsa");
    TCase *tc = tcase_create("jwt_eddsa");

    tcase_add_checked_fixture(tc, setup, test_pool_teardown);
    tcase_add_test(tc, rfc8037_vector);
    tcase_add_test(tc, eddsa_sign_verify_round_trip);
    tcase_add_test(tc, rotation_between_kinds);
    tcase_add_test(tc, public_jwk);
    tcase_add_test(tc, derived_kid_is_of_public_key);
    tcase_add_test(tc, refuse_hs256_with_ed25519_kid);
    tcase_add_test(tc, refuse_eddsa_wrong_signature);
    tcase_add_test(tc, refuse_eddsa_truncated);
    tcase_add_test(tc, refuse_eddsa_alg_none_and_unknown_kid);
    tcase_add_test(tc, refuse_eddsa_wrong_length_signature);
    tcase_add_test(tc, refuse_eddsa_non_canonical_base64url);
    tcase_add_test(tc, refuse_eddsa_non_canonical_s);
    tcase_add_test(tc, parse_accepted_forms);
    tcase_add_test(tc, parse_refused_forms);
    suite_add_tcase(s, tc);
    return s;
}
