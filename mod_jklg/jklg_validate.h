/* Field validation of request bodies: each check reads one member, records
 * a problem for fields (api.md's 422 shape) and returns the usable value.
 * Unknown members are problems too, so clients cannot set what they may
 * not (role, email_verified, id). */
#ifndef JKLG_VALIDATE_H
#define JKLG_VALIDATE_H

#include <apr_pools.h>
#include <jansson.h>

enum {
    JKLG_REQUIRED = 1 << 0,     /* absent is a problem */
    JKLG_NULLABLE = 1 << 1      /* JSON null is a value (returns NULL) */
};

typedef struct {
    apr_pool_t *p;
    const json_t *body;
    json_t *fields;             /* owned by p */
} jklg_check_t;

void jklg_check_init(jklg_check_t *c, apr_pool_t *p, const json_t *body,
                     const char *const *allowed);
int jklg_check_ok(const jklg_check_t *c);
void jklg_check_fail(jklg_check_t *c, const char *key, const char *message);
int jklg_check_present(const jklg_check_t *c, const char *key);

/* Trimmed text of min..max characters without control characters; NULL
 * when absent, null (JKLG_NULLABLE) or invalid. */
const char *jklg_check_text(jklg_check_t *c, const char *key, unsigned flags,
                            int min_chars, int max_chars);
/* Untrimmed string as sent (passwords, tokens). */
const char *jklg_check_raw(jklg_check_t *c, const char *key, unsigned flags);
const char *jklg_check_email(jklg_check_t *c, const char *key,
                             unsigned flags);
/* 1 when present and boolean (value in *out). */
int jklg_check_bool(jklg_check_t *c, const char *key, unsigned flags,
                    int *out);
const char *jklg_check_phone(jklg_check_t *c, const char *key,
                             unsigned flags);
/* ISO 3166-1 alpha-2, returned uppercase. */
const char *jklg_check_country(jklg_check_t *c, const char *key,
                               unsigned flags);
/* BCP 47 language tag. */
const char *jklg_check_language(jklg_check_t *c, const char *key,
                                unsigned flags);
/* Three letters, returned lowercase. */
const char *jklg_check_currency_code(jklg_check_t *c, const char *key,
                                     unsigned flags);

/* YYYY-MM-DD, a real calendar day. */
int jklg_is_date(const char *s);
/* A date, or RFC 3339 date-time with Z or an offset (fractions allowed). */
int jklg_is_timestamp(const char *s);
/* One of the statuses a transaction can have (api.md's Transaction). */
int jklg_is_transaction_status(const char *s);

/* A list cursor made by jklg_cursor() in SQL: base64url (no padding) of
 * "YYYY-MM-DDTHH:MM:SS.ffffff|<uuid>" with a real calendar day and time.
 * 1 with *time and *id (in p), 0 for anything else, so that no cursor a
 * client makes up can reach the database's timestamp parser. */
int jklg_cursor_parse(apr_pool_t *p, const char *cursor, const char **time,
                      const char **id);

/* Code points of valid UTF-8. */
apr_size_t jklg_utf8_chars(const char *s);
/* 8-4-4-4-12 hex: ids in paths that are not UUIDs are simply not found. */
int jklg_is_uuid(const char *s);

#endif
