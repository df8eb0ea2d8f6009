/* Rate limit keys and windows (jklg_ratelimit.h). */
#include <string.h>
#include <arpa/inet.h>
#include <sodium.h>
#include <apr_strings.h>
#include "jklg_ratelimit.h"

/* IPv6 clients are counted per /64: one customer's line usually holds a
 * whole /64, and counting single addresses would let it rotate freely. */
#define V6_PREFIX_BYTES 8

static const unsigned char v4mapped[12] = {
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff
};

static const char *key_v6(apr_pool_t *p, unsigned char *a)
{
    char text[INET6_ADDRSTRLEN];

    if (!memcmp(a, v4mapped, sizeof(v4mapped))) {
        inet_ntop(AF_INET, a + sizeof(v4mapped), text, sizeof(text));
        return apr_pstrdup(p, text);
    }
    memset(a + V6_PREFIX_BYTES, 0, 16 - V6_PREFIX_BYTES);
    inet_ntop(AF_INET6, a, text, sizeof(text));
    return apr_pstrcat(p, text, "/64", NULL);
}

const char *jklg_ratelimit_key_addr(apr_pool_t *p, const char *ip)
{
    unsigned char a[16];
    char text[INET_ADDRSTRLEN];
    const char *zone;

    if (!ip) {
        return "";
    }
    if (inet_pton(AF_INET, ip, a) == 1) {
        inet_ntop(AF_INET, a, text, sizeof(text));
        return apr_pstrdup(p, text);
    }
    zone = strchr(ip, '%');
    if (inet_pton(AF_INET6, zone ? apr_pstrmemdup(p, ip, zone - ip) : ip,
                  a) == 1) {
        return key_v6(p, a);
    }
    return ip;
}

void jklg_ratelimit_window(apr_time_t now, apr_interval_time_t length,
                           jklg_ratelimit_window_t *w)
{
    w->index = now / length;
    w->end = (w->index + 1) * length;
    w->retry_after = (long)((w->end - now + APR_USEC_PER_SEC - 1)
                            / APR_USEC_PER_SEC);
}

void jklg_ratelimit_counter_id(unsigned char *id, const char *rule,
                               const char *key, apr_interval_time_t length,
                               apr_int64_t index)
{
    crypto_hash_sha256_state st;
    char tail[48];
    int len = apr_snprintf(tail, sizeof(tail), "%" APR_INT64_T_FMT "/%"
                           APR_INT64_T_FMT, (apr_int64_t)length, index);

    crypto_hash_sha256_init(&st);
    crypto_hash_sha256_update(&st, (const unsigned char *)rule,
                              strlen(rule) + 1);
    crypto_hash_sha256_update(&st, (const unsigned char *)key,
                              strlen(key) + 1);
    crypto_hash_sha256_update(&st, (const unsigned char *)tail, len);
    crypto_hash_sha256_final(&st, id);
}
