/* SQL of the payment and staff endpoints. The work is in the functions of
 * sql/005_payments.sql, each one database transaction; these statements
 * call them and shape lists. */
#include <stddef.h>
#include "mod_jklg.h"

#define AUTH "WITH a AS (SELECT jklg_session_customer(%s::uuid, %s::uuid) AS cid) "
#define AUTHED "(SELECT cid FROM a) IS NOT NULL"

/* Keyset page over `page` rows (tx, ts, id): cursor time or NULL, cursor
 * time, cursor id come first in the page's WHERE; limit + 1 in its LIMIT;
 * then limit, limit here. */
#define PAGE_OF_TRANSACTIONS \
    "WITH shown AS (SELECT * FROM page ORDER BY ts DESC, id DESC LIMIT %s::int) " \
    "SELECT jsonb_build_object('data', COALESCE((SELECT jsonb_agg(" \
    "jklg_transaction_json(tx) ORDER BY ts DESC, id DESC) FROM shown), " \
    "'[]'::jsonb), 'next_cursor', CASE WHEN (SELECT count(*) FROM page) > " \
    "%s::int THEN (SELECT jklg_cursor(ts, id) FROM shown ORDER BY ts, id " \
    "LIMIT 1) END)::text"

/* A payment that just succeeded (it queued its receipt) may have paid a
 * booking that was paid already: jklg_overpayment_refund opens the refund
 * of the excess in the same transaction. Other answers skip the call. */
#define WITH_OVERPAYMENT(tx) \
    "SELECT (r || jsonb_build_object('overpayment', CASE WHEN " \
    "jsonb_array_length(COALESCE(r->'emails', '[]')) > 0 THEN " \
    "jklg_overpayment_refund(" tx "::uuid) END))::text FROM x"

#define AFTER_CURSOR \
    "AND (%s::text IS NULL OR (t.created_at, t.id) < " \
    "((%s::timestamp AT TIME ZONE 'UTC'), %s::uuid)) "

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
    {"jklg_p_transactions",
     AUTH ", page AS (SELECT t AS tx, t.created_at AS ts, t.id AS id "
     "FROM transactions t JOIN bookings b ON b.id = t.booking_id "
     "WHERE b.customer_id = (SELECT cid FROM a) " AFTER_CURSOR
     "ORDER BY t.created_at DESC, t.id DESC LIMIT %s::int), "
     "body AS (" PAGE_OF_TRANSACTIONS ") "
     "SELECT " AUTHED ", (SELECT * FROM body)"},
    /* transaction id */
    {"jklg_p_transaction",
     AUTH "SELECT " AUTHED ", (SELECT jsonb_build_object('transaction', "
     "jklg_transaction_json(t))::text FROM transactions t "
     "JOIN bookings b ON b.id = t.booking_id WHERE t.id = %s::uuid "
     "AND b.customer_id = (SELECT cid FROM a))"},
    {"jklg_s_booking_create", JKLG_CALL_SQL("staff_booking_create",
     "p_customer_id => %s::uuid, p_customer_email => %s, p_reference => %s, "
     "p_description => %s, p_travel_start => %s::date, "
     "p_travel_end => %s::date, p_amount_total => %s::bigint, "
     "p_currency => %s, p_deposit => %s::bigint, "
     "p_balance_due_days => %s::int, p_policy => %s")},
    /* status (twice), booking (twice), customer (twice), since (twice),
     * until (twice), cursor (3), limit + 1, limit, limit */
    {"jklg_s_transactions",
     "WITH page AS (SELECT t AS tx, t.created_at AS ts, t.id AS id "
     "FROM transactions t JOIN bookings b ON b.id = t.booking_id "
     "WHERE (%s::text IS NULL OR t.status = %s) "
     "AND (%s::uuid IS NULL OR t.booking_id = %s::uuid) "
     "AND (%s::uuid IS NULL OR b.customer_id = %s::uuid) "
     "AND (%s::timestamptz IS NULL OR t.created_at >= %s::timestamptz) "
     "AND (%s::timestamptz IS NULL OR t.created_at < %s::timestamptz) "
     AFTER_CURSOR
     "ORDER BY t.created_at DESC, t.id DESC LIMIT %s::int) "
     "SELECT * FROM (" PAGE_OF_TRANSACTIONS ") AS body"},
    /* transaction id */
    {"jklg_s_transaction",
     "SELECT jsonb_build_object('transaction', jklg_transaction_json(t), "
     "'audit_log', COALESCE((SELECT jsonb_agg(jklg_audit_json(l) ORDER BY "
     "l.id) FROM transaction_audit_logs l WHERE l.transaction_id = t.id), "
     "'[]'::jsonb), 'refunds', COALESCE((SELECT jsonb_agg(jklg_refund_json(f) "
     "ORDER BY f.created_at, f.id) FROM refunds f "
     "WHERE f.transaction_id = t.id), '[]'::jsonb))::text "
     "FROM transactions t WHERE t.id = %s::uuid"},
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
