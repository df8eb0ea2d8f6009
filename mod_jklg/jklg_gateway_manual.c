/* Payments that staff record after the money arrived outside any system
 * (cash at the counter, a bank transfer seen on the statement), and
 * refunds handed back the same way. Nothing to call, nothing to wait for:
 * recording is the event, so both succeed at once. */
#include <string.h>
#include "jklg_gateway.h"

static apr_status_t manual_create_payment(const void *conf,
                                          apr_pool_t *p,
                                          const jklg_payment_req_t *req,
                                          jklg_payment_t *out,
                                          const char **err)
{
    (void)conf, (void)p, (void)req;     /* the table's signature */
    *err = NULL;
    memset(out, 0, sizeof(*out));
    out->status = "succeeded";
    return APR_SUCCESS;
}

static apr_status_t manual_refund(const void *conf,
                                  apr_pool_t *p, const jklg_refund_req_t *req,
                                  jklg_refund_t *out, const char **err)
{
    (void)conf, (void)p, (void)req;
    *err = NULL;
    memset(out, 0, sizeof(*out));
    out->status = "succeeded";
    return APR_SUCCESS;
}

/* No configuration, no webhooks: nobody outside can tell us about these
 * payments, nothing to reconcile, no cards to keep. Staff name the method
 * (cash, bank transfer) of each transaction. */
const jklg_gateway_t jklg_gateway_manual = {
    .name = "manual",
    .create_payment = manual_create_payment,
    .refund = manual_refund,
};
