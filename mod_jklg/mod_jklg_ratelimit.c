/* Rate limits: fixed-window counters kept in one mod_socache cache for the
 * whole server, so every child process (and, with redis or memcache, every
 * Apache server) counts the same attempts. Counter ids are SHA-256 digests:
 * no email address or IP address is ever written to the cache. */
#include <string.h>
#include <apr_strings.h>
#include <ap_provider.h>
#include <ap_socache.h>
#include <http_core.h>
#include <http_protocol.h>
#include <util_mutex.h>
#include "jklg_ratelimit.h"
#include "jklg_util.h"
#include "mod_jklg.h"

#define MUTEX_TYPE      "jklg-ratelimit"
/* At most 14 characters: memcache and redis prefix every key with it and
 * a ":" in 16 bytes. */
#define CACHE_NAMESPACE "jklg-ratelimit"
#define DEFAULT_PROVIDER "shmcb"
/* About 60 bytes of shared memory per counter (32-byte id, 4-byte count,
 * shmcb's index entry): room for some 70,000 live counters, so a flood of
 * made-up keys takes long to push real counters out. */
#define DEFAULT_ARGS    "jklg-ratelimit(4194304)"
#define COUNT_MAX       1000000
#define WINDOW_MIN      apr_time_from_sec(1)
#define WINDOW_MAX      apr_time_from_sec(86400)
#define ID_LEN          JKLG_RATELIMIT_ID_LEN
#define VALUE_LEN       4
/* redis and memcache keep whole seconds: redis truncates the time left and
 * refuses 0, which would drop a counter up to a second before its window
 * ends, or fail open in a window's last second. A counter that outlives
 * its window costs nothing, the next window counts under another id. */
#define EXPIRY_SLACK    apr_time_from_sec(1)

typedef struct {
    const char *name;
    long count;
    long window_sec;
} jklg_rule_t;

/* The names and defaults are the operator contract: docs/customers.md,
 * "Rate limits". */
static const jklg_rule_t rules[] = {
    {"login", 10, 15 * 60},
    {"login_ip", 100, 15 * 60},
    {"login_email", 100, 60 * 60},
    {"register_email", 5, 60 * 60},
    {"register_ip", 30, 5 * 60},
    {"resend_email", 5, 60 * 60},
    {"resend_ip", 30, 5 * 60},
    {"forgot_email", 5, 60 * 60},
    {"forgot_ip", 30, 5 * 60},
    {"verify_ip", 30, 5 * 60},
    {"reset_ip", 30, 5 * 60},
    {"password_change", 10, 15 * 60},
    {"mfa", 5, 15 * 60},
};
#define RULES ((int)(sizeof(rules) / sizeof(rules[0])))

struct jklg_ratelimits_t {
    long count[RULES];                  /* JKLG_UNSET: the default applies */
    apr_interval_time_t window[RULES];
};

/* Server-wide, rebuilt on every configuration pass (pre_config clears it,
 * a pconf cleanup destroys it). */
static struct {
    const char *spec;                   /* "provider[:args]", for messages */
    ap_socache_provider_t *provider;
    ap_socache_instance_t *instance;
    apr_global_mutex_t *mutex;          /* providers that are not MP-safe */
    int ready;                          /* initialised: counting is on */
} cache;

static int rule_index(const char *name)
{
    for (int i = 0; name && i < RULES; i++) {
        if (!strcmp(rules[i].name, name)) {
            return i;
        }
    }
    return -1;
}

static const char *rule_names(apr_pool_t *p)
{
    const char *list = rules[0].name;

    for (int i = 1; i < RULES; i++) {
        list = apr_pstrcat(p, list, ", ", rules[i].name, NULL);
    }
    return list;
}

static void limit_of(const struct jklg_ratelimits_t *set, int i, long *count,
                     apr_interval_time_t *window)
{
    if (set && set->count[i] != JKLG_UNSET) {
        *count = set->count[i];
        *window = set->window[i];
        return;
    }
    *count = rules[i].count;
    *window = apr_time_from_sec(rules[i].window_sec);
}

const char *jklg_ratelimit_set(cmd_parms *cmd, void *dc, const char *name,
                               const char *count, const char *window)
{
    jklg_server_conf_t *c = jklg_conf(cmd->server);
    int i = rule_index(name);
    apr_interval_time_t w;
    long n;

    if (i < 0) {
        return apr_psprintf(cmd->pool, "JKLGRateLimit: '%s' is not a rate "
                            "limit name, use one of %s", name,
                            rule_names(cmd->pool));
    }
    if (jklg_parse_int(count, 1, COUNT_MAX, &n) != APR_SUCCESS) {
        return apr_psprintf(cmd->pool, "JKLGRateLimit %s: '%s' is not a "
                            "count between 1 and %d", name, count, COUNT_MAX);
    }
    if (jklg_parse_duration(window, &w) != APR_SUCCESS || w < WINDOW_MIN
        || w > WINDOW_MAX) {
        return apr_psprintf(cmd->pool, "JKLGRateLimit %s: '%s' is not a "
                            "window between 1s and 1d, use e.g. 60, 15m, 1h",
                            name, window);
    }
    if (!c->ratelimits) {
        c->ratelimits = apr_palloc(cmd->pool, sizeof(*c->ratelimits));
        for (int k = 0; k < RULES; k++) {
            c->ratelimits->count[k] = JKLG_UNSET;
            c->ratelimits->window[k] = JKLG_UNSET;
        }
    }
    c->ratelimits->count[i] = n;
    c->ratelimits->window[i] = w;
    c->used = 1;
    return NULL;
}

struct jklg_ratelimits_t *jklg_ratelimit_merge(apr_pool_t *p,
                                               struct jklg_ratelimits_t *base,
                                               struct jklg_ratelimits_t *add)
{
    struct jklg_ratelimits_t *merged;

    if (!base || !add) {
        return add ? add : base;
    }
    merged = apr_pmemdup(p, base, sizeof(*merged));
    for (int i = 0; i < RULES; i++) {
        if (add->count[i] != JKLG_UNSET) {
            merged->count[i] = add->count[i];
            merged->window[i] = add->window[i];
        }
    }
    return merged;
}

/* Looks the provider up and creates (does not yet initialise) the cache;
 * NULL or what is wrong. */
static const char *cache_create(apr_pool_t *pconf, apr_pool_t *ptemp,
                                const char *spec)
{
    const char *colon = strchr(spec, ':');
    const char *name = colon ? apr_pstrmemdup(ptemp, spec, colon - spec)
                             : spec;
    const char *err;

    cache.provider = ap_lookup_provider(AP_SOCACHE_PROVIDER_GROUP, name,
                                        AP_SOCACHE_PROVIDER_VERSION);
    if (!cache.provider) {
        return apr_psprintf(pconf, "no cache provider '%s' is loaded: load "
                            "mod_socache_%s first (Debian: a2enmod "
                            "socache_%s; elsewhere: LoadModule "
                            "socache_%s_module modules/mod_socache_%s.so)",
                            name, name, name, name, name);
    }
    err = cache.provider->create(&cache.instance, colon ? colon + 1 : NULL,
                                 ptemp, pconf);
    if (err) {
        cache.instance = NULL;
        return apr_psprintf(pconf, "'%s': %s", spec, err);
    }
    cache.spec = spec;
    return NULL;
}

const char *jklg_ratelimit_set_cache(cmd_parms *cmd, void *dc,
                                     const char *arg)
{
    const char *err = ap_check_cmd_context(cmd, GLOBAL_ONLY);

    if (err) {
        return apr_pstrcat(cmd->pool, err, ": one cache serves every "
                           "virtual host, set it in the main server "
                           "configuration", NULL);
    }
    err = cache_create(cmd->pool, cmd->temp_pool, arg);
    if (err) {
        return apr_pstrcat(cmd->pool, "JKLGRateLimitCache: ", err, NULL);
    }
    return NULL;
}

int jklg_ratelimit_pre_config(apr_pool_t *pconf)
{
    apr_status_t rv;

    memset(&cache, 0, sizeof(cache));
    rv = ap_mutex_register(pconf, MUTEX_TYPE, NULL, APR_LOCK_DEFAULT, 0);
    if (rv != APR_SUCCESS) {
        ap_log_perror(APLOG_MARK, APLOG_CRIT, rv, pconf, JKLGNO(00801)
                      "cannot register the %s mutex", MUTEX_TYPE);
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    return OK;
}

static apr_status_t cache_destroy(void *data)
{
    if (cache.ready) {
        cache.provider->destroy(cache.instance, data);
    }
    memset(&cache, 0, sizeof(cache));
    return APR_SUCCESS;
}

static int module_used(server_rec *s)
{
    for (; s; s = s->next) {
        if (jklg_conf(s)->used) {
            return 1;
        }
    }
    return 0;
}

/* Runs on the startup dry run too, so that a cache that cannot be set up
 * stops `apache2 -k start` with its message rather than the detached
 * server later. */
int jklg_ratelimit_post_config(apr_pool_t *pconf, apr_pool_t *ptemp,
                               server_rec *s)
{
    /* shmcb shares its memory between index entries and data in the
     * ratio of the hints: counting its 24-byte index entry in the object
     * size balances the two for our 36-byte entries. */
    static const struct ap_socache_hints hints = {
        ID_LEN, 24 + VALUE_LEN, apr_time_from_sec(3600)
    };
    const char *err;
    apr_status_t rv;

    if (!module_used(s)) {
        return OK;
    }
    if (!cache.instance) {
        err = cache_create(pconf, ptemp, DEFAULT_PROVIDER ":" DEFAULT_ARGS);
        if (err) {
            ap_log_error(APLOG_MARK, APLOG_EMERG, 0, s, JKLGNO(00802)
                         "mod_jklg: rate limits need a shared cache, %s; "
                         "or choose another one with JKLGRateLimitCache",
                         err);
            return HTTP_INTERNAL_SERVER_ERROR;
        }
    }
    if (cache.provider->flags & AP_SOCACHE_FLAG_NOTMPSAFE) {
        rv = ap_global_mutex_create(&cache.mutex, NULL, MUTEX_TYPE, NULL, s,
                                    pconf, 0);
        if (rv != APR_SUCCESS) {
            ap_log_error(APLOG_MARK, APLOG_EMERG, rv, s, JKLGNO(00803)
                         "mod_jklg: cannot create the %s mutex (see the "
                         "Mutex directive)", MUTEX_TYPE);
            return HTTP_INTERNAL_SERVER_ERROR;
        }
    }
    rv = cache.provider->init(cache.instance, CACHE_NAMESPACE, &hints, s,
                              pconf);
    if (rv != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_EMERG, rv, s, JKLGNO(00804)
                     "mod_jklg: the rate limit cache '%s' cannot be "
                     "initialised (JKLGRateLimitCache)", cache.spec);
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    cache.ready = 1;
    apr_pool_cleanup_register(pconf, s, cache_destroy, apr_pool_cleanup_null);
    return OK;
}

void jklg_ratelimit_child_init(apr_pool_t *pchild, server_rec *s)
{
    apr_status_t rv;

    if (!cache.mutex) {
        return;
    }
    rv = apr_global_mutex_child_init(&cache.mutex,
                                     apr_global_mutex_lockfile(cache.mutex),
                                     pchild);
    if (rv != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_CRIT, rv, s, JKLGNO(00805)
                     "cannot attach to the %s mutex: rate limits are off in "
                     "this process", MUTEX_TYPE);
        cache.ready = 0;
    }
}

static apr_status_t read_count(request_rec *r, const unsigned char *id,
                               apr_uint32_t *count)
{
    unsigned char v[VALUE_LEN];
    unsigned int len = sizeof(v);
    apr_status_t rv = cache.provider->retrieve(cache.instance, r->server, id,
                                               ID_LEN, v, &len, r->pool);

    *count = 0;
    if (rv == APR_NOTFOUND) {
        return APR_SUCCESS;
    }
    if (rv == APR_SUCCESS && len == VALUE_LEN) {
        *count = (apr_uint32_t)v[0] << 24 | (apr_uint32_t)v[1] << 16
                 | (apr_uint32_t)v[2] << 8 | v[3];
    }
    return rv;
}

static apr_status_t write_count(request_rec *r, const unsigned char *id,
                                apr_time_t expiry, apr_uint32_t count)
{
    unsigned char v[VALUE_LEN] = {
        (unsigned char)(count >> 24), (unsigned char)(count >> 16),
        (unsigned char)(count >> 8), (unsigned char)count
    };

    return cache.provider->store(cache.instance, r->server, id, ID_LEN,
                                 expiry, v, sizeof(v), r->pool);
}

/* *before is the count before this attempt. A counter stops at limit + 1,
 * so a flood past the limit rewrites nothing. socache has no atomic
 * increment: providers without the mutex (memcache, redis) may miss a few
 * concurrent attempts. */
static apr_status_t count_attempt(request_rec *r, const unsigned char *id,
                                  apr_time_t expiry, long limit,
                                  apr_uint32_t *before)
{
    apr_status_t rv, unlock;

    if (cache.mutex) {
        rv = apr_global_mutex_lock(cache.mutex);
        if (rv != APR_SUCCESS) {
            return rv;
        }
    }
    rv = read_count(r, id, before);
    if (rv == APR_SUCCESS && *before <= limit) {
        rv = write_count(r, id, expiry, *before + 1);
    }
    if (cache.mutex) {
        unlock = apr_global_mutex_unlock(cache.mutex);
        rv = rv != APR_SUCCESS ? rv : unlock;
    }
    return rv;
}

long jklg_ratelimit_hit(request_rec *r, const char *rule, const char *key)
{
    unsigned char id[ID_LEN];
    int i = rule_index(rule);
    apr_interval_time_t window;
    jklg_ratelimit_window_t w;
    apr_uint32_t before;
    apr_status_t rv;
    long limit;

    if (i < 0) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, JKLGNO(00806)
                      "no rate limit is named '%s'", rule ? rule : "(null)");
        return 0;
    }
    if (!cache.ready) {
        return 0;
    }
    limit_of(jklg_conf(r->server)->ratelimits, i, &limit, &window);
    jklg_ratelimit_window(apr_time_now(), window, &w);
    jklg_ratelimit_counter_id(id, rule, key ? key : "", window, w.index);
    rv = count_attempt(r, id, w.end + EXPIRY_SLACK, limit, &before);
    if (rv != APR_SUCCESS) {
        /* Fail open: a cache outage must not lock every customer out. */
        ap_log_rerror(APLOG_MARK, APLOG_WARNING, rv, r, JKLGNO(00807)
                      "rate limit %s not applied: the cache '%s' failed",
                      rule, cache.spec);
        return 0;
    }
    if (before < (apr_uint32_t)limit) {
        return 0;
    }
    if (before == (apr_uint32_t)limit) {
        ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, JKLGNO(00808)
                      "rate limit %s reached (%ld per %" APR_TIME_T_FMT
                      "s): refused until the window ends", rule, limit,
                      apr_time_sec(window));
    }
    return w.retry_after;
}

apr_status_t jklg_ratelimit_reset(request_rec *r, const char *rule,
                                  const char *key)
{
    unsigned char id[ID_LEN];
    int i = rule_index(rule);
    apr_interval_time_t window;
    jklg_ratelimit_window_t w;
    apr_status_t rv, unlock;
    long limit;

    if (i < 0) {
        return APR_EINVAL;
    }
    if (!cache.ready) {
        return APR_SUCCESS;
    }
    limit_of(jklg_conf(r->server)->ratelimits, i, &limit, &window);
    jklg_ratelimit_window(apr_time_now(), window, &w);
    jklg_ratelimit_counter_id(id, rule, key ? key : "", window, w.index);
    if (cache.mutex && (rv = apr_global_mutex_lock(cache.mutex))
                       != APR_SUCCESS) {
        return rv;
    }
    rv = cache.provider->remove(cache.instance, r->server, id, ID_LEN,
                                r->pool);
    if (rv == APR_NOTFOUND) {
        rv = APR_SUCCESS;       /* nothing counted: nothing to clear */
    }
    if (cache.mutex) {
        unlock = apr_global_mutex_unlock(cache.mutex);
        rv = rv != APR_SUCCESS ? rv : unlock;
    }
    return rv;
}

const char *jklg_ratelimit_key_ip(request_rec *r)
{
    return jklg_ratelimit_key_addr(r->pool, r->useragent_ip);
}
