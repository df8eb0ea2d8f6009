/* One request being served: the record handlers receive, the routes
 * table and its flags, reading what the request brings, running an
 * endpoint's SQL (mod_jklg_call.c) and writing answers. */
#ifndef MOD_JKLG_REQUEST_H
#define MOD_JKLG_REQUEST_H

#include <jansson.h>
#include "mod_jklg_config.h"
#include "jklg_router.h"

/* One request being served. */
typedef struct {
    request_rec *r;
    jklg_server_conf_t *conf;
    apr_table_t *params;            /* {id} segments of the route */
    json_t *body;                   /* parsed JSON object, or NULL */
    jklg_db_t db;                   /* valid after jklg_req_db() */
    const char *raw;                /* JKLG_RAW_BODY routes: the body */
    apr_size_t raw_len;
    const struct jklg_endpoint_t *endpoint;  /* the route, once matched */
    const char *customer_id;        /* after jklg_req_auth() */
    const char *session_id;
    int hash_slots;                 /* jklg_auth_slot_take() depth */
} jklg_req_t;

typedef int (*jklg_handler_fn)(jklg_req_t *req);

/* What a route requires, checked by the dispatcher before its handler
 * runs, so that no handler can forget it. */
enum {
    JKLG_BODY = 1 << 0,             /* route takes a JSON object body */
    JKLG_RAW_BODY = 1 << 1,         /* route takes the bytes (signatures) */
    JKLG_AUTH = 1 << 2,             /* a customer's bearer token (401) */
    JKLG_STAFF = 1 << 3             /* a user authenticated by Apache (403) */
};

typedef struct jklg_endpoint_t {
    int method;
    const char *pattern;
    jklg_handler_fn handler;
    unsigned flags;
} jklg_endpoint_t;

/* mod_jklg_routes.c */
extern const jklg_endpoint_t jklg_endpoints[];

/* mod_jklg_dispatch.c: the content handler. */
int jklg_handler(request_rec *r);
void jklg_routes_init(apr_pool_t *p);

/* mod_jklg_cors.c: Vary and the CORS headers of an allowed Origin. */
void jklg_cors_headers(jklg_req_t *req);
/* OPTIONS: a preflight, or the methods allowed (a bit set). */
int jklg_cors_options(jklg_req_t *req, int allowed);

/* mod_jklg_input.c: readers answer the client and return 0 on failure. */
/* Whether the client sends a body (Content-Length > 0 or chunked). */
int jklg_req_has_body(request_rec *r);
/* The body as a JSON object (req->body): 415, 413 or 400 otherwise. */
int jklg_req_read_json(jklg_req_t *req);
/* The body's bytes (req->raw), for signatures; at least 1 MiB allowed. */
int jklg_req_read_raw(jklg_req_t *req);
/* A page of a list: ?limit= (1..100, default 20) and ?cursor= (made by
 * jklg_cursor() in SQL: "created_at|id", base64url). */
typedef struct {
    long limit;
    const char *time;           /* NULL: first page */
    const char *id;
} jklg_page_t;
/* Reads ?limit= and ?cursor=: 1, or 0 after answering 422. */
int jklg_req_page(jklg_req_t *req, jklg_page_t *page);

/* The request's query string as a table (NULL-safe). */
apr_table_t *jklg_req_args(jklg_req_t *req);
/* The request's User-Agent as stored (valid UTF-8, at most 512 bytes). */
const char *jklg_req_user_agent(jklg_req_t *req);

/* mod_jklg_reply.c */
int jklg_reply(jklg_req_t *req, int status, json_t *body);
int jklg_reply_error(jklg_req_t *req, int status, const char *code,
                     const char *message, json_t *fields);
/* Logs err, answers 503 when the database is unreachable, else 500. */
int jklg_reply_db_error(jklg_req_t *req, apr_status_t rv, const char *err);
/* 503 unavailable with Retry-After. */
int jklg_reply_unavailable(jklg_req_t *req);
/* 503 when hashing a password failed (memory): worth a retry, so it says
 * when, like every 503 of the contract. */
int jklg_reply_busy(jklg_req_t *req);
/* Writes a JSON text built elsewhere (by SQL) as the response body. */
int jklg_reply_text(jklg_req_t *req, int status, const char *json);
/* 404 not_found: unknown, foreign and malformed ids alike. */
int jklg_reply_not_found(jklg_req_t *req);
/* 422 validation_failed with fields. */
int jklg_reply_invalid(jklg_req_t *req, json_t *fields);
/* 429 rate_limited with Retry-After: 1 when rule's window for key is
 * full (answered), else 0. */
int jklg_rate_limited(jklg_req_t *req, const char *rule, const char *key);

/* mod_jklg_db.c */
/* Acquires the request's pooled connection into req->db: 1 on success,
 * 0 when the database is unreachable (logged; the caller answers). */
int jklg_req_db(jklg_req_t *req);

/* mod_jklg_call.c: the one way a handler runs its SQL and finishes. A
 * call is a statement "SELECT outcome, body, emails FROM jklg.fn(...)"
 * (JKLG_CALL_SQL); on a JKLG_AUTH route the session and the customer of
 * the token come first (JKLG_AUTHED), and the function answers the outcome
 * "unauthorized" when the session is not live. */
#define JKLG_CALL_SQL(fn, params) \
    "SELECT outcome, body::text, array_to_string(emails, ' ') " \
    "FROM jklg." fn "(" params ")"
#define JKLG_AUTHED "p_session => %s::uuid, p_customer => %s::uuid"

/* How an area answers an outcome: status, and for errors the envelope's
 * code and message (the body's "fields" become the error's fields; a NULL
 * message is the body's "message"). A NULL code answers the body. Ends
 * with {NULL}. */
typedef struct {
    const char *outcome;
    int status;
    const char *code;
    const char *message;
} jklg_outcome_map_t;

typedef struct {
    const char *outcome;
    const char *body;               /* JSON text, or NULL */
    json_t *json;                   /* body parsed, by jklg_result_json */
} jklg_result_t;

/* Runs a call, hands the mails it queued to the mail threads: 1 with res,
 * or 0 after answering the database's failure (503, 500). */
int jklg_call(jklg_req_t *req, const char *label, int nargs,
              const char *const *args, jklg_result_t *res);
/* The same for a call the module makes on its own account on any route,
 * without the session and customer first (e.g. recording a gateway's
 * answer during a customer's request). */
int jklg_call_module(jklg_req_t *req, const char *label, int nargs,
                     const char *const *args, jklg_result_t *res);
/* The body as JSON (parsed once, owned by the request), or NULL. */
json_t *jklg_result_json(jklg_req_t *req, jklg_result_t *res);
/* Answers res as map says, else as the common outcomes say (ok 200,
 * created 201, accepted 202, deleted 204, unauthorized 401, not_found 404,
 * conflict 409, invalid 422); an unknown outcome is a logged 500. */
int jklg_finish(jklg_req_t *req, jklg_result_t *res,
                const jklg_outcome_map_t *map);
/* Both; always OK for the handler to return. */
int jklg_call_finish(jklg_req_t *req, const char *label, int nargs,
                     const char *const *args, const jklg_outcome_map_t *map);
/* The same call on a connection without a request (the housekeeping
 * jobs, or code shared with them): res, or the database's failure (err,
 * for the log). The mails queued go to s's mail threads. */
apr_status_t jklg_db_call(server_rec *s, jklg_db_t *db, apr_pool_t *p,
                          const char *label, int nargs,
                          const char *const *args, jklg_result_t *res,
                          const char **err);
/* Hands the outbox rows a statement queued (ids: array_to_string of its
 * uuid[], space separated; NULL or empty: none) to s's mail threads. */
void jklg_emails_queued(server_rec *s, apr_pool_t *p, const char *ids);
/* The body as JSON, parsed once into pool p, or NULL. */
json_t *jklg_db_result_json(apr_pool_t *p, jklg_result_t *res);

/* mod_jklg_ratelimit.c: counting. */
/* Counts one attempt of rule (a name from docs/customers.md) for key: 0
 * when allowed, else the seconds until the window ends (Retry-After).
 * Allows, with a warning, when the cache fails. */
long jklg_ratelimit_hit(request_rec *r, const char *rule, const char *key);
/* The key of every per-IP rule: the client address as mod_remoteip sets
 * it, IPv6 per /64 (jklg_ratelimit_key_addr). */
const char *jklg_ratelimit_key_ip(request_rec *r);
/* mod_jklg_ratelimit.c: forgets the current window's count of rule for
 * key (staff unlock); APR_SUCCESS also when nothing was counted. */
apr_status_t jklg_ratelimit_reset(request_rec *r, const char *rule,
                                  const char *key);

/* mod_jklg_auth.c */
void jklg_auth_child_init(apr_pool_t *pchild, server_rec *s);
/* Verifies the bearer token's signature and claims: 1, or answers 401 and
 * returns 0. Sets Cache-Control: no-store either way. */
int jklg_req_auth(jklg_req_t *req);
int jklg_reply_unauthorized(jklg_req_t *req);
/* Password hashing and checking within the per-process gate. A NULL hash
 * spends a dummy verification (unknown emails cost the same). */
/* A slot of the gate held across a stretch of work: hashes inside it do
 * not queue again. A handler that needs both a hash and the database
 * takes the slot before its connection: requests waiting for the gate
 * then hold no pooled connection, and no request waits for a slot while
 * holding a connection that a slot's holder waits for. Every take has its
 * give. */
void jklg_auth_slot_take(jklg_req_t *req);
void jklg_auth_slot_give(jklg_req_t *req);
apr_status_t jklg_auth_hash(jklg_req_t *req, const char *password,
                            const char **hash);
jklg_password_result_t jklg_auth_verify(jklg_req_t *req, const char *hash,
                                        const char *password);


#endif
