/* Unit tests of jklg_metrics.c: counters in a block laid out at startup,
 * fixed label lists ("other" for anything else), cumulative histograms,
 * and the Prometheus text format. */
#include <stdlib.h>
#include <string.h>
#include <apr_errno.h>
#include <apr_strings.h>
#include "suites.h"
#include "jklg_metrics.h"

static const char *const routes[] = {"/api/health", "/api/customers/login"};
static const char *const route_methods[] = {"GET", "POST"};
static const char *const gateways[] = {"stripe", "manual"};
static const jklg_metrics_names_t names = {routes, route_methods, 2,
                                           gateways, 2};
static void *block;
static jklg_metrics_t *metrics;

static void metrics_setup(void)
{
    test_pool_setup();
    block = malloc(jklg_metrics_size(2, 2));
    /* Garbage first: init must zero what it lays out. */
    memset(block, 0xa5, jklg_metrics_size(2, 2));
    metrics = jklg_metrics_init(block, 2, 2);
}

static void metrics_teardown(void)
{
    free(block);
    test_pool_teardown();
}

static const char *rendered(void)
{
    return jklg_metrics_render(test_pool, metrics, &names, NULL);
}

#define ck_has(text, needle) \
    ck_assert_msg(strstr(text, needle) != NULL, "missing: %s\nin:\n%s", \
                  needle, text)
#define ck_has_not(text, needle) \
    ck_assert_msg(strstr(text, needle) == NULL, "unexpected: %s\nin:\n%s", \
                  needle, text)

START_TEST(fresh_block_renders_zero_gauges_and_no_series)
{
    const char *t = rendered();

    ck_has(t, "# TYPE jklg_http_requests_total counter\n");
    ck_has(t, "# TYPE jklg_http_request_duration_seconds histogram\n");
    ck_has(t, "jklg_db_acquire_failures_total 0\n");
    ck_has(t, "jklg_password_hash_waiting 0\n");
    ck_has_not(t, "jklg_http_requests_total{");
    ck_has_not(t, "jklg_outbox_messages{");
}
END_TEST

START_TEST(requests_counted_by_route_method_status)
{
    const char *t;

    jklg_metrics_request(metrics, 0, "GET", 200, 1000);
    jklg_metrics_request(metrics, 0, "GET", 200, 1000);
    jklg_metrics_request(metrics, 1, "POST", 401, 1000);
    jklg_metrics_request(metrics, 1, "POST", 429, 1000);
    t = rendered();
    ck_has(t, "jklg_http_requests_total{route=\"/api/health\",method=\"GET\","
              "status=\"200\"} 2\n");
    ck_has(t, "jklg_http_requests_total{route=\"/api/customers/login\","
              "method=\"POST\",status=\"401\"} 1\n");
    ck_has(t, "status=\"429\"} 1\n");
}
END_TEST

START_TEST(unknown_values_are_other)
{
    const char *t;

    jklg_metrics_request(metrics, 7, "BREW", 418, 10);
    jklg_metrics_request(metrics, -1, NULL, 299, 10);
    jklg_metrics_request(metrics, 2, "PATCH", 404, 10);
    t = rendered();
    ck_has(t, "{route=\"other\",method=\"other\",status=\"other\"} 2\n");
    ck_has(t, "{route=\"other\",method=\"PATCH\",status=\"404\"} 1\n");
}
END_TEST

START_TEST(histogram_is_cumulative_with_sum_and_count)
{
    const char *t;

    jklg_metrics_request(metrics, 0, "GET", 200, 3000);        /* 3 ms */
    jklg_metrics_request(metrics, 0, "GET", 200, 40000);       /* 40 ms */
    jklg_metrics_request(metrics, 0, "GET", 503, 12000000);    /* 12 s */
    t = rendered();
    ck_has(t, "jklg_http_request_duration_seconds_bucket{route=\"/api/health"
              "\",le=\"0.005\"} 1\n");
    ck_has(t, "le=\"0.025\"} 1\n");
    ck_has(t, "le=\"0.05\"} 2\n");
    ck_has(t, "le=\"10\"} 2\n");
    ck_has(t, "le=\"+Inf\"} 3\n");
    ck_has(t, "jklg_http_request_duration_seconds_sum{route=\"/api/health\"}"
              " 12.043000\n");
    ck_has(t, "jklg_http_request_duration_seconds_count{route=\"/api/health"
              "\"} 3\n");
    /* Routes without requests have no series. */
    ck_has_not(t, "_count{route=\"/api/customers/login\"}");
}
END_TEST

START_TEST(webhooks_by_known_type_and_outcome)
{
    const char *t;

    jklg_metrics_webhook(metrics, "payment_intent.succeeded",
                         JKLG_WEBHOOK_APPLIED);
    jklg_metrics_webhook(metrics, "payment_intent.succeeded",
                         JKLG_WEBHOOK_DUPLICATE);
    jklg_metrics_webhook(metrics, "customer.created", JKLG_WEBHOOK_APPLIED);
    jklg_metrics_webhook(metrics, NULL, JKLG_WEBHOOK_INVALID_SIGNATURE);
    jklg_metrics_webhook(metrics, "x", JKLG_WEBHOOK_OUTCOMES);  /* ignored */
    t = rendered();
    ck_has(t, "{type=\"payment_intent.succeeded\",outcome=\"applied\"} 1\n");
    ck_has(t, "{type=\"payment_intent.succeeded\",outcome=\"duplicate\"} 1\n");
    ck_has(t, "{type=\"other\",outcome=\"applied\"} 1\n");
    ck_has(t, "{type=\"unknown\",outcome=\"invalid_signature\"} 1\n");
}
END_TEST

START_TEST(gateway_outcomes_from_status)
{
    const char *t;

    jklg_metrics_gateway(metrics, 0, APR_SUCCESS);
    jklg_metrics_gateway(metrics, 0, APR_EGENERAL);
    jklg_metrics_gateway(metrics, 0, APR_TIMEUP);
    jklg_metrics_gateway(metrics, 0, APR_INCOMPLETE);
    jklg_metrics_gateway(metrics, 0, APR_ECONNREFUSED);
    jklg_metrics_gateway(metrics, 1, APR_ENOMEM);
    jklg_metrics_gateway(metrics, 2, APR_SUCCESS);       /* no such slot */
    t = rendered();
    ck_has(t, "{gateway=\"stripe\",outcome=\"ok\"} 1\n");
    ck_has(t, "{gateway=\"stripe\",outcome=\"refused\"} 1\n");
    ck_has(t, "{gateway=\"stripe\",outcome=\"unknown\"} 2\n");
    ck_has(t, "{gateway=\"stripe\",outcome=\"unreachable\"} 1\n");
    ck_has(t, "{gateway=\"manual\",outcome=\"error\"} 1\n");
}
END_TEST

START_TEST(gauges_and_outbox)
{
    jklg_metrics_outbox_t outbox = {4, 1, 20, 2, 37, 1};
    const char *t;

    jklg_metrics_db_acquire_failed(metrics);
    jklg_metrics_hash_waiting(metrics, +1);
    jklg_metrics_hash_waiting(metrics, +1);
    jklg_metrics_hash_waiting(metrics, -1);
    t = jklg_metrics_render(test_pool, metrics, &names, &outbox);
    ck_has(t, "jklg_db_acquire_failures_total 1\n");
    ck_has(t, "jklg_password_hash_waiting 1\n");
    ck_has(t, "jklg_outbox_messages{state=\"queued\"} 4\n");
    ck_has(t, "jklg_outbox_messages{state=\"sending\"} 1\n");
    ck_has(t, "jklg_outbox_messages{state=\"sent\"} 20\n");
    ck_has(t, "jklg_outbox_messages{state=\"failed\"} 2\n");
    ck_has(t, "jklg_outbox_oldest_age_seconds 37\n");
}
END_TEST

START_TEST(null_block_is_a_no_op)
{
    jklg_metrics_request(NULL, 0, "GET", 200, 1);
    jklg_metrics_webhook(NULL, NULL, JKLG_WEBHOOK_ERROR);
    jklg_metrics_gateway(NULL, 0, APR_SUCCESS);
    jklg_metrics_db_acquire_failed(NULL);
    jklg_metrics_hash_waiting(NULL, 1);
}
END_TEST

START_TEST(every_line_is_a_comment_or_a_sample)
{
    char *t, *save = NULL;

    jklg_metrics_request(metrics, 1, "POST", 200, 5000);
    jklg_metrics_webhook(metrics, "charge.refunded", JKLG_WEBHOOK_ERROR);
    t = apr_pstrdup(test_pool, rendered());
    ck_assert(t[strlen(t) - 1] == '\n');
    for (char *l = apr_strtok(t, "\n", &save); l;
         l = apr_strtok(NULL, "\n", &save)) {
        const char *space = strrchr(l, ' ');
        char *end;

        if (l[0] == '#') {
            ck_assert(!strncmp(l, "# HELP jklg_", 12)
                      || !strncmp(l, "# TYPE jklg_", 12));
            continue;
        }
        ck_assert_msg(!strncmp(l, "jklg_", 5) && space, "%s", l);
        strtod(space + 1, &end);
        ck_assert_msg(*end == '\0', "not a number: %s", l);
    }
}
END_TEST

Suite *suite_metrics(void)
{
    Suite *s = suite_create("metrics");
    TCase *tc = tcase_create("metrics");

    tcase_add_checked_fixture(tc, metrics_setup, metrics_teardown);
    tcase_add_test(tc, fresh_block_renders_zero_gauges_and_no_series);
    tcase_add_test(tc, requests_counted_by_route_method_status);
    tcase_add_test(tc, unknown_values_are_other);
    tcase_add_test(tc, histogram_is_cumulative_with_sum_and_count);
    tcase_add_test(tc, webhooks_by_known_type_and_outcome);
    tcase_add_test(tc, gateway_outcomes_from_status);
    tcase_add_test(tc, gauges_and_outbox);
    tcase_add_test(tc, null_block_is_a_no_op);
    tcase_add_test(tc, every_line_is_a_comment_or_a_sample);
    suite_add_tcase(s, tc);
    return s;
}
