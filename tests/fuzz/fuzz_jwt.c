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
 * The keys are two HS256 secrets and an Ed25519 key, as during a
 * rotation between the two kinds. The first input byte picks a mode
 * (its value modulo 4). 0: the rest is the token, as a client would send
 * it. 1, 2 and 3: the rest is header JSON, a NUL byte, payload JSON; they
 * are encoded and correctly signed here, because a fuzzer cannot forge
 * HMAC-SHA256 or Ed25519 and would otherwise never get past the signature
 * to the claims: 1 with HMAC under the first secret, 2 with the Ed25519
 * key, 3 with HMAC keyed by the Ed25519 public key (the algorithm-
 * confusion attack: such a token must never verify, whatever its header
 * says). Whatever verifies must also survive being signed again, by
 * either kind of key, and verified: sign and verify agree on what a
 * token is. */
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

#define NKEYS 3
#define ED 2                        /* keys[ED] is the Ed25519 one */

enum { RAW, SIGN_HS256, SIGN_EDDSA, SIGN_CONFUSED };

static jklg_jwt_key_t keys[NKEYS] = {
    { "k1", (const unsigned char *)FUZZ_KEY, sizeof(FUZZ_KEY) - 1,
      JKLG_JWT_HS256, NULL },
    { "k2", (const unsigned char *)FUZZ_KEY "2", sizeof(FUZZ_KEY),
      JKLG_JWT_HS256, NULL },
    { NULL, NULL, 0, JKLG_JWT_EDDSA, NULL },     /* LLVMFuzzerInitialize */
};

static apr_pool_t *root;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    unsigned char seed[JKLG_JWT_ED25519_SEED];

    if (apr_initialize() != APR_SUCCESS || sodium_init() < 0
        || apr_pool_create(&root, NULL) != APR_SUCCESS) {
        abort();
    }
    memset(seed, 0x5a, sizeof(seed));
    jklg_jwt_ed25519_key(root, "e1", seed, &keys[ED]);
    return 0;
}

static const char *hmac_b64(apr_pool_t *p, const unsigned char *key,
                            size_t key_len, const char *signed_part)
{
    crypto_auth_hmacsha256_state st;
    unsigned char mac[crypto_auth_hmacsha256_BYTES];

    crypto_auth_hmacsha256_init(&st, key, key_len);
    crypto_auth_hmacsha256_update(&st, (const unsigned char *)signed_part,
                                  strlen(signed_part));
    crypto_auth_hmacsha256_final(&st, mac);
    return jklg_b64url_encode(p, mac, sizeof(mac));
}

static const char *ed25519_b64(apr_pool_t *p, const char *signed_part)
{
    unsigned char sig[crypto_sign_BYTES];

    crypto_sign_detached(sig, NULL, (const unsigned char *)signed_part,
                         strlen(signed_part), keys[ED].key);
    return jklg_b64url_encode(p, sig, sizeof(sig));
}

/* Signed independently of jklg_jwt_sign, straight with libsodium. */
static const char *sign_raw(apr_pool_t *p, int mode, const uint8_t *data,
                            size_t size)
{
    const uint8_t *nul = memchr(data, '\0', size);
    const uint8_t *payload = nul ? nul + 1 : data + size;
    size_t header_len = nul ? (size_t)(nul - data) : size;
    const char *signed_part;
    const char *sig;

    signed_part = apr_pstrcat(p, jklg_b64url_encode(p, data, header_len),
                              ".", jklg_b64url_encode(p, payload,
                                                      data + size - payload),
                              NULL);
    if (mode == SIGN_EDDSA) {
        sig = ed25519_b64(p, signed_part);
    }
    else if (mode == SIGN_CONFUSED) {
        sig = hmac_b64(p, keys[ED].public_key, JKLG_JWT_ED25519_PUBLIC,
                       signed_part);
    }
    else {
        sig = hmac_b64(p, keys[0].key, keys[0].key_len, signed_part);
    }
    return apr_pstrcat(p, signed_part, ".", sig, NULL);
}

static void check_resign(apr_pool_t *p, const jklg_jwt_key_t *key,
                         const jklg_jwt_claims_t *claims)
{
    jklg_jwt_claims_t again;
    const char *why;
    const char *token = jklg_jwt_sign(p, key, claims);

    /* Verified claims are short, valid UTF-8 and carry our issuer, so
     * signing them cannot fail, and must give the same claims back. */
    if (!token
        || jklg_jwt_verify(p, token, keys, NKEYS, FUZZ_ISS, FUZZ_NOW, &again,
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
    int mode;

    if (size < 1) {
        return 0;
    }
    mode = data[0] % 4;
    apr_pool_create(&p, root);
    if (mode != RAW) {
        token = sign_raw(p, mode, data + 1, size - 1);
    }
    else {
        token = apr_pstrmemdup(p, (const char *)data + 1, size - 1);
    }
    if (jklg_jwt_verify(p, token, keys, NKEYS, FUZZ_ISS, FUZZ_NOW, &claims,
                        &why) == APR_SUCCESS) {
        if (mode == SIGN_CONFUSED) {
            abort();                /* a public key worked as a secret */
        }
        check_resign(p, &keys[0], &claims);
        check_resign(p, &keys[ED], &claims);
    }
    else if (!why || !*why) {
        abort();
    }
    apr_pool_destroy(p);
    return 0;
}
