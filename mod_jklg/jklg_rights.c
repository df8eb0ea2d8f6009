/* Data rights and staff customer tools, the pure part (jklg_rights.h). */
#include <string.h>
#include <apr_strings.h>
#include "jklg_rights.h"

#define ERASED_PREFIX "erased+"
#define ERASED_DOMAIN "@invalid"

const char *jklg_erased_email(apr_pool_t *p,
                              const unsigned char rnd[JKLG_ERASED_RANDOM_LEN])
{
    static const char hex[] = "0123456789abcdef";
    char out[sizeof(ERASED_PREFIX) - 1 + 2 * JKLG_ERASED_RANDOM_LEN
             + sizeof(ERASED_DOMAIN)];
    char *o = out;

    memcpy(o, ERASED_PREFIX, sizeof(ERASED_PREFIX) - 1);
    o += sizeof(ERASED_PREFIX) - 1;
    for (int i = 0; i < JKLG_ERASED_RANDOM_LEN; i++) {
        *o++ = hex[rnd[i] >> 4];
        *o++ = hex[rnd[i] & 0x0f];
    }
    memcpy(o, ERASED_DOMAIN, sizeof(ERASED_DOMAIN));
    return apr_pstrdup(p, out);
}

int jklg_is_erased_email(const char *email)
{
    apr_size_t prefix = sizeof(ERASED_PREFIX) - 1;
    apr_size_t domain = sizeof(ERASED_DOMAIN) - 1;
    apr_size_t hex = 2 * JKLG_ERASED_RANDOM_LEN;

    if (!email || strlen(email) != prefix + hex + domain
        || strncmp(email, ERASED_PREFIX, prefix)
        || strcmp(email + prefix + hex, ERASED_DOMAIN)) {
        return 0;
    }
    for (apr_size_t i = prefix; i < prefix + hex; i++) {
        if (!strchr("0123456789abcdef", email[i])) {
            return 0;
        }
    }
    return 1;
}

/* Length of the UTF-8 sequence at s, or 0 when it is not a valid one. */
static int utf8_seq(const unsigned char *s)
{
    unsigned long cp;
    int n;

    if (s[0] < 0x80) {
        return 1;
    }
    if (s[0] >= 0xc2 && s[0] <= 0xdf) {
        n = 2, cp = s[0] & 0x1f;
    }
    else if ((s[0] & 0xf0) == 0xe0) {
        n = 3, cp = s[0] & 0x0f;
    }
    else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
        n = 4, cp = s[0] & 0x07;
    }
    else {
        return 0;
    }
    for (int i = 1; i < n; i++) {
        if ((s[i] & 0xc0) != 0x80) {
            return 0;       /* also stops at the terminating NUL */
        }
        cp = cp << 6 | (s[i] & 0x3f);
    }
    if ((n == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff)))
        || (n == 4 && (cp < 0x10000 || cp > 0x10ffff))) {
        return 0;
    }
    return n;
}

int jklg_utf8_valid(const char *s)
{
    const unsigned char *u = (const unsigned char *)s;
    int n;

    while (*u) {
        if (!(n = utf8_seq(u))) {
            return 0;
        }
        u += n;
    }
    return 1;
}

static int is_space(unsigned char c)
{
    return c == ' ' || c == '\t';
}

const char *jklg_search_pattern(apr_pool_t *p, const char *q,
                                const char **why)
{
    const unsigned char *s = (const unsigned char *)q;
    char *out, *o;
    apr_size_t chars = 0;
    int n;

    if (!q || !jklg_utf8_valid(q)) {
        *why = "must be valid UTF-8 text";
        return NULL;
    }
    /* Worst case every byte escaped. */
    o = out = apr_palloc(p, 2 * strlen(q) + 1);
    while (is_space(*s)) {
        s++;
    }
    while (*s) {
        if (is_space(*s)) {
            while (is_space(*s)) {
                s++;
            }
            if (*s) {
                *o++ = ' ';
                chars++;
            }
            continue;
        }
        if (*s < 0x20 || *s == 0x7f) {
            *why = "must not contain control characters";
            return NULL;
        }
        n = utf8_seq(s);
        if (n == 1) {
            if (*s == '%' || *s == '_' || *s == '\\') {
                *o++ = '\\';
            }
            *o++ = (*s >= 'A' && *s <= 'Z') ? (char)(*s + 'a' - 'A')
                                             : (char)*s;
        }
        else {
            memcpy(o, s, n);
            o += n;
        }
        s += n;
        chars++;
    }
    *o = '\0';
    if (chars < JKLG_SEARCH_MIN_CHARS || chars > JKLG_SEARCH_MAX_CHARS) {
        *why = apr_psprintf(p, "must be %d to %d characters",
                            JKLG_SEARCH_MIN_CHARS, JKLG_SEARCH_MAX_CHARS);
        return NULL;
    }
    return out;
}
