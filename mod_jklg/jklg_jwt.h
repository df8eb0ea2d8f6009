/* JWS compact tokens, HS256 or EdDSA (Ed25519, RFC 8037), on libsodium:
 * the access tokens of customer sessions. The algorithm is pinned by the
 * key: the header's kid must name one of ours and its alg must be the one
 * that key was configured for; nothing in the token chooses how it is
 * checked. */
#ifndef JKLG_JWT_H
#define JKLG_JWT_H

#include <apr_pools.h>
#include <jansson.h>

#define JKLG_JWT_KEY_MIN 32
#define JKLG_JWT_MAX_LEN 4096       /* longer tokens are refused unread */
#define JKLG_JWT_LEEWAY 60          /* seconds of clock skew for iat/nbf */

#define JKLG_JWT_ED25519_SEED 32
#define JKLG_JWT_ED25519_PUBLIC 32
#define JKLG_JWT_ED25519_SECRET 64  /* libsodium's form: seed || public */

/* Zero (a key from apr_pcalloc) is HS256, the original kind. */
typedef enum {
    JKLG_JWT_HS256 = 0,
    JKLG_JWT_EDDSA
} jklg_jwt_alg_t;

typedef struct {
    const char *kid;
    const unsigned char *key;       /* HS256: the secret; EdDSA: the 64-byte
                                     * secret key, NULL for verify-only */
    apr_size_t key_len;             /* HS256: >= JKLG_JWT_KEY_MIN */
    jklg_jwt_alg_t alg;
    const unsigned char *public_key; /* EdDSA: 32 bytes */
} jklg_jwt_key_t;

typedef struct {
    const char *iss;
    const char *sub;                /* customer id */
    const char *sid;                /* session id */
    apr_int64_t iat;                /* seconds since the epoch */
    apr_int64_t exp;
} jklg_jwt_claims_t;

/* kid for a key configured without one: first 8 bytes of SHA-256(key),
 * hex. Stable across restarts and servers. */
const char *jklg_jwt_derive_kid(apr_pool_t *p, const unsigned char *key,
                                apr_size_t key_len);

/* An EdDSA key from a 32-byte Ed25519 seed; kid NULL derives it from the
 * public key (jklg_jwt_derive_kid). The secret lives in p: clear p, or
 * let it die with the configuration. */
void jklg_jwt_ed25519_key(apr_pool_t *p, const char *kid,
                          const unsigned char seed[JKLG_JWT_ED25519_SEED],
                          jklg_jwt_key_t *out);

/* Reads an Ed25519 private key from text of length len (a file's whole
 * contents or an environment variable). Accepted: the PKCS#8 PEM that
 * `openssl genpkey -algorithm ed25519` writes (RFC 8410's 48-byte
 * PrivateKeyInfo, no public key or attributes inside), or the 32-byte
 * seed as base64url without padding (43 characters); surrounding
 * whitespace is ignored. APR_EINVAL with *why (never quoting the key)
 * otherwise. */
apr_status_t jklg_jwt_ed25519_parse(apr_pool_t *p, const char *text,
                                    apr_size_t len,
                                    unsigned char seed[JKLG_JWT_ED25519_SEED],
                                    const char **why);

/* The key's public half as a JWK (RFC 8037: kty OKP, crv Ed25519, x,
 * kid, use sig, alg EdDSA), a new json_t owned by p; NULL for an HS256
 * key, whose secret must never be published. */
json_t *jklg_jwt_public_jwk(apr_pool_t *p, const jklg_jwt_key_t *key);

/* The JWS signature of input[0..len) with key, base64url: HMAC-SHA-256
 * or Ed25519 (deterministic, so RFC 8037's vectors reproduce); NULL when
 * the key cannot sign. */
const char *jklg_jwt_signature(apr_pool_t *p, const jklg_jwt_key_t *key,
                               const char *input, apr_size_t len);

/* NULL when sig (base64url) is key's valid signature of input[0..len),
 * otherwise why not. */
const char *jklg_jwt_signature_check(apr_pool_t *p, const jklg_jwt_key_t *key,
                                     const char *input, apr_size_t len,
                                     const char *sig);

/* header {"alg":"HS256" or "EdDSA","typ":"JWT","kid":key->kid}, claims as
 * given; signed with HMAC-SHA-256 or Ed25519 after the key's kind. */
const char *jklg_jwt_sign(apr_pool_t *p, const jklg_jwt_key_t *key,
                          const jklg_jwt_claims_t *claims);

/* Verifies token against keys[0..nkeys) (the one whose kid matches) and
 * `issuer` at time `now`. APR_SUCCESS and *out filled, or APR_EINVAL with
 * *why (for the error log: never contains the token or a key). Refuses:
 * not three parts, non-canonical base64url (padding, stray bits, other
 * alphabets), header not a JSON object, alg neither HS256 nor EdDSA,
 * missing or unknown kid, alg not the one of the kid's key (an HS256
 * token naming an Ed25519 key: the public key is no MAC secret), crit
 * present, bad signature (HS256: constant-time compare), payload
 * not a JSON object, iss != issuer, sub/sid missing or not strings, exp
 * missing/not integer/<= now, iat or nbf > now + leeway. */
apr_status_t jklg_jwt_verify(apr_pool_t *p, const char *token,
                             const jklg_jwt_key_t *keys, int nkeys,
                             const char *issuer, apr_int64_t now,
                             jklg_jwt_claims_t *out, const char **why);

/* A per-process cache of verified tokens (jklg_jwt.c, "the cache of
 * verified tokens"): nslots slots, in p, safe for concurrent threads. */
typedef struct jklg_jwt_cache_t jklg_jwt_cache_t;

apr_status_t jklg_jwt_cache_create(jklg_jwt_cache_t **cache, apr_pool_t *p,
                                   apr_size_t nslots);

/* jklg_jwt_verify, with the same answers, remembering tokens that pass
 * for keys and issuer (the same pointers: one server's configuration);
 * a remembered token only has its times checked again. cache NULL:
 * jklg_jwt_verify. */
apr_status_t jklg_jwt_verify_cached(jklg_jwt_cache_t *cache, apr_pool_t *p,
                                    const char *token,
                                    const jklg_jwt_key_t *keys, int nkeys,
                                    const char *issuer, apr_int64_t now,
                                    jklg_jwt_claims_t *out, const char **why);

#endif
