/* Languages of the emails: picking one, and money and dates per language. */
#include <string.h>

#include <apr_strings.h>
#include <apr_lib.h>

#include "jklg_i18n.h"
#include "jklg_money.h"

/* U+00A0: keeps "1.234,50 €" and "1 234,50" on one line. */
#define NBSP "\xc2\xa0"

static const char *const builtin_langs[] = {"en", "pt", "es", "fr", "de", NULL};

/* Month names as each language writes them inside a date (lower case in
 * pt, es and fr, where months are not capitalised). */
static const struct {
    const char *lang;
    const char *months[12];
} month_names[] = {
    {"en", {"January", "February", "March", "April", "May", "June", "July",
            "August", "September", "October", "November", "December"}},
    {"pt", {"janeiro", "fevereiro", "mar\xc3\xa7o", "abril", "maio", "junho",
            "julho", "agosto", "setembro", "outubro", "novembro",
            "dezembro"}},
    {"es", {"enero", "febrero", "marzo", "abril", "mayo", "junio", "julio",
            "agosto", "septiembre", "octubre", "noviembre", "diciembre"}},
    {"fr", {"janvier", "f\xc3\xa9vrier", "mars", "avril", "mai", "juin",
            "juillet", "ao\xc3\xbbt", "septembre", "octobre", "novembre",
            "d\xc3\xa9" "cembre"}},
    {"de", {"Januar", "Februar", "M\xc3\xa4rz", "April", "Mai", "Juni", "Juli",
            "August", "September", "Oktober", "November", "Dezember"}},
};

/* The values a receipt's `payment_method` takes: a gateway's own word
 * (jklg_gateway_t.method, "card") and staff's manual methods (api.md: cash,
 * bank_transfer, written with a space). */
static const struct {
    const char *en;
    const char *tr[4];      /* pt, es, fr, de */
} payment_methods[] = {
    {"card", {"cart\xc3\xa3o", "tarjeta", "carte bancaire", "Karte"}},
    {"cash", {"dinheiro", "efectivo", "esp\xc3\xa8" "ces", "Barzahlung"}},
    {"bank transfer", {"transfer\xc3\xaancia banc\xc3\xa1ria",
                       "transferencia bancaria", "virement bancaire",
                       "Bank\xc3\xbc" "berweisung"}},
};

const char *const *jklg_lang_builtins(void)
{
    return builtin_langs;
}

int jklg_lang_is_builtin(const char *lang)
{
    const char *const *l;

    if (lang == NULL) {
        return 0;
    }
    for (l = builtin_langs; *l; l++) {
        if (strcmp(*l, lang) == 0) {
            return 1;
        }
    }
    return 0;
}

/* Length of the run of ASCII letters (digits too when alnum) at s. */
static apr_size_t run_length(const char *s, int alnum)
{
    apr_size_t n = 0;

    while (apr_isascii(s[n])
           && (alnum ? apr_isalnum(s[n]) : apr_isalpha(s[n]))) {
        n++;
    }
    return n;
}

const char *jklg_lang_primary(apr_pool_t *p, const char *tag)
{
    apr_size_t primary, sub;
    const char *c;
    char *out;

    if (tag == NULL) {
        return NULL;
    }
    primary = run_length(tag, 0);
    if (primary < 2 || primary > 8) {
        return NULL;
    }
    /* The rest must be well-formed too: a tag that is not one is not a
     * preference to honour ("de/../x", "en\n"). */
    for (c = tag + primary; *c; c += sub) {
        if (*c++ != '-') {
            return NULL;
        }
        sub = run_length(c, 1);
        if (sub < 1 || sub > 8) {
            return NULL;
        }
    }
    out = apr_pstrmemdup(p, tag, primary);
    for (char *o = out; *o; o++) {
        *o = (char)apr_tolower(*o);
    }
    return out;
}

const char *jklg_lang_pick(apr_pool_t *p, const char *tag)
{
    const char *primary = jklg_lang_primary(p, tag);

    return jklg_lang_is_builtin(primary) ? primary : JKLG_LANG_DEFAULT;
}

/* Currencies whose symbol is unambiguous across the five languages; for
 * the others ("$" is a dozen currencies) the code says more. */
static const char *currency_sign(apr_pool_t *p, const char *currency)
{
    char *code;

    if (strcmp(currency, "eur") == 0) {
        return "\xe2\x82\xac";
    }
    if (strcmp(currency, "gbp") == 0) {
        return "\xc2\xa3";
    }
    code = apr_pstrdup(p, currency);
    for (char *c = code; *c; c++) {
        *c = (char)apr_toupper(*c);
    }
    return code;
}

const char *jklg_money_format_lang(apr_pool_t *p, apr_int64_t minor,
                                   const char *currency, const char *lang)
{
    const char *number, *thousands;
    apr_size_t len;
    char *out, *o;

    if (lang == NULL || !jklg_lang_is_builtin(lang)
        || strcmp(lang, "en") == 0) {
        return jklg_money_format(p, minor, currency);
    }
    /* "1,234.50 EUR" from the one formatter that knows each currency's
     * decimals and the whole int64 range; its number, separators swapped. */
    number = jklg_money_format(p, minor, currency);
    if (currency != NULL) {
        number = apr_pstrmemdup(p, number, strrchr(number, ' ') - number);
    }
    thousands = strcmp(lang, "fr") == 0 ? NBSP : ".";
    len = strlen(number);
    out = o = apr_palloc(p, len * 2 + 1);
    for (const char *c = number; *c; c++) {
        if (*c == ',') {
            memcpy(o, thousands, strlen(thousands));
            o += strlen(thousands);
        }
        else {
            *o++ = *c == '.' ? ',' : *c;
        }
    }
    *o = '\0';
    if (currency == NULL) {
        return out;
    }
    return apr_pstrcat(p, out, NBSP, currency_sign(p, currency), NULL);
}

/* Parses exactly n digits at s. */
static int digits(const char *s, int n, int *out)
{
    int v = 0;

    for (int i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') {
            return 0;
        }
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return 1;
}

static int days_in_month(int year, int month)
{
    static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;

    return month == 2 && leap ? 29 : days[month - 1];
}

static const char *const *months_of(const char *lang)
{
    for (apr_size_t i = 0; i < sizeof(month_names) / sizeof(month_names[0]);
         i++) {
        if (lang && strcmp(month_names[i].lang, lang) == 0) {
            return month_names[i].months;
        }
    }
    return month_names[0].months;
}

const char *jklg_date_format_lang(apr_pool_t *p, const char *iso,
                                  const char *lang)
{
    int year, month, day, hour = 0, minute = 0, second = 0, with_time;
    const char *const *months;
    const char *date, *name;
    apr_size_t len;

    if (iso == NULL) {
        return NULL;
    }
    len = strlen(iso);
    with_time = len == 20;
    if ((len != 10 && !with_time)
        || !digits(iso, 4, &year) || iso[4] != '-'
        || !digits(iso + 5, 2, &month) || iso[7] != '-'
        || !digits(iso + 8, 2, &day)) {
        return NULL;
    }
    if (with_time && (iso[10] != 'T' || !digits(iso + 11, 2, &hour)
                      || iso[13] != ':' || !digits(iso + 14, 2, &minute)
                      || iso[16] != ':' || !digits(iso + 17, 2, &second)
                      || iso[19] != 'Z' || hour > 23 || minute > 59
                      || second > 60)) {
        return NULL;
    }
    if (month < 1 || month > 12 || day < 1
        || day > days_in_month(year, month)) {
        return NULL;
    }
    if (!jklg_lang_is_builtin(lang)) {
        lang = JKLG_LANG_DEFAULT;
    }
    months = months_of(lang);
    name = months[month - 1];
    if (strcmp(lang, "pt") == 0 || strcmp(lang, "es") == 0) {
        date = apr_psprintf(p, "%d de %s de %d", day, name, year);
    }
    else if (strcmp(lang, "fr") == 0) {
        /* French writes the first of the month as an ordinal: 1er. */
        date = apr_psprintf(p, "%d%s %s %d", day, day == 1 ? "er" : "", name,
                            year);
    }
    else if (strcmp(lang, "de") == 0) {
        date = apr_psprintf(p, "%d. %s %d", day, name, year);
    }
    else {
        date = apr_psprintf(p, "%d %s %d", day, name, year);
    }
    if (!with_time) {
        return date;
    }
    return apr_psprintf(p, "%s%s%02d:%02d UTC", date,
                        strcmp(lang, "fr") == 0 ? " \xc3\xa0 " : ", ",
                        hour, minute);
}

const char *jklg_payment_method_lang(const char *method, const char *lang)
{
    static const char *const order[] = {"pt", "es", "fr", "de"};

    for (size_t i = 0; method && lang && i < 4; i++) {
        if (strcmp(order[i], lang) != 0) {
            continue;
        }
        for (size_t m = 0; m < sizeof(payment_methods)
                               / sizeof(payment_methods[0]); m++) {
            if (strcmp(payment_methods[m].en, method) == 0) {
                return payment_methods[m].tr[i];
            }
        }
    }
    return method;
}

void jklg_i18n_localize_vars(apr_pool_t *p, json_t *vars, const char *lang)
{
    const char *key, *text;
    json_t *value;

    json_object_foreach(vars, key, value) {
        if (json_is_object(value)) {
            json_t *minor = json_object_get(value, "minor");
            const char *currency = json_string_value(
                json_object_get(value, "currency"));

            if (json_is_integer(minor) && currency) {
                json_object_set_new(vars, key, json_string(
                    jklg_money_format_lang(p, json_integer_value(minor),
                                           currency, lang)));
            }
        }
        else if (json_is_string(value)
                 && (text = jklg_date_format_lang(p, json_string_value(value),
                                                  lang)) != NULL) {
            json_object_set_new(vars, key, json_string(text));
        }
        else if (strcmp(key, "payment_method") == 0 && json_is_string(value)) {
            json_object_set_new(vars, key, json_string(
                jklg_payment_method_lang(json_string_value(value), lang)));
        }
    }
}
