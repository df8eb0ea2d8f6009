/* Second factor: TOTP (RFC 6238 over RFC 4226 HOTP, HMAC-SHA-1), the
 * base32 secret and otpauth:// URL authenticator apps read, recovery
 * codes, and the sealing of secrets at rest (libsodium secretbox under
 * JKLGMFAKey). No request_rec: the glue is mod_jklg_mfa.c. */
#ifndef JKLG_TOTP_H
#define JKLG_TOTP_H

#include <apr_pools.h>
#include <apr_time.h>

#define JKLG_TOTP_SECRET_BYTES  20      /* 160 bits, RFC 4226 advice */
#define JKLG_TOTP_PERIOD        30      /* seconds per step */
#define JKLG_TOTP_DIGITS        6
#define JKLG_TOTP_WINDOW        1       /* steps either side accepted */
#define JKLG_MFA_KEY_BYTES      32      /* crypto_secretbox_KEYBYTES */
#define JKLG_RECOVERY_CODES     10
#define JKLG_RECOVERY_CHARS     16      /* base32: 80 bits */

/* RFC 4226: the HOTP value of key at counter, digits (6..8) long. */
apr_uint32_t jklg_hotp(const unsigned char *key, apr_size_t key_len,
                       apr_uint64_t counter, int digits);
/* The same as text with its leading zeros. */
const char *jklg_hotp_code(apr_pool_t *p, const unsigned char *key,
                           apr_size_t key_len, apr_uint64_t counter,
                           int digits);
/* RFC 6238 time step of a Unix time in seconds. */
apr_int64_t jklg_totp_step(apr_int64_t unix_sec);

/* Checks a JKLG_TOTP_DIGITS code against the steps around now (±
 * JKLG_TOTP_WINDOW), skipping steps at or before last_step (a code
 * already accepted, or an older one: replay). The matched step, or -1. */
apr_int64_t jklg_totp_verify(const unsigned char *key, apr_size_t key_len,
                             const char *code, apr_int64_t unix_sec,
                             apr_int64_t last_step);

/* RFC 4648 base32, upper case, without padding; decode also takes lower
 * case, spaces and padding (what people and apps type), NULL otherwise. */
const char *jklg_base32_encode(apr_pool_t *p, const unsigned char *bin,
                               apr_size_t len);
unsigned char *jklg_base32_decode(apr_pool_t *p, const char *s,
                                  apr_size_t *len);

/* otpauth://totp/Issuer:account?secret=...&issuer=...&algorithm=SHA1&
 * digits=6&period=30, with issuer and account percent-encoded. */
const char *jklg_totp_url(apr_pool_t *p, const char *issuer,
                          const char *account, const char *secret_b32);

/* A fresh recovery code "xxxx-xxxx-xxxx-xxxx" (base32, lower case). */
const char *jklg_recovery_code_new(apr_pool_t *p);
/* Lowercase hex SHA-256 of the code's 16 characters (case, dashes and
 * spaces ignored), or NULL when it cannot be a recovery code. */
const char *jklg_recovery_code_hash(apr_pool_t *p, const char *code);

/* The key of JKLGMFAKey from what the file or variable holds: exactly
 * 32 raw bytes, or base64 of 32 bytes (surrounding white space ignored).
 * NULL with *err when it is neither. */
unsigned char *jklg_mfa_key_parse(apr_pool_t *p, const char *text,
                                  apr_size_t len, const char **err);

/* Seals secret under key with a fresh nonce: ciphertext and nonce as
 * lowercase hex (for SQL decode(%s, 'hex')). */
void jklg_mfa_seal(apr_pool_t *p, const unsigned char *key,
                   const unsigned char *secret, apr_size_t len,
                   const char **box_hex, const char **nonce_hex);
/* Opens what jklg_mfa_seal made: the secret, or NULL when the box was
 * not sealed under key (a changed key) or is malformed. */
unsigned char *jklg_mfa_open(apr_pool_t *p, const unsigned char *key,
                             const char *box_hex, const char *nonce_hex,
                             apr_size_t *len);

#endif
