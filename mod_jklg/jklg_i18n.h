/* Languages of the emails: which language a customer's BCP 47 tag asks
 * for, and amounts and dates written the way that language writes them.
 * Pure functions: no request, no database. */
#ifndef JKLG_I18N_H
#define JKLG_I18N_H

#include <apr_pools.h>
#include <jansson.h>

/* The language of mail for customers without a usable preference, and the
 * language of the unprefixed templates (mod_jklg/templates/NAME.PART and
 * JKLGMailTemplates/NAME.PART). */
#define JKLG_LANG_DEFAULT "en"

/* NULL-terminated list of the languages with built-in templates:
 * en, pt, es, fr, de. */
const char *const *jklg_lang_builtins(void);

/* Non-zero when lang (already a primary subtag: "pt", not "pt-BR") has
 * built-in templates. */
int jklg_lang_is_builtin(const char *lang);

/* The primary language subtag of a BCP 47 tag, lowercased: "pt-BR" -> "pt",
 * "FR-ca" -> "fr", "de" -> "de". NULL when tag is NULL, empty or not of
 * the form letters{2,8}(-alnum{1,8})*, so that the result is always safe as
 * a directory name. */
const char *jklg_lang_primary(apr_pool_t *p, const char *tag);

/* The built-in language to write for tag: its primary subtag when that has
 * built-in templates, else JKLG_LANG_DEFAULT ("xx", "it", NULL -> "en"). */
const char *jklg_lang_pick(apr_pool_t *p, const char *tag);

/* An amount in minor units as lang writes it (lang as jklg_lang_pick gives
 * it; anything else is treated as en):
 *   en  "1,234.50 EUR" (unchanged from jklg_money_format)
 *   pt, es, de  "1.234,50 €"     fr  "1 234,50 €"
 * Outside en the separators before the currency and between thousands in
 * fr are no-break spaces (U+00A0), so an amount never wraps; eur and gbp
 * show their symbol (€, £), other currencies their upper-case code. */
const char *jklg_money_format_lang(apr_pool_t *p, apr_int64_t minor,
                                   const char *currency, const char *lang);

/* A date or UTC timestamp as lang writes it, from exactly "YYYY-MM-DD" or
 * "YYYY-MM-DDTHH:MM:SSZ" (what jklg_date(), jklg_ts() and
 * jklg_rfc3339_now() produce):
 *   en  "1 December 2026"          "1 December 2026, 10:00 UTC"
 *   pt  "1 de dezembro de 2026"    "1 de dezembro de 2026, 10:00 UTC"
 *   es  "1 de diciembre de 2026"   "1 de diciembre de 2026, 10:00 UTC"
 *   fr  "1er décembre 2026"        "1er décembre 2026 à 10:00 UTC"
 *   de  "1. Dezember 2026"         "1. Dezember 2026, 10:00 UTC"
 * NULL when iso is anything else, or names a day that does not exist. */
const char *jklg_date_format_lang(apr_pool_t *p, const char *iso,
                                  const char *lang);

/* The payment method the receipt names, in lang: "card", "cash" and
 * "bank transfer" (what sql/005's jklg_payment_emails() writes) are
 * translated; anything else, and every method in en, is returned as is. */
const char *jklg_payment_method_lang(const char *method, const char *lang);

/* Rewrites the template variables of one message for lang, in place:
 * every {"minor": integer, "currency": string} member becomes the amount
 * (jklg_money_format_lang), every string member that is a date or
 * timestamp as above becomes the date (jklg_date_format_lang), and
 * `payment_method` is translated (jklg_payment_method_lang). Other members
 * are left alone. */
void jklg_i18n_localize_vars(apr_pool_t *p, json_t *vars, const char *lang);

#endif
