#include <string.h>
#include <sodium.h>
#include "jklg_token.h"

#define B64URL sodium_base64_VARIANT_URLSAFE_NO_PADDING
#define TOKEN_CHARS 43              /* base64url of JKLG_TOKEN_BYTES */

const char *jklg_b64url_encode(apr_pool_t *p, const unsigned char *bin,
                               apr_size_t len)
{
    apr_size_t size = sodium_base64_ENCODED_LEN(len, B64URL);
    char *out = apr_palloc(p, size);

    return sodium_bin2base64(out, size, bin, len, B64URL);
}

/* 1 when lo <= c <= hi, without a branch: for c and the bounds in
 * 0..255 a difference is negative exactly when it has bit 8 set. */
static unsigned int in_range(unsigned int c, unsigned int lo,
                             unsigned int hi)
{
    return (((lo - 1 - c) & (c - hi - 1)) >> 8) & 1;
}

/* The value of a base64url character, or -1; in constant time, since
 * some decoded strings are secrets (one-time tokens). */
static int b64url_value(unsigned char c)
{
    return -1 + (int)(in_range(c, 'A', 'Z') * (c - 'A' + 1)
                      + in_range(c, 'a', 'z') * (c - 'a' + 27)
                      + in_range(c, '0', '9') * (c - '0' + 53)
                      + in_range(c, '-', '-') * 63
                      + in_range(c, '_', '_') * 64);
}

/* Bytes must have exactly one spelling, or a signature or token could be
 * replayed under another: only the URL-safe alphabet, no padding, no
 * whitespace, no lone last character, and no stray low bits in the last
 * character. (This is what encoding the result again and comparing
 * checked before, at half the cost of libsodium's decoder; every request
 * with a token decodes three parts.) */
unsigned char *jklg_b64url_decode(apr_pool_t *p, const char *s,
                                  apr_size_t *len)
{
    apr_size_t slen, n = 0;
    unsigned int acc = 0, bits = 0;
    int bad = 0;
    unsigned char *bin;

    if (!s) {
        return NULL;
    }
    slen = strlen(s);
    if (slen % 4 == 1) {
        return NULL;
    }
    /* One more byte, zeroed, so decoded text can be read as a C string. */
    bin = apr_palloc(p, slen / 4 * 3 + 3);
    for (apr_size_t i = 0; i < slen; i++) {
        int v = b64url_value((unsigned char)s[i]);

        bad |= v;           /* -1 sets every bit */
        acc = (acc << 6) | ((unsigned int)v & 0x3f);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            bin[n++] = (unsigned char)(acc >> bits);
        }
    }
    /* The 2 or 4 bits left over after the last byte must be zero. */
    if (bad < 0 || (acc & ((1u << bits) - 1)) != 0) {
        return NULL;
    }
    bin[n] = '\0';
    *len = n;
    return bin;
}

const char *jklg_token_new(apr_pool_t *p)
{
    unsigned char bin[JKLG_TOKEN_BYTES];
    const char *token;

    randombytes_buf(bin, sizeof(bin));
    token = jklg_b64url_encode(p, bin, sizeof(bin));
    sodium_memzero(bin, sizeof(bin));
    return token;
}

apr_status_t jklg_token_hash(apr_pool_t *p, const char *token,
                             const char **hex)
{
    unsigned char digest[crypto_hash_sha256_BYTES];
    unsigned char *bin;
    apr_size_t len;
    char *out;

    /* Bounded length check first: the token comes straight from a client. */
    if (!token || strnlen(token, TOKEN_CHARS + 1) != TOKEN_CHARS) {
        return APR_EINVAL;
    }
    bin = jklg_b64url_decode(p, token, &len);
    if (!bin || len != JKLG_TOKEN_BYTES) {
        return APR_EINVAL;
    }
    crypto_hash_sha256(digest, bin, len);
    /* The decoded bytes are the secret itself; the pool may outlive us. */
    sodium_memzero(bin, len);
    out = apr_palloc(p, sizeof(digest) * 2 + 1);
    *hex = sodium_bin2hex(out, sizeof(digest) * 2 + 1, digest,
                          sizeof(digest));
    return APR_SUCCESS;
}
