/* Building and delivering one email message: SMTP(S) through libcurl or a
 * spool directory (one .eml file per message). No request_rec, no database:
 * the outbox worker renders a template into a jklg_mail_msg_t and calls
 * one of the deliver functions. */
#ifndef JKLG_MAIL_H
#define JKLG_MAIL_H

#include <apr_pools.h>
#include <apr_time.h>

typedef struct {
    const char *from;        /* "Name <addr@example.com>" or "addr@example.com" */
    const char *to;          /* one bare address, already validated */
    const char *subject;     /* UTF-8; encoded (RFC 2047) when not ASCII */
    const char *text;        /* text/plain alternative, UTF-8 */
    const char *html;        /* text/html alternative, UTF-8 */
    const char *message_id;  /* "<...@domain>"; NULL: one is generated */
    apr_time_t date;         /* 0: now */
} jklg_mail_msg_t;

typedef struct {
    const char *url;         /* smtp://host:port or smtps://host:port */
    const char *user;        /* NULL: no AUTH */
    const char *password;
    apr_interval_time_t timeout;  /* total per message, also connect bound */
} jklg_smtp_t;

/* Address part of a From value: "Name <a@b>" -> "a@b". */
const char *jklg_mail_address(apr_pool_t *p, const char *from);

/* Message-ID "<random@domain-of-from>". */
const char *jklg_mail_new_message_id(apr_pool_t *p, const char *from);

/* Subject header value: unchanged when printable ASCII, else RFC 2047
 * "=?UTF-8?B?...?=" encoded words. CR and LF never survive. */
const char *jklg_mail_encode_subject(apr_pool_t *p, const char *subject);

/* Sends msg as multipart/alternative (text + html, built with curl_mime).
 * On failure returns non-success and sets *err to a message that is safe
 * to log and store (never the password). APR_TIMEUP on timeouts. */
apr_status_t jklg_mail_send_smtp(const jklg_smtp_t *smtp,
                                 const jklg_mail_msg_t *msg,
                                 apr_pool_t *p, const char **err);

/* Checks that the SMTP server answers its greeting within timeout. */
apr_status_t jklg_mail_probe_smtp(const jklg_smtp_t *smtp, apr_pool_t *p,
                                  const char **err);

/* Writes msg as a complete RFC 5322 multipart/alternative message to
 * dir/<time>-<random>.eml, atomically (temp file + rename), and sets
 * *path to the file written. */
apr_status_t jklg_mail_write_spool(const char *dir,
                                   const jklg_mail_msg_t *msg,
                                   apr_pool_t *p, const char **path,
                                   const char **err);

#endif
