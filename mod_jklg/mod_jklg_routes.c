/* The API surface: every method and path the module answers. */
#include <stddef.h>
#include "mod_jklg.h"

const jklg_endpoint_t jklg_endpoints[] = {
    {JKLG_GET,  "/api/health",              jklg_health_get,   0},
    {JKLG_POST, "/api/admin/email/test",    jklg_email_test,   JKLG_BODY},
    {JKLG_GET,  "/api/admin/email/status",  jklg_email_status, 0},
    {JKLG_POST, "/api/admin/email/batch",   jklg_email_batch,  JKLG_BODY},
    {0, NULL, NULL, 0}
};
