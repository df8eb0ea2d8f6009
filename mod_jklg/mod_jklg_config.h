/* The module and its configuration: the per-server record the
 * directives fill, the defaults the getters apply, and the directive
 * handlers that live beside the feature they configure. */
#ifndef MOD_JKLG_CONFIG_H
#define MOD_JKLG_CONFIG_H

#include <httpd.h>
#include <http_config.h>
#include <http_log.h>
#include "jklg_gateway.h"
#include "jklg_db.h"
#include "jklg_outbox.h"
#include "jklg_password.h"

#ifndef JKLG_MODULE_RECORD
APLOG_USE_MODULE(jklg);
#endif
extern module AP_MODULE_DECLARE_DATA jklg_module;

#define JKLG_UNSET (-1)

/* Error log tag: JKLGNO(00101) -> "JKLG00101: ". */
#define JKLGNO(n) "JKLG" #n ": "

typedef struct {
    int used;                       /* any JKLG directive here or inherited */
    const char *public_url;
    apr_off_t max_body;
    apr_array_header_t *allow_origins;  /* const char *; NULL: inherit */
    const char *mail_from;
    const char *smtp_url;
    const char *smtp_user;
    const char *smtp_password;
    const char *mail_spool;
    const char *mail_templates;
    int mail_threads;
    int mail_max_attempts;
    apr_interval_time_t mail_retry_base;
    apr_interval_time_t mail_timeout;
    apr_interval_time_t mail_sweep;
    apr_array_header_t *jwt_keys;   /* jklg_jwt_key_t; the first signs */
    apr_interval_time_t token_lifetime;
    int password_min;
    int pwhash_level;               /* jklg_pwhash_level_t or JKLG_UNSET */
    int pwhash_concurrency;
    struct jklg_ratelimits_t *ratelimits;  /* NULL: defaults */
    /* Each gateway's own configuration, by registry index (jklg_gateways[]);
     * read it through jklg_gateway_conf(). */
    void **gateways;
    const char *currency;
    jklg_outbox_conf_t *outbox;     /* derived in post_config */
    apr_interval_time_t db_timeout;
    jklg_db_guard_t *db_guard;      /* per child, made in child_init */
    struct jklg_batch_t *event_batch; /* per child: webhook events */
    apr_interval_time_t security_retention; /* JKLGSecurityEventRetention */
    apr_interval_time_t reconcile_interval; /* JKLGReconcileInterval; 0: off */
    const unsigned char *mfa_key;   /* JKLGMFAKey, 32 bytes, or NULL */
} jklg_server_conf_t;

/* Defaults, applied by the getters in mod_jklg_config.c. */
#define JKLG_DEFAULT_MAX_BODY      (64 * 1024)
#define JKLG_JWKS_MAX_AGE          300     /* seconds caches keep the JWKS */
#define JKLG_DEFAULT_MAIL_THREADS  2
#define JKLG_DEFAULT_MAIL_ATTEMPTS 8
#define JKLG_DEFAULT_MAIL_RETRY    apr_time_from_sec(30)
#define JKLG_DEFAULT_MAIL_TIMEOUT  apr_time_from_sec(30)
#define JKLG_DEFAULT_MAIL_SWEEP    apr_time_from_sec(30)
#define JKLG_MAIL_RETRY_CAP        apr_time_from_sec(3600)
#define JKLG_DEFAULT_TOKEN_LIFETIME apr_time_from_sec(7 * 86400)
#define JKLG_DEFAULT_PASSWORD_MIN  10
#define JKLG_DEFAULT_CURRENCY      "eur"
#define JKLG_DEFAULT_DB_TIMEOUT    apr_time_from_sec(5)
#define JKLG_DEFAULT_SECURITY_RETENTION apr_time_from_sec(365 * 86400)

extern const command_rec jklg_directives[];
void *jklg_create_server_conf(apr_pool_t *p, server_rec *s);
void *jklg_merge_server_conf(apr_pool_t *p, void *basev, void *addv);
jklg_server_conf_t *jklg_conf(const server_rec *s);
/* gw's configuration in this server (what its operations take). */
const void *jklg_gateway_conf(const jklg_server_conf_t *c,
                              const jklg_gateway_t *gw);
apr_off_t jklg_conf_max_body(const jklg_server_conf_t *c);
int jklg_conf_mail_threads(const jklg_server_conf_t *c);
apr_interval_time_t jklg_conf_mail_sweep(const jklg_server_conf_t *c);
apr_interval_time_t jklg_conf_mail_timeout(const jklg_server_conf_t *c);
apr_interval_time_t jklg_conf_token_lifetime(const jklg_server_conf_t *c);
/* JKLGDatabaseTimeout: the longest wait for one statement, or for a
 * connection from a pool that makes no progress. */
apr_interval_time_t jklg_conf_db_timeout(const jklg_server_conf_t *c);
int jklg_conf_password_min(const jklg_server_conf_t *c);
jklg_pwhash_level_t jklg_conf_pwhash_level(const jklg_server_conf_t *c);
/* JKLGPasswordHashConcurrency, default the number of CPUs. */
int jklg_conf_pwhash_concurrency(const jklg_server_conf_t *c);
/* Refuses a server whose configuration is incomplete; NULL when fine. */
const char *jklg_conf_check(apr_pool_t *p, server_rec *s);
/* mod_jklg_placeholders.c: check_config hook refusing the placeholder
 * CHANGE left in the configuration (also under apache2ctl configtest). */
int jklg_placeholders_check_config(apr_pool_t *pconf, apr_pool_t *plog,
                                   apr_pool_t *ptemp, server_rec *s);

/* Directives beside their feature. */
/* mod_jklg_ratelimit.c: JKLGRateLimit, JKLGRateLimitCache, counters. */
const char *jklg_ratelimit_set(cmd_parms *cmd, void *dc, const char *name,
                               const char *count, const char *window);
const char *jklg_ratelimit_set_cache(cmd_parms *cmd, void *dc,
                                     const char *arg);
struct jklg_ratelimits_t *jklg_ratelimit_merge(apr_pool_t *p,
                                               struct jklg_ratelimits_t *base,
                                               struct jklg_ratelimits_t *add);
int jklg_ratelimit_pre_config(apr_pool_t *pconf);
int jklg_ratelimit_post_config(apr_pool_t *pconf, apr_pool_t *ptemp,
                               server_rec *s);
void jklg_ratelimit_child_init(apr_pool_t *pchild, server_rec *s);
/* JKLGSecurityEventRetention, default 365 days. */
apr_interval_time_t jklg_conf_security_retention(const jklg_server_conf_t *c);
/* JKLGMFAKey file:/path|env:NAME|<base64 of 32 bytes>. */
const char *jklg_mfa_set_key(cmd_parms *cmd, void *dc, const char *arg);
/* JKLGReconcileInterval, default 15m; 0 (off) disables the job. */
apr_interval_time_t jklg_conf_reconcile_interval(const jklg_server_conf_t *c);
const char *jklg_reconcile_set_interval(cmd_parms *cmd, void *dc,
                                        const char *arg);

#endif
