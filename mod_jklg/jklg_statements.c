/* Every labelled statement, gathered so that startup can hand them all to
 * mod_dbd and jklg_db can prepare them again on a reset connection. Each
 * core file owns its SQL next to the code that runs it. */
#include <stddef.h>
#include "jklg_db.h"

extern const jklg_statement_t jklg_outbox_statements[];

const jklg_statement_t *const jklg_statement_sets[] = {
    jklg_outbox_statements,
    NULL
};
