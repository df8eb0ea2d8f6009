#include <ctype.h>
#include <string.h>
#include <apr_strings.h>
#include "jklg_json.h"
#include "jklg_token.h"
#include "jklg_util.h"
#include "jklg_validate.h"

void jklg_check_init(jklg_check_t *c, apr_pool_t *p, const json_t *body,
                     const char *const *allowed)
{
    c->p = p;
    c->body = body;
    c->fields = jklg_json_own(p, json_object());
    if (allowed) {
        jklg_json_reject_unknown(body, allowed, c->fields);
    }
}

int jklg_check_ok(const jklg_check_t *c)
{
    return json_object_size(c->fields) == 0;
}

void jklg_check_fail(jklg_check_t *c, const char *key, const char *message)
{
    if (!json_object_get(c->fields, key)) {
        json_object_set_new(c->fields, key, json_string(message));
    }
}

int jklg_check_present(const jklg_check_t *c, const char *key)
{
    return json_object_get(c->body, key) != NULL;
}

apr_size_t jklg_utf8_chars(const char *s)
{
    apr_size_t n = 0;

    for (; *s; s++) {
        n += ((unsigned char)*s & 0xc0) != 0x80;
    }
    return n;
}

/* The member, or NULL after recording why not (absent and required, null
 * and not nullable, not a string). *is_null tells null from absent. */
static const json_t *member(jklg_check_t *c, const char *key, unsigned flags,
                            int *is_null)
{
    const json_t *v = json_object_get(c->body, key);

    *is_null = v && json_is_null(v);
    if (!v) {
        if (flags & JKLG_REQUIRED) {
            jklg_check_fail(c, key, "is required");
        }
        return NULL;
    }
    if (*is_null) {
        if (!(flags & JKLG_NULLABLE)) {
            jklg_check_fail(c, key, "must not be null");
        }
        return NULL;
    }
    return v;
}

static const char *string_member(jklg_check_t *c, const char *key,
                                 unsigned flags)
{
    int is_null;
    const json_t *v = member(c, key, flags, &is_null);

    if (v && !json_is_string(v)) {
        jklg_check_fail(c, key, "must be a string");
        return NULL;
    }
    return v ? json_string_value(v) : NULL;
}

static char *trim(apr_pool_t *p, const char *s)
{
    const char *end;

    while (isspace((unsigned char)*s)) {
        s++;
    }
    end = s + strlen(s);
    while (end > s && isspace((unsigned char)end[-1])) {
        end--;
    }
    return apr_pstrmemdup(p, s, end - s);
}

static int has_control(const char *s)
{
    for (; *s; s++) {
        if ((unsigned char)*s < 0x20 || *s == 0x7f) {
            return 1;
        }
    }
    return 0;
}

const char *jklg_check_text(jklg_check_t *c, const char *key, unsigned flags,
                            int min_chars, int max_chars)
{
    const char *raw = string_member(c, key, flags);
    char *s;
    apr_size_t n;

    if (!raw) {
        return NULL;
    }
    s = trim(c->p, raw);
    n = jklg_utf8_chars(s);
    if (has_control(s)) {
        jklg_check_fail(c, key, "must not contain control characters");
        return NULL;
    }
    if (n < (apr_size_t)min_chars || n > (apr_size_t)max_chars) {
        jklg_check_fail(c, key, min_chars > 0
            ? apr_psprintf(c->p, "must be %d to %d characters", min_chars,
                           max_chars)
            : apr_psprintf(c->p, "must be at most %d characters", max_chars));
        return NULL;
    }
    return s;
}

const char *jklg_check_raw(jklg_check_t *c, const char *key, unsigned flags)
{
    return string_member(c, key, flags);
}

const char *jklg_check_email(jklg_check_t *c, const char *key,
                             unsigned flags)
{
    const char *raw = string_member(c, key, flags);
    const char *email;

    if (!raw) {
        return NULL;
    }
    email = jklg_email_normalize(c->p, raw);
    if (!email) {
        jklg_check_fail(c, key, "must be a valid email address");
    }
    return email;
}

int jklg_check_bool(jklg_check_t *c, const char *key, unsigned flags,
                    int *out)
{
    int is_null;
    const json_t *v = member(c, key, flags, &is_null);

    if (!v) {
        return 0;
    }
    if (!json_is_boolean(v)) {
        jklg_check_fail(c, key, "must be true or false");
        return 0;
    }
    *out = json_is_true(v);
    return 1;
}

const char *jklg_check_phone(jklg_check_t *c, const char *key,
                             unsigned flags)
{
    const char *s = jklg_check_text(c, key, flags, 6, 20);
    int digits = 0;

    if (!s) {
        return NULL;
    }
    for (const char *q = s; *q; q++) {
        if (isdigit((unsigned char)*q)) {
            digits++;
        }
        else if (!strchr(" +-()", *q) || (*q == '+' && q != s)) {
            digits = -100;
        }
    }
    if (digits < 6) {
        jklg_check_fail(c, key, "must be a phone number such as "
                        "+351 912 345 678");
        return NULL;
    }
    return s;
}

static const char *letters(jklg_check_t *c, const char *key, unsigned flags,
                           int n, int upper, const char *message)
{
    const char *raw = string_member(c, key, flags);
    char *s;

    if (!raw) {
        return NULL;
    }
    s = apr_pstrdup(c->p, raw);
    if ((int)strlen(s) != n) {
        jklg_check_fail(c, key, message);
        return NULL;
    }
    for (char *q = s; *q; q++) {
        if (!isalpha((unsigned char)*q)) {
            jklg_check_fail(c, key, message);
            return NULL;
        }
        *q = (char)(upper ? toupper((unsigned char)*q)
                          : tolower((unsigned char)*q));
    }
    return s;
}

const char *jklg_check_country(jklg_check_t *c, const char *key,
                               unsigned flags)
{
    return letters(c, key, flags, 2, 1,
                   "must be an ISO 3166-1 alpha-2 country code such as PT");
}

const char *jklg_check_currency_code(jklg_check_t *c, const char *key,
                                     unsigned flags)
{
    return letters(c, key, flags, 3, 0,
                   "must be an ISO 4217 currency code such as eur");
}

static int language_ok(const char *s)
{
    int n = 0, first = 1;

    for (;; s++) {
        if (*s == '-' || *s == '\0') {
            if (first ? (n < 2 || n > 3) : (n < 2 || n > 8)) {
                return 0;
            }
            if (*s == '\0') {
                return 1;
            }
            first = 0;
            n = 0;
        }
        else if (first ? isalpha((unsigned char)*s)
                       : isalnum((unsigned char)*s)) {
            n++;
        }
        else {
            return 0;
        }
    }
}

const char *jklg_check_language(jklg_check_t *c, const char *key,
                                unsigned flags)
{
    const char *s = string_member(c, key, flags);

    if (s && (strlen(s) > 35 || !language_ok(s))) {
        jklg_check_fail(c, key, "must be a BCP 47 language tag such as en "
                        "or pt-BR");
        return NULL;
    }
    return s;
}

int jklg_is_uuid(const char *s)
{
    static const int dash[] = {8, 13, 18, 23};
    int d = 0;

    if (!s || strlen(s) != 36) {
        return 0;
    }
    for (int i = 0; i < 36; i++) {
        if (d < 4 && i == dash[d]) {
            if (s[i] != '-') {
                return 0;
            }
            d++;
        }
        else if (!isxdigit((unsigned char)s[i])) {
            return 0;
        }
    }
    return 1;
}

static int digits(const char *s, int n)
{
    for (int i = 0; i < n; i++) {
        if (!isdigit((unsigned char)s[i])) {
            return 0;
        }
    }
    return 1;
}

static int number(const char *s, int n)
{
    int v = 0;

    for (int i = 0; i < n; i++) {
        v = v * 10 + (s[i] - '0');
    }
    return v;
}

static int date_prefix_ok(const char *s)
{
    static const int days[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int y, m, d;

    if (!digits(s, 4) || s[4] != '-' || !digits(s + 5, 2) || s[7] != '-'
        || !digits(s + 8, 2)) {
        return 0;
    }
    y = number(s, 4);
    m = number(s + 5, 2);
    d = number(s + 8, 2);
    if (y < 1900 || m < 1 || m > 12 || d < 1 || d > days[m - 1]) {
        return 0;
    }
    return m != 2 || d < 29 || (y % 4 == 0 && (y % 100 != 0 || y % 400 == 0));
}

int jklg_is_date(const char *s)
{
    return s && strlen(s) == 10 && date_prefix_ok(s);
}

int jklg_is_transaction_status(const char *s)
{
    static const char *const statuses[] = {
        "requires_payment", "processing", "succeeded", "failed", "canceled",
        "partially_refunded", "refunded", NULL
    };

    for (int i = 0; s && statuses[i]; i++) {
        if (!strcmp(s, statuses[i])) {
            return 1;
        }
    }
    return 0;
}

int jklg_is_timestamp(const char *s)
{
    const char *t;

    if (jklg_is_date(s)) {
        return 1;
    }
    if (!s || strlen(s) < 20 || !date_prefix_ok(s)
        || (s[10] != 'T' && s[10] != 't')) {
        return 0;
    }
    t = s + 11;
    if (!digits(t, 2) || t[2] != ':' || !digits(t + 3, 2) || t[5] != ':'
        || !digits(t + 6, 2) || number(t, 2) > 23 || number(t + 3, 2) > 59
        || number(t + 6, 2) > 60) {
        return 0;
    }
    t += 8;
    if (*t == '.') {
        if (!isdigit((unsigned char)*++t)) {
            return 0;
        }
        while (isdigit((unsigned char)*t)) {
            t++;
        }
    }
    if ((*t == 'Z' || *t == 'z') && t[1] == '\0') {
        return 1;
    }
    return (*t == '+' || *t == '-') && digits(t + 1, 2) && t[3] == ':'
           && digits(t + 4, 2) && t[6] == '\0' && number(t + 1, 2) < 24
           && number(t + 4, 2) < 60;
}

#define CURSOR_TIME_LEN 26      /* 2026-11-24T10:00:00.123456 */

/* HH:MM:SS.ffffff as to_char's HH24:MI:SS.US writes it (no leap second). */
static int cursor_clock_ok(const char *t)
{
    return digits(t, 2) && t[2] == ':' && digits(t + 3, 2) && t[5] == ':'
           && digits(t + 6, 2) && t[8] == '.' && digits(t + 9, 6)
           && number(t, 2) <= 23 && number(t + 3, 2) <= 59
           && number(t + 6, 2) <= 59;
}

int jklg_cursor_parse(apr_pool_t *p, const char *cursor, const char **time,
                      const char **id)
{
    apr_size_t len;
    unsigned char *raw = cursor ? jklg_b64url_decode(p, cursor, &len) : NULL;
    char *text, *bar;

    if (!raw || len != CURSOR_TIME_LEN + 1 + 36) {
        return 0;
    }
    text = apr_pstrmemdup(p, (const char *)raw, len);
    bar = text + CURSOR_TIME_LEN;
    if (*bar != '|' || !jklg_is_uuid(bar + 1) || !date_prefix_ok(text)
        || text[10] != 'T' || !cursor_clock_ok(text + 11)) {
        return 0;
    }
    *bar = '\0';
    *time = text;
    *id = bar + 1;
    return 1;
}
