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

/* As jklg_template_render, in the language of the BCP 47 tag `lang` (the
 * outbox row's language: a customer's preference such as "pt-BR"; NULL for
 * the default, en). With L its primary subtag ("pt"), each part is the
 * first of these that exists:
 *   1. override_dir/L/NAME.PART
 *   2. the built-in NAME.PART in L (when L is one of pt es fr de)
 *   3. override_dir/NAME.PART (the overrides in the default language)
 *   4. the built-in NAME.PART in en
 * so a message is in the customer's language whenever some file has it,
 * and an override in L wins over the built-in in L. Variables are not
 * localised here (see jklg_i18n_localize_vars). */
apr_status_t jklg_template_render_lang(apr_pool_t *p, const char *override_dir,
                                       const char *name, const char *lang,
                                       json_t *vars, jklg_rendered_t *out,
                                       const char **err);

/* Pure renderer used by the above: escape_html selects HTML escaping. */
const char *jklg_template_expand(apr_pool_t *p, const char *tmpl,
                                 json_t *vars, int escape_html);

/* HTML-escapes & < > " ' . */
const char *jklg_html_escape(apr_pool_t *p, const char *s);

/* The built-in templates, one entry per file of mod_jklg/templates:
 * NAME.PART in language en, LANG/NAME.PART in LANG (part: "subject", "txt"
 * or "html"), ending with an all-NULL entry. Generated into
 * build/jklg_templates_builtin.c by scripts/embed_templates.sh. */
typedef struct {
    const char *lang;
    const char *name;
    const char *part;
    const char *data;
    apr_size_t len;
} jklg_template_builtin_t;

extern const jklg_template_builtin_t jklg_templates_builtin[];

#endif
