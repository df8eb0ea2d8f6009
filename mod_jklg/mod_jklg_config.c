/* Directives: one command_rec table, unset sentinels, defaults applied in
 * the getters, "more specific wins" merge, and messages that say what to
 * write instead. */
#include <string.h>
#include <strings.h>
#include <apr_strings.h>
#include <apr_uri.h>
#include <http_core.h>
#include <unistd.h>
#include <apr_env.h>
#include <sodium.h>
#include "jklg_gateways.h"
#include "jklg_jwt.h"
#include "jklg_mail.h"
#include "jklg_money.h"
#include "jklg_util.h"
#include "mod_jklg.h"

#define MAIL_THREADS_MAX 64
#define MAIL_ATTEMPTS_MAX 50

void *jklg_create_server_conf(apr_pool_t *p, server_rec *s)
{
    jklg_server_conf_t *c = apr_pcalloc(p, sizeof(*c));

    c->max_body = JKLG_UNSET;
    c->mail_threads = JKLG_UNSET;
    c->mail_max_attempts = JKLG_UNSET;
    c->mail_retry_base = JKLG_UNSET;
    c->mail_timeout = JKLG_UNSET;
    c->mail_sweep = JKLG_UNSET;
    c->token_lifetime = JKLG_UNSET;
    c->password_min = JKLG_UNSET;
    c->pwhash_level = JKLG_UNSET;
    c->pwhash_concurrency = JKLG_UNSET;
    c->gateways = apr_pcalloc(p, sizeof(void *) * (jklg_gateway_count() + 1));
    for (int i = 0; jklg_gateways[i]; i++) {
        if (jklg_gateways[i]->make_conf) {
            c->gateways[i] = jklg_gateways[i]->make_conf(p);
        }
    }
    c->db_timeout = JKLG_UNSET;
    c->security_retention = JKLG_UNSET;
    c->reconcile_interval = JKLG_UNSET;
    return c;
}

#define PICK(field) (add->field != JKLG_UNSET ? add->field : base->field)
#define PICK_PTR(field) (add->field ? add->field : base->field)

void *jklg_merge_server_conf(apr_pool_t *p, void *basev, void *addv)
{
    jklg_server_conf_t *base = basev, *add = addv;
    jklg_server_conf_t *c = apr_pcalloc(p, sizeof(*c));

    c->used = add->used || base->used;
    c->public_url = PICK_PTR(public_url);
    c->max_body = PICK(max_body);
    c->allow_origins = PICK_PTR(allow_origins);
    c->mail_from = PICK_PTR(mail_from);
    /* The SMTP url, user and password travel together. */
    c->smtp_url = PICK_PTR(smtp_url);
    c->smtp_user = add->smtp_url ? add->smtp_user : base->smtp_user;
    c->smtp_password = add->smtp_url ? add->smtp_password
                                     : base->smtp_password;
    c->mail_spool = PICK_PTR(mail_spool);
    c->mail_templates = PICK_PTR(mail_templates);
    c->mail_threads = PICK(mail_threads);
    c->mail_max_attempts = PICK(mail_max_attempts);
    c->mail_retry_base = PICK(mail_retry_base);
    c->mail_timeout = PICK(mail_timeout);
    c->mail_sweep = PICK(mail_sweep);
    c->jwt_keys = PICK_PTR(jwt_keys);
    c->mfa_key = PICK_PTR(mfa_key);
    c->token_lifetime = PICK(token_lifetime);
    c->password_min = PICK(password_min);
    c->pwhash_level = PICK(pwhash_level);
    c->pwhash_concurrency = PICK(pwhash_concurrency);
    c->gateways = apr_pcalloc(p, sizeof(void *) * (jklg_gateway_count() + 1));
    for (int i = 0; jklg_gateways[i]; i++) {
        if (jklg_gateways[i]->merge_conf) {
            c->gateways[i] = jklg_gateways[i]->merge_conf(p, base->gateways[i],
                                                          add->gateways[i]);
        }
    }
    c->currency = PICK_PTR(currency);
    c->db_timeout = PICK(db_timeout);
    c->security_retention = PICK(security_retention);
    c->reconcile_interval = PICK(reconcile_interval);
    c->ratelimits = jklg_ratelimit_merge(p, base->ratelimits,
                                         add->ratelimits);
    return c;
}

jklg_server_conf_t *jklg_conf(const server_rec *s)
{
    return ap_get_module_config(s->module_config, &jklg_module);
}

const void *jklg_gateway_conf(const jklg_server_conf_t *c,
                              const jklg_gateway_t *gw)
{
    int i = jklg_gateway_index(gw);

    return i >= 0 && c->gateways ? c->gateways[i] : NULL;
}

apr_off_t jklg_conf_max_body(const jklg_server_conf_t *c)
{
    return c->max_body != JKLG_UNSET ? c->max_body : JKLG_DEFAULT_MAX_BODY;
}

int jklg_conf_mail_threads(const jklg_server_conf_t *c)
{
    return c->mail_threads != JKLG_UNSET ? c->mail_threads
                                         : JKLG_DEFAULT_MAIL_THREADS;
}

apr_interval_time_t jklg_conf_mail_sweep(const jklg_server_conf_t *c)
{
    return c->mail_sweep != JKLG_UNSET ? c->mail_sweep
                                       : JKLG_DEFAULT_MAIL_SWEEP;
}

apr_interval_time_t jklg_conf_mail_timeout(const jklg_server_conf_t *c)
{
    return c->mail_timeout != JKLG_UNSET ? c->mail_timeout
                                         : JKLG_DEFAULT_MAIL_TIMEOUT;
}

apr_interval_time_t jklg_conf_db_timeout(const jklg_server_conf_t *c)
{
    return c->db_timeout != JKLG_UNSET ? c->db_timeout
                                       : JKLG_DEFAULT_DB_TIMEOUT;
}

apr_interval_time_t jklg_conf_token_lifetime(const jklg_server_conf_t *c)
{
    return c->token_lifetime != JKLG_UNSET ? c->token_lifetime
                                           : JKLG_DEFAULT_TOKEN_LIFETIME;
}

int jklg_conf_password_min(const jklg_server_conf_t *c)
{
    return c->password_min != JKLG_UNSET ? c->password_min
                                         : JKLG_DEFAULT_PASSWORD_MIN;
}

jklg_pwhash_level_t jklg_conf_pwhash_level(const jklg_server_conf_t *c)
{
    return c->pwhash_level != JKLG_UNSET ? (jklg_pwhash_level_t)c->pwhash_level
                                         : JKLG_PWHASH_INTERACTIVE;
}

int jklg_conf_pwhash_concurrency(const jklg_server_conf_t *c)
{
    long cpus;

    if (c->pwhash_concurrency != JKLG_UNSET) {
        return c->pwhash_concurrency;
    }
    cpus = sysconf(_SC_NPROCESSORS_ONLN);
    return cpus > 0 ? (int)cpus : 1;
}

static jklg_server_conf_t *conf_of(cmd_parms *cmd)
{
    jklg_server_conf_t *c = jklg_conf(cmd->server);

    c->used = 1;
    return c;
}

static const char *set_public_url(cmd_parms *cmd, void *dc, const char *arg)
{
    apr_uri_t uri;
    char *url = apr_pstrdup(cmd->pool, arg);
    apr_size_t len = strlen(url);

    if (apr_uri_parse(cmd->pool, url, &uri) != APR_SUCCESS || !uri.hostname
        || !uri.scheme || (strcmp(uri.scheme, "https")
                           && strcmp(uri.scheme, "http"))
        || uri.query || uri.fragment) {
        return apr_psprintf(cmd->pool, "JKLGPublicURL: '%s' is not an "
                            "absolute http(s) URL, use e.g. "
                            "https://travel.example.com", arg);
    }
    while (len > 0 && url[len - 1] == '/') {
        url[--len] = '\0';
    }
    conf_of(cmd)->public_url = url;
    return NULL;
}

static const char *set_max_body(cmd_parms *cmd, void *dc, const char *arg)
{
    apr_off_t size;

    if (jklg_parse_size(arg, &size) != APR_SUCCESS
        || size > 64 * 1024 * 1024) {
        return apr_psprintf(cmd->pool, "JKLGMaxBody: '%s' is not a size "
                            "between 1 and 64m, use e.g. 65536, 64k, 1m",
                            arg);
    }
    conf_of(cmd)->max_body = size;
    return NULL;
}

static const char *add_allow_origin(cmd_parms *cmd, void *dc, const char *arg)
{
    jklg_server_conf_t *c = conf_of(cmd);
    apr_uri_t uri;

    if (apr_uri_parse(cmd->pool, arg, &uri) != APR_SUCCESS || !uri.scheme
        || !uri.hostname || (uri.path && strcmp(uri.path, ""))
        || strchr(arg, '*')) {
        return apr_psprintf(cmd->pool, "JKLGAllowOrigin: '%s' is not an "
                            "origin, use scheme://host[:port] without a path, "
                            "e.g. https://www.travel.example", arg);
    }
    if (!c->allow_origins) {
        c->allow_origins = apr_array_make(cmd->pool, 2, sizeof(const char *));
    }
    APR_ARRAY_PUSH(c->allow_origins, const char *) = arg;
    return NULL;
}

static const char *set_mail_from(cmd_parms *cmd, void *dc, const char *arg)
{
    const char *addr = jklg_mail_address(cmd->pool, arg);

    if (!addr || !jklg_email_normalize(cmd->pool, addr)
        || strpbrk(arg, "\r\n")) {
        return apr_psprintf(cmd->pool, "JKLGMailFrom: '%s' has no valid "
                            "address, use e.g. \"JKLG Travel "
                            "<noreply@travel.example>\"", arg);
    }
    conf_of(cmd)->mail_from = arg;
    return NULL;
}

static const char *set_mail_smtp(cmd_parms *cmd, void *dc, int argc,
                                 char *const argv[])
{
    jklg_server_conf_t *c = conf_of(cmd);
    const char *err;

    if ((argc != 1 && argc != 3)
        || (strncmp(argv[0], "smtp://", 7) && strncmp(argv[0], "smtps://", 8))) {
        return "JKLGMailSMTP: use JKLGMailSMTP smtp://host:587 [user "
               "password] (STARTTLS when offered) or smtps://host:465 [user "
               "password]; password may be file:/path or env:NAME";
    }
    c->smtp_url = argv[0];
    c->smtp_user = argc == 3 ? argv[1] : NULL;
    c->smtp_password = NULL;
    if (argc == 3 && jklg_resolve_secret(cmd->pool, argv[2], &c->smtp_password,
                                         &err) != APR_SUCCESS) {
        return apr_psprintf(cmd->pool, "JKLGMailSMTP: password: %s", err);
    }
    return NULL;
}

static const char *set_path(cmd_parms *cmd, const char *name,
                            const char *arg, const char **field)
{
    const char *path = ap_server_root_relative(cmd->pool, arg);
    apr_finfo_t info;

    if (!path || apr_stat(&info, path, APR_FINFO_TYPE, cmd->pool)
                 != APR_SUCCESS || info.filetype != APR_DIR) {
        return apr_psprintf(cmd->pool, "%s: '%s' is not an existing "
                            "directory", name, arg);
    }
    *field = path;
    return NULL;
}

static const char *set_mail_spool(cmd_parms *cmd, void *dc, const char *arg)
{
    return set_path(cmd, "JKLGMailSpool", arg, &conf_of(cmd)->mail_spool);
}

static const char *set_mail_templates(cmd_parms *cmd, void *dc,
                                      const char *arg)
{
    return set_path(cmd, "JKLGMailTemplates", arg,
                    &conf_of(cmd)->mail_templates);
}

static const char *set_mail_threads(cmd_parms *cmd, void *dc, const char *arg)
{
    long n;

    if (jklg_parse_int(arg, 1, MAIL_THREADS_MAX, &n) != APR_SUCCESS) {
        return apr_psprintf(cmd->pool, "JKLGMailThreads: '%s' is not a "
                            "number between 1 and %d", arg, MAIL_THREADS_MAX);
    }
    conf_of(cmd)->mail_threads = (int)n;
    return NULL;
}

static const char *set_mail_retry(cmd_parms *cmd, void *dc,
                                  const char *attempts, const char *base)
{
    jklg_server_conf_t *c = conf_of(cmd);
    long n;

    if (jklg_parse_int(attempts, 1, MAIL_ATTEMPTS_MAX, &n) != APR_SUCCESS
        || jklg_parse_duration(base, &c->mail_retry_base) != APR_SUCCESS) {
        return apr_psprintf(cmd->pool, "JKLGMailRetry: '%s %s' is not "
                            "'attempts first-delay', use e.g. 8 30s "
                            "(attempts 1..%d; the delay doubles each retry, "
                            "at most 1h)", attempts, base, MAIL_ATTEMPTS_MAX);
    }
    c->mail_max_attempts = (int)n;
    return NULL;
}

static const char *set_duration(cmd_parms *cmd, const char *name,
                                const char *arg, apr_interval_time_t *field)
{
    if (jklg_parse_duration(arg, field) != APR_SUCCESS) {
        return apr_psprintf(cmd->pool, "%s: '%s' is not a duration, use "
                            "e.g. 30, 500ms, 30s, 5m", name, arg);
    }
    return NULL;
}

static const char *set_mail_timeout(cmd_parms *cmd, void *dc, const char *arg)
{
    return set_duration(cmd, "JKLGMailTimeout", arg,
                        &conf_of(cmd)->mail_timeout);
}

static const char *set_mail_sweep(cmd_parms *cmd, void *dc, const char *arg)
{
    return set_duration(cmd, "JKLGMailSweepInterval", arg,
                        &conf_of(cmd)->mail_sweep);
}

static const char *set_db_timeout(cmd_parms *cmd, void *dc, const char *arg)
{
    return set_duration(cmd, "JKLGDatabaseTimeout", arg,
                        &conf_of(cmd)->db_timeout);
}

#define ED25519_PREFIX "ed25519:"
#define KEY_FILE_MAX 4096           /* a PEM Ed25519 key is 119 bytes */

/* The whole of a small key file (a PEM key spans lines, so the
 * first-line rule of jklg_resolve_secret does not fit). */
static const char *read_key_file(apr_pool_t *p, const char *path,
                                 const char **text, apr_size_t *len)
{
    char *buf = apr_palloc(p, KEY_FILE_MAX + 1);
    apr_file_t *f;
    apr_status_t rv;

    if (apr_file_open(&f, path, APR_FOPEN_READ, 0, p) != APR_SUCCESS) {
        return apr_psprintf(p, "cannot open %s", path);
    }
    rv = apr_file_read_full(f, buf, KEY_FILE_MAX + 1, len);
    apr_file_close(f);
    if (rv != APR_SUCCESS && rv != APR_EOF) {
        return apr_psprintf(p, "cannot read %s", path);
    }
    if (*len > KEY_FILE_MAX) {
        return apr_psprintf(p, "%s is larger than an Ed25519 key file can "
                            "be", path);
    }
    if (*len == 0) {
        return apr_psprintf(p, "%s is empty", path);
    }
    *text = buf;
    return NULL;
}

/* "file:/path" or "env:NAME" after the ed25519: prefix: never inline, a
 * private key does not belong in httpd.conf. */
static const char *ed25519_source(apr_pool_t *p, const char *src,
                                  const char **text, apr_size_t *len)
{
    char *value;

    if (!strncmp(src, "file:", 5)) {
        return read_key_file(p, src + 5, text, len);
    }
    if (!strncmp(src, "env:", 4)) {
        if (apr_env_get(&value, src + 4, p) != APR_SUCCESS || !*value) {
            return apr_psprintf(p, "environment variable %s is not set",
                                src + 4);
        }
        /* apr_env_get hands out the environment itself: copy, so that
         * wiping the key text leaves it for the next reading of the
         * configuration (start-up reads it twice, graceful again). */
        *text = apr_pstrdup(p, value);
        *len = strlen(value);
        return NULL;
    }
    return "an ed25519 key is read from ed25519:file:/path or "
           "ed25519:env:NAME";
}

static const char *load_ed25519(apr_pool_t *p, const char *src,
                                const char *kid, jklg_jwt_key_t *key)
{
    unsigned char seed[JKLG_JWT_ED25519_SEED];
    const char *text = NULL, *err;
    apr_size_t len = 0;
    apr_status_t rv;

    /* Config is read before child_init; sodium_init is idempotent. */
    if (sodium_init() < 0) {
        return "libsodium failed to initialise";
    }
    if ((err = ed25519_source(p, src, &text, &len))) {
        return err;
    }
    rv = jklg_jwt_ed25519_parse(p, text, len, seed, &err);
    /* Our own copy (file buffer or apr_env_get's): the derived key is all
     * that needs to stay in the configuration pool. */
    sodium_memzero((void *)text, len);
    if (rv != APR_SUCCESS) {
        return apr_psprintf(p, "%s: %s; generate one with 'openssl genpkey "
                            "-algorithm ed25519'", src, err);
    }
    jklg_jwt_ed25519_key(p, kid, seed, key);
    sodium_memzero(seed, sizeof(seed));
    return NULL;
}

static const char *load_hs256(apr_pool_t *p, const char *spec,
                              const char *kid, jklg_jwt_key_t *key)
{
    const char *secret, *err;

    if (jklg_resolve_secret(p, spec, &secret, &err) != APR_SUCCESS) {
        return err;
    }
    if (strlen(secret) < JKLG_JWT_KEY_MIN) {
        return apr_psprintf(p, "the secret must be at least %d bytes; "
                            "generate one with 'openssl rand -base64 48'",
                            JKLG_JWT_KEY_MIN);
    }
    key->key = (const unsigned char *)secret;
    key->key_len = strlen(secret);
    key->kid = kid ? kid : jklg_jwt_derive_kid(p, key->key, key->key_len);
    return NULL;
}

/* JKLGJWTKey [kid] secret|ed25519:file:/path|ed25519:env:NAME:
 * repeatable, the first one signs. */
static const char *add_jwt_key(cmd_parms *cmd, void *dc, const char *a1,
                               const char *a2)
{
    jklg_server_conf_t *c = conf_of(cmd);
    const char *spec = a2 ? a2 : a1;
    const char *kid = a2 ? a1 : NULL;
    jklg_jwt_key_t key = {0};
    const char *err;

    if (kid && !*kid) {
        return "JKLGJWTKey: the key id must not be empty";
    }
    err = !strncmp(spec, ED25519_PREFIX, strlen(ED25519_PREFIX))
          ? load_ed25519(cmd->pool, spec + strlen(ED25519_PREFIX), kid, &key)
          : load_hs256(cmd->pool, spec, kid, &key);
    if (err) {
        return apr_psprintf(cmd->pool, "JKLGJWTKey: %s", err);
    }
    if (!c->jwt_keys) {
        c->jwt_keys = apr_array_make(cmd->pool, 2, sizeof(jklg_jwt_key_t));
    }
    for (int i = 0; kid && i < c->jwt_keys->nelts; i++) {
        if (!strcmp(APR_ARRAY_IDX(c->jwt_keys, i, jklg_jwt_key_t).kid,
                    key.kid)) {
            return apr_psprintf(cmd->pool, "JKLGJWTKey: key id '%s' is "
                                "used twice", key.kid);
        }
    }
    *(jklg_jwt_key_t *)apr_array_push(c->jwt_keys) = key;
    return NULL;
}

static const char *set_security_retention(cmd_parms *cmd, void *dc,
                                          const char *arg)
{
    return set_duration(cmd, "JKLGSecurityEventRetention", arg,
                        &conf_of(cmd)->security_retention);
}

static const char *set_token_lifetime(cmd_parms *cmd, void *dc,
                                      const char *arg)
{
    return set_duration(cmd, "JKLGTokenLifetime", arg,
                        &conf_of(cmd)->token_lifetime);
}

static const char *set_password_min(cmd_parms *cmd, void *dc,
                                    const char *arg)
{
    long n;

    if (jklg_parse_int(arg, 8, 128, &n) != APR_SUCCESS) {
        return apr_psprintf(cmd->pool, "JKLGPasswordMinLength: '%s' is not "
                            "a number between 8 and 128", arg);
    }
    conf_of(cmd)->password_min = (int)n;
    return NULL;
}

static const char *set_password_hash(cmd_parms *cmd, void *dc,
                                     const char *arg)
{
    jklg_pwhash_level_t level;

    if (jklg_pwhash_level_parse(arg, &level) != APR_SUCCESS) {
        return apr_psprintf(cmd->pool, "JKLGPasswordHash: '%s' is not one of "
                            "interactive, moderate, sensitive", arg);
    }
    conf_of(cmd)->pwhash_level = level;
    return NULL;
}

static const char *set_password_concurrency(cmd_parms *cmd, void *dc,
                                            const char *arg)
{
    long n;

    if (jklg_parse_int(arg, 1, 256, &n) != APR_SUCCESS) {
        return apr_psprintf(cmd->pool, "JKLGPasswordHashConcurrency: '%s' is "
                            "not a number between 1 and 256", arg);
    }
    conf_of(cmd)->pwhash_concurrency = (int)n;
    return NULL;
}

/* A gateway's directive (JKLG_GATEWAY_DIRECTIVES): cmd->info is the
 * gateway, whose settings table says what to do with the value in its own
 * configuration. */
static const char *gateway_directive(cmd_parms *cmd, void *dc,
                                     const char *arg)
{
    const jklg_gateway_t *gw = cmd->info;
    int i = jklg_gateway_index(gw);
    void *conf = i >= 0 ? conf_of(cmd)->gateways[i] : NULL;

    for (const jklg_gateway_setting_t *s = gw->settings; s && s->directive;
         s++) {
        if (conf && !strcasecmp(s->directive, cmd->cmd->name)) {
            return s->set(cmd->pool, conf, arg);
        }
    }
    return apr_psprintf(cmd->pool, "%s: not a setting of gateway %s",
                        cmd->cmd->name, gw->name);
}

#define GATEWAY_DIRECTIVE(gw, name, how, setter, help) \
    AP_INIT_##how(name, gateway_directive, (void *)&gw, RSRC_CONF, help),

static const char *set_currency(cmd_parms *cmd, void *dc, const char *arg)
{
    if (!jklg_currency_valid(arg)) {
        return apr_psprintf(cmd->pool, "JKLGCurrency: '%s' is not a "
                            "lowercase ISO 4217 code Stripe supports, e.g. "
                            "eur", arg);
    }
    conf_of(cmd)->currency = arg;
    return NULL;
}

const command_rec jklg_directives[] = {
    AP_INIT_TAKE1("JKLGPublicURL", set_public_url, NULL, RSRC_CONF,
                  "Front-end base URL used in email links (required)"),
    AP_INIT_TAKE1("JKLGMaxBody", set_max_body, NULL, RSRC_CONF,
                  "Largest JSON request body accepted (default 64k)"),
    AP_INIT_ITERATE("JKLGAllowOrigin", add_allow_origin, NULL, RSRC_CONF,
                    "Origins allowed to call the API from a browser (CORS)"),
    AP_INIT_TAKE1("JKLGMailFrom", set_mail_from, NULL, RSRC_CONF,
                  "Sender of every email, \"Name <address>\" (required)"),
    AP_INIT_TAKE_ARGV("JKLGMailSMTP", set_mail_smtp, NULL, RSRC_CONF,
                      "smtp:// or smtps:// URL [user password]"),
    AP_INIT_TAKE1("JKLGMailSpool", set_mail_spool, NULL, RSRC_CONF,
                  "Directory for .eml files when no SMTP is configured"),
    AP_INIT_TAKE1("JKLGMailTemplates", set_mail_templates, NULL, RSRC_CONF,
                  "Directory whose files override built-in templates"),
    AP_INIT_TAKE1("JKLGMailThreads", set_mail_threads, NULL, RSRC_CONF,
                  "Mail threads per child process (default 2)"),
    AP_INIT_TAKE2("JKLGMailRetry", set_mail_retry, NULL, RSRC_CONF,
                  "Delivery attempts and first retry delay (default 8 30s)"),
    AP_INIT_TAKE1("JKLGMailTimeout", set_mail_timeout, NULL, RSRC_CONF,
                  "SMTP timeout per message (default 30s)"),
    AP_INIT_TAKE1("JKLGMailSweepInterval", set_mail_sweep, NULL, RSRC_CONF,
                  "How often each child looks for due mail (default 30s)"),
    AP_INIT_TAKE12("JKLGJWTKey", add_jwt_key, NULL, RSRC_CONF,
                   "[kid] secret|ed25519:file:/path|ed25519:env:NAME: signs "
                   "(the first) and verifies access tokens (required, "
                   "repeatable)"),
    AP_INIT_TAKE1("JKLGMFAKey", jklg_mfa_set_key, NULL, RSRC_CONF,
                  "file:/path|env:NAME|base64: the 32-byte key sealing TOTP "
                  "secrets (MFA is off without it)"),
    AP_INIT_TAKE1("JKLGTokenLifetime", set_token_lifetime, NULL, RSRC_CONF,
                  "Access token and session lifetime (default 7d)"),
    AP_INIT_TAKE1("JKLGSecurityEventRetention", set_security_retention,
                  NULL, RSRC_CONF,
                  "How long security events are kept (default 365d)"),
    AP_INIT_TAKE1("JKLGReconcileInterval", jklg_reconcile_set_interval,
                  NULL, RSRC_CONF,
                  "How often payments are reconciled with the gateway "
                  "(default 15m; off disables)"),
    AP_INIT_TAKE1("JKLGPasswordMinLength", set_password_min, NULL, RSRC_CONF,
                  "Shortest password accepted, in characters (default 10)"),
    AP_INIT_TAKE1("JKLGPasswordHash", set_password_hash, NULL, RSRC_CONF,
                  "argon2id cost: interactive, moderate or sensitive"),
    AP_INIT_TAKE1("JKLGPasswordHashConcurrency", set_password_concurrency,
                  NULL, RSRC_CONF,
                  "Password hashes at once per process (default: CPUs)"),
    /* Each gateway's own, e.g. JKLGStripeSecretKey (jklg_gateways.h). */
    JKLG_GATEWAY_DIRECTIVES(GATEWAY_DIRECTIVE)
    AP_INIT_TAKE1("JKLGCurrency", set_currency, NULL, RSRC_CONF,
                  "The agency's currency for /api/payments/config (eur)"),
    AP_INIT_TAKE1("JKLGDatabaseTimeout", set_db_timeout, NULL, RSRC_CONF,
                  "Longest wait for a database connection or statement, "
                  "then 503 (default 5s)"),
    AP_INIT_TAKE3("JKLGRateLimit", jklg_ratelimit_set, NULL, RSRC_CONF,
                  "name count window: e.g. login 10 15m (see the docs for "
                  "names and defaults)"),
    AP_INIT_TAKE1("JKLGRateLimitCache", jklg_ratelimit_set_cache, NULL,
                  RSRC_CONF, "provider[:args] of the shared rate limit "
                  "cache, server-wide (default shmcb)"),
    {NULL}
};

static const char *vhost_name(apr_pool_t *p, const server_rec *s)
{
    const char *port = s->port ? apr_psprintf(p, ":%u", s->port) : "";

    return apr_psprintf(p, "%s%s (%s:%u)",
                        s->server_hostname ? s->server_hostname : "*", port,
                        s->defn_name ? s->defn_name : "?",
                        s->defn_line_number);
}

/* Derives the outbox settings once, so workers read a finished struct. */
static void derive_outbox(apr_pool_t *p, jklg_server_conf_t *c)
{
    jklg_outbox_conf_t *o = apr_pcalloc(p, sizeof(*o));

    o->from = c->mail_from;
    o->public_url = c->public_url;
    o->smtp.url = c->smtp_url;
    o->smtp.user = c->smtp_user;
    o->smtp.password = c->smtp_password;
    o->smtp.timeout = jklg_conf_mail_timeout(c);
    o->spool_dir = c->mail_spool;
    o->templates_dir = c->mail_templates;
    o->max_attempts = c->mail_max_attempts != JKLG_UNSET
                      ? c->mail_max_attempts : JKLG_DEFAULT_MAIL_ATTEMPTS;
    o->retry_base = c->mail_retry_base != JKLG_UNSET
                    ? c->mail_retry_base : JKLG_DEFAULT_MAIL_RETRY;
    o->retry_cap = JKLG_MAIL_RETRY_CAP;
    c->outbox = o;
}

/* Each gateway applies its defaults and may refuse its configuration. */
static const char *check_gateways(apr_pool_t *p, jklg_server_conf_t *c)
{
    const char *err;

    for (int i = 0; jklg_gateways[i]; i++) {
        if (jklg_gateways[i]->check_conf && c->gateways[i]
            && (err = jklg_gateways[i]->check_conf(p, c->gateways[i]))) {
            return err;
        }
    }
    return NULL;
}

const char *jklg_conf_check(apr_pool_t *p, server_rec *s)
{
    jklg_server_conf_t *c = jklg_conf(s);
    const char *missing = NULL, *err;

    if (!c->public_url) {
        missing = "JKLGPublicURL (e.g. JKLGPublicURL https://travel.example)";
    }
    else if (!c->mail_from) {
        missing = "JKLGMailFrom (e.g. JKLGMailFrom \"JKLG Travel "
                  "<noreply@travel.example>\")";
    }
    else if (!c->smtp_url && !c->mail_spool) {
        missing = "JKLGMailSMTP or JKLGMailSpool (where mail goes)";
    }
    else if (!c->jwt_keys) {
        missing = "JKLGJWTKey (e.g. JKLGJWTKey k1 file:/etc/apache2/jklg-jwt.key "
                  "with 32+ random bytes)";
    }
    if (missing) {
        return apr_psprintf(p, "mod_jklg: virtual host %s uses JKLG "
                            "directives but lacks %s", vhost_name(p, s),
                            missing);
    }
    if ((err = check_gateways(p, c)) != NULL) {
        return apr_psprintf(p, "mod_jklg: virtual host %s: %s",
                            vhost_name(p, s), err);
    }
    derive_outbox(p, c);
    return NULL;
}
