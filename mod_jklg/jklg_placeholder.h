/* Placeholders left in the configuration: the shipped example vhost
 * (conf/jklg.conf) and the README write the word CHANGE wherever the
 * operator must put a value of their own (password=CHANGE, pk_live_CHANGE,
 * api.CHANGE.example). The module refuses to start, and `apache2ctl
 * configtest` fails, while one is left. */
#ifndef JKLG_PLACEHOLDER_H
#define JKLG_PLACEHOLDER_H

#include <apr_pools.h>

#define JKLG_PLACEHOLDER "CHANGE"

/* Where the placeholder starts in args, or NULL. Only the capital word on
 * its own counts: between start, end, punctuation or spaces, so that
 * "password=CHANGE", "pk_live_CHANGE", "api.CHANGE.example" and
 * "CHANGE_ME" are found but "EXCHANGE", "CHANGED", "XCHANGEX" or "change"
 * (parts of real passwords, keys and names) are not. */
const char *jklg_placeholder_find(const char *args);

/* Whether a directive is checked: the module's own (JKLG...) and mod_dbd's
 * (DBD..., the database password) wherever they are, any other directive
 * only in a file that holds one of the module's (its vhost's ServerName,
 * Redirect, certificate paths), so that other sites never stop Apache. */
int jklg_placeholder_checked(const char *directive, int in_module_file);

/* The name of the key=value parameter the placeholder at `at` sits in
 * ("password" for DBDParams "... password=CHANGE ..."), or NULL when it is
 * not in one. Only a plain name is returned, never any part of a value, so
 * that it is safe to log. */
const char *jklg_placeholder_key(apr_pool_t *p, const char *args,
                                 const char *at);

#endif
