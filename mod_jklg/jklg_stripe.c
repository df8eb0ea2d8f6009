/* Stripe: PaymentIntents and refunds over its REST API (form-encoded
 * requests, JSON answers), webhook signatures and events. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <apr_lib.h>
#include <apr_strings.h>
#include <jansson.h>
#include <sodium.h>
#include "jklg_curl.h"
#include "jklg_json.h"
#include "jklg_stripe.h"
#include "jklg_validate.h"

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
#define SIG_HEADER_MAX 4096
/* Seconds until the year 33658 (leading zeros not counted): enough, and
 * apr_time_from_sec cannot overflow. */
#define SIG_T_DIGITS_MAX 12

/* ---- webhook signatures ------------------------------------------------ */

/* Spaces and tabs may surround t's value; any other control byte means
 * the header is not what Stripe sent. */
static int header_chars_ok(const char *s)
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

static int blank(char c)
{
    return c == ' ' || c == '\t';
}

/* The official libraries read t as an integer and sign its decimal form:
 * blanks around it, a '+' and leading zeros are accepted, and t_text is
 * that canonical form, not the header's text. */
static apr_status_t sig_timestamp(apr_pool_t *p, const char *v, apr_size_t n,
                                  jklg_stripe_sig_t *out)
{
    const char *end = v + n;
    apr_size_t digits;

    if (out->t_text != NULL) {
        return APR_EINVAL;      /* libraries disagree on which t wins */
    }
    while (v < end && blank(*v)) {
        v++;
    }
    while (end > v && blank(end[-1])) {
        end--;
    }
    if (v < end && *v == '+') {
        v++;
    }
    if (v == end) {
        return APR_EINVAL;
    }
    for (const char *c = v; c < end; c++) {
        if (*c < '0' || *c > '9') {
            return APR_EINVAL;
        }
    }
    while (end - v > 1 && *v == '0') {
        v++;
    }
    digits = (apr_size_t)(end - v);
    if (digits > SIG_T_DIGITS_MAX) {
        return APR_EINVAL;
    }
    out->t = apr_strtoi64(apr_pstrmemdup(p, v, digits), NULL, 10);
    out->t_text = apr_psprintf(p, "%" APR_INT64_T_FMT, out->t);
    return APR_SUCCESS;
}

/* A v1 that is not 64 hex digits cannot match; like Stripe's libraries,
 * it is skipped so that another v1 of the header still can. */
static void sig_v1(const char *v, apr_size_t n, jklg_stripe_sig_t *out)
{
    unsigned char sig[JKLG_STRIPE_SIG_LEN];
    size_t bin_len = 0;

    if (n != 2 * JKLG_STRIPE_SIG_LEN
        || sodium_hex2bin(sig, sizeof(sig), v, n, NULL, &bin_len, NULL) != 0
        || bin_len != JKLG_STRIPE_SIG_LEN) {
        return;
    }
    memcpy(apr_array_push(out->v1), sig, sizeof(sig));
}

/* One "scheme=value" element of the header. Keys are compared exactly
 * (" v1" is not v1); empty elements and unknown schemes (v0, schemes to
 * come) are skipped; a t or v1 without '=' is refused, as Stripe's Python
 * library does. */
static apr_status_t sig_element(apr_pool_t *p, const char *s, apr_size_t n,
                                jklg_stripe_sig_t *out)
{
    const char *eq = memchr(s, '=', n);
    apr_size_t klen = eq ? (apr_size_t)(eq - s) : n;

    if (klen == 1 && s[0] == 't') {
        return eq ? sig_timestamp(p, eq + 1, n - klen - 1, out) : APR_EINVAL;
    }
    if (klen == 2 && memcmp(s, "v1", 2) == 0) {
        if (!eq) {
            return APR_EINVAL;
        }
        sig_v1(eq + 1, n - klen - 1, out);
    }
    return APR_SUCCESS;
}

apr_status_t jklg_stripe_parse_signature(apr_pool_t *p, const char *header,
                                         jklg_stripe_sig_t *out)
{
    const char *s, *end;
    apr_status_t rv;

    memset(out, 0, sizeof(*out));
    out->v1 = apr_array_make(p, 2, JKLG_STRIPE_SIG_LEN);
    if (header == NULL || *header == '\0' || strlen(header) > SIG_HEADER_MAX
        || !header_chars_ok(header)) {
        return APR_EINVAL;
    }
    for (s = header; ; s = end + 1) {
        end = s + strcspn(s, ",");
        if ((rv = sig_element(p, s, (apr_size_t)(end - s), out))
            != APR_SUCCESS) {
            return rv;
        }
        if (*end == '\0') {
            break;
        }
    }
    return out->t_text && out->v1->nelts > 0 ? APR_SUCCESS : APR_EINVAL;
}

void jklg_stripe_hmac(unsigned char out[JKLG_STRIPE_SIG_LEN],
                      const char *secret, const char *t_text,
                      const char *body, apr_size_t len)
{
    crypto_auth_hmacsha256_state st;

    crypto_auth_hmacsha256_init(&st, (const unsigned char *)secret,
                                strlen(secret));
    crypto_auth_hmacsha256_update(&st, (const unsigned char *)t_text,
                                  strlen(t_text));
    crypto_auth_hmacsha256_update(&st, (const unsigned char *)".", 1);
    if (len > 0) {
        crypto_auth_hmacsha256_update(&st, (const unsigned char *)body, len);
    }
    crypto_auth_hmacsha256_final(&st, out);
    sodium_memzero(&st, sizeof(st));
}

const char *jklg_stripe_sign(apr_pool_t *p, const char *secret,
                             apr_int64_t t, const char *body, apr_size_t len)
{
    unsigned char mac[JKLG_STRIPE_SIG_LEN];
    char hex[2 * JKLG_STRIPE_SIG_LEN + 1];
    const char *t_text = apr_psprintf(p, "%" APR_INT64_T_FMT, t);

    jklg_stripe_hmac(mac, secret, t_text, body, len);
    sodium_bin2hex(hex, sizeof(hex), mac, sizeof(mac));
    return apr_pstrcat(p, "t=", t_text, ",v1=", hex, NULL);
}

/* Any v1 of the header against any configured secret (rotation: Stripe
 * signs with every secret that is live during a roll). */
static int signature_matches(const apr_array_header_t *secrets,
                             const jklg_stripe_sig_t *sig,
                             const char *body, apr_size_t len)
{
    unsigned char expected[JKLG_STRIPE_SIG_LEN];
    int match = 0;

    for (int i = 0; i < secrets->nelts && !match; i++) {
        const char *secret = APR_ARRAY_IDX(secrets, i, const char *);

        if (secret == NULL || *secret == '\0') {
            continue;
        }
        jklg_stripe_hmac(expected, secret, sig->t_text, body, len);
        for (int j = 0; j < sig->v1->nelts && !match; j++) {
            const unsigned char *given = (const unsigned char *)sig->v1->elts
                                         + j * JKLG_STRIPE_SIG_LEN;
            match = sodium_memcmp(expected, given, JKLG_STRIPE_SIG_LEN) == 0;
        }
    }
    sodium_memzero(expected, sizeof(expected));
    return match;
}

/* Both directions: a timestamp from the future is as suspect as an old
 * one, and a replay window is only a window if it is closed at both
 * ends. */
static int timestamp_fresh(apr_int64_t t, apr_time_t now,
                           apr_interval_time_t tolerance)
{
    apr_interval_time_t skew = now - apr_time_from_sec(t);

    if (skew < 0) {
        skew = -skew;
    }
    return tolerance >= 0 && skew <= tolerance;
}

static apr_status_t stripe_verify_webhook(const jklg_gateway_conf_t *conf,
                                          apr_pool_t *p, const char *signature,
                                          const char *body, apr_size_t len,
                                          apr_time_t now, const char **err)
{
    jklg_stripe_sig_t sig;

    *err = NULL;
    if (conf == NULL || conf->webhook_secrets == NULL
        || conf->webhook_secrets->nelts == 0) {
        *err = "stripe: no webhook secret configured";
        return APR_ENOTIMPL;
    }
    if (jklg_stripe_parse_signature(p, signature, &sig) != APR_SUCCESS) {
        *err = "stripe: malformed Stripe-Signature header";
        return APR_EINVAL;
    }
    if (!signature_matches(conf->webhook_secrets, &sig, body, len)) {
        *err = "stripe: no v1 signature matches the body";
        return APR_EINVAL;
    }
    if (!timestamp_fresh(sig.t, now, conf->webhook_tolerance)) {
        *err = "stripe: signature timestamp outside the tolerance";
        return APR_EINVAL;
    }
    return APR_SUCCESS;
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
static void form_add(apr_array_header_t *form, const char *key,
                     const char *value)
{
    if (value != NULL) {
        APR_ARRAY_PUSH(form, const char *) =
            jklg_stripe_form_pair(form->pool, key, value);
    }
}

static const char *form_amount(apr_pool_t *p, apr_int64_t amount)
{
    return apr_psprintf(p, "%" APR_INT64_T_FMT, amount);
}

static const char *payment_form(apr_pool_t *p, const jklg_payment_req_t *req)
{
    apr_array_header_t *f = apr_array_make(p, 8, sizeof(const char *));

    form_add(f, "amount", form_amount(p, req->amount));
    form_add(f, "currency", req->currency);
    form_add(f, "automatic_payment_methods[enabled]", "true");
    form_add(f, "metadata[transaction_id]", req->transaction_id);
    form_add(f, "metadata[booking_id]", req->booking_id);
    form_add(f, "metadata[booking_reference]", req->booking_reference);
    if (req->booking_reference) {
        form_add(f, "description",
                 apr_pstrcat(p, "Booking ", req->booking_reference, NULL));
    }
    /* Keeps the card on the customer for the balance (off-session). */
    if (req->customer_ref) {
        form_add(f, "customer", req->customer_ref);
        if (req->save_method) {
            form_add(f, "setup_future_usage", "off_session");
        }
    }
    return apr_array_pstrcat(p, f, '&');
}

/* Stripe's own `reason` is an enum (duplicate, fraudulent,
 * requested_by_customer) with consequences (fraudulent blocks the card):
 * staff's words go to metadata only. */
static const char *refund_form(apr_pool_t *p, const jklg_refund_req_t *req)
{
    apr_array_header_t *f = apr_array_make(p, 8, sizeof(const char *));

    form_add(f, "payment_intent", req->gateway_ref);
    if (req->amount > 0) {
        form_add(f, "amount", form_amount(p, req->amount));
    }
    form_add(f, "metadata[refund_id]", req->refund_id);
    form_add(f, "metadata[transaction_id]", req->transaction_id);
    if (req->reason && *req->reason) {
        form_add(f, "metadata[reason]",
                 jklg_stripe_truncate(p, req->reason,
                                      JKLG_STRIPE_METADATA_MAX));
    }
    return apr_array_pstrcat(p, f, '&');
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

static json_t *load_object(apr_pool_t *p, const char *body, apr_size_t len)
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
    json_t *e = json_object_get(load_object(p, body, len), "error");
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

/* ---- HTTP client -------------------------------------------------------- */

/* One easy handle per thread, kept between calls so that the TLS
 * connection to Stripe stays open (a handshake per payment costs more
 * than the request). It outlives any pool, so a thread-specific key
 * cleans it up when the thread ends; curl_easy_reset before each attempt
 * clears the options but keeps the connection cache. */
static pthread_key_t handle_key;
static pthread_once_t handle_once = PTHREAD_ONCE_INIT;
static int handle_key_ok;

static void handle_destroy(void *handle)
{
    curl_easy_cleanup(handle);
}

static void handle_key_create(void)
{
    handle_key_ok = pthread_key_create(&handle_key, handle_destroy) == 0;
}

static CURL *thread_handle(void)
{
    CURL *c;

    pthread_once(&handle_once, handle_key_create);
    if (!handle_key_ok) {
        return NULL;
    }
    c = pthread_getspecific(handle_key);
    if (c == NULL && (c = curl_easy_init()) != NULL
        && pthread_setspecific(handle_key, c) != 0) {
        curl_easy_cleanup(c);
        c = NULL;
    }
    return c;
}

typedef struct {
    const char *path;               /* /v1/... */
    const char *form;
    const char *idempotency_key;
} stripe_call_t;

typedef struct {
    CURLcode rc;
    long status;
    int hint;                       /* Stripe-Should-Retry */
    int attempts;
    apr_pool_t *p;
    char *body;
    apr_size_t len;
    apr_size_t cap;
    char errbuf[CURL_ERROR_SIZE];
} stripe_reply_t;

static size_t collect_body(char *data, size_t size, size_t nmemb, void *ctx)
{
    stripe_reply_t *r = ctx;
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
    stripe_reply_t *r = ctx;
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
                                          const jklg_gateway_conf_t *conf,
                                          const stripe_call_t *call)
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
                            const stripe_call_t *call, stripe_reply_t *r,
                            apr_interval_time_t left)
{
    long total_ms = (long)apr_time_as_msec(left);
    long connect_ms = total_ms < CONNECT_TIMEOUT_MAX_MS
                      ? total_ms : CONNECT_TIMEOUT_MAX_MS;
    CURLcode rc;

    if ((rc = curl_easy_setopt(c, CURLOPT_URL, url))
        || (rc = curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "https,http"))
        || (rc = curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L))
        || (rc = curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, connect_ms))
        || (rc = curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, total_ms))
        || (rc = curl_easy_setopt(c, CURLOPT_TCP_KEEPALIVE, 1L))
        || (rc = curl_easy_setopt(c, CURLOPT_USERAGENT,
                                  "mod_jklg/" JKLG_VERSION))
        || (rc = curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers))
        || (rc = curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect_body))
        || (rc = curl_easy_setopt(c, CURLOPT_WRITEDATA, r))
        || (rc = curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, read_header))
        || (rc = curl_easy_setopt(c, CURLOPT_HEADERDATA, r))
        || (rc = curl_easy_setopt(c, CURLOPT_ERRORBUFFER, r->errbuf))) {
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
                    const stripe_call_t *call, stripe_reply_t *r,
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
static int pause_before_retry(const stripe_reply_t *r, apr_time_t deadline)
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

static apr_status_t map_curl_error(CURLcode rc)
{
    switch (rc) {
    case CURLE_OPERATION_TIMEDOUT:
        return APR_TIMEUP;
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
    case CURLE_COULDNT_CONNECT:
    case CURLE_SSL_CONNECT_ERROR:
        return APR_ECONNREFUSED;
    default:
        /* The request may have reached Stripe: its outcome is unknown. */
        return APR_INCOMPLETE;
    }
}

static const char *one_line(apr_pool_t *p, const char *s)
{
    char *copy = apr_pstrdup(p, s);

    copy[strcspn(copy, "\r\n")] = '\0';
    return copy;
}

/* The key is only ever in a request header, which no curl message
 * quotes; Stripe's error messages are not used at all. */
static apr_status_t call_outcome(apr_pool_t *p, const stripe_reply_t *r,
                                 const char **err)
{
    apr_status_t rv;

    if (r->rc == CURLE_OPERATION_TIMEDOUT) {
        *err = apr_pstrcat(p, "stripe: timed out",
                           after_attempts(p, r->attempts), NULL);
        return APR_TIMEUP;
    }
    if (r->rc != CURLE_OK) {
        rv = map_curl_error(r->rc);
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

static apr_interval_time_t call_timeout(const jklg_gateway_conf_t *conf)
{
    return conf->timeout > 0 ? conf->timeout : DEFAULT_TIMEOUT;
}

static const char *call_url(apr_pool_t *p, const jklg_gateway_conf_t *conf,
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
static apr_status_t stripe_call(const jklg_gateway_conf_t *conf,
                                apr_pool_t *p, const stripe_call_t *call,
                                stripe_reply_t *r, const char **err)
{
    apr_time_t deadline = apr_time_now() + call_timeout(conf);
    const char *url = call_url(p, conf, call->path);
    struct curl_slist *headers;
    CURL *c = thread_handle();

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

/* ---- the gateway -------------------------------------------------------- */

/* Header values are built from these: a CR or LF would start a header of
 * the caller's choosing. */
static int header_safe(const char *s)
{
    return s && *s && header_chars_ok(s);
}

static apr_status_t check_configured(const jklg_gateway_conf_t *conf,
                                     const char **err)
{
    if (conf == NULL || conf->secret_key == NULL || !*conf->secret_key) {
        *err = "stripe: not configured (no secret key)";
        return APR_ENOTIMPL;
    }
    if (!header_safe(conf->secret_key)) {
        *err = "stripe: the secret key contains invalid characters";
        return APR_EINVAL;
    }
    return APR_SUCCESS;
}

static const char *copy_str(apr_pool_t *p, const json_t *obj, const char *key)
{
    const char *s = jklg_json_str(obj, key);

    return s && *s ? apr_pstrdup(p, s) : NULL;
}

/* A reused Idempotency-Key with other parameters is refused by Stripe;
 * this catches a stand-in or proxy that answers for another object. */
static int same_money(const json_t *obj, apr_int64_t amount,
                      const char *currency)
{
    const json_t *a = json_object_get(obj, "amount");
    const char *c = jklg_json_str(obj, "currency");

    if (a && (!json_is_integer(a) || json_integer_value(a) != amount)) {
        return 0;
    }
    return c == NULL || currency == NULL || strcasecmp(c, currency) == 0;
}

/* The reply is Stripe's answer to an Idempotency-Key: when it is not the
 * PaymentIntent asked for, nothing of it may reach the caller. */
static apr_status_t parse_payment_intent(apr_pool_t *p,
                                         const stripe_reply_t *r,
                                         const jklg_payment_req_t *req,
                                         jklg_payment_t *out,
                                         const char **err)
{
    json_t *pi = load_object(p, r->body, r->len);
    const char *status = jklg_stripe_payment_status(jklg_json_str(pi,
                                                                  "status"));

    out->gateway_ref = copy_str(p, pi, "id");
    out->client_secret = copy_str(p, pi, "client_secret");
    out->status = status;
    if (!out->gateway_ref || !out->client_secret || !status) {
        *err = "stripe: unexpected PaymentIntent in the response";
    }
    else if (!same_money(pi, req->amount, req->currency)) {
        *err = "stripe: PaymentIntent amount or currency differs from the "
               "request";
    }
    else {
        return APR_SUCCESS;
    }
    memset(out, 0, sizeof(*out));
    return APR_EGENERAL;
}

static apr_status_t stripe_create_payment(const jklg_gateway_conf_t *conf,
                                          apr_pool_t *p,
                                          const jklg_payment_req_t *req,
                                          jklg_payment_t *out,
                                          const char **err)
{
    stripe_call_t call;
    stripe_reply_t reply;
    apr_status_t rv;

    *err = NULL;
    memset(out, 0, sizeof(*out));
    if ((rv = check_configured(conf, err)) != APR_SUCCESS) {
        return rv;
    }
    if (!header_safe(req->transaction_id) || req->amount <= 0
        || req->currency == NULL) {
        *err = "stripe: payment request without transaction id, amount or "
               "currency";
        return APR_EINVAL;
    }
    call.path = "/v1/payment_intents";
    call.form = payment_form(p, req);
    call.idempotency_key = apr_pstrcat(p, "jklg-pi-", req->transaction_id,
                                       NULL);
    rv = stripe_call(conf, p, &call, &reply, err);
    if (rv == APR_SUCCESS) {
        rv = parse_payment_intent(p, &reply, req, out, err);
    }
    return rv;
}

/* Stripe ids are [A-Za-z0-9_]: anything else cannot go into a path. */
static int stripe_id_ok(const char *id)
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

static apr_status_t stripe_fetch_payment(const jklg_gateway_conf_t *conf,
                                         apr_pool_t *p,
                                         const char *gateway_ref,
                                         const jklg_payment_req_t *expected,
                                         jklg_payment_t *out,
                                         const char **err)
{
    stripe_call_t call;
    stripe_reply_t reply;
    apr_status_t rv;

    *err = NULL;
    memset(out, 0, sizeof(*out));
    if ((rv = check_configured(conf, err)) != APR_SUCCESS) {
        return rv;
    }
    if (!stripe_id_ok(gateway_ref)) {
        *err = "stripe: not a PaymentIntent id";
        return APR_EINVAL;
    }
    memset(&call, 0, sizeof(call));
    call.path = apr_pstrcat(p, "/v1/payment_intents/", gateway_ref, NULL);
    rv = stripe_call(conf, p, &call, &reply, err);
    if (rv == APR_SUCCESS) {
        rv = parse_payment_intent(p, &reply, expected, out, err);
    }
    return rv;
}

static apr_status_t stripe_cancel_payment(const jklg_gateway_conf_t *conf,
                                          apr_pool_t *p,
                                          const char *gateway_ref,
                                          const char **err)
{
    stripe_call_t call;
    stripe_reply_t reply;
    apr_status_t rv;

    *err = NULL;
    if ((rv = check_configured(conf, err)) != APR_SUCCESS) {
        return rv;
    }
    if (!stripe_id_ok(gateway_ref)) {
        *err = "stripe: not a PaymentIntent id";
        return APR_EINVAL;
    }
    memset(&call, 0, sizeof(call));
    call.path = apr_pstrcat(p, "/v1/payment_intents/", gateway_ref, "/cancel",
                            NULL);
    call.form = "cancellation_reason=abandoned";
    call.idempotency_key = apr_pstrcat(p, "jklg-pc-", gateway_ref, NULL);
    return stripe_call(conf, p, &call, &reply, err);
}

static apr_status_t parse_refund(apr_pool_t *p, const stripe_reply_t *r,
                                 const jklg_refund_req_t *req,
                                 jklg_refund_t *out, const char **err)
{
    json_t *re = load_object(p, r->body, r->len);

    out->gateway_ref = copy_str(p, re, "id");
    out->status = jklg_stripe_refund_status(jklg_json_str(re, "status"));
    if (!out->gateway_ref || !out->status) {
        *err = "stripe: unexpected Refund in the response";
    }
    else if (req->amount > 0
             && !same_money(re, req->amount, req->currency)) {
        *err = "stripe: Refund amount or currency differs from the request";
    }
    else {
        return APR_SUCCESS;
    }
    memset(out, 0, sizeof(*out));
    return APR_EGENERAL;
}

static apr_status_t stripe_refund(const jklg_gateway_conf_t *conf,
                                  apr_pool_t *p, const jklg_refund_req_t *req,
                                  jklg_refund_t *out, const char **err)
{
    stripe_call_t call;
    stripe_reply_t reply;
    apr_status_t rv;

    *err = NULL;
    memset(out, 0, sizeof(*out));
    if ((rv = check_configured(conf, err)) != APR_SUCCESS) {
        return rv;
    }
    if (!header_safe(req->refund_id) || req->gateway_ref == NULL
        || *req->gateway_ref == '\0') {
        *err = "stripe: refund request without refund id or PaymentIntent";
        return APR_EINVAL;
    }
    call.path = "/v1/refunds";
    call.form = refund_form(p, req);
    call.idempotency_key = apr_pstrcat(p, "jklg-re-", req->refund_id, NULL);
    rv = stripe_call(conf, p, &call, &reply, err);
    if (rv == APR_SUCCESS) {
        rv = parse_refund(p, &reply, req, out, err);
    }
    return rv;
}

/* ---- events ------------------------------------------------------------- */

static const struct {
    const char *type;
    jklg_event_kind_t kind;
} EVENT_KINDS[] = {
    {"payment_intent.processing", JKLG_EVENT_PROCESSING},
    {"payment_intent.succeeded", JKLG_EVENT_SUCCEEDED},
    {"payment_intent.payment_failed", JKLG_EVENT_FAILED},
    {"payment_intent.canceled", JKLG_EVENT_CANCELED},
    {"charge.refunded", JKLG_EVENT_REFUNDED},
    {"charge.dispute.created", JKLG_EVENT_DISPUTED},
    {NULL, JKLG_EVENT_IGNORED}
};

static jklg_event_kind_t event_kind(const char *type)
{
    int i;

    for (i = 0; EVENT_KINDS[i].type; i++) {
        if (strcmp(EVENT_KINDS[i].type, type) == 0) {
            break;
        }
    }
    return EVENT_KINDS[i].kind;
}

/* Amounts that move money must be there; for the others 0 will do. */
static apr_status_t event_amount(const json_t *obj, const char *key,
                                 int required, apr_int64_t *out)
{
    const json_t *a = json_object_get(obj, key);

    if (json_is_integer(a) && json_integer_value(a) >= 0) {
        *out = (apr_int64_t)json_integer_value(a);
        return APR_SUCCESS;
    }
    return required ? APR_EINVAL : APR_SUCCESS;
}

static apr_status_t payment_intent_event(apr_pool_t *p, const json_t *pi,
                                         jklg_gateway_event_t *ev)
{
    int succeeded = ev->kind == JKLG_EVENT_SUCCEEDED;

    ev->payment_ref = copy_str(p, pi, "id");
    if (ev->payment_ref == NULL) {
        return APR_EINVAL;
    }
    if (succeeded) {
        ev->method_ref = copy_str(p, pi, "payment_method");
        if (ev->method_ref && !stripe_id_ok(ev->method_ref)) {
            ev->method_ref = NULL;
        }
    }
    if (ev->kind == JKLG_EVENT_FAILED) {
        const char *why = jklg_json_str(json_object_get(pi,
                                                        "last_payment_error"),
                                        "message");
        ev->failure_reason = why ? jklg_stripe_truncate(p, why, 500) : NULL;
    }
    return event_amount(pi, succeeded ? "amount_received" : "amount",
                        succeeded, &ev->amount);
}

/* Refunds and disputes point at the charge's PaymentIntent. A charge made
 * without one was not made by this module: nothing to apply. */
static apr_status_t charge_event(apr_pool_t *p, const json_t *obj,
                                 const char *amount_key,
                                 jklg_gateway_event_t *ev)
{
    ev->payment_ref = copy_str(p, obj, "payment_intent");
    if (ev->payment_ref == NULL) {
        ev->kind = JKLG_EVENT_IGNORED;
        return APR_SUCCESS;
    }
    return event_amount(obj, amount_key, 1, &ev->amount);
}

static apr_status_t event_object(apr_pool_t *p, const json_t *obj,
                                 jklg_gateway_event_t *ev)
{
    ev->currency = copy_str(p, obj, "currency");
    ev->transaction_id = copy_str(p, json_object_get(obj, "metadata"),
                                  "transaction_id");
    /* Metadata is anyone's to write (a payment made in the dashboard):
     * an id that is not ours is no id. */
    if (!jklg_is_uuid(ev->transaction_id)) {
        ev->transaction_id = NULL;
    }
    switch (ev->kind) {
    case JKLG_EVENT_PROCESSING:
    case JKLG_EVENT_SUCCEEDED:
    case JKLG_EVENT_FAILED:
    case JKLG_EVENT_CANCELED:
        return payment_intent_event(p, obj, ev);
    case JKLG_EVENT_REFUNDED:
        return charge_event(p, obj, "amount_refunded", ev);
    case JKLG_EVENT_DISPUTED:
        return charge_event(p, obj, "amount", ev);
    default:
        return APR_SUCCESS;
    }
}

static void event_reset_ignored(jklg_gateway_event_t *ev)
{
    const char *id = ev->id, *type = ev->type;
    apr_int64_t created = ev->created;

    memset(ev, 0, sizeof(*ev));
    ev->id = id;
    ev->type = type;
    ev->created = created;
    ev->kind = JKLG_EVENT_IGNORED;
}

static apr_status_t stripe_parse_event(const jklg_gateway_conf_t *conf,
                                       apr_pool_t *p, const char *body,
                                       apr_size_t len,
                                       jklg_gateway_event_t *ev,
                                       const char **err)
{
    json_t *j = load_object(p, body, len);
    json_t *obj = json_object_get(json_object_get(j, "data"), "object");
    json_t *created = json_object_get(j, "created");

    (void)conf;                 /* events need no configuration */
    *err = NULL;
    memset(ev, 0, sizeof(*ev));
    ev->id = copy_str(p, j, "id");
    ev->type = copy_str(p, j, "type");
    if (ev->id == NULL || ev->type == NULL || !json_is_object(obj)) {
        *err = "stripe: event is not a JSON object with id, type and "
               "data.object";
        return APR_EINVAL;
    }
    ev->created = json_is_integer(created) ? json_integer_value(created) : 0;
    ev->kind = event_kind(ev->type);
    if (ev->kind == JKLG_EVENT_IGNORED) {
        return APR_SUCCESS;
    }
    if (event_object(p, obj, ev) != APR_SUCCESS) {
        *err = apr_psprintf(p, "stripe: %s event without its payment id or "
                            "amount", ev->type);
        return APR_EINVAL;
    }
    if (ev->kind == JKLG_EVENT_IGNORED) {
        event_reset_ignored(ev);
    }
    return APR_SUCCESS;
}

/* ---- saved cards and off-session charges (issue 10) --------------------- */

static apr_status_t stripe_create_customer(const jklg_gateway_conf_t *conf,
                                           apr_pool_t *p,
                                           const jklg_customer_req_t *req,
                                           const char **ref, const char **err)
{
    apr_array_header_t *f = apr_array_make(p, 4, sizeof(const char *));
    stripe_call_t call;
    stripe_reply_t reply;
    apr_status_t rv;

    *err = NULL;
    *ref = NULL;
    if ((rv = check_configured(conf, err)) != APR_SUCCESS) {
        return rv;
    }
    if (!header_safe(req->customer_id)) {
        *err = "stripe: customer request without our customer id";
        return APR_EINVAL;
    }
    form_add(f, "email", req->email);
    form_add(f, "metadata[customer_id]", req->customer_id);
    call.path = "/v1/customers";
    call.form = apr_array_pstrcat(p, f, '&');
    call.idempotency_key = apr_pstrcat(p, "jklg-cus-", req->customer_id,
                                       NULL);
    rv = stripe_call(conf, p, &call, &reply, err);
    if (rv == APR_SUCCESS) {
        *ref = copy_str(p, load_object(p, reply.body, reply.len), "id");
        if (!stripe_id_ok(*ref)) {
            *ref = NULL;
            *err = "stripe: unexpected Customer in the response";
            rv = APR_EGENERAL;
        }
    }
    return rv;
}

static int int_member(const json_t *obj, const char *key)
{
    const json_t *v = json_object_get(obj, key);

    return json_is_integer(v) ? (int)json_integer_value(v) : 0;
}

static apr_status_t stripe_fetch_method(const jklg_gateway_conf_t *conf,
                                        apr_pool_t *p,
                                        const char *gateway_ref,
                                        jklg_method_t *out, const char **err)
{
    stripe_call_t call;
    stripe_reply_t reply;
    json_t *pm, *card;
    apr_status_t rv;

    *err = NULL;
    memset(out, 0, sizeof(*out));
    if ((rv = check_configured(conf, err)) != APR_SUCCESS) {
        return rv;
    }
    if (!stripe_id_ok(gateway_ref)) {
        *err = "stripe: not a PaymentMethod id";
        return APR_EINVAL;
    }
    memset(&call, 0, sizeof(call));
    call.path = apr_pstrcat(p, "/v1/payment_methods/", gateway_ref, NULL);
    if ((rv = stripe_call(conf, p, &call, &reply, err)) != APR_SUCCESS) {
        return rv;
    }
    pm = load_object(p, reply.body, reply.len);
    card = json_object_get(pm, "card");
    out->gateway_ref = copy_str(p, pm, "id");
    out->customer_ref = copy_str(p, pm, "customer");
    out->brand = copy_str(p, card, "brand");
    out->last4 = copy_str(p, card, "last4");
    out->exp_month = int_member(card, "exp_month");
    out->exp_year = int_member(card, "exp_year");
    if (!out->gateway_ref || strcmp(out->gateway_ref, gateway_ref)
        || !out->brand || !out->last4 || strlen(out->last4) != 4) {
        memset(out, 0, sizeof(*out));
        *err = "stripe: unexpected PaymentMethod in the response";
        return APR_EGENERAL;
    }
    out->brand = jklg_stripe_truncate(p, out->brand, 32);
    return APR_SUCCESS;
}

static const char *offsession_form(apr_pool_t *p,
                                   const jklg_offsession_req_t *req)
{
    apr_array_header_t *f = apr_array_make(p, 10, sizeof(const char *));

    form_add(f, "amount", form_amount(p, req->amount));
    form_add(f, "currency", req->currency);
    form_add(f, "customer", req->customer_ref);
    form_add(f, "payment_method", req->method_ref);
    form_add(f, "off_session", "true");
    form_add(f, "confirm", "true");
    form_add(f, "metadata[transaction_id]", req->transaction_id);
    form_add(f, "metadata[booking_reference]", req->booking_reference);
    if (req->booking_reference) {
        form_add(f, "description", apr_pstrcat(p, "Booking ",
                                               req->booking_reference,
                                               " (balance)", NULL));
    }
    return apr_array_pstrcat(p, f, '&');
}

/* A card error (402) names the intent it left behind and why. */
static void card_error(apr_pool_t *p, const stripe_reply_t *r,
                       jklg_offsession_t *out)
{
    json_t *e = json_object_get(load_object(p, r->body, r->len), "error");
    const char *code = jklg_json_str(e, "code");
    const char *decline = jklg_json_str(e, "decline_code");

    out->gateway_ref = copy_str(p, json_object_get(e, "payment_intent"),
                                "id");
    if (out->gateway_ref && !stripe_id_ok(out->gateway_ref)) {
        out->gateway_ref = NULL;
    }
    if (code && !strcmp(code, "authentication_required")) {
        out->decline = "authentication_required";
    }
    else if (decline && stripe_id_ok(decline)) {
        out->decline = apr_pstrdup(p, decline);
    }
    else if (code && stripe_id_ok(code)) {
        out->decline = apr_pstrdup(p, code);
    }
}

static apr_status_t stripe_charge_off_session(
    const jklg_gateway_conf_t *conf, apr_pool_t *p,
    const jklg_offsession_req_t *req, jklg_offsession_t *out,
    const char **err)
{
    stripe_call_t call;
    stripe_reply_t reply;
    jklg_payment_req_t expected;
    jklg_payment_t pi;
    apr_status_t rv;

    *err = NULL;
    memset(out, 0, sizeof(*out));
    if ((rv = check_configured(conf, err)) != APR_SUCCESS) {
        return rv;
    }
    if (!header_safe(req->idempotency_key) || !stripe_id_ok(req->customer_ref)
        || !stripe_id_ok(req->method_ref) || req->amount <= 0
        || req->currency == NULL) {
        *err = "stripe: off-session charge without key, customer, method, "
               "amount or currency";
        return APR_EINVAL;
    }
    call.path = "/v1/payment_intents";
    call.form = offsession_form(p, req);
    call.idempotency_key = apr_pstrcat(p, "jklg-off-", req->idempotency_key,
                                       NULL);
    rv = stripe_call(conf, p, &call, &reply, err);
    if (rv == APR_EGENERAL && reply.status == 402) {
        card_error(p, &reply, out);
        return rv;
    }
    if (rv != APR_SUCCESS) {
        return rv;
    }
    memset(&expected, 0, sizeof(expected));
    expected.amount = req->amount;
    expected.currency = req->currency;
    /* An off-session intent has a client secret too; it is not kept. */
    rv = parse_payment_intent(p, &reply, &expected, &pi, err);
    out->gateway_ref = pi.gateway_ref;
    out->status = pi.status;
    return rv;
}

static apr_status_t stripe_detach_method(const jklg_gateway_conf_t *conf,
                                         apr_pool_t *p,
                                         const char *gateway_ref,
                                         const char **err)
{
    stripe_call_t call;
    stripe_reply_t reply;
    apr_status_t rv;

    *err = NULL;
    if ((rv = check_configured(conf, err)) != APR_SUCCESS) {
        return rv;
    }
    if (!stripe_id_ok(gateway_ref)) {
        *err = "stripe: not a PaymentMethod id";
        return APR_EINVAL;
    }
    memset(&call, 0, sizeof(call));
    call.path = apr_pstrcat(p, "/v1/payment_methods/", gateway_ref,
                            "/detach", NULL);
    call.form = "";
    call.idempotency_key = apr_pstrcat(p, "jklg-pmd-", gateway_ref, NULL);
    return stripe_call(conf, p, &call, &reply, err);
}

/* ---- reconciliation ----------------------------------------------------- */

/* Events rather than lists of PaymentIntents and Refunds: a list filtered
 * by `created` misses an old PaymentIntent that succeeded today, while its
 * payment_intent.succeeded event is new; and an event carries the id its
 * webhook carries, so applying it is the webhook's exactly-once path with
 * the same key. 50 a page keeps a page of charges with their refund lists
 * well under REPLY_MAX. */
#define EVENTS_PAGE 50

static apr_status_t stripe_list_changes(const jklg_gateway_conf_t *conf,
                                        apr_pool_t *p, apr_int64_t since,
                                        const char *cursor,
                                        jklg_gateway_changes_t *out,
                                        const char **err)
{
    stripe_call_t call;
    stripe_reply_t reply;
    apr_status_t rv;
    json_t *page, *data;

    *err = NULL;
    memset(out, 0, sizeof(*out));
    if ((rv = check_configured(conf, err)) != APR_SUCCESS) {
        return rv;
    }
    if (cursor && !stripe_id_ok(cursor)) {
        *err = "stripe: not an event id";
        return APR_EINVAL;
    }
    memset(&call, 0, sizeof(call));
    call.path = apr_psprintf(p, "/v1/events?created%%5Bgte%%5D=%"
                             APR_INT64_T_FMT "&limit=%d%s%s", since,
                             EVENTS_PAGE, cursor ? "&starting_after=" : "",
                             cursor ? cursor : "");
    if ((rv = stripe_call(conf, p, &call, &reply, err)) != APR_SUCCESS) {
        return rv;
    }
    page = load_object(p, reply.body, reply.len);
    data = json_object_get(page, "data");
    if (!json_is_array(data)) {
        *err = "stripe: the events list has no data";
        return APR_EGENERAL;
    }
    out->events = apr_array_make(p, (int)json_array_size(data) + 1,
                                 sizeof(jklg_gateway_event_t));
    out->payloads = apr_array_make(p, (int)json_array_size(data) + 1,
                                   sizeof(const char *));
    out->has_more = json_is_true(json_object_get(page, "has_more"));
    /* Stripe lists newest first; the page is applied oldest first. */
    for (size_t i = json_array_size(data); i-- > 0;) {
        json_t *evt = json_array_get(data, i);
        char *text = json_dumps(evt, JSON_COMPACT);
        jklg_gateway_event_t ev;
        const char *why, *body;

        if (out->next == NULL) {
            out->next = copy_str(p, json_array_get(data,
                                                   json_array_size(data) - 1),
                                 "id");
        }
        if (text == NULL) {
            return APR_ENOMEM;
        }
        body = apr_pstrdup(p, text);
        free(text);
        APR_ARRAY_PUSH(out->payloads, const char *) = body;
        if (stripe_parse_event(conf, p, body, strlen(body), &ev, &why)
            != APR_SUCCESS) {
            /* Malformed: what its webhook would have refused. */
            ev.kind = JKLG_EVENT_IGNORED;
        }
        APR_ARRAY_PUSH(out->events, jklg_gateway_event_t) = ev;
    }
    if (out->has_more && out->next == NULL) {
        *err = "stripe: the events list says more, without a last id";
        return APR_EGENERAL;
    }
    return APR_SUCCESS;
}

const jklg_gateway_t jklg_gateway_stripe = {
    "stripe",
    stripe_create_payment,
    stripe_refund,
    stripe_verify_webhook,
    stripe_parse_event,
    stripe_fetch_payment,
    stripe_cancel_payment,
    stripe_create_customer,
    stripe_fetch_method,
    stripe_charge_off_session,
    stripe_detach_method,
    stripe_list_changes
};
