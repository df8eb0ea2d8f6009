/* The directives of every registered gateway, for the glue's static
 * command table (mod_jklg_config.c): X(gateway, name, how, setter, help)
 * each, how being TAKE1 or ITERATE. A gateway with directives adds its
 * list here; the lines themselves live in its own header. */
#ifndef JKLG_GATEWAYS_H
#define JKLG_GATEWAYS_H

#include "jklg_gateway.h"
#include "jklg_stripe.h"

#define JKLG_GATEWAY_DIRECTIVES(X) \
    JKLG_STRIPE_DIRECTIVES(X)

#endif
