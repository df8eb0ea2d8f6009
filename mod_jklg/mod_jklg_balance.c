/* The off-session balance job (issue 10). Every server's housekeeping
 * sweep (mod_jklg_mailer.c, every JKLGMailSweepInterval) runs it on its
 * background connection: jklg.balance_due queues the 7-day reminders and
 * claims the balances due today whose customer saved a card (FOR UPDATE
 * SKIP LOCKED plus a lease, so one server charges an installment at a
 * time); each is charged off-session under the idempotency key
 * <installment>-<attempt> and settled by jklg.balance_settle. A charge
 * whose outcome is unknown (timeout) keeps its attempt number: the next
 * sweep sends the same key, and the gateway answers with the same charge.
 * Soft declines are tried again the next day, at most
 * BALANCE_MAX_ATTEMPTS times; the last one, a hard decline or
 * authentication_required fails the installment and emails the customer
 * the link to pay (sql/014_travel_payments.sql). */
#include <string.h>
#include <apr_strings.h>
#include "jklg_json.h"
#include "jklg_policy.h"
#include "mod_jklg.h"

#define BALANCE_MAX_ATTEMPTS "3"
#define BALANCE_BATCH "10"
/* A claim outlives one gateway call (retries included) by this much. */
#define LEASE_MARGIN_SECONDS 60

const jklg_statement_t jklg_balance_statements[] = {
    {"jklg_j_balance_due", JKLG_CALL_SQL("balance_due",
     "p_lease_seconds => %s::int, p_max_attempts => %s::int, "
     "p_limit => %s::int, p_public_url => %s")},
    {"jklg_j_balance_settle", JKLG_CALL_SQL("balance_settle",
     "p_tx => %s::uuid, p_ref => %s, p_outcome => %s, p_decline => %s, "
     "p_soft => %s::boolean, p_max_attempts => %s::int, "
     "p_public_url => %s")},
    {NULL, NULL}
};

/* Runs one job statement: its body (NULL on failure, logged); the mail
 * it queued goes to this process's mail threads. */
static json_t *job_call(server_rec *s, jklg_db_t *db, apr_pool_t *p,
                        const char *label, int nargs, const char *const *args)
{
    jklg_result_t res;
    const char *err;
    apr_status_t rv = jklg_db_call(s, db, p, label, nargs, args, &res, &err);

    if (rv != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_WARNING, rv, s, JKLGNO(02110)
                     "balance job: %s: %s", label, err);
        return NULL;
    }
    return jklg_db_result_json(p, &res);
}

/* Charges one claimed installment and records what the gateway said. */
static void charge_one(server_rec *s, jklg_db_t *db, apr_pool_t *p,
                       const jklg_server_conf_t *conf, const json_t *item)
{
    const jklg_gateway_t *gw = jklg_gateway_find(jklg_json_str(item,
                                                               "gateway"));
    jklg_offsession_req_t ask;
    jklg_offsession_t out;
    const char *err = NULL, *outcome;
    int soft = 0;
    apr_status_t rv = APR_ENOTIMPL;

    memset(&ask, 0, sizeof(ask));
    memset(&out, 0, sizeof(out));
    ask.transaction_id = jklg_json_str(item, "transaction_id");
    ask.idempotency_key = apr_psprintf(p, "%s-%" APR_INT64_T_FMT,
        jklg_json_str(item, "installment_id"),
        (apr_int64_t)json_integer_value(json_object_get(item, "attempt")));
    ask.booking_reference = jklg_json_str(item, "reference");
    ask.amount = json_integer_value(json_object_get(item, "amount"));
    ask.currency = jklg_json_str(item, "currency");
    ask.customer_ref = jklg_json_str(item, "customer_ref");
    ask.method_ref = jklg_json_str(item, "method_ref");
    if (gw && gw->charge_off_session) {
        rv = jklg_count_gateway(gw, gw->charge_off_session(
            jklg_gateway_conf(conf, gw), p, &ask, &out, &err));
    }
    if (rv == APR_SUCCESS && out.status
        && strcmp(out.status, "requires_payment")) {
        outcome = out.status;
    }
    else if (rv == APR_SUCCESS || rv == APR_EGENERAL) {
        /* Declined, or left waiting for the customer (3-D Secure). */
        outcome = "declined";
        if (rv == APR_SUCCESS) {
            out.decline = "authentication_required";
        }
        soft = out.decline ? jklg_policy_decline_soft(out.decline) : 0;
    }
    else {
        outcome = "unknown";
    }
    ap_log_error(APLOG_MARK, strcmp(outcome, "succeeded") ? APLOG_WARNING
                                                          : APLOG_INFO,
                 rv, s, JKLGNO(02111) "balance job: transaction %s "
                 "(installment %s) off-session: %s%s%s%s%s",
                 ask.transaction_id, jklg_json_str(item, "installment_id"),
                 outcome, out.decline ? " " : "",
                 out.decline ? out.decline : "", err ? ": " : "",
                 err ? err : "");
    {
        const char *args[] = {ask.transaction_id, out.gateway_ref, outcome,
                              out.decline, soft ? "true" : "false",
                              BALANCE_MAX_ATTEMPTS, conf->public_url};
        job_call(s, db, p, "jklg_j_balance_settle", 7, args);
    }
}

/* A claim covers the slowest gateway that charges off-session. */
static apr_interval_time_t longest_charge(const jklg_server_conf_t *conf)
{
    apr_interval_time_t longest = 0, t;

    for (int i = 0; jklg_gateways[i]; i++) {
        t = jklg_gateway_call_timeout(jklg_gateways[i],
                                      jklg_gateway_conf(conf,
                                                        jklg_gateways[i]));
        if (jklg_gateways[i]->charge_off_session && t > longest) {
            longest = t;
        }
    }
    return longest;
}

void jklg_balance_sweep(server_rec *s, jklg_db_t *db, apr_pool_t *p)
{
    const jklg_server_conf_t *conf = jklg_conf(s);
    apr_interval_time_t call = longest_charge(conf);
    const char *args[] = {
        apr_ltoa(p, (long)apr_time_sec(call) + LEASE_MARGIN_SECONDS),
        BALANCE_MAX_ATTEMPTS, BALANCE_BATCH, conf->public_url
    };
    json_t *due = job_call(s, db, p, "jklg_j_balance_due", 4, args);
    const json_t *item;
    size_t i;

    json_array_foreach(json_object_get(due, "data"), i, item) {
        charge_one(s, db, p, conf, item);
    }
}
