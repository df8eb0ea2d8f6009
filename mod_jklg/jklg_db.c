#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <libpq-fe.h>
#include <apr_strings.h>
#include "jklg_db.h"

#define BACKEND_PID_KEY "jklg:backend-pid"

static int backend_pid(const jklg_db_t *db)
{
    PGconn *conn = apr_dbd_native_handle(db->driver, db->handle);
    return conn ? PQbackendPID(conn) : 0;
}

static int connection_lost(const jklg_db_t *db)
{
    PGconn *conn = apr_dbd_native_handle(db->driver, db->handle);
    return !conn || PQstatus(conn) != CONNECTION_OK;
}

static apr_status_t prepare_all(jklg_db_t *db, const char **err)
{
    for (int i = 0; db->statements[i]; i++) {
        for (const jklg_statement_t *s = db->statements[i]; s->label;
             s++) {
            apr_dbd_prepared_t *stmt = NULL;

            if (apr_dbd_prepare(db->driver, db->pool, db->handle, s->sql,
                                s->label, &stmt)) {
                *err = apr_psprintf(db->pool, "preparing %s: %s", s->label,
                                    apr_dbd_error(db->driver, db->handle, 0));
                return APR_EGENERAL;
            }
            apr_hash_set(db->prepared, s->label, APR_HASH_KEY_STRING, stmt);
        }
    }
    return APR_SUCCESS;
}

/* An idle connection has nothing to read unless its server is going away
 * (a FATAL message on shutdown, then EOF). libpq only notices when the next
 * query fails; poll notices now, without a round trip. */
static int idle_connection_dead(PGconn *conn)
{
    struct pollfd pfd;

    pfd.fd = PQsocket(conn);
    pfd.events = POLLIN;
    pfd.revents = 0;
    if (pfd.fd < 0 || PQstatus(conn) != CONNECTION_OK) {
        return 1;
    }
    return poll(&pfd, 1, 0) > 0;
}

apr_status_t jklg_db_ready(jklg_db_t *db, const char **err)
{
    PGconn *conn = apr_dbd_native_handle(db->driver, db->handle);
    int *seen = NULL;
    int pid;
    apr_status_t rv;

    if (conn && idle_connection_dead(conn)) {
        PQreset(conn);
        if (PQstatus(conn) != CONNECTION_OK) {
            *err = "the database server cannot be reached";
            return APR_ECONNRESET;
        }
    }
    pid = backend_pid(db);
    apr_pool_userdata_get((void **)&seen, BACKEND_PID_KEY, db->pool);
    if (!seen) {
        /* First sight: mod_dbd prepared the statements when it opened it. */
        seen = apr_palloc(db->pool, sizeof(*seen));
        *seen = pid;
        apr_pool_userdata_setn(seen, BACKEND_PID_KEY, NULL, db->pool);
        return APR_SUCCESS;
    }
    if (*seen == pid) {
        return APR_SUCCESS;
    }
    rv = prepare_all(db, err);
    if (rv == APR_SUCCESS) {
        *seen = pid;
    }
    return rv;
}

/* Waits until the socket is ready for events, or deadline. */
static apr_status_t wait_socket(PGconn *conn, short events,
                                apr_time_t deadline)
{
    struct pollfd pfd;

    for (;;) {
        apr_interval_time_t left = deadline - apr_time_now();
        int n;

        if (left <= 0) {
            return APR_TIMEUP;
        }
        pfd.fd = PQsocket(conn);
        pfd.events = events;
        pfd.revents = 0;
        if (pfd.fd < 0) {
            return APR_ECONNRESET;
        }
        n = poll(&pfd, 1, (int)((left + 999) / 1000));
        if (n > 0) {
            return APR_SUCCESS;
        }
        if (n < 0 && errno != EINTR) {
            return APR_FROM_OS_ERROR(errno);
        }
    }
}

/* Sends the statement without blocking on a full socket buffer. */
static apr_status_t send_query(PGconn *conn, const char *label, int nargs,
                               const char *const *args, apr_time_t deadline)
{
    apr_status_t rv;
    int pending;

    if (!PQsendQueryPrepared(conn, label, nargs, args, NULL, NULL, 0)) {
        return APR_EGENERAL;
    }
    while ((pending = PQflush(conn)) == 1) {
        rv = wait_socket(conn, POLLIN | POLLOUT, deadline);
        if (rv != APR_SUCCESS) {
            return rv;
        }
        /* The server may answer (an error) before reading everything. */
        if (!PQconsumeInput(conn)) {
            return APR_EGENERAL;
        }
    }
    return pending == 0 ? APR_SUCCESS : APR_EGENERAL;
}

/* Reads until PQgetResult would not block. */
static apr_status_t await_input(PGconn *conn, apr_time_t deadline)
{
    while (PQisBusy(conn)) {
        apr_status_t rv = wait_socket(conn, POLLIN, deadline);

        if (rv != APR_SUCCESS) {
            return rv;
        }
        if (!PQconsumeInput(conn)) {
            return APR_EGENERAL;
        }
    }
    return APR_SUCCESS;
}

/* One statement has one result; the rest of the stream (nothing, or an
 * error after a failed connection) is read to its end so that the
 * connection goes back to the pool idle. */
static apr_status_t collect_result(PGconn *conn, apr_time_t deadline,
                                   PGresult **kept)
{
    PGresult *res;
    apr_status_t rv;

    *kept = NULL;
    while ((rv = await_input(conn, deadline)) == APR_SUCCESS
           && (res = PQgetResult(conn)) != NULL) {
        if (!*kept) {
            *kept = res;
        }
        else {
            PQclear(res);
        }
    }
    return rv;
}

/* A server that does not answer in time may be frozen: PQcancel would
 * connect to it and wait for an answer without any bound (libpq 17's
 * PQcancelStart/PQcancelPoll could be bounded; Debian 12 has 15). Shutting
 * our socket down is bounded, makes libpq see the connection end now
 * (CONNECTION_BAD), so mod_dbd's check reconnects it instead of handing
 * it out again, and the server drops the statement when it notices
 * (client_connection_check_interval, or statement_timeout). */
static void abandon(PGconn *conn)
{
    PGresult *res;

    if (PQsocket(conn) >= 0) {
        shutdown(PQsocket(conn), SHUT_RDWR);
    }
    PQconsumeInput(conn);
    while (PQstatus(conn) == CONNECTION_BAD && (res = PQgetResult(conn))) {
        PQclear(res);
    }
}

static int result_ok(const PGresult *res)
{
    ExecStatusType st = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;

    return st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK
           || st == PGRES_EMPTY_QUERY;
}

/* Text-format values into p: NULL for SQL NULL. */
static void read_rows(apr_pool_t *p, const PGresult *res, jklg_rows_t *out)
{
    out->ncols = PQnfields(res);
    out->nrows = PQntuples(res);
    out->rows = apr_pcalloc(p, sizeof(*out->rows) * (out->nrows + 1));
    for (int r = 0; r < out->nrows; r++) {
        const char **cols = apr_palloc(p, sizeof(*cols) * (out->ncols + 1));

        for (int c = 0; c < out->ncols; c++) {
            cols[c] = PQgetisnull(res, r, c)
                      ? NULL
                      : apr_pstrmemdup(p, PQgetvalue(res, r, c),
                                       PQgetlength(res, r, c));
        }
        out->rows[r] = cols;
    }
}

static apr_time_t statement_deadline(const jklg_db_t *db)
{
    return apr_time_now() + (db->timeout > 0 ? db->timeout
                                             : apr_time_from_sec(3600));
}

/* Runs the statement on conn; *res is the result to read (or NULL). */
static apr_status_t run(PGconn *conn, const char *label, int nargs,
                        const char *const *args, apr_time_t deadline,
                        PGresult **res)
{
    apr_status_t rv;

    *res = NULL;
    if (PQsetnonblocking(conn, 1) != 0) {
        return APR_EGENERAL;
    }
    rv = send_query(conn, label, nargs, args, deadline);
    if (rv == APR_SUCCESS) {
        rv = collect_result(conn, deadline, res);
    }
    if (rv == APR_TIMEUP) {
        abandon(conn);
    }
    PQsetnonblocking(conn, 0);
    return rv;
}

apr_status_t jklg_db_query(jklg_db_t *db, apr_pool_t *p, const char *label,
                           int nargs, const char *const *args,
                           jklg_rows_t *out, const char **err)
{
    PGconn *conn = apr_dbd_native_handle(db->driver, db->handle);
    apr_time_t deadline = statement_deadline(db);
    PGresult *res = NULL;
    apr_status_t rv;

    memset(out, 0, sizeof(*out));
    /* The server-side name of a labelled apr_dbd statement is its label. */
    if (!apr_hash_get(db->prepared, label, APR_HASH_KEY_STRING)) {
        *err = apr_psprintf(p, "statement %s is not prepared", label);
        return APR_EGENERAL;
    }
    if (!conn) {
        *err = apr_psprintf(p, "%s: no connection", label);
        return APR_ECONNRESET;
    }
    rv = run(conn, label, nargs, args, deadline, &res);
    if (rv == APR_TIMEUP) {
        *err = apr_psprintf(p, "%s: the database did not answer within "
                            "%" APR_TIME_T_FMT " ms", label,
                            apr_time_as_msec(db->timeout));
        jklg_db_guard_report(db->guard, APR_TIMEUP);
        return APR_TIMEUP;
    }
    if (rv == APR_SUCCESS && result_ok(res)) {
        read_rows(p, res, out);
        PQclear(res);
        jklg_db_guard_report(db->guard, APR_SUCCESS);
        return APR_SUCCESS;
    }
    *err = apr_psprintf(p, "%s: %s", label,
                        res && *PQresultErrorMessage(res)
                        ? PQresultErrorMessage(res) : PQerrorMessage(conn));
    PQclear(res);
    /* An SQL error, even a lost connection, is an answer: nothing to wait
     * for. */
    jklg_db_guard_report(db->guard, APR_SUCCESS);
    return connection_lost(db) ? APR_ECONNRESET : APR_EGENERAL;
}

const char *jklg_db_value(const jklg_rows_t *rows)
{
    return rows->nrows > 0 && rows->ncols > 0 ? rows->rows[0][0] : NULL;
}
