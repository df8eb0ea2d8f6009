/* Labelled SQL statements on an apr_dbd connection (PostgreSQL), run with
 * a client-side deadline; the repair of what mod_dbd forgets after a
 * database restart; and the guard that fails fast while the database does
 * not answer. */
#ifndef JKLG_DB_H
#define JKLG_DB_H

#include <apr_pools.h>
#include <apr_hash.h>
#include <apr_tables.h>
#include <apr_dbd.h>
#include <apr_time.h>

/* Per process and connection pool: serialises taking connections from
 * mod_dbd's pool (so that waits for it have a deadline) and remembers that
 * the database did not answer in time (so that callers fail fast instead
 * of queueing behind connects that cannot succeed). */
typedef struct jklg_db_guard_t jklg_db_guard_t;

/* Called, under the guard's lock, when the database becomes unreachable
 * (down = 1) or answers again (down = 0): for the error log. */
typedef void jklg_db_guard_notify_fn(void *baton, int down);

typedef struct {
    const char *label;
    const char *sql;      /* apr_dbd placeholders: %s, cast in SQL */
} jklg_statement_t;

/* The fields of mod_dbd's ap_dbd_t that the core needs, and the
 * statements prepared on such connections: a NULL-terminated list of
 * {NULL, NULL}-terminated arrays. */
typedef struct {
    const jklg_statement_t *const *statements;
    const apr_dbd_driver_t *driver;
    apr_dbd_t *handle;
    apr_hash_t *prepared;
    apr_pool_t *pool;           /* lives as long as the connection */
    jklg_db_guard_t *guard;     /* told about timeouts; may be NULL */
    apr_interval_time_t timeout;    /* per statement; 0: none */
} jklg_db_t;

/* A result read to the end: rows of ncols strings (NULL for SQL NULL). */
typedef struct {
    int nrows;
    int ncols;
    const char ***rows;
} jklg_rows_t;

/* Makes a pooled connection fit for use, without a round trip when it is:
 * - an idle connection whose server went away (restart) is reconnected
 *   now, instead of failing the next query;
 * - a connection whose server session changed (our reconnect, or libpq's
 *   PQreset inside mod_dbd's check) has lost its prepared statements, and
 *   mod_dbd does not prepare them again: compares the backend pid with the
 *   one seen last and prepares every statement again when it changed.
 * APR_ECONNRESET when the server cannot be reached. */
apr_status_t jklg_db_ready(jklg_db_t *db, const char **err);

/* Runs a labelled statement (SELECT, or DML with RETURNING, or plain DML:
 * then nrows is 0) and reads every row into p, through libpq's
 * asynchronous API so that it ends within db->timeout. Returns APR_ECONNRESET when the connection to the server is lost
 * and APR_TIMEUP when the server did not answer in time (the caller
 * answers 503; the connection is then closed, so that mod_dbd reconnects
 * it instead of handing it out again, and the guard learns that the
 * database is unreachable), APR_EGENERAL on other SQL errors; *err is for
 * the error log only. */
apr_status_t jklg_db_query(jklg_db_t *db, apr_pool_t *p, const char *label,
                           int nargs, const char *const *args,
                           jklg_rows_t *out, const char **err);

/* First column of the first row, or NULL. */
const char *jklg_db_value(const jklg_rows_t *rows);

/* probe_interval: how long callers fail fast after a timeout before one
 * of them tries the database again. */
apr_status_t jklg_db_guard_create(jklg_db_guard_t **guard, apr_pool_t *p,
                                  apr_interval_time_t probe_interval,
                                  jklg_db_guard_notify_fn *notify,
                                  void *baton);

/* Before taking a connection from the pool. APR_SUCCESS: go on (perhaps
 * as the one probe of an unreachable database; probe_time bounds how long
 * it may take before another caller probes), then call
 * jklg_db_guard_leave once the connection is taken, or not. APR_EAGAIN:
 * the database is known unreachable, answer 503 now. APR_TIMEUP: while
 * this one waited, for patience, no caller got its turn done and the
 * database gave no answer. */
apr_status_t jklg_db_guard_enter(jklg_db_guard_t *guard,
                                 apr_interval_time_t patience,
                                 apr_interval_time_t probe_time);
void jklg_db_guard_leave(jklg_db_guard_t *guard);

/* What a use of the database found: APR_TIMEUP makes it unreachable for
 * probe_interval; anything else is an answer (even a refused connection,
 * which costs nothing to find out) and ends an outage. */
void jklg_db_guard_report(jklg_db_guard_t *guard, apr_status_t outcome);

/* 1 while callers fail fast. */
int jklg_db_guard_down(jklg_db_guard_t *guard);

#endif
