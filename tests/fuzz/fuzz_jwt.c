/* libFuzzer target for jklg_jwt_verify.
 *
 * Build and run from the top of the tree (clang, libclang-rt-14-dev):
 *
 *   make fuzz [FUZZ_TIME=60] [SANITIZE=-fsanitize=address]
 *
 * which compiles this file and the core sources it needs with clang's
 * -fsanitize=fuzzer plus SANITIZE (default -fsanitize=address,undefined)
 * and runs it on the corpus in build/fuzz_jwt_corpus (build-sanitize/
 * when SANITIZE is set) for FUZZ_TIME seconds.
 *
 * The first input byte picks a mode. Even: the rest is the token, as a
 * client would send it. Odd: the rest is header JSON, a NUL byte, payload
 * JSON; they are encoded and correctly signed here, because a fuzzer
 * cannot forge HMAC-SHA256 and would otherwise never get past the
 * signature to the claims. Whatever verifies must also survive being
 * signed again and verified: sign and verify agree on what a token is. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <apr_general.h>
#include <apr_strings.h>
#include <sodium.h>
#include "jklg_jwt.h"
#include "jklg_token.h"

#define FUZZ_KEY "fuzzing-key-0123456789abcdef-0123456789"
#define FUZZ_ISS "https://agency.example"
#define FUZZ_NOW ((apr_int64_t)1700000100)

static const jklg_jwt_key_t keys[2] = {
    { "k1", (const unsigned char *)FUZZ_KEY, sizeof(FUZZ_KEY) - 1 },
    { "k2", (const unsigned char *)FUZZ_KEY "2", sizeof(FUZZ_KEY) },
};

static apr_pool_t *root;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    if (apr_initialize() != APR_SUCCESS || sodium_init() < 0
        || apr_pool_create(&root, NULL) != APR_SUCCESS) {
        abort();
    }
    return 0;
}

static const char *sign_raw(apr_pool_t *p, const uint8_t *data, size_t size)
{
    const uint8_t *nul = memchr(data, '\0', size);
    const uint8_t *payload = nul ? nul + 1 : data + size;
    size_t header_len = nul ? (size_t)(nul - data) : size;
    crypto_auth_hmacsha256_state st;
    unsigned char mac[crypto_auth_hmacsha256_BYTES];
    const char *signed_part;

    signed_part = apr_pstrcat(p, jklg_b64url_encode(p, data, header_len),
                              ".", jklg_b64url_encode(p, payload,
                                                      data + size - payload),
                              NULL);
    crypto_auth_hmacsha256_init(&st, keys[0].key, keys[0].key_len);
    crypto_auth_hmacsha256_update(&st, (const unsigned char *)signed_part,
                                  strlen(signed_part));
    crypto_auth_hmacsha256_final(&st, mac);
    return apr_pstrcat(p, signed_part, ".",
                       jklg_b64url_encode(p, mac, sizeof(mac)), NULL);
}

static void check_resign(apr_pool_t *p, const jklg_jwt_claims_t *claims)
{
    jklg_jwt_claims_t again;
    const char *why;
    const char *token = jklg_jwt_sign(p, &keys[0], claims);

    /* Verified claims are short, valid UTF-8 and carry our issuer, so
     * signing them cannot fail, and must give the same claims back. */
    if (!token
        || jklg_jwt_verify(p, token, keys, 2, FUZZ_ISS, FUZZ_NOW, &again,
                           &why) != APR_SUCCESS
        || strcmp(again.sub, claims->sub) || strcmp(again.sid, claims->sid)
        || strcmp(again.iss, claims->iss) || again.iat != claims->iat
        || again.exp != claims->exp) {
        abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    apr_pool_t *p;
    jklg_jwt_claims_t claims;
    const char *token;
    const char *why = NULL;

    if (size < 1) {
        return 0;
    }
    apr_pool_create(&p, root);
    if (data[0] & 1) {
        token = sign_raw(p, data + 1, size - 1);
    }
    else {
        token = apr_pstrmemdup(p, (const char *)data + 1, size - 1);
    }
    if (jklg_jwt_verify(p, token, keys, 2, FUZZ_ISS, FUZZ_NOW, &claims,
                        &why) == APR_SUCCESS) {
        check_resign(p, &claims);
    }
    else if (!why || !*why) {
        abort();
    }
    apr_pool_destroy(p);
    return 0;
}
