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

#include "kst_wordcount.h"
#include "wordcount_topology.h"

#define PARTITIONS 2
#define VOCAB      20
#define LINES      2000

/* Kafka protocol API keys. */
#define API_ADD_PARTITIONS_TO_TXN 24
#define API_END_TXN               26
#define API_INIT_PRODUCER_ID      22

typedef kst_wc_t fixture_t;

static int setup(void **state) {
        *state = kst_wc_fixture("mock", 1, "txe", PARTITIONS, VOCAB, 77);
        return 0;
}

static void produce_lines(fixture_t *f) {
        kst_wc_produce(f, LINES, 5, KST_WC_SPREAD);
}

static ks_app_t *start_app(fixture_t *f, ks_topology_t **tp) {
        ks_error_t *e = NULL;
        ks_config_t *c =
                kst_app_config(f->broker, f->app_id,
                               (const char *const[]){"processing.guarantee",
                                                     "exactly_once_v2", NULL});
        ks_topology_t *t = wordcount_topology_on(f->in, f->words_topic, f->out,
                                                 KS_STORE_ROCKSDB, &e);
        assert_non_null(t);
        ks_app_t *app = kst_app_start(t, c, NULL, NULL);
        ks_config_destroy(c);
        *tp = t;
        return app;
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
        kst_wc_wait_counts(f, app, 60000);
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
        kst_wait_state(app, KS_APP_ERROR, 60000);
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
                                                kst_wc_teardown),
                cmocka_unit_test_setup_teardown(test_abortable, setup,
                                                kst_wc_teardown),
                cmocka_unit_test_setup_teardown(test_fenced, setup,
                                                kst_wc_teardown),
                cmocka_unit_test_setup_teardown(test_abort_refused, setup,
                                                kst_wc_teardown),
                cmocka_unit_test_setup_teardown(test_fatal, setup,
                                                kst_wc_teardown),
                cmocka_unit_test_setup_teardown(test_fatal_later, setup,
                                                kst_wc_teardown),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
