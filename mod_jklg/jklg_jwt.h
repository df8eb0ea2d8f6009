/* JWS compact tokens, HS256 only, on libsodium: the access tokens of
 * customer sessions. The algorithm is pinned: the header's alg must be
 * HS256 and its kid one of ours; nothing in the token chooses how it is
 * checked. */
#ifndef JKLG_JWT_H
#define JKLG_JWT_H

#include <apr_pools.h>

#define JKLG_JWT_KEY_MIN 32
#define JKLG_JWT_MAX_LEN 4096       /* longer tokens are refused unread */
#define JKLG_JWT_LEEWAY 60          /* seconds of clock skew for iat/nbf */

typedef struct {
    const char *kid;
    const unsigned char *key;
    apr_size_t key_len;             /* >= JKLG_JWT_KEY_MIN */
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

/* header {"alg":"HS256","typ":"JWT","kid":key->kid}, claims as given. */
const char *jklg_jwt_sign(apr_pool_t *p, const jklg_jwt_key_t *key,
                          const jklg_jwt_claims_t *claims);

/* Verifies token against keys[0..nkeys) (the one whose kid matches) and
 * `issuer` at time `now`. APR_SUCCESS and *out filled, or APR_EINVAL with
 * *why (for the error log: never contains the token or a key). Refuses:
 * not three parts, non-canonical base64url (padding, stray bits, other
 * alphabets), header not a JSON object, alg other than HS256, missing or
 * unknown kid, crit present, bad signature (constant-time compare), payload
 * not a JSON object, iss != issuer, sub/sid missing or not strings, exp
 * missing/not integer/<= now, iat or nbf > now + leeway. */
apr_status_t jklg_jwt_verify(apr_pool_t *p, const char *token,
                             const jklg_jwt_key_t *keys, int nkeys,
                             const char *issuer, apr_int64_t now,
                             jklg_jwt_claims_t *out, const char **why);

#endif
