/* default.production.exception.handler: a record that cannot be delivered
 * (its topic does not exist, the broker does not create topics) stops the
 * app with an error naming the topic under "fail", and is counted and
 * skipped under "continue". Real Kafka only: the mock creates topics on
 * first use. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <librdkafka/rdkafka.h>

#include "kst_app.h"

#define RECORDS 5

typedef struct {
        kst_broker_t *broker;
        char *in, *missing, *app_id;
} fixture_t;

static int setup(void **state) {
        fixture_t *f = calloc(1, sizeof(*f));
        f->broker = kst_broker_get("kafka", 0);
        f->in = kst_unique_name("prod-in");
        f->missing = kst_unique_name("prod-missing");
        f->app_id = kst_unique_name("prod-app");
        kst_broker_create_topic(f->broker, f->in, 1, NULL);
        rd_kafka_t *p = kst_broker_client(f->broker, RD_KAFKA_PRODUCER, NULL);
        for (int i = 0; i < RECORDS; i++)
                kst_produce_str(p, f->in, NULL, "x");
        kst_flush(p);
        rd_kafka_destroy(p);
        *state = f;
        return 0;
}

static int teardown(void **state) {
        fixture_t *f = *state;
        kst_broker_destroy(f->broker);
        free(f->in);
        free(f->missing);
        free(f->app_id);
        free(f);
        return 0;
}

static ks_app_t *start(fixture_t *f, const char *handler) {
        ks_error_t *e = NULL;
        ks_topology_t *t = ks_topology_new();
        const char *topics[] = {f->in};
        KST_OK_E(ks_topology_add_source(t, "src", topics, 1, NULL, NULL, &e));
        KST_OK_E(ks_topology_add_sink(t, "sink", f->missing, NULL, NULL,
                                      (const char *[]){"src"}, 1, &e));
        ks_config_t *c = kst_app_config(
                f->broker, f->app_id,
                (const char *const[]){"default.production.exception.handler",
                                      handler, "commit.interval.ms", "200",
                                      "producer.message.timeout.ms", "2000",
                                      NULL});
        ks_app_t *app = kst_app_start(t, c, NULL, NULL);
        ks_topology_destroy(t);
        ks_config_destroy(c);
        return app;
}

static void test_fail(void **state) {
        fixture_t *f = *state;
        ks_app_t *app = start(f, "fail");
        assert_true(ks_app_wait_state(app, KS_APP_ERROR, 60000));
        const char *msg = ks_error_message(ks_app_error(app));
        assert_non_null(strstr(msg, f->missing));
        assert_non_null(strstr(msg, "not delivered"));
        KST_OK(ks_app_close(app, 10000));
        ks_app_destroy(app);
}

static void test_continue(void **state) {
        fixture_t *f = *state;
        ks_app_t *app = start(f, "continue");
        int64_t deadline = kst_now_ms() + 60000;
        while (ks_app_metric(app, "dropped-records") < RECORDS) {
                if (kst_now_ms() > deadline)
                        fail_msg("dropped-records is %lld after 60 s",
                                 (long long)ks_app_metric(app,
                                                          "dropped-records"));
                assert_false(ks_app_wait_state(app, KS_APP_ERROR, 100));
        }
        assert_int_equal(ks_app_metric(app, "dropped-records"), RECORDS);
        assert_int_equal(ks_app_metric(app, "process-total"), RECORDS);
        assert_int_equal(ks_app_state(app), KS_APP_RUNNING);
        assert_true(kst_log_contains("continuing"));
        KST_OK(ks_app_close(app, 10000));
        assert_null(ks_app_error(app));
        ks_app_destroy(app);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_fail, setup, teardown),
                cmocka_unit_test_setup_teardown(test_continue, setup, teardown),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
