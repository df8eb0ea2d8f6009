#include <stdlib.h>
#include <string.h>
#include <apr_strings.h>
#include "jklg_gateway.h"
#include "jklg_i18n.h"
#include "jklg_json.h"
#include "jklg_money.h"
#include "jklg_outbox.h"
#include "jklg_template.h"

/* Rows still waiting this long after they were due mean mail is stuck. */
#define BACKLOG_LATE "15 minutes"

const jklg_statement_t jklg_outbox_statements[] = {
    {"jklg_outbox_enqueue",
     "INSERT INTO email_outbox (template, recipient, data) "
     "VALUES (%s, %s, %s::jsonb) RETURNING id"},
    {"jklg_outbox_enqueue_batch",
     "INSERT INTO email_outbox (template, recipient, data) "
     "SELECT %s, r->>'email', %s::jsonb || COALESCE(r->'data', '{}') "
     "FROM jsonb_array_elements(%s::jsonb) AS r RETURNING id"},
    {"jklg_outbox_due",
     "SELECT id FROM email_outbox "
     "WHERE status IN ('queued', 'sending') AND next_attempt_at <= now() "
     "AND (status = 'queued' OR locked_until < now()) "
     "ORDER BY next_attempt_at LIMIT %s::int"},
    {"jklg_outbox_claim",
     "UPDATE email_outbox o SET status = 'sending', "
     "attempts = o.attempts + 1, claim_token = gen_random_uuid(), "
     "locked_until = now() + %s::interval, last_attempt_at = now() "
     "WHERE o.id = (SELECT id FROM email_outbox WHERE id = %s::uuid "
     "  AND status IN ('queued', 'sending') AND next_attempt_at <= now() "
     "  AND (status = 'queued' OR locked_until < now()) "
     "  FOR UPDATE SKIP LOCKED) "
     "RETURNING o.claim_token, o.template, o.recipient, o.data::text, "
     "o.attempts, o.language"},
    {"jklg_outbox_sent",
     "UPDATE email_outbox SET status = 'sent', sent_at = now(), "
     "message_id = %s, data = NULL, last_error = NULL, locked_until = NULL "
     "WHERE id = %s::uuid AND claim_token = %s::uuid"},
    {"jklg_outbox_retry",
     "UPDATE email_outbox SET last_error = %s, locked_until = NULL, "
     "status = CASE WHEN attempts >= %s::int THEN 'failed' ELSE 'queued' END, "
     /* Given up: its data may hold a one-time link, which must not outlive
      * the message. */
     "data = CASE WHEN attempts >= %s::int THEN NULL ELSE data END, "
     "next_attempt_at = now() + %s::interval "
     "WHERE id = %s::uuid AND claim_token = %s::uuid RETURNING status"},
    {"jklg_outbox_counts",
     "SELECT (SELECT count(*) FROM email_outbox "
     "        WHERE status IN ('queued', 'sending')), "
     "       (SELECT count(*) FROM email_outbox WHERE status = 'failed'), "
     "       (SELECT count(*) FROM email_outbox WHERE status = 'sent' "
     "        AND sent_at > now() - interval '1 hour')"},
    {"jklg_outbox_backlogged",
     "SELECT EXISTS (SELECT 1 FROM email_outbox "
     "WHERE status IN ('queued', 'sending') "
     "AND next_attempt_at < now() - interval '" BACKLOG_LATE "')"},
    {"jklg_purge", "SELECT jklg_purge()"},
    {NULL, NULL}
};

apr_interval_time_t jklg_outbox_backoff(int attempt, apr_interval_time_t base,
                                        apr_interval_time_t cap)
{
    apr_interval_time_t delay = base;

    for (int i = 1; i < attempt; i++) {
        if (delay > cap / 2) {
            return cap;     /* doubling would pass the cap (or overflow) */
        }
        delay *= 2;
    }
    return delay < cap ? delay : cap;
}

static const char *interval_sql(apr_pool_t *p, apr_interval_time_t t)
{
    return apr_psprintf(p, "%" APR_INT64_T_FMT " milliseconds",
                        (apr_int64_t)(t / 1000));
}

/* "JKLG Travel <noreply@jklg.example>" -> "JKLG Travel". */
static const char *display_name(apr_pool_t *p, const char *from)
{
    const char *lt = strrchr(from, '<');   /* the name may contain one */
    const char *end = lt;

    if (!lt) {
        return "";
    }
    while (end > from && (end[-1] == ' ' || end[-1] == '"')) {
        end--;
    }
    while (from < end && (*from == ' ' || *from == '"')) {
        from++;
    }
    return apr_pstrmemdup(p, from, end - from);
}

json_t *jklg_outbox_default_vars(apr_pool_t *p, const jklg_outbox_conf_t *c)
{
    return jklg_json_own(p, json_pack("{s:s, s:s, s:s}",
                         "public_url", c->public_url,
                         "agency_name", display_name(p, c->from),
                         "support_email", jklg_mail_address(p, c->from)));
}

apr_status_t jklg_outbox_enqueue(jklg_db_t *db, apr_pool_t *p,
                                 const char *template_name,
                                 const char *recipient, json_t *data,
                                 const char **id, const char **err)
{
    const char *args[] = {template_name, recipient, jklg_json_dump(p, data)};
    jklg_rows_t rows;
    apr_status_t rv;

    rv = jklg_db_query(db, p, "jklg_outbox_enqueue", 3, args, &rows, err);
    if (rv == APR_SUCCESS) {
        *id = jklg_db_value(&rows);
    }
    return rv;
}

apr_status_t jklg_outbox_enqueue_batch(jklg_db_t *db, apr_pool_t *p,
                                       const char *template_name,
                                       json_t *recipients, json_t *data,
                                       apr_array_header_t **ids,
                                       const char **err)
{
    const char *args[] = {template_name, jklg_json_dump(p, data),
                          jklg_json_dump(p, recipients)};
    jklg_rows_t rows;
    apr_status_t rv;

    rv = jklg_db_query(db, p, "jklg_outbox_enqueue_batch", 3, args, &rows, err);
    if (rv != APR_SUCCESS) {
        return rv;
    }
    *ids = apr_array_make(p, rows.nrows, sizeof(const char *));
    for (int i = 0; i < rows.nrows; i++) {
        APR_ARRAY_PUSH(*ids, const char *) = rows.rows[i][0];
    }
    return APR_SUCCESS;
}

apr_status_t jklg_outbox_due(jklg_db_t *db, apr_pool_t *p, int limit,
                             apr_array_header_t **ids, const char **err)
{
    const char *args[] = {apr_itoa(p, limit)};
    jklg_rows_t rows;
    apr_status_t rv;

    rv = jklg_db_query(db, p, "jklg_outbox_due", 1, args, &rows, err);
    if (rv != APR_SUCCESS) {
        return rv;
    }
    *ids = apr_array_make(p, rows.nrows, sizeof(const char *));
    for (int i = 0; i < rows.nrows; i++) {
        APR_ARRAY_PUSH(*ids, const char *) = rows.rows[i][0];
    }
    return APR_SUCCESS;
}

/* Money is stored as {"minor": 123450, "currency": "eur"} (SQL's
 * jklg_money): here it becomes "1,234.50 EUR", with the currency's own
 * number of decimals. */
void jklg_outbox_format_money(apr_pool_t *p, json_t *vars)
{
    const char *key;
    json_t *value;

    json_object_foreach(vars, key, value) {
        json_t *minor = json_object_get(value, "minor");
        const char *currency = json_string_value(json_object_get(value,
                                                                 "currency"));
        if (json_is_object(value) && json_is_integer(minor) && currency) {
            json_object_set_new(vars, key, json_string(jklg_money_format(
                                p, json_integer_value(minor), currency)));
        }
    }
}

/* A receipt names the gateway's own payment method when it has one (sql/023
 * leaves that word to the gateway table). */
static void gateway_method(json_t *vars)
{
    const char *method = jklg_gateway_method(jklg_json_str(vars, "gateway"));

    if (method) {
        json_object_set_new(vars, "payment_method", json_string(method));
    }
}

/* The row's data over the defaults, amounts and dates written as the
 * row's language writes them (lang: a BCP 47 tag or NULL for en). */
static json_t *template_vars(apr_pool_t *p, const jklg_outbox_conf_t *conf,
                             const char *data_text, const char *lang)
{
    json_t *vars = jklg_outbox_default_vars(p, conf);
    json_t *data = data_text ? jklg_json_own(p, json_loads(data_text, 0, NULL))
                             : NULL;

    if (json_is_object(data)) {
        json_object_update(vars, data);
    }
    gateway_method(vars);
    jklg_i18n_localize_vars(p, vars, jklg_lang_pick(p, lang));
    return vars;
}

static apr_status_t send_message(apr_pool_t *p, const jklg_outbox_conf_t *conf,
                                 const jklg_mail_msg_t *msg, const char **err)
{
    const char *path;

    if (conf->smtp.url) {
        return jklg_mail_send_smtp(&conf->smtp, msg, p, err);
    }
    return jklg_mail_write_spool(conf->spool_dir, msg, p, &path, err);
}

static apr_status_t render_and_send(apr_pool_t *p,
                                    const jklg_outbox_conf_t *conf,
                                    const char *id, const char **row,
                                    jklg_mail_msg_t *msg, const char **why)
{
    jklg_rendered_t rendered;
    apr_status_t rv;

    /* row[5]: the language the trigger of sql/012 chose when the mail
     * was queued; NULL (no customer, no preference) is en. */
    rv = jklg_template_render_lang(p, conf->templates_dir, row[1], row[5],
                                   template_vars(p, conf, row[3], row[5]),
                                   &rendered, why);
    if (rv != APR_SUCCESS) {
        return rv;
    }
    memset(msg, 0, sizeof(*msg));
    msg->from = conf->from;
    msg->to = row[2];
    msg->subject = rendered.subject;
    msg->text = rendered.text;
    msg->html = rendered.html;
    /* One Message-ID per outbox row: should an unclear failure (a timeout
     * after DATA) lead to a second delivery, it is recognisably the same. */
    msg->message_id = apr_pstrcat(p, "<", id, strrchr(jklg_mail_address(
                                  p, conf->from), '@'), ">", NULL);
    return send_message(p, conf, msg, why);
}

static apr_status_t record_failure(jklg_db_t *db, apr_pool_t *p,
                                   const jklg_outbox_conf_t *conf,
                                   const char *id, const char **row,
                                   jklg_delivery_result_t *result,
                                   const char **err)
{
    int attempts = atoi(row[4]);
    apr_interval_time_t delay = jklg_outbox_backoff(attempts, conf->retry_base,
                                                    conf->retry_cap);
    const char *max = apr_itoa(p, conf->max_attempts);
    const char *args[] = {result->error, max, max, interval_sql(p, delay),
                          id, row[0]};
    jklg_rows_t rows;
    const char *status;
    apr_status_t rv;

    rv = jklg_db_query(db, p, "jklg_outbox_retry", 6, args, &rows, err);
    if (rv != APR_SUCCESS) {
        return rv;
    }
    status = jklg_db_value(&rows);
    if (status && !strcmp(status, "queued")) {
        result->outcome = JKLG_DELIVERY_RETRY;
        result->retry_in = delay;
    }
    else {
        result->outcome = status ? JKLG_DELIVERY_FAILED : JKLG_DELIVERY_NONE;
    }
    return APR_SUCCESS;
}

apr_status_t jklg_outbox_deliver(jklg_db_t *db, apr_pool_t *p,
                                 const jklg_outbox_conf_t *conf,
                                 const char *id, apr_interval_time_t lease,
                                 jklg_delivery_result_t *result,
                                 const char **err)
{
    const char *claim_args[] = {interval_sql(p, lease), id};
    jklg_rows_t claimed, rows;
    jklg_mail_msg_t msg;
    const char **row;
    apr_status_t rv;

    memset(result, 0, sizeof(*result));
    rv = jklg_db_query(db, p, "jklg_outbox_claim", 2, claim_args, &claimed, err);
    if (rv != APR_SUCCESS || claimed.nrows == 0) {
        return rv;
    }
    row = claimed.rows[0];  /* claim_token, template, recipient, data, n,
                               language */
    if (render_and_send(p, conf, id, row, &msg, &result->error)
        != APR_SUCCESS) {
        if (!result->error) {
            result->error = "delivery failed";
        }
        return record_failure(db, p, conf, id, row, result, err);
    }
    {
        const char *sent_args[] = {msg.message_id, id, row[0]};
        rv = jklg_db_query(db, p, "jklg_outbox_sent", 3, sent_args, &rows, err);
    }
    if (rv == APR_SUCCESS) {
        result->outcome = JKLG_DELIVERY_SENT;
    }
    return rv;
}

apr_status_t jklg_outbox_counts(jklg_db_t *db, apr_pool_t *p,
                                jklg_outbox_counts_t *counts,
                                const char **err)
{
    jklg_rows_t rows;
    apr_status_t rv;

    rv = jklg_db_query(db, p, "jklg_outbox_counts", 0, NULL, &rows, err);
    if (rv != APR_SUCCESS) {
        return rv;
    }
    if (rows.nrows != 1 || rows.ncols != 3) {
        *err = "jklg_outbox_counts: unexpected result shape";
        return APR_EGENERAL;
    }
    counts->queued = atol(rows.rows[0][0]);
    counts->failed = atol(rows.rows[0][1]);
    counts->sent_last_hour = atol(rows.rows[0][2]);
    return APR_SUCCESS;
}

apr_status_t jklg_outbox_backlogged(jklg_db_t *db, apr_pool_t *p,
                                    int *backlogged, const char **err)
{
    jklg_rows_t rows;
    const char *v;
    apr_status_t rv;

    rv = jklg_db_query(db, p, "jklg_outbox_backlogged", 0, NULL, &rows, err);
    if (rv == APR_SUCCESS) {
        v = jklg_db_value(&rows);
        *backlogged = v && !strcmp(v, "t");
    }
    return rv;
}

apr_status_t jklg_outbox_purge(jklg_db_t *db, apr_pool_t *p, long *purged,
                               const char **err)
{
    jklg_rows_t rows;
    apr_status_t rv;

    rv = jklg_db_query(db, p, "jklg_purge", 0, NULL, &rows, err);
    if (rv == APR_SUCCESS) {
        *purged = jklg_db_value(&rows) ? atol(jklg_db_value(&rows)) : 0;
    }
    return rv;
}
