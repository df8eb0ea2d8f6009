#include <poll.h>
#include <string.h>
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

static void read_rows(jklg_db_t *db, apr_pool_t *p, apr_dbd_results_t *res,
                      jklg_rows_t *out)
{
    apr_dbd_row_t *row = NULL;
    int capacity;

    out->ncols = apr_dbd_num_cols(db->driver, res);
    out->nrows = 0;
    capacity = apr_dbd_num_tuples(db->driver, res);
    out->rows = apr_pcalloc(p, sizeof(*out->rows) * (capacity + 1));
    while (apr_dbd_get_row(db->driver, p, res, &row, -1) == 0) {
        const char **cols = apr_palloc(p, sizeof(*cols) * out->ncols);

        for (int c = 0; c < out->ncols; c++) {
            char *value = NULL;
            if (apr_dbd_datum_get(db->driver, row, c, APR_DBD_TYPE_STRING,
                                  &value) != APR_SUCCESS) {
                value = NULL;
            }
            cols[c] = value ? apr_pstrdup(p, value) : NULL;
        }
        if (out->nrows < capacity) {
            out->rows[out->nrows++] = cols;
        }
    }
}

apr_status_t jklg_db_query(jklg_db_t *db, apr_pool_t *p, const char *label,
                           int nargs, const char *const *args,
                           jklg_rows_t *out, const char **err)
{
    apr_dbd_prepared_t *stmt;
    apr_dbd_results_t *res = NULL;
    int rc;

    memset(out, 0, sizeof(*out));
    stmt = apr_hash_get(db->prepared, label, APR_HASH_KEY_STRING);
    if (!stmt) {
        *err = apr_psprintf(p, "statement %s is not prepared", label);
        return APR_EGENERAL;
    }
    /* random = 1: the whole result at once. Sequential mode polls with a
     * 100 ms sleep whenever a result is empty. */
    rc = apr_dbd_pselect(db->driver, p, db->handle, &res, stmt, 1, nargs,
                         (const char **)args);
    if (rc != 0) {
        *err = apr_psprintf(p, "%s: %s", label,
                            apr_dbd_error(db->driver, db->handle, rc));
        return connection_lost(db) ? APR_ECONNRESET : APR_EGENERAL;
    }
    read_rows(db, p, res, out);
    return APR_SUCCESS;
}

const char *jklg_db_value(const jklg_rows_t *rows)
{
    return rows->nrows > 0 && rows->ncols > 0 ? rows->rows[0][0] : NULL;
}
