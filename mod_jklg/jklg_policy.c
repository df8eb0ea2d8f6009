/* Deposit rounding, cancellation tiers and refunds: see jklg_policy.h. */
#include <string.h>
#include <apr_strings.h>
#include "jklg_money.h"
#include "jklg_policy.h"

/* Split to keep total * percent far from the int64 limit. */
apr_int64_t jklg_policy_deposit(apr_int64_t total, int percent)
{
    return total / 100 * percent + ((total % 100) * percent + 50) / 100;
}

/* A JSON integer within [lo, hi], else 0. */
static int int_in(const json_t *v, json_int_t lo, json_int_t hi,
                  json_int_t *out)
{
    if (!json_is_integer(v)) {
        return 0;
    }
    *out = json_integer_value(v);
    return *out >= lo && *out <= hi;
}

const char *jklg_policy_parse(apr_pool_t *p, const json_t *tiers,
                              jklg_tier_t *out, int *n, const char **key)
{
    static const char *const members[] = {"min_days_before",
                                          "refund_percent", "fee", NULL};
    const json_t *tier;
    json_int_t v;
    size_t i;

    *n = 0;
    *key = "tiers";
    if (!json_is_array(tiers)) {
        return "must be a list of tiers";
    }
    if (json_array_size(tiers) == 0) {
        return "must hold at least one tier";
    }
    if (json_array_size(tiers) > JKLG_POLICY_MAX_TIERS) {
        return apr_psprintf(p, "must hold at most %d tiers",
                            JKLG_POLICY_MAX_TIERS);
    }
    json_array_foreach(tiers, i, tier) {
        const char *k, *at = apr_psprintf(p, "tiers[%lu]", (unsigned long)i);
        json_t *member;

        *key = at;
        if (!json_is_object(tier)) {
            return "must be an object {min_days_before, refund_percent, fee}";
        }
        json_object_foreach((json_t *)tier, k, member) {
            int known = 0;
            for (int m = 0; members[m]; m++) {
                known |= !strcmp(k, members[m]);
            }
            if (!known) {
                *key = apr_pstrcat(p, at, ".", k, NULL);
                return "is not a member of a tier";
            }
        }
        *key = apr_pstrcat(p, at, ".min_days_before", NULL);
        if (!int_in(json_object_get(tier, "min_days_before"), 0,
                    JKLG_POLICY_MAX_DAYS, &v)) {
            return apr_psprintf(p, "must be a whole number of days from 0 "
                                "to %d", JKLG_POLICY_MAX_DAYS);
        }
        out[i].min_days_before = (int)v;
        *key = apr_pstrcat(p, at, ".refund_percent", NULL);
        if (!int_in(json_object_get(tier, "refund_percent"), 0, 100, &v)) {
            return "must be a whole percentage from 0 to 100";
        }
        out[i].refund_percent = (int)v;
        *key = apr_pstrcat(p, at, ".fee", NULL);
        if (!int_in(json_object_get(tier, "fee"), 0, JKLG_AMOUNT_MAX, &v)) {
            return "must be a whole number of minor units, 0 or more";
        }
        out[i].fee = v;
        for (size_t j = 0; j < i; j++) {
            if (out[j].min_days_before == out[i].min_days_before) {
                *key = apr_pstrcat(p, at, ".min_days_before", NULL);
                return "must differ from every other tier's";
            }
        }
        (*n)++;
    }
    *key = NULL;
    return NULL;
}

int jklg_policy_pick(const jklg_tier_t *tiers, int n, long days_left)
{
    int best = -1;

    for (int i = 0; i < n; i++) {
        if (tiers[i].min_days_before <= days_left
            && (best < 0
                || tiers[i].min_days_before > tiers[best].min_days_before)) {
            best = i;
        }
    }
    return best;
}

apr_int64_t jklg_policy_refund(apr_int64_t paid_net, int percent,
                               apr_int64_t fee)
{
    apr_int64_t share;

    if (paid_net <= 0) {
        return 0;
    }
    /* floor(paid_net * percent / 100) without overflow. */
    share = paid_net / 100 * percent + (paid_net % 100) * percent / 100;
    return share > fee ? share - fee : 0;
}

int jklg_policy_decline_soft(const char *decline)
{
    static const char *const soft[] = {
        "insufficient_funds", "try_again_later", "processing_error",
        "issuer_not_available", "generic_decline", "do_not_honor",
        "card_velocity_exceeded", "withdrawal_count_limit_exceeded",
        "reenter_transaction", "approve_with_id", "no_action_taken",
        NULL
    };

    if (decline == NULL) {
        return 1;
    }
    for (int i = 0; soft[i]; i++) {
        if (!strcmp(decline, soft[i])) {
            return 1;
        }
    }
    return 0;
}
