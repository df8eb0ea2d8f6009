/* Money as Stripe counts it: integer minor units plus a lowercase ISO 4217
 * currency. Used to validate requests and to show amounts in emails and
 * audit text. */
#ifndef JKLG_MONEY_H
#define JKLG_MONEY_H

#include <apr_pools.h>
#include <jansson.h>

/* Largest amount accepted from a request, in minor units. Stripe takes at
 * most 8 digits for most currencies (999,999.99 EUR); a larger amount would
 * be refused by Stripe after the transaction row was written, so it is
 * refused up front. */
#define JKLG_AMOUNT_MAX 99999999

/* 1 when c is a lowercase three-letter code that Stripe accepts as a
 * presentment currency, 0 otherwise (NULL, uppercase, unknown). */
int jklg_currency_valid(const char *c);

/* Digits after the decimal point in Stripe's minor units: 0 for Stripe's
 * zero-decimal currencies (jpy, krw, ...), 3 for bhd jod kwd omr tnd, 2 for
 * every other code, including unknown ones. Case does not matter here. */
int jklg_currency_exponent(const char *c);

/* "1,234.50 EUR", "1,000 JPY", "12.345 KWD", "-5.00 USD". The whole int64
 * range formats without overflow. A NULL currency leaves the code out. */
const char *jklg_money_format(apr_pool_t *p, apr_int64_t minor,
                              const char *currency);

/* Amount given in a request: a JSON integer in 1..JKLG_AMOUNT_MAX.
 * APR_EINVAL for anything that is not an integer (reals such as 12.0,
 * strings, booleans, null, absent), APR_ERANGE for an integer out of range.
 * *out is written only on success. */
apr_status_t jklg_money_parse_amount(const json_t *v, apr_int64_t *out);

#endif
