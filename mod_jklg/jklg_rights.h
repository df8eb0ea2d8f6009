/* Data rights and staff customer tools, the pure part: the placeholder
 * that replaces an erased customer's email, and the staff search text. */
#ifndef JKLG_RIGHTS_H
#define JKLG_RIGHTS_H

#include <apr_pools.h>

/* Random bytes behind an erased customer's placeholder email. */
#define JKLG_ERASED_RANDOM_LEN 16
/* Search texts shorter than this cannot use the trigram index. */
#define JKLG_SEARCH_MIN_CHARS 3
#define JKLG_SEARCH_MAX_CHARS 100

/* "erased+<32 lowercase hex>@invalid": made from random bytes only, never
 * from the old address, so nothing leads back to it; lowercase and well
 * under 254 characters, as the customers.email CHECK wants; .invalid is
 * reserved (RFC 2606), so no mail can reach it. */
const char *jklg_erased_email(apr_pool_t *p,
                              const unsigned char rnd[JKLG_ERASED_RANDOM_LEN]);

/* 1 when email is such a placeholder. */
int jklg_is_erased_email(const char *email);

/* The staff search text ?q= as a LIKE pattern body (the SQL adds the
 * surrounding %): trimmed, inner runs of white space made one space, ASCII
 * lowercased (SQL lowercases the rest), and %, _ and \ escaped with \ so
 * they match themselves. NULL with *why when q is not valid UTF-8, holds
 * control characters, or has fewer than JKLG_SEARCH_MIN_CHARS or more than
 * JKLG_SEARCH_MAX_CHARS characters once trimmed. */
const char *jklg_search_pattern(apr_pool_t *p, const char *q,
                                const char **why);

/* 1 when s is valid UTF-8 (no overlong forms, surrogates or code points
 * past U+10FFFF). */
int jklg_utf8_valid(const char *s);

#endif
