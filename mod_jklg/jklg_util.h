/* Small parsers shared by directives and handlers: durations, sizes,
 * secrets given as file:/env:, email addresses. */
#ifndef JKLG_UTIL_H
#define JKLG_UTIL_H

#include <apr_pools.h>
#include <apr_time.h>

/* "3600" (seconds), "500ms", "30s", "90m", "12h", "7d". Zero or negative
 * is refused. */
apr_status_t jklg_parse_duration(const char *s, apr_interval_time_t *out);

/* "65536", "64k", "1m" (binary multiples). Zero is refused. */
apr_status_t jklg_parse_size(const char *s, apr_off_t *out);

/* Positive decimal integer in [min, max]. */
apr_status_t jklg_parse_int(const char *s, long min, long max, long *out);

/* "file:/path" -> first line of the file, "env:NAME" -> the variable,
 * anything else -> itself. *err explains a failure without the secret. */
apr_status_t jklg_resolve_secret(apr_pool_t *p, const char *spec,
                                 const char **out, const char **err);

/* Trims surrounding whitespace and lowercases; NULL when the result is not
 * a plausible address (syntax of RFC 5321's common subset, at most 254
 * bytes, no characters that could end a header). */
const char *jklg_email_normalize(apr_pool_t *p, const char *raw);

/* A request header's value made safe to store in a text column: valid
 * UTF-8 (each invalid sequence becomes one U+FFFD, as browsers and
 * Python's "replace" decode it: Latin-1 or cut bytes stay visible as
 * something), no control characters (C0, DEL, C1; dropped), and at most
 * max_bytes long, cut on a character boundary. "" for NULL. */
const char *jklg_header_text(apr_pool_t *p, const char *s,
                             apr_size_t max_bytes);

#endif
