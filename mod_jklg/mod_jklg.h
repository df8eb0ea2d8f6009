/* Declarations shared by the httpd glue files (mod_jklg*.c). The core
 * (jklg_*.c) never includes this. */
#ifndef MOD_JKLG_H
#define MOD_JKLG_H

#include <httpd.h>
#include <http_config.h>
#include <http_log.h>
#include <jansson.h>
#include "jklg_db.h"
#include "jklg_outbox.h"
#include "jklg_router.h"

#ifndef JKLG_MODULE_RECORD
APLOG_USE_MODULE(jklg);
#endif
extern module AP_MODULE_DECLARE_DATA jklg_module;

#define JKLG_UNSET (-1)

/* Error log tag: JKLGNO(00101) -> "JKLG00101: ". */
#define JKLGNO(n) "JKLG" #n ": "

typedef struct {
    int used;                       /* any JKLG directive here or inherited */
    const char *public_url;
    apr_off_t max_body;
    apr_array_header_t *allow_origins;  /* const char *; NULL: inherit */
    const char *mail_from;
    const char *smtp_url;
    const char *smtp_user;
    const char *smtp_password;
    const char *mail_spool;
    const char *mail_templates;
    int mail_threads;
    int mail_max_attempts;
    apr_interval_time_t mail_retry_base;
    apr_interval_time_t mail_timeout;
    apr_interval_time_t mail_sweep;
    jklg_outbox_conf_t *outbox;     /* derived in post_config */
} jklg_server_conf_t;

/* Defaults, applied by the getters in mod_jklg_config.c. */
#define JKLG_DEFAULT_MAX_BODY      (64 * 1024)
#define JKLG_DEFAULT_MAIL_THREADS  2
#define JKLG_DEFAULT_MAIL_ATTEMPTS 8
#define JKLG_DEFAULT_MAIL_RETRY    apr_time_from_sec(30)
#define JKLG_DEFAULT_MAIL_TIMEOUT  apr_time_from_sec(30)
#define JKLG_DEFAULT_MAIL_SWEEP    apr_time_from_sec(30)
#define JKLG_MAIL_RETRY_CAP        apr_time_from_sec(3600)

extern const command_rec jklg_directives[];
void *jklg_create_server_conf(apr_pool_t *p, server_rec *s);
void *jklg_merge_server_conf(apr_pool_t *p, void *basev, void *addv);
jklg_server_conf_t *jklg_conf(const server_rec *s);
apr_off_t jklg_conf_max_body(const jklg_server_conf_t *c);
int jklg_conf_mail_threads(const jklg_server_conf_t *c);
apr_interval_time_t jklg_conf_mail_sweep(const jklg_server_conf_t *c);
apr_interval_time_t jklg_conf_mail_timeout(const jklg_server_conf_t *c);
/* Refuses a server whose configuration is incomplete; NULL when fine. */
const char *jklg_conf_check(apr_pool_t *p, server_rec *s);

/* One request being served. */
typedef struct {
    request_rec *r;
    jklg_server_conf_t *conf;
    apr_table_t *params;            /* {id} segments of the route */
    json_t *body;                   /* parsed JSON object, or NULL */
    jklg_db_t db;                   /* valid after jklg_req_db() */
} jklg_req_t;

typedef int (*jklg_handler_fn)(jklg_req_t *req);

enum {
    JKLG_BODY = 1 << 0              /* route takes a JSON object body */
};

typedef struct {
    int method;
    const char *pattern;
    jklg_handler_fn handler;
    unsigned flags;
} jklg_endpoint_t;

/* mod_jklg_routes.c */
extern const jklg_endpoint_t jklg_endpoints[];

/* mod_jklg_request.c */
int jklg_handler(request_rec *r);
void jklg_routes_init(apr_pool_t *p);
int jklg_reply(jklg_req_t *req, int status, json_t *body);
int jklg_reply_error(jklg_req_t *req, int status, const char *code,
                     const char *message, json_t *fields);
/* Logs err, answers 503 when the database is unreachable, else 500. */
int jklg_reply_db_error(jklg_req_t *req, apr_status_t rv, const char *err);
/* 503 unavailable with Retry-After. */
int jklg_reply_unavailable(jklg_req_t *req);
/* Acquires the request's pooled connection into req->db: 1 on success,
 * 0 when the database is unreachable (logged; the caller answers). */
int jklg_req_db(jklg_req_t *req);

/* mod_jklg_mailer.c */
void jklg_mailer_child_init(apr_pool_t *pchild, server_rec *s);
/* Hands a queued outbox row to this child's mail threads. Never blocks. */
void jklg_mailer_push(server_rec *s, const char *id);

/* Handlers. */
int jklg_health_get(jklg_req_t *req);
int jklg_email_test(jklg_req_t *req);
int jklg_email_status(jklg_req_t *req);
int jklg_email_batch(jklg_req_t *req);

#endif
