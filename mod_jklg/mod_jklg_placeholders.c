/* Refuses a configuration that still holds the shipped example's
 * placeholder (the word CHANGE: password=CHANGE, pk_live_CHANGE,
 * api.CHANGE.example). A check_config hook, so that `apache2ctl configtest`
 * (httpd -t) fails too, not only a start: post_config does not run under
 * -t. It reads ap_conftree, the configuration as parsed (Includes
 * expanded, false <IfModule> sections already left out), because the
 * database password lives in mod_dbd's DBDParams, which this module never
 * sees through its own directives. */
#include <strings.h>
#include <apr_hash.h>
#include <apr_strings.h>
#include "mod_jklg.h"       /* httpd.h before http_config.h */
#include "jklg_placeholder.h"

static int is_module_directive(const ap_directive_t *d)
{
    return d->directive && !strncasecmp(d->directive, "JKLG", 4);
}

/* The files holding at least one JKLG directive: the module's vhost files,
 * whose other directives (ServerName, Redirect, certificates) are checked
 * too. */
static void collect_module_files(const ap_directive_t *d, apr_hash_t *files)
{
    for (; d; d = d->next) {
        if (is_module_directive(d) && d->filename) {
            apr_hash_set(files, d->filename, APR_HASH_KEY_STRING, "");
        }
        collect_module_files(d->first_child, files);
    }
}

/* Logs each directive still holding the placeholder; their number. The
 * arguments are never logged (DBDParams holds the database password),
 * only the directive, the file, the line and the parameter's name. */
static int report_placeholders(apr_pool_t *ptemp, server_rec *s,
                               const ap_directive_t *d, apr_hash_t *files)
{
    int count = 0;

    for (; d; d = d->next) {
        int in_module_file = d->filename
            && apr_hash_get(files, d->filename, APR_HASH_KEY_STRING) != NULL;
        const char *at;

        if (jklg_placeholder_checked(d->directive, in_module_file)
            && (at = jklg_placeholder_find(d->args)) != NULL) {
            const char *key = jklg_placeholder_key(ptemp, d->args, at);

            ap_log_error(APLOG_MARK, APLOG_EMERG, 0, s, JKLGNO(01800)
                         "%s on line %d of %s still holds the placeholder "
                         JKLG_PLACEHOLDER "%s: write your own value in its "
                         "place", d->directive, d->line_num,
                         d->filename ? d->filename : "(unknown file)",
                         key ? apr_pstrcat(ptemp, " in ", key, "=", NULL)
                             : "");
            count++;
        }
        count += report_placeholders(ptemp, s, d->first_child, files);
    }
    return count;
}

int jklg_placeholders_check_config(apr_pool_t *pconf, apr_pool_t *plog,
                                   apr_pool_t *ptemp, server_rec *s)
{
    apr_hash_t *files = apr_hash_make(ptemp);
    int count;

    collect_module_files(ap_conftree, files);
    count = report_placeholders(ptemp, s, ap_conftree, files);
    if (count) {
        ap_log_error(APLOG_MARK, APLOG_EMERG, 0, s, JKLGNO(01801)
                     "%d value%s of the example configuration still "
                     "marked " JKLG_PLACEHOLDER ": Apache does not start "
                     "until each holds your own (docs/configuration.md, "
                     "\"Placeholders\")", count, count == 1 ? "" : "s");
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    return OK;
}
