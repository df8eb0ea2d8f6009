/* Passwords: argon2id through libsodium, legacy bcrypt hashes (bcryptjs'
 * $2a$/$2b$/$2y$) through libcrypt, the password policy, and a gate that
 * bounds how many hashes run at once (each argon2id hash takes tens of MiB
 * or more). */
#ifndef JKLG_PASSWORD_H
#define JKLG_PASSWORD_H

#include <apr_pools.h>

#define JKLG_PASSWORD_MAX_BYTES 1024

typedef enum {
    JKLG_PWHASH_INTERACTIVE,
    JKLG_PWHASH_MODERATE,
    JKLG_PWHASH_SENSITIVE
} jklg_pwhash_level_t;

typedef enum {
    JKLG_PASSWORD_MISMATCH = 0,
    JKLG_PASSWORD_OK,
    JKLG_PASSWORD_OK_REHASH     /* correct; store a fresh hash at `level` */
} jklg_password_result_t;

/* "interactive" -> level; APR_EINVAL for other names. */
apr_status_t jklg_pwhash_level_parse(const char *name,
                                     jklg_pwhash_level_t *level);

/* Memory one hash at `level` needs, for sizing the gate. */
apr_size_t jklg_pwhash_memory(jklg_pwhash_level_t level);

/* argon2id string ($argon2id$v=19$m=...). APR_ENOMEM when libsodium
 * cannot get the memory. */
apr_status_t jklg_password_hash(apr_pool_t *p, const char *password,
                                jklg_pwhash_level_t level, const char **hash);

/* Checks password against an argon2id or bcrypt hash in constant time.
 * OK_REHASH for bcrypt hashes and argon2id hashes whose parameters differ
 * from `level`. Unknown hash formats never match. */
jklg_password_result_t jklg_password_verify(const char *hash,
                                            const char *password,
                                            jklg_pwhash_level_t level);

/* Spends the time of one verification at `level` against a fixed dummy
 * hash: unknown emails must cost what known ones do. */
void jklg_password_dummy_verify(const char *password,
                                jklg_pwhash_level_t level);

/* NULL when acceptable, else the message for fields.password: length in
 * code points >= min_chars, <= JKLG_PASSWORD_MAX_BYTES bytes, valid UTF-8,
 * no NUL, not equal to email (case-insensitively), not a common password
 * (cracklib dictionary). */
const char *jklg_password_policy(apr_pool_t *p, const char *password,
                                 const char *email, int min_chars);

/* At most `limit` holders at once; others wait in enter(). */
typedef struct jklg_gate_t jklg_gate_t;
apr_status_t jklg_gate_create(jklg_gate_t **gate, int limit, apr_pool_t *p);
void jklg_gate_enter(jklg_gate_t *gate);
void jklg_gate_leave(jklg_gate_t *gate);

#endif
