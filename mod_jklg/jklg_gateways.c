/* The registry of payment gateways. A new provider is its own file
 * defining a jklg_gateway_t, plus one declaration and one entry here. */
#include <string.h>
#include "jklg_gateway.h"

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
