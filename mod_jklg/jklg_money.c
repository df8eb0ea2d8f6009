#include <string.h>
#include <apr_strings.h>
#include <apr_lib.h>
#include "jklg_money.h"

/* Stripe's presentment currencies (stripe.com/docs/currencies, 2024), one
 * code every four characters so that membership is a fixed-stride scan.
 * A code missing here is refused before any transaction row exists;
 * update the list when Stripe adds currencies. */
static const char STRIPE_CURRENCIES[] =
    "aed afn all amd ang aoa ars aud awg azn bam bbd bdt bgn bhd bif "
    "bmd bnd bob brl bsd bwp byn bzd cad cdf chf clp cny cop crc cve "
    "czk djf dkk dop dzd egp etb eur fjd fkp gbp gel gip gmd gnf gtq "
    "gyd hkd hnl htg huf idr ils inr isk jmd jod jpy kes kgs khr kmf "
    "krw kwd kyd kzt lak lbp lkr lrd lsl mad mdl mga mkd mmk mnt mop "
    "mur mvr mwk mxn myr mzn nad ngn nio nok npr nzd omr pab pen pgk "
    "php pkr pln pyg qar ron rsd rub rwf sar sbd scr sek sgd shp sle "
    "sll sos srd std szl thb tjs tnd top try ttd twd tzs uah ugx usd "
    "uyu uzs vnd vuv wst xaf xcd xof xpf yer zar zmw ";

/* Stripe's own lists: amounts in these are not multiplied by 100 (or are
 * multiplied by 1000). */
static const char ZERO_DECIMAL[] =
    "bif clp djf gnf jpy kmf krw mga pyg rwf ugx vnd vuv xaf xof xpf ";
static const char THREE_DECIMAL[] = "bhd jod kwd omr tnd ";

static int in_list(const char *list, const char code[3])
{
    for (const char *s = list; *s; s += 4) {
        if (memcmp(s, code, 3) == 0) {
            return 1;
        }
    }
    return 0;
}

static int is_lower3(const char *c)
{
    return c && apr_islower(c[0]) && apr_islower(c[1]) && apr_islower(c[2])
           && c[3] == '\0';
}

int jklg_currency_valid(const char *c)
{
    return is_lower3(c) && in_list(STRIPE_CURRENCIES, c);
}

int jklg_currency_exponent(const char *c)
{
    char lower[4];

    if (c == NULL || strlen(c) != 3) {
        return 2;
    }
    for (int i = 0; i < 3; i++) {
        lower[i] = (char)apr_tolower(c[i]);
    }
    lower[3] = '\0';
    if (in_list(ZERO_DECIMAL, lower)) {
        return 0;
    }
    return in_list(THREE_DECIMAL, lower) ? 3 : 2;
}

/* Magnitude of an int64 without negating INT64_MIN, which has no positive
 * counterpart. */
static apr_uint64_t magnitude(apr_int64_t n)
{
    return n < 0 ? (apr_uint64_t)(-(n + 1)) + 1 : (apr_uint64_t)n;
}

/* Whole units with a comma every three digits, written backwards from the
 * end of buf. Returns where the text starts. */
static char *group_thousands(char *end, apr_uint64_t n)
{
    char *s = end;
    int digits = 0;

    *s = '\0';
    do {
        if (digits > 0 && digits % 3 == 0) {
            *--s = ',';
        }
        *--s = (char)('0' + n % 10);
        n /= 10;
        digits++;
    } while (n > 0);
    return s;
}

static const char *upper_code(apr_pool_t *p, const char *currency)
{
    char *u = apr_pstrdup(p, currency);

    for (char *c = u; *c; c++) {
        *c = (char)apr_toupper(*c);
    }
    return u;
}

const char *jklg_money_format(apr_pool_t *p, apr_int64_t minor,
                              const char *currency)
{
    /* 20 digits of UINT64_MAX plus 6 commas and the terminator. */
    char whole[32];
    apr_uint64_t mag = magnitude(minor), scale = 1;
    int exponent = jklg_currency_exponent(currency);
    const char *units, *text;

    for (int i = 0; i < exponent; i++) {
        scale *= 10;
    }
    units = group_thousands(whole + sizeof(whole) - 1, mag / scale);
    if (exponent > 0) {
        text = apr_psprintf(p, "%s%s.%0*" APR_UINT64_T_FMT,
                            minor < 0 ? "-" : "", units, exponent,
                            mag % scale);
    }
    else {
        text = apr_pstrcat(p, minor < 0 ? "-" : "", units, NULL);
    }
    if (currency == NULL) {
        return text;
    }
    return apr_pstrcat(p, text, " ", upper_code(p, currency), NULL);
}

apr_status_t jklg_money_parse_amount(const json_t *v, apr_int64_t *out)
{
    json_int_t n;

    if (!json_is_integer(v)) {
        return APR_EINVAL;
    }
    n = json_integer_value(v);
    if (n <= 0 || n > JKLG_AMOUNT_MAX) {
        return APR_ERANGE;
    }
    *out = (apr_int64_t)n;
    return APR_SUCCESS;
}
