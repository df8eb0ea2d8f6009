#include <string.h>
#include <apr_strings.h>
#include "jklg_router.h"

#define MAX_SEGMENTS 12

typedef struct {
    int method;
    int nsegments;
    const char **segments;      /* "{id}" marks a parameter */
    const void *target;
} route_t;

struct jklg_router_t {
    apr_pool_t *pool;
    apr_array_header_t *routes; /* route_t */
};

static const struct {
    const char *name;
    int bit;
} methods[] = {
    {"GET", JKLG_GET}, {"HEAD", JKLG_HEAD}, {"POST", JKLG_POST},
    {"PUT", JKLG_PUT}, {"PATCH", JKLG_PATCH}, {"DELETE", JKLG_DELETE},
    {"OPTIONS", JKLG_OPTIONS},
};

/* Splits "/a/b/c" into {"a","b","c"}; returns -1 when too deep. An empty
 * segment ("//" or a trailing "/") is kept, so it never matches a route. */
static int split_path(apr_pool_t *p, const char *path, const char **out)
{
    char *copy, *slash;
    int n = 0;

    if (*path != '/') {
        return -1;
    }
    copy = apr_pstrdup(p, path + 1);
    for (;;) {
        if (n == MAX_SEGMENTS) {
            return -1;
        }
        out[n++] = copy;
        slash = strchr(copy, '/');
        if (!slash) {
            return n;
        }
        *slash = '\0';
        copy = slash + 1;
    }
}

static int is_param(const char *segment)
{
    apr_size_t len = strlen(segment);
    return len > 2 && segment[0] == '{' && segment[len - 1] == '}';
}

jklg_router_t *jklg_router_create(apr_pool_t *p)
{
    jklg_router_t *router = apr_pcalloc(p, sizeof(*router));

    router->pool = p;
    router->routes = apr_array_make(p, 32, sizeof(route_t));
    return router;
}

void jklg_router_add(jklg_router_t *router, int method, const char *pattern,
                     const void *target)
{
    const char *segments[MAX_SEGMENTS];
    int n = split_path(router->pool, pattern, segments);
    route_t *route;

    if (n < 0) {
        return;     /* a malformed pattern in the route table never matches */
    }
    route = apr_array_push(router->routes);
    route->method = method;
    route->target = target;
    route->nsegments = n;
    route->segments = apr_pmemdup(router->pool, segments,
                                  sizeof(segments[0]) * route->nsegments);
}

static int segments_match(const route_t *route, const char **segments, int n)
{
    if (route->nsegments != n) {
        return 0;
    }
    for (int i = 0; i < n; i++) {
        if (is_param(route->segments[i]) ? !*segments[i]
                                         : strcmp(route->segments[i],
                                                  segments[i]) != 0) {
            return 0;
        }
    }
    return 1;
}

static void collect_params(const route_t *route, const char **segments,
                           apr_pool_t *p, apr_table_t *params)
{
    for (int i = 0; i < route->nsegments; i++) {
        const char *name = route->segments[i];
        if (is_param(name)) {
            apr_table_setn(params, apr_pstrmemdup(p, name + 1,
                                                  strlen(name) - 2),
                           segments[i]);
        }
    }
}

void jklg_router_match(const jklg_router_t *router, int method,
                       const char *path, apr_pool_t *p, jklg_match_t *m)
{
    const char *segments[MAX_SEGMENTS];
    int n = split_path(p, path, segments);
    const route_t *routes = (const route_t *)router->routes->elts;

    memset(m, 0, sizeof(*m));
    m->params = apr_table_make(p, 2);
    if (n < 0) {
        return;
    }
    /* HEAD is answered by GET routes, as Apache does for static files. */
    if (method == JKLG_HEAD) {
        method = JKLG_GET;
    }
    for (int i = 0; i < router->routes->nelts; i++) {
        const route_t *route = &routes[i];

        if (!segments_match(route, segments, n)) {
            continue;
        }
        m->allowed |= route->method;
        if (!m->target && route->method == method) {
            m->target = route->target;
            collect_params(route, segments, p, m->params);
        }
    }
}

int jklg_method_bit(const char *method)
{
    for (apr_size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++) {
        if (!strcmp(method, methods[i].name)) {
            return methods[i].bit;
        }
    }
    return 0;
}

const char *jklg_methods_string(apr_pool_t *p, int mask)
{
    const char *s = NULL;

    if (mask & JKLG_GET) {
        mask |= JKLG_HEAD;
    }
    for (apr_size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++) {
        if (mask & methods[i].bit) {
            s = s ? apr_pstrcat(p, s, ", ", methods[i].name, NULL)
                  : methods[i].name;
        }
    }
    return s ? s : "";
}
