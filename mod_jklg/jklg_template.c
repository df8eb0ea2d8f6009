/* Email templates: lookup of the built-in parts, operator overrides read
 * from a directory, and the {{placeholder}} renderer. */
#include <string.h>
#include <stdio.h>
#include <stdlib.h>

#include <apr_strings.h>
#include <apr_tables.h>
#include <apr_file_io.h>
#include <apr_file_info.h>

#include "jklg_i18n.h"
#include "jklg_template.h"

/* Larger than any sensible email; stops a wrong path (a log file, say)
 * from being read into memory for every message. */
#define OVERRIDE_MAX_BYTES (256 * 1024)

static const char *const template_names[] = {
    "verification",
    "password_reset",
    "booking_confirmation",
    "payment_receipt",
    "account_exists",
    "password_changed",
    "new_sign_in",
    "email_change_confirm",
    "email_change_notice",
    "cancellation",
    "payment_reminder",
    "payment_action",
    "test",
    NULL
};

int jklg_template_known(const char *name)
{
    const char *const *n;

    if (name == NULL) {
        return 0;
    }
    for (n = template_names; *n; n++) {
        if (strcmp(*n, name) == 0) {
            return 1;
        }
    }
    return 0;
}

const char *const *jklg_template_names(void)
{
    return template_names;
}

const char *jklg_html_escape(apr_pool_t *p, const char *s)
{
    apr_size_t extra = 0;
    const char *c;
    char *out, *o;

    for (c = s; *c; c++) {
        switch (*c) {
        case '&': extra += 4; break;
        case '<': case '>': extra += 3; break;
        case '"': extra += 5; break;
        case '\'': extra += 4; break;
        default: break;
        }
    }
    if (extra == 0) {
        return s;
    }
    out = o = apr_palloc(p, strlen(s) + extra + 1);
    for (c = s; *c; c++) {
        const char *rep = NULL;

        switch (*c) {
        case '&': rep = "&amp;"; break;
        case '<': rep = "&lt;"; break;
        case '>': rep = "&gt;"; break;
        case '"': rep = "&quot;"; break;
        case '\'': rep = "&#39;"; break;
        default: *o++ = *c; continue;
        }
        memcpy(o, rep, strlen(rep));
        o += strlen(rep);
    }
    *o = '\0';
    return out;
}

/* Shortest decimal form that reads back as the same double, so that 12.5
 * prints as "12.5" and not as "12.500000" or "12.4999999999999999". */
static const char *format_real(apr_pool_t *p, double v)
{
    char buf[64];
    int prec;

    for (prec = 1; prec <= 17; prec++) {
        snprintf(buf, sizeof(buf), "%.*g", prec, v);
        if (strtod(buf, NULL) == v) {
            break;
        }
    }
    return apr_pstrdup(p, buf);
}

static const char *value_text(apr_pool_t *p, json_t *v)
{
    if (v == NULL) {
        return "";
    }
    switch (json_typeof(v)) {
    case JSON_STRING:
        return json_string_value(v);
    case JSON_INTEGER:
        /* APR's formatter has no "ll", which JSON_INTEGER_FORMAT may be. */
        return apr_psprintf(p, "%" APR_INT64_T_FMT,
                            (apr_int64_t)json_integer_value(v));
    case JSON_REAL:
        return format_real(p, json_real_value(v));
    default:
        return "";
    }
}

static int is_name_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
           || (c >= '0' && c <= '9') || c == '_';
}

/* Parses "{{ name }}" at s (which starts with "{{"). Returns the length of
 * the whole placeholder and sets name/name_len, or 0 when s is not one. */
static apr_size_t parse_placeholder(const char *s, const char **name,
                                    apr_size_t *name_len)
{
    const char *c = s + 2;

    while (*c == ' ') {
        c++;
    }
    *name = c;
    while (is_name_char(*c)) {
        c++;
    }
    *name_len = (apr_size_t)(c - *name);
    while (*c == ' ') {
        c++;
    }
    if (*name_len == 0 || c[0] != '}' || c[1] != '}') {
        return 0;
    }
    return (apr_size_t)(c + 2 - s);
}

static void push_piece(apr_array_header_t *pieces, const char *s)
{
    if (*s) {
        APR_ARRAY_PUSH(pieces, const char *) = s;
    }
}

const char *jklg_template_expand(apr_pool_t *p, const char *tmpl,
                                 json_t *vars, int escape_html)
{
    apr_array_header_t *pieces = apr_array_make(p, 32, sizeof(const char *));
    const char *start = tmpl, *c = tmpl;

    while ((c = strstr(c, "{{")) != NULL) {
        const char *name, *key, *value;
        apr_size_t name_len, len;

        len = parse_placeholder(c, &name, &name_len);
        if (len == 0) {
            /* Not a placeholder: keep the brace and look again one further
             * on, so that "{{{x}}}" still finds "{{x}}". */
            c++;
            continue;
        }
        push_piece(pieces, apr_pstrmemdup(p, start, (apr_size_t)(c - start)));
        key = apr_pstrmemdup(p, name, name_len);
        value = value_text(p, json_object_get(vars, key));
        /* Values are pieces of the output, never scanned again: a value
         * holding "{{x}}" stays as typed. */
        push_piece(pieces, escape_html ? jklg_html_escape(p, value) : value);
        c += len;
        start = c;
    }
    push_piece(pieces, start);
    return apr_array_pstrcat(p, pieces, 0);
}

/* A subject is one header line: line ends and other control characters
 * inside it (from the template or from a value) would let a value add
 * headers, so they become spaces. */
static const char *subject_line(apr_pool_t *p, const char *s)
{
    char *out = apr_pstrdup(p, s);
    char *c;

    for (c = out; *c; c++) {
        if ((unsigned char)*c < 0x20 || *c == 0x7f) {
            *c = ' ';
        }
    }
    while (c > out && c[-1] == ' ') {
        *--c = '\0';
    }
    return out;
}

/* Editors end files with a newline, which is not part of a subject. */
static const char *chomp(apr_pool_t *p, const char *s)
{
    apr_size_t len = strlen(s);

    while (len > 0 && (s[len - 1] == '\n' || s[len - 1] == '\r')) {
        len--;
    }
    return apr_pstrmemdup(p, s, len);
}

static const char *builtin_part(const char *lang, const char *name,
                                const char *part)
{
    const jklg_template_builtin_t *b;

    for (b = jklg_templates_builtin; b->name; b++) {
        if (strcmp(b->lang, lang) == 0 && strcmp(b->name, name) == 0
            && strcmp(b->part, part) == 0) {
            return b->data;
        }
    }
    return NULL;
}

static apr_status_t read_override(apr_pool_t *p, const char *path,
                                  apr_file_t *f, const char **out,
                                  const char **err)
{
    apr_finfo_t finfo;
    apr_size_t got;
    char *buf;
    apr_status_t rv;

    rv = apr_file_info_get(&finfo, APR_FINFO_TYPE, f);
    if (rv != APR_SUCCESS) {
        *err = apr_psprintf(p, "cannot stat template override %s: %pm",
                            path, &rv);
        return rv;
    }
    if (finfo.filetype != APR_REG) {
        *err = apr_psprintf(p, "template override %s is not a regular file",
                            path);
        return APR_EINVAL;
    }
    buf = apr_palloc(p, OVERRIDE_MAX_BYTES + 2);
    rv = apr_file_read_full(f, buf, OVERRIDE_MAX_BYTES + 1, &got);
    if (rv != APR_SUCCESS && !APR_STATUS_IS_EOF(rv)) {
        *err = apr_psprintf(p, "cannot read template override %s: %pm",
                            path, &rv);
        return rv;
    }
    if (got > OVERRIDE_MAX_BYTES) {
        *err = apr_psprintf(p, "template override %s is larger than %d bytes",
                            path, OVERRIDE_MAX_BYTES);
        return APR_EINVAL;
    }
    if (memchr(buf, '\0', got) != NULL) {
        *err = apr_psprintf(p, "template override %s contains a NUL byte",
                            path);
        return APR_EINVAL;
    }
    buf[got] = '\0';
    *out = buf;
    return APR_SUCCESS;
}

/* Sets *out to the contents of dir/name.part (dir/lang/name.part when lang
 * is not NULL) and returns APR_SUCCESS when that file exists; APR_ENOENT
 * when it does not, so the caller looks further. A file that exists but
 * cannot be used is an error, not a silent fallback: the operator meant it
 * to be used. */
static apr_status_t read_part(apr_pool_t *p, const char *dir,
                              const char *lang, const char *name,
                              const char *part, const char **out,
                              const char **err)
{
    apr_file_t *f;
    const char *path;
    apr_status_t rv;

    if (dir == NULL || *dir == '\0') {
        return APR_ENOENT;
    }
    path = lang ? apr_pstrcat(p, dir, "/", lang, "/", name, ".", part, NULL)
                : apr_pstrcat(p, dir, "/", name, ".", part, NULL);
    rv = apr_file_open(&f, path, APR_FOPEN_READ, APR_FPROT_OS_DEFAULT, p);
    if (rv == APR_SUCCESS) {
        rv = read_override(p, path, f, out, err);
        apr_file_close(f);
        return rv;
    }
    if (APR_STATUS_IS_ENOENT(rv) || APR_STATUS_IS_ENOTDIR(rv)) {
        return APR_ENOENT;
    }
    *err = apr_psprintf(p, "cannot open template override %s: %pm", path,
                        &rv);
    return rv;
}

/* Sets *out to the part in language `lang` (a primary subtag, or NULL for
 * the default), in the order documented at jklg_template_render_lang. */
static apr_status_t load_part(apr_pool_t *p, const char *override_dir,
                              const char *lang, const char *name,
                              const char *part, const char **out,
                              const char **err)
{
    apr_status_t rv;

    if (lang) {
        rv = read_part(p, override_dir, lang, name, part, out, err);
        if (rv != APR_ENOENT) {
            return rv;
        }
        /* The built-in en comes after the unprefixed overrides, which
         * are in en: so it is tried last, below. */
        if (jklg_lang_is_builtin(lang) && strcmp(lang, JKLG_LANG_DEFAULT)
            && (*out = builtin_part(lang, name, part)) != NULL) {
            return APR_SUCCESS;
        }
    }
    rv = read_part(p, override_dir, NULL, name, part, out, err);
    if (rv != APR_ENOENT) {
        return rv;
    }
    *out = builtin_part(JKLG_LANG_DEFAULT, name, part);
    if (*out == NULL) {
        *err = apr_psprintf(p, "template %s has no built-in %s part",
                            name, part);
        return APR_ENOENT;
    }
    return APR_SUCCESS;
}

apr_status_t jklg_template_render(apr_pool_t *p, const char *override_dir,
                                  const char *name, json_t *vars,
                                  jklg_rendered_t *out, const char **err)
{
    return jklg_template_render_lang(p, override_dir, name, NULL, vars, out,
                                     err);
}

apr_status_t jklg_template_render_lang(apr_pool_t *p, const char *override_dir,
                                       const char *name, const char *lang,
                                       json_t *vars, jklg_rendered_t *out,
                                       const char **err)
{
    const char *subject, *text, *html;
    apr_status_t rv;

    *err = NULL;
    if (!jklg_template_known(name)) {
        *err = apr_psprintf(p, "unknown email template '%s'",
                            name ? name : "(null)");
        return APR_EINVAL;
    }
    /* Only a well-formed primary subtag ever reaches a path. */
    lang = jklg_lang_primary(p, lang);
    if ((rv = load_part(p, override_dir, lang, name, "subject", &subject,
                        err))
        || (rv = load_part(p, override_dir, lang, name, "txt", &text, err))
        || (rv = load_part(p, override_dir, lang, name, "html", &html,
                           err))) {
        return rv;
    }
    out->subject = subject_line(p, jklg_template_expand(p, chomp(p, subject),
                                                        vars, 0));
    out->text = jklg_template_expand(p, text, vars, 0);
    out->html = jklg_template_expand(p, html, vars, 1);
    return APR_SUCCESS;
}
