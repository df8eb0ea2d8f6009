#include <ctype.h>
#include <string.h>
#include <apr_strings.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <sodium.h>
#include "jklg_totp.h"

#define B32_ALPHABET "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
#define SHA1_BYTES 20

static const apr_uint32_t powers_of_ten[] = {
    1, 10, 100, 1000, 10000, 100000, 1000000, 10000000, 100000000
};

apr_uint32_t jklg_hotp(const unsigned char *key, apr_size_t key_len,
                       apr_uint64_t counter, int digits)
{
    unsigned char msg[8], mac[EVP_MAX_MD_SIZE];
    unsigned int mac_len = 0;
    apr_uint32_t bin;
    int offset;

    for (int i = 7; i >= 0; i--) {
        msg[i] = (unsigned char)(counter & 0xff);
        counter >>= 8;
    }
    /* libsodium has no HMAC-SHA-1, which every authenticator app uses. */
    if (!HMAC(EVP_sha1(), key, (int)key_len, msg, sizeof(msg), mac,
              &mac_len) || mac_len != SHA1_BYTES) {
        return (apr_uint32_t)-1;    /* never a valid code: > 10^8 */
    }
    /* RFC 4226 5.3, dynamic truncation. */
    offset = mac[SHA1_BYTES - 1] & 0x0f;
    bin = ((apr_uint32_t)(mac[offset] & 0x7f) << 24)
          | ((apr_uint32_t)mac[offset + 1] << 16)
          | ((apr_uint32_t)mac[offset + 2] << 8)
          | (apr_uint32_t)mac[offset + 3];
    sodium_memzero(mac, sizeof(mac));
    return bin % powers_of_ten[digits];
}

const char *jklg_hotp_code(apr_pool_t *p, const unsigned char *key,
                           apr_size_t key_len, apr_uint64_t counter,
                           int digits)
{
    return apr_psprintf(p, "%0*u", digits,
                        (unsigned)jklg_hotp(key, key_len, counter, digits));
}

apr_int64_t jklg_totp_step(apr_int64_t unix_sec)
{
    return unix_sec / JKLG_TOTP_PERIOD;
}

static int is_code(const char *code)
{
    if (!code || strlen(code) != JKLG_TOTP_DIGITS) {
        return 0;
    }
    for (const char *c = code; *c; c++) {
        if (*c < '0' || *c > '9') {
            return 0;
        }
    }
    return 1;
}

apr_int64_t jklg_totp_verify(const unsigned char *key, apr_size_t key_len,
                             const char *code, apr_int64_t unix_sec,
                             apr_int64_t last_step)
{
    apr_int64_t now = jklg_totp_step(unix_sec), found = -1;
    char want[JKLG_TOTP_DIGITS + 1];

    if (!is_code(code)) {
        return -1;
    }
    /* Every step of the window is computed and compared in constant time,
     * so the timing tells nothing about which one is near. */
    for (apr_int64_t step = now - JKLG_TOTP_WINDOW;
         step <= now + JKLG_TOTP_WINDOW; step++) {
        apr_snprintf(want, sizeof(want), "%0*u", JKLG_TOTP_DIGITS,
                     (unsigned)jklg_hotp(key, key_len, (apr_uint64_t)step,
                                         JKLG_TOTP_DIGITS));
        if (step >= 0 && step > last_step && found < 0
            && !sodium_memcmp(want, code, JKLG_TOTP_DIGITS)) {
            found = step;
        }
    }
    sodium_memzero(want, sizeof(want));
    return found;
}

const char *jklg_base32_encode(apr_pool_t *p, const unsigned char *bin,
                               apr_size_t len)
{
    char *out = apr_palloc(p, (len * 8 + 4) / 5 + 1), *o = out;
    apr_uint32_t buffer = 0;
    int bits = 0;

    for (apr_size_t i = 0; i < len; i++) {
        buffer = (buffer << 8) | bin[i];
        bits += 8;
        while (bits >= 5) {
            *o++ = B32_ALPHABET[(buffer >> (bits - 5)) & 0x1f];
            bits -= 5;
        }
    }
    if (bits > 0) {
        *o++ = B32_ALPHABET[(buffer << (5 - bits)) & 0x1f];
    }
    *o = '\0';
    return out;
}

unsigned char *jklg_base32_decode(apr_pool_t *p, const char *s,
                                  apr_size_t *len)
{
    unsigned char *out;
    apr_uint32_t buffer = 0;
    apr_size_t n = 0;
    int bits = 0, padding = 0;
    const char *at;

    if (!s) {
        return NULL;
    }
    out = apr_palloc(p, strlen(s) * 5 / 8 + 1);
    for (; *s; s++) {
        if (*s == ' ') {
            continue;
        }
        if (*s == '=') {
            padding = 1;
            continue;
        }
        at = strchr(B32_ALPHABET, toupper((unsigned char)*s));
        if (padding || !at || !*at) {
            return NULL;        /* a letter after padding, or not base32 */
        }
        buffer = (buffer << 5) | (apr_uint32_t)(at - B32_ALPHABET);
        bits += 5;
        if (bits >= 8) {
            out[n++] = (unsigned char)(buffer >> (bits - 8));
            bits -= 8;
        }
    }
    *len = n;
    return out;
}

/* Percent-encodes all but RFC 3986 unreserved characters. */
static const char *url_encode(apr_pool_t *p, const char *s)
{
    char *out = apr_palloc(p, strlen(s) * 3 + 1), *o = out;

    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~') {
            *o++ = (char)c;
        }
        else {
            o += apr_snprintf(o, 4, "%%%02X", c);
        }
    }
    *o = '\0';
    return out;
}

const char *jklg_totp_url(apr_pool_t *p, const char *issuer,
                          const char *account, const char *secret_b32)
{
    const char *is = url_encode(p, issuer);

    return apr_psprintf(p, "otpauth://totp/%s:%s?secret=%s&issuer=%s"
                        "&algorithm=SHA1&digits=%d&period=%d", is,
                        url_encode(p, account), secret_b32, is,
                        JKLG_TOTP_DIGITS, JKLG_TOTP_PERIOD);
}

const char *jklg_recovery_code_new(apr_pool_t *p)
{
    unsigned char bin[JKLG_RECOVERY_CHARS * 5 / 8];
    const char *b32;
    char *out;

    randombytes_buf(bin, sizeof(bin));
    b32 = jklg_base32_encode(p, bin, sizeof(bin));
    sodium_memzero(bin, sizeof(bin));
    out = apr_psprintf(p, "%.4s-%.4s-%.4s-%.4s", b32, b32 + 4, b32 + 8,
                       b32 + 12);
    for (char *c = out; *c; c++) {
        *c = (char)tolower((unsigned char)*c);
    }
    return out;
}

const char *jklg_recovery_code_hash(apr_pool_t *p, const char *code)
{
    char norm[JKLG_RECOVERY_CHARS];
    unsigned char digest[crypto_hash_sha256_BYTES];
    char *hex = apr_palloc(p, sizeof(digest) * 2 + 1);
    apr_size_t n = 0;

    if (!code) {
        return NULL;
    }
    for (; *code; code++) {
        char c = (char)tolower((unsigned char)*code);
        if (c == '-' || c == ' ') {
            continue;
        }
        if (n == sizeof(norm) || !c
            || !strchr("abcdefghijklmnopqrstuvwxyz234567", c)) {
            return NULL;
        }
        norm[n++] = c;
    }
    if (n != sizeof(norm)) {
        return NULL;
    }
    crypto_hash_sha256(digest, (const unsigned char *)norm, n);
    return sodium_bin2hex(hex, sizeof(digest) * 2 + 1, digest,
                          sizeof(digest));
}

unsigned char *jklg_mfa_key_parse(apr_pool_t *p, const char *text,
                                  apr_size_t len, const char **err)
{
    unsigned char *key = apr_palloc(p, JKLG_MFA_KEY_BYTES);
    apr_size_t bin_len = 0;
    const char *end;

    if (len == JKLG_MFA_KEY_BYTES) {
        memcpy(key, text, len);
        return key;
    }
    while (len && isspace((unsigned char)*text)) {
        text++;
        len--;
    }
    while (len && isspace((unsigned char)text[len - 1])) {
        len--;
    }
    if (len && sodium_base642bin(key, JKLG_MFA_KEY_BYTES, text, len, NULL,
                                 &bin_len, &end,
                                 sodium_base64_VARIANT_ORIGINAL) == 0
        && end == text + len && bin_len == JKLG_MFA_KEY_BYTES) {
        return key;
    }
    sodium_memzero(key, JKLG_MFA_KEY_BYTES);
    *err = apr_psprintf(p, "the key must be %d bytes, raw or base64 (got %"
                        APR_SIZE_T_FMT " bytes that are neither); generate "
                        "one with 'openssl rand -base64 32'",
                        JKLG_MFA_KEY_BYTES, len);
    return NULL;
}

static const char *hex_of(apr_pool_t *p, const unsigned char *bin,
                          apr_size_t len)
{
    char *hex = apr_palloc(p, len * 2 + 1);

    return sodium_bin2hex(hex, len * 2 + 1, bin, len);
}

static unsigned char *bin_of(apr_pool_t *p, const char *hex, apr_size_t *len)
{
    apr_size_t max = hex ? strlen(hex) / 2 : 0;
    unsigned char *bin = apr_palloc(p, max + 1);
    const char *end;

    if (!hex || sodium_hex2bin(bin, max, hex, strlen(hex), NULL, len, &end)
        || *end) {
        return NULL;
    }
    return bin;
}

void jklg_mfa_seal(apr_pool_t *p, const unsigned char *key,
                   const unsigned char *secret, apr_size_t len,
                   const char **box_hex, const char **nonce_hex)
{
    unsigned char nonce[crypto_secretbox_NONCEBYTES];
    unsigned char *box = apr_palloc(p, len + crypto_secretbox_MACBYTES);

    randombytes_buf(nonce, sizeof(nonce));
    crypto_secretbox_easy(box, secret, len, nonce, key);
    *box_hex = hex_of(p, box, len + crypto_secretbox_MACBYTES);
    *nonce_hex = hex_of(p, nonce, sizeof(nonce));
}

unsigned char *jklg_mfa_open(apr_pool_t *p, const unsigned char *key,
                             const char *box_hex, const char *nonce_hex,
                             apr_size_t *len)
{
    apr_size_t box_len = 0, nonce_len = 0;
    unsigned char *box = bin_of(p, box_hex, &box_len);
    unsigned char *nonce = bin_of(p, nonce_hex, &nonce_len);
    unsigned char *secret;

    if (!box || !nonce || nonce_len != crypto_secretbox_NONCEBYTES
        || box_len < crypto_secretbox_MACBYTES) {
        return NULL;
    }
    secret = apr_palloc(p, box_len - crypto_secretbox_MACBYTES + 1);
    if (crypto_secretbox_open_easy(secret, box, box_len, nonce, key) != 0) {
        return NULL;
    }
    *len = box_len - crypto_secretbox_MACBYTES;
    return secret;
}
