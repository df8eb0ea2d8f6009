/* Every labelled statement of the module, gathered so that startup can
 * hand them to mod_dbd and jklg_db can prepare them again on a connection
 * whose server session changed. Each file owns its SQL next to the code
 * that runs it. */
#include <stddef.h>
#include "mod_jklg.h"

const jklg_statement_t *const jklg_statement_sets[] = {
    jklg_outbox_statements,
    jklg_profile_statements,
    jklg_history_statements,
    jklg_transaction_statements,
    jklg_account_statements,
    jklg_travel_statements,
    jklg_balance_statements,
    jklg_payment_statements,
    jklg_webhook_statements,
    jklg_staff_statements,
    jklg_metrics_statements,
    jklg_security_statements,
    jklg_mfa_statements,
    jklg_rights_statements,
    jklg_reconcile_statements,
    NULL
};

void jklg_db_from_dbd(jklg_db_t *db, const ap_dbd_t *dbd)
{
    db->statements = jklg_statement_sets;
    db->driver = dbd->driver;
    db->handle = dbd->handle;
    db->prepared = dbd->prepared;
    db->pool = dbd->pool;
    db->guard = NULL;
    db->timeout = 0;
}
