/* Placeholders left in directives' arguments (see jklg_placeholder.h). */
#include <string.h>
#include <strings.h>
#include <apr_lib.h>
#include <apr_strings.h>
#include "jklg_placeholder.h"

#define TOKEN_LEN (sizeof(JKLG_PLACEHOLDER) - 1)

/* Letters and digits continue a word; everything else (= _ . / @ - quotes,
 * spaces) ends it, so that the token inside a name or a key still counts. */
static int is_word_char(char c)
{
    return apr_isalnum((unsigned char)c);
}

const char *jklg_placeholder_find(const char *args)
{
    const char *at = args;

    if (!args) {
        return NULL;
    }
    while ((at = strstr(at, JKLG_PLACEHOLDER)) != NULL) {
        if ((at == args || !is_word_char(at[-1]))
            && !is_word_char(at[TOKEN_LEN])) {
            return at;
        }
        at++;
    }
    return NULL;
}

int jklg_placeholder_checked(const char *directive, int in_module_file)
{
    if (!directive) {
        return 0;
    }
    return in_module_file || !strncasecmp(directive, "JKLG", 4)
           || !strncasecmp(directive, "DBD", 3);
}

static int is_space_or_quote(char c)
{
    return apr_isspace((unsigned char)c) || c == '"' || c == '\'';
}

static int is_key_char(char c)
{
    return apr_isalnum((unsigned char)c) || c == '_' || c == '-' || c == '.';
}

const char *jklg_placeholder_key(apr_pool_t *p, const char *args,
                                 const char *at)
{
    const char *word = at, *eq, *k;

    if (!args || !at || at < args) {
        return NULL;
    }
    while (word > args && !is_space_or_quote(word[-1])) {
        word--;
    }
    eq = memchr(word, '=', (apr_size_t)(at - word));
    if (!eq || eq == word) {
        return NULL;
    }
    for (k = word; k < eq; k++) {
        if (!is_key_char(*k)) {
            return NULL;
        }
    }
    return apr_pstrmemdup(p, word, (apr_size_t)(eq - word));
}
