/* The yardstick of `make bench` (scripts/bench.py), never installed: the
 * least an Apache handler can do to answer what GET /api/customers/me
 * answers. It takes a pooled connection from mod_dbd, runs ONE statement
 * prepared at configuration time (ap_dbd_prepare) and writes its value.
 * No authentication, no session check, no JSON library, no metrics: the
 * module's /me costs are measured against this.
 *
 *     LoadModule jklg_bare_module .../mod_jklg_bare.so
 *     <Location /bare> SetHandler jklg_bare </Location>
 *     GET /bare?<customer id>
 */
#include <string.h>
#include <httpd.h>
#include <http_config.h>
#include <http_log.h>
#include <http_protocol.h>
#include <apr_dbd.h>
#include <mod_dbd.h>

#define LABEL "jklg_bare_customer"

/* The body /me answers, built from the customers row alone (no function
 * of the module's migrations, so that their renames do not break it). */
static const char SQL[] =
    "SELECT jsonb_build_object('customer', jsonb_build_object("
    "'id', c.id, 'email', c.email, 'first_name', c.first_name, "
    "'last_name', c.last_name, 'phone', c.phone, "
    "'email_verified', c.email_verified_at IS NOT NULL, "
    "'created_at', to_char(c.created_at AT TIME ZONE 'UTC', "
    "'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')))::text "
    "FROM customers c WHERE c.id = %s::uuid";

static int bare_handler(request_rec *r)
{
    apr_dbd_prepared_t *stmt;
    apr_dbd_results_t *res = NULL;
    apr_dbd_row_t *row = NULL;
    const char *body = NULL;
    ap_dbd_t *dbd;

    if (!r->handler || strcmp(r->handler, "jklg_bare")) {
        return DECLINED;
    }
    if (!r->args) {
        return HTTP_NOT_FOUND;
    }
    dbd = ap_dbd_acquire(r);
    if (!dbd) {
        return HTTP_SERVICE_UNAVAILABLE;
    }
    stmt = apr_hash_get(dbd->prepared, LABEL, APR_HASH_KEY_STRING);
    if (!stmt || apr_dbd_pvselect(dbd->driver, r->pool, dbd->handle, &res,
                                  stmt, 0, r->args, NULL)) {
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    /* Sequential results: read to the end, so the connection is idle. */
    while (apr_dbd_get_row(dbd->driver, r->pool, res, &row, -1) == 0) {
        if (!body) {
            body = apr_dbd_get_entry(dbd->driver, row, 0);
        }
    }
    if (!body) {
        return HTTP_NOT_FOUND;
    }
    ap_set_content_type(r, "application/json; charset=utf-8");
    ap_rputs(body, r);
    return OK;
}

/* Before mod_dbd's post_config, which hands statements to the pools. */
static int bare_post_config(apr_pool_t *pconf, apr_pool_t *plog,
                            apr_pool_t *ptemp, server_rec *s)
{
    for (server_rec *sp = s; sp; sp = sp->next) {
        ap_dbd_prepare(sp, SQL, LABEL);
    }
    return OK;
}

static void bare_register_hooks(apr_pool_t *p)
{
    static const char *const before_dbd[] = {"mod_dbd.c", NULL};

    ap_hook_post_config(bare_post_config, NULL, before_dbd, APR_HOOK_MIDDLE);
    ap_hook_handler(bare_handler, NULL, NULL, APR_HOOK_MIDDLE);
}

AP_DECLARE_MODULE(jklg_bare) = {
    STANDARD20_MODULE_STUFF,
    NULL, NULL, NULL, NULL, NULL,
    bare_register_hooks,
    AP_MODULE_FLAG_NONE
};
