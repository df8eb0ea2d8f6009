/* Email messages: header encoding, addresses, the spool file, and how SMTP
 * delivery fails when nobody answers. Delivery to a real SMTP server is
 * covered by the HTTP suite (aiosmtpd stand-in). */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <apr_strings.h>
#include <apr_file_io.h>
#include <apr_network_io.h>
#include <sodium.h>

#include "suites.h"
#include "jklg_curl.h"
#include "jklg_mail.h"

static apr_status_t remove_dir(void *data)
{
    const char *dir = data;
    apr_dir_t *d;
    apr_finfo_t fi;
    apr_pool_t *p;

    apr_pool_create(&p, NULL);
    if (apr_dir_open(&d, dir, p) == APR_SUCCESS) {
        while (apr_dir_read(&fi, APR_FINFO_NAME, d) == APR_SUCCESS) {
            apr_file_remove(apr_pstrcat(p, dir, "/", fi.name, NULL), p);
        }
        apr_dir_close(d);
    }
    apr_dir_remove(dir, p);
    apr_pool_destroy(p);
    return APR_SUCCESS;
}

static const char *make_temp_dir(void)
{
    char *dir = apr_pstrdup(test_pool, "/tmp/jklg-mail-test-XXXXXX");

    ck_assert_ptr_nonnull(mkdtemp(dir));
    apr_pool_cleanup_register(test_pool, dir, remove_dir,
                              apr_pool_cleanup_null);
    return dir;
}

/* Decodes a Subject value made of RFC 2047 B words separated by white
 * space, checking each word on the way. */
static const char *decode_words(const char *value)
{
    apr_array_header_t *parts = apr_array_make(test_pool, 4,
                                               sizeof(const char *));
    const char *c = value;

    while (*c) {
        const char *end;
        unsigned char bin[128];
        size_t len;
        char *chunk;

        while (*c == ' ' || *c == '\r' || *c == '\n') {
            c++;
        }
        if (*c == '\0') {
            break;
        }
        ck_assert_msg(strncmp(c, "=?UTF-8?B?", 10) == 0, "not a word: %s", c);
        end = strstr(c + 10, "?=");
        ck_assert_ptr_nonnull(end);
        ck_assert_msg(end + 2 - c <= 75, "word longer than 75: %.*s",
                      (int)(end + 2 - c), c);
        ck_assert_int_eq(sodium_base642bin(bin, sizeof(bin), c + 10,
                                           (size_t)(end - c - 10), NULL, &len,
                                           NULL,
                                           sodium_base64_VARIANT_ORIGINAL), 0);
        /* A word never starts inside a UTF-8 sequence nor ends in one. */
        ck_assert(len > 0 && (bin[0] & 0xc0) != 0x80);
        if (len < sizeof(bin) - 1 && len > 0) {
            size_t i = len - 1, need;

            while (i > 0 && (bin[i] & 0xc0) == 0x80) {
                i--;
            }
            need = bin[i] < 0x80 ? 1 : bin[i] < 0xe0 ? 2 : bin[i] < 0xf0 ? 3 : 4;
            ck_assert_uint_eq(len - i, need);
        }
        chunk = apr_pstrmemdup(test_pool, (const char *)bin, len);
        APR_ARRAY_PUSH(parts, const char *) = chunk;
        c = end + 2;
    }
    return apr_array_pstrcat(test_pool, parts, 0);
}

START_TEST(ascii_subject_unchanged)
{
    ck_assert_str_eq(jklg_mail_encode_subject(test_pool,
                                              "Your booking JK-42 is confirmed"),
                     "Your booking JK-42 is confirmed");
    ck_assert_str_eq(jklg_mail_encode_subject(test_pool, ""), "");
}
END_TEST

START_TEST(subject_line_breaks_removed)
{
    const char *s = jklg_mail_encode_subject(test_pool,
                                             "Hi\r\nBcc: x@example.org");

    ck_assert_ptr_null(strpbrk(s, "\r\n"));
    ck_assert_str_eq(s, "Hi  Bcc: x@example.org");
    s = jklg_mail_encode_subject(test_pool, "Caf\xc3\xa9\r\nBcc: x@example.org");
    ck_assert_ptr_null(strpbrk(s, "\r\n"));
    ck_assert_str_eq(decode_words(s), "Caf\xc3\xa9  Bcc: x@example.org");
}
END_TEST

START_TEST(non_ascii_subject_round_trip)
{
    static const char *const subjects[] = {
        "R\xc3\xa9servation confirm\xc3\xa9" "e",
        /* 2-, 3- and 4-byte sequences, long enough for several words. */
        "Z\xc3\xbcrich \xe2\x82\xac\xe2\x82\xac\xe2\x82\xac\xe2\x82\xac"
        "\xe2\x82\xac\xe2\x82\xac\xe2\x82\xac\xe2\x82\xac\xe2\x82\xac"
        "\xe2\x82\xac\xe2\x82\xac\xe2\x82\xac\xe2\x82\xac\xe2\x82\xac"
        "\xe2\x82\xac\xe2\x82\xac\xe2\x82\xac\xe2\x82\xac\xe2\x82\xac"
        "\xf0\x9f\x8c\x8d\xf0\x9f\x8c\x8d\xf0\x9f\x8c\x8d\xf0\x9f\x8c\x8d"
        "\xf0\x9f\x8c\x8d\xf0\x9f\x8c\x8d\xf0\x9f\x8c\x8d\xf0\x9f\x8c\x8d"
        "\xf0\x9f\x8c\x8d\xf0\x9f\x8c\x8d\xf0\x9f\x8c\x8d\xf0\x9f\x8c\x8d"
        " and some plain words at the end, \xc3\xa5 \xc3\xa6 \xc3\xb8",
        "=?UTF-8?B?looks encoded?=",
    };
    size_t i;

    for (i = 0; i < sizeof(subjects) / sizeof(subjects[0]); i++) {
        const char *enc = jklg_mail_encode_subject(test_pool, subjects[i]);
        const char *c;

        for (c = enc; *c; c++) {
            ck_assert_msg(*c >= 0x20 && *c < 0x7f, "not ASCII: %s", enc);
        }
        ck_assert_str_eq(decode_words(enc), subjects[i]);
    }
}
END_TEST

START_TEST(address_extraction)
{
    ck_assert_str_eq(jklg_mail_address(test_pool,
                                       "Sunny Trips <bookings@sunny.example>"),
                     "bookings@sunny.example");
    ck_assert_str_eq(jklg_mail_address(test_pool, "bookings@sunny.example"),
                     "bookings@sunny.example");
    ck_assert_str_eq(jklg_mail_address(test_pool, "  a@b.example  "),
                     "a@b.example");
    ck_assert_str_eq(jklg_mail_address(test_pool, "<a@b.example>"),
                     "a@b.example");
    ck_assert_str_eq(jklg_mail_address(test_pool,
                                       "\"Smith <J>\" < j@x.example >"),
                     "j@x.example");
    ck_assert_str_eq(jklg_mail_address(test_pool, NULL), "");
}
END_TEST

START_TEST(message_id_random_at_from_domain)
{
    const char *a = jklg_mail_new_message_id(test_pool,
                                             "Sunny <b@mail.sunny.example>");
    const char *b = jklg_mail_new_message_id(test_pool,
                                             "Sunny <b@mail.sunny.example>");
    const char *c;

    ck_assert_str_ne(a, b);
    ck_assert_int_eq(a[0], '<');
    ck_assert_str_eq(strchr(a, '@'), "@mail.sunny.example>");
    ck_assert_int_eq(strchr(a, '@') - a - 1, 32);
    for (c = a + 1; *c != '@'; c++) {
        ck_assert(strchr("0123456789abcdef", *c) != NULL);
    }
    ck_assert_str_eq(strchr(jklg_mail_new_message_id(test_pool, "nodomain"),
                            '@'), "@localhost>");
}
END_TEST

static char *read_file(const char *path)
{
    apr_file_t *f;
    apr_finfo_t fi;
    char *buf;

    ck_assert_int_eq(apr_stat(&fi, path, APR_FINFO_SIZE, test_pool),
                     APR_SUCCESS);
    ck_assert_int_eq(apr_file_open(&f, path, APR_FOPEN_READ,
                                   APR_FPROT_OS_DEFAULT, test_pool),
                     APR_SUCCESS);
    buf = apr_palloc(test_pool, (apr_size_t)fi.size + 1);
    ck_assert_int_eq(apr_file_read_full(f, buf, (apr_size_t)fi.size, NULL),
                     APR_SUCCESS);
    buf[fi.size] = '\0';
    apr_file_close(f);
    return buf;
}

static jklg_mail_msg_t sample_msg(void)
{
    jklg_mail_msg_t msg;

    memset(&msg, 0, sizeof(msg));
    msg.from = "Sunny Trips <bookings@sunny.example>";
    msg.to = "anna@example.org";
    msg.subject = "Confirm your email address";
    msg.text = "Hello Anna,\n\nOpen this link:\n\n"
               "https://sunny.example/verify-email?token=abc_DEF-123&x=1\n";
    msg.html = "<p>Hello Anna,</p>\n<p><a href=\"https://sunny.example/"
               "verify-email?token=abc_DEF-123&amp;x=1\">Confirm</a></p>\n";
    msg.date = apr_time_from_sec(1795514400);   /* 2026-11-24 10:00:00 UTC */
    return msg;
}

static const char *write_spool(const char *dir, const jklg_mail_msg_t *msg)
{
    const char *path = NULL, *err = NULL;

    ck_assert_int_eq(jklg_mail_write_spool(dir, msg, test_pool, &path, &err),
                     APR_SUCCESS);
    ck_assert_ptr_null(err);
    ck_assert_ptr_nonnull(path);
    return path;
}

/* The body of the part of the given type, and its transfer encoding. */
static const char *part_body(const char *eml, const char *boundary,
                             const char *type, const char **cte)
{
    const char *delim = apr_pstrcat(test_pool, "--", boundary, "\r\n", NULL);
    const char *c = eml, *body, *end, *enc;

    while ((c = strstr(c, delim)) != NULL) {
        c += strlen(delim);
        body = strstr(c, "\r\n\r\n");
        ck_assert_ptr_nonnull(body);
        if (strncmp(c, apr_pstrcat(test_pool, "Content-Type: ", type, NULL),
                    strlen("Content-Type: ") + strlen(type)) != 0) {
            continue;
        }
        enc = strstr(c, "Content-Transfer-Encoding: ");
        ck_assert(enc && enc < body);
        *cte = apr_pstrmemdup(test_pool, enc + 27,
                              (apr_size_t)(strstr(enc, "\r\n") - enc - 27));
        body += 4;
        end = strstr(body, apr_pstrcat(test_pool, "\r\n--", boundary, NULL));
        ck_assert_ptr_nonnull(end);
        return apr_pstrmemdup(test_pool, body, (apr_size_t)(end - body));
    }
    ck_abort_msg("no %s part", type);
    return NULL;
}

static const char *boundary_of(const char *eml)
{
    const char *b = strstr(eml, "boundary=\"");
    const char *end;

    ck_assert_ptr_nonnull(b);
    b += 10;
    end = strchr(b, '"');
    ck_assert_ptr_nonnull(end);
    return apr_pstrmemdup(test_pool, b, (apr_size_t)(end - b));
}

START_TEST(spool_file_content)
{
    const char *dir = make_temp_dir();
    jklg_mail_msg_t msg = sample_msg();
    const char *path = write_spool(dir, &msg);
    char *eml = read_file(path);
    const char *headers_end = strstr(eml, "\r\n\r\n");
    const char *boundary, *body, *cte, *c, *name;
    apr_finfo_t fi;

    ck_assert_ptr_nonnull(headers_end);
    ck_assert_ptr_nonnull(strstr(eml, "Date: Tue, 24 Nov 2026 10:00:00 +0000\r\n"));
    ck_assert_ptr_nonnull(strstr(eml, "Message-ID: <"));
    ck_assert_ptr_nonnull(strstr(eml, "@sunny.example>\r\n"));
    ck_assert_ptr_nonnull(strstr(eml, "From: Sunny Trips <bookings@sunny.example>\r\n"));
    ck_assert_ptr_nonnull(strstr(eml, "To: anna@example.org\r\n"));
    ck_assert_ptr_nonnull(strstr(eml, "Subject: Confirm your email address\r\n"));
    ck_assert_ptr_nonnull(strstr(eml, "MIME-Version: 1.0\r\n"));
    ck_assert_ptr_nonnull(strstr(eml, "Content-Type: multipart/alternative;"));
    ck_assert(strstr(eml, "Content-Type: multipart/alternative;") < headers_end);

    /* Every line ends with CRLF. */
    for (c = eml; (c = strchr(c, '\n')) != NULL; c++) {
        ck_assert_msg(c > eml && c[-1] == '\r', "bare LF at %d",
                      (int)(c - eml));
    }
    ck_assert_int_eq(eml[strlen(eml) - 1], '\n');

    boundary = boundary_of(eml);
    ck_assert_uint_ge(strlen(boundary), 20);
    ck_assert_ptr_nonnull(strstr(eml, apr_pstrcat(test_pool, "\r\n--",
                                                  boundary, "--\r\n", NULL)));

    body = part_body(eml, boundary, "text/plain; charset=utf-8", &cte);
    ck_assert_str_eq(cte, "8bit");
    ck_assert_ptr_nonnull(strstr(body,
        "\r\nhttps://sunny.example/verify-email?token=abc_DEF-123&x=1\r\n"));
    ck_assert_str_eq(body, "Hello Anna,\r\n\r\nOpen this link:\r\n\r\n"
                     "https://sunny.example/verify-email?token=abc_DEF-123&x=1\r\n");

    body = part_body(eml, boundary, "text/html; charset=utf-8", &cte);
    ck_assert_str_eq(cte, "8bit");
    ck_assert_ptr_nonnull(strstr(body, "<a href=\"https://sunny.example/"));

    name = strrchr(path, '/') + 1;
    ck_assert_str_eq(name + strlen(name) - 4, ".eml");
    ck_assert(strchr("123456789", name[0]) != NULL);
    ck_assert_ptr_nonnull(strchr(name, '-'));
    ck_assert_int_eq(apr_stat(&fi, path, APR_FINFO_PROT, test_pool),
                     APR_SUCCESS);
    ck_assert_int_eq(fi.protection, APR_FPROT_UREAD | APR_FPROT_UWRITE
                                    | APR_FPROT_GREAD);
}
END_TEST

START_TEST(spool_long_line_falls_back_to_base64)
{
    const char *dir = make_temp_dir();
    jklg_mail_msg_t msg = sample_msg();
    char *line = apr_palloc(test_pool, 1201);
    const char *eml, *b64, *cte, *c;
    unsigned char *bin;
    size_t len;

    memset(line, 'a', 1200);
    line[1200] = '\0';
    msg.text = apr_pstrcat(test_pool, "Start\n", line, "\nEnd \xc3\xa9\n", NULL);
    eml = read_file(write_spool(dir, &msg));

    b64 = part_body(eml, boundary_of(eml), "text/plain; charset=utf-8", &cte);
    ck_assert_str_eq(cte, "base64");
    for (c = b64; *c; ) {
        const char *eol = strstr(c, "\r\n");
        size_t n = eol ? (size_t)(eol - c) : strlen(c);

        ck_assert_uint_le(n, 76);
        c += n + (eol ? 2 : 0);
    }
    bin = apr_palloc(test_pool, strlen(b64));
    ck_assert_int_eq(sodium_base642bin(bin, strlen(b64), b64, strlen(b64),
                                       "\r\n", &len, NULL,
                                       sodium_base64_VARIANT_ORIGINAL), 0);
    ck_assert_str_eq(apr_pstrmemdup(test_pool, (char *)bin, len),
                     apr_pstrcat(test_pool, "Start\r\n", line,
                                 "\r\nEnd \xc3\xa9\r\n", NULL));
    /* Only the part that needs it is encoded. */
    part_body(eml, boundary_of(eml), "text/html; charset=utf-8", &cte);
    ck_assert_str_eq(cte, "8bit");
}
END_TEST

START_TEST(spool_headers_encoded_and_folded)
{
    const char *dir = make_temp_dir();
    jklg_mail_msg_t msg = sample_msg();
    const char *eml, *subject, *end, *c;

    msg.from = "Voyages \xc3\x89lite <b@voyages.example>";
    msg.subject = "R\xc3\xa9servation confirm\xc3\xa9" "e pour votre voyage "
                  "\xc3\xa0 Z\xc3\xbcrich, Gen\xc3\xa8ve et Montr\xc3\xa9" "al "
                  "avec un tr\xc3\xa8s long sujet";
    eml = read_file(write_spool(dir, &msg));
    ck_assert_ptr_nonnull(strstr(eml, "From: =?UTF-8?B?"));
    ck_assert_ptr_nonnull(strstr(eml, "?= <b@voyages.example>\r\n"));

    subject = strstr(eml, "\r\nSubject: ") + 11;
    /* The header ends at the first CRLF not followed by a space. */
    for (end = subject; !(end[0] == '\r' && end[2] != ' '); end++) {
    }
    ck_assert_ptr_nonnull(strstr(apr_pstrmemdup(test_pool, subject,
                                                (apr_size_t)(end - subject)),
                                 "\r\n "));
    ck_assert_str_eq(decode_words(apr_pstrmemdup(test_pool, subject,
                                                 (apr_size_t)(end - subject))),
                     msg.subject);
    for (c = subject - 9; c < end; ) {
        const char *eol = strstr(c, "\r\n");

        ck_assert_int_le(eol - c, 78);
        c = eol + 2;
    }

    msg.from = "Sunny Trips, Inc. <b@sunny.example>";
    eml = read_file(write_spool(dir, &msg));
    ck_assert_ptr_nonnull(strstr(eml,
                          "From: \"Sunny Trips, Inc.\" <b@sunny.example>\r\n"));
}
END_TEST

START_TEST(spool_is_atomic_and_leaves_no_temp_files)
{
    const char *dir = make_temp_dir();
    jklg_mail_msg_t msg = sample_msg();
    const char *paths[5], *err = NULL, *path = NULL;
    apr_dir_t *d;
    apr_finfo_t fi;
    int i, j, files = 0;

    for (i = 0; i < 5; i++) {
        paths[i] = write_spool(dir, &msg);
        for (j = 0; j < i; j++) {
            ck_assert_str_ne(paths[i], paths[j]);
        }
    }
    ck_assert_int_eq(apr_dir_open(&d, dir, test_pool), APR_SUCCESS);
    while (apr_dir_read(&fi, APR_FINFO_NAME, d) == APR_SUCCESS) {
        if (strcmp(fi.name, ".") == 0 || strcmp(fi.name, "..") == 0) {
            continue;
        }
        ck_assert_msg(fi.name[0] != '.', "temp file left: %s", fi.name);
        ck_assert_str_eq(fi.name + strlen(fi.name) - 4, ".eml");
        files++;
    }
    apr_dir_close(d);
    ck_assert_int_eq(files, 5);

    ck_assert_int_ne(jklg_mail_write_spool(apr_pstrcat(test_pool, dir,
                                                       "/missing", NULL),
                                           &msg, test_pool, &path, &err),
                     APR_SUCCESS);
    ck_assert_ptr_nonnull(err);
    ck_assert_ptr_null(path);
}
END_TEST

/* A port that refuses connections: bound, never listening. */
static apr_port_t refusing_port(apr_socket_t **sock)
{
    apr_sockaddr_t *sa;

    ck_assert_int_eq(apr_sockaddr_info_get(&sa, "127.0.0.1", APR_INET, 0, 0,
                                           test_pool), APR_SUCCESS);
    ck_assert_int_eq(apr_socket_create(sock, APR_INET, SOCK_STREAM,
                                       APR_PROTO_TCP, test_pool), APR_SUCCESS);
    ck_assert_int_eq(apr_socket_bind(*sock, sa), APR_SUCCESS);
    ck_assert_int_eq(apr_socket_addr_get(&sa, APR_LOCAL, *sock), APR_SUCCESS);
    return sa->port;
}

START_TEST(smtp_refused_connection_is_reported)
{
    apr_socket_t *sock;
    jklg_smtp_t smtp = {NULL, "user", "pa55word-s3cret", apr_time_from_sec(5)};
    jklg_mail_msg_t msg = sample_msg();
    const char *err = NULL;

    smtp.url = apr_psprintf(test_pool, "smtp://127.0.0.1:%d",
                            (int)refusing_port(&sock));
    ck_assert_int_eq(jklg_mail_send_smtp(&smtp, &msg, test_pool, &err),
                     APR_ECONNREFUSED);
    ck_assert_ptr_nonnull(err);
    ck_assert_ptr_null(strstr(err, "pa55word"));
    err = NULL;
    ck_assert_int_eq(jklg_mail_probe_smtp(&smtp, test_pool, &err),
                     APR_ECONNREFUSED);
    ck_assert_ptr_nonnull(err);
}
END_TEST

START_TEST(smtp_rejects_other_schemes)
{
    jklg_smtp_t smtp = {"http://127.0.0.1:25", NULL, NULL, 0};
    jklg_mail_msg_t msg = sample_msg();
    const char *err = NULL;

    ck_assert_int_eq(jklg_mail_send_smtp(&smtp, &msg, test_pool, &err),
                     APR_EINVAL);
    ck_assert_ptr_nonnull(err);
    smtp.url = "file:///etc/passwd";
    ck_assert_int_eq(jklg_mail_probe_smtp(&smtp, test_pool, &err), APR_EINVAL);
}
END_TEST

/* Mail and the gateways share one reading of libcurl's errors. */
START_TEST(curl_errors_map_to_apr_and_transience)
{
    ck_assert_int_eq(jklg_curl_status(CURLE_OK), APR_SUCCESS);
    ck_assert_int_eq(jklg_curl_status(CURLE_OPERATION_TIMEDOUT), APR_TIMEUP);
    ck_assert_int_eq(jklg_curl_status(CURLE_COULDNT_CONNECT),
                     APR_ECONNREFUSED);
    ck_assert_int_eq(jklg_curl_status(CURLE_COULDNT_RESOLVE_HOST),
                     APR_ECONNREFUSED);
    ck_assert_int_eq(jklg_curl_status(CURLE_RECV_ERROR), APR_ECONNRESET);
    ck_assert_int_eq(jklg_curl_status(CURLE_OUT_OF_MEMORY), APR_ENOMEM);
    ck_assert_int_eq(jklg_curl_status(CURLE_PEER_FAILED_VERIFICATION),
                     APR_EGENERAL);
    ck_assert(jklg_curl_transient(CURLE_OPERATION_TIMEDOUT));
    ck_assert(jklg_curl_transient(CURLE_SEND_ERROR));
    ck_assert(!jklg_curl_transient(CURLE_OK));
    ck_assert(!jklg_curl_transient(CURLE_WRITE_ERROR));
    ck_assert(!jklg_curl_transient(CURLE_LOGIN_DENIED));
}
END_TEST

/* For payments: only a request that never left is a definite "not done";
 * a broken connection may have delivered it. */
START_TEST(curl_outcome_for_payments)
{
    ck_assert_int_eq(jklg_curl_outcome(CURLE_OK), APR_SUCCESS);
    ck_assert_int_eq(jklg_curl_outcome(CURLE_OPERATION_TIMEDOUT), APR_TIMEUP);
    ck_assert_int_eq(jklg_curl_outcome(CURLE_COULDNT_CONNECT),
                     APR_ECONNREFUSED);
    ck_assert_int_eq(jklg_curl_outcome(CURLE_COULDNT_RESOLVE_HOST),
                     APR_ECONNREFUSED);
    ck_assert_int_eq(jklg_curl_outcome(CURLE_SSL_CONNECT_ERROR),
                     APR_ECONNREFUSED);
    ck_assert_int_eq(jklg_curl_outcome(CURLE_SEND_ERROR), APR_INCOMPLETE);
    ck_assert_int_eq(jklg_curl_outcome(CURLE_RECV_ERROR), APR_INCOMPLETE);
    ck_assert_int_eq(jklg_curl_outcome(CURLE_GOT_NOTHING), APR_INCOMPLETE);
    ck_assert_int_eq(jklg_curl_outcome(CURLE_WRITE_ERROR), APR_INCOMPLETE);
    ck_assert_int_eq(jklg_curl_outcome(CURLE_PEER_FAILED_VERIFICATION),
                     APR_INCOMPLETE);
}
END_TEST

Suite *suite_mail(void)
{
    Suite *s = suite_create("mail");
    TCase *headers = tcase_create("headers");
    TCase *spool = tcase_create("spool");
    TCase *smtp = tcase_create("smtp");

    tcase_add_checked_fixture(headers, test_pool_setup, test_pool_teardown);
    tcase_add_test(headers, ascii_subject_unchanged);
    tcase_add_test(headers, subject_line_breaks_removed);
    tcase_add_test(headers, non_ascii_subject_round_trip);
    tcase_add_test(headers, address_extraction);
    tcase_add_test(headers, message_id_random_at_from_domain);
    suite_add_tcase(s, headers);

    tcase_add_checked_fixture(spool, test_pool_setup, test_pool_teardown);
    tcase_add_test(spool, spool_file_content);
    tcase_add_test(spool, spool_long_line_falls_back_to_base64);
    tcase_add_test(spool, spool_headers_encoded_and_folded);
    tcase_add_test(spool, spool_is_atomic_and_leaves_no_temp_files);
    suite_add_tcase(s, spool);

    tcase_add_checked_fixture(smtp, test_pool_setup, test_pool_teardown);
    tcase_add_test(smtp, smtp_refused_connection_is_reported);
    tcase_add_test(smtp, smtp_rejects_other_schemes);
    tcase_add_test(smtp, curl_errors_map_to_apr_and_transience);
    tcase_add_test(smtp, curl_outcome_for_payments);
    suite_add_tcase(s, smtp);
    return s;
}
