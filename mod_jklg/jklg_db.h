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

/* Every statement the module prepares: NULL-terminated list of
 * {NULL, NULL}-terminated arrays, one per core file (jklg_statements.c). */
extern const jklg_statement_t *const jklg_statement_sets[];

/* The fields of mod_dbd's ap_dbd_t that the core needs. */
typedef struct {
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

/* mod_dbd's check may have replaced the server session under a pooled
 * connection (libpq's PQreset after a restart), losing its prepared
 * statements. Compares the backend pid with the one we saw last and
 * prepares every statement again when it changed. Cheap: no round trip. */
apr_status_t jklg_db_ensure_prepared(jklg_db_t *db, const char **err);

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
