/* Declarations shared by the httpd glue files (mod_jklg*.c), by job:
 * the module and its configuration, one request, what runs beside the
 * requests, and the handlers. The core (jklg_*.c) never includes these. */
#ifndef MOD_JKLG_H
#define MOD_JKLG_H

#include "mod_jklg_config.h"
#include "mod_jklg_request.h"
#include "mod_jklg_background.h"
#include "mod_jklg_handlers.h"

#endif
