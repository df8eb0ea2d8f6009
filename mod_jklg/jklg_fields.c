/* Checks of the money and travel fields staff send (jklg_fields.h). */
#include <stdlib.h>
#include <string.h>
#include <sodium.h>
#include <apr_strings.h>
#include "jklg_fields.h"
#include "jklg_money.h"
#include "jklg_policy.h"

#define REFERENCE_CHARS "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"

/* JSON amount: a positive integer of minor units. */
const char *jklg_check_amount(jklg_check_t *c, const char *key,
                                unsigned flags)
{
    const json_t *v = json_object_get(c->body, key);
    apr_int64_t amount;

    if (!v) {
        if (flags & JKLG_REQUIRED) {
            jklg_check_fail(c, key, "is required");
        }
        return NULL;
    }
    if (jklg_money_parse_amount(v, &amount) != APR_SUCCESS) {
        jklg_check_fail(c, key, "must be a positive whole number of the "
                        "currency's smallest unit (cents)");
        return NULL;
    }
    return apr_psprintf(c->p, "%" APR_INT64_T_FMT, amount);
}

const char *jklg_check_currency(jklg_check_t *c, const char *key)
{
    const char *cur = jklg_check_raw(c, key, JKLG_REQUIRED);

    if (cur && !jklg_currency_valid(cur)) {
        jklg_check_fail(c, key, "must be a lowercase ISO 4217 code the "
                        "payment gateways accept, e.g. eur");
        return NULL;
    }
    return cur;
}

const char *jklg_check_date(jklg_check_t *c, const char *key)
{
    const char *d = jklg_check_raw(c, key, JKLG_REQUIRED);

    if (d && !jklg_is_date(d)) {
        jklg_check_fail(c, key, "must be a date YYYY-MM-DD");
        return NULL;
    }
    return d;
}

const char *jklg_booking_reference(apr_pool_t *p)
{
    char ref[12] = "JK-";

    for (int i = 3; i < 11; i++) {
        ref[i] = REFERENCE_CHARS[randombytes_uniform(
            sizeof(REFERENCE_CHARS) - 1)];
    }
    ref[11] = '\0';
    return apr_pstrdup(p, ref);
}

/* A JSON integer within [lo, hi] as text, else NULL after failing key. */
static const char *check_int(jklg_check_t *c, const json_t *v,
                             const char *key, json_int_t lo, json_int_t hi,
                             const char *message)
{
    if (!json_is_integer(v) || json_integer_value(v) < lo
        || json_integer_value(v) > hi) {
        jklg_check_fail(c, key, message);
        return NULL;
    }
    return apr_psprintf(c->p, "%" APR_INT64_T_FMT,
                       (apr_int64_t)json_integer_value(v));
}

/* schedule: {deposit_amount | deposit_percent, balance_due_days}: the
 * deposit in minor units (NULL: no schedule, or a field failed) and the
 * days before departure the balance is due. The deposit leaves something
 * to pay later and is something itself. */
const char *jklg_check_schedule(jklg_check_t *c, const char *total,
                                  const char **due_days)
{
    const json_t *sch = json_object_get(c->body, "schedule");
    const json_t *amount, *percent, *days;
    apr_int64_t deposit = 0, whole = total ? apr_atoi64(total) : 0;
    const char *d;

    *due_days = NULL;
    if (!sch || json_is_null(sch)) {
        return NULL;
    }
    if (!json_is_object(sch)) {
        jklg_check_fail(c, "schedule", "must be an object {deposit_amount or "
                        "deposit_percent, balance_due_days}");
        return NULL;
    }
    {
        const char *k;
        json_t *v;
        json_object_foreach((json_t *)sch, k, v) {
            if (strcmp(k, "deposit_amount") && strcmp(k, "deposit_percent")
                && strcmp(k, "balance_due_days")) {
                jklg_check_fail(c, apr_pstrcat(c->p, "schedule.", k, NULL),
                                "is not a schedule member");
            }
        }
    }
    amount = json_object_get(sch, "deposit_amount");
    percent = json_object_get(sch, "deposit_percent");
    days = json_object_get(sch, "balance_due_days");
    if (days) {
        *due_days = check_int(c, days, "schedule.balance_due_days", 0,
                              JKLG_POLICY_MAX_DAYS, apr_psprintf(c->p,
                              "must be a whole number of days from 0 to %d",
                              JKLG_POLICY_MAX_DAYS));
    }
    if (amount && percent) {
        jklg_check_fail(c, "schedule.deposit_amount", "give deposit_amount "
                        "or deposit_percent, not both");
        return NULL;
    }
    if (!amount && !percent) {
        jklg_check_fail(c, "schedule.deposit_amount", "give deposit_amount "
                        "or deposit_percent");
        return NULL;
    }
    if (percent) {
        if (!(d = check_int(c, percent, "schedule.deposit_percent", 1, 99,
                            "must be a whole percentage from 1 to 99"))) {
            return NULL;
        }
        deposit = jklg_policy_deposit(whole, atoi(d));
        if (total && (deposit <= 0 || deposit >= whole)) {
            jklg_check_fail(c, "schedule.deposit_percent", "leaves no "
                            "deposit or no balance of this amount_total");
            return NULL;
        }
    }
    else {
        if (!(d = check_int(c, amount, "schedule.deposit_amount", 1,
                            JKLG_AMOUNT_MAX, "must be a positive whole "
                            "number of minor units"))) {
            return NULL;
        }
        deposit = apr_atoi64(d);
        if (total && deposit >= whole) {
            jklg_check_fail(c, "schedule.deposit_amount", "must be less "
                            "than amount_total");
            return NULL;
        }
    }
    return total ? apr_psprintf(c->p, "%" APR_INT64_T_FMT, deposit) : NULL;
}
