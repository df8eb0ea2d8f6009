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
