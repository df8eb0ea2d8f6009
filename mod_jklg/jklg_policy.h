/* Travel payment arithmetic (issue 10), kept free of request_rec and the
 * database so that it is unit tested: the deposit of a percentage, the
 * checks of a cancellation policy's tiers, the tier that applies some days
 * before departure and the refund it gives. */
#ifndef JKLG_POLICY_H
#define JKLG_POLICY_H

#include <apr_pools.h>
#include <jansson.h>

/* Tiers per policy: more makes no sense and bounds the work. */
#define JKLG_POLICY_MAX_TIERS 20
/* Days before departure a tier may name (ten years). */
#define JKLG_POLICY_MAX_DAYS 3650

typedef struct {
    int min_days_before;                /* >= 0 */
    int refund_percent;                 /* 0..100 */
    apr_int64_t fee;                    /* minor units, >= 0 */
} jklg_tier_t;

/* percent (1..99) of total, rounded half up to the minor unit. Never
 * overflows for any total of the API (<= JKLG_AMOUNT_MAX). */
apr_int64_t jklg_policy_deposit(apr_int64_t total, int percent);

/* Reads {tiers: [...]} members from a JSON array: n tiers into out (at
 * most JKLG_POLICY_MAX_TIERS). NULL when valid, else the member path that
 * is wrong ("tiers" or "tiers[2].fee") in *key and the reason returned. */
const char *jklg_policy_parse(apr_pool_t *p, const json_t *tiers,
                              jklg_tier_t *out, int *n, const char **key);

/* The tier with the highest min_days_before <= days_left, or -1 (none:
 * too late, or travel has started). */
int jklg_policy_pick(const jklg_tier_t *tiers, int n, long days_left);

/* max(0, floor(paid_net * percent / 100) - fee). */
apr_int64_t jklg_policy_refund(apr_int64_t paid_net, int percent,
                               apr_int64_t fee);

/* Whether an off-session charge the bank declined with this code is
 * worth trying again another day (insufficient funds, a bank that was
 * down), rather than asking the customer at once (authentication
 * required, a lost, stolen or expired card). NULL (no code) counts as
 * soft. */
int jklg_policy_decline_soft(const char *decline);

#endif
