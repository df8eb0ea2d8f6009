/* The endpoints' handlers (named by the routes table, mod_jklg_routes.c)
 * and what the areas share with each other. */
#ifndef MOD_JKLG_HANDLERS_H
#define MOD_JKLG_HANDLERS_H

#include "mod_jklg_request.h"

/* Handlers. */
int jklg_health_get(jklg_req_t *req);
int jklg_jwks_get(jklg_req_t *req);
int jklg_email_test(jklg_req_t *req);
int jklg_email_status(jklg_req_t *req);
int jklg_email_batch(jklg_req_t *req);
int jklg_customer_register(jklg_req_t *req);
int jklg_customer_verify_email(jklg_req_t *req);
int jklg_customer_resend(jklg_req_t *req);
int jklg_customer_login(jklg_req_t *req);
int jklg_customer_logout(jklg_req_t *req);
int jklg_customer_forgot(jklg_req_t *req);
int jklg_customer_reset(jklg_req_t *req);
int jklg_me_get(jklg_req_t *req);
int jklg_me_patch(jklg_req_t *req);
int jklg_me_password(jklg_req_t *req);
int jklg_me_sessions(jklg_req_t *req);
int jklg_me_session_delete(jklg_req_t *req);
int jklg_me_addresses(jklg_req_t *req);
int jklg_me_address_create(jklg_req_t *req);
int jklg_me_address_patch(jklg_req_t *req);
int jklg_me_address_delete(jklg_req_t *req);
int jklg_me_preferences(jklg_req_t *req);
int jklg_me_preferences_put(jklg_req_t *req);
int jklg_me_bookings(jklg_req_t *req);
int jklg_me_booking(jklg_req_t *req);
int jklg_payments_config(jklg_req_t *req);
int jklg_payment_intent(jklg_req_t *req);
int jklg_payment_webhook(jklg_req_t *req);
int jklg_payment_transactions(jklg_req_t *req);
int jklg_payment_transaction(jklg_req_t *req);
int jklg_staff_booking_create(jklg_req_t *req);
/* mod_jklg_travel.c: cancellation policies and cancellation (issue 10). */
int jklg_staff_policy_put(jklg_req_t *req);
int jklg_staff_policies(jklg_req_t *req);
int jklg_staff_booking_cancel(jklg_req_t *req);
int jklg_me_booking_cancellation(jklg_req_t *req);
int jklg_me_booking_cancel(jklg_req_t *req);
int jklg_me_payment_methods(jklg_req_t *req);
int jklg_me_payment_method_delete(jklg_req_t *req);
/* The gateway's customer of the intent `opened` (made once, stored) into
 * its customer_ref: 1, or 0 after answering. */
int jklg_travel_customer_ref(jklg_req_t *req, const jklg_gateway_t *gw,
                             json_t *opened);
int jklg_staff_transactions(jklg_req_t *req);
int jklg_staff_transaction(jklg_req_t *req);
int jklg_staff_refund(jklg_req_t *req);
int jklg_staff_manual_payment(jklg_req_t *req);
int jklg_staff_metrics(jklg_req_t *req);
/* mod_jklg_security.c: security events, email change, secure-account. */
extern const jklg_statement_t jklg_security_statements[];
int jklg_me_security_events(jklg_req_t *req);
int jklg_me_email_change(jklg_req_t *req);
int jklg_confirm_email_change(jklg_req_t *req);
int jklg_revert_email_change(jklg_req_t *req);
int jklg_secure_account(jklg_req_t *req);

/* mod_jklg_staff.c: refunds, shared with the over-payment refunds. */
typedef struct {
    json_t *settled;                /* {"refund": ...} recorded, or NULL */
    apr_status_t db_rv;             /* when the recording failed */
    const char *db_err;
    const char *err;                /* the gateway's failure, for the log */
} jklg_refund_sent_t;
apr_status_t jklg_refund_send(jklg_req_t *req, const json_t *opened,
                              const char *actor, jklg_refund_sent_t *sent);
/* The same on a connection of its own (an event applied by the webhook or
 * by reconciliation). */
apr_status_t jklg_refund_send_db(server_rec *s, jklg_db_t *db, apr_pool_t *p,
                                 const json_t *opened, const char *actor,
                                 jklg_refund_sent_t *sent);

/* mod_jklg_payments.c: shared with the staff endpoints and
 * reconciliation. */
int jklg_reply_gateway_error(jklg_req_t *req, const char *err);
/* Applies one verified event of gw (payload: its JSON) through
 * jklg.apply_event, the one path of the webhook and of reconciliation
 * (run: the reconciliation run, or NULL): stored and applied once, then
 * the over-payment refund it opened is sent and the card a payment was
 * made to keep is saved. *outcome: ok, duplicate, or mismatch (run only);
 * fails only when the database does (err). */
apr_status_t jklg_event_apply(server_rec *s, jklg_db_t *db, apr_pool_t *p,
                              const jklg_gateway_t *gw,
                              const jklg_gateway_event_t *ev,
                              const char *payload, const char *run,
                              const char **outcome, const char **err);
/* jklg_event_apply in its two steps, for the webhook's batches
 * (mod_jklg_webhook.c): the call alone (res: the outcome, and the body
 * the follow-up reads, or NULL), and the follow-up of an applied event's
 * body (which may be NULL). */
apr_status_t jklg_event_call(server_rec *s, jklg_db_t *db, apr_pool_t *p,
                             const jklg_gateway_t *gw,
                             const jklg_gateway_event_t *ev,
                             const char *payload, const char *run,
                             jklg_result_t *res, const char **err);
void jklg_event_follow_up(server_rec *s, jklg_db_t *db, apr_pool_t *p,
                          const jklg_gateway_t *gw,
                          const jklg_gateway_event_t *ev, const char *body);
/* The word jklg.apply_event knows for kind. */
const char *jklg_event_kind_word(jklg_event_kind_t kind);
/* Cancels the gateway's payment of an open transaction {id, gateway,
 * gateway_ref, amount, currency} and records what the gateway says it
 * became: canceled, or paid meanwhile. 1 when recorded, 0 after answering
 * the gateway's (502) or the database's failure. */
int jklg_payment_cancel(jklg_req_t *req, const json_t *tx);


/* mod_jklg_mfa.c: TOTP second factor (docs/customers.md, "Two-factor
 * authentication"). */
extern const jklg_statement_t jklg_mfa_statements[];
/* After a correct password: 1 when the account has no second factor (the
 * caller creates the session), else 0 after answering (401 mfa_required
 * with an mfa_token, or an error). */
int jklg_login_mfa_gate(jklg_req_t *req, const char *customer_id,
                        const char *new_hash);
int jklg_me_mfa_totp_start(jklg_req_t *req);
int jklg_me_mfa_totp_confirm(jklg_req_t *req);
int jklg_me_mfa_totp_delete(jklg_req_t *req);
int jklg_customer_login_mfa(jklg_req_t *req);
/* mod_jklg_accounts.c: creates the session and answers the login (the
 * body of POST /login), for both the password and the second factor. */
int jklg_login_session(jklg_req_t *req, const char *customer_id,
                       const char *new_hash);
/* mod_jklg_rights.c: data rights and staff customer tools (issue 12). */
extern const jklg_statement_t jklg_rights_statements[];
int jklg_me_export(jklg_req_t *req);
int jklg_me_erase(jklg_req_t *req);
int jklg_staff_customers(jklg_req_t *req);
int jklg_staff_customer(jklg_req_t *req);
int jklg_staff_customer_resend(jklg_req_t *req);
int jklg_staff_customer_revoke(jklg_req_t *req);
int jklg_staff_customer_unlock(jklg_req_t *req);
int jklg_staff_customer_erase(jklg_req_t *req);
/* mod_jklg_reconcile.c: reconciliation with the gateways (issue 12). */
extern const jklg_statement_t jklg_reconcile_statements[];
int jklg_staff_reconciliation(jklg_req_t *req);
int jklg_staff_reconciliation_run(jklg_req_t *req);

#endif
