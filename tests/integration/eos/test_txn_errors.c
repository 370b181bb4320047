/* Transactional errors injected on the mock cluster (which runs the
 * transactional protocol but honours none of it: readers see aborted
 * records, and it fences no one). Each test makes the broker answer one
 * transactional request with an error, then checks what the runtime did:
 *   retriable (coordinator loading)        -> retried, no abort;
 *   abortable (AddPartitionsToTxn refused) -> abort, tasks back to their
 *                                             last commit, carry on;
 *   fenced (EndTxn PRODUCER_FENCED)        -> new producer, tasks reopened;
 *   abort refused (abortable, then EndTxn INVALID_TXN_STATE: what a
 *   thread stalled past the transaction timeout meets)
 *                                          -> new producer, tasks reopened;
 *   fatal (InitProducerId not authorized)  -> app ERROR naming the cause;
 *   fatal later (EndTxn not authorized)    -> app ERROR naming the cause.
 * Where the app carries on, the final counts must equal an independent
 * count of the input. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include "kst_broker.h"
#include "ks_test.h"
#include "wordcount_topology.h"

#define PARTITIONS 2
#define VOCAB      20
#define LINES      2000

/* Kafka protocol API keys. */
#define API_ADD_PARTITIONS_TO_TXN 24
#define API_END_TXN               26
#define API_INIT_PRODUCER_ID      22

typedef struct {
        kst_broker_t *broker;
        char *in, *words_topic, *out, *app_id;
        char *words[VOCAB];
        int64_t expect[VOCAB];
} fixture_t;

static int setup(void **state) {
        fixture_t *f = calloc(1, sizeof(*f));
        f->broker = kst_broker_get("mock", 1);
        f->in = kst_unique_name("txe-in");
        f->out = kst_unique_name("txe-out");
        f->words_topic = kst_unique_name("txe-words");
        f->app_id = kst_unique_name("txe-app");
        for (int i = 0; i < VOCAB; i++)
                if (asprintf(&f->words[i], "w%02d", i) < 0)
                        return -1;
        kst_broker_create_topic(f->broker, f->in, PARTITIONS, NULL);
        kst_broker_create_topic(f->broker, f->out, PARTITIONS, NULL);
        kst_broker_create_topic(f->broker, f->words_topic, PARTITIONS, NULL);
        char name[512];
        snprintf(name, sizeof(name), "%s-%s-changelog", f->app_id,
                 WORDCOUNT_STORE);
        kst_broker_create_topic(f->broker, name, PARTITIONS, NULL);
        *state = f;
        return 0;
}

static int teardown(void **state) {
        fixture_t *f = *state;
        for (int i = 0; i < VOCAB; i++)
                free(f->words[i]);
        kst_broker_destroy(f->broker);
        free(f->in);
        free(f->out);
        free(f->words_topic);
        free(f->app_id);
        free(f);
        return 0;
}

static rd_kafka_t *client(fixture_t *f, rd_kafka_type_t type) {
        char err[256];
        rd_kafka_conf_t *c = rd_kafka_conf_new();
        rd_kafka_conf_set(c, "bootstrap.servers",
                          kst_broker_bootstrap(f->broker), err, sizeof(err));
        if (type == RD_KAFKA_CONSUMER)
                rd_kafka_conf_set(c, "group.id", "unused", err, sizeof(err));
        rd_kafka_t *rk = rd_kafka_new(type, c, err, sizeof(err));
        if (!rk)
                fail_msg("%s", err);
        return rk;
}

static void produce_lines(fixture_t *f) {
        rd_kafka_t *p = client(f, RD_KAFKA_PRODUCER);
        unsigned seed = 77;
        for (int l = 0; l < LINES; l++) {
                char line[128] = "";
                seed = seed * 1103515245u + 12345u;
                int n = 1 + (int)((seed >> 16) % 5);
                for (int w = 0; w < n; w++) {
                        seed = seed * 1103515245u + 12345u;
                        int wi = (int)((seed >> 16) % VOCAB);
                        strcat(line, w ? " " : "");
                        strcat(line, f->words[wi]);
                        f->expect[wi]++;
                }
                assert_int_equal(
                        rd_kafka_producev(
                                p, RD_KAFKA_V_TOPIC(f->in),
                                RD_KAFKA_V_PARTITION(l % PARTITIONS),
                                RD_KAFKA_V_VALUE(line, strlen(line)),
                                RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                                RD_KAFKA_V_END),
                        0);
        }
        assert_int_equal(rd_kafka_flush(p, 30000), 0);
        rd_kafka_destroy(p);
}

static ks_app_t *start_app(fixture_t *f, ks_topology_t **tp) {
        ks_error_t *e = NULL;
        ks_config_t *c = kst_config(f->app_id);
        kst_set(c, "bootstrap.servers", kst_broker_bootstrap(f->broker));
        kst_set(c, "processing.guarantee", "exactly_once_v2");
        ks_topology_t *t = wordcount_topology_on(f->in, f->words_topic, f->out,
                                                 KS_STORE_ROCKSDB, &e);
        assert_non_null(t);
        ks_app_t *app = ks_app_new(t, c, &e);
        assert_non_null(app);
        ks_config_destroy(c);
        KST_OK_E(ks_app_start(app, &e));
        *tp = t;
        return app;
}

/* Follow the output until the last count of every word is its
 * independent count (60 s). */
static void wait_counts(fixture_t *f, ks_app_t *app) {
        rd_kafka_t *c = client(f, RD_KAFKA_CONSUMER);
        rd_kafka_topic_partition_list_t *l =
                rd_kafka_topic_partition_list_new(PARTITIONS);
        for (int p = 0; p < PARTITIONS; p++)
                rd_kafka_topic_partition_list_add(l, f->out, p)->offset =
                        RD_KAFKA_OFFSET_BEGINNING;
        assert_int_equal(rd_kafka_assign(c, l), 0);
        rd_kafka_topic_partition_list_destroy(l);
        int64_t last[VOCAB] = {0};
        int64_t deadline = kst_now_ms() + 60000;
        for (;;) {
                int done = 1;
                for (int i = 0; i < VOCAB; i++)
                        done &= last[i] == f->expect[i];
                if (done)
                        break;
                if (ks_app_state(app) == KS_APP_ERROR)
                        fail_msg("app failed: %s",
                                 ks_error_message(ks_app_error(app)));
                if (kst_now_ms() > deadline) {
                        kst_log_print();
                        fail_msg("counts incomplete after 60 s");
                }
                rd_kafka_message_t *m = rd_kafka_consumer_poll(c, 100);
                if (m && !m->err)
                        for (int i = 0; i < VOCAB; i++)
                                if (m->key_len == strlen(f->words[i]) &&
                                    !memcmp(m->key, f->words[i], m->key_len))
                                        KST_OK(ks_int64_decode(m->payload,
                                                               m->len, &last[i],
                                                               NULL));
                if (m)
                        rd_kafka_message_destroy(m);
        }
        rd_kafka_destroy(c);
}

static void inject(fixture_t *f, int api, rd_kafka_resp_err_t err, int n) {
        rd_kafka_mock_cluster_t *mc = kst_broker_mock(f->broker);
        for (int i = 0; i < n; i++)
                rd_kafka_mock_push_request_errors(mc, (int16_t)api, 1, err);
}

/* Run with @p api failing @p n times with @p err; return the aborts. */
static int64_t run_counting(fixture_t *f, int api, rd_kafka_resp_err_t err,
                            int n) {
        produce_lines(f);
        kst_log_clear();
        inject(f, api, err, n);
        ks_topology_t *t;
        ks_app_t *app = start_app(f, &t);
        wait_counts(f, app);
        int64_t aborts = ks_app_metric(app, "transactions-aborted");
        assert_int_equal(ks_app_close(app, 30000), 0);
        assert_null(ks_app_error(app));
        ks_app_destroy(app);
        ks_topology_destroy(t);
        return aborts;
}

static void test_retriable(void **state) {
        int64_t aborts =
                run_counting(*state, API_INIT_PRODUCER_ID,
                             RD_KAFKA_RESP_ERR_COORDINATOR_LOAD_IN_PROGRESS, 3);
        assert_int_equal(aborts, 0);
}

static void test_abortable(void **state) {
        int64_t aborts =
                run_counting(*state, API_ADD_PARTITIONS_TO_TXN,
                             RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED, 1);
        assert_true(aborts >= 1);
        assert_true(kst_log_contains("transaction aborted"));
}

static void test_fenced(void **state) {
        int64_t aborts = run_counting(*state, API_END_TXN,
                                      RD_KAFKA_RESP_ERR_PRODUCER_FENCED, 1);
        assert_true(aborts >= 1);
        assert_true(kst_log_contains("producer fenced"));
}

static void test_abort_refused(void **state) {
        fixture_t *f = *state;
        /* The first transaction fails (abortable), and its abort is
         * refused: the producer is left in a fatal state. */
        inject(f, API_END_TXN, RD_KAFKA_RESP_ERR_INVALID_TXN_STATE, 1);
        int64_t aborts =
                run_counting(f, API_ADD_PARTITIONS_TO_TXN,
                             RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED, 1);
        assert_true(aborts >= 1);
        assert_true(kst_log_contains("abort failed"));
        assert_true(kst_log_contains("producer in a fatal state"));
}

/* Start the app with @p api failing once with @p err; it must end in
 * ERROR with a message containing @p want1 and @p want2. */
static void run_failing(fixture_t *f, int api, rd_kafka_resp_err_t err,
                        const char *want1, const char *want2) {
        produce_lines(f);
        inject(f, api, err, 1);
        ks_topology_t *t;
        ks_app_t *app = start_app(f, &t);
        if (!ks_app_wait_state(app, KS_APP_ERROR, 60000))
                fail_msg("app is %s, not ERROR",
                         ks_app_state_name(ks_app_state(app)));
        const char *msg = ks_error_message(ks_app_error(app));
        if (!strstr(msg, want1) || !strstr(msg, want2))
                fail_msg("unexpected error: %s", msg);
        ks_app_close(app, 30000);
        ks_app_destroy(app);
        ks_topology_destroy(t);
}

static void test_fatal(void **state) {
        run_failing(*state, API_INIT_PRODUCER_ID,
                    RD_KAFKA_RESP_ERR_TRANSACTIONAL_ID_AUTHORIZATION_FAILED,
                    "initializing transactions", "uthoriz");
}

static void test_fatal_later(void **state) {
        run_failing(*state, API_END_TXN,
                    RD_KAFKA_RESP_ERR_TRANSACTIONAL_ID_AUTHORIZATION_FAILED,
                    "fatal transactional error", "uthoriz");
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_retriable, setup,
                                                teardown),
                cmocka_unit_test_setup_teardown(test_abortable, setup,
                                                teardown),
                cmocka_unit_test_setup_teardown(test_fenced, setup, teardown),
                cmocka_unit_test_setup_teardown(test_abort_refused, setup,
                                                teardown),
                cmocka_unit_test_setup_teardown(test_fatal, setup, teardown),
                cmocka_unit_test_setup_teardown(test_fatal_later, setup,
                                                teardown),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
