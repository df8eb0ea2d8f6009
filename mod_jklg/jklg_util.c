#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <apr_file_io.h>
#include <apr_strings.h>
#include <apr_env.h>
#include "jklg_util.h"

#define EMAIL_MAX 254
#define EMAIL_LOCAL_MAX 64
#define SECRET_FILE_MAX 4096
#define REPLACEMENT "\xef\xbf\xbd"     /* U+FFFD */

apr_status_t jklg_parse_duration(const char *s, apr_interval_time_t *out)
{
    char *end;
    apr_int64_t n;
    apr_int64_t unit;

    if (!s || !isdigit((unsigned char)*s)) {
        return APR_EINVAL;
    }
    errno = 0;
    n = apr_strtoi64(s, &end, 10);
    if (errno || n <= 0) {
        return APR_EINVAL;
    }
    if (!strcmp(end, "") || !strcmp(end, "s")) {
        unit = APR_USEC_PER_SEC;
    }
    else if (!strcmp(end, "ms")) {
        unit = 1000;
    }
    else if (!strcmp(end, "m")) {
        unit = 60 * APR_USEC_PER_SEC;
    }
    else if (!strcmp(end, "h")) {
        unit = 3600 * APR_USEC_PER_SEC;
    }
    else if (!strcmp(end, "d")) {
        unit = 86400 * APR_USEC_PER_SEC;
    }
    else {
        return APR_EINVAL;
    }
    if (n > APR_INT64_MAX / unit) {
        return APR_EINVAL;
    }
    *out = n * unit;
    return APR_SUCCESS;
}

apr_status_t jklg_parse_size(const char *s, apr_off_t *out)
{
    char *end;
    apr_int64_t n;
    apr_int64_t unit = 1;

    if (!s || !isdigit((unsigned char)*s)) {
        return APR_EINVAL;
    }
    errno = 0;
    n = apr_strtoi64(s, &end, 10);
    if (errno || n <= 0) {
        return APR_EINVAL;
    }
    if (!strcasecmp(end, "k")) {
        unit = 1024;
    }
    else if (!strcasecmp(end, "m")) {
        unit = 1024 * 1024;
    }
    else if (*end) {
        return APR_EINVAL;
    }
    if (n > APR_INT64_MAX / unit) {
        return APR_EINVAL;
    }
    *out = n * unit;
    return APR_SUCCESS;
}

apr_status_t jklg_parse_int(const char *s, long min, long max, long *out)
{
    char *end;
    long n;

    if (!s || !isdigit((unsigned char)*s)) {
        return APR_EINVAL;
    }
    errno = 0;
    n = strtol(s, &end, 10);
    if (errno || *end || n < min || n > max) {
        return APR_EINVAL;
    }
    *out = n;
    return APR_SUCCESS;
}

static apr_status_t read_secret_file(apr_pool_t *p, const char *path,
                                     const char **out, const char **err)
{
    apr_file_t *f;
    char buf[SECRET_FILE_MAX + 1];
    apr_size_t len = SECRET_FILE_MAX;
    apr_status_t rv;

    rv = apr_file_open(&f, path, APR_FOPEN_READ, 0, p);
    if (rv != APR_SUCCESS) {
        *err = apr_psprintf(p, "cannot open %s", path);
        return rv;
    }
    rv = apr_file_read(f, buf, &len);
    apr_file_close(f);
    if (rv != APR_SUCCESS && rv != APR_EOF) {
        *err = apr_psprintf(p, "cannot read %s", path);
        return rv;
    }
    buf[len] = '\0';
    buf[strcspn(buf, "\r\n")] = '\0';
    if (!*buf) {
        *err = apr_psprintf(p, "%s is empty", path);
        return APR_EINVAL;
    }
    *out = apr_pstrdup(p, buf);
    return APR_SUCCESS;
}

apr_status_t jklg_resolve_secret(apr_pool_t *p, const char *spec,
                                 const char **out, const char **err)
{
    if (!strncmp(spec, "file:", 5)) {
        return read_secret_file(p, spec + 5, out, err);
    }
    if (!strncmp(spec, "env:", 4)) {
        char *value;
        if (apr_env_get(&value, spec + 4, p) != APR_SUCCESS || !*value) {
            *err = apr_psprintf(p, "environment variable %s is not set",
                                spec + 4);
            return APR_EINVAL;
        }
        *out = value;
        return APR_SUCCESS;
    }
    *out = spec;
    return APR_SUCCESS;
}

/* Characters allowed unquoted in a local part (RFC 5322 atext) and dots. */
static int local_char_ok(unsigned char c)
{
    return isalnum(c) || c == '.' || (c && strchr("!#$%&'*+/=?^_`{|}~-", c));
}

static int domain_ok(const char *d)
{
    const char *label = d;
    int dots = 0;

    for (const char *c = d; ; c++) {
        if (*c == '.' || *c == '\0') {
            apr_size_t n = c - label;
            if (n == 0 || n > 63 || label[0] == '-' || c[-1] == '-') {
                return 0;
            }
            if (*c == '\0') {
                break;
            }
            dots++;
            label = c + 1;
        }
        else if (!isalnum((unsigned char)*c) && *c != '-') {
            return 0;
        }
    }
    return dots > 0;
}

const char *jklg_email_normalize(apr_pool_t *p, const char *raw)
{
    char *s, *at, *end;

    if (!raw) {
        return NULL;
    }
    while (isspace((unsigned char)*raw)) {
        raw++;
    }
    s = apr_pstrdup(p, raw);
    end = s + strlen(s);
    while (end > s && isspace((unsigned char)end[-1])) {
        *--end = '\0';
    }
    if (end - s > EMAIL_MAX) {
        return NULL;
    }
    for (char *c = s; *c; c++) {
        *c = (char)tolower((unsigned char)*c);
    }
    at = strrchr(s, '@');
    if (!at || at == s || at - s > EMAIL_LOCAL_MAX) {
        return NULL;
    }
    for (char *c = s; c < at; c++) {
        if (!local_char_ok((unsigned char)*c)) {
            return NULL;
        }
    }
    if (s[0] == '.' || at[-1] == '.' || strstr(s, "..")) {
        return NULL;
    }
    return domain_ok(at + 1) ? s : NULL;
}

/* The code point at s, or -1 for an invalid sequence; *used is the number
 * of bytes read: a whole character, or the longest invalid prefix (at
 * least 1), so that one bad sequence gives one replacement. Overlong
 * forms, surrogates and values past U+10FFFF are invalid, as PostgreSQL
 * has them. */
static long utf8_decode(const unsigned char *s, apr_size_t *used)
{
    unsigned char lo = 0x80, hi = 0xbf;
    int need;
    long cp;

    *used = 1;
    if (s[0] < 0x80) {
        return s[0];
    }
    if (s[0] >= 0xc2 && s[0] <= 0xdf) {
        need = 1;
        cp = s[0] & 0x1f;
    }
    else if (s[0] >= 0xe0 && s[0] <= 0xef) {
        need = 2;
        cp = s[0] & 0x0f;
        lo = s[0] == 0xe0 ? 0xa0 : lo;
        hi = s[0] == 0xed ? 0x9f : hi;
    }
    else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
        need = 3;
        cp = s[0] & 0x07;
        lo = s[0] == 0xf0 ? 0x90 : lo;
        hi = s[0] == 0xf4 ? 0x8f : hi;
    }
    else {
        return -1;
    }
    for (int i = 1; i <= need; i++, lo = 0x80, hi = 0xbf) {
        if (s[i] < lo || s[i] > hi) {       /* the NUL at the end too */
            *used = i;
            return -1;
        }
        cp = (cp << 6) | (s[i] & 0x3f);
    }
    *used = need + 1;
    return cp;
}

static int is_control(long cp)
{
    return cp < 0x20 || (cp >= 0x7f && cp <= 0x9f);
}

const char *jklg_header_text(apr_pool_t *p, const char *s,
                             apr_size_t max_bytes)
{
    const unsigned char *in = (const unsigned char *)s;
    char *out, *o;
    apr_size_t used;

    if (!s) {
        return "";
    }
    /* Every input byte gives at most 3 output bytes (U+FFFD). */
    o = out = apr_palloc(p, 3 * strlen(s) + 1);
    while (*in) {
        long cp = utf8_decode(in, &used);
        const char *piece = cp < 0 ? REPLACEMENT : (const char *)in;
        apr_size_t n = cp < 0 ? sizeof(REPLACEMENT) - 1 : used;

        in += used;
        if (cp >= 0 && is_control(cp)) {
            continue;
        }
        if ((apr_size_t)(o - out) + n > max_bytes) {
            break;
        }
        memcpy(o, piece, n);
        o += n;
    }
    *o = '\0';
    return out;
}
