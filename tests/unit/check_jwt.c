/* Unit tests of jklg_jwt.c: signing, an interop vector, key rotation, and
 * every way a token must be refused. Hostile tokens are built here with
 * libsodium's HMAC directly, so that a correct signature never hides the
 * check under test. */
#include <string.h>
#include <sodium.h>
#include <apr_strings.h>
#include "suites.h"
#include "jklg_jwt.h"
#include "jklg_token.h"

#define ISS "https://agency.example"
#define NOW ((apr_int64_t)1700000100)

#define KEY1 "jklg-golden-vector-key-0123456789abcdef"
#define KEY2 "another-key-for-the-rotation-tests-0123456789"

#define HDR "{\"alg\":\"HS256\",\"typ\":\"JWT\",\"kid\":\"k1\"}"
/* A header with this alg value (JSON text), otherwise ours. */
#define WITH_ALG(alg) "{\"alg\":" alg ",\"typ\":\"JWT\",\"kid\":\"k1\"}"
#define C_ISS "\"iss\":\"" ISS "\""
#define C_SUB "\"sub\":\"cus_42\""
#define C_SID "\"sid\":\"ses_7\""
#define C_IAT "\"iat\":1700000000"
#define C_EXP "\"exp\":1700604800"
#define CLAIMS "{" C_ISS "," C_SUB "," C_SID "," C_IAT "," C_EXP "}"

/* Made with /usr/bin/python3 (hmac, hashlib, base64) from KEY1, HDR and
 * CLAIMS, and checked with python3-jwt:
 *   jwt.decode(tok, KEY1, algorithms=["HS256"], issuer=ISS,
 *              options={"verify_exp": False})  */
#define GOLDEN \
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCIsImtpZCI6ImsxIn0." \
    "eyJpc3MiOiJodHRwczovL2FnZW5jeS5leGFtcGxlIiwic3ViIjoiY3VzXzQyIiwic2lk" \
    "Ijoic2VzXzciLCJpYXQiOjE3MDAwMDAwMDAsImV4cCI6MTcwMDYwNDgwMH0." \
    "vVWGgFy0NJyn6GdhrRqj3y44p7RTMI37jkILfISON1c"

/* The same claims issued by python3-jwt 2.6 (jwt.encode(claims, KEY1,
 * algorithm="HS256", headers={"kid": "k1"})): its header is sorted,
 * {"alg":"HS256","kid":"k1","typ":"JWT"}. */
#define PYJWT \
    "eyJhbGciOiJIUzI1NiIsImtpZCI6ImsxIiwidHlwIjoiSldUIn0." \
    "eyJpc3MiOiJodHRwczovL2FnZW5jeS5leGFtcGxlIiwic3ViIjoiY3VzXzQyIiwic2lk" \
    "Ijoic2VzXzciLCJpYXQiOjE3MDAwMDAwMDAsImV4cCI6MTcwMDYwNDgwMH0." \
    "uSCt2prPq4uzwCKuVdzsFD0moXdon7b8td8FhBpJ69Y"

/* hashlib.sha256(KEY1).hexdigest()[:16] */
#define KEY1_DERIVED_KID "d0598a13f82204cf"

static const jklg_jwt_key_t keys[2] = {
    { "k1", (const unsigned char *)KEY1, sizeof(KEY1) - 1, JKLG_JWT_HS256, NULL },
    { "k2", (const unsigned char *)KEY2, sizeof(KEY2) - 1, JKLG_JWT_HS256, NULL },
};

static const jklg_jwt_claims_t claims = {
    ISS, "cus_42", "ses_7", 1700000000, 1700604800
};

static const char *b64(const char *s)
{
    return jklg_b64url_encode(test_pool, (const unsigned char *)s, strlen(s));
}

/* A correctly signed token made of any two first parts, encoded or not. */
static const char *sign_parts(const jklg_jwt_key_t *key, const char *header,
                              const char *payload)
{
    crypto_auth_hmacsha256_state st;
    unsigned char mac[crypto_auth_hmacsha256_BYTES];
    const char *signed_part = apr_pstrcat(test_pool, header, ".", payload,
                                          NULL);

    crypto_auth_hmacsha256_init(&st, key->key, key->key_len);
    crypto_auth_hmacsha256_update(&st, (const unsigned char *)signed_part,
                                  strlen(signed_part));
    crypto_auth_hmacsha256_final(&st, mac);
    return apr_pstrcat(test_pool, signed_part, ".",
                       jklg_b64url_encode(test_pool, mac, sizeof(mac)), NULL);
}

/* A correctly signed token for any header and payload text. */
static const char *forge(const char *header, const char *payload)
{
    return sign_parts(&keys[0], b64(header), b64(payload));
}

/* s in the standard base64 alphabet. */
static const char *to_standard(const char *s)
{
    char *std = apr_pstrdup(test_pool, s);

    for (char *c = std; *c; c++) {
        *c = *c == '-' ? '+' : *c == '_' ? '/' : *c;
    }
    return std;
}

/* token with its part `index` (0, 1, 2) replaced by `part`. */
static const char *replace_part(const char *token, int index,
                                const char *part)
{
    char *copy = apr_pstrdup(test_pool, token);
    char *last;
    const char *parts[3];

    parts[0] = apr_strtok(copy, ".", &last);
    parts[1] = apr_strtok(NULL, ".", &last);
    parts[2] = apr_strtok(NULL, ".", &last);
    parts[index] = part;
    return apr_pstrcat(test_pool, parts[0], ".", parts[1], ".", parts[2],
                       NULL);
}

/* The cache of verified tokens of the current test (made on first use
 * in its pool). */
static jklg_jwt_cache_t *test_cache(void)
{
    static jklg_jwt_cache_t *cache;
    static apr_pool_t *made_in;

    if (made_in != test_pool) {
        ck_assert_int_eq(jklg_jwt_cache_create(&cache, test_pool, 64),
                         APR_SUCCESS);
        made_in = test_pool;
    }
    return cache;
}

/* Every verification of this file also goes through the cache, twice
 * (filling it, then perhaps answered from it), and must give the same
 * answer, reason and claims as jklg_jwt_verify. */
static apr_status_t verify_at(const char *token, apr_int64_t now,
                              jklg_jwt_claims_t *out, const char **why)
{
    apr_status_t rv = jklg_jwt_verify(test_pool, token, keys, 2, ISS, now,
                                      out, why);

    for (int i = 0; i < 2; i++) {
        jklg_jwt_claims_t c = { "untouched", NULL, NULL, 0, 0 };
        const char *w = "unset";

        ck_assert_int_eq(jklg_jwt_verify_cached(test_cache(), test_pool,
                                                token, keys, 2, ISS, now,
                                                &c, &w), rv);
        if (rv == APR_SUCCESS) {
            ck_assert_ptr_null(w);
            ck_assert_str_eq(c.iss, out->iss);
            ck_assert_str_eq(c.sub, out->sub);
            ck_assert_str_eq(c.sid, out->sid);
            ck_assert(c.iat == out->iat && c.exp == out->exp);
        }
        else {
            ck_assert_str_eq(w, *why);
            ck_assert_str_eq(c.iss, "untouched");
        }
    }
    return rv;
}

/* Refused with APR_EINVAL, a reason containing `reason`, *out untouched,
 * and a reason that never echoes the token. */
static void assert_refused_at(const char *token, apr_int64_t now,
                              const char *reason)
{
    jklg_jwt_claims_t out = { "untouched", NULL, NULL, 0, 0 };
    const char *why = NULL;

    ck_assert_msg(verify_at(token, now, &out, &why) == APR_EINVAL,
                  "accepted: %s", token ? token : "(null)");
    ck_assert_msg(why && *why, "no reason for: %s", token);
    ck_assert_msg(strstr(why, reason) != NULL,
                  "refused for '%s', expected '%s'", why, reason);
    ck_assert_str_eq(out.iss, "untouched");
    if (token && strlen(token) > 8) {
        ck_assert_ptr_null(strstr(why, token));
    }
}

static void assert_refused(const char *token, const char *reason)
{
    assert_refused_at(token, NOW, reason);
}

static void assert_forged_refused(const char *header, const char *payload,
                                  const char *reason)
{
    assert_refused(forge(header, payload), reason);
}

static void assert_accepted_at(const char *token, apr_int64_t now)
{
    jklg_jwt_claims_t out;
    const char *why = "unset";

    ck_assert_msg(verify_at(token, now, &out, &why) == APR_SUCCESS,
                  "refused (%s): %s", why, token);
    ck_assert_ptr_null(why);
}

/* --- signing and interop ---------------------------------------------- */

START_TEST(sign_verify_round_trip)
{
    jklg_jwt_claims_t out;
    const char *why = NULL;
    const char *token = jklg_jwt_sign(test_pool, &keys[0], &claims);

    ck_assert_ptr_nonnull(token);
    ck_assert_int_eq(verify_at(token, NOW, &out, &why), APR_SUCCESS);
    ck_assert_str_eq(out.iss, ISS);
    ck_assert_str_eq(out.sub, "cus_42");
    ck_assert_str_eq(out.sid, "ses_7");
    ck_assert_int_eq(out.iat, 1700000000);
    ck_assert_int_eq(out.exp, 1700604800);
}
END_TEST

START_TEST(sign_matches_golden_vector)
{
    ck_assert_str_eq(jklg_jwt_sign(test_pool, &keys[0], &claims), GOLDEN);
    assert_accepted_at(GOLDEN, NOW);
}
END_TEST

START_TEST(verify_pyjwt_token)
{
    assert_accepted_at(PYJWT, NOW);
}
END_TEST

START_TEST(claims_belong_to_pool)
{
    jklg_jwt_claims_t out;
    const char *why;
    apr_pool_t *p;
    char *token = apr_pstrdup(test_pool, GOLDEN);

    apr_pool_create(&p, test_pool);
    ck_assert_int_eq(jklg_jwt_verify(p, token, keys, 2, ISS, NOW, &out,
                                     &why), APR_SUCCESS);
    /* Nothing points into the caller's token. */
    memset(token, 'x', strlen(token));
    ck_assert_str_eq(out.sub, "cus_42");
    ck_assert_str_eq(out.sid, "ses_7");
    ck_assert_str_eq(out.iss, ISS);
    apr_pool_destroy(p);
}
END_TEST

START_TEST(rotation_second_key_verifies)
{
    const char *token = jklg_jwt_sign(test_pool, &keys[1], &claims);
    jklg_jwt_key_t impostor = keys[1];

    assert_accepted_at(token, NOW);
    /* Old key removed from the list: its tokens are refused. */
    ck_assert_int_eq(jklg_jwt_verify(test_pool, token, keys, 1, ISS, NOW,
                                     NULL, NULL), APR_EINVAL);
    /* The kid picks the key: k2's key under kid k1 is a bad signature. */
    impostor.kid = "k1";
    assert_refused(jklg_jwt_sign(test_pool, &impostor, &claims),
                   "bad signature");
}
END_TEST

START_TEST(derive_kid)
{
    const char *kid = jklg_jwt_derive_kid(test_pool,
                                          (const unsigned char *)KEY1,
                                          sizeof(KEY1) - 1);

    ck_assert_str_eq(kid, KEY1_DERIVED_KID);
}
END_TEST

START_TEST(sign_refuses_bad_input)
{
    jklg_jwt_key_t short_key = { "s", (const unsigned char *)"short", 5,
                                 JKLG_JWT_HS256, NULL };
    jklg_jwt_claims_t c = claims;

    ck_assert_ptr_null(jklg_jwt_sign(test_pool, &short_key, &claims));
    c.sub = "";
    ck_assert_ptr_null(jklg_jwt_sign(test_pool, &keys[0], &c));
    c.sub = apr_psprintf(test_pool, "%065d", 1);
    ck_assert_ptr_null(jklg_jwt_sign(test_pool, &keys[0], &c));
    c.sub = NULL;
    ck_assert_ptr_null(jklg_jwt_sign(test_pool, &keys[0], &c));
}
END_TEST

/* --- header ----------------------------------------------------------- */

START_TEST(refuse_alg_none)
{
    const char *none = "{\"alg\":\"none\",\"typ\":\"JWT\",\"kid\":\"k1\"}";

    assert_refused(apr_pstrcat(test_pool, b64(none), ".", b64(CLAIMS), ".",
                               NULL), "alg");
    assert_forged_refused(none, CLAIMS, "alg");
    assert_forged_refused("{\"typ\":\"JWT\",\"kid\":\"k1\"}", CLAIMS, "alg");
}
END_TEST

START_TEST(refuse_other_algs)
{
    assert_forged_refused(WITH_ALG("\"HS512\""), CLAIMS, "alg");
    assert_forged_refused(WITH_ALG("\"RS256\""), CLAIMS, "alg");
    assert_forged_refused(WITH_ALG("\"hs256\""), CLAIMS, "alg");
    assert_forged_refused(WITH_ALG("\"HS256 \""), CLAIMS, "alg");
    assert_forged_refused(WITH_ALG("\"HS256\\u0000\""), CLAIMS, "header");
    assert_forged_refused(WITH_ALG("[\"HS256\"]"), CLAIMS, "alg");
    assert_forged_refused(WITH_ALG("null"), CLAIMS, "alg");
}
END_TEST

START_TEST(refuse_bad_kid)
{
    assert_forged_refused("{\"alg\":\"HS256\",\"typ\":\"JWT\"}", CLAIMS,
                          "missing kid");
    assert_forged_refused("{\"alg\":\"HS256\",\"typ\":\"JWT\",\"kid\":\"k9\"}",
                          CLAIMS, "unknown kid");
    assert_forged_refused("{\"alg\":\"HS256\",\"typ\":\"JWT\",\"kid\":\"\"}",
                          CLAIMS, "unknown kid");
    assert_forged_refused("{\"alg\":\"HS256\",\"typ\":\"JWT\",\"kid\":1}",
                          CLAIMS, "kid is not a string");
    assert_forged_refused("{\"alg\":\"HS256\",\"typ\":\"JWT\",\"kid\":null}",
                          CLAIMS, "kid is not a string");
}
END_TEST

START_TEST(refuse_bad_typ)
{
    assert_forged_refused("{\"alg\":\"HS256\",\"typ\":\"JWS\",\"kid\":\"k1\"}",
                          CLAIMS, "typ");
    assert_forged_refused("{\"alg\":\"HS256\",\"typ\":1,\"kid\":\"k1\"}",
                          CLAIMS, "typ");
    /* typ is optional in JWS. */
    assert_accepted_at(forge("{\"alg\":\"HS256\",\"kid\":\"k1\"}", CLAIMS),
                       NOW);
}
END_TEST

START_TEST(refuse_forbidden_header_members)
{
    static const char *const members[] = {
        "\"jku\":\"https://evil.example/keys\"",
        "\"jwk\":{\"kty\":\"oct\",\"k\":\"AAAA\"}",
        "\"x5u\":\"https://evil.example/cert\"",
        "\"x5c\":[\"MIIB\"]",
        "\"crit\":[\"exp\"]",
    };

    for (apr_size_t i = 0; i < sizeof(members) / sizeof(members[0]); i++) {
        assert_forged_refused(apr_pstrcat(test_pool, "{\"alg\":\"HS256\","
                                          "\"typ\":\"JWT\",\"kid\":\"k1\",",
                                          members[i], "}", NULL),
                              CLAIMS, "member we never issue");
    }
}
END_TEST

START_TEST(refuse_header_not_object)
{
    assert_forged_refused("[\"HS256\"]", CLAIMS,
                          "header is not a JSON object");
    assert_forged_refused("\"HS256\"", CLAIMS, "header is not a JSON object");
    assert_forged_refused("null", CLAIMS, "header is not a JSON object");
    assert_forged_refused("{\"alg\":\"HS256\"", CLAIMS, "header is not valid");
    assert_forged_refused("", CLAIMS, "header is not valid");
}
END_TEST

START_TEST(refuse_duplicate_members)
{
    /* The classic confusion: a parser keeping the last alg sees HS256, a
     * logger or proxy keeping the first sees none. */
    assert_forged_refused("{\"alg\":\"none\",\"alg\":\"HS256\","
                          "\"typ\":\"JWT\",\"kid\":\"k1\"}", CLAIMS,
                          "duplicate");
    assert_forged_refused("{\"alg\":\"HS256\",\"alg\":\"HS256\","
                          "\"typ\":\"JWT\",\"kid\":\"k1\"}", CLAIMS,
                          "duplicate");
    assert_forged_refused(HDR, "{" C_ISS "," C_SUB ",\"sub\":\"cus_1\","
                          C_SID "," C_IAT "," C_EXP "}", "duplicate");
    assert_forged_refused(HDR, "{" C_ISS "," C_SUB "," C_SID "," C_IAT ","
                          C_EXP ",\"exp\":9999999999}", "duplicate");
}
END_TEST

/* --- structure and encoding ------------------------------------------- */

START_TEST(refuse_wrong_part_count)
{
    const char *h = b64(HDR);
    const char *c = b64(CLAIMS);

    assert_refused(apr_pstrcat(test_pool, h, ".", c, NULL), "three parts");
    assert_refused(apr_pstrcat(test_pool, GOLDEN, ".", NULL), "three parts");
    assert_refused(apr_pstrcat(test_pool, GOLDEN, ".AAAA", NULL),
                   "three parts");
    assert_refused(h, "three parts");
    assert_refused("..", "header");
    assert_refused("...", "three parts");
}
END_TEST

START_TEST(refuse_stripped_signature)
{
    assert_refused(apr_pstrcat(test_pool, b64(HDR), ".", b64(CLAIMS), ".",
                               NULL), "signature");
    assert_refused("a.b.", "header");
}
END_TEST

START_TEST(refuse_altered_parts)
{
    const char *other = "{" C_ISS ",\"sub\":\"cus_1\"," C_SID "," C_IAT ","
                        C_EXP "}";
    const char *header = "{\"alg\":\"HS256\",\"typ\":\"JWT\",\"kid\":\"k1\","
                         "\"x\":1}";

    assert_refused(replace_part(GOLDEN, 1, b64(other)), "bad signature");
    assert_refused(replace_part(GOLDEN, 0, b64(header)), "bad signature");
    /* A signature from the other key, or over other claims. */
    assert_refused(replace_part(GOLDEN, 2, "uSCt2prPq4uzwCKuVdzsFD0moXdon7b8"
                                "td8FhBpJ69Y"), "bad signature");
}
END_TEST

/* The last of 43 characters carries 4 bits of the signature and 2 stray
 * bits. Changing only the stray bits gives a string that a lenient decoder
 * turns into the very same valid MAC. */
START_TEST(refuse_signature_stray_bits)
{
    static const char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    char *token = apr_pstrdup(test_pool, GOLDEN);
    char *last = token + strlen(token) - 1;
    int v = (int)(strchr(alphabet, *last) - alphabet);

    ck_assert_int_eq(strlen(strrchr(token, '.') + 1), 43);
    *last = alphabet[(v & ~3) | ((v + 1) & 3)];
    assert_refused(token, "signature is not");
}
END_TEST

/* The textbook example: a signature ending in 'A' changed to 'B'. */
START_TEST(refuse_signature_a_to_b)
{
    jklg_jwt_claims_t c = claims;
    const char *token = NULL;
    char *flipped;

    for (int i = 0; i < 1000 && !token; i++) {
        c.sid = apr_psprintf(test_pool, "ses_%d", i);
        token = jklg_jwt_sign(test_pool, &keys[0], &c);
        if (token[strlen(token) - 1] != 'A') {
            token = NULL;
        }
    }
    ck_assert_ptr_nonnull(token);
    assert_accepted_at(token, NOW);
    flipped = apr_pstrdup(test_pool, token);
    flipped[strlen(flipped) - 1] = 'B';
    assert_refused(flipped, "signature is not");
}
END_TEST

/* Stray bits in the payload, under a signature that covers them. */
START_TEST(refuse_payload_stray_bits)
{
    const char *claims_b64 = b64(CLAIMS);
    char *stray = apr_pstrdup(test_pool, claims_b64);
    char *last = stray + strlen(stray) - 1;

    ck_assert_int_ne(strlen(stray) % 4, 0);
    *last = *last == '0' ? '1' : '0';
    assert_refused(sign_parts(&keys[0], b64(HDR), stray), "payload is not");
}
END_TEST

START_TEST(refuse_padding)
{
    const char *sig = strrchr(GOLDEN, '.') + 1;

    assert_refused(apr_pstrcat(test_pool, GOLDEN, "=", NULL),
                   "signature is not");
    assert_refused(replace_part(GOLDEN, 2, apr_pstrcat(test_pool, sig, "=",
                                                       NULL)),
                   "signature is not");
    /* The header has 38 bytes: standard base64 would end it in '='. */
    assert_refused(replace_part(GOLDEN, 0, apr_pstrcat(test_pool, b64(HDR),
                                                       "=", NULL)),
                   "header is not canonical");
    assert_refused(replace_part(GOLDEN, 0, apr_pstrcat(test_pool, b64(HDR),
                                                       "==", NULL)),
                   "header is not canonical");
    /* The payload is only decoded once the signature holds: sign it. */
    assert_refused(sign_parts(&keys[0], b64(HDR),
                              apr_pstrcat(test_pool, b64(CLAIMS), "=",
                                          NULL)),
                   "payload is not canonical");
}
END_TEST

/* Find claims whose token contains '-' or '_', then spell them in the
 * standard alphabet: a decoder accepting both would verify it. */
START_TEST(refuse_standard_alphabet)
{
    jklg_jwt_claims_t c = claims;
    const char *token = NULL;
    const char *payload;

    for (int i = 0; i < 100 && !token; i++) {
        c.sid = apr_psprintf(test_pool, "ses_%d", i);
        token = jklg_jwt_sign(test_pool, &keys[0], &c);
        if (!strpbrk(strrchr(token, '.') + 1, "-_")) {
            token = NULL;
        }
    }
    ck_assert_ptr_nonnull(token);
    assert_accepted_at(token, NOW);
    assert_refused(to_standard(token), "signature is not");
    /* A claim whose encoding has '-' or '_' in it (asserted). */
    payload = b64("{" C_ISS "," C_SUB "," C_SID "," C_IAT "," C_EXP
                  ",\"note\":\"???~~~\"}");
    ck_assert_ptr_nonnull(strpbrk(payload, "-_"));
    assert_accepted_at(sign_parts(&keys[0], b64(HDR), payload), NOW);
    assert_refused(sign_parts(&keys[0], b64(HDR), to_standard(payload)),
                   "payload is not canonical");
}
END_TEST

START_TEST(refuse_whitespace)
{
    const char *sig = strrchr(GOLDEN, '.') + 1;

    assert_refused(apr_pstrcat(test_pool, " ", GOLDEN, NULL), "header");
    assert_refused(apr_pstrcat(test_pool, GOLDEN, " ", NULL), "signature");
    assert_refused(apr_pstrcat(test_pool, GOLDEN, "\n", NULL), "signature");
    assert_refused(apr_pstrcat(test_pool, GOLDEN, "\r\n", NULL), "signature");
    assert_refused(replace_part(GOLDEN, 2, apr_pstrcat(test_pool, "\t", sig,
                                                       NULL)), "signature");
    assert_refused(replace_part(GOLDEN, 2, apr_pstrcat(
                       test_pool, apr_pstrndup(test_pool, sig, 20), " ",
                       sig + 20, NULL)), "signature");
}
END_TEST

START_TEST(refuse_empty_and_long)
{
    char *huge = apr_palloc(test_pool, JKLG_JWT_MAX_LEN + 2);
    const char *padded;

    assert_refused("", "empty");
    assert_refused(NULL, "empty");
    memset(huge, 'A', JKLG_JWT_MAX_LEN + 1);
    huge[JKLG_JWT_MAX_LEN + 1] = '\0';
    assert_refused(huge, "too long");
    /* Correctly signed but too long: refused unread all the same. */
    padded = forge(HDR, apr_psprintf(test_pool, "{" C_ISS "," C_SUB ","
                                     C_SID "," C_IAT "," C_EXP
                                     ",\"pad\":\"%03000d\"}", 0));
    ck_assert_int_gt(strlen(padded), JKLG_JWT_MAX_LEN);
    assert_refused(padded, "too long");
}
END_TEST

/* --- payload ---------------------------------------------------------- */

START_TEST(refuse_payload_not_object)
{
    assert_forged_refused(HDR, "null", "payload is not a JSON object");
    assert_forged_refused(HDR, "[]", "payload is not a JSON object");
    assert_forged_refused(HDR, "1700000000", "payload is not a JSON object");
    assert_forged_refused(HDR, "{\"sub\":", "payload is not valid");
    assert_forged_refused(HDR, CLAIMS " x", "payload is not valid");
    assert_forged_refused(HDR, "", "payload is not valid");
}
END_TEST

START_TEST(refuse_missing_claims)
{
    assert_forged_refused(HDR, "{" C_SUB "," C_SID "," C_IAT "," C_EXP "}",
                          "iss");
    assert_forged_refused(HDR, "{" C_ISS "," C_SID "," C_IAT "," C_EXP "}",
                          "sub");
    assert_forged_refused(HDR, "{" C_ISS "," C_SUB "," C_IAT "," C_EXP "}",
                          "sid");
    assert_forged_refused(HDR, "{" C_ISS "," C_SUB "," C_SID "," C_EXP "}",
                          "iat");
    assert_forged_refused(HDR, "{" C_ISS "," C_SUB "," C_SID "," C_IAT "}",
                          "exp");
    assert_forged_refused(HDR, "{}", "iss");
}
END_TEST

START_TEST(refuse_wrong_iss)
{
    assert_forged_refused(HDR, "{\"iss\":\"https://evil.example\"," C_SUB ","
                          C_SID "," C_IAT "," C_EXP "}", "iss");
    assert_forged_refused(HDR, "{\"iss\":\"" ISS "/\"," C_SUB "," C_SID ","
                          C_IAT "," C_EXP "}", "iss");
    assert_forged_refused(HDR, "{\"iss\":\"https://agency.exampl\"," C_SUB
                          "," C_SID "," C_IAT "," C_EXP "}", "iss");
    assert_forged_refused(HDR, "{\"iss\":[\"" ISS "\"]," C_SUB "," C_SID ","
                          C_IAT "," C_EXP "}", "iss");
}
END_TEST

START_TEST(refuse_aud)
{
    assert_forged_refused(HDR, "{" C_ISS "," C_SUB "," C_SID "," C_IAT ","
                          C_EXP ",\"aud\":\"other-service\"}", "aud");
}
END_TEST

START_TEST(refuse_bad_ids)
{
    const char *sub64 = apr_psprintf(test_pool, "%064d", 7);
    const char *sub65 = apr_psprintf(test_pool, "%065d", 7);

    assert_forged_refused(HDR, "{" C_ISS ",\"sub\":\"\"," C_SID "," C_IAT ","
                          C_EXP "}", "sub");
    assert_forged_refused(HDR, "{" C_ISS ",\"sub\":42," C_SID "," C_IAT ","
                          C_EXP "}", "sub");
    assert_forged_refused(HDR, "{" C_ISS ",\"sub\":null," C_SID "," C_IAT ","
                          C_EXP "}", "sub");
    assert_forged_refused(HDR, "{" C_ISS "," C_SUB ",\"sid\":\"\"," C_IAT ","
                          C_EXP "}", "sid");
    assert_forged_refused(HDR, "{" C_ISS "," C_SUB ",\"sid\":{}," C_IAT ","
                          C_EXP "}", "sid");
    assert_forged_refused(HDR, apr_psprintf(test_pool, "{" C_ISS ",\"sub\":"
                                            "\"%s\"," C_SID "," C_IAT ","
                                            C_EXP "}", sub65), "sub");
    assert_forged_refused(HDR, apr_psprintf(test_pool, "{" C_ISS "," C_SUB
                                            ",\"sid\":\"%s\"," C_IAT ","
                                            C_EXP "}", sub65), "sid");
    /* A NUL inside would let "cus_1\u0000x" pass as "cus_1". */
    assert_forged_refused(HDR, "{" C_ISS ",\"sub\":\"cus_1\\u0000x\"," C_SID
                          "," C_IAT "," C_EXP "}", "payload is not valid");
    assert_accepted_at(forge(HDR, apr_psprintf(test_pool, "{" C_ISS ",\"sub\":"
                                               "\"%s\"," C_SID "," C_IAT ","
                                               C_EXP "}", sub64)), NOW);
}
END_TEST

/* --- times ------------------------------------------------------------ */

static const char *with_times(const char *times)
{
    return forge(HDR, apr_pstrcat(test_pool, "{" C_ISS "," C_SUB "," C_SID
                                  ",", times, "}", NULL));
}

START_TEST(refuse_expired)
{
    const char *token = jklg_jwt_sign(test_pool, &keys[0], &claims);

    /* exp has no leeway: the token dies at exp exactly. */
    assert_refused_at(token, claims.exp, "expired");
    assert_refused_at(token, claims.exp + 1, "expired");
    assert_refused_at(token, claims.exp + 3600, "expired");
    assert_accepted_at(token, claims.exp - 1);
}
END_TEST

START_TEST(times_leeway)
{
    /* NOW + 60 is within the leeway, NOW + 61 is not. */
    assert_accepted_at(with_times("\"iat\":1700000160," C_EXP), NOW);
    assert_refused(with_times("\"iat\":1700000161," C_EXP), "iat");
    assert_refused(with_times("\"iat\":1800000000," C_EXP), "iat");
    assert_accepted_at(with_times(C_IAT ",\"nbf\":1700000160," C_EXP), NOW);
    assert_refused(with_times(C_IAT ",\"nbf\":1700000161," C_EXP), "nbf");
    assert_accepted_at(with_times(C_IAT ",\"nbf\":1700000000," C_EXP), NOW);
}
END_TEST

START_TEST(refuse_times_not_integers)
{
    assert_refused(with_times(C_IAT ",\"exp\":\"1700604800\""), "exp");
    assert_refused(with_times(C_IAT ",\"exp\":1700604800.0"), "exp");
    assert_refused(with_times(C_IAT ",\"exp\":1.7006048e9"), "exp");
    assert_refused(with_times(C_IAT ",\"exp\":true"), "exp");
    assert_refused(with_times(C_IAT ",\"exp\":null"), "exp");
    assert_refused(with_times("\"iat\":1700000000.5," C_EXP), "iat");
    assert_refused(with_times("\"iat\":\"1700000000\"," C_EXP), "iat");
    assert_refused(with_times(C_IAT ",\"nbf\":\"0\"," C_EXP), "nbf");
    assert_refused(with_times(C_IAT ",\"nbf\":0.0," C_EXP), "nbf");
    /* Beyond 64 bits, jansson refuses the number outright. */
    assert_refused(with_times(C_IAT ",\"exp\":99999999999999999999"),
                   "payload is not valid");
}
END_TEST

START_TEST(extreme_times_do_not_overflow)
{
    assert_refused(with_times("\"iat\":9223372036854775807," C_EXP), "iat");
    assert_refused(with_times(C_IAT ",\"exp\":-9223372036854775807"),
                   "expired");
    assert_accepted_at(with_times("\"iat\":-9223372036854775807,"
                                  "\"exp\":9223372036854775807"), NOW);
    assert_accepted_at(with_times("\"iat\":9223372036854775807,"
                                  "\"exp\":9223372036854775807"),
                       APR_INT64_MAX - 1);
}
END_TEST

START_TEST(refuse_without_keys_or_issuer)
{
    const char *why = NULL;

    ck_assert_int_eq(jklg_jwt_verify(test_pool, GOLDEN, keys, 0, ISS, NOW,
                                     NULL, &why), APR_EINVAL);
    ck_assert_ptr_nonnull(why);
    ck_assert_int_eq(jklg_jwt_verify(test_pool, GOLDEN, NULL, 2, ISS, NOW,
                                     NULL, &why), APR_EINVAL);
    ck_assert_int_eq(jklg_jwt_verify(test_pool, GOLDEN, keys, 2, NULL, NOW,
                                     NULL, &why), APR_EINVAL);
}
END_TEST

/* --- the cache of verified tokens ----------------------------------- */

static apr_status_t cached(jklg_jwt_cache_t *cache, const char *token,
                           const jklg_jwt_key_t *k, int nkeys,
                           const char *iss, apr_int64_t now,
                           const char **why)
{
    jklg_jwt_claims_t out;

    return jklg_jwt_verify_cached(cache, test_pool, token, k, nkeys, iss,
                                  now, &out, why);
}

/* A remembered token has its times checked again at every use, against
 * the time of that use (requests do not arrive in order). */
START_TEST(cache_checks_times_again)
{
    jklg_jwt_cache_t *cache = test_cache();
    const char *token = jklg_jwt_sign(test_pool, &keys[0], &claims);
    const char *later = with_times("\"iat\":1700000160,\"nbf\":1700000150,"
                                   C_EXP);
    const char *why;

    ck_assert_int_eq(cached(cache, token, keys, 2, ISS, NOW, &why),
                     APR_SUCCESS);
    ck_assert_int_eq(cached(cache, token, keys, 2, ISS, claims.exp, &why),
                     APR_EINVAL);
    ck_assert_str_eq(why, "expired");
    ck_assert_int_eq(cached(cache, token, keys, 2, ISS, claims.exp - 1,
                            &why), APR_SUCCESS);
    /* iat within the leeway at NOW, beyond it a second earlier. */
    ck_assert_int_eq(cached(cache, later, keys, 2, ISS, NOW, &why),
                     APR_SUCCESS);
    ck_assert_int_eq(cached(cache, later, keys, 2, ISS, NOW - 1, &why),
                     APR_EINVAL);
    ck_assert_str_eq(why, "iat is in the future");
    ck_assert_int_eq(cached(cache, later, keys, 2, ISS, NOW + 100, &why),
                     APR_SUCCESS);
}
END_TEST

/* What a token passed with is part of what is remembered: another
 * server's keys or issuer check it in full. */
START_TEST(cache_is_per_configuration)
{
    jklg_jwt_cache_t *cache = test_cache();
    const char *token = jklg_jwt_sign(test_pool, &keys[0], &claims);
    const char *why;

    ck_assert_int_eq(cached(cache, token, keys, 2, ISS, NOW, &why),
                     APR_SUCCESS);
    ck_assert_int_eq(cached(cache, token, keys, 2, "https://other.example",
                            NOW, &why), APR_EINVAL);
    ck_assert_str_eq(why, "wrong or missing iss");
    ck_assert_int_eq(cached(cache, token, &keys[1], 1, ISS, NOW, &why),
                     APR_EINVAL);
    ck_assert_str_eq(why, "unknown kid");
    ck_assert_int_eq(cached(cache, token, keys, 1, ISS, NOW, &why),
                     APR_SUCCESS);
}
END_TEST

/* A remembered token is answered from the cache: with the same keys
 * (the same configuration), even a key changed in place since, which
 * the module never does, still lets it in; an altered token is not it. */
START_TEST(cache_answers_remembered_tokens)
{
    jklg_jwt_cache_t *cache = test_cache();
    jklg_jwt_key_t mine[1] = { keys[0] };
    const char *token = jklg_jwt_sign(test_pool, &keys[0], &claims);
    const char *altered = replace_part(token, 1, b64(
        "{" C_ISS ",\"sub\":\"cus_43\"," C_SID "," C_IAT "," C_EXP "}"));
    const char *why;

    ck_assert_int_eq(cached(cache, token, mine, 1, ISS, NOW, &why),
                     APR_SUCCESS);
    mine[0].key = (const unsigned char *)KEY2;
    mine[0].key_len = sizeof(KEY2) - 1;
    ck_assert_int_eq(cached(cache, token, mine, 1, ISS, NOW, &why),
                     APR_SUCCESS);
    ck_assert_int_eq(cached(cache, altered, mine, 1, ISS, NOW, &why),
                     APR_EINVAL);
    ck_assert_str_eq(why, "bad signature");
    /* Without a cache, the key as it is now decides. */
    ck_assert_int_eq(cached(NULL, token, mine, 1, ISS, NOW, &why),
                     APR_EINVAL);
}
END_TEST

/* More tokens than slots: each still verifies, with its own claims. */
START_TEST(cache_more_tokens_than_slots)
{
    jklg_jwt_cache_t *cache;
    const char *tokens[40];

    ck_assert_int_eq(jklg_jwt_cache_create(&cache, test_pool, 4),
                     APR_SUCCESS);
    ck_assert_int_eq(jklg_jwt_cache_create(&cache, test_pool, 0),
                     APR_EINVAL);
    ck_assert_int_eq(jklg_jwt_cache_create(&cache, test_pool, 4),
                     APR_SUCCESS);
    for (int round = 0; round < 2; round++) {
        for (int i = 0; i < 40; i++) {
            jklg_jwt_claims_t c = claims, out;

            c.sub = apr_psprintf(test_pool, "cus_%d", i);
            if (round == 0) {
                tokens[i] = jklg_jwt_sign(test_pool, &keys[i % 2], &c);
            }
            ck_assert_int_eq(jklg_jwt_verify_cached(cache, test_pool,
                                                    tokens[i], keys, 2, ISS,
                                                    NOW, &out, NULL),
                             APR_SUCCESS);
            ck_assert_str_eq(out.sub, c.sub);
        }
    }
}
END_TEST

Suite *suite_jwt(void)
{
    Suite *s = suite_create("jwt");
    TCase *tc = tcase_create("jwt");

    tcase_add_checked_fixture(tc, test_pool_setup, test_pool_teardown);
    tcase_add_test(tc, sign_verify_round_trip);
    tcase_add_test(tc, sign_matches_golden_vector);
    tcase_add_test(tc, verify_pyjwt_token);
    tcase_add_test(tc, claims_belong_to_pool);
    tcase_add_test(tc, rotation_second_key_verifies);
    tcase_add_test(tc, derive_kid);
    tcase_add_test(tc, sign_refuses_bad_input);
    tcase_add_test(tc, refuse_alg_none);
    tcase_add_test(tc, refuse_other_algs);
    tcase_add_test(tc, refuse_bad_kid);
    tcase_add_test(tc, refuse_bad_typ);
    tcase_add_test(tc, refuse_forbidden_header_members);
    tcase_add_test(tc, refuse_header_not_object);
    tcase_add_test(tc, refuse_duplicate_members);
    tcase_add_test(tc, refuse_wrong_part_count);
    tcase_add_test(tc, refuse_stripped_signature);
    tcase_add_test(tc, refuse_altered_parts);
    tcase_add_test(tc, refuse_signature_stray_bits);
    tcase_add_test(tc, refuse_signature_a_to_b);
    tcase_add_test(tc, refuse_payload_stray_bits);
    tcase_add_test(tc, refuse_padding);
    tcase_add_test(tc, refuse_standard_alphabet);
    tcase_add_test(tc, refuse_whitespace);
    tcase_add_test(tc, refuse_empty_and_long);
    tcase_add_test(tc, refuse_payload_not_object);
    tcase_add_test(tc, refuse_missing_claims);
    tcase_add_test(tc, refuse_wrong_iss);
    tcase_add_test(tc, refuse_aud);
    tcase_add_test(tc, refuse_bad_ids);
    tcase_add_test(tc, refuse_expired);
    tcase_add_test(tc, times_leeway);
    tcase_add_test(tc, refuse_times_not_integers);
    tcase_add_test(tc, extreme_times_do_not_overflow);
    tcase_add_test(tc, refuse_without_keys_or_issuer);
    tcase_add_test(tc, cache_checks_times_again);
    tcase_add_test(tc, cache_is_per_configuration);
    tcase_add_test(tc, cache_answers_remembered_tokens);
    tcase_add_test(tc, cache_more_tokens_than_slots);
    suite_add_tcase(s, tc);
    return s;
}
