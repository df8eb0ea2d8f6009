/* mod_jklg: the module record and its hooks. */
#define JKLG_MODULE_RECORD  /* AP_DECLARE_MODULE below defines the log index */
#include <curl/curl.h>
#include <sodium.h>
#include <httpd.h>
#include <http_config.h>
#include <http_log.h>
#include <http_protocol.h>
#include <http_request.h>
#include <ap_mpm.h>
#include <http_core.h>
#include <apr_dbd.h>
#include <mod_dbd.h>
#include "jklg_db.h"
#include "mod_jklg.h"

/* Statement labels carry a jklg_ prefix: mod_dbd shares one namespace per
 * connection group with other modules (mod_authn_dbd). */
static void prepare_statements(server_rec *s)
{
    for (int i = 0; jklg_statement_sets[i]; i++) {
        for (const jklg_statement_t *st = jklg_statement_sets[i]; st->label;
             st++) {
            ap_dbd_prepare(s, st->sql, st->label);
        }
    }
}

static int jklg_pre_config(apr_pool_t *pconf, apr_pool_t *plog,
                           apr_pool_t *ptemp)
{
    return jklg_ratelimit_pre_config(pconf);
}

/* Runs before mod_dbd's post_config, which hands each server's statements
 * to its connection group. */
static int jklg_post_config(apr_pool_t *pconf, apr_pool_t *plog,
                            apr_pool_t *ptemp, server_rec *s)
{
    int used = 0;

    for (server_rec *sp = s; sp; sp = sp->next) {
        const char *err;

        if (!jklg_conf(sp)->used) {
            continue;
        }
        err = jklg_conf_check(pconf, sp);
        if (err) {
            ap_log_error(APLOG_MARK, APLOG_EMERG, 0, sp, JKLGNO(00105)
                         "%s", err);
            return HTTP_INTERNAL_SERVER_ERROR;
        }
        prepare_statements(sp);
        used = 1;
    }
    if (jklg_ratelimit_post_config(pconf, ptemp, s) != OK) {
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    jklg_routes_init(pconf);
    if (jklg_metrics_post_config(pconf, s) != OK) {
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    if (used && ap_state_query(AP_SQ_MAIN_STATE) != AP_SQ_MS_CREATE_PRE_CONFIG) {
        ap_log_error(APLOG_MARK, APLOG_INFO, 0, s, JKLGNO(00106)
                     "mod_jklg %s ready", JKLG_VERSION);
    }
    return OK;
}

static void jklg_child_init(apr_pool_t *pchild, server_rec *s)
{
    jklg_ratelimit_child_init(pchild, s);
    /* Once per process, before any thread uses them. */
    curl_global_init(CURL_GLOBAL_DEFAULT);
    if (sodium_init() < 0) {
        ap_log_error(APLOG_MARK, APLOG_CRIT, 0, s, JKLGNO(00107)
                     "libsodium could not be initialised");
        return;
    }
    json_object_seed(0);
    jklg_auth_child_init(pchild, s);
    /* Before the mail threads, which take connections through it. */
    jklg_db_child_init(pchild, s);
    jklg_mailer_child_init(pchild, s);
    jklg_webhook_child_init(pchild, s);
    jklg_housekeeping_child_init(pchild, s);
}

static void jklg_register_hooks(apr_pool_t *p)
{
    static const char *const before_dbd[] = {"mod_dbd.c", NULL};
    static const char *const after_dbd[] = {"mod_dbd.c", NULL};

    ap_hook_pre_config(jklg_pre_config, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_check_config(jklg_placeholders_check_config, NULL, NULL,
                         APR_HOOK_MIDDLE);
    ap_hook_post_config(jklg_post_config, NULL, before_dbd, APR_HOOK_MIDDLE);
    ap_hook_child_init(jklg_child_init, after_dbd, NULL, APR_HOOK_MIDDLE);
    ap_hook_handler(jklg_handler, NULL, NULL, APR_HOOK_MIDDLE);
}

AP_DECLARE_MODULE(jklg) = {
    STANDARD20_MODULE_STUFF,
    NULL,
    NULL,
    jklg_create_server_conf,
    jklg_merge_server_conf,
    jklg_directives,
    jklg_register_hooks,
    AP_MODULE_FLAG_NONE
};
