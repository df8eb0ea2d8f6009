-- The payment method a receipt names is the gateway's to say, not SQL's:
-- jklg_payment_emails (sql/005) mapped one gateway's name to "card" in a
-- CASE. Now the receipt's data carries the transaction's gateway and its
-- own method word (staff's cash / bank transfer, or what opened it), and
-- the module, rendering the mail, puts the gateway's word (jklg_gateway_t
-- .method) in its place when the gateway has one (jklg_outbox.c). A new
-- gateway needs no migration.
CREATE OR REPLACE FUNCTION jklg_payment_emails(p_tx uuid, p_public_url text)
    RETURNS SETOF uuid LANGUAGE sql
AS $$
    WITH t AS (SELECT * FROM transactions WHERE id = p_tx),
    b AS (SELECT b.* FROM bookings b JOIN t ON t.booking_id = b.id),
    c AS (SELECT c.* FROM customers c JOIN b ON b.customer_id = c.id)
    INSERT INTO email_outbox (template, recipient, data, dedupe_key)
    SELECT 'payment_receipt', c.email, jsonb_build_object(
               'first_name', c.first_name, 'booking_reference', b.reference,
               'amount', jklg_money(t.amount, t.currency),
               'gateway', t.gateway,
               'payment_method', replace(COALESCE(t.method, t.gateway),
                                         '_', ' '),
               'transaction_id', t.id, 'paid_at', jklg_ts(now()),
               'amount_paid', jklg_money(b.amount_paid, b.currency),
               'amount_outstanding', jklg_money(
                   greatest(b.amount_total - b.amount_paid, 0), b.currency)),
           'payment_receipt:' || t.id
      FROM t, b, c WHERE t.status = 'succeeded'
    UNION ALL
    SELECT 'booking_confirmation', c.email, jsonb_build_object(
               'first_name', c.first_name, 'booking_reference', b.reference,
               'description', b.description,
               'travel_start', jklg_date(b.travel_start),
               'travel_end', jklg_date(b.travel_end),
               'amount_total', jklg_money(b.amount_total, b.currency),
               'booking_url', p_public_url || '/bookings/' || b.id),
           'booking_confirmation:' || b.id
      FROM b, c WHERE b.amount_paid >= b.amount_total
    ON CONFLICT (dedupe_key) DO NOTHING
    RETURNING id
$$;
