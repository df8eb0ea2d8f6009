/* jansson objects whose lifetime is a pool, and the JSON shapes every
 * handler shares (the error envelope of api.md). */
#ifndef JKLG_JSON_H
#define JKLG_JSON_H

#include <apr_pools.h>
#include <jansson.h>

/* Hands the reference of j to the pool: decref'd when p is destroyed.
 * Returns j, so that `json_t *o = jklg_json_own(p, json_object());` reads
 * naturally. NULL stays NULL. */
json_t *jklg_json_own(apr_pool_t *p, json_t *j);

/* Parses a request body: must be one JSON object, no duplicate keys, no
 * NUL in strings, valid UTF-8. On failure returns NULL and *why says what
 * is wrong in words fit for a client. The object belongs to p. */
json_t *jklg_json_parse_object(apr_pool_t *p, const char *buf, apr_size_t len,
                               const char **why);

/* Compact serialisation, allocated in p. */
const char *jklg_json_dump(apr_pool_t *p, const json_t *j);

/* {"error": {"code": ..., "message": ..., "fields"?: {...}}} owned by p.
 * fields may be NULL or an empty object (then it is left out). */
json_t *jklg_json_error(apr_pool_t *p, const char *code, const char *message,
                        json_t *fields);

/* String member or NULL when absent or not a string. */
const char *jklg_json_str(const json_t *obj, const char *key);

/* Adds "unknown field" to fields for every member of obj not in allowed
 * (NULL-terminated). Returns the number added. */
int jklg_json_reject_unknown(const json_t *obj, const char *const *allowed,
                             json_t *fields);

/* Current time, RFC 3339 UTC with second precision. */
const char *jklg_rfc3339_now(apr_pool_t *p);

#endif
