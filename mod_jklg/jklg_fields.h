/* Checks of the money and travel fields staff send (bookings, refunds,
 * manual payments): amounts, currencies, dates, payment schedules, and the
 * booking reference made when staff give none. Same conventions as
 * jklg_validate.h: a problem is recorded in the check's fields, and the
 * usable value is returned as the text the SQL call takes. */
#ifndef JKLG_FIELDS_H
#define JKLG_FIELDS_H

#include "jklg_validate.h"

/* A positive whole number of minor units, 1..JKLG_AMOUNT_MAX. */
const char *jklg_check_amount(jklg_check_t *c, const char *key,
                              unsigned flags);
/* Required; a lowercase currency code the gateways accept (jklg_money). */
const char *jklg_check_currency(jklg_check_t *c, const char *key);
/* Required; YYYY-MM-DD, a real calendar day. */
const char *jklg_check_date(jklg_check_t *c, const char *key);
/* The optional "schedule" {deposit_amount | deposit_percent,
 * balance_due_days} of a booking of `total` minor units (NULL: total
 * failed its own check): the deposit in minor units, or NULL (no
 * schedule, or a problem recorded), and *due_days. */
const char *jklg_check_schedule(jklg_check_t *c, const char *total,
                                const char **due_days);
/* "JK-" and 8 characters without look-alikes (no 0/O, 1/I). */
const char *jklg_booking_reference(apr_pool_t *p);

#endif
