/* The registry of payment gateways. A new provider is its own file
 * defining a jklg_gateway_t, plus one declaration and one entry here (and
 * its directives' line in jklg_gateways.h if it has any). Everything else
 * asks the registry: no other file names a gateway. */
#include <string.h>
#include "jklg_gateway.h"

#define DEFAULT_CALL_TIMEOUT apr_time_from_sec(30)

extern const jklg_gateway_t jklg_gateway_stripe;
extern const jklg_gateway_t jklg_gateway_manual;

const jklg_gateway_t *const jklg_gateways[] = {
    &jklg_gateway_stripe,
    &jklg_gateway_manual,
    NULL
};

const jklg_gateway_t *jklg_gateway_find(const char *name)
{
    if (name == NULL) {
        return NULL;
    }
    for (const jklg_gateway_t *const *g = jklg_gateways; *g; g++) {
        if (strcmp((*g)->name, name) == 0) {
            return *g;
        }
    }
    return NULL;
}

int jklg_gateway_count(void)
{
    int n = 0;

    while (jklg_gateways[n]) {
        n++;
    }
    return n;
}

int jklg_gateway_index(const jklg_gateway_t *gw)
{
    for (int i = 0; jklg_gateways[i]; i++) {
        if (jklg_gateways[i] == gw) {
            return i;
        }
    }
    return -1;
}

const jklg_gateway_t *jklg_gateway_webhooks(void)
{
    for (const jklg_gateway_t *const *g = jklg_gateways; *g; g++) {
        if ((*g)->verify_webhook && (*g)->signature_header) {
            return *g;
        }
    }
    return NULL;
}

const jklg_gateway_t *jklg_gateway_online(void)
{
    for (const jklg_gateway_t *const *g = jklg_gateways; *g; g++) {
        if ((*g)->fetch_payment) {
            return *g;
        }
    }
    return NULL;
}

int jklg_gateway_configured(const jklg_gateway_t *gw, const void *conf)
{
    return gw && (!gw->configured || gw->configured(conf));
}

apr_interval_time_t jklg_gateway_call_timeout(const jklg_gateway_t *gw,
                                              const void *conf)
{
    apr_interval_time_t t = gw && gw->call_timeout ? gw->call_timeout(conf)
                                                   : 0;

    return t > 0 ? t : DEFAULT_CALL_TIMEOUT;
}

const char *jklg_gateway_method(const char *name)
{
    const jklg_gateway_t *gw = jklg_gateway_find(name);

    return gw ? gw->method : NULL;
}
