/* The API surface: every method and path the module answers. */
#include <stddef.h>
#include "mod_jklg.h"

const jklg_endpoint_t jklg_endpoints[] = {
    {JKLG_GET,  "/api/health",              jklg_health_get,   0},
    {JKLG_GET,  "/api/.well-known/jwks.json", jklg_jwks_get,   0},
    {JKLG_POST, "/api/admin/email/test",    jklg_email_test,   JKLG_BODY | JKLG_STAFF},
    {JKLG_GET,  "/api/admin/email/status",  jklg_email_status, JKLG_STAFF},
    {JKLG_POST, "/api/admin/email/batch",   jklg_email_batch,  JKLG_BODY | JKLG_STAFF},

#define C "/api/customers"
    {JKLG_POST,   C "/register",            jklg_customer_register, JKLG_BODY},
    {JKLG_POST,   C "/verify-email",        jklg_customer_verify_email, JKLG_BODY},
    {JKLG_POST,   C "/resend-verification", jklg_customer_resend,   JKLG_BODY},
    {JKLG_POST,   C "/login",               jklg_customer_login,    JKLG_BODY},
    {JKLG_POST,   C "/logout",              jklg_customer_logout,   JKLG_AUTH},
    {JKLG_POST,   C "/forgot-password",     jklg_customer_forgot,   JKLG_BODY},
    {JKLG_POST,   C "/reset-password",      jklg_customer_reset,    JKLG_BODY},
    {JKLG_GET,    C "/me",                  jklg_me_get,            JKLG_AUTH},
    {JKLG_PATCH,  C "/me",                  jklg_me_patch,          JKLG_BODY | JKLG_AUTH},
    {JKLG_POST,   C "/me/password",         jklg_me_password,       JKLG_BODY | JKLG_AUTH},
    {JKLG_GET,    C "/me/addresses",        jklg_me_addresses,      JKLG_AUTH},
    {JKLG_POST,   C "/me/addresses",        jklg_me_address_create, JKLG_BODY | JKLG_AUTH},
    {JKLG_PATCH,  C "/me/addresses/{id}",   jklg_me_address_patch,  JKLG_BODY | JKLG_AUTH},
    {JKLG_DELETE, C "/me/addresses/{id}",   jklg_me_address_delete, JKLG_AUTH},
    {JKLG_GET,    C "/me/preferences",      jklg_me_preferences,    JKLG_AUTH},
    {JKLG_PUT,    C "/me/preferences",      jklg_me_preferences_put, JKLG_BODY | JKLG_AUTH},
    {JKLG_GET,    C "/me/bookings",         jklg_me_bookings,       JKLG_AUTH},
    {JKLG_GET,    C "/me/bookings/{id}",    jklg_me_booking,        JKLG_AUTH},
    {JKLG_GET,    C "/me/sessions",         jklg_me_sessions,       JKLG_AUTH},
    {JKLG_DELETE, C "/me/sessions/{id}",    jklg_me_session_delete, JKLG_AUTH},
    {JKLG_GET,    C "/me/security-events",  jklg_me_security_events, JKLG_AUTH},
    {JKLG_POST,   C "/me/email",            jklg_me_email_change,   JKLG_BODY | JKLG_AUTH},
    {JKLG_POST,   C "/confirm-email-change", jklg_confirm_email_change, JKLG_BODY},
    {JKLG_POST,   C "/revert-email-change", jklg_revert_email_change, JKLG_BODY},
    {JKLG_POST,   C "/secure-account",      jklg_secure_account,    JKLG_BODY},
    {JKLG_POST,   C "/login/mfa",           jklg_customer_login_mfa, JKLG_BODY},
    {JKLG_POST,   C "/me/mfa/totp",         jklg_me_mfa_totp_start, JKLG_AUTH},
    {JKLG_POST,   C "/me/mfa/totp/confirm", jklg_me_mfa_totp_confirm, JKLG_BODY | JKLG_AUTH},
    {JKLG_DELETE, C "/me/mfa/totp",         jklg_me_mfa_totp_delete, JKLG_BODY | JKLG_AUTH},
#undef C

#define P "/api/payments"
    {JKLG_GET,    P "/config",              jklg_payments_config,   0},
    {JKLG_POST,   P "/intents",             jklg_payment_intent,    JKLG_BODY | JKLG_AUTH},
    {JKLG_POST,   P "/webhook",             jklg_payment_webhook,   JKLG_RAW_BODY},
    {JKLG_GET,    P "/transactions",        jklg_payment_transactions, JKLG_AUTH},
    {JKLG_GET,    P "/transactions/{id}",   jklg_payment_transaction, JKLG_AUTH},
#undef P

#define A "/api/admin"
    {JKLG_POST,   A "/bookings",            jklg_staff_booking_create, JKLG_BODY | JKLG_STAFF},
    {JKLG_GET,    A "/transactions",        jklg_staff_transactions, JKLG_STAFF},
    {JKLG_GET,    A "/transactions/{id}",   jklg_staff_transaction, JKLG_STAFF},
    {JKLG_POST,   A "/transactions/{id}/refund", jklg_staff_refund, JKLG_BODY | JKLG_STAFF},
    {JKLG_POST,   A "/payments/manual",     jklg_staff_manual_payment, JKLG_BODY | JKLG_STAFF},
    {JKLG_GET,    A "/metrics",             jklg_staff_metrics,     JKLG_STAFF},
#undef A

    /* Data rights and staff customer tools (issue 12). */
#define C "/api/customers"
#define A "/api/admin"
    {JKLG_GET,    C "/me/export",           jklg_me_export,         JKLG_AUTH},
    {JKLG_DELETE, C "/me",                  jklg_me_erase,          JKLG_BODY | JKLG_AUTH},
    {JKLG_GET,    A "/customers",           jklg_staff_customers,   JKLG_STAFF},
    {JKLG_GET,    A "/customers/{id}",      jklg_staff_customer,    JKLG_STAFF},
    {JKLG_POST,   A "/customers/{id}/resend-verification", jklg_staff_customer_resend, JKLG_STAFF},
    {JKLG_POST,   A "/customers/{id}/revoke-sessions", jklg_staff_customer_revoke, JKLG_STAFF},
    {JKLG_POST,   A "/customers/{id}/unlock", jklg_staff_customer_unlock, JKLG_STAFF},
    {JKLG_POST,   A "/customers/{id}/erase", jklg_staff_customer_erase, JKLG_STAFF},
#undef A
#undef C
    /* Travel payments (issue 10): policies and cancellation. */
#define A "/api/admin"
#define C "/api/customers"
    {JKLG_GET,    A "/cancellation-policies", jklg_staff_policies, JKLG_STAFF},
    {JKLG_PUT,    A "/cancellation-policies/{name}", jklg_staff_policy_put, JKLG_BODY | JKLG_STAFF},
    {JKLG_POST,   A "/bookings/{id}/cancel", jklg_staff_booking_cancel, JKLG_BODY | JKLG_STAFF},
    {JKLG_GET,    C "/me/bookings/{id}/cancellation", jklg_me_booking_cancellation, JKLG_AUTH},
    {JKLG_POST,   C "/me/bookings/{id}/cancel", jklg_me_booking_cancel, JKLG_BODY | JKLG_AUTH},
    {JKLG_GET,    C "/me/payment-methods", jklg_me_payment_methods, JKLG_AUTH},
    {JKLG_DELETE, C "/me/payment-methods/{id}", jklg_me_payment_method_delete, JKLG_AUTH},
#undef C
#undef A

    /* Reconciliation with the gateways (issue 12). */
#define A "/api/admin"
    {JKLG_GET,    A "/reconciliation",      jklg_staff_reconciliation, JKLG_STAFF},
    {JKLG_POST,   A "/reconciliation/run",  jklg_staff_reconciliation_run, JKLG_STAFF},
#undef A
    {0, NULL, NULL, 0}
};
