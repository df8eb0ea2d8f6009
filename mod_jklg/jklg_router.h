/* Method + path routing with {name} segments. Built once at startup,
 * read-only afterwards, so requests on many threads share it. */
#ifndef JKLG_ROUTER_H
#define JKLG_ROUTER_H

#include <apr_pools.h>
#include <apr_tables.h>

enum {
    JKLG_GET = 1 << 0,
    JKLG_POST = 1 << 1,
    JKLG_PUT = 1 << 2,
    JKLG_PATCH = 1 << 3,
    JKLG_DELETE = 1 << 4,
    JKLG_HEAD = 1 << 5,
    JKLG_OPTIONS = 1 << 6
};

typedef struct jklg_router_t jklg_router_t;

typedef struct {
    const void *target;     /* what was added for this method and path */
    int allowed;            /* methods the path answers to; 0: unknown path */
    apr_table_t *params;    /* {name} -> segment value */
} jklg_match_t;

jklg_router_t *jklg_router_create(apr_pool_t *p);

/* pattern: "/api/customers/me/addresses/{id}". target is opaque. */
void jklg_router_add(jklg_router_t *router, int method, const char *pattern,
                     const void *target);

/* Fills m. m->target is NULL when no route matches this method. */
void jklg_router_match(const jklg_router_t *router, int method,
                       const char *path, apr_pool_t *p, jklg_match_t *m);

/* "GET" -> JKLG_GET; 0 for methods the API does not use. */
int jklg_method_bit(const char *method);

/* JKLG_GET|JKLG_POST -> "GET, HEAD, POST" (HEAD rides with GET, as in
 * Apache); OPTIONS is added by the caller when it answers preflights. */
const char *jklg_methods_string(apr_pool_t *p, int methods);

#endif
