/* Stripe's REST client: form-encoded requests, JSON answers, retries
 * under one Idempotency-Key and one deadline, and errors that are safe to
 * log. The operations built on it are in jklg_gateway_stripe.c. */
#include <stdlib.h>
#include <string.h>
#include <apr_lib.h>
#include <apr_strings.h>
#include <jansson.h>
#include <sodium.h>
#include "jklg_curl.h"
#include "jklg_json.h"
#include "jklg_stripe.h"

#ifndef JKLG_VERSION
#define JKLG_VERSION "dev"
#endif

#define DEFAULT_TIMEOUT apr_time_from_sec(30)
/* A blackholed address must leave time for another attempt. */
#define CONNECT_TIMEOUT_MAX_MS 10000L
/* curl reads 0 ms as "no timeout": below this, the deadline has passed. */
#define ATTEMPT_MIN apr_time_from_msec(1)
#define BACKOFF_BASE apr_time_from_msec(250)
#define BACKOFF_MAX apr_time_from_sec(2)
/* Stripe objects are a few kB; anything far larger is not Stripe. */
#define REPLY_MAX (1024 * 1024)

/* Tabs are blanks in a header (around a signature's t); any other control
 * byte means it is not what Stripe sent, or would start a header of the
 * caller's choosing in a request. */
int jklg_stripe_text_ok(const char *s)
{
    for (; *s; s++) {
        if ((unsigned char)*s < ' ' && *s != '\t') {
            return 0;
        }
        if (*s == 0x7f) {
            return 0;
        }
    }
    return 1;
}

/* ---- requests ----------------------------------------------------------- */

static int unreserved(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z')
           || (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_'
           || c == '~';
}

static const char *form_escape(apr_pool_t *p, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    char *out = apr_palloc(p, strlen(s) * 3 + 1), *o = out;

    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;

        if (unreserved(c)) {
            *o++ = (char)c;
        }
        else {
            *o++ = '%';
            *o++ = hex[c >> 4];
            *o++ = hex[c & 15];
        }
    }
    *o = '\0';
    return out;
}

const char *jklg_stripe_form_pair(apr_pool_t *p, const char *key,
                                  const char *value)
{
    return apr_pstrcat(p, form_escape(p, key), "=", form_escape(p, value),
                       NULL);
}

const char *jklg_stripe_truncate(apr_pool_t *p, const char *s,
                                 apr_size_t max)
{
    apr_size_t chars = 0;
    const char *c;

    for (c = s; *c; c++) {
        /* Continuation bytes (10xxxxxx) belong to the character before. */
        if (((unsigned char)*c & 0xC0) != 0x80 && chars++ == max) {
            break;
        }
    }
    return apr_pstrmemdup(p, s, (apr_size_t)(c - s));
}

/* Leaves out absent values, so that optional fields need no branches at
 * the call sites. */
void jklg_stripe_form_add(apr_array_header_t *form, const char *key,
                     const char *value)
{
    if (value != NULL) {
        APR_ARRAY_PUSH(form, const char *) =
            jklg_stripe_form_pair(form->pool, key, value);
    }
}

const char *jklg_stripe_amount(apr_pool_t *p, apr_int64_t amount)
{
    return apr_psprintf(p, "%" APR_INT64_T_FMT, amount);
}

/* ---- responses ---------------------------------------------------------- */

typedef struct {
    const char *from;
    const char *to;
} status_map_t;

static const status_map_t PAYMENT_STATUS[] = {
    {"requires_payment_method", "requires_payment"},
    {"requires_confirmation", "requires_payment"},
    {"requires_action", "requires_payment"},
    {"processing", "processing"},
    {"requires_capture", "processing"},
    {"succeeded", "succeeded"},
    {"canceled", "canceled"},
    {NULL, NULL}
};

/* requires_action: the customer has to do something (e.g. a bank
 * redirect) before the money moves; for us the refund is still pending. */
static const status_map_t REFUND_STATUS[] = {
    {"pending", "pending"},
    {"requires_action", "pending"},
    {"succeeded", "succeeded"},
    {"failed", "failed"},
    {"canceled", "canceled"},
    {NULL, NULL}
};

static const char *map_status(const status_map_t *map, const char *s)
{
    for (; s && map->from; map++) {
        if (strcmp(map->from, s) == 0) {
            return map->to;
        }
    }
    return NULL;
}

const char *jklg_stripe_payment_status(const char *stripe_status)
{
    return map_status(PAYMENT_STATUS, stripe_status);
}

const char *jklg_stripe_refund_status(const char *stripe_status)
{
    return map_status(REFUND_STATUS, stripe_status);
}

int jklg_stripe_retryable(CURLcode rc, long status, int hint)
{
    if (rc != CURLE_OK) {
        return jklg_curl_transient(rc);
    }
    if (status >= 200 && status < 300) {
        return 0;
    }
    if (hint != JKLG_STRIPE_HINT_NONE) {
        return hint;
    }
    return status == 409 || status == 429 || status >= 500;
}

apr_interval_time_t jklg_stripe_backoff(int n, double fraction)
{
    apr_interval_time_t base = BACKOFF_BASE;

    for (int i = 0; i < n && base < BACKOFF_MAX; i++) {
        base *= 2;
    }
    if (base > BACKOFF_MAX) {
        base = BACKOFF_MAX;
    }
    if (!(fraction >= 0.0)) {
        fraction = 0.0;     /* also NaN */
    }
    if (fraction > 1.0) {
        fraction = 1.0;
    }
    return (apr_interval_time_t)((double)base * (0.5 + fraction / 2.0));
}

json_t *jklg_stripe_load_object(apr_pool_t *p, const char *body,
                                apr_size_t len)
{
    json_t *j;

    if (body == NULL || len == 0) {
        return NULL;
    }
    j = jklg_json_own(p, json_loadb(body, len, JSON_REJECT_DUPLICATES, NULL));
    return json_is_object(j) ? j : NULL;
}

/* Stripe's codes are snake_case identifiers; anything else in their place
 * is dropped rather than copied into logs. */
static const char *safe_code(apr_pool_t *p, const char *s)
{
    apr_size_t n = 0;

    if (s == NULL) {
        return NULL;
    }
    while (s[n] && n <= 64
           && (apr_islower(s[n]) || apr_isdigit(s[n]) || s[n] == '_')) {
        n++;
    }
    return n > 0 && n <= 64 && s[n] == '\0' ? apr_pstrdup(p, s) : NULL;
}

static const char *after_attempts(apr_pool_t *p, int attempts)
{
    return attempts > 1 ? apr_psprintf(p, " after %d attempts", attempts)
                        : "";
}

const char *jklg_stripe_error_text(apr_pool_t *p, long status,
                                   const char *body, apr_size_t len,
                                   int attempts)
{
    json_t *e = json_object_get(jklg_stripe_load_object(p, body, len),
                                "error");
    const char *code = safe_code(p, jklg_json_str(e, "code"));
    const char *decline = safe_code(p, jklg_json_str(e, "decline_code"));

    if (code == NULL) {
        code = safe_code(p, jklg_json_str(e, "type"));
    }
    if (code == NULL) {
        return apr_psprintf(p, "stripe: HTTP %ld%s", status,
                            after_attempts(p, attempts));
    }
    if (decline) {
        code = apr_pstrcat(p, code, "/", decline, NULL);
    }
    return apr_psprintf(p, "stripe: %s (%ld)%s", code, status,
                        after_attempts(p, attempts));
}

/* ---- shared by the Stripe files ---------------------------------------- */

/* Header values are built from these: a CR or LF would start a header of
 * the caller's choosing. */
int jklg_stripe_header_safe(const char *s)
{
    return s && *s && jklg_stripe_text_ok(s);
}

apr_status_t jklg_stripe_check_configured(const jklg_stripe_conf_t *conf,
                                          const char **err)
{
    if (conf == NULL || conf->secret_key == NULL || !*conf->secret_key) {
        *err = "stripe: not configured (no secret key)";
        return APR_ENOTIMPL;
    }
    if (!jklg_stripe_header_safe(conf->secret_key)) {
        *err = "stripe: the secret key contains invalid characters";
        return APR_EINVAL;
    }
    return APR_SUCCESS;
}

const char *jklg_stripe_str(apr_pool_t *p, const json_t *obj,
                            const char *key)
{
    const char *s = jklg_json_str(obj, key);

    return s && *s ? apr_pstrdup(p, s) : NULL;
}

/* Stripe ids are [A-Za-z0-9_]: anything else cannot go into a path. */
int jklg_stripe_id_ok(const char *id)
{
    if (!id || !*id) {
        return 0;
    }
    for (; *id; id++) {
        if (!apr_isalnum(*id) && *id != '_') {
            return 0;
        }
    }
    return 1;
}

/* ---- HTTP client -------------------------------------------------------- */

static size_t collect_body(char *data, size_t size, size_t nmemb, void *ctx)
{
    jklg_stripe_reply_t *r = ctx;
    size_t n = size * nmemb;

    if (n > REPLY_MAX - r->len) {
        return 0;                   /* curl fails with CURLE_WRITE_ERROR */
    }
    if (r->len + n + 1 > r->cap) {
        apr_size_t cap = r->cap ? r->cap : 4096;
        char *grown;

        while (cap < r->len + n + 1) {
            cap *= 2;
        }
        grown = apr_palloc(r->p, cap);
        if (r->len) {
            memcpy(grown, r->body, r->len);
        }
        r->body = grown;
        r->cap = cap;
    }
    memcpy(r->body + r->len, data, n);
    r->len += n;
    r->body[r->len] = '\0';
    return n;
}

static int parse_hint(const char *v, size_t n)
{
    while (n > 0 && (*v == ' ' || *v == '\t')) {
        v++;
        n--;
    }
    while (n > 0 && apr_isspace(v[n - 1])) {
        n--;
    }
    if (n == 4 && strncasecmp(v, "true", 4) == 0) {
        return 1;
    }
    if (n == 5 && strncasecmp(v, "false", 5) == 0) {
        return 0;
    }
    return JKLG_STRIPE_HINT_NONE;
}

static size_t read_header(char *line, size_t size, size_t nmemb, void *ctx)
{
    static const char name[] = "Stripe-Should-Retry:";
    jklg_stripe_reply_t *r = ctx;
    size_t n = size * nmemb, nlen = sizeof(name) - 1;

    if (n >= 5 && strncmp(line, "HTTP/", 5) == 0) {
        r->hint = JKLG_STRIPE_HINT_NONE;    /* a new response begins */
    }
    else if (n > nlen && strncasecmp(line, name, nlen) == 0) {
        r->hint = parse_hint(line + nlen, n - nlen);
    }
    return n;
}

static apr_status_t slist_cleanup(void *data)
{
    curl_slist_free_all(data);
    return APR_SUCCESS;
}

/* The same list for every attempt: the Idempotency-Key must not change
 * between retries, or Stripe would take a retry for a second payment. */
static struct curl_slist *request_headers(apr_pool_t *p,
                                          const jklg_stripe_conf_t *conf,
                                          const jklg_stripe_call_t *call)
{
    const char *lines[] = {
        apr_pstrcat(p, "Authorization: Bearer ", conf->secret_key, NULL),
        "Stripe-Version: " JKLG_STRIPE_API_VERSION,
        "Content-Type: application/x-www-form-urlencoded",
        "Accept: application/json",
        /* No "Expect: 100-continue" for longer bodies: a wasted round
         * trip, or a second's stall with servers that ignore it. */
        "Expect:",
        /* GETs are idempotent as they are. */
        call->idempotency_key
            ? apr_pstrcat(p, "Idempotency-Key: ", call->idempotency_key, NULL)
            : NULL,
    };
    struct curl_slist *list = NULL;

    for (apr_size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++) {
        if (lines[i] && !jklg_slist_add(&list, lines[i])) {
            curl_slist_free_all(list);
            return NULL;
        }
    }
    apr_pool_cleanup_register(p, list, slist_cleanup, apr_pool_cleanup_null);
    return list;
}

static CURLcode set_options(CURL *c, const char *url,
                            struct curl_slist *headers,
                            const jklg_stripe_call_t *call,
                            jklg_stripe_reply_t *r, apr_interval_time_t left)
{
    long total_ms = (long)apr_time_as_msec(left);
    long connect_ms = total_ms < CONNECT_TIMEOUT_MAX_MS
                      ? total_ms : CONNECT_TIMEOUT_MAX_MS;
    CURLcode rc;

    if ((rc = jklg_curl_setup(c, url, "https,http", connect_ms, total_ms,
                              r->errbuf))
        || (rc = curl_easy_setopt(c, CURLOPT_TCP_KEEPALIVE, 1L))
        || (rc = curl_easy_setopt(c, CURLOPT_USERAGENT,
                                  "mod_jklg/" JKLG_VERSION))
        || (rc = curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers))
        || (rc = curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect_body))
        || (rc = curl_easy_setopt(c, CURLOPT_WRITEDATA, r))
        || (rc = curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, read_header))
        || (rc = curl_easy_setopt(c, CURLOPT_HEADERDATA, r))) {
        return rc;
    }
    if (!call->form) {
        return curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
    }
    if ((rc = curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE,
                               (curl_off_t)strlen(call->form)))
        || (rc = curl_easy_setopt(c, CURLOPT_POSTFIELDS, call->form))) {
        return rc;
    }
    return CURLE_OK;
}

static void attempt(CURL *c, const char *url, struct curl_slist *headers,
                    const jklg_stripe_call_t *call, jklg_stripe_reply_t *r,
                    apr_interval_time_t left)
{
    r->len = 0;
    r->status = 0;
    r->hint = JKLG_STRIPE_HINT_NONE;
    r->errbuf[0] = '\0';
    curl_easy_reset(c);
    r->rc = set_options(c, url, headers, call, r, left);
    if (r->rc == CURLE_OK) {
        r->rc = curl_easy_perform(c);
    }
    if (r->rc == CURLE_OK) {
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
    }
    r->attempts++;
}

/* Sleeps before the next attempt; 0 when there is to be none (the policy
 * says no, the attempts are spent, or the pause would reach the
 * deadline). */
static int pause_before_retry(const jklg_stripe_reply_t *r,
                              apr_time_t deadline)
{
    apr_interval_time_t delay;

    if (r->attempts >= JKLG_STRIPE_MAX_ATTEMPTS
        || !jklg_stripe_retryable(r->rc, r->status, r->hint)) {
        return 0;
    }
    delay = jklg_stripe_backoff(r->attempts - 1,
                                randombytes_uniform(1001) / 1000.0);
    if (apr_time_now() + delay + ATTEMPT_MIN >= deadline) {
        return 0;
    }
    apr_sleep(delay);
    return 1;
}

static const char *one_line(apr_pool_t *p, const char *s)
{
    char *copy = apr_pstrdup(p, s);

    copy[strcspn(copy, "\r\n")] = '\0';
    return copy;
}

/* The key is only ever in a request header, which no curl message
 * quotes; Stripe's error messages are not used at all. */
static apr_status_t call_outcome(apr_pool_t *p, const jklg_stripe_reply_t *r,
                                 const char **err)
{
    apr_status_t rv;

    if (r->rc == CURLE_OPERATION_TIMEDOUT) {
        *err = apr_pstrcat(p, "stripe: timed out",
                           after_attempts(p, r->attempts), NULL);
        return APR_TIMEUP;
    }
    if (r->rc != CURLE_OK) {
        rv = jklg_curl_outcome(r->rc);
        *err = apr_pstrcat(p, "stripe: ",
                           rv == APR_ECONNREFUSED ? "cannot connect"
                                                  : "request failed",
                           after_attempts(p, r->attempts), " (",
                           one_line(p, r->errbuf[0] ? r->errbuf
                                       : curl_easy_strerror(r->rc)),
                           ")", NULL);
        return rv;
    }
    if (r->status < 200 || r->status >= 300) {
        *err = jklg_stripe_error_text(p, r->status, r->body, r->len,
                                      r->attempts);
        /* A 4xx is Stripe's no; after 5xx, 409 or 429 nobody knows. */
        return r->status >= 400 && r->status < 500 && r->status != 409
               && r->status != 429 ? APR_EGENERAL : APR_INCOMPLETE;
    }
    return APR_SUCCESS;
}

static apr_interval_time_t call_timeout(const jklg_stripe_conf_t *conf)
{
    return conf->timeout > 0 ? conf->timeout : DEFAULT_TIMEOUT;
}

static const char *call_url(apr_pool_t *p, const jklg_stripe_conf_t *conf,
                            const char *path)
{
    const char *base = conf->api_base && *conf->api_base
                       ? conf->api_base : JKLG_STRIPE_API_BASE;
    apr_size_t n = strlen(base);

    while (n > 0 && base[n - 1] == '/') {
        n--;
    }
    return apr_pstrcat(p, apr_pstrmemdup(p, base, n), path, NULL);
}

/* One logical call (POST with a form, GET without): up to
 * JKLG_STRIPE_MAX_ATTEMPTS attempts with the same Idempotency-Key, all
 * within one deadline. */
apr_status_t jklg_stripe_call(const jklg_stripe_conf_t *conf,
                                apr_pool_t *p, const jklg_stripe_call_t *call,
                                jklg_stripe_reply_t *r, const char **err)
{
    apr_time_t deadline = apr_time_now() + call_timeout(conf);
    const char *url = call_url(p, conf, call->path);
    struct curl_slist *headers;
    CURL *c = jklg_curl_thread_handle();

    memset(r, 0, sizeof(*r));
    r->p = p;
    if (c == NULL || (headers = request_headers(p, conf, call)) == NULL) {
        *err = "stripe: cannot set up a curl handle";
        return APR_ENOMEM;
    }
    do {
        apr_interval_time_t left = deadline - apr_time_now();

        if (left < ATTEMPT_MIN) {
            r->rc = CURLE_OPERATION_TIMEDOUT;
            break;
        }
        attempt(c, url, headers, call, r, left);
    } while (pause_before_retry(r, deadline));
    /* The handle outlives p: it must not keep pointers into it. */
    curl_easy_reset(c);
    return call_outcome(p, r, err);
}
