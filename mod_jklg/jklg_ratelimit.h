/* Rate limits, the pure part: which counter an attempt belongs to (the
 * client address as a key, the fixed window of a moment) and the counter's
 * id in the shared cache. mod_jklg_ratelimit.c keeps the counters. */
#ifndef JKLG_RATELIMIT_H
#define JKLG_RATELIMIT_H

#include <apr_pools.h>
#include <apr_time.h>

#define JKLG_RATELIMIT_ID_LEN 32

/* The key that counts a client address (as mod_remoteip leaves it in
 * r->useragent_ip): IPv4 as itself, IPv6 per /64 ("2001:db8:1:2::/64"),
 * an IPv4-mapped IPv6 address as its IPv4. A zone ("%eth0") is ignored.
 * Anything that is not an address is its own key ("" for NULL). */
const char *jklg_ratelimit_key_addr(apr_pool_t *p, const char *ip);

/* The fixed window of `length` that holds `now`. */
typedef struct {
    apr_int64_t index;          /* windows since the epoch */
    apr_time_t end;             /* when it ends: the counter's expiry */
    long retry_after;           /* whole seconds to the end, at least 1 */
} jklg_ratelimit_window_t;

void jklg_ratelimit_window(apr_time_t now, apr_interval_time_t length,
                           jklg_ratelimit_window_t *w);

/* SHA-256 of rule, key, window length and index: fixed size, no personal
 * data in the cache, and a changed window length never continues an old
 * count. */
void jklg_ratelimit_counter_id(unsigned char *id, const char *rule,
                               const char *key, apr_interval_time_t length,
                               apr_int64_t index);

#endif
