/* One-time tokens (email verification, password reset): 32 random bytes
 * sent as base64url, stored only as their SHA-256. */
#ifndef JKLG_TOKEN_H
#define JKLG_TOKEN_H

#include <apr_pools.h>

#define JKLG_TOKEN_BYTES 32

/* A fresh token: 43 characters of base64url without padding. */
const char *jklg_token_new(apr_pool_t *p);

/* Lowercase hex SHA-256 of the token's 32 decoded bytes (for SQL
 * decode(%s, 'hex')). APR_EINVAL when token is not exactly a canonical
 * 43-character base64url encoding of 32 bytes: such a token cannot exist,
 * so the caller answers invalid_token without asking the database. */
apr_status_t jklg_token_hash(apr_pool_t *p, const char *token,
                             const char **hex);

/* Base64url without padding, and its strict inverse (NULL when s is not
 * the canonical encoding of some bytes). Shared with the JWT code and the
 * list cursors. */
const char *jklg_b64url_encode(apr_pool_t *p, const unsigned char *bin,
                               apr_size_t len);
unsigned char *jklg_b64url_decode(apr_pool_t *p, const char *s,
                                  apr_size_t *len);

#endif
