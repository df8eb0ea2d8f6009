/* One email message: headers (RFC 5322, RFC 2047), delivery over SMTP(S)
 * with libcurl, or an .eml file in a spool directory. */
#include <string.h>
#include <strings.h>

#include <apr_lib.h>
#include <apr_strings.h>
#include <apr_tables.h>
#include <apr_file_io.h>
#include <curl/curl.h>
#include <sodium.h>

#include "jklg_curl.h"
#include "jklg_mail.h"

/* RFC 2047 allows encoded words of 75 characters; 42 bytes make words of
 * 68 ("=?UTF-8?B?" + 56 base64 + "?="), so that "Subject: " and the first
 * word still fit in the 78 characters RFC 5322 recommends for a line. */
#define EW_MAX_BYTES 42
/* RFC 5322 2.1.1: lines SHOULD stay within 78 characters, MUST within 998. */
#define LINE_SOFT_MAX 78
#define LINE_HARD_MAX 998
/* Subjects longer than this are encoded so that folding always finds
 * a place to break well before the hard limit. */
#define SUBJECT_PLAIN_MAX 900
#define BASE64_LINE 76
#define SMTP_DEFAULT_TIMEOUT_MS 30000L
#define REPLY_MAX 256

/* ---- header values ---------------------------------------------------- */

/* A header value is one line: anything that could end it, or confuse the
 * reader of it, becomes a space. */
static char *one_line(apr_pool_t *p, const char *s)
{
    char *out = apr_pstrdup(p, s ? s : "");
    char *c;

    for (c = out; *c; c++) {
        if ((unsigned char)*c < 0x20 || *c == 0x7f) {
            *c = ' ';
        }
    }
    return out;
}

static const char *trim(apr_pool_t *p, const char *s, apr_size_t len)
{
    while (len > 0 && (*s == ' ' || *s == '\t')) {
        s++;
        len--;
    }
    while (len > 0 && (s[len - 1] == ' ' || s[len - 1] == '\t')) {
        len--;
    }
    return apr_pstrmemdup(p, s, len);
}

const char *jklg_mail_address(apr_pool_t *p, const char *from)
{
    const char *open, *close;

    if (from == NULL) {
        return "";
    }
    /* The last '<' is the address: a display name may contain one. */
    open = strrchr(from, '<');
    close = open ? strchr(open, '>') : NULL;
    if (close == NULL) {
        return trim(p, from, strlen(from));
    }
    return trim(p, open + 1, (apr_size_t)(close - open - 1));
}

static const char *random_hex(apr_pool_t *p, apr_size_t nbytes)
{
    unsigned char buf[32];
    char *hex;

    if (nbytes > sizeof(buf)) {
        nbytes = sizeof(buf);
    }
    randombytes_buf(buf, nbytes);
    hex = apr_palloc(p, nbytes * 2 + 1);
    sodium_bin2hex(hex, nbytes * 2 + 1, buf, nbytes);
    return hex;
}

static int is_domain_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
           || (c >= '0' && c <= '9') || c == '-' || c == '.';
}

const char *jklg_mail_new_message_id(apr_pool_t *p, const char *from)
{
    const char *addr = jklg_mail_address(p, from);
    const char *at = strrchr(addr, '@');
    const char *domain = at ? at + 1 : "";
    const char *c;

    for (c = domain; *c && is_domain_char(*c); c++) {
    }
    if (*domain == '\0' || *c != '\0') {
        domain = "localhost";
    }
    return apr_pstrcat(p, "<", random_hex(p, 16), "@", domain, ">", NULL);
}

/* Length of the UTF-8 sequence starting at s (at most len bytes). Bytes
 * that do not start a valid sequence count as one, so that even broken
 * input moves forward. */
static apr_size_t utf8_seq_len(const unsigned char *s, apr_size_t len)
{
    apr_size_t n, i;

    if (s[0] < 0xc0) {
        return 1;
    }
    n = s[0] < 0xe0 ? 2 : s[0] < 0xf0 ? 3 : s[0] < 0xf8 ? 4 : 1;
    if (n > len) {
        return 1;
    }
    for (i = 1; i < n; i++) {
        if ((s[i] & 0xc0) != 0x80) {
            return 1;
        }
    }
    return n;
}

static const char *base64(apr_pool_t *p, const void *data, apr_size_t len)
{
    apr_size_t size = sodium_base64_ENCODED_LEN(len,
                                                sodium_base64_VARIANT_ORIGINAL);
    char *out = apr_palloc(p, size);

    return sodium_bin2base64(out, size, data, len,
                             sodium_base64_VARIANT_ORIGINAL);
}

/* s as RFC 2047 "B" encoded words separated by single spaces, each word
 * holding whole UTF-8 sequences only, so that every word decodes alone. */
static const char *encoded_words(apr_pool_t *p, const char *s)
{
    apr_array_header_t *words = apr_array_make(p, 4, sizeof(const char *));
    const unsigned char *c = (const unsigned char *)s;
    apr_size_t left = strlen(s);

    while (left > 0) {
        apr_size_t n = 0, seq;

        while (n < left) {
            seq = utf8_seq_len(c + n, left - n);
            if (n + seq > EW_MAX_BYTES) {
                break;
            }
            n += seq;
        }
        APR_ARRAY_PUSH(words, const char *) =
            apr_pstrcat(p, "=?UTF-8?B?", base64(p, c, n), "?=", NULL);
        c += n;
        left -= n;
    }
    return apr_array_pstrcat(p, words, ' ');
}

static int is_plain_ascii(const char *s)
{
    for (; *s; s++) {
        if ((unsigned char)*s < 0x20 || (unsigned char)*s > 0x7e) {
            return 0;
        }
    }
    return 1;
}

const char *jklg_mail_encode_subject(apr_pool_t *p, const char *subject)
{
    const char *s = one_line(p, subject);

    /* "=?" in a plain subject would be read as the start of an encoded
     * word by mail readers, so such a subject is encoded too. */
    if (is_plain_ascii(s) && strstr(s, "=?") == NULL
        && strlen(s) <= SUBJECT_PLAIN_MAX) {
        return s;
    }
    return encoded_words(p, s);
}

static int is_atext_or_space(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
           || (c >= '0' && c <= '9') || c == ' '
           || strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL;
}

static const char *quoted_string(apr_pool_t *p, const char *s)
{
    char *out = apr_palloc(p, strlen(s) * 2 + 3);
    char *o = out;

    *o++ = '"';
    for (; *s; s++) {
        if (*s == '"' || *s == '\\') {
            *o++ = '\\';
        }
        *o++ = *s;
    }
    *o++ = '"';
    *o = '\0';
    return out;
}

/* The display name of "Name <addr>" as an RFC 5322 phrase: as is when it
 * is made of atoms, quoted when it has specials ("Voyages S.A."), encoded
 * words when it is not ASCII ("Voyages Élite"). */
static const char *display_phrase(apr_pool_t *p, const char *name)
{
    apr_size_t len = strlen(name);
    const char *c;

    if (len >= 2 && name[0] == '"' && name[len - 1] == '"'
        && is_plain_ascii(name)) {
        return name;
    }
    if (len >= 2 && name[0] == '"' && name[len - 1] == '"') {
        name = apr_pstrmemdup(p, name + 1, len - 2);
    }
    if (!is_plain_ascii(name)) {
        return encoded_words(p, name);
    }
    for (c = name; *c && is_atext_or_space(*c); c++) {
    }
    /* Inside quotes "=?" is not taken for an encoded word. */
    return *c || strstr(name, "=?") ? quoted_string(p, name) : name;
}

static const char *from_header_value(apr_pool_t *p, const char *from)
{
    const char *value = one_line(p, from);
    const char *addr = jklg_mail_address(p, value);
    const char *open = strrchr(value, '<');
    const char *name;

    if (open == NULL) {
        return addr;
    }
    name = trim(p, value, (apr_size_t)(open - value));
    if (*name == '\0') {
        return apr_pstrcat(p, "<", addr, ">", NULL);
    }
    return apr_pstrcat(p, display_phrase(p, name), " <", addr, ">", NULL);
}

/* RFC 5322 date in UTC, with English names whatever the process locale. */
static const char *rfc5322_date(apr_pool_t *p, apr_time_t t)
{
    apr_time_exp_t tm;

    apr_time_exp_gmt(&tm, t ? t : apr_time_now());
    return apr_psprintf(p, "%s, %02d %s %04d %02d:%02d:%02d +0000",
                        apr_day_snames[tm.tm_wday], tm.tm_mday,
                        apr_month_snames[tm.tm_mon], tm.tm_year + 1900,
                        tm.tm_hour, tm.tm_min, tm.tm_sec);
}

/* Where to fold line (which starts at line and must not be folded before
 * min): the last space followed by a visible character within the soft
 * limit, else the first one after it; NULL when there is none. */
static const char *fold_point(const char *line, const char *min)
{
    const char *c, *best = NULL;
    int seen_visible = 0;

    for (c = line; *c; c++) {
        if (*c != ' ') {
            seen_visible = 1;
            continue;
        }
        if (c < min || !seen_visible || c[1] == ' ' || c[1] == '\0') {
            continue;
        }
        if (best && c - line > LINE_SOFT_MAX) {
            break;
        }
        best = c;
        if (c - line > LINE_SOFT_MAX) {
            break;
        }
    }
    return best;
}

static const char *join(apr_pool_t *p, const apr_array_header_t *items,
                        const char *sep)
{
    apr_array_header_t *all = apr_array_make(p, items->nelts * 2,
                                             sizeof(const char *));
    int i;

    for (i = 0; i < items->nelts; i++) {
        if (i > 0) {
            APR_ARRAY_PUSH(all, const char *) = sep;
        }
        APR_ARRAY_PUSH(all, const char *) = APR_ARRAY_IDX(items, i,
                                                          const char *);
    }
    return apr_array_pstrcat(p, all, 0);
}

/* "Name: value", folded (CRLF before a space) into lines of at most 78
 * characters where the value has spaces to fold at. */
static const char *header_line(apr_pool_t *p, const char *name,
                               const char *value)
{
    const char *line = apr_pstrcat(p, name, ": ", value, NULL);
    const char *min = line + strlen(name) + 2;
    apr_array_header_t *lines = apr_array_make(p, 2, sizeof(const char *));
    const char *fold;

    while (strlen(line) > LINE_SOFT_MAX && (fold = fold_point(line, min))) {
        APR_ARRAY_PUSH(lines, const char *) =
            apr_pstrmemdup(p, line, (apr_size_t)(fold - line));
        line = fold;
        min = line;
    }
    APR_ARRAY_PUSH(lines, const char *) = line;
    return join(p, lines, "\r\n");
}

/* ---- the message -------------------------------------------------------- */

static void push(apr_array_header_t *a, const char *s)
{
    APR_ARRAY_PUSH(a, const char *) = s;
}

/* The headers both transports write, folded, without the final CRLF. */
static apr_array_header_t *message_headers(apr_pool_t *p,
                                           const jklg_mail_msg_t *msg)
{
    apr_array_header_t *h = apr_array_make(p, 8, sizeof(const char *));
    const char *mid = msg->message_id && *msg->message_id
                      ? one_line(p, msg->message_id)
                      : jklg_mail_new_message_id(p, msg->from);

    push(h, header_line(p, "Date", rfc5322_date(p, msg->date)));
    push(h, header_line(p, "Message-ID", mid));
    push(h, header_line(p, "From", from_header_value(p, msg->from)));
    push(h, header_line(p, "To", jklg_mail_address(p, one_line(p, msg->to))));
    push(h, header_line(p, "Subject",
                        jklg_mail_encode_subject(p, msg->subject)));
    return h;
}

/* s with every line ended by CRLF, the last one included: mail is CRLF on
 * the wire, and curl's quoted-printable encoder only treats CRLF as a line
 * end (a bare LF would become "=0A"). */
static const char *crlf_text(apr_pool_t *p, const char *s)
{
    char *out = apr_palloc(p, strlen(s) * 2 + 3);
    char *o = out;

    for (; *s; s++) {
        if (*s == '\r' && s[1] == '\n') {
            continue;
        }
        if (*s == '\r' || *s == '\n') {
            *o++ = '\r';
            *o++ = '\n';
            continue;
        }
        *o++ = *s;
    }
    if (o > out && o[-1] != '\n') {
        *o++ = '\r';
        *o++ = '\n';
    }
    *o = '\0';
    return out;
}

/* 8bit is allowed only when no line is longer than 998 bytes. */
static int lines_fit_8bit(const char *s)
{
    const char *end;

    while ((end = strstr(s, "\r\n")) != NULL) {
        if (end - s > LINE_HARD_MAX) {
            return 0;
        }
        s = end + 2;
    }
    return strlen(s) <= LINE_HARD_MAX;
}

static const char *base64_body(apr_pool_t *p, const char *s)
{
    const char *b = base64(p, s, strlen(s));
    apr_size_t len = strlen(b), i;
    apr_array_header_t *lines = apr_array_make(p, (int)(len / BASE64_LINE + 1),
                                               sizeof(const char *));

    for (i = 0; i < len; i += BASE64_LINE) {
        push(lines, apr_pstrmemdup(p, b + i, len - i < BASE64_LINE
                                             ? len - i : BASE64_LINE));
    }
    return apr_pstrcat(p, join(p, lines, "\r\n"), "\r\n", NULL);
}

/* One body part of the spool file. 8bit keeps the text readable in the
 * file, so that a developer can copy a link out of it as is. */
static const char *spool_part(apr_pool_t *p, const char *boundary,
                              const char *type, const char *body)
{
    const char *text = crlf_text(p, body ? body : "");
    int plain = lines_fit_8bit(text);

    return apr_pstrcat(p, "--", boundary, "\r\n",
                       "Content-Type: ", type, "; charset=utf-8\r\n",
                       "Content-Transfer-Encoding: ",
                       plain ? "8bit" : "base64", "\r\n\r\n",
                       plain ? text : base64_body(p, text),
                       "\r\n", NULL);
}

static const char *spool_message(apr_pool_t *p, const jklg_mail_msg_t *msg)
{
    /* "=_" never occurs in base64 and is unlikely in text; the random
     * part makes a collision with a body line practically impossible. */
    const char *boundary = apr_pstrcat(p, "=_jklg_", random_hex(p, 12), NULL);
    apr_array_header_t *h = message_headers(p, msg);

    push(h, "MIME-Version: 1.0");
    push(h, header_line(p, "Content-Type",
                        apr_pstrcat(p, "multipart/alternative; boundary=\"",
                                    boundary, "\"", NULL)));
    return apr_pstrcat(p, join(p, h, "\r\n"), "\r\n\r\n",
                       spool_part(p, boundary, "text/plain", msg->text),
                       spool_part(p, boundary, "text/html", msg->html),
                       "--", boundary, "--\r\n", NULL);
}

static int has_addresses(apr_pool_t *p, const jklg_mail_msg_t *msg,
                         const char **err)
{
    if (*jklg_mail_address(p, msg->from) == '\0') {
        *err = "the message has no sender address";
        return 0;
    }
    if (*jklg_mail_address(p, msg->to) == '\0') {
        *err = "the message has no recipient address";
        return 0;
    }
    return 1;
}

/* ---- spool directory ---------------------------------------------------- */

#define SPOOL_PERMS (APR_FPROT_UREAD | APR_FPROT_UWRITE | APR_FPROT_GREAD)

apr_status_t jklg_mail_write_spool(const char *dir,
                                   const jklg_mail_msg_t *msg,
                                   apr_pool_t *p, const char **path,
                                   const char **err)
{
    /* The temporary name starts with a dot and does not end in .eml, so
     * that whoever reads the spool never picks up a half-written file. */
    char *tmp = apr_pstrcat(p, dir, "/.jklg-mail-XXXXXX", NULL);
    const char *final, *data;
    apr_file_t *f = NULL;
    int created = 0;
    apr_status_t rv;

    *path = NULL;
    *err = NULL;
    if (!has_addresses(p, msg, err)) {
        return APR_EINVAL;
    }
    data = spool_message(p, msg);
    final = apr_psprintf(p, "%s/%" APR_TIME_T_FMT "-%s.eml", dir,
                         apr_time_sec(apr_time_now()), random_hex(p, 8));

    rv = apr_file_mktemp(&f, tmp, APR_FOPEN_CREATE | APR_FOPEN_READ
                                  | APR_FOPEN_WRITE | APR_FOPEN_EXCL, p);
    if (rv != APR_SUCCESS) {
        *err = apr_psprintf(p, "cannot create a file in mail spool %s: %pm",
                            dir, &rv);
        goto done;
    }
    created = 1;
    if ((rv = apr_file_write_full(f, data, strlen(data), NULL)) != APR_SUCCESS
        || (rv = apr_file_sync(f)) != APR_SUCCESS) {
        *err = apr_psprintf(p, "cannot write %s: %pm", tmp, &rv);
        goto done;
    }
    rv = apr_file_close(f);
    f = NULL;
    if (rv != APR_SUCCESS) {
        *err = apr_psprintf(p, "cannot write %s: %pm", tmp, &rv);
        goto done;
    }
    if ((rv = apr_file_perms_set(tmp, SPOOL_PERMS)) != APR_SUCCESS) {
        *err = apr_psprintf(p, "cannot set the mode of %s: %pm", tmp, &rv);
        goto done;
    }
    if ((rv = apr_file_rename(tmp, final, p)) != APR_SUCCESS) {
        *err = apr_psprintf(p, "cannot rename %s to %s: %pm", tmp, final,
                            &rv);
        goto done;
    }
    *path = final;

done:
    if (f) {
        apr_file_close(f);
    }
    if (rv != APR_SUCCESS && created) {
        apr_file_remove(tmp, p);
    }
    return rv;
}

/* ---- SMTP through libcurl ----------------------------------------------- */

/* Everything curl allocates for one transfer, released together by one
 * pool cleanup (the handle first: it refers to the lists and the mime). */
typedef struct {
    CURL *curl;
    curl_mime *mime;
    struct curl_slist *rcpt;
    struct curl_slist *headers;
    char errbuf[CURL_ERROR_SIZE];
    char reply[REPLY_MAX];
} smtp_job_t;

static apr_status_t smtp_job_cleanup(void *data)
{
    smtp_job_t *job = data;

    curl_easy_cleanup(job->curl);
    curl_mime_free(job->mime);
    curl_slist_free_all(job->rcpt);
    curl_slist_free_all(job->headers);
    return APR_SUCCESS;
}

static int is_reply_class(const char *line, apr_size_t len, const char *classes)
{
    return len >= 3 && strchr(classes, line[0]) != NULL
           && apr_isdigit(line[1]) && apr_isdigit(line[2]);
}

/* curl hands SMTP reply lines to the header callback. The last refusal
 * (4xx, 5xx) is kept because curl's own error says "RCPT failed: 550" but
 * not why. A later positive reply clears it, except "221" to the QUIT
 * that curl sends when it drops the connection after the failure. */
static size_t keep_reply(char *buf, size_t size, size_t nitems, void *data)
{
    smtp_job_t *job = data;
    size_t len = size * nitems, keep = len;

    while (keep > 0 && (buf[keep - 1] == '\r' || buf[keep - 1] == '\n')) {
        keep--;
    }
    if (is_reply_class(buf, keep, "45")) {
        if (keep >= sizeof(job->reply)) {
            keep = sizeof(job->reply) - 1;
        }
        memcpy(job->reply, buf, keep);
        job->reply[keep] = '\0';
    }
    else if (is_reply_class(buf, keep, "23") && strncmp(buf, "221", 3) != 0) {
        job->reply[0] = '\0';
    }
    return len;
}

static int smtp_scheme(const char *url, int *implicit_tls)
{
    if (url && strncasecmp(url, "smtp://", 7) == 0) {
        *implicit_tls = 0;
        return 1;
    }
    if (url && strncasecmp(url, "smtps://", 8) == 0) {
        *implicit_tls = 1;
        return 1;
    }
    return 0;
}

static long timeout_ms(apr_interval_time_t timeout)
{
    long ms = (long)apr_time_as_msec(timeout);

    return ms > 0 ? ms : SMTP_DEFAULT_TIMEOUT_MS;
}

static CURLcode set_connection_options(smtp_job_t *job,
                                       const jklg_smtp_t *smtp,
                                       int implicit_tls, int login)
{
    CURL *c = job->curl;
    long ms = timeout_ms(smtp->timeout);
    CURLcode rc;

    if ((rc = jklg_curl_setup(c, smtp->url, "smtp,smtps", ms, ms,
                              job->errbuf))
        || (rc = curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, keep_reply))
        || (rc = curl_easy_setopt(c, CURLOPT_HEADERDATA, job))) {
        return rc;
    }
    /* smtp:// upgrades with STARTTLS when the server offers it; with
     * credentials it must, or someone stripping the offer from the
     * greeting would read the password. */
    if (!implicit_tls
        && (rc = curl_easy_setopt(c, CURLOPT_USE_SSL,
                                  smtp->user && *smtp->user
                                  ? (long)CURLUSESSL_ALL
                                  : (long)CURLUSESSL_TRY))) {
        return rc;
    }
    if (login && smtp->user && *smtp->user) {
        if ((rc = curl_easy_setopt(c, CURLOPT_USERNAME, smtp->user))
            || (rc = curl_easy_setopt(c, CURLOPT_PASSWORD,
                                      smtp->password ? smtp->password : ""))) {
            return rc;
        }
    }
    return CURLE_OK;
}

static apr_status_t smtp_job_create(apr_pool_t *p, const jklg_smtp_t *smtp,
                                    int login, smtp_job_t **pjob,
                                    const char **err)
{
    smtp_job_t *job;
    int implicit_tls;
    CURLcode rc;

    if (smtp == NULL || !smtp_scheme(smtp->url, &implicit_tls)) {
        *err = "the SMTP URL must start with smtp:// or smtps://";
        return APR_EINVAL;
    }
    job = apr_pcalloc(p, sizeof(*job));
    job->curl = curl_easy_init();
    if (job->curl == NULL) {
        *err = "cannot create a curl handle";
        return APR_ENOMEM;
    }
    apr_pool_cleanup_register(p, job, smtp_job_cleanup,
                              apr_pool_cleanup_null);
    *pjob = job;
    rc = set_connection_options(job, smtp, implicit_tls, login);
    if (rc != CURLE_OK) {
        *err = apr_psprintf(p, "cannot set up the SMTP transfer: %s",
                            curl_easy_strerror(rc));
        return APR_EGENERAL;
    }
    return APR_SUCCESS;
}

static CURLcode add_text_part(curl_mime *mime, const char *type,
                              const char *body)
{
    curl_mimepart *part = curl_mime_addpart(mime);
    CURLcode rc;

    if (part == NULL) {
        return CURLE_OUT_OF_MEMORY;
    }
    if ((rc = curl_mime_data(part, body, CURL_ZERO_TERMINATED))
        || (rc = curl_mime_type(part, type))
        || (rc = curl_mime_encoder(part, "quoted-printable"))) {
        return rc;
    }
    return CURLE_OK;
}

/* The text and html parts go straight into curl's top-level mime; the
 * "Content-Type: multipart/alternative" among the headers makes curl label
 * that top level multipart/alternative (with its own boundary) instead of
 * multipart/mixed, so no wrapper part is needed. */
static CURLcode build_mime(smtp_job_t *job, apr_pool_t *p,
                           const jklg_mail_msg_t *msg)
{
    CURLcode rc;

    job->mime = curl_mime_init(job->curl);
    if (job->mime == NULL) {
        return CURLE_OUT_OF_MEMORY;
    }
    if ((rc = add_text_part(job->mime, "text/plain; charset=utf-8",
                            crlf_text(p, msg->text ? msg->text : "")))
        || (rc = add_text_part(job->mime, "text/html; charset=utf-8",
                               crlf_text(p, msg->html ? msg->html : "")))) {
        return rc;
    }
    return curl_easy_setopt(job->curl, CURLOPT_MIMEPOST, job->mime);
}

static apr_status_t attach_message(smtp_job_t *job,
                                   const jklg_mail_msg_t *msg,
                                   apr_pool_t *p, const char **err)
{
    apr_array_header_t *headers;
    const char *from, *to;
    CURLcode rc;
    int i;

    if (!has_addresses(p, msg, err)) {
        return APR_EINVAL;
    }
    from = apr_pstrcat(p, "<", jklg_mail_address(p, msg->from), ">", NULL);
    to = apr_pstrcat(p, "<", jklg_mail_address(p, msg->to), ">", NULL);
    headers = message_headers(p, msg);
    push(headers, "Content-Type: multipart/alternative");
    for (i = 0; i < headers->nelts; i++) {
        const char *h = APR_ARRAY_IDX(headers, i, const char *);

        if (!jklg_slist_add(&job->headers, h)) {
            *err = "out of memory";
            return APR_ENOMEM;
        }
    }
    if (!jklg_slist_add(&job->rcpt, to)) {
        *err = "out of memory";
        return APR_ENOMEM;
    }
    if ((rc = curl_easy_setopt(job->curl, CURLOPT_MAIL_FROM, from))
        || (rc = curl_easy_setopt(job->curl, CURLOPT_MAIL_RCPT, job->rcpt))
        || (rc = curl_easy_setopt(job->curl, CURLOPT_HTTPHEADER, job->headers))
        || (rc = build_mime(job, p, msg))) {
        *err = apr_psprintf(p, "cannot build the message: %s",
                            curl_easy_strerror(rc));
        return APR_EGENERAL;
    }
    return APR_SUCCESS;
}

/* Belt and braces: no curl message is known to contain the password, but
 * this text goes to logs and to the outbox table. */
static const char *without_secret(apr_pool_t *p, const char *s,
                                  const char *secret)
{
    apr_array_header_t *pieces;
    const char *hit;
    apr_size_t len;

    if (secret == NULL || *secret == '\0' || strstr(s, secret) == NULL) {
        return s;
    }
    len = strlen(secret);
    pieces = apr_array_make(p, 4, sizeof(const char *));
    while ((hit = strstr(s, secret)) != NULL) {
        push(pieces, apr_pstrmemdup(p, s, (apr_size_t)(hit - s)));
        s = hit + len;
    }
    push(pieces, s);
    return join(p, pieces, "****");
}

static apr_status_t smtp_perform(smtp_job_t *job, const jklg_smtp_t *smtp,
                                 apr_pool_t *p, const char **err)
{
    CURLcode rc = curl_easy_perform(job->curl);
    const char *why;

    if (rc == CURLE_OK) {
        return APR_SUCCESS;
    }
    why = curl_easy_strerror(rc);
    if (job->errbuf[0] && strcmp(job->errbuf, why) != 0) {
        why = apr_pstrcat(p, why, ": ", one_line(p, job->errbuf), NULL);
    }
    if (job->reply[0]) {
        why = apr_pstrcat(p, why, " (server said: ", one_line(p, job->reply),
                          ")", NULL);
    }
    *err = without_secret(p, trim(p, why, strlen(why)), smtp->password);
    return jklg_curl_status(rc);
}

apr_status_t jklg_mail_send_smtp(const jklg_smtp_t *smtp,
                                 const jklg_mail_msg_t *msg,
                                 apr_pool_t *p, const char **err)
{
    smtp_job_t *job = NULL;
    apr_status_t rv;

    *err = NULL;
    rv = smtp_job_create(p, smtp, 1, &job, err);
    if (rv == APR_SUCCESS) {
        rv = attach_message(job, msg, p, err);
    }
    if (rv == APR_SUCCESS) {
        rv = smtp_perform(job, smtp, p, err);
    }
    if (job) {
        apr_pool_cleanup_run(p, job, smtp_job_cleanup);
    }
    return rv;
}

/* Connects, reads the greeting, says EHLO and does STARTTLS when offered,
 * but does not log in: a health check that is polled often must not look
 * like password guessing to the mail provider. */
apr_status_t jklg_mail_probe_smtp(const jklg_smtp_t *smtp, apr_pool_t *p,
                                  const char **err)
{
    smtp_job_t *job = NULL;
    apr_status_t rv;
    CURLcode rc;

    *err = NULL;
    rv = smtp_job_create(p, smtp, 0, &job, err);
    if (rv == APR_SUCCESS
        && (rc = curl_easy_setopt(job->curl, CURLOPT_CONNECT_ONLY, 1L))) {
        *err = apr_psprintf(p, "cannot set up the SMTP probe: %s",
                            curl_easy_strerror(rc));
        rv = APR_EGENERAL;
    }
    if (rv == APR_SUCCESS) {
        rv = smtp_perform(job, smtp, p, err);
    }
    if (job) {
        apr_pool_cleanup_run(p, job, smtp_job_cleanup);
    }
    return rv;
}
