/* The application handle without a broker: configuration checks at
 * ks_app_new(), state names, and the life cycle of an app never started. */
#include <stdlib.h>
#include <string.h>

#include "ks_test.h"

static ks_err_t pass(ks_context_t *ctx, const ks_record_t *rec, void *st) {
        return ks_context_forward(ctx, NULL, 0, NULL, 0);
}

static ks_topology_t *topology(void) {
        ks_error_t *e = NULL;
        ks_topology_t *t = ks_topology_new();
        const char *in[] = {"in"};
        KST_OK_E(ks_topology_add_source(t, "src", in, 1, NULL, NULL, &e));
        KST_OK_E(ks_topology_add_processor(t, "p", NULL, pass, NULL, NULL,
                                           (const char *[]){"src"}, 1, &e));
        KST_OK_E(ks_topology_add_sink(t, "sink", "out", NULL, NULL,
                                      (const char *[]){"p"}, 1, &e));
        return t;
}

static void test_config_checks(void **state) {
        ks_error_t *e = NULL;
        ks_topology_t *t = topology();
        ks_config_t *c = ks_config_new();
        assert_null(ks_app_new(t, c, &e));
        KST_ASSERT_ERROR(KS_ERR_INVALID_CONFIG, e, KS_ERR_INVALID_CONFIG,
                         "application.id must be set");
        kst_set(c, "application.id", "app-test");
        assert_null(ks_app_new(t, c, &e));
        KST_ASSERT_ERROR(KS_ERR_INVALID_CONFIG, e, KS_ERR_INVALID_CONFIG,
                         "bootstrap.servers must be set");
        kst_set(c, "bootstrap.servers", "127.0.0.1:1");
        /* Under exactly_once_v2 a transaction spans one commit interval,
         * which must end before the transaction times out. */
        kst_set(c, "processing.guarantee", "exactly_once_v2");
        kst_set(c, "commit.interval.ms", "10000");
        assert_null(ks_app_new(t, c, &e));
        KST_ASSERT_ERROR(KS_ERR_INVALID_CONFIG, e, KS_ERR_INVALID_CONFIG,
                         "commit.interval.ms (10000)",
                         "transaction.timeout.ms (10000)");
        kst_set(c, "producer.transaction.timeout.ms", "20000");
        ks_app_t *app = ks_app_new(t, c, &e);
        assert_non_null(app);
        ks_app_destroy(app);
        assert_null(ks_app_new(NULL, c, &e));
        KST_ASSERT_ERROR(KS_ERR_INVALID_ARG, e, KS_ERR_INVALID_ARG, "topology");
        ks_topology_destroy(t);
        ks_config_destroy(c);
}

static void test_topology_errors_surface(void **state) {
        ks_error_t *e = NULL;
        ks_topology_t *t = ks_topology_new();
        KST_OK_E(ks_topology_add_processor(t, "orphan", NULL, pass, NULL, NULL,
                                           (const char *[]){"nobody"}, 1, &e));
        ks_config_t *c = kst_config("app-test");
        kst_set(c, "bootstrap.servers", "127.0.0.1:1");
        assert_null(ks_app_new(t, c, &e));
        KST_ASSERT_ERROR(KS_ERR_TOPOLOGY, e, KS_ERR_TOPOLOGY, "nobody");
        ks_topology_destroy(t);
        ks_config_destroy(c);
}

static void test_lifecycle_without_start(void **state) {
        ks_error_t *e = NULL;
        ks_topology_t *t = topology();
        ks_config_t *c = kst_config("app-test");
        kst_set(c, "bootstrap.servers", "127.0.0.1:1");
        ks_app_t *app = ks_app_new(t, c, &e);
        assert_non_null(app);
        assert_int_equal(ks_app_state(app), KS_APP_CREATED);
        assert_null(ks_app_error(app));
        assert_int_equal(ks_app_metric(app, "process-total"), 0);
        assert_int_equal(ks_app_metric(app, "dropped-records-duplicate"), 0);
        assert_int_equal(ks_app_metric(app, "no-such-metric"), -1);
        assert_false(ks_app_wait_state(app, KS_APP_RUNNING, 10));
        KST_OK(ks_app_close(app, 1000));
        assert_int_equal(ks_app_state(app), KS_APP_NOT_RUNNING);
        /* Closed apps cannot start. */
        KST_ASSERT_ERROR(ks_app_start(app, &e), e, KS_ERR_STATE,
                         "start only once", "NOT_RUNNING");
        ks_app_destroy(app);
        ks_app_destroy(NULL);
        ks_topology_destroy(t);
        ks_config_destroy(c);
}

static void test_state_names(void **state) {
        static const char *const want[] = {"CREATED",     "REBALANCING",
                                           "RUNNING",     "PENDING_SHUTDOWN",
                                           "NOT_RUNNING", "ERROR"};
        for (int s = KS_APP_CREATED; s <= KS_APP_ERROR; s++)
                assert_string_equal(ks_app_state_name((ks_app_state_t)s),
                                    want[s]);
        assert_string_equal(ks_app_state_name((ks_app_state_t)99), "UNKNOWN");
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_config_checks),
                cmocka_unit_test(test_topology_errors_surface),
                cmocka_unit_test(test_lifecycle_without_start),
                cmocka_unit_test(test_state_names),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
