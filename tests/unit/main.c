/* Runs every suite of the core library. */
#include <stdlib.h>
#include <apr_general.h>
#include <curl/curl.h>
#include <sodium.h>
#include "suites.h"

apr_pool_t *test_pool;

void test_pool_setup(void)
{
    apr_pool_create(&test_pool, NULL);
}

void test_pool_teardown(void)
{
    apr_pool_destroy(test_pool);
    test_pool = NULL;
}

int main(void)
{
    SRunner *runner;
    int failed;

    apr_initialize();
    curl_global_init(CURL_GLOBAL_DEFAULT);
    if (sodium_init() < 0) {
        return EXIT_FAILURE;
    }

    runner = srunner_create(suite_json());
    srunner_add_suite(runner, suite_router());
    srunner_add_suite(runner, suite_util());
    srunner_add_suite(runner, suite_outbox());
    srunner_add_suite(runner, suite_template());
    srunner_add_suite(runner, suite_mail());
    srunner_add_suite(runner, suite_jwt());
    srunner_add_suite(runner, suite_jwt_eddsa());
    srunner_add_suite(runner, suite_token());
    srunner_add_suite(runner, suite_password());
    srunner_add_suite(runner, suite_stripe());
    srunner_add_suite(runner, suite_money());
    srunner_add_suite(runner, suite_validate());
    srunner_add_suite(runner, suite_metrics());
    srunner_add_suite(runner, suite_ratelimit());
    srunner_add_suite(runner, suite_db_guard());
    srunner_add_suite(runner, suite_placeholder());
    srunner_add_suite(runner, suite_i18n());
    srunner_add_suite(runner, suite_useragent());
    srunner_add_suite(runner, suite_totp());
    srunner_add_suite(runner, suite_rights());
    srunner_add_suite(runner, suite_policy());
    srunner_add_suite(runner, suite_fields());
    srunner_add_suite(runner, suite_batch());
    srunner_run_all(runner, CK_NORMAL);
    failed = srunner_ntests_failed(runner);
    srunner_free(runner);

    curl_global_cleanup();
    apr_terminate();
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
