/* Email templates: built-in subject/text/html for each message kind, an
 * operator directory whose files override them by name, and rendering of
 * {{variable}} placeholders from a JSON object. */
#ifndef JKLG_TEMPLATE_H
#define JKLG_TEMPLATE_H

#include <apr_pools.h>
#include <jansson.h>

typedef struct {
    const char *subject;
    const char *text;
    const char *html;
} jklg_rendered_t;

/* Non-zero when name is a template this build knows
 * (verification, password_reset, booking_confirmation, payment_receipt,
 * account_exists, password_changed, test). */
int jklg_template_known(const char *name);

/* NULL-terminated list of the known names. */
const char *const *jklg_template_names(void);

/* Renders template `name` with `vars` (a JSON object: strings and numbers;
 * other types render empty). Each part comes from override_dir/NAME.subject,
 * NAME.txt, NAME.html when that file exists (override_dir may be NULL),
 * else from the built-in. In html every value is HTML-escaped; in subject
 * CR/LF become spaces. Unknown placeholders render empty. */
apr_status_t jklg_template_render(apr_pool_t *p, const char *override_dir,
                                  const char *name, json_t *vars,
                                  jklg_rendered_t *out, const char **err);

/* Pure renderer used by the above: escape_html selects HTML escaping. */
const char *jklg_template_expand(apr_pool_t *p, const char *tmpl,
                                 json_t *vars, int escape_html);

/* HTML-escapes & < > " ' . */
const char *jklg_html_escape(apr_pool_t *p, const char *s);

/* The built-in templates, one entry per NAME.PART file of mod_jklg/templates
 * (part: "subject", "txt" or "html"), ending with an all-NULL entry.
 * Generated into build/jklg_templates_builtin.c by scripts/embed_templates.sh. */
typedef struct {
    const char *name;
    const char *part;
    const char *data;
    apr_size_t len;
} jklg_template_builtin_t;

extern const jklg_template_builtin_t jklg_templates_builtin[];

#endif
