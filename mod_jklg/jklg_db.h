/* Labelled SQL statements on an apr_dbd connection (PostgreSQL), and the
 * repair of what mod_dbd forgets after a database restart. */
#ifndef JKLG_DB_H
#define JKLG_DB_H

#include <apr_pools.h>
#include <apr_hash.h>
#include <apr_tables.h>
#include <apr_dbd.h>

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
 * then nrows is 0) and reads every row into p. Returns APR_ECONNRESET when
 * the connection to the server is lost (the caller answers 503),
 * APR_EGENERAL on other SQL errors; *err is for the error log only. */
apr_status_t jklg_db_query(jklg_db_t *db, apr_pool_t *p, const char *label,
                           int nargs, const char *const *args,
                           jklg_rows_t *out, const char **err);

/* First column of the first row, or NULL. */
const char *jklg_db_value(const jklg_rows_t *rows);

#endif
