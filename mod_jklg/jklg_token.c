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

/* Bytes must have exactly one spelling, or a signature or token could be
 * replayed under another (stray low bits in the last character, padding,
 * the standard alphabet). libsodium 1.0.18 already refuses these, but
 * re-encoding and comparing makes it our guarantee rather than a detail
 * of one library version. */
unsigned char *jklg_b64url_decode(apr_pool_t *p, const char *s,
                                  apr_size_t *len)
{
    apr_size_t slen;
    apr_size_t max;
    apr_size_t bin_len;
    const char *end;
    unsigned char *bin;

    if (!s) {
        return NULL;
    }
    slen = strlen(s);
    max = slen / 4 * 3 + 2;
    /* One more byte, zeroed, so decoded text can be read as a C string. */
    bin = apr_palloc(p, max + 1);
    if (sodium_base642bin(bin, max, s, slen, NULL, &bin_len, &end,
                          B64URL) != 0 || end != s + slen) {
        return NULL;
    }
    bin[bin_len] = '\0';
    if (strcmp(jklg_b64url_encode(p, bin, bin_len), s) != 0) {
        return NULL;
    }
    *len = bin_len;
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
