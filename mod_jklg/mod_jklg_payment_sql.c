/* SQL of the payment and staff endpoints. The work is in the functions of
 * sql/005_payments.sql, each one database transaction; these statements
 * call them and shape lists. */
#include <stddef.h>
#include "mod_jklg.h"


/* A payment that just succeeded (it queued its receipt) may have paid a
 * booking that was paid already: jklg_overpayment_refund opens the refund
 * of the excess in the same transaction. Other answers skip the call. */
#define WITH_OVERPAYMENT(tx) \
    "SELECT (r || jsonb_build_object('overpayment', CASE WHEN " \
    "jsonb_array_length(COALESCE(r->'emails', '[]')) > 0 THEN " \
    "jklg_overpayment_refund(" tx "::uuid) END))::text FROM x"

const jklg_statement_t jklg_payment_statements[] = {
    {"jklg_p_intent_open", JKLG_CALL_SQL("intent_open", JKLG_AUTHED
     ", p_booking => %s::uuid, p_installment => %s::uuid, p_gateway => %s, "
     "p_save => %s::boolean")},
    /* transaction id, gateway ref or NULL, status, error, public url */
    {"jklg_p_intent_settle",
     "WITH x AS MATERIALIZED (SELECT jklg_intent_settle(%s::uuid, %s, %s, "
     "%s, %s) AS r) " WITH_OVERPAYMENT("(r->'transaction'->>'id')")},
    /* id, gateway, type, payload, kind, ref, metadata tx, amount, reason,
     * public url */
    {"jklg_p_event",
     "WITH x AS MATERIALIZED (SELECT jklg_apply_event(%s, %s, %s, "
     "%s::jsonb, %s, %s, %s, %s::bigint, %s, %s) AS r) "
     WITH_OVERPAYMENT("(r->>'transaction_id')")},
    /* transaction id: another request is creating its intent */
    {"jklg_p_intent_peek",
     "SELECT gateway_ref, status, "
     "extract(epoch FROM now() - created_at)::int FROM transactions "
     "WHERE id = %s::uuid"},
    {"jklg_s_booking_create", JKLG_CALL_SQL("staff_booking_create",
     "p_customer_id => %s::uuid, p_customer_email => %s, p_reference => %s, "
     "p_description => %s, p_travel_start => %s::date, "
     "p_travel_end => %s::date, p_amount_total => %s::bigint, "
     "p_currency => %s, p_deposit => %s::bigint, "
     "p_balance_due_days => %s::int, p_policy => %s")},
    /* transaction id, amount or NULL, reason, staff, key */
    {"jklg_s_refund_open",
     "SELECT jklg_refund_open(%s::uuid, %s::bigint, %s, %s, %s)::text"},
    /* refund id, status, gateway ref, staff, error */
    {"jklg_s_refund_settle",
     "SELECT jklg_refund_settle(%s::uuid, %s, %s, %s, %s)::text"},
    /* booking, amount, currency, method, note, staff, public url */
    {"jklg_s_manual",
     "SELECT jklg_manual_payment(%s::uuid, %s::bigint, %s, %s, %s, %s, %s)"
     "::text"},
    {NULL, NULL}
};
