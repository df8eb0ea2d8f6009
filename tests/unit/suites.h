/* Check suites of the core library, one per jklg_*.c file under test. */
#ifndef JKLG_TEST_SUITES_H
#define JKLG_TEST_SUITES_H

#include <check.h>
#include <apr_pools.h>

Suite *suite_json(void);
Suite *suite_router(void);
Suite *suite_util(void);
Suite *suite_outbox(void);
Suite *suite_template(void);
Suite *suite_mail(void);
Suite *suite_jwt(void);
Suite *suite_jwt_eddsa(void);
Suite *suite_token(void);
Suite *suite_password(void);
Suite *suite_stripe(void);
Suite *suite_money(void);
Suite *suite_validate(void);
Suite *suite_metrics(void);
Suite *suite_ratelimit(void);
Suite *suite_db_guard(void);
Suite *suite_placeholder(void);
Suite *suite_i18n(void);
Suite *suite_useragent(void);
Suite *suite_totp(void);
Suite *suite_rights(void);
Suite *suite_policy(void);
Suite *suite_fields(void);
Suite *suite_batch(void);

/* A fresh pool per test, destroyed by the fixture's teardown. */
extern apr_pool_t *test_pool;
void test_pool_setup(void);
void test_pool_teardown(void);

#endif
