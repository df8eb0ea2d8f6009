#include <string.h>
#include <stdlib.h>
#include <apr_strings.h>
#include <apr_time.h>
#include "jklg_json.h"

static apr_status_t json_cleanup(void *data)
{
    json_decref((json_t *)data);
    return APR_SUCCESS;
}

json_t *jklg_json_own(apr_pool_t *p, json_t *j)
{
    if (j) {
        apr_pool_cleanup_register(p, j, json_cleanup, apr_pool_cleanup_null);
    }
    return j;
}

json_t *jklg_json_parse_object(apr_pool_t *p, const char *buf, apr_size_t len,
                               const char **why)
{
    json_error_t err;
    json_t *j;

    if (len == 0) {
        *why = "request body is empty, expected a JSON object";
        return NULL;
    }
    j = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &err);
    if (!j) {
        *why = apr_psprintf(p, "request body is not valid JSON: %s "
                            "(at character %d)", err.text, err.position);
        return NULL;
    }
    jklg_json_own(p, j);
    if (!json_is_object(j)) {
        *why = "request body must be a JSON object";
        return NULL;
    }
    return j;
}

const char *jklg_json_dump(apr_pool_t *p, const json_t *j)
{
    char *s = json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY);
    const char *copy;

    if (!s) {
        return NULL;
    }
    copy = apr_pstrdup(p, s);
    free(s);
    return copy;
}

json_t *jklg_json_error(apr_pool_t *p, const char *code, const char *message,
                        json_t *fields)
{
    json_t *inner = json_pack("{s:s, s:s}", "code", code, "message", message);

    if (fields && json_object_size(fields) > 0) {
        json_object_set(inner, "fields", fields);
    }
    return jklg_json_own(p, json_pack("{s:o}", "error", inner));
}

const char *jklg_json_str(const json_t *obj, const char *key)
{
    return json_string_value(json_object_get(obj, key));
}

int jklg_json_reject_unknown(const json_t *obj, const char *const *allowed,
                             json_t *fields)
{
    const char *key;
    json_t *value;
    int n = 0;

    json_object_foreach((json_t *)obj, key, value) {
        const char *const *a = allowed;
        while (*a && strcmp(*a, key)) {
            a++;
        }
        if (!*a) {
            json_object_set_new(fields, key, json_string("unknown field"));
            n++;
        }
    }
    return n;
}

const char *jklg_rfc3339_now(apr_pool_t *p)
{
    apr_time_exp_t t;

    apr_time_exp_gmt(&t, apr_time_now());
    return apr_psprintf(p, "%04d-%02d-%02dT%02d:%02d:%02dZ",
                        t.tm_year + 1900, t.tm_mon + 1, t.tm_mday,
                        t.tm_hour, t.tm_min, t.tm_sec);
}
